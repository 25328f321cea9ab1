// batchsync-server: the reference protocol v1 endpoint, on SQLite or PostgreSQL.

#include "common/logging.h"
#include "server/access/authrules.h"
#include "server/backend/serverbackend.h"
#include "server/demodata.h"
#include "server/http/tlssetup.h"
#include "server/syncserver.h"
#include "shared/options.h"
#include "shared/terminationsignals.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QLoggingCategory>
#include <QRandomGenerator>
#include <QStandardPaths>
#include <cstdio>

#ifndef BATCHSYNC_VERSION
#define BATCHSYNC_VERSION "0.1.0"
#endif

using namespace BatchSync;

namespace {

constexpr quint32 DemoSeed = 20261126; // the embedded server's, so both serve the same data
constexpr quint16 DefaultPort = 8080;

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
    const std::optional<int> number = App::parseInteger(text.mid(colon + 1), 0, 65535);
    if (!number) {
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
    *port = quint16(*number);
    return true;
}

QList<App::OptionSpec> options()
{
    return {
        { { QStringLiteral("listen") },
          QStringLiteral("HOST:PORT"),
          QStringLiteral("Address and port to serve on (default 127.0.0.1:8080; port 0 picks a "
                         "free one). Only a loopback address unless you give another here.") },
        { { QStringLiteral("port") },
          QStringLiteral("PORT"),
          QStringLiteral("Port to serve on at the default address, 127.0.0.1 (default %1; 0 "
                         "picks a free one). Use --listen to serve on another address.")
              .arg(DefaultPort) },
        { { QStringLiteral("db") },
          QStringLiteral("PATH"),
          QStringLiteral("The SQLite database (created if missing; default %1).")
              .arg(QDir::toNativeSeparators(
                  QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)
                  + QStringLiteral("/server.sqlite"))) },
        { { QStringLiteral("postgres") },
          QStringLiteral("CONNINFO"),
          QStringLiteral("Serve a PostgreSQL database instead of SQLite, given as a libpq "
                         "connection string (\"host=db port=5432 dbname=shop user=sync\") or "
                         "URI (postgresql://sync@db/shop). The password may also come from "
                         "PGPASSWORD or ~/.pgpass.") },
        { { QStringLiteral("demo") },
          QString(),
          QStringLiteral("Fill an empty database with demo data (about 100,000 records).") },
        { { QStringLiteral("demo-scale") },
          QStringLiteral("X"),
          QStringLiteral("Multiply the demo record counts by X (implies --demo).") },
        { { QStringLiteral("token") },
          QStringLiteral("T"),
          QStringLiteral("Require \"Authorization: Bearer T\" on every request (default: "
                         "$BATCHSYNC_TOKEN, else none).") },
        { { QStringLiteral("auth") },
          QStringLiteral("FILE"),
          QStringLiteral("Admit the tokens of this auth file, each to the entities it may read "
                         "and write and to its rows (see the README, Deploying). Re-read on "
                         "SIGHUP; a malformed file is refused and the rules in force stay. Not "
                         "with --token.") },
        { { QStringLiteral("hash-token") },
          QStringLiteral("NAME"),
          QStringLiteral("Print a new random token and the line for the auth file that admits "
                         "it as NAME, then exit; with --token T (or $BATCHSYNC_TOKEN), the line "
                         "for T instead.") },
        { { QStringLiteral("max-live") },
          QStringLiteral("N"),
          QStringLiteral("Hold at most N live clients' GET /wait requests at once (default "
                         "%1), apart from the %2 ordinary connections; past it a wait gets 503 "
                         "and its client retries.")
              .arg(SyncServer::Limits().maxWaiting)
              .arg(SyncServer::Limits().maxConnections) },
        { { QStringLiteral("read-only") },
          QString(),
          QStringLiteral("Refuse pushes (POST .../changes answers 403) and list every entity "
                         "as not writable.") },
        { { QStringLiteral("page-delay-ms") },
          QStringLiteral("MS"),
          QStringLiteral("Demo pacing: hold every page of changes this long before sending it, "
                         "so that a sync can be watched (default 0).") },
        { { QStringLiteral("tls-cert") },
          QStringLiteral("FILE"),
          QStringLiteral("Serve HTTPS with this certificate (PEM: the server's certificate, then "
                         "any intermediate ones); needs --tls-key.") },
        { { QStringLiteral("tls-key") },
          QStringLiteral("FILE"),
          QStringLiteral("The certificate's private key (PEM, RSA or EC, without a passphrase); "
                         "needs --tls-cert.") },
        { { QStringLiteral("verbose") },
          QString(),
          QStringLiteral("Log one line per request to stderr: method, path and query, status, "
                         "bytes, milliseconds and, with --auth, the token's name (the "
                         "batchsync.server category at info level).") },
    };
}

