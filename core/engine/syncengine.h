#pragma once

#include "common/syncsettings.h"
#include "common/types.h"
#include "engine/progressinfo.h"
#include "sources/source.h"

#include <QElapsedTimer>
#include <QHash>
#include <QList>
#include <QObject>
#include <QStringList>
#include <QTimer>
#include <functional>
#include <memory>

QT_BEGIN_NAMESPACE
class QThread;
QT_END_NAMESPACE

namespace BatchSync {

class NetworkReachability;
class SyncJob;
class SyncWorker;

/*!
    The sync engine: pulls every entity's changes from a Source (a BatchSync server, by
    default) into the local SQLite database, in batches, one job per entity.

    The engine object lives in the thread that created it (typically the GUI thread). The
    work happens on a worker QThread the engine owns: the network client and the database
    connection are created there and never leave it. Every public function returns at once
    and may be called from the engine's thread; the work is posted to the worker. Signals are
    emitted in the engine's thread.

    Per entity: Idle → Queued → Counting → Running ⇄ Paused → Completed, or Failed with a
    message. Every batch is committed with the position that follows it, so pause, a crash
    or a kill loses at most the batch in flight; a new engine on the same database shows a
    paused or interrupted entity as Paused with its progress, and start() or resume()
    continues from the last commit.

    Progress (done, total) is monotonic, done never exceeds total, and a completed run ends
    with done == total. Progress signals are throttled to SyncSettings::progressIntervalMs
    per entity.
*/
class SyncEngine final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SyncEngine)

public:
    /*!
        Starts the worker thread, opens the local database there and loads the persisted
        state of every entity (entitiesChanged() follows). Nothing is fetched until
        refreshEntities(), start() or startAll(). Invalid settings (see
        SyncSettings::validate) make every job fail with the reason.
    */
    explicit SyncEngine(const SyncSettings &settings, QObject *parent = nullptr);

    /*!
        As above, with the source made by \a sourceFactory (called once, on the worker
        thread; the engine owns what it returns) instead of sourceFactory(settings): another
        kind of source, a source with a network access manager of its own (proxies, TLS
        settings), or a test source.
    */
    SyncEngine(const SyncSettings &settings, SourceFactory sourceFactory,
               QObject *parent = nullptr);
    /*!
        Stops every job at once (a batch in flight is dropped, never half-written; running
        jobs are saved as Paused) and joins the worker thread.
    */
    ~SyncEngine() override;

    SyncSettings settings() const { return m_settings; }

    /*! The entities known so far (persisted or reported by the endpoint), by name. */
    QList<EntityStatus> entities() const;
    /*! One entity; a default EntityStatus with an empty name when unknown. */
    EntityStatus entity(const QString &name) const;
    /*! Whether any job is queued, counting or running. */
    bool isBusy() const;

    /*! Whether live sync is on (setLive()). */
    bool isLive() const { return m_live; }
    /*! What live sync is doing now. */
    LiveState liveState() const { return m_liveState; }

    /*!
        The job of \a entity (owned by the engine), made as soon as the engine knows the
        entity (entitiesChanged()); nullptr for an entity it does not know.
    */
    SyncJob *job(const QString &entity) const;
    /*! Every job, by entity name. */
    QList<SyncJob *> jobs() const;
    /*!
        The progress of every entity that took part in the current (or last) sync, as one:
        what an overall bar shows. Before the first sync, that of every known entity's last
        run.
    */
    ProgressInfo overallProgress() const;

public Q_SLOTS:
    /*! Asks the endpoint for its entities (GET /entities); entitiesChanged() follows. */
    void refreshEntities();
    /*!
        Starts a sync of \a entity: from the last completed sync, or where an interrupted or
        paused run stopped. Refreshes the schema first. Does nothing if it is already active.
    */
    void start(const QString &entity);
    /*! Starts every entity the endpoint reports. */
    void startAll();
    /*! Pauses \a entity at once: the request in flight is aborted; nothing is lost. */
    void pause(const QString &entity);
    /*! Pauses every active entity. */
    void pauseAll();
    /*! Resumes a paused entity from its last committed batch. */
    void resume(const QString &entity);
    /*!
        Ends \a entity's run without completing it: the request in flight is aborted, what
        was committed stays, and the next start begins from the last completed sync.
    */
    void cancel(const QString &entity);
    /*!
        Live sync: while no sync runs, one wait request (GET /wait) stays open for every
        entity that has completed a sync; when it names entities, they sync at once (push and
        pull). With nothing to follow yet, every entity syncs once. A source that cannot wait
        (a v1 server, an OData service) is synced every SyncSettings::liveTimerSeconds; an
        endpoint that fails is asked again after a capped, jittered backoff. Also
        SyncSettings::live.
    */
    void setLive(bool live);

