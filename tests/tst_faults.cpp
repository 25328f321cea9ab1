// Fault injection through the whole engine: garbage from the server, and local storage that
// refuses to be written. Each fault is injected after a good sync, so the test can prove
// that nothing already stored changed, and is then removed to prove the next sync ends
// equal to the server.

#include "common/types.h"
#include "engine/syncengine.h"
#include "sources/protocol/protocolclient.h"
#include "server/serverstore.h"
#include "server/syncserver.h"
#include "testutil/fakenetwork.h"
#include "testutil/immutable.h"
#include "testutil/localdb.h"
#include "testutil/testserver.h"

#include <QAtomicInt>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QScopeGuard>
#include <QSemaphore>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QUrlQuery>
#include <atomic>
#include <functional>
#include <memory>

using namespace BatchSync;

namespace {

const QString entityName = QStringLiteral("customers");

// What the suite injected, for the summary the lead quotes.
struct Tally
{
    QMap<QString, int> garbage; // endpoint → kinds injected
    QMap<QString, int> storage; // kind → times injected
    int unchangedChecks = 0; // local database compared before/after a fault, and equal
    int exactRecoveries = 0; // syncs after removing a fault that ended equal to the server
    QStringList skipped;
};
Tally tally;

QString uniqueConnectionName()
{
    static std::atomic<int> serial { 0 };
    return QStringLiteral("tst_faults_%1").arg(++serial);
}

QString quotedName(const QString &name)
{
    QString escaped = name;
    escaped.replace(QLatin1Char('"'), QStringLiteral("\"\""));
    return QLatin1Char('"') + escaped + QLatin1Char('"');
}

/*! Runs \a body with a read-only connection to \a path, then removes the connection. */
void withReader(const QString &path, const std::function<void(QSqlDatabase &)> &body)
{
    const QString name = uniqueConnectionName();
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(path);
        db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY;QSQLITE_BUSY_TIMEOUT=10000"));
        if (db.open())
            body(db);
        else
            qWarning() << "cannot open" << path << db.lastError().text();
    }
    QSqlDatabase::removeDatabase(name);
}

/*!
    Everything in the local database, as text exact enough to compare byte-for-byte:
    the schema (sqlite_master), every row of every table but _sync_state rendered with
    SQL's quote() (which keeps types and full precision), and of _sync_state what a
    completed sync leaves behind (committed position, schema, last completion).
*/
struct Snapshot
{
    QStringList schema;
    QMap<QString, QStringList> rows;
    QStringList committed;

    friend bool operator==(const Snapshot &a, const Snapshot &b)
    {
        return a.schema == b.schema && a.rows == b.rows && a.committed == b.committed;
    }

    QString difference(const Snapshot &other) const
    {
        if (schema != other.schema)
            return QStringLiteral("schema: [%1] vs [%2]")
                .arg(schema.join(QLatin1String("; ")), other.schema.join(QLatin1String("; ")));
        if (committed != other.committed)
            return QStringLiteral("_sync_state: [%1] vs [%2]")
                .arg(committed.join(QLatin1String("; ")),
                     other.committed.join(QLatin1String("; ")));
        for (auto it = rows.cbegin(); it != rows.cend(); ++it) {
            const QStringList theirs = other.rows.value(it.key());
            if (it.value().size() != theirs.size())
                return QStringLiteral("table %1: %2 rows vs %3")
                    .arg(it.key())
                    .arg(it.value().size())
                    .arg(theirs.size());
            for (int i = 0; i < theirs.size(); ++i) {
                if (it.value().at(i) != theirs.at(i))
                    return QStringLiteral("table %1: %2 vs %3")
                        .arg(it.key(), it.value().at(i), theirs.at(i));
            }
        }
        return QString();
    }
};

