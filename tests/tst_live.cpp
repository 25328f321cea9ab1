// Live sync (SyncEngine::setLive) against the real reference server: a change made on the
// server, or pushed by another client, lands in a live client's database without anyone
// starting a sync; a network cut (the server's port closed, then opened again) and a server
// that does not know GET /wait (answering 404, as a v1 server does) end with the client in
// step by itself. On SQLite, or on PostgreSQL with BATCHSYNC_TEST_BACKEND=postgres.

#include "engine/syncengine.h"
#include "sources/protocol/protocolclient.h"
#include "testutil/localdb.h"
#include "testutil/pushfixture.h"
#include "testutil/rawdb.h"

#include <QNetworkAccessManager>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

const QString PgDatabase = QStringLiteral("batchsync_live");

// A network whose requests for GET /wait go to a path the server does not have: the 404 a
// server of protocol v1 answers.
class NoWaitNetwork final : public QNetworkAccessManager
{
protected:
    QNetworkReply *createRequest(Operation operation, const QNetworkRequest &request,
                                 QIODevice *data) override
    {
        QNetworkRequest changed = request;
        QUrl url = request.url();
        if (url.path().endsWith(QLatin1String("/wait"))) {
            url.setPath(url.path() + QLatin1String("-unknown"));
            changed.setUrl(url);
        }
        return QNetworkAccessManager::createRequest(operation, changed, data);
    }
};

} // namespace

class TstLive : public QObject, private PushFixture
{
    Q_OBJECT

private slots:
    void initTestCase() { BATCHSYNC_SKIP_UNLESS_POSTGRES_USABLE(); }

    void init()
    {
        if (PgTest::selected()) {
            m_postgres = PgTest::connection(PgDatabase, QStringLiteral("live"), true);
            QVERIFY(!m_postgres.isEmpty());
        }
        QVERIFY(setUp());
        m_dir = std::make_unique<QTemporaryDir>();
    }
    void cleanup()
    {
        m_engines.clear();
        tearDown();
        m_dir.reset();
    }

