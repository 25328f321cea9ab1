// Runs the real batchsync binary (--headless) against a real SyncServer in this thread.
// Every wait goes through the event loop (QSignalSpy::wait), which serves the HTTP requests.

#include "common/identifier.h"
#include "common/timestamp.h"
#include "common/types.h"
#include "engine/progressinfo.h"
#include "output/entityprogress.h"
#include "output/jsonevents.h"
#include "server/backend/serverstore.h"
#include "server/syncserver.h"
#include "testutil/fakeodata.h"
#include "testutil/localdb.h"
#include "testutil/rawdb.h"
#include "testutil/testserver.h"

#include <QCryptographicHash>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>
#include <QProcess>
#include <QRegularExpression>
#include <QSettings>
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

// Secrets that no output of batchsync may ever show.
const QString SecretPassword = QStringLiteral("Tr0ub4dor&3-secret");
const QString SecretToken = QStringLiteral("tok-9f8e7d-secret");

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
        case FieldType::Decimal:
            data.insert(field.name, QStringLiteral("%1.50").arg(index));
            break;
        }
    }
    return data;
}

// Every line of \a text as a JSON object; empty with \a problem set if a line is not one.
QList<QJsonObject> jsonLines(const QString &text, QString *problem)
{
    QList<QJsonObject> events;
    const QStringList lines = text.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    for (const QString &line : lines) {
        QJsonParseError error;
        const QJsonDocument document = QJsonDocument::fromJson(line.toUtf8(), &error);
        if (error.error != QJsonParseError::NoError || !document.isObject()) {
            *problem = QStringLiteral("not a JSON object (%1): %2").arg(error.errorString(), line);
            return {};
        }
        const QJsonObject event = document.object();
        if (!event.value(QStringLiteral("event")).isString()) {
            *problem = QStringLiteral("no \"event\" in: %1").arg(line);
            return {};
        }
        events.append(event);
    }
    if (events.isEmpty())
        *problem = QStringLiteral("no JSON line at all");
    return events;
}

QList<QJsonObject> eventsNamed(const QList<QJsonObject> &events, const QString &name)
{
    QList<QJsonObject> found;
    for (const QJsonObject &event : events) {
        if (event.value(QStringLiteral("event")).toString() == name)
            found.append(event);
    }
    return found;
}

// The entity called \a name in a JSON array of entity objects; empty if none.
QJsonObject entityIn(const QJsonValue &list, const QString &name)
{
    const QJsonArray array = list.toArray();
    for (const QJsonValue &value : array) {
        if (value.toObject().value(QStringLiteral("entity")).toString() == name)
            return value.toObject();
    }
    return {};
}

QByteArray digestOf(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QCryptographicHash::hash(file.readAll(), QCryptographicHash::Sha256).toHex();
}

// Names, sizes and modification times of a folder's files: what a reader must not change.
QStringList folderState(const QString &path)
{
    QStringList state;
    const QFileInfoList entries
        = QDir(path).entryInfoList(QDir::Files | QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    for (const QFileInfo &info : entries) {
        state.append(QStringLiteral("%1 %2 %3")
                         .arg(info.fileName())
                         .arg(info.size())
                         .arg(info.lastModified().toMSecsSinceEpoch()));
    }
    return state;
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

    void jsonProgress();
    void jsonPushEvents();
    void jsonFailure_data();
    void jsonFailure();
    void quietSuccess();
    void quietFailure();
    void statusBeforeAnySync();
    void statusAfterCompletedSync();
    void statusAfterInterruptedRun();
    void statusDuringRun();
    void statusOfFailedEntity();
    void statusOfLocalChanges();
    void twoWayOptions_data();
    void twoWayOptions();
    void pushProgressOutput();
    void summaryCountsRecordsOnly();
    void deletionCheckIsNotCountedAsRecords();
    void savedSettingsAreUsed();
    void flagsOverrideSavedSettings();
    void invalidSavedSettings();
    void adaptiveBatchSize();
    void odataOptions_data();
    void odataOptions();
    void odataSavedSettings();

private:
    /*! Runs batchsync with \a arguments (or \a program with \a programArguments). */
    RunResult run(const QStringList &arguments, int timeoutMs = RunTimeoutMs,
                  const std::function<void(QProcess *)> &whileRunning = {},
                  const QProcessEnvironment &extraEnvironment = {},
                  const QString &program = QString(), const QStringList &programArguments = {});
    QStringList syncArguments(const Test::TestServer &server) const;
    QString databasePath() const { return m_home->filePath(QStringLiteral("local.sqlite")); }
    /*! The desktop app's QSettings file, as the child process sees it. */
    QString settingsPath() const
    {
        return m_home->filePath(QStringLiteral("config/BatchSync/batchsync.conf"));
    }
    /*! The application data folder of the child process. */
    QString dataFolder() const
    {
        return m_home->filePath(QStringLiteral("data/BatchSync/batchsync"));
    }
    /*! Saves what the window's settings dialog would, in the child's settings file. */
    void saveSettings(const QVariantMap &values) const;
    /*! --status --progress json for databasePath(): the status event, or empty. */
    QJsonObject statusOf(const QStringList &extra = {});

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
                            const QProcessEnvironment &extraEnvironment, const QString &program,
                            const QStringList &programArguments)
{
    // The child never touches the real home: its default database goes to a temporary one.
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.remove(QStringLiteral("BATCHSYNC_TOKEN"));
    environment.remove(QStringLiteral("BATCHSYNC_PASSWORD"));
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
    const QStringList flags { "--headless",
                              "--endpoint",
                              "--db",
                              "--token",
                              "--paging",
                              "--batch-size",
                              "--concurrency",
                              "--entities",
                              "--help",
                              "--version",
                              "--retry-give-up-ms",
                              "BATCHSYNC_TOKEN",
                              "--source",
                              "batchsync|odata",
                              "--user",
                              "--password-file",
                              "BATCHSYNC_PASSWORD",
                              "--changed-field",
                              "set=PROP",
                              "--safety-window",
                              "service root URL",
                              "authentication",
                              "changeTimeProperties",
                              "--progress",
                              "--quiet",
                              "--status",
                              "--batch-target-ms",
                              "adaptive",
                              "auto|plain|json",
                              "QT_LOGGING_RULES",
                              "batchsync.protocol",
                              "batchsync.store",
                              "batchsync.engine",
                              "batchsync.server",
                              "\"event\":\"progress\"",
                              "\"event\":\"summary\"",
                              "etaSeconds",
                              "\"event\":\"status\"",
                              "Exit status",
                              "130",
                              "143",
                              "batchsync.conf",
                              "--direction",
                              "both|pull|push",
                              "--conflicts",
                              "client-wins",
                              "\"event\":\"phase\"",
                              "\"event\":\"push\"",
                              "\"event\":\"pushed\"",
                              "pending {new" };
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
    RunResult result
        = run({ QStringLiteral("--batch-size"), QStringLiteral("5") }, RunTimeoutMs, {}, offscreen);
    VERIFY_RUN(result.exitedWith(2), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("batch size")), result);
    result = run({ QStringLiteral("--entities"), QStringLiteral("customers") }, RunTimeoutMs, {},
                 offscreen);
    VERIFY_RUN(result.exitedWith(2), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("--headless")), result);
    for (const QStringList &flags :
         { QStringList { "--quiet" }, QStringList { "--progress", "json" } }) {
        result = run(flags, RunTimeoutMs, {}, offscreen);
        VERIFY_RUN(result.exitedWith(2), result);
        VERIFY_RUN(result.err.contains(QStringLiteral("needs --headless")), result);
    }
    result = run({ QStringLiteral("--batch-target-ms"), QStringLiteral("300") }, RunTimeoutMs, {},
                 offscreen);
    VERIFY_RUN(result.exitedWith(2), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("--batch-size adaptive")), result);
    result = run({ QStringLiteral("--batch-size"), QStringLiteral("adaptive"),
                   QStringLiteral("--batch-target-ms"), QStringLiteral("5") },
                 RunTimeoutMs, {}, offscreen);
    VERIFY_RUN(result.exitedWith(2), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("target batch duration")), result);
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
    QTest::newRow("progress mode") << QStringList { "--progress", "fancy" } << "--progress";
    QTest::newRow("quiet and progress")
        << QStringList { "--quiet", "--progress", "json" } << "--quiet";
    QTest::newRow("batch size word") << QStringList { "--batch-size", "adapt" } << "adaptive";
    QTest::newRow("target too short")
        << QStringList { "--batch-size", "adaptive", "--batch-target-ms", "5" }
        << "target batch duration";
    QTest::newRow("target too long")
        << QStringList { "--batch-size", "adaptive", "--batch-target-ms", "20000" }
        << "target batch duration";
    QTest::newRow("target not a number")
        << QStringList { "--batch-size", "adaptive", "--batch-target-ms", "soon" }
        << "--batch-target-ms";
    QTest::newRow("target without adaptive")
        << QStringList { "--batch-target-ms", "300" } << "--batch-size adaptive";
    QTest::newRow("target with a fixed size")
        << QStringList { "--batch-size", "500", "--batch-target-ms", "300" }
        << "--batch-size adaptive";
    QTest::newRow("positional argument") << QStringList { "extra" } << "extra";
    QTest::newRow("direction") << QStringList { "--direction", "sideways" }
                               << "--direction must be \"both\"";
    QTest::newRow("no direction") << QStringList { "--direction", " " } << "--direction";
    QTest::newRow("conflict policy")
        << QStringList { "--conflicts", "nobody-wins" } << "--conflicts: the conflict policy";
    QTest::newRow("entity's conflict policy")
        << QStringList { "--conflicts", "orders=mine" } << "\"mine\"";
    QTest::newRow("conflict policy missing")
        << QStringList { "--conflicts", "orders=" } << "--conflicts";
    QTest::newRow("conflicts without entity")
        << QStringList { "--conflicts", "=client-wins" } << "names no entity";
    QTest::newRow("conflicts of a bad entity name")
        << QStringList { "--conflicts", "a;b=client-wins" } << "--conflicts";
    QTest::newRow("no conflict policy") << QStringList { "--conflicts", "," } << "needs a policy";
    QTest::newRow("two policies for one entity")
        << QStringList { "--conflicts", "orders=client-wins", "--conflicts", "orders=server-wins" }
        << "more than one conflict policy for \"orders\"";
    QTest::newRow("two policies for every entity")
        << QStringList { "--conflicts", "client-wins", "--conflicts", "server-wins" }
        << "every entity";
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
    // A terminal that draws, whatever the caller's TERM (an editor's shell may say "dumb").
    QProcessEnvironment terminal;
    terminal.insert(QStringLiteral("TERM"), QStringLiteral("xterm-256color"));
    const RunResult result
        = run({}, RunTimeoutMs, {}, terminal, script,
              { "-q", "-f", "-e", "-c", command.join(QLatin1Char(' ')), "/dev/null" });
    VERIFY_RUN(result.exitedWith(0), result);
    // Lines redrawn in place (cursor up over two entities and the line for all of them,
    // erase line), then the summary.
    VERIFY_RUN(result.out.contains(QStringLiteral("\x1b[3A")), result);
    VERIFY_RUN(result.out.contains(QStringLiteral("\x1b[K")), result);
    VERIFY_RUN(result.out.contains(QRegularExpression(QStringLiteral(
                   "customers +\\[#{10,}\\] 3000/3000 100\\.0% completed +\\d+ rec/s in "))),
               result);
    VERIFY_RUN(result.out.contains(QRegularExpression(QStringLiteral(
                   "all +\\[#{10,}\\] 5000/5000 100\\.0% completed +\\d+ rec/s in "))),
               result);
    VERIFY_RUN(result.out.contains(QStringLiteral("Synced 5000 records")), result);
    const QString difference
        = compareWithServer(databasePath(), server.store(), QStringLiteral("orders"));
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

