// batchsync-bench --source odata: the OData source's sync from SAP CAP beside CAP's own rate
// for the same pages. The sync runs in a child process of this program, so that its peak RSS
// is the client's alone (CAP is a process of its own, the HTTP loop runs here).

#include "odatabench.h"

#include "common/logging.h"
#include "dataviewbench.h"
#include "engine/syncengine.h"
#include "sources/http/httpreply.h"
#include "sources/odata/odatametadata.h"
#include "sources/odata/odataquery.h"
#include "testutil/cappeer.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QLoggingCategory>
#include <QMutex>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

namespace BatchSync::Bench {

namespace {

using Test::CapPeer;

constexpr char SyncChildFlag[] = "--odata-sync-child";
constexpr char SetName[] = "Products";
constexpr int RequestTimeoutMs = 120000;
// What the OData source asks for (odatasource.cpp), so that CAP answers both the same way.
constexpr char JsonAccept[] = "application/json;odata.metadata=minimal;IEEE754Compatible=true";

void out(const QString &line)
{
    std::fputs(qPrintable(line + u'\n'), stdout);
    std::fflush(stdout);
}

int complain(const QString &line)
{
    std::fputs(qPrintable(QStringLiteral("batchsync-bench: %1\n").arg(line)), stderr);
    return 1;
}

// ---------------------------------------------------------------------------------------
// Processes: CPU time and peak RSS from /proc.

QByteArray procFile(qint64 pid, const char *name)
{
    QFile file(QStringLiteral("/proc/%1/%2").arg(pid).arg(QLatin1String(name)));
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// User + system CPU seconds of \a pid so far; -1 when unknown.
double cpuSeconds(qint64 pid)
{
    const QByteArray stat = procFile(pid, "stat");
    // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
    const QList<QByteArray> fields = stat.mid(stat.lastIndexOf(')') + 2).split(' ');
    if (pid <= 0 || fields.size() < 13)
        return -1;
    const double ticks = double(sysconf(_SC_CLK_TCK));
    return (fields.at(11).toDouble() + fields.at(12).toDouble()) / ticks;
}

qint64 peakRssKb(qint64 pid)
{
    for (const QByteArray &line : procFile(pid, "status").split('\n')) {
        if (line.startsWith("VmHWM:"))
            return line.mid(6).trimmed().split(' ').constFirst().toLongLong();
    }
    return -1;
}

// CAP's node process: cap.sh execs node, so it is a child of this process named "node".
qint64 capProcessId()
{
    const qint64 self = QCoreApplication::applicationPid();
    const QStringList entries = QDir(QStringLiteral("/proc")).entryList(QDir::Dirs);
    for (const QString &entry : entries) {
        bool numeric = false;
        const qint64 pid = entry.toLongLong(&numeric);
        const QByteArray stat = numeric ? procFile(pid, "stat") : QByteArray();
        const QList<QByteArray> fields = stat.mid(stat.lastIndexOf(')') + 2).split(' ');
        if (stat.contains("(node)") && fields.size() > 1 && fields.at(1).toLongLong() == self)
            return pid;
    }
    return -1;
}

double ownCpuSeconds()
{
    rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double medianOf(std::vector<double> values)
{
    if (values.empty())
        return 0;
    const auto middle = values.begin() + qsizetype(values.size() / 2);
    std::nth_element(values.begin(), middle, values.end());
    if (values.size() % 2)
        return *middle;
    return (*middle + *std::max_element(values.begin(), middle)) / 2;
}

// ---------------------------------------------------------------------------------------
// One measurement: CAP's own rate (the loop) or the sync's.

struct Measurement
{
    double seconds = 0;
    qint64 records = 0;
    qint64 pages = 0;
    qint64 bytes = 0;
    double pageMs = 0; // the pages' request times, summed
    double medianPageMs = 0;
    double otherRequestMs = 0; // the sync's $metadata and count requests
    double parseMs = 0; // the sync's page parsing: from a response's end to its page
    double startMs = 0; // the sync's start: to its first request
    double endMs = 0; // the sync's end: from its last page parsed (last write, index, close)
    double capCpuSeconds = -1; // CAP's CPU time during the measurement
    double clientCpuSeconds = -1; // the loop's or the sync's process
    qint64 clientPeakKb = -1; // the sync's process
    double rate() const { return seconds > 0 ? double(records) / seconds : 0; }
};

// The value of the last "name":"value" in \a body (names given with their quotes and colon).
QByteArray lastText(const QByteArray &body, const QByteArray &member)
{
    const qsizetype at = body.lastIndexOf(member);
    const qsizetype end = at < 0 ? -1 : body.indexOf('"', at + member.size());
    return end < 0 ? QByteArray() : body.mid(at + member.size(), end - at - member.size());
}

/*!
    CAP's own rate: the keyset pages the OData source asks for (same query, same headers), one
    request at a time, reading of each response only its @odata.count and the last record's
    change time and key (the next position). Without \a withCount, the same pages without
    $count=true (what the count costs CAP); the records of a page are then counted by key.
*/
std::optional<Measurement> fetchLikeTheSource(const QUrl &root, const OData::EntitySet &set,
                                              int batchSize, qint64 capPid, QString *error,
                                              bool withCount = true)
{
    QNetworkAccessManager manager;
    const QByteArray authorization
        = "Basic " + (CapPeer::user() + u':' + CapPeer::password()).toUtf8().toBase64();
    const QByteArray timeMember = '"' + set.changeTime.toUtf8() + "\":\"";
    const QByteArray keyMember = '"' + set.keys.constFirst().name.toUtf8() + "\":\"";
    const QByteArray countMember = "\"@odata.count\":";
    Measurement m;
    std::vector<double> latencies;
    const double capBefore = cpuSeconds(capPid);
    const double ownBefore = ownCpuSeconds();
    QElapsedTimer clock;
    clock.start();
    OData::KeysetPosition after;
    for (;;) {
        QList<std::pair<QString, QString>> query = OData::pageQuery(set, after, batchSize);
        if (!withCount)
            query.removeIf([](const auto &item) { return item.first == u"$count"; });
        QNetworkRequest request(Http::join(root, set.name, query));
        request.setRawHeader("Accept", JsonAccept);
        request.setRawHeader("OData-MaxVersion", "4.0");
        request.setHeader(QNetworkRequest::UserAgentHeader, QByteArrayLiteral("BatchSync"));
        request.setRawHeader("Authorization", authorization);
        const qint64 sent = clock.nsecsElapsed();
        const std::unique_ptr<QNetworkReply> reply(manager.get(request));
        if (!spinUntil([&] { return reply->isFinished(); }, RequestTimeoutMs, SpinMode::Sleep)) {
            *error = QStringLiteral("CAP did not answer a page within %1 s")
                         .arg(RequestTimeoutMs / 1000);
            return std::nullopt;
        }
        const QByteArray body = reply->readAll();
        latencies.push_back(double(clock.nsecsElapsed() - sent) / 1e6);
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const qsizetype countAt = withCount ? body.indexOf(countMember) : 0;
        if (status != 200 || countAt < 0) {
            *error = QStringLiteral("CAP answered %1 %2: %3")
                         .arg(status)
                         .arg(reply->errorString(), QString::fromUtf8(body.left(300)));
            return std::nullopt;
        }
        ++m.pages;
        m.bytes += body.size();
        // @odata.count counts what follows the position, this page included.
        const qint64 following = withCount
            ? body.mid(countAt + countMember.size(), 20).split(',').constFirst().toLongLong()
            : body.count(keyMember) + (body.count(keyMember) == batchSize ? 1 : 0);
        m.records += std::min<qint64>(following, batchSize);
        if (following <= batchSize)
            break;
        after = { QString::fromLatin1(lastText(body, timeMember)),
                  { QString::fromLatin1(lastText(body, keyMember)) } };
        if (after.changeTime.isEmpty() || after.key.constFirst().isEmpty()) {
            *error = QStringLiteral("no %1 or %2 in CAP's page")
                         .arg(set.changeTime, set.keys.constFirst().name);
            return std::nullopt;
        }
    }
    m.seconds = double(clock.nsecsElapsed()) / 1e9;
    m.capCpuSeconds = cpuSeconds(capPid) - capBefore;
    m.clientCpuSeconds = ownCpuSeconds() - ownBefore;
    for (const double ms : latencies)
        m.pageMs += ms;
    m.medianPageMs = medianOf(latencies);
    return m;
}

// The sync child's line: "ODATA key=value ...".
const QRegularExpression &childLine()
{
    static const QRegularExpression line(QStringLiteral(
        "ODATA seconds=(\\S+) records=(\\d+) pages=(\\d+) bytes=(\\d+) page_ms=(\\S+) "
        "median_page_ms=(\\S+) other_ms=(\\S+) parse_ms=(\\S+) start_ms=(\\S+) end_ms=(\\S+) "
        "cpu_s=(\\S+) rss_kb=(-?\\d+)"));
    return line;
}

qint64 localRecords(const QString &database)
{
    const QString connection = QStringLiteral("bench-odata-verify");
    qint64 records = -1;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
        db.setDatabaseName(database);
        QSqlQuery query(db);
        if (db.open() && query.exec(QStringLiteral("SELECT count(*) FROM \"%1\"").arg(SetName))
            && query.next())
            records = query.value(0).toLongLong();
    }
    QSqlDatabase::removeDatabase(connection);
    return records;
}

/*! The sync: a SyncEngine in a child process of this program, into a fresh \a database. */
std::optional<Measurement> syncInChild(const QUrl &root, int batchSize, const QString &database,
                                       const QString &logPrefix, qint64 capPid, QString *error)
{
    for (const char *suffix : { "", "-wal", "-shm" })
        QFile::remove(database + QLatin1String(suffix));
    QProcess child;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("BATCHSYNC_PASSWORD"), CapPeer::password());
    child.setProcessEnvironment(environment);
    child.setStandardErrorFile(logPrefix + QStringLiteral(".stderr"));
    child.setProgram(QCoreApplication::applicationFilePath());
    child.setArguments({ QLatin1String(SyncChildFlag), root.toString(), database,
                         QString::number(batchSize), QLatin1String(SetName) });
    const double capBefore = cpuSeconds(capPid);
    child.start();
    // The event loop runs meanwhile: CAP's log output is read and never fills its pipe.
    if (!child.waitForStarted(10000)
        || !spinUntil([&] { return child.state() == QProcess::NotRunning; }, 3600 * 1000,
                      SpinMode::Sleep)) {
        child.kill();
        child.waitForFinished(5000);
        *error = QStringLiteral("the sync's process did not finish: %1").arg(child.errorString());
        return std::nullopt;
    }
    const double capAfter = cpuSeconds(capPid);
    const QString output = QString::fromUtf8(child.readAllStandardOutput());
    const QRegularExpressionMatch match = childLine().match(output);
    if (child.exitStatus() != QProcess::NormalExit || child.exitCode() != 0 || !match.hasMatch()) {
        *error = QStringLiteral("the sync failed (exit code %1); see %2.stderr")
                     .arg(child.exitCode())
                     .arg(logPrefix);
        return std::nullopt;
    }
    Measurement m;
    m.seconds = match.captured(1).toDouble();
    m.records = match.captured(2).toLongLong();
    m.pages = match.captured(3).toLongLong();
    m.bytes = match.captured(4).toLongLong();
    m.pageMs = match.captured(5).toDouble();
    m.medianPageMs = match.captured(6).toDouble();
    m.otherRequestMs = match.captured(7).toDouble();
    m.parseMs = match.captured(8).toDouble();
    m.startMs = match.captured(9).toDouble();
    m.endMs = match.captured(10).toDouble();
    m.clientCpuSeconds = match.captured(11).toDouble();
    m.clientPeakKb = match.captured(12).toLongLong();
    m.capCpuSeconds = capAfter - capBefore;
    const qint64 stored = localRecords(database);
    if (stored != m.records) {
        *error = QStringLiteral("the local database holds %1 records of %2, the sync reported %3: "
                                "the sync is wrong, so its figures mean nothing")
                     .arg(stored)
                     .arg(QLatin1String(SetName))
                     .arg(m.records);
        return std::nullopt;
    }
    return m;
}

QString describe(const Measurement &m)
{
    return QStringLiteral("%1 records/s  (%2 s, %3 pages, %4 MB, page median %5 ms, "
                          "requests %6 s, CAP CPU %7 s, own CPU %8 s)")
        .arg(m.rate(), 8, 'f', 0)
        .arg(m.seconds, 0, 'f', 3)
        .arg(m.pages)
        .arg(double(m.bytes) / 1e6, 0, 'f', 1)
        .arg(m.medianPageMs, 0, 'f', 1)
        .arg((m.pageMs + m.otherRequestMs) / 1000, 0, 'f', 3)
        .arg(m.capCpuSeconds, 0, 'f', 2)
        .arg(m.clientCpuSeconds, 0, 'f', 2);
}

// ---------------------------------------------------------------------------------------
// The sync child: what the OData source logs of each request.

struct RequestLog
{
    QMutex mutex;
    QElapsedTimer clock;
    std::vector<std::pair<QString, std::pair<qint64, double>>> entries; // what, bytes, ms
    qint64 lastResponseNs = 0;
    qint64 firstRequestNs = -1;
    qint64 lastParsedNs = 0;
    double parseMs = 0;
};

RequestLog &requestLog()
{
    static RequestLog log;
    return log;
}

void requestLogHandler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    // "GET Products" status 200 error QNetworkReply::NoError 405742 bytes in 61 ms
    static const QRegularExpression line(
        QStringLiteral("^\"([^\"]*)\" status 200 error \\S+ (\\d+) bytes in (\\d+) ms"));
    RequestLog &log = requestLog();
    if (context.category && qstrcmp(context.category, "batchsync.protocol") == 0) {
        const QRegularExpressionMatch match = line.match(message);
        if (match.hasMatch()) {
            QMutexLocker locker(&log.mutex);
            log.lastResponseNs = log.clock.nsecsElapsed();
            log.entries.push_back(
                { match.captured(1),
                  { match.captured(2).toLongLong(), match.captured(3).toDouble() } });
        }
        return;
    }
    // batchsync.odata's "\"GET Products\" 1000 records; more: true" follows the parse.
    if (type == QtDebugMsg && message.contains(QLatin1String(" records; more: "))) {
        QMutexLocker locker(&log.mutex);
        log.lastParsedNs = log.clock.nsecsElapsed();
        log.parseMs += double(log.lastParsedNs - log.lastResponseNs) / 1e6;
        return;
    }
    // batchsync.odata's "GET \"http://...\"" as a request is sent.
    if (type == QtDebugMsg && message.startsWith(QLatin1String("GET \"http"))) {
        QMutexLocker locker(&log.mutex);
        if (log.firstRequestNs < 0)
            log.firstRequestNs = log.clock.nsecsElapsed();
        return;
    }
    if (type != QtDebugMsg)
        std::fprintf(stderr, "%s\n", qPrintable(message));
}

} // namespace

