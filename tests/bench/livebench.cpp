#include "livebench.h"

#include "engine/syncengine.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTcpSocket>
#include <QThread>
#include <QTimer>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <unistd.h>
#include <vector>

namespace BatchSync::Bench {

namespace {

void say(const QString &text)
{
    std::printf("%s\n", qPrintable(text));
    std::fflush(stdout);
}

// Runs the event loop until \a done or \a timeoutMs pass; whether \a done came true. The
// benchmark's own main loop: engines report through queued signals.
bool spinUntil(const std::function<bool()> &done, int timeoutMs)
{
    QElapsedTimer clock;
    clock.start();
    while (!done()) {
        if (clock.elapsed() > timeoutMs)
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        QThread::usleep(500);
    }
    return true;
}

// A number after \a key in /proc/PID/status (kB), or in /proc/PID/stat's utime + stime.
qint64 statusKb(qint64 pid, const char *key)
{
    QFile file(QStringLiteral("/proc/%1/status").arg(pid));
    if (!file.open(QIODevice::ReadOnly))
        return 0;
    const QByteArray text = file.readAll();
    const qsizetype at = text.indexOf(key);
    if (at < 0)
        return 0;
    const qsizetype start = at + qstrlen(key);
    return text.mid(start, text.indexOf('\n', start) - start)
        .simplified()
        .split(' ')
        .value(0)
        .toLongLong();
}

double cpuSeconds(qint64 pid)
{
    QFile file(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!file.open(QIODevice::ReadOnly))
        return 0;
    const QByteArray text = file.readAll();
    const QList<QByteArray> fields = text.mid(text.lastIndexOf(')') + 2).split(' ');
    return double(fields.value(11).toLongLong() + fields.value(12).toLongLong())
        / double(sysconf(_SC_CLK_TCK));
}

double percentile(std::vector<double> values, double p)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const size_t index = std::min(values.size() - 1, size_t(p * double(values.size() - 1) + 0.5));
    return values[index];
}

struct Client
{
    std::unique_ptr<SyncEngine> engine;
    QString database;
    qint64 completedAtMs = -1; // the last Completed of "customers", on the bench's clock
};

} // namespace

