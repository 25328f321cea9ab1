// Protocol v1.1 on the reference server (SQLite): versions in pages, "protocol" and "writable"
// in /entities, and POST /entities/{name}/changes over HTTP: applied, conflict and rejected
// results, idempotency, one transaction per request, the body limit and the order of
// whole-request errors.

#include "common/types.h"
#include "server/backend/serverstore.h"
#include "server/push.h"
#include "server/syncserver.h"
#include "sources/protocol/protocolparser.h"
#include "testutil/testserver.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTcpSocket>
#include <QTest>

using namespace BatchSync;

namespace {

struct Reply
{
    int status = 0;
    QByteArray body;
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
};

QJsonObject change(const QString &changeId, const QString &id, const QJsonValue &base, bool deleted,
                   const QJsonObject &data = QJsonObject())
{
    QJsonObject object { { QStringLiteral("changeId"), changeId },
                         { QStringLiteral("id"), id },
                         { QStringLiteral("base"), base },
                         { QStringLiteral("deleted"), deleted } };
    if (!deleted)
        object.insert(QStringLiteral("data"), data);
    return object;
}

QByteArray request(const QJsonArray &changes, const QString &client = QStringLiteral("client-1"))
{
    return QJsonDocument(QJsonObject { { QStringLiteral("client"), client },
                                       { QStringLiteral("changes"), changes } })
        .toJson(QJsonDocument::Compact);
}

QJsonObject fullData(const QString &name, qint64 visits)
{
    return { { QStringLiteral("name"), name },
             { QStringLiteral("balance"), 12.5 },
             { QStringLiteral("active"), true },
             { QStringLiteral("visits"), visits },
             { QStringLiteral("since"), QStringLiteral("2026-12-02T08:00:00.000Z") } };
}

} // namespace

class TstPush : public QObject
{
    Q_OBJECT

private:
    std::unique_ptr<Test::TestServer> m_server;
    std::unique_ptr<QNetworkAccessManager> m_nam;
    QStringList m_ids; // the customers' ids, all live at version = position + 1

    QUrl url(const QString &path) const
    {
        QUrl url = m_server->baseUrl();
        url.setPath(url.path() + path);
        return url;
    }

    Reply send(const QByteArray &verb, const QString &path, const QByteArray &body = QByteArray(),
               const QByteArray &authorization = QByteArray())
    {
        QNetworkRequest request(url(path));
        request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
        if (!authorization.isEmpty())
            request.setRawHeader("Authorization", authorization);
        std::unique_ptr<QNetworkReply> reply(
            verb == "GET" ? m_nam->get(request) : m_nam->sendCustomRequest(request, verb, body));
        QSignalSpy finished(reply.get(), &QNetworkReply::finished);
        Reply result;
        if (!reply->isFinished() && !finished.wait(60000))
            return result;
        result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        result.body = reply->readAll();
        return result;
    }

    Reply push(const QByteArray &body, const QString &entity = QStringLiteral("customers"),
               const QByteArray &authorization = QByteArray())
    {
        return send("POST", QStringLiteral("/entities/%1/changes").arg(entity), body,
                    authorization);
    }

    // The results of a push that must answer 200.
    QJsonArray results(const QJsonArray &changes, const QString &client = QStringLiteral("c"))
    {
        const Reply reply = push(request(changes, client));
        if (reply.status != 200)
            qWarning("push answered %d: %s", reply.status, reply.body.constData());
        return reply.json().value(QStringLiteral("results")).toArray();
    }