void TestHeadless::saveSettings(const QVariantMap &values) const
{
    QSettings settings(settingsPath(), QSettings::IniFormat);
    for (auto it = values.cbegin(); it != values.cend(); ++it)
        settings.setValue(it.key(), it.value());
    settings.sync();
    QCOMPARE(settings.status(), QSettings::NoError);
}

QJsonObject TestHeadless::statusOf(const QStringList &extra)
{
    const RunResult result
        = run(QStringList { "--status", "--progress", "json", "--db", databasePath() } + extra);
    if (!result.exitedWith(0)) {
        qWarning().noquote() << result.describe();
        return {};
    }
    QString problem;
    const QList<QJsonObject> events = jsonLines(result.out, &problem);
    if (!problem.isEmpty() || events.size() != 1 || !result.err.isEmpty()) {
        qWarning().noquote() << problem << result.describe();
        return {};
    }
    return events.constFirst();
}

void TestHeadless::jsonProgress()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(1500, 1);
    server.addCustomers(700, 2, QStringLiteral("orders"));
    // Slow enough for several throttled progress signals per entity.
    server.server()->setPageDelay(10);

    const RunResult result
        = run(syncArguments(server) + QStringList { "--progress", "json", "--batch-size", "100" });
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.err.isEmpty(), result);
    QString problem;
    const QList<QJsonObject> events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));

    const QJsonObject start = events.constFirst();
    QCOMPARE(start.value("event").toString(), QStringLiteral("start"));
    QCOMPARE(start.value("endpoint").toString(), server.baseUrl().toString());
    QCOMPARE(start.value("database").toString(), databasePath());
    QCOMPARE(start.value("batchSize").toInt(), 100);
    QCOMPARE(start.value("adaptiveBatchSize").toBool(true), false);
    QCOMPARE(start.value("demo").toBool(true), false);
    QVERIFY(start.value("entities").isNull());

    // Progress: typed fields, never backwards, never beyond the total.
    const QList<QJsonObject> progress = eventsNamed(events, QStringLiteral("progress"));
    QVERIFY2(progress.size() >= 2, qPrintable(result.out));
    QHash<QString, qint64> lastDone;
    for (const QJsonObject &event : progress) {
        const QString entity = event.value("entity").toString();
        QVERIFY2(entity == QLatin1String("customers") || entity == QLatin1String("orders"),
                 qPrintable(entity));
        QVERIFY(event.value("done").isDouble() && event.value("total").isDouble());
        QVERIFY(event.value("rate").isDouble() && event.value("rate").toDouble() >= 0);
        QVERIFY(event.value("etaSeconds").isDouble() || event.value("etaSeconds").isNull());
        QVERIFY(event.value("state").isString());
        const qint64 done = event.value("done").toInteger();
        QVERIFY(done >= lastDone.value(entity, 0));
        QVERIFY(done <= event.value("total").toInteger());
        lastDone.insert(entity, done);
        // The overall progress of the sync, as the window's overall bar shows it: every
        // entity's progress so far, this one's included.
        const QJsonObject overall = event.value("overall").toObject();
        QVERIFY(overall.value("rate").isDouble());
        QVERIFY(overall.value("etaSeconds").isDouble() || overall.value("etaSeconds").isNull());
        qint64 sum = 0;
        for (const qint64 d : std::as_const(lastDone))
            sum += d;
        QCOMPARE(overall.value("done").toInteger(), sum);
        QVERIFY(overall.value("done").toInteger() <= overall.value("total").toInteger());
    }
    QCOMPARE(lastDone.value(QStringLiteral("customers")), qint64(1500));
    QCOMPARE(lastDone.value(QStringLiteral("orders")), qint64(700));
    const QJsonObject last = progress.last().value("overall").toObject();
    QCOMPARE(last.value("done").toInteger(), qint64(2200));
    QCOMPARE(last.value("total").toInteger(), qint64(2200));

    QStringList completed;
    for (const QJsonObject &event : eventsNamed(events, QStringLiteral("state"))) {
        if (event.value("state").toString() == QLatin1String("completed"))
            completed.append(event.value("entity").toString());
    }
    completed.sort();
    QCOMPARE(completed, QStringList({ "customers", "orders" }));
    QVERIFY(eventsNamed(events, QStringLiteral("error")).isEmpty());

    // The summary ends the stream.
    const QJsonObject summary = events.constLast();
    QCOMPARE(summary.value("event").toString(), QStringLiteral("summary"));
    QCOMPARE(eventsNamed(events, QStringLiteral("summary")).size(), 1);
    QCOMPARE(summary.value("exitCode").toInt(-1), 0);
    QCOMPARE(summary.value("records").toInteger(), qint64(2200));
    QVERIFY(summary.value("interruptedBy").isNull());
    QCOMPARE(summary.value("endpointErrors").toArray().size(), 0);
    QCOMPARE(summary.value("entities").toArray().size(), 2);
    const QJsonObject customers = entityIn(summary.value("entities"), QStringLiteral("customers"));
    QCOMPARE(customers.value("state").toString(), QStringLiteral("completed"));
    QCOMPARE(customers.value("synced").toInteger(), qint64(1500));
    QCOMPARE(customers.value("total").toInteger(), qint64(1500));
    QVERIFY(customers.value("error").isNull());

    const QString difference
        = compareWithServer(databasePath(), server.store(), QStringLiteral("orders"));
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
}

// A sync that pushes: push events count the changes sent, the pushed event tells their
// outcome, and the summary counts them apart from the records pulled.
void TestHeadless::jsonPushEvents()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(300, 1);
    RunResult result = run(syncArguments(server));
    VERIFY_RUN(result.exitedWith(0), result);
    {
        Test::RawDb db(databasePath());
        QVERIFY(db.exec(QStringLiteral("UPDATE customers SET visits = visits + 1 "
                                       "WHERE id IN (SELECT id FROM customers LIMIT 250)")));
    }
    result
        = run(syncArguments(server) + QStringList { "--progress", "json", "--batch-size", "100" });
    VERIFY_RUN(result.exitedWith(0), result);
    QString problem;
    const QList<QJsonObject> events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));

    const QList<QJsonObject> push = eventsNamed(events, QStringLiteral("push"));
    QVERIFY2(!push.isEmpty(), qPrintable(result.out));
    qint64 done = 0;
    for (const QJsonObject &event : push) {
        QCOMPARE(event.value("entity").toString(), QStringLiteral("customers"));
        QVERIFY(event.value("done").toInteger() >= done);
        done = event.value("done").toInteger();
        QCOMPARE(event.value("total").toInteger(), qint64(250));
    }
    QCOMPARE(done, qint64(250));
    const QList<QJsonObject> pushed = eventsNamed(events, QStringLiteral("pushed"));
    QCOMPARE(pushed.size(), 1);
    QCOMPARE(pushed.first().value("applied").toInteger(), qint64(250));
    QCOMPARE(pushed.first().value("conflicts").toInteger(), qint64(0));
    QCOMPARE(pushed.first().value("rejected").toInteger(), qint64(0));
    // The pull after the push reads the 250 changes back: progress events count those.
    for (const QJsonObject &event : eventsNamed(events, QStringLiteral("progress")))
        QVERIFY(event.value("done").toInteger() <= 250);
    const QJsonObject summary = events.constLast();
    QCOMPARE(summary.value("pushed").toInteger(), qint64(250));
    QCOMPARE(summary.value("records").toInteger(), qint64(250));
    Test::RawDb db(databasePath());
    QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 0);
    const QString difference
        = compareWithServer(databasePath(), server.store(), QStringLiteral("customers"));
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
}

