// The real batchsync --headless killed (SIGKILL) at random moments, many times in a row,
// against a real SyncServer in this thread; then stopped cleanly with SIGTERM (issue:
// reliability). Every wait goes through the event loop (QSignalSpy::wait), which serves the
// HTTP requests. The randomness is seeded: the seed is printed, and BATCHSYNC_TEST_SEED
// reproduces a run.

#include "common/identifier.h"
#include "common/types.h"
#include "server/backend/serverstore.h"
#include "server/syncserver.h"
#include "testutil/testserver.h"

#include <QElapsedTimer>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QProcess>
#include <QRandomGenerator>
#include <QSet>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <algorithm>
#include <cmath>
#include <csignal>
#include <memory>

using namespace BatchSync;

namespace {

using Records = QHash<QString, QVariantList>;

constexpr int BatchSize = 100;
constexpr int Concurrency = 2;
constexpr int KillsPerMode = 20;
constexpr int RunGuardMs = 120000; // a hang guard, not a timing expectation

const QStringList &entityNames()
{
    static const QStringList names { QStringLiteral("customers"), QStringLiteral("orders"),
                                     QStringLiteral("invoices") };
    return names;
}

quint32 testSeed()
{
    static const quint32 seed = [] {
        bool ok = false;
        const quint32 forced = qEnvironmentVariable("BATCHSYNC_TEST_SEED").toUInt(&ok);
        return ok ? forced : QRandomGenerator::global()->generate();
    }();
    return seed;
}

struct Child
{
    bool finished = false;
    int exitCode = -1;
    QProcess::ExitStatus exitStatus = QProcess::NormalExit;
    bool killed = false; // by the test
    qint64 stopMs = -1; // from the signal to the exit
    QString err;

