// GET /api/v1/wait (protocol v1.1, live sync) on the reference server: answered at once when an
// entity has changed after its cursor, held otherwise until a change (a push, or any write of
// the backend) or the timeout; every refusal in words; held requests outside the ordinary
// connection count, with their own limit; a client that goes away is dropped. On SQLite, or on
// PostgreSQL with BATCHSYNC_TEST_BACKEND=postgres (the ctest entry tst_wait_postgres).

#include "server/access/authrules.h"
#include "testutil/pushfixture.h"

#include <QJsonDocument>
#include <memory>
#include <vector>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

const QString PgDatabase = QStringLiteral("batchsync_wait");

// The status line and the JSON body of a raw HTTP answer, once it is whole.
struct RawAnswer
{
    int status = 0;
    QJsonObject json;
};

std::optional<RawAnswer> parseRaw(const QByteArray &bytes)
{
    const qsizetype headEnd = bytes.indexOf("\r\n\r\n");
    if (!bytes.startsWith("HTTP/1.1 ") || headEnd < 0)
        return std::nullopt;
    const qsizetype lengthAt = bytes.toLower().indexOf("content-length:");
    if (lengthAt < 0 || lengthAt > headEnd)
        return std::nullopt;
    const qsizetype lineEnd = bytes.indexOf("\r\n", lengthAt);
    const qsizetype length
        = bytes.mid(lengthAt + 15, lineEnd - lengthAt - 15).trimmed().toLongLong();
    if (bytes.size() < headEnd + 4 + length)
        return std::nullopt;
    RawAnswer answer;
    answer.status = bytes.mid(9, 3).toInt();
    answer.json = QJsonDocument::fromJson(bytes.mid(headEnd + 4, length)).object();
    return answer;
}

} // namespace

class TstWait : public QObject, private PushFixture
{
    Q_OBJECT

private slots:
    void initTestCase() { BATCHSYNC_SKIP_UNLESS_POSTGRES_USABLE(); }

    void init()
    {
        if (PgTest::selected()) {
            m_postgres = PgTest::connection(PgDatabase, QStringLiteral("wait"), true);
            QVERIFY(!m_postgres.isEmpty());
        }
        QVERIFY(setUp());
        m_server->addCustomers(3, 7, QStringLiteral("orders"));
        m_cursor = cursorOf("customers");
        QVERIFY(!m_cursor.isEmpty());
    }
    void cleanup()
    {
        m_held.clear();
        tearDown();
    }

    void answersAtOnceWhenSomethingIsNew()
    {
        // From the beginning, both entities have changes; from their ends, none.
        const Reply fresh = send("GET", "/wait?timeout=5&since=customers:,orders:0");
        QCOMPARE(fresh.status, 200);
        QCOMPARE(fresh.json(),
                 QJsonObject({ { "changed", QJsonArray { "customers", "orders" } } }));
        const Reply one = send("GET", "/wait?timeout=5&since=customers:" + m_cursor + ",orders:0");
        QCOMPARE(one.json(), QJsonObject({ { "changed", QJsonArray { "orders" } } }));
    }

    void timesOutWithNothing()
    {
        const Reply reply = send("GET", "/wait?timeout=1&since=customers:" + m_cursor);
        QCOMPARE(reply.status, 200);
        QCOMPARE(reply.json(), QJsonObject({ { "changed", QJsonArray() } }));
    }

    void aPushWakesTheWaiter()
    {
        QTcpSocket *held = holdRaw("/api/v1/wait?timeout=60&since=orders:" + cursorOf("orders")
                                   + ",customers:" + m_cursor);
        QTRY_COMPARE(m_server->server()->waitsHeld(), 1);
        QCOMPARE(results({ change("w1", "new-one", QJsonValue(), false, fullData("New", 1)) })
                     .at(0)["status"]
                     .toString(),
                 QStringLiteral("applied"));
        const RawAnswer answer = waitForAnswer(held);
        QCOMPARE(answer.status, 200);
        QCOMPARE(answer.json, QJsonObject({ { "changed", QJsonArray { "customers" } } }));
        QCOMPARE(m_server->server()->waitsHeld(), 0);
    }

