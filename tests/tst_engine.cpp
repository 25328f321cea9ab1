#include "common/types.h"
#include "engine/batchsizer.h"
#include "engine/syncengine.h"
#include "server/backend/serverstore.h"
#include "server/syncserver.h"
#include "sources/protocol/protocolclient.h"
#include "store/localstore.h"
#include "testutil/fakenetwork.h"
#include "testutil/localdb.h"
#include "testutil/testserver.h"

#include <QAtomicInt>
#include <QJsonObject>
#include <QSet>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <memory>

using namespace BatchSync;
using BatchSync::Test::localRecords;

class TestEngine final : public QObject
{
    Q_OBJECT

private:
    SyncSettings settingsFor(const Test::TestServer &server, PagingMode paging = PagingMode::Cursor,
                             int batchSize = 100)
    {
        SyncSettings settings;
        settings.endpoint = server.baseUrl();
        settings.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        settings.paging = paging;
        settings.batchSize = batchSize;
        settings.retryBaseDelayMs = 20;
        settings.retryMaxDelayMs = 200;
        settings.retryGiveUpMs = 2000;
        return settings;
    }

    bool syncAll(SyncEngine &engine, int timeoutMs = 60000)
    {
        QSignalSpy finished(&engine, &SyncEngine::finished);
        engine.startAll();
        return finished.wait(timeoutMs);
    }

    void compareWithServer(const Test::TestServer &server, const QString &localPath)
    {
        const QList<EntitySchema> entities = server.store()->entities();
        QVERIFY(!entities.isEmpty());
        for (const EntitySchema &schema : entities) {
            const QString difference
                = Test::differences(localPath, schema, server.store()->liveRecords(schema.name));
            QVERIFY2(difference.isEmpty(), qPrintable(difference));
        }
    }

    static QString sizesText(const QList<int> &sizes)
    {
        QStringList texts;
        for (int size : sizes)
            texts.append(QString::number(size));
        return QStringLiteral("sizes: ") + texts.join(u' ');
    }

    std::unique_ptr<QTemporaryDir> m_dir;

private Q_SLOTS:
    void init() { m_dir = std::make_unique<QTemporaryDir>(); }
    void cleanup() { m_dir.reset(); }

    void fullSyncEqualsServer_data()
    {
        QTest::addColumn<PagingMode>("paging");
        QTest::addColumn<int>("batchSize");
        QTest::addColumn<int>("concurrency");
        QTest::newRow("cursor, 100") << PagingMode::Cursor << 100 << 2;
        QTest::newRow("cursor, 1000, one at a time") << PagingMode::Cursor << 1000 << 1;
        QTest::newRow("offset, 100") << PagingMode::Offset << 100 << 2;
        QTest::newRow("offset, 10000") << PagingMode::Offset << 10000 << 3;
    }

    void fullSyncEqualsServer()
    {
        QFETCH(PagingMode, paging);
        QFETCH(int, batchSize);
        QFETCH(int, concurrency);
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(1500, 1, QStringLiteral("customers"));
        server.addCustomers(700, 2, QStringLiteral("suppliers"));
        server.addCustomers(0, 3, QStringLiteral("empty"));
        QString error;
        QVERIFY2(server.store()->remove(
                     QStringLiteral("customers"),
                     { server.store()->liveRecords(QStringLiteral("customers")).keys().first() },
                     &error),
                 qPrintable(error));

        SyncSettings settings = settingsFor(server, paging, batchSize);
        settings.concurrency = concurrency;
        SyncEngine engine(settings);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QVERIFY(syncAll(engine));
        QVERIFY2(failed.isEmpty(),
                 failed.isEmpty() ? "" : qPrintable(failed.first().at(2).toString()));
        for (const QString &name : { QStringLiteral("customers"), QStringLiteral("suppliers"),
                                     QStringLiteral("empty") }) {
            QCOMPARE(engine.entity(name).state, SyncState::Completed);
        }
        compareWithServer(server, settings.databasePath);
    }

    void incrementalSyncPullsOnlyChanges_data()
    {
        QTest::addColumn<PagingMode>("paging");
        QTest::newRow("cursor") << PagingMode::Cursor;
        QTest::newRow("offset") << PagingMode::Offset;
    }

