// batchsync-bench: the end-to-end benchmark of a first sync.
//
// It generates a server database through ServerStore, starts the real batchsync-server and
// the real batchsync --headless as separate processes (or, with --gui, the desktop window in
// this process), measures the sync (wall time, rate, bytes, peak RSS of both processes,
// per-page latency, batch sizes, GUI stalls), optionally an incremental sync, and, in the
// same run, the raw storage rate of the same rows through the sqlite3 C API.

#include "common/types.h"
#include "dataviewbench.h"
#include "engine/syncengine.h"
#include "floorbench.h"
#include "livebench.h"
#include "mainwindow.h"
#include "odatabench.h"
#include "pgpullbench.h"
#include "progresspage.h"
#include "pushbench.h"
#include "server/backend/serverstore.h"
#include "throttledlink.h"

#include <QAction>
#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QLoggingCategory>
#include <QProcess>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTimer>
#include <QUrl>
#include <QVariantMap>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#ifndef BATCHSYNC_BIN
#define BATCHSYNC_BIN "batchsync"
#endif
#ifndef BATCHSYNC_SERVER_BIN
#define BATCHSYNC_SERVER_BIN "batchsync-server"
#endif

using namespace BatchSync;

namespace {

// ---------------------------------------------------------------------------------------
// Options

struct Options
{
    qint64 records = 100000;
    int entities = 4;
    int batchSize = 1000;
    QString paging = QStringLiteral("cursor");
    bool randomIds = true;
    double incrementalPercent = 1.0;
    int runs = 1;
    quint64 seed = 20261126;
    QString workDir; // empty: a temporary directory, removed at the end
    bool keep = false;
    QString clientBin = QStringLiteral(BATCHSYNC_BIN);
    QString serverBin = QStringLiteral(BATCHSYNC_SERVER_BIN);
    QStringList clientArgs; // extra arguments for batchsync
    bool adaptive = false; // --batch-size adaptive
    int targetMs = 250; // --batch-target-ms
    double linkMbps = 0; // --link-mbps: a throttled link between client and server; 0: none
    bool gui = false; // the first sync in the desktop window, in this process
    bool dataview = false; // --dataview: the data view's stalls on a large local database
    qint64 dataviewRows = 1000000;
    bool odata = false; // --source odata: SAP CAP and the OData source (odatabench.h)
    qint64 push = 0; // --push N: N local changes pushed (pushbench.h)
    QString postgres; // --postgres: with --push, the server serves PostgreSQL; alone, the pull
    int pgClients = 1; // --clients, with --postgres alone
    int pgServers = 1; // --servers
    bool live = false; // --live: live clients' latency and the idle server (livebench.h)
    qint64 liveClients = 100; // --clients
    qint64 liveChanges = 30; // --changes
    qint64 idleWaits = 1000; // --idle-waits
    bool runsGiven = false;
};

const char *const helpEpilogue = R"(
What it does, per run (--runs R repeats steps 2-5 and reports medians):
  1. Generates the server's data: a SQLite database with N records spread evenly over the
     entities ("bench1".."benchE"), each with 7 fields (3 strings, real, int, bool,
     datetime; about 200 bytes of values, ~330 bytes of JSON per change) and a random
     UUID-like id (or, with --ids ordered, ids in insertion order), written through
     ServerStore::upsert in transactions of 20,000 records. Timed apart from the sync.
  2. Starts the real batchsync-server on 127.0.0.1 (a free port) on that database.
  3. Runs the real "batchsync --headless" into a fresh local database and measures:
     wall time (process start to exit), records/s, MB/s (bytes of /changes JSON bodies the
     client received, from its batchsync.protocol debug log), peak RSS (VmHWM) of the
     client (/usr/bin/time %M, else /proc polling) and of the server (/proc/PID/status
     VmHWM after the client exits), and the page latency (the client's request time for
     each /changes page: request sent -> whole body received, from the same log). The
     local database is checked afterwards: it must hold exactly N rows.
  4. With --incremental-percent P > 0: stops the server, updates P % of the records in
     its database through ServerStore, restarts it, and times an incremental sync into
     the same local database.
     With --link-mbps R the client reaches the server through a proxy in this process that
     hands the server's bytes to the client at R megabits/s (a slow link). With
     --batch-size adaptive the client sizes its batches toward --batch-target-ms; the
     table shows the sizes it asked for (from its log). With --gui the first sync runs in
     the desktop window (offscreen unless QT_QPA_PLATFORM says otherwise) in this process,
     and the table adds the longest GUI event-loop stall (a 5 ms precise timer's longest
     gap) and the progress updates per second per entity; RSS is then this process's
     (VmHWM reset before the sync). The headless client then syncs too, in the same run,
     into a database of its own (odd runs: window first; even runs: terminal first):
     gui_ratio is the window's records/s over the headless client's.
  5. Baseline: the same rows (same values, same per-entity order) upserted through the
     sqlite3 C API into a TEXT PRIMARY KEY table with the same columns, with the client's
     settings (WAL, synchronous=NORMAL, cache_size=-16384, wal_autocheckpoint=10000),
     --batch-size rows plus one state-row update per transaction, prepared statements.
     Floor: the same rows, generated in memory first, appended with one prepared INSERT
     per table into tables without an index, a commit every --batch-size rows, then the
     unique index on id built once per table, with the client's bulk-load settings (WAL,
     synchronous=NORMAL, wal_autocheckpoint=10000, 2 MiB cache, 512 KiB for the index, the
     client's background WAL checkpointer); timed from open to the last index (the close,
     which copies the rest of the WAL into the file, is shown apart). floor_ratio is the sync's records/s over the floor's.

With --dataview it also builds (or, in a --work-dir, reuses) a local database of two
entities, bench1 with --dataview-rows records (default 1,000,000) and bench2 with a tenth of
that, written by the local store as a first sync writes them; opens the desktop window on it
(offscreen, in a child process, no server) and, in its data view, types a filter a key at a
time, scrolls, sorts by each column and switches entities, and reports the longest event-loop
stall (dataview_max_stall_ms) and the most the GUI thread itself worked within one stall
(dataview_max_busy_ms; on a busy machine the rest of a stall is waiting for a CPU).
--runs 0 --dataview measures only that.

Output: a table, then one line
  RESULT records=N records_per_s=... mb_per_s=... client_peak_rss_mb=...
         server_peak_rss_mb=... baseline_storage_per_s=... first_batch_ms=...
         last_batch_ms=... incremental_s=... batch_size_last=... parse_per_s=...
         gui_max_stall_ms=... progress_per_s=... dataview_max_stall_ms=...
         dataview_max_busy_ms=... floor_records_per_s=... floor_ratio=...
         gui_records_per_s=... headless_records_per_s=... gui_ratio=... gui_max_busy_ms=...
         incremental_rss_mb=...
(one line; "n/a" where a figure is unavailable). A page's latency is the client's own
request time for it (request sent -> whole body received, as batchsync.protocol logs it;
it includes waiting for the server and for the client's own busy thread).
first_batch_ms is the median latency of each entity's first 5 % of pages (1 to 10 pages
per entity, pooled), last_batch_ms the same for its last 5 % of full pages (the short tail
page excluded). With --runs R every figure is the median of the R runs.

Exit status: 0 success, 1 a step failed (the sync, the check of the local database, ...),
2 bad options.

Example: batchsync-bench --records 1000000 --incremental-percent 1 --runs 3

With --source odata it measures the OData source against SAP CAP instead (Node and npm;
tests/peers/cap.sh installs CAP into a cache folder the first time): CAP on 127.0.0.1 with
--records Products (default 100,000) and a page cap of 10,000, then, --runs R times
(default 3), alternately: CAP's own rate, a plain HTTP loop in this process fetching the
keyset pages the OData source fetches (same $select, $filter, $orderby, $top = --batch-size
and $count=true, same headers), one at a time, reading only @odata.count and the last
record's change time and key; and the sync, a SyncEngine with the OData source in a child
process of this program into a fresh local database (checked: it must hold every record).
A first unmeasured loop warms CAP up; a last one without $count=true shows what the count
costs CAP. Each round prints the sync's time by part (pages, $metadata and count, parsing
pages, start, end, between pages) and CPU times; then medians, and
  RESULT records=N batch_size=B odata_records_per_s=... odata_peer_records_per_s=...
         odata_ratio=... client_peak_rss_mb=... peer_peak_rss_mb=... rounds=R