void TestHeadless::jsonFailure_data()
{
    QTest::addColumn<QString>("failure");
    QTest::addColumn<QString>("category");
    QTest::newRow("wrong token") << QStringLiteral("token") << QStringLiteral("auth");
    QTest::newRow("unknown entity") << QStringLiteral("entity") << QStringLiteral("request");
    QTest::newRow("dead endpoint") << QStringLiteral("dead") << QStringLiteral("network");
}

void TestHeadless::jsonFailure()
{
    QFETCH(QString, failure);
    QFETCH(QString, category);
    Test::TestServer server;
    QVERIFY(server.start(QStringLiteral("the-token")));
    server.addCustomers(300, 1);

    QStringList arguments = syncArguments(server) + QStringList { "--progress", "json" };
    QString entity; // the failing one; empty: the endpoint
    if (failure == QLatin1String("token")) {
        arguments += { "--token", "a-wrong-token" };
    } else if (failure == QLatin1String("entity")) {
        arguments += { "--token", "the-token", "--entities", "customers,nosuch" };
        entity = QStringLiteral("nosuch");
    } else {
        const quint16 port = unusedPort();
        QVERIFY(port != 0);
        arguments = QStringList { "--headless",
                                  "--endpoint",
                                  QStringLiteral("http://127.0.0.1:%1/api/v1").arg(port),
                                  "--db",
                                  databasePath(),
                                  "--progress",
                                  "json",
                                  "--retry-give-up-ms",
                                  "1000" };
    }
    const RunResult result = run(arguments, 60000);
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.err.isEmpty(), result);
    QVERIFY2(!result.out.contains(QStringLiteral("a-wrong-token")), "the token must not be shown");
    QString problem;
    const QList<QJsonObject> events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));

    const QList<QJsonObject> errors = eventsNamed(events, QStringLiteral("error"));
    QVERIFY2(!errors.isEmpty(), qPrintable(result.out));
    const QJsonObject error = errors.constFirst();
    QCOMPARE(error.value("category").toString(), category);
    QVERIFY(!error.value("message").toString().isEmpty());
    if (entity.isEmpty())
        QVERIFY(error.value("entity").isNull());
    else
        QCOMPARE(error.value("entity").toString(), entity);
    if (failure == QLatin1String("dead"))
        QVERIFY2(!eventsNamed(events, QStringLiteral("retry")).isEmpty(), qPrintable(result.out));

    const QJsonObject summary = events.constLast();
    QCOMPARE(summary.value("event").toString(), QStringLiteral("summary"));
    QCOMPARE(summary.value("exitCode").toInt(-1), 1);
    if (entity.isEmpty()) {
        const QJsonArray endpointErrors = summary.value("endpointErrors").toArray();
        QVERIFY(!endpointErrors.isEmpty());
        QCOMPARE(endpointErrors.first().toObject().value("category").toString(), category);
    } else {
        const QJsonObject failed = entityIn(summary.value("entities"), entity);
        QCOMPARE(failed.value("state").toString(), QStringLiteral("failed"));
        QCOMPARE(failed.value("error").toObject().value("category").toString(), category);
        // The other entity synced all the same.
        QCOMPARE(entityIn(summary.value("entities"), QStringLiteral("customers"))
                     .value("state")
                     .toString(),
                 QStringLiteral("completed"));
    }
}

void TestHeadless::quietSuccess()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(1200, 1);

    const RunResult result = run(syncArguments(server) + QStringList { "--quiet" });
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.out.isEmpty(), result);
    VERIFY_RUN(result.err.isEmpty(), result);
    const QString difference
        = compareWithServer(databasePath(), server.store(), QStringLiteral("customers"));
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
}

void TestHeadless::quietFailure()
{
    Test::TestServer server;
    QVERIFY(server.start(QStringLiteral("the-token")));
    server.addCustomers(300, 1);

    RunResult result = run(
        syncArguments(server)
        + QStringList { "--quiet", "--token", "the-token", "--entities", "customers,nosuch" });
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.out.isEmpty(), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("nosuch: failed")), result);
    // Only the error: no progress, no summary, nothing about the entity that synced.
    VERIFY_RUN(!result.err.contains(QStringLiteral("customers")), result);
    VERIFY_RUN(!result.err.contains(QStringLiteral("Syncing from")), result);

    result = run(syncArguments(server) + QStringList { "--quiet", "--token", "a-wrong-token" });
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.out.isEmpty(), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("refused the token")), result);
    VERIFY_RUN(!result.err.contains(QStringLiteral("Syncing from")), result);
}

void TestHeadless::statusBeforeAnySync()
{
    // An explicit --db that does not exist, in text and in JSON.
    RunResult result = run({ "--status", "--db", databasePath() });
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("no local database at ") + databasePath()),
               result);
    VERIFY_RUN(result.out.isEmpty(), result);
    QVERIFY(!QFileInfo::exists(databasePath()));

    result = run({ "--status", "--db", databasePath(), "--progress", "json" });
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.err.isEmpty(), result);
    QString problem;
    const QList<QJsonObject> events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QCOMPARE(events.size(), 1);
    QCOMPARE(events.first().value("event").toString(), QStringLiteral("error"));
    QCOMPARE(events.first().value("category").toString(), QStringLiteral("storage"));
    QVERIFY(events.first().value("message").toString().contains(databasePath()));
    QVERIFY(!QFileInfo::exists(databasePath()));

    // The default database (the demo's, with nothing saved): neither it nor its folder
    // appears.
    result = run({ "--status" });
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.err.contains(dataFolder() + QStringLiteral("/demo.sqlite")), result);
    QVERIFY(!QFileInfo::exists(dataFolder()));

    // A file that is not a local database is refused, and left alone.
    QFile other(databasePath());
    QVERIFY(other.open(QIODevice::WriteOnly));
    other.write("not a database at all, just text\n");
    other.close();
    const QByteArray digest = digestOf(databasePath());
    const QStringList before = folderState(m_home->path());
    result = run({ "--status", "--db", databasePath() });
    VERIFY_RUN(result.exitedWith(1), result);
    VERIFY_RUN(result.err.contains(databasePath()), result);
    QCOMPARE(digestOf(databasePath()), digest);
    QCOMPARE(folderState(m_home->path()), before);
}

void TestHeadless::statusAfterCompletedSync()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(3000, 1);
    server.addCustomers(500, 2, QStringLiteral("orders"));
    RunResult result = run(syncArguments(server));
    VERIFY_RUN(result.exitedWith(0), result);

    const QByteArray digest = digestOf(databasePath());
    QVERIFY(!digest.isEmpty());
    const QStringList before = folderState(m_home->path());
    const qint64 servedBefore = server.server()->requestsServed();

    result = run({ "--status", "--db", databasePath() });
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.err.isEmpty(), result);
    VERIFY_RUN(result.out.contains(databasePath()), result);
    VERIFY_RUN(result.out.contains(QRegularExpression(QStringLiteral(
                   "\\ncustomers +completed +3000/3000 +100\\.0% +3000 +cursor +20\\d\\d-"))),
               result);
    VERIFY_RUN(result.out.contains(QRegularExpression(QStringLiteral("\\norders +completed"))),
               result);

    const QJsonObject status = statusOf();
    QCOMPARE(status.value("event").toString(), QStringLiteral("status"));
    QCOMPARE(status.value("database").toString(), databasePath());
    QCOMPARE(status.value("entities").toArray().size(), 2);
    const QJsonObject customers = entityIn(status.value("entities"), QStringLiteral("customers"));
    QCOMPARE(customers.value("state").toString(), QStringLiteral("completed"));
    QCOMPARE(customers.value("done").toInteger(), qint64(3000));
    QCOMPARE(customers.value("total").toInteger(), qint64(3000));
    QCOMPARE(customers.value("records").toInteger(), qint64(3000));
    QCOMPARE(customers.value("paging").toString(), QStringLiteral("cursor"));
    QCOMPARE(customers.value("runActive").toBool(true), false);
    QVERIFY(customers.value("error").isNull());
    QVERIFY(Timestamp::isValid(customers.value("lastCompletedAt").toString()));

    // --entities narrows it, and names what the database has never seen.
    const QJsonObject narrowed = statusOf({ "--entities", "orders,nosuch" });
    QCOMPARE(narrowed.value("entities").toArray().size(), 1);
    QCOMPARE(
        entityIn(narrowed.value("entities"), QStringLiteral("orders")).value("records").toInteger(),
        qint64(500));
    QCOMPARE(narrowed.value("missing").toArray(), QJsonArray({ "nosuch" }));

    // Nothing asked of the server, nothing changed on disk: no byte, no -wal or -shm file.
    QCOMPARE(server.server()->requestsServed(), servedBefore);
    QCOMPARE(digestOf(databasePath()), digest);
    QCOMPARE(folderState(m_home->path()), before);
}

