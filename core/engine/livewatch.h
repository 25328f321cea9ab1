#pragma once

#include "common/syncsettings.h"
#include "common/types.h"

#include <QHash>
#include <QObject>
#include <QPointer>
#include <QStringList>
#include <QTimer>
#include <functional>

namespace BatchSync {

class Source;
class SourceReply;

/*!
    \internal
    Live sync on the engine's worker thread: while the engine is idle, one wait request
    (Source::waitForChanges) stays open for the entities the engine follows; when it names
    entities, wake() asks for their sync. A source that cannot wait (a v1 server, an OData
    service) is synced on a timer instead; a failing endpoint is asked again after a capped,
    jittered backoff (Retry-After respected), and nothing spins meanwhile.
*/
class LiveWatch final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(LiveWatch)

public:
    /*! The cursors to wait from: entity → the cursor of its last completed sync. */
    using Cursors = std::function<QHash<QString, QString>()>;

    /*! How long one wait request is held by the server, in seconds. */
    static constexpr int WaitSeconds = 30;
    /*! The longest pause before asking a failing endpoint again. */
    static constexpr int MaxBackoffMs = 60000;

    LiveWatch(Source *source, Cursors cursors, const SyncSettings &settings,
              QObject *parent = nullptr);
    ~LiveWatch() override;

    void setEnabled(bool enabled);
    bool isEnabled() const { return m_enabled; }

    /*! The engine has nothing to do: wait for news (or for the timer). */
    void engineIdle();
    /*! The engine works: the wait in flight is dropped (the sync reads the news anyway). */
    void engineBusy();
    /*! The network came back: a wait held off by a backoff is asked at once. */
    void networkBack();

Q_SIGNALS:
    /*! Sync \a entities (empty: every entity). */
    void wake(const QStringList &entities);
    /*! The live state changed; \a entities for Woken, \a message for Offline. */
    void stateChanged(BatchSync::LiveState state, const QStringList &entities,
                      const QString &message);

private:
    void waitNow();
    void onWaitFinished();
    void setState(LiveState state, const QStringList &entities = {},
                  const QString &message = QString());
    void stopWaiting();

    Source *m_source;
    Cursors m_cursors;
    SyncSettings m_settings;
    QPointer<SourceReply> m_wait;
    QTimer m_retry; // backoff after a failed wait, or the timer of a source that cannot wait
    QHash<QString, QString> m_wokenAt; // entity → the cursor its last wake was sent with
    LiveState m_state = LiveState::Off;
    int m_failures = 0;
    bool m_enabled = false;
    bool m_idle = false;
    bool m_timerOnly = false; // the source cannot wait: sync on the timer
    bool m_syncedAll = false; // woke every entity for want of anything to follow
};

} // namespace BatchSync
