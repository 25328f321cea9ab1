#include "syncengine.h"

#include "common/logging.h"
#include "engine/syncworker.h"
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
    connect(m_worker, &SyncWorker::failed, this, &SyncEngine::failed);
    connect(m_worker, &SyncWorker::retrying, this, &SyncEngine::retrying);
    connect(m_worker, &SyncWorker::busyChanged, this, [this](bool busy) {
        if (busy == m_busy)
            return;
        m_busy = busy;
        if (!busy)
            Q_EMIT finished();
    });

    m_thread->start();
    QMetaObject::invokeMethod(m_worker, &SyncWorker::initialize, Qt::QueuedConnection);
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

void SyncEngine::resume(const QString &entity)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, entity] { worker->resume(entity); }, Qt::QueuedConnection);
}

void SyncEngine::onEntitiesLoaded(const QList<EntityStatus> &entities)
{
    m_entities = entities;
    Q_EMIT entitiesChanged();
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
    Q_EMIT stateChanged(entity, state);
}

void SyncEngine::onProgress(const QString &entity, qint64 done, qint64 total, double rate,
                            qint64 eta)
{
    for (EntityStatus &status : m_entities) {
        if (status.name == entity) {
            status.done = done;
            status.total = total;
            break;
        }
    }
    Q_EMIT progressChanged(entity, done, total, rate, eta);
}

} // namespace BatchSync