    void incrementalSyncPullsOnlyChanges()
    {
        QFETCH(PagingMode, paging);
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(1200, 7);
        const SyncSettings settings = settingsFor(server, paging, 250);
        {
            SyncEngine engine(settings);
            QVERIFY(syncAll(engine));
            QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        }
        const qint64 servedBefore = server.server()->changesServed();

        // 10 updates, 5 inserts, 3 deletes.
        QStringList ids = server.store()->liveRecords(schema.name).keys();
        ids.sort();
        QString error;
        for (int i = 0; i < 10; ++i) {
            QVariantMap data { { schema.fields.first().name,
                                 QStringLiteral("changed %1").arg(i) } };
            QVERIFY2(server.store()->upsert(schema.name, ids.at(i), data, &error),
                     qPrintable(error));
        }
        for (int i = 0; i < 5; ++i) {
            QVariantMap data { { schema.fields.first().name, QStringLiteral("new %1").arg(i) } };
            QVERIFY2(
                server.store()->upsert(schema.name, QStringLiteral("new-%1").arg(i), data, &error),
                qPrintable(error));
        }
        QVERIFY2(server.store()->remove(schema.name, ids.mid(20, 3), &error), qPrintable(error));

        SyncEngine engine(settings);
        QSignalSpy progress(&engine, &SyncEngine::progressChanged);
        QVERIFY(syncAll(engine));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        const qint64 served = server.server()->changesServed() - servedBefore;
        if (paging == PagingMode::Cursor) {
            QCOMPARE(served, qint64(18));
        } else {
            // Offset mode reads again the changes sharing the last changedAt it applied.
            QVERIFY2(served >= 18 && served <= 18 + 1200, qPrintable(QString::number(served)));
        }
        QVERIFY(!progress.isEmpty());
        QCOMPARE(progress.last().at(1).toLongLong(), qint64(18));
        QCOMPARE(progress.last().at(2).toLongLong(), qint64(18));
        compareWithServer(server, settings.databasePath);
    }

    void eachRecordKeepsTheVersionTheServerSent()
    {
        // Protocol v1.1 pages carry each record's version; the push will send it as its base.
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(600, 3);
        const SyncSettings settings = settingsFor(server, PagingMode::Cursor, 250);
        const auto versions = [&settings] {
            QHash<QString, qint64> found;
            {
                QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"),
                                                            QStringLiteral("versions"));
                db.setDatabaseName(settings.databasePath);
                if (db.open()) {
                    QSqlQuery query(QStringLiteral("SELECT id, _version FROM customers"), db);
                    while (query.next())
                        found.insert(query.value(0).toString(), query.value(1).toLongLong());
                }
            }
            QSqlDatabase::removeDatabase(QStringLiteral("versions"));
            return found;
        };
        {
            SyncEngine engine(settings);
            QVERIFY(syncAll(engine));
        }
        const QHash<QString, qint64> first = versions();
        QCOMPARE(first.size(), 600);
        QVERIFY(!first.values().contains(0)); // every record has one (NULL reads as 0)
        QCOMPARE(QSet<qint64>(first.cbegin(), first.cend()).size(), 600);

