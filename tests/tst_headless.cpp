// Runs the real batchsync binary (--headless) against a real SyncServer in this thread.
// Every wait goes through the event loop (QSignalSpy::wait), which serves the HTTP requests.

#include "common/identifier.h"
#include "common/types.h"
#include "server/serverstore.h"
#include "server/syncserver.h"
#include "testutil/localdb.h"
#include "testutil/testserver.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <csignal>
#include <functional>
#include <memory>

using namespace BatchSync;

namespace {

constexpr int RunTimeoutMs = 120000;
constexpr int DemoTimeoutMs = 400000;

struct RunResult
{
    bool finished = false;
    int exitCode = -1;
    QProcess::ExitStatus exitStatus = QProcess::CrashExit;
    QString out;
    QString err;
    qint64 elapsedMs = 0;

    bool exitedWith(int code) const
    {
        return finished && exitStatus == QProcess::NormalExit && exitCode == code;
    }

    QString describe() const
    {
        const QString how = !finished           ? QStringLiteral("TIMED OUT")
            : exitStatus == QProcess::CrashExit ? QStringLiteral("crashed")
                                                : QStringLiteral("finished");
        return QStringLiteral("exit %1 (%2) after %3 ms\n--- stdout ---\n%4--- stderr ---\n%5")
            .arg(exitCode)
            .arg(how)
            .arg(elapsedMs)
            .arg(out, err);
    }
};

// QtTest cuts long failure messages: the child's whole output goes to the log first.
#define VERIFY_RUN(condition, result)                                                              \
    do {                                                                                           \
        if (!(condition))                                                                          \
            qWarning().noquote() << (result).describe();                                           \
        QVERIFY2(condition, "the output of batchsync is above");                                   \
    } while (false)


// Empty when the local table holds exactly the server's live records; else what differs.
QString compareWithServer(const QString &databasePath, ServerStore *store,
                          const QString &entityName)
{
    const std::optional<EntitySchema> schema = store->entity(entityName);
    if (!schema)
        return QStringLiteral("the server has no entity %1").arg(entityName);
    return Test::differences(databasePath, *schema, store->liveRecords(entityName));
}

qint64 localCount(const QString &databasePath, const EntitySchema &schema)
{
    return Test::localRecords(databasePath, schema).size();
}

// New values for every field of \a schema, distinct per \a index.
QVariantMap changedData(const EntitySchema &schema, int index)
{
    QVariantMap data;
    for (const FieldSpec &field : schema.fields) {
        switch (field.type) {
        case FieldType::String:
            data.insert(field.name, QStringLiteral("changed %1").arg(index));
            break;
        case FieldType::Int:
            data.insert(field.name, qint64(1000000 + index));
            break;
        case FieldType::Real:
            data.insert(field.name, 0.25 + index);
            break;
        case FieldType::Bool:
            data.insert(field.name, index % 2 == 0);
            break;
        case FieldType::DateTime:
            data.insert(field.name,
                        QStringLiteral("2030-01-02T03:04:%1.000Z")
                            .arg(index % 60, 2, 10, QLatin1Char('0')));
            break;
        }
    }
    return data;
}

quint16 unusedPort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    const quint16 port = probe.serverPort();
    probe.close();
    return port;
}

} // namespace

class TestHeadless final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void help();
    void version();
    void withoutHeadless();
    void badFlags_data();
    void badFlags();

    void fullSync();
    void secondRunPullsOnlyChanges();
    void offsetPaging();
    void selectedEntities();
    void unknownEntity();
    void wrongToken();
    void tokenFromEnvironment();
    void deadEndpoint();
    void liveDisplayOnTerminal();
    void interruptAndResume_data();
    void interruptAndResume();
    void embeddedDemo();

private:
    /*! Runs batchsync with \a arguments (or \a program with \a programArguments). */
    RunResult run(const QStringList &arguments, int timeoutMs = RunTimeoutMs,
                  const std::function<void(QProcess *)> &whileRunning = {},
                  const QProcessEnvironment &extraEnvironment = {},
                  const QString &program = QString(), const QStringList &programArguments = {});
    QStringList syncArguments(const Test::TestServer &server) const;
    QString databasePath() const { return m_home->filePath(QStringLiteral("local.sqlite")); }

    std::unique_ptr<QTemporaryDir> m_home;
};

void TestHeadless::initTestCase()
{
    QVERIFY2(QFileInfo(QStringLiteral(BATCHSYNC_BIN)).isExecutable(), BATCHSYNC_BIN);
    QVERIFY(QSqlDatabase::isDriverAvailable(QStringLiteral("QSQLITE")));
}

