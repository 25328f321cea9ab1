// The public job per entity (SyncJob) and its progress (ProgressInfo): capabilities by state,
// cancel that is not pause, one result per run whatever races it, and smoothed estimates.
#include "engine/prefetchbudget.h"
#include "engine/progressinfo.h"
#include "engine/syncengine.h"
#include "engine/syncjob.h"
#include "testutil/localdb.h"
#include "testutil/memorysource.h"

#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <memory>

using namespace BatchSync;
using Test::MemoryFeed;
using Test::MemorySource;

namespace {

EntitySchema schemaNamed(const QString &name)
{
    return EntitySchema { name,
                          { { QStringLiteral("name"), FieldType::String },
                            { QStringLiteral("visits"), FieldType::Int } } };
}

SyncError errorOf(ErrorCategory category, const QString &message)
{
    SyncError e;
    e.category = category;
    e.message = message;
    return e;
}

quint32 testSeed()
{
    bool ok = false;
    const quint32 seed = qEnvironmentVariableIntValue("BATCHSYNC_TEST_SEED", &ok);
    return ok ? seed : QRandomGenerator::global()->generate();
}

} // namespace

class TestJob final : public QObject
{
    Q_OBJECT

    std::unique_ptr<QTemporaryDir> m_dir;
    std::shared_ptr<MemoryFeed> m_feed;

    SyncSettings settings(int batchSize = 100) const
    {
        SyncSettings s;
        s.endpoint = QUrl(QStringLiteral("http://memory.invalid/"));
        s.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        s.batchSize = batchSize;
        s.retryBaseDelayMs = 5;
        s.retryMaxDelayMs = 20;
        s.retryGiveUpMs = 300;
        return s;
    }

    void fill(const QString &entity, int count)
    {
        m_feed->addEntity(schemaNamed(entity));
        for (int n = 0; n < count; ++n) {
            m_feed->put(entity, QStringLiteral("%1-%2").arg(entity).arg(n),
                        { QStringLiteral("record %1").arg(n), qint64(n) });
        }
    }

