// The engine on a source that is not a BatchSync server: an in-memory feed behind the
// Source interface (testutil/memorysource.h). Every rule the engine keeps (cursor and offset
// paging, tie groups, drift, pause and resume, retries, failures that keep what was
// committed) holds on any implementation of the seam.
#include "common/types.h"
#include "engine/syncengine.h"
#include "testutil/localdb.h"
#include "testutil/memorysource.h"

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <memory>

using namespace BatchSync;
using Test::MemoryFeed;
using Test::MemorySource;

namespace {

EntitySchema customersSchema(const QString &name = QStringLiteral("customers"))
{
    return EntitySchema { name,
                          { { QStringLiteral("name"), FieldType::String },
                            { QStringLiteral("visits"), FieldType::Int },
                            { QStringLiteral("balance"), FieldType::Real },
                            { QStringLiteral("active"), FieldType::Bool },
                            { QStringLiteral("since"), FieldType::DateTime } } };
}

QVariantList customer(int n, int version = 0)
{
    return { QStringLiteral("customer %1 v%2").arg(n).arg(version), qint64(n * 7 + version),
             n * 0.25, n % 2 == 0, QStringLiteral("2025-01-02T03:04:05.000Z") };
}

QString idOf(int n)
{
    return QStringLiteral("c-%1").arg(n, 6, 10, QLatin1Char('0'));
}

SyncError error(ErrorCategory category, const QString &message, int retryAfter = -1)
{
    SyncError e;
    e.category = category;
    e.message = message;
    e.retryAfterSeconds = retryAfter;
    return e;
}

} // namespace

class TestSource final : public QObject
{
    Q_OBJECT

    std::unique_ptr<QTemporaryDir> m_dir;
    std::shared_ptr<MemoryFeed> m_feed;

    SyncSettings settings(PagingMode paging = PagingMode::Cursor, int batchSize = 100) const
    {
        SyncSettings s;
        s.endpoint = QUrl(QStringLiteral("http://memory.invalid/"));
        s.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        s.paging = paging;
        s.batchSize = batchSize;
        s.retryBaseDelayMs = 10;
        s.retryMaxDelayMs = 100;
        s.retryGiveUpMs = 2000;
        return s;
    }

    std::unique_ptr<SyncEngine> engine(const SyncSettings &s,
                                       Source::Capabilities capabilities
                                       = Source::Capability::CursorPaging
                                           | Source::Capability::OffsetPaging)
    {
        return std::make_unique<SyncEngine>(s, MemorySource::factory(m_feed, capabilities));
    }

    static bool syncAll(SyncEngine &engine, int timeoutMs = 30000)
    {
        QSignalSpy finished(&engine, &SyncEngine::finished);
        engine.startAll();
        return finished.wait(timeoutMs);
    }

    void fill(const EntitySchema &schema, int count)
    {
        m_feed->addEntity(schema);
        for (int n = 0; n < count; ++n)
            m_feed->put(schema.name, idOf(n), customer(n));
    }

