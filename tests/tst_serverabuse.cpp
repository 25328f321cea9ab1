// batchsync-server under abuse: thousands of malformed, oversized, slow and abandoned
// requests against a SyncServer on its own thread, then a normal client is still served.
// Also the token comparison and the binary's default loopback bind. Traffic goes to
// 127.0.0.1 only (and, for the bind check, to this machine's own address).

#include "server/backend/serverstore.h"
#include "server/syncserver.h"
#include "testutil/testserver.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QNetworkInterface>
#include <QProcess>
#include <QRandomGenerator>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>
#include <memory>
#include <sys/socket.h>

using namespace BatchSync;

namespace {

constexpr int HangGuardMs = 15000; // no answer and no close within this: the server hangs

// A SyncServer with 12,000 customers on a thread of its own, so that this thread may block
// on its sockets. Everything touching the server runs in its thread.
class ServerThread
{
public:
    ServerThread()
    {
        m_context.moveToThread(&m_thread);
        m_thread.start();
    }
    ~ServerThread()
    {
        run([this] { m_server.reset(); });
        m_thread.quit();
        m_thread.wait();
    }

    bool start(const SyncServer::Limits &limits)
    {
        bool ok = false;
        run([&] {
            m_server = std::make_unique<Test::TestServer>();
            if (!m_server->start())
                return;
            m_server->server()->setLimits(limits);
            m_server->addCustomers(12000, 42);
            m_port = m_server->server()->port();
            ok = true;
        });
        return ok;
    }

    template<typename Function> void run(Function &&function)
    {
        QMetaObject::invokeMethod(&m_context, std::forward<Function>(function),
                                  Qt::BlockingQueuedConnection);
    }

    template<typename Value> Value read(Value (SyncServer::*getter)() const)
    {
        Value value {};
        run([&] { value = (m_server->server()->*getter)(); });
        return value;
    }

