// The capture of local edits in the local database: any program's INSERT, UPDATE and DELETE
// on an entity's table becomes a pending change in _sync_pending, coalesced per record; the
// sync's own writes are not captured and never overwrite a record with a pending change.

#include "common/types.h"
#include "engine/syncengine.h"
#include "store/localstore.h"
#include "testutil/memorysource.h"
#include "testutil/rawdb.h"

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUuid>
#include <atomic>
#include <memory>
#include <sqlite3.h>

using namespace BatchSync;
using Test::MemoryFeed;
using Test::MemorySource;
using Test::RawDb;

namespace {

QString uniqueConnectionName()
{
    static std::atomic<int> serial { 0 };
    return QStringLiteral("tst_capture_%1").arg(++serial);
}

const QString someTime = QStringLiteral("2026-12-01T06:20:16.123Z");

EntitySchema customersSchema()
{
    return EntitySchema { QStringLiteral("customers"),
                          { { QStringLiteral("name"), FieldType::String },
                            { QStringLiteral("visits"), FieldType::Int } } };
}

Change record(const QString &id, const QString &name, const QString &version = QString())
{
    Change change;
    change.id = id;
    change.changedAt = someTime;
    change.values = { name, qint64(1) };
    change.version = version;
    return change;
}

// The pending changes as "id:base:deleted:created", ordered by id.
QStringList pending(RawDb &db)
{
    QStringList result;
    for (const QVariantList &row : db.rows(QStringLiteral(
             "SELECT id, base, deleted, created FROM _sync_pending ORDER BY entity, id"))) {
        result.append(QStringLiteral("%1:%2:%3:%4")
                          .arg(row.at(0).toString(), row.at(1).toString(), row.at(2).toString(),
                               row.at(3).toString()));
    }
    return result;
}

// Another program's statement; says why when it fails.
bool edit(RawDb &db, const QString &sql)
{
    return db.edit(sql);
}

// Runs \a statements through the raw sqlite3 API, as the sqlite3 shell would; an error text.
QString execRaw(const QString &path, const QStringList &statements)
{
    sqlite3 *db = nullptr;
    if (sqlite3_open(path.toUtf8().constData(), &db) != SQLITE_OK) {
        sqlite3_close(db);
        return QStringLiteral("cannot open");
    }
    sqlite3_busy_timeout(db, 2000);
    QString problem;
    for (const QString &sql : statements) {
        char *message = nullptr;
        if (sqlite3_exec(db, sql.toUtf8().constData(), nullptr, nullptr, &message) != SQLITE_OK) {
            problem = QString::fromUtf8(message);
            sqlite3_free(message);
            break;
        }
    }
    sqlite3_close(db);
    return problem;
}

} // namespace

class TestCapture final : public QObject
{
    Q_OBJECT

    std::unique_ptr<QTemporaryDir> m_dir;

    QString path() const { return m_dir->filePath(QStringLiteral("local.sqlite")); }

    // A completed first sync of a (version 1), b (2) and c (3), as the engine writes it.
    static bool syncFirst(LocalStore &store, SyncError *error)
    {
        const EntitySchema schema = customersSchema();
        return store.open(error) && store.ensureEntity(schema, error)
            && store.beginRun(schema.name, PagingMode::Cursor, {}, 3, SyncState::Running, error)
            && store.applyBatch(
                schema,
                { record(QStringLiteral("a"), QStringLiteral("A"), QStringLiteral("1")),
                  record(QStringLiteral("b"), QStringLiteral("B"), QStringLiteral("2")),
                  record(QStringLiteral("c"), QStringLiteral("C"), QStringLiteral("3")) },
                { QStringLiteral("3"), {} }, 3, 3, error)
            && store.completeRun(schema.name, { QStringLiteral("3"), {} }, 3, 3, {}, error);
    }

    // Opens \a store on the database of syncFirst() and begins the next run.
    static bool beginNextRun(LocalStore &store, SyncError *error)
    {
        return store.open(error)
            && store.beginRun(customersSchema().name, PagingMode::Cursor,
                              { QStringLiteral("3"), {} }, 0, SyncState::Running, error);
    }