// --hash-token NAME: the line is checked by the auth file's own parser.
int printTokenLine(const QString &name, std::optional<QString> token)
{
    const bool generated = !token;
    if (generated) {
        QByteArray bytes(32, Qt::Uninitialized);
        QRandomGenerator::system()->fillRange(reinterpret_cast<quint32 *>(bytes.data()),
                                              bytes.size() / int(sizeof(quint32)));
        token = QString::fromLatin1(
            bytes.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals));
    }
    if (token->isEmpty()) {
        printError(QStringLiteral("--hash-token: the token is empty"));
        return 2;
    }
    const QByteArray line = QByteArrayLiteral("{\"name\": \"") + name.toUtf8()
        + QByteArrayLiteral("\", \"sha256\": \"") + AccessRules::hashHex(token->toUtf8())
        + QByteArrayLiteral("\", \"read\": [], \"write\": []}");
    QString error;
    if (name.contains(u'"') || name.contains(u'\\')
        || !AccessRules::parse(QByteArrayLiteral("{\"tokens\": [") + line + QByteArrayLiteral("]}"),
                               &error)) {
        printError(QStringLiteral("--hash-token: the name \"%1\" must be 1 to 64 letters, "
                                  "digits, '.', '_' or '-'")
                       .arg(name));
        return 2;
    }
    if (generated)
        std::printf("token: %s\n", qPrintable(*token));
    std::printf("%s\n", line.constData());
    return 0;
}

