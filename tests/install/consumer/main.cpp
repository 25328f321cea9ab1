// The Client component: a program that only syncs. Starts the real batchsync-server (its path
// is the first argument) on a free port with a small demo database, syncs every entity into a
// local database with nothing but BatchSync::Client, and exits 0 when every entity completed
// with all of its changes.

#include "engine/syncengine.h"

#include <QCoreApplication>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTimer>
#include <cstdio>
#include <memory>

using namespace BatchSync;

namespace {

// What batchsync-server prints once it listens.
const QRegularExpression servingLine(QStringLiteral("^Serving protocol v1 at (http://\\S+)"));

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    if (argc < 2) {
        std::fprintf(stderr, "usage: consumer PATH-TO-batchsync-server\n");
        return 2;
    }
    QTemporaryDir dir;
    if (!dir.isValid()) {
        std::fprintf(stderr, "consumer: no temporary directory\n");
        return 1;
    }

    QProcess server;
    server.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    std::unique_ptr<SyncEngine> engine;
    int exitCode = 1;
    const auto finish = [&](int code) {
        exitCode = code;
        server.terminate(); // SIGTERM: the server closes its database and exits
        if (server.state() == QProcess::NotRunning)
            app.quit();
    };
    QObject::connect(&server, &QProcess::finished, &app, [&] { app.quit(); });
    QObject::connect(&server, &QProcess::errorOccurred, &app, [&](QProcess::ProcessError error) {
        if (error == QProcess::FailedToStart) {
            std::fprintf(stderr, "consumer: cannot start %s\n", argv[1]);
            app.quit();
        }
    });
    QObject::connect(&server, &QProcess::readyReadStandardOutput, &app, [&] {
        while (!engine && server.canReadLine()) {
            const QString line = QString::fromUtf8(server.readLine()).trimmed();
            const QRegularExpressionMatch match = servingLine.match(line);
            if (!match.hasMatch())
                continue;
            SyncSettings settings;
            settings.endpoint = QUrl(match.captured(1));
            settings.databasePath = dir.filePath(QStringLiteral("local.sqlite"));
            engine = std::make_unique<SyncEngine>(settings);
            QObject::connect(engine.get(), &SyncEngine::failed, &app,
                             [](const QString &name, ErrorCategory, const QString &message) {
                                 std::fprintf(stderr, "consumer: %s failed: %s\n", qPrintable(name),
                                              qPrintable(message));
                             });
            QObject::connect(engine.get(), &SyncEngine::finished, &app, [&] {
                qint64 synced = 0;
                bool complete = !engine->entities().isEmpty();
                for (const EntityStatus &status : engine->entities()) {
                    if (status.state != SyncState::Completed || status.done != status.total
                        || status.total <= 0) {
                        std::fprintf(stderr, "consumer: %s ended as %s with %lld of %lld\n",
                                     qPrintable(status.name),
                                     qPrintable(syncStateName(status.state)),
                                     static_cast<long long>(status.done),
                                     static_cast<long long>(status.total));
                        complete = false;
                    }
                    synced += status.done;
                }
                if (complete)
                    std::printf("consumer synced %lld records\n", static_cast<long long>(synced));
                finish(complete ? 0 : 1);
            });
            engine->startAll();
        }
    });
    QTimer::singleShot(120000, &app, [&] {
        std::fprintf(stderr, "consumer: no result within 120 s\n");
        finish(1);
    });

    server.start(QString::fromLocal8Bit(argv[1]),
                 { QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                   QStringLiteral("--db"), dir.filePath(QStringLiteral("server.sqlite")),
                   QStringLiteral("--demo-scale"), QStringLiteral("0.01") });
    app.exec();
    engine.reset();
    if (server.state() != QProcess::NotRunning) {
        server.kill();
        server.waitForFinished(5000);
    }
    return exitCode;
}