    void prepareSynced()
    {
        LocalStore store(path(), uniqueConnectionName());
        SyncError error;
        QVERIFY2(syncFirst(store, &error), qPrintable(error.message));
    }

    static SyncSettings settings(const QString &databasePath)
    {
        SyncSettings s;
        s.endpoint = QUrl(QStringLiteral("http://memory.invalid/"));
        s.databasePath = databasePath;
        s.batchSize = 100;
        s.retryBaseDelayMs = 10;
        s.retryMaxDelayMs = 100;
        s.retryGiveUpMs = 2000;
        return s;
    }

    // A whole sync of every entity of \a feed by an engine of its own; false if any failed.
    bool syncOnce(const std::shared_ptr<MemoryFeed> &feed) const
    {
        SyncEngine engine(settings(path()), MemorySource::factory(feed));
        QSignalSpy finished(&engine, &SyncEngine::finished);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        engine.startAll();
        const bool ok = finished.wait(30000);
        for (const QList<QVariant> &failure : std::as_const(failed))
            qWarning() << "sync failed:" << failure;
        return ok && failed.isEmpty();
    }

private Q_SLOTS:
    void init() { m_dir = std::make_unique<QTemporaryDir>(); }

    void statementForms_data()
    {
        QTest::addColumn<bool>("rawApi");
        QTest::addColumn<QStringList>("statements");
        QTest::addColumn<QStringList>("expected");
        const QList<std::tuple<const char *, QStringList, QStringList>> cases = {
            { "insert", { "INSERT INTO customers (id, name) VALUES ('n', 'N')" }, { "n::0:1" } },
            { "upsert of a synced record",
              { "INSERT INTO customers (id, name) VALUES ('a', 'A2') "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name" },
              { "a:1:0:0" } },
            { "upsert of a new record",
              { "INSERT INTO customers (id, name) VALUES ('n', 'N') "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name" },
              { "n::0:1" } },
            { "insert or replace",
              { "INSERT OR REPLACE INTO customers (id, name) VALUES ('b', 'B2')" },
              { "b:2:0:0" } },
            { "multi-row insert",
              { "INSERT INTO customers (id, name) VALUES ('n', 'N'), ('m', 'M')" },
              { "m::0:1", "n::0:1" } },
            { "update of many rows",
              { "UPDATE customers SET visits = visits + 1" },
              { "a:1:0:0", "b:2:0:0", "c:3:0:0" } },
            { "update of id",
              { "UPDATE customers SET id = 'z' WHERE id = 'a'" },
              { "a:1:1:0", "z::0:1" } },
            { "delete", { "DELETE FROM customers WHERE id = 'c'" }, { "c:3:1:0" } },
            { "delete of every row",
              { "DELETE FROM customers" },
              { "a:1:1:0", "b:2:1:0", "c:3:1:0" } },
            { "two updates coalesce",
              { "UPDATE customers SET name = 'x' WHERE id = 'a'",
                "UPDATE customers SET name = 'y' WHERE id = 'a'" },
              { "a:1:0:0" } },
            { "delete and insert again",
              { "DELETE FROM customers WHERE id = 'a'",
                "INSERT INTO customers (id, name) VALUES ('a', 'again')" },
              { "a:1:0:0" } },
            { "insert and delete cancel out",
              { "INSERT INTO customers (id, name) VALUES ('n', 'N')",
                "UPDATE customers SET name = 'N2' WHERE id = 'n'",
                "DELETE FROM customers WHERE id = 'n'" },
              {} },
            { "new record renamed",
              { "INSERT INTO customers (id, name) VALUES ('n', 'N')",
                "UPDATE customers SET id = 'p' WHERE id = 'n'" },
              { "p::0:1" } },
            { "id changed and back",
              { "UPDATE customers SET id = 'z' WHERE id = 'a'",
                "UPDATE customers SET id = 'a' WHERE id = 'z'" },
              { "a:1:0:0" } },
            { "rolled back", { "BEGIN", "DELETE FROM customers", "ROLLBACK" }, {} },
            { "failed statement",
              { "INSERT INTO customers (id, name) VALUES ('m', 'M'), ('a', 'dup')" },
              {} },
        };
        for (const bool rawApi : { false, true }) {
            for (const auto &[name, statements, expected] : cases) {
                QTest::addRow("%s, %s", rawApi ? "sqlite3" : "QSQLITE", name)
                    << rawApi << statements << expected;
            }
        }
    }

    void statementForms()
    {
        QFETCH(bool, rawApi);
        QFETCH(QStringList, statements);
        QFETCH(QStringList, expected);
        prepareSynced();
        const bool expectFailure = QByteArray(QTest::currentDataTag()).endsWith("failed statement");
        RawDb other(path());
        QCOMPARE(pending(other), QStringList());
        QString problem;
        if (rawApi) {
            problem = execRaw(path(), statements);
        } else {
            for (const QString &sql : statements) {
                if (!other.exec(sql, &problem))
                    break;
            }
        }
        QCOMPARE(problem.isEmpty(), !expectFailure);
        QCOMPARE(pending(other), expected);
        // Every change got its own number, and the counter is past all of them.
        QCOMPARE(other
                     .scalar(QStringLiteral("SELECT count(DISTINCT change_seq) = count(*) AND "
                                            "coalesce(max(change_seq), 0) <= (SELECT value FROM "
                                            "_sync_meta WHERE key = 'change_seq') FROM "
                                            "_sync_pending"))
                     .toInt(),
                 1);
        QCOMPARE(other.scalar(QStringLiteral("SELECT value FROM _sync_meta WHERE key = 'capture'"))
                     .toInt(),
                 1);
    }

    void latestWriteHasTheLargestSequence()
    {
        prepareSynced();
        RawDb other(path());
        QVERIFY(edit(other, QStringLiteral("UPDATE customers SET name = 'x' WHERE id = 'a'")));
        QVERIFY(edit(other, QStringLiteral("UPDATE customers SET name = 'y' WHERE id = 'b'")));
        const qint64 first
            = other.scalar(QStringLiteral("SELECT change_seq FROM _sync_pending WHERE id = 'a'"))
                  .toLongLong();
        QVERIFY(first > 0);
        QVERIFY(edit(other, QStringLiteral("UPDATE customers SET name = 'z' WHERE id = 'a'")));
        QVERIFY(
            other.scalar(QStringLiteral("SELECT change_seq FROM _sync_pending WHERE id = 'a'"))
                .toLongLong()
            > other.scalar(QStringLiteral("SELECT change_seq FROM _sync_pending WHERE id = 'b'"))
                  .toLongLong());
        // The state to push is the row itself.
        QCOMPARE(
            other.scalar(QStringLiteral("SELECT name FROM customers WHERE id = 'a'")).toString(),
            QStringLiteral("z"));
    }

    void deletionOfSentCreationIsKept()
    {
        // A creation that is on its way to the server (sent_seq set by the push) no longer
        // cancels out: its deletion must follow it.
        prepareSynced();
        RawDb other(path());
        QVERIFY(edit(other, QStringLiteral("INSERT INTO customers (id, name) VALUES ('n', 'N')")));
        QVERIFY(edit(other, QStringLiteral("UPDATE _sync_pending SET sent_seq = change_seq")));
        QVERIFY(edit(other, QStringLiteral("DELETE FROM customers WHERE id = 'n'")));
        QCOMPARE(pending(other), QStringList { QStringLiteral("n::1:1") });
    }

    void clientIdIsMadeOnce()
    {
        QString first;
        for (int i = 0; i < 2; ++i) {
            LocalStore store(path(), uniqueConnectionName());
            SyncError error;
            QVERIFY2(store.open(&error), qPrintable(error.message));
            store.close();
            RawDb other(path());
            const QString id = other
                                   .scalar(QStringLiteral(
                                       "SELECT value FROM _sync_meta WHERE key = 'client_id'"))
                                   .toString();
            QVERIFY(!QUuid::fromString(id).isNull());
            if (i == 0)
                first = id;
            QCOMPARE(id, first);
        }
    }

    void versionsAreStored()
    {
        prepareSynced();
        LocalStore store(path(), uniqueConnectionName());
        SyncError error;
        const EntitySchema schema = customersSchema();
        QVERIFY2(beginNextRun(store, &error), qPrintable(error.message));
        QVERIFY2(store.applyBatch(
                     schema,
                     { record(QStringLiteral("a"), QStringLiteral("A2"), QStringLiteral("9")),
                       record(QStringLiteral("d"), QStringLiteral("D")) },
                     { QStringLiteral("5"), {} }, 2, 2, &error),
                 qPrintable(error.message));
        store.close();
        RawDb other(path());
        const QList<QVariantList> rows
            = other.rows(QStringLiteral("SELECT id, _version FROM customers ORDER BY id"));
        QCOMPARE(rows.size(), 4);
        QCOMPARE(rows.at(0).at(1).toString(), QStringLiteral("9"));
        QCOMPARE(rows.at(1).at(1).toString(), QStringLiteral("2"));
        QVERIFY(rows.at(3).at(1).isNull()); // no version sent
        QCOMPARE(pending(other), QStringList());
    }

    void syncOwnWritesAreNotCaptured()
    {
        auto feed = std::make_shared<MemoryFeed>();
        const EntitySchema schema = customersSchema();
        feed->addEntity(schema);
        for (int n = 0; n < 450; ++n)
            feed->put(schema.name, QStringLiteral("r%1").arg(n),
                      { QStringLiteral("v0"), qint64(n) });
        // Sent twice within the first sync: the bulk load's completion drops the older copy.
        feed->put(schema.name, QStringLiteral("r7"), { QStringLiteral("v1"), qint64(7) });
        feed->remove(schema.name, QStringLiteral("r8"));
        QVERIFY(syncOnce(feed));
        RawDb other(path());
        QCOMPARE(other.scalar(QStringLiteral("SELECT count(*) FROM customers")).toInt(), 449);
        QCOMPARE(pending(other), QStringList());

        for (int n = 0; n < 300; n += 3)
            feed->put(schema.name, QStringLiteral("r%1").arg(n),
                      { QStringLiteral("v2"), qint64(n) });
        feed->put(schema.name, QStringLiteral("new"), { QStringLiteral("v2"), qint64(0) });
        feed->remove(schema.name, QStringLiteral("r9"));
        QVERIFY(syncOnce(feed));
        QCOMPARE(other.scalar(QStringLiteral("SELECT count(*) FROM customers")).toInt(), 449);
        QCOMPARE(
            other.scalar(QStringLiteral("SELECT name FROM customers WHERE id = 'r3'")).toString(),
            QStringLiteral("v2"));
        QCOMPARE(pending(other), QStringList());
        QCOMPARE(other.scalar(QStringLiteral("SELECT value FROM _sync_meta WHERE key = 'capture'"))
                     .toInt(),
                 1);
        // And an edit right after a sync is captured again.
        QVERIFY(edit(other, QStringLiteral("DELETE FROM customers WHERE id = 'new'")));
        QCOMPARE(pending(other), QStringList { QStringLiteral("new::1:0") });
    }

    void ownTriggersStillFireOnSyncWrites()
    {
        // The store runs without triggers only while a table has none but the capture's.
        prepareSynced();
        {
            RawDb other(path());
            QVERIFY(edit(other, QStringLiteral("CREATE TABLE audit (id TEXT, name TEXT)")));
            QVERIFY(
                edit(other,
                     QStringLiteral(
                         "CREATE TRIGGER audit_customers AFTER UPDATE ON customers BEGIN INSERT "
                         "INTO audit VALUES (NEW.id, NEW.name); END")));
        }
        LocalStore store(path(), uniqueConnectionName());
        SyncError error;
        const EntitySchema schema = customersSchema();
        QVERIFY2(beginNextRun(store, &error), qPrintable(error.message));
        QVERIFY2(store.applyBatch(schema, { record(QStringLiteral("a"), QStringLiteral("A2")) },
                                  { QStringLiteral("4"), {} }, 1, 1, &error),
                 qPrintable(error.message));
        RawDb other(path());
        QCOMPARE(
            other.rows(QStringLiteral("SELECT id, name FROM audit")),
            QList<QVariantList> { (QVariantList { QStringLiteral("a"), QStringLiteral("A2") }) });
        QCOMPARE(pending(other), QStringList());
        // Without it, the next batch runs without triggers, and still captures nothing.
        QVERIFY(edit(other, QStringLiteral("DROP TRIGGER audit_customers")));
        QVERIFY2(store.applyBatch(schema, { record(QStringLiteral("b"), QStringLiteral("B2")) },
                                  { QStringLiteral("5"), {} }, 2, 2, &error),
                 qPrintable(error.message));
        QCOMPARE(
            other.scalar(QStringLiteral("SELECT name FROM customers WHERE id = 'b'")).toString(),
            QStringLiteral("B2"));
        QCOMPARE(pending(other), QStringList());
        // And other programs' edits are captured all along.
        QVERIFY(edit(other, QStringLiteral("DELETE FROM customers WHERE id = 'c'")));
        QCOMPARE(pending(other), QStringList { QStringLiteral("c:3:1:0") });
    }

    void pulledChangeSkipsPendingRecord()
    {
        auto feed = std::make_shared<MemoryFeed>();
        const EntitySchema schema = customersSchema();
        feed->addEntity(schema);
        for (const char *id : { "a", "b", "c" })
            feed->put(schema.name, QString::fromLatin1(id),
                      { QStringLiteral("server"), qint64(1) });
        QVERIFY(syncOnce(feed));
        RawDb other(path());
        QVERIFY(edit(other, QStringLiteral("UPDATE customers SET name = 'local' WHERE id = 'a'")));
        QVERIFY(edit(other, QStringLiteral("DELETE FROM customers WHERE id = 'b'")));
        for (const char *id : { "a", "b", "c" })
            feed->put(schema.name, QString::fromLatin1(id),
                      { QStringLiteral("server2"), qint64(2) });
        feed->remove(schema.name, QStringLiteral("a"));
        feed->put(schema.name, QStringLiteral("a"), { QStringLiteral("server3"), qint64(3) });
        QVERIFY(syncOnce(feed));
        const QList<QVariantList> rows
            = other.rows(QStringLiteral("SELECT id, name FROM customers ORDER BY id"));
        QCOMPARE(rows.size(), 2);
        QCOMPARE(rows.at(0), (QVariantList { QStringLiteral("a"), QStringLiteral("local") }));
        QCOMPARE(rows.at(1), (QVariantList { QStringLiteral("c"), QStringLiteral("server2") }));
        QCOMPARE(pending(other),
                 QStringList({ QStringLiteral("a::0:0"), QStringLiteral("b::1:0") }));
    }

    void phasesKeepPendingRecords_data()
    {
        QTest::addColumn<bool>("reload");
        QTest::newRow("reload") << true;
        QTest::newRow("deletions") << false;
    }

    void phasesKeepPendingRecords()
    {
        QFETCH(bool, reload);
        prepareSynced();
        {
            RawDb other(path());
            QVERIFY(
                edit(other, QStringLiteral("UPDATE customers SET name = 'local' WHERE id = 'a'")));
            QVERIFY(
                edit(other, QStringLiteral("INSERT INTO customers (id, name) VALUES ('n', 'N')")));
        }
        LocalStore store(path(), uniqueConnectionName());
        SyncError error;
        const EntitySchema schema = customersSchema();
        QVERIFY2(beginNextRun(store, &error), qPrintable(error.message));
        // The source has a and b (changed) only: c and the local n are gone at the source.
        ChangePage page;
        page.phase = reload ? SyncPhase::Reload : SyncPhase::Deletions;
        page.phaseStart = true;
        page.phaseEnd = true;
        page.changes = { record(QStringLiteral("a"), QStringLiteral("A2")),
                         record(QStringLiteral("b"), QStringLiteral("B2")) };
        QVERIFY2(store.applyPhase(schema, page, { QStringLiteral("4"), {} }, 2, 2, &error),
                 qPrintable(error.message));
        store.close();
        RawDb other(path());
        const QList<QVariantList> rows
            = other.rows(QStringLiteral("SELECT id, name FROM customers ORDER BY id"));
        QCOMPARE(rows.size(), 3);
        QCOMPARE(rows.at(0), (QVariantList { QStringLiteral("a"), QStringLiteral("local") }));
        QCOMPARE(rows.at(1),
                 (QVariantList { QStringLiteral("b"),
                                 reload ? QStringLiteral("B2") : QStringLiteral("B") }));
        QCOMPARE(rows.at(2), (QVariantList { QStringLiteral("n"), QStringLiteral("N") }));
        QCOMPARE(pending(other),
                 QStringList({ QStringLiteral("a:1:0:0"), QStringLiteral("n::0:1") }));
    }

    // The record as the server last sent it, kept from the first local edit on: a rejected
    // change returns the row to it.
    void beforeIsTheRecordBeforeTheFirstEdit()
    {
        prepareSynced();
        RawDb db(path());
        for (const char *sql :
             { "UPDATE customers SET name = 'A2' WHERE id = 'a'",
               "UPDATE customers SET name = 'A3', visits = 7 WHERE id = 'a'",
               "INSERT INTO customers (id, name, visits) VALUES ('x', 'X', 1)",
               "UPDATE customers SET visits = 2 WHERE id = 'x'",
               "DELETE FROM customers WHERE id = 'c'",
               "INSERT OR REPLACE INTO customers (id, name, visits) VALUES ('b', 'B2', 5)" }) {
            QVERIFY(edit(db, QString::fromLatin1(sql)));
        }
        QCOMPARE(pending(db),
                 QStringList({ QStringLiteral("a:1:0:0"), QStringLiteral("b:2:0:0"),
                               QStringLiteral("c:3:1:0"), QStringLiteral("x::0:1") }));
        QStringList befores;
        for (const QVariantList &row :
             db.rows(QStringLiteral("SELECT id, before FROM _sync_pending ORDER BY id")))
            befores.append(row.at(0).toString() + QLatin1Char('=') + row.at(1).toString());
        QCOMPARE(befores,
                 QStringList({ QStringLiteral("a={\"name\":\"A\",\"visits\":1}"),
                               QStringLiteral("b={\"name\":\"B\",\"visits\":1}"),
                               QStringLiteral("c={\"name\":\"C\",\"visits\":1}"),
                               QStringLiteral("x=") }));
        // A record deleted and written again keeps the record from before the deletion.
        QVERIFY(edit(db,
                     QStringLiteral("INSERT INTO customers (id, name, visits) "
                                    "VALUES ('c', 'C2', 9)")));
        QCOMPARE(
            db.scalar(QStringLiteral("SELECT before FROM _sync_pending WHERE id = 'c'")).toString(),
            QStringLiteral("{\"name\":\"C\",\"visits\":1}"));
    }

    // Edits made while a first sync is bulk-loading wait for it to complete.
    void nothingIsPushedDuringABulkLoad()
    {
        LocalStore store(path(), uniqueConnectionName());
        SyncError error;
        const EntitySchema schema = customersSchema();
        QVERIFY(store.open(&error));
        QVERIFY(store.ensureEntity(schema, &error));
        QVERIFY(store.beginRun(schema.name, PagingMode::Cursor, {}, 0, SyncState::Running, &error));
        QVERIFY(store.applyBatch(
            schema, { record(QStringLiteral("a"), QStringLiteral("A"), QStringLiteral("1")) },
            { QStringLiteral("1"), {} }, 1, 1, &error));
        {
            RawDb other(path());
            QVERIFY(edit(other, QStringLiteral("UPDATE customers SET name = 'A2'")));
        }
        QCOMPARE(store.pendingCount(schema.name, &error), 1);
        QList<LocalChange> batch;
        QVERIFY(store.takePushBatch(schema, 100, &batch, &error));
        QVERIFY(batch.isEmpty());
        QVERIFY(store.completeRun(schema.name, { QStringLiteral("1"), {} }, 1, 1, {}, &error));
        QVERIFY(store.takePushBatch(schema, 100, &batch, &error));
        QCOMPARE(batch.size(), 1);
        QCOMPARE(batch.first().base, QStringLiteral("1"));
        QCOMPARE(batch.first().values.value(0).toString(), QStringLiteral("A2"));
        QVERIFY(batch.first().changeId.endsWith(QStringLiteral(":1")));
    }

    // A push batch of large records holds fewer changes than asked: its memory is bounded.
    void pushBatchesOfLargeRecordsAreCut()
    {
        prepareSynced();
        {
            RawDb db(path());
            QVERIFY(edit(db,
                         QStringLiteral("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
                                        "i + 1 FROM n WHERE i < 10) INSERT INTO customers "
                                        "(id, name, visits) SELECT printf('big-%02d', i), "
                                        "printf('%.300000c', 'x'), i FROM n")));
            QVERIFY(edit(db,
                         QStringLiteral("UPDATE customers SET name = printf('%.5000000c', "
                                        "'y') WHERE id = 'a'")));
        }
        LocalStore store(path(), uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        QList<LocalChange> batch;
        // The 5 MB record alone is more than a batch's budget: it still goes, alone.
        QVERIFY(store.takePushBatch(customersSchema(), 100, &batch, &error));
        QCOMPARE(batch.size(), 1);
        QCOMPARE(batch.first().id, QStringLiteral("a"));
        QCOMPARE(batch.first().values.value(0).toString().size(), 5000000);
        {
            RawDb db(path());
            QVERIFY(edit(db, QStringLiteral("DELETE FROM _sync_pending WHERE id = 'a'")));
        }
        // 300 kB records: a few per batch, not the 100 asked for.
        QVERIFY(store.takePushBatch(customersSchema(), 100, &batch, &error));
        QVERIFY2(batch.size() >= 2 && batch.size() <= 5, qPrintable(QString::number(batch.size())));
        QCOMPARE(store.pendingCount(QStringLiteral("customers"), &error), 10);
    }

    void triggersSurviveBulkLoadAndSchemaChange()
    {
        LocalStore store(path(), uniqueConnectionName());
        SyncError error;
        EntitySchema schema = customersSchema();
        QVERIFY(store.open(&error));
        QVERIFY(store.ensureEntity(schema, &error));
        // A first sync re-creates the (empty) table without its primary key.
        QVERIFY(store.beginRun(schema.name, PagingMode::Cursor, {}, 0, SyncState::Running, &error));
        QVERIFY(store.loadEntity(schema.name, &error)->bulkLoad);
        const auto triggers = [this] {
            RawDb other(path());
            return other
                .scalar(QStringLiteral("SELECT count(*) FROM sqlite_master WHERE type = "
                                       "'trigger' AND tbl_name = 'customers'"))
                .toInt();
        };
        QCOMPARE(triggers(), 3);
        QVERIFY(store.applyBatch(
            schema, { record(QStringLiteral("a"), QStringLiteral("A"), QStringLiteral("1")) },
            { QStringLiteral("1"), {} }, 1, 1, &error));
        QVERIFY(store.completeRun(schema.name, { QStringLiteral("1"), {} }, 1, 1, {}, &error));
        QCOMPARE(triggers(), 3);
        // A field added by the server: ALTER TABLE.
        schema.fields.append({ QStringLiteral("city"), FieldType::String });
        QVERIFY(store.ensureEntity(schema, &error));
        QCOMPARE(triggers(), 3);
        store.close();
        RawDb other(path());
        QVERIFY(edit(other, QStringLiteral("UPDATE customers SET city = 'Oslo'")));
        QCOMPARE(pending(other), QStringList { QStringLiteral("a:1:0:0") });
        // The triggers were made again for the new column: the record before names it.
        QCOMPARE(other.scalar(QStringLiteral("SELECT before FROM _sync_pending")).toString(),
                 QStringLiteral("{\"name\":\"A\",\"visits\":1,\"city\":null}"));
        // Triggers someone dropped come back with the next sync.
        QVERIFY(edit(other, QStringLiteral("DROP TRIGGER _sync_customers_delete")));
        QVERIFY(store.open(&error));
        QVERIFY(store.ensureEntity(schema, &error));
        store.close();
        QCOMPARE(triggers(), 3);
    }

    void formatTwoDatabaseIsUpgraded()
    {
        {
            const QString problem = execRaw(
                path(),
                { QStringLiteral("PRAGMA journal_mode = WAL"),
                  QStringLiteral(
                      "CREATE TABLE _sync_state (entity TEXT PRIMARY KEY NOT NULL, paging TEXT "
                      "NOT NULL DEFAULT 'cursor', cursor TEXT, cursor_id TEXT, run_active "
                      "INTEGER NOT NULL DEFAULT 0, run_cursor TEXT, run_cursor_id TEXT, run_done "
                      "INTEGER NOT NULL DEFAULT 0, run_total INTEGER NOT NULL DEFAULT 0, state "
                      "TEXT NOT NULL DEFAULT 'idle', error_category TEXT, error_message TEXT, "
                      "last_completed_at TEXT, fields TEXT, bulk_load INTEGER NOT NULL DEFAULT "
                      "0)"),
                  QStringLiteral("CREATE TABLE _sync_bulk_deleted (entity TEXT NOT NULL, id TEXT "
                                 "NOT NULL, mark INTEGER NOT NULL, PRIMARY KEY (entity, id)) "
                                 "WITHOUT ROWID"),
                  QStringLiteral("CREATE TABLE customers (\"id\" TEXT, \"name\" TEXT, \"visits\" "
                                 "INTEGER, \"_changed_at\" TEXT)"),
                  QStringLiteral("CREATE UNIQUE INDEX _customers_id ON customers (\"id\")"),
                  QStringLiteral("INSERT INTO customers (id, name) VALUES ('a', 'A'), ('b', 'B')"),
                  QStringLiteral(
                      "INSERT INTO _sync_state (entity, cursor, state, fields) VALUES "
                      "('customers', '2', 'completed', '[{\"name\":\"name\",\"type\":\"string\"},"
                      "{\"name\":\"visits\",\"type\":\"int\"}]')"),
                  QStringLiteral("PRAGMA user_version = 2") });
            QCOMPARE(problem, QString());
        }
        {
            LocalStore store(path(), uniqueConnectionName());
            SyncError error;
            QVERIFY2(store.open(&error), qPrintable(error.message));
        }
        // Captured without any sync since: open() upgraded every entity's table.
        RawDb other(path());
        QCOMPARE(other.scalar(QStringLiteral("PRAGMA user_version")).toInt(), 4);
        QCOMPARE(other
                     .scalar(QStringLiteral("SELECT count(*) FROM pragma_table_info('customers') "
                                            "WHERE name = '_version'"))
                     .toInt(),
                 1);
        QCOMPARE(other
                     .scalar(QStringLiteral("SELECT group_concat(id || '=' || name) FROM "
                                            "(SELECT * FROM customers ORDER BY id)"))
                     .toString(),
                 QStringLiteral("a=A,b=B"));
        QVERIFY(edit(other, QStringLiteral("DELETE FROM customers WHERE id = 'b'")));
        QVERIFY(edit(other, QStringLiteral("INSERT INTO customers (id, name) VALUES ('c', 'C')")));
        QCOMPARE(pending(other),
                 QStringList({ QStringLiteral("b::1:0"), QStringLiteral("c::0:1") }));
    }
};

QTEST_GUILESS_MAIN(TestCapture)
#include "tst_capture.moc"
