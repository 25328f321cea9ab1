// Data changing on the server while a sync runs, in both paging modes (issue: reliability).
//
// A real SyncServer in this thread; SyncServer::pageServed fires after each page has been
// read from the server's database and before it is sent, so a handler connected to it
// changes the data between batches. Every schedule is seeded (BATCHSYNC_TEST_SEED overrides
// the seeds of the random rows) and printed, so that a failure reproduces.
//
// Also a documentation test: the naive Mendix loop (count, then offset += limit) under the
// same mutation schedule loses records; BatchSync's offset mode does not.

#include "common/timestamp.h"
#include "common/types.h"
#include "engine/syncengine.h"
#include "server/backend/serverstore.h"
#include "server/syncserver.h"
#include "testutil/localdb.h"
#include "testutil/testserver.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QRandomGenerator>
#include <QSet>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QUrlQuery>
#include <algorithm>
#include <cmath>
#include <memory>

using namespace BatchSync;

namespace {

using Records = QHash<QString, QVariantList>;

constexpr int BatchSize = 100;
constexpr int SyncTimeoutMs = 120000;

const EntitySchema &customersSchema()
{
    static const EntitySchema schema { QStringLiteral("customers"),
                                       { { QStringLiteral("name"), FieldType::String },
                                         { QStringLiteral("balance"), FieldType::Real },
                                         { QStringLiteral("active"), FieldType::Bool },
                                         { QStringLiteral("visits"), FieldType::Int },
                                         { QStringLiteral("since"), FieldType::DateTime } } };
    return schema;
}

quint32 seedFor(quint32 rowSeed)
{
    bool ok = false;
    const quint32 forced = qEnvironmentVariable("BATCHSYNC_TEST_SEED").toUInt(&ok);
    return ok ? forced : rowSeed;
}

// Every record of a local entity table, typed like ServerStore::liveRecords.
Records localRecords(const QString &path, const EntitySchema &schema)
{
    return Test::localRecords(path, schema);
}

// How a copy differs from the server: records missing, stale (other values) and extra
// (deleted on the server, still in the copy).
struct Difference
{
    int missing = 0;
    int stale = 0;
    int extra = 0;
    QString first;