Q_SIGNALS:
    /*! The list of entities or their schema changed; read entities(). */
    void entitiesChanged();
    void stateChanged(const QString &entity, BatchSync::SyncState state);
    /*!
        \a done of \a total records; \a recordsPerSecond and \a etaSeconds as in the
        entity's SyncJob::progress() (smoothed once a second; \a etaSeconds -1 when unknown).
    */
    void progressChanged(const QString &entity, qint64 done, qint64 total, double recordsPerSecond,
                         qint64 etaSeconds);
    /*!
        \a entity stopped with an error. An empty \a entity means the endpoint itself (for
        example GET /entities failed, so nothing could start).
    */
    void failed(const QString &entity, BatchSync::ErrorCategory category, const QString &message);
    /*!
        \a entity's run moved on to \a phase; its progress (done and total) now counts that
        phase's records.
    */
    void phaseChanged(const QString &entity, BatchSync::SyncPhase phase);
    /*!
        \a entity's push ended: of the changes sent, \a applied were stored by the server,
        \a conflicts met a newer server record and \a rejected could never apply (both kept
        in _sync_conflicts). Emitted once per run that had pending changes to push, before
        the pull begins (Push phase: progressChanged() counts changes sent).
    */
    void pushed(const QString &entity, qint64 applied, qint64 conflicts, qint64 rejected);
    /*! A request of \a entity failed transiently and is tried again in \a delayMs. */
    void retrying(const QString &entity, int attempt, int delayMs, const QString &reason);
    /*! No job is queued, counting or running any more (after at least one was). */
    void finished();
    /*!
        Live sync moved to \a state: \a entities are those woken (Woken), \a message says
        why the endpoint cannot be reached (Offline) or cannot wait (Timer).
    */
    void liveStateChanged(BatchSync::LiveState state, const QStringList &entities,
                          const QString &message);
    /*! overallProgress() changed. */
    void overallProgressChanged(const BatchSync::ProgressInfo &progress);

private:
    void onEntitiesLoaded(const QList<BatchSync::EntityStatus> &entities);
    void onStateChanged(const QString &entity, BatchSync::SyncState state,
                        BatchSync::ErrorCategory category, const QString &message);
    void onPhaseChanged(const QString &entity, BatchSync::SyncPhase phase);
    void onProgress(const QString &entity, qint64 done, qint64 total, qint64 bytes);
    void onRunStarted(const QString &entity);
    void onRunFinished(const QString &entity, BatchSync::JobResult result,
                       BatchSync::ErrorCategory category, const QString &message);
    void onBusyChanged(bool busy);
    void watchNetwork();
    void tickEstimates();
    void publishProgress(const QString &entity);
    void publishOverall();

    SyncSettings m_settings;
    std::unique_ptr<QThread> m_thread;
    SyncWorker *m_worker = nullptr; // lives in m_thread; deleted there
    QList<EntityStatus> m_entities;
    QHash<QString, SyncJob *> m_jobs; // children of this
    QHash<QString, ProgressEstimator> m_estimates;
    QStringList m_participants; // entities whose runs the current sync holds
    ProgressInfo m_overall;
    QTimer m_estimateTimer; // once a second while busy
    QElapsedTimer m_clock;
    bool m_busy = false;
    bool m_synced = false; // a sync began in this engine
    bool m_live = m_settings.live;
    std::unique_ptr<NetworkReachability> m_reachability; // made by watchNetwork()
    LiveState m_liveState = LiveState::Off;
};

} // namespace BatchSync