    // A raw request, answered with whatever the server sends until it closes or 10 s pass.
    QByteArray raw(const QByteArray &bytes)
    {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, m_server->server()->port());
        if (!socket.waitForConnected(5000))
            return QByteArray();
        socket.write(bytes);
        QByteArray answer;
        QElapsedTimer timer;
        timer.start();
        while (socket.state() == QAbstractSocket::ConnectedState && timer.elapsed() < 10000) {
            QSignalSpy ready(&socket, &QTcpSocket::readyRead);
            ready.wait(200);
            answer += socket.readAll();
        }
        return answer + socket.readAll();
    }

    QJsonObject liveRecord(const QString &id)
    {
        const QList<QVariant> values
            = m_server->store()->liveRecords(QStringLiteral("customers")).value(id);
        if (values.isEmpty())
            return QJsonObject();
        QJsonObject object;
        const QStringList names { "name", "balance", "active", "visits", "since" };
        for (int i = 0; i < names.size(); ++i)
            object.insert(names.at(i), QJsonValue::fromVariant(values.at(i)));
        return object;
    }

    // The change of \a id in the pages after \a cursor, or an empty object.
    QJsonObject pulled(const QString &id, const QString &cursor = QStringLiteral("0"))
    {
        int records = 0;
        QString error;
        const std::optional<QByteArray> body = m_server->store()->changesJson(
            QStringLiteral("customers"), PagingMode::Cursor, cursor, 0, 10000, &records, &error);
        const QJsonArray changes = QJsonDocument::fromJson(body.value_or(QByteArray()))
                                       .object()
                                       .value("changes")
                                       .toArray();
        for (const QJsonValue &value : changes) {
            if (value.toObject().value("id").toString() == id)
                return value.toObject();
        }
        return QJsonObject();
    }

    // The version of the entity's last change (its cursor at the end).
    qint64 changeCount()
    {
        int records = 0;
        const std::optional<QByteArray> body
            = m_server->store()->changesJson(QStringLiteral("customers"), PagingMode::Cursor,
                                             QString(), 0, 10000, &records, nullptr);
        return QJsonDocument::fromJson(body.value_or(QByteArray()))
            .object()
            .value("cursor")
            .toString()
            .toLongLong();
    }