void TestHeadless::statusAfterInterruptedRun()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(20000, 9);
    const QStringList arguments = syncArguments(server)
        + QStringList { "--batch-size", "100", "--concurrency", "1", "--progress", "json" };

    int pages = 0;
    const RunResult result = run(arguments, RunTimeoutMs, [&](QProcess *process) {
        connect(server.server(), &SyncServer::pageServed, process, [&pages, process] {
            if (++pages == 5)
                ::kill(pid_t(process->processId()), SIGTERM);
        });
    });
    VERIFY_RUN(result.exitedWith(143), result);
    VERIFY_RUN(result.err.isEmpty(), result);
    QString problem;
    const QList<QJsonObject> events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    const QList<QJsonObject> interrupted = eventsNamed(events, QStringLiteral("interrupted"));
    QVERIFY2(!interrupted.isEmpty(), qPrintable(result.out));
    QCOMPARE(interrupted.first().value("signal").toString(), QStringLiteral("SIGTERM"));
    const QJsonObject summary = events.constLast();
    QCOMPARE(summary.value("event").toString(), QStringLiteral("summary"));
    QCOMPARE(summary.value("exitCode").toInt(), 143);
    QCOMPARE(summary.value("interruptedBy").toString(), QStringLiteral("SIGTERM"));
    QCOMPARE(
        entityIn(summary.value("entities"), QStringLiteral("customers")).value("state").toString(),
        QStringLiteral("paused"));

    const QByteArray digest = digestOf(databasePath());
    const QStringList before = folderState(m_home->path());
    const QJsonObject status = statusOf();
    const QJsonObject customers = entityIn(status.value("entities"), QStringLiteral("customers"));
    QCOMPARE(customers.value("state").toString(), QStringLiteral("paused"));
    QCOMPARE(customers.value("runActive").toBool(), true);
    QCOMPARE(customers.value("total").toInteger(), qint64(20000));
    const qint64 done = customers.value("done").toInteger();
    QVERIFY2(done > 0 && done < 20000, qPrintable(QString::number(done)));
    QCOMPARE(customers.value("records").toInteger(), done);
    QVERIFY(customers.value("lastCompletedAt").isNull());

    const RunResult text = run({ "--status", "--db", databasePath() });
    VERIFY_RUN(text.exitedWith(0), text);
    VERIFY_RUN(text.out.contains(QRegularExpression(
                   QStringLiteral("customers +paused +%1/20000 .* never +paused; the next "
                                  "sync resumes it")
                       .arg(done))),
               text);
    QCOMPARE(digestOf(databasePath()), digest);
    QCOMPARE(folderState(m_home->path()), before);
}

void TestHeadless::statusDuringRun()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(5000, 3);
    const QStringList arguments = syncArguments(server)
        + QStringList { "--batch-size", "100", "--concurrency", "1", "--quiet" };

    // While the sync holds the database open (and waits for its next page, which this
    // thread serves only afterwards), --status reads it through the WAL.
    int pages = 0;
    RunResult status;
    const RunResult result = run(arguments, RunTimeoutMs, [&](QProcess *process) {
        connect(server.server(), &SyncServer::pageServed, process, [&] {
            if (++pages == 10) {
                status = run({ "--status", "--progress", "json", "--db", databasePath() }, 30000);
            }
        });
    });
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(status.exitedWith(0), status);
    QString problem;
    const QList<QJsonObject> events = jsonLines(status.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    const QJsonObject customers
        = entityIn(events.constFirst().value("entities"), QStringLiteral("customers"));
    QCOMPARE(customers.value("state").toString(), QStringLiteral("running"));
    QCOMPARE(customers.value("runActive").toBool(), true);
    const qint64 done = customers.value("done").toInteger();
    QVERIFY2(done >= 800 && done < 5000, qPrintable(QString::number(done)));
    QCOMPARE(customers.value("records").toInteger(), done);
}

void TestHeadless::statusOfFailedEntity()
{
    Test::TestServer server;
    QVERIFY(server.start(QStringLiteral("the-token")));
    server.addCustomers(3000, 4);
    const QStringList arguments = syncArguments(server)
        + QStringList { "--batch-size", "100", "--concurrency", "1", "--token", "the-token" };

    // The server stops accepting the token mid-sync: the entity fails with an auth error.
    int pages = 0;
    const RunResult result = run(arguments, RunTimeoutMs, [&](QProcess *process) {
        connect(server.server(), &SyncServer::pageServed, process, [&] {
            if (++pages == 3)
                server.server()->setToken(QStringLiteral("another-token"));
        });
    });
    VERIFY_RUN(result.exitedWith(1), result);

    const QJsonObject status = statusOf();
    const QJsonObject customers = entityIn(status.value("entities"), QStringLiteral("customers"));
    QCOMPARE(customers.value("state").toString(), QStringLiteral("failed"));
    QCOMPARE(customers.value("error").toObject().value("category").toString(),
             QStringLiteral("auth"));
    const QString message = customers.value("error").toObject().value("message").toString();
    QVERIFY(!message.isEmpty());
    QVERIFY(customers.value("done").toInteger() > 0);

    const QByteArray digest = digestOf(databasePath());
    const RunResult text = run({ "--status", "--db", databasePath() });
    VERIFY_RUN(text.exitedWith(0), text);
    VERIFY_RUN(text.out.contains(QRegularExpression(QStringLiteral("\\ncustomers +failed "))),
               text);
    VERIFY_RUN(text.out.contains(QStringLiteral("  error (auth): ") + message), text);
    QCOMPARE(digestOf(databasePath()), digest);
}

void TestHeadless::savedSettingsAreUsed()
{
    Test::TestServer server;
    QVERIFY(server.start(QStringLiteral("saved-token")));
    server.addCustomers(1000, 5);
    int largestPage = 0;
    connect(server.server(), &SyncServer::pageServed, this,
            [&largestPage](const QString &, int records) {
                largestPage = std::max(largestPage, records);
            });
    saveSettings({ { "connection/endpoint", server.baseUrl().toString() },
                   { "connection/token", "saved-token" },
                   { "connection/paging", "offset" },
                   { "connection/batchSize", 300 },
                   { "connection/concurrency", 1 } });
    const QByteArray settingsDigest = digestOf(settingsPath());
    const QStringList settingsFolder = folderState(QFileInfo(settingsPath()).path());

    // No --endpoint, --token, --paging, --batch-size nor --db: all of it comes from the
    // window's settings, into the window's database for that endpoint.
    RunResult result = run({ "--headless" });
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("Syncing from ") + server.baseUrl().toString()),
               result);
    VERIFY_RUN(result.err.contains(QStringLiteral("offset paging, batches of 300, 1 at once")),
               result);
    QCOMPARE(largestPage, 300);
    // Offset mode reads the live edge's last millisecond again: a few more than 1000.
    QVERIFY(server.server()->changesServed() >= 1000);
    const QStringList databases
        = QDir(dataFolder()).entryList({ QStringLiteral("endpoint-*.sqlite") }, QDir::Files);
    QCOMPARE(databases.size(), 1);
    const QString database = QDir(dataFolder()).filePath(databases.first());
    const QString difference
        = compareWithServer(database, server.store(), QStringLiteral("customers"));
    QVERIFY2(difference.isEmpty(), qPrintable(difference));

    // --status finds the same database from the same settings, without any flag.
    result = run({ "--status", "--progress", "json" });
    VERIFY_RUN(result.exitedWith(0), result);
    QString problem;
    const QList<QJsonObject> events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QCOMPARE(events.first().value("database").toString(), database);
    QCOMPARE(entityIn(events.first().value("entities"), QStringLiteral("customers"))
                 .value("paging")
                 .toString(),
             QStringLiteral("offset"));

    // A headless run never writes the settings.
    QCOMPARE(digestOf(settingsPath()), settingsDigest);
    QCOMPARE(folderState(QFileInfo(settingsPath()).path()), settingsFolder);
}

void TestHeadless::flagsOverrideSavedSettings()
{
    Test::TestServer saved;
    QVERIFY(saved.start());
    saved.addCustomers(400, 6);
    Test::TestServer other;
    QVERIFY(other.start());
    other.addCustomers(900, 7);
    int largestPage = 0;
    connect(other.server(), &SyncServer::pageServed, this,
            [&largestPage](const QString &, int records) {
                largestPage = std::max(largestPage, records);
            });
    saveSettings({ { "connection/endpoint", saved.baseUrl().toString() },
                   { "connection/batchSize", 300 },
                   { "connection/concurrency", 1 } });
    const QByteArray settingsDigest = digestOf(settingsPath());
    const QStringList settingsFolder = folderState(QFileInfo(settingsPath()).path());

    const RunResult result = run({ "--headless", "--endpoint", other.baseUrl().toString(),
                                   "--batch-size", "200", "--db", databasePath() });
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("batches of 200, 1 at once")), result);
    QCOMPARE(largestPage, 200);
    QCOMPARE(other.server()->changesServed(), qint64(900));
    QCOMPARE(saved.server()->requestsServed(), qint64(0));
    const QString difference
        = compareWithServer(databasePath(), other.store(), QStringLiteral("customers"));
    QVERIFY2(difference.isEmpty(), qPrintable(difference));

    // For that run only: the settings file is untouched, and the next run without flags
    // goes back to the saved endpoint and size.
    QCOMPARE(digestOf(settingsPath()), settingsDigest);
    QCOMPARE(folderState(QFileInfo(settingsPath()).path()), settingsFolder);
    const RunResult next = run({ "--headless" });
    VERIFY_RUN(next.exitedWith(0), next);
    VERIFY_RUN(next.err.contains(QStringLiteral("Syncing from ") + saved.baseUrl().toString()),
               next);
    VERIFY_RUN(next.err.contains(QStringLiteral("batches of 300")), next);
    QCOMPARE(saved.server()->changesServed(), qint64(400));
    QCOMPARE(digestOf(settingsPath()), settingsDigest);
}

