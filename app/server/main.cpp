// batchsync-server: the reference protocol v1 endpoint, on SQLite or PostgreSQL.

#include "common/logging.h"
#include "server/backend/serverbackend.h"
#include "server/demodata.h"
#include "server/syncserver.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QLoggingCategory>
#include <QSocketNotifier>
#include <QStandardPaths>
#include <csignal>
#include <cstdio>
#include <sys/socket.h>
#include <unistd.h>

#ifndef BATCHSYNC_VERSION
#define BATCHSYNC_VERSION "0.1.0"
#endif

using namespace BatchSync;

namespace {

constexpr quint32 DemoSeed = 20261126; // the embedded server's, so both serve the same data
constexpr quint16 DefaultPort = 8080;

int signalPipe[2] = { -1, -1 };

void onSignal(int)
{
    // Only async-signal-safe work here: the event loop picks the byte up.
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(signalPipe[0], &byte, 1);
}

// SIGINT and SIGTERM end the event loop, so that the database is closed cleanly.
bool quitOnSignals(QCoreApplication *app)
{
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, signalPipe) != 0)
        return false;
    auto *notifier = new QSocketNotifier(signalPipe[1], QSocketNotifier::Read, app);
    QObject::connect(notifier, &QSocketNotifier::activated, app, [notifier] {
        notifier->setEnabled(false);
        char byte;
        [[maybe_unused]] const ssize_t read = ::read(signalPipe[1], &byte, 1);
        QCoreApplication::quit();
    });
    struct sigaction action = {};
    action.sa_handler = onSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return ::sigaction(SIGINT, &action, nullptr) == 0
        && ::sigaction(SIGTERM, &action, nullptr) == 0;
}

void printError(const QString &message)
{
    std::fprintf(stderr, "batchsync-server: %s\n", qPrintable(message));
}

