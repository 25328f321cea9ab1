// The push under kills: the real batchsync --headless, pushing local edits to a real
// SyncServer in this thread through a proxy that interrupts it at chosen moments of a push:
// - the client killed (SIGKILL) when its request arrives, before the server sees it;
// - the server's answer lost after the server applied the batch, the client killed then;
// - the client killed just after the answer reached it (while it records the results);
// - the server's answer lost (as if the server died after its commit), the client alive.
// After each round the next complete run must leave the server and the local database with
// the same records, nothing pending, and exactly one applied change per local change:
// nothing lost, nothing applied twice. The randomness is seeded: BATCHSYNC_TEST_SEED
// reproduces a run. On SQLite, or on PostgreSQL with BATCHSYNC_TEST_BACKEND=postgres and
// BATCHSYNC_TEST_POSTGRES set (the ctest entry tst_pushkill_postgres).

#include "common/types.h"
#include "server/backend/serverstore.h"
#include "server/syncserver.h"
#include "testutil/pgtest.h"
#include "testutil/rawdb.h"
#include "testutil/testserver.h"

#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QProcess>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <functional>
#include <memory>

using namespace BatchSync;

namespace {

constexpr int Records = 1500;
constexpr int BatchSize = 100;
constexpr int MinimumKills = 20;
constexpr int RunGuardMs = 120000; // a hang guard, not a timing expectation

const QString PgDatabase = QStringLiteral("bs_tst_pushkill");

quint32 testSeed()
{
    static const quint32 seed = [] {
        bool ok = false;
        const quint32 forced = qEnvironmentVariable("BATCHSYNC_TEST_SEED").toUInt(&ok);
        return ok ? forced : QRandomGenerator::global()->generate();
    }();
    return seed;
}

/*
    Forwards connections to the server. Each POST that arrives is numbered; the test's
    handlers decide, for a POST, what happens when it arrives and when the server's answer
    comes back.
*/
class Proxy final : public QObject
{
    Q_OBJECT

public:
    enum class Action { Forward, Drop };
    std::function<Action(int post)> onRequest; // before the request reaches the server
    std::function<Action(int post)> onAnswer; // the server answered (it applied the batch)
    std::function<void(int post)> afterAnswer; // the answer was passed on

    explicit Proxy(quint16 target)
        : m_target(target)
    {
        connect(&m_listener, &QTcpServer::newConnection, this, &Proxy::accept);
    }
    bool listen() { return m_listener.listen(QHostAddress::LocalHost); }
    /*! Where new connections go from now on. */
    void setTarget(quint16 target) { m_target = target; }
    quint16 port() const { return m_listener.serverPort(); }
    int posts() const { return m_posts; }

private:
    void accept()
    {
        while (QTcpSocket *client = m_listener.nextPendingConnection()) {
            auto *server = new QTcpSocket(client);
            server->connectToHost(QHostAddress::LocalHost, m_target);
            // A server that is down: the client sees its connection closed, as it would.
            connect(server, &QTcpSocket::errorOccurred, client, [client] { client->abort(); });
            auto post = std::make_shared<int>(0); // the POST in flight on this connection
            const auto drop = [client, server] {
                server->abort();
                client->abort();
                client->deleteLater();
            };
            connect(client, &QTcpSocket::readyRead, this, [=] {
                const QByteArray bytes = client->readAll();
                if (bytes.startsWith("POST ")) {
                    *post = ++m_posts;
                    if (onRequest && onRequest(*post) == Action::Drop) {
                        drop();
                        return;
                    }
                } else if (bytes.startsWith("GET ")) {
                    *post = 0;
                }
                server->write(bytes);
            });
            connect(server, &QTcpSocket::readyRead, this, [=] {
                const QByteArray bytes = server->readAll();
                if (*post > 0 && bytes.startsWith("HTTP/")) {
                    const int number = *post;
                    if (onAnswer && onAnswer(number) == Action::Drop) {
                        drop();
                        return;
                    }
                    client->write(bytes);
                    if (afterAnswer)
                        afterAnswer(number);
                    return;
                }
                client->write(bytes);
            });
            connect(client, &QTcpSocket::disconnected, server, &QTcpSocket::disconnectFromHost);
            connect(client, &QTcpSocket::disconnected, client, &QObject::deleteLater);
            connect(server, &QTcpSocket::disconnected, client, &QTcpSocket::disconnectFromHost);
        }
    }