void TestHeadless::invalidSavedSettings()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(200, 8);
    saveSettings(
        { { "connection/endpoint", server.baseUrl().toString() }, { "connection/batchSize", 5 } });

    // The saved value is named as the culprit; a flag overriding it makes the run possible.
    RunResult result = run({ "--headless", "--db", databasePath() });
    VERIFY_RUN(result.exitedWith(2), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("batch size")), result);
    VERIFY_RUN(result.err.contains(settingsPath()), result);
    QVERIFY(!QFileInfo::exists(databasePath()));

    // The window, which starts from the same profile, refuses it the same way.
    QProcessEnvironment offscreen;
    offscreen.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    result = run({ "--db", databasePath() }, RunTimeoutMs, {}, offscreen);
    VERIFY_RUN(result.exitedWith(2), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("batch size")), result);
    VERIFY_RUN(result.err.contains(settingsPath()), result);

    result = run({ "--headless", "--db", databasePath(), "--batch-size", "100" });
    VERIFY_RUN(result.exitedWith(0), result);
    QCOMPARE(server.server()->changesServed(), qint64(200));

    // A source this version does not know: no flag can stand in for it.
    saveSettings({ { "connection/batchSize", 100 }, { "connection/source", "elsewhere" } });
    result = run({ "--headless", "--db", databasePath() });
    VERIFY_RUN(result.exitedWith(2), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("\"elsewhere\"")), result);
    VERIFY_RUN(result.err.contains(settingsPath()), result);
    QCOMPARE(server.server()->changesServed(), qint64(200));
}

void TestHeadless::adaptiveBatchSize()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(2000, 9);

    // The flags: adaptive from the default size, with a target.
    RunResult result = run(syncArguments(server)
                           + QStringList { "--batch-size", "adaptive", "--batch-target-ms", "300",
                                           "--progress", "json" });
    VERIFY_RUN(result.exitedWith(0), result);
    QString problem;
    QList<QJsonObject> events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QCOMPARE(events.first().value("adaptiveBatchSize").toBool(), true);
    QCOMPARE(events.first().value("targetBatchMs").toInt(), 300);
    QCOMPARE(events.first().value("batchSize").toInt(), 1000);
    QCOMPARE(events.last().value("records").toInteger(), qint64(2000));
    QString difference
        = compareWithServer(databasePath(), server.store(), QStringLiteral("customers"));
    QVERIFY2(difference.isEmpty(), qPrintable(difference));

    // The window's settings: adaptive from the saved size, with the saved target; a number
    // on the command line fixes the size for one run.
    saveSettings({ { "connection/endpoint", server.baseUrl().toString() },
                   { "connection/batchSize", 400 },
                   { "connection/adaptiveBatchSize", true },
                   { "connection/targetBatchMs", 700 } });
    result = run({ "--headless", "--db", databasePath(), "--progress", "json" });
    VERIFY_RUN(result.exitedWith(0), result);
    events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QCOMPARE(events.first().value("adaptiveBatchSize").toBool(), true);
    QCOMPARE(events.first().value("targetBatchMs").toInt(), 700);
    QCOMPARE(events.first().value("batchSize").toInt(), 400);

    result = run({ "--headless", "--db", databasePath(), "--batch-target-ms", "150" });
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("adaptive batches from 400 records aiming at "
                                                  "150 ms")),
               result);
    result = run({ "--headless", "--db", databasePath(), "--batch-size", "250" });
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("batches of 250")), result);
    VERIFY_RUN(!result.err.contains(QStringLiteral("adaptive")), result);
}

void TestHeadless::odataOptions_data()
{
    // Placeholders: @ROOT@ a dead OData service root, @API@ a dead BatchSync base URL, @FILE@ a
    // file holding @SECRET@, @EMPTY@ an empty file, @FOLDER@ a folder, @TOKEN@ a token.
    // exitCode 2: expected is in the usage error; 1 (the dead endpoint): expected is JSON
    // whose every field the start event has ("@ABSENT@": not there at all).
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QStringList>("environment"); // NAME=value
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("expected");
    const auto odata = [](const QStringList &more) {
        return QStringList { "--source", "odata", "--endpoint", "@ROOT@" } + more;
    };
    const auto server = [](const QStringList &more) {
        return QStringList { "--endpoint", "@API@" } + more;
    };
    const auto started = [](const char *name, const QStringList &arguments,
                            const QStringList &environment, const char *startEvent) {
        QTest::newRow(name) << arguments << environment << 1 << QString::fromUtf8(startEvent);
    };
    const auto refused = [](const char *name, const QStringList &arguments,
                            const QStringList &environment, const char *message) {
        QTest::newRow(name) << arguments << environment << 2 << QString::fromUtf8(message);
    };

    started("basic, password from a file",
            odata({ "--user", "alice", "--password-file", "@FILE@" }), {},
            R"({"source":"odata","endpoint":"@ROOT@","authentication":"basic","user":"alice",
              "changeTimeProperties":{},"safetyWindowSeconds":10,"paging":"keyset"})");
    started("basic, password from the environment", odata({ "--user", "alice" }),
            { "BATCHSYNC_PASSWORD=@SECRET@" }, R"({"authentication":"basic","user":"alice"})");
    started(
        "basic, file and environment", odata({ "--user", "alice", "--password-file", "@FILE@" }),
        { "BATCHSYNC_PASSWORD=other-password" }, R"({"authentication":"basic","user":"alice"})");
    started("--user before BATCHSYNC_TOKEN", odata({ "--user", "alice" }),
            { "BATCHSYNC_TOKEN=@TOKEN@", "BATCHSYNC_PASSWORD=@SECRET@" },
            R"({"authentication":"basic","user":"alice"})");
    started("bearer token", odata({ "--token", "@TOKEN@" }), {},
            R"({"authentication":"bearer","user":null})");
    started("bearer token from the environment", odata({}),
            { "BATCHSYNC_TOKEN=@TOKEN@", "BATCHSYNC_PASSWORD=@SECRET@" },
            R"({"authentication":"bearer","user":null})");
    started("no authentication", odata({}), {}, R"({"authentication":"none","user":null})");
    started("a change-time property for every set", odata({ "--changed-field", "modifiedAt" }), {},
            R"({"changeTimeProperties":{"*":"modifiedAt"}})");
    started("change-time properties per set",
            odata({ "--changed-field", "Orders=changedOn,Books=modifiedAt" }), {},
            R"({"changeTimeProperties":{"Books":"modifiedAt","Orders":"changedOn"}})");
    started("change-time properties mixed",
            odata({ "--changed-field", "modifiedAt,Orders=changedOn" }), {},
            R"({"changeTimeProperties":{"*":"modifiedAt","Orders":"changedOn"}})");
    started("--changed-field repeated",
            odata({ "--changed-field", " Orders = changedOn ", "--changed-field", "modifiedAt" }),
            {}, R"({"changeTimeProperties":{"*":"modifiedAt","Orders":"changedOn"}})");
    started("no safety window", odata({ "--safety-window", "0" }), {},
            R"({"safetyWindowSeconds":0})");
    started("a day's safety window", odata({ "--safety-window", "86400" }), {},
            R"({"safetyWindowSeconds":86400})");
    started("source in capitals", QStringList { "--source", "OData", "--endpoint", "@ROOT@" }, {},
            R"({"source":"odata"})");
    started("a BatchSync server by default", server({}), { "BATCHSYNC_PASSWORD=@SECRET@" },
            R"({"source":"batchsync","authentication":"none","paging":"cursor",
              "user":"@ABSENT@","changeTimeProperties":"@ABSENT@"})");
    started("a BatchSync server with a token",
            server({ "--source", "batchsync", "--token", "@TOKEN@" }), {},
            R"({"source":"batchsync","authentication":"bearer"})");

    refused("--password", odata({ "--user", "alice", "--password", "@SECRET@" }), {},
            "BATCHSYNC_PASSWORD");
    refused("--password=", odata({ "--user", "alice", "--password=@SECRET@" }), {},
            "--password-file F");
    refused("user and token", odata({ "--user", "alice", "--token", "@TOKEN@" }),
            { "BATCHSYNC_PASSWORD=@SECRET@" }, "exclude each other");
    refused("password file with a token",
            odata({ "--token", "@TOKEN@", "--password-file", "@FILE@" }), {}, "goes with --user");
    refused("password file missing",
            odata({ "--user", "alice", "--password-file", "@FOLDER@/absent" }), {},
            "cannot read the password file \"@FOLDER@/absent\"");
    refused("password file empty", odata({ "--user", "alice", "--password-file", "@EMPTY@" }), {},
            "is empty");
    refused("password file a folder", odata({ "--user", "alice", "--password-file", "@FOLDER@" }),
            {}, "is a folder");
    refused("no password", odata({ "--user", "alice" }), {}, "no password for the user \"alice\"");
    refused("empty password in the environment", odata({ "--user", "alice" }),
            { "BATCHSYNC_PASSWORD=" }, "no password for the user");
    refused("password file without a user", odata({ "--password-file", "@FILE@" }), {},
            "needs a user");
    refused("password file, BATCHSYNC_TOKEN instead of a user",
            odata({ "--password-file", "@FILE@" }), { "BATCHSYNC_TOKEN=@TOKEN@" }, "needs a user");
    refused("OData without an endpoint",
            QStringList { "--source", "odata", "--user", "alice", "--password-file", "@FILE@" }, {},
            "needs --endpoint");
    refused("--user for a BatchSync server",
            server({ "--user", "alice", "--password-file", "@FILE@" }), {},
            "--user is for OData services");
    refused("--password-file for a BatchSync server", server({ "--password-file", "@FILE@" }), {},
            "--password-file is for OData services");
    refused("--changed-field for a BatchSync server", server({ "--changed-field", "modifiedAt" }),
            {}, "--changed-field is for OData services");
    refused("--safety-window for a BatchSync server", server({ "--safety-window", "5" }), {},
            "--safety-window is for OData services");
    refused("--paging for OData", odata({ "--paging", "offset" }), {},
            "--paging is for BatchSync servers");
    refused("unknown source", server({ "--source", "soap" }), {},
            "--source must be \"batchsync\" or \"odata\"");
    refused("empty user", odata({ "--user", " " }), {}, "--user needs a user name");
    refused("colon in the user", odata({ "--user", "a:b", "--password-file", "@FILE@" }), {},
            "cannot contain ':'");
    refused("changed field: bad set name", odata({ "--changed-field", "Or-ders=changedOn" }), {},
            "--changed-field: entity set name \"Or-ders\"");
    refused("changed field: bad property", odata({ "--changed-field", "Orders=changed;On" }), {},
            "change-time property name");
    refused("changed field: nothing", odata({ "--changed-field", " , " }), {},
            "--changed-field needs a property name");
    refused("changed field: two for every set",
            odata({ "--changed-field", "modifiedAt,changedDate" }), {},
            "more than one change-time property for every set");
    refused("changed field: a set twice",
            odata({ "--changed-field", "Orders=a", "--changed-field", "Orders=b" }), {},
            "more than one change-time property for \"Orders\"");
    refused("changed field: no set", odata({ "--changed-field", "=changedOn" }), {},
            "names no entity set");
    refused("changed field: no property", odata({ "--changed-field", "Orders=" }), {},
            "name is empty");
    refused("safety window negative", odata({ "--safety-window", "-1" }), {},
            "--safety-window needs a whole number");
    refused("safety window too long", odata({ "--safety-window", "86401" }), {}, "from 0 to 86400");
    refused("safety window a word", odata({ "--safety-window", "soon" }), {}, "not \"soon\"");
}

