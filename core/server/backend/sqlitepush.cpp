// ServerStore's pushes (POST .../changes): each change decided against the record as stored,
// applied like any other write (a new sequence number and changedAt, so that pulls see it),
// and its result remembered by (client, changeId), all in the request's one transaction.
//
// The statements run through the sqlite3 C API behind QSQLITE (sqlitepage.h), prepared once per
// entity and reset after each use: a QSqlQuery per statement, with a QVariant per value and
// text through UTF-16, cost more than SQLite's own work.

#include "common/identifier.h"
#include "server/backend/serverstore.h"
#include "server/backend/serverstore_p.h"
#include "server/push.h"

#include <QDateTime>

namespace BatchSync {

namespace {

using SqlitePage::StatementReset;

// Text as UTF-8, the database's encoding: no translation in SQLite. A push's text is storable
// (no lone surrogate), so it converts exactly.
int bindText(sqlite3_stmt *statement, int index, const QString &text)
{
    const QByteArray utf8 = text.toUtf8();
    return sqlite3_bind_text(statement, index, utf8.isNull() ? "" : utf8.constData(),
                             int(utf8.size()), SQLITE_TRANSIENT);
}

// A value of PushChange::values (ServerValues::columnValue(): null, an integer, a double or
// text) bound as QSQLITE binds it.
int bindValue(sqlite3_stmt *statement, int index, const QVariant &value)
{
    if (!value.isValid() || value.isNull())
        return sqlite3_bind_null(statement, index);
    switch (value.typeId()) {
    case QMetaType::LongLong:
    case QMetaType::Int:
    case QMetaType::Bool:
        return sqlite3_bind_int64(statement, index, value.toLongLong());
    case QMetaType::Double:
        return sqlite3_bind_double(statement, index, value.toDouble());
    case QMetaType::QByteArray: {
        const QByteArray bytes = value.toByteArray();
        return sqlite3_bind_blob(statement, index, bytes.constData(), int(bytes.size()),
                                 SQLITE_TRANSIENT);
    }
    default:
        return bindText(statement, index, value.toString());
    }
}

} // namespace

class ServerStore::PushRun final
{
    Q_DISABLE_COPY_MOVE(PushRun)

public:
    PushRun(ServerStore *store, Entity *entity, const QString &client)
        : m_store(store)
        , m_entity(entity)
        , m_client(client)
    {
    }

    // Prepares the statements and forgets results older than Push::RememberSeconds.
    bool prepare(QString *problem)
    {
        m_db = SqlitePage::nativeHandle(m_store->connectionName());
        if (!m_db) {
            *problem = QStringLiteral("the server database connection has no SQLite handle");
            return false;
        }
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        sqlite3_stmt *purge = nullptr;
        if (sqlite3_prepare_v2(m_db, "DELETE FROM _bs_pushes WHERE at < ?", -1, &purge, nullptr)
            != SQLITE_OK) {
            sqlite3_finalize(purge);
            return failed(problem);
        }
        const SqlitePage::Statement purgeOwner(purge);
        sqlite3_bind_int64(purge, 1, now - Push::RememberSeconds);
        if (sqlite3_step(purge) != SQLITE_DONE)
            return failed(problem);
        m_now = now;
        const QString connection = m_store->connectionName();
        const std::tuple<sqlite3_stmt **, SqlitePage::Statement *, QString> statements[] = {
            { &m_remembered, &m_entity->pushRememberedStatement,
              QStringLiteral("SELECT result FROM _bs_pushes WHERE client = ? AND change_id = ?") },
            { &m_remember, &m_entity->pushRememberStatement,
              QStringLiteral("INSERT INTO _bs_pushes(client, change_id, result, at) "
                             "VALUES(?, ?, ?, ?)") },
            { &m_record, &m_entity->pushRecordStatement,
              m_entity->selectColumns() + QLatin1String(" WHERE id = ?") },
            { &m_insert, &m_entity->pushInsertStatement, m_entity->insertSql() },
            { &m_update, &m_entity->pushUpdateStatement, m_entity->replaceSql() },
            { &m_remove, &m_entity->pushRemoveStatement, m_entity->removeSql() },
        };
        for (const auto &[statement, slot, sql] : statements) {
            *statement = SqlitePage::prepare(*slot, connection, sql, problem);
            if (!*statement)
                return false;
        }
        m_clientUtf8 = m_client.toUtf8();
        return true;
    }