        QStringList ids = first.keys();
        ids.sort();
        QString error;
        QVERIFY2(server.store()->upsert(schema.name, ids.first(),
                                        { { schema.fields.first().name, QStringLiteral("new") } },
                                        &error),
                 qPrintable(error));
        {
            SyncEngine engine(settings);
            QVERIFY(syncAll(engine));
        }
        const QHash<QString, qint64> second = versions();
        qint64 newest = 0;
        for (qint64 version : first)
            newest = std::max(newest, version);
        QVERIFY(second.value(ids.first()) > newest); // the update's own, newer version
        for (const QString &id : ids.mid(1))
            QCOMPARE(second.value(id), first.value(id));
    }

    void progressIsMonotonicAndEndsAtTotal()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(3000, 11, QStringLiteral("a"));
        server.addCustomers(2000, 12, QStringLiteral("b"));
        SyncSettings settings = settingsFor(server, PagingMode::Cursor, 100);
        settings.progressIntervalMs = 50;
        SyncEngine engine(settings);
        QHash<QString, QList<std::pair<qint64, qint64>>> log;
        connect(&engine, &SyncEngine::progressChanged, this,
                [&log](const QString &entity, qint64 done, qint64 total, double rate, qint64 eta) {
                    QVERIFY(rate >= 0.0);
                    QVERIFY(eta >= -1);
                    log[entity].append({ done, total });
                });
        QVERIFY(syncAll(engine));
        QCOMPARE(log.size(), 2);
        for (auto it = log.cbegin(); it != log.cend(); ++it) {
            qint64 previous = 0;
            for (const auto &[done, total] : it.value()) {
                QVERIFY2(done >= previous, qPrintable(it.key()));
                QVERIFY2(done <= total, qPrintable(it.key()));
                previous = done;
            }
            QCOMPARE(it.value().last().first, it.value().last().second);
            QCOMPARE(it.value().last().first, server.store()->liveCount(it.key()));
            // 30 and 20 batches: throttled to one signal per 50 ms, plus start and end.
            QVERIFY(it.value().size() >= 2);
        }
    }

    void pauseThenResumeCompletesWithoutGapOrDuplicate_data()
    {
        QTest::addColumn<PagingMode>("paging");
        QTest::newRow("cursor") << PagingMode::Cursor;
        QTest::newRow("offset") << PagingMode::Offset;
    }

    void pauseThenResumeCompletesWithoutGapOrDuplicate()
    {
        QFETCH(PagingMode, paging);
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(20000, 21);
        const SyncSettings settings = settingsFor(server, paging, 100);
        SyncEngine engine(settings);
        QSignalSpy states(&engine, &SyncEngine::stateChanged);
        QSignalSpy progress(&engine, &SyncEngine::progressChanged);

        engine.start(schema.name);
        QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty() && progress.last().at(1).toLongLong() > 0,
                                 20000);
        engine.pause(schema.name);
        QTRY_COMPARE_WITH_TIMEOUT(engine.entity(schema.name).state, SyncState::Paused, 10000);
        const qint64 servedAtPause = server.server()->changesServed();
        const EntityStatus paused = engine.entity(schema.name);
        QVERIFY(paused.done > 0);
        QVERIFY2(paused.done < paused.total, "the sync finished before it could be paused");
        // Paused means no more requests.
        QTest::qWait(300);
        QCOMPARE(server.server()->changesServed(), servedAtPause);
        QCOMPARE(engine.entity(schema.name).state, SyncState::Paused);

        QSignalSpy finished(&engine, &SyncEngine::finished);
        engine.resume(schema.name);
        QTRY_COMPARE_WITH_TIMEOUT(engine.entity(schema.name).state, SyncState::Completed, 60000);
        compareWithServer(server, settings.databasePath);

        // Resuming re-reads at most the batch that was in flight (offset mode also reads
        // again the last change applied before each page, to check nothing moved).
        const qint64 pages = 20000 / 99 + 2;
        const qint64 limit = 20000 + 100 + (paging == PagingMode::Offset ? pages : 0);
        QVERIFY2(server.server()->changesServed() <= limit,
                 qPrintable(QString::number(server.server()->changesServed())));
        qint64 previous = 0;
        for (const QList<QVariant> &signal : std::as_const(progress)) {
            QVERIFY(signal.at(1).toLongLong() >= previous);
            previous = signal.at(1).toLongLong();
        }
        QCOMPARE(previous, qint64(20000));
    }

    void pausedEntitySurvivesANewEngine()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(20000, 31);
        const SyncSettings settings = settingsFor(server, PagingMode::Cursor, 100);
        qint64 doneAtPause = 0;
        qint64 totalAtPause = 0;
        {
            SyncEngine engine(settings);
            QSignalSpy progress(&engine, &SyncEngine::progressChanged);
            engine.start(schema.name);
            QTRY_VERIFY_WITH_TIMEOUT(
                !progress.isEmpty() && progress.last().at(1).toLongLong() >= 500, 20000);
            engine.pause(schema.name);
            QTRY_COMPARE_WITH_TIMEOUT(engine.entity(schema.name).state, SyncState::Paused, 10000);
            doneAtPause = engine.entity(schema.name).done;
            totalAtPause = engine.entity(schema.name).total;
            QVERIFY(doneAtPause > 0 && doneAtPause < totalAtPause);
        }

        SyncEngine engine(settings);
        QTRY_VERIFY_WITH_TIMEOUT(!engine.entities().isEmpty(), 5000);
        const EntityStatus restored = engine.entity(schema.name);
        QCOMPARE(restored.state, SyncState::Paused);
        QCOMPARE(restored.done, doneAtPause);
        QCOMPARE(restored.total, totalAtPause);
        QCOMPARE(restored.fields, schema.fields);

        const qint64 servedBefore = server.server()->changesServed();
        QVERIFY(syncAll(engine));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        QCOMPARE(engine.entity(schema.name).done, qint64(20000));
        // It continued from its cursor: the rest of the records, not all of them again.
        QCOMPARE(server.server()->changesServed() - servedBefore, 20000 - doneAtPause);
        compareWithServer(server, settings.databasePath);
    }

    void engineDestroyedMidRunResumesFromLastCommit()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(15000, 41);
        const SyncSettings settings = settingsFor(server, PagingMode::Cursor, 100);
        {
            SyncEngine engine(settings);
            QSignalSpy progress(&engine, &SyncEngine::progressChanged);
            engine.start(schema.name);
            QTRY_VERIFY_WITH_TIMEOUT(
                !progress.isEmpty() && progress.last().at(1).toLongLong() >= 300, 20000);
        } // destroyed while running, as when the window is closed mid-sync

        SyncEngine engine(settings);
        QTRY_VERIFY_WITH_TIMEOUT(!engine.entities().isEmpty(), 5000);
        QCOMPARE(engine.entity(schema.name).state, SyncState::Paused);
        QVERIFY(engine.entity(schema.name).done >= 300);
        QVERIFY(syncAll(engine));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        QCOMPARE(engine.entity(schema.name).done, qint64(15000));
        compareWithServer(server, settings.databasePath);
    }

    void concurrencyLimitIsHonoured()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        for (int i = 0; i < 5; ++i)
            server.addCustomers(800, 50 + i, QStringLiteral("entity%1").arg(i));
        SyncSettings settings = settingsFor(server, PagingMode::Cursor, 100);
        settings.concurrency = 2;
        SyncEngine engine(settings);
        QHash<QString, SyncState> states;
        int maxWorking = 0;
        connect(&engine, &SyncEngine::stateChanged, this,
                [&](const QString &entity, SyncState state) {
                    states[entity] = state;
                    int working = 0;
                    for (SyncState s : std::as_const(states))
                        working += (s == SyncState::Counting || s == SyncState::Running) ? 1 : 0;
                    maxWorking = std::max(maxWorking, working);
                });
        QVERIFY(syncAll(engine));
        QCOMPARE(states.size(), 5);
        for (SyncState s : std::as_const(states))
            QCOMPARE(s, SyncState::Completed);
        QCOMPARE(maxWorking, 2);
    }

    void pauseAllCancelsTheWaitOfQueuedEntities()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(20000, 151, QStringLiteral("a"));
        server.addCustomers(100, 152, QStringLiteral("b"));
        server.addCustomers(100, 153, QStringLiteral("c"));
        SyncSettings settings = settingsFor(server, PagingMode::Cursor, 100);
        settings.concurrency = 1;
        SyncEngine engine(settings);
        QSignalSpy progress(&engine, &SyncEngine::progressChanged);
        engine.startAll();
        QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty() && progress.last().at(1).toLongLong() > 0,
                                 20000);
        QCOMPARE(engine.entity(QStringLiteral("b")).state, SyncState::Queued);
        QSignalSpy finished(&engine, &SyncEngine::finished);
        engine.pauseAll();
        QVERIFY(finished.wait(10000));
        QCOMPARE(engine.entity(QStringLiteral("a")).state, SyncState::Paused);
        QCOMPARE(engine.entity(QStringLiteral("b")).state, SyncState::Idle);
        QCOMPARE(engine.entity(QStringLiteral("c")).state, SyncState::Idle);
    }

    void wrongTokenFailsWithServerMessage()
    {
        Test::TestServer server;
        QVERIFY(server.start(QStringLiteral("s3cret")));
        server.addCustomers(10, 61);
        SyncSettings settings = settingsFor(server);
        settings.token = QStringLiteral("wrong");
        SyncEngine engine(settings);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QVERIFY(syncAll(engine));
        QVERIFY(!failed.isEmpty());
        const auto category = failed.first().at(1).value<ErrorCategory>();
        QCOMPARE(category, ErrorCategory::Auth);
        const QString message = failed.first().at(2).toString();
        QVERIFY2(message.contains(QLatin1String("401")), qPrintable(message));
        QVERIFY2(message.contains(QLatin1String("token"), Qt::CaseInsensitive),
                 qPrintable(message));

        settings.token = QStringLiteral("s3cret");
        settings.databasePath = m_dir->filePath(QStringLiteral("other.sqlite"));
        SyncEngine good(settings);
        QVERIFY(syncAll(good));
        QCOMPARE(good.entity(QStringLiteral("customers")).state, SyncState::Completed);
    }

    void unknownEntityFails()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(10, 71);
        SyncEngine engine(settingsFor(server));
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QSignalSpy finished(&engine, &SyncEngine::finished);
        engine.start(QStringLiteral("nosuchthing"));
        QVERIFY(finished.wait(10000));
        QCOMPARE(failed.size(), 1);
        QCOMPARE(failed.first().at(0).toString(), QStringLiteral("nosuchthing"));
        QVERIFY(failed.first().at(2).toString().contains(QLatin1String("no entity")));
    }

    void deadServerFailsInBoundedTime()
    {
        quint16 port = 0;
        {
            Test::TestServer server;
            QVERIFY(server.start());
            port = server.server()->port();
        } // nothing listens there any more
        SyncSettings settings;
        settings.endpoint = QUrl(QStringLiteral("http://127.0.0.1:%1/api/v1").arg(port));
        settings.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        settings.retryBaseDelayMs = 20;
        settings.retryMaxDelayMs = 100;
        settings.retryGiveUpMs = 500;
        SyncEngine engine(settings);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QSignalSpy retrying(&engine, &SyncEngine::retrying);
        QVERIFY(syncAll(engine, 15000));
        QVERIFY(!failed.isEmpty());
        QCOMPARE(failed.last().at(0).toString(), QString());
        QCOMPARE(failed.last().at(1).value<ErrorCategory>(), ErrorCategory::Network);
        QVERIFY(!retrying.isEmpty());
        QVERIFY2(failed.last().at(2).toString().contains(QLatin1String("gave up")),
                 qPrintable(failed.last().at(2).toString()));
    }

    void fieldAddedOnServerIsAddedLocally()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        EntitySchema schema = server.addCustomers(300, 81);
        const SyncSettings settings = settingsFor(server);
        {
            SyncEngine engine(settings);
            QVERIFY(syncAll(engine));
        }
        schema.fields.append({ QStringLiteral("loyalty"), FieldType::Int });
        QString error;
        QVERIFY2(server.store()->addEntity(schema, &error), qPrintable(error));
        const QString id = server.store()->liveRecords(schema.name).keys().first();
        QVERIFY2(
            server.store()->upsert(schema.name, id, { { QStringLiteral("loyalty"), 42 } }, &error),
            qPrintable(error));
        SyncEngine engine(settings);
        QVERIFY(syncAll(engine));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        QCOMPARE(engine.entity(schema.name).fields, schema.fields);
        compareWithServer(server, settings.databasePath);
    }

    void dataChangingDuringSyncEndsExact_data()
    {
        QTest::addColumn<PagingMode>("paging");
        QTest::newRow("cursor") << PagingMode::Cursor;
        QTest::newRow("offset") << PagingMode::Offset;
    }

    void dataChangingDuringSyncEndsExact()
    {
        QFETCH(PagingMode, paging);
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(3000, 91);
        QStringList ids = server.store()->liveRecords(schema.name).keys();
        ids.sort();
        int page = 0;
        // Between pages: update a record already synced or not, delete one, insert one.
        connect(server.server(), &SyncServer::pageServed, this, [&](const QString &entity, int) {
            if (entity != schema.name || page >= 20)
                return;
            ++page;
            QString error;
            QVariantMap data { { schema.fields.first().name,
                                 QStringLiteral("during %1").arg(page) } };
            QVERIFY(
                server.store()->upsert(schema.name, ids.at(page * 97 % ids.size()), data, &error));
            QVERIFY(server.store()->remove(schema.name, { ids.at(page * 13 + 1) }, &error));
            QVERIFY(server.store()->upsert(schema.name, QStringLiteral("0-inserted-%1").arg(page),
                                           data, &error));
        });
        const SyncSettings settings = settingsFor(server, paging, 100);
        SyncEngine engine(settings);
        QVERIFY(syncAll(engine));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        QVERIFY(page > 0);
        // Whatever changed after a page was answered is picked up by the next sync.
        QVERIFY(syncAll(engine));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        compareWithServer(server, settings.databasePath);
    }

    void transientFailuresAreRetriedAndNeverCountedTwice()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(2000, 111);
        SyncSettings settings = settingsFor(server, PagingMode::Cursor, 100);
        settings.transferTimeoutMs = 300;
        QAtomicInt pages;
        Test::FakeNetworkAccessManager *fake = nullptr;
        SyncEngine engine(
            settings,
            ProtocolClient::factory(settings, [&fake, &pages]() -> QNetworkAccessManager * {
                fake = new Test::FakeNetworkAccessManager;
                // Every third page fails, in turn: a 503 with Retry-After, a reset connection,
                // a body cut off half-way, a stalled reply, a 500.
                fake->addRule(Test::FakeRule::dynamic(
                    QStringLiteral("/changes"), [&pages](const QNetworkRequest &) {
                        const int n = pages.fetchAndAddRelaxed(1);
                        const QString path = QStringLiteral("/changes");
                        if (n % 3 != 2)
                            return Test::FakeRule::passThrough(path);
                        switch ((n / 3) % 5) {
                        case 0:
                            return Test::FakeRule::error(path, 503, QStringLiteral("busy"))
                                .withHeader("Retry-After", "0");
                        case 1:
                            return Test::FakeRule::fail(path, QNetworkReply::RemoteHostClosedError);
                        case 2:
                            return Test::FakeRule::respond(path, 200, R"({"changes": [{"id")")
                                .withContentLength(100000);
                        case 3:
                            return Test::FakeRule::hang(path);
                        default:
                            return Test::FakeRule::error(path, 500, QStringLiteral("oops"));
                        }
                    }));
                return fake;
            }));
        QSignalSpy retrying(&engine, &SyncEngine::retrying);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QList<qint64> done;
        connect(&engine, &SyncEngine::progressChanged, this,
                [&done](const QString &, qint64 d, qint64) { done.append(d); });
        QVERIFY(syncAll(engine, 60000));
        QVERIFY2(failed.isEmpty(),
                 failed.isEmpty() ? "" : qPrintable(failed.first().at(2).toString()));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        // 20 pages of 100 plus the last empty-or-short one; a third of them failed once.
        QVERIFY2(retrying.size() >= 6, qPrintable(QString::number(retrying.size())));
        for (const QList<QVariant> &r : std::as_const(retrying)) {
            QCOMPARE(r.at(0).toString(), schema.name);
            QVERIFY(r.at(1).toInt() == 1); // each fault is followed by a success
        }
        QVERIFY(std::is_sorted(done.cbegin(), done.cend()));
        QCOMPARE(done.last(), qint64(2000));
        compareWithServer(server, settings.databasePath);
    }

    void retryAfterIsHonoured()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(50, 121);
        SyncEngine engine(
            settingsFor(server),
            ProtocolClient::factory(settingsFor(server), []() -> QNetworkAccessManager * {
                auto *fake = new Test::FakeNetworkAccessManager;
                fake->addRule(Test::FakeRule::error(QStringLiteral("/count"), 429,
                                                    QStringLiteral("slow down"))
                                  .withHeader("Retry-After", "1")
                                  .once());
                return fake;
            }));
        QSignalSpy retrying(&engine, &SyncEngine::retrying);
        QVERIFY(syncAll(engine));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        QCOMPARE(retrying.size(), 1);
        QVERIFY(retrying.first().at(2).toInt() >= 1000);
        QVERIFY(retrying.first().at(3).toString().contains(QLatin1String("slow down")));
    }

    void malformedPageFailsAndKeepsWhatWasCommitted()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(1000, 131);
        const SyncSettings settings = settingsFor(server, PagingMode::Cursor, 100);
        QAtomicInt pages;
        SyncEngine engine(
            settings, ProtocolClient::factory(settings, [&pages]() -> QNetworkAccessManager * {
                auto *fake = new Test::FakeNetworkAccessManager;
                fake->addRule(Test::FakeRule::dynamic(
                    QStringLiteral("/changes"), [&pages](const QNetworkRequest &) {
                        const QString path = QStringLiteral("/changes");
                        if (pages.fetchAndAddRelaxed(1) != 4)
                            return Test::FakeRule::passThrough(path);
                        return Test::FakeRule::respond(
                            path, 200,
                            R"({"changes": [{"id": "x", "changedAt": "2026-01-01T00:00:00.000Z",)"
                            R"( "data": {"visits": "many"}}], "cursor": "9", "hasMore": true})");
                    }));
                return fake;
            }));
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QVERIFY(syncAll(engine));
        QCOMPARE(failed.size(), 1);
        QCOMPARE(failed.first().at(1).value<ErrorCategory>(), ErrorCategory::Protocol);
        const QString message = failed.first().at(2).toString();
        QVERIFY2(message.contains(QLatin1String("visits")), qPrintable(message));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Failed);
        QCOMPARE(engine.entity(schema.name).done, qint64(400));
        QCOMPARE(localRecords(settings.databasePath, schema).size(), 400);
        QVERIFY(!localRecords(settings.databasePath, schema).contains(QStringLiteral("x")));

        // Started again, it continues from the last committed page and ends exact.
        QVERIFY(syncAll(engine));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        QCOMPARE(engine.entity(schema.name).done, qint64(1000));
        compareWithServer(server, settings.databasePath);
    }

    void endlessHasMoreFailsInsteadOfLooping()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(10, 141);
        SyncEngine engine(
            settingsFor(server),
            ProtocolClient::factory(settingsFor(server), []() -> QNetworkAccessManager * {
                auto *fake = new Test::FakeNetworkAccessManager;
                fake->addRule(
                    Test::FakeRule::respond(QStringLiteral("/changes"), 200,
                                            R"({"changes": [], "cursor": "5", "hasMore": true})"));
                return fake;
            }));
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QVERIFY(syncAll(engine, 20000));
        QCOMPARE(engine.entity(schema.name).state, SyncState::Failed);
        QCOMPARE(failed.first().at(1).value<ErrorCategory>(), ErrorCategory::Protocol);
        QVERIFY(failed.first().at(2).toString().contains(QLatin1String("nothing new")));
    }

    void batchSizerConvergesOnTheTarget_data()
    {
        // A modelled link: a batch of n records takes latency + n * perRecord.
        QTest::addColumn<double>("latencyMs");
        QTest::addColumn<double>("perRecordMs");
        QTest::addColumn<int>("initial");
        QTest::addColumn<int>("targetMs");
        QTest::addColumn<int>("expected"); // 0: a size whose batches take the target
        QTest::newRow("fast link grows to the largest batch")
            << 2.0 << 0.01 << 1000 << 250 << SyncSettings::MaxBatchSize;
        QTest::newRow("loopback, 4 ms per 1000")
            << 1.0 << 0.004 << 100 << 250 << SyncSettings::MaxBatchSize;
        QTest::newRow("medium link") << 10.0 << 0.1 << 1000 << 250 << 0;
        QTest::newRow("slow link") << 40.0 << 0.5 << 10000 << 250 << 0;
        QTest::newRow("slow link, from the smallest") << 40.0 << 0.5 << 100 << 250 << 0;
        QTest::newRow("long target") << 50.0 << 0.2 << 1000 << 1000 << 0;
        QTest::newRow("latency beyond the target shrinks to the smallest")
            << 300.0 << 0.01 << 1000 << 250 << SyncSettings::MinBatchSize;
    }

    void batchSizerConvergesOnTheTarget()
    {
        QFETCH(double, latencyMs);
        QFETCH(double, perRecordMs);
        QFETCH(int, initial);
        QFETCH(int, targetMs);
        QFETCH(int, expected);
        BatchSizer sizer(initial, SyncSettings::MinBatchSize, SyncSettings::MaxBatchSize, targetMs);
        QList<int> sizes;
        for (int batch = 0; batch < 30; ++batch) {
            const int size = sizer.size();
            sizes.append(size);
            const double took = latencyMs + size * perRecordMs;
            sizer.update(size, size, qint64(std::lround(took)));
        }
        const int final = sizer.size();
        // Settled: the last batches kept one size.
        QVERIFY2(sizes.mid(20).count(final) == 10, qPrintable(sizesText(sizes)));
        if (expected != 0) {
            QCOMPARE(final, expected);
        } else {
            const double took = latencyMs + final * perRecordMs;
            // Within the tolerance, widened by the rounding to whole hundreds.
            const double slack = targetMs * BatchSizer::Tolerance + 100 * perRecordMs;
            QVERIFY2(std::abs(took - targetMs) <= slack,
                     qPrintable(QStringLiteral("size %1 takes %2 ms").arg(final).arg(took)));
        }
        QVERIFY(final >= SyncSettings::MinBatchSize && final <= SyncSettings::MaxBatchSize);
        QCOMPARE(final % 100, 0);
    }

    void batchSizerIgnoresShortBatchesAndDampsOutliers()
    {
        BatchSizer sizer(2000, SyncSettings::MinBatchSize, SyncSettings::MaxBatchSize, 250);
        // The end of the changes: fewer records than asked for says nothing.
        QCOMPARE(sizer.update(2000, 150, 5), 2000);
        // Within the tolerance: left alone.
        QCOMPARE(sizer.update(2000, 2000, 270), 2000);
        // A batch 50 times too slow at most halves the size; one 100 times too fast at most
        // doubles it.
        QCOMPARE(sizer.update(2000, 2000, 12500), 1000);
        QCOMPARE(sizer.update(1000, 1000, 2), 2000);
        // A batch asked for before the last change of size is scaled from its own size.
        QCOMPARE(sizer.update(1000, 1000, 500), 500);
        QCOMPARE(sizer.update(1000, 1000, 500), 500);
        // An out-of-range start is brought into range.
        QCOMPARE(BatchSizer(50, 100, 10000, 250).size(), 100);
        QCOMPARE(BatchSizer(20000, 100, 10000, 250).size(), 10000);
    }

    void adaptiveBatchSizeFollowsTheLink_data()
    {
        QTest::addColumn<int>("records");
        QTest::addColumn<int>("pageDelayMs");
        QTest::addColumn<int>("targetMs");
        QTest::addColumn<int>("expectedLastFullPage");
        // Any page over loopback takes far less than 10 s: the size doubles up to the largest.
        QTest::newRow("fast link")
            << 60000 << 0 << SyncSettings::MaxTargetBatchMs << SyncSettings::MaxBatchSize;
        // Every page takes at least 120 ms, whatever its size: the size halves to the smallest.
        QTest::newRow("slow link") << 5000 << 120 << 40 << SyncSettings::MinBatchSize;
    }

    void adaptiveBatchSizeFollowsTheLink()
    {
        QFETCH(int, records);
        QFETCH(int, pageDelayMs);
        QFETCH(int, targetMs);
        QFETCH(int, expectedLastFullPage);
        Test::TestServer server;
        server.server()->setPageDelay(pageDelayMs);
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(records, 151);
        QList<int> pages;
        connect(server.server(), &SyncServer::pageServed, this,
                [&pages](const QString &, int served) { pages.append(served); });

        SyncSettings settings = settingsFor(server, PagingMode::Cursor, 1000);
        settings.adaptiveBatchSize = true;
        settings.targetBatchMs = targetMs;
        SyncEngine engine(settings);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QVERIFY(syncAll(engine));
        QVERIFY(failed.isEmpty());
        QCOMPARE(engine.entity(schema.name).state, SyncState::Completed);
        compareWithServer(server, settings.databasePath);

        QVERIFY2(pages.size() >= 3, qPrintable(QString::number(pages.size())));
        QCOMPARE(pages.first(), 1000);
        // The last page is the short remainder (or empty); the one before it is full.
        const int lastFull = pages.at(pages.size() - 2);
        QVERIFY2(lastFull == expectedLastFullPage, qPrintable(sizesText(pages)));
        for (int served : std::as_const(pages))
            QVERIFY(served <= SyncSettings::MaxBatchSize);
    }

    void invalidSettingsFailClearly()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(10, 101);
        SyncSettings settings = settingsFor(server);
        settings.batchSize = 50;
        SyncEngine engine(settings);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QVERIFY(syncAll(engine, 5000));
        QVERIFY(!failed.isEmpty());
        QVERIFY2(failed.first().at(2).toString().contains(QLatin1String("batch size")),
                 qPrintable(failed.first().at(2).toString()));
    }
};

QTEST_GUILESS_MAIN(TestEngine)
#include "tst_engine.moc"