    void aServerChangeReachesALiveClient()
    {
        SyncEngine *engine = liveEngine(path("a"));
        QSignalSpy states(engine, &SyncEngine::liveStateChanged);
        // Nothing to follow at first: everything syncs once, then one wait stays open.
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("a")), 20000);
        QTRY_COMPARE_WITH_TIMEOUT(engine->liveState(), LiveState::Waiting, 20000);

        QString error;
        QVERIFY(m_server->backend()->upsert("customers", "live-1",
                                            fullData("Live", 1).toVariantMap(), &error));
        QVERIFY(m_server->backend()->remove("customers", { m_ids.at(0) }, &error));
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("a")), 20000);
        bool woken = false;
        for (const QList<QVariant> &state : std::as_const(states)) {
            woken = woken
                || (state.at(0).value<LiveState>() == LiveState::Woken
                    && state.at(1).toStringList() == QStringList { "customers" });
        }
        QVERIFY(woken);
        QTRY_COMPARE_WITH_TIMEOUT(engine->liveState(), LiveState::Waiting, 20000);
    }

    void anotherClientsPushReachesIt()
    {
        liveEngine(path("a"));
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("a")), 20000);

        // Client b edits its own copy and syncs once, as any program would.
        SyncSettings b = settings(path("b"));
        {
            SyncEngine once(b);
            QSignalSpy finished(&once, &SyncEngine::finished);
            once.startAll();
            QVERIFY(finished.wait(20000));
        }
        {
            RawDb db(path("b"));
            QVERIFY(db.edit(QStringLiteral("UPDATE customers SET name = 'From b' WHERE id = '%1'")
                                .arg(m_ids.at(1))));
        }
        {
            SyncEngine once(b);
            QSignalSpy finished(&once, &SyncEngine::finished);
            once.startAll();
            QTRY_VERIFY_WITH_TIMEOUT(finished.size() > 0, 20000);
        }
        QCOMPARE(liveRecord(m_ids.at(1)).value("name").toString(), QStringLiteral("From b"));
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("a")), 20000);
    }

    void comesBackAfterANetworkCut()
    {
        SyncEngine *engine = liveEngine(path("a"));
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("a")), 20000);
        QTRY_COMPARE_WITH_TIMEOUT(engine->liveState(), LiveState::Waiting, 20000);

        const quint16 port = m_server->server()->port();
        m_server->server()->closeConnections();
        QTRY_COMPARE_WITH_TIMEOUT(engine->liveState(), LiveState::Offline, 20000);
        QString error;
        QVERIFY(m_server->backend()->upsert("customers", "while-away",
                                            fullData("Away", 2).toVariantMap(), &error));
        QCOMPARE(m_server->server()->listen(QHostAddress::LocalHost, port), port);
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("a")), 30000);
        QTRY_COMPARE_WITH_TIMEOUT(engine->liveState(), LiveState::Waiting, 30000);
    }

    void aServerWithoutWaitIsSyncedOnATimer()
    {
        SyncSettings s = settings(path("a"));
        s.liveTimerSeconds = 1;
        auto engine = std::make_unique<SyncEngine>(
            s, ProtocolClient::factory(s, [] { return new NoWaitNetwork; }));
        engine->setLive(true);
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("a")), 20000);
        QTRY_COMPARE_WITH_TIMEOUT(engine->liveState(), LiveState::Timer, 20000);
        QString error;
        QVERIFY(m_server->backend()->upsert("customers", "by-timer",
                                            fullData("Timer", 3).toVariantMap(), &error));
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("a")), 20000);
        m_engines.push_back(std::move(engine));
    }

    void turnedOffItStopsWaiting()
    {
        SyncEngine *engine = liveEngine(path("a"));
        QTRY_COMPARE_WITH_TIMEOUT(engine->liveState(), LiveState::Waiting, 20000);
        QTRY_COMPARE(m_server->server()->waitsHeld(), 1);
        engine->setLive(false);
        QTRY_COMPARE(engine->liveState(), LiveState::Off);
        QTRY_COMPARE(m_server->server()->waitsHeld(), 0);
        QString error;
        QVERIFY(m_server->backend()->upsert("customers", "unseen",
                                            fullData("Unseen", 4).toVariantMap(), &error));
        QTest::qWait(500);
        QVERIFY(!localRecords(path("a"), schema()).contains("unseen"));
    }

    // The real batchsync-server stopped, its data changed meanwhile, and started again on
    // the same port: the live client ends in step by itself.
    void comesBackAfterAServerRestart()
    {
        if (!m_postgres.isEmpty())
            QSKIP("SQLite: the server's file is changed while it is down");
        const QString serverDb = m_dir->filePath("server.sqlite");
        QProcess server;
        quint16 port = 0;
        QVERIFY(startServer(&server, serverDb, 0, &port));
        const EntitySchema schema = serverSchema(serverDb);
        SyncSettings s = settings(path("a"));
        s.endpoint = QUrl(QStringLiteral("http://127.0.0.1:%1/api/v1").arg(port));
        s.live = true;
        SyncEngine engine(s);
        QTRY_COMPARE_WITH_TIMEOUT(engine.liveState(), LiveState::Waiting, 30000);

        server.terminate();
        QVERIFY(server.waitForFinished(20000));
        QTRY_COMPARE_WITH_TIMEOUT(engine.liveState(), LiveState::Offline, 20000);
        {
            ServerStore store(serverDb, QStringLiteral("tst_live_restart"));
            QString error;
            QVERIFY2(store.open(&error), qPrintable(error));
            QVERIFY(store.upsert(schema.name, "while-down", { { "name", "Down" } }, &error));
        }
        QProcess again;
        quint16 samePort = 0;
        QVERIFY(startServer(&again, serverDb, port, &samePort));
        QCOMPARE(samePort, port);
        QTRY_VERIFY_WITH_TIMEOUT(
            localRecords(path("a"), schema).contains(QStringLiteral("while-down")), 60000);
        QTRY_COMPARE_WITH_TIMEOUT(engine.liveState(), LiveState::Waiting, 30000);
        again.terminate();
        again.waitForFinished(20000);
    }

    // Automatic sync without live: at start, then every autoSyncSeconds.
    void syncsAtStartAndOnItsTimer()
    {
        SyncSettings s = settings(path("a"));
        s.syncAtStart = true;
        s.autoSyncSeconds = 1;
        auto engine = std::make_unique<SyncEngine>(s);
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("a")), 20000);
        QCOMPARE(engine->liveState(), LiveState::Off);
        QCOMPARE(m_server->server()->waitsHeld(), 0);
        QString error;
        QVERIFY(m_server->backend()->upsert("customers", "by-auto-sync",
                                            fullData("Auto", 6).toVariantMap(), &error));
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("a")), 20000);
        m_engines.push_back(std::move(engine));
    }

    // batchsync --headless --live: runs until SIGTERM, with "live" events in JSON, and ends
    // with 0 when it was in step.
    void headlessLiveRunsUntilASignal()
    {
        QProcess client;
        client.start(BATCHSYNC_BIN,
                     { "--headless", "--live", "--progress", "json", "--endpoint",
                       m_server->baseUrl().toString(), "--db", path("h") });
        QVERIFY(client.waitForStarted());
        QByteArray out;
        QTRY_VERIFY_WITH_TIMEOUT(out.append(client.readAllStandardOutput())
                                     .contains("{\"event\":\"live\",\"state\":\"waiting\"}"),
                                 30000);
        QString error;
        QVERIFY(m_server->backend()->upsert("customers", "seen-live",
                                            fullData("Seen", 5).toVariantMap(), &error));
        QTRY_VERIFY_WITH_TIMEOUT(inStep(path("h")), 20000);
        QTRY_VERIFY_WITH_TIMEOUT(out.append(client.readAllStandardOutput())
                                     .contains("\"entities\":[\"customers\"],\"state\":\"woken\""),
                                 20000);
        client.terminate();
        QVERIFY(client.waitForFinished(20000));
        QCOMPARE(client.exitStatus(), QProcess::NormalExit);
        QCOMPARE(client.exitCode(), 0);
        out += client.readAllStandardOutput();
        QVERIFY2(out.contains("\"event\":\"summary\""), out.constData());
    }

