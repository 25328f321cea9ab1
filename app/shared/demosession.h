#pragma once

#include "demoendpoint.h"

#include <memory>

namespace BatchSync {
class EmbeddedServer;
} // namespace BatchSync

namespace BatchSync::App {

/*!
    The embedded demo server, in one place for the window and headless mode: a SyncServer on
    its own thread, listening on 127.0.0.1 on a free port, its database filled with the demo
    data on the first start. Main thread.
*/
class DemoSession final : public DemoEndpoint
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(DemoSession)

public:
    /*!
        The pace at which the window's demo serves its pages, so that its sync of about
        100,000 records lasts some 20 s: long enough to watch the bars and try Pause.
    */
    static constexpr int WatchablePageDelayMs = 150;

    /*! A demo on \a databasePath (created if missing); start() starts it. */
    explicit DemoSession(const QString &databasePath, QObject *parent = nullptr);
    /*! Stops the server and joins its thread. */
    ~DemoSession() override;

    /*! Holds each page this long (default 0); call before start(). */
    void setPageDelay(int milliseconds) { m_pageDelayMs = milliseconds; }
    /*! Requires this bearer token (default: none); call before start(). */
    void setToken(const QString &token) { m_token = token; }

    void start() override;
    void stop() override;
    bool isStarted() const override { return m_server != nullptr; }
    QUrl baseUrl() const override;
    QString databasePath() const override { return m_databasePath; }

private:
    void onFailed(const QString &message);

    QString m_databasePath;
    QString m_token;
    int m_pageDelayMs = 0;
    std::unique_ptr<EmbeddedServer> m_server;
};

} // namespace BatchSync::App