void TestHeadless::odataOptions()
{
    QFETCH(QStringList, arguments);
    QFETCH(QStringList, environment);
    QFETCH(int, exitCode);
    QFETCH(QString, expected);
    const quint16 port = unusedPort();
    QVERIFY(port != 0);
    const QString passwordFile = m_home->filePath(QStringLiteral("password"));
    const QString emptyFile = m_home->filePath(QStringLiteral("empty"));
    for (const auto &[path, content] : { std::pair { passwordFile, SecretPassword + u'\n' },
                                         std::pair { emptyFile, QString() } }) {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(content.toUtf8());
    }
    const std::pair<QString, QString> placeholders[] = {
        { QStringLiteral("@ROOT@"),
          QStringLiteral("http://127.0.0.1:%1/odata/v4/shop/").arg(port) },
        { QStringLiteral("@API@"), QStringLiteral("http://127.0.0.1:%1/api/v1").arg(port) },
        { QStringLiteral("@FILE@"), passwordFile },
        { QStringLiteral("@EMPTY@"), emptyFile },
        { QStringLiteral("@FOLDER@"), m_home->path() },
        { QStringLiteral("@SECRET@"), SecretPassword },
        { QStringLiteral("@TOKEN@"), SecretToken },
    };
    const auto expand = [&placeholders](QString text) {
        for (const auto &[name, value] : placeholders)
            text.replace(name, value);
        return text;
    };
    QStringList all { "--headless",         "--db", databasePath(), "--progress", "json",
                      "--retry-give-up-ms", "0" };
    for (const QString &argument : std::as_const(arguments))
        all.append(expand(argument));
    QProcessEnvironment extra;
    for (const QString &variable : std::as_const(environment)) {
        const qsizetype equals = variable.indexOf(QLatin1Char('='));
        extra.insert(variable.left(equals), expand(variable.mid(equals + 1)));
    }

    const RunResult result = run(all, 30000, {}, extra);
    VERIFY_RUN(result.exitedWith(exitCode), result);
    // Whatever happened, neither secret is shown.
    for (const QString &secret : { SecretPassword, SecretToken })
        VERIFY_RUN(!result.out.contains(secret) && !result.err.contains(secret), result);
    if (exitCode == 2) {
        VERIFY_RUN(result.err.contains(expand(expected)), result);
        VERIFY_RUN(result.out.isEmpty(), result);
        QVERIFY2(!QFileInfo::exists(databasePath()), "bad flags must not touch the database");
        return;
    }

    // It started, and failed on the dead endpoint: the start event says what it was given.
    VERIFY_RUN(result.err.isEmpty(), result);
    QString problem;
    const QList<QJsonObject> events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    const QJsonObject start = events.constFirst();
    QCOMPARE(start.value("event").toString(), QStringLiteral("start"));
    QJsonParseError error;
    const QJsonObject wanted = QJsonDocument::fromJson(expand(expected).toUtf8(), &error).object();
    QVERIFY2(!wanted.isEmpty(), qPrintable(error.errorString()));
    const QString shown = QString::fromUtf8(QJsonDocument(start).toJson(QJsonDocument::Compact));
    for (auto it = wanted.constBegin(); it != wanted.constEnd(); ++it) {
        if (it.value() == QJsonValue(QStringLiteral("@ABSENT@")))
            QVERIFY2(!start.contains(it.key()),
                     qPrintable(it.key() + QStringLiteral(": ") + shown));
        else
            QVERIFY2(start.value(it.key()) == it.value(),
                     qPrintable(it.key() + QStringLiteral(": ") + shown));
    }
}

void TestHeadless::odataSavedSettings()
{
    const QString root = QStringLiteral("http://127.0.0.1:%1/odata/v4/shop/").arg(unusedPort());
    saveSettings({ { "connection/source", "odata" },
                   { "connection/endpoint", root },
                   { "connection/user", "alice" },
                   { "connection/password", SecretPassword },
                   { "connection/changeTimeProperties", "modifiedAt,Orders=changedOn" },
                   { "connection/safetyWindowSeconds", 30 } });
    const QByteArray settingsDigest = digestOf(settingsPath());
    const QStringList quick { "--headless", "--retry-give-up-ms", "0" };
    const auto startOf = [this](const RunResult &result) {
        QString problem;
        const QList<QJsonObject> events = jsonLines(result.out, &problem);
        if (!problem.isEmpty())
            qWarning().noquote() << problem << result.describe();
        return events.isEmpty() ? QJsonObject() : events.constFirst();
    };
    const auto noSecret = [](const RunResult &result) {
        for (const QString &secret : { SecretPassword, SecretToken }) {
            if (result.out.contains(secret) || result.err.contains(secret))
                return false;
        }
        return true;
    };

    // No flag: everything from the window's settings, into the endpoint's own database.
    RunResult result = run(quick + QStringList { "--progress", "json" }, 30000);
    VERIFY_RUN(result.exitedWith(1) && noSecret(result), result);
    QJsonObject start = startOf(result);
    QCOMPARE(start.value("source").toString(), QStringLiteral("odata"));
    QCOMPARE(start.value("endpoint").toString(), root);
    QCOMPARE(start.value("authentication").toString(), QStringLiteral("basic"));
    QCOMPARE(start.value("user").toString(), QStringLiteral("alice"));
    QCOMPARE(start.value("safetyWindowSeconds").toInt(), 30);
    const QJsonObject properties { { "*", "modifiedAt" }, { "Orders", "changedOn" } };
    QCOMPARE(start.value("changeTimeProperties").toObject(), properties);
    const QString database = start.value("database").toString();
    QVERIFY2(database.startsWith(dataFolder() + QStringLiteral("/endpoint-")),
             qPrintable(database));

    // In words: the service and its user, never the password.
    result = run(quick + QStringList { "--progress", "plain" }, 30000);
    VERIFY_RUN(result.exitedWith(1) && noSecret(result), result);
    VERIFY_RUN(result.err.contains(
                   QStringLiteral("Syncing from %1 (OData v4 service, as alice)").arg(root)),
               result);

    // Flags for one run: a token replaces the saved user; the properties and the window.
    result = run(quick
                     + QStringList { "--progress", "json", "--token", SecretToken,
                                     "--changed-field", "Books=at", "--safety-window", "0" },
                 30000);
    VERIFY_RUN(result.exitedWith(1) && noSecret(result), result);
    start = startOf(result);
    QCOMPARE(start.value("authentication").toString(), QStringLiteral("bearer"));
    QVERIFY(start.value("user").isNull());
    QCOMPARE(start.value("changeTimeProperties").toObject(), QJsonObject({ { "Books", "at" } }));
    QCOMPARE(start.value("safetyWindowSeconds").toInt(), 0);

    // Another user does not get alice's saved password.
    result = run(quick + QStringList { "--user", "bob" }, 30000);
    VERIFY_RUN(result.exitedWith(2) && noSecret(result), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("no password for the user \"bob\"")), result);

    // --status reads the same database from the same settings.
    result = run({ "--status", "--progress", "json" });
    VERIFY_RUN(result.exitedWith(0) && noSecret(result), result);
    QCOMPARE(startOf(result).value("database").toString(), database);
    QCOMPARE(digestOf(settingsPath()), settingsDigest); // no run wrote the settings

    // A bad saved value is named with the file, and a flag overrides it.
    saveSettings({ { "connection/changeTimeProperties", "modified-at" } });
    result = run(quick);
    VERIFY_RUN(result.exitedWith(2) && noSecret(result), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("\"modified-at\"")), result);
    VERIFY_RUN(result.err.contains(settingsPath()), result);
    result = run(quick + QStringList { "--changed-field", "modifiedAt" }, 30000);
    VERIFY_RUN(result.exitedWith(1) && noSecret(result), result);
}