private:
    static bool startServer(QProcess *server, const QString &database, quint16 port, quint16 *bound)
    {
        server->start(
            QStringLiteral(BATCHSYNC_SERVER_BIN),
            { "--db", database, "--port", QString::number(port), "--demo-scale", "0.001" });
        QByteArray out;
        static const QRegularExpression announced(QStringLiteral("127\\.0\\.0\\.1:(\\d+)/"));
        QElapsedTimer clock;
        clock.start();
        while (clock.elapsed() < 30000) {
            server->waitForReadyRead(100);
            out += server->readAllStandardOutput();
            const QRegularExpressionMatch match = announced.match(QString::fromLatin1(out));
            if (match.hasMatch()) {
                *bound = match.captured(1).toUShort();
                return true;
            }
            if (server->state() == QProcess::NotRunning)
                break;
        }
        qWarning("batchsync-server did not start: %s", server->readAllStandardError().constData());
        return false;
    }

    static EntitySchema serverSchema(const QString &database)
    {
        ServerStore store(database, QStringLiteral("tst_live_schema"));
        QString error;
        if (!store.open(&error))
            return EntitySchema();
        return store.entity(QStringLiteral("customers")).value_or(EntitySchema());
    }

    QString path(const QString &name) const { return m_dir->filePath(name + ".sqlite"); }

    SyncSettings settings(const QString &database) const
    {
        SyncSettings s;
        s.endpoint = m_server->baseUrl();
        s.databasePath = database;
        s.batchSize = 100;
        s.retryBaseDelayMs = 20;
        s.retryMaxDelayMs = 200;
        s.retryGiveUpMs = 3000;
        return s;
    }

    SyncEngine *liveEngine(const QString &database)
    {
        SyncSettings s = settings(database);
        s.live = true;
        return m_engines.emplace_back(std::make_unique<SyncEngine>(s)).get();
    }

    EntitySchema schema() const { return *m_server->backend()->entity("customers"); }

    bool inStep(const QString &database) const
    {
        if (!QFile::exists(database))
            return false;
        return differences(database, schema(), m_server->backend()->liveRecords("customers"))
            .isEmpty();
    }

    std::unique_ptr<QTemporaryDir> m_dir;
    std::vector<std::unique_ptr<SyncEngine>> m_engines;
};

QTEST_GUILESS_MAIN(TstLive)
#include "tst_live.moc"