bool parseListen(const QString &text, QHostAddress *address, quint16 *port, QString *error)
{
    const qsizetype colon = text.lastIndexOf(u':');
    if (colon <= 0) {
        *error = QStringLiteral("--listen expects HOST:PORT, such as 127.0.0.1:8080, not \"%1\"")
                     .arg(text);
        return false;
    }
    QString host = text.left(colon);
    if (host.startsWith(u'[') && host.endsWith(u']'))
        host = host.mid(1, host.size() - 2);
    bool ok = false;
    const uint number = text.mid(colon + 1).toUInt(&ok);
    if (!ok || number > 65535) {
        *error
            = QStringLiteral("the port in --listen %1 must be a number from 0 to 65535").arg(text);
        return false;
    }
    if (host.compare(QLatin1String("localhost"), Qt::CaseInsensitive) == 0) {
        *address = QHostAddress(QHostAddress::LocalHost);
    } else if (!address->setAddress(host)
               // inet_aton's legacy forms ("1.2.3" is 1.2.0.3) are more likely typing errors
               || (address->protocol() == QAbstractSocket::IPv4Protocol
                   && address->toString() != host)) {
        *error = QStringLiteral("\"%1\" in --listen is not an IP address").arg(host);
        return false;
    }
    *port = quint16(number);
    return true;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setOrganizationName(QStringLiteral("BatchSync"));
    QCoreApplication::setApplicationName(QStringLiteral("batchsync-server"));
    QCoreApplication::setApplicationVersion(QStringLiteral(BATCHSYNC_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "The BatchSync reference server: protocol v1 over HTTP, from SQLite or PostgreSQL.\n"
        "\n"
        "Logging: QT_LOGGING_RULES selects the categories batchsync.protocol,\n"
        "batchsync.store, batchsync.engine and batchsync.server, e.g.\n"
        "QT_LOGGING_RULES=\"batchsync.server.debug=true\"."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption listenOption(
        QStringLiteral("listen"),
        QStringLiteral("Address and port to serve on (default 127.0.0.1:8080; port 0 picks a "
                       "free one). Only a loopback address unless you give another here."),
        QStringLiteral("HOST:PORT"));
    const QCommandLineOption portOption(
        QStringLiteral("port"),
        QStringLiteral("Port to serve on at the default address, 127.0.0.1 (default %1; 0 picks "
                       "a free one). Use --listen to serve on another address.")
            .arg(DefaultPort),
        QStringLiteral("PORT"));
    const QCommandLineOption dbOption(
        QStringLiteral("db"),
        QStringLiteral("The SQLite database (created if missing; default %1).")
            .arg(QDir::toNativeSeparators(
                QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)
                + QStringLiteral("/server.sqlite"))),
        QStringLiteral("PATH"));
    const QCommandLineOption postgresOption(
        QStringLiteral("postgres"),
        QStringLiteral("Serve a PostgreSQL database instead of SQLite, given as a libpq "
                       "connection string (\"host=db port=5432 dbname=shop user=sync\") or "
                       "URI (postgresql://sync@db/shop). The password may also come from "
                       "PGPASSWORD or ~/.pgpass."),
        QStringLiteral("CONNINFO"));
    const QCommandLineOption verboseOption(
        QStringLiteral("verbose"),
        QStringLiteral("Log one line per request to stderr: method, path and query, status, "
                       "bytes and milliseconds (the batchsync.server category at info level)."));
    const QCommandLineOption demoOption(
        QStringLiteral("demo"),
        QStringLiteral("Fill an empty database with demo data (about 100,000 records)."));
    const QCommandLineOption scaleOption(
        QStringLiteral("demo-scale"),
        QStringLiteral("Multiply the demo record counts by X (implies --demo)."),
        QStringLiteral("X"));
    const QCommandLineOption tokenOption(
        QStringLiteral("token"),
        QStringLiteral("Require \"Authorization: Bearer T\" on every request (default: "
                       "$BATCHSYNC_TOKEN, else none)."),
        QStringLiteral("T"));
    const QCommandLineOption pageDelayOption(
        QStringLiteral("page-delay-ms"),
        QStringLiteral("Demo pacing: hold every page of changes this long before sending it, "
                       "so that a sync can be watched (default 0)."),
        QStringLiteral("MS"));
    parser.addOptions({ listenOption, portOption, dbOption, postgresOption, demoOption, scaleOption,
                        tokenOption, pageDelayOption, verboseOption });
    parser.process(app);

    if (!parser.positionalArguments().isEmpty()) {
        printError(QStringLiteral("unexpected argument \"%1\"; see --help")
                       .arg(parser.positionalArguments().constFirst()));
        return 2;
    }

    QHostAddress address(QHostAddress::LocalHost);
    quint16 port = DefaultPort;
    if (parser.isSet(listenOption) && parser.isSet(portOption)) {
        printError(QStringLiteral("give either --listen HOST:PORT or --port PORT, not both"));
        return 2;
    }
    if (parser.isSet(portOption)) {
        bool ok = false;
        const uint number = parser.value(portOption).toUInt(&ok);
        if (!ok || number > 65535) {
            printError(QStringLiteral("--port must be a number from 0 to 65535, not \"%1\"")
                           .arg(parser.value(portOption)));
            return 2;
        }
        port = quint16(number);
    }
    if (parser.isSet(listenOption)) {
        QString error;
        if (!parseListen(parser.value(listenOption), &address, &port, &error)) {
            printError(error);
            return 2;
        }
    }

    double scale = 1.0;
    if (parser.isSet(scaleOption)) {
        bool ok = false;
        scale = parser.value(scaleOption).toDouble(&ok);
        if (!ok || !(scale > 0) || scale > 100) {
            printError(QStringLiteral("--demo-scale must be a number above 0 and at most 100, "
                                      "not \"%1\"")
                           .arg(parser.value(scaleOption)));
            return 2;
        }
    }
    const bool demo = parser.isSet(demoOption) || parser.isSet(scaleOption);

    if (parser.isSet(postgresOption) && parser.isSet(dbOption)) {
        printError(QStringLiteral("give either --db PATH or --postgres CONNINFO, not both"));
        return 2;
    }
    const bool postgres = parser.isSet(postgresOption);
    if (parser.isSet(verboseOption))
        QLoggingCategory::setFilterRules(QStringLiteral("batchsync.server.info=true"));

    QString databasePath = parser.value(dbOption);
    if (!postgres && databasePath.isEmpty()) {
        const QString directory = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
        if (!QDir().mkpath(directory)) {
            printError(QStringLiteral("cannot create the directory %1").arg(directory));
            return 1;
        }
        databasePath = directory + QStringLiteral("/server.sqlite");
    }

    QString token = parser.value(tokenOption);
    if (!parser.isSet(tokenOption))
        token = qEnvironmentVariable("BATCHSYNC_TOKEN");

    SyncServer server;
    QString error;
    if (postgres ? !server.openPostgres(parser.value(postgresOption), &error)
                 : !server.open(databasePath, &error)) {
        printError(error);
        return 1;
    }
    if (demo) {
        if (server.backend()->entities().isEmpty()) {
            QElapsedTimer timer;
            timer.start();
            if (!DemoData::populate(server.backend(), scale, DemoSeed, &error)) {
                printError(QStringLiteral("cannot create the demo data: %1").arg(error));
                return 1;
            }
            std::fprintf(stderr, "batchsync-server: created %lld demo records in %lld ms\n",
                         DemoData::recordCount(scale), timer.elapsed());
        } else {
            std::fprintf(stderr,
                         "batchsync-server: the database already holds data; "
                         "no demo data added\n");
        }
    }
    server.setToken(token);
    if (parser.isSet(pageDelayOption)) {
        bool ok = false;
        const int delay = parser.value(pageDelayOption).toInt(&ok);
        if (!ok || delay < 0 || delay > 60000) {
            printError(QStringLiteral("--page-delay-ms must be a whole number from 0 to 60000"));
            return 2;
        }
        server.setPageDelay(delay);
    }

    if (!address.isLoopback() && token.isEmpty()) {
        std::fprintf(stderr,
                     "batchsync-server: warning: serving on %s without a token; anyone "
                     "who can reach it can read the data\n",
                     qPrintable(address.toString()));
    }
    if (server.listen(address, port) == 0) {
        printError(QStringLiteral("cannot listen on %1:%2: %3")
                       .arg(address.toString())
                       .arg(port)
                       .arg(server.errorString()));
        return 1;
    }
    if (!quitOnSignals(&app))
        std::fprintf(stderr, "batchsync-server: warning: cannot handle SIGINT/SIGTERM\n");

    std::printf("Serving protocol v1 at %s\n", qPrintable(server.baseUrl().toString()));
    std::fflush(stdout);
    const int status = app.exec();
    qCDebug(lcServer) << "stopping after" << server.requestsServed() << "requests";
    return status;
}