    int total() const { return missing + stale + extra; }
    QString describe() const
    {
        return QStringLiteral("%1 missing, %2 stale, %3 extra; first: %4")
            .arg(missing)
            .arg(stale)
            .arg(extra)
            .arg(first);
    }
};

Difference compare(const Records &server, const Records &copy)
{
    Difference d;
    for (auto it = server.cbegin(); it != server.cend(); ++it) {
        const auto found = copy.constFind(it.key());
        if (found == copy.cend()) {
            ++d.missing;
            if (d.first.isEmpty())
                d.first = QStringLiteral("%1 missing").arg(it.key());
        } else if (*found != *it) {
            ++d.stale;
            if (d.first.isEmpty()) {
                d.first = QStringLiteral("%1 stale: %2 instead of %3")
                              .arg(it.key(), found->value(0).toString(), it->value(0).toString());
            }
        }
    }
    for (auto it = copy.cbegin(); it != copy.cend(); ++it) {
        if (!server.contains(it.key())) {
            ++d.extra;
            if (d.first.isEmpty())
                d.first = QStringLiteral("%1 deleted on the server, kept").arg(it.key());
        }
    }
    return d;
}

struct ServerChange
{
    QString changedAt;
    QString id;
    bool deleted = false;
};

// Every change the server holds, in offset order (changedAt, id), read through the store.
QList<ServerChange> serverChanges(ServerStore *store, const QString &entity)
{
    QList<ServerChange> result;
    for (qint64 offset = 0;; offset += 10000) {
        int records = 0;
        QString error;
        const std::optional<QByteArray> body = store->changesJson(
            entity, PagingMode::Offset, QString(), offset, 10000, &records, &error);
        if (!body) {
            qWarning() << "serverChanges:" << error;
            return result;
        }
        const QJsonArray changes
            = QJsonDocument::fromJson(*body).object().value(QLatin1String("changes")).toArray();
        for (const QJsonValue &value : changes) {
            const QJsonObject o = value.toObject();
            result.append({ o.value(QLatin1String("changedAt")).toString(),
                            o.value(QLatin1String("id")).toString(),
                            o.value(QLatin1String("deleted")).toBool() });
        }
        if (records < 10000)
            return result;
    }
}

int largestTieGroup(const QList<ServerChange> &changes)
{
    int largest = 0;
    int run = 0;
    QString previous;
    for (const ServerChange &change : changes) {
        run = change.changedAt == previous ? run + 1 : 1;
        previous = change.changedAt;
        largest = std::max(largest, run);
    }
    return largest;
}

QVariantMap randomData(QRandomGenerator &random, const QString &name)
{
    return { { QStringLiteral("name"), name },
             { QStringLiteral("balance"), std::round(random.bounded(10000.0) * 100.0) / 100.0 },
             { QStringLiteral("active"), random.bounded(2) == 1 },
             { QStringLiteral("visits"), qint64(random.bounded(1000)) },
             { QStringLiteral("since"),
               Timestamp::format(QDateTime::fromMSecsSinceEpoch(
                   1577836800000LL + qint64(random.bounded(1.0e11)), Qt::UTC)) } };
}

/*
    Fills a server database before the server opens it, then rewrites the changedAt of its
    records by sequence: \a groups lists (number of records, changedAt), in order. Records
    beyond the groups keep theirs. The server reads its last changedAt when it opens, so a
    changedAt in the future pins every later change to it, as after a clock stepped back.
*/
bool prepareServerDatabase(const QString &path, int records, quint32 seed,
                           const QList<std::pair<int, QString>> &groups, QString *error)
{
    {
        ServerStore store(path, QStringLiteral("tst_drift_prepare"));
        if (!store.open(error) || !store.addEntity(customersSchema(), error))
            return false;
        QRandomGenerator random(seed);
        QList<std::pair<QString, QVariantMap>> batch;
        for (int i = 0; i < records; ++i) {
            batch.append({ Test::TestServer::randomId(random),
                           randomData(random, QStringLiteral("Customer %1").arg(i)) });
        }
        if (!store.upsert(customersSchema().name, batch, error))
            return false;
    }
    const QString connection = QStringLiteral("tst_drift_rewrite");
    bool ok = true;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
        db.setDatabaseName(path);
        ok = db.open();
        qint64 first = 1;
        for (const auto &[count, changedAt] : groups) {
            if (!ok)
                break;
            QSqlQuery query(db);
            query.prepare(QStringLiteral("UPDATE \"customers\" SET changed_at = ? WHERE seq >= ? "
                                         "AND seq < ?"));
            query.addBindValue(changedAt);
            query.addBindValue(first);
            query.addBindValue(first + count);
            ok = query.exec();
            if (!ok)
                *error = query.lastError().text();
            first += count;
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(connection);
    return ok;
}

/*
    Random changes between pages: updates of records already synced and not yet synced,
    inserts with ids sorting before and after the others, deletes, and bursts written in one
    transaction (several changes in one millisecond: changedAt ties). "Already synced" is
    judged by the initial offset order and the records served so far: close enough to give
    both kinds.
*/
class Mutator
{
public:
    Mutator(ServerStore *store, quint32 seed, int mutatingPages, bool shiftEveryPage)
        : m_store(store)
        , m_random(seed)
        , m_mutatingPages(mutatingPages)
        , m_shiftEveryPage(shiftEveryPage)
    {
        for (const ServerChange &change : serverChanges(store, customersSchema().name)) {
            m_order.append(change.id);
            if (!change.deleted)
                m_live.insert(change.id);
        }
    }

    void onPage(const QString &entity, int records)
    {
        if (entity != customersSchema().name)
            return;
        m_served += records;
        if (++m_pages > m_mutatingPages)
            return;
        if (m_shiftEveryPage) {
            // Two records before the position move to the end: an offset += limit loop
            // skips two records at the next page boundary.
            update(pickSynced());
            update(pickSynced());
        }
        const int count = int(m_random.bounded(4));
        for (int i = 0; i < count; ++i) {
            switch (m_random.bounded(7)) {
            case 0:
                update(pickSynced());
                break;
            case 1:
                update(pickUnsynced());
                break;
            case 2:
                insert(QStringLiteral("00000000-0000-drift-%1").arg(m_inserts));
                break;
            case 3:
                insert(QStringLiteral("ffffffff-ffff-drift-%1").arg(m_inserts));
                break;
            case 4:
                remove(pickSynced());
                break;
            case 5:
                remove(pickUnsynced());
                break;
            default:
                burst();
                break;
            }
        }
    }

    int mutations() const { return m_updates + m_inserts + m_deletes; }
    QString summary() const
    {
        return QStringLiteral("%1 mutations (%2 updates, %3 inserts, %4 deletes, %5 in one-"
                              "transaction bursts) over %6 pages")
            .arg(mutations())
            .arg(m_updates)
            .arg(m_inserts)
            .arg(m_deletes)
            .arg(m_burstChanges)
            .arg(std::min(m_pages, m_mutatingPages));
    }
    bool ok() const { return m_error.isEmpty(); }
    QString error() const { return m_error; }

private:
    QString pickSynced()
    {
        const qint64 position = std::clamp<qint64>(m_served, 1, m_order.size());
        return m_order.at(int(m_random.bounded(position)));
    }
    QString pickUnsynced()
    {
        const qint64 position = std::clamp<qint64>(m_served, 0, m_order.size() - 1);
        return m_order.at(int(position + m_random.bounded(m_order.size() - position)));
    }
    void update(const QString &id)
    {
        write({ { id, randomData(m_random, QStringLiteral("updated %1").arg(m_updates)) } });
        ++m_updates;
        m_live.insert(id);
    }
    void insert(const QString &id)
    {
        write({ { id, randomData(m_random, QStringLiteral("inserted %1").arg(m_inserts)) } });
        ++m_inserts;
        m_order.append(id);
        m_live.insert(id);
    }
    void remove(const QString &id)
    {
        if (!m_live.contains(id))
            return;
        QString error;
        if (!m_store->remove(customersSchema().name, { id }, &error))
            m_error = error;
        ++m_deletes;
        m_live.remove(id);
    }
    void burst()
    {
        QList<std::pair<QString, QVariantMap>> batch;
        const int size = 5 + int(m_random.bounded(25));
        QSet<QString> seen;
        for (int i = 0; i < size; ++i) {
            QString id;
            switch (m_random.bounded(3)) {
            case 0:
                id = pickSynced();
                break;
            case 1:
                id = pickUnsynced();
                break;
            default:
                id = QStringLiteral("%1-burst-%2")
                         .arg(m_random.bounded(2) ? QStringLiteral("0") : QStringLiteral("f"))
                         .arg(m_inserts + i);
                break;
            }
            if (seen.contains(id))
                continue;
            seen.insert(id);
            batch.append({ id, randomData(m_random, QStringLiteral("burst %1").arg(i)) });
        }
        write(batch);
        for (const auto &[id, data] : std::as_const(batch)) {
            if (!m_live.contains(id) && !m_order.contains(id)) {
                ++m_inserts;
                m_order.append(id);
            } else {
                ++m_updates;
            }
            m_live.insert(id);
        }
        m_burstChanges += int(batch.size());
    }
    void write(const QList<std::pair<QString, QVariantMap>> &batch)
    {
        QString error;
        if (!m_store->upsert(customersSchema().name, batch, &error))
            m_error = error;
    }

    ServerStore *m_store;
    QRandomGenerator m_random;
    const int m_mutatingPages;
    const bool m_shiftEveryPage;
    QStringList m_order; // ids in the initial offset order, then the ids inserted
    QSet<QString> m_live;
    qint64 m_served = 0;
    int m_pages = 0;
    int m_updates = 0;
    int m_inserts = 0;
    int m_deletes = 0;
    int m_burstChanges = 0;
    QString m_error;
};

// Figures printed at the end, for the closing note.
struct Totals
{
    int rows = 0; // runs that ended exact
    int attempted = 0;
    int mutations = 0;
    int naiveLost = 0;
    int naiveRuns = 0;
} g_totals;

} // namespace

class TestDrift final : public QObject
{
    Q_OBJECT

private:
    SyncSettings settingsFor(const Test::TestServer &server, PagingMode paging)
    {
        SyncSettings settings;
        settings.endpoint = server.baseUrl();
        settings.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        settings.paging = paging;
        settings.batchSize = BatchSize;
        settings.retryBaseDelayMs = 20;
        settings.retryMaxDelayMs = 200;
        settings.retryGiveUpMs = 5000;
        return settings;
    }

