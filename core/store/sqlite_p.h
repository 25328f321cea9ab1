#pragma once

// Internal to the local store; not installed.

#include <QByteArray>
#include <QString>
#include <QStringEncoder>
#include <QVariant>
#include <sqlite3.h>
#include <vector>

/*
    The sqlite3 C API of the local store's connection (the handle of Qt's QSQLITE driver):
    a prepared statement and a write transaction. Used only in the thread that opened the
    connection.
*/

namespace BatchSync::Sqlite {

/*! What one step of a statement gave. */
enum class Step { Row, Done, Failed };

/*
    One sqlite3 statement of the store's connection. Errors keep SQLite's result code and
    message for LocalStore::storageFailure(), read at once since the next call on the
    connection replaces them.
*/
class Statement final
{
    Q_DISABLE_COPY_MOVE(Statement)

public:
    Statement() = default;
    ~Statement() { sqlite3_finalize(m_statement); }

    // SQLITE_PREPARE_PERSISTENT for the statements kept across batches.
    bool prepare(sqlite3 *db, const QString &sql, unsigned flags = 0);
    bool isPrepared() const { return m_statement != nullptr; }
    sqlite3_stmt *handle() const { return m_statement; }

    // A null QString is NULL, as with QSQLITE.
    bool bindText(int index, QStringView text, bool isNull = false);
    bool bindText(int index, const QString &text)
    {
        return bindText(index, QStringView(text), text.isNull());
    }
    bool bindDouble(int index, double value)
    {
        const int rc = sqlite3_bind_double(m_statement, index, value);
        return rc == SQLITE_OK || failed(rc);
    }
    // UTF-8 text as it is, which must live until the statement has run.
    bool bindUtf8(int index, QByteArrayView text)
    {
        const int rc = sqlite3_bind_text(m_statement, index, text.data() ? text.data() : "",
                                         int(text.size()), SQLITE_STATIC);
        return rc == SQLITE_OK || failed(rc);
    }
    // Empty positions and messages are stored as NULL, which is what an outside reader expects.
    bool bindTextOrNull(int index, const QString &text)
    {
        return text.isEmpty() ? bindNull(index) : bindText(index, text);
    }
    bool bindNull(int index)
    {
        const int rc = sqlite3_bind_null(m_statement, index);
        return rc == SQLITE_OK || failed(rc);
    }
    bool bindInt(int index, qint64 value)
    {
        const int rc = sqlite3_bind_int64(m_statement, index, value);
        return rc == SQLITE_OK || failed(rc);
    }
    // A value that outlives the step, stored exactly as QSQLITE stores it.
    bool bindValue(int index, const QVariant &value);

    // Runs a statement that returns no rows; ready for the next use afterwards.
    bool exec();
    // Steps once; reset() after the rows wanted were read (a failure resets by itself).
    Step step();
    qint64 intValue(int column) const { return sqlite3_column_int64(m_statement, column); }
    QString textValue(int column) const;
    bool isNull(int column) const
    {
        return sqlite3_column_type(m_statement, column) == SQLITE_NULL;
    }
    void reset() { sqlite3_reset(m_statement); }
    // Rows changed by the last exec() on the connection.
    qint64 changes() const { return sqlite3_changes64(m_db); }

    int errorCode() const { return m_errorCode; }
    QString errorText() const { return m_errorText; }

private:
    bool failed(int rc);

    sqlite3 *m_db = nullptr;
    sqlite3_stmt *m_statement = nullptr;
    QStringEncoder m_encoder { QStringEncoder::Utf8, QStringConverter::Flag::Stateless };
    std::vector<QByteArray> m_text; // by parameter index
    int m_errorCode = SQLITE_OK;
    QString m_errorText;
};

/*
    A write transaction. BEGIN IMMEDIATE takes the write lock at once (waiting up to the busy
    timeout), so a transaction never fails half-way because another writer got in first.
    Rolls back unless committed. Plain SQL on the connection, so QSqlQuery statements may run
    inside it. The three statements are prepared once per connection by its owner.
*/
class Transaction final
{
    Q_DISABLE_COPY_MOVE(Transaction)

public:
    Transaction(sqlite3 *db, Statement &begin, Statement &commit, Statement &rollback)
        : m_db(db)
        , m_begin(begin)
        , m_commit(commit)
        , m_rollback(rollback)
    {
    }
    ~Transaction();

    bool begin();
    bool commit();

    int errorCode() const { return m_errorCode; }
    QString errorText() const { return m_errorText; }

private:
    bool failed(const Statement &statement);
    void rollback();

    sqlite3 *m_db;
    Statement &m_begin;
    Statement &m_commit;
    Statement &m_rollback;
    bool m_open = false;
    int m_errorCode = SQLITE_OK;
    QString m_errorText;
};

} // namespace BatchSync::Sqlite
