// HTTPS end to end: batchsync-server serving TLS from PEM files (and refusing bad ones at
// start), the request screen's limits over TLS, the client verifying certificates (system
// store or --ca-cert) and saying why one is refused, and credentials never sent over plain
// http to a host that is not loopback. Fixtures: tests/data/tls (make-certs.sh). Traffic goes
// to 127.0.0.1 only; the non-loopback addresses (TEST-NET, 192.0.2.1) are never contacted.

#include "common/syncsettings.h"
#include "engine/syncengine.h"
#include "server/backend/serverbackend.h"
#include "server/http/tlssetup.h"
#include "server/syncserver.h"
#include "sources/http/transport.h"
#include "sources/odata/odatasource.h"
#include "sources/protocol/protocolclient.h"
#include "testutil/fakenetwork.h"
#include "testutil/localdb.h"
#include "testutil/testserver.h"

#include <QElapsedTimer>
#include <QFile>
#include <QNetworkAccessManager>
#include <QProcess>
#include <QSignalSpy>
#include <QSslCertificate>
#include <QSslKey>
#include <QSslSocket>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QtTest>
#include <atomic>
#include <memory>

using namespace BatchSync;

namespace {

const QString Token = QStringLiteral("tls-test-token");
const QUrl FarEndpoint(QStringLiteral("http://192.0.2.1:8080/api/v1")); // TEST-NET-1

QString fixture(const QString &name)
{
    return QStringLiteral(BATCHSYNC_TLS_DATA "/") + name;
}

// The server side of a certificate and key of the fixtures.
QSslConfiguration serverTls(const QString &name)
{
    QString error;
    const std::optional<QSslConfiguration> configuration = Tls::serverConfiguration(
        fixture(name + QStringLiteral(".pem")), fixture(name + QStringLiteral(".key")), &error);
    if (!configuration)
        qWarning().noquote() << "cannot load the fixture" << name << ":" << error;
    return configuration.value_or(QSslConfiguration());
}

// One connection to a server in this thread, read as it comes (the event loop runs in the
// QTRY_ and QSignalSpy waits).
class RawClient
{
public:
    explicit RawClient(bool tls)
        : m_socket(tls ? new QSslSocket : new QTcpSocket)
    {
        QObject::connect(m_socket.get(), &QIODevice::readyRead, m_socket.get(),
                         [this] { m_received += m_socket->readAll(); });
    }

    // Connects, and over TLS trusts the test CA only.
    void open(quint16 port)
    {
        if (auto *tls = qobject_cast<QSslSocket *>(m_socket.get())) {
            QSslConfiguration configuration = tls->sslConfiguration();
            configuration.setCaCertificates(QSslCertificate::fromPath(fixture("ca.pem")));
            tls->setSslConfiguration(configuration);
            tls->connectToHostEncrypted(QStringLiteral("127.0.0.1"), port);
        } else {
            m_socket->connectToHost(QHostAddress::LocalHost, port);
        }
    }

