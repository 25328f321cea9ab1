// The push of local edits, end to end: plain SQL edits of the local database, an engine
// syncing with a real server on 127.0.0.1, and what each side holds after; two clients
// pushing the same records at the same time. On SQLite, or on PostgreSQL with
// BATCHSYNC_TEST_BACKEND=postgres and BATCHSYNC_TEST_POSTGRES set (the ctest entry
// tst_pushsync_postgres; see .ci/postgres), where it skips without a server and fails
// without one under CI.

#include "engine/syncengine.h"
#include "sources/protocol/protocolclient.h"
#include "sources/protocol/protocolparser.h"
#include "store/localstore.h"
#include "testutil/localdb.h"
#include "testutil/pgtest.h"
#include "testutil/pushfixture.h"
#include "testutil/rawdb.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <atomic>
#include <vector>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

QString uniqueConnectionName()
{
    static std::atomic<int> serial { 0 };
    return QStringLiteral("tst_pushsync_%1").arg(++serial);
}

QJsonObject parsed(const QString &json)
{
    return QJsonDocument::fromJson(json.toUtf8()).object();
}

const QString PgDatabase = QStringLiteral("bs_tst_pushsync");

} // namespace

class TestPushSync final : public QObject, private PushFixture
{
    Q_OBJECT

    std::unique_ptr<QTemporaryDir> m_dir;
    int m_tests = 0;
    QString m_schema; // PostgreSQL: the current test's schema

    QString path() const { return m_dir->filePath(QStringLiteral("local.sqlite")); }

    SyncSettings settings(SyncDirection direction = SyncDirection::Both,
                          ConflictPolicy policy = ConflictPolicy::ServerWins) const
    {
        SyncSettings s;
        s.endpoint = m_server->baseUrl();
        s.databasePath = path();
        s.batchSize = 100;
        s.retryBaseDelayMs = 10;
        s.retryMaxDelayMs = 100;
        s.retryGiveUpMs = 3000;
        s.direction = direction;
        s.conflictPolicy = policy;
        return s;
    }

    struct Outcome
    {
        bool ok = false;
        QList<QList<QVariant>> pushed; // entity, applied, conflicts, rejected
        QList<QList<QVariant>> progress; // during the push phase: done, total
        QStringList phases;
    };

    // One whole sync by an engine of its own.
    Outcome syncOnce(const SyncSettings &s) { return syncTogether({ s }).value(0); }

    // Whole syncs by engines of their own, all started at once, each on its own thread.
    QList<Outcome> syncTogether(const QList<SyncSettings> &all)
    {
        QList<Outcome> outcomes(all.size());
        std::vector<std::unique_ptr<SyncEngine>> engines;
        std::vector<std::unique_ptr<QSignalSpy>> finished;
        std::vector<std::unique_ptr<QSignalSpy>> failed;
        std::vector<std::unique_ptr<QSignalSpy>> pushed;
        std::vector<char> pushing(all.size(), 0);
        for (qsizetype i = 0; i < all.size(); ++i) {
            SyncEngine *engine
                = engines.emplace_back(std::make_unique<SyncEngine>(all.at(i))).get();
            finished.push_back(std::make_unique<QSignalSpy>(engine, &SyncEngine::finished));
            failed.push_back(std::make_unique<QSignalSpy>(engine, &SyncEngine::failed));
            pushed.push_back(std::make_unique<QSignalSpy>(engine, &SyncEngine::pushed));
            Outcome *outcome = &outcomes[i];
            char *inPush = &pushing[size_t(i)];
            connect(engine, &SyncEngine::phaseChanged, this,
                    [outcome, inPush](const QString &, SyncPhase phase) {
                        *inPush = phase == SyncPhase::Push;
                        outcome->phases.append(syncPhaseName(phase));
                    });
            connect(engine, &SyncEngine::progressChanged, this,
                    [outcome, inPush](const QString &, qint64 done, qint64 total) {
                        if (*inPush)
                            outcome->progress.append({ done, total });
                    });
        }
        for (const std::unique_ptr<SyncEngine> &engine : engines)
            engine->startAll();
        for (qsizetype i = 0; i < all.size(); ++i) {
            const size_t at = size_t(i);
            const bool done = !finished[at]->isEmpty() || finished[at]->wait(30000);
            for (const QList<QVariant> &failure : std::as_const(*failed[at]))
                qWarning() << "sync failed:" << failure;
            outcomes[i].ok = done && failed[at]->isEmpty();
            for (const QList<QVariant> &signal : std::as_const(*pushed[at]))
                outcomes[i].pushed.append(signal);
        }
        return outcomes;
    }

