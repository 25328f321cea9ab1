// The push half of EntityJob: the run's pending local changes go to the source in batches
// before the pull, pipelined (see startPush()).
#include "common/logging.h"
#include "entityjob.h"
#include "sources/source.h"

#include <algorithm>

namespace BatchSync {

bool EntityJob::shouldPush() const
{
    return m_settings.direction != SyncDirection::Pull
        && m_source->capabilities().testFlag(Source::Capability::Push) && m_stored.schema.writable;
}

void EntityJob::startPush()
{
    SyncError error;
    const qint64 pending = m_store->pendingCount(name(), &error);
    if (pending < 0) {
        fail(error.category, error.message);
        return;
    }
    m_pushOutcome = PushOutcome();
    m_pushAhead.clear();
    m_pushAnswered.clear();
    m_pushDone = 0;
    m_pushTotal = pending;
    m_pushLimit = m_settings.batchSize;
    if (pending == 0) {
        finishPush();
        return;
    }
    m_clientId = m_store->clientId(&error);
    if (m_clientId.isEmpty()) {
        fail(error.category, error.message);
        return;
    }
    if (!persistState(SyncState::Running))
        return;
    qCInfo(lcEngine) << "entity" << name() << "pushes" << pending << "local changes";
    enterPhase(SyncPhase::Push, false);
    setState(SyncState::Running);
    reportProgress(true);
    pushNext();
}

void EntityJob::pushNext()
{
    // From the first pending change again: those answered are gone, and those written again
    // or sent once more (client wins) meanwhile come back.
    m_pushAhead.clear();
    SyncError error;
    if (!m_store->takePushBatch(m_stored.schema, m_pushLimit, &m_pushBatch, &error)) {
        fail(error.category, error.message);
        return;
    }
    if (m_pushBatch.isEmpty()) {
        finishPush();
        return;
    }
    sendPushBatch();
}

void EntityJob::sendPushBatch()
{
    m_pushTotal = std::max(m_pushTotal, m_pushDone + m_pushBatch.size());
    SourceReply *request = m_source->pushChanges(m_stored.schema, m_clientId, m_pushBatch);
    m_push = request;
    connect(request, &SourceReply::finished, this, &EntityJob::onPushFinished);
    connect(request, &SourceReply::sent, this, &EntityJob::onPushSent);
}

void EntityJob::onPushSent()
{
    // While the server works on the batch just sent: the answer before it applied, the next
    // batch taken (and frozen). Not before: the network thread takes the body from this one.
    if (sender() != m_push.data() || !isWorking())
        return;
    if (!applyPushAnswer())
        return;
    SyncError error;
    if (m_pushAhead.isEmpty() && !m_pushBatch.isEmpty()
        && !m_store->takePushBatch(m_stored.schema, m_pushLimit, &m_pushAhead, &error,
                                   m_pushBatch.constLast().id)) {
        fail(error.category, error.message);
    }
}

void EntityJob::onPushFinished()
{
    auto *finished = qobject_cast<SourceReply *>(sender());
    if (!finished || finished != m_push.data())
        return;
    // The answer before this one first, should the source not have said sent().
    if (!applyPushAnswer())
        return;
    // A body the server finds too large is sent again in smaller batches, under the same
    // changeIds.
    if (finished->error().httpStatus == 413 && m_pushLimit > 1) {
        m_push = nullptr;
        finished->deleteLater();
        m_pushLimit = std::max(1, m_pushLimit / 2);
        qCInfo(lcEngine) << "entity" << name() << "pushes" << m_pushLimit
                         << "changes per request: the server refused a larger body";
        pushNext();
        return;
    }
    SourceReply *request = takeFinished(m_push, Step::Push, finished);
    if (!request)
        return;
    m_runBytes += request->bytesReceived();
    m_pushAnswered = std::move(m_pushBatch);
    m_pushResults = request->pushResults();
    if (m_pushAhead.isEmpty()) {
        if (applyPushAnswer())
            pushNext();
        return;
    }
    // The next batch goes out before this answer is applied, so that the server works on it
    // meanwhile: its changes were frozen before, and answers are still applied in order.
    m_pushBatch = std::move(m_pushAhead);
    m_pushAhead.clear();
    sendPushBatch();
}

bool EntityJob::applyPushAnswer()
{
    if (m_pushAnswered.isEmpty())
        return true;
    PushOutcome outcome;
    SyncError error;
    if (!m_store->applyPushResults(m_stored.schema, m_settings.conflictPolicyFor(name()),
                                   m_pushAnswered, m_pushResults, &outcome, &error)) {
        fail(error.category, error.message);
        return false;
    }
    m_pushOutcome.applied += outcome.applied;
    m_pushOutcome.conflicts += outcome.conflicts;
    m_pushOutcome.rejected += outcome.rejected;
    m_pushOutcome.resent += outcome.resent;
    // Changes sent again (client wins) count once more.
    m_pushDone += m_pushAnswered.size();
    m_pushTotal = std::max(m_pushTotal + outcome.resent, m_pushDone);
    m_pushAnswered.clear();
    m_pushResults.clear();
    reportProgress(false);
    return true;
}

void EntityJob::finishPush()
{
    const qint64 sent = m_pushOutcome.applied + m_pushOutcome.conflicts + m_pushOutcome.rejected;
    if (sent > 0) {
        qCInfo(lcEngine) << "entity" << name() << "pushed" << sent
                         << "changes:" << m_pushOutcome.applied << "applied,"
                         << m_pushOutcome.conflicts << "conflicts," << m_pushOutcome.rejected
                         << "rejected";
        reportProgress(true);
        Q_EMIT pushed(name(), m_pushOutcome.applied, m_pushOutcome.conflicts,
                      m_pushOutcome.rejected);
    }
    if (m_settings.direction != SyncDirection::Push) {
        beginPull();
        return;
    }
    // Only a push: the pull's run, if one is open, stays as it was for a later pull.
    if (!persistState(SyncState::Completed))
        return;
    enterPhase(SyncPhase::Changes, false);
    setState(SyncState::Completed);
    closeRun(JobResult::Completed);
}

} // namespace BatchSync