(rates and ratio: medians of the rounds; client_peak_rss_mb: the largest of the sync's
process, VmHWM; peer_peak_rss_mb: CAP's node process).

Example: batchsync-bench --source odata --records 100000 --batch-size 1000 --runs 5

With --push N it measures the push instead: one entity of N records on the real
batchsync-server (SQLite, or PostgreSQL with --postgres CONNINFO), a first sync into a fresh
local database, then, --runs R times (default 3): every local record changed with plain SQL,
batchsync --headless --direction push timed from start to exit, checked (nothing pending, no
conflict kept, the server holds every new value), and the pull of the same N changes
(--direction pull) timed beside it. Then medians and
  RESULT records=N batch_size=B push_records_per_s=... pull_records_per_s=...
         push_pull_ratio=... client_peak_rss_mb=... backend=sqlite|postgres rounds=R
(client_peak_rss_mb: the largest push client's own peak, VmHWM).

Example: batchsync-bench --push 100000 --batch-size 1000 --runs 3

With --postgres CONNINFO alone it measures the pull from PostgreSQL: the table "pgpull"
filled with --records records (7 fields, generate_series; kept for the next invocation when
it holds them already), then, --runs R times (default 3): --servers M real
batchsync-server --postgres processes on the database and --clients N real batchsync
--headless processes at once, spread over the servers in turn, each into a fresh local
database (checked: it holds every record). Then
  RESULT records=N clients=N servers=M batch_size=B pg_records_per_s=...
         pg_client_records_per_s=... rounds=R
(pg_records_per_s: all clients' records over the time from the first start to the last
exit; pg_client_records_per_s: the median client's own rate; medians of the rounds).

Example: batchsync-bench --postgres "host=db dbname=shop" --records 200000 --clients 4
         --servers 2
)";

void printLine(FILE *stream, const QString &text)
{
    const QByteArray bytes = text.toLocal8Bit() + '\n';
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stream);
    std::fflush(stream);
}

void say(const QString &text)
{
    printLine(stdout, text);
}

void fail(const QString &text)
{
    printLine(stderr, QStringLiteral("batchsync-bench: ") + text);
}

// ---------------------------------------------------------------------------------------
// The data: record i (0-based, over all entities) belongs to entity i % E; version v of its
// values is a pure function of (seed, i, v), so that any step can regenerate any record.

quint64 splitmix(quint64 x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

class Rng
{
public:
    explicit Rng(quint64 seed)
        : m_state(seed)
    {
    }
    quint64 next() { return m_state = splitmix(m_state); }
    int bounded(int high) { return int(next() % quint64(high)); }

private:
    quint64 m_state;
};

using Row = Bench::BenchRecord;

const char *const firstNames[]
    = { "Ada",    "Grace", "Alan",  "Linus",   "Margaret", "Ken", "Barbara", "Edsger",
        "Donald", "Hedy",  "Radia", "Niklaus", "Frances",  "Tim", "Barbara" };
const char *const lastNames[]
    = { "Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov",
        "Dijkstra", "Knuth",  "Lamarr", "Perlman",  "Wirth",    "Allen",    "Berners-Lee" };
const char *const words[]
    = { "the",    "batch",  "request", "took",  "longer", "than",   "client", "synced", "records",
        "cursor", "offset", "page",    "retry", "server", "answer", "queue",  "commit", "index" };

std::string formatTime(qint64 ms)
{
    constexpr qint64 msPerDay = 24 * 3600 * 1000;
    const qint64 days = ms / msPerDay;
    const QDate date = QDate(1970, 1, 1).addDays(days);
    qint64 rest = ms - days * msPerDay;
    char text[32];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", date.year(),
                  date.month(), date.day(), int(rest / 3600000), int(rest / 60000 % 60),
                  int(rest / 1000 % 60), int(rest % 1000));
    return std::string(text, 24);
}

std::string recordId(quint64 seed, qint64 index, bool random)
{
    char text[40];
    if (!random) {
        std::snprintf(text, sizeof text, "r-%012lld", static_cast<long long>(index));
        return text;
    }
    static constexpr char hex[] = "0123456789abcdef";
    quint64 high = splitmix(seed ^ (quint64(index) * 2 + 1));
    quint64 low = splitmix(high ^ 0x5bd1e995ULL);
    int digit = 0;
    for (int i = 0; i < 36; ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            text[i] = '-';
            continue;
        }
        quint64 &source = digit < 16 ? high : low;
        text[i] = hex[source & 0xf];
        source >>= 4;
        ++digit;
    }
    return std::string(text, 36);
}

Row makeRow(quint64 seed, qint64 index, int version, bool randomIds)
{
    Rng rng(splitmix(seed + quint64(index) * 7919 + quint64(version) * 104729));
    Row row;
    row.id = recordId(seed, index, randomIds);
    const char *first = firstNames[rng.bounded(int(std::size(firstNames)))];
    const char *last = lastNames[rng.bounded(int(std::size(lastNames)))];
    row.name = std::string(first) + ' ' + last;
    row.email
        = std::string(first) + '.' + last + std::to_string(rng.bounded(100000)) + "@example.com";
    while (row.note.size() < 100) {
        if (!row.note.empty())
            row.note += ' ';
        row.note += words[rng.bounded(int(std::size(words)))];
    }
    row.amount = double(rng.bounded(1000000)) / 100.0;
    row.quantity = rng.bounded(100000);
    row.active = rng.bounded(100) < 80;
    constexpr qint64 start = 1546300800000; // 2019-01-01
    row.updated = formatTime(start + qint64(rng.next() % quint64(7LL * 365 * 24 * 3600 * 1000)));
    return row;
}

QString entityName(int entity)
{
    return QStringLiteral("bench%1").arg(entity + 1);
}

EntitySchema schemaOf(int entity)
{
    return { entityName(entity),
             { { QStringLiteral("name"), FieldType::String },
               { QStringLiteral("email"), FieldType::String },
               { QStringLiteral("note"), FieldType::String },
               { QStringLiteral("amount"), FieldType::Real },
               { QStringLiteral("quantity"), FieldType::Int },
               { QStringLiteral("active"), FieldType::Bool },
               { QStringLiteral("updated"), FieldType::DateTime } } };
}

QVariantMap toVariant(const Row &row)
{
    static const QString name = QStringLiteral("name"), email = QStringLiteral("email"),
                         note = QStringLiteral("note"), amount = QStringLiteral("amount"),
                         quantity = QStringLiteral("quantity"), active = QStringLiteral("active"),
                         updated = QStringLiteral("updated");
    return { { name, QString::fromStdString(row.name) },
             { email, QString::fromStdString(row.email) },
             { note, QString::fromStdString(row.note) },
             { amount, row.amount },
             { quantity, row.quantity },
             { active, row.active },
             { updated, QString::fromStdString(row.updated) } };
}

constexpr qsizetype ServerChunk = 20000;

// Writes version \a version of the records \a selected accepts (all when null).
bool writeServerData(const QString &path, const Options &options, int version,
                     const std::function<bool(qint64)> &selected, qint64 *written, QString *error)
{
    qint64 count = 0;
    {
        ServerStore store(path, QStringLiteral("bench-generate"));
        if (!store.open(error))
            return false;
        if (version == 0) {
            for (int e = 0; e < options.entities; ++e) {
                if (!store.addEntity(schemaOf(e), error))
                    return false;
            }
        }
        std::vector<QList<std::pair<QString, QVariantMap>>> pending(size_t(options.entities));
        const auto flush = [&](int e) {
            auto &list = pending[size_t(e)];
            if (list.isEmpty())
                return true;
            const bool ok = store.upsert(entityName(e), list, error);
            list.clear();
            return ok;
        };
        for (qint64 i = 0; i < options.records; ++i) {
            if (selected && !selected(i))
                continue;
            const int e = int(i % options.entities);
            const Row row = makeRow(options.seed, i, version, options.randomIds);
            pending[size_t(e)].append({ QString::fromStdString(row.id), toVariant(row) });
            ++count;
            if (pending[size_t(e)].size() >= ServerChunk && !flush(e))
                return false;
        }
        for (int e = 0; e < options.entities; ++e) {
            if (!flush(e))
                return false;
        }
    }
    QSqlDatabase::removeDatabase(QStringLiteral("bench-generate"));
    *written = count;
    return true;
}

// ---------------------------------------------------------------------------------------
// Processes

qint64 readHwmKb(qint64 pid)
{
    QFile file(QStringLiteral("/proc/%1/status").arg(pid));
    if (!file.open(QIODevice::ReadOnly))
        return -1;
    // /proc files report size 0, so atEnd() is true at once: readAll() reads to EOF.
    const QList<QByteArray> lines = file.readAll().split('\n');
    for (const QByteArray &line : lines) {
        if (line.startsWith("VmHWM:"))
            return line.mid(6).trimmed().split(' ').value(0).toLongLong();
    }
    return -1;
}

