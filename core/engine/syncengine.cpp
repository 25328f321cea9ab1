#include "syncengine.h"

#include "common/logging.h"
#include "engine/syncjob.h"
#include "engine/syncworker.h"
#include "sources/reachability.h"
#include "sources/sourcefactory.h"

#include <QThread>

namespace BatchSync {

SyncEngine::SyncEngine(const SyncSettings &settings, QObject *parent)
    : SyncEngine(settings, sourceFactory(settings), parent)
{
}

SyncEngine::SyncEngine(const SyncSettings &settings, SourceFactory sourceFactory, QObject *parent)
    : QObject(parent)
    , m_settings(settings)
    , m_thread(std::make_unique<QThread>())
{
    m_thread->setObjectName(QStringLiteral("BatchSync engine"));
    m_worker = new SyncWorker(settings, std::move(sourceFactory));
    m_worker->moveToThread(m_thread.get());
    connect(m_thread.get(), &QThread::finished, m_worker, &QObject::deleteLater);

    // Queued: the worker's signals come from its thread, these slots run in ours.
    connect(m_worker, &SyncWorker::entitiesLoaded, this, &SyncEngine::onEntitiesLoaded);
    connect(m_worker, &SyncWorker::stateChanged, this, &SyncEngine::onStateChanged);
    connect(m_worker, &SyncWorker::progressChanged, this, &SyncEngine::onProgress);
    connect(m_worker, &SyncWorker::runStarted, this, &SyncEngine::onRunStarted);
    connect(m_worker, &SyncWorker::runFinished, this, &SyncEngine::onRunFinished);
    connect(m_worker, &SyncWorker::failed, this, &SyncEngine::failed);
    connect(m_worker, &SyncWorker::retrying, this, &SyncEngine::retrying);
    connect(m_worker, &SyncWorker::pushed, this, &SyncEngine::pushed);
    connect(m_worker, &SyncWorker::phaseChanged, this, &SyncEngine::onPhaseChanged);
    connect(m_worker, &SyncWorker::busyChanged, this, &SyncEngine::onBusyChanged);
    connect(m_worker, &SyncWorker::liveStateChanged, this,
            [this](LiveState state, const QStringList &entities, const QString &message) {
                m_liveState = state;
                Q_EMIT liveStateChanged(state, entities, message);
            });

    m_clock.start();
    m_estimateTimer.setInterval(1000);
    connect(&m_estimateTimer, &QTimer::timeout, this, &SyncEngine::tickEstimates);

    m_thread->start();
    QMetaObject::invokeMethod(m_worker, &SyncWorker::initialize, Qt::QueuedConnection);
    if (settings.live || settings.autoSyncSeconds > 0)
        watchNetwork();
}

SyncEngine::~SyncEngine()
{
    // Wait for the worker to stop its jobs: they save their state in its thread.
    QMetaObject::invokeMethod(m_worker, &SyncWorker::shutdown, Qt::BlockingQueuedConnection);
    m_thread->quit();
    m_thread->wait();
}

QList<EntityStatus> SyncEngine::entities() const
{
    return m_entities;
}

EntityStatus SyncEngine::entity(const QString &name) const
{
    for (const EntityStatus &status : m_entities) {
        if (status.name == name)
            return status;
    }
    return EntityStatus();
}

bool SyncEngine::isBusy() const
{
    return m_busy;
}

void SyncEngine::refreshEntities()
{
    QMetaObject::invokeMethod(m_worker, &SyncWorker::refreshEntities, Qt::QueuedConnection);
}

void SyncEngine::start(const QString &entity)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, entity] { worker->start(entity); }, Qt::QueuedConnection);
}

void SyncEngine::startAll()
{
    QMetaObject::invokeMethod(m_worker, &SyncWorker::startAll, Qt::QueuedConnection);
}

void SyncEngine::pause(const QString &entity)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, entity] { worker->pause(entity); }, Qt::QueuedConnection);
}

void SyncEngine::pauseAll()
{
    QMetaObject::invokeMethod(m_worker, &SyncWorker::pauseAll, Qt::QueuedConnection);
}

void SyncEngine::watchNetwork()
{
    // Without a reachability backend, live sync's backoff finds the network again by itself.
    if (m_reachability)
        return;
    m_reachability = std::make_unique<NetworkReachability>();
    connect(m_reachability.get(), &NetworkReachability::networkBack, this, [this] {
        QMetaObject::invokeMethod(m_worker, &SyncWorker::networkBack, Qt::QueuedConnection);
    });
}

void SyncEngine::setLive(bool live)
{
    m_live = live;
    if (live)
        watchNetwork();
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, live] { worker->setLive(live); }, Qt::QueuedConnection);
}

void SyncEngine::resume(const QString &entity)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, entity] { worker->resume(entity); }, Qt::QueuedConnection);
}

void SyncEngine::cancel(const QString &entity)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, entity] { worker->cancel(entity); }, Qt::QueuedConnection);
}

SyncJob *SyncEngine::job(const QString &entity) const
{
    return m_jobs.value(entity);
}

