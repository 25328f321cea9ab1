#pragma once

#include "common/syncsettings.h"
#include "common/types.h"
#include "engine/prefetchbudget.h"
#include "sources/source.h"

#include <QHash>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QStringList>
#include <QTimer>
#include <functional>
#include <memory>

namespace BatchSync {

class EntityJob;
class LiveWatch;
class LocalStore;
struct StoredEntity;

/*!
    \internal
    The engine's worker object: lives on the engine's QThread and owns everything that does
    work there — the source, the local store and one EntityJob per entity. SyncEngine reaches it
   only through queued invocations; it answers only through signals.
*/
class SyncWorker final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SyncWorker)

public:
    /*! \a sourceFactory makes the source in initialize(). */
    SyncWorker(const SyncSettings &settings, SourceFactory sourceFactory,
               QObject *parent = nullptr);
    ~SyncWorker() override;

    // All of these run on the worker thread.

    /*!
        Creates the source and the local store in the worker thread, loads the entities saved in the
       local database (emitting entitiesLoaded) and asks the endpoint for its entities.
    */
    void initialize();
    /*! Saves running syncs as Paused and destroys what initialize() created, in this thread. */
    void shutdown();
    /*! Asks the endpoint for its entities again (new ones get a job, new fields a column). */
    void refreshEntities();
    /*! Queues \a entity for a sync (after the entity list arrived, if it has not yet). */
    void start(const QString &entity);
    /*! Queues every entity the endpoint reports. */
    void startAll();
    /*! Pauses \a entity at once (its request in flight is aborted); persisted. */
    void pause(const QString &entity);
    /*! Pauses every active entity, and empties the queue. */
    void pauseAll();
    /*! Continues a paused entity from its last committed position. */
    void resume(const QString &entity);
    /*! Ends \a entity's run without completing it (see EntityJob::cancel). */
    void cancel(const QString &entity);
    /*! Live sync on or off (see SyncEngine::setLive). */
    void setLive(bool live);
    /*!
        The network came back (SyncEngine's reachability): live sync asks at once; with
        automatic sync instead, every entity syncs now.
    */
    void networkBack();

Q_SIGNALS:
    void entitiesLoaded(const QList<BatchSync::EntityStatus> &entities);
    void stateChanged(const QString &entity, BatchSync::SyncState state,
                      BatchSync::ErrorCategory category, const QString &message);
    void progressChanged(const QString &entity, qint64 done, qint64 total, qint64 bytes);
    void phaseChanged(const QString &entity, BatchSync::SyncPhase phase);
    void runStarted(const QString &entity);
    void runFinished(const QString &entity, BatchSync::JobResult result,
                     BatchSync::ErrorCategory category, const QString &message);
    void failed(const QString &entity, BatchSync::ErrorCategory category, const QString &message);
    void retrying(const QString &entity, int attempt, int delayMs, const QString &reason);
    void pushed(const QString &entity, qint64 applied, qint64 conflicts, qint64 rejected);
    /*! True while any entity is counting, running or queued. */
    void busyChanged(bool busy);
    void liveStateChanged(BatchSync::LiveState state, const QStringList &entities,
                          const QString &message);

private:
    void requestStart(const QString &entity);
    void stop(const QString &entity, void (EntityJob::*how)());
    void fetchEntities();
    void onEntitiesFinished();
    void retryDiscovery(const SyncError &error);
    void failDiscovery(const SyncError &error);
    void applyEntities(const QList<EntitySchema> &entities);
    void startPending();
    void schedule();
    void onJobStateChanged(const QString &entity, BatchSync::SyncState state);
    EntityJob *addJob(const StoredEntity &stored);
    void emitEntities();
    void updateBusy();
    bool checkUsable(const QString &entity);
    QHash<QString, QString> liveCursors() const;
    void onLiveWake(const QStringList &entities);

    SyncSettings m_settings;
    SourceFactory m_sourceFactory;
    QString m_settingsError;
    QString m_storeError;
    std::unique_ptr<Source> m_source;
    std::unique_ptr<LocalStore> m_store;
    PrefetchBudget m_prefetchBudget; // shared by the jobs
    QHash<QString, EntityJob *> m_jobs; // children of this
    QStringList m_queue; // entities waiting for a slot, in order
    LiveWatch *m_live = nullptr; // child of this, made with the source
    bool m_liveWanted = false;

    QPointer<SourceReply> m_discovery;
    QTimer m_discoveryRetry;
    QTimer m_autoSync; // SyncSettings::autoSyncSeconds
    int m_discoveryAttempt = 0;
    qint64 m_discoveryFirstFailureMs = -1;
    QStringList m_pendingStarts; // to start once the endpoint reported its entities
    bool m_pendingStartAll = false;
    bool m_busy = false;
    bool m_shuttingDown = false;
};

} // namespace BatchSync