    static SyncJob *waitForJob(SyncEngine &engine, const QString &entity)
    {
        if (!engine.job(entity)) {
            QSignalSpy entities(&engine, &SyncEngine::entitiesChanged);
            engine.refreshEntities();
            while (!engine.job(entity) && entities.wait(5000)) { }
        }
        return engine.job(entity);
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

    void capabilitiesFollowTheState()
    {
        fill(QStringLiteral("customers"), 400);
        // The third page never comes until the job is paused and resumed.
        m_feed->addFault({ SourceReply::Kind::Changes, QString(), {}, false, 2 });
        m_feed->addFault({ SourceReply::Kind::Changes, QString(), {}, true, 1 });
        SyncEngine engine(settings(), MemorySource::factory(m_feed));
        SyncJob *job = waitForJob(engine, QStringLiteral("customers"));
        QVERIFY(job);
        QCOMPARE(job->state(), SyncState::Idle);
        QCOMPARE(job->capabilities(), SyncJob::Capabilities(SyncJob::Capability::Start));

        QSignalSpy started(job, &SyncJob::started);
        QSignalSpy results(job, &SyncJob::result);
        QSignalSpy capabilities(job, &SyncJob::capabilitiesChanged);
        job->start();
        QTRY_COMPARE(job->state(), SyncState::Running);
        QCOMPARE(started.size(), 1);
        QVERIFY(job->isRunOpen());
        QCOMPARE(job->capabilities(), SyncJob::Capability::Pause | SyncJob::Capability::Cancel);
        QVERIFY(!capabilities.isEmpty());

        job->pause();
        QTRY_COMPARE(job->state(), SyncState::Paused);
        QCOMPARE(job->capabilities(), SyncJob::Capability::Resume | SyncJob::Capability::Cancel);
        QVERIFY(results.isEmpty()); // a pause does not end the run
        QVERIFY(job->isRunOpen());

        job->resume();
        QVERIFY(results.wait(10000));
        QCOMPARE(results.size(), 1);
        QCOMPARE(started.size(), 1); // the same run
        QCOMPARE(job->lastResult(), JobResult::Completed);
        QCOMPARE(job->state(), SyncState::Completed);
        QCOMPARE(job->capabilities(), SyncJob::Capabilities(SyncJob::Capability::Start));
        QCOMPARE(job->progress().done, qint64(400));
        QCOMPARE(job->progress().total, qint64(400));
        QCOMPARE(job->progress().etaSeconds, qint64(0));
        QVERIFY(job->progress().bytes == 0); // an in-memory source receives no bytes
        QVERIFY(job->error() == ErrorCategory::None);
    }

    void cancelEndsTheRunAndKeepsWhatWasCommitted()
    {
        fill(QStringLiteral("customers"), 500);
        m_feed->addFault({ SourceReply::Kind::Changes, QString(), {}, false, 3 });
        m_feed->addFault({ SourceReply::Kind::Changes, QString(), {}, true, 1 });
        const SyncSettings s = settings();
        SyncEngine engine(s, MemorySource::factory(m_feed));
        SyncJob *job = waitForJob(engine, QStringLiteral("customers"));
        QVERIFY(job);
        QSignalSpy results(job, &SyncJob::result);
        job->start();
        QTRY_COMPARE(m_feed->asked(SourceReply::Kind::Changes), 4);
        QTRY_COMPARE(job->progress().done, qint64(300));

        job->cancel();
        QVERIFY(results.wait(5000));
        QCOMPARE(job->lastResult(), JobResult::Cancelled);
        QCOMPARE(job->state(), SyncState::Idle);
        QVERIFY(!job->isRunOpen());
        QCOMPARE(job->capabilities(), SyncJob::Capabilities(SyncJob::Capability::Start));
        // Committed batches stay (a first sync keeps its appended records)...
        QCOMPARE(
            Test::localRecords(s.databasePath, schemaNamed(QStringLiteral("customers"))).size(),
            300);
        // ... and the next run starts over from the last completed sync, not where it stood.
        m_feed->clearFaults();
        job->start();
        QVERIFY(results.wait(10000));
        QCOMPARE(results.size(), 2);
        QCOMPARE(job->lastResult(), JobResult::Completed);
        QCOMPARE(job->progress().done, qint64(500));
        const QString difference
            = Test::differences(s.databasePath, schemaNamed(QStringLiteral("customers")),
                                m_feed->liveRecords(QStringLiteral("customers")));
        QVERIFY2(difference.isEmpty(), qPrintable(difference));

        // Cancelling what is not running does nothing, and reports nothing.
        job->cancel();
        QTest::qWait(100);
        QCOMPARE(results.size(), 2);
        QCOMPARE(job->state(), SyncState::Completed);
    }

    void aFailedRunReportsItsErrorOnce()
    {
        fill(QStringLiteral("customers"), 300);
        m_feed->addFault({ SourceReply::Kind::Changes, QString(), {}, false, 1 });
        m_feed->addFault({ SourceReply::Kind::Changes, QString(),
                           errorOf(ErrorCategory::Auth, QStringLiteral("token refused")), false,
                           1 });
        SyncEngine engine(settings(), MemorySource::factory(m_feed));
        SyncJob *job = waitForJob(engine, QStringLiteral("customers"));
        QVERIFY(job);
        QSignalSpy results(job, &SyncJob::result);
        job->start();
        QVERIFY(results.wait(10000));
        QTest::qWait(100);
        QCOMPARE(results.size(), 1);
        QCOMPARE(job->lastResult(), JobResult::Failed);
        QCOMPARE(job->error(), ErrorCategory::Auth);
        QVERIFY2(job->errorString().contains(QLatin1String("token refused")),
                 qPrintable(job->errorString()));
        QCOMPARE(job->state(), SyncState::Failed);
        QCOMPARE(job->progress().done, qint64(100));
    }

    void oneResultPerRunWhateverRacesIt()
    {
        const quint32 seed = testSeed();
        qInfo("seed %u (BATCHSYNC_TEST_SEED replays it)", seed);
        QRandomGenerator random(seed);
        const QStringList names
            = { QStringLiteral("alpha"), QStringLiteral("beta"), QStringLiteral("gamma") };
        for (const QString &name : names)
            fill(name, 300 + int(random.bounded(400)));
        SyncSettings s = settings(100);
        s.concurrency = 2;
        SyncEngine engine(s, MemorySource::factory(m_feed));
        QHash<QString, QString> events; // per entity: S for started, R for a result
        QHash<JobResult, int> outcomes;
        for (const QString &name : names) {
            SyncJob *job = waitForJob(engine, name);
            QVERIFY(job);
            connect(job, &SyncJob::started, this, [&events, name] { events[name] += u'S'; });
            connect(job, &SyncJob::result, this, [&events, &outcomes, name](SyncJob *j) {
                events[name] += u'R';
                ++outcomes[j->lastResult()];
                // The result agrees with the state it leaves.
                if (j->lastResult() == JobResult::Completed)
                    QCOMPARE(j->state(), SyncState::Completed);
                if (j->lastResult() == JobResult::Failed)
                    QCOMPARE(j->state(), SyncState::Failed);
            });
        }

        for (int step = 0; step < 300; ++step) {
            const QString name = names.at(int(random.bounded(names.size())));
            SyncJob *job = engine.job(name);
            switch (random.bounded(7)) {
            case 0:
            case 1:
                job->start();
                break;
            case 2:
                job->pause();
                break;
            case 3:
                job->resume();
                break;
            case 4:
                job->cancel();
                break;
            case 5: {
                if (random.bounded(4) == 0) {
                    // The entity list fails: the starts waiting for it fail without a run.
                    m_feed->addFault(
                        { SourceReply::Kind::Entities, QString(),
                          errorOf(random.bounded(2) ? ErrorCategory::Auth : ErrorCategory::Network,
                                  QStringLiteral("no list %1").arg(step)),
                          false, 1 + int(random.bounded(3)) });
                    break;
                }
                // A fault on the way: transient (retried, perhaps given up) or final.
                const bool final = random.bounded(3) == 0;
                m_feed->addFault(
                    { random.bounded(2) ? SourceReply::Kind::Changes : SourceReply::Kind::Count,
                      name,
                      errorOf(final ? ErrorCategory::Protocol : ErrorCategory::Network,
                              QStringLiteral("fault %1").arg(step)),
                      false, 1 + int(random.bounded(3)) });
                break;
            }
            default:
                // New records now and then, so that a completed entity has work again.
                m_feed->put(name, QStringLiteral("%1-new-%2").arg(name).arg(step),
                            { QStringLiteral("new"), qint64(step) });
                break;
            }
            QTest::qWait(int(random.bounded(15)));
        }
        // Last, each entity runs into a page that never comes, and is cancelled there; then
        // every run still open ends, each with its one result.
        m_feed->clearFaults();
        for (const QString &name : names) {
            m_feed->addFault({ SourceReply::Kind::Changes, name, {}, true, 1 });
            m_feed->put(name, QStringLiteral("%1-last").arg(name), { QStringLiteral("last"), 0 });
            engine.job(name)->start();
            // Running into the page, or queued behind the two that hang (concurrency 2).
            QTRY_VERIFY_WITH_TIMEOUT(engine.job(name)->state() == SyncState::Running
                                         || engine.job(name)->state() == SyncState::Queued,
                                     20000);
        }
        for (const QString &name : names)
            engine.job(name)->cancel();
        QTRY_VERIFY_WITH_TIMEOUT(!engine.isBusy(), 20000);
        for (const QString &name : names)
            QTRY_VERIFY_WITH_TIMEOUT(!engine.job(name)->isRunOpen(), 20000);
        QTest::qWait(100); // nothing more may arrive

        int results = 0;
        for (const QString &name : names) {
            const QString sequence = events.value(name);
            QVERIFY2(QRegularExpression(QStringLiteral("^(SR)*$")).match(sequence).hasMatch(),
                     qPrintable(name + QStringLiteral(": ") + sequence));
            results += int(sequence.count(u'R'));
        }
        qInfo() << "runs" << results << "completed" << outcomes.value(JobResult::Completed)
                << "failed" << outcomes.value(JobResult::Failed) << "cancelled"
                << outcomes.value(JobResult::Cancelled);
        QVERIFY(results >= 10);
        QVERIFY(outcomes.value(JobResult::Cancelled) >= names.size());
        QVERIFY(outcomes.value(JobResult::Completed) + outcomes.value(JobResult::Failed) > 0);
    }

    void overallProgressIsTheSumOfTheRuns()
    {
        fill(QStringLiteral("alpha"), 700);
        fill(QStringLiteral("beta"), 300);
        SyncEngine engine(settings(), MemorySource::factory(m_feed));
        QList<ProgressInfo> overall;
        connect(&engine, &SyncEngine::overallProgressChanged, this,
                [&overall](const ProgressInfo &p) { overall.append(p); });
        QSignalSpy finished(&engine, &SyncEngine::finished);
        engine.startAll();
        QVERIFY(finished.wait(10000));
        QVERIFY(!overall.isEmpty());
        for (const ProgressInfo &p : std::as_const(overall)) {
            QVERIFY(p.done <= p.total);
            QVERIFY(p.fraction() <= 1.0);
        }
        const ProgressInfo last = engine.overallProgress();
        QCOMPARE(last.done, qint64(1000));
        QCOMPARE(last.total, qint64(1000));
        QCOMPARE(last.etaSeconds, qint64(0));
        QCOMPARE(last.rate, 0.0); // nothing is working any more: no pace
        QCOMPARE(last.done,
                 engine.job(QStringLiteral("alpha"))->progress().done
                     + engine.job(QStringLiteral("beta"))->progress().done);

        // The next sync's overall progress is of its own runs only.
        m_feed->put(QStringLiteral("beta"), QStringLiteral("beta-new"),
                    { QStringLiteral("new"), qint64(1) });
        engine.start(QStringLiteral("beta"));
        QVERIFY(finished.wait(10000));
        QCOMPARE(engine.overallProgress().done, qint64(1));
        QCOMPARE(engine.overallProgress().total, qint64(1));
    }

    void estimatorSmoothsOnceASecond()
    {
        ProgressEstimator estimator;
        estimator.restart(0);
        estimator.update(0, 10000, 0, 0);
        QCOMPARE(estimator.info().rate, 0.0);
        QCOMPARE(estimator.info().etaSeconds, qint64(-1));
        // Before the first tick: the run's average.
        estimator.update(500, 10000, 1000, 500);
        QCOMPARE(estimator.info().rate, 1000.0);
        QCOMPARE(estimator.info().etaSeconds, qint64(10));
        QCOMPARE(estimator.info().bytes, qint64(1000));
        estimator.update(1000, 10000, 2000, 1000);
        estimator.tick(1000);
        QCOMPARE(estimator.info().rate, 1000.0);
        // Batches within a second do not move the rate; the next tick does, by a part.
        estimator.update(4000, 10000, 0, 1500);
        QCOMPARE(estimator.info().rate, 1000.0);
        QCOMPARE(estimator.info().etaSeconds, qint64(6));
        estimator.update(5000, 10000, 0, 2000);
        estimator.tick(2000); // 4000 records in the last second
        QCOMPARE(estimator.info().rate, 0.3 * 4000.0 + 0.7 * 1000.0);
        QCOMPARE(estimator.info().etaSeconds, qint64(3)); // 5000 / 1900, rounded up
        // The total grows with done: never above 100 %.
        estimator.update(12000, 10000, 0, 2500);
        QCOMPARE(estimator.info().total, qint64(12000));
        QCOMPARE(estimator.info().fraction(), 1.0);
        estimator.finish();
        QCOMPARE(estimator.info().etaSeconds, qint64(0));
        // A resumed run's pace counts only what it does itself.
        estimator.restart(10000);
        estimator.update(12000, 20000, 0, 10000);
        estimator.update(13000, 20000, 0, 11000);
        QCOMPARE(estimator.info().rate, 1000.0);
    }

    void prefetchBudgetBoundsPagesAhead_data()
    {
        QTest::addColumn<qint64>("elsewhere"); // bytes of other jobs' pages in memory
        QTest::addColumn<qint64>("own"); // of this job's
        QTest::addColumn<qint64>("next"); // the guess for the page it would ask for
        QTest::addColumn<bool>("ahead");
        QTest::newRow("small pages") << qint64(300) << qint64(300) << qint64(300) << true;
        QTest::newRow("fills it exactly") << qint64(400) << qint64(300) << qint64(300) << true;
        QTest::newRow("one byte over") << qint64(400) << qint64(300) << qint64(301) << false;
        QTest::newRow("alone, a page larger than it")
            << qint64(0) << qint64(5000) << qint64(5000) << true;
        QTest::newRow("alone, nothing in memory") << qint64(0) << qint64(0) << qint64(9999) << true;
        QTest::newRow("not alone, large pages") << qint64(1) << qint64(500) << qint64(500) << false;
    }
    void prefetchBudgetBoundsPagesAhead()
    {
        QFETCH(qint64, elsewhere);
        QFETCH(qint64, own);
        QFETCH(qint64, next);
        QFETCH(bool, ahead);
        PrefetchBudget budget(1000);
        budget.add(elsewhere);
        budget.add(own);
        QCOMPARE(budget.held(), elsewhere + own);
        QCOMPARE(budget.mayAskAhead(own, next), ahead);
        // Once the other pages are written, a job alone may always ask ahead.
        budget.add(-elsewhere);
        QVERIFY(budget.mayAskAhead(own, next));
    }

    void combineSumsTheParts()
    {
        const ProgressInfo a { 100, 400, 1000, 50.0, 6 };
        const ProgressInfo b { 300, 300, 3000, 0.0, 0 };
        const ProgressInfo c { 0, 200, 0, 50.0, 4 };
        const ProgressInfo all = ProgressInfo::combine({ a, b, c });
        QCOMPARE(all.done, qint64(400));
        QCOMPARE(all.total, qint64(900));
        QCOMPARE(all.bytes, qint64(4000));
        QCOMPARE(all.rate, 100.0);
        QCOMPARE(all.etaSeconds, qint64(5));
        QCOMPARE(ProgressInfo::combine({}).fraction(), 1.0);
        QCOMPARE(ProgressInfo::combine({ ProgressInfo { 0, 10, 0, 0.0, -1 } }).etaSeconds,
                 qint64(-1));
    }
};

QTEST_GUILESS_MAIN(TestJob)
#include "tst_job.moc"