    QString describe() const
    {
        return QStringLiteral("%1, exit %2 (%3)\n--- stderr ---\n%4")
            .arg(finished ? QStringLiteral("finished") : QStringLiteral("TIMED OUT"))
            .arg(exitCode)
            .arg(exitStatus == QProcess::CrashExit ? QStringLiteral("killed/crashed")
                                                   : QStringLiteral("normal exit"))
            .arg(err.right(4000));
    }
    bool sanitizerReport() const
    {
        return err.contains(QLatin1String("LeakSanitizer"))
            || err.contains(QLatin1String("ERROR: AddressSanitizer"))
            || err.contains(QLatin1String("runtime error:"));
    }
};

#define VERIFY_CHILD(condition, child)                                                             \
    do {                                                                                           \
        if (!(condition))                                                                          \
            qWarning().noquote() << (child).describe();                                            \
        QVERIFY2(condition, "the output of batchsync is above");                                   \
    } while (false)

// Opens the local database read-write (so that a WAL left by a killed process is recovered,
// as the next start would) and runs \a check; the connection is gone afterwards.
template<typename Check> void withLocalDatabase(const QString &path, Check &&check)
{
    static int connections = 0;
    const QString name = QStringLiteral("tst_killresume_%1").arg(++connections);
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(path);
        if (!db.open())
            qWarning() << "cannot open" << path << db.lastError().text();
        else
            check(db);
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
}

QString integrityCheck(const QString &path)
{
    QString result = QStringLiteral("(no database)");
    if (!QFileInfo::exists(path))
        return QStringLiteral("ok"); // killed before it created one
    withLocalDatabase(path, [&result](QSqlDatabase &db) {
        QSqlQuery query(db);
        if (!query.exec(QStringLiteral("PRAGMA integrity_check"))) {
            result = query.lastError().text();
            return;
        }
        QStringList lines;
        while (query.next())
            lines << query.value(0).toString();
        result = lines.join(QLatin1Char('\n'));
    });
    return result;
}

// Every record of an entity table, typed like ServerStore::liveRecords; ids counted twice in
// \a duplicates (impossible with the primary key, checked all the same).
Records localRecords(const QString &path, const EntitySchema &schema, qint64 *duplicates = nullptr)
{
    Records records;
    if (!QFileInfo::exists(path))
        return records;
    withLocalDatabase(path, [&](QSqlDatabase &db) {
        if (!db.tables().contains(schema.name))
            return;
        QStringList columns { QStringLiteral("id") };
        for (const FieldSpec &field : schema.fields)
            columns << Identifier::quoted(field.name);
        QSqlQuery query(db);
        if (!query.exec(
                QStringLiteral("SELECT %1 FROM %2")
                    .arg(columns.join(QLatin1Char(',')), Identifier::quoted(schema.name)))) {
            qWarning() << query.lastError().text();
            return;
        }
        qint64 rows = 0;
        while (query.next()) {
            ++rows;
            QVariantList values;
            for (int i = 0; i < schema.fields.size(); ++i) {
                const QVariant v = query.value(i + 1);
                if (v.isNull()) {
                    values << QVariant();
                    continue;
                }
                switch (schema.fields.at(i).type) {
                case FieldType::Int:
                    values << QVariant(v.toLongLong());
                    break;
                case FieldType::Real:
                    values << QVariant(v.toDouble());
                    break;
                case FieldType::Bool:
                    values << QVariant(v.toLongLong() != 0);
                    break;
                case FieldType::String:
                case FieldType::DateTime:
                case FieldType::Decimal:
                    values << QVariant(v.toString());
                    break;
                }
            }
            records.insert(query.value(0).toString(), values);
        }
        if (duplicates)
            *duplicates += rows - records.size();
    });
    return records;
}

// Empty when the local copy of every entity equals the server's live records.
QString compareWithServer(const QString &path, ServerStore *store)
{
    for (const QString &name : entityNames()) {
        const EntitySchema schema = *store->entity(name);
        qint64 duplicates = 0;
        const Records local = localRecords(path, schema, &duplicates);
        const Records server = store->liveRecords(name);
        if (duplicates)
            return QStringLiteral("%1: %2 duplicate ids").arg(name).arg(duplicates);
        if (local.size() != server.size()) {
            return QStringLiteral("%1: %2 local records, %3 on the server")
                .arg(name)
                .arg(local.size())
                .arg(server.size());
        }
        for (auto it = server.cbegin(); it != server.cend(); ++it) {
            const auto found = local.constFind(it.key());
            if (found == local.cend())
                return QStringLiteral("%1: %2 missing locally").arg(name, it.key());
            if (*found != *it)
                return QStringLiteral("%1: %2 differs locally").arg(name, it.key());
        }
    }
    return QString();
}

int largestTieGroup(ServerStore *store, const QString &entity)
{
    int largest = 0;
    int run = 0;
    QString previous;
    for (qint64 offset = 0;; offset += 10000) {
        int records = 0;
        QString error;
        const std::optional<QByteArray> body = store->changesJson(
            entity, PagingMode::Offset, QString(), offset, 10000, &records, &error);
        if (!body)
            return -1;
        const QJsonArray changes
            = QJsonDocument::fromJson(*body).object().value(QLatin1String("changes")).toArray();
        for (const QJsonValue &value : changes) {
            const QString changedAt = value.toObject().value(QLatin1String("changedAt")).toString();
            run = changedAt == previous ? run + 1 : 1;
            previous = changedAt;
            largest = std::max(largest, run);
        }
        if (records < 10000)
            return largest;
    }
}

// Figures for the closing note.
struct Totals
{
    int kills = 0;
    int cursorKills = 0;
    int offsetKills = 0;
    int terms = 0;
    qint64 repulled = 0;
    int mutations = 0;
    int exact = 0;
} g_totals;

} // namespace

class TestKillResume final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    void cleanupTestCase();

    void killManyTimesThenComplete_data();
    void killManyTimesThenComplete();
    void terminateStopsPromptlyAndResumes_data();
    void terminateStopsPromptlyAndResumes();