private slots:
    void init()
    {
        m_server = std::make_unique<Test::TestServer>();
        QVERIFY(m_server->start());
        m_nam = std::make_unique<QNetworkAccessManager>();
        m_server->addCustomers(5);
        m_ids.clear();
        const Reply page = send("GET", QStringLiteral("/entities/customers/changes"));
        for (const QJsonValue &change : page.json().value("changes").toArray())
            m_ids.append(change.toObject().value("id").toString());
        QCOMPARE(m_ids.size(), 5);
    }

    void cleanup()
    {
        m_nam.reset();
        m_server.reset();
    }

    void entitiesSayProtocolAndWritable_data()
    {
        QTest::addColumn<bool>("readOnly");
        QTest::newRow("writable") << false;
        QTest::newRow("read-only") << true;
    }

    void entitiesSayProtocolAndWritable()
    {
        QFETCH(bool, readOnly);
        m_server->server()->setReadOnly(readOnly);
        const Reply reply = send("GET", QStringLiteral("/entities"));
        QCOMPARE(reply.status, 200);
        QCOMPARE(reply.json().value("protocol").toString(), QStringLiteral("1.1"));
        const QJsonArray entities = reply.json().value("entities").toArray();
        QCOMPARE(entities.size(), 1);
        QCOMPARE(entities.at(0).toObject().value("writable"), QJsonValue(!readOnly));
        // A v1 client still reads the list.
        QList<EntitySchema> schemas;
        QString error;
        QVERIFY2(Protocol::parseEntities(reply.body, &schemas, &error), qPrintable(error));
        QCOMPARE(schemas.size(), 1);
    }

    void versionsInPages()
    {
        const Reply reply = send("GET", QStringLiteral("/entities/customers/changes"));
        QCOMPARE(reply.status, 200);
        const QJsonArray changes = reply.json().value("changes").toArray();
        QCOMPARE(changes.size(), 5);
        for (int i = 0; i < changes.size(); ++i)
            QCOMPARE(changes.at(i).toObject().value("version"), QJsonValue(QString::number(i + 1)));
        // A v1 client reads past the new member.
        ChangePage page;
        QString error;
        QVERIFY2(Protocol::parseChanges(reply.body, *m_server->store()->entity("customers"), 1000,
                                        PagingMode::Cursor, &page, &error),
                 qPrintable(error));
        QCOMPARE(page.changes.size(), 5);
        // A deletion carries its version too.
        QString problem;
        QVERIFY(m_server->store()->remove(QStringLiteral("customers"), { m_ids.at(0) }, &problem));
        QCOMPARE(pulled(m_ids.at(0), QStringLiteral("5")).value("version").toString(),
                 QStringLiteral("6"));
    }

    void applied_data()
    {
        QTest::addColumn<int>("record"); // index into m_ids; -1: a new id
        QTest::addColumn<bool>("deleteFirst"); // delete the record on the server first
        QTest::addColumn<QJsonValue>("base");
        QTest::addColumn<bool>("deleted");
        QTest::addColumn<bool>("changes"); // whether a new change joins the feed

        QTest::newRow("update at base") << 2 << false << QJsonValue("3") << false << true;
        QTest::newRow("create") << -1 << false << QJsonValue() << false << true;
        QTest::newRow("create over deleted") << 1 << true << QJsonValue() << false << true;
        QTest::newRow("delete at base") << 4 << false << QJsonValue("5") << true << true;
        QTest::newRow("delete null base, none") << -1 << false << QJsonValue() << true << false;
        QTest::newRow("delete null base, deleted") << 1 << true << QJsonValue() << true << false;
    }

    void applied()
    {
        QFETCH(int, record);
        QFETCH(bool, deleteFirst);
        QFETCH(QJsonValue, base);
        QFETCH(bool, deleted);
        QFETCH(bool, changes);
        const QString id = record < 0 ? QStringLiteral("brand-new") : m_ids.at(record);
        QString error;
        if (deleteFirst)
            QVERIFY(m_server->store()->remove(QStringLiteral("customers"), { id }, &error));
        const qint64 before = changeCount();
        const QString cursor = QString::number(before);

        const QJsonArray answer
            = results({ change("ch-1", id, base, deleted, fullData(QStringLiteral("Ada"), 4)) });
        QCOMPARE(answer.size(), 1);
        const QJsonObject result = answer.at(0).toObject();
        QCOMPARE(result.value("changeId").toString(), QStringLiteral("ch-1"));
        QCOMPARE(result.value("status").toString(), QStringLiteral("applied"));
        QCOMPARE(changeCount(), before + (changes ? 1 : 0));
        if (!deleted)
            QCOMPARE(liveRecord(id), fullData(QStringLiteral("Ada"), 4));
        else
            QVERIFY(liveRecord(id).isEmpty());
        if (!changes)
            return;
        // The change joined the feed: pulls after the old cursor see it, at that version.
        const QJsonObject seen = pulled(id, cursor);
        QCOMPARE(seen.value("version"), result.value("version"));
        QCOMPARE(seen.value("changedAt"), result.value("changedAt"));
        QCOMPARE(seen.value("deleted").toBool(), deleted);
        QCOMPARE(result.value("version").toString(), QString::number(before + 1));
    }

    void conflict_data()
    {
        QTest::addColumn<int>("record");
        QTest::addColumn<bool>("deleteFirst");
        QTest::addColumn<QJsonValue>("base");
        QTest::addColumn<bool>("deleted");
        QTest::addColumn<bool>("currentLive");

        QTest::newRow("stale base") << 2 << false << QJsonValue("2") << false << true;
        QTest::newRow("stale base, delete") << 2 << false << QJsonValue("1") << true << true;
        QTest::newRow("create over live") << 0 << false << QJsonValue() << false << true;
        QTest::newRow("delete null base over live") << 0 << false << QJsonValue() << true << true;
        QTest::newRow("base for missing") << -1 << false << QJsonValue("3") << false << false;
        QTest::newRow("base for deleted") << 3 << true << QJsonValue("4") << false << false;
    }

    void conflict()
    {
        QFETCH(int, record);
        QFETCH(bool, deleteFirst);
        QFETCH(QJsonValue, base);
        QFETCH(bool, deleted);
        QFETCH(bool, currentLive);
        const QString id = record < 0 ? QStringLiteral("never-seen") : m_ids.at(record);
        QString error;
        if (deleteFirst)
            QVERIFY(m_server->store()->remove(QStringLiteral("customers"), { id }, &error));
        const QJsonObject stored = liveRecord(id);
        const qint64 before = changeCount();

        const QJsonArray answer
            = results({ change("ch-1", id, base, deleted, fullData(QStringLiteral("Ada"), 4)) });
        const QJsonObject result = answer.at(0).toObject();
        QCOMPARE(result.value("status").toString(), QStringLiteral("conflict"));
        QCOMPARE(changeCount(), before);
        QCOMPARE(liveRecord(id), stored);
        const QJsonObject current = result.value("current").toObject();
        QCOMPARE(current.value("id").toString(), id);
        QCOMPARE(current.value("deleted").toBool(), !currentLive);
        if (!currentLive) {
            QVERIFY(!current.contains("version"));
            QVERIFY(!current.contains("data"));
            return;
        }
        QCOMPARE(current.value("version").toString(), QString::number(record + 1));
        QCOMPARE(current.value("data").toObject(), stored);
        QCOMPARE(current.value("changedAt"), pulled(id).value("changedAt"));
    }

    void rejected_data()
    {
        QTest::addColumn<QJsonObject>("change");
        QTest::addColumn<QString>("field"); // the error names it

        const auto withData = [](const QString &field, const QJsonValue &value) {
            QJsonObject data = fullData(QStringLiteral("Ada"), 4);
            data.insert(field, value);
            return change("ch", "new-id", QJsonValue(), false, data);
        };
        const auto withMember = [](const QString &member, const QJsonValue &value) {
            QJsonObject object = change("ch", "new-id", QJsonValue(), false, fullData("Ada", 4));
            if (value.isUndefined())
                object.remove(member);
            else
                object.insert(member, value);
            return object;
        };
        QTest::newRow("bool as 1")
            << withData("active", 1) << QStringLiteral("field active: expected bool");
        QTest::newRow("bool as text")
            << withData("active", "true") << QStringLiteral("field active: expected bool");
        QTest::newRow("int with fraction")
            << withData("visits", 4.5) << QStringLiteral("field visits: expected int");
        QTest::newRow("int as text")
            << withData("visits", "4") << QStringLiteral("field visits: expected int");
        QTest::newRow("int as bool")
            << withData("visits", true) << QStringLiteral("field visits: expected int");
        QTest::newRow("real as text")
            << withData("balance", "1.5") << QStringLiteral("field balance: expected real");
        QTest::newRow("real as bool")
            << withData("balance", false) << QStringLiteral("field balance: expected real");
        QTest::newRow("string as number")
            << withData("name", 5) << QStringLiteral("field name: expected string");
        QTest::newRow("datetime short")
            << withData("since", "2026-12-02") << QStringLiteral("field since");
        QTest::newRow("datetime as number")
            << withData("since", 5) << QStringLiteral("field since");
        QTest::newRow("datetime impossible")
            << withData("since", "2026-02-30T08:00:00.000Z") << QStringLiteral("field since");
        QTest::newRow("unknown field")
            << withData("colour", "red") << QStringLiteral("field colour");
        QTest::newRow("id empty") << withMember("id", "") << QStringLiteral("id:");
        QTest::newRow("id number") << withMember("id", 7) << QStringLiteral("id:");
        QTest::newRow("id missing")
            << withMember("id", QJsonValue::Undefined) << QStringLiteral("id:");
        QTest::newRow("id over 512 bytes")
            << withMember("id", QString(257, QChar(0xe9))) << QStringLiteral("id:");
        QTest::newRow("id with U+0000")
            << withMember("id", QStringLiteral("a") + QChar(0) + "b") << QStringLiteral("id:");
        QTest::newRow("base number") << withMember("base", 3) << QStringLiteral("base:");
        QTest::newRow("base missing")
            << withMember("base", QJsonValue::Undefined) << QStringLiteral("base:");
        QTest::newRow("deleted missing")
            << withMember("deleted", QJsonValue::Undefined) << QStringLiteral("deleted:");
        QTest::newRow("deleted text") << withMember("deleted", "no") << QStringLiteral("deleted:");
        QTest::newRow("data missing")
            << withMember("data", QJsonValue::Undefined) << QStringLiteral("data:");
        QTest::newRow("data array") << withMember("data", QJsonArray()) << QStringLiteral("data:");
    }

    void rejected()
    {
        QFETCH(QJsonObject, change);
        QFETCH(QString, field);
        const qint64 before = changeCount();
        const QJsonArray answer = results({ change });
        QCOMPARE(answer.size(), 1);
        const QJsonObject result = answer.at(0).toObject();
        QCOMPARE(result.value("status").toString(), QStringLiteral("rejected"));
        QVERIFY2(result.value("error").toString().startsWith(field),
                 qPrintable(result.value("error").toString()));
        QCOMPARE(changeCount(), before);
        QCOMPARE(m_server->store()->liveCount(QStringLiteral("customers")), 5);
    }

    void strictNumbers_data()
    {
        QTest::addColumn<QByteArray>("visits");
        QTest::addColumn<QByteArray>("balance");
        QTest::addColumn<QString>("status");

        QTest::newRow("integers") << QByteArray("-9223372036854775808") << QByteArray("5")
                                  << QStringLiteral("applied");
        QTest::newRow("int max") << QByteArray("9223372036854775807") << QByteArray("1e300")
                                 << QStringLiteral("applied");
        QTest::newRow("real written 4.0")
            << QByteArray("4") << QByteArray("4.0") << QStringLiteral("applied");
        QTest::newRow("real with exponent")
            << QByteArray("0") << QByteArray("-2.5E-3") << QStringLiteral("applied");
        QTest::newRow("nulls") << QByteArray("null") << QByteArray("null")
                               << QStringLiteral("applied");
        QTest::newRow("int over 64 bits")
            << QByteArray("9223372036854775808") << QByteArray("1") << QStringLiteral("rejected");
        QTest::newRow("int with exponent")
            << QByteArray("1e2") << QByteArray("1") << QStringLiteral("rejected");
        QTest::newRow("int written 4.0")
            << QByteArray("4.0") << QByteArray("1") << QStringLiteral("rejected");
    }

    void strictNumbers()
    {
        QFETCH(QByteArray, visits);
        QFETCH(QByteArray, balance);
        QFETCH(QString, status);
        const QByteArray body = R"({"client":"c","changes":[{"changeId":"n","id":"num",)"
                                R"("base":null,"deleted":false,"data":{"visits":)"
            + visits + R"(,"balance":)" + balance + "}}]}";
        const Reply reply = push(body);
        QCOMPARE(reply.status, 200);
        const QJsonObject result = reply.json().value("results").toArray().at(0).toObject();
        QCOMPARE(result.value("status").toString(), status);
        if (status != QLatin1String("applied"))
            return;
        const QJsonObject data = pulled(QStringLiteral("num")).value("data").toObject();
        QCOMPARE(data.value("visits"), QJsonDocument::fromJson("[" + visits + "]").array().at(0));
        QCOMPARE(data.value("name"), QJsonValue()); // whole record: left out is null
    }

    void textAsSent()
    {
        // Strings that begin with U+0000, and numbers next to them, arrive as they were sent.
        const QByteArray body
            = R"({"client":"\u0000c","changes":[{"changeId":"\u0000","id":"t","base":null,)"
              R"("deleted":false,"data":{"name":"\u0000\u00001.5","balance":1.5,"visits":2}},)"
              R"({"changeId":"x","id":"u","base":null,"deleted":false,"data":{"name":2.5}}]})";
        const Reply reply = push(body);
        QCOMPARE(reply.status, 200);
        const QJsonArray answer = reply.json().value("results").toArray();
        QCOMPARE(answer.at(0).toObject().value("changeId").toString(), QString(QChar(0)));
        QCOMPARE(answer.at(0).toObject().value("status").toString(), QStringLiteral("applied"));
        QCOMPARE(answer.at(1).toObject().value("status").toString(), QStringLiteral("rejected"));
        const QJsonObject data = pulled(QStringLiteral("t")).value("data").toObject();
        QCOMPARE(data.value("name").toString(), QString(2, QChar(0)) + QStringLiteral("1.5"));
        QCOMPARE(data.value("balance").toDouble(), 1.5);
        QCOMPARE(data.value("visits").toInt(), 2);
    }

    void idempotentAcrossRequests()
    {
        const QString id = m_ids.at(0);
        const Reply first = push(request(
            { change("same", id, QJsonValue("1"), false, fullData(QStringLiteral("Ada"), 4)) }));
        QCOMPARE(first.status, 200);
        const qint64 after = changeCount();
        // Sent again, whatever it says this time: the remembered result, nothing applied.
        const Reply again = push(request(
            { change("same", id, QJsonValue("6"), false, fullData(QStringLiteral("Bob"), 9)) }));
        QCOMPARE(again.status, 200);
        QCOMPARE(again.body, first.body);
        QCOMPARE(changeCount(), after);
        QCOMPARE(liveRecord(id).value("name").toString(), QStringLiteral("Ada"));
        // Another client's changeId of the same text is its own.
        const QJsonArray other = results(
            { change("same", id, QJsonValue("6"), false, fullData(QStringLiteral("Bob"), 9)) },
            QStringLiteral("other-client"));
        QCOMPARE(other.at(0).toObject().value("status").toString(), QStringLiteral("applied"));
        QCOMPARE(liveRecord(id).value("name").toString(), QStringLiteral("Bob"));
    }

    void idempotentWithinRequest()
    {
        const QString id = m_ids.at(1);
        const QJsonArray answer = results({
            change("a", id, QJsonValue("2"), false, fullData(QStringLiteral("Ada"), 4)),
            change("b", "fresh", QJsonValue(), false, { { "visits", "bad" } }),
            change("a", id, QJsonValue("2"), true), // seen: remembered, not applied
            change("b", "fresh", QJsonValue(), false, fullData(QStringLiteral("Ok"), 1)),
        });
        QCOMPARE(answer.size(), 4);
        QCOMPARE(answer.at(2), answer.at(0));
        QCOMPARE(answer.at(3), answer.at(1));
        QCOMPARE(answer.at(1).toObject().value("status").toString(), QStringLiteral("rejected"));
        QCOMPARE(liveRecord(id).value("name").toString(), QStringLiteral("Ada"));
        QVERIFY(liveRecord(QStringLiteral("fresh")).isEmpty());
    }

    void forgottenAfterSevenDays()
    {
        const QString id = m_ids.at(2);
        QCOMPARE(results({ change("old", id, QJsonValue("3"), false, fullData("Ada", 4)) })
                     .at(0)
                     .toObject()
                     .value("status")
                     .toString(),
                 QStringLiteral("applied"));
        {
            // Age the remembered result past the limit, as time would.
            QSqlDatabase db = QSqlDatabase::addDatabase("QSQLITE", "tst_push-age");
            db.setDatabaseName(m_server->store()->databasePath());
            QVERIFY(db.open());
            QSqlQuery query(db);
            QVERIFY2(query.exec(QStringLiteral("UPDATE _bs_pushes SET at = at - %1")
                                    .arg(Push::RememberSeconds + 60)),
                     qPrintable(query.lastError().text()));
            QCOMPARE(query.numRowsAffected(), 1);
        }
        QSqlDatabase::removeDatabase("tst_push-age");
        // Forgotten: the same changeId is a new change now (a stale base: a conflict).
        QCOMPARE(results({ change("old", id, QJsonValue("3"), false, fullData("Ada", 4)) })
                     .at(0)
                     .toObject()
                     .value("status")
                     .toString(),
                 QStringLiteral("conflict"));
    }

    void resultsInRequestOrder()
    {
        QJsonArray changes;
        QStringList expected;
        for (int i = 0; i < 300; ++i) {
            const QString changeId = QStringLiteral("z-%1").arg(299 - i);
            expected.append(changeId);
            changes.append(i % 3 == 0 ? change(changeId, QStringLiteral("n%1").arg(i), QJsonValue(),
                                               false, fullData("N", i))
                               : i % 3 == 1 ? change(changeId, m_ids.at(0), QJsonValue("999"), true)
                                            : change(changeId, "", QJsonValue(), true));
        }
        const QJsonArray answer = results(changes);
        QCOMPARE(answer.size(), 300);
        for (int i = 0; i < 300; ++i) {
            const QJsonObject result = answer.at(i).toObject();
            QCOMPARE(result.value("changeId").toString(), expected.at(i));
            QCOMPARE(result.value("status").toString(),
                     QString::fromLatin1(i % 3 == 0       ? "applied"
                                             : i % 3 == 1 ? "conflict"
                                                          : "rejected"));
        }
        // Applied in order: versions rise.
        QCOMPARE(answer.at(3).toObject().value("version").toString().toLongLong(),
                 answer.at(0).toObject().value("version").toString().toLongLong() + 1);
    }

    void oneTransaction()
    {
        // A storage failure on the third change: none of the request is stored or remembered.
        {
            QSqlDatabase db = QSqlDatabase::addDatabase("QSQLITE", "tst_push-trigger");
            db.setDatabaseName(m_server->store()->databasePath());
            QVERIFY(db.open());
            QSqlQuery query(db);
            QVERIFY2(query.exec("CREATE TRIGGER boom BEFORE INSERT ON customers "
                                "WHEN NEW.id = 'boom' BEGIN SELECT RAISE(ABORT, 'disk on fire'); "
                                "END"),
                     qPrintable(query.lastError().text()));
        }
        QSqlDatabase::removeDatabase("tst_push-trigger");
        const qint64 before = changeCount();
        const QByteArray body = request({
            change("t1", "first", QJsonValue(), false, fullData("A", 1)),
            change("t2", m_ids.at(0), QJsonValue("1"), true),
            change("t3", "boom", QJsonValue(), false, fullData("B", 2)),
        });
        const Reply failed = push(body);
        QCOMPARE(failed.status, 500);
        QVERIFY(!failed.json().value("error").toString().isEmpty());
        QCOMPARE(changeCount(), before);
        QVERIFY(liveRecord(QStringLiteral("first")).isEmpty());
        QVERIFY(!liveRecord(m_ids.at(0)).isEmpty());
        // Retried with the same changeIds once the storage works: all of it applies now.
        {
            QSqlDatabase db = QSqlDatabase::addDatabase("QSQLITE", "tst_push-drop");
            db.setDatabaseName(m_server->store()->databasePath());
            QVERIFY(db.open());
            QSqlQuery query(db);
            QVERIFY(query.exec("DROP TRIGGER boom"));
        }
        QSqlDatabase::removeDatabase("tst_push-drop");
        const Reply retried = push(body);
        QCOMPARE(retried.status, 200);
        const QJsonArray answer = retried.json().value("results").toArray();
        QCOMPARE(answer.size(), 3);
        for (const QJsonValue &result : answer)
            QCOMPARE(result.toObject().value("status").toString(), QStringLiteral("applied"));
        QCOMPARE(answer.at(0).toObject().value("version").toString(),
                 QString::number(before + 1)); // the failed request took no version
        QCOMPARE(changeCount(), before + 3);
    }

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

QTEST_GUILESS_MAIN(TstPush)
#include "tst_push.moc"