class Server
{
public:
    ~Server() { stop(); }

    bool start(const Options &options, const QString &database, const QString &logPath,
               QString *error)
    {
        m_process.setProgram(options.serverBin);
        m_process.setArguments(
            { QStringLiteral("--port"), QStringLiteral("0"), QStringLiteral("--db"), database });
        m_process.setStandardErrorFile(logPath, QIODevice::Append);
        m_process.start();
        if (!m_process.waitForStarted(10000)) {
            *error = QStringLiteral("cannot start %1: %2")
                         .arg(options.serverBin, m_process.errorString());
            return false;
        }
        static const QRegularExpression serving(QStringLiteral("Serving protocol v1 at (\\S+)"));
        QByteArray output;
        QElapsedTimer timer;
        timer.start();
        while (timer.elapsed() < 120000) {
            if (!m_process.waitForReadyRead(1000)) {
                if (m_process.state() != QProcess::Running)
                    break;
                continue;
            }
            output += m_process.readAllStandardOutput();
            const QRegularExpressionMatch match = serving.match(QString::fromUtf8(output));
            if (match.hasMatch()) {
                m_url = match.captured(1);
                return true;
            }
        }
        *error = QStringLiteral("the server did not report its URL (see %1): %2")
                     .arg(logPath, QString::fromUtf8(output));
        stop();
        return false;
    }

    QString url() const { return m_url; }
    qint64 peakRssKb() const { return readHwmKb(m_process.processId()); }

    void stop()
    {
        if (m_process.state() == QProcess::NotRunning)
            return;
        m_process.terminate();
        if (!m_process.waitForFinished(30000)) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }

private:
    QProcess m_process;
    QString m_url;
};

struct PageStat
{
    qint64 bytes = 0;
    qint64 ms = 0;
};

struct SyncResult
{
    bool ok = false;
    double seconds = 0;
    qint64 clientPeakKb = -1;
    qint64 serverPeakKb = -1;
    qint64 changesBytes = 0;
    qint64 pages = 0;
    std::optional<double> firstPageMs, lastPageMs, medianPageMs, maxPageMs;
    // From the client's "parsed N changes (limit L) in X us" lines.
    std::optional<double> firstLimit, lastLimit, parsePerSecond;
    // --gui only.
    std::optional<double> guiMaxStallMs, guiMaxBusyMs, progressPerSecond;
};

std::optional<double> median(std::vector<double> values)
{
    if (values.empty())
        return std::nullopt;
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The client's batchsync.protocol debug lines for /changes, e.g.
// batchsync.protocol: "GET entities/bench1/changes" status 200 error QNetworkReply::NoError
//                     330522 bytes in 14 ms
void parseClientLog(const QString &path, SyncResult *result)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return;
    static const QRegularExpression line(QStringLiteral(
        "GET [^\"]*entities/([^/\"]+)/changes\" status 200 error \\S+ (\\d+) bytes in (\\d+) ms"));
    static const QRegularExpression parsed(QStringLiteral(
        "entities/([^/\"]+)/changes\" parsed (\\d+) changes \\(limit (\\d+) \\) in (\\d+) us"));
    QHash<QString, std::vector<PageStat>> pages;
    QHash<QString, std::vector<double>> limits;
    QStringList order;
    qint64 parsedChanges = 0;
    qint64 parseUs = 0;
    while (!file.atEnd()) {
        const QString text = QString::fromUtf8(file.readLine());
        const QRegularExpressionMatch parse = parsed.match(text);
        if (parse.hasMatch()) {
            limits[parse.captured(1)].push_back(parse.captured(3).toDouble());
            parsedChanges += parse.captured(2).toLongLong();
            parseUs += parse.captured(4).toLongLong();
            continue;
        }
        const QRegularExpressionMatch match = line.match(text);
        if (!match.hasMatch())
            continue;
        const QString entity = match.captured(1);
        if (!pages.contains(entity))
            order.append(entity);
        pages[entity].push_back({ match.captured(2).toLongLong(), match.captured(3).toLongLong() });
    }
    std::vector<double> all, firsts, lasts;
    for (const QString &entity : std::as_const(order)) {
        const std::vector<PageStat> &list = pages[entity];
        std::vector<double> sizes;
        for (const PageStat &page : list) {
            result->changesBytes += page.bytes;
            ++result->pages;
            all.push_back(double(page.ms));
            sizes.push_back(double(page.bytes));
        }
        // One page is a noisy sample on a shared machine: take a window of the first and of
        // the last full pages (5 % of the entity's pages, 1 to 10), pooled over the entities.
        const size_t window = std::clamp<size_t>(list.size() / 20, 1, 10);
        const double half = median(sizes).value_or(0) / 2;
        for (size_t i = 0; i < std::min(window, list.size()); ++i)
            firsts.push_back(double(list[i].ms));
        size_t taken = 0;
        for (auto it = list.rbegin(); it != list.rend() && taken < window; ++it) {
            if (double(it->bytes) >= half) { // the short tail page is not a full page
                lasts.push_back(double(it->ms));
                ++taken;
            }
        }
    }
    // The batch sizes asked for: each entity's first page, and the median of its last 10 %.
    std::vector<double> firstLimits, lastLimits;
    for (auto it = limits.cbegin(); it != limits.cend(); ++it) {
        const std::vector<double> &list = it.value();
        if (list.empty())
            continue;
        firstLimits.push_back(list.front());
        const size_t window = std::max<size_t>(list.size() / 10, 1);
        lastLimits.insert(lastLimits.end(), list.end() - qsizetype(window), list.end());
    }
    result->firstLimit = median(firstLimits);
    result->lastLimit = median(lastLimits);
    if (parseUs > 0)
        result->parsePerSecond = double(parsedChanges) * 1e6 / double(parseUs);
    result->firstPageMs = median(firsts);
    result->lastPageMs = median(lasts);
    result->medianPageMs = median(all);
    if (!all.empty())
        result->maxPageMs = *std::max_element(all.begin(), all.end());
}

QStringList batchArguments(const Options &options)
{
    if (!options.adaptive)
        return { QStringLiteral("--batch-size"), QString::number(options.batchSize) };
    return { QStringLiteral("--batch-size"), QStringLiteral("adaptive"),
             QStringLiteral("--batch-target-ms"), QString::number(options.targetMs) };
}

SyncResult runClient(const Options &options, const Server &server, const QString &endpoint,
                     const QString &database, const QString &logPrefix)
{
    SyncResult result;
    const QString timeBin = QStringLiteral("/usr/bin/time");
    const bool useTime = QFileInfo(timeBin).isExecutable();
    const QString rssPath = logPrefix + QStringLiteral(".rss");
    const QString logPath = logPrefix + QStringLiteral(".stderr");
    QFile::remove(rssPath);
    QFile::remove(logPath);

    QStringList arguments { QStringLiteral("--headless"),
                            QStringLiteral("--endpoint"),
                            endpoint,
                            QStringLiteral("--db"),
                            database,
                            QStringLiteral("--paging"),
                            options.paging };
    arguments += batchArguments(options);
    arguments += options.clientArgs;
    QProcess client;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QT_LOGGING_RULES"),
                       QStringLiteral("batchsync.protocol.debug=true"));
    environment.remove(QStringLiteral("QT_MESSAGE_PATTERN"));
    // The client starts from the desktop app's saved settings: give it none, so that only the
    // flags above decide.
    environment.insert(QStringLiteral("XDG_CONFIG_HOME"),
                       QFileInfo(logPrefix).absolutePath() + QStringLiteral("/config"));
    client.setProcessEnvironment(environment);
    client.setStandardOutputFile(logPrefix + QStringLiteral(".stdout"));
    client.setStandardErrorFile(logPath);
    if (useTime) {
        client.setProgram(timeBin);
        client.setArguments(QStringList { QStringLiteral("-f"), QStringLiteral("%M"),
                                          QStringLiteral("-o"), rssPath, options.clientBin }
                            + arguments);
    } else {
        client.setProgram(options.clientBin);
        client.setArguments(arguments);
    }
    QElapsedTimer timer;
    timer.start();
    client.start();
    if (!client.waitForStarted(10000)) {
        fail(QStringLiteral("cannot start the client: %1").arg(client.errorString()));
        return result;
    }
    const qint64 pid = client.processId();
    while (!client.waitForFinished(useTime ? 1000 : 20)) {
        if (!useTime)
            result.clientPeakKb = std::max(result.clientPeakKb, readHwmKb(pid));
        if (timer.elapsed() > 3600 * 1000) {
            fail(QStringLiteral("the client has been running for an hour; killing it"));
            client.kill();
            client.waitForFinished(5000);
            return result;
        }
    }
    result.seconds = double(timer.nsecsElapsed()) / 1e9;
    result.serverPeakKb = server.peakRssKb();
    if (useTime) {
        QFile rss(rssPath);
        if (rss.open(QIODevice::ReadOnly)) {
            // The last line holds %M (a line before it may say the command failed).
            const QList<QByteArray> lines = rss.readAll().trimmed().split('\n');
            bool ok = false;
            const qint64 kb = lines.last().trimmed().toLongLong(&ok);
            if (ok)
                result.clientPeakKb = kb;
        }
    }
    if (client.exitStatus() != QProcess::NormalExit || client.exitCode() != 0) {
        fail(QStringLiteral("the client failed (exit code %1); see %2")
                 .arg(client.exitCode())
                 .arg(logPath));
        return result;
    }
    parseClientLog(logPath, &result);
    result.ok = true;
    return result;
}