private:
    /*!
        Runs batchsync against \a server. \a killAfterMs >= 0 sends SIGKILL that long after
        the start; \a signalAtPage > 0 sends \a signal that many pages after the start (plus
        \a extraDelayMs).
    */
    Child runChild(Test::TestServer &server, PagingMode paging, int killAfterMs = -1,
                   int signalAtPage = 0, int signalNumber = SIGKILL, int extraDelayMs = 0);
    QString databasePath() const { return m_home->filePath(QStringLiteral("local.sqlite")); }
    void fillServer(Test::TestServer &server, quint32 seed, int scale);
    /*! Updates, inserts and deletes records the client already holds; returns how many. */
    int mutateSyncedRecords(Test::TestServer &server, QRandomGenerator &random);

    std::unique_ptr<QTemporaryDir> m_home;
};

void TestKillResume::initTestCase()
{
    QVERIFY2(QFileInfo(QStringLiteral(BATCHSYNC_BIN)).isExecutable(), BATCHSYNC_BIN);
    QVERIFY(QSqlDatabase::isDriverAvailable(QStringLiteral("QSQLITE")));
    qInfo("seed %u (set BATCHSYNC_TEST_SEED=%u to run the same kills again)", testSeed(),
          testSeed());
}

void TestKillResume::init()
{
    m_home = std::make_unique<QTemporaryDir>();
    QVERIFY(m_home->isValid());
}

void TestKillResume::cleanup()
{
    m_home.reset();
}

void TestKillResume::cleanupTestCase()
{
    qInfo().noquote() << QStringLiteral("killed %1 times (%2 cursor, %3 offset) and stopped %4 "
                                        "times with SIGTERM, %5 changes made on the server "
                                        "between runs, re-pulled %6 records, end state exact "
                                        "(%7 of %7 runs)")
                             .arg(g_totals.kills)
                             .arg(g_totals.cursorKills)
                             .arg(g_totals.offsetKills)
                             .arg(g_totals.terms)
                             .arg(g_totals.mutations)
                             .arg(g_totals.repulled)
                             .arg(g_totals.exact);
}

Child TestKillResume::runChild(Test::TestServer &server, PagingMode paging, int killAfterMs,
                               int signalAtPage, int signalNumber, int extraDelayMs)
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.remove(QStringLiteral("BATCHSYNC_TOKEN"));
    environment.insert(QStringLiteral("HOME"), m_home->path());
    environment.insert(QStringLiteral("XDG_DATA_HOME"), m_home->filePath(QStringLiteral("data")));
    environment.insert(QStringLiteral("XDG_CONFIG_HOME"),
                       m_home->filePath(QStringLiteral("config")));

    QProcess process;
    process.setProgram(QStringLiteral(BATCHSYNC_BIN));
    process.setArguments({ QStringLiteral("--headless"), QStringLiteral("--endpoint"),
                           server.baseUrl().toString(), QStringLiteral("--db"), databasePath(),
                           QStringLiteral("--batch-size"), QString::number(BatchSize),
                           QStringLiteral("--concurrency"), QString::number(Concurrency),
                           QStringLiteral("--paging"), pagingModeName(paging) });
    process.setProcessEnvironment(environment);
    QSignalSpy finished(&process, &QProcess::finished);

    Child child;
    QElapsedTimer signalClock;
    const QPointer<QProcess> guard(&process);
    const auto sendSignal = [&child, &signalClock, guard, signalNumber] {
        if (!guard || guard->state() != QProcess::Running || child.killed)
            return;
        child.killed = true;
        signalClock.start();
        if (signalNumber == SIGKILL)
            guard->kill();
        else
            ::kill(pid_t(guard->processId()), signalNumber);
    };
    int pages = 0;
    QMetaObject::Connection onPage;
    if (signalAtPage > 0) {
        onPage = connect(server.server(), &SyncServer::pageServed, &process, [&] {
            if (++pages != signalAtPage)
                return;
            if (extraDelayMs > 0)
                QTimer::singleShot(extraDelayMs, &process, sendSignal);
            else
                sendSignal();
        });
    }
    process.start();
    if (killAfterMs >= 0)
        QTimer::singleShot(killAfterMs, &process, sendSignal);
    child.finished = finished.wait(RunGuardMs);
    disconnect(onPage);
    if (!child.finished) {
        process.kill();
        finished.wait(10000);
    }
    if (child.killed && signalClock.isValid())
        child.stopMs = signalClock.elapsed();
    child.exitCode = process.exitCode();
    child.exitStatus = process.exitStatus();
    child.err = QString::fromLocal8Bit(process.readAllStandardError());
    return child;
}