    bool isEncrypted() const
    {
        const auto *tls = qobject_cast<QSslSocket *>(m_socket.get());
        return tls && tls->isEncrypted();
    }
    bool isClosed() const { return m_socket->state() == QAbstractSocket::UnconnectedState; }
    void write(const QByteArray &bytes) { m_socket->write(bytes); }
    const QByteArray &received() const { return m_received; }
    // The status of the first response, once its status line is in; 0 before.
    int status() const
    {
        if (!m_received.startsWith("HTTP/1.1 ") || !m_received.contains("\r\n"))
            return 0;
        return m_received.mid(9, 3).toInt();
    }

private:
    std::unique_ptr<QTcpSocket> m_socket;
    QByteArray m_received;
};

// The outcome of \a source's fetchEntities(): its error (category None on success) and
// entities; nothing when it did not finish within \a timeoutMs.
std::optional<std::pair<SyncError, QList<EntitySchema>>> listEntities(Source &source,
                                                                      int timeoutMs = 15000)
{
    std::unique_ptr<SourceReply> reply(source.fetchEntities());
    QSignalSpy finished(reply.get(), &SourceReply::finished);
    if (!finished.wait(timeoutMs))
        return std::nullopt;
    return std::pair { reply->error(), reply->entities() };
}

struct ProcessResult
{
    int exitCode = -1;
    QString standardError;
};

// Runs \a program with \a arguments in a home of its own; the event loop runs meanwhile, so
// that a server in this thread answers it.
ProcessResult runProcess(const QString &program, const QStringList &arguments, const QString &home)
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.remove(QStringLiteral("BATCHSYNC_TOKEN"));
    environment.insert(QStringLiteral("HOME"), home);
    environment.insert(QStringLiteral("XDG_DATA_HOME"), home + QStringLiteral("/data"));
    environment.insert(QStringLiteral("XDG_CONFIG_HOME"), home + QStringLiteral("/config"));
    QProcess process;
    process.setProcessEnvironment(environment);
    QSignalSpy finished(&process, &QProcess::finished);
    process.start(program, arguments);
    ProcessResult result;
    if (!finished.wait(60000)) {
        process.kill();
        finished.wait(5000);
        return result;
    }
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.standardError = QString::fromUtf8(process.readAllStandardError());
    return result;
}

} // namespace

