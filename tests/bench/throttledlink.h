#pragma once

#include <QByteArray>
#include <QElapsedTimer>
#include <QHostAddress>
#include <QObject>
#include <QPointer>
#include <QThread>
#include <QTimer>
#include <list>
#include <memory>

QT_BEGIN_NAMESPACE
class QTcpServer;
class QTcpSocket;
QT_END_NAMESPACE

namespace BatchSync::Bench {

/*!
    A slow link for the benchmark: a TCP proxy on 127.0.0.1 that passes requests to the
    server at once and hands the server's bytes to the client at a fixed rate, on a thread of
    its own (the benchmark's main thread blocks on its child processes).
*/
class ThrottledLink final : public QObject
{
    Q_OBJECT

public:
    /*! Proxies to 127.0.0.1:\a serverPort, \a bytesPerSecond downstream. */
    ThrottledLink(quint16 serverPort, double bytesPerSecond);
    ~ThrottledLink() override;

    /*! Starts the thread and listens; the proxy's port, or 0 on failure. Any thread. */
    quint16 start();

private:
    struct Pipe
    {
        QPointer<QTcpSocket> client;
        QPointer<QTcpSocket> upstream;
        QByteArray pending; // from the server, not yet handed to the client
        bool upstreamClosed = false;
    };

    quint16 listen(); // in the link's thread
    void accept();
    void tick();
    void closePipe(Pipe *pipe);

    quint16 m_serverPort;
    double m_bytesPerSecond;
    QThread m_thread;
    QTcpServer *m_server = nullptr;
    QTimer *m_timer = nullptr;
    QElapsedTimer m_clock;
    qint64 m_lastTickNs = 0;
    double m_allowance = 0;
    std::list<std::unique_ptr<Pipe>> m_pipes;
};

} // namespace BatchSync::Bench
