#include "demosession.h"

#include "server/syncserver.h"

namespace BatchSync::App {

DemoSession::DemoSession(const QString &databasePath, QObject *parent)
    : DemoEndpoint(parent)
    , m_databasePath(databasePath)
{
}

DemoSession::~DemoSession() = default;

void DemoSession::start()
{
    if (m_server)
        return;
    m_server = std::make_unique<EmbeddedServer>();
    connect(m_server.get(), &EmbeddedServer::ready, this, &DemoEndpoint::ready);
    connect(m_server.get(), &EmbeddedServer::failed, this, &DemoSession::onFailed);
    m_server->setPageDelay(m_pageDelayMs);
    m_server->start(m_databasePath, true, m_token);
}

void DemoSession::stop()
{
    m_server.reset();
}

QUrl DemoSession::baseUrl() const
{
    return m_server ? m_server->baseUrl() : QUrl();
}

void DemoSession::onFailed(const QString &message)
{
    // Not deleted here: it is the sender of this signal. A later start() tries again.
    m_server.release()->deleteLater();
    Q_EMIT failed(message);
}

} // namespace BatchSync::App