    void compare(const QString &path)
    {
        for (const EntitySchema &schema : m_feed->entities()) {
            const QString difference
                = Test::differences(path, schema, m_feed->liveRecords(schema.name));
            QVERIFY2(difference.isEmpty(),
                     qPrintable(schema.name + QStringLiteral(": ") + difference));
        }
    }

private Q_SLOTS:
    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        m_feed = std::make_shared<MemoryFeed>();
    }
    void cleanup()
    {
        m_feed.reset();
        m_dir.reset();
    }

    void fullAndIncrementalSyncsEqualTheSource_data()
    {
        QTest::addColumn<PagingMode>("paging");
        QTest::addColumn<int>("batchSize");
        QTest::addColumn<int>("writesPerMs");
        QTest::newRow("cursor") << PagingMode::Cursor << 100 << 1;
        QTest::newRow("offset") << PagingMode::Offset << 100 << 1;
        QTest::newRow("cursor, all in one millisecond") << PagingMode::Cursor << 100 << 0;
        QTest::newRow("offset, tie groups across pages") << PagingMode::Offset << 100 << 70;
        QTest::newRow("offset, a tie group larger than a page") << PagingMode::Offset << 100 << 250;
    }

    void fullAndIncrementalSyncsEqualTheSource()
    {
        QFETCH(PagingMode, paging);
        QFETCH(int, batchSize);
        QFETCH(int, writesPerMs);
        m_feed->setWritesPerMillisecond(writesPerMs);
        fill(customersSchema(), 1250);
        fill(customersSchema(QStringLiteral("suppliers")), 333);
        fill(customersSchema(QStringLiteral("empty")), 0);
        const SyncSettings s = settings(paging, batchSize);
        {
            auto e = engine(s);
            QVERIFY(syncAll(*e));
            for (const QString &name : { QStringLiteral("customers"), QStringLiteral("suppliers"),
                                         QStringLiteral("empty") }) {
                QCOMPARE(e->entity(name).state, SyncState::Completed);
                QCOMPARE(e->entity(name).done, e->entity(name).total);
            }
            QCOMPARE(e->entity(QStringLiteral("customers")).done, qint64(1250));
            compare(s.databasePath);
        }
        // Updates, deletions and new records; a second engine on the same database only
        // reads what changed (plus, in offset mode, the last millisecond again).
        for (int n = 0; n < 1250; n += 10)
            m_feed->put(QStringLiteral("customers"), idOf(n), customer(n, 1));
        for (int n = 5; n < 1250; n += 50)
            m_feed->remove(QStringLiteral("customers"), idOf(n));
        for (int n = 2000; n < 2040; ++n)
            m_feed->put(QStringLiteral("customers"), idOf(n), customer(n));
        auto e = engine(s);
        QVERIFY(syncAll(*e));
        QCOMPARE(e->entity(QStringLiteral("customers")).state, SyncState::Completed);
        // Only the changes count as progress: in offset mode the last millisecond read again
        // brings nothing new.
        QCOMPARE(e->entity(QStringLiteral("customers")).done, qint64(125 + 25 + 40));
        QCOMPARE(e->entity(QStringLiteral("suppliers")).done, qint64(0));
        compare(s.databasePath);
    }

    void changesDuringTheSyncAreNeverMissed_data()
    {
        QTest::addColumn<PagingMode>("paging");
        QTest::addColumn<int>("writesPerMs");
        QTest::newRow("cursor") << PagingMode::Cursor << 1;
        QTest::newRow("cursor, the clock stopped") << PagingMode::Cursor << 0;
        QTest::newRow("offset") << PagingMode::Offset << 1;
        QTest::newRow("offset, tie groups across pages") << PagingMode::Offset << 40;
    }

    void changesDuringTheSyncAreNeverMissed()
    {
        QFETCH(PagingMode, paging);
        QFETCH(int, writesPerMs);
        m_feed->setWritesPerMillisecond(writesPerMs);
        fill(customersSchema(), 1000);
        // Before every page: records change, some go, new ones come. Some of them land in
        // the newest millisecond with the clock standing still, which the sync may already
        // have read (the live edge); then the clock moves on and the sync goes past it.
        int next = 5000;
        m_feed->setBeforePage([&next](MemoryFeed &feed, const QString &entity, int page) {
            if (page == 0 || page > 24)
                return;
            feed.setWritesPerMillisecond(0);
            for (int k = 0; k < 3; ++k)
                feed.put(entity, idOf((page * 37 + k * 11) % 1000), customer(page, k + 1));
            feed.setWritesPerMillisecond(1);
            for (int k = 3; k < 6; ++k)
                feed.put(entity, idOf((page * 37 + k * 11) % 1000), customer(page, k + 1));
            feed.remove(entity, idOf((page * 53) % 1000));
            const int n = next++;
            feed.put(entity, idOf(n), customer(n));
        });
        // A slow transaction: stamped with the newest changedAt when the sync began, it
        // commits just after a page has gone past that millisecond.
        const QString edge = m_feed->newestChangedAt();
        int late = 0;
        m_feed->setAfterPage(
            [&late, edge](MemoryFeed &feed, const QString &entity, const ChangePage &page) {
                if (late > 0 || !page.hasMore || page.changes.last().changedAt <= edge)
                    return;
                for (const Change &change : page.changes) {
                    if (change.changedAt == edge) {
                        feed.putStamped(entity, idOf(late), customer(late, 99), edge);
                        ++late;
                        return;
                    }
                }
            });
        const SyncSettings s = settings(paging, 100);
        auto e = engine(s);
        QVERIFY(syncAll(*e));
        QCOMPARE(e->entity(QStringLiteral("customers")).state, SyncState::Completed);
        QCOMPARE(e->entity(QStringLiteral("customers")).done,
                 e->entity(QStringLiteral("customers")).total);
        if (paging == PagingMode::Offset)
            QVERIFY(late > 0); // the case the live edge exists for did happen
        m_feed->setBeforePage({});
        m_feed->setAfterPage({});
        compare(s.databasePath);
    }

    void pauseAndResumeOnAHangingSource()
    {
        fill(customersSchema(), 600);
        // The fourth page never comes: pause aborts it, resume asks again.
        m_feed->addFault({ SourceReply::Kind::Changes, QString(), {}, false, 3 });
        m_feed->addFault({ SourceReply::Kind::Changes, QString(), {}, true, 1 });
        const SyncSettings s = settings(PagingMode::Cursor, 100);
        auto e = engine(s);
        QSignalSpy states(e.get(), &SyncEngine::stateChanged);
        e->start(QStringLiteral("customers"));
        QTRY_COMPARE(m_feed->asked(SourceReply::Kind::Changes), 4);
        QTRY_COMPARE(e->entity(QStringLiteral("customers")).done, qint64(300));
        e->pause(QStringLiteral("customers"));
        QTRY_COMPARE(e->entity(QStringLiteral("customers")).state, SyncState::Paused);
        QCOMPARE(Test::localRecords(s.databasePath, customersSchema()).size(), 300);

        QSignalSpy finished(e.get(), &SyncEngine::finished);
        e->resume(QStringLiteral("customers"));
        QVERIFY(finished.wait(10000));
        QCOMPARE(e->entity(QStringLiteral("customers")).state, SyncState::Completed);
        QCOMPARE(e->entity(QStringLiteral("customers")).done, qint64(600));
        compare(s.databasePath);
    }

    void failures_data()
    {
        QTest::addColumn<int>("kind");
        QTest::addColumn<int>("category");
        QTest::addColumn<int>("times");
        QTest::addColumn<bool>("completes");
        QTest::addColumn<QString>("message");
        const int changes = int(SourceReply::Kind::Changes);
        const int count = int(SourceReply::Kind::Count);
        QTest::newRow("auth stops the entity")
            << changes << int(ErrorCategory::Auth) << 1 << false << "token refused";
        QTest::newRow("a refused request stops the entity")
            << count << int(ErrorCategory::Request) << 1 << false << "no such thing";
        QTest::newRow("a malformed page stops the entity")
            << changes << int(ErrorCategory::Protocol) << 1 << false << "visits: expected int";
        QTest::newRow("a transient failure is retried")
            << changes << int(ErrorCategory::Network) << 3 << true << "";
        QTest::newRow("a failing count is retried")
            << count << int(ErrorCategory::Network) << 2 << true << "";
        QTest::newRow("a source that keeps failing is given up")
            << changes << int(ErrorCategory::Network) << 100000 << false << "gave up after";
    }

    void failures()
    {
        QFETCH(int, kind);
        QFETCH(int, category);
        QFETCH(int, times);
        QFETCH(bool, completes);
        QFETCH(QString, message);
        fill(customersSchema(), 500);
        // The first two pages arrive; then the fault.
        if (kind == int(SourceReply::Kind::Changes))
            m_feed->addFault({ SourceReply::Kind::Changes, QString(), {}, false, 2 });
        m_feed->addFault({ SourceReply::Kind(kind), QString(),
                           error(ErrorCategory(category), QStringLiteral("boom: ") + message),
                           false, times });
        const SyncSettings s = settings(PagingMode::Cursor, 100);
        auto e = engine(s);
        QSignalSpy failed(e.get(), &SyncEngine::failed);
        QSignalSpy retrying(e.get(), &SyncEngine::retrying);
        QVERIFY(syncAll(*e));
        const EntityStatus status = e->entity(QStringLiteral("customers"));
        if (completes) {
            QCOMPARE(status.state, SyncState::Completed);
            QVERIFY(failed.isEmpty());
            QCOMPARE(retrying.size(), times);
            compare(s.databasePath);
            return;
        }
        QCOMPARE(status.state, SyncState::Failed);
        QCOMPARE(failed.size(), 1);
        QCOMPARE(failed.first().at(1).value<ErrorCategory>(), ErrorCategory(category));
        QVERIFY2(failed.first().at(2).toString().contains(message),
                 qPrintable(failed.first().at(2).toString()));
        // What was committed stays; a new start continues from it and ends exact.
        const qint64 committed = kind == int(SourceReply::Kind::Changes) ? 200 : 0;
        QCOMPARE(status.done, committed);
        QCOMPARE(Test::localRecords(s.databasePath, customersSchema()).size(), int(committed));
        e.reset();
        m_feed->clearFaults();
        auto again = engine(s);
        QSignalSpy finished(again.get(), &SyncEngine::finished);
        again->startAll();
        QVERIFY(finished.wait(10000));
        QCOMPARE(again->entity(QStringLiteral("customers")).state, SyncState::Completed);
        QCOMPARE(again->entity(QStringLiteral("customers")).done, qint64(500));
        compare(s.databasePath);
    }

    void retryAfterIsHonoured()
    {
        fill(customersSchema(), 50);
        m_feed->addFault({ SourceReply::Kind::Count, QString(),
                           error(ErrorCategory::Network, QStringLiteral("slow down"), 1), false,
                           1 });
        auto e = engine(settings());
        QSignalSpy retrying(e.get(), &SyncEngine::retrying);
        QVERIFY(syncAll(*e));
        QCOMPARE(retrying.size(), 1);
        QVERIFY(retrying.first().at(2).toInt() >= 1000);
        QCOMPARE(e->entity(QStringLiteral("customers")).state, SyncState::Completed);
    }

    void aSourceThatCannotListItsEntitiesFailsTheEndpoint()
    {
        fill(customersSchema(), 10);
        m_feed->addFault({ SourceReply::Kind::Entities, QString(),
                           error(ErrorCategory::Auth, QStringLiteral("who are you?")), false, 1 });
        auto e = engine(settings());
        QSignalSpy failed(e.get(), &SyncEngine::failed);
        QVERIFY(syncAll(*e));
        QVERIFY(!failed.isEmpty());
        QCOMPARE(failed.first().at(0).toString(), QString());
        QCOMPARE(failed.first().at(1).value<ErrorCategory>(), ErrorCategory::Auth);
        QVERIFY(failed.first().at(2).toString().contains(QLatin1String("who are you?")));
    }

    void pagesThatBringNothingNewFailInsteadOfLooping()
    {
        fill(customersSchema(), 10);
        // A source that answers "more" forever, with empty pages and the same position.
        ChangePage stuck;
        stuck.cursor = QStringLiteral("5");
        stuck.hasMore = true;
        m_feed->addFault({ SourceReply::Kind::Changes, QString(), {}, false, 1000, stuck });
        auto e = engine(settings());
        QSignalSpy failed(e.get(), &SyncEngine::failed);
        QVERIFY(syncAll(*e));
        QCOMPARE(e->entity(QStringLiteral("customers")).state, SyncState::Failed);
        QCOMPARE(failed.first().at(1).value<ErrorCategory>(), ErrorCategory::Protocol);
        QVERIFY2(failed.first().at(2).toString().contains(QLatin1String("nothing new")),
                 qPrintable(failed.first().at(2).toString()));
        QVERIFY(m_feed->asked(SourceReply::Kind::Changes) < 1000);
    }

    void aPagingModeTheSourceLacksIsRefusedInWords()
    {
        fill(customersSchema(), 10);
        auto e = engine(settings(PagingMode::Offset), Source::Capability::CursorPaging);
        QSignalSpy failed(e.get(), &SyncEngine::failed);
        QVERIFY(syncAll(*e));
        QCOMPARE(e->entity(QStringLiteral("customers")).state, SyncState::Failed);
        QCOMPARE(failed.first().at(1).value<ErrorCategory>(), ErrorCategory::Request);
        const QString message = failed.first().at(2).toString();
        QVERIFY2(message.contains(QLatin1String("cannot page in offset mode")),
                 qPrintable(message));
        QCOMPARE(m_feed->asked(SourceReply::Kind::Changes), 0);
    }

    void aSourceWithoutPushRefusesLocalChanges()
    {
        MemorySource source(m_feed, Source::Capability::CursorPaging);
        QVERIFY(!source.capabilities().testFlag(Source::Capability::Push));
        SourceReply *reply = source.pushChanges(customersSchema(), QStringLiteral("c"), {});
        QSignalSpy finished(reply, &SourceReply::finished);
        QVERIFY(finished.isEmpty()); // never from inside the call
        QVERIFY(finished.wait(5000));
        QCOMPARE(finished.size(), 1);
        QCOMPARE(reply->kind(), SourceReply::Kind::Push);
        QCOMPARE(reply->error().category, ErrorCategory::Request);
        reply->abort(); // after finished(): nothing more
        QTest::qWait(20);
        QCOMPARE(finished.size(), 1);
        delete reply;
    }

    void abortFinishesOnceWithAborted()
    {
        fill(customersSchema(), 10);
        m_feed->addFault({ SourceReply::Kind::Changes, QString(), {}, true, 1 });
        MemorySource source(m_feed);
        SourceReply *reply = source.fetchChanges(customersSchema(), ChangesQuery());
        QSignalSpy finished(reply, &SourceReply::finished);
        reply->abort();
        reply->abort();
        QVERIFY(finished.isEmpty()); // from the event loop, not from abort()
        QVERIFY(finished.wait(5000));
        QTest::qWait(20);
        QCOMPARE(finished.size(), 1);
        QCOMPARE(reply->error().category, ErrorCategory::Aborted);
        delete reply;
    }
};

QTEST_GUILESS_MAIN(TestSource)
#include "tst_source.moc"