// --gui: the protocol's debug lines go to a file, for parseClientLog.
QFile *g_guiLog = nullptr;

void guiMessageHandler(QtMsgType, const QMessageLogContext &context, const QString &message)
{
    if (g_guiLog && context.category && qstrcmp(context.category, "batchsync.protocol") == 0) {
        g_guiLog->write(message.toUtf8());
        g_guiLog->write("\n");
    }
}

// The first sync in the desktop window, in this process: what a user watches.
SyncResult runGui(const Options &options, const QString &endpoint, const QString &database,
                  const QString &dataDir, const QString &logPrefix)
{
    SyncResult result;
    const QString logPath = logPrefix + QStringLiteral(".log");
    QFile log(logPath);
    if (!log.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        fail(QStringLiteral("cannot write %1").arg(logPath));
        return result;
    }
    g_guiLog = &log;
    QLoggingCategory::setFilterRules(QStringLiteral("batchsync.protocol.debug=true"));
    const QtMessageHandler previous = qInstallMessageHandler(guiMessageHandler);
    const auto restore = qScopeGuard([&] {
        qInstallMessageHandler(previous);
        QLoggingCategory::setFilterRules(QString());
        g_guiLog = nullptr;
    });

    Ui::DesktopOptions desktop;
    desktop.profile.endpoint = QUrl(endpoint);
    desktop.databasePath = database;
    desktop.dataDirectory = dataDir;
    desktop.profile.paging = options.paging == u"offset" ? PagingMode::Offset : PagingMode::Cursor;
    desktop.profile.batchSize = options.batchSize;
    desktop.profile.adaptiveBatchSize = options.adaptive;
    desktop.profile.targetBatchMs = options.targetMs;
    desktop.rememberLayout = false;

    Ui::MainWindow window(desktop);
    window.resize(1100, 700);
    window.show();
    if (!Bench::spinUntil(
            [&] { return window.engine() && !window.progressPage()->entityNames().isEmpty(); },
            60000)) {
        fail(QStringLiteral("the window did not list the server's entities"));
        return result;
    }

    QHash<QString, std::vector<qint64>> updates; // progress signal times per entity
    QElapsedTimer clock;
    QObject::connect(window.engine(), &SyncEngine::progressChanged, &window,
                     [&](const QString &entity, qint64, qint64, double, qint64) {
                         updates[entity].push_back(clock.elapsed());
                     });
    bool finished = false;
    QObject::connect(window.engine(), &SyncEngine::finished, &window, [&] { finished = true; });
    Bench::StallMeter meter;
    QAction *syncAll = window.findChild<QAction *>(QStringLiteral("syncAllAction"));
    if (!syncAll) {
        fail(QStringLiteral("the window has no Sync all action"));
        return result;
    }
    clock.start();
    meter.restart();
    syncAll->trigger();
    // Sleeping between events as a window's own event loop does (the ticker wakes it).
    if (!Bench::spinUntil([&] { return finished; }, 3600 * 1000, Bench::SpinMode::Sleep)) {
        fail(QStringLiteral("the window's sync has been running for an hour"));
        return result;
    }
    result.seconds = double(clock.nsecsElapsed()) / 1e9;
    result.guiMaxStallMs = double(meter.longest());
    result.guiMaxBusyMs = double(meter.busiest());
    result.clientPeakKb = readHwmKb(QCoreApplication::applicationPid());
    for (const QString &name : window.progressPage()->entityNames()) {
        const EntityStatus status = window.engine()->entity(name);
        if (status.state != SyncState::Completed) {
            fail(QStringLiteral("%1 ended %2: %3")
                     .arg(name, syncStateName(status.state), status.errorMessage));
            return result;
        }
    }
    std::vector<double> rates;
    for (auto it = updates.cbegin(); it != updates.cend(); ++it) {
        const std::vector<qint64> &times = it.value();
        if (times.size() < 3 || times.back() - times.front() < 1000)
            continue; // too short a sync to speak of a rate
        rates.push_back(double(times.size() - 1) * 1000.0 / double(times.back() - times.front()));
    }
    result.progressPerSecond = median(rates);
    log.flush();
    parseClientLog(logPath, &result);
    result.ok = true;
    return result;
}

// --gui runs the window in a child process of this program ("--gui-child"), so that the
// window's peak RSS is its own, not that of the data generation.
SyncResult runGuiChild(const Options &options, const Server &server, const QString &endpoint,
                       const QString &database, const QString &dataDir, const QString &logPrefix)
{
    SyncResult result;
    QProcess child;
    QStringList arguments { QStringLiteral("--gui-child"),
                            endpoint,
                            database,
                            dataDir,
                            logPrefix,
                            options.paging,
                            QString::number(options.batchSize),
                            options.adaptive ? QStringLiteral("1") : QStringLiteral("0"),
                            QString::number(options.targetMs) };
    child.setProgram(QCoreApplication::applicationFilePath());
    child.setArguments(arguments);
    child.setStandardErrorFile(logPrefix + QStringLiteral(".stderr"));
    child.start();
    if (!child.waitForStarted(10000) || !child.waitForFinished(3600 * 1000)) {
        fail(QStringLiteral("the window's process did not finish: %1").arg(child.errorString()));
        child.kill();
        child.waitForFinished(5000);
        return result;
    }
    const QString output = QString::fromUtf8(child.readAllStandardOutput());
    static const QRegularExpression line(
        QStringLiteral("GUI seconds=(\\S+) stall_ms=(\\S+) progress_per_s=(\\S+) rss_kb=(\\S+) "
                       "busy_ms=(\\S+)"));
    const QRegularExpressionMatch match = line.match(output);
    if (child.exitStatus() != QProcess::NormalExit || child.exitCode() != 0 || !match.hasMatch()) {
        fail(QStringLiteral("the window's sync failed (exit code %1); see %2.stderr")
                 .arg(child.exitCode())
                 .arg(logPrefix));
        return result;
    }
    result.seconds = match.captured(1).toDouble();
    result.guiMaxStallMs = match.captured(2).toDouble();
    if (match.captured(3) != u"n/a")
        result.progressPerSecond = match.captured(3).toDouble();
    result.clientPeakKb = match.captured(4).toLongLong();
    result.guiMaxBusyMs = match.captured(5).toDouble();
    result.serverPeakKb = server.peakRssKb();
    parseClientLog(logPrefix + QStringLiteral(".log"), &result);
    result.ok = true;
    return result;
}

int guiChildMain(const QStringList &arguments)
{
    // --gui-child endpoint database dataDir logPrefix paging batchSize adaptive targetMs
    if (arguments.size() != 10)
        return 2;
    Options options;
    options.paging = arguments.at(6);
    options.batchSize = arguments.at(7).toInt();
    options.adaptive = arguments.at(8) == u"1";
    options.targetMs = arguments.at(9).toInt();
    const SyncResult result
        = runGui(options, arguments.at(2), arguments.at(3), arguments.at(4), arguments.at(5));
    if (!result.ok)
        return 1;
    std::printf("GUI seconds=%.3f stall_ms=%.0f progress_per_s=%s rss_kb=%lld busy_ms=%.0f\n",
                result.seconds, result.guiMaxStallMs.value_or(-1),
                result.progressPerSecond ? qPrintable(QString::number(*result.progressPerSecond))
                                         : "n/a",
                result.clientPeakKb, result.guiMaxBusyMs.value_or(-1));
    return 0;
}