void TestKillResume::fillServer(Test::TestServer &server, quint32 seed, int scale)
{
    server.addCustomers(12 * scale, seed, entityNames().at(0));
    server.addCustomers(10 * scale, seed + 1, entityNames().at(1));
    server.addCustomers(8 * scale, seed + 2, entityNames().at(2));
}

int TestKillResume::mutateSyncedRecords(Test::TestServer &server, QRandomGenerator &random)
{
    // Only records the client holds (and inserts): each mutation is then exactly one more
    // change the client must read, so that what it reads beyond that is what it re-pulled.
    int mutations = 0;
    for (const QString &name : entityNames()) {
        const EntitySchema schema = *server.store()->entity(name);
        QStringList held = localRecords(databasePath(), schema).keys();
        const QHash<QString, QVariantList> live = server.store()->liveRecords(name);
        held.erase(std::remove_if(held.begin(), held.end(),
                                  [&live](const QString &id) { return !live.contains(id); }),
                   held.end());
        std::sort(held.begin(), held.end());
        QSet<QString> touched;
        QList<std::pair<QString, QVariantMap>> upserts;
        QStringList deletes;
        const int changes = held.isEmpty() ? 0 : 10 + int(random.bounded(20));
        for (int i = 0; i < changes; ++i) {
            const QString id = held.at(int(random.bounded(held.size())));
            if (touched.contains(id))
                continue;
            touched.insert(id);
            if (random.bounded(4) == 0) {
                deletes << id;
            } else {
                upserts.append({ id,
                                 { { QStringLiteral("name"),
                                     QStringLiteral("updated %1").arg(random.generate()) },
                                   { QStringLiteral("visits"), qint64(random.bounded(1000)) } } });
            }
        }
        const int inserts = int(random.bounded(15));
        for (int i = 0; i < inserts; ++i) {
            upserts.append({ Test::TestServer::randomId(random),
                             { { QStringLiteral("name"), QStringLiteral("inserted %1").arg(i) },
                               { QStringLiteral("active"), random.bounded(2) == 1 } } });
        }
        QString error;
        if (!upserts.isEmpty() && !server.store()->upsert(name, upserts, &error))
            qWarning() << "upsert:" << error;
        if (!deletes.isEmpty() && !server.store()->remove(name, deletes, &error))
            qWarning() << "remove:" << error;
        mutations += int(upserts.size() + deletes.size());
    }
    return mutations;
}

void TestKillResume::killManyTimesThenComplete_data()
{
    QTest::addColumn<PagingMode>("paging");
    QTest::newRow("cursor") << PagingMode::Cursor;
    QTest::newRow("offset") << PagingMode::Offset;
}