int odataSyncChildMain(const QStringList &arguments)
{
    // --odata-sync-child endpoint database batchSize set
    if (arguments.size() != 6)
        return 2;
    SyncSettings settings;
    settings.source = SourceKind::OData;
    settings.endpoint = QUrl(arguments.at(2));
    settings.user = CapPeer::user();
    settings.password = qEnvironmentVariable("BATCHSYNC_PASSWORD");
    settings.databasePath = arguments.at(3);
    settings.batchSize = arguments.at(4).toInt();
    const QString set = arguments.at(5);
    QLoggingCategory::setFilterRules(
        QStringLiteral("batchsync.protocol.debug=true\nbatchsync.odata.debug=true"));
    qInstallMessageHandler(requestLogHandler);

    SyncEngine engine(settings);
    bool finished = false;
    QStringList failures;
    QObject::connect(&engine, &SyncEngine::finished, &engine, [&] { finished = true; });
    QObject::connect(&engine, &SyncEngine::failed, &engine,
                     [&](const QString &entity, ErrorCategory, const QString &message) {
                         failures.append(entity + QStringLiteral(": ") + message);
                     });
    QElapsedTimer &clock = requestLog().clock;
    clock.start();
    engine.start(set);
    const bool done = spinUntil([&] { return finished; }, 3600 * 1000, SpinMode::Sleep);
    const qint64 endNs = clock.nsecsElapsed();
    const double seconds = double(endNs) / 1e9;
    const EntityStatus status = engine.entity(set);
    if (!done || status.state != SyncState::Completed || !failures.isEmpty()) {
        std::fprintf(stderr, "the sync of %s ended %s: %s\n", qPrintable(set),
                     qPrintable(syncStateName(status.state)), qPrintable(failures.join(u'\n')));
        return 1;
    }
    // The engine reads $metadata, counts, then fetches the pages (odatasource.cpp).
    QMutexLocker locker(&requestLog().mutex);
    qint64 pages = 0, bytes = 0;
    double pageMs = 0, otherMs = 0;
    std::vector<double> latencies;
    bool counted = false;
    for (const auto &[what, size] : requestLog().entries) {
        if (what.contains(u'$') || !std::exchange(counted, true)) {
            otherMs += size.second;
            continue;
        }
        ++pages;
        bytes += size.first;
        pageMs += size.second;
        latencies.push_back(size.second);
    }
    std::printf(
        "ODATA seconds=%.6f records=%lld pages=%lld bytes=%lld page_ms=%.1f "
        "median_page_ms=%.1f other_ms=%.1f parse_ms=%.1f start_ms=%.1f end_ms=%.1f cpu_s=%.3f "
        "rss_kb=%lld\n",
        seconds, static_cast<long long>(status.done), static_cast<long long>(pages),
        static_cast<long long>(bytes), pageMs, medianOf(latencies), otherMs, requestLog().parseMs,
        double(requestLog().firstRequestNs) / 1e6, double(endNs - requestLog().lastParsedNs) / 1e6,
        ownCpuSeconds(), static_cast<long long>(peakRssKb(getpid())));
    return 0;
}