// Rows in the local database's entity tables, or -1.
qint64 localRows(const QString &database, int entities, QString *error)
{
    qint64 total = 0;
    const QString name = QStringLiteral("bench-verify");
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(database);
        db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY"));
        if (!db.open()) {
            *error = db.lastError().text();
            total = -1;
        } else {
            QSqlQuery query(db);
            for (int e = 0; e < entities && total >= 0; ++e) {
                if (!query.exec(QStringLiteral("SELECT count(*) FROM \"%1\"").arg(entityName(e)))
                    || !query.next()) {
                    *error = query.lastError().text();
                    total = -1;
                    break;
                }
                total += query.value(0).toLongLong();
            }
        }
    }
    QSqlDatabase::removeDatabase(name);
    return total;
}

qint64 fileSize(const QString &path)
{
    qint64 size = 0;
    for (const char *suffix : { "", "-wal" })
        size += QFileInfo(path + QLatin1String(suffix)).size();
    return size;
}

// The rows of the storage references (floorbench.h): the sync's, version 0.
Bench::StorageWork storageWork(const Options &options, const QString &path)
{
    QStringList tables;
    for (int e = 0; e < options.entities; ++e)
        tables.append(entityName(e));
    return { path, tables, options.records, options.batchSize, [options](qint64 index) {
                return makeRow(options.seed, index, 0, options.randomIds);
            } };
}

// ---------------------------------------------------------------------------------------
// Reporting

QString number(std::optional<double> value, int decimals)
{
    return value ? QString::number(*value, 'f', decimals) : QStringLiteral("n/a");
}

std::optional<double> kbToMb(qint64 kb)
{
    return kb >= 0 ? std::optional<double>(double(kb) / 1024.0) : std::nullopt;
}

struct RunFigures
{
    std::optional<double> recordsPerSecond, mbPerSecond, clientRssMb, serverRssMb, baseline,
        firstMs, lastMs, medianMs, maxMs, incrementalSeconds, syncSeconds, firstLimit, lastLimit,
        parsePerSecond, guiMaxStallMs, guiMaxBusyMs, progressPerSecond, floor, floorRatio,
        guiPerSecond, headlessPerSecond, guiRatio, incrementalRssMb;
};

// The server's URL with another port (the throttled link's).
QString withPort(const QString &url, quint16 port)
{
    QUrl changed(url);
    changed.setPort(port);
    return changed.toString();
}

std::optional<double> medianOf(const std::vector<RunFigures> &runs,
                               std::optional<double> RunFigures::*member)
{
    std::vector<double> values;
    for (const RunFigures &run : runs) {
        if (run.*member)
            values.push_back(*(run.*member));
    }
    return median(values);
}

std::optional<Options> parseOptions(QCoreApplication &app)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "batchsync-bench: times a first sync of N records from the real batchsync-server into "
        "the real batchsync --headless, beside a raw sqlite3 C API baseline of the same rows."));
    parser.addHelpOption();
    const QCommandLineOption records(QStringLiteral("records"),
                                     QStringLiteral("Records on the server (default 100000)."),
                                     QStringLiteral("N"));
    const QCommandLineOption entities(QStringLiteral("entities"),
                                      QStringLiteral("Entities they are spread over (default 4)."),
                                      QStringLiteral("E"));
    const QCommandLineOption batchSize(
        QStringLiteral("batch-size"),
        QStringLiteral("The client's --batch-size, and the baseline's rows per transaction "
                       "(default 1000); adaptive: the client adapts it, from 1000."),
        QStringLiteral("N|adaptive"));
    const QCommandLineOption batchTarget(
        QStringLiteral("batch-target-ms"),
        QStringLiteral("With --batch-size adaptive: the target batch duration (default 250)."),
        QStringLiteral("MS"));
    const QCommandLineOption linkMbps(
        QStringLiteral("link-mbps"),
        QStringLiteral("A slow link: the server's bytes reach the client at R megabits/s "
                       "through a proxy (default: loopback, unthrottled)."),
        QStringLiteral("R"));
    const QCommandLineOption gui(
        QStringLiteral("gui"),
        QStringLiteral("The first sync also runs in the desktop window (offscreen, in a child "
                       "process) beside the headless client in each run, and the table shows "
                       "both rates, their ratio, the longest GUI stall and progress updates per "
                       "second."));
    const QCommandLineOption dataview(
        QStringLiteral("dataview"),
        QStringLiteral("Also measure the data view's longest GUI stall on a large local "
                       "database (filter, sort, switch entities)."));
    const QCommandLineOption dataviewRows(
        QStringLiteral("dataview-rows"),
        QStringLiteral("Records of the data view's large entity (default 1000000)."),
        QStringLiteral("N"));
    const QCommandLineOption paging(QStringLiteral("paging"),
                                    QStringLiteral("The client's --paging (default cursor)."),
                                    QStringLiteral("cursor|offset"));
    const QCommandLineOption ids(QStringLiteral("ids"),
                                 QStringLiteral("random (UUID-like, default) or ordered ids."),
                                 QStringLiteral("random|ordered"));
    const QCommandLineOption incremental(
        QStringLiteral("incremental-percent"),
        QStringLiteral("After the first sync, change P % of the records on the server and time "
                       "the incremental sync (default 1; 0 skips it)."),
        QStringLiteral("P"));
    const QCommandLineOption runs(QStringLiteral("runs"),
                                  QStringLiteral("Sync runs over the same server data; the "
                                                 "RESULT line gives medians (default 1)."),
                                  QStringLiteral("R"));
    const QCommandLineOption seed(
        QStringLiteral("seed"), QStringLiteral("Seed of the generated data."), QStringLiteral("S"));
    const QCommandLineOption workDir(
        QStringLiteral("work-dir"),
        QStringLiteral("Directory for the databases and logs (default: a temporary directory, "
                       "removed at the end)."),
        QStringLiteral("DIR"));
    const QCommandLineOption keep(QStringLiteral("keep"),
                                  QStringLiteral("Keep the temporary directory (its path is "
                                                 "printed)."));
    const QCommandLineOption clientBin(
        QStringLiteral("client-bin"),
        QStringLiteral("The batchsync executable (default %1).").arg(QStringLiteral(BATCHSYNC_BIN)),
        QStringLiteral("PATH"));
    const QCommandLineOption serverBin(
        QStringLiteral("server-bin"),
        QStringLiteral("The batchsync-server executable (default %1).")
            .arg(QStringLiteral(BATCHSYNC_SERVER_BIN)),
        QStringLiteral("PATH"));
    const QCommandLineOption clientArg(
        QStringLiteral("client-arg"),
        QStringLiteral("An extra argument for batchsync, e.g. --client-arg=--concurrency=4 "
                       "(repeatable)."),
        QStringLiteral("ARG"));
    const QCommandLineOption push(
        QStringLiteral("push"),
        QStringLiteral("Measure the push of N local changes instead (see below)."),
        QStringLiteral("N"));
    const QCommandLineOption postgres(
        QStringLiteral("postgres"),
        QStringLiteral("With --push: the server serves this PostgreSQL database. Without it: "
                       "measure the pull from it (--clients clients x --servers servers)."),
        QStringLiteral("CONNINFO"));
    const QCommandLineOption servers(
        QStringLiteral("servers"),
        QStringLiteral("With --postgres: batchsync-server processes on the database (default 1)."),
        QStringLiteral("M"));
    const QCommandLineOption source(
        QStringLiteral("source"),
        QStringLiteral("batchsync (default): the real batchsync-server; odata: SAP CAP "
                       "(tests/peers/cap.sh) with N Products, the OData source's sync beside "
                       "CAP's own rate for the same pages (--runs rounds, default 3)."),
        QStringLiteral("batchsync|odata"));
    const QCommandLineOption live(
        QStringLiteral("live"),
        QStringLiteral("Measure live sync instead: --clients live clients, one writer pushing "
                       "--changes changes; latency from applied to each client's commit, the "
                       "server's RSS and CPU while idle, and its RSS with --idle-waits more held "
                       "waits. RESULT adds live_p50_ms, live_p99_ms, live_server_rss_mb."));
    const QCommandLineOption clients(QStringLiteral("clients"),
                                     QStringLiteral("With --live: live clients (default 100); with "
                                                    "--postgres: clients pulling (default 1)."),
                                     QStringLiteral("N"));
    const QCommandLineOption changes(
        QStringLiteral("changes"),
        QStringLiteral("With --live: changes the writer pushes (default 30)."),
        QStringLiteral("N"));
    const QCommandLineOption idleWaits(
        QStringLiteral("idle-waits"),
        QStringLiteral("With --live: held waits for the idle server's memory (default 1000)."),
        QStringLiteral("N"));
    parser.addOptions({ records,      entities,  batchSize, batchTarget, linkMbps, gui,  dataview,
                        dataviewRows, paging,    ids,       incremental, runs,     seed, workDir,
                        keep,         clientBin, serverBin, clientArg,   source,   push, postgres,
                        live,         clients,   changes,   idleWaits,   servers });
    if (!parser.parse(app.arguments())) {
        fail(parser.errorText());
        return std::nullopt;
    }
    if (parser.isSet(QStringLiteral("help"))) {
        QString help = parser.helpText();
        help.replace(0, help.indexOf(QLatin1Char('\n')),
                     QStringLiteral("Usage: batchsync-bench --records N [--entities 4] "
                                    "[--batch-size N] [--paging cursor|offset]\n"
                                    "       [--ids random|ordered] [--incremental-percent P] "
                                    "[--runs R] [options]\n"
                                    "       batchsync-bench --source odata [--records N] "
                                    "[--batch-size N] [--runs R]\n"
                                    "       batchsync-bench --push N [--postgres CONNINFO] "
                                    "[--batch-size N] [--runs R]\n"
                                    "       batchsync-bench --postgres CONNINFO [--records N] "
                                    "[--clients N] [--servers M] [--runs R]"));
        std::fputs(qPrintable(help + QLatin1String(helpEpilogue)), stdout);
        std::exit(0);
    }
    if (!parser.positionalArguments().isEmpty()) {
        fail(
            QStringLiteral("unexpected argument \"%1\"").arg(parser.positionalArguments().first()));
        return std::nullopt;
    }
    Options options;
    const auto integer
        = [&](const QCommandLineOption &option, qint64 low, qint64 high, qint64 *target) {
              if (!parser.isSet(option))
                  return true;
              bool ok = false;
              const qint64 value = parser.value(option).toLongLong(&ok);
              if (!ok || value < low || value > high) {
                  fail(QStringLiteral("--%1 must be a whole number from %2 to %3")
                           .arg(option.names().first())
                           .arg(low)
                           .arg(high));
                  return false;
              }
              *target = value;
              return true;
          };
    qint64 entityCount = options.entities, batch = options.batchSize, runCount = options.runs;
    qint64 seedValue = qint64(options.seed), target = options.targetMs;
    options.adaptive = parser.value(batchSize) == u"adaptive";
    if (!integer(records, 1, 100000000, &options.records) || !integer(entities, 1, 64, &entityCount)
        || (!options.adaptive && !integer(batchSize, 100, 10000, &batch))
        || !integer(batchTarget, 20, 10000, &target) || !integer(runs, 0, 100, &runCount)
        || !integer(dataviewRows, 10, 100000000, &options.dataviewRows)
        || !integer(push, 1, 100000000, &options.push)
        || !integer(clients, 1, 2000, &options.liveClients)
        || !integer(changes, 1, 100000, &options.liveChanges)
        || !integer(idleWaits, 0, 100000, &options.idleWaits)
        || !integer(seed, 0, std::numeric_limits<qint64>::max(), &seedValue))
        return std::nullopt;
    options.targetMs = int(target);
    options.runsGiven = parser.isSet(runs);
    options.odata = parser.value(source) == u"odata";
    if (parser.isSet(source) && !options.odata && parser.value(source) != u"batchsync") {
        fail(QStringLiteral("--source must be batchsync or odata"));
        return std::nullopt;
    }
    if (options.odata && (options.adaptive || runCount == 0)) {
        fail(QStringLiteral("--source odata needs a fixed --batch-size and --runs of 1 or more"));
        return std::nullopt;
    }
    options.postgres = parser.value(postgres);
    if ((options.push > 0 || !options.postgres.isEmpty())
        && (options.odata || options.adaptive || runCount == 0)) {
        fail(QStringLiteral("--push and --postgres need a fixed --batch-size and --runs of 1 or "
                            "more"));
        return std::nullopt;
    }
    qint64 pgClients = options.pgClients, pgServers = options.pgServers;
    if (!integer(servers, 1, 64, &pgServers)
        || (!options.postgres.isEmpty() && !integer(clients, 1, 256, &pgClients)))
        return std::nullopt;
    options.pgClients = int(pgClients);
    options.pgServers = int(pgServers);
    options.live = parser.isSet(live);
    options.gui = parser.isSet(gui);
    options.dataview = parser.isSet(dataview);
    if (runCount == 0 && !options.dataview) {
        fail(QStringLiteral("--runs 0 needs --dataview"));
        return std::nullopt;
    }
    if (parser.isSet(linkMbps)) {
        bool ok = false;
        options.linkMbps = parser.value(linkMbps).toDouble(&ok);
        if (!ok || options.linkMbps <= 0 || options.linkMbps > 100000) {
            fail(QStringLiteral("--link-mbps must be a number of megabits per second above 0"));
            return std::nullopt;
        }
    }
    options.entities = int(entityCount);
    options.batchSize = int(batch);
    options.runs = int(runCount);
    options.seed = quint64(seedValue);
    if (parser.isSet(paging)) {
        options.paging = parser.value(paging);
        if (options.paging != u"cursor" && options.paging != u"offset") {
            fail(QStringLiteral("--paging must be cursor or offset"));
            return std::nullopt;
        }
    }
    if (parser.isSet(ids)) {
        const QString value = parser.value(ids);
        if (value != u"random" && value != u"ordered") {
            fail(QStringLiteral("--ids must be random or ordered"));
            return std::nullopt;
        }
        options.randomIds = value == u"random";
    }
    if (parser.isSet(incremental)) {
        bool ok = false;
        options.incrementalPercent = parser.value(incremental).toDouble(&ok);
        if (!ok || options.incrementalPercent < 0 || options.incrementalPercent > 100) {
            fail(QStringLiteral("--incremental-percent must be a number from 0 to 100"));
            return std::nullopt;
        }
    }
    options.workDir = parser.value(workDir);
    options.keep = parser.isSet(keep);
    if (parser.isSet(clientBin))
        options.clientBin = parser.value(clientBin);
    if (parser.isSet(serverBin))
        options.serverBin = parser.value(serverBin);
    options.clientArgs = parser.values(clientArg);
    return options;
}

