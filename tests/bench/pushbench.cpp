// batchsync-bench --push: N local edits pushed by the real batchsync --headless to the real
// batchsync-server (SQLite or PostgreSQL) and confirmed, beside the pull of the same changes.

#include "pushbench.h"

#include "common/types.h"
#include "server/backend/pgserverstore.h"
#include "server/backend/serverstore.h"

#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char **environ;

namespace BatchSync::Bench {

namespace {

void report(const QString &text)
{
    std::fprintf(stdout, "%s\n", qPrintable(text));
    std::fflush(stdout);
}

bool failed(const QString &text)
{
    std::fprintf(stderr, "batchsync-bench: %s\n", qPrintable(text));
    return false;
}

std::optional<double> medianOf(std::vector<double> values)
{
    if (values.empty())
        return std::nullopt;
    std::sort(values.begin(), values.end());
    const size_t middle = values.size() / 2;
    return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

} // namespace

// ---------------------------------------------------------------------------------------
// The entity: about 200 bytes a record, like the first-sync benchmark's; visits is the field
// every run increments.

EntitySchema pushSchema(const QString &name)
{
    return { name,
             { { QStringLiteral("name"), FieldType::String },
               { QStringLiteral("email"), FieldType::String },
               { QStringLiteral("note"), FieldType::String },
               { QStringLiteral("amount"), FieldType::Real },
               { QStringLiteral("visits"), FieldType::Int },
               { QStringLiteral("active"), FieldType::Bool },
               { QStringLiteral("updated"), FieldType::DateTime } } };
}

namespace {

qint64 initialVisits(qint64 index)
{
    return index % 1000;
}

std::pair<QString, QVariantMap> pushRecord(qint64 index)
{
    static const QString note = QStringLiteral(
        "a record of the push benchmark, edited locally once per run and pushed back to the "
        "server");
    const QString id = QStringLiteral("p-%1").arg(index, 9, 10, QLatin1Char('0'));
    const QDateTime updated
        = QDateTime(QDate(2026, 1, 1), QTime(0, 0), Qt::UTC).addSecs(index * 7 % (365 * 24 * 3600));
    return { id,
             { { QStringLiteral("name"), QStringLiteral("Customer %1").arg(index) },
               { QStringLiteral("email"), QStringLiteral("customer%1@example.com").arg(index) },
               { QStringLiteral("note"), note },
               { QStringLiteral("amount"), double(index % 100000) / 100 },
               { QStringLiteral("visits"), initialVisits(index) },
               { QStringLiteral("active"), index % 5 != 0 },
               { QStringLiteral("updated"),
                 updated.toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss.zzzZ")) } } };
}

// ---------------------------------------------------------------------------------------
// The server's database, written and checked from this process.

struct Target
{
    const PushBenchOptions *options = nullptr;
    QString sqlitePath; // the SQLite server's database; unused with PostgreSQL
    QString entity;

    bool postgres() const { return !options->postgres.isEmpty(); }
};

std::unique_ptr<ServerBackend> openBackend(const Target &target, const QString &connection,
                                           QString *error)
{
    std::unique_ptr<ServerBackend> backend;
    if (target.postgres())
        backend = std::make_unique<PgServerStore>(target.options->postgres, connection);
    else
        backend = std::make_unique<ServerStore>(target.sqlitePath, connection);
    if (!backend->open(error))
        return nullptr;
    return backend;
}

bool seed(const Target &target, QString *error)
{
    const QString connection = QStringLiteral("pushbench-seed");
    bool ok = false;
    {
        const std::unique_ptr<ServerBackend> backend = openBackend(target, connection, error);
        ok = backend && backend->addEntity(pushSchema(target.entity), error);
        QList<std::pair<QString, QVariantMap>> chunk;
        for (qint64 i = 0; ok && i < target.options->records; ++i) {
            chunk.append(pushRecord(i));
            if (chunk.size() == 20000 || i + 1 == target.options->records) {
                ok = backend->upsert(target.entity, chunk, error);
                chunk.clear();
            }
        }
    }
    QSqlDatabase::removeDatabase(connection);
    return ok;
}

// The live records on the server and the sum of their visits, as the server's backend reads
// them.
bool serverTotals(const Target &target, qint64 *records, qint64 *visits, QString *error)
{
    const QString connection = QStringLiteral("pushbench-check");
    {
        const std::unique_ptr<ServerBackend> backend = openBackend(target, connection, error);
        if (!backend)
            return false;
        const int field = pushSchema(target.entity).fieldIndex(u"visits");
        const QHash<QString, QVariantList> live = backend->liveRecords(target.entity);
        *records = live.size();
        *visits = 0;
        for (const QVariantList &values : live)
            *visits += values.value(field).toLongLong();
    }
    QSqlDatabase::removeDatabase(connection);
    return true;
}

// Runs the statements on the local database, then reads the first column of the last one.
std::optional<qint64> localSql(const QString &database, const QStringList &statements,
                               QString *error)
{
    const QString connection = QStringLiteral("pushbench-local");
    std::optional<qint64> value;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
        db.setDatabaseName(database);
        QSqlQuery query(db);
        bool ok = db.open();
        for (const QString &sql : statements)
            ok = ok && query.exec(sql);
        if (ok && query.next())
            value = query.value(0).toLongLong();
        else
            *error = QStringLiteral("the local database %1: %2 %3")
                         .arg(database, db.lastError().text(), query.lastError().text());
    }
    QSqlDatabase::removeDatabase(connection);
    return value;
}

} // namespace

// ---------------------------------------------------------------------------------------
// Processes

qint64 processCpuTicks(qint64 pid)
{
    QFile file(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!file.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray text = file.readAll();
    // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
    const QList<QByteArray> fields = text.mid(text.lastIndexOf(')') + 2).split(' ');
    if (fields.size() < 13)
        return -1;
    return fields.at(11).toLongLong() + fields.at(12).toLongLong();
}

namespace {

qint64 peakRssKb(qint64 pid)
{
    QFile file(QStringLiteral("/proc/%1/status").arg(pid));
    if (!file.open(QIODevice::ReadOnly))
        return 0;
    const QByteArray text = file.readAll();
    const qsizetype at = text.indexOf("VmHWM:");
    return at < 0 ? 0
                  : text.mid(at + 6, text.indexOf('\n', at) - at - 6)
                        .trimmed()
                        .split(' ')
                        .value(0)
                        .toLongLong();
}

} // namespace

double ticksToSeconds(qint64 ticks)
{
    return double(ticks) / double(sysconf(_SC_CLK_TCK));
}

namespace {

class ServerProcess
{
public:
    ~ServerProcess()
    {
        if (m_process.state() == QProcess::NotRunning)
            return;
        m_process.terminate();
        if (!m_process.waitForFinished(30000))
            m_process.kill();
        m_process.waitForFinished(5000);
    }

    bool start(const Target &target, const QString &logPath, QString *error)
    {
        QStringList arguments { QStringLiteral("--port"), QStringLiteral("0") };
        arguments += target.postgres()
            ? QStringList { QStringLiteral("--postgres"), target.options->postgres }
            : QStringList { QStringLiteral("--db"), target.sqlitePath };
        m_process.setStandardErrorFile(logPath);
        m_process.start(target.options->serverBin, arguments);
        static const QRegularExpression announced(
            QStringLiteral("Serving protocol \\S+ at (\\S+)"));
        QString output;
        QElapsedTimer waited;
        waited.start();
        while (
            m_process.waitForReadyRead(120000 - int(std::min<qint64>(waited.elapsed(), 119000)))) {
            output += QString::fromUtf8(m_process.readAllStandardOutput());
            const QRegularExpressionMatch match = announced.match(output);
            if (match.hasMatch()) {
                m_url = match.captured(1);
                return true;
            }
        }
        *error = QStringLiteral("%1 did not start (see %2): %3 %4")
                     .arg(target.options->serverBin, logPath, m_process.errorString(), output);
        return false;
    }

    QString url() const { return m_url; }
    qint64 cpuTicks() const { return processCpuTicks(m_process.processId()); }

private:
    QProcess m_process;
    QString m_url;
};

struct ClientRun
{
    bool ok = false;
    double seconds = 0;
    double cpuSeconds = 0; // user + system
    double peakRssMb = 0; // the client's VmHWM
};

// batchsync --headless, spawned and reaped directly so that wait4 gives its own peak RSS.
ClientRun runClient(const Target &target, const QString &endpoint, const QString &database,
                    const QString &direction, const QString &logPrefix)
{
    const PushBenchOptions &options = *target.options;
    QStringList arguments { options.clientBin,
                            QStringLiteral("--headless"),
                            QStringLiteral("--endpoint"),
                            endpoint,
                            QStringLiteral("--db"),
                            database,
                            QStringLiteral("--entities"),
                            target.entity,
                            QStringLiteral("--direction"),
                            direction,
                            QStringLiteral("--batch-size"),
                            QString::number(options.batchSize),
                            QStringLiteral("--progress"),
                            QStringLiteral("plain") };
    arguments += options.clientArgs;
    // Only the flags above decide: no saved settings (a config folder of its own).
    const QByteArray config = "XDG_CONFIG_HOME=" + QFile::encodeName(options.workDir + "/config");
    std::vector<QByteArray> environment { config };
    for (char **variable = environ; *variable; ++variable) {
        if (!QByteArray(*variable).startsWith("XDG_CONFIG_HOME="))
            environment.emplace_back(*variable);
    }
    std::vector<QByteArray> argumentBytes;
    for (const QString &argument : std::as_const(arguments))
        argumentBytes.push_back(argument.toLocal8Bit());
    std::vector<char *> argv, envp;
    for (QByteArray &argument : argumentBytes)
        argv.push_back(argument.data());
    argv.push_back(nullptr);
    for (QByteArray &variable : environment)
        envp.push_back(variable.data());
    envp.push_back(nullptr);

    const QByteArray out = QFile::encodeName(logPrefix + QStringLiteral(".stdout"));
    const QByteArray err = QFile::encodeName(logPrefix + QStringLiteral(".stderr"));
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, out.constData(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&files, STDERR_FILENO, err.constData(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ClientRun run;
    QElapsedTimer timer;
    timer.start();
    pid_t pid = -1;
    const int spawned = posix_spawn(&pid, argv.front(), &files, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&files);
    if (spawned != 0) {
        failed(
            QStringLiteral("cannot start %1: %2").arg(options.clientBin, qt_error_string(spawned)));
        return run;
    }
    // ru_maxrss would not do: exec keeps the high-water mark of the memory it replaced, this
    // process's. VmHWM of the new image, polled every 5 ms, is the client's own.
    int status = 0;
    rusage usage {};
    qint64 peakKb = 0;
    for (;;) {
        const pid_t done = wait4(pid, &status, WNOHANG, &usage);
        if (done == pid)
            break;
        if (done < 0 && errno != EINTR) {
            failed(QStringLiteral("cannot wait for the client: %1").arg(qt_error_string(errno)));
            return run;
        }
        peakKb = std::max(peakKb, peakRssKb(pid));
        usleep(5000);
    }
    run.seconds = double(timer.nsecsElapsed()) / 1e9;
    run.cpuSeconds = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    run.peakRssMb = double(peakKb) / 1024;
    run.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!run.ok)
        failed(QStringLiteral("batchsync --direction %1 failed (status %2); see %3")
                   .arg(direction)
                   .arg(status)
                   .arg(QString::fromLocal8Bit(err)));
    return run;
}

struct Round
{
    double pushRate = 0, pullRate = 0;
    double pushRss = 0, pullRss = 0;
};

// One round: every local record changed, pushed, checked, pulled back.
bool runRound(const Target &target, const ServerProcess &server, const QString &database, int round,
              qint64 expectedVisits, Round *figures)
{
    const PushBenchOptions &options = *target.options;
    const QString entity = QLatin1Char('"') + target.entity + QLatin1Char('"');
    QString error;
    const std::optional<qint64> pending
        = localSql(database,
                   { QStringLiteral("UPDATE %1 SET visits = visits + 1").arg(entity),
                     QStringLiteral("SELECT count(*) FROM _sync_pending WHERE entity = '%1'")
                         .arg(target.entity) },
                   &error);
    if (pending != options.records)
        return failed(error.isEmpty() ? QStringLiteral("%1 pending changes after the edit, not %2")
                                            .arg(*pending)
                                            .arg(options.records)
                                      : error);

    const QString prefix = options.workDir + QStringLiteral("/round%1").arg(round);
    const qint64 serverBefore = server.cpuTicks();
    const ClientRun push = runClient(target, server.url(), database, QStringLiteral("push"),
                                     prefix + QStringLiteral("-push"));
    const double serverPushCpu = ticksToSeconds(server.cpuTicks() - serverBefore);
    if (!push.ok)
        return false;

    const std::optional<qint64> left
        = localSql(database,
                   { QStringLiteral("SELECT (SELECT count(*) FROM _sync_pending) * 1000000000 "
                                    "+ (SELECT count(*) FROM _sync_conflicts)") },
                   &error);
    qint64 records = 0, visits = 0;
    if (!left || !serverTotals(target, &records, &visits, &error))
        return failed(error);
    if (*left != 0 || records != options.records || visits != expectedVisits)
        return failed(QStringLiteral("after the push: %1 changes still pending, %2 conflicts "
                                     "kept; the server has %3 records (expected %4) with %5 "
                                     "visits in all (expected %6)")
                          .arg(*left / 1000000000)
                          .arg(*left % 1000000000)
                          .arg(records)
                          .arg(options.records)
                          .arg(visits)
                          .arg(expectedVisits));

    const ClientRun pull = runClient(target, server.url(), database, QStringLiteral("pull"),
                                     prefix + QStringLiteral("-pull"));
    if (!pull.ok)
        return false;
    const std::optional<qint64> local
        = localSql(database, { QStringLiteral("SELECT sum(visits) FROM %1").arg(entity) }, &error);
    if (local != expectedVisits)
        return failed(local ? QStringLiteral("after the pull the local visits add up to %1, not %2")
                                  .arg(*local)
                                  .arg(expectedVisits)
                            : error);

    figures->pushRate = double(options.records) / push.seconds;
    figures->pullRate = double(options.records) / pull.seconds;
    figures->pushRss = push.peakRssMb;
    figures->pullRss = pull.peakRssMb;
    report(QStringLiteral("round %1: push %2 s (%3 records/s; client CPU %4 s, server CPU %5 s, "
                          "client peak RSS %6 MB), pull %7 s (%8 records/s, %9 MB), ratio %10")
               .arg(round)
               .arg(push.seconds, 0, 'f', 3)
               .arg(figures->pushRate, 0, 'f', 0)
               .arg(push.cpuSeconds, 0, 'f', 2)
               .arg(serverPushCpu, 0, 'f', 2)
               .arg(push.peakRssMb, 0, 'f', 1)
               .arg(pull.seconds, 0, 'f', 3)
               .arg(figures->pullRate, 0, 'f', 0)
               .arg(pull.peakRssMb, 0, 'f', 1)
               .arg(figures->pushRate / figures->pullRate, 0, 'f', 3));
    return true;
}

} // namespace

int runPushBench(const PushBenchOptions &options)
{
    Target target;
    target.options = &options;
    target.sqlitePath = options.workDir + QStringLiteral("/push-server.sqlite");
    // A PostgreSQL database outlives the benchmark: each run gets an entity of its own.
    target.entity = target.postgres()
        ? QStringLiteral("pushbench_%1").arg(QDateTime::currentMSecsSinceEpoch())
        : QStringLiteral("pushbench");
    const QString database = options.workDir + QStringLiteral("/push-client.sqlite");
    for (const QString &path : { target.sqlitePath, database }) {
        for (const char *suffix : { "", "-wal", "-shm" })
            QFile::remove(path + QLatin1String(suffix));
    }
    report(QStringLiteral("batchsync-bench --push: %1 records, batch size %2, %3 round(s), %4 "
                          "server; work dir %5")
               .arg(options.records)
               .arg(options.batchSize)
               .arg(options.runs)
               .arg(target.postgres() ? QStringLiteral("PostgreSQL") : QStringLiteral("SQLite"),
                    options.workDir));

    QElapsedTimer timer;
    timer.start();
    QString error;
    if (!seed(target, &error)) {
        failed(QStringLiteral("cannot write the server's records: %1").arg(error));
        return 1;
    }
    qint64 visits = 0;
    for (qint64 i = 0; i < options.records; ++i)
        visits += initialVisits(i);
    report(QStringLiteral("seeded entity %1 with %2 records in %3 s")
               .arg(target.entity)
               .arg(options.records)
               .arg(double(timer.elapsed()) / 1000, 0, 'f', 2));

    ServerProcess server;
    if (!server.start(target, options.workDir + QStringLiteral("/push-server.log"), &error)) {
        failed(error);
        return 1;
    }
    const ClientRun first = runClient(target, server.url(), database, QStringLiteral("pull"),
                                      options.workDir + QStringLiteral("/first"));
    if (!first.ok)
        return 1;
    report(QStringLiteral("first sync: %1 records in %2 s")
               .arg(options.records)
               .arg(first.seconds, 0, 'f', 2));

    std::vector<double> pushRates, pullRates, ratios;
    double peakRss = 0;
    for (int round = 1; round <= options.runs; ++round) {
        Round figures;
        visits += options.records;
        if (!runRound(target, server, database, round, visits, &figures))
            return 1;
        pushRates.push_back(figures.pushRate);
        pullRates.push_back(figures.pullRate);
        ratios.push_back(figures.pushRate / figures.pullRate);
        peakRss = std::max(peakRss, figures.pushRss);
    }
    const double push = medianOf(pushRates).value_or(0);
    const double ratio = medianOf(ratios).value_or(0);
    const double targetRate = target.postgres() ? 20000 : 50000;
    report(QStringLiteral("medians of %1 round(s): push %2 records/s (target %3), pull %4 "
                          "records/s, push/pull %5; client peak RSS %6 MB (largest push, target "
                          "64)")
               .arg(options.runs)
               .arg(push, 0, 'f', 0)
               .arg(targetRate, 0, 'f', 0)
               .arg(medianOf(pullRates).value_or(0), 0, 'f', 0)
               .arg(ratio, 0, 'f', 3)
               .arg(peakRss, 0, 'f', 1));
    report(QStringLiteral("RESULT records=%1 batch_size=%2 push_records_per_s=%3 "
                          "pull_records_per_s=%4 push_pull_ratio=%5 client_peak_rss_mb=%6 "
                          "backend=%7 rounds=%8")
               .arg(options.records)
               .arg(options.batchSize)
               .arg(push, 0, 'f', 0)
               .arg(medianOf(pullRates).value_or(0), 0, 'f', 0)
               .arg(ratio, 0, 'f', 3)
               .arg(peakRss, 0, 'f', 1)
               .arg(target.postgres() ? QStringLiteral("postgres") : QStringLiteral("sqlite"))
               .arg(options.runs));
    return 0;
}

} // namespace BatchSync::Bench
