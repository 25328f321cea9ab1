#include "livewatch.h"

#include "common/logging.h"
#include "sources/source.h"

#include <QRandomGenerator>
#include <algorithm>

namespace BatchSync {

LiveWatch::LiveWatch(Source *source, Cursors cursors, const SyncSettings &settings, QObject *parent)
    : QObject(parent)
    , m_source(source)
    , m_cursors(std::move(cursors))
    , m_settings(settings)
{
    m_retry.setSingleShot(true);
    connect(&m_retry, &QTimer::timeout, this, [this] {
        if (m_timerOnly || m_cursors().isEmpty())
            Q_EMIT wake(QStringList());
        else
            waitNow();
    });
    m_timerOnly = !m_source || !m_source->capabilities().testFlag(Source::Capability::Wait);
}

LiveWatch::~LiveWatch()
{
    stopWaiting();
}

void LiveWatch::setEnabled(bool enabled)
{
    if (enabled == m_enabled)
        return;
    m_enabled = enabled;
    if (!enabled) {
        stopWaiting();
        m_retry.stop();
        m_failures = 0;
        setState(LiveState::Off);
        return;
    }
    if (m_idle)
        engineIdle();
}

void LiveWatch::engineIdle()
{
    m_idle = true;
    if (!m_enabled || m_wait)
        return;
    if (m_timerOnly) {
        setState(LiveState::Timer);
        m_retry.start(m_settings.liveTimerSeconds * 1000);
        return;
    }
    // After a failure the backoff decides; otherwise ask at once.
    if (!m_retry.isActive())
        waitNow();
}

void LiveWatch::engineBusy()
{
    m_idle = false;
    stopWaiting();
    if (m_timerOnly)
        m_retry.stop();
}

void LiveWatch::networkBack()
{
    if (!m_enabled || !m_retry.isActive() || m_state != LiveState::Offline)
        return;
    m_retry.stop();
    m_failures = 0;
    waitNow();
}

void LiveWatch::stopWaiting()
{
    if (!m_wait)
        return;
    m_wait->disconnect(this);
    m_wait->abort();
    m_wait->deleteLater();
    m_wait = nullptr;
}

void LiveWatch::waitNow()
{
    if (!m_enabled || !m_idle || m_wait || !m_source)
        return;
    const QHash<QString, QString> since = m_cursors();
    if (since.isEmpty()) {
        // Nothing to follow yet (no entity has completed a sync): sync everything once, then
        // leave it to the timer, so that an endpoint that fails every sync is not asked in a
        // loop.
        if (!m_syncedAll) {
            m_syncedAll = true;
            Q_EMIT wake(QStringList());
            return;
        }
        setState(LiveState::Timer);
        m_retry.start(m_settings.liveTimerSeconds * 1000);
        return;
    }
    m_wait = m_source->waitForChanges(since, WaitSeconds);
    connect(m_wait, &SourceReply::finished, this, &LiveWatch::onWaitFinished);
    setState(LiveState::Waiting);
}

void LiveWatch::onWaitFinished()
{
    SourceReply *reply = m_wait;
    m_wait = nullptr;
    if (!reply)
        return;
    reply->deleteLater();
    const SyncError error = reply->error();
    if (error.category == ErrorCategory::Aborted)
        return;
    if (error.isError() && !error.isTransient()) {
        // An endpoint that does not know the question (a v1 server: 404), or refuses it: the
        // timer keeps the data in step instead.
        qCInfo(lcEngine) << "live sync: the endpoint cannot wait for changes (" << error.message
                         << "); syncing every" << m_settings.liveTimerSeconds << "s instead";
        m_timerOnly = true;
        setState(LiveState::Timer, {}, error.message);
        m_retry.start(m_settings.liveTimerSeconds * 1000);
        return;
    }
    if (error.isError()) {
        ++m_failures;
        const int exponent = std::min(m_failures - 1, 16);
        const qint64 backoff = std::min<qint64>(
            MaxBackoffMs, qint64(std::max(1, m_settings.retryBaseDelayMs)) << exponent);
        qint64 delay = backoff / 2 + QRandomGenerator::global()->bounded(backoff / 2 + 1);
        if (error.retryAfterSeconds >= 0)
            delay = std::max<qint64>(delay, qint64(error.retryAfterSeconds) * 1000);
        delay = std::min<qint64>(delay, MaxBackoffMs);
        qCInfo(lcEngine) << "live sync: waiting failed (" << error.message << "); again in" << delay
                         << "ms";
        setState(LiveState::Offline, {}, error.message);
        m_retry.start(int(delay));
        return;
    }
    m_failures = 0;
    m_syncedAll = false;
    const QStringList changed = reply->changedEntities();
    if (changed.isEmpty()) {
        waitNow();
        return;
    }
    // News for an entity whose cursor did not move since its last wake: its sync did not
    // reach the change (it failed, or the server disagrees): pause before asking again.
    const QHash<QString, QString> cursors = m_cursors();
    const bool stuck = std::all_of(changed.cbegin(), changed.cend(), [&](const QString &entity) {
        return m_wokenAt.contains(entity) && m_wokenAt.value(entity) == cursors.value(entity);
    });
    for (const QString &entity : changed)
        m_wokenAt.insert(entity, cursors.value(entity));
    if (stuck) {
        ++m_failures;
        setState(LiveState::Offline, {},
                 QStringLiteral("the server reports changes that a sync does not bring"));
        m_retry.start(std::min(MaxBackoffMs, 1000 << std::min(m_failures, 6)));
        return;
    }
    setState(LiveState::Woken, changed);
    Q_EMIT wake(changed);
}

void LiveWatch::setState(LiveState state, const QStringList &entities, const QString &message)
{
    if (state == m_state && state != LiveState::Woken && state != LiveState::Offline)
        return;
    m_state = state;
    Q_EMIT stateChanged(state, entities, message);
}

} // namespace BatchSync