    // One run of every entity to its end; false on a hang.
    static bool syncAll(SyncEngine &engine)
    {
        QSignalSpy finished(&engine, &SyncEngine::finished);
        engine.startAll();
        return finished.wait(SyncTimeoutMs);
    }

    // A BatchSync run under \a mutator, then an incremental one with no change; returns how
    // the local copy differs from the server.
    Difference syncWithEngine(Test::TestServer &server, PagingMode paging, Mutator *mutator)
    {
        const QMetaObject::Connection connection = connect(
            server.server(), &SyncServer::pageServed, this,
            [mutator](const QString &entity, int records) { mutator->onPage(entity, records); });
        const SyncSettings settings = settingsFor(server, paging);
        SyncEngine engine(settings);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        Difference result;
        result.first = QStringLiteral("the sync did not end");
        result.missing = -1;
        if (!syncAll(engine))
            return result;
        disconnect(connection);
        if (!failed.isEmpty()) {
            result.first = failed.first().at(2).toString();
            return result;
        }
        if (engine.entity(customersSchema().name).state != SyncState::Completed) {
            result.first = QStringLiteral("not completed");
            return result;
        }
        // Whatever changed after the last page was read is picked up by the next sync.
        if (!syncAll(engine) || !failed.isEmpty())
            return result;
        return compare(server.store()->liveRecords(customersSchema().name),
                       localRecords(settings.databasePath, customersSchema()));
    }