    QTcpServer m_listener;
    quint16 m_target;
    int m_posts = 0;
};

} // namespace

class TestPushKill final : public QObject
{
    Q_OBJECT

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<Test::TestServer> m_server;
    std::unique_ptr<Proxy> m_proxy;
    QProcess *m_child = nullptr;
    int m_kills = 0;
    int m_lostAnswers = 0;
    qint64 m_changesPushed = 0;
    int m_tests = 0;
    QString m_schema; // PostgreSQL: the current test's schema
    QString m_postgres; // and its connection

    QString path() const { return m_dir->filePath(QStringLiteral("local.sqlite")); }

    // The entity's change sequence: one more per change the server applied (PostgreSQL,
    // whose numbers have gaps: the writes counted by a trigger).
    qint64 serverSequence() const
    {
        if (Test::PgTest::selected())
            return Test::PgTest::writes(m_postgres);
        int records = 0;
        const std::optional<QByteArray> body
            = m_server->backend()->changesJson(QStringLiteral("customers"), PagingMode::Cursor,
                                               QString(), 0, 10000, &records, nullptr);
        return QJsonDocument::fromJson(body.value_or(QByteArray()))
            .object()
            .value(QStringLiteral("cursor"))
            .toString()
            .toLongLong();
    }

    // Runs batchsync once, through the proxy; \a killed says whether the test killed it.
    bool runChild(bool *killed)
    {
        QProcess process;
        m_child = &process;
        process.setProgram(QStringLiteral(BATCHSYNC_BIN));
        QUrl endpoint = m_server->baseUrl();
        endpoint.setPort(m_proxy->port());
        process.setArguments({ QStringLiteral("--headless"), QStringLiteral("--endpoint"),
                               endpoint.toString(), QStringLiteral("--db"), path(),
                               QStringLiteral("--batch-size"), QString::number(BatchSize) });
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(QStringLiteral("HOME"), m_dir->path());
        environment.insert(QStringLiteral("XDG_CONFIG_HOME"), m_dir->filePath("config"));
        environment.insert(QStringLiteral("XDG_DATA_HOME"), m_dir->filePath("data"));
        process.setProcessEnvironment(environment);
        QSignalSpy finished(&process, &QProcess::finished);
        process.start();
        const bool ended = finished.wait(RunGuardMs);
        m_child = nullptr;
        if (!ended) {
            process.kill();
            finished.wait(10000);
            qWarning("batchsync did not end");
            return false;
        }
        *killed = process.exitStatus() == QProcess::CrashExit;
        if (!*killed && process.exitCode() != 0) {
            qWarning().noquote() << "batchsync failed with" << process.exitCode() << ":"
                                 << process.readAllStandardError()
                                 << process.readAllStandardOutput();
            return false;
        }
        return true;
    }

    void killChild()
    {
        if (m_child && m_child->state() == QProcess::Running) {
            m_child->kill();
            ++m_kills;
        }
    }

    // Random edits of one round: updates with values never written before, inserts and
    // deletions. Returns the changes they make (one per record touched).
    qint64 editRound(QRandomGenerator &random, int round)
    {
        Test::RawDb db(path());
        const QStringList ids = [&db] {
            QStringList list;
            for (const QVariantList &row : db.rows(QStringLiteral("SELECT id FROM customers")))
                list.append(row.at(0).toString());
            return list;
        }();
        const int edits = 150 + int(random.bounded(250));
        for (int i = 0; i < edits; ++i) {
            const QString id = ids.at(int(random.bounded(ids.size())));
            const int kind = int(random.bounded(10));
            QString sql;
            if (kind == 0)
                sql = QStringLiteral("DELETE FROM customers WHERE id = '%1'").arg(id);
            else
                sql = QStringLiteral("UPDATE customers SET visits = %1, name = 'r%2 e%3' "
                                     "WHERE id = '%4'")
                          .arg(qint64(round) * 100000 + i)
                          .arg(round)
                          .arg(i)
                          .arg(id);
            if (!db.exec(sql, nullptr))
                return -1;
        }
        for (int i = 0; i < 20; ++i) {
            if (!db.exec(QStringLiteral("INSERT INTO customers (id, name, balance, active, "
                                        "visits, since) VALUES ('n%1-%2', 'new', 2.25, 0, %3, "
                                        "'2026-12-07T01:02:03.004Z')")
                             .arg(round)
                             .arg(i)
                             .arg(i),
                         nullptr))
                return -1;
        }
        return db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toLongLong();
    }

