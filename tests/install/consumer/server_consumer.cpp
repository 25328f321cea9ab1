// The Server component: syncs one entity from an in-process SyncServer into a local database,
// using nothing but the installed package (COMPONENTS Client Server): exits 0 when the entity
// completed with every record.

#include "engine/syncengine.h"
#include "server/backend/serverstore.h"
#include "server/syncserver.h"

#include <QCoreApplication>
#include <QTemporaryDir>
#include <QTimer>
#include <cstdio>

using namespace BatchSync;

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QTemporaryDir dir;
    if (!dir.isValid()) {
        std::fprintf(stderr, "consumer: no temporary directory\n");
        return 1;
    }

    constexpr int records = 2500;
    const QString entity = QStringLiteral("notes");
    SyncServer server;
    QString error;
    if (!server.open(dir.filePath(QStringLiteral("server.sqlite")), &error)
        || !server.store()->addEntity({ entity,
                                        { { QStringLiteral("title"), FieldType::String },
                                          { QStringLiteral("size"), FieldType::Int } } },
                                      &error)) {
        std::fprintf(stderr, "consumer: %s\n", qPrintable(error));
        return 1;
    }
    QList<std::pair<QString, QVariantMap>> batch;
    for (int i = 0; i < records; ++i)
        batch.append({ QStringLiteral("note-%1").arg(i),
                       { { QStringLiteral("title"), QStringLiteral("Note %1").arg(i) },
                         { QStringLiteral("size"), qint64(i) } } });
    if (!server.store()->upsert(entity, batch, &error)) {
        std::fprintf(stderr, "consumer: %s\n", qPrintable(error));
        return 1;
    }
    if (server.listen(QHostAddress::LocalHost, 0) == 0) {
        std::fprintf(stderr, "consumer: %s\n", qPrintable(server.errorString()));
        return 1;
    }

    SyncSettings settings;
    settings.endpoint = server.baseUrl();
    settings.databasePath = dir.filePath(QStringLiteral("local.sqlite"));
    SyncEngine engine(settings);

    int exitCode = 1;
    QObject::connect(&engine, &SyncEngine::failed, &app,
                     [](const QString &name, ErrorCategory, const QString &message) {
                         std::fprintf(stderr, "consumer: %s failed: %s\n", qPrintable(name),
                                      qPrintable(message));
                     });
    QObject::connect(&engine, &SyncEngine::finished, &app, [&] {
        const EntityStatus status = engine.entity(entity);
        if (status.state == SyncState::Completed && status.done == records) {
            std::printf("server consumer synced %lld records\n",
                        static_cast<long long>(status.done));
            exitCode = 0;
        } else {
            std::fprintf(stderr, "consumer: %s ended as %s with %lld of %lld records\n",
                         qPrintable(entity), qPrintable(syncStateName(status.state)),
                         static_cast<long long>(status.done), static_cast<long long>(status.total));
        }
        app.quit();
    });
    QTimer::singleShot(60000, &app, [&] {
        std::fprintf(stderr, "consumer: no result within 60 s\n");
        app.quit();
    });
    engine.startAll();
    app.exec();
    return exitCode;
}
