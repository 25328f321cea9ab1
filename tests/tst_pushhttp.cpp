// POST /entities/{name}/changes as HTTP requests on the reference server: the shape of the
// body (400), its size (16 MiB pass, more is 413, refused from the head), the order of
// whole-request errors, and the other routes keeping their limits.

#include "testutil/pushfixture.h"

using namespace BatchSync;
using namespace BatchSync::Test;

class TstPushHttp : public QObject, private PushFixture
{
    Q_OBJECT

private slots:
    void init() { QVERIFY(setUp()); }
    void cleanup() { tearDown(); }

    void badShape_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QString>("error");

        const QJsonObject ok = change("x", "id", QJsonValue(), true);
        const auto withChangeId = [&ok](const QJsonValue &changeId) {
            QJsonObject object = ok;
            if (changeId.isUndefined())
                object.remove("changeId");
            else
                object.insert("changeId", changeId);
            return request({ object });
        };
        QJsonArray tooMany;
        for (int i = 0; i <= Push::MaxChanges; ++i)
            tooMany.append(change(QString::number(i), "id", QJsonValue(), true));
        QTest::newRow("empty") << QByteArray() << QStringLiteral("not JSON");
        QTest::newRow("not JSON") << QByteArray("{\"client\":") << QStringLiteral("not JSON");
        QTest::newRow("array") << QByteArray("[]") << QStringLiteral("object");
        QTest::newRow("client missing")
            << QByteArray("{\"changes\":[{\"changeId\":\"1\",\"id\":\"i\",\"base\":null,"
                          "\"deleted\":true}]}")
            << QStringLiteral("client");
        QTest::newRow("client empty") << request({}, "") << QStringLiteral("client");
        QTest::newRow("client number")
            << QByteArray("{\"client\":1,\"changes\":[]}") << QStringLiteral("client");
        QTest::newRow("client too long")
            << request({}, QString(129, 'c')) << QStringLiteral("client");
        QTest::newRow("changes missing")
            << QByteArray("{\"client\":\"c\"}") << QStringLiteral("changes");
        QTest::newRow("changes object")
            << QByteArray("{\"client\":\"c\",\"changes\":{}}") << QStringLiteral("changes");
        QTest::newRow("change not object")
            << QByteArray("{\"client\":\"c\",\"changes\":[1]}") << QStringLiteral("changes[0]");
        QTest::newRow("changeId missing")
            << withChangeId(QJsonValue::Undefined) << QStringLiteral("changeId");
        QTest::newRow("changeId empty") << withChangeId("") << QStringLiteral("changeId");
        QTest::newRow("changeId number") << withChangeId(17) << QStringLiteral("changeId");
        QTest::newRow("changeId too long")
            << withChangeId(QString(129, 'x')) << QStringLiteral("changeId");
        QTest::newRow("10,001 changes") << request(tooMany) << QStringLiteral("10000");
    }

    void badShape()
    {
        QFETCH(QByteArray, body);
        QFETCH(QString, error);
        const qint64 before = changeCount();
        const Reply reply = push(body);
        QCOMPARE(reply.status, 400);
        QVERIFY2(reply.json().value("error").toString().contains(error), reply.body.constData());
        QCOMPARE(changeCount(), before);
    }

    void limitsPass()
    {
        // Edges that are fine: no changes (without a client too), a 128-character changeId,
        // 10,000 changes.
        QCOMPARE(results({}).size(), 0);
        const Reply empty = push(QByteArrayLiteral("{\"changes\": []}"));
        QCOMPARE(empty.status, 200);
        QCOMPARE(empty.body, QByteArrayLiteral("{\"results\":[]}"));
        QCOMPARE(results({ change(QString(128, 'x'), "id", QJsonValue(), true) }).size(), 1);
        QJsonArray many;
        for (int i = 0; i < Push::MaxChanges; ++i)
            many.append(change(QString::number(i), QStringLiteral("m%1").arg(i), QJsonValue(),
                               false, fullData("M", i)));
        QCOMPARE(results(many).size(), Push::MaxChanges);
        QCOMPARE(m_server->store()->liveCount(QStringLiteral("customers")), 5 + Push::MaxChanges);
    }

    void bodyOf16MiBPasses()
    {
        // Exactly 16,777,216 bytes: a request padded with spaces, which JSON allows.
        QByteArray body
            = request({ change("big", "big-id", QJsonValue(), false, fullData("B", 1)) });
        body.append(QByteArray(Push::MaxBodyBytes - body.size(), ' '));
        QCOMPARE(body.size(), 16777216);
        const Reply reply = push(body);
        QCOMPARE(reply.status, 200);
        QCOMPARE(reply.json().value("results").toArray().at(0).toObject().value("status"),
                 QJsonValue("applied"));
        // The connection's buffer is bounded again afterwards: the next request is served.
        QCOMPARE(send("GET", QStringLiteral("/entities")).status, 200);
    }

    void bodyOver16MiBRefused_data()
    {
        QTest::addColumn<QString>("entity");
        QTest::addColumn<QByteArray>("authorization");
        QTest::addColumn<bool>("readOnly");
        QTest::addColumn<int>("status");

        const QByteArray right("Bearer t0ken");
        QTest::newRow("413") << QStringLiteral("customers") << right << false << 413;
        QTest::newRow("401 first")
            << QStringLiteral("nope") << QByteArray("Bearer wrong") << true << 401;
        QTest::newRow("403 first") << QStringLiteral("nope") << right << true << 403;
        QTest::newRow("404 first") << QStringLiteral("nope") << right << false << 404;
    }

    void bodyOver16MiBRefused()
    {
        QFETCH(QString, entity);
        QFETCH(QByteArray, authorization);
        QFETCH(bool, readOnly);
        QFETCH(int, status);
        m_server->server()->setToken(QStringLiteral("t0ken"));
        m_server->server()->setReadOnly(readOnly);
        // Refused from the head: the body is never read.
        const QByteArray answer
            = raw("POST /api/v1/entities/" + entity.toUtf8()
                  + "/changes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Authorization: "
                  + authorization + "\r\nContent-Length: 16777217\r\n\r\n{");
        QVERIFY2(answer.startsWith("HTTP/1.1 " + QByteArray::number(status) + ' '),
                 answer.constData());
        QVERIFY(answer.contains("{\"error\":"));
        QCOMPARE(m_server->store()->liveCount(QStringLiteral("customers")), 5);
    }

    void wholeRequestErrorsInOrder_data()
    {
        QTest::addColumn<QString>("entity");
        QTest::addColumn<QByteArray>("authorization");
        QTest::addColumn<bool>("readOnly");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("status");

        const QByteArray right("Bearer t0ken");
        const QByteArray junk("not json");
        QTest::newRow("401 before 403")
            << QStringLiteral("customers") << QByteArray() << true << junk << 401;
        QTest::newRow("403 before 404") << QStringLiteral("nope") << right << true << junk << 403;
        QTest::newRow("404 before 400") << QStringLiteral("nope") << right << false << junk << 404;
        QTest::newRow("400") << QStringLiteral("customers") << right << false << junk << 400;
        QTest::newRow("403 for a good push")
            << QStringLiteral("customers") << right << true
            << request({ change("r", "r", QJsonValue(), true) }) << 403;
    }

    void wholeRequestErrorsInOrder()
    {
        QFETCH(QString, entity);
        QFETCH(QByteArray, authorization);
        QFETCH(bool, readOnly);
        QFETCH(QByteArray, body);
        QFETCH(int, status);
        m_server->server()->setToken(QStringLiteral("t0ken"));
        m_server->server()->setReadOnly(readOnly);
        const Reply reply = push(body, entity, authorization);
        QCOMPARE(reply.status, status);
        QVERIFY(!reply.json().value("error").toString().isEmpty());
        QCOMPARE(changeCount(), 5);
    }

    void otherRoutesKeepTheirLimits()
    {
        // A body anywhere else is still refused from the head, POST elsewhere is a 405.
        const QByteArray count = raw("GET /api/v1/entities/customers/count HTTP/1.1\r\nHost: x\r\n"
                                     "Content-Length: 5\r\n\r\nhello");
        QVERIFY2(count.startsWith("HTTP/1.1 413 "), count.constData());
        const QByteArray post = raw("POST /api/v1/entities HTTP/1.1\r\nHost: x\r\n"
                                    "Content-Length: 2\r\n\r\n{}");
        QVERIFY2(post.startsWith("HTTP/1.1 405 "), post.constData());
        const QByteArray chunked = raw("POST /api/v1/entities/customers/changes HTTP/1.1\r\n"
                                       "Host: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        QVERIFY2(chunked.startsWith("HTTP/1.1 411 "), chunked.constData());
    }

    void expectContinue()
    {
        // A client that waits for "100 Continue" before its body gets it at once.
        const QByteArray body
            = request({ change("e", "expecting", QJsonValue(), false, fullData("E", 1)) });
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, m_server->server()->port());
        QVERIFY(socket.waitForConnected(5000));
        socket.write("POST /api/v1/entities/customers/changes HTTP/1.1\r\nHost: x\r\n"
                     "Expect: 100-continue\r\nContent-Length: "
                     + QByteArray::number(body.size()) + "\r\n\r\n");
        QByteArray answer;
        QTRY_VERIFY_WITH_TIMEOUT((answer += socket.readAll()).contains("\r\n\r\n"), 500);
        QCOMPARE(answer, QByteArray("HTTP/1.1 100 Continue\r\n\r\n"));
        socket.write(body);
        QTRY_VERIFY_WITH_TIMEOUT((answer += socket.readAll()).contains("\"status\":\"applied\""),
                                 5000);
        QVERIFY(answer.contains("HTTP/1.1 200 "));
    }

    void pipelinedAfterABody()
    {
        // The guard follows the body: the request after it is read as a request.
        const QByteArray body
            = request({ change("p", "piped", QJsonValue(), false, fullData("P", 1)) });
        const QByteArray answer
            = raw("POST /api/v1/entities/customers/changes HTTP/1.1\r\nHost: x\r\n"
                  "Content-Length: "
                  + QByteArray::number(body.size()) + "\r\n\r\n" + body
                  + "GET /api/v1/entities/customers/count HTTP/1.1\r\nHost: x\r\n"
                    "Connection: close\r\n\r\n");
        QVERIFY2(answer.startsWith("HTTP/1.1 200 "), answer.constData());
        QVERIFY2(answer.contains("\"status\":\"applied\""), answer.constData());
        QVERIFY2(answer.contains("{\"count\":6}"), answer.constData());
    }
};

QTEST_GUILESS_MAIN(TstPushHttp)
#include "tst_pushhttp.moc"