QList<SyncJob *> SyncEngine::jobs() const
{
    QStringList names = m_jobs.keys();
    names.sort();
    QList<SyncJob *> list;
    for (const QString &name : std::as_const(names))
        list.append(m_jobs.value(name));
    return list;
}

ProgressInfo SyncEngine::overallProgress() const
{
    return m_overall;
}

void SyncEngine::onEntitiesLoaded(const QList<EntityStatus> &entities)
{
    m_entities = entities;
    for (const EntityStatus &status : entities) {
        if (m_jobs.contains(status.name))
            continue;
        m_jobs.insert(status.name, new SyncJob(this, status.name, status.state));
        ProgressEstimator &estimate = m_estimates[status.name];
        estimate.update(status.done, status.total, 0, m_clock.elapsed());
        estimate.finish();
        m_jobs.value(status.name)->setProgress(estimate.info());
    }
    if (!m_synced) {
        // Before any sync, the overall progress is what the database remembers of them all.
        m_participants.clear();
        for (const EntityStatus &status : entities)
            m_participants.append(status.name);
        publishOverall();
    }
    Q_EMIT entitiesChanged();
}

void SyncEngine::onBusyChanged(bool busy)
{
    if (busy == m_busy)
        return;
    m_busy = busy;
    if (busy) {
        m_synced = true;
        // A new sync: the overall progress is of its runs (and of paused ones, still open).
        m_participants.removeIf([this](const QString &entity) {
            const SyncJob *job = m_jobs.value(entity);
            return !job || !job->isRunOpen();
        });
        m_estimateTimer.start();
        return;
    }
    m_estimateTimer.stop();
    publishOverall();
    Q_EMIT finished();
}

void SyncEngine::onRunStarted(const QString &entity)
{
    if (!m_participants.contains(entity))
        m_participants.append(entity);
    m_estimates[entity].restart(m_clock.elapsed());
    if (SyncJob *job = m_jobs.value(entity))
        job->beginRun();
}

void SyncEngine::onRunFinished(const QString &entity, JobResult result, ErrorCategory category,
                               const QString &message)
{
    ProgressEstimator &estimate = m_estimates[entity];
    estimate.finish();
    publishProgress(entity);
    publishOverall();
    if (SyncJob *job = m_jobs.value(entity))
        job->endRun(result, category, message);
}

void SyncEngine::tickEstimates()
{
    const qint64 now = m_clock.elapsed();
    for (const QString &entity : std::as_const(m_participants)) {
        const SyncJob *job = m_jobs.value(entity);
        if (!job || !job->isRunOpen())
            continue;
        m_estimates[entity].tick(now);
        publishProgress(entity);
    }
    publishOverall();
}

void SyncEngine::publishProgress(const QString &entity)
{
    const ProgressInfo info = m_estimates.value(entity).info();
    if (SyncJob *job = m_jobs.value(entity))
        job->setProgress(info);
}

void SyncEngine::publishOverall()
{
    QList<ProgressInfo> parts;
    for (const QString &entity : std::as_const(m_participants)) {
        ProgressInfo part = m_estimates.value(entity).info();
        // Only entities that are working now add to the pace of the whole.
        const SyncJob *job = m_jobs.value(entity);
        if (!job || !job->capabilities().testFlag(SyncJob::Capability::Pause))
            part.rate = 0.0;
        parts.append(part);
    }
    const ProgressInfo overall = ProgressInfo::combine(parts);
    if (overall == m_overall)
        return;
    m_overall = overall;
    Q_EMIT overallProgressChanged(overall);
}

void SyncEngine::onStateChanged(const QString &entity, SyncState state, ErrorCategory category,
                                const QString &message)
{
    for (EntityStatus &status : m_entities) {
        if (status.name != entity)
            continue;
        status.state = state;
        status.errorCategory = state == SyncState::Failed ? category : ErrorCategory::None;
        status.errorMessage = state == SyncState::Failed ? message : QString();
        if (state == SyncState::Completed)
            status.lastCompletedAt = QDateTime::currentDateTimeUtc();
        break;
    }
    if (SyncJob *job = m_jobs.value(entity))
        job->setState(state);
    Q_EMIT stateChanged(entity, state);
}

void SyncEngine::onPhaseChanged(const QString &entity, SyncPhase phase)
{
    for (EntityStatus &status : m_entities) {
        if (status.name == entity)
            status.phase = phase;
    }
    // Rates of one phase say nothing about the next.
    m_estimates[entity].restart(m_clock.elapsed());
    if (SyncJob *job = m_jobs.value(entity))
        job->setPhase(phase);
    Q_EMIT phaseChanged(entity, phase);
}

void SyncEngine::onProgress(const QString &entity, qint64 done, qint64 total, qint64 bytes)
{
    for (EntityStatus &status : m_entities) {
        if (status.name == entity) {
            status.done = done;
            status.total = total;
            break;
        }
    }
    ProgressEstimator &estimate = m_estimates[entity];
    estimate.update(done, total, bytes, m_clock.elapsed());
    const ProgressInfo info = estimate.info();
    publishProgress(entity);
    publishOverall();
    Q_EMIT progressChanged(entity, info.done, info.total, info.rate, info.etaSeconds);
}

} // namespace BatchSync
