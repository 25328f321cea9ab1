#pragma once

#include <QObject>

/*!
    \file reachability.h
    Whether the network is there, as the platform tells (QNetworkInformation). Lives in the
    thread that creates it (the engine's, typically the GUI thread).
*/

namespace BatchSync {

/*!
    Emits networkBack() when the platform's reachability goes from disconnected to anything
    else. A machine without a reachability backend (no NetworkManager plugin, no GLib)
    never emits it: isAvailable() is false, and callers find the network by trying.
*/
class NetworkReachability final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(NetworkReachability)

public:
    explicit NetworkReachability(QObject *parent = nullptr);
    ~NetworkReachability() override;

    bool isAvailable() const { return m_available; }
    bool isOnline() const { return m_online; }

Q_SIGNALS:
    void networkBack();

private:
    bool m_available = false;
    bool m_online = true;
};

} // namespace BatchSync
