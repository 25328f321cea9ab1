#include "embeddedserver.h"

#include "common/logging.h"
#include "server/backend/serverbackend.h"
#include "server/demodata.h"
#include "server/syncserver.h"

#include <QElapsedTimer>
#include <QSslSocket>
#include <QThread>

namespace BatchSync {

namespace {

constexpr quint32 EmbeddedDemoSeed = 20261126;

} // namespace

EmbeddedServer::EmbeddedServer(QObject *parent)
    : QObject(parent)
    , m_thread(std::make_unique<QThread>())
{
    m_thread->setObjectName(QStringLiteral("BatchSync server"));
}

EmbeddedServer::~EmbeddedServer()
{
    // The server is deleted in its own thread when the thread finishes (see start()).
    m_thread->quit();
    m_thread->wait();
    delete m_context;
}

void EmbeddedServer::start(const QString &databasePath, bool demo, const QString &token)
{
    if (m_context) {
        qCWarning(lcServer) << "EmbeddedServer::start() called twice; ignored";
        return;
    }
    // QHttpServer sets up OpenSSL in its constructor. Set up first on the server thread,
    // OpenSSL's per-thread state there is often still held when LeakSanitizer looks at exit;
    // set up here, in the owner's thread, much less often (tests/lsan.supp covers the rest).
    QSslSocket::supportsSsl();
    m_context = new QObject;
    m_context->moveToThread(m_thread.get());
    m_thread->start();

    QMetaObject::invokeMethod(
        m_context, [this, databasePath, demo, token, pageDelay = m_pageDelayMs] {
            // Here in the server thread: everything created now lives in it.
            auto *server = new SyncServer;
            m_server = server;
            connect(m_thread.get(), &QThread::finished, server, &QObject::deleteLater);
            const auto fail = [this](const QString &message) {
                qCWarning(lcServer).noquote() << "embedded server failed:" << message;
                QMetaObject::invokeMethod(
                    this, [this, message] { emit failed(message); }, Qt::QueuedConnection);
            };

            QString error;
            if (!server->open(databasePath, &error))
                return fail(error);
            if (demo && server->backend()->entities().isEmpty()) {
                QElapsedTimer timer;
                timer.start();
                if (!DemoData::populate(server->backend(), 1.0, EmbeddedDemoSeed, &error))
                    return fail(QStringLiteral("cannot create the demo data: %1").arg(error));
                qCInfo(lcServer) << "created" << DemoData::recordCount(1.0) << "demo records in"
                                 << timer.elapsed() << "ms";
            }
            server->setToken(token);
            server->setPageDelay(pageDelay);
            if (server->listen(QHostAddress::LocalHost, 0) == 0)
                return fail(
                    QStringLiteral("cannot listen on 127.0.0.1: %1").arg(server->errorString()));
            const QUrl url = server->baseUrl();
            QMetaObject::invokeMethod(
                this,
                [this, url] {
                    m_baseUrl = url;
                    emit ready(url);
                },
                Qt::QueuedConnection);
        });
}

} // namespace BatchSync
