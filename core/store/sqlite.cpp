#include "common/logging.h"
#include "store/sqlite_p.h"

#include <QDateTime>

namespace BatchSync::Sqlite {

bool Statement::prepare(sqlite3 *db, const QString &sql, unsigned flags)
{
    sqlite3_finalize(m_statement);
    m_statement = nullptr;
    m_db = db;
    const QByteArray utf8 = sql.toUtf8();
    const int rc
        = sqlite3_prepare_v3(db, utf8.constData(), int(utf8.size()), flags, &m_statement, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(m_statement);
        m_statement = nullptr;
        return failed(rc);
    }
    return true;
}

// Text is converted to UTF-8 (the database's encoding) here, with Qt's converter, into a buffer
// per parameter that is reused from one row to the next and lives until the step that reads it:
// SQLite's own UTF-16 conversion and a copy per value cost more.
bool Statement::bindText(int index, QStringView text, bool isNull)
{
    if (isNull)
        return bindNull(index);
    if (size_t(index) >= m_text.size())
        m_text.resize(size_t(index) + 1);
    QByteArray &utf8 = m_text[size_t(index)];
    utf8.resize(m_encoder.requiredSpace(text.size()));
    const char *end = m_encoder.appendToBuffer(utf8.data(), text);
    utf8.resize(end - utf8.constData());
    const int rc
        = sqlite3_bind_text(m_statement, index, utf8.constData(), int(utf8.size()), SQLITE_STATIC);
    return rc == SQLITE_OK || failed(rc);
}

// Strings (and datetimes, which are protocol text) as TEXT, int and bool as INTEGER, real as
// REAL, null as NULL.
bool Statement::bindValue(int index, const QVariant &value)
{
    int rc = SQLITE_OK;
    switch (value.typeId()) {
    case QMetaType::UnknownType:
        rc = sqlite3_bind_null(m_statement, index);
        break;
    case QMetaType::QString:
        return bindText(index, *static_cast<const QString *>(value.constData()));
    case QMetaType::LongLong:
        rc = sqlite3_bind_int64(m_statement, index,
                                *static_cast<const qlonglong *>(value.constData()));
        break;
    case QMetaType::Double:
        rc = sqlite3_bind_double(m_statement, index,
                                 *static_cast<const double *>(value.constData()));
        break;
    case QMetaType::Bool:
        rc = sqlite3_bind_int(m_statement, index,
                              *static_cast<const bool *>(value.constData()) ? 1 : 0);
        break;
    case QMetaType::Int:
    case QMetaType::UInt:
    case QMetaType::Long:
    case QMetaType::ULong:
    case QMetaType::ULongLong:
    case QMetaType::Short:
    case QMetaType::UShort:
        rc = sqlite3_bind_int64(m_statement, index, value.toLongLong());
        break;
    case QMetaType::Float:
        rc = sqlite3_bind_double(m_statement, index, value.toDouble());
        break;
    case QMetaType::QByteArray: {
        const auto *bytes = static_cast<const QByteArray *>(value.constData());
        rc = bytes->isNull() ? sqlite3_bind_null(m_statement, index)
                             : sqlite3_bind_blob(m_statement, index, bytes->constData(),
                                                 int(bytes->size()), SQLITE_STATIC);
        break;
    }
    case QMetaType::QDateTime: {
        const QDateTime dateTime = value.toDateTime();
        if (!dateTime.isValid())
            return bindNull(index);
        return bindText(index, dateTime.toString(Qt::ISODateWithMs));
    }
    default: {
        if (value.isNull())
            return bindNull(index);
        return bindText(index, value.toString());
    }
    }
    return rc == SQLITE_OK || failed(rc);
}

bool Statement::exec()
{
    const Step result = step();
    if (result != Step::Failed)
        sqlite3_reset(m_statement);
    return result != Step::Failed;
}

Step Statement::step()
{
    const int rc = sqlite3_step(m_statement);
    if (rc == SQLITE_ROW)
        return Step::Row;
    if (rc == SQLITE_DONE)
        return Step::Done;
    failed(rc);
    sqlite3_reset(m_statement);
    return Step::Failed;
}

QString Statement::textValue(int column) const
{
    const auto *text = static_cast<const QChar *>(sqlite3_column_text16(m_statement, column));
    return text ? QString(text, sqlite3_column_bytes16(m_statement, column) / 2) : QString();
}

bool Statement::failed(int rc)
{
    m_errorCode = rc;
    m_errorText = m_db ? QString::fromUtf8(sqlite3_errmsg(m_db)) : QString();
    if (m_errorText.isEmpty())
        m_errorText = QString::fromUtf8(sqlite3_errstr(rc));
    return false;
}

Transaction::~Transaction()
{
    if (m_open)
        rollback();
}

bool Transaction::begin()
{
    if (!m_begin.exec())
        return failed(m_begin);
    m_open = true;
    return true;
}

bool Transaction::commit()
{
    if (!m_commit.exec()) {
        failed(m_commit);
        rollback();
        return false;
    }
    m_open = false;
    return true;
}

bool Transaction::failed(const Statement &statement)
{
    m_errorCode = statement.errorCode();
    m_errorText = statement.errorText();
    return false;
}

void Transaction::rollback()
{
    m_open = false;
    // SQLite may have rolled back by itself already (e.g. disk full).
    if (sqlite3_get_autocommit(m_db))
        return;
    if (!m_rollback.exec())
        qCDebug(lcStore) << "rollback:" << m_rollback.errorText();
}

} // namespace BatchSync::Sqlite
