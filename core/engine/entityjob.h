#pragma once

#include "common/syncsettings.h"
#include "common/types.h"
#include "engine/batchsizer.h"
#include "store/localstore.h"

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <optional>

namespace BatchSync {

class PrefetchBudget;
class Source;
class SourceReply;
struct ChangesQuery;

/*!
    \internal
    The sync of one entity, on the engine's worker thread: counts the changes, pulls them
    page by page, commits each page with the position that follows it, retries transient
    failures, and reports state and throttled progress. Driven by SyncWorker, which decides
    when it may begin (the concurrency limit).
*/
class EntityJob final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(EntityJob)

public:
    /*! \a budget is shared with the worker's other jobs and outlives this one. */
    EntityJob(const StoredEntity &stored, const SyncSettings &settings, Source *source,
              LocalStore *store, PrefetchBudget *budget, QObject *parent = nullptr);
    ~EntityJob() override;

    QString name() const { return m_stored.schema.name; }
    SyncState state() const { return m_state; }
    bool isActive() const
    {
        return m_state == SyncState::Queued || m_state == SyncState::Counting
            || m_state == SyncState::Running;
    }
    /*! Whether it holds a network slot (counting or running). */
    bool isWorking() const
    {
        return m_state == SyncState::Counting || m_state == SyncState::Running;
    }
    EntityStatus status() const;

    /*! The schema the endpoint reports now; used from the next request on. */
    void setSchema(const EntitySchema &schema);
    /*! Whether the endpoint reported this entity in its last answer. */
    void setReported(bool reported) { m_reported = reported; }
    bool isReported() const { return m_reported; }

    /*! Waits for a slot. */
    void enqueue();
    /*! Starts (or continues) the run; the worker calls it when a slot is free. */
    void begin();
    /*! Stops at once, keeping everything committed; persisted as Paused. */
    void pause();
    /*!
        Ends the run at once without completing it: what was committed stays, the next run
        starts from the last completed position; persisted as Idle. Reports Cancelled.
    */
    void cancel();
    /*! Whether a run is open: started and not yet reported by runFinished(). */
    bool isRunOpen() const { return m_runOpen; }
    /*! Fails with \a category and \a message (persisted). */
    void fail(ErrorCategory category, const QString &message);

Q_SIGNALS:
    void stateChanged(const QString &entity, BatchSync::SyncState state,
                      BatchSync::ErrorCategory category, const QString &message);
    /*! The run's raw figures; throttled to SyncSettings::progressIntervalMs. */
    void progressChanged(const QString &entity, qint64 done, qint64 total, qint64 bytes);
    /*! A run began (a start or resume was accepted); runFinished() follows exactly once. */
    void runStarted(const QString &entity);
    void runFinished(const QString &entity, BatchSync::JobResult result,
                     BatchSync::ErrorCategory category, const QString &message);
    void retrying(const QString &entity, int attempt, int delayMs, const QString &reason);
    /*! The push of the run's pending local changes ended (see SyncEngine::pushed). */
    void pushed(const QString &entity, qint64 applied, qint64 conflicts, qint64 rejected);
    /*! The run moved on to \a phase (a source's reload or deletion check). */
    void phaseChanged(const QString &entity, BatchSync::SyncPhase phase);

private:
    enum class Step { Count, Edge, Page, Recount, Push };