Snapshot snapshot(const QString &path)
{
    Snapshot result;
    withReader(path, [&result](QSqlDatabase &db) {
        QSqlQuery query(db);
        if (!query.exec(QStringLiteral("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                       "ORDER BY type, name"))) {
            qWarning() << query.lastError().text();
            return;
        }
        QStringList tables;
        while (query.next()) {
            result.schema << QStringLiteral("%1|%2|%3|%4")
                                 .arg(query.value(0).toString(), query.value(1).toString(),
                                      query.value(2).toString(), query.value(3).toString());
            if (query.value(0).toString() == u"table")
                tables << query.value(1).toString();
        }
        for (const QString &table : std::as_const(tables)) {
            QStringList columns;
            query.exec(QStringLiteral("SELECT name FROM pragma_table_info(%1)")
                           .arg(QLatin1Char('\'')
                                + QString(table).replace(QLatin1Char('\''), QStringLiteral("''"))
                                + QLatin1Char('\'')));
            while (query.next())
                columns << query.value(0).toString();
            if (table == u"_sync_state") {
                if (!query.exec(QStringLiteral("SELECT entity, paging, quote(cursor), "
                                               "quote(cursor_id), fields, last_completed_at "
                                               "FROM _sync_state ORDER BY entity"))) {
                    qWarning() << query.lastError().text();
                }
                while (query.next()) {
                    QStringList values;
                    for (int i = 0; i < 6; ++i)
                        values << query.value(i).toString();
                    result.committed << values.join(QLatin1Char('|'));
                }
                continue;
            }
            QStringList quotedColumns;
            for (const QString &column : std::as_const(columns))
                quotedColumns << QStringLiteral("quote(%1)").arg(quotedName(column));
            if (!query.exec(QStringLiteral("SELECT rowid, %1 FROM %2 ORDER BY rowid")
                                .arg(quotedColumns.join(QLatin1Char(',')), quotedName(table)))) {
                qWarning() << query.lastError().text();
                continue;
            }
            QStringList &rows = result.rows[table];
            while (query.next()) {
                QStringList values;
                for (int i = 0; i <= columns.size(); ++i)
                    values << query.value(i).toString();
                rows << values.join(QLatin1Char('|'));
            }
        }
    });
    return result;
}

/*! The run columns of _sync_state for \a entity. */
struct RunState
{
    QString committedCursor;
    bool active = false;
    QString runCursor;
    qint64 runDone = -1;
    QString state;
    qint64 rows = -1;
};

RunState runState(const QString &path, const QString &entity)
{
    RunState result;
    withReader(path, [&](QSqlDatabase &db) {
        QSqlQuery query(db);
        query.prepare(QStringLiteral("SELECT cursor, run_active, run_cursor, run_done, state "
                                     "FROM _sync_state WHERE entity = ?"));
        query.addBindValue(entity);
        if (query.exec() && query.next()) {
            result.committedCursor = query.value(0).toString();
            result.active = query.value(1).toInt() != 0;
            result.runCursor = query.value(2).toString();
            result.runDone = query.value(3).toLongLong();
            result.state = query.value(4).toString();
        }
        if (query.exec(QStringLiteral("SELECT count(*) FROM %1").arg(quotedName(entity)))
            && query.next()) {
            result.rows = query.value(0).toLongLong();
        }
    });
    return result;
}

/*! Empty when the local entity equals the server's live records, else what differs. */
QString differenceFromServer(const Test::TestServer &server, const QString &path)
{
    for (const EntitySchema &schema : server.store()->entities()) {
        const QString difference
            = Test::differences(path, schema, server.store()->liveRecords(schema.name));
        if (!difference.isEmpty())
            return difference;
    }
    return QString();
}

/*! Local rows must be a subset of the server's, each equal to it. */
QString differenceFromServerSubset(const Test::TestServer &server, const QString &path,
                                   const EntitySchema &schema)
{
    const auto expected = server.store()->liveRecords(schema.name);
    const auto actual = Test::localRecords(path, schema);
    for (auto it = actual.cbegin(); it != actual.cend(); ++it) {
        if (!expected.contains(it.key()))
            return QStringLiteral("%1 is not on the server").arg(it.key());
        if (expected.value(it.key()) != it.value())
            return QStringLiteral("%1 differs from the server").arg(it.key());
    }
    return QString();
}

/*!
    Runs \a sql on the engine's own database connection. Must be called in the engine's
    worker thread (a FakeRule handler runs there), since a QSqlDatabase belongs to its thread.
    PRAGMA max_page_count and query_only are per connection: set from another connection
    they would not limit the engine at all.
*/
bool execOnEngineConnection(const QString &sql)
{
    bool done = false;
    for (const QString &name : QSqlDatabase::connectionNames()) {
        if (!name.startsWith(QLatin1String("batchsync-engine-")))
            continue;
        QSqlDatabase db = QSqlDatabase::database(name, false);
        if (!db.isValid() || !db.isOpen())
            continue;
        QSqlQuery query(db);
        if (query.exec(sql))
            done = true;
        else
            qWarning() << sql << query.lastError().text();
    }
    return done;
}

qint64 pageCountOnEngineConnection()
{
    for (const QString &name : QSqlDatabase::connectionNames()) {
        if (!name.startsWith(QLatin1String("batchsync-engine-")))
            continue;
        QSqlDatabase db = QSqlDatabase::database(name, false);
        if (!db.isValid() || !db.isOpen())
            continue;
        QSqlQuery query(db);
        if (query.exec(QStringLiteral("PRAGMA page_count")) && query.next())
            return query.value(0).toLongLong();
    }
    return -1;
}

/*!
    Another connection, on its own thread, that takes the database's write lock on request
    and holds it until released: "another program" as far as the engine can tell.
*/
class LockHolder final
{
    Q_DISABLE_COPY_MOVE(LockHolder)

public:
    LockHolder(const QString &path, const QString &lockSql)
    {
        m_thread.reset(QThread::create([this, path, lockSql] {
            const QString name = uniqueConnectionName();
            {
                QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
                db.setDatabaseName(path);
                db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=10000"));
                if (!db.open())
                    qWarning() << "lock holder cannot open" << path << db.lastError().text();
                // Hang guards only: the test releases these at once.
                if (m_request.tryAcquire(1, 120000)) {
                    QSqlQuery query(db);
                    if (!query.exec(lockSql))
                        qWarning() << lockSql << query.lastError().text();
                    else
                        m_isLocked = true;
                    m_locked.release();
                    m_release.tryAcquire(1, 120000);
                    if (m_isLocked)
                        query.exec(QStringLiteral("ROLLBACK"));
                    m_isLocked = false;
                }
                db.close();
            }
            QSqlDatabase::removeDatabase(name);
        }));
        m_thread->start();
    }
    ~LockHolder()
    {
        release();
        m_request.release(); // if it was never asked to lock
        m_thread->wait();
    }

    /*! Takes the lock; returns once it is held (any thread). */
    bool lock()
    {
        m_request.release();
        return m_locked.tryAcquire(1, 30000) && m_isLocked;
    }
    bool isLocked() const { return m_isLocked; }
    void release()
    {
        if (!m_released.exchange(true))
            m_release.release();
    }

private:
    std::unique_ptr<QThread> m_thread;
    QSemaphore m_request;
    QSemaphore m_locked;
    QSemaphore m_release;
    std::atomic<bool> m_isLocked { false };
    std::atomic<bool> m_released { false };
};

QByteArray json(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QJsonObject goodData()
{
    return QJsonObject { { QStringLiteral("name"), QStringLiteral("Garbage") },
                         { QStringLiteral("balance"), 1.5 },
                         { QStringLiteral("active"), true },
                         { QStringLiteral("visits"), 3 },
                         { QStringLiteral("since"), QStringLiteral("2025-01-02T03:04:05.000Z") } };
}

QJsonObject goodChange(const QString &id = QStringLiteral("g-1"))
{
    return QJsonObject { { QStringLiteral("id"), id },
                         { QStringLiteral("changedAt"),
                           QStringLiteral("2026-01-01T00:00:00.000Z") },
                         { QStringLiteral("deleted"), false },
                         { QStringLiteral("data"), goodData() } };
}

/*! A /changes page whose first change is a valid one followed by \a bad. */
QByteArray pageWith(const QJsonObject &bad)
{
    return json(QJsonObject { { QStringLiteral("changes"), QJsonArray { goodChange(), bad } },
                              { QStringLiteral("cursor"), QStringLiteral("999999") },
                              { QStringLiteral("hasMore"), false } });
}

QByteArray changeWithField(const QString &field, const QJsonValue &value)
{
    QJsonObject change = goodChange(QStringLiteral("g-2"));
    QJsonObject data = goodData();
    data.insert(field, value);
    change.insert(QStringLiteral("data"), data);
    return pageWith(change);
}

QByteArray changeWith(const QString &key, const QJsonValue &value)
{
    QJsonObject change = goodChange(QStringLiteral("g-2"));
    if (value.isUndefined())
        change.remove(key);
    else
        change.insert(key, value);
    return pageWith(change);
}

QByteArray pageMissing(const QString &key, const QJsonValue &replacement = QJsonValue::Undefined)
{
    QJsonObject page { { QStringLiteral("changes"), QJsonArray { goodChange() } },
                       { QStringLiteral("cursor"), QStringLiteral("999999") },
                       { QStringLiteral("hasMore"), false } };
    if (replacement.isUndefined())
        page.remove(key);
    else
        page.insert(key, replacement);
    return json(page);
}

QJsonArray goodFields()
{
    const QStringList names { QStringLiteral("name"), QStringLiteral("balance"),
                              QStringLiteral("active"), QStringLiteral("visits"),
                              QStringLiteral("since") };
    const QStringList types { QStringLiteral("string"), QStringLiteral("real"),
                              QStringLiteral("bool"), QStringLiteral("int"),
                              QStringLiteral("datetime") };
    QJsonArray fields;
    for (int i = 0; i < names.size(); ++i)
        fields.append(QJsonObject { { QStringLiteral("name"), names.at(i) },
                                    { QStringLiteral("type"), types.at(i) } });
    return fields;
}

/*! /entities with the real entity plus one named \a name with \a fields. */
QByteArray entitiesWith(const QString &name, const QJsonArray &fields = QJsonArray())
{
    return json(
        QJsonObject { { QStringLiteral("entities"),
                        QJsonArray { QJsonObject { { QStringLiteral("name"), entityName },
                                                   { QStringLiteral("fields"), goodFields() } },
                                     QJsonObject { { QStringLiteral("name"), name },
                                                   { QStringLiteral("fields"), fields } } } } });
}

/*! /entities with the real entity whose fields get one more: \a field. */
QByteArray entitiesWithField(const QJsonValue &field)
{
    QJsonArray fields = goodFields();
    fields.append(field);
    return json(
        QJsonObject { { QStringLiteral("entities"),
                        QJsonArray { QJsonObject { { QStringLiteral("name"), entityName },
                                                   { QStringLiteral("fields"), fields } } } } });
}

QJsonObject field(const QJsonValue &name, const QJsonValue &type)
{
    return QJsonObject { { QStringLiteral("name"), name }, { QStringLiteral("type"), type } };
}

} // namespace

class TestFaults final : public QObject
{
    Q_OBJECT

private:
    SyncSettings settingsFor(const Test::TestServer &server)
    {
        SyncSettings settings;
        settings.endpoint = server.baseUrl();
        settings.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        settings.paging = PagingMode::Cursor;
        settings.batchSize = 100;
        settings.concurrency = 1;
        settings.retryBaseDelayMs = 20;
        settings.retryMaxDelayMs = 200;
        settings.retryGiveUpMs = 2000;
        settings.transferTimeoutMs = 10000;
        return settings;
    }

    /*! Starts everything and waits for the engine to be idle again; false on a hang. */
    static bool syncAll(SyncEngine &engine, int timeoutMs = 60000)
    {
        QSignalSpy finished(&engine, &SyncEngine::finished);
        engine.startAll();
        return finished.wait(timeoutMs);
    }

    /*! 10 updates, 5 inserts and 3 deletes on the server: what the faulty sync should bring. */
    static bool changeServerData(Test::TestServer &server, const EntitySchema &schema)
    {
        QStringList ids = server.store()->liveRecords(schema.name).keys();
        ids.sort();
        QString error;
        for (int i = 0; i < 10; ++i) {
            const QVariantMap data { { QStringLiteral("name"),
                                       QStringLiteral("changed %1").arg(i) },
                                     { QStringLiteral("visits"), qint64(1000 + i) } };
            if (!server.store()->upsert(schema.name, ids.at(i * 7), data, &error))
                return false;
        }
        for (int i = 0; i < 5; ++i) {
            const QVariantMap data { { QStringLiteral("name"), QStringLiteral("new %1").arg(i) } };
            if (!server.store()->upsert(schema.name, QStringLiteral("new-%1").arg(i), data, &error))
                return false;
        }
        return server.store()->remove(schema.name, ids.mid(100, 3), &error);
    }

    std::unique_ptr<QTemporaryDir> m_dir;

private Q_SLOTS:
    void init() { m_dir = std::make_unique<QTemporaryDir>(); }
    void cleanup() { m_dir.reset(); }

    void cleanupTestCase()
    {
        int garbageKinds = 0;
        QStringList perEndpoint;
        for (auto it = tally.garbage.cbegin(); it != tally.garbage.cend(); ++it) {
            garbageKinds += it.value();
            perEndpoint << QStringLiteral("%1 %2").arg(it.value()).arg(it.key());
        }
        int storageKinds = 0;
        QStringList perKind;
        for (auto it = tally.storage.cbegin(); it != tally.storage.cend(); ++it) {
            storageKinds += it.value();
            perKind << it.key();
        }
        qInfo().noquote()
            << QStringLiteral(
                   "fault summary: garbage: %1 kinds (%2), storage: %3 kinds (%4); local data "
                   "compared unchanged after %5 faults, every time; %6 recoveries ended equal to "
                   "the server%7")
                   .arg(garbageKinds)
                   .arg(perEndpoint.join(QLatin1String(", ")))
                   .arg(storageKinds)
                   .arg(perKind.join(QLatin1String(", ")))
                   .arg(tally.unchangedChecks)
                   .arg(tally.exactRecoveries)
                   .arg(tally.skipped.isEmpty() ? QString()
                                                : QStringLiteral("; skipped: ")
                                + tally.skipped.join(QLatin1String(", ")));
    }

    void garbageFromServer_data()
    {
        QTest::addColumn<QString>("endpoint"); // "entities", "count" or "changes"
        QTest::addColumn<QString>("kind"); // "body", "echo" (same page forever), "advance"
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QString>("expected"); // in the message

        auto row = [](const char *name, const char *endpoint, const QByteArray &body,
                      const QString &expected, const char *kind = "body") {
            QTest::newRow(name) << QString::fromLatin1(endpoint) << QString::fromLatin1(kind)
                                << body << expected;
        };

        // GET /entities: the endpoint fails; no table is made or dropped.
        row("entities: not JSON", "entities", "<html><body>502 Bad Gateway</body></html>",
            QStringLiteral("not valid JSON"));
        row("entities: empty body", "entities", "", QStringLiteral("empty"));
        row("entities: top-level array", "entities", R"([{"name": "customers"}])",
            QStringLiteral("expected a JSON object"));
        row("entities: entities is an object", "entities", R"({"entities": {"customers": []}})",
            QStringLiteral("entities: expected an array"));
        row("entities: entities missing", "entities", R"({"entity": []})",
            QStringLiteral("entities: missing"));
        row("entities: name is a number", "entities",
            R"({"entities": [{"name": 7, "fields": []}]})",
            QStringLiteral("name: expected a string"));
        row("entities: name x; DROP TABLE y", "entities",
            entitiesWith(QStringLiteral("x; DROP TABLE customers")),
            QStringLiteral("x; DROP TABLE customers"));
        row("entities: name a\"b", "entities", entitiesWith(QStringLiteral("a\"b")),
            QStringLiteral("a\\u0022b")); // quotes are escaped in messages
        row("entities: name has space", "entities", entitiesWith(QStringLiteral("has space")),
            QStringLiteral("has space"));
        row("entities: name id", "entities", entitiesWith(QStringLiteral("id")),
            QStringLiteral("reserved"));
        row("entities: name _x", "entities", entitiesWith(QStringLiteral("_x")),
            QStringLiteral("reserved"));
        row("entities: name sqlite_master", "entities",
            entitiesWith(QStringLiteral("sqlite_master")), QStringLiteral("reserved"));
        row("entities: name _sync_state", "entities", entitiesWith(QStringLiteral("_sync_state")),
            QStringLiteral("reserved"));
        row("entities: name of 65 characters", "entities", entitiesWith(QString(65, u'a')),
            QStringLiteral("not a valid identifier"));
        row("entities: name empty", "entities", entitiesWith(QString()),
            QStringLiteral("name is empty"));
        row("entities: name with NUL and newline", "entities",
            entitiesWith(QStringLiteral("a\nb") + QChar(0)), QStringLiteral("not a valid"));
        row("entities: duplicate names differing in case", "entities",
            entitiesWith(QStringLiteral("Customers"), goodFields()),
            QStringLiteral("duplicate entity name"));
        row("entities: fields not an array", "entities",
            entitiesWith(QStringLiteral("other")).replace("\"fields\":[]", "\"fields\":\"all\""),
            QStringLiteral("expected an array of fields"));
        row("entities: field name id", "entities",
            entitiesWithField(field(QStringLiteral("id"), QStringLiteral("string"))),
            QStringLiteral("field name \"id\" is reserved"));
        row("entities: field name ID", "entities",
            entitiesWithField(field(QStringLiteral("ID"), QStringLiteral("string"))),
            QStringLiteral("reserved"));
        row("entities: field name _changed_at", "entities",
            entitiesWithField(field(QStringLiteral("_changed_at"), QStringLiteral("string"))),
            QStringLiteral("reserved"));
        row("entities: field name with quote and SQL", "entities",
            entitiesWithField(field(QStringLiteral("x\" TEXT); DROP TABLE customers; --"),
                                    QStringLiteral("string"))),
            QStringLiteral("DROP TABLE customers"));
        row("entities: duplicate field names differing in case", "entities",
            entitiesWithField(field(QStringLiteral("NAME"), QStringLiteral("string"))),
            QStringLiteral("duplicate field name"));
        row("entities: unknown field type blob", "entities",
            entitiesWithField(field(QStringLiteral("photo"), QStringLiteral("blob"))),
            QStringLiteral("unknown field type \"blob\""));
        row("entities: field type is a number", "entities",
            entitiesWithField(field(QStringLiteral("photo"), 3)), QStringLiteral("photo"));
        row("entities: field is a string", "entities", entitiesWithField(QStringLiteral("photo")),
            QStringLiteral("expected a field object"));

        // GET /count: the entity fails before it pulls anything.
        row("count: not JSON", "count", "count=12", QStringLiteral("not valid JSON"));
        row("count: negative", "count", R"({"count": -5})",
            QStringLiteral("non-negative integer, got -5"));
        row("count: a string", "count", R"({"count": "12"})", QStringLiteral("got a string"));
        row("count: fraction", "count", R"({"count": 1.5})", QStringLiteral("got 1.5"));
        row("count: too big", "count", R"({"count": 1e300})", QStringLiteral("count"));
        row("count: missing", "count", R"({"total": 12})", QStringLiteral("count: missing"));

        // GET /changes: the entity fails; the page in hand is not written.
        row("changes: not JSON", "changes", "<!DOCTYPE html><p>Service Unavailable",
            QStringLiteral("not valid JSON"));
        row("changes: truncated JSON", "changes", R"({"changes": [{"id": "a", "changedAt")",
            QStringLiteral("not valid JSON"));
        row("changes: top-level array", "changes", "[]", QStringLiteral("expected a JSON object"));
        row("changes: changes is an object", "changes", pageMissing("changes", QJsonObject()),
            QStringLiteral("changes: expected an array"));
        row("changes: changes missing", "changes", pageMissing("changes"),
            QStringLiteral("changes: missing"));
        row("changes: a change is a number", "changes", pageWith(QJsonObject()).replace("{}", "42"),
            QStringLiteral("changes[1]: expected a change object"));
        row("changes: string field gets a number", "changes",
            changeWithField(QStringLiteral("name"), 5), QStringLiteral("field \"name\""));
        row("changes: int field gets a string", "changes",
            changeWithField(QStringLiteral("visits"), QStringLiteral("many")),
            QStringLiteral("field \"visits\""));
        row("changes: int field gets a fraction", "changes",
            changeWithField(QStringLiteral("visits"), 2.5), QStringLiteral("got 2.5"));
        row("changes: int field beyond 64 bits", "changes",
            changeWithField(QStringLiteral("visits"), 1e30),
            QStringLiteral("does not fit a 64-bit integer"));
        row("changes: real field gets a string", "changes",
            changeWithField(QStringLiteral("balance"), QStringLiteral("12.5")),
            QStringLiteral("field \"balance\""));
        row("changes: real field gets an object", "changes",
            changeWithField(QStringLiteral("balance"), QJsonObject()),
            QStringLiteral("got an object"));
        row("changes: bool field gets 1", "changes", changeWithField(QStringLiteral("active"), 1),
            QStringLiteral("field \"active\""));
        row("changes: datetime field gets prose", "changes",
            changeWithField(QStringLiteral("since"), QStringLiteral("yesterday")),
            QStringLiteral("field \"since\""));
        row("changes: datetime without milliseconds", "changes",
            changeWithField(QStringLiteral("since"), QStringLiteral("2026-01-01T00:00:00Z")),
            QStringLiteral("2026-01-01T00:00:00Z"));
        row("changes: unknown data field", "changes", changeWithField(QStringLiteral("hacker"), 1),
            QStringLiteral("unknown field \"hacker\""));
        row("changes: hostile data field", "changes",
            changeWithField(QStringLiteral("x\"; DROP TABLE customers; --"), 1),
            QStringLiteral("unknown field"));
        row("changes: data missing", "changes",
            changeWith(QStringLiteral("data"), QJsonValue::Undefined),
            QStringLiteral("data: missing"));
        row("changes: data is an array", "changes",
            changeWith(QStringLiteral("data"), QJsonArray()),
            QStringLiteral("data: expected an object"));
        row("changes: empty id", "changes", changeWith(QStringLiteral("id"), QString()),
            QStringLiteral("id: is empty"));
        row("changes: missing id", "changes",
            changeWith(QStringLiteral("id"), QJsonValue::Undefined), QStringLiteral("id: missing"));
        row("changes: id is a number", "changes", changeWith(QStringLiteral("id"), 17),
            QStringLiteral("id: expected a string"));
        row("changes: id of 2000 characters", "changes",
            changeWith(QStringLiteral("id"), QString(2000, u'i')),
            QStringLiteral("characters long"));
        row("changes: changedAt not a timestamp", "changes",
            changeWith(QStringLiteral("changedAt"), QStringLiteral("now")),
            QStringLiteral("changedAt"));
        row("changes: changedAt missing", "changes",
            changeWith(QStringLiteral("changedAt"), QJsonValue::Undefined),
            QStringLiteral("changedAt: missing"));
        row("changes: deleted is a string", "changes",
            changeWith(QStringLiteral("deleted"), QStringLiteral("yes")),
            QStringLiteral("deleted: expected true or false"));
        {
            QJsonArray many;
            for (int i = 0; i < 101; ++i)
                many.append(goodChange(QStringLiteral("g-%1").arg(i)));
            row("changes: more changes than the limit", "changes",
                json(QJsonObject { { QStringLiteral("changes"), many },
                                   { QStringLiteral("cursor"), QStringLiteral("999999") },
                                   { QStringLiteral("hasMore"), true } }),
                QStringLiteral("more than the limit of 100"));
        }
        row("changes: cursor missing", "changes", pageMissing("cursor"),
            QStringLiteral("cursor: missing"));
        row("changes: cursor empty", "changes", pageMissing("cursor", QString()),
            QStringLiteral("cursor: is empty"));
        row("changes: cursor is an object", "changes", pageMissing("cursor", QJsonObject()),
            QStringLiteral("cursor: expected a string"));
        row("changes: hasMore missing", "changes", pageMissing("hasMore"),
            QStringLiteral("hasMore: missing"));
        row("changes: hasMore is a string", "changes",
            pageMissing("hasMore", QStringLiteral("true")),
            QStringLiteral("hasMore: expected true or false"));
        {
            // 30 MB: a cursor far beyond any sane length. Parsed and refused quickly.
            QByteArray huge = "{\"changes\": [], \"hasMore\": false, \"cursor\": \"";
            huge += QByteArray(30 * 1024 * 1024, '7');
            huge += "\"}";
            row("changes: 30 MB body", "changes", huge, QStringLiteral("characters long"));
        }
        row("changes: the same page forever", "changes", QByteArray(),
            QStringLiteral("nothing new"), "echo");
        row("changes: endless hasMore with advancing cursors", "changes", QByteArray(),
            QStringLiteral("nothing new"), "advance");
        row("changes: endless hasMore with advancing opaque cursors", "changes", QByteArray(),
            QStringLiteral("nothing new"), "advance-opaque");
    }

    void garbageFromServer()
    {
        QFETCH(QString, endpoint);
        QFETCH(QString, kind);
        QFETCH(QByteArray, body);
        QFETCH(QString, expected);

        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(250, 7, entityName);
        const SyncSettings settings = settingsFor(server);
        std::atomic<Test::FakeNetworkAccessManager *> fake { nullptr };
        SyncEngine engine(settings,
                          ProtocolClient::factory(settings, [&fake]() -> QNetworkAccessManager * {
                              auto *manager = new Test::FakeNetworkAccessManager;
                              fake = manager;
                              return manager;
                          }));

        // A good sync first, then changes on the server that the faulty sync must not bring
        // in halfway.
        QVERIFY2(syncAll(engine), "the first sync did not finish");
        QCOMPARE(engine.entity(entityName).state, SyncState::Completed);
        QVERIFY(fake.load());
        QVERIFY(changeServerData(server, schema));
        const Snapshot before = snapshot(settings.databasePath);
        QVERIFY(!before.rows.value(entityName).isEmpty());

        const QString suffix = QLatin1Char('/') + endpoint;
        QAtomicInt served;
        const int rule = fake.load()->addRule(
            Test::FakeRule::dynamic(QStringLiteral("/"), [&](const QNetworkRequest &request) {
                const QString path = request.url().path();
                if (!path.endsWith(suffix))
                    return Test::FakeRule::passThrough(path);
                const int n = served.fetchAndAddRelaxed(1);
                if (kind == u"echo") {
                    // Never moves on: the position asked for is the position returned.
                    const QString since
                        = QUrlQuery(request.url()).queryItemValue(QStringLiteral("since"));
                    return Test::FakeRule::respond(
                        path, 200,
                        json(QJsonObject { { QStringLiteral("changes"), QJsonArray() },
                                           { QStringLiteral("cursor"), since },
                                           { QStringLiteral("hasMore"), true } }));
                }
                if (kind.startsWith(u"advance")) {
                    // Moves on forever without bringing anything. The numeric cursors are
                    // valid for the real server too, but beyond its end; the opaque ones
                    // are not valid there at all.
                    const QString cursor = kind == u"advance" ? QString::number(900000 + n)
                                                              : QStringLiteral("opaque-%1").arg(n);
                    return Test::FakeRule::respond(
                        path, 200,
                        json(QJsonObject { { QStringLiteral("changes"), QJsonArray() },
                                           { QStringLiteral("cursor"), cursor },
                                           { QStringLiteral("hasMore"), true } }));
                }
                return Test::FakeRule::respond(path, 200, body);
            }));

        QSignalSpy failed(&engine, &SyncEngine::failed);
        QVERIFY2(syncAll(engine, 60000), "the sync with garbage did not end (hang)");
        QVERIFY2(served.loadRelaxed() > 0, "the garbage was never asked for");
        QVERIFY2(served.loadRelaxed() <= 50,
                 qPrintable(QStringLiteral("asked %1 times").arg(served.loadRelaxed())));
        const QString failingEntity = endpoint == u"entities" ? QString() : entityName;
        QList<QVariant> failure;
        for (const QList<QVariant> &f : std::as_const(failed)) {
            if (f.at(0).toString() == failingEntity) {
                failure = f;
                break;
            }
        }
        QVERIFY2(!failure.isEmpty(),
                 qPrintable(QStringLiteral("no failure of \"%1\"; %2 others")
                                .arg(failingEntity)
                                .arg(failed.size())));
        QCOMPARE(failure.at(1).value<ErrorCategory>(), ErrorCategory::Protocol);
        const QString message = failure.at(2).toString();
        QVERIFY2(message.contains(expected), qPrintable(message));
        if (endpoint != u"entities") {
            QCOMPARE(engine.entity(entityName).state, SyncState::Failed);
            QCOMPARE(engine.entity(entityName).errorCategory, ErrorCategory::Protocol);
        }
        qInfo().noquote() << QTest::currentDataTag() << "→" << message.left(200);

        const Snapshot after = snapshot(settings.databasePath);
        QVERIFY2(after == before, qPrintable(before.difference(after)));
        ++tally.unchangedChecks;
        ++tally.garbage[QLatin1Char('/') + endpoint];

        // The fault gone, the next sync ends equal to the server.
        fake.load()->removeRule(rule);
        failed.clear();
        QVERIFY2(syncAll(engine), "the sync after the fault did not finish");
        const QString difference = differenceFromServer(server, settings.databasePath);
        QVERIFY2(failed.isEmpty() && difference.isEmpty(),
                 qPrintable(failed.isEmpty() ? difference : failed.first().at(2).toString()));
        QCOMPARE(engine.entity(entityName).state, SyncState::Completed);
        ++tally.exactRecoveries;
    }

    void storageFailureMidSync_data()
    {
        QTest::addColumn<QString>("fault");
        QTest::addColumn<QString>("expected");
        QTest::newRow("locked by another connection")
            << "locked" << QStringLiteral("is locked by another program");
        QTest::newRow("disk full") << "full" << QStringLiteral("is full");
        QTest::newRow("read-only connection") << "readonly" << QStringLiteral("is read-only");
    }

    void storageFailureMidSync()
    {
        QFETCH(QString, fault);
        QFETCH(QString, expected);

        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(2000, 17, entityName);
        const SyncSettings settings = settingsFor(server);
        const QString path = settings.databasePath;
        LockHolder holder(path, QStringLiteral("BEGIN IMMEDIATE"));

        // The fault is injected from the engine's thread just before its 5th page is asked
        // for (4 pages committed by then, or 3 if the 4th is still being written), and lifted
        // at the next request after `lift` is set.
        constexpr int faultyPage = 4;
        QAtomicInt pages;
        std::atomic<bool> injected { false };
        std::atomic<bool> lift { false };
        std::atomic<bool> lifted { false };
        SyncEngine engine(
            settings, ProtocolClient::factory(settings, [&]() -> QNetworkAccessManager * {
                auto *manager = new Test::FakeNetworkAccessManager;
                manager->addRule(Test::FakeRule::dynamic(
                    QStringLiteral("/"), [&](const QNetworkRequest &request) {
                        const QString urlPath = request.url().path();
                        if (lift && !lifted.exchange(true)) {
                            if (fault == u"full")
                                execOnEngineConnection(
                                    QStringLiteral("PRAGMA max_page_count = 1073741823"));
                            else if (fault == u"readonly")
                                execOnEngineConnection(QStringLiteral("PRAGMA query_only = 0"));
                        }
                        if (urlPath.endsWith(QLatin1String("/changes"))
                            && pages.fetchAndAddRelaxed(1) == faultyPage) {
                            if (fault == u"locked") {
                                injected = holder.lock();
                            } else if (fault == u"full") {
                                const qint64 pageCount = pageCountOnEngineConnection();
                                injected = pageCount > 0
                                    && execOnEngineConnection(
                                               QStringLiteral("PRAGMA max_page_count = %1")
                                                   .arg(pageCount + 1));
                            } else {
                                injected = execOnEngineConnection(
                                    QStringLiteral("PRAGMA query_only = 1"));
                            }
                        }
                        return Test::FakeRule::passThrough(urlPath);
                    }));
                return manager;
            }));

        QSignalSpy failed(&engine, &SyncEngine::failed);
        // Locked: the write waits out the 5 s busy timeout (maybe twice: the batch, then the
        // failed state); the hang guard is generous.
        QVERIFY2(syncAll(engine, 90000), "the sync did not end (hang)");
        QVERIFY2(injected, "the fault could not be injected");
        QVERIFY2(!failed.isEmpty(), "the storage fault went unnoticed");
        QCOMPARE(failed.first().at(0).toString(), entityName);
        QCOMPARE(failed.first().at(1).value<ErrorCategory>(), ErrorCategory::Storage);
        const QString message = failed.first().at(2).toString();
        QVERIFY2(message.contains(expected), qPrintable(message));
        QVERIFY2(message.contains(QFileInfo(path).fileName()), qPrintable(message));
        QCOMPARE(engine.entity(entityName).state, SyncState::Failed);
        QCOMPARE(engine.entity(entityName).errorCategory, ErrorCategory::Storage);
        qInfo().noquote() << QTest::currentDataTag() << "→" << message;

        // While the fault is still there: the run position is that of the last batch
        // written, and the rows are exactly those batches (nothing half-written).
        const RunState run = runState(path, entityName);
        QVERIFY(run.active);
        QVERIFY2(run.runDone == faultyPage * 100 || run.runDone == (faultyPage - 1) * 100,
                 qPrintable(QString::number(run.runDone)));
        QCOMPARE(run.rows, run.runDone);
        QVERIFY(run.committedCursor.isEmpty()); // never completed
        const QString subset = differenceFromServerSubset(server, path, schema);
        QVERIFY2(subset.isEmpty(), qPrintable(subset));
        ++tally.unchangedChecks;
        ++tally.storage[QString::fromLatin1(QTest::currentDataTag())];

        // The fault gone, start() goes on from the last batch written and ends exact,
        // asking for exactly the rest.
        holder.release();
        lift = true;
        const qint64 servedBefore = server.server()->changesServed();
        failed.clear();
        QSignalSpy finished(&engine, &SyncEngine::finished);
        engine.start(entityName);
        QVERIFY2(finished.wait(60000), "the sync after the fault did not finish");
        QVERIFY2(failed.isEmpty(),
                 failed.isEmpty() ? "" : qPrintable(failed.first().at(2).toString()));
        QCOMPARE(engine.entity(entityName).state, SyncState::Completed);
        QCOMPARE(engine.entity(entityName).done, qint64(2000));
        // The page asked for ahead of the failed write may reach this thread's server only
        // after the failure (it is aborted on the client's side and never applied).
        const qint64 served = server.server()->changesServed() - servedBefore;
        QVERIFY2(served == 2000 - run.runDone || served == 2000 - run.runDone + 100,
                 qPrintable(QStringLiteral("%1 changes served for %2 missing")
                                .arg(served)
                                .arg(2000 - run.runDone)));
        const QString difference = differenceFromServer(server, path);
        QVERIFY2(difference.isEmpty(), qPrintable(difference));
        ++tally.exactRecoveries;
    }

    void readOnlyFileAtStart()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(300, 27, entityName);
        const SyncSettings settings = settingsFor(server);
        const QString path = settings.databasePath;
        {
            SyncEngine engine(settings);
            QVERIFY(syncAll(engine));
            QCOMPARE(engine.entity(entityName).state, SyncState::Completed);
        }
        QVERIFY(changeServerData(server, schema));
        const Snapshot before = snapshot(path);

#ifdef Q_OS_LINUX
        QStringList immutable;
        const auto restore = qScopeGuard([&immutable] {
            for (const QString &file : std::as_const(immutable))
                Test::setImmutable(file, false);
        });
        for (const QString &suffix :
             { QString(), QStringLiteral("-wal"), QStringLiteral("-shm") }) {
            if (!QFile::exists(path + suffix))
                continue;
            if (!Test::setImmutable(path + suffix, true)) {
                tally.skipped << QStringLiteral("read-only file (no FS_IOC_SETFLAGS here)");
                QSKIP("cannot set the immutable flag here (needs root and ext2/3/4, xfs or "
                      "btrfs): read-only file not tested");
            }
            immutable << path + suffix;
        }
#else
        tally.skipped << QStringLiteral("read-only file (not Linux)");
        QSKIP("the read-only file test uses Linux's immutable flag");
#endif

        {
            SyncEngine engine(settings);
            QSignalSpy failed(&engine, &SyncEngine::failed);
            QVERIFY2(syncAll(engine, 60000), "the sync on a read-only file did not end (hang)");
            QVERIFY(!failed.isEmpty());
            bool sawReadOnly = false;
            for (const QList<QVariant> &f : std::as_const(failed)) {
                QCOMPARE(f.at(1).value<ErrorCategory>(), ErrorCategory::Storage);
                sawReadOnly = sawReadOnly || f.at(2).toString().contains(u"is read-only");
                qInfo().noquote() << "read-only file: failed" << f.at(0).toString() << "→"
                                  << f.at(2).toString();
            }
            QVERIFY2(sawReadOnly, qPrintable(failed.first().at(2).toString()));
            QVERIFY(engine.entity(entityName).state != SyncState::Completed);
        }
#ifdef Q_OS_LINUX
        for (const QString &file : std::as_const(immutable))
            QVERIFY(Test::setImmutable(file, false));
        immutable.clear();
#endif
        const Snapshot after = snapshot(path);
        QVERIFY2(after == before, qPrintable(before.difference(after)));
        ++tally.unchangedChecks;
        ++tally.storage[QStringLiteral("read-only file (immutable)")];

        SyncEngine engine(settings);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QVERIFY(syncAll(engine));
        QVERIFY2(failed.isEmpty(),
                 failed.isEmpty() ? "" : qPrintable(failed.first().at(2).toString()));
        QCOMPARE(engine.entity(entityName).state, SyncState::Completed);
        const QString difference = differenceFromServer(server, path);
        QVERIFY2(difference.isEmpty(), qPrintable(difference));
        ++tally.exactRecoveries;
    }
};

QTEST_GUILESS_MAIN(TestFaults)
#include "tst_faults.moc"