    // The local records and the server's live ones, field by field, as text.
    QString difference()
    {
        Test::RawDb db(path());
        const QHash<QString, QVariantList> live
            = m_server->backend()->liveRecords(QStringLiteral("customers"));
        const QList<QVariantList> rows = db.rows(QStringLiteral(
            "SELECT id, name, balance, active, visits, since FROM customers ORDER BY id"));
        if (rows.size() != live.size())
            return QStringLiteral("%1 local records, %2 on the server")
                .arg(rows.size())
                .arg(live.size());
        for (const QVariantList &row : rows) {
            const QString id = row.at(0).toString();
            const QVariantList server = live.value(id);
            if (server.isEmpty())
                return QStringLiteral("%1 is not on the server").arg(id);
            const bool same = row.at(1).toString() == server.at(0).toString()
                && row.at(2).toDouble() == server.at(1).toDouble()
                && row.at(3).toBool() == server.at(2).toBool()
                && row.at(4).toLongLong() == server.at(3).toLongLong()
                && row.at(5).toString() == server.at(4).toString();
            if (!same)
                return QStringLiteral("%1 differs: local %2, server %3")
                    .arg(id, QVariant(row).toStringList().join(u','),
                         QVariant(server).toStringList().join(u','));
        }
        return QString();
    }