void TestHeadless::init()
{
    m_home = std::make_unique<QTemporaryDir>();
    QVERIFY(m_home->isValid());
}

void TestHeadless::cleanup()
{
    m_home.reset();
}

RunResult TestHeadless::run(const QStringList &arguments, int timeoutMs,
                            const std::function<void(QProcess *)> &whileRunning,
                            const QProcessEnvironment &extraEnvironment,
                            const QString &program, const QStringList &programArguments)
{
    // The child never touches the real home: its default database goes to a temporary one.
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.remove(QStringLiteral("BATCHSYNC_TOKEN"));
    environment.insert(QStringLiteral("HOME"), m_home->path());
    environment.insert(QStringLiteral("XDG_DATA_HOME"), m_home->filePath(QStringLiteral("data")));
    environment.insert(QStringLiteral("XDG_CONFIG_HOME"),
                       m_home->filePath(QStringLiteral("config")));
    environment.insert(extraEnvironment);

    QProcess process;
    process.setProgram(program.isEmpty() ? QStringLiteral(BATCHSYNC_BIN) : program);
    process.setArguments(program.isEmpty() ? arguments : programArguments);
    process.setProcessEnvironment(environment);
    QSignalSpy finished(&process, &QProcess::finished);
    QSignalSpy failedToStart(&process, &QProcess::errorOccurred);

    RunResult result;
    QElapsedTimer clock;
    clock.start();
    process.start();
    if (whileRunning)
        whileRunning(&process);
    result.finished = finished.wait(timeoutMs);
    result.elapsedMs = clock.elapsed();
    if (!result.finished) {
        if (!failedToStart.isEmpty())
            qWarning() << "batchsync did not start:" << process.errorString();
        process.kill();
        finished.wait(5000);
    } else {
        result.exitCode = process.exitCode();
        result.exitStatus = process.exitStatus();
    }
    result.out = QString::fromLocal8Bit(process.readAllStandardOutput());
    result.err = QString::fromLocal8Bit(process.readAllStandardError());
    return result;
}

QStringList TestHeadless::syncArguments(const Test::TestServer &server) const
{
    return { QStringLiteral("--headless"), QStringLiteral("--endpoint"),
             server.baseUrl().toString(), QStringLiteral("--db"), databasePath() };
}

void TestHeadless::help()
{
    const RunResult result = run({ QStringLiteral("--help") });
    VERIFY_RUN(result.exitedWith(0), result);
    const QStringList flags { "--headless",    "--endpoint",         "--db",
                              "--token",       "--paging",           "--batch-size",
                              "--concurrency", "--entities",         "--help",
                              "--version",     "--retry-give-up-ms", "BATCHSYNC_TOKEN" };
    for (const QString &flag : flags)
        QVERIFY2(result.out.contains(flag),
                 qPrintable(flag + QStringLiteral(" missing in:\n") + result.out));
}

void TestHeadless::version()
{
    const RunResult result = run({ QStringLiteral("--version") });
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.out.startsWith(QStringLiteral("batchsync ")), result);
    VERIFY_RUN(result.out.contains(QRegularExpression(QStringLiteral("\\d+\\.\\d+"))), result);
}

void TestHeadless::withoutHeadless()
{
    // Without --headless the window opens (tst_ui tests it); bad flags are refused before.
    QProcessEnvironment offscreen;
    offscreen.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    RunResult result = run({ QStringLiteral("--batch-size"), QStringLiteral("5") }, RunTimeoutMs,
                           {}, offscreen);
    VERIFY_RUN(result.exitedWith(2), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("batch size")), result);
    result = run({ QStringLiteral("--entities"), QStringLiteral("customers") }, RunTimeoutMs, {},
                 offscreen);
    VERIFY_RUN(result.exitedWith(2), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("--headless")), result);
}