// --dataview: the bench's records, as a sync would have stored them.
Change dataViewRecord(const Options &options, int entity, qint64 index)
{
    const Row row = makeRow(options.seed + quint64(entity), index, 0, options.randomIds);
    return { QString::fromStdString(row.id),
             QStringLiteral("2026-01-01T00:00:00.000Z"),
             false,
             { QString::fromStdString(row.name), QString::fromStdString(row.email),
               QString::fromStdString(row.note), row.amount, row.quantity, row.active,
               QString::fromStdString(row.updated) } };
}

std::optional<Bench::DataViewFigures> measureDataView(const Options &options, const QString &dir)
{
    const QString path = dir + QStringLiteral("/dataview.sqlite");
    QElapsedTimer timer;
    timer.start();
    QString error;
    if (!Bench::prepareDataViewDatabase(
            path, { schemaOf(0), schemaOf(1) }, { options.dataviewRows, options.dataviewRows / 10 },
            [&](int entity, qint64 index) { return dataViewRecord(options, entity, index); },
            &error)) {
        fail(QStringLiteral("cannot write the data view's database: %1").arg(error));
        return std::nullopt;
    }
    say(QString());
    say(QStringLiteral("data view: %1 records in bench1, %2 in bench2 (%3 MB, ready in %4 s)")
            .arg(options.dataviewRows)
            .arg(options.dataviewRows / 10)
            .arg(double(fileSize(path)) / 1e6, 0, 'f', 1)
            .arg(double(timer.elapsed()) / 1000, 0, 'f', 1));
    QStringList report;
    const std::optional<Bench::DataViewFigures> stall = Bench::runDataViewChild(
        path, QStringLiteral("Lovelace"), dir + QStringLiteral("/dataview"), &report, &error);
    for (const QString &line : std::as_const(report))
        say(QStringLiteral("  ") + line);
    if (!stall)
        fail(error);
    return stall;
}

} // namespace

