#pragma once

#include <QObject>
#include <QString>
#include <QUrl>

namespace BatchSync::App {

/*!
    The embedded demo server as the window and headless mode see it: something that can be
    started (once, asynchronously) and then serves at baseUrl(). It names no server type, so
    that code driving only the engine needs no server headers. Main thread.
*/
class DemoEndpoint : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(DemoEndpoint)

public:
    explicit DemoEndpoint(QObject *parent = nullptr)
        : QObject(parent)
    {
    }

    /*! Starts the server unless it runs or is starting; ready() or failed() follows. */
    virtual void start() = 0;
    /*! Stops the server; start() may follow. */
    virtual void stop() = 0;
    /*! Whether start() was called and neither stop() nor a failure followed. */
    virtual bool isStarted() const = 0;
    /*! Where the server listens; empty until ready(). */
    virtual QUrl baseUrl() const = 0;
    /*! The server's own database (its demo data). */
    virtual QString databasePath() const = 0;

Q_SIGNALS:
    void ready(const QUrl &baseUrl);
    void failed(const QString &message);
};

} // namespace BatchSync::App
