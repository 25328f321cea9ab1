// batchsync-bench --postgres: the pull from PostgreSQL, by several clients at once through
// one or more real batchsync-server processes on one database.

#include "pgpullbench.h"

#include "pushbench.h"
#include "server/backend/pgserverstore.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <libpq-fe.h>
#include <memory>
#include <optional>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char **environ;

namespace BatchSync::Bench {

namespace {

const QString Entity = QStringLiteral("pgpull");

void say(const QString &text)
{
    std::fputs(qPrintable(text + u'\n'), stdout);
    std::fflush(stdout);
}

int stop(const QString &text)
{
    std::fputs(qPrintable(QStringLiteral("batchsync-bench: ") + text + u'\n'), stderr);
    return 1;
}

double middle(std::vector<double> values)
{
    if (values.empty())
        return 0;
    const auto half = values.begin() + std::ptrdiff_t(values.size() / 2);
    std::nth_element(values.begin(), half, values.end());
    if (values.size() % 2)
        return *half;
    return (*half + *std::max_element(values.begin(), half)) / 2;
}

// ---------------------------------------------------------------------------------------
// The served table, filled by PostgreSQL itself.

// Runs \a statements on a libpq session of its own; \a value receives the first column of the
// last one's first row.
bool sql(const QString &postgres, const QStringList &statements, QString *error,
         qint64 *value = nullptr)
{
    PGconn *session = PQconnectdb(postgres.toUtf8().constData());
    bool ok = PQstatus(session) == CONNECTION_OK;
    for (qsizetype i = 0; ok && i < statements.size(); ++i) {
        PGresult *result = PQexec(session, statements.at(i).toUtf8().constData());
        const ExecStatusType status = PQresultStatus(result);
        ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
        if (ok && value && i + 1 == statements.size())
            *value = PQntuples(result) > 0 ? QByteArray(PQgetvalue(result, 0, 0)).toLongLong() : -1;
        PQclear(result);
    }
    if (!ok)
        *error = QString::fromUtf8(PQerrorMessage(session)).trimmed();
    PQfinish(session);
    return ok;
}

// The table with exactly options.records records and no deletions: kept when it has them.
bool fill(const PgPullBenchOptions &options, QString *error)
{
    {
        PgServerStore store(options.postgres, QStringLiteral("pgpullbench-store"));
        if (!store.open(error) || !store.addEntity(pushSchema(Entity), error))
            return false;
    }
    QSqlDatabase::removeDatabase(QStringLiteral("pgpullbench-store"));
    qint64 held = -1;
    if (!sql(options.postgres,
             { QStringLiteral("SELECT (SELECT count(*) FROM pgpull) + 1000000000 * (SELECT "
                              "count(*) FROM _bs_tombstones WHERE entity = 'pgpull')") },
             error, &held))
        return false;
    if (held == options.records) {
        say(QStringLiteral("the table pgpull holds the %1 records already").arg(held));
        return true;
    }
    QElapsedTimer timer;
    timer.start();
    const QString insert
        = QStringLiteral(
              "INSERT INTO pgpull(id, name, email, note, amount, visits, active, updated) "
              "SELECT 'r-' || md5(g::text), 'Customer ' || g, 'customer' || g || '@example.com', "
              "'a record of the PostgreSQL pull benchmark, about two hundred bytes of values in "
              "all, "
              "served to every client', (g % 100000) / 100.0, g % 1000, g % 5 <> 0, "
              "to_char(timestamp '2026-01-01' + g * interval '7 seconds', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM generate_series(0, %1) g")
              .arg(options.records - 1);
    if (!sql(options.postgres,
             { QStringLiteral("TRUNCATE pgpull"),
               QStringLiteral("DELETE FROM _bs_tombstones WHERE entity = 'pgpull'"), insert,
               QStringLiteral("VACUUM ANALYZE pgpull") },
             error))
        return false;
    say(QStringLiteral("filled the table pgpull with %1 records in %2 s")
            .arg(options.records)
            .arg(double(timer.elapsed()) / 1000, 0, 'f', 1));
    return true;
}

// ---------------------------------------------------------------------------------------
// The processes

struct Server
{
    std::unique_ptr<QProcess> process;
    QString url;

