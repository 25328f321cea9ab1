// Protocol v1.1 on the reference server (SQLite): versions in pages, "protocol" and "writable"
// in /entities, and what POST /entities/{name}/changes does with each change: applied,
// conflict and rejected results, idempotency, one transaction per request. The request
// itself (shape, size, order of errors) is tst_pushhttp's.

#include "server/pushreader.h"
#include "sources/protocol/protocolparser.h"
#include "testutil/pushfixture.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

// Push bodies for the two readings: the plain ones (true) the one-pass reader must take; the
// others it may leave to the document's reading.
QList<std::pair<QByteArray, bool>> plainReadingBodies()
{
    const auto change = [](const QByteArray &data) {
        return R"({"client":"c1","changes":[{"changeId":"c1:1","id":"r1","base":"7",)"
               R"("deleted":false,"data":)"
            + data + "}]}";
    };
    const auto deletion = [](const QByteArray &client, const QByteArray &changeId,
                             const QByteArray &id, const QByteArray &rest) {
        return R"({"client":")" + client + R"(","changes":[{"changeId":")" + changeId
            + R"(","id":")" + id + R"(","base":null,"deleted":true)" + rest + "}]}";
    };
    QList<std::pair<QByteArray, bool>> bodies = {
        { change(R"({"name":"Ada","balance":12.5,"visits":4,"active":true,)"
                 R"("since":"2026-12-02T08:00:00.000Z"})"),
          true },
        { QByteArray(" {\n\"changes\" : [ {\"id\" : \"r\" ,\"data\":{ \"name\" :\t\"x\" } ,"
                     "\"deleted\":false, \"base\":null,\"changeId\":\"k\"} ] ,\"client\":\"c\"}"
                     "\r\n"),
          true },
        { change(R"({"name":"a\"b\\c\/d\n\t\u00e9\ud83d\ude00\u20ac"})"), true },
        { change("{\"name\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}"), true },
        { change(R"({"balance":-0.5e-3,"visits":-123456789012345678})"), true },
        { change(R"({"balance":-42,"visits":0})"), true },
        { change(R"({"balance":1E+2})"), true },
        { change(R"({"name":null,"balance":null,"active":null})"), true },
        { change("{}"), true },
        { QByteArray(R"({"x":[1,{"y":null}],"client":"c","changes":[{"changeId":"k","id":"r",)"
                     R"("base":null,"deleted":true,"more":{"a":[true,false,"s"]}}]})"),
          true },
        { deletion("c", "k", "r", R"(,"data":{"name":"x"})"), true },
    };
    // Left to the document's reading: whatever it decides, the two must agree.
    const QList<QByteArray> others = {
        change(R"({"visits":-0})"),
        deletion("c", "k", "r", R"(,"data":{"name":1})"),
        change(R"({"visits":9223372036854775807})"),
        change(R"({"visits":99999999999999999999})"),
        change(R"({"balance":1e400})"),
        change(R"({"balance":1e-400})"),
        change(R"({"balance":4.9e-324})"),
        change(R"({"visits":1.0})"),
        change(R"({"name":"x","name":"y"})"),
        change(R"({"nme":"x"})"),
        change(R"({"name":1})"),
        change(R"({"active":1})"),
        change(R"({"since":"yesterday"})"),
        change(R"({"name":"\u0000x"})"),
        change(R"({"name":"\ud800"})"),
        change(R"({"name":"\uffff"})"),
        change("{\"name\":\"\xed\xa0\x80\"}"),
        change("{\"name\":\"\xc0\xaf\"}"),
        change("{\"name\":\"\xef\xbf\xbe\"}"),
        change("{\"name\":\"a\x01\"}"),
        change(R"({"n\u0061me":"x"})"),
        change(R"({"name":"x",})"),
        change("[]"),
        change(R"({"visits":01})"),
        change(R"({"balance":1.})"),
        QByteArray(R"({"client":"c","changes":[]})"),
        QByteArray(R"({"changes":[]})"),
        deletion("", "k", "r", ""),
        deletion("c", "", "r", ""),
        deletion("c", "k", "", ""),
        deletion("c", QByteArray(129, 'k'), "r", ""),
        deletion("c", "k", QByteArray(513, 'r'), ""),
        deletion("c", "k", "r", R"(,"deleted":false)"),
        deletion("c", "k", "r", "") + " x",
        "\xef\xbb\xbf" + deletion("c", "k", "r", ""),
        QByteArray(R"({"client":"c","changes":[{"changeId":"k","id":"r","base":1,)"
                   R"("deleted":true}]})"),
        QByteArray(R"({"client":"c","changes":[{"changeId":"k","id":"r","base":null}]})"),
        QByteArray(R"({"client":"c","changes":[{"changeId":"k","id":"r","base":null,)"
                   R"("deleted":false}]})"),
        QByteArray(R"({"client":"c","client":"d","changes":[{"changeId":"k","id":"r",)"
                   R"("base":null,"deleted":true}]})"),
    };
    for (const QByteArray &other : others)
        bodies.append({ other, false });
    return bodies;
}

} // namespace

class TstPush : public QObject, private PushFixture
{
    Q_OBJECT

private slots:
    void init() { QVERIFY(setUp()); }
    void cleanup() { tearDown(); }

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

