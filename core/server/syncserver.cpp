#include "syncserver.h"

#include "common/logging.h"
#include "server/access/authrules.h"
#include "server/backend/pgserverstore.h"
#include "server/backend/serverstore.h"
#include "server/http/requestguard.h"
#include "server/http/router.h"

#include <QAtomicInteger>
#include <QHttpServer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QSslConfiguration>

namespace BatchSync {

bool SyncServer::constantTimeEquals(QByteArrayView given, QByteArrayView expected)
{
    // Takes time that depends only on the lengths, never on where the values first differ.
    const qsizetype size = expected.size();
    const qsizetype givenSize = given.size();
    volatile unsigned difference = givenSize == size ? 0u : 1u;
    for (qsizetype i = 0; i < size; ++i) {
        const uchar g = i < givenSize ? uchar(given[i]) : uchar(0);
        difference = difference | unsigned(g ^ uchar(expected[i]));
    }
    return difference == 0;
}

SyncServer::SyncServer(QObject *parent)
    : QObject(parent)
    , m_screen(std::make_unique<ServerScreen>())
    , m_router(std::make_unique<Router>(this))
    , m_http(std::make_unique<QHttpServer>())
{
    m_screen->http = m_http.get();
    Router *router = m_router.get();
    m_screen->refuseLargePush = [router](const QString &entity, QByteArrayView authorization) {
        return router->refuseLargePush(entity, authorization);
    };
    ServerScreen *screen = m_screen.get();
    m_router->setConnectionHold(
        [screen](QObject *socket, bool hold) { return screen->holdConnection(socket, hold); });
    m_router->install(m_http.get());
}

void SyncServer::setLimits(const Limits &limits)
{
    Limits checked = limits;
    checked.maxConnections = qMax(1, checked.maxConnections);
    checked.maxRequestLineBytes = qMax(64, checked.maxRequestLineBytes);
    checked.maxHeadBytes = qMax(checked.maxRequestLineBytes, checked.maxHeadBytes);
    checked.maxHeaderFields = qMax(1, checked.maxHeaderFields);
    checked.requestTimeoutMs = qMax(1, checked.requestTimeoutMs);
    checked.idleTimeoutMs = qMax(1, checked.idleTimeoutMs);
    checked.maxWaiting = qMax(0, checked.maxWaiting);
    // Qt keeps a request's bytes in the socket's buffer until the request is whole.
    checked.readBufferBytes = qMax(2 * checked.maxHeadBytes, checked.readBufferBytes);
    m_screen->limits = checked;
}

SyncServer::Limits SyncServer::limits() const
{
    return m_screen->limits;
}

qint64 SyncServer::requestsServed() const
{
    return m_router->requestsServed() + m_screen->refused;
}

qint64 SyncServer::changesServed() const
{
    return m_router->changesServed();
}

qint64 SyncServer::requestsRefused() const
{
    return m_screen->refused;
}

qint64 SyncServer::connectionsTimedOut() const
{
    return m_screen->timedOut;
}

int SyncServer::openConnections() const
{
    return m_screen->open;
}

int SyncServer::waitsHeld() const
{
    return m_router->waitsHeld();
}

SyncServer::~SyncServer()
{
    // Held waits first, then connections: no request may reach a store that is gone.
    m_router->dropWaits();
    m_http.reset();
    m_sqliteStore = nullptr;
    m_backend.reset();
    m_screen.reset();
}

bool SyncServer::open(const QString &databasePath, QString *error)
{
    static QAtomicInteger<quint64> connections;
    auto store = std::make_unique<ServerStore>(
        databasePath, QStringLiteral("batchsync-server-%1").arg(connections.fetchAndAddRelaxed(1)));
    if (!store->open(error))
        return false;
    ServerStore *sqlite = store.get();
    setBackend(std::move(store));
    m_sqliteStore = sqlite;
    return true;
}

bool SyncServer::openPostgres(const QString &connectionString, QString *error)
{
    static QAtomicInteger<quint64> connections;
    auto store = std::make_unique<PgServerStore>(
        connectionString,
        QStringLiteral("batchsync-server-pg-%1").arg(connections.fetchAndAddRelaxed(1)));
    if (!store->open(error))
        return false;
    setBackend(std::move(store));
    return true;
}

void SyncServer::setBackend(std::unique_ptr<ServerBackend> backend)
{
    m_sqliteStore = nullptr;
    m_backend = std::move(backend);
    m_router->watch(m_backend.get());
}

bool SyncServer::setAccessRules(const AccessRules &rules, QString *error)
{
    Q_UNUSED(error);
    m_router->setAccessRules(rules);
    return true;
}

void SyncServer::setToken(const QString &token)
{
    m_router->setToken(token);
}

void SyncServer::setTlsConfiguration(const QSslConfiguration &configuration)
{
    // Not QAbstractHttpServer::sslSetup(): it serves only the sockets of QHttpServer's own
    // listen(), whose connections would bypass the screen. Our listening socket does the
    // handshake itself (GuardedTcpServer).
    m_screen->tls = std::make_shared<QSslConfiguration>(configuration);
}

bool SyncServer::isTls() const
{
    return m_screen->tls != nullptr;
}

quint16 SyncServer::listen(const QHostAddress &address, quint16 port)
{
    // Our own QTcpServer, so that a failure comes with its reason.
    auto *tcp = new GuardedTcpServer(m_screen.get(), m_http.get());
    if (!tcp->listen(address, port)) {
        m_errorString = tcp->errorString();
        qCDebug(lcServer).noquote()
            << "cannot listen on" << address.toString() << port << ":" << m_errorString;
        delete tcp;
        return 0;
    }
    m_http->bind(tcp);
    m_errorString.clear();
    m_address = address;
    m_port = tcp->serverPort();
    qCDebug(lcServer) << "listening on" << baseUrl();
    return m_port;
}

void SyncServer::closeConnections()
{
    m_router->dropWaits();
    const QList<QTcpServer *> servers
        = m_http->findChildren<QTcpServer *>(QString(), Qt::FindDirectChildrenOnly);
    for (QTcpServer *tcp : servers) {
        tcp->close();
        const QList<QTcpSocket *> sockets = tcp->findChildren<QTcpSocket *>();
        for (QTcpSocket *socket : sockets)
            socket->abort();
        tcp->deleteLater();
    }
}

QUrl SyncServer::baseUrl() const
{
    if (m_port == 0)
        return QUrl();
    QUrl url;
    url.setScheme(isTls() ? QStringLiteral("https") : QStringLiteral("http"));
    url.setHost(m_address.toString());
    url.setPort(m_port);
    url.setPath(QStringLiteral("/api/v1"));
    return url;
}

} // namespace BatchSync
