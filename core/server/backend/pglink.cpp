#include "pglink.h"

#include <QVarLengthArray>
#include <libpq-fe.h>

namespace BatchSync {

namespace {

// Prepared statements kept per connection; beyond this many (odd callers, row filters of many
// shapes) they are dropped and prepared again as they come.
constexpr int MaxStatements = 256;

// libpq's messages end with a newline, sometimes more than one line: the first one is enough.
QString message(const char *text)
{
    const QString all = QString::fromUtf8(text).trimmed();
    return all.isEmpty() ? QStringLiteral("no answer from the server") : all;
}

// "?" placeholders outside quotes become $1, $2, ...
QByteArray numbered(const QString &sql)
{
    const QByteArray utf8 = sql.toUtf8();
    QByteArray result;
    result.reserve(utf8.size() + 16);
    int next = 1;
    char quote = 0;
    for (const char c : utf8) {
        if (quote) {
            quote = c == quote ? 0 : quote;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '?') {
            result += '$' + QByteArray::number(next++);
            continue;
        }
        result += c;
    }
    return result;
}

} // namespace

PgResult::PgResult(PGresult *result)
    : m_result(result)
{
}

PgResult::~PgResult() = default;

void PgResult::Clear::operator()(PGresult *result) const
{
    PQclear(result);
}

int PgResult::rows() const
{
    return m_result ? PQntuples(m_result.get()) : 0;
}

const char *PgResult::text(int row, int column) const
{
    return PQgetvalue(m_result.get(), row, column);
}

int PgResult::length(int row, int column) const
{
    return PQgetlength(m_result.get(), row, column);
}

bool PgResult::isNull(int row, int column) const
{
    return PQgetisnull(m_result.get(), row, column) != 0;
}

unsigned int PgResult::columnType(int column) const
{
    return PQftype(m_result.get(), column);
}

PgLink::PgLink(const QString &connectionString)
    : m_connectionString(connectionString.trimmed().toUtf8())
{
}

PgLink::~PgLink()
{
    if (m_connection)
        PQfinish(m_connection);
}

bool PgLink::open(QString *error)
{
    return connect(error);
}

bool PgLink::connect(QString *error)
{
    m_statements.clear();
    if (m_connection) {
        PQfinish(m_connection);
        m_connection = nullptr;
    }
    // In index order, a later keyword wins: the user's connect_timeout over the default, UTF-8
    // text whatever the user's string says (pages are UTF-8).
    const char *const keywords[]
        = { "connect_timeout", "dbname", "client_encoding", "fallback_application_name", nullptr };
    const char *const values[]
        = { "10", m_connectionString.constData(), "UTF8", "batchsync-server", nullptr };
    m_connection = PQconnectdbParams(keywords, values, 1);
    if (!m_connection || PQstatus(m_connection) != CONNECTION_OK) {
        *error = m_connection ? message(PQerrorMessage(m_connection))
                              : QStringLiteral("out of memory");
        return false;
    }
    // Shortest exact doubles, as the QPSQL connection's session has them.
    PgResult set(PQexec(m_connection, "SET extra_float_digits = 1"));
    if (!set || PQresultStatus(set.get()) != PGRES_COMMAND_OK) {
        *error = message(PQerrorMessage(m_connection));
        return false;
    }
    return true;
}

void PgLink::forget(const QString &sql)
{
    const QByteArray name = m_statements.take(sql);
    if (name.isEmpty() || PQstatus(m_connection) != CONNECTION_OK)
        return;
    PgResult(PQexec(m_connection, QByteArray("DEALLOCATE " + name).constData()));
}

PgResult PgLink::query(const QString &sql, const QList<QByteArray> &parameters, QString *error)
{
    // A connection lost during an earlier request: a new one for this request.
    if ((!m_connection || PQstatus(m_connection) != CONNECTION_OK) && !connect(error))
        return PgResult();
    QByteArray name = m_statements.value(sql);
    if (name.isEmpty()) {
        if (m_statements.size() >= MaxStatements) {
            m_statements.clear();
            PgResult(PQexec(m_connection, "DEALLOCATE ALL"));
        }
        name = "bs_read_" + QByteArray::number(++m_nextStatement);
        PgResult prepared(
            PQprepare(m_connection, name.constData(), numbered(sql).constData(), 0, nullptr));
        if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
            *error = message(PQerrorMessage(m_connection));
            return PgResult();
        }
        m_statements.insert(sql, name);
    }
    QVarLengthArray<const char *, 16> values;
    for (const QByteArray &parameter : parameters)
        values.append(parameter.constData());
    PgResult result(PQexecPrepared(m_connection, name.constData(), int(values.size()),
                                   values.constData(), nullptr, nullptr, 0));
    if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
        *error
            = message(result ? PQresultErrorMessage(result.get()) : PQerrorMessage(m_connection));
        // A table changed under the statement: it is prepared again next time.
        forget(sql);
        return PgResult();
    }
    return result;
}

} // namespace BatchSync