    // What is wrong at the end of a round that began at server sequence \a before with
    // \a changes local changes: both sides must hold the same records, nothing may be pending
    // or in conflict, and exactly one change per local change must have been applied (none
    // lost, none twice). Empty when all is right.
    QString roundProblem(qint64 before, qint64 changes)
    {
        const QString different = difference();
        if (!different.isEmpty())
            return different;
        Test::RawDb db(path());
        const qint64 pending
            = db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toLongLong();
        const qint64 conflicts
            = db.scalar(QStringLiteral("SELECT count(*) FROM _sync_conflicts")).toLongLong();
        const qint64 applied = serverSequence() - before;
        if (pending != 0 || conflicts != 0 || applied != changes)
            return QStringLiteral("%1 pending, %2 conflicts, %3 changes applied for %4 local ones")
                .arg(pending)
                .arg(conflicts)
                .arg(applied)
                .arg(changes);
        return QString();
    }

private Q_SLOTS:
    void initTestCase()
    {
        qInfo("seed %u (set BATCHSYNC_TEST_SEED=%u to run the same kills again)", testSeed(),
              testSeed());
        BATCHSYNC_SKIP_UNLESS_POSTGRES_USABLE();
    }

    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        m_server = std::make_unique<Test::TestServer>();
        if (Test::PgTest::selected()) {
            m_schema = QStringLiteral("p%1").arg(++m_tests);
            m_postgres = Test::PgTest::connection(PgDatabase, m_schema, true);
            QVERIFY(!m_postgres.isEmpty());
            QVERIFY(m_server->startPostgres(m_postgres));
        } else {
            QVERIFY(m_server->start());
        }
        m_server->addCustomers(Records, testSeed());
        if (Test::PgTest::selected())
            QVERIFY(Test::PgTest::countWrites(m_postgres, QStringLiteral("customers")));
        m_proxy = std::make_unique<Proxy>(m_server->server()->port());
        QVERIFY(m_proxy->listen());
        bool killed = false;
        QVERIFY(runChild(&killed));
        QVERIFY(!killed);
        QVERIFY(difference().isEmpty());
    }

    void cleanup()
    {
        m_proxy.reset();
        m_server.reset();
        m_dir.reset();
        if (!m_schema.isEmpty())
            Test::PgTest::dropSchema(PgDatabase, m_schema);
        m_schema.clear();
    }

    void cleanupTestCase()
    {
        qInfo("killed %d times during pushes, lost %d answers after the server applied them, "
              "%lld changes pushed exactly once",
              m_kills, m_lostAnswers, m_changesPushed);
    }

    void killsAtEveryMomentOfAPush()
    {
        QRandomGenerator random(testSeed());
        int round = 0;
        while (m_kills < MinimumKills) {
            ++round;
            QVERIFY2(round <= 60, "the kills never came");
            const qint64 before = serverSequence();
            const qint64 changes = editRound(random, round);
            QVERIFY(changes > 0);
            const int startPost = m_proxy->posts();
            // Kill once or twice in this round, each time at the n-th POST of the run, at one
            // of three moments; or lose an answer without killing.
            const int interruptions = 1 + int(random.bounded(2));
            for (int i = 0; i < interruptions; ++i) {
                const int at = m_proxy->posts() + 1 + int(random.bounded(3));
                const int moment = int(random.bounded(4));
                m_proxy->onRequest = [&, at, moment](int post) {
                    if (post != at || moment != 0)
                        return Proxy::Action::Forward;
                    killChild();
                    return Proxy::Action::Drop;
                };
                m_proxy->onAnswer = [&, at, moment](int post) {
                    if (post != at || (moment != 1 && moment != 3))
                        return Proxy::Action::Forward;
                    ++m_lostAnswers;
                    if (moment == 1)
                        killChild();
                    return Proxy::Action::Drop;
                };
                const int delayMs = int(random.bounded(15));
                m_proxy->afterAnswer = [&, at, moment, delayMs](int post) {
                    if (post == at && moment == 2)
                        QTimer::singleShot(delayMs, this, [this] { killChild(); });
                };
                bool killed = false;
                QVERIFY(runChild(&killed));
            }
            m_proxy->onRequest = nullptr;
            m_proxy->onAnswer = nullptr;
            m_proxy->afterAnswer = nullptr;
            bool killed = false;
            QVERIFY(runChild(&killed));
            QVERIFY(!killed);
            QVERIFY(m_proxy->posts() > startPost);

            const QString problem = roundProblem(before, changes);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            m_changesPushed += changes;
        }
    }

    // The real batchsync-server killed (SIGKILL) after it committed a batch and before its
    // answer left, then started again on the same database: the client, never told, sends
    // the batch again and the restarted server answers it from what it remembered.
    void serverKilledBetweenApplyingAndAnswering()
    {
        QProcess server;
        const auto startServer = [&]() -> quint16 {
            QStringList arguments { QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0") };
            if (Test::PgTest::selected())
                arguments << QStringLiteral("--postgres") << m_postgres;
            else
                arguments << QStringLiteral("--db") << m_server->directory() + "/server.sqlite";
            server.start(QStringLiteral(BATCHSYNC_SERVER_BIN), arguments);
            QElapsedTimer started;
            started.start();
            while (!server.canReadLine() && server.state() != QProcess::NotRunning
                   && started.elapsed() < 30000)
                server.waitForReadyRead(100);
            const QString line = QString::fromUtf8(server.readLine()).trimmed();
            if (!line.startsWith(QLatin1String("Serving protocol v1 at "))) {
                qWarning().noquote() << line << server.readAllStandardError();
                return 0;
            }
            return quint16(QUrl(line.section(u' ', -1)).port());
        };
        quint16 port = startServer();
        QVERIFY(port != 0);
        m_proxy->setTarget(port);

        QRandomGenerator random(testSeed() + 1);
        for (int round = 1; round <= 3; ++round) {
            const qint64 before = serverSequence();
            const qint64 changes = editRound(random, 100 + round);
            QVERIFY(changes > 0);
            // One of the round's requests (a batch of BatchSize changes each).
            const int requests = int((changes + BatchSize - 1) / BatchSize);
            const int at = m_proxy->posts() + 1 + int(random.bounded(requests));
            bool restarted = false;
            m_proxy->onAnswer = [&, at](int post) {
                if (post != at || restarted)
                    return Proxy::Action::Forward;
                // The batch is committed: the answer is on its way, and the server dies.
                server.kill();
                server.waitForFinished(10000);
                ++m_lostAnswers;
                port = startServer();
                m_proxy->setTarget(port);
                restarted = true;
                return Proxy::Action::Drop;
            };
            bool killed = false;
            QVERIFY(runChild(&killed));
            m_proxy->onAnswer = nullptr;
            QVERIFY(!killed);
            QVERIFY(restarted);
            QVERIFY(port != 0);
            const QString problem = roundProblem(before, changes);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            m_changesPushed += changes;
        }
        server.kill();
        server.waitForFinished(10000);
    }
};

QTEST_GUILESS_MAIN(TestPushKill)
#include "tst_pushkill.moc"