void TestHeadless::statusOfLocalChanges()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(50, 11);
    server.addCustomers(20, 12, QStringLiteral("orders"));
    RunResult result = run(syncArguments(server));
    VERIFY_RUN(result.exitedWith(0), result);

    {
        // Another program's plain SQL, which the triggers record; and what a push would keep.
        Test::RawDb db(databasePath());
        QVERIFY(db.isOpen());
        const QStringList statements {
            "INSERT INTO customers (id, name) VALUES ('new-1', 'N1'), ('new-2', 'N2')",
            "UPDATE customers SET name = 'edited' WHERE id IN "
            "(SELECT id FROM customers WHERE id NOT LIKE 'new-%' ORDER BY id LIMIT 3)",
            "UPDATE customers SET visits = 7 WHERE id = 'new-1'", // still new
            "DELETE FROM customers WHERE id = (SELECT max(id) FROM customers WHERE id NOT LIKE "
            "'new-%')",
            "INSERT INTO _sync_conflicts (entity, id, kind, local, server, error, at, "
            "resolution) VALUES "
            "('customers', 'c1', 'conflict', '{}', '{}', NULL, '2026-12-07T01:00:00.000Z', "
            "'server'), "
            "('customers', 'c2', 'conflict', '{}', '{}', NULL, '2026-12-07T01:00:00.000Z', "
            "'resent'), "
            "('customers', 'c3', 'rejected', '{}', NULL, 'too long', "
            "'2026-12-07T01:00:00.000Z', 'restored'), "
            "('orders', 'o1', 'rejected', NULL, NULL, 'locked', '2026-12-07T01:00:00.000Z', "
            "'restored')",
        };
        for (const QString &sql : statements) {
            QString problem;
            QVERIFY2(db.exec(sql, &problem), qPrintable(sql + QStringLiteral(": ") + problem));
        }
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 6);
    }
    const QByteArray digest = digestOf(databasePath());
    const QStringList before = folderState(m_home->path());

    const QJsonObject status = statusOf();
    const QJsonObject customers = entityIn(status.value("entities"), QStringLiteral("customers"));
    QCOMPARE(customers.value("records").toInteger(), qint64(51));
    QCOMPARE(customers.value("pending").toObject(),
             QJsonObject({ { "new", 2 }, { "changed", 3 }, { "deleted", 1 } }));
    QCOMPARE(customers.value("conflicts").toObject(),
             QJsonObject({ { "conflict", 2 }, { "rejected", 1 } }));
    const QJsonObject orders = entityIn(status.value("entities"), QStringLiteral("orders"));
    QCOMPARE(orders.value("pending").toObject(),
             QJsonObject({ { "new", 0 }, { "changed", 0 }, { "deleted", 0 } }));
    QCOMPARE(orders.value("conflicts").toObject(),
             QJsonObject({ { "conflict", 0 }, { "rejected", 1 } }));

    result = run({ "--status", "--db", databasePath() });
    VERIFY_RUN(result.exitedWith(0), result);
    // Under each entity's line, only what it has.
    VERIFY_RUN(result.out.contains(QRegularExpression(QStringLiteral(
                   "\\ncustomers +completed [^\\n]*\\n"
                   "  local changes not pushed yet: 2 new, 3 changed, 1 deleted\\n"
                   "  conflicts kept in _sync_conflicts: 2 conflicts, 1 rejected\\n"
                   "orders +completed [^\\n]*\\n"
                   "  conflicts kept in _sync_conflicts: 1 rejected\\n"
                   "Local changes not pushed yet: 6; conflicts kept in _sync_conflicts: 4\\n$"))),
               result);
    QCOMPARE(digestOf(databasePath()), digest);
    QCOMPARE(folderState(m_home->path()), before);

    // A database of an older format, without the tables of local changes: none of either.
    {
        Test::RawDb db(databasePath());
        for (const char *sql : { "DROP TABLE _sync_pending", "DROP TABLE _sync_conflicts",
                                 "PRAGMA user_version = 2" }) {
            QString problem;
            QVERIFY2(db.exec(QLatin1String(sql), &problem), qPrintable(problem));
        }
    }
    const QJsonObject older = statusOf();
    const QJsonObject oldCustomers = entityIn(older.value("entities"), QStringLiteral("customers"));
    QCOMPARE(oldCustomers.value("state").toString(), QStringLiteral("completed"));
    QCOMPARE(oldCustomers.value("pending").toObject(),
             QJsonObject({ { "new", 0 }, { "changed", 0 }, { "deleted", 0 } }));
    QCOMPARE(oldCustomers.value("conflicts").toObject(),
             QJsonObject({ { "conflict", 0 }, { "rejected", 0 } }));
    result = run({ "--status", "--db", databasePath() });
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.out.endsWith(QStringLiteral(
                   "\nLocal changes not pushed yet: 0; conflicts kept in _sync_conflicts: 0\n")),
               result);
    VERIFY_RUN(!result.out.contains(QStringLiteral("  local changes")), result);
    VERIFY_RUN(!result.out.contains(QStringLiteral("  conflicts")), result);
}

void TestHeadless::twoWayOptions_data()
{
    QTest::addColumn<QVariantMap>("saved"); // the window's settings
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("direction");
    QTest::addColumn<QVariantMap>("conflicts"); // the start event's: "*" and per entity

    const QVariantMap serverWins { { "*", "server-wins" } };
    const QVariantMap saved { { "connection/direction", "push" },
                              { "connection/conflictPolicy", "client-wins" },
                              { "connection/conflictPolicies", "orders=server-wins" } };
    QTest::newRow("defaults") << QVariantMap() << QStringList() << "both" << serverWins;
    QTest::newRow("pull") << QVariantMap() << QStringList { "--direction", "pull" } << "pull"
                          << serverWins;
    QTest::newRow("push, any case")
        << QVariantMap() << QStringList { "--direction", " PUSH " } << "push" << serverWins;
    QTest::newRow("both") << saved << QStringList { "--direction", "both" } << "both"
                          << QVariantMap { { "*", "client-wins" }, { "orders", "server-wins" } };
    QTest::newRow("every entity") << QVariantMap() << QStringList { "--conflicts", "client-wins" }
                                  << "both" << QVariantMap { { "*", "client-wins" } };
    QTest::newRow("per entity, repeated")
        << QVariantMap()
        << QStringList { "--conflicts", "orders=client-wins", "--conflicts", "notes=server-wins" }
        << "both"
        << QVariantMap { { "*", "server-wins" },
                         { "orders", "client-wins" },
                         { "notes", "server-wins" } };
    QTest::newRow("mixed in one")
        << QVariantMap() << QStringList { "--conflicts", "client-wins, orders=Server-Wins" }
        << "both" << QVariantMap { { "*", "client-wins" }, { "orders", "server-wins" } };
    QTest::newRow("saved") << saved << QStringList() << "push"
                           << QVariantMap { { "*", "client-wins" }, { "orders", "server-wins" } };
    QTest::newRow("an entity on top of the saved ones")
        << saved << QStringList { "--conflicts", "customers=server-wins" } << "push"
        << QVariantMap { { "*", "client-wins" },
                         { "orders", "server-wins" },
                         { "customers", "server-wins" } };
    QTest::newRow("every entity over the saved ones")
        << saved << QStringList { "--conflicts", "server-wins", "--direction", "pull" } << "pull"
        << serverWins;
}