    std::unique_ptr<QTemporaryDir> m_dir;

private Q_SLOTS:
    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
    }
    void cleanup() { m_dir.reset(); }
    void cleanupTestCase()
    {
        qInfo().noquote() << QStringLiteral(
                                 "drift: %1 mutations during sync, end state exact in %2 of "
                                 "%5 BatchSync runs; the naive offset loop lost %3 records "
                                 "in %4 runs of the same schedules")
                                 .arg(g_totals.mutations)
                                 .arg(g_totals.rows)
                                 .arg(g_totals.naiveLost)
                                 .arg(g_totals.naiveRuns)
                                 .arg(g_totals.attempted);
    }

    void randomMutationsEndExact_data()
    {
        QTest::addColumn<PagingMode>("paging");
        QTest::addColumn<quint32>("seed");
        for (const quint32 seed : { 1001u, 2002u, 3003u, 4004u }) {
            QTest::addRow("cursor, seed %u", seed) << PagingMode::Cursor << seed;
            QTest::addRow("offset, seed %u", seed) << PagingMode::Offset << seed;
        }
    }

    void randomMutationsEndExact()
    {
        QFETCH(PagingMode, paging);
        QFETCH(quint32, seed);
        seed = seedFor(seed);
        qInfo("seed %u (BATCHSYNC_TEST_SEED=%u reproduces it)", seed, seed);
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(3000, seed);
        const int naturalTies = largestTieGroup(serverChanges(server.store(), "customers"));
        Mutator mutator(server.store(), seed, 60, false);
        const Difference difference = syncWithEngine(server, paging, &mutator);
        ++g_totals.attempted;
        QVERIFY2(mutator.ok(), qPrintable(mutator.error()));
        qInfo().noquote() << pagingModeName(paging) << mutator.summary()
                          << QStringLiteral("; largest tie group at start %1").arg(naturalTies);
        g_totals.mutations += mutator.mutations();
        QVERIFY(mutator.mutations() > 0);
        QVERIFY2(difference.total() == 0, qPrintable(difference.describe()));
        ++g_totals.rows;
    }

    void tieGroupsLargerThanBatch_data()
    {
        QTest::addColumn<PagingMode>("paging");
        QTest::addColumn<quint32>("seed");
        for (const quint32 seed : { 51u, 52u }) {
            QTest::addRow("cursor, seed %u", seed) << PagingMode::Cursor << seed;
            QTest::addRow("offset, seed %u", seed) << PagingMode::Offset << seed;
        }
    }