    bool edit(RawDb &db, const QString &sql) { return db.edit(sql); }

    // The server's version of \a id, as its pages say.
    QString serverVersion(const QString &id) { return pulled(id).value("version").toString(); }

    // A change of \a id pushed by another client, on top of the server's current version.
    bool theirEdit(const QString &id, const QString &name)
    {
        const QJsonArray answer = results({ change(QStringLiteral("other:%1").arg(name), id,
                                                   serverVersion(id), false, fullData(name, 99)) },
                                          QStringLiteral("other"));
        return answer.size() == 1
            && answer.at(0).toObject().value("status").toString() == QLatin1String("applied");
    }

    QString localName(RawDb &db, const QString &id)
    {
        return db.scalar(QStringLiteral("SELECT name FROM customers WHERE id = '%1'").arg(id))
            .toString();
    }

    // Starts a batchsync-server process serving the test's PostgreSQL schema; \a endpoint
    // receives its base URL.
    void startServerProcess(QProcess *process, QUrl *endpoint)
    {
        process->start(QStringLiteral(BATCHSYNC_SERVER_BIN),
                       { QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                         QStringLiteral("--postgres"), m_postgres });
        QTRY_VERIFY_WITH_TIMEOUT(process->canReadLine() || process->state() == QProcess::NotRunning,
                                 30000);
        const QString line = QString::fromUtf8(process->readLine()).trimmed();
        QVERIFY2(line.startsWith(QLatin1String("Serving protocol v1 at ")),
                 qPrintable(line + QString::fromUtf8(process->readAllStandardError())));
        *endpoint = QUrl(line.section(u' ', -1));
    }

private Q_SLOTS:
    void initTestCase() { BATCHSYNC_SKIP_UNLESS_POSTGRES_USABLE(); }

    void init()
    {
        if (PgTest::selected()) {
            m_schema = QStringLiteral("p%1").arg(++m_tests);
            m_postgres = PgTest::connection(PgDatabase, m_schema, true);
            QVERIFY(!m_postgres.isEmpty());
        }
        QVERIFY(setUp());
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(syncOnce(settings()).ok);
    }
    void cleanup()
    {
        tearDown();
        m_dir.reset();
        if (!m_schema.isEmpty())
            PgTest::dropSchema(PgDatabase, m_schema);
        m_schema.clear();
    }