int runLiveBench(const LiveBenchOptions &options)
{
    QDir().mkpath(options.workDir);
    const QString serverDb = options.workDir + QStringLiteral("/live-server.sqlite");
    QFile::remove(serverDb);
    QProcess server;
    server.setStandardErrorFile(options.workDir + QStringLiteral("/live-server.log"));
    server.start(options.serverBin,
                 { QStringLiteral("--db"), serverDb, QStringLiteral("--port"), QStringLiteral("0"),
                   QStringLiteral("--demo-scale"), QStringLiteral("0.01"),
                   QStringLiteral("--max-live"),
                   QString::number(options.clients + options.idleWaits + 16) });
    QString announced;
    static const QRegularExpression urlPattern(QStringLiteral("at (http://\\S+)"));
    if (!spinUntil(
            [&] {
                server.waitForReadyRead(50);
                announced += QString::fromUtf8(server.readAllStandardOutput());
                return urlPattern.match(announced).hasMatch();
            },
            60000)) {
        say(QStringLiteral("FAILED: the server did not start"));
        return 1;
    }
    const QUrl base(urlPattern.match(announced).captured(1));
    const qint64 serverPid = server.processId();
    say(QStringLiteral("server %1 (pid %2)").arg(base.toString()).arg(serverPid));

    QElapsedTimer clock;
    clock.start();
    std::vector<Client> clients(size_t(options.clients));
    for (int i = 0; i < options.clients; ++i) {
        Client &client = clients[size_t(i)];
        client.database = options.workDir + QStringLiteral("/live-client-%1.sqlite").arg(i);
        QFile::remove(client.database);
        QFile::remove(client.database + QStringLiteral("-wal"));
        SyncSettings settings;
        settings.endpoint = base;
        settings.databasePath = client.database;
        settings.live = true;
        settings.concurrency = 1;
        client.engine = std::make_unique<SyncEngine>(settings);
        QObject::connect(client.engine.get(), &SyncEngine::stateChanged, client.engine.get(),
                         [&client, &clock](const QString &entity, SyncState state) {
                             if (entity == QLatin1String("customers")
                                 && state == SyncState::Completed)
                                 client.completedAtMs = clock.elapsed();
                         });
    }
    const auto allWaiting = [&] {
        return std::all_of(clients.begin(), clients.end(), [](const Client &c) {
            return c.engine->liveState() == LiveState::Waiting && !c.engine->isBusy();
        });
    };
    if (!spinUntil(allWaiting, 300000)) {
        say(QStringLiteral("FAILED: not every client came to wait within 300 s"));
        return 1;
    }
    say(QStringLiteral("%1 live clients synced and waiting after %2 ms")
            .arg(options.clients)
            .arg(clock.elapsed()));

    // Idle: every client holds its wait; nothing changes.
    const double cpuBefore = cpuSeconds(serverPid);
    const double clientsCpuBefore = cpuSeconds(QCoreApplication::applicationPid());
    QElapsedTimer idle;
    idle.start();
    // Sleeping, not spinning: the clients' own threads are what is measured here.
    QThread::msleep(5000);
    const double idleSeconds = double(idle.elapsed()) / 1000.0;
    const double idleCpuPercent = 100.0 * (cpuSeconds(serverPid) - cpuBefore) / idleSeconds;
    const double clientsIdleCpuPercent
        = 100.0 * (cpuSeconds(QCoreApplication::applicationPid()) - clientsCpuBefore) / idleSeconds;
    const double liveRssMb = double(statusKb(serverPid, "VmRSS:")) / 1024.0;
    say(QStringLiteral("idle with %1 live clients: server RSS %2 MB, CPU %3 %; the clients' CPU "
                       "%4 % (all %1 together)")
            .arg(options.clients)
            .arg(liveRssMb, 0, 'f', 1)
            .arg(idleCpuPercent, 0, 'f', 2)
            .arg(clientsIdleCpuPercent, 0, 'f', 2));

    // The writer: one change at a time to one record, timed from its "applied".
    QNetworkAccessManager writer;
    QString version;
    QString id; // the record the writer changes: the first of the feed
    {
        QNetworkReply *reply = writer.get(QNetworkRequest(
            QUrl(base.toString() + QStringLiteral("/entities/customers/changes?limit=1"))));
        spinUntil([reply] { return reply->isFinished(); }, 30000);
        const QJsonObject first
            = QJsonDocument::fromJson(reply->readAll()).object()["changes"][0].toObject();
        version = first.value(QStringLiteral("version")).toString();
        id = first.value(QStringLiteral("id")).toString();
        reply->deleteLater();
    }
    std::vector<double> latencies;
    int missed = 0;
    for (int k = 0; k < options.changes; ++k) {
        QElapsedTimer pace;
        pace.start();
        const QJsonObject change {
            { QStringLiteral("changeId"), QStringLiteral("live-bench:%1").arg(k) },
            { QStringLiteral("id"), id },
            { QStringLiteral("base"), version },
            { QStringLiteral("deleted"), false },
            { QStringLiteral("data"),
              QJsonObject { { QStringLiteral("name"), QStringLiteral("Live %1").arg(k) } } }
        };
        QNetworkRequest request(
            QUrl(base.toString() + QStringLiteral("/entities/customers/changes")));
        request.setHeader(QNetworkRequest::ContentTypeHeader,
                          QByteArrayLiteral("application/json"));
        const QByteArray body
            = QJsonDocument(
                  QJsonObject { { QStringLiteral("client"), QStringLiteral("live-bench") },
                                { QStringLiteral("changes"), QJsonArray { change } } })
                  .toJson(QJsonDocument::Compact);
        const qint64 sentAt = clock.elapsed();
        for (Client &client : clients)
            client.completedAtMs = -1;
        QNetworkReply *reply = writer.post(request, body);
        spinUntil([reply] { return reply->isFinished(); }, 30000);
        const qint64 appliedAt = clock.elapsed();
        const QJsonObject result
            = QJsonDocument::fromJson(reply->readAll()).object()["results"][0].toObject();
        reply->deleteLater();
        if (result.value(QStringLiteral("status")).toString() != QLatin1String("applied")) {
            say(QStringLiteral("FAILED: change %1 was not applied").arg(k));
            return 1;
        }
        version = result.value(QStringLiteral("version")).toString();
        spinUntil(
            [&] {
                return std::all_of(clients.begin(), clients.end(),
                                   [sentAt](const Client &c) { return c.completedAtMs >= sentAt; });
            },
            10000);
        for (const Client &client : clients) {
            if (client.completedAtMs < sentAt)
                ++missed;
            else
                latencies.push_back(double(std::max<qint64>(0, client.completedAtMs - appliedAt)));
        }
        spinUntil([&] { return pace.elapsed() >= options.intervalMs && allWaiting(); }, 10000);
    }

    // Every client holds the last value.
    int wrong = 0;
    for (size_t i = 0; i < clients.size(); ++i) {
        const QString name = QStringLiteral("live-check-%1").arg(i);
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
            db.setDatabaseName(clients[i].database);
            db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY"));
            QSqlQuery query(db);
            if (!db.open()
                || !query.exec(QStringLiteral("SELECT name FROM customers WHERE id = '%1'").arg(id))
                || !query.next()
                || query.value(0).toString() != QStringLiteral("Live %1").arg(options.changes - 1))
                ++wrong;
        }
        QSqlDatabase::removeDatabase(name);
    }

    // The idle server's memory with many held waits besides.
    std::vector<std::unique_ptr<QTcpSocket>> waits;
    for (int i = 0; i < options.idleWaits; ++i) {
        auto socket = std::make_unique<QTcpSocket>();
        socket->connectToHost(base.host(), quint16(base.port()));
        socket->write("GET /api/v1/wait?timeout=60&since=customers:" + version.toLatin1()
                      + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        waits.push_back(std::move(socket));
        if (i % 50 == 49)
            spinUntil([] { return false; }, 20);
    }
    spinUntil([] { return false; }, 2000);
    const double idleWaitsRssMb = double(statusKb(serverPid, "VmRSS:")) / 1024.0;
    int answered = 0;
    for (const auto &socket : waits)
        answered += socket->bytesAvailable() > 0 ? 1 : 0;
    say(QStringLiteral("%1 more held waits: server RSS %2 MB (%3 answered early)")
            .arg(options.idleWaits)
            .arg(idleWaitsRssMb, 0, 'f', 1)
            .arg(answered));
    waits.clear();
    clients.clear();
    server.terminate();
    server.waitForFinished(20000);

    const double p50 = percentile(latencies, 0.50);
    const double p99 = percentile(latencies, 0.99);
    say(QStringLiteral(
            "latency from applied to each client's commit: p50 %1 ms, p99 %2 ms, max %3 ms "
            "(%4 commits, %5 missed, %6 clients with a wrong last value)")
            .arg(p50, 0, 'f', 0)
            .arg(p99, 0, 'f', 0)
            .arg(percentile(latencies, 1.0), 0, 'f', 0)
            .arg(latencies.size())
            .arg(missed)
            .arg(wrong));
    say(QStringLiteral("RESULT live_clients=%1 changes=%2 live_p50_ms=%3 live_p99_ms=%4 "
                       "live_server_rss_mb=%5 live_server_idle_cpu_pct=%6 idle_waits=%7 "
                       "idle_waits_server_rss_mb=%8 missed=%9 wrong=%10 "
                       "live_clients_idle_cpu_pct=%11")
            .arg(options.clients)
            .arg(options.changes)
            .arg(p50, 0, 'f', 0)
            .arg(p99, 0, 'f', 0)
            .arg(liveRssMb, 0, 'f', 1)
            .arg(idleCpuPercent, 0, 'f', 2)
            .arg(options.idleWaits)
            .arg(idleWaitsRssMb, 0, 'f', 1)
            .arg(missed)
            .arg(wrong)
            .arg(clientsIdleCpuPercent, 0, 'f', 2));
    return missed == 0 && wrong == 0 ? 0 : 1;
}

} // namespace BatchSync::Bench