    // The result object of \a change, applied when it applies; nullopt when the database
    // failed.
    std::optional<QByteArray> resultOf(const PushChange &change, QString *problem)
    {
        const QByteArray changeId = change.changeId.toUtf8();
        {
            const StatementReset reset(m_remembered);
            sqlite3_bind_text(m_remembered, 1, m_clientUtf8.constData(), int(m_clientUtf8.size()),
                              SQLITE_STATIC);
            sqlite3_bind_text(m_remembered, 2, changeId.constData(), int(changeId.size()),
                              SQLITE_STATIC);
            const int step = sqlite3_step(m_remembered);
            if (step == SQLITE_ROW) {
                const auto *text
                    = reinterpret_cast<const char *>(sqlite3_column_text(m_remembered, 0));
                return QByteArray(text, sqlite3_column_bytes(m_remembered, 0));
            }
            if (step != SQLITE_DONE) {
                failed(problem);
                return std::nullopt;
            }
        }
        std::optional<QByteArray> result = decide(change, problem);
        if (!result)
            return std::nullopt;
        const StatementReset reset(m_remember);
        sqlite3_bind_text(m_remember, 1, m_clientUtf8.constData(), int(m_clientUtf8.size()),
                          SQLITE_STATIC);
        sqlite3_bind_text(m_remember, 2, changeId.constData(), int(changeId.size()), SQLITE_STATIC);
        sqlite3_bind_text(m_remember, 3, result->constData(), int(result->size()), SQLITE_STATIC);
        sqlite3_bind_int64(m_remember, 4, m_now);
        if (sqlite3_step(m_remember) != SQLITE_DONE) {
            failed(problem);
            return std::nullopt;
        }
        return result;
    }

private:
    std::optional<QByteArray> decide(const PushChange &change, QString *problem)
    {
        if (!change.rejection.isEmpty())
            return Push::rejected(change.changeId, change.rejection);
        const StatementReset reset(m_record);
        bindText(m_record, 1, change.id);
        const int step = sqlite3_step(m_record);
        if (step != SQLITE_ROW && step != SQLITE_DONE) {
            failed(problem);
            return std::nullopt;
        }
        const bool exists = step == SQLITE_ROW;
        const bool live = exists && SqlitePage::integerCell(SqlitePage::cell(m_record, 3)) == 0;
        const qint64 version = exists ? SqlitePage::integerCell(SqlitePage::cell(m_record, 0)) : 0;
        const auto conflict = [&] {
            return Push::conflict(change.changeId, m_entity->schema, change.id, current(exists));
        };
        if (!change.base) {
            if (live)
                return conflict();
            if (change.deleted)
                return Push::appliedUnchanged(change.changeId, current(exists));
        } else if (!live || QString::number(version) != *change.base) {
            return conflict();
        }
        return apply(change, exists ? std::optional<qint64>(version) : std::nullopt, problem);
    }

    // The record m_record stands on, read whole: only a conflict or a deletion of nothing
    // live shows it.
    StoredRecord current(bool exists)
    {
        StoredRecord record;
        if (!exists)
            return record;
        record.exists = true;
        record.version = QString::number(SqlitePage::integerCell(SqlitePage::cell(m_record, 0)));
        record.changedAt = SqlitePage::driverValue(SqlitePage::cell(m_record, 2)).toString();
        record.deleted = SqlitePage::integerCell(SqlitePage::cell(m_record, 3)) != 0;
        const qsizetype fields = m_entity->schema.fields.size();
        record.values.reserve(fields);
        for (qsizetype i = 0; i < fields; ++i)
            record.values.append(SqlitePage::driverValue(SqlitePage::cell(m_record, int(4 + i))));
        return record;
    }

    // Stores \a change as the entity's next change: a new record, the record stored at
    // \a storedSeq replaced whole, or its tombstone.
    std::optional<QByteArray> apply(const PushChange &change, std::optional<qint64> storedSeq,
                                    QString *problem)
    {
        const qint64 seq = m_entity->lastSeq + 1;
        const QString changedAt = m_store->nextChangedAt(m_entity);
        sqlite3_stmt *statement = change.deleted ? m_remove : storedSeq ? m_update : m_insert;
        const StatementReset reset(statement);
        if (change.deleted) {
            sqlite3_bind_int64(m_remove, 1, seq);
            bindText(m_remove, 2, changedAt);
            bindText(m_remove, 3, change.id);
        } else {
            sqlite3_bind_int64(statement, 1, seq);
            if (storedSeq)
                sqlite3_bind_int64(statement, 2, *storedSeq);
            else
                bindText(statement, 2, change.id);
            bindText(statement, 3, changedAt);
            for (qsizetype i = 0; i < change.values.size(); ++i)
                bindValue(statement, int(4 + i), change.values.at(i));
        }
        if (sqlite3_step(statement) != SQLITE_DONE) {
            failed(problem);
            return std::nullopt;
        }
        m_entity->lastSeq = seq;
        return Push::applied(change.changeId, QString::number(seq), changedAt);
    }

    bool failed(QString *problem) const
    {
        *problem = SqlitePage::sqliteError(m_db);
        if (problem->isEmpty())
            *problem = QStringLiteral("the database failed");
        return false;
    }

    ServerStore *m_store;
    Entity *m_entity;
    QString m_client;
    QByteArray m_clientUtf8;
    qint64 m_now = 0;
    sqlite3 *m_db = nullptr;
    sqlite3_stmt *m_remembered = nullptr;
    sqlite3_stmt *m_remember = nullptr;
    sqlite3_stmt *m_record = nullptr;
    sqlite3_stmt *m_insert = nullptr;
    sqlite3_stmt *m_update = nullptr;
    sqlite3_stmt *m_remove = nullptr;
};

std::optional<QByteArray> ServerStore::push(const QString &entityName, const PushRequest &request,
                                            QString *error)
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return std::nullopt;
    const qint64 savedSeq = entity->lastSeq;
    const QString savedChangedAt = entity->lastChangedAt;
    std::optional<QByteArray> body = pushInTransaction(
        entityName,
        [&](QString *problem) {
            PushRun run(this, entity, request.client); // its statements are reset after each use
            return Push::resultsOf(run, request.changes, problem);
        },
        error);
    if (!body)
        restoreAndFail(entity, savedSeq, savedChangedAt, error);
    return body;
}

} // namespace BatchSync