int runODataBench(const ODataBenchOptions &options)
{
    const QString unavailable = CapPeer::unavailableReason();
    if (!unavailable.isEmpty())
        return complain(QStringLiteral("SAP CAP cannot run here: %1").arg(unavailable));
    CapPeer cap;
    CapPeer::Options peer;
    peer.products = int(options.records);
    // CAP's page cap above every batch size: it never shortens the pages measured here.
    peer.pageMax = SyncSettings::MaxBatchSize;
    QElapsedTimer clock;
    clock.start();
    if (!cap.start(peer))
        return complain(QStringLiteral("SAP CAP did not start"));
    const qint64 capPid = capProcessId();
    out(QStringLiteral("SAP CAP serves %1 with %2 %3 (seeded and started in %4 s), page cap "
                       "%5, node pid %6")
            .arg(cap.serviceRoot().toString())
            .arg(options.records)
            .arg(QLatin1String(SetName))
            .arg(double(clock.elapsed()) / 1000, 0, 'f', 1)
            .arg(peer.pageMax)
            .arg(capPid));

    const CapPeer::Response metadata = cap.request("GET", QStringLiteral("$metadata"));
    OData::Metadata service;
    QString error;
    if (metadata.status != 200 || !OData::parseMetadata(metadata.body, &service, &error))
        return complain(QStringLiteral("CAP's $metadata: %1 %2").arg(metadata.status).arg(error));
    const auto set = std::find_if(service.sets.cbegin(), service.sets.cend(),
                                  [](const OData::EntitySet &s) { return s.name == SetName; });
    if (set == service.sets.cend() || set->changeTime.isEmpty() || set->keys.size() != 1)
        return complain(QStringLiteral("CAP's $metadata has no Products with a change time"));

    // CAP's first pass over the data is slower (its JIT, SQLite's cache): not measured.
    std::optional<Measurement> warmUp
        = fetchLikeTheSource(cap.serviceRoot(), *set, options.batchSize, capPid, &error);
    if (!warmUp)
        return complain(error);
    out(QStringLiteral("warm-up  CAP loop  %1").arg(describe(*warmUp)));

    std::vector<Measurement> loops, syncs;
    // A measurement that failed or did not read every record ends the benchmark.
    const auto accepted
        = [&](const std::optional<Measurement> &m, int round, const QString &label) {
              if (!m || m->records != options.records) {
                  complain(m ? QStringLiteral("%1 read %2 records of %3")
                                   .arg(label.trimmed())
                                   .arg(m->records)
                                   .arg(options.records)
                             : error);
                  return false;
              }
              out(QStringLiteral("round %1  %2  %3").arg(round).arg(label, describe(*m)));
              return true;
          };
    for (int round = 1; round <= options.rounds; ++round) {
        const std::optional<Measurement> loop
            = fetchLikeTheSource(cap.serviceRoot(), *set, options.batchSize, capPid, &error);
        if (!accepted(loop, round, QStringLiteral("CAP loop")))
            return 1;
        const QString prefix = options.workDir + QStringLiteral("/odata-round%1").arg(round);
        const std::optional<Measurement> sync
            = syncInChild(cap.serviceRoot(), options.batchSize,
                          prefix + QStringLiteral("-client.sqlite"), prefix, capPid, &error);
        if (!accepted(sync, round, QStringLiteral("sync    ")))
            return 1;
        const double handOffMs = sync->seconds * 1000 - sync->pageMs - sync->otherRequestMs
            - sync->parseMs - sync->startMs - sync->endMs;
        out(QStringLiteral("round %1  sync / CAP loop %2; the sync's time: pages %3 s, $metadata "
                           "and count %4 s, parsing pages %5 s, start %6 s, end %7 s, between "
                           "pages %8 s; client peak RSS %9 MB")
                .arg(round)
                .arg(sync->rate() / loop->rate(), 0, 'f', 3)
                .arg(sync->pageMs / 1000, 0, 'f', 3)
                .arg(sync->otherRequestMs / 1000, 0, 'f', 3)
                .arg(sync->parseMs / 1000, 0, 'f', 3)
                .arg(sync->startMs / 1000, 0, 'f', 3)
                .arg(sync->endMs / 1000, 0, 'f', 3)
                .arg(handOffMs / 1000, 0, 'f', 3)
                .arg(double(sync->clientPeakKb) / 1024, 0, 'f', 1));
        loops.push_back(*loop);
        syncs.push_back(*sync);
    }

    // Not in the figures: what $count=true on every page costs CAP.
    const std::optional<Measurement> uncounted
        = fetchLikeTheSource(cap.serviceRoot(), *set, options.batchSize, capPid, &error, false);
    if (!uncounted)
        return complain(error);
    out(QStringLiteral("no count CAP loop  %1  (the same pages without $count=true)")
            .arg(describe(*uncounted)));

    const auto median = [](const std::vector<Measurement> &list, auto figure) {
        std::vector<double> values;
        for (const Measurement &m : list)
            values.push_back(figure(m));
        return medianOf(values);
    };
    const auto rate = [](const Measurement &m) { return m.rate(); };
    const double peerRate = median(loops, rate);
    const double syncRate = median(syncs, rate);
    const double ratio = syncRate / peerRate;
    qint64 peakKb = 0;
    for (const Measurement &m : syncs)
        peakKb = std::max(peakKb, m.clientPeakKb);
    const double peakMb = double(peakKb) / 1024;
    out(QString());
    out(QStringLiteral("medians of %1 rounds, batch size %2, %3 %4:")
            .arg(options.rounds)
            .arg(options.batchSize)
            .arg(options.records)
            .arg(QLatin1String(SetName)));
    out(QStringLiteral("  CAP's own rate (plain HTTP loop, same pages)  %1 records/s")
            .arg(peerRate, 0, 'f', 0));
    out(QStringLiteral("  the sync (SyncEngine, OData source)           %1 records/s  = %2 % of "
                       "CAP's (target >= 90 %: %3)")
            .arg(syncRate, 0, 'f', 0)
            .arg(ratio * 100, 0, 'f', 1)
            .arg(ratio >= 0.9 ? QStringLiteral("met") : QStringLiteral("NOT met")));
    out(QStringLiteral("  client peak RSS (largest of the rounds)       %1 MB (target <= 64 "
                       "MB: %2); CAP's node process %3 MB")
            .arg(peakMb, 0, 'f', 1)
            .arg(peakMb <= 64 ? QStringLiteral("met") : QStringLiteral("NOT met"))
            .arg(double(peakRssKb(capPid)) / 1024, 0, 'f', 1));
    out(QString());
    out(QStringLiteral("RESULT records=%1 batch_size=%2 odata_records_per_s=%3 "
                       "odata_peer_records_per_s=%4 odata_ratio=%5 client_peak_rss_mb=%6 "
                       "peer_peak_rss_mb=%7 rounds=%8")
            .arg(options.records)
            .arg(options.batchSize)
            .arg(syncRate, 0, 'f', 0)
            .arg(peerRate, 0, 'f', 0)
            .arg(ratio, 0, 'f', 3)
            .arg(peakMb, 0, 'f', 1)
            .arg(double(peakRssKb(capPid)) / 1024, 0, 'f', 1)
            .arg(options.rounds));
    return 0;
}

} // namespace BatchSync::Bench