    // 500 records sharing one changedAt, 700 the next millisecond, 300 one second later: tie
    // groups several batches long, and mutations inside them (records of the group already
    // read updated or deleted, and others not yet read).
    void tieGroupsLargerThanBatch()
    {
        QFETCH(PagingMode, paging);
        QFETCH(quint32, seed);
        seed = seedFor(seed);
        qInfo("seed %u", seed);
        Test::TestServer server;
        QString error;
        QVERIFY2(prepareServerDatabase(server.directory() + QStringLiteral("/server.sqlite"), 2000,
                                       seed,
                                       { { 500, QStringLiteral("2024-01-01T00:00:00.000Z") },
                                         { 700, QStringLiteral("2024-01-01T00:00:00.001Z") },
                                         { 300, QStringLiteral("2024-01-01T00:00:01.000Z") } },
                                       &error),
                 qPrintable(error));
        QVERIFY(server.start());
        const QList<ServerChange> before = serverChanges(server.store(), "customers");
        QCOMPARE(before.size(), 2000);
        QVERIFY2(largestTieGroup(before) >= 700,
                 qPrintable(QString::number(largestTieGroup(before))));

        // Also a group made by one upsert call of 500 records; how many share a millisecond
        // depends on the machine's speed, so it is printed, not required.
        {
            QRandomGenerator random(seed + 1000000);
            QList<std::pair<QString, QVariantMap>> batch;
            for (int i = 0; i < 500; ++i)
                batch.append({ Test::TestServer::randomId(random),
                               randomData(random, QStringLiteral("bulk %1").arg(i)) });
            QVERIFY2(server.store()->upsert("customers", batch, &error), qPrintable(error));
            const QList<ServerChange> all = serverChanges(server.store(), "customers");
            qInfo("one upsert of 500 records: the largest tie group among them is %d",
                  largestTieGroup(all.mid(2000)));
        }

        Mutator mutator(server.store(), seed, 40, false);
        const Difference difference = syncWithEngine(server, paging, &mutator);
        ++g_totals.attempted;
        g_totals.mutations += mutator.mutations();
        QVERIFY2(mutator.ok(), qPrintable(mutator.error()));
        qInfo().noquote() << pagingModeName(paging) << mutator.summary();
        QVERIFY2(difference.total() == 0, qPrintable(difference.describe()));
        ++g_totals.rows;
    }

    void clockPinnedUpdatesInTieGroup_data()
    {
        QTest::addColumn<PagingMode>("paging");
        QTest::addColumn<bool>("clockCatchesUp");
        QTest::newRow("cursor, pinned") << PagingMode::Cursor << false;
        QTest::newRow("offset, pinned") << PagingMode::Offset << false;
        QTest::newRow("cursor, clock catches up") << PagingMode::Cursor << true;
        QTest::newRow("offset, clock catches up") << PagingMode::Offset << true;
    }

    // After the server's clock stepped back, every change keeps the last changedAt (the
    // server never goes back in changedAt): a record already read is changed again without
    // its (changedAt, id) moving. The sync must still end exact.
    void clockPinnedUpdatesInTieGroup()
    {
        QFETCH(PagingMode, paging);
        QFETCH(bool, clockCatchesUp);
        const qint64 pinnedUntil = QDateTime::currentMSecsSinceEpoch() + 1500;
        const QString pinned
            = Timestamp::format(QDateTime::fromMSecsSinceEpoch(pinnedUntil, Qt::UTC));
        Test::TestServer server;
        QString error;
        QVERIFY2(prepareServerDatabase(server.directory() + QStringLiteral("/server.sqlite"), 300,
                                       7, { { 300, pinned } }, &error),
                 qPrintable(error));
        QVERIFY(server.start());
        QList<ServerChange> before = serverChanges(server.store(), "customers");
        QCOMPARE(largestTieGroup(before), 300);
        const QString first = before.first().id; // read in the first page
        int pages = 0;
        connect(server.server(), &SyncServer::pageServed, this, [&](const QString &, int) {
            ++pages;
            QString e;
            if (pages == 1) {
                // The first record, just read, changes again: same changedAt, same place.
                QVERIFY(server.store()->upsert(
                    "customers", first,
                    { { QStringLiteral("name"), QStringLiteral("changed in place") } }, &e));
            } else if (pages == 2 && clockCatchesUp) {
                // Then the clock passes the pinned time: later changes sort after the group.
                const qint64 wait = pinnedUntil - QDateTime::currentMSecsSinceEpoch() + 5;
                if (wait > 0)
                    QThread::msleep(ulong(wait));
                QVERIFY(server.store()->upsert(
                    "customers", QStringLiteral("later"),
                    { { QStringLiteral("name"), QStringLiteral("after the clock") } }, &e));
            }
        });
        const SyncSettings settings = settingsFor(server, paging);
        ++g_totals.attempted;
        g_totals.mutations += clockCatchesUp ? 2 : 1;
        {
            SyncEngine engine(settings);
            QVERIFY(syncAll(engine));
            QCOMPARE(engine.entity("customers").state, SyncState::Completed);
            QVERIFY(syncAll(engine));
            QCOMPARE(engine.entity("customers").state, SyncState::Completed);
        }
        QVERIFY(pages >= 3);
        const QList<ServerChange> after = serverChanges(server.store(), "customers");
        const auto changed = std::find_if(after.cbegin(), after.cend(),
                                          [&](const ServerChange &c) { return c.id == first; });
        QVERIFY(changed != after.cend());
        QCOMPARE(changed->changedAt, pinned);
        Difference difference = compare(server.store()->liveRecords("customers"),
                                        localRecords(settings.databasePath, customersSchema()));
        QVERIFY2(difference.total() == 0, qPrintable(difference.describe()));

        // A new engine (a new process) must not be needed, but it must also end exact.
        {
            SyncEngine engine(settings);
            QVERIFY(syncAll(engine));
        }
        difference = compare(server.store()->liveRecords("customers"),
                             localRecords(settings.databasePath, customersSchema()));
        QVERIFY2(difference.total() == 0, qPrintable(difference.describe()));
        ++g_totals.rows;
    }

