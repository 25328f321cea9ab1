#include "waitroom.h"

#include "common/logging.h"

#include <QElapsedTimer>
#include <QHttpServerResponder>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QTcpSocket>
#include <QTimer>
#include <algorithm>

namespace BatchSync {

struct WaitRoom::Waiter
{
    Wait wait;
    std::unique_ptr<QHttpServerResponder> responder;
    QPointer<QTcpSocket> socket;
    QTimer deadline;
    QMetaObject::Connection gone;
    QElapsedTimer held;
};

WaitRoom::WaitRoom(Check check, Hold hold, QObject *parent)
    : QObject(parent)
    , m_check(std::move(check))
    , m_hold(std::move(hold))
    , m_recheck(new QTimer(this))
{
    m_recheck->setSingleShot(true);
    connect(m_recheck, &QTimer::timeout, this, &WaitRoom::recheck);
}

WaitRoom::~WaitRoom()
{
    dropAll();
}

void WaitRoom::dropAll()
{
    for (Waiter *waiter : waiters())
        drop(waiter);
}

bool WaitRoom::hold(const Wait &wait, QHttpServerResponder &&responder)
{
    QTcpSocket *socket = responder.socket();
    if (!socket || !m_hold(socket, true))
        return false;
    auto waiter = std::make_unique<Waiter>();
    Waiter *raw = waiter.get();
    waiter->wait = wait;
    waiter->socket = socket;
    waiter->responder = std::make_unique<QHttpServerResponder>(std::move(responder));
    waiter->held.start();
    waiter->deadline.setSingleShot(true);
    waiter->deadline.setInterval(wait.timeoutMs);
    connect(&waiter->deadline, &QTimer::timeout, this, [this, raw] { finish(raw, QStringList()); });
    // A client that goes away is dropped: Qt deletes its socket (and request) soon after.
    waiter->gone
        = connect(socket, &QAbstractSocket::disconnected, this, [this, raw] { drop(raw); });
    waiter->deadline.start();
    m_waiters.push_back(std::move(waiter));
    return true;
}

void WaitRoom::entityChanged(const QString &entity)
{
    m_pending.insert(entity);
    if (!m_checkQueued) {
        m_checkQueued = true;
        QMetaObject::invokeMethod(this, &WaitRoom::checkPending, Qt::QueuedConnection);
    }
}

void WaitRoom::releaseAll()
{
    for (Waiter *waiter : waiters())
        finish(waiter, m_check(waiter->wait).value_or(QStringList()));
}

std::vector<WaitRoom::Waiter *> WaitRoom::waiters() const
{
    std::vector<Waiter *> list;
    list.reserve(m_waiters.size());
    for (const std::unique_ptr<Waiter> &waiter : m_waiters)
        list.push_back(waiter.get());
    return list;
}

void WaitRoom::setPollInterval(int milliseconds)
{
    if (milliseconds <= 0) {
        delete m_poll;
        m_poll = nullptr;
        return;
    }
    if (!m_poll) {
        m_poll = new QTimer(this);
        connect(m_poll, &QTimer::timeout, this, [this] {
            if (m_waiters.empty())
                return;
            m_all = true;
            checkPending();
        });
    }
    m_poll->start(milliseconds);
}

void WaitRoom::checkPending()
{
    m_checkQueued = false;
    const QSet<QString> pending = std::exchange(m_pending, {});
    const bool all = std::exchange(m_all, false);
    bool missed = false;
    // finish() removes waiters: walk a copy of the list.
    for (Waiter *waiter : waiters()) {
        const bool follows
            = all || std::any_of(pending.cbegin(), pending.cend(), [waiter](const QString &entity) {
                  return waiter->wait.since.contains(entity);
              });
        if (!follows)
            continue;
        const std::optional<QStringList> changed = m_check(waiter->wait);
        if (!changed) {
            // The database failed: the client asks again after its backoff.
            finish(waiter, QStringList());
        } else if (!changed->isEmpty()) {
            finish(waiter, *changed);
        } else if (!all) {
            missed = true;
        }
    }
    if (missed && m_recheckWindowMs > 0) {
        // Told of a change that a waiter's check cannot read yet (or that is not its to
        // see): look again a few times, from the first notice on.
        if (!m_rechecking || !m_lagClock.isValid()) {
            m_lagClock.start();
            m_recheckDelayMs = 50;
        }
        m_lagging += pending;
        if (!m_recheck->isActive())
            scheduleRecheck();
    }
}

void WaitRoom::scheduleRecheck()
{
    if (m_lagClock.elapsed() >= m_recheckWindowMs) {
        m_lagging.clear();
        return;
    }
    m_recheck->start(m_recheckDelayMs);
    m_recheckDelayMs = std::min(1000, m_recheckDelayMs * 2);
}

void WaitRoom::recheck()
{
    m_pending += std::exchange(m_lagging, {});
    m_rechecking = true;
    checkPending();
    m_rechecking = false;
    if (!m_lagging.isEmpty() && !m_recheck->isActive())
        scheduleRecheck();
}

std::unique_ptr<WaitRoom::Waiter> WaitRoom::take(Waiter *waiter)
{
    const auto it = std::find_if(m_waiters.begin(), m_waiters.end(),
                                 [waiter](const auto &held) { return held.get() == waiter; });
    if (it == m_waiters.end())
        return nullptr;
    std::unique_ptr<Waiter> owned = std::move(*it);
    m_waiters.erase(it);
    QObject::disconnect(owned->gone);
    if (owned->socket)
        m_hold(owned->socket, false);
    return owned;
}

void WaitRoom::finish(Waiter *waiter, const QStringList &changed)
{
    const std::unique_ptr<Waiter> owned = take(waiter);
    if (!owned || !owned->socket || owned->socket->state() != QAbstractSocket::ConnectedState)
        return;
    qCDebug(lcServer) << "wait answered after" << owned->held.elapsed() << "ms:" << changed;
    answer(*owned->responder, changed, owned->wait.caller);
}

void WaitRoom::drop(Waiter *waiter)
{
    take(waiter);
}

void WaitRoom::answer(QHttpServerResponder &responder, const QStringList &changed,
                      const QString &caller)
{
    const QByteArray body = QJsonDocument(QJsonObject { { QStringLiteral("changed"),
                                                          QJsonArray::fromStringList(changed) } })
                                .toJson(QJsonDocument::Compact);
    responder.write(body, QByteArrayLiteral("application/json"));
    qCInfo(lcServer).noquote() << "GET /api/v1/wait 200" << body.size() << "bytes"
                               << (caller.isEmpty() ? QString()
                                                    : QStringLiteral("token=") + caller);
}

} // namespace BatchSync