    void editsReachTheServer()
    {
        {
            RawDb db(path());
            QVERIFY(edit(db,
                         QStringLiteral("UPDATE customers SET name = 'Mine', visits = 7 "
                                        "WHERE id = '%1'")
                             .arg(m_ids.at(0))));
            QVERIFY(edit(db,
                         QStringLiteral("INSERT INTO customers (id, name, balance, active, "
                                        "visits) VALUES ('new-1', 'New', 1.5, 1, 3)")));
            QVERIFY(
                edit(db, QStringLiteral("DELETE FROM customers WHERE id = '%1'").arg(m_ids.at(1))));
        }
        const qint64 before = changeCount();
        const Outcome outcome = syncOnce(settings());
        QVERIFY(outcome.ok);
        QCOMPARE(outcome.pushed.size(), 1);
        QCOMPARE(outcome.pushed.first(),
                 (QList<QVariant> { QStringLiteral("customers"), 3, 0, 0 }));
        QCOMPARE(outcome.phases.value(0), QStringLiteral("push"));
        QVERIFY(outcome.phases.contains(QStringLiteral("changes")));
        QVERIFY(!outcome.progress.isEmpty());
        QCOMPARE(outcome.progress.last(), (QList<QVariant> { 3, 3 }));

        QCOMPARE(changeCount(), before + 3);
        QCOMPARE(liveRecord(m_ids.at(0)).value("name").toString(), QStringLiteral("Mine"));
        QCOMPARE(liveRecord(m_ids.at(0)).value("visits").toInteger(), 7);
        QCOMPARE(liveRecord(QStringLiteral("new-1")).value("balance").toDouble(), 1.5);
        QCOMPARE(liveRecord(QStringLiteral("new-1")).value("active").toBool(), true);
        QVERIFY(liveRecord(m_ids.at(1)).isEmpty());

        RawDb db(path());
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 0);
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_conflicts")).toInt(), 0);
        // Each record carries the version the server gave it: the base of its next change.
        for (const QString &id : { m_ids.at(0), QStringLiteral("new-1") }) {
            QCOMPARE(
                db.scalar(QStringLiteral("SELECT _version FROM customers WHERE id = '%1'").arg(id))
                    .toString(),
                serverVersion(id));
        }
        // Nothing left to push: the next sync sends nothing.
        const Outcome again = syncOnce(settings());
        QVERIFY(again.ok);
        QVERIFY(again.pushed.isEmpty());
        QCOMPARE(changeCount(), before + 3);
    }

    void decimalsTravelExactly()
    {
        QString error;
        QVERIFY2(
            m_server->backend()->addEntity(
                { QStringLiteral("prices"), { { QStringLiteral("amount"), FieldType::Decimal } } },
                &error),
            qPrintable(error));
        QVERIFY2(m_server->backend()->upsert(
                     QStringLiteral("prices"),
                     { { QStringLiteral("p1"), { { QStringLiteral("amount"), "9.99" } } },
                       { QStringLiteral("p2"), { { QStringLiteral("amount"), "9.99" } } },
                       { QStringLiteral("p3"), { { QStringLiteral("amount"), "9.99" } } },
                       { QStringLiteral("p4"), { { QStringLiteral("amount"), "9.99" } } } },
                     &error),
                 qPrintable(error));
        QVERIFY(syncOnce(settings()).ok);
        const auto serverAmount = [&](const QString &id) {
            return m_server->backend()->liveRecords(QStringLiteral("prices")).value(id).value(0);
        };
        // Another client changes p3 meanwhile: the local edit of p3 conflicts.
        QString p3Version;
        for (const QJsonValue &served : send("GET", QStringLiteral("/entities/prices/changes"))
                                            .json()
                                            .value("changes")
                                            .toArray()) {
            if (served.toObject().value("id").toString() == u"p3")
                p3Version = served.toObject().value("version").toString();
        }
        const Reply theirs
            = push(request({ change("other:p3", "p3", p3Version, false, { { "amount", "1.10" } }) },
                           QStringLiteral("other")),
                   QStringLiteral("prices"));
        QVERIFY2(theirs.body.contains("\"applied\""), theirs.body.constData());
        {
            RawDb db(path());
            // The exact text as written, and a number, which the TEXT column keeps as text.
            QVERIFY(edit(db,
                         QStringLiteral("UPDATE prices SET amount = "
                                        "'12345678901234567890.123456789012345670' "
                                        "WHERE id = 'p1'")));
            QVERIFY(edit(db, QStringLiteral("UPDATE prices SET amount = 12.5 WHERE id = 'p2'")));
            QVERIFY(edit(db, QStringLiteral("UPDATE prices SET amount = '2.20' WHERE id = 'p3'")));
            // A large number, which SQLite keeps as its own text with an exponent ("1.0e+25"):
            // pushed in plain notation.
            QVERIFY(edit(db, QStringLiteral("UPDATE prices SET amount = 1e25 WHERE id = 'p4'")));
        }
        const Outcome outcome = syncOnce(settings());
        QVERIFY(outcome.ok);
        QVERIFY2(outcome.pushed.contains(QList<QVariant> { QStringLiteral("prices"), 3, 1, 0 }),
                 qPrintable(QVariant::fromValue(outcome.pushed).toString()));
        QCOMPARE(serverAmount(QStringLiteral("p1")),
                 QVariant(QStringLiteral("12345678901234567890.123456789012345670")));
        QCOMPARE(serverAmount(QStringLiteral("p2")), QVariant(QStringLiteral("12.5")));
        QCOMPARE(serverAmount(QStringLiteral("p3")), QVariant(QStringLiteral("1.10")));
        QCOMPARE(serverAmount(QStringLiteral("p4")),
                 QVariant(QStringLiteral("10000000000000000000000000")));
        // The server's record won the conflict: its exact text, in the table and in the log.
        RawDb db(path());
        QCOMPARE(db.rows(QStringLiteral("SELECT typeof(amount), amount FROM prices "
                                        "WHERE id = 'p3'"))
                     .first(),
                 (QVariantList { QStringLiteral("text"), QStringLiteral("1.10") }));
        const QString server = db.scalar(QStringLiteral("SELECT server FROM _sync_conflicts "
                                                        "WHERE id = 'p3'"))
                                   .toString();
        QCOMPARE(parsed(server).value("amount"), QJsonValue(QStringLiteral("1.10")));
    }

    void conflicts_data()
    {
        QTest::addColumn<ConflictPolicy>("policy");
        QTest::addColumn<QString>("serverName"); // after the sync
        QTest::addColumn<QString>("resolution");
        QTest::newRow("server wins")
            << ConflictPolicy::ServerWins << QStringLiteral("Theirs") << QStringLiteral("server");
        QTest::newRow("client wins")
            << ConflictPolicy::ClientWins << QStringLiteral("Mine") << QStringLiteral("resent");
    }

    void conflicts()
    {
        QFETCH(ConflictPolicy, policy);
        QFETCH(QString, serverName);
        QFETCH(QString, resolution);
        const QString id = m_ids.at(0);
        const QString base = serverVersion(id);
        QVERIFY(theirEdit(id, QStringLiteral("Theirs")));
        {
            RawDb db(path());
            QVERIFY(edit(
                db, QStringLiteral("UPDATE customers SET name = 'Mine' WHERE id = '%1'").arg(id)));
        }
        const Outcome outcome = syncOnce(settings(SyncDirection::Both, policy));
        QVERIFY(outcome.ok);
        const qint64 applied = policy == ConflictPolicy::ClientWins ? 1 : 0;
        QCOMPARE(outcome.pushed.value(0),
                 (QList<QVariant> { QStringLiteral("customers"), applied, 1, 0 }));
        QCOMPARE(liveRecord(id).value("name").toString(), serverName);

        RawDb db(path());
        // Both sides end equal, and the local record has the server's version.
        QCOMPARE(localName(db, id), serverName);
        QCOMPARE(db.scalar(QStringLiteral("SELECT _version FROM customers WHERE id = '%1'").arg(id))
                     .toString(),
                 serverVersion(id));
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 0);
        const QList<QVariantList> kept
            = db.rows(QStringLiteral("SELECT entity, id, kind, local, server, error, base, "
                                     "server_version, resolution, at FROM _sync_conflicts"));
        QCOMPARE(kept.size(), 1);
        const QVariantList &row = kept.first();
        QCOMPARE(row.at(0).toString(), QStringLiteral("customers"));
        QCOMPARE(row.at(1).toString(), id);
        QCOMPARE(row.at(2).toString(), QStringLiteral("conflict"));
        QCOMPARE(parsed(row.at(3).toString()).value("name").toString(), QStringLiteral("Mine"));
        QCOMPARE(parsed(row.at(4).toString()).value("name").toString(), QStringLiteral("Theirs"));
        QCOMPARE(parsed(row.at(4).toString()).value("visits").toInteger(), 99);
        QVERIFY(row.at(5).isNull());
        QCOMPARE(row.at(6).toString(), base);
        QVERIFY(!row.at(7).toString().isEmpty());
        QCOMPARE(row.at(8).toString(), resolution);
        QCOMPARE(row.at(9).toString().size(), 24);
    }

    void deletedOnTheServerMeanwhile_data()
    {
        QTest::addColumn<ConflictPolicy>("policy");
        QTest::addColumn<bool>("liveAfter");
        QTest::newRow("server wins") << ConflictPolicy::ServerWins << false;
        QTest::newRow("client wins") << ConflictPolicy::ClientWins << true;
    }

    void deletedOnTheServerMeanwhile()
    {
        QFETCH(ConflictPolicy, policy);
        QFETCH(bool, liveAfter);
        const QString id = m_ids.at(2);
        const QJsonArray answer
            = results({ change(QStringLiteral("other:del"), id, serverVersion(id), true) },
                      QStringLiteral("other"));
        QCOMPARE(answer.at(0).toObject().value("status").toString(), QStringLiteral("applied"));
        {
            RawDb db(path());
            QVERIFY(edit(
                db, QStringLiteral("UPDATE customers SET visits = 5 WHERE id = '%1'").arg(id)));
        }
        QVERIFY(syncOnce(settings(SyncDirection::Both, policy)).ok);
        QCOMPARE(!liveRecord(id).isEmpty(), liveAfter);
        RawDb db(path());
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM customers WHERE id = '%1'").arg(id))
                     .toInt(),
                 liveAfter ? 1 : 0);
        QCOMPARE(db.scalar(QStringLiteral("SELECT server IS NULL FROM _sync_conflicts")).toInt(),
                 1);
    }

    void rejectedChangesReturnToTheServersRecord()
    {
        const QString id = m_ids.at(0);
        const QString name = liveRecord(id).value("name").toString();
        {
            RawDb db(path());
            // A value the server can never take: text in an int field.
            QVERIFY(edit(db,
                         QStringLiteral("UPDATE customers SET name = 'Mine', visits = "
                                        "'many' WHERE id = '%1'")
                             .arg(id)));
            QVERIFY(edit(db,
                         QStringLiteral("INSERT INTO customers (id, name, visits) "
                                        "VALUES ('bad-1', 'Bad', 'x')")));
        }
        const qint64 before = changeCount();
        const Outcome outcome = syncOnce(settings());
        QVERIFY(outcome.ok);
        QCOMPARE(outcome.pushed.value(0),
                 (QList<QVariant> { QStringLiteral("customers"), 0, 0, 2 }));
        QCOMPARE(changeCount(), before);

        RawDb db(path());
        QCOMPARE(localName(db, id), name);
        QCOMPARE(
            db.scalar(
                  QStringLiteral("SELECT typeof(visits) FROM customers WHERE id = '%1'").arg(id))
                .toString(),
            QStringLiteral("integer"));
        QCOMPARE(
            db.scalar(QStringLiteral("SELECT count(*) FROM customers WHERE id = 'bad-1'")).toInt(),
            0);
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 0);
        const QList<QVariantList> kept = db.rows(QStringLiteral(
            "SELECT id, kind, local, server, error, resolution FROM _sync_conflicts ORDER BY id"));
        QCOMPARE(kept.size(), 2);
        for (const QVariantList &row : kept) {
            QCOMPARE(row.at(1).toString(), QStringLiteral("rejected"));
            QVERIFY(!row.at(2).isNull());
            QVERIFY(row.at(3).isNull());
            QVERIFY2(row.at(4).toString().contains(QStringLiteral("visits")),
                     qPrintable(row.at(4).toString()));
            QCOMPARE(row.at(5).toString(), QStringLiteral("restored"));
        }
        QCOMPARE(parsed(kept.at(1).at(2).toString()).value("visits").toString(),
                 QStringLiteral("many"));
    }

    void pullOnlyKeepsLocalChanges()
    {
        const QString id = m_ids.at(0);
        {
            RawDb db(path());
            QVERIFY(edit(
                db, QStringLiteral("UPDATE customers SET name = 'Mine' WHERE id = '%1'").arg(id)));
        }
        QVERIFY(theirEdit(id, QStringLiteral("Theirs")));
        QVERIFY(theirEdit(m_ids.at(3), QStringLiteral("Other")));
        const Outcome outcome = syncOnce(settings(SyncDirection::Pull));
        QVERIFY(outcome.ok);
        QVERIFY(outcome.pushed.isEmpty());
        QCOMPARE(liveRecord(id).value("name").toString(), QStringLiteral("Theirs"));
        RawDb db(path());
        // The pulled change of the edited record waits for the push to decide.
        QCOMPARE(localName(db, id), QStringLiteral("Mine"));
        QCOMPARE(localName(db, m_ids.at(3)), QStringLiteral("Other"));
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 1);
    }

    void pushOnlyDoesNotPull()
    {
        const QString id = m_ids.at(0);
        const QString otherName = liveRecord(m_ids.at(3)).value("name").toString();
        QVERIFY(theirEdit(m_ids.at(3), QStringLiteral("Other")));
        {
            RawDb db(path());
            QVERIFY(edit(
                db, QStringLiteral("UPDATE customers SET name = 'Mine' WHERE id = '%1'").arg(id)));
        }
        const Outcome outcome = syncOnce(settings(SyncDirection::Push));
        QVERIFY(outcome.ok);
        QCOMPARE(outcome.pushed.size(), 1);
        QCOMPARE(liveRecord(id).value("name").toString(), QStringLiteral("Mine"));
        RawDb db(path());
        QCOMPARE(localName(db, m_ids.at(3)), otherName);
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 0);
    }

    void readOnlyServerTakesNoPush()
    {
        m_server->server()->setReadOnly(true);
        {
            RawDb db(path());
            QVERIFY(edit(db,
                         QStringLiteral("UPDATE customers SET name = 'Mine' WHERE id = '%1'")
                             .arg(m_ids.at(0))));
        }
        const Outcome outcome = syncOnce(settings());
        QVERIFY(outcome.ok);
        QVERIFY(outcome.pushed.isEmpty());
        RawDb db(path());
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 1);
        QCOMPARE(localName(db, m_ids.at(0)), QStringLiteral("Mine"));
    }

    // A batch the server applied and never answered (the client was killed, or the server
    // died before its answer): the next sync sends the same changeIds, and nothing is applied
    // twice.
    void answeredChangesAreNotAppliedTwice()
    {
        {
            RawDb db(path());
            for (int i = 0; i < 3; ++i) {
                QVERIFY(edit(db,
                             QStringLiteral("UPDATE customers SET visits = visits + 10 "
                                            "WHERE id = '%1'")
                                 .arg(m_ids.at(i))));
            }
        }
        QList<LocalChange> sent;
        QString clientId;
        const EntitySchema schema = m_server->backend()->entities().value(0);
        {
            LocalStore store(path(), uniqueConnectionName());
            SyncError error;
            QVERIFY(store.open(&error));
            clientId = store.clientId(&error);
            QVERIFY2(store.takePushBatch(schema, 100, &sent, &error), qPrintable(error.message));
        }
        QCOMPARE(sent.size(), 3);
        const qint64 before = changeCount();
        const Reply first = push(Protocol::pushBody(schema, clientId, sent));
        QCOMPARE(first.status, 200);
        QCOMPARE(changeCount(), before + 3);
        // Written again after the lost answer: a new change, on top of what the first got.
        {
            RawDb db(path());
            QVERIFY(edit(db,
                         QStringLiteral("UPDATE customers SET name = 'Later' WHERE id = '%1'")
                             .arg(m_ids.at(0))));
        }
        const Outcome outcome = syncOnce(settings());
        QVERIFY(outcome.ok);
        // The three answered again without applying; the later write applied on top.
        QCOMPARE(changeCount(), before + 4);
        QCOMPARE(liveRecord(m_ids.at(0)).value("name").toString(), QStringLiteral("Later"));
        RawDb db(path());
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 0);
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_conflicts")).toInt(), 0);
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(db.scalar(QStringLiteral("SELECT visits FROM customers WHERE id = '%1'")
                                   .arg(m_ids.at(i)))
                         .toLongLong(),
                     liveRecord(m_ids.at(i)).value("visits").toInteger());
        }
    }

    void manyChangesInBatches()
    {
        {
            RawDb db(path());
            QVERIFY(edit(db,
                         QStringLiteral("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
                                        "i + 1 FROM n WHERE i < 450) INSERT INTO customers "
                                        "(id, name, visits) SELECT printf('b-%04d', i), "
                                        "'Batch', i FROM n")));
        }
        const qint64 before = changeCount();
        const Outcome outcome = syncOnce(settings());
        QVERIFY(outcome.ok);
        QCOMPARE(outcome.pushed.value(0),
                 (QList<QVariant> { QStringLiteral("customers"), 450, 0, 0 }));
        QCOMPARE(changeCount(), before + 450);
        QCOMPARE(liveRecord(QStringLiteral("b-0450")).value("visits").toInteger(), 450);
        // Batches of 100: the progress rose in steps to 450 of 450.
        QVERIFY(outcome.progress.size() >= 2);
        QCOMPARE(outcome.progress.last(), (QList<QVariant> { 450, 450 }));
    }

    // Two local databases edit the same records differently and sync at the same time (on
    // PostgreSQL through two servers sharing the database, one per client: in this process,
    // or batchsync-server processes whose transactions overlap). For each record exactly one
    // client's change applies on the base the two shared; the other gets a conflict, kept in
    // its _sync_conflicts, and is resolved by the policy.
    void twoClientsPushTheSameRecords_data()
    {
        QTest::addColumn<ConflictPolicy>("policy");
        QTest::addColumn<bool>("processes");
        QTest::newRow("server wins") << ConflictPolicy::ServerWins << false;
        QTest::newRow("client wins") << ConflictPolicy::ClientWins << false;
        QTest::newRow("server wins, server processes") << ConflictPolicy::ServerWins << true;
        QTest::newRow("client wins, server processes") << ConflictPolicy::ClientWins << true;
    }

    void twoClientsPushTheSameRecords()
    {
        QFETCH(ConflictPolicy, policy);
        QFETCH(bool, processes);
        if (processes && !PgTest::selected())
            QSKIP("PostgreSQL only: SQLite is served by one server");
        const bool clientWins = policy == ConflictPolicy::ClientWins;
        // Records for three batches of 100 each: the two clients' requests interleave.
        QList<std::pair<QString, QVariantMap>> more;
        for (int i = 0; i < 295; ++i)
            more.append({ QStringLiteral("more-%1").arg(i, 3, 10, QLatin1Char('0')),
                          fullData(QStringLiteral("More"), i).toVariantMap() });
        QString error;
        QVERIFY2(m_server->backend()->upsert(QStringLiteral("customers"), more, &error),
                 qPrintable(error));
        QStringList ids = m_server->backend()->liveRecords(QStringLiteral("customers")).keys();
        QCOMPARE(ids.size(), 300);
        ids.sort();
        for (int i = 0; i < 20; ++i) // created by both clients
            ids.append(QStringLiteral("both-%1").arg(i));
        TestServer other;
        std::unique_ptr<QProcess> serverProcesses[2];
        QList<SyncSettings> clients { settings(SyncDirection::Both, policy) };
        clients.append(clients.first());
        clients[1].databasePath = m_dir->filePath(QStringLiteral("second.sqlite"));
        if (processes) {
            for (int c = 0; c < 2; ++c) {
                serverProcesses[c] = std::make_unique<QProcess>();
                startServerProcess(serverProcesses[c].get(), &clients[c].endpoint);
                QVERIFY(!clients.at(c).endpoint.isEmpty());
            }
        } else if (PgTest::selected()) {
            QVERIFY(other.startPostgres(m_postgres));
            clients[1].endpoint = other.baseUrl();
        }
        const QStringList names { QStringLiteral("First"), QStringLiteral("Second") };
        // The first client deletes ten of the records the second one edits.
        const QStringList deleted = ids.mid(285, 10);
        const auto nameAfter = [&](int c, const QString &id) { // empty: deleted
            return c == 0 && deleted.contains(id) ? QString() : names.at(c);
        };
        for (int c = 0; c < 2; ++c) {
            QVERIFY(syncOnce(clients.at(c)).ok);
            RawDb db(clients.at(c).databasePath);
            QVERIFY(edit(db,
                         QStringLiteral("UPDATE customers SET name = '%1', visits = %2")
                             .arg(names.at(c))
                             .arg(c + 1)));
            QVERIFY(edit(db,
                         QStringLiteral("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 "
                                        "FROM n WHERE i < 19) INSERT INTO customers (id, name, "
                                        "visits) SELECT 'both-' || i, '%1', %2 FROM n")
                             .arg(names.at(c))
                             .arg(c + 1)));
            if (c == 0) {
                QVERIFY(edit(db,
                             QStringLiteral("DELETE FROM customers WHERE id IN ('%1')")
                                 .arg(deleted.join(QStringLiteral("', '")))));
            }
        }
        const qint64 before = changeCount();
        const QList<Outcome> outcomes = syncTogether(clients);
        QVERIFY(outcomes.at(0).ok && outcomes.at(1).ok);

        // Who lost each record: the client that kept a conflict for it.
        QHash<QString, int> loser;
        for (int c = 0; c < 2; ++c) {
            RawDb db(clients.at(c).databasePath);
            QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 0);
            const QList<QVariantList> kept = db.rows(
                QStringLiteral("SELECT id, kind, local, server, resolution FROM _sync_conflicts"));
            for (const QVariantList &row : kept) {
                const QString id = row.at(0).toString();
                QVERIFY2(!loser.contains(id), qPrintable(id));
                loser.insert(id, c);
                QCOMPARE(row.at(1).toString(), QStringLiteral("conflict"));
                // The local record (null for a delete) and the one that won on the server.
                QCOMPARE(row.at(2).isNull(), nameAfter(c, id).isEmpty());
                QCOMPARE(parsed(row.at(2).toString()).value("name").toString(), nameAfter(c, id));
                QCOMPARE(row.at(3).isNull(), nameAfter(1 - c, id).isEmpty());
                const QJsonObject theirs = parsed(row.at(3).toString());
                QCOMPARE(theirs.value("name").toString(), nameAfter(1 - c, id));
                if (!row.at(3).isNull())
                    QCOMPARE(theirs.value("visits").toInteger(), 2 - c);
                QCOMPARE(row.at(4).toString(),
                         clientWins ? QStringLiteral("resent") : QStringLiteral("server"));
            }
            // Every change applied, or lost and kept; client-wins sends each lost one again.
            const qint64 lost = kept.size();
            const qint64 applied = clientWins ? ids.size() : ids.size() - lost;
            QCOMPARE(outcomes.at(c).pushed.value(0),
                     (QList<QVariant> { QStringLiteral("customers"), applied, lost, 0 }));
        }
        QCOMPARE(loser.size(), ids.size());
        const QHash<QString, QVariantList> live
            = m_server->backend()->liveRecords(QStringLiteral("customers"));
        for (const QString &id : ids) {
            QVERIFY2(loser.contains(id), qPrintable(id));
            // Server-wins keeps the first change applied; client-wins the one sent again.
            const int winner = clientWins ? loser.value(id) : 1 - loser.value(id);
            QCOMPARE(live.contains(id), !nameAfter(winner, id).isEmpty());
            QCOMPARE(live.value(id).value(0).toString(), nameAfter(winner, id));
        }
        QCOMPARE(changeCount(), before + (clientWins ? 2 : 1) * ids.size());

        // Both local databases end equal to the server: at once with server-wins; after a
        // pull of the changes sent again with client-wins. Nothing more is pushed.
        const EntitySchema schema = m_server->backend()->entities().value(0);
        for (int c = 0; c < 2; ++c) {
            if (clientWins) {
                const Outcome again = syncOnce(clients.at(c));
                QVERIFY(again.ok);
                QVERIFY(again.pushed.isEmpty());
            }
            const QString difference
                = Test::differences(clients.at(c).databasePath, schema,
                                    m_server->backend()->liveRecords(QStringLiteral("customers")));
            QVERIFY2(difference.isEmpty(), qPrintable(difference));
        }
        QCOMPARE(changeCount(), before + (clientWins ? 2 : 1) * ids.size());
        for (const std::unique_ptr<QProcess> &process : serverProcesses) {
            if (!process)
                continue;
            process->terminate();
            QVERIFY(process->waitForFinished(30000));
            QCOMPARE(process->exitCode(), 0);
        }
    }
};

QTEST_GUILESS_MAIN(TestPushSync)
#include "tst_pushsync.moc"