    void resumeDeepInsideHugeTieGroup_data()
    {
        QTest::addColumn<PagingMode>("paging");
        QTest::newRow("cursor") << PagingMode::Cursor;
        QTest::newRow("offset") << PagingMode::Offset;
    }

    // 2500 records share one changedAt (one bulk transaction on a server that stamps the
    // transaction's time); the sync pauses 15 pages in, and a new engine (a new process)
    // resumes: offset mode reads the group again from its start to find its place.
    void resumeDeepInsideHugeTieGroup()
    {
        QFETCH(PagingMode, paging);
        Test::TestServer server;
        QString error;
        QVERIFY2(prepareServerDatabase(server.directory() + QStringLiteral("/server.sqlite"), 2500,
                                       61, { { 2500, QStringLiteral("2024-01-01T00:00:00.000Z") } },
                                       &error),
                 qPrintable(error));
        QVERIFY(server.start());
        const SyncSettings settings = settingsFor(server, paging);
        ++g_totals.attempted;
        {
            SyncEngine engine(settings);
            int pages = 0;
            connect(server.server(), &SyncServer::pageServed, &engine,
                    [&](const QString &entity, int) {
                        if (++pages == 15)
                            engine.pause(entity);
                    });
            QVERIFY(syncAll(engine));
            QCOMPARE(engine.entity("customers").state, SyncState::Paused);
        }
        SyncEngine engine(settings);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QVERIFY(syncAll(engine));
        QVERIFY2(failed.isEmpty(),
                 failed.isEmpty() ? "" : qPrintable(failed.first().at(2).toString()));
        QCOMPARE(engine.entity("customers").state, SyncState::Completed);
        const Difference difference
            = compare(server.store()->liveRecords("customers"),
                      localRecords(settings.databasePath, customersSchema()));
        QVERIFY2(difference.total() == 0, qPrintable(difference.describe()));
        ++g_totals.rows;
    }

    void naiveOffsetLoopLosesRecords_data()
    {
        QTest::addColumn<quint32>("seed");
        for (const quint32 seed : { 7u, 8u, 9u })
            QTest::addRow("seed %u", seed) << seed;
    }