int main(int argc, char *argv[])
{
    bool gui = false;
    if (argc > 1 && qstrcmp(argv[1], "--odata-sync-child") == 0) {
        QCoreApplication app(argc, argv);
        return Bench::odataSyncChildMain(app.arguments());
    }
    const bool dataviewChild = argc > 1 && qstrcmp(argv[1], "--dataview-child") == 0;
    const bool guiChild = dataviewChild || (argc > 1 && qstrcmp(argv[1], "--gui-child") == 0);
    for (int i = 1; i < argc; ++i)
        gui = gui || qstrcmp(argv[i], "--gui") == 0 || guiChild;
    if (gui && !qEnvironmentVariableIsSet("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    const std::unique_ptr<QCoreApplication> application = gui
        ? std::make_unique<QApplication>(argc, argv)
        : std::make_unique<QCoreApplication>(argc, argv);
    QCoreApplication &app = *application;
    if (dataviewChild)
        return Bench::dataViewChildMain(app.arguments());
    if (guiChild)
        return guiChildMain(app.arguments());
    const std::optional<Options> parsed = parseOptions(app);
    if (!parsed)
        return 2;
    const Options options = *parsed;

    std::optional<QTemporaryDir> temporary;
    QString dir = options.workDir;
    if (dir.isEmpty()) {
        temporary.emplace(QDir::tempPath() + QStringLiteral("/batchsync-bench-XXXXXX"));
        if (!temporary->isValid()) {
            fail(QStringLiteral("cannot create a temporary directory"));
            return 1;
        }
        temporary->setAutoRemove(!options.keep);
        dir = temporary->path();
    } else if (!QDir().mkpath(dir)) {
        fail(QStringLiteral("cannot create %1").arg(dir));
        return 1;
    }
    if (options.odata) {
        say(QStringLiteral("batchsync-bench --source odata: %1 Products, batch size %2; work dir "
                           "%3")
                .arg(options.records)
                .arg(options.batchSize)
                .arg(dir));
        return Bench::runODataBench(
            { options.records, options.batchSize, options.runsGiven ? options.runs : 3, dir });
    }
    if (options.live) {
        return Bench::runLiveBench({ int(options.liveClients), int(options.liveChanges), 300,
                                     int(options.idleWaits), dir, options.serverBin });
    }
    if (!options.postgres.isEmpty() && options.push == 0) {
        return Bench::runPgPullBench({ options.postgres, options.records, options.batchSize,
                                       options.pgClients, options.pgServers,
                                       options.runsGiven ? options.runs : 3, dir, options.clientBin,
                                       options.serverBin, options.clientArgs });
    }
    if (options.push > 0) {
        return Bench::runPushBench({ options.push, options.batchSize,
                                     options.runsGiven ? options.runs : 3, dir, options.clientBin,
                                     options.serverBin, options.postgres, options.clientArgs });
    }
    const QString serverDb = dir + QStringLiteral("/server.sqlite");
    for (const char *suffix : { "", "-wal", "-shm" })
        QFile::remove(serverDb + QLatin1String(suffix));

    say(QStringLiteral("batchsync-bench: %1 records, %2 entities, batch size %3, %4 paging, %5 "
                       "ids, incremental %6 %, %7 run(s); work dir %8%9")
            .arg(options.records)
            .arg(options.entities)
            .arg(options.adaptive ? QStringLiteral("adaptive (target %1 ms)").arg(options.targetMs)
                                  : QString::number(options.batchSize))
            .arg(options.paging,
                 options.randomIds ? QStringLiteral("random") : QStringLiteral("ordered"))
            .arg(options.incrementalPercent)
            .arg(options.runs)
            .arg(dir,
                 options.keep || !options.workDir.isEmpty() ? QString()
                                                            : QStringLiteral(" (removed)")));
    say(QStringLiteral("client %1\nserver %2%3")
            .arg(options.gui ? QStringLiteral("the desktop window, in this process")
                             : options.clientBin,
                 options.serverBin,
                 options.linkMbps > 0
                     ? QStringLiteral("\nlink %1 Mbit/s (throttling proxy)").arg(options.linkMbps)
                     : QString()));

    // 1. The server's data.
    QElapsedTimer timer;
    timer.start();
    QString error;
    qint64 generated = 0;
    if (options.runs > 0 && !writeServerData(serverDb, options, 0, {}, &generated, &error)) {
        fail(QStringLiteral("cannot generate the server data: %1").arg(error));
        return 1;
    }
    if (options.runs > 0) {
        const double generateSeconds = double(timer.nsecsElapsed()) / 1e9;
        say(QStringLiteral("generated %1 records on the server in %2 s (%3 records/s, %4 MB "
                           "database)")
                .arg(generated)
                .arg(generateSeconds, 0, 'f', 2)
                .arg(double(generated) / generateSeconds, 0, 'f', 0)
                .arg(double(fileSize(serverDb)) / 1e6, 0, 'f', 1));
    }

    std::vector<RunFigures> figures;
    for (int run = 1; run <= options.runs; ++run) {
        RunFigures f;
        const QString prefix = dir + QStringLiteral("/run%1").arg(run);
        const QString clientDb = prefix + QStringLiteral("-client.sqlite");
        for (const char *suffix : { "", "-wal", "-shm" })
            QFile::remove(clientDb + QLatin1String(suffix));

        // 2-3. The first sync.
        SyncResult first;
        {
            Server server;
            if (!server.start(options, serverDb, prefix + QStringLiteral("-server.log"), &error)) {
                fail(error);
                return 1;
            }
            QString endpoint = server.url();
            std::unique_ptr<Bench::ThrottledLink> link;
            if (options.linkMbps > 0) {
                link = std::make_unique<Bench::ThrottledLink>(QUrl(endpoint).port(),
                                                              options.linkMbps * 1e6 / 8);
                const quint16 port = link->start();
                if (port == 0) {
                    fail(QStringLiteral("cannot listen for the throttled link"));
                    return 1;
                }
                endpoint = withPort(endpoint, port);
            }
            if (options.gui) {
                // The terminal's sync in the same run, the window's yardstick; which of the two
                // goes first alternates from run to run.
                const QString headlessDb = prefix + QStringLiteral("-headless.sqlite");
                SyncResult headless;
                for (int turn = 0; turn < 2; ++turn) {
                    if ((turn + run) % 2 == 1) {
                        first = runGuiChild(options, server, endpoint, clientDb, dir,
                                            prefix + QStringLiteral("-gui"));
                    } else if ((headless = runClient(options, server, endpoint, headlessDb,
                                                     prefix + QStringLiteral("-headless")))
                                   .ok) {
                        const qint64 rows = localRows(headlessDb, options.entities, &error);
                        headless.ok = rows == options.records;
                        if (!headless.ok)
                            fail(QStringLiteral("the headless sync stored %1 rows").arg(rows));
                        for (const char *suffix : { "", "-wal", "-shm" })
                            QFile::remove(headlessDb + QLatin1String(suffix));
                    }
                }
                if (!headless.ok)
                    return 1;
                f.headlessPerSecond = double(options.records) / headless.seconds;
                if (first.ok)
                    f.guiRatio = double(options.records) / first.seconds / *f.headlessPerSecond;
            } else {
                first = runClient(options, server, endpoint, clientDb,
                                  prefix + QStringLiteral("-first"));
            }
        }
        if (!first.ok)
            return 1;
        const qint64 rows = localRows(clientDb, options.entities, &error);
        if (rows != options.records) {
            fail(QStringLiteral("the local database holds %1 rows, not %2: the sync is wrong, so "
                                "its figures mean nothing %3")
                     .arg(rows)
                     .arg(options.records)
                     .arg(error));
            return 1;
        }
        f.syncSeconds = first.seconds;
        f.recordsPerSecond = double(options.records) / first.seconds;
        if (options.gui)
            f.guiPerSecond = f.recordsPerSecond;
        f.mbPerSecond = double(first.changesBytes) / 1e6 / first.seconds;
        f.clientRssMb = kbToMb(first.clientPeakKb);
        f.serverRssMb = kbToMb(first.serverPeakKb);
        f.firstMs = first.firstPageMs;
        f.lastMs = first.lastPageMs;
        f.medianMs = first.medianPageMs;
        f.maxMs = first.maxPageMs;
        f.firstLimit = first.firstLimit;
        f.lastLimit = first.lastLimit;
        f.parsePerSecond = first.parsePerSecond;
        f.guiMaxStallMs = first.guiMaxStallMs;
        f.guiMaxBusyMs = first.guiMaxBusyMs;
        f.progressPerSecond = first.progressPerSecond;

        // 4. The incremental sync.
        qint64 updated = 0;
        double updateSeconds = 0;
        SyncResult second;
        if (options.incrementalPercent > 0) {
            const quint64 threshold = quint64(options.incrementalPercent * 100.0 + 0.5);
            const quint64 salt = splitmix(options.seed ^ quint64(run) * 0x2545f4914f6cdd1dULL);
            timer.restart();
            if (!writeServerData(
                    serverDb, options, run,
                    [&](qint64 i) { return splitmix(salt + quint64(i)) % 10000 < threshold; },
                    &updated, &error)) {
                fail(QStringLiteral("cannot update the server data: %1").arg(error));
                return 1;
            }
            updateSeconds = double(timer.nsecsElapsed()) / 1e9;
            Server server;
            if (!server.start(options, serverDb, prefix + QStringLiteral("-server.log"), &error)) {
                fail(error);
                return 1;
            }
            second = runClient(options, server, server.url(), clientDb,
                               prefix + QStringLiteral("-incremental"));
            if (!second.ok)
                return 1;
            f.incrementalSeconds = second.seconds;
            if (second.clientPeakKb > 0)
                f.incrementalRssMb = double(second.clientPeakKb) / 1024.0;
        }

        // 5. The baseline, and the floor.
        const Bench::StorageRate baseline
            = Bench::runBaseline(storageWork(options, prefix + QStringLiteral("-baseline.sqlite")));
        if (baseline.ok)
            f.baseline = baseline.rowsPerSecond;
        const Bench::StorageRate floor
            = Bench::runFloor(storageWork(options, prefix + QStringLiteral("-floor.sqlite")));
        if (floor.ok) {
            f.floor = floor.rowsPerSecond;
            f.floorRatio = *f.recordsPerSecond / floor.rowsPerSecond;
        }

        say(QString());
        say(QStringLiteral("run %1 of %2").arg(run).arg(options.runs));
        const auto row = [](const QString &what, const QString &value, const QString &note) {
            say(QStringLiteral("  %1 %2  %3").arg(what, -34).arg(value, 14).arg(note));
        };
        row(QStringLiteral("first sync wall time (s)"), number(f.syncSeconds, 3),
            QStringLiteral("client process start to exit"));
        row(QStringLiteral("records/s"), number(f.recordsPerSecond, 0),
            QStringLiteral("%1 records").arg(options.records));
        row(QStringLiteral("MB/s of /changes JSON"), number(f.mbPerSecond, 1),
            QStringLiteral("%1 MB in %2 pages (bodies received, client log)")
                .arg(double(first.changesBytes) / 1e6, 0, 'f', 1)
                .arg(first.pages));
        row(QStringLiteral("client peak RSS (MB)"), number(f.clientRssMb, 1),
            QStringLiteral("VmHWM"));
        row(QStringLiteral("server peak RSS (MB)"), number(f.serverRssMb, 1),
            QStringLiteral("VmHWM after the sync"));
        row(QStringLiteral("first pages latency (ms)"), number(f.firstMs, 1),
            QStringLiteral("request sent -> body received; median of each entity's first "
                           "5 % of pages (1-10)"));
        row(QStringLiteral("last full pages latency (ms)"), number(f.lastMs, 1),
            QStringLiteral("same, its last 5 % of pages (1-10), the short tail page excluded"));
        row(QStringLiteral("median / max page latency (ms)"),
            number(f.medianMs, 1) + QLatin1Char('/') + number(f.maxMs, 0), QString());
        row(QStringLiteral("batch size first / last"),
            number(f.firstLimit, 0) + QLatin1Char('/') + number(f.lastLimit, 0),
            options.adaptive
                ? QStringLiteral("adaptive, target %1 ms; last: median of the last 10 % of pages")
                      .arg(options.targetMs)
                : QStringLiteral("fixed"));
        row(QStringLiteral("client parse rate (changes/s)"), number(f.parsePerSecond, 0),
            QStringLiteral("/changes bodies parsed, from the client log"));
        if (options.gui) {
            row(QStringLiteral("longest GUI stall; most busy (ms)"),
                number(f.guiMaxStallMs, 0) + QLatin1Char(';') + number(f.guiMaxBusyMs, 0),
                QStringLiteral("longest gap of a 5 ms timer in the window's event loop; the most "
                               "the GUI thread ran in one gap (the rest: waiting for a CPU)"));
            row(QStringLiteral("progress updates/s per entity"), number(f.progressPerSecond, 1),
                QStringLiteral("median over the entities"));
            row(QStringLiteral("headless records/s; window/headless"),
                number(f.headlessPerSecond, 0) + QLatin1Char(';') + number(f.guiRatio, 2),
                QStringLiteral("batchsync --headless in this run, start to exit"));
        }
        row(QStringLiteral("local database (MB)"),
            QString::number(double(fileSize(clientDb)) / 1e6, 'f', 1),
            QStringLiteral("file + WAL after the sync"));
        if (options.incrementalPercent > 0) {
            row(QStringLiteral("incremental sync (s)"), number(f.incrementalSeconds, 3),
                QStringLiteral("%1 changed records (%2 records/s); server update took %3 s")
                    .arg(updated)
                    .arg(double(updated) / second.seconds, 0, 'f', 0)
                    .arg(updateSeconds, 0, 'f', 2));
            row(QStringLiteral("incremental client peak RSS (MB)"), number(f.incrementalRssMb, 1),
                QStringLiteral("VmHWM of the incremental sync"));
        }
        row(QStringLiteral("baseline sqlite3 upserts/s"), number(f.baseline, 0),
            baseline.ok ? QStringLiteral("C API, %1 rows/transaction, WAL, synchronous=NORMAL")
                              .arg(options.batchSize)
                        : baseline.message);
        if (f.recordsPerSecond && f.baseline) {
            row(QStringLiteral("sync / baseline"),
                QString::number(*f.recordsPerSecond / *f.baseline, 'f', 2), QString());
        }
        row(QStringLiteral("floor records/s; sync / floor"),
            number(f.floor, 0) + QLatin1Char(';') + number(f.floorRatio, 2), floor.message);
        figures.push_back(f);
    }

    const auto m
        = [&](std::optional<double> RunFigures::*member) { return medianOf(figures, member); };
    if (options.runs > 1) {
        say(QString());
        say(QStringLiteral("medians of %1 runs: records/s %2, MB/s %3, client RSS %4 MB, server "
                           "RSS %5 MB, baseline %6/s, first/last page %7/%8 ms, incremental "
                           "%9 s")
                .arg(options.runs)
                .arg(number(m(&RunFigures::recordsPerSecond), 0),
                     number(m(&RunFigures::mbPerSecond), 1), number(m(&RunFigures::clientRssMb), 1),
                     number(m(&RunFigures::serverRssMb), 1), number(m(&RunFigures::baseline), 0),
                     number(m(&RunFigures::firstMs), 1), number(m(&RunFigures::lastMs), 1),
                     number(m(&RunFigures::incrementalSeconds), 3)));
    }
    std::optional<double> dataviewStall, dataviewBusy;
    if (options.dataview) {
        const std::optional<Bench::DataViewFigures> dataview = measureDataView(options, dir);
        if (!dataview)
            return 1;
        dataviewStall = dataview->maxStallMs;
        dataviewBusy = dataview->maxBusyMs;
    }
    say(QString());
    say(QStringLiteral("RESULT records=%1 records_per_s=%2 mb_per_s=%3 client_peak_rss_mb=%4 "
                       "server_peak_rss_mb=%5 baseline_storage_per_s=%6 first_batch_ms=%7 "
                       "last_batch_ms=%8 incremental_s=%9 batch_size_last=%10 parse_per_s=%11 "
                       "gui_max_stall_ms=%12 progress_per_s=%13 dataview_max_stall_ms=%14 "
                       "dataview_max_busy_ms=%15 floor_records_per_s=%16 floor_ratio=%17 "
                       "gui_records_per_s=%18 headless_records_per_s=%19 gui_ratio=%20 "
                       "gui_max_busy_ms=%21 incremental_rss_mb=%22")
            .arg(options.runs > 0 ? options.records : 0)
            .arg(number(m(&RunFigures::recordsPerSecond), 0),
                 number(m(&RunFigures::mbPerSecond), 1), number(m(&RunFigures::clientRssMb), 1),
                 number(m(&RunFigures::serverRssMb), 1), number(m(&RunFigures::baseline), 0),
                 number(m(&RunFigures::firstMs), 1), number(m(&RunFigures::lastMs), 1),
                 number(m(&RunFigures::incrementalSeconds), 3),
                 number(m(&RunFigures::lastLimit), 0), number(m(&RunFigures::parsePerSecond), 0),
                 number(m(&RunFigures::guiMaxStallMs), 0),
                 number(m(&RunFigures::progressPerSecond), 1), number(dataviewStall, 0),
                 number(dataviewBusy, 0), number(m(&RunFigures::floor), 0),
                 number(m(&RunFigures::floorRatio), 2), number(m(&RunFigures::guiPerSecond), 0))
            .arg(number(m(&RunFigures::headlessPerSecond), 0), number(m(&RunFigures::guiRatio), 2),
                 number(m(&RunFigures::guiMaxBusyMs), 0),
                 number(m(&RunFigures::incrementalRssMb), 1)));
    return 0;
}