    // Any write of the backend wakes it, not only a push over HTTP (on PostgreSQL, another
    // server's or a plain SQL write are the same to this server).
    void aBackendWriteWakesTheWaiter()
    {
        QTcpSocket *held = holdRaw("/api/v1/wait?timeout=60&since=orders:" + cursorOf("orders"));
        QTRY_COMPARE(m_server->server()->waitsHeld(), 1);
        QString error;
        QVERIFY2(m_server->backend()->remove("orders", { firstId("orders") }, &error),
                 qPrintable(error));
        const RawAnswer answer = waitForAnswer(held);
        QCOMPARE(answer.json, QJsonObject({ { "changed", QJsonArray { "orders" } } }));
    }

    void aChangeElsewhereDoesNotWakeIt()
    {
        QTcpSocket *held = holdRaw("/api/v1/wait?timeout=2&since=customers:" + m_cursor);
        QTRY_COMPARE(m_server->server()->waitsHeld(), 1);
        QString error;
        QVERIFY(m_server->backend()->remove("orders", { firstId("orders") }, &error));
        const RawAnswer answer = waitForAnswer(held);
        QCOMPARE(answer.json, QJsonObject({ { "changed", QJsonArray() } }));
    }

    void refusesInWords_data()
    {
        QTest::addColumn<QByteArray>("verb");
        QTest::addColumn<QString>("query");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("says");
        QTest::newRow("no since") << QByteArray("GET") << "timeout=5" << 400 << "since must name";
        QTest::newRow("empty since") << QByteArray("GET") << "since=" << 400 << "since must name";
        QTest::newRow("no cursor part")
            << QByteArray("GET") << "since=customers" << 400 << "is not entity:cursor";
        QTest::newRow("junk cursor")
            << QByteArray("GET") << "since=customers:abc" << 400 << "is not entity:cursor";
        QTest::newRow("twice") << QByteArray("GET") << "since=customers:1,customers:2" << 400
                               << "names customers twice";
        QTest::newRow("timeout 0")
            << QByteArray("GET") << "timeout=0&since=customers:1" << 400 << "from 1 to 60";
        QTest::newRow("timeout 61")
            << QByteArray("GET") << "timeout=61&since=customers:1" << 400 << "from 1 to 60";
        QTest::newRow("timeout words")
            << QByteArray("GET") << "timeout=soon&since=customers:1" << 400 << "from 1 to 60";
        QTest::newRow("unknown entity")
            << QByteArray("GET") << "since=invoices:1" << 404 << "no entity named \"invoices\"";
        QTest::newRow("post") << QByteArray("POST") << "since=customers:1" << 405 << "answers GET";
    }

    void refusesInWords()
    {
        QFETCH(QByteArray, verb);
        QFETCH(QString, query);
        QFETCH(int, status);
        QFETCH(QString, says);
        const Reply reply = send(verb, "/wait?" + query);
        QCOMPARE(reply.status, status);
        QVERIFY2(reply.json().value("error").toString().contains(says), reply.body.constData());
    }

    void tokensAndScopesApply()
    {
        const QString ordersCursor = cursorOf("orders");
        QString error;
        const QByteArray file = "{\"tokens\": [{\"name\": \"orders-only\", \"sha256\": \""
            + AccessRules::hashHex("t-orders") + "\", \"read\": [\"orders\"]}]}";
        const std::optional<AccessRules> rules = AccessRules::parse(file, &error);
        QVERIFY2(rules, qPrintable(error));
        QVERIFY(m_server->server()->setAccessRules(*rules, &error));
        QCOMPARE(send("GET", "/wait?since=orders:0").status, 401);
        QCOMPARE(send("GET", "/wait?since=orders:0", {}, "Bearer wrong").status, 401);
        const Reply hidden = send("GET", "/wait?since=customers:0", {}, "Bearer t-orders");
        QCOMPARE(hidden.status, 404);
        QCOMPARE(hidden.json().value("error").toString(),
                 QStringLiteral("no entity named \"customers\""));
        QCOMPARE(send("GET", "/wait?since=orders:0", {}, "Bearer t-orders").json(),
                 QJsonObject({ { "changed", QJsonArray { "orders" } } }));

        // New rules release the held waits: each client asks again under them.
        QTcpSocket *held
            = holdRaw("/api/v1/wait?timeout=60&since=orders:" + ordersCursor, "t-orders");
        QTRY_COMPARE(m_server->server()->waitsHeld(), 1);
        QVERIFY(m_server->server()->setAccessRules(*rules, &error));
        QCOMPARE(waitForAnswer(held).json, QJsonObject({ { "changed", QJsonArray() } }));
    }