void TestHeadless::badFlags_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("expected"); // in the error message

    QTest::newRow("batch size too small") << QStringList { "--batch-size", "5" } << "batch size";
    QTest::newRow("batch size too large")
        << QStringList { "--batch-size", "20000" } << "batch size";
    QTest::newRow("batch size not a number")
        << QStringList { "--batch-size", "lots" } << "--batch-size";
    QTest::newRow("paging") << QStringList { "--paging", "foo" } << "--paging";
    QTest::newRow("no concurrency") << QStringList { "--concurrency", "0" } << "between 1 and 16";
    QTest::newRow("too much concurrency")
        << QStringList { "--concurrency", "17" } << "between 1 and 16";
    QTest::newRow("ftp endpoint") << QStringList { "--endpoint", "ftp://example.com/api/v1" }
                                  << "http";
    QTest::newRow("relative endpoint") << QStringList { "--endpoint", "example/api" } << "absolute";
    QTest::newRow("endpoint without host") << QStringList { "--endpoint", "http:/api" } << "host";
    QTest::newRow("bad entity name")
        << QStringList { "--entities", "customers,a;b" } << "--entities";
    QTest::newRow("no entity names") << QStringList { "--entities", "," } << "--entities";
    QTest::newRow("db folder missing")
        << QStringList { "--db", "/nonexistent-batchsync-folder/x.sqlite" } << "does not exist";
    QTest::newRow("unknown flag") << QStringList { "--bogus" } << "bogus";
    QTest::newRow("positional argument") << QStringList { "extra" } << "extra";
}

void TestHeadless::badFlags()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, expected);
    // A valid but dead endpoint, so that a flag wrongly accepted ends quickly anyway.
    const QStringList base { QStringLiteral("--headless"),
                             QStringLiteral("--endpoint"),
                             QStringLiteral("http://127.0.0.1:9/api/v1"),
                             QStringLiteral("--db"),
                             databasePath(),
                             QStringLiteral("--retry-give-up-ms"),
                             QStringLiteral("0") };
    const RunResult result = run(base + arguments, 30000);
    VERIFY_RUN(result.exitedWith(2), result);
    VERIFY_RUN(result.err.contains(expected), result);
    VERIFY_RUN(result.out.isEmpty(), result);
    QVERIFY2(!QFileInfo::exists(databasePath()), "bad flags must not touch the database");
}

void TestHeadless::fullSync()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(2500, 1);
    server.addCustomers(1200, 7, QStringLiteral("orders"));

    const RunResult result
        = run(syncArguments(server) + QStringList { "--batch-size", "500", "--concurrency", "2" });
    VERIFY_RUN(result.exitedWith(0), result);
    for (const QString &entity : { QStringLiteral("customers"), QStringLiteral("orders") }) {
        const QString difference = compareWithServer(databasePath(), server.store(), entity);
        QVERIFY2(difference.isEmpty(), qPrintable(difference));
    }
    QCOMPARE(server.server()->changesServed(), qint64(3700));
    VERIFY_RUN(result.out.contains(QStringLiteral("Synced 3700 records in ")), result);
    VERIFY_RUN(result.out.contains(QStringLiteral("customers: 2500 records")), result);
    VERIFY_RUN(result.out.contains(QStringLiteral("orders: 1200 records")), result);
    // Not a terminal: plain lines, no cursor movement.
    VERIFY_RUN(!result.err.contains(QLatin1Char('\x1b')), result);
    VERIFY_RUN(result.err.contains(server.baseUrl().toString()), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("customers: completed")), result);
}

void TestHeadless::secondRunPullsOnlyChanges()
{
    Test::TestServer server;
    QVERIFY(server.start());
    const EntitySchema schema = server.addCustomers(3000, 3);

    RunResult result = run(syncArguments(server));
    VERIFY_RUN(result.exitedWith(0), result);
    QString difference = compareWithServer(databasePath(), server.store(), schema.name);
    QVERIFY2(difference.isEmpty(), qPrintable(difference));

    // 7 updates, 3 deletions and 2 new records: 12 changes.
    QStringList ids = server.store()->liveRecords(schema.name).keys();
    ids.sort();
    QList<std::pair<QString, QVariantMap>> upserts;
    for (int i = 0; i < 7; ++i)
        upserts.append({ ids.at(i * 100), changedData(schema, i) });
    upserts.append({ QStringLiteral("new-1"), changedData(schema, 100) });
    upserts.append({ QStringLiteral("new-2"), changedData(schema, 101) });
    QString error;
    QVERIFY2(server.store()->upsert(schema.name, upserts, &error), qPrintable(error));
    QVERIFY2(server.store()->remove(schema.name, { ids.at(1), ids.at(2), ids.at(2000) }, &error),
             qPrintable(error));

    const qint64 servedBefore = server.server()->changesServed();
    result = run(syncArguments(server));
    VERIFY_RUN(result.exitedWith(0), result);
    QCOMPARE(server.server()->changesServed() - servedBefore, qint64(12));
    difference = compareWithServer(databasePath(), server.store(), schema.name);
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
    VERIFY_RUN(result.out.contains(QStringLiteral("Synced 12 records")), result);
}