// --tls-cert and --tls-key: 0 when both or neither are given and the pair is usable.
int setUpTls(const QCommandLineParser &parser, SyncServer *server)
{
    const bool certificate = parser.isSet(QStringLiteral("tls-cert"));
    const bool key = parser.isSet(QStringLiteral("tls-key"));
    if (certificate != key) {
        printError(certificate ? QStringLiteral("--tls-cert needs --tls-key, the certificate's "
                                                "private key")
                               : QStringLiteral("--tls-key needs --tls-cert, the certificate "
                                                "of the key"));
        return 2;
    }
    if (!certificate)
        return 0;
    QString error;
    const std::optional<QSslConfiguration> configuration = Tls::serverConfiguration(
        parser.value(QStringLiteral("tls-cert")), parser.value(QStringLiteral("tls-key")), &error);
    if (!configuration) {
        printError(error);
        return 1;
    }
    server->setTlsConfiguration(*configuration);
    return 0;
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
        "The BatchSync reference server: protocol v1.1 over HTTP, or HTTPS with --tls-cert\n"
        "and --tls-key, from SQLite or PostgreSQL.\n"
        "\n"
        "Logging: QT_LOGGING_RULES selects the categories batchsync.protocol,\n"
        "batchsync.store, batchsync.engine and batchsync.server, e.g.\n"
        "QT_LOGGING_RULES=\"batchsync.server.debug=true\"."));
    parser.addHelpOption();
    parser.addVersionOption();
    App::addOptions(parser, options());
    parser.process(app);

    if (!parser.positionalArguments().isEmpty()) {
        printError(QStringLiteral("unexpected argument \"%1\"; see --help")
                       .arg(parser.positionalArguments().constFirst()));
        return 2;
    }

    if (parser.isSet(QStringLiteral("hash-token"))) {
        return printTokenLine(parser.value(QStringLiteral("hash-token")),
                              App::commandLineToken(parser));
    }
    const QString authPath = parser.value(QStringLiteral("auth"));
    std::optional<AccessRules> rules;
    if (parser.isSet(QStringLiteral("auth"))) {
        if (App::commandLineToken(parser)) {
            printError(QStringLiteral("give either --auth FILE or --token (or $BATCHSYNC_TOKEN), "
                                      "not both"));
            return 2;
        }
        QString error;
        rules = AccessRules::load(authPath, &error);
        if (!rules) {
            printError(error);
            return 2;
        }
    }

    QHostAddress address(QHostAddress::LocalHost);
    quint16 port = DefaultPort;
    if (parser.isSet(QStringLiteral("listen")) && parser.isSet(QStringLiteral("port"))) {
        printError(QStringLiteral("give either --listen HOST:PORT or --port PORT, not both"));
        return 2;
    }
    if (parser.isSet(QStringLiteral("port"))) {
        const std::optional<int> number
            = App::parseInteger(parser.value(QStringLiteral("port")), 0, 65535);
        if (!number) {
            printError(QStringLiteral("--port must be a number from 0 to 65535, not \"%1\"")
                           .arg(parser.value(QStringLiteral("port"))));
            return 2;
        }
        port = quint16(*number);
    }
    if (parser.isSet(QStringLiteral("listen"))) {
        QString error;
        if (!parseListen(parser.value(QStringLiteral("listen")), &address, &port, &error)) {
            printError(error);
            return 2;
        }
    }

    double scale = 1.0;
    if (parser.isSet(QStringLiteral("demo-scale"))) {
        bool ok = false;
        scale = parser.value(QStringLiteral("demo-scale")).toDouble(&ok);
        if (!ok || !(scale > 0) || scale > 100) {
            printError(QStringLiteral("--demo-scale must be a number above 0 and at most 100, "
                                      "not \"%1\"")
                           .arg(parser.value(QStringLiteral("demo-scale"))));
            return 2;
        }
    }
    const bool demo
        = parser.isSet(QStringLiteral("demo")) || parser.isSet(QStringLiteral("demo-scale"));

    if (parser.isSet(QStringLiteral("postgres")) && parser.isSet(QStringLiteral("db"))) {
        printError(QStringLiteral("give either --db PATH or --postgres CONNINFO, not both"));
        return 2;
    }
    const bool postgres = parser.isSet(QStringLiteral("postgres"));
    if (parser.isSet(QStringLiteral("verbose")))
        QLoggingCategory::setFilterRules(QStringLiteral("batchsync.server.info=true"));

    QString databasePath = parser.value(QStringLiteral("db"));
    if (!postgres && databasePath.isEmpty()) {
        const QString directory = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
        if (!QDir().mkpath(directory)) {
            printError(QStringLiteral("cannot create the directory %1").arg(directory));
            return 1;
        }
        databasePath = directory + QStringLiteral("/server.sqlite");
    }

    const QString token = App::commandLineToken(parser).value_or(QString());

    SyncServer server;
    QString error;
    if (const int status = setUpTls(parser, &server); status != 0)
        return status;
    if (postgres ? !server.openPostgres(parser.value(QStringLiteral("postgres")), &error)
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
    if (rules) {
        if (!server.setAccessRules(*rules, &error)) {
            printError(error);
            return 1;
        }
        std::fprintf(stderr, "batchsync-server: %lld tokens admitted from %s\n",
                     qint64(rules->tokens().size()), qPrintable(authPath));
    }
    server.setReadOnly(parser.isSet(QStringLiteral("read-only")));
    if (parser.isSet(QStringLiteral("max-live"))) {
        const std::optional<int> waits
            = App::parseInteger(parser.value(QStringLiteral("max-live")), 1, 1000000);
        if (!waits) {
            printError(QStringLiteral("--max-live must be a whole number from 1 to 1000000"));
            return 2;
        }
        SyncServer::Limits limits = server.limits();
        limits.maxWaiting = *waits;
        server.setLimits(limits);
    }
    if (parser.isSet(QStringLiteral("page-delay-ms"))) {
        const std::optional<int> delay
            = App::parseInteger(parser.value(QStringLiteral("page-delay-ms")), 0, 60000);
        if (!delay) {
            printError(QStringLiteral("--page-delay-ms must be a whole number from 0 to 60000"));
            return 2;
        }
        server.setPageDelay(*delay);
    }

    if (!address.isLoopback() && token.isEmpty() && !rules) {
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
    // SIGINT and SIGTERM end the event loop, so that the database is closed cleanly.
    App::TerminationSignals terminationSignals;
    QString signalError;
    if (!terminationSignals.install(&signalError))
        std::fprintf(stderr, "batchsync-server: warning: %s\n", qPrintable(signalError));
    QObject::connect(&terminationSignals, &App::TerminationSignals::received, &app,
                     &QCoreApplication::quit);
    if (rules) {
        if (!terminationSignals.watchHangup(&signalError))
            std::fprintf(stderr, "batchsync-server: warning: %s\n", qPrintable(signalError));
        QObject::connect(
            &terminationSignals, &App::TerminationSignals::hangup, &server, [&server, authPath] {
                QString problem;
                std::optional<AccessRules> reread = AccessRules::load(authPath, &problem);
                if (!reread || !server.setAccessRules(*reread, &problem)) {
                    printError(problem + QStringLiteral("; the rules in force stay"));
                    return;
                }
                std::fprintf(stderr, "batchsync-server: re-read %s: %lld tokens admitted\n",
                             qPrintable(authPath), qint64(reread->tokens().size()));
            });
    }

    std::printf("Serving protocol v1 at %s\n", qPrintable(server.baseUrl().toString()));
    std::fflush(stdout);
    const int status = app.exec();
    qCDebug(lcServer) << "stopping after" << server.requestsServed() << "requests";
    return status;
}
