#pragma once

#include <QObject>
#include <QString>
#include <QUrl>
#include <memory>

QT_BEGIN_NAMESPACE
class QThread;
QT_END_NAMESPACE

/*!
    \file embeddedserver.h
    The reference server on a thread of its own; owned and driven from one thread, the
    caller's.
*/

namespace BatchSync {

class SyncServer;

/*!
    A SyncServer on a thread of its own, for an application whose main thread must stay
    free (the desktop app's embedded demo). start() returns at once; ready() or failed()
    follows, queued to the caller's thread.
*/
class EmbeddedServer final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(EmbeddedServer)

public:
    explicit EmbeddedServer(QObject *parent = nullptr);
    /*! Stops the server and joins its thread. */
    ~EmbeddedServer() override;

    /*!
        Opens \a databasePath on the server thread, fills it with demo data when \a demo is
        set and it holds no entity yet, and listens on 127.0.0.1 on a free port.
    */
    void start(const QString &databasePath, bool demo, const QString &token = QString());
    /*! See SyncServer::setPageDelay; call before start(). */
    void setPageDelay(int milliseconds) { m_pageDelayMs = qMax(0, milliseconds); }
    QUrl baseUrl() const { return m_baseUrl; }

Q_SIGNALS:
    void ready(const QUrl &baseUrl);
    void failed(const QString &message);

private:
    std::unique_ptr<QThread> m_thread;
    QObject *m_context = nullptr; // lives in m_thread: runs the work posted there
    SyncServer *m_server = nullptr; // lives in m_thread, only touched there
    QUrl m_baseUrl;
    int m_pageDelayMs = 0;
};

} // namespace BatchSync