class TestTls final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        if (!QSslSocket::supportsSsl())
            QFAIL("Qt has no TLS backend here: install Debian's OpenSSL for Qt");
        QVERIFY(QFile::exists(fixture("server.pem")));
    }

    // ---- The server's certificate and key ------------------------------------------------

    void usablePairsLoad_data()
    {
        QTest::addColumn<QString>("name");
        for (const char *name : { "server", "otherhost", "expired", "selfsigned" })
            QTest::newRow(name) << QString::fromLatin1(name);
    }

    void usablePairsLoad()
    {
        QFETCH(QString, name);
        QString error;
        const auto configuration = Tls::serverConfiguration(
            fixture(name + QStringLiteral(".pem")), fixture(name + QStringLiteral(".key")), &error);
        QVERIFY2(configuration, qPrintable(error));
        QVERIFY(!configuration->privateKey().isNull());
        QCOMPARE(configuration->localCertificate(),
                 QSslCertificate::fromPath(fixture(name + QStringLiteral(".pem"))).value(0));
    }

    void serverRefusesBadFilesAtStart_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QStringList>("expected"); // in the one line of the error
        const QString cert = fixture("server.pem");
        const QString key = fixture("server.key");
        const auto pair = [](const QString &c, const QString &k) {
            return QStringList { QStringLiteral("--tls-cert"), c, QStringLiteral("--tls-key"), k };
        };
        QTest::newRow("certificate alone") << QStringList { QStringLiteral("--tls-cert"), cert }
                                           << QStringList { "--tls-cert needs --tls-key" };
        QTest::newRow("key alone") << QStringList { QStringLiteral("--tls-key"), key }
                                   << QStringList { "--tls-key needs --tls-cert" };
        QTest::newRow("missing certificate")
            << pair(fixture("absent.pem"), key) << QStringList { "absent.pem", "no such file" };
        QTest::newRow("missing key")
            << pair(cert, fixture("absent.key")) << QStringList { "absent.key", "no such file" };
        QTest::newRow("certificate is a folder")
            << pair(QStringLiteral(BATCHSYNC_TLS_DATA), key)
            << QStringList { "TLS certificate file", "folder" };
        QTest::newRow("certificate not PEM") << pair(fixture("server.der"), key)
                                             << QStringList { "server.der", "is not PEM", "DER" };
        QTest::newRow("key not PEM")
            << pair(cert, fixture("server.der")) << QStringList { "server.der", "is not PEM" };
        QTest::newRow("no key in the key file")
            << pair(cert, fixture("ca.pem"))
            << QStringList { "ca.pem", "no \"-----BEGIN PRIVATE KEY-----\" block" };
        QTest::newRow("no certificate in the certificate file")
            << pair(key, key) << QStringList { "server.key", "CERTIFICATE" };
        QTest::newRow("mismatched key")
            << pair(cert, fixture("mismatched.key"))
            << QStringList { "mismatched.key", "does not match", "server.pem" };
        QTest::newRow("EC certificate, RSA key")
            << pair(fixture("otherhost.pem"), key)
            << QStringList { "server.key", "does not match", "otherhost.pem" };
        QTest::newRow("RSA certificate, EC key")
            << pair(cert, fixture("otherhost.key"))
            << QStringList { "otherhost.key", "does not match" };
    }

    void serverRefusesBadFilesAtStart()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QStringList, expected);
        QTemporaryDir home;
        QVERIFY(home.isValid());
        const ProcessResult result
            = runProcess(QStringLiteral(BATCHSYNC_SERVER_BIN),
                         QStringList { QStringLiteral("--db"), QStringLiteral(":memory:"),
                                       QStringLiteral("--port"), QStringLiteral("0") }
                             + arguments,
                         home.path());
        QVERIFY2(result.exitCode > 0, qPrintable(result.standardError));
        const QStringList lines = result.standardError.trimmed().split(u'\n');
        QCOMPARE(lines.size(), 1);
        QVERIFY2(lines.constFirst().startsWith(QLatin1String("batchsync-server: ")),
                 qPrintable(lines.constFirst()));
        for (const QString &text : expected)
            QVERIFY2(lines.constFirst().contains(text), qPrintable(lines.constFirst()));
    }

    void serverRefusesAnUnreadableFile()
    {
        QTemporaryDir directory;
        QVERIFY(directory.isValid());
        const QString copy = directory.filePath(QStringLiteral("locked.pem"));
        QVERIFY(QFile::copy(fixture("server.pem"), copy));
        QVERIFY(QFile::setPermissions(copy, QFileDevice::Permissions()));
        QFile probe(copy);
        if (probe.open(QIODevice::ReadOnly))
            QSKIP("this user reads files whatever their permissions (root)");
        QString error;
        QVERIFY(!Tls::serverConfiguration(copy, fixture("server.key"), &error));
        QVERIFY2(error.contains(QLatin1String("locked.pem")) && error.contains(u"cannot read"),
                 qPrintable(error));
    }

    // ---- A sync over HTTPS ----------------------------------------------------------------

    void syncOverHttpsWithCaCertificate()
    {
        Test::TestServer server;
        QVERIFY(server.start(Token));
        const EntitySchema customers = server.addCustomers(2500, 7);
        server.server()->setTlsConfiguration(serverTls(QStringLiteral("server")));
        QCOMPARE(server.baseUrl().scheme(), QStringLiteral("https"));

        QTemporaryDir local;
        QVERIFY(local.isValid());
        SyncSettings settings;
        settings.endpoint = server.baseUrl();
        settings.token = Token;
        settings.caCertificateFile = fixture("ca.pem");
        settings.databasePath = local.filePath(QStringLiteral("local.sqlite"));
        settings.batchSize = 500;
        SyncEngine engine(settings);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QSignalSpy finished(&engine, &SyncEngine::finished);
        engine.startAll();
        QVERIFY(finished.wait(60000));
        QVERIFY2(failed.isEmpty(), qPrintable(failed.value(0).value(2).toString()));
        const QString differences = Test::differences(
            settings.databasePath, customers, server.backend()->liveRecords(customers.name));
        QVERIFY2(differences.isEmpty(), qPrintable(differences));
    }

    void headlessSyncOverHttps()
    {
        Test::TestServer server;
        QVERIFY(server.start(Token));
        server.addCustomers(300, 3);
        server.server()->setTlsConfiguration(serverTls(QStringLiteral("server")));
        QTemporaryDir home;
        QVERIFY(home.isValid());
        const QStringList common { QStringLiteral("--headless"),
                                   QStringLiteral("--endpoint"),
                                   server.baseUrl().toString(),
                                   QStringLiteral("--token"),
                                   Token,
                                   QStringLiteral("--db"),
                                   home.filePath(QStringLiteral("local.sqlite")),
                                   QStringLiteral("--progress"),
                                   QStringLiteral("plain") };

        // Without the test CA the system's store knows no issuer of the certificate.
        const ProcessResult refused
            = runProcess(QStringLiteral(BATCHSYNC_BIN), common, home.path());
        QCOMPARE(refused.exitCode, 1);
        QVERIFY2(refused.standardError.contains(u"unknown issuer")
                     && refused.standardError.contains(u"--ca-cert"),
                 qPrintable(refused.standardError));

        const ProcessResult synced = runProcess(
            QStringLiteral(BATCHSYNC_BIN),
            common + QStringList { QStringLiteral("--ca-cert"), fixture("ca.pem") }, home.path());
        QVERIFY2(synced.exitCode == 0, qPrintable(synced.standardError));

        const ProcessResult badCa = runProcess(
            QStringLiteral(BATCHSYNC_BIN),
            common + QStringList { QStringLiteral("--ca-cert"), fixture("server.key") },
            home.path());
        QCOMPARE(badCa.exitCode, 2);
        QVERIFY2(badCa.standardError.contains(u"server.key")
                     && badCa.standardError.contains(u"holds no PEM certificate"),
                 qPrintable(badCa.standardError));
    }

    // ---- Certificates refused, in words ---------------------------------------------------

    void certificateRefusedInWords_data()
    {
        QTest::addColumn<QString>("served"); // the fixture the server presents
        QTest::addColumn<bool>("withCa"); // whether the client trusts the test CA
        QTest::addColumn<QStringList>("expected");
        QTest::newRow("expired") << QStringLiteral("expired") << true
                                 << QStringList { "has expired", "2001-01-01" };
        QTest::newRow("wrong host name")
            << QStringLiteral("otherhost") << true
            << QStringList { "another host name", "other.example", "not 127.0.0.1" };
        QTest::newRow("unknown issuer")
            << QStringLiteral("server") << false
            << QStringList { "unknown issuer", "BatchSync Test CA", "--ca-cert" };
        QTest::newRow("self-signed")
            << QStringLiteral("selfsigned") << false << QStringList { "self-signed", "--ca-cert" };
        QTest::newRow("self-signed, another CA given")
            << QStringLiteral("selfsigned") << true << QStringList { "self-signed" };
    }

    void certificateRefusedInWords()
    {
        QFETCH(QString, served);
        QFETCH(bool, withCa);
        QFETCH(QStringList, expected);
        Test::TestServer server;
        QVERIFY(server.start());
        server.server()->setTlsConfiguration(serverTls(served));

        QNetworkAccessManager manager;
        ProtocolClient client(&manager);
        client.setBaseUrl(server.baseUrl());
        SyncSettings settings;
        if (withCa)
            settings.caCertificateFile = fixture("ca.pem");
        client.setTransport(TransportPolicy(settings));
        const auto outcome = listEntities(client);
        QVERIFY(outcome);
        const SyncError error = outcome->first;
        // Not transient: the engine stops instead of retrying.
        QCOMPARE(error.category, ErrorCategory::Request);
        QVERIFY2(error.message.startsWith(u"secure connection to 127.0.0.1:"),
                 qPrintable(error.message));
        for (const QString &text : expected)
            QVERIFY2(error.message.contains(text), qPrintable(error.message));
        // The server answered no request: the handshake never ended.
        QCOMPARE(server.server()->requestsServed(), 0);
    }

    void engineStopsAtARefusedCertificate()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(10, 1);
        server.server()->setTlsConfiguration(serverTls(QStringLiteral("expired")));
        QTemporaryDir local;
        QVERIFY(local.isValid());
        SyncSettings settings;
        settings.endpoint = server.baseUrl();
        settings.caCertificateFile = fixture("ca.pem");
        settings.databasePath = local.filePath(QStringLiteral("local.sqlite"));
        SyncEngine engine(settings);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QSignalSpy retrying(&engine, &SyncEngine::retrying);
        engine.startAll();
        QVERIFY(failed.wait(15000));
        QCOMPARE(failed.constFirst().value(1).value<ErrorCategory>(), ErrorCategory::Request);
        QVERIFY2(failed.constFirst().value(2).toString().contains(u"has expired"),
                 qPrintable(failed.constFirst().value(2).toString()));
        QVERIFY(retrying.isEmpty());
    }

    // ---- The screen's limits over TLS ------------------------------------------------------

    void handshakeThatNeverEndsIsClosed_data()
    {
        QTest::addColumn<QByteArray>("sent");
        QTest::newRow("silent") << QByteArray();
        // The first bytes of a ClientHello record, then nothing.
        QTest::newRow("trickled") << QByteArray("\x16\x03\x01\x02\x00\x01", 6);
    }

    void handshakeThatNeverEndsIsClosed()
    {
        QFETCH(QByteArray, sent);
        Test::TestServer server;
        QVERIFY(server.start());
        SyncServer::Limits limits;
        limits.requestTimeoutMs = 400;
        limits.idleTimeoutMs = 60000;
        server.server()->setLimits(limits);
        server.server()->setTlsConfiguration(serverTls(QStringLiteral("server")));

        RawClient client(false);
        QElapsedTimer clock;
        clock.start();
        client.open(server.server()->port());
        if (!sent.isEmpty())
            client.write(sent);
        QTRY_VERIFY_WITH_TIMEOUT(client.isClosed(), 10000);
        QVERIFY2(clock.elapsed() >= 350, qPrintable(QString::number(clock.elapsed())));
        QVERIFY2(clock.elapsed() < 5000, qPrintable(QString::number(clock.elapsed())));
        QVERIFY(client.received().isEmpty());
        QCOMPARE(server.server()->connectionsTimedOut(), 1);
        QTRY_COMPARE(server.server()->openConnections(), 0);
    }

    void plainHttpToTheTlsPortIsClosed()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.server()->setTlsConfiguration(serverTls(QStringLiteral("server")));
        RawClient client(false);
        client.open(server.server()->port());
        client.write("GET /api/v1/entities HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        QTRY_VERIFY_WITH_TIMEOUT(client.isClosed(), 10000);
        QVERIFY(!client.received().startsWith("HTTP/"));
        QCOMPARE(server.server()->requestsServed(), 0);
        QCOMPARE(server.server()->connectionsTimedOut(), 0); // closed at once, not timed out
    }

    void screenRefusesOverTls_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<int>("status");
        QTest::newRow("slow head") << QByteArray("GET /api/v1/entities HTTP/1.1\r\n") << 408;
        QTest::newRow("request line too long") << "GET /" + QByteArray(600, 'a')
                + " HTTP/1.1\r\n\r\n" << 414;
        QTest::newRow("header too large") << "GET /api/v1/entities HTTP/1.1\r\nX-Big: "
                + QByteArray(400, 'b') + "\r\nX-More: " + QByteArray(400, 'c')
                + "\r\n\r\n" << 431;
        QTest::newRow("body on a GET")
            << QByteArray("GET /api/v1/entities HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello") << 413;
        QTest::newRow("push too large")
            << QByteArray("POST /api/v1/entities/customers/changes HTTP/1.1\r\n"
                          "Content-Length: 99999999\r\n\r\n")
            << 413;
        QTest::newRow("not GET") << QByteArray("DELETE /api/v1/entities HTTP/1.1\r\n\r\n") << 405;
    }

    void screenRefusesOverTls()
    {
        QFETCH(QByteArray, request);
        QFETCH(int, status);
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(5, 1);
        SyncServer::Limits limits;
        limits.requestTimeoutMs = 400;
        limits.maxRequestLineBytes = 512;
        limits.maxHeadBytes = 600;
        server.server()->setLimits(limits);
        server.server()->setTlsConfiguration(serverTls(QStringLiteral("server")));

        RawClient client(true);
        client.open(server.server()->port());
        QTRY_VERIFY_WITH_TIMEOUT(client.isEncrypted(), 10000);
        client.write(request);
        QTRY_VERIFY_WITH_TIMEOUT(client.status() != 0, 10000);
        QCOMPARE(client.status(), status);
        QVERIFY2(client.received().contains("Connection: close"), client.received().constData());
        QTRY_VERIFY_WITH_TIMEOUT(client.isClosed(), 10000);
        QCOMPARE(server.server()->requestsRefused(), 1);
    }

    void bodiesAndIdleConnectionsOverTls()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(5, 1);
        SyncServer::Limits limits;
        limits.idleTimeoutMs = 600;
        server.server()->setLimits(limits);
        server.server()->setTlsConfiguration(serverTls(QStringLiteral("server")));

        // A push's body passes the screen to the router (which refuses it as JSON), and the
        // next request on the connection is read from where the body ended.
        RawClient client(true);
        client.open(server.server()->port());
        QTRY_VERIFY_WITH_TIMEOUT(client.isEncrypted(), 10000);
        const QByteArray body("{\"not\": \"a push\"}");
        client.write("POST /api/v1/entities/customers/changes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: "
                     + QByteArray::number(body.size()) + "\r\n\r\n" + body
                     + "GET /api/v1/entities/customers/count HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        QTRY_VERIFY_WITH_TIMEOUT(client.received().contains("{\"count\":5}"), 10000);
        QCOMPARE(client.status(), 400);
        QCOMPARE(server.server()->requestsRefused(), 0);
        QCOMPARE(server.server()->requestsServed(), 2);

        // Then silence: closed as idle, over TLS as over plain HTTP.
        QElapsedTimer clock;
        clock.start();
        QTRY_VERIFY_WITH_TIMEOUT(client.isClosed(), 10000);
        QVERIFY2(clock.elapsed() >= 400, qPrintable(QString::number(clock.elapsed())));
        QCOMPARE(server.server()->connectionsTimedOut(), 1);
    }

    void connectionLimitOverTls()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        SyncServer::Limits limits;
        limits.maxConnections = 2;
        server.server()->setLimits(limits);
        server.server()->setTlsConfiguration(serverTls(QStringLiteral("server")));

        std::vector<std::unique_ptr<RawClient>> held;
        for (int i = 0; i < 2; ++i) {
            held.push_back(std::make_unique<RawClient>(true));
            held.back()->open(server.server()->port());
            QTRY_VERIFY_WITH_TIMEOUT(held.back()->isEncrypted(), 10000);
        }
        QCOMPARE(server.server()->openConnections(), 2);
        RawClient third(true);
        third.open(server.server()->port());
        QTRY_VERIFY_WITH_TIMEOUT(third.status() != 0, 10000);
        QCOMPARE(third.status(), 503);
        QVERIFY(third.received().contains("Retry-After: 1"));
        QVERIFY(third.received().contains("too many connections"));

        // Room again once one goes: a request is served over TLS.
        held.pop_back();
        QTRY_COMPARE_WITH_TIMEOUT(server.server()->openConnections(), 1, 10000);
        RawClient fourth(true);
        fourth.open(server.server()->port());
        QTRY_VERIFY_WITH_TIMEOUT(fourth.isEncrypted(), 10000);
        fourth.write("GET /api/v1/entities HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        QTRY_VERIFY_WITH_TIMEOUT(fourth.status() != 0, 10000);
        QCOMPARE(fourth.status(), 200);
    }

    // ---- Credentials over plain http ---------------------------------------------------------

    void loopbackHosts_data()
    {
        QTest::addColumn<QString>("host");
        QTest::addColumn<bool>("loopback");
        QTest::newRow("127.0.0.1") << QStringLiteral("127.0.0.1") << true;
        QTest::newRow("127.5.6.7") << QStringLiteral("127.5.6.7") << true;
        QTest::newRow("localhost") << QStringLiteral("LocalHost") << true;
        QTest::newRow("localhost.") << QStringLiteral("localhost.") << true;
        QTest::newRow("::1") << QStringLiteral("::1") << true;
        QTest::newRow("mapped") << QStringLiteral("::ffff:127.0.0.1") << true;
        QTest::newRow("TEST-NET") << QStringLiteral("192.0.2.1") << false;
        QTest::newRow("128.0.0.1") << QStringLiteral("128.0.0.1") << false;
        QTest::newRow("127.example") << QStringLiteral("127.0.0.1.example.com") << false;
        QTest::newRow("localhost.example") << QStringLiteral("localhost.example.com") << false;
        QTest::newRow("name") << QStringLiteral("sync.example.com") << false;
        QTest::newRow("::2") << QStringLiteral("::2") << false;
    }

    void loopbackHosts()
    {
        QFETCH(QString, host);
        QFETCH(bool, loopback);
        QCOMPARE(isLoopbackHost(host), loopback);
    }

    void settingsRefuseCredentialsOverPlainHttp()
    {
        SyncSettings settings;
        settings.databasePath = QStringLiteral("unused.sqlite");
        settings.endpoint = FarEndpoint;
        QVERIFY(settings.validate().isEmpty()); // nothing secret to send
        settings.token = Token;
        QVERIFY(settings.validate().contains(u"--allow-insecure-http"));
        QVERIFY(!settings.validate().contains(Token)); // never the secret itself
        settings.allowInsecureHttp = true;
        QVERIFY(settings.validate().isEmpty());
        settings.allowInsecureHttp = false;
        settings.endpoint = QUrl(QStringLiteral("https://192.0.2.1/api/v1"));
        QVERIFY(settings.validate().isEmpty());
        settings.endpoint = QUrl(QStringLiteral("http://localhost:8080/api/v1"));
        QVERIFY(settings.validate().isEmpty());
        settings.token.clear();
        settings.source = SourceKind::OData;
        settings.user = QStringLiteral("alice");
        settings.password = QStringLiteral("secret");
        settings.endpoint = FarEndpoint;
        QVERIFY(settings.validate().contains(u"--allow-insecure-http"));
    }

    void protocolClientSendsNoTokenInTheClear()
    {
        Test::FakeNetworkAccessManager network;
        network.addRule(
            Test::FakeRule::fail(QStringLiteral("/"), QNetworkReply::ConnectionRefusedError));
        ProtocolClient client(&network);
        client.setBaseUrl(FarEndpoint);
        client.setToken(Token);

        const auto refused = listEntities(client);
        QVERIFY(refused);
        QCOMPARE(refused->first.category, ErrorCategory::Request);
        QVERIFY2(refused->first.message.contains(u"--allow-insecure-http"),
                 qPrintable(refused->first.message));
        QVERIFY(refused->first.message.contains(u"192.0.2.1"));
        QCOMPARE(network.requestCount(), 0); // no request, so no connection

        // Allowed: the request goes, token and all (here to the fake's refusal).
        SyncSettings allowing;
        allowing.allowInsecureHttp = true;
        client.setTransport(TransportPolicy(allowing));
        const auto sent = listEntities(client);
        QVERIFY(sent);
        QCOMPARE(network.requestCount(), 1);
        QCOMPARE(network.requests().constFirst().rawHeader("Authorization"),
                 "Bearer " + Token.toLatin1());
        QCOMPARE(sent->first.category, ErrorCategory::Network);

        // Without a token nothing secret goes, so nothing is refused.
        client.setTransport(TransportPolicy());
        client.setToken(QString());
        QVERIFY(listEntities(client));
        QCOMPARE(network.requestCount(), 2);
    }

    void odataSourceSendsNoPasswordInTheClear()
    {
        Test::FakeNetworkAccessManager network;
        network.addRule(
            Test::FakeRule::fail(QStringLiteral("/"), QNetworkReply::ConnectionRefusedError));
        SyncSettings settings;
        settings.source = SourceKind::OData;
        settings.endpoint = QUrl(QStringLiteral("http://192.0.2.1:4004/odata/v4/shop/"));
        settings.user = QStringLiteral("alice");
        settings.password = QStringLiteral("wonderland");
        ODataSource source(&network, settings);
        const auto refused = listEntities(source);
        QVERIFY(refused);
        QCOMPARE(refused->first.category, ErrorCategory::Request);
        QVERIFY(refused->first.message.contains(u"--allow-insecure-http"));
        QVERIFY(!refused->first.message.contains(settings.password));
        QCOMPARE(network.requestCount(), 0);

        settings.allowInsecureHttp = true;
        ODataSource allowed(&network, settings);
        QVERIFY(listEntities(allowed));
        QCOMPARE(network.requestCount(), 1);
        QVERIFY(network.requests().constFirst().rawHeader("Authorization").startsWith("Basic "));
    }

    void engineRefusesBeforeAnyRequest()
    {
        QTemporaryDir local;
        QVERIFY(local.isValid());
        SyncSettings settings;
        settings.endpoint = FarEndpoint;
        settings.token = Token;
        settings.databasePath = local.filePath(QStringLiteral("local.sqlite"));
        auto requests = std::make_shared<std::atomic<int>>(0);
        SyncEngine engine(settings, ProtocolClient::factory(settings, [requests] {
                              auto *network = new Test::FakeNetworkAccessManager;
                              QObject::connect(network,
                                               &Test::FakeNetworkAccessManager::requestCreated,
                                               network, [requests] { ++*requests; });
                              return network;
                          }));
        QSignalSpy failed(&engine, &SyncEngine::failed);
        engine.startAll();
        QVERIFY(failed.wait(10000));
        QVERIFY2(failed.constFirst().value(2).toString().contains(u"--allow-insecure-http"),
                 qPrintable(failed.constFirst().value(2).toString()));
        QCOMPARE(requests->load(), 0);
    }

    void headlessRefusesCredentialsOverPlainHttp()
    {
        QTemporaryDir home;
        QVERIFY(home.isValid());
        QElapsedTimer clock;
        clock.start();
        const ProcessResult result
            = runProcess(QStringLiteral(BATCHSYNC_BIN),
                         { QStringLiteral("--headless"), QStringLiteral("--endpoint"),
                           FarEndpoint.toString(), QStringLiteral("--token"), Token,
                           QStringLiteral("--db"), home.filePath(QStringLiteral("local.sqlite")) },
                         home.path());
        QVERIFY2(result.exitCode != 0, qPrintable(result.standardError));
        QVERIFY2(result.standardError.contains(u"--allow-insecure-http"),
                 qPrintable(result.standardError));
        QVERIFY(!result.standardError.contains(Token));
        // Said at once, not after a connection attempt to an address that never answers.
        QVERIFY2(clock.elapsed() < 20000, qPrintable(QString::number(clock.elapsed())));
    }

    void loopbackOverPlainHttpStillWorks_data()
    {
        QTest::addColumn<QString>("host");
        QTest::newRow("127.0.0.1") << QStringLiteral("127.0.0.1");
        QTest::newRow("localhost") << QStringLiteral("localhost");
    }

    void loopbackOverPlainHttpStillWorks()
    {
        QFETCH(QString, host);
        Test::TestServer server;
        QVERIFY(server.start(Token));
        server.addCustomers(3, 1);
        QUrl url = server.baseUrl();
        QCOMPARE(url.scheme(), QStringLiteral("http"));
        url.setHost(host);
        QNetworkAccessManager manager;
        ProtocolClient client(&manager);
        client.setBaseUrl(url);
        client.setToken(Token);
        const auto listed = listEntities(client);
        QVERIFY(listed);
        QVERIFY2(listed->first.category == ErrorCategory::None, qPrintable(listed->first.message));
        QCOMPARE(listed->second.size(), 1);
    }
};

QTEST_GUILESS_MAIN(TestTls)
#include "tst_tls.moc"
