#include "throttledlink.h"

#include <QTcpServer>
#include <QTcpSocket>
#include <algorithm>

namespace BatchSync::Bench {

ThrottledLink::ThrottledLink(quint16 serverPort, double bytesPerSecond)
    : m_serverPort(serverPort)
    , m_bytesPerSecond(bytesPerSecond)
{
}

ThrottledLink::~ThrottledLink()
{
    if (m_thread.isRunning()) {
        QMetaObject::invokeMethod(
            this,
            [this] {
                for (const auto &pipe : m_pipes)
                    closePipe(pipe.get());
                m_pipes.clear();
                delete m_server;
                delete m_timer;
                m_server = nullptr;
                m_timer = nullptr;
                moveToThread(m_thread.thread());
            },
            Qt::BlockingQueuedConnection);
        m_thread.quit();
        m_thread.wait();
    }
}

quint16 ThrottledLink::start()
{
    moveToThread(&m_thread);
    m_thread.start();
    quint16 port = 0;
    QMetaObject::invokeMethod(
        this, [this, &port] { port = listen(); }, Qt::BlockingQueuedConnection);
    return port;
}

quint16 ThrottledLink::listen()
{
    m_server = new QTcpServer;
    connect(m_server, &QTcpServer::newConnection, this, &ThrottledLink::accept);
    if (!m_server->listen(QHostAddress::LocalHost, 0))
        return 0;
    m_timer = new QTimer;
    m_timer->setTimerType(Qt::PreciseTimer);
    m_timer->setInterval(2);
    connect(m_timer, &QTimer::timeout, this, &ThrottledLink::tick);
    m_clock.start();
    m_lastTickNs = m_clock.nsecsElapsed();
    m_timer->start();
    return m_server->serverPort();
}

void ThrottledLink::accept()
{
    while (QTcpSocket *client = m_server->nextPendingConnection()) {
        auto pipe = std::make_unique<Pipe>();
        Pipe *p = pipe.get();
        p->client = client;
        p->upstream = new QTcpSocket;
        // Requests go through at once; only the way back is slow.
        connect(client, &QTcpSocket::readyRead, this, [p] {
            if (p->upstream)
                p->upstream->write(p->client->readAll());
        });
        connect(p->upstream, &QTcpSocket::connected, this, [p] {
            if (p->client && p->client->bytesAvailable() > 0)
                p->upstream->write(p->client->readAll());
        });
        connect(p->upstream, &QTcpSocket::readyRead, this,
                [p] { p->pending += p->upstream->readAll(); });
        connect(p->upstream, &QTcpSocket::disconnected, this, [p] { p->upstreamClosed = true; });
        connect(p->upstream, &QTcpSocket::errorOccurred, this, [p] { p->upstreamClosed = true; });
        connect(client, &QTcpSocket::disconnected, this, [this, p] { closePipe(p); });
        p->upstream->connectToHost(QHostAddress::LocalHost, m_serverPort);
        m_pipes.push_back(std::move(pipe));
    }
}

void ThrottledLink::tick()
{
    const qint64 now = m_clock.nsecsElapsed();
    // At most 20 ms of bytes at once: a link does not save up what it did not use.
    m_allowance = std::min(m_allowance + m_bytesPerSecond * double(now - m_lastTickNs) / 1e9,
                           m_bytesPerSecond * 0.02);
    m_lastTickNs = now;
    // The link's bytes are shared evenly among the connections that have some waiting.
    qsizetype waiting = 0;
    for (const auto &pipe : m_pipes) {
        if (pipe->client && !pipe->pending.isEmpty())
            ++waiting;
    }
    const double share = waiting > 0 ? m_allowance / double(waiting) : 0.0;
    for (auto it = m_pipes.begin(); it != m_pipes.end();) {
        Pipe *p = it->get();
        if (!p->client) {
            it = m_pipes.erase(it);
            continue;
        }
        const qsizetype n = std::min<qsizetype>(p->pending.size(), qsizetype(share));
        if (n > 0) {
            p->client->write(p->pending.constData(), n);
            p->pending.remove(0, n);
            m_allowance -= double(n);
        }
        if (p->pending.isEmpty() && p->upstreamClosed && p->client->bytesToWrite() == 0)
            p->client->disconnectFromHost();
        ++it;
    }
}

void ThrottledLink::closePipe(Pipe *pipe)
{
    // The sockets' lambdas hold the pipe: they must not run once it is gone.
    if (pipe->upstream) {
        pipe->upstream->disconnect(this);
        pipe->upstream->deleteLater();
    }
    if (pipe->client) {
        pipe->client->disconnect(this);
        pipe->client->deleteLater();
    }
    pipe->upstream = nullptr;
    pipe->client = nullptr;
}

} // namespace BatchSync::Bench