    void decimals_data()
    {
        QTest::addColumn<QByteArray>("price"); // the JSON text sent
        QTest::addColumn<QString>("stored"); // the exact text served after; empty: rejected

        QTest::newRow("money") << QByteArray(R"("12.50")") << QStringLiteral("12.50");
        QTest::newRow("negative") << QByteArray(R"("-0.003")") << QStringLiteral("-0.003");
        QTest::newRow("38 digits") << QByteArray(R"("12345678901234567890.123456789012345678")")
                                   << QStringLiteral("12345678901234567890.123456789012345678");
        QTest::newRow("null") << QByteArray("null") << QStringLiteral("null");
        QTest::newRow("number") << QByteArray("12.5") << QString();
        QTest::newRow("integer number") << QByteArray("12") << QString();
        QTest::newRow("exponent") << QByteArray(R"("1.5e3")") << QString();
        QTest::newRow("39 digits")
            << QByteArray(R"("123456789012345678901234567890123456789")") << QString();
        QTest::newRow("leading zero") << QByteArray(R"("007")") << QString();
        QTest::newRow("plus") << QByteArray(R"("+1")") << QString();
        QTest::newRow("spaces") << QByteArray(R"(" 1 ")") << QString();
        QTest::newRow("empty") << QByteArray(R"("")") << QString();
        QTest::newRow("bool") << QByteArray("true") << QString();
    }

    void decimals()
    {
        QFETCH(QByteArray, price);
        QFETCH(QString, stored);
        QString error;
        QVERIFY2(
            m_server->store()->addEntity({ QStringLiteral("products"),
                                           { { QStringLiteral("name"), FieldType::String },
                                             { QStringLiteral("price"), FieldType::Decimal } } },
                                         &error),
            qPrintable(error));
        const QByteArray body = R"({"client":"c","changes":[{"changeId":"d","id":"p1",)"
                                R"("base":null,"deleted":false,"data":{"name":"Tea","price":)"
            + price + "}}]}";
        const Reply reply = push(body, QStringLiteral("products"));
        QCOMPARE(reply.status, 200);
        const QJsonObject result = reply.json().value("results").toArray().at(0).toObject();
        if (stored.isEmpty()) {
            QCOMPARE(result.value("status").toString(), QStringLiteral("rejected"));
            QVERIFY2(result.value("error").toString().startsWith(
                         QStringLiteral("field price: expected")),
                     qPrintable(result.value("error").toString()));
            QVERIFY(m_server->store()->liveRecords(QStringLiteral("products")).isEmpty());
            return;
        }
        QCOMPARE(result.value("status").toString(), QStringLiteral("applied"));
        // Served as a JSON string with the very text sent, never as a number.
        const Reply page = send("GET", QStringLiteral("/entities/products/changes"));
        const QJsonObject data
            = page.json().value("changes").toArray().at(0).toObject().value("data").toObject();
        if (stored == u"null")
            QVERIFY(data.value("price").isNull());
        else
            QCOMPARE(data.value("price"), QJsonValue(stored));
        const Reply entities = send("GET", QStringLiteral("/entities"));
        QVERIFY2(entities.body.contains(R"({"name":"price","type":"decimal"})"),
                 entities.body.constData());
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
    void plainReadingAgreesWithDocument_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<bool>("plain"); // the one-pass reader must take it
        const QList<std::pair<QByteArray, bool>> bodies = plainReadingBodies();
        for (qsizetype i = 0; i < bodies.size(); ++i)
            QTest::addRow("body %d", int(i)) << bodies.at(i).first << bodies.at(i).second;
    }

    void plainReadingAgreesWithDocument()
    {
        QFETCH(QByteArray, body);
        QFETCH(bool, plain);
        const EntitySchema schema { QStringLiteral("customers"),
                                    { { QStringLiteral("name"), FieldType::String },
                                      { QStringLiteral("balance"), FieldType::Real },
                                      { QStringLiteral("visits"), FieldType::Int },
                                      { QStringLiteral("active"), FieldType::Bool },
                                      { QStringLiteral("since"), FieldType::DateTime } } };
        const std::optional<PushRequest> fast = Push::readPlain(body, schema);
        QString error;
        const std::optional<PushRequest> full = Push::parseDocument(body, schema, &error);
        if (plain)
            QVERIFY(fast);
        if (!fast)
            return;
        QVERIFY2(full, qPrintable(error));
        QCOMPARE(fast->client, full->client);
        QCOMPARE(fast->changes.size(), full->changes.size());
        for (qsizetype i = 0; i < fast->changes.size(); ++i) {
            const PushChange &a = fast->changes.at(i);
            const PushChange &b = full->changes.at(i);
            QCOMPARE(a.changeId, b.changeId);
            QCOMPARE(a.id, b.id);
            QCOMPARE(a.base, b.base);
            QCOMPARE(a.deleted, b.deleted);
            QCOMPARE(a.rejection, b.rejection);
            QCOMPARE(a.values.size(), b.values.size());
            for (qsizetype j = 0; j < a.values.size(); ++j) {
                QCOMPARE(a.values.at(j).typeId(), b.values.at(j).typeId());
                QCOMPARE(a.values.at(j), b.values.at(j));
            }
        }
    }
};

QTEST_GUILESS_MAIN(TstPush)
#include "tst_push.moc"