    // The Mendix guide's loop: count changes since S, then read offset 0, n, 2n... until the
    // count, then the next sync from the largest changedAt applied. A record updated before
    // the current offset moves to the end: every later record shifts one place toward the
    // start, and the record at the next page boundary is never read. BatchSync's offset mode,
    // under the same schedule, ends exact.
    void naiveOffsetLoopLosesRecords()
    {
        QFETCH(quint32, seed);
        seed = seedFor(seed);
        qInfo("seed %u", seed);

        Difference batchSync;
        int batchSyncMutations = 0;
        {
            Test::TestServer server;
            QVERIFY(server.start());
            server.addCustomers(3000, seed);
            Mutator mutator(server.store(), seed, 25, true);
            batchSync = syncWithEngine(server, PagingMode::Offset, &mutator);
            QVERIFY2(mutator.ok(), qPrintable(mutator.error()));
            batchSyncMutations = mutator.mutations();
        }

        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(3000, seed);
        Mutator mutator(server.store(), seed, 25, true);
        const QMetaObject::Connection connection = connect(
            server.server(), &SyncServer::pageServed, this,
            [&mutator](const QString &entity, int records) { mutator.onPage(entity, records); });
        Records naive;
        QString maxApplied;
        QNetworkAccessManager network;
        const auto get = [&](const QString &path, const QUrlQuery &query) -> QJsonObject {
            QUrl url = server.baseUrl();
            url.setPath(url.path() + path);
            url.setQuery(query);
            QNetworkReply *reply = network.get(QNetworkRequest(url));
            QSignalSpy finished(reply, &QNetworkReply::finished);
            if (!reply->isFinished() && !finished.wait(30000))
                qWarning() << "no answer from" << url;
            const QJsonObject object = QJsonDocument::fromJson(reply->readAll()).object();
            reply->deleteLater();
            return object;
        };
        const auto naiveSync = [&]() -> bool {
            const QString since = maxApplied;
            const qint64 count = get(QStringLiteral("/entities/customers/count"),
                                     QUrlQuery { { QStringLiteral("changedSince"), since } })
                                     .value(QLatin1String("count"))
                                     .toInteger(-1);
            if (count < 0)
                return false;
            for (qint64 offset = 0; offset < count; offset += BatchSize) {
                const QJsonObject page
                    = get(QStringLiteral("/entities/customers/changes"),
                          QUrlQuery { { QStringLiteral("changedSince"), since },
                                      { QStringLiteral("offset"), QString::number(offset) },
                                      { QStringLiteral("limit"), QString::number(BatchSize) } });
                if (!page.contains(QLatin1String("changes")))
                    return false;
                for (const QJsonValue &value : page.value(QLatin1String("changes")).toArray()) {
                    const QJsonObject change = value.toObject();
                    const QString id = change.value(QLatin1String("id")).toString();
                    maxApplied
                        = std::max(maxApplied, change.value(QLatin1String("changedAt")).toString());
                    if (change.value(QLatin1String("deleted")).toBool()) {
                        naive.remove(id);
                        continue;
                    }
                    const QJsonObject data = change.value(QLatin1String("data")).toObject();
                    QVariantList values;
                    for (const FieldSpec &field : customersSchema().fields) {
                        const QJsonValue v = data.value(field.name);
                        if (v.isNull() || v.isUndefined())
                            values << QVariant();
                        else if (field.type == FieldType::Int)
                            values << QVariant(qint64(v.toInteger()));
                        else if (field.type == FieldType::Real)
                            values << QVariant(v.toDouble());
                        else if (field.type == FieldType::Bool)
                            values << QVariant(v.toBool());
                        else
                            values << QVariant(v.toString());
                    }
                    naive.insert(id, values);
                }
            }
            return true;
        };
        QVERIFY(naiveSync());
        disconnect(connection);
        QVERIFY2(mutator.ok(), qPrintable(mutator.error()));
        QVERIFY(naiveSync()); // the follow-up incremental sync, nothing changing
        const Difference lost = compare(server.store()->liveRecords("customers"), naive);

        qInfo().noquote() << QStringLiteral("seed %1: naive offset += %2 loop under %3 mutations "
                                            "lost %4 records (%5); BatchSync offset mode under "
                                            "%6 mutations: %7 differences")
                                 .arg(seed)
                                 .arg(BatchSize)
                                 .arg(mutator.mutations())
                                 .arg(lost.total())
                                 .arg(lost.describe())
                                 .arg(batchSyncMutations)
                                 .arg(batchSync.total());
        ++g_totals.attempted;
        g_totals.mutations += batchSyncMutations;
        g_totals.naiveLost += lost.total();
        ++g_totals.naiveRuns;
        QVERIFY2(batchSync.total() == 0, qPrintable(batchSync.describe()));
        QVERIFY2(lost.missing > 0, "the naive loop was expected to skip records");
        ++g_totals.rows;
    }
};

QTEST_GUILESS_MAIN(TestDrift)
#include "tst_drift.moc"
