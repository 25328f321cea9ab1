#include "syncjob.h"

#include "engine/syncengine.h"

namespace BatchSync {

SyncJob::SyncJob(SyncEngine *engine, const QString &entity, SyncState state)
    : QObject(engine)
    , m_engine(engine)
    , m_entity(entity)
    , m_state(state)
{
}

SyncJob::~SyncJob() = default;

SyncJob::Capabilities SyncJob::capabilities() const
{
    switch (m_state) {
    case SyncState::Idle:
    case SyncState::Completed:
    case SyncState::Failed:
        return Capability::Start;
    case SyncState::Queued:
    case SyncState::Counting:
    case SyncState::Running:
        return Capability::Pause | Capability::Cancel;
    case SyncState::Paused:
        return Capability::Resume | Capability::Cancel;
    }
    return {};
}

void SyncJob::start()
{
    m_engine->start(m_entity);
}

void SyncJob::pause()
{
    m_engine->pause(m_entity);
}

void SyncJob::resume()
{
    m_engine->resume(m_entity);
}

void SyncJob::cancel()
{
    m_engine->cancel(m_entity);
}

void SyncJob::setState(SyncState state)
{
    const Capabilities before = capabilities();
    const bool changed = state != m_state;
    m_state = state;
    if (changed || state == SyncState::Failed)
        Q_EMIT stateChanged(state);
    if (capabilities() != before)
        Q_EMIT capabilitiesChanged(capabilities());
}

void SyncJob::setPhase(SyncPhase phase)
{
    if (std::exchange(m_phase, phase) != phase)
        Q_EMIT phaseChanged(phase);
}

void SyncJob::setProgress(const ProgressInfo &progress)
{
    if (progress == m_progress)
        return;
    m_progress = progress;
    Q_EMIT progressChanged(progress);
}

void SyncJob::beginRun()
{
    m_runOpen = true;
    m_error = ErrorCategory::None;
    m_errorString.clear();
    Q_EMIT started(this);
}

void SyncJob::endRun(JobResult result, ErrorCategory category, const QString &message)
{
    m_runOpen = false;
    m_result = result;
    m_error = result == JobResult::Failed ? category : ErrorCategory::None;
    m_errorString = result == JobResult::Failed ? message : QString();
    Q_EMIT this->result(this);
}

} // namespace BatchSync
