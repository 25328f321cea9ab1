#pragma once

#include "server/access/rowfilter.h"

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QSet>
#include <QString>
#include <QStringList>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

QT_BEGIN_NAMESPACE
class QHttpServerResponder;
class QTimer;
QT_END_NAMESPACE

/*!
    \file waitroom.h
    The held requests of GET /api/v1/wait (protocol v1.1, live sync). Internal to
    core/server; the server's thread only.
*/

namespace BatchSync {

/*! What one held request waits for. */
struct Wait
{
    QHash<QString, QString> since; //!< entity → the client's committed cursor
    QHash<QString, RowFilter> rows; //!< entity → the caller's rows (absent: every record)
    int timeoutMs = 30000;
    QString caller; //!< the token's name for logs, when the server has rules
};

/*!
    Holds the requests of GET /wait that found nothing new, without blocking the server's
    thread: each is answered {"changed": [...]} as soon as one of its entities has a change
    after its cursor, or {"changed": []} when its time is up. entityChanged() says when to
    look again; with no such notice (a backend that cannot tell), setPollInterval().

    Each held request's connection is held by the request guard outside the ordinary
    connection count (see SyncServer::Limits::maxWaiting). A request whose client goes away
    is dropped without an answer.
*/
class WaitRoom final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(WaitRoom)

public:
    /*! The entities of \a wait that have changed after their cursors; nullopt on failure. */
    using Check = std::function<std::optional<QStringList>(const Wait &wait)>;
    /*! Moves a connection out of (true) or back into (false) the ordinary count. */
    using Hold = std::function<bool(QObject *socket, bool hold)>;

    WaitRoom(Check check, Hold hold, QObject *parent = nullptr);
    ~WaitRoom() override;

    /*!
        Holds \a responder's request until something changes for \a wait or its time is
        up. False (and \a responder untouched) when the guard will not hold the connection.
    */
    bool hold(const Wait &wait, QHttpServerResponder &&responder);

    /*!
        Something may have changed for \a entity: the waiters that follow it are checked
        once control returns to the event loop (so a writer may call this mid-transaction).
    */
    void entityChanged(const QString &entity);

    /*!
        Answers every waiter now, with what its check finds or {"changed": []}, so that each
        client asks again (the access rules changed, say).
    */
    void releaseAll();

    /*! Drops every waiter unanswered (the server is closing). */
    void dropAll();

    /*!
        After a notice whose check found nothing for a waiter, looks again a few times over
        \a milliseconds (50 ms, doubling, at most a second apart): for a backend whose changes
        may become readable only later (PostgreSQL's safe watermark); 0: never.
    */
    void setRecheckWindow(int milliseconds) { m_recheckWindowMs = milliseconds; }

    /*! Checks every waiter this often, for backends that cannot tell of changes; 0: never. */
    void setPollInterval(int milliseconds);

    /*! Requests held now. */
    int held() const { return int(m_waiters.size()); }

    /*! Writes {"changed": [...]} and the log line of a wait request. */
    static void answer(QHttpServerResponder &responder, const QStringList &changed,
                       const QString &caller);

private:
    struct Waiter;

    void checkPending();
    std::vector<Waiter *> waiters() const;
    /*! Removes \a waiter from the room, its connection back in the ordinary count. */
    std::unique_ptr<Waiter> take(Waiter *waiter);
    void finish(Waiter *waiter, const QStringList &changed);
    void drop(Waiter *waiter);

    Check m_check;
    Hold m_hold;
    std::vector<std::unique_ptr<Waiter>> m_waiters;
    QSet<QString> m_pending; // entities to look at again
    bool m_checkQueued = false;
    bool m_all = false; // look at every waiter
    QTimer *m_poll = nullptr;
    int m_recheckWindowMs = 0;
    QSet<QString> m_lagging; // entities told of whose news some waiter did not see yet
    QTimer *m_recheck; // child
    QElapsedTimer m_lagClock; // since the notice that began the current rechecks
    int m_recheckDelayMs = 50;
    bool m_rechecking = false;
    void scheduleRecheck();
    void recheck();
};

} // namespace BatchSync