    quint16 port() const { return m_port; }
    bool isRunning() const { return m_thread.isRunning(); }

private:
    QThread m_thread;
    QObject m_context;
    std::unique_ptr<Test::TestServer> m_server;
    quint16 m_port = 0;
};

struct Outcome
{
    int status = 0; // 0: no HTTP answer
    QByteArray headers;
    QByteArray body;
    bool closed = false; // the server closed the connection
    bool hung = false; // neither an answer nor a close in time
};

std::unique_ptr<QTcpSocket> connectTo(quint16 port)
{
    auto socket = std::make_unique<QTcpSocket>();
    socket->connectToHost(QHostAddress::LocalHost, port);
    if (!socket->waitForConnected(HangGuardMs))
        return nullptr;
    return socket;
}

// Reads one response (by Content-Length) or until the server closes; blocking.
Outcome readOutcome(QTcpSocket *socket, int timeoutMs = HangGuardMs)
{
    Outcome outcome;
    QByteArray received;
    QElapsedTimer timer;
    timer.start();
    for (;;) {
        received += socket->readAll();
        const qsizetype headEnd = received.indexOf("\r\n\r\n");
        if (headEnd >= 0 && outcome.status == 0) {
            outcome.headers = received.first(headEnd);
            const QList<QByteArray> statusLine = outcome.headers.split(' ');
            outcome.status = statusLine.size() > 1 ? statusLine.at(1).toInt() : -1;
        }
        if (headEnd >= 0) {
            qsizetype length = -1;
            for (const QByteArray &line : outcome.headers.split('\n')) {
                if (line.toLower().startsWith("content-length:"))
                    length = line.mid(15).trimmed().toLongLong();
            }
            if (length >= 0 && received.size() >= headEnd + 4 + length) {
                outcome.body = received.sliced(headEnd + 4, length);
                return outcome;
            }
        }
        if (socket->state() != QAbstractSocket::ConnectedState) {
            outcome.closed = true;
            if (headEnd >= 0)
                outcome.body = received.sliced(headEnd + 4);
            return outcome;
        }
        const int left = timeoutMs - int(timer.elapsed());
        if (left <= 0) {
            outcome.hung = true;
            return outcome;
        }
        socket->waitForReadyRead(qMin(left, 1000));
    }
}

// Sends \a bytes on a new connection and reads what comes back.
Outcome exchange(quint16 port, const QByteArray &bytes)
{
    std::unique_ptr<QTcpSocket> socket = connectTo(port);
    if (!socket) {
        Outcome outcome;
        outcome.hung = true;
        return outcome;
    }
    socket->write(bytes);
    // A server that refuses early may close while we still send: that is allowed.
    while (socket->bytesToWrite() > 0 && socket->state() == QAbstractSocket::ConnectedState) {
        if (!socket->waitForBytesWritten(HangGuardMs))
            break;
    }
    return readOutcome(socket.get());
}

QString errorOf(const Outcome &outcome)
{
    const QJsonDocument document = QJsonDocument::fromJson(outcome.body);
    return document.object().value(QLatin1String("error")).toString();
}

// The answer is an error with a JSON message, or there is no answer and the connection is
// closed. Never a success, never a hang.
bool isErrorOrClose(const Outcome &outcome, QString *why)
{
    if (outcome.hung) {
        *why = QStringLiteral("no answer and no close within %1 ms").arg(HangGuardMs);
        return false;
    }
    if (outcome.status == 0)
        return outcome.closed;
    if (outcome.status < 400 || outcome.status > 599) {
        *why = QStringLiteral("status %1").arg(outcome.status);
        return false;
    }
    if (!outcome.headers.contains("Content-Type: application/json") || errorOf(outcome).isEmpty()) {
        *why = QStringLiteral("status %1 without a JSON error: %2")
                   .arg(outcome.status)
                   .arg(QString::fromLatin1(outcome.headers + "\r\n\r\n" + outcome.body.left(200)));
        return false;
    }
    return true;
}

QByteArray get(const QByteArray &target, const QByteArray &extraHeaders = QByteArray())
{
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extraHeaders + "\r\n";
}

QByteArray randomBytes(QRandomGenerator &random, int size, bool printable)
{
    QByteArray bytes(size, Qt::Uninitialized);
    for (char &c : bytes)
        c = char(printable ? 0x21 + random.bounded(0x7e - 0x21) : random.bounded(256));
    return bytes;
}

struct Case
{
    QByteArray bytes;
    int status = 0; // the status it must get; 0: any error or a close
};

// A malformed request: garbage, broken request lines and headers, bad encodings.
Case malformed(QRandomGenerator &random)
{
    switch (random.bounded(16)) {
    case 0: // printable garbage as a line
        return { randomBytes(random, 1 + random.bounded(300), true) + "\r\n\r\n", 400 };
    case 1: // binary garbage
        return { "X" + randomBytes(random, 1 + random.bounded(300), false) + "\r\n\r\n", 0 };
    case 2:
        return { "GET\r\n\r\n", 400 };
    case 3:
        return { "GET /api/v1/entities\r\n\r\n", 400 };
    case 4: {
        static const QByteArrayList methods { "FOO",      "get",  "BREW",   "TRACE", "CONNECT",
                                              "PROPFIND", "POST", "DELETE", "PUT" };
        return { methods.at(random.bounded(methods.size()))
                     + " /api/v1/entities HTTP/1.1\r\nHost: x\r\n\r\n",
                 405 };
    }
    case 5:
        return { "G@T /api/v1/entities HTTP/1.1\r\n\r\n", 400 };
    case 6: {
        static const QByteArrayList encodings { "%", "%z1", "%1", "%%", "%g0", "x%" };
        return { get("/api/v1/entities/" + encodings.at(random.bounded(encodings.size()))
                     + "/count"),
                 400 };
    }
    case 7:
        return { "GET /api/v1/entities HTTP/2.0\r\n\r\n", 505 };
    case 8:
        return { "GET /api/v1/entities HTTQ/1.1\r\n\r\n", 400 };
    case 9:
        return { "GET api/v1/entities HTTP/1.1\r\n\r\n", 400 };
    case 10:
        return { "GET http://example.invalid/api/v1/entities HTTP/1.1\r\n\r\n", 400 };
    case 11:
        return { get("/api/v1/entities", "Bad Name: x\r\n"), 400 };
    case 12:
        return { get("/api/v1/entities", "X-Folded: a\r\n  b\r\n"), 400 };
    case 13:
        return { get("/api/v1/entities",
                     "X-Control: a\x01"
                     "b\r\n"),
                 400 };
    case 14:
        return { get("/api/v1/entities", "Upgrade: websocket\r\nConnection: Upgrade\r\n"), 400 };
    default:
        return { get("/api/v1/entities", "NoColon\r\n"), 400 };
    }
}

// A well-formed request with a parameter or entity the server must refuse.
Case badParameter(QRandomGenerator &random)
{
    static const QByteArrayList limits {
        "abc", "-1", "0", "10001", "1e3", "1.5", "", "+5", "99999999999999999999", "%201", "0x10"
    };
    static const QByteArrayList sinces { "-5", "abc", "1.0", "%2B5", "99999999999999999999" };
    static const QByteArrayList changedSinces { "garbage", "2025-01-01", "2025-01-01T00:00:00Z",
                                                "9999-99-99T99:99:99.999Z", "%00" };
    const QByteArray changes = "/api/v1/entities/customers/changes?";
    const QByteArray count = "/api/v1/entities/customers/count?";
    switch (random.bounded(9)) {
    case 0:
        return { get(changes + "limit=" + limits.at(random.bounded(limits.size()))), 400 };
    case 1:
        return { get(changes + "changedSince=&offset="
                     + QByteArrayList { "-1", "x", "1e3", "" }.at(random.bounded(4))),
                 400 };
    case 2:
        return { get((random.bounded(2) ? changes : count)
                     + "since=" + sinces.at(random.bounded(sinces.size()))),
                 400 };
    case 3:
        return { get(changes + "since=" + QByteArray(7000, '7')), 400 };
    case 4:
        return { get((random.bounded(2) ? changes : count)
                     + "changedSince=" + changedSinces.at(random.bounded(changedSinces.size()))),
                 400 };
    case 5:
        return { get(changes + "since=1&changedSince=2025-01-01T00:00:00.000Z"), 400 };
    case 6:
        return { get(changes + "since=1&offset=3"), 400 };
    case 7: {
        static const QByteArrayList names { "x;DROP%20TABLE%20customers",
                                            "..%2F..%2Fetc",
                                            "%00",
                                            "%C3%A9t%C3%A9",
                                            "%F0%9F%98%80",
                                            "%FF%FE",
                                            "customers%00",
                                            "CUSTOMERS",
                                            "_sync_state",
                                            "x%22y",
                                            "%27%3B--" };
        return { get("/api/v1/entities/" + names.at(random.bounded(names.size()))
                     + (random.bounded(2) ? "/changes" : "/count")),
                 404 };
    }
    default: // a long unknown name: 404 below the request line cap, 414 above it
        if (random.bounded(2))
            return { get("/api/v1/entities/" + QByteArray(5000, 'n') + "/count"), 404 };
        return { get("/api/v1/entities/" + QByteArray(10240, 'n') + "/count"), 414 };
    }
}

// Requests over the size caps, or with a body.
Case oversized(QRandomGenerator &random)
{
    switch (random.bounded(7)) {
    case 0:
        return { get("/api/v1/entities", "Content-Length: 5\r\n") + "hello", 413 };
    case 1:
        return { get("/api/v1/entities", "Content-Length: 1000000000000\r\n") + "abc", 413 };
    case 2:
        return { get("/api/v1/entities", "Transfer-Encoding: chunked\r\n")
                     + "5\r\nhello\r\n0\r\n\r\n",
                 413 };
    case 3:
        return { get("/api/v1/entities", "Content-Length: abc\r\n"), 400 };
    case 4: {
        QByteArray headers;
        for (int i = 0; i < 101; ++i)
            headers += "X-H" + QByteArray::number(i) + ": v\r\n";
        return { get("/api/v1/entities", headers), 431 };
    }
    case 5:
        return { get("/api/v1/entities", "X-Big: " + QByteArray(9000, 'b') + "\r\n"), 431 };
    default:
        return { get("/" + QByteArray(9000, 'u')), 414 };
    }
}

} // namespace