    // Held waits leave the ordinary connections' count for their own limit; ordinary requests
    // keep being served while they wait; past the limit, 503 with Retry-After.
    void heldWaitsHaveTheirOwnLimit()
    {
        SyncServer::Limits limits = m_server->server()->limits();
        limits.maxConnections = 4;
        limits.maxWaiting = 8;
        m_server->server()->setLimits(limits);
        // Connections count as ordinary until their request is read: one at a time.
        const QString path = "/api/v1/wait?timeout=60&since=customers:" + m_cursor;
        for (int i = 0; i < 8; ++i) {
            holdRaw(path);
            QTRY_COMPARE(m_server->server()->waitsHeld(), i + 1);
        }
        QVERIFY(m_server->server()->openConnections() <= 1);
        QCOMPARE(send("GET", "/entities/customers/count").status, 200);

        QTcpSocket *extra = holdRaw(path);
        const RawAnswer busy = waitForAnswer(extra);
        QCOMPARE(busy.status, 503);
        QVERIFY(busy.json.value("error").toString().contains("too many waiting requests (8)"));
        QCOMPARE(m_server->server()->waitsHeld(), 8);

        // One change answers them all.
        QString error;
        QVERIFY(m_server->backend()->remove("customers", { m_ids.at(0) }, &error));
        for (int i = 0; i < 8; ++i) {
            QCOMPARE(waitForAnswer(m_held.at(size_t(i)).get()).json,
                     QJsonObject({ { "changed", QJsonArray { "customers" } } }));
        }
        QCOMPARE(m_server->server()->waitsHeld(), 0);
    }

    // A client that goes away while it waits is dropped, and a change afterwards answers no
    // one (under ASan: nothing written to a socket that is gone).
    void aClientThatLeavesIsDropped()
    {
        QTcpSocket *held = holdRaw("/api/v1/wait?timeout=60&since=customers:" + m_cursor);
        QTRY_COMPARE(m_server->server()->waitsHeld(), 1);
        held->abort();
        QTRY_COMPARE(m_server->server()->waitsHeld(), 0);
        QString error;
        QVERIFY(m_server->backend()->remove("customers", { m_ids.at(1) }, &error));
        QCOMPARE(send("GET", "/entities/customers/count").status, 200);
    }

    // The server closing with waits held answers none of them and frees everything.
    void closingWithWaitsHeld()
    {
        holdRaw("/api/v1/wait?timeout=60&since=customers:" + m_cursor);
        QTRY_COMPARE(m_server->server()->waitsHeld(), 1);
        tearDown();
        QVERIFY(m_held.at(0)->waitForDisconnected(5000)
                || m_held.at(0)->state() == QAbstractSocket::UnconnectedState);
        QVERIFY(m_held.at(0)->readAll().isEmpty());
    }

private:
    QString cursorOf(const QString &entity)
    {
        const Reply page = send("GET", "/entities/" + entity + "/changes?limit=10000");
        return page.json().value("cursor").toString();
    }

    QString firstId(const QString &entity)
    {
        const Reply page = send("GET", "/entities/" + entity + "/changes?limit=1");
        return page.json()["changes"][0]["id"].toString();
    }

    QTcpSocket *holdRaw(const QString &pathAndQuery, const QByteArray &token = QByteArray())
    {
        auto socket = std::make_unique<QTcpSocket>();
        socket->connectToHost(QHostAddress::LocalHost, m_server->server()->port());
        socket->waitForConnected(5000);
        QByteArray head = "GET " + pathAndQuery.toLatin1() + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        if (!token.isEmpty())
            head += "Authorization: Bearer " + token + "\r\n";
        socket->write(head + "\r\n");
        socket->flush();
        m_held.push_back(std::move(socket));
        return m_held.back().get();
    }

    RawAnswer waitForAnswer(QTcpSocket *socket)
    {
        QByteArray bytes;
        QElapsedTimer timer;
        timer.start();
        while (timer.elapsed() < 60000) {
            bytes += socket->readAll();
            if (const std::optional<RawAnswer> answer = parseRaw(bytes))
                return *answer;
            QSignalSpy ready(socket, &QTcpSocket::readyRead);
            ready.wait(100);
        }
        return RawAnswer();
    }

    QString m_cursor;
    std::vector<std::unique_ptr<QTcpSocket>> m_held;
};

QTEST_GUILESS_MAIN(TstWait)
#include "tst_wait.moc"