void TestKillResume::killManyTimesThenComplete()
{
    QFETCH(PagingMode, paging);
    const quint32 seed = testSeed() + (paging == PagingMode::Offset ? 1 : 0);
    QRandomGenerator random(seed);
    Test::TestServer server;
    QVERIFY(server.start());
    fillServer(server, seed, 1000); // 30,000 records
    qint64 needed = 30000; // changes a client that was never killed would read
    qint64 pages = 0;
    connect(server.server(), &SyncServer::pageServed, this, [&pages] { ++pages; });

    int kills = 0;
    int runs = 0;
    int mutations = 0;
    int completedEarly = 0;
    while (kills < KillsPerMode && runs < 4 * KillsPerMode) {
        ++runs;
        if (runs % 4 == 0) {
            const int changed = mutateSyncedRecords(server, random);
            mutations += changed;
            needed += changed;
        }
        // Half the kills at a random time 20-300 ms after the start (starting up, counting,
        // pulling, writing), half a few pages in, plus a little (mid-transfer or mid-commit).
        Child child;
        if (random.bounded(2) == 0) {
            child = runChild(server, paging, 20 + int(random.bounded(281)));
        } else {
            child = runChild(server, paging, -1, 1 + int(random.bounded(12)), SIGKILL,
                             int(random.bounded(21)));
        }
        VERIFY_CHILD(child.finished, child);
        VERIFY_CHILD(!child.sanitizerReport(), child);
        if (child.killed && child.exitStatus == QProcess::CrashExit) {
            ++kills;
        } else {
            // It finished before the kill came (or while it was being sent): then it must
            // have completed.
            VERIFY_CHILD(child.exitStatus == QProcess::NormalExit && child.exitCode == 0, child);
            ++completedEarly;
            // Caught up: new records give the next runs something to be killed in.
            for (const QString &name : entityNames()) {
                QList<std::pair<QString, QVariantMap>> inserts;
                for (int i = 0; i < 500; ++i) {
                    inserts.append(
                        { Test::TestServer::randomId(random),
                          { { QStringLiteral("name"), QStringLiteral("late %1").arg(i) } } });
                }
                QString error;
                QVERIFY2(server.store()->upsert(name, inserts, &error), qPrintable(error));
                needed += inserts.size();
                mutations += int(inserts.size());
            }
        }
        const QString integrity = integrityCheck(databasePath());
        QVERIFY2(integrity == QLatin1String("ok"),
                 qPrintable(QStringLiteral("after run %1: %2").arg(runs).arg(integrity)));
    }
    QVERIFY2(kills == KillsPerMode,
             qPrintable(QStringLiteral("%1 kills in %2 runs").arg(kills).arg(runs)));

    // The last run completes, and the ASan build's LeakSanitizer reports at its exit.
    const Child last = runChild(server, paging);
    VERIFY_CHILD(last.finished && last.exitStatus == QProcess::NormalExit && last.exitCode == 0,
                 last);
    VERIFY_CHILD(!last.sanitizerReport(), last);
    QCOMPARE(integrityCheck(databasePath()), QStringLiteral("ok"));
    const QString difference = compareWithServer(databasePath(), server.store());
    QVERIFY2(difference.isEmpty(), qPrintable(difference));

    // What was read beyond what was needed: at most the batches in flight at each kill (in
    // cursor mode two per entity: the one being written and the next, already asked for),
    // and in offset mode the tie group each start reads again plus one anchor per page.
    const qint64 served = server.server()->changesServed();
    const qint64 repulled = served - needed;
    const int inFlight = paging == PagingMode::Cursor ? 2 : 1;
    qint64 bound = qint64(kills) * Concurrency * BatchSize * inFlight;
    if (paging == PagingMode::Offset) {
        int ties = 0;
        for (const QString &name : entityNames())
            ties = std::max(ties, largestTieGroup(server.store(), name));
        bound += qint64(runs + 1) * entityNames().size() * ties + pages;
    }
    qInfo().noquote() << QStringLiteral("%1: %2 kills in %3 runs (%4 completed before the kill), "
                                        "%5 mutations, %6 changes served for %7 needed: "
                                        "re-pulled %8 (bound %9)")
                             .arg(pagingModeName(paging))
                             .arg(kills)
                             .arg(runs)
                             .arg(completedEarly)
                             .arg(mutations)
                             .arg(served)
                             .arg(needed)
                             .arg(repulled)
                             .arg(bound);
    QVERIFY2(repulled >= 0, "fewer changes served than needed, yet the end state is exact?");
    QVERIFY2(repulled <= bound, qPrintable(QString::number(repulled)));

    g_totals.kills += kills;
    (paging == PagingMode::Cursor ? g_totals.cursorKills : g_totals.offsetKills) += kills;
    g_totals.repulled += repulled;
    g_totals.mutations += mutations;
    ++g_totals.exact;
}