    ~Server()
    {
        if (!process || process->state() == QProcess::NotRunning)
            return;
        process->terminate();
        if (!process->waitForFinished(30000))
            process->kill();
        process->waitForFinished(5000);
    }
};

bool startServer(const PgPullBenchOptions &options, const QString &log, Server *server,
                 QString *error)
{
    server->process = std::make_unique<QProcess>();
    server->process->setStandardErrorFile(log);
    server->process->start(options.serverBin,
                           { QStringLiteral("--port"), QStringLiteral("0"),
                             QStringLiteral("--postgres"), options.postgres });
    static const QRegularExpression serving(QStringLiteral("Serving protocol \\S+ at (\\S+)"));
    QString output;
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 120000 && server->process->waitForReadyRead(1000)) {
        output += QString::fromUtf8(server->process->readAllStandardOutput());
        const QRegularExpressionMatch match = serving.match(output);
        if (match.hasMatch()) {
            server->url = match.captured(1);
            return true;
        }
    }
    *error = QStringLiteral("%1 did not start (see %2): %3")
                 .arg(options.serverBin, log, server->process->errorString());
    return false;
}

struct Client
{
    pid_t pid = -1;
    QString database;
    QString log;
    double seconds = -1; // from the common start to its exit
    bool ok = false;
};

bool spawnClient(const PgPullBenchOptions &options, const QString &endpoint, Client *client)
{
    QStringList arguments { options.clientBin,
                            QStringLiteral("--headless"),
                            QStringLiteral("--endpoint"),
                            endpoint,
                            QStringLiteral("--db"),
                            client->database,
                            QStringLiteral("--entities"),
                            Entity,
                            QStringLiteral("--batch-size"),
                            QString::number(options.batchSize) };
    arguments += options.clientArgs;
    std::vector<QByteArray> bytes;
    std::vector<char *> argv;
    for (const QString &argument : std::as_const(arguments))
        bytes.push_back(QFile::encodeName(argument));
    for (QByteArray &argument : bytes)
        argv.push_back(argument.data());
    argv.push_back(nullptr);
    const QByteArray log = QFile::encodeName(client->log);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    for (const int stream : { STDOUT_FILENO, STDERR_FILENO })
        posix_spawn_file_actions_addopen(&actions, stream, log.constData(),
                                         O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int result
        = posix_spawn(&client->pid, argv.front(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return result == 0;
}

std::optional<qint64> localCount(const QString &database)
{
    const QString name = QStringLiteral("pgpullbench-local");
    std::optional<qint64> count;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(database);
        QSqlQuery query(db);
        if (db.open() && query.exec(QStringLiteral("SELECT count(*) FROM pgpull")) && query.next())
            count = query.value(0).toLongLong();
    }
    QSqlDatabase::removeDatabase(name);
    return count;
}

struct Round
{
    double aggregate = 0; // records/s, all clients together
    double perClient = 0; // median of the clients' own rates
};

bool runRound(const PgPullBenchOptions &options, int round, Round *figures, QString *error)
{
    const QString prefix = options.workDir + QStringLiteral("/round%1").arg(round);
    std::vector<Server> servers(size_t(options.servers));
    for (int s = 0; s < options.servers; ++s) {
        if (!startServer(options, prefix + QStringLiteral("-server%1.log").arg(s),
                         &servers[size_t(s)], error))
            return false;
    }
    std::vector<qint64> ticksBefore;
    for (const Server &server : servers)
        ticksBefore.push_back(processCpuTicks(server.process->processId()));

    std::vector<Client> clients(size_t(options.clients));
    QElapsedTimer timer;
    timer.start();
    for (int c = 0; c < options.clients; ++c) {
        Client &client = clients[size_t(c)];
        client.database = prefix + QStringLiteral("-client%1.sqlite").arg(c);
        client.log = prefix + QStringLiteral("-client%1.log").arg(c);
        for (const char *suffix : { "", "-wal", "-shm" })
            QFile::remove(client.database + QLatin1String(suffix));
        QFile::remove(client.log);
        if (!spawnClient(options, servers[size_t(c % options.servers)].url, &client)) {
            *error = QStringLiteral("cannot start %1").arg(options.clientBin);
            return false;
        }
    }
    // Each client's exit, within a millisecond or two.
    for (int running = options.clients; running > 0;) {
        for (Client &client : clients) {
            int status = 0;
            if (client.seconds >= 0 || waitpid(client.pid, &status, WNOHANG) != client.pid)
                continue;
            client.seconds = double(timer.nsecsElapsed()) / 1e9;
            client.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            --running;
        }
        if (running > 0)
            usleep(1000);
    }
    const double wall = double(timer.nsecsElapsed()) / 1e9;
    double serverCpu = 0;
    for (size_t s = 0; s < servers.size(); ++s)
        serverCpu
            += ticksToSeconds(processCpuTicks(servers[s].process->processId()) - ticksBefore[s]);

    std::vector<double> rates;
    for (const Client &client : clients) {
        if (!client.ok) {
            *error = QStringLiteral("a client failed; see %1").arg(client.log);
            return false;
        }
        const std::optional<qint64> count = localCount(client.database);
        if (count != options.records) {
            *error = QStringLiteral("%1 holds %2 records, not %3")
                         .arg(client.database)
                         .arg(count.value_or(-1))
                         .arg(options.records);
            return false;
        }
        rates.push_back(double(options.records) / client.seconds);
    }
    figures->aggregate = double(options.records) * options.clients / wall;
    figures->perClient = middle(rates);
    say(QStringLiteral("round %1: %2 records/s in all (%3 s), per client %4 .. %5 records/s "
                       "(median %6), servers' CPU %7 s")
            .arg(round)
            .arg(figures->aggregate, 0, 'f', 0)
            .arg(wall, 0, 'f', 2)
            .arg(*std::min_element(rates.begin(), rates.end()), 0, 'f', 0)
            .arg(*std::max_element(rates.begin(), rates.end()), 0, 'f', 0)
            .arg(figures->perClient, 0, 'f', 0)
            .arg(serverCpu, 0, 'f', 2));
    return true;
}

} // namespace

int runPgPullBench(const PgPullBenchOptions &options)
{
    say(QStringLiteral("batchsync-bench --postgres: %1 records, %2 client(s) x %3 server(s), "
                       "batch size %4, %5 round(s); server %6; work dir %7")
            .arg(options.records)
            .arg(options.clients)
            .arg(options.servers)
            .arg(options.batchSize)
            .arg(options.runs)
            .arg(options.serverBin, options.workDir));
    QString error;
    if (!fill(options, &error))
        return stop(QStringLiteral("cannot fill the table: %1").arg(error));
    std::vector<double> aggregates, perClient;
    for (int round = 1; round <= options.runs; ++round) {
        Round figures;
        if (!runRound(options, round, &figures, &error))
            return stop(error);
        aggregates.push_back(figures.aggregate);
        perClient.push_back(figures.perClient);
    }
    say(QStringLiteral("RESULT records=%1 clients=%2 servers=%3 batch_size=%4 "
                       "pg_records_per_s=%5 pg_client_records_per_s=%6 rounds=%7")
            .arg(options.records)
            .arg(options.clients)
            .arg(options.servers)
            .arg(options.batchSize)
            .arg(middle(aggregates), 0, 'f', 0)
            .arg(middle(perClient), 0, 'f', 0)
            .arg(options.runs));
    return 0;
}

} // namespace BatchSync::Bench