void TestHeadless::twoWayOptions()
{
    QFETCH(QVariantMap, saved);
    QFETCH(QStringList, arguments);
    QFETCH(QString, direction);
    QFETCH(QVariantMap, conflicts);
    if (!saved.isEmpty())
        saveSettings(saved);
    const QByteArray settingsDigest = digestOf(settingsPath());
    // A dead endpoint: what matters is what the run was started with.
    const RunResult result
        = run(QStringList { "--headless", "--endpoint", "http://127.0.0.1:9/api/v1", "--db",
                            databasePath(), "--retry-give-up-ms", "0", "--progress", "json" }
                  + arguments,
              30000);
    VERIFY_RUN(result.exitedWith(1), result);
    QString problem;
    const QList<QJsonObject> events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    const QJsonObject start = events.constFirst();
    QCOMPARE(start.value("event").toString(), QStringLiteral("start"));
    QCOMPARE(start.value("direction").toString(), direction);
    QCOMPARE(start.value("conflicts").toObject().toVariantMap(), conflicts);
    // The flags are for this run only.
    QCOMPARE(digestOf(settingsPath()), settingsDigest);

    // The plain line says a one-way run.
    const RunResult plain
        = run(QStringList { "--headless", "--endpoint", "http://127.0.0.1:9/api/v1", "--db",
                            databasePath(), "--retry-give-up-ms", "0", "--progress", "plain" }
                  + arguments,
              30000);
    VERIFY_RUN(plain.exitedWith(1), plain);
    if (direction == QLatin1String("both"))
        VERIFY_RUN(!plain.err.contains(QStringLiteral(" only)")), plain);
    else
        VERIFY_RUN(plain.err.contains(QStringLiteral("at once, %1 only)").arg(direction)), plain);
}

void TestHeadless::pushProgressOutput()
{
    using namespace Output;
    EntityProgress row;
    row.name = QStringLiteral("orders");
    row.state = SyncState::Running;
    row.enterPhase(SyncPhase::Push);
    row.advance(40, 120);
    row.rate = 55.0;

    // While it pushes, its progress is a "push" event of changes sent of those pending.
    ProgressInfo all;
    all.done = 40;
    all.total = 1000;
    all.rate = 55.0;
    all.etaSeconds = 17;
    const QJsonObject overall = progressJson(all);
    auto [event, fields] = progressEvent(row, overall);
    QCOMPARE(jsonEventLine(event, fields),
             QByteArray("{\"event\":\"push\",\"done\":40,\"entity\":\"orders\","
                        "\"total\":120}\n"));
    QCOMPARE(plainLine(row, false), QStringLiteral("orders: uploading 40 of 120 (33.3%)"));
    QCOMPARE(plainLine(row, true), QStringLiteral("orders: uploading local changes"));
    const QStringList live = displayLines({ row }, 8, 120);
    QVERIFY2(live.constFirst().contains(QStringLiteral(" uploading")), qPrintable(live.first()));
    QVERIFY2(!live.constFirst().contains(QStringLiteral("rec/s")), qPrintable(live.first()));
    row.advance(120, 120);
    QCOMPARE(row.synced, qint64(0)); // changes sent are not records pulled

    // Its outcome.
    QCOMPARE(jsonEventLine(QStringLiteral("pushed"), pushedJson(row.name, 117, 2, 1)),
             QByteArray("{\"event\":\"pushed\",\"applied\":117,\"conflicts\":2,"
                        "\"entity\":\"orders\",\"rejected\":1}\n"));
    row.addPushed(117, 2, 1);
    QCOMPARE(pushedText({ row }),
             QStringLiteral("pushed 120 changes: 117 applied, 2 conflicts, 1 rejected (kept in "
                            "_sync_conflicts)"));

    // Then the pull: "progress" again, with the whole sync's figures.
    row.enterPhase(SyncPhase::Changes);
    row.advance(0, 300);
    row.advance(250, 300);
    std::tie(event, fields) = progressEvent(row, overall);
    QCOMPARE(event, QStringLiteral("progress"));
    QCOMPARE(fields.value("done").toInteger(), qint64(250));
    QCOMPARE(fields.value("total").toInteger(), qint64(300));
    QCOMPARE(fields.value("state").toString(), QStringLiteral("running"));
    QCOMPARE(fields.value("rate").toDouble(), 55.0);
    QCOMPARE(fields.value("overall").toObject(), overall);
    QVERIFY2(plainLine(row, false).startsWith(QStringLiteral("orders: 250/300 (83.3%), 55")),
             qPrintable(plainLine(row, false)));
    QVERIFY(!displayLines({ row }, 8, 120).constFirst().contains(QStringLiteral("uploading")));
    QCOMPARE(row.synced, qint64(250));

    const QJsonObject summary = summaryJson(row);
    QCOMPARE(summary.value("synced").toInteger(), qint64(250));
    QCOMPARE(summary.value("pushed").toInteger(), qint64(117));
    QCOMPARE(summary.value("conflicts").toInteger(), qint64(2));
    QCOMPARE(summary.value("rejected").toInteger(), qint64(1));

    // A push without conflicts says only how many; one that sent nothing says nothing.
    EntityProgress clean;
    clean.addPushed(1, 0, 0);
    QCOMPARE(pushedText({ clean }), QStringLiteral("pushed 1 change"));
    EntityProgress idle;
    idle.addPushed(0, 0, 0);
    QCOMPARE(pushedText({ idle, EntityProgress() }), QString());
    QCOMPARE(summaryLine({ row, clean }, 2000),
             QStringLiteral("Synced 250 records in 2.0 s (125 records/s); pushed 121 changes: "
                            "118 applied, 2 conflicts, 1 rejected (kept in _sync_conflicts)"));
}

void TestHeadless::summaryCountsRecordsOnly()
{
    using namespace Output;
    // A sync that found no change, then read 5700 ids to look for deletions.
    EntityProgress row;
    row.name = QStringLiteral("customers");
    row.state = SyncState::Counting;
    row.advance(0, 0);
    row.state = SyncState::Running;
    row.enterPhase(SyncPhase::Deletions);
    row.advance(1000, 5700);
    row.advance(5700, 5700);
    QCOMPARE(row.synced, qint64(0));
    QCOMPARE(row.checked, qint64(5700));
    QCOMPARE(summaryLine({ row }, 1500),
             QStringLiteral("Synced 0 records in 1.5 s (0 records/s); checked 5700 ids for "
                            "deletions"));

    // A reload counts from its first page; a resumed run counts only what it brings.
    EntityProgress reload;
    reload.enterPhase(SyncPhase::Reload);
    reload.advance(500, 800);
    reload.advance(800, 800);
    QCOMPARE(reload.synced, qint64(800));
    EntityProgress resumed;
    resumed.advance(3000, 5000); // where the run stood
    resumed.advance(5000, 5000);
    QCOMPARE(resumed.synced, qint64(2000));
    QCOMPARE(summaryLine({ reload, resumed }, 1000),
             QStringLiteral("Synced 2800 records in 1.0 s (2800 records/s)"));
    EntityProgress one;
    one.advance(0, 1);
    one.advance(1, 1);
    QCOMPARE(summaryLine({ one }, 1000), QStringLiteral("Synced 1 record in 1.0 s (1 records/s)"));
}

void TestHeadless::deletionCheckIsNotCountedAsRecords()
{
    Test::FakeODataService service;
    const QDateTime start(QDate(2026, 1, 1), QTime(0, 0), Qt::UTC);
    for (int i = 1; i <= 300; ++i)
        service.putBook(i, Timestamp::format(start.addSecs(i)), QStringLiteral("Book %1").arg(i));
    QVERIFY(service.start());
    const QStringList arguments {
        "--headless", "--source",     "odata",      "--endpoint", service.root().toString(),
        "--db",       databasePath(), "--entities", "Books",      "--safety-window",
        "0",          "--progress",   "plain"
    };
    RunResult result = run(arguments);
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.out.contains(QStringLiteral("Synced 300 records in ")), result);
    VERIFY_RUN(!result.out.contains(QStringLiteral("for deletions")), result); // from nothing

    // Nothing changed: the next run reads at most the last change again, then every key to
    // find deletions; those keys are not records synced.
    service.removeBook(7);
    result = run(arguments);
    VERIFY_RUN(result.exitedWith(0), result);
    VERIFY_RUN(result.err.contains(QStringLiteral("Books: checking for deletions")), result);
    const QRegularExpressionMatch summary
        = QRegularExpression(QStringLiteral("Synced (\\d+) records? in [^\\n]*; checked (\\d+) "
                                            "ids for deletions\\n"))
              .match(result.out);
    VERIFY_RUN(summary.hasMatch(), result);
    VERIFY_RUN(summary.captured(1).toInt() <= 1, result);
    VERIFY_RUN(summary.captured(2).toInt() == 299, result);
    QCOMPARE(localCount(databasePath(), EntitySchema { QStringLiteral("Books"), {} }), qint64(299));

    // The same in JSON.
    result = run(QStringList(arguments.mid(0, arguments.size() - 1)) << QStringLiteral("json"));
    VERIFY_RUN(result.exitedWith(0), result);
    QString problem;
    const QList<QJsonObject> events = jsonLines(result.out, &problem);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QVERIFY2(events.constLast().value("records").toInteger() <= 1, qPrintable(result.out));
    QVERIFY(!eventsNamed(events, QStringLiteral("phase")).isEmpty());
}

QTEST_GUILESS_MAIN(TestHeadless)
#include "tst_headless.moc"