void TestHeadless::offsetPaging()
{
    Test::TestServer server;
    QVERIFY(server.start());
    const EntitySchema schema = server.addCustomers(2300, 5);

    const QStringList arguments
        = syncArguments(server) + QStringList { "--paging", "offset", "--batch-size", "300" };
    RunResult result = run(arguments);
    VERIFY_RUN(result.exitedWith(0), result);
    QString difference = compareWithServer(databasePath(), server.store(), schema.name);
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
    VERIFY_RUN(result.err.contains(QStringLiteral("offset paging")), result);

    QStringList ids = server.store()->liveRecords(schema.name).keys();
    ids.sort();
    QString error;
    QVERIFY2(server.store()->upsert(schema.name, ids.at(10), changedData(schema, 1), &error),
             qPrintable(error));
    QVERIFY2(server.store()->remove(schema.name, { ids.at(20) }, &error), qPrintable(error));
    result = run(arguments);
    VERIFY_RUN(result.exitedWith(0), result);
    difference = compareWithServer(databasePath(), server.store(), schema.name);
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
}

void TestHeadless::selectedEntities()
{
    Test::TestServer server;
    QVERIFY(server.start());
    const EntitySchema customers = server.addCustomers(800, 1);
    server.addCustomers(600, 2, QStringLiteral("orders"));
    server.addCustomers(400, 3, QStringLiteral("invoices"));

    const RunResult result
        = run(syncArguments(server) + QStringList { "--entities", "orders, invoices" });
    VERIFY_RUN(result.exitedWith(0), result);
    for (const QString &entity : { QStringLiteral("orders"), QStringLiteral("invoices") }) {
        const QString difference = compareWithServer(databasePath(), server.store(), entity);
        QVERIFY2(difference.isEmpty(), qPrintable(difference));
    }
    QCOMPARE(server.server()->changesServed(), qint64(1000));
    // The other entity may have its (empty) table, but none of its records.
    QVERIFY(localCount(databasePath(), customers) <= 0);
    VERIFY_RUN(!result.out.contains(QStringLiteral("customers")), result);
    VERIFY_RUN(result.out.contains(QStringLiteral("Synced 1000 records")), result);
}

void TestHeadless::unknownEntity()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(300, 1);

    const RunResult result
        = run(syncArguments(server) + QStringList { "--entities", "customers,nosuch" });
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("nosuch: failed")), result);
    // The known one is synced all the same.
    const QString difference
        = compareWithServer(databasePath(), server.store(), QStringLiteral("customers"));
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
}

void TestHeadless::wrongToken()
{
    Test::TestServer server;
    QVERIFY(server.start(QStringLiteral("the-right-token")));
    server.addCustomers(100, 1);

    RunResult result = run(syncArguments(server) + QStringList { "--token", "a-wrong-token" });
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("refused the token")), result);
    QVERIFY2(!result.err.contains(QStringLiteral("a-wrong-token")), "the token must not be shown");
    QCOMPARE(server.server()->changesServed(), qint64(0));

    result = run(syncArguments(server));
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("requires a token")), result);
}

void TestHeadless::tokenFromEnvironment()
{
    Test::TestServer server;
    QVERIFY(server.start(QStringLiteral("s3cret")));
    server.addCustomers(250, 1);

    QProcessEnvironment environment;
    environment.insert(QStringLiteral("BATCHSYNC_TOKEN"), QStringLiteral("s3cret"));
    const RunResult result = run(syncArguments(server), RunTimeoutMs, {}, environment);
    VERIFY_RUN(result.exitedWith(0), result);
    const QString difference
        = compareWithServer(databasePath(), server.store(), QStringLiteral("customers"));
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
}

void TestHeadless::deadEndpoint()
{
    const quint16 port = unusedPort();
    QVERIFY(port != 0);
    const QString endpoint = QStringLiteral("http://127.0.0.1:%1/api/v1").arg(port);

    // Connection refused is transient: the engine retries it; --retry-give-up-ms bounds that.
    const RunResult result = run({ "--headless", "--endpoint", endpoint, "--db", databasePath(),
                                   "--retry-give-up-ms", "1500" },
                                 30000);
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("cannot sync from ") + endpoint), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("refused")), result);
    VERIFY_RUN(result.elapsedMs < 20000, result);
}

