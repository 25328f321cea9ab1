#pragma once

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>
#include <memory>

/*!
    \file pglink.h
    A libpq connection of the PostgreSQL backend, for the reads that must not pay for a
    QVariant per cell: the pages of changes and their counts. Internal to core/server; the
    thread that opened it only.
*/

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace BatchSync {

/*! A query's result; frees it. */
class PgResult final
{
public:
    PgResult() = default;
    explicit PgResult(PGresult *result);
    PgResult(PgResult &&other) noexcept = default;
    PgResult &operator=(PgResult &&other) noexcept = default;
    ~PgResult();
    Q_DISABLE_COPY(PgResult)

    const PGresult *get() const { return m_result.get(); }
    explicit operator bool() const { return bool(m_result); }
    int rows() const;
    /*! The text of a cell (empty for null), its length, whether it is null. */
    const char *text(int row, int column) const;
    int length(int row, int column) const;
    bool isNull(int row, int column) const;
    /*! The type (its oid) of a column. */
    unsigned int columnType(int column) const;

private:
    struct Clear
    {
        void operator()(PGresult *result) const;
    };
    std::unique_ptr<PGresult, Clear> m_result;
};

/*!
    One libpq connection, with the statements it ran prepared and kept: a page must not pay
    for parsing SQL. A connection found broken is reset before the next query, so that a
    request that met a lost connection fails and the next one runs on a new connection.
    Not thread-safe: the thread that called open() only.
*/
class PgLink final
{
    Q_DISABLE_COPY_MOVE(PgLink)

public:
    /*! \a connectionString: a libpq connection string or URI, as PgConnection takes it. */
    explicit PgLink(const QString &connectionString);
    ~PgLink();

    /*! Connects (within connect_timeout, 10 s unless the string says otherwise). */
    bool open(QString *error);
    /*!
        Runs \a sql, whose parameters are written "?" (outside quotes), with \a parameters as
        their text (cast in the SQL to their types). The result holds rows; on failure it is
        empty and \a error holds the server's message.
    */
    PgResult query(const QString &sql, const QList<QByteArray> &parameters, QString *error);

private:
    bool connect(QString *error);
    void forget(const QString &sql);

    QByteArray m_connectionString;
    PGconn *m_connection = nullptr;
    QHash<QString, QByteArray> m_statements; // SQL → the name of its prepared statement
    quint64 m_nextStatement = 0;
};

} // namespace BatchSync
