#pragma once

#include "common/types.h"
#include "server/pagewriter.h"

#include <QByteArray>
#include <QList>
#include <QString>
#include <QVariant>
#include <memory>
#include <sqlite3.h>

/*!
    \file sqlitepage.h
    How ServerStore reads a page: straight from the sqlite3 C API behind QSQLITE, each cell
    handed to the PageWriter without a QVariant. Internal to core/server; the connection's
    thread only.
*/

namespace BatchSync::SqlitePage {

/*
    The page path reads through the sqlite3 C API behind QSQLITE: a QVariant per cell and text
    turned into UTF-16 and back cost more than the rest of a page. These statements share
    QSQLITE's connection and are always reset after use, so that no read transaction stays open.
*/
struct StatementFinalizer
{
    void operator()(sqlite3_stmt *statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

class StatementReset final
{
    Q_DISABLE_COPY_MOVE(StatementReset)

public:
    explicit StatementReset(sqlite3_stmt *statement)
        : m_statement(statement)
    {
    }
    ~StatementReset() { sqlite3_reset(m_statement); }

private:
    sqlite3_stmt *m_statement;
};

/*! The last error of \a db. */
inline QString sqliteError(sqlite3 *db)
{
    return QString::fromUtf8(sqlite3_errmsg(db));
}

/*! The sqlite3 handle behind the QSQLITE connection \a connection, or null. */
sqlite3 *nativeHandle(const QString &connection);

/*!
    The statement in \a slot, prepared from \a sql on first use (persistent); null with
    \a problem set when it cannot be.
*/
sqlite3_stmt *prepare(Statement &slot, const QString &connection, const QString &sql,
                      QString *problem);

// Whether the database keeps its text in UTF-8 (SQLite's default, and so every database this
// store creates); otherwise pages read text as UTF-16, as QSQLITE does.
bool storesUtf8(sqlite3 *db);

/*
    A cell of the current row. One sqlite3_column_value() and then the sqlite3_value_*()
    readers take neither the connection's mutex nor an error check per reading, as each
    sqlite3_column_*() call does. The value is unprotected, which is safe here: it is read on
    the connection's own thread, before the next step.
*/
inline sqlite3_value *cell(sqlite3_stmt *statement, int column)
{
    return sqlite3_column_value(statement, column);
}

// A cell as QSqlQuery::value() holds it (QSQLITE's fetchNext), for the values whose storage
// class does not match their field's type, which this store never writes.
inline QVariant driverValue(sqlite3_value *value)
{
    switch (sqlite3_value_type(value)) {
    case SQLITE_BLOB:
        return QByteArray(static_cast<const char *>(sqlite3_value_blob(value)),
                          sqlite3_value_bytes(value));
    case SQLITE_INTEGER:
        return QVariant(qint64(sqlite3_value_int64(value)));
    case SQLITE_FLOAT:
        return QVariant(sqlite3_value_double(value));
    case SQLITE_NULL:
        return QVariant(QMetaType::fromType<QString>());
    default:
        return QString(reinterpret_cast<const QChar *>(sqlite3_value_text16(value)),
                       sqlite3_value_bytes16(value) / qsizetype(sizeof(QChar)));
    }
}

// changedSince as bound to SQL: empty is the empty string, never NULL, which would match
// nothing.
inline void bindChangedSince(sqlite3_stmt *statement, int index, const QString &since)
{
    const QByteArray text = since.toUtf8();
    sqlite3_bind_text(statement, index, text.isEmpty() ? "" : text.constData(), int(text.size()),
                      SQLITE_TRANSIENT);
}

inline qint64 integerCell(sqlite3_value *value)
{
    if (sqlite3_value_type(value) == SQLITE_INTEGER)
        return sqlite3_value_int64(value);
    return driverValue(value).toLongLong();
}

inline void writeText(JsonWriter &json, sqlite3_value *value, bool utf8)
{
    if (utf8) {
        const unsigned char *text = sqlite3_value_text(value);
        const int size = sqlite3_value_bytes(value);
        json.utf8String(text, text ? size : 0);
    } else {
        const auto *text = static_cast<const char16_t *>(sqlite3_value_text16(value));
        const int size = sqlite3_value_bytes16(value);
        json.string(QStringView(text, text ? size / 2 : 0));
    }
}

inline void writeTextCell(JsonWriter &json, sqlite3_value *value, bool utf8)
{
    if (sqlite3_value_type(value) == SQLITE_TEXT)
        writeText(json, value, utf8);
    else
        json.string(driverValue(value).toString());
}

// A field's value: the storage class its type is written with takes the direct path.
inline void writeField(JsonWriter &json, sqlite3_value *value, FieldType type, bool utf8)
{
    switch (sqlite3_value_type(value)) {
    case SQLITE_NULL:
        json.literal("null");
        return;
    case SQLITE_TEXT:
        if (type == FieldType::String || type == FieldType::DateTime
            || type == FieldType::Decimal) {
            writeText(json, value, utf8);
            return;
        }
        break;
    case SQLITE_INTEGER:
        if (type == FieldType::Int) {
            json.integer(sqlite3_value_int64(value));
            return;
        }
        if (type == FieldType::Bool) {
            json.boolean(sqlite3_value_int64(value) != 0);
            return;
        }
        break;
    case SQLITE_FLOAT:
        if (type == FieldType::Real) {
            json.real(sqlite3_value_double(value));
            return;
        }
        break;
    default:
        break;
    }
    json.value(type, driverValue(value));
}

/*!
    The rows of a page query (seq, id, changed_at, deleted, then the field columns), read for
    PageWriter::write(). The cursor is the last kept row's seq, or the request's.
*/
class Rows final
{
public:
    Rows(sqlite3_stmt *statement, const QList<FieldSpec> &fields, bool utf8, qint64 sinceSeq)
        : m_statement(statement)
        , m_fields(fields)
        , m_utf8(utf8)
        , m_lastSeq(sinceSeq)
    {
    }

    bool next()
    {
        m_step = sqlite3_step(m_statement);
        return m_step == SQLITE_ROW;
    }
    /*! Whether reading stopped on an error rather than at the end or the limit. */
    bool failed() const { return m_step != SQLITE_ROW && m_step != SQLITE_DONE; }

    void keepPosition() { m_lastSeq = integerCell(cell(m_statement, 0)); }
    void writeId(JsonWriter &json) { writeTextCell(json, cell(m_statement, 1), m_utf8); }
    void writeChangedAt(JsonWriter &json) { writeTextCell(json, cell(m_statement, 2), m_utf8); }
    bool isDeleted() { return integerCell(cell(m_statement, 3)) != 0; }
    // The version of a record is the sequence number of its last change.
    void writeVersion(JsonWriter &json)
    {
        json.raw('"');
        json.integer(integerCell(cell(m_statement, 0)));
        json.raw('"');
    }
    void writeField(JsonWriter &json, int index)
    {
        SqlitePage::writeField(json, cell(m_statement, 4 + index), m_fields.at(index).type, m_utf8);
    }
    /*!
        A position the cursor may move to when the page reaches the end of the changes: a
        filtered page skips changes it does not serve, and its caller need not read them again.
    */
    void setEndPosition(qint64 seq) { m_endSeq = seq; }
    void writeCursor(JsonWriter &json)
    {
        json.raw('"');
        json.integer(m_step == SQLITE_DONE ? qMax(m_lastSeq, m_endSeq) : m_lastSeq);
        json.raw('"');
    }

private:
    sqlite3_stmt *m_statement;
    const QList<FieldSpec> &m_fields;
    const bool m_utf8;
    qint64 m_lastSeq;
    qint64 m_endSeq = 0;
    int m_step = SQLITE_DONE;
};

} // namespace BatchSync::SqlitePage
