#include "pgtest.h"

#include "server/backend/pgserverstore.h"

#include <QAtomicInteger>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QtGlobal>

namespace BatchSync::Test::PgTest {

namespace {

QString baseConnection()
{
    return qEnvironmentVariable("BATCHSYNC_TEST_POSTGRES").trimmed();
}

// The base connection string with dbname (and search_path) replaced.
QString withDatabase(const QString &database, const QString &schema)
{
    QString result = baseConnection();
    PgConnection parsed;
    QString error;
    if (!PgConnection::parse(result, &parsed, &error))
        return QString();
    QStringList parts;
    if (!parsed.host.isEmpty())
        parts.append(QStringLiteral("host=") + parsed.host);
    if (parsed.port > 0)
        parts.append(QStringLiteral("port=%1").arg(parsed.port));
    parts.append(QStringLiteral("dbname=") + database);
    if (!parsed.userName.isEmpty())
        parts.append(QStringLiteral("user=") + parsed.userName);
    if (!parsed.password.isEmpty())
        parts.append(QStringLiteral("password='%1'").arg(parsed.password));
    if (!parsed.options.isEmpty())
        parts.append(parsed.options);
    if (!schema.isEmpty())
        parts.append(QStringLiteral("options='-c search_path=%1'").arg(schema));
    return parts.join(u' ');
}

// Adds the connection \a name for the libpq \a connection string; invalid on failure.
QSqlDatabase add(const QString &connection, const QString &name, QString *error)
{
    PgConnection parsed;
    if (!PgConnection::parse(connection, &parsed, error))
        return QSqlDatabase();
    QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), name);
    db.setHostName(parsed.host);
    if (parsed.port > 0)
        db.setPort(parsed.port);
    db.setDatabaseName(parsed.databaseName);
    db.setUserName(parsed.userName);
    db.setPassword(parsed.password);
    db.setConnectOptions(parsed.options);
    return db;
}

// Runs statements on a short-lived connection; \a value (if given) receives the first
// column of the last one's first row.
bool run(const QString &connection, const QStringList &statements, QString *error,
         QVariant *value = nullptr)
{
    static QAtomicInteger<int> counter;
    const QString name = QStringLiteral("pgtest-%1").arg(counter.fetchAndAddRelaxed(1));
    bool ok = true;
    {
        QSqlDatabase db = add(connection, name, error);
        if (!db.isValid())
            return false;
        if (!db.open()) {
            if (error)
                *error = db.lastError().text();
            ok = false;
        } else {
            QSqlQuery query(db);
            query.exec(QStringLiteral("SET client_min_messages = warning"));
            for (const QString &sql : statements) {
                if (!query.exec(sql)) {
                    if (error)
                        *error = query.lastError().text();
                    ok = false;
                    break;
                }
            }
            if (ok && value)
                *value = query.next() ? query.value(0) : QVariant();
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
    return ok;
}

} // namespace

bool selected()
{
    static const bool postgres
        = qEnvironmentVariable("BATCHSYNC_TEST_BACKEND") == QLatin1String("postgres");
    return postgres;
}

QString unavailableReason()
{
    if (baseConnection().isEmpty())
        return QStringLiteral("BATCHSYNC_TEST_POSTGRES is not set (bash .ci/postgres start "
                              "prints it)");
    if (!PgServerStore::isDriverAvailable())
        return QStringLiteral("the Qt PostgreSQL driver QPSQL is missing (libqt6sql6-psql)");
    QString error;
    if (!run(baseConnection(), { QStringLiteral("SELECT 1") }, &error))
        return QStringLiteral("cannot reach PostgreSQL at \"%1\": %2").arg(baseConnection(), error);
    return QString();
}

bool required()
{
    return !qEnvironmentVariableIsEmpty("CI");
}

QString connection(const QString &database, const QString &schema, bool fresh)
{
    QString error;
    // CREATE DATABASE has no IF NOT EXISTS: an "already exists" error is fine.
    run(baseConnection(), { QStringLiteral("CREATE DATABASE %1").arg(database) }, &error);
    if (fresh
        && !run(withDatabase(database, QString()),
                { QStringLiteral("DROP SCHEMA IF EXISTS %1 CASCADE").arg(schema),
                  QStringLiteral("CREATE SCHEMA %1").arg(schema) },
                &error)) {
        qWarning("PgTest: cannot create schema %s in %s: %s", qPrintable(schema),
                 qPrintable(database), qPrintable(error));
        return QString();
    }
    return withDatabase(database, schema);
}

void dropSchema(const QString &database, const QString &schema)
{
    QString error;
    if (!run(withDatabase(database, QString()),
             { QStringLiteral("DROP SCHEMA IF EXISTS %1 CASCADE").arg(schema) }, &error))
        qWarning("PgTest: cannot drop schema %s: %s", qPrintable(schema), qPrintable(error));
}

bool exec(const QString &database, const QString &schema, const QString &sql, QString *error)
{
    return run(withDatabase(database, schema), { sql }, error);
}

QVariant query(const QString &connection, const QStringList &statements)
{
    QString error;
    QVariant value;
    if (!run(connection, statements, &error, &value)) {
        qWarning("PgTest: %s", qPrintable(error));
        return QVariant();
    }
    return value;
}

bool countWrites(const QString &connection, const QString &table)
{
    return query(connection,
                 { QStringLiteral("CREATE TABLE IF NOT EXISTS _test_writes(at timestamptz)"),
                   QStringLiteral("CREATE OR REPLACE FUNCTION _test_count() RETURNS trigger "
                                  "LANGUAGE plpgsql AS $$ BEGIN INSERT INTO _test_writes "
                                  "VALUES (now()); RETURN NULL; END $$"),
                   QStringLiteral("CREATE TRIGGER _test_count AFTER INSERT OR UPDATE OR DELETE "
                                  "ON %1 FOR EACH ROW EXECUTE FUNCTION _test_count()")
                       .arg(table),
                   QStringLiteral("SELECT true") })
        .toBool();
}

qint64 writes(const QString &connection)
{
    const QVariant count
        = query(connection, { QStringLiteral("SELECT count(*) FROM _test_writes") });
    return count.isValid() ? count.toLongLong() : -1;
}

QSqlDatabase addConnection(const QString &name, const QString &database, const QString &schema)
{
    QString error;
    QSqlDatabase db = add(withDatabase(database, schema), name, &error);
    if (!db.isValid())
        qWarning("PgTest: %s", qPrintable(error));
    return db;
}

QVariant value(const QString &database, const QString &schema, const QString &sql)
{
    QString error;
    QVariant result;
    if (!run(withDatabase(database, schema), { sql }, &error, &result))
        qWarning("PgTest: %s: %s", qPrintable(sql), qPrintable(error));
    return result;
}

} // namespace BatchSync::Test::PgTest