void TestKillResume::terminateStopsPromptlyAndResumes_data()
{
    QTest::addColumn<PagingMode>("paging");
    QTest::newRow("cursor") << PagingMode::Cursor;
    QTest::newRow("offset") << PagingMode::Offset;
}

void TestKillResume::terminateStopsPromptlyAndResumes()
{
    QFETCH(PagingMode, paging);
    const quint32 seed = testSeed() + (paging == PagingMode::Offset ? 3 : 2);
    QRandomGenerator random(seed);
    Test::TestServer server;
    QVERIFY(server.start());
    fillServer(server, seed, 500); // 15,000 records
    qint64 pages = 0;
    connect(server.server(), &SyncServer::pageServed, this, [&pages] { ++pages; });

    constexpr int Stops = 4;
    for (int i = 0; i < Stops; ++i) {
        const Child child = runChild(server, paging, -1, 2 + int(random.bounded(10)), SIGTERM,
                                     int(random.bounded(21)));
        VERIFY_CHILD(child.finished && child.killed, child);
        VERIFY_CHILD(child.exitStatus == QProcess::NormalExit && child.exitCode == 143, child);
        VERIFY_CHILD(child.stopMs >= 0 && child.stopMs < 10000, child);
        VERIFY_CHILD(!child.sanitizerReport(), child);
        QCOMPARE(integrityCheck(databasePath()), QStringLiteral("ok"));
    }
    qint64 held = 0;
    for (const QString &name : entityNames())
        held += localRecords(databasePath(), *server.store()->entity(name)).size();
    QVERIFY2(held > 0 && held < 15000, qPrintable(QString::number(held)));

    // The next run resumes from the last commit: what it reads is what is left (plus, in
    // offset mode, the tie group it starts in and one anchor per page).
    const qint64 servedBefore = server.server()->changesServed();
    const qint64 pagesBefore = pages;
    const Child last = runChild(server, paging);
    VERIFY_CHILD(last.finished && last.exitStatus == QProcess::NormalExit && last.exitCode == 0,
                 last);
    VERIFY_CHILD(!last.sanitizerReport(), last);
    const QString difference = compareWithServer(databasePath(), server.store());
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
    const qint64 served = server.server()->changesServed() - servedBefore;
    if (paging == PagingMode::Cursor) {
        QCOMPARE(served, 15000 - held);
    } else {
        int ties = 0;
        for (const QString &name : entityNames())
            ties = std::max(ties, largestTieGroup(server.store(), name));
        const qint64 bound = 15000 - held + entityNames().size() * ties + (pages - pagesBefore);
        QVERIFY2(served >= 15000 - held && served <= bound,
                 qPrintable(QStringLiteral("%1 served, %2 left, bound %3")
                                .arg(served)
                                .arg(15000 - held)
                                .arg(bound)));
    }
    qInfo().noquote() << QStringLiteral("%1: stopped %2 times with SIGTERM (exit 143 each time), "
                                        "then %3 records held, the last run read %4")
                             .arg(pagingModeName(paging))
                             .arg(Stops)
                             .arg(held)
                             .arg(served);
    g_totals.terms += Stops;
    ++g_totals.exact;
}

QTEST_GUILESS_MAIN(TestKillResume)
#include "tst_killresume.moc"
