#include "entityjob.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "engine/prefetchbudget.h"
#include "sources/source.h"

#include <QDateTime>
#include <QRandomGenerator>
#include <algorithm>
#include <cmath>

namespace BatchSync {

namespace {

// Pages in a row that may bring nothing new while the server still says hasMore, before
// the entity fails instead of asking forever.
constexpr int MaxStalledPages = 10;
// Offset mode: consecutive tie-group drifts tolerated before giving up.
constexpr int MaxDrifts = 100;
// Offset mode: pages in a row that re-read changes already applied (a tie group read again
// from its start) before giving up: more than any real tie group needs.
constexpr int MaxCatchUpPages = 10000;

int compareChange(const QString &changedAt, const QString &id, const SyncPosition &position)
{
    if (const int c = changedAt.compare(position.cursor))
        return c;
    return id.compare(position.id);
}

} // namespace

EntityJob::EntityJob(const StoredEntity &stored, const SyncSettings &settings, Source *source,
                     LocalStore *store, PrefetchBudget *budget, QObject *parent)
    : QObject(parent)
    , m_stored(stored)
    , m_settings(settings)
    , m_source(source)
    , m_store(store)
    , m_prefetchBudget(budget)
{
    m_persistedRun = stored.run;
    m_retryTimer.setSingleShot(true);
    connect(&m_retryTimer, &QTimer::timeout, this, &EntityJob::retryStep);
    m_trailingProgress.setSingleShot(true);
    connect(&m_trailingProgress, &QTimer::timeout, this, [this] { reportProgress(true); });
    m_progressClock.start();

    // A run that was counting or running when the process ended was interrupted: it shows
    // as Paused with its progress, and continues from its last commit.
    switch (stored.state) {
    case SyncState::Queued:
    case SyncState::Counting:
    case SyncState::Running:
        m_state = stored.runActive ? SyncState::Paused : SyncState::Idle;
        break;
    default:
        m_state = stored.state;
        break;
    }
}

EntityJob::~EntityJob()
{
    cancelRequests();
}

EntityStatus EntityJob::status() const
{
    EntityStatus s;
    s.name = m_stored.schema.name;
    s.fields = m_stored.schema.fields;
    s.state = m_state;
    s.done = m_stored.runDone;
    s.total = m_stored.runTotal;
    s.errorCategory = m_stored.errorCategory;
    s.errorMessage = m_stored.errorMessage;
    s.lastCompletedAt = m_stored.lastCompletedAt;
    return s;
}

void EntityJob::setSchema(const EntitySchema &schema)
{
    m_stored.schema = schema;
}

void EntityJob::enqueue()
{
    if (isActive())
        return;
    openRun();
    m_stateBeforeQueue = m_state;
    m_errorBeforeQueue = { m_stored.errorCategory, m_stored.errorMessage };
    setState(SyncState::Queued);
}

void EntityJob::begin()
{
    resetRetry();
    m_batchSizer = BatchSizer(m_settings.batchSize, SyncSettings::MinBatchSize,
                              SyncSettings::MaxBatchSize, m_settings.targetBatchMs);
    m_batchDoneMs = -1;
    m_drifts = 0;
    m_stalledPages = 0;
    m_catchUpPages = 0;
    m_runBytes = 0;

    // Local changes go first: the pull that follows then brings the server's records with
    // them, and a conflict's answer is not read again as a change.
    if (shouldPush()) {
        startPush();
        return;
    }
    if (m_settings.direction == SyncDirection::Push) {
        finishPush();
        return;
    }
    beginPull();
}

void EntityJob::beginPull()
{
    if (m_phase == SyncPhase::Push)
        enterPhase(SyncPhase::Changes, false);
    if (!m_source->supports(m_settings.paging)) {
        fail(
            ErrorCategory::Request,
            QStringLiteral("the endpoint cannot page in %1 mode; use %2 paging")
                .arg(pagingModeName(m_settings.paging),
                     pagingModeName(m_settings.paging == PagingMode::Cursor ? PagingMode::Offset
                                                                            : PagingMode::Cursor)));
        return;
    }
    const bool sameMode = m_stored.paging == m_settings.paging;
    if (!m_stored.runActive || !sameMode) {
        // A position of one paging mode means nothing in the other: start over then.
        const SyncPosition from = sameMode ? m_stored.committed : SyncPosition();
        SyncError error;
        if (!m_store->beginRun(name(), m_settings.paging, from, 0, SyncState::Counting, &error)) {
            fail(error.category, error.message);
            return;
        }
        m_stored.paging = m_settings.paging;
        m_stored.runActive = true;
        m_stored.run = from;
        m_persistedRun = from;
        m_stored.runDone = 0;
        m_stored.runTotal = 0;
        // A record of the last tie group may have changed in place since it was read (same
        // changedAt, same id, in the same millisecond): a new run reads that group again
        // from its start.
        m_groupPosition = SyncPosition();
        m_stored.errorCategory = ErrorCategory::None;
        m_stored.errorMessage.clear();
        enterPhase(SyncPhase::Changes, false);
        qCInfo(lcEngine) << "entity" << name() << "starts a run from"
                         << (from.isStart() ? QStringLiteral("the beginning") : from.cursor);
    } else if (!persistState(SyncState::Counting)) {
        return;
    } else {
        // Continue from what is on disk, never from a position only a page that brought
        // nothing new has claimed.
        m_stored.run = m_persistedRun;
        qCInfo(lcEngine) << "entity" << name() << "continues its run at" << m_stored.runDone << "of"
                         << m_stored.runTotal;
    }
    m_highWater = m_stored.run;
    if (m_groupPosition != m_stored.run)
        m_groupIndex = 0; // unknown after a restart: the first page re-reads the tie group
    setState(SyncState::Counting);
    requestCount(Step::Count);
}

void EntityJob::pause()
{
    if (!isActive())
        return;
    if (m_state == SyncState::Queued && !m_stored.runActive) {
        // Nothing was started: there is nothing to pause, only a wait to cancel.
        const auto [category, message] = m_errorBeforeQueue;
        m_stored.errorCategory = category;
        m_stored.errorMessage = message;
        setState(m_stateBeforeQueue, category, message);
        closeRun(JobResult::Cancelled);
        return;
    }
    cancelRequests();
    resetRetry();
    if (persistState(SyncState::Paused)) {
        reportProgress(true);
        setState(SyncState::Paused);
    }
}

void EntityJob::cancel()
{
    if (!isActive() && m_state != SyncState::Paused)
        return;
    if (m_state == SyncState::Queued && !m_stored.runActive) {
        pause(); // only a wait to withdraw
        return;
    }
    openRun(); // a paused run of an earlier process is reported too
    cancelRequests();
    resetRetry();
    SyncError error;
    if (!m_store->cancelRun(name(), m_stored.runDone, m_stored.runTotal, &error)) {
        fail(error.category, error.message);
        return;
    }
    m_stored.runActive = false;
    m_stored.run = m_stored.committed;
    m_persistedRun = m_stored.committed;
    qCInfo(lcEngine) << "entity" << name() << "cancelled at" << m_stored.runDone << "of"
                     << m_stored.runTotal;
    reportProgress(true);
    setState(SyncState::Idle);
    closeRun(JobResult::Cancelled);
}

void EntityJob::openRun()
{
    if (std::exchange(m_runOpen, true))
        return;
    Q_EMIT runStarted(name());
}

void EntityJob::closeRun(JobResult result, ErrorCategory category, const QString &message)
{
    if (!std::exchange(m_runOpen, false))
        return;
    Q_EMIT runFinished(name(), result, category, message);
}

void EntityJob::fail(ErrorCategory category, const QString &message)
{
    cancelRequests();
    resetRetry();
    qCWarning(lcEngine) << "entity" << name() << "failed:" << message;
    m_stored.errorCategory = category;
    m_stored.errorMessage = message;
    SyncError error;
    if (!m_store->saveState(name(), SyncState::Failed, m_stored.runDone, m_stored.runTotal,
                            category, message, &error)) {
        qCWarning(lcEngine) << "could not save the failure of" << name() << ":" << error.message;
    }
    reportProgress(true);
    setState(SyncState::Failed, category, message);
    // A failure outside a run (the entity could not even start) is a run of its own.
    openRun();
    closeRun(JobResult::Failed, category, message);
}

void EntityJob::setState(SyncState state, ErrorCategory category, const QString &message)
{
    if (state == m_state && state != SyncState::Failed)
        return;
    m_state = state;
    m_stored.state = state;
    if (state != SyncState::Failed) {
        m_stored.errorCategory = ErrorCategory::None;
        m_stored.errorMessage.clear();
    }
    Q_EMIT stateChanged(name(), state, category, message);
}

bool EntityJob::persistState(SyncState state, ErrorCategory category, const QString &message)
{
    SyncError error;
    if (m_store->saveState(name(), state, m_stored.runDone, m_stored.runTotal, category, message,
                           &error)) {
        return true;
    }
    fail(error.category, error.message);
    return false;
}

void EntityJob::requestCount(Step step)
{
    QString since = m_stored.run.cursor;
    if (m_settings.paging == PagingMode::Offset && !m_stored.run.isStart())
        since = Timestamp::previousMillisecond(m_stored.run.cursor);
    SourceReply *request = m_source->fetchCount(m_stored.schema, m_settings.paging, since);
    if (step == Step::Recount) {
        m_recount = request;
        connect(request, &SourceReply::finished, this, &EntityJob::onRecountFinished);
    } else {
        m_request = request;
        connect(request, &SourceReply::finished, this, &EntityJob::onCountFinished);
    }
}

SourceReply *EntityJob::takeFinished(QPointer<SourceReply> &slot, std::optional<Step> retryAs,
                                     SourceReply *finished)
{
    SourceReply *request = slot.data();
    if (!request || (finished ? finished : sender()) != request)
        return nullptr;
    slot = nullptr;
    request->deleteLater();
    if (request->error().isError()) {
        if (retryAs)
            handleRequestError(request->error(), *retryAs);
        return nullptr;
    }
    if (retryAs)
        resetRetry();
    return request;
}

void EntityJob::onCountFinished()
{
    SourceReply *request = takeFinished(m_request, Step::Count);
    if (!request)
        return;
    // In offset mode the count includes the tie group already applied (see requestPage).
    const qint64 remaining = std::max<qint64>(0, request->count() - m_groupIndex);
    m_stored.runTotal = std::max(m_stored.runTotal, m_stored.runDone + remaining);
    m_liveEdge.clear();
    m_rereadThrough.clear();
    if (m_settings.paging == PagingMode::Offset && request->count() > 0) {
        m_edgeOffset = request->count() - 1;
        requestEdge();
        return;
    }
    startPaging();
}

void EntityJob::requestEdge()
{
    // The newest changedAt now: a change stamped with it (or later) may still be joined, in
    // the same millisecond, by changes that sort before what was read of it.
    ChangesQuery query;
    query.mode = PagingMode::Offset;
    query.since
        = m_stored.run.isStart() ? QString() : Timestamp::previousMillisecond(m_stored.run.cursor);
    query.offset = m_edgeOffset;
    query.limit = 1;
    SourceReply *request = m_source->fetchChanges(m_stored.schema, query);
    m_request = request;
    connect(request, &SourceReply::finished, this, &EntityJob::onEdgeFinished);
}

void EntityJob::onEdgeFinished()
{
    SourceReply *request = takeFinished(m_request, Step::Edge);
    if (!request)
        return;
    const QList<Change> &changes = request->page().changes;
    // Fewer changes than counted: every changedAt from the position on counts as live.
    m_liveEdge = changes.isEmpty() ? m_stored.run.cursor : changes.last().changedAt;
    startPaging();
}

void EntityJob::startPaging()
{
    if (!persistState(SyncState::Running))
        return;
    setState(SyncState::Running);
    reportProgress(true);
    requestPage();
}

void EntityJob::onRecountFinished()
{
    // A recount only refines the total; if it fails, the pages still flow.
    SourceReply *request = takeFinished(m_recount, std::nullopt);
    if (!request || m_state != SyncState::Running)
        return;
    const qint64 total = m_stored.runDone + request->count();
    if (total > m_stored.runTotal) {
        m_stored.runTotal = total;
        reportProgress(false);
    }
}

void EntityJob::requestPage()
{
    ChangesQuery query;
    query.mode = m_settings.paging;
    if (m_settings.paging == PagingMode::Cursor) {
        query.since = m_stored.run.cursor;
    } else if (!m_stored.run.isStart()) {
        // Ask for changedAt > (last changedAt - 1 ms): the changes sharing the last changedAt
        // come first, ordered by id. Skipping all but the last one applied (the anchor) puts
        // the page right after it; if the anchor is not where it should be, the tie group
        // changed meanwhile and the page is read again from the group's start, so that no
        // change is skipped.
        query.since = Timestamp::previousMillisecond(m_stored.run.cursor);
        m_requestAnchored = m_groupIndex > 0;
        m_requestOffset = m_requestAnchored ? m_groupIndex - 1 : 0;
        query.offset = m_requestOffset;
    } else {
        m_requestAnchored = false;
        m_requestOffset = 0;
    }
    sendPage(query);
}

void EntityJob::sendPage(const ChangesQuery &query)
{
    ChangesQuery sized = query;
    sized.limit = m_settings.adaptiveBatchSize ? m_batchSizer.size() : m_settings.batchSize;
    m_pageLimit = sized.limit;
    m_pageSentMs = m_progressClock.elapsed();
    SourceReply *request = m_source->fetchChanges(m_stored.schema, sized);
    m_request = request;
    holdPage(request, nextPageBytes());
    connectPage(request);
}

void EntityJob::connectPage(SourceReply *request)
{
    connect(request, &SourceReply::finished, this, [this, request] { pageFinished(request); });
    if (m_settings.paging == PagingMode::Cursor) {
        connect(request, &SourceReply::positionKnown, this,
                [this, request](const QString &cursor) { onPositionKnown(request, cursor); });
    }
}

void EntityJob::onPositionKnown(SourceReply *request, const QString &cursor)
{
    // The page in flight already knows where it ends: ask for the next one now, so that the
    // source reads this page while the next is on its way.
    if (request != m_request.data() || m_prefetch || !isWorking() || !mayAskAhead())
        return;
    ChangesQuery query;
    query.mode = PagingMode::Cursor;
    query.since = cursor;
    query.limit = m_settings.adaptiveBatchSize ? m_batchSizer.size() : m_settings.batchSize;
    m_prefetchSince = cursor;
    m_prefetchLimit = query.limit;
    m_prefetchSentMs = m_progressClock.elapsed();
    SourceReply *next = m_source->fetchChanges(m_stored.schema, query);
    m_prefetch = next;
    holdPage(next, nextPageBytes());
    connectPage(next);
}

bool EntityJob::mayAskAhead() const
{
    qint64 own = 0;
    for (const qint64 bytes : m_heldPages)
        own += bytes;
    return m_prefetchBudget->mayAskAhead(own, nextPageBytes());
}

qint64 EntityJob::nextPageBytes() const
{
    return m_prefetchBudget->guess(m_lastPageBytes);
}

void EntityJob::holdPage(const SourceReply *request, qint64 bytes)
{
    qint64 &held = m_heldPages[request];
    m_prefetchBudget->add(bytes - held);
    held = bytes;
}

void EntityJob::releasePage(const SourceReply *request)
{
    m_prefetchBudget->add(-m_heldPages.value(request));
    m_heldPages.remove(request);
}

void EntityJob::dropPrefetch()
{
    if (SourceReply *request = m_prefetch.data()) {
        releasePage(request);
        request->disconnect(this);
        request->abort();
        request->deleteLater();
    }
    m_prefetch = nullptr;
}

void EntityJob::adaptBatchSize(int asked, qint64 records, qint64 elapsedMs)
{
    if (!m_settings.adaptiveBatchSize)
        return;
    const int before = m_batchSizer.size();
    if (m_batchSizer.update(asked, records, elapsedMs) != before) {
        qCDebug(lcEngine) << "entity" << name() << "batch size" << before << "->"
                          << m_batchSizer.size() << "(a batch took" << elapsedMs << "ms)";
    }
}

void EntityJob::pageFinished(SourceReply *finished)
{
    if (finished != m_request.data())
        return; // a page asked for early, not yet the one awaited
    if (finished->error().isError())
        dropPrefetch();
    if (SourceReply *request = takeFinished(m_request, Step::Page, finished)) {
        m_runBytes += request->bytesReceived();
        m_lastPageBytes = request->bytesReceived();
        holdPage(request, m_lastPageBytes); // what it really is, until it is written
        m_prefetchBudget->notePage(m_lastPageBytes);
        handlePage(request->page());
    }
    releasePage(finished);
}

bool EntityJob::isAfterHighWater(const Change &change) const
{
    return m_highWater.isStart() || compareChange(change.changedAt, change.id, m_highWater) > 0;
}

void EntityJob::handlePage(const ChangePage &page)
{
    // Offset mode reads each change's position: its pages come as a list. In cursor mode a
    // page may be packed, and only its count matters here.
    const QList<Change> &changes = page.changes;
    const qsizetype count = page.size();
    const bool offsetMode = m_settings.paging == PagingMode::Offset;
    Q_ASSERT(!offsetMode || page.packed.isEmpty());
    const SyncPosition before = m_stored.run;
    const qint64 sentMs = m_pageSentMs;
    const int asked = m_pageLimit;

    if (offsetMode && m_requestAnchored) {
        if (changes.isEmpty() || changes.first().changedAt != before.cursor
            || changes.first().id != before.id) {
            if (++m_drifts > MaxDrifts) {
                fail(ErrorCategory::Protocol,
                     QStringLiteral("the server's offset paging keeps shifting under concurrent "
                                    "changes; try cursor paging"));
                return;
            }
            qCDebug(lcEngine) << "entity" << name()
                              << "tie group changed during the sync; reading it again";
            m_groupIndex = 0;
            requestPage();
            return;
        }
        m_drifts = 0;
    }

    qint64 fresh = 0;
    SyncPosition after = before;
    bool rereading = false;
    if (offsetMode) {
        for (const Change &change : changes) {
            if (isAfterHighWater(change))
                ++fresh;
        }
        if (!changes.isEmpty()) {
            const Change &last = changes.last();
            after = SyncPosition { last.changedAt, last.id };
            // The largest changedAt this page moved past that was live when the run began.
            QString crossed;
            if (!before.isStart() && before.cursor < last.changedAt)
                crossed = before.cursor;
            for (const Change &change : changes) {
                if (change.changedAt < last.changedAt && change.changedAt > crossed)
                    crossed = change.changedAt;
            }
            if (!m_liveEdge.isEmpty() && !crossed.isEmpty() && crossed >= m_liveEdge
                && crossed > m_rereadThrough) {
                // A change may have joined those groups, in their millisecond, after they were
                // read: read them again from the first of them, once.
                QString first = crossed;
                if (!before.isStart() && before.cursor >= m_liveEdge
                    && before.cursor > m_rereadThrough) {
                    first = before.cursor;
                }
                for (const Change &change : changes) {
                    if (change.changedAt >= m_liveEdge && change.changedAt > m_rereadThrough
                        && change.changedAt < first) {
                        first = change.changedAt;
                    }
                }
                qCDebug(lcEngine) << "entity" << name() << "reads again the changes from" << first;
                m_rereadThrough = crossed;
                after = SyncPosition { first, QString() };
                m_groupIndex = 0;
                m_groupPosition = after;
                rereading = true;
            }
        }
        if (!changes.isEmpty() && !rereading) {
            const Change &last = changes.last();
            if (!before.isStart() && last.changedAt == before.cursor) {
                m_groupIndex = m_requestOffset + changes.size();
            } else {
                qint64 trailing = 0;
                for (auto it = changes.crbegin();
                     it != changes.crend() && it->changedAt == last.changedAt; ++it) {
                    ++trailing;
                }
                m_groupIndex = trailing;
            }
        }
    } else {
        fresh = count;
        after = SyncPosition { page.cursor.isEmpty() ? before.cursor : page.cursor, QString() };
        if (page.phase != m_phase || page.phaseStart)
            enterPhase(page.phase, page.phaseStart);
    }

    // A re-read of live groups goes on even after the server's last page.
    const bool hasMore = page.hasMore || rereading;

    // A server that keeps saying hasMore without moving on must not keep us asking forever.
    // In offset mode a page re-read from the tie group's start may legitimately end where it
    // began; the anchored page that follows it then moves on.
    const bool advanced = after != before;
    // Re-reading a tie group behind the furthest change applied (after a restart or a drift)
    // moves forward without bringing anything new: that is progress, not a stalled server,
    // though not without end either.
    const bool catchingUp = offsetMode && !changes.isEmpty() && !isAfterHighWater(changes.last())
        && (before.isStart() || !m_requestAnchored
            || compareChange(after.cursor, after.id, before) > 0);
    if (catchingUp && hasMore && ++m_catchUpPages > MaxCatchUpPages) {
        fail(ErrorCategory::Protocol,
             QStringLiteral("the server's offset pages for \"%1\" keep repeating changes "
                            "already applied")
                 .arg(name()));
        return;
    }
    if (hasMore && (!advanced || (fresh == 0 && !catchingUp))) {
        const bool stuck = !advanced && (!offsetMode || m_requestAnchored);
        if (stuck || ++m_stalledPages >= MaxStalledPages) {
            fail(ErrorCategory::Protocol,
                 QStringLiteral("the server reports more changes for \"%1\" but its pages bring "
                                "nothing new (position \"%2\")")
                     .arg(name(), Identifier::printable(before.cursor)));
            return;
        }
    } else if (fresh > 0) {
        m_stalledPages = 0;
        m_catchUpPages = 0;
    }

    const qint64 done = m_stored.runDone + fresh;
    qint64 total = std::max(m_stored.runTotal, done);
    if (page.phaseStart && page.phaseTotal >= 0)
        total = std::max(page.phaseTotal, done);
    if (!hasMore)
        total = done;

    // A page that brings nothing new does not move the committed position: should the server
    // go on like that until the entity fails, the next start resumes from the last position
    // that brought changes, not from one the server made up meanwhile.
    const bool progressed = fresh > 0 || !hasMore;
    // In cursor mode the next page's position is known now: ask for it before writing this
    // one, so that the server and the network work while this thread writes. Should the
    // write fail, fail() cancels the request; it is only applied after this write. Pages
    // asked for ahead are bounded in bytes (PrefetchBudget): past that, the next page is
    // asked for after this write.
    const bool ahead = !offsetMode && hasMore && progressed;
    bool prefetch = ahead;
    if (ahead && m_prefetch && m_prefetchSince == after.cursor) {
        // Asked for already, when this page announced its end.
        m_request = std::exchange(m_prefetch, nullptr);
        m_pageSentMs = m_prefetchSentMs;
        m_pageLimit = m_prefetchLimit;
        if (m_request->isFinished()) {
            QMetaObject::invokeMethod(
                this, [this, request = m_request.data()] { pageFinished(request); },
                Qt::QueuedConnection);
        }
    } else if (ahead) {
        dropPrefetch();
        prefetch = mayAskAhead();
        if (prefetch) {
            ChangesQuery query;
            query.mode = PagingMode::Cursor;
            query.since = after.cursor;
            sendPage(query);
        }
    } else {
        dropPrefetch();
    }
    if (progressed || count > 0) {
        SyncError error;
        if (!m_store->applyPhase(m_stored.schema, page, progressed ? after : m_persistedRun, done,
                                 total, &error)) {
            fail(error.category, error.message);
            return;
        }
    }
    // A batch lasts from its request, or from the previous batch's write when it was fetched
    // meanwhile, to its own write: the time the sync spends per batch.
    const qint64 writtenMs = m_progressClock.elapsed();
    adaptBatchSize(asked, count, writtenMs - std::max(sentMs, m_batchDoneMs));
    m_batchDoneMs = writtenMs;
    if (progressed)
        m_persistedRun = after;
    m_stored.run = after;
    m_groupPosition = after;
    m_stored.runDone = done;
    m_stored.runTotal = total;
    if (offsetMode && !changes.isEmpty() && isAfterHighWater(changes.last()))
        m_highWater = SyncPosition { changes.last().changedAt, changes.last().id };

    if (!hasMore) {
        complete();
        return;
    }
    // More changes than counted arrived (the data changed meanwhile): count again.
    if (done >= m_stored.runTotal && !m_recount)
        requestCount(Step::Recount);
    reportProgress(false);
    if (!prefetch)
        requestPage();
}

void EntityJob::enterPhase(SyncPhase phase, bool fromItsStart)
{
    // A phase counts its own records: its progress starts over.
    if (fromItsStart) {
        m_stored.runDone = 0;
        m_stored.runTotal = 0;
    }
    if (std::exchange(m_phase, phase) != phase) {
        qCInfo(lcEngine) << "entity" << name() << "enters phase" << syncPhaseName(phase);
        Q_EMIT phaseChanged(name(), phase);
    }
}

void EntityJob::complete()
{
    cancelRequests();
    SyncError error;
    const QDateTime now = QDateTime::currentDateTimeUtc();
    if (!m_store->completeRun(name(), m_stored.run, m_stored.runDone, m_stored.runTotal, now,
                              &error)) {
        fail(error.category, error.message);
        return;
    }
    m_stored.committed = m_stored.run;
    m_stored.runActive = false;
    m_stored.lastCompletedAt = now;
    qCInfo(lcEngine) << "entity" << name() << "completed:" << m_stored.runDone << "changes";
    reportProgress(true);
    setState(SyncState::Completed);
    closeRun(JobResult::Completed);
}

bool EntityJob::handleRequestError(const SyncError &error, Step step)
{
    if (error.category == ErrorCategory::Aborted)
        return false;
    if (!error.isTransient()) {
        fail(error.category, error.message);
        return false;
    }
    if (!m_retryClock.isValid())
        m_retryClock.start();
    ++m_attempt;
    const int exponent = std::min(m_attempt - 1, 16);
    const qint64 backoff = std::min<qint64>(m_settings.retryMaxDelayMs,
                                            qint64(m_settings.retryBaseDelayMs) << exponent);
    // Full jitter on the upper half keeps many clients from retrying in step.
    qint64 delay = backoff / 2 + QRandomGenerator::global()->bounded(backoff / 2 + 1);
    if (error.retryAfterSeconds >= 0)
        delay = std::max<qint64>(delay, qint64(error.retryAfterSeconds) * 1000);
    if (m_retryClock.elapsed() + delay > m_settings.retryGiveUpMs) {
        fail(error.category,
             QStringLiteral("gave up after %1 attempts in %2 s: %3")
                 .arg(m_attempt)
                 .arg(m_retryClock.elapsed() / 1000.0, 0, 'f', 1)
                 .arg(error.message));
        return false;
    }
    qCInfo(lcEngine) << "entity" << name() << "retries in" << delay << "ms (attempt" << m_attempt
                     << "):" << error.message;
    m_retryStep = step;
    m_retryTimer.start(int(delay));
    Q_EMIT retrying(name(), m_attempt, int(delay), error.message);
    return true;
}

void EntityJob::retryStep()
{
    if (!isWorking())
        return;
    if (m_retryStep == Step::Page)
        requestPage();
    else if (m_retryStep == Step::Edge)
        requestEdge();
    else if (m_retryStep == Step::Push)
        pushNext();
    else
        requestCount(m_retryStep);
}

void EntityJob::resetRetry()
{
    m_retryTimer.stop();
    m_attempt = 0;
    m_retryClock.invalidate();
}

void EntityJob::cancelRequests()
{
    dropPrefetch();
    for (const qint64 bytes : std::as_const(m_heldPages))
        m_prefetchBudget->add(-bytes);
    m_heldPages.clear();
    for (QPointer<SourceReply> *slot : { &m_request, &m_recount, &m_push }) {
        if (SourceReply *request = slot->data()) {
            request->disconnect(this);
            request->abort();
            request->deleteLater();
        }
        *slot = nullptr;
    }
}

void EntityJob::reportProgress(bool force)
{
    const qint64 now = m_progressClock.elapsed();
    const qint64 wait
        = m_lastProgressMs < 0 ? 0 : m_lastProgressMs + m_settings.progressIntervalMs - now;
    if (!force && wait > 0) {
        // Held back, not dropped: should no other report follow (a page that takes long),
        // this one still arrives at the end of the interval.
        if (!m_trailingProgress.isActive())
            m_trailingProgress.start(int(wait));
        return;
    }
    m_trailingProgress.stop();
    m_lastProgressMs = now;
    if (m_phase == SyncPhase::Push)
        Q_EMIT progressChanged(name(), m_pushDone, m_pushTotal, m_runBytes);
    else
        Q_EMIT progressChanged(name(), m_stored.runDone, m_stored.runTotal, m_runBytes);
}

} // namespace BatchSync