void TestHeadless::liveDisplayOnTerminal()
{
    // util-linux script(1) gives the child a pseudo-terminal: the live display is drawn.
    const QString script = QStandardPaths::findExecutable(QStringLiteral("script"));
    if (script.isEmpty())
        QSKIP("script(1) is not installed");
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(3000, 4);
    server.addCustomers(2000, 5, QStringLiteral("orders"));
    // Long enough (50 pages of 100, 30 ms each) for the display to be redrawn several times.
    server.server()->setPageDelay(30);

    QStringList command { QStringLiteral(BATCHSYNC_BIN) };
    command += syncArguments(server) + QStringList { "--batch-size", "100" };
    for (QString &word : command)
        word = QLatin1Char('\'') + word + QLatin1Char('\'');
    const RunResult result = run({}, RunTimeoutMs, {}, {}, script,
                                 { "-q", "-f", "-e", "-c", command.join(QLatin1Char(' ')),
                                   "/dev/null" });
    VERIFY_RUN(result.exitedWith(0), result);
    // Lines redrawn in place (cursor up, erase line), then the summary.
    VERIFY_RUN(result.out.contains(QStringLiteral("\x1b[2A")), result);
    VERIFY_RUN(result.out.contains(QStringLiteral("\x1b[K")), result);
    VERIFY_RUN(result.out.contains(QRegularExpression(QStringLiteral(
                       "customers +\\[#{10,}\\] 3000/3000 100\\.0% completed +\\d+ rec/s in "))),
               result);
    VERIFY_RUN(result.out.contains(QStringLiteral("Synced 5000 records")), result);
    const QString difference = compareWithServer(databasePath(), server.store(),
                                                 QStringLiteral("orders"));
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
}

void TestHeadless::interruptAndResume_data()
{
    QTest::addColumn<int>("signalNumber");
    QTest::addColumn<int>("exitCode");
    QTest::newRow("SIGTERM") << int(SIGTERM) << 143;
    QTest::newRow("SIGINT") << int(SIGINT) << 130;
}

void TestHeadless::interruptAndResume()
{
    QFETCH(int, signalNumber);
    QFETCH(int, exitCode);
    Test::TestServer server;
    QVERIFY(server.start());
    const EntitySchema schema = server.addCustomers(20000, 9);
    const QStringList arguments
        = syncArguments(server) + QStringList { "--batch-size", "100", "--concurrency", "1" };

    // The signal after a few pages, from the server's side so that it is deterministic.
    int pages = 0;
    RunResult result = run(arguments, RunTimeoutMs, [&](QProcess *process) {
        connect(server.server(), &SyncServer::pageServed, process, [&pages, process, signalNumber] {
            if (++pages == 5)
                ::kill(pid_t(process->processId()), signalNumber);
        });
    });
    VERIFY_RUN(result.exitedWith(exitCode), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("Progress is saved")), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("customers: paused at")), result);

    const qint64 committed = localCount(databasePath(), schema);
    QVERIFY2(committed > 0 && committed < 20000, qPrintable(QString::number(committed)));

    // The next run resumes from the last commit: it pulls exactly what is left.
    const qint64 servedBefore = server.server()->changesServed();
    result = run(arguments);
    VERIFY_RUN(result.exitedWith(0), result);
    QCOMPARE(server.server()->changesServed() - servedBefore, 20000 - committed);
    const QString difference = compareWithServer(databasePath(), server.store(), schema.name);
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
    VERIFY_RUN(result.out.contains(QStringLiteral("Synced %1 records").arg(20000 - committed)),
               result);
}

void TestHeadless::embeddedDemo()
{
    // No --endpoint and no --db: the embedded demo server and the default database, both in
    // the (temporary) application data folder.
    const RunResult result = run({ QStringLiteral("--headless") }, DemoTimeoutMs);
    VERIFY_RUN(result.exitedWith(0), result);
    const QString dataDir = m_home->filePath(QStringLiteral("data/BatchSync/batchsync"));
    // The window's file for the demo: both modes share its progress.
    VERIFY_RUN(QFileInfo::exists(dataDir + QStringLiteral("/demo.sqlite")), result);
    VERIFY_RUN(QFileInfo::exists(dataDir + QStringLiteral("/demo-server.sqlite")), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("embedded demo server")), result);
    VERIFY_RUN(result.out.contains(QStringLiteral("Synced ")), result);
}

QTEST_GUILESS_MAIN(TestHeadless)
#include "tst_headless.moc"
