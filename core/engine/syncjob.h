#pragma once

#include "common/types.h"
#include "engine/progressinfo.h"

#include <QFlags>
#include <QObject>

namespace BatchSync {

class SyncEngine;

/*!
    The sync of one entity, as an application sees it: start, pause, resume and cancel, what
    it can do now, its progress, and the result of each run — shaped like KDE's KJob.

    A run begins when start() or resume() is accepted (started() is emitted) and ends with
    exactly one result(): Completed, Failed (error() and errorString() say why) or
    Cancelled. Pausing does not end a run: resume() continues it from its last committed
    batch. cancel() ends it, keeping what was committed; the next start() begins a new run
    from the last completed sync.

    Owned by its SyncEngine, which makes one per entity (SyncEngine::job()); lives in the
    engine's thread, like the engine. Every function returns at once; the work happens on
    the engine's worker thread and its outcome arrives as signals.
*/
class SyncJob final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SyncJob)

public:
    /*! What the job can do now (it changes with the state). */
    enum class Capability {
        Start = 0x1, //!< idle, completed or failed: start() begins a run
        Pause = 0x2, //!< queued or running: pause() stops it, resumably
        Resume = 0x4, //!< paused: resume() continues the run
        Cancel = 0x8, //!< queued, running or paused: cancel() ends the run
    };
    Q_DECLARE_FLAGS(Capabilities, Capability)
    Q_FLAG(Capabilities)

    ~SyncJob() override;

    QString entity() const { return m_entity; }
    SyncState state() const { return m_state; }
    /*! What the current (or last) run is doing; progress() counts this phase's records. */
    SyncPhase phase() const { return m_phase; }
    Capabilities capabilities() const;
    /*! The current (or last) run's progress; rate and ETA smoothed once a second. */
    ProgressInfo progress() const { return m_progress; }
    /*! Whether a run began (in this engine) and has not reported its result yet. */
    bool isRunOpen() const { return m_runOpen; }
    /*! The last run's result; meaningful once result() was emitted. */
    JobResult lastResult() const { return m_result; }
    /*! Why the last run failed; ErrorCategory::None otherwise. */
    ErrorCategory error() const { return m_error; }
    /*! A sentence a person can act on when the last run failed; empty otherwise. */
    QString errorString() const { return m_errorString; }

public Q_SLOTS:
    /*! Begins a run (after a refresh of the entity's schema); nothing if one is active. */
    void start();
    /*! Stops at once, resumably; nothing is lost. */
    void pause();
    /*! Continues a paused run from its last committed batch. */
    void resume();
    /*! Ends the run without completing it; what was committed stays. */
    void cancel();

Q_SIGNALS:
    /*! A run began; result() follows exactly once. */
    void started(BatchSync::SyncJob *job);
    void stateChanged(BatchSync::SyncState state);
    void phaseChanged(BatchSync::SyncPhase phase);
    void capabilitiesChanged(BatchSync::SyncJob::Capabilities capabilities);
    void progressChanged(const BatchSync::ProgressInfo &progress);
    /*! The run ended: lastResult(), error() and errorString() say how. Once per run. */
    void result(BatchSync::SyncJob *job);

private:
    friend class SyncEngine;
    SyncJob(SyncEngine *engine, const QString &entity, SyncState state);

    void setState(SyncState state);
    void setPhase(SyncPhase phase);
    void setProgress(const ProgressInfo &progress);
    void beginRun();
    void endRun(JobResult result, ErrorCategory category, const QString &message);

    SyncEngine *m_engine;
    QString m_entity;
    SyncState m_state;
    SyncPhase m_phase = SyncPhase::Changes;
    ProgressInfo m_progress;
    bool m_runOpen = false;
    JobResult m_result = JobResult::Completed;
    ErrorCategory m_error = ErrorCategory::None;
    QString m_errorString;
};

Q_DECLARE_OPERATORS_FOR_FLAGS(SyncJob::Capabilities)

} // namespace BatchSync