class TstServerAbuse final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void constantTimeComparison_data()
    {
        QTest::addColumn<QByteArray>("given");
        QTest::addColumn<QByteArray>("expected");
        QTest::addColumn<bool>("equal");
        const QByteArray token = "Bearer s3cret-token";
        QTest::newRow("equal") << token << token << true;
        QTest::newRow("both empty") << QByteArray() << QByteArray() << true;
        QTest::newRow("first byte differs") << QByteArray("bearer s3cret-token") << token << false;
        QTest::newRow("last byte differs") << QByteArray("Bearer s3cret-tokeN") << token << false;
        QTest::newRow("middle differs") << QByteArray("Bearer s3creT-token") << token << false;
        QTest::newRow("shorter prefix") << QByteArray("Bearer s3cret") << token << false;
        QTest::newRow("longer, same prefix") << token + 'x' << token << false;
        QTest::newRow("longer with NUL") << token + '\0' << token << false;
        QTest::newRow("empty given") << QByteArray() << token << false;
        QTest::newRow("empty expected") << token << QByteArray() << false;
        QTest::newRow("NUL inside, equal")
            << QByteArray("a\0b", 3) << QByteArray("a\0b", 3) << true;
        QTest::newRow("NUL vs other") << QByteArray("a\0b", 3) << QByteArray("a\1b", 3) << false;
        QTest::newRow("high bytes") << QByteArray("\xff\xfe") << QByteArray("\xff\xff") << false;
    }

    // Correctness on every shape of input; the time is by construction (every byte of the
    // expected value is visited whatever the input), not measured here.
    void constantTimeComparison()
    {
        QFETCH(QByteArray, given);
        QFETCH(QByteArray, expected);
        QFETCH(bool, equal);
        QCOMPARE(SyncServer::constantTimeEquals(given, expected), equal);
        QCOMPARE(SyncServer::constantTimeEquals(given, expected), given == expected);
    }

    void thousandsOfAbusiveRequests()
    {
        SyncServer::Limits limits;
        limits.maxConnections = 64;
        limits.requestTimeoutMs = 1500;
        limits.idleTimeoutMs = 5000;
        ServerThread server;
        QVERIFY(server.start(limits));
        const quint16 port = server.port();

        bool seedOk = false;
        quint32 seed = qEnvironmentVariableIntValue("BATCHSYNC_ABUSE_SEED", &seedOk);
        if (!seedOk)
            seed = 20261126;
        QRandomGenerator random(seed);
        qInfo("seed %u (set BATCHSYNC_ABUSE_SEED to repeat another run)", seed);

        QMap<QString, int> counts;
        QMap<int, int> statuses;
        int answered = 0;
        int closedWithoutAnswer = 0;
        const auto check = [&](const QString &kind, const Case &sent, const Outcome &outcome) {
            ++counts[kind];
            QString why;
            if (!isErrorOrClose(outcome, &why)) {
                qWarning("%s: %s for %s", qPrintable(kind), qPrintable(why),
                         qPrintable(QString::fromLatin1(
                             sent.bytes.left(200).toPercentEncoding(" /?&=:;.-_\r\n"))));
                return false;
            }
            if (outcome.status != 0) {
                ++answered;
                ++statuses[outcome.status];
            } else {
                ++closedWithoutAnswer;
            }
            if (sent.status != 0 && outcome.status != sent.status) {
                qWarning("%s: expected %d, got %d (%s) for %s", qPrintable(kind), sent.status,
                         outcome.status, qPrintable(errorOf(outcome)),
                         qPrintable(QString::fromLatin1(sent.bytes.left(200))));
                return false;
            }
            return true;
        };

        const QByteArray bigPage = get("/api/v1/entities/customers/changes?limit=10000");
        const QByteArray smallPage = get("/api/v1/entities/customers/changes?limit=500");
        QElapsedTimer timer;
        timer.start();

        // 1. 2,900 requests, one connection each, in a seeded random order.
        for (int i = 0; i < 2900; ++i) {
            const int pick = random.bounded(100);
            if (pick < 35) {
                const Case sent = malformed(random);
                QVERIFY(check(QStringLiteral("malformed"), sent, exchange(port, sent.bytes)));
            } else if (pick < 70) {
                const Case sent = badParameter(random);
                QVERIFY(check(QStringLiteral("bad parameters"), sent, exchange(port, sent.bytes)));
            } else if (pick < 82) {
                const Case sent = oversized(random);
                QVERIFY(check(QStringLiteral("oversized or with a body"), sent,
                              exchange(port, sent.bytes)));
            } else if (pick < 94) {
                // Abandoned mid-send: half a request (or half a head), then gone.
                std::unique_ptr<QTcpSocket> socket = connectTo(port);
                QVERIFY(socket);
                const QByteArray whole = random.bounded(2) ? smallPage : badParameter(random).bytes;
                socket->write(whole.left(1 + random.bounded(int(whole.size()) - 2)));
                socket->waitForBytesWritten(1000);
                socket->abort();
                ++counts[QStringLiteral("abandoned mid-send")];
            } else {
                // Abandoned mid-response: a whole page asked for, then gone, at once or once
                // its first bytes have come.
                std::unique_ptr<QTcpSocket> socket = connectTo(port);
                QVERIFY(socket);
                const bool big = random.bounded(4) == 0;
                socket->write(big ? bigPage : smallPage);
                socket->waitForBytesWritten(1000);
                if (random.bounded(2))
                    socket->waitForReadyRead(HangGuardMs);
                socket->abort();
                ++counts[big ? QStringLiteral("abandoned mid-response (10,000-record page)")
                             : QStringLiteral("abandoned mid-response (500-record page)")];
            }
        }

        // 2. Huge uploads: a 1 MB request line, 10,000 header fields, a GET with a 100 MB
        // body. Refused early; the server drops the rest and closes.
        for (int i = 0; i < 2; ++i) {
            const Case line { "GET /" + QByteArray(1024 * 1024, 'a') + " HTTP/1.1\r\n\r\n", 414 };
            QVERIFY(check(QStringLiteral("oversized or with a body"), line,
                          exchange(port, line.bytes)));
            QByteArray fields;
            for (int f = 0; f < 10000; ++f)
                fields += "X-Field-" + QByteArray::number(f) + ": value\r\n";
            const Case headers { get("/api/v1/entities", fields), 431 };
            QVERIFY(check(QStringLiteral("oversized or with a body"), headers,
                          exchange(port, headers.bytes)));

            std::unique_ptr<QTcpSocket> socket = connectTo(port);
            QVERIFY(socket);
            socket->write(get("/api/v1/entities", "Content-Length: 100000000\r\n"));
            const QByteArray chunk(1024 * 1024, 'x');
            qint64 sent = 0;
            while (sent < 100 * 1024 * 1024 && socket->state() == QAbstractSocket::ConnectedState) {
                socket->write(chunk);
                if (!socket->waitForBytesWritten(5000))
                    break;
                sent += chunk.size();
            }
            const Outcome outcome = readOutcome(socket.get());
            QVERIFY(
                check(QStringLiteral("oversized or with a body"), { QByteArray(), 0 }, outcome));
            QVERIFY(outcome.status == 413 || outcome.status == 0);
        }

        // 3. Many connections at once: beyond the cap, 503 with Retry-After.
        {
            QTRY_COMPARE_WITH_TIMEOUT(server.read(&SyncServer::openConnections), 0, 10000);
            std::vector<std::unique_ptr<QTcpSocket>> sockets;
            for (int i = 0; i < 100; ++i) {
                sockets.push_back(connectTo(port));
                QVERIFY(sockets.back());
            }
            QThread::msleep(500);
            int refused = 0;
            std::vector<bool> wasRefused(sockets.size(), false);
            for (std::size_t i = 0; i < sockets.size(); ++i) {
                QTcpSocket *socket = sockets[i].get();
                if (socket->bytesAvailable() > 0 || socket->waitForReadyRead(0)) {
                    wasRefused[i] = true;
                    const Outcome outcome = readOutcome(socket);
                    QVERIFY(check(QStringLiteral("simultaneous connections"), { QByteArray(), 503 },
                                  outcome));
                    QVERIFY(outcome.headers.contains("Retry-After: 1"));
                    ++refused;
                }
            }
            // The ones let in are served.
            int served = 0;
            for (std::size_t i = 0; i < sockets.size(); ++i) {
                QTcpSocket *socket = sockets[i].get();
                if (wasRefused[i])
                    continue;
                socket->write(get("/api/v1/entities/customers/count"));
                const Outcome outcome = readOutcome(socket);
                if (outcome.status == 503) { // its refusal had not arrived yet above
                    QVERIFY(check(QStringLiteral("simultaneous connections"), { QByteArray(), 503 },
                                  outcome));
                    ++refused;
                    continue;
                }
                QVERIFY2(outcome.status == 200,
                         qPrintable(QStringLiteral("connection %1: status %2, closed %3, %4")
                                        .arg(served)
                                        .arg(outcome.status)
                                        .arg(outcome.closed)
                                        .arg(QString::fromLatin1(outcome.body))));
                ++served;
                ++counts[QStringLiteral("simultaneous connections")];
            }
            QCOMPARE(refused, 100 - limits.maxConnections);
            QCOMPARE(served, limits.maxConnections);
            qInfo("100 simultaneous connections: %d served, %d refused with 503 over the cap of %d",
                  served, refused, limits.maxConnections);
        }

        // 4. Slow and silent clients: a head sent a byte at a time never completes in time
        // (408); a connection that sends nothing is closed.
        QTRY_COMPARE_WITH_TIMEOUT(server.read(&SyncServer::openConnections), 0, 10000);
        {
            std::vector<std::unique_ptr<QTcpSocket>> slow;
            std::vector<std::unique_ptr<QTcpSocket>> silent;
            for (int i = 0; i < 8; ++i) {
                slow.push_back(connectTo(port));
                silent.push_back(connectTo(port));
                QVERIFY(slow.back() && silent.back());
            }
            const QByteArray head
                = get("/api/v1/entities", "X-Slow: " + QByteArray(50, 's') + "\r\n");
            QElapsedTimer slowTimer;
            slowTimer.start();
            std::vector<bool> done(slow.size(), false);
            int answered408 = 0;
            for (int at = 0; at < head.size() - 1 && answered408 < int(slow.size()); ++at) {
                QVERIFY2(slowTimer.elapsed() < HangGuardMs, "slow heads were never refused");
                for (std::size_t i = 0; i < slow.size(); ++i) {
                    QTcpSocket *socket = slow[i].get();
                    if (done[i])
                        continue;
                    if (socket->bytesAvailable() > 0 || socket->waitForReadyRead(0)
                        || socket->state() != QAbstractSocket::ConnectedState) {
                        const Outcome outcome = readOutcome(socket);
                        QVERIFY(check(QStringLiteral("slow heads (slowloris)"), { head, 408 },
                                      outcome));
                        done[i] = true;
                        ++answered408;
                        continue;
                    }
                    socket->write(head.mid(at, 1));
                    socket->flush();
                }
                QThread::msleep(50);
            }
            QCOMPARE(answered408, int(slow.size()));
            QVERIFY2(slowTimer.elapsed() >= limits.requestTimeoutMs,
                     "refused before the request timeout");
            for (auto &socket : silent) {
                const Outcome outcome = readOutcome(socket.get());
                QVERIFY2(outcome.closed && outcome.status == 0, "an idle connection stayed open");
                ++counts[QStringLiteral("silent connections")];
                ++closedWithoutAnswer;
            }
        }

        // 5. Afterwards: the server's thread is alive, every abusive connection is gone, and a
        // normal client gets the entities and a full page of changes.
        QVERIFY(server.isRunning());
        QTRY_COMPARE_WITH_TIMEOUT(server.read(&SyncServer::openConnections), 0, 10000);
        {
            std::unique_ptr<QTcpSocket> socket = connectTo(port);
            QVERIFY(socket);
            socket->write(get("/api/v1/entities"));
            const Outcome entities = readOutcome(socket.get());
            QCOMPARE(entities.status, 200);
            const QJsonArray list = QJsonDocument::fromJson(entities.body)
                                        .object()
                                        .value(QLatin1String("entities"))
                                        .toArray();
            QCOMPARE(list.size(), 1);
            QCOMPARE(list.at(0).toObject().value(QLatin1String("name")).toString(),
                     QStringLiteral("customers"));
            // Same connection: keep-alive still works after all of it.
            socket->write(bigPage);
            const Outcome page = readOutcome(socket.get());
            QCOMPARE(page.status, 200);
            const QJsonObject body = QJsonDocument::fromJson(page.body).object();
            QCOMPARE(body.value(QLatin1String("changes")).toArray().size(), 10000);
            QCOMPARE(body.value(QLatin1String("hasMore")).toBool(), true);
        }

        int total = 0;
        QStringList parts;
        for (auto it = counts.cbegin(); it != counts.cend(); ++it) {
            total += it.value();
            parts << QStringLiteral("%1 %2").arg(it.value()).arg(it.key());
        }
        QStringList statusParts;
        for (auto it = statuses.cbegin(); it != statuses.cend(); ++it)
            statusParts << QStringLiteral("%1×%2").arg(it.value()).arg(it.key());
        qInfo("%d abusive requests and connections in %.1f s: %s", total, timer.elapsed() / 1000.0,
              qPrintable(parts.join(QStringLiteral(", "))));
        qInfo("answers: %s (all JSON errors); %d closed without an answer; server refused %lld "
              "at the screen, timed out %lld connections, answered %lld in all; it served a "
              "valid client afterwards (entities and a 10,000-record page)",
              qPrintable(statusParts.join(QStringLiteral(", "))), closedWithoutAnswer,
              server.read(&SyncServer::requestsRefused),
              server.read(&SyncServer::connectionsTimedOut),
              server.read(&SyncServer::requestsServed));
        QVERIFY(total >= 3000);
    }

    // "Connection: close" is honoured (Qt 6.4 alone keeps the connection open).
    void connectionCloseIsHonoured()
    {
        ServerThread server;
        QVERIFY(server.start(SyncServer::Limits()));
        for (const QByteArray &request :
             { get("/api/v1/entities/customers/count", "Connection: close\r\n"),
               QByteArray("GET /api/v1/entities/customers/count HTTP/1.0\r\n\r\n") }) {
            std::unique_ptr<QTcpSocket> socket = connectTo(server.port());
            QVERIFY(socket);
            socket->write(request);
            const Outcome outcome = readOutcome(socket.get());
            QCOMPARE(outcome.status, 200);
            QCOMPARE(outcome.body, QByteArray("{\"count\":12000}"));
            // Closed: the next read finds the end of the stream.
            if (socket->state() == QAbstractSocket::ConnectedState)
                socket->waitForReadyRead(5000);
            QVERIFY2(socket->state() == QAbstractSocket::UnconnectedState,
                     qPrintable(
                         QStringLiteral("%1, %2").arg(socket->state()).arg(socket->errorString())));
        }
    }

    // batchsync-server serves on 127.0.0.1 unless told otherwise: this machine's other
    // addresses refuse the connection.
    void binaryBindsLoopbackByDefault()
    {
        QHostAddress external;
        for (const QHostAddress &address : QNetworkInterface::allAddresses()) {
            if (!address.isLoopback() && address.protocol() == QAbstractSocket::IPv4Protocol) {
                external = address;
                break;
            }
        }
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const auto startServer = [&](const QStringList &arguments, QProcess *process) {
            process->start(QStringLiteral(BATCHSYNC_SERVER_BIN),
                           arguments
                               + QStringList { QStringLiteral("--db"),
                                               dir.filePath(QStringLiteral("s.sqlite")) });
            if (!process->waitForReadyRead(60000))
                return QUrl();
            const QString line = QString::fromUtf8(process->readLine()).trimmed();
            return QUrl(line.section(u' ', -1));
        };
        QProcess process;
        const QUrl url = startServer({ QStringLiteral("--port"), QStringLiteral("0") }, &process);
        QCOMPARE(url.host(), QStringLiteral("127.0.0.1"));
        QVERIFY(url.port() > 0);
        QTcpSocket loopback;
        loopback.connectToHost(QHostAddress::LocalHost, quint16(url.port()));
        QVERIFY(loopback.waitForConnected(5000));
        loopback.abort();
        if (!external.isNull()) {
            QTcpSocket other;
            other.connectToHost(external, quint16(url.port()));
            QVERIFY2(!other.waitForConnected(5000),
                     qPrintable(QStringLiteral("%1 accepted").arg(external.toString())));
            QCOMPARE(other.error(), QAbstractSocket::ConnectionRefusedError);
        }
        process.terminate();
        QVERIFY(process.waitForFinished(30000));
        QCOMPARE(process.exitCode(), 0);

        if (external.isNull())
            QSKIP("this machine has no non-loopback IPv4 address to check against");
        // The control: told to serve on every address, the same check connects.
        QProcess open;
        const QUrl anyUrl
            = startServer({ QStringLiteral("--listen"), QStringLiteral("0.0.0.0:0") }, &open);
        QVERIFY(anyUrl.port() > 0);
        QTcpSocket other;
        other.connectToHost(external, quint16(anyUrl.port()));
        QVERIFY(other.waitForConnected(5000));
        other.abort();
        open.terminate();
        QVERIFY(open.waitForFinished(30000));
    }
};

QTEST_GUILESS_MAIN(TstServerAbuse)
#include "tst_serverabuse.moc"
