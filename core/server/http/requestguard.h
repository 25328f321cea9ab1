#pragma once

#include "server/syncserver.h"

#include <QByteArrayView>
#include <QObject>
#include <QTcpServer>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

/*!
    \file requestguard.h
    The screen in front of Qt's HTTP request parser: every connection's bytes pass it before
    Qt reads them, so that requests too big, too slow, malformed or carrying a body are refused
    (with a JSON error and "Connection: close") and never reach Qt's parser. See
    SyncServer::Limits for the rules. Internal to core/server; the server's thread only.
*/

QT_BEGIN_NAMESPACE
class QSslConfiguration;
QT_END_NAMESPACE

namespace BatchSync {

/*! Shared by a SyncServer's listening socket and all its connections. */
struct ServerScreen
{
    SyncServer::Limits limits;
    QObject *http = nullptr; // the QHttpServer: the receiver of Qt's readyRead connections
    std::shared_ptr<const QSslConfiguration> tls; // null: plain HTTP
    // For a push to an entity with a body over the limit: the status and message that come
    // before 413 (see Router::refuseLargePush), given the Authorization header's value.
    std::function<std::optional<std::pair<int, QString>>(const QString &entity,
                                                         QByteArrayView authorization)>
        refuseLargePush;
    qint64 refused = 0;
    qint64 timedOut = 0;
    int open = 0; // ordinary connections
    int waiting = 0; // connections held by GET /wait, outside open

    /*!
        Moves \a socket's connection out of the ordinary count into the held requests'
        (\a hold), or back; false when maxWaiting are held already or \a socket has no guard.
    */
    bool holdConnection(QObject *socket, bool hold);
};

/*!
    The listening socket: creates each connection's socket (a QSslSocket that starts the
    server's side of the TLS handshake when the screen has a TLS configuration) with a guard
    whose readyRead slot runs before Qt's, then hands the socket to the QHttpServer; past
    maxConnections it answers 503 itself.
*/
class GuardedTcpServer final : public QTcpServer
{
    Q_DISABLE_COPY_MOVE(GuardedTcpServer)

public:
    GuardedTcpServer(ServerScreen *screen, QObject *parent);

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    ServerScreen *m_screen;
};

} // namespace BatchSync