    void setState(SyncState state, ErrorCategory category = ErrorCategory::None,
                  const QString &message = QString());
    bool persistState(SyncState state, ErrorCategory category = ErrorCategory::None,
                      const QString &message = QString());
    /*!
        The request of \a slot that just finished, if it succeeded; nullptr otherwise, after
        its error was handled (retried as \a retryAs, or ignored without it).
    */
    SourceReply *takeFinished(QPointer<SourceReply> &slot, std::optional<Step> retryAs,
                              SourceReply *finished = nullptr);
    void connectPage(SourceReply *request);
    void onPositionKnown(SourceReply *request, const QString &cursor);
    void dropPrefetch();
    // Whether the next page may be asked for before this one is written (PrefetchBudget).
    bool mayAskAhead() const;
    qint64 nextPageBytes() const;
    // Counts \a request's page, of about \a bytes, in the budget until releasePage().
    void holdPage(const SourceReply *request, qint64 bytes);
    void releasePage(const SourceReply *request);
    void pageFinished(SourceReply *finished);
    bool shouldPush() const;
    void startPush();
    void pushNext();
    void sendPushBatch();
    void onPushSent();
    void onPushFinished();
    bool applyPushAnswer();
    void finishPush();
    void beginPull();
    void requestCount(Step step);
    void requestPage();
    void sendPage(const ChangesQuery &query);
    void adaptBatchSize(int asked, qint64 records, qint64 elapsedMs);
    void onCountFinished();
    void requestEdge();
    void onEdgeFinished();
    void startPaging();
    void onRecountFinished();
    void handlePage(const ChangePage &page);
    void enterPhase(SyncPhase phase, bool fromItsStart);
    void complete();
    bool handleRequestError(const SyncError &error, Step step);
    void retryStep();
    void resetRetry();
    void cancelRequests();
    void reportProgress(bool force);
    void openRun();
    void closeRun(JobResult result, ErrorCategory category = ErrorCategory::None,
                  const QString &message = QString());
    bool isAfterHighWater(const Change &change) const;

    StoredEntity m_stored;
    const SyncSettings m_settings;
    Source *m_source;
    LocalStore *m_store;
    SyncState m_state = SyncState::Idle;
    SyncPhase m_phase = SyncPhase::Changes;
    SyncState m_stateBeforeQueue = SyncState::Idle;
    std::pair<ErrorCategory, QString> m_errorBeforeQueue;
    bool m_reported = false;

    QPointer<SourceReply> m_request; // count or page in flight
    QPointer<SourceReply> m_recount; // a recount while pages keep flowing
    QPointer<SourceReply> m_push; // a batch of local changes in flight
    QList<LocalChange> m_pushBatch; // what m_push carries
    QList<LocalChange> m_pushAhead; // the next batch, taken (frozen) while m_push is in flight
    QList<LocalChange> m_pushAnswered; // a batch answered, its results not yet applied
    QList<PushResult> m_pushResults; // their results
    QString m_clientId;
    PushOutcome m_pushOutcome; // of the run's push so far
    qint64 m_pushDone = 0;
    qint64 m_pushTotal = 0;
    int m_pushLimit = 0; // changes per push request; halved when a body is too large
    QPointer<SourceReply> m_prefetch; // the next page, asked for when the last announced its end
    QString m_prefetchSince;
    qint64 m_prefetchSentMs = -1;
    int m_prefetchLimit = 0;
    PrefetchBudget *m_prefetchBudget;
    QHash<const SourceReply *, qint64> m_heldPages; // asked for, not yet written: bytes
    qint64 m_lastPageBytes = 0; // received for the last page: the guess for the next
    QTimer m_retryTimer;
    Step m_retryStep = Step::Page;
    int m_attempt = 0;
    QElapsedTimer m_retryClock;

    // Offset mode: the position in the tie group of m_stored.run.cursor (see entityjob.cpp).
    qint64 m_groupIndex = 0;
    SyncPosition m_groupPosition; // the position m_groupIndex belongs to
    qint64 m_requestOffset = 0;
    bool m_requestAnchored = false;
    QString m_liveEdge; // the newest changedAt when the run began its pages
    QString m_rereadThrough; // live changedAts up to this one were read again
    qint64 m_edgeOffset = 0;
    SyncPosition m_persistedRun; // the run position as committed in the store
    SyncPosition m_highWater; // the furthest change applied, for counting new records
    int m_drifts = 0;
    int m_stalledPages = 0;
    int m_catchUpPages = 0;

    BatchSizer m_batchSizer { SyncSettings::DefaultBatchSize, SyncSettings::MinBatchSize,
                              SyncSettings::MaxBatchSize, SyncSettings::DefaultTargetBatchMs };
    qint64 m_pageSentMs = -1; // m_progressClock time the page in flight was asked for
    int m_pageLimit = 0; // the limit the page in flight was asked with
    qint64 m_batchDoneMs = -1; // m_progressClock time the last batch was written

    QElapsedTimer m_progressClock;
    qint64 m_lastProgressMs = -1;
    qint64 m_runBytes = 0;
    bool m_runOpen = false;
    QTimer m_trailingProgress; // delivers a report the interval held back
};

} // namespace BatchSync
