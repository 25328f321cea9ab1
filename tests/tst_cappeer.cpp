// The SAP CAP test peer itself (tests/peers/cap, testutil/cappeer.h): that it installs, starts
// fresh, serves its sets with Basic auth and a page cap, keeps Int64 and Unicode exact, shows
// writes made through its OData API, and that its one-transaction and slow-transaction actions
// behave as the OData source's tests rely on.
#include "testutil/cappeer.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>
#include <QSet>
#include <QTest>
#include <QUuid>

using namespace BatchSync::Test;

namespace {

QString stringMember(const QByteArray &record, const QString &name)
{
    const QByteArray raw = CapPeer::rawMember(record, name);
    return QJsonDocument::fromJson('[' + raw + ']').array().at(0).toString();
}

QDateTime timeMember(const QByteArray &record, const QString &name)
{
    return QDateTime::fromString(stringMember(record, name), Qt::ISODateWithMs);
}

// The record of \a records whose \a member is \a value, or empty.
QByteArray findRecord(const QList<QByteArray> &records, const QString &member, const QString &value)
{
    for (const QByteArray &record : records) {
        if (stringMember(record, member) == value)
            return record;
    }
    return QByteArray();
}

// The raw text of \a member of the product named \a name among \a records.
QByteArray productMember(const QList<QByteArray> &records, const QString &name,
                         const QString &member)
{
    return CapPeer::rawMember(findRecord(records, QStringLiteral("name"), name), member);
}

QString newId()
{
    return QUuid::createUuid().toString(QUuid::WithoutBraces);
}

} // namespace

class TstCapPeer final : public QObject
{
    Q_OBJECT

private:
    std::unique_ptr<CapPeer> m_peer;

    QList<QByteArray> products(bool *ok = nullptr)
    {
        return m_peer->readAll(QStringLiteral("Products"), QStringLiteral("$orderby=ID"), ok);
    }

private Q_SLOTS:
    void initTestCase()
    {
        const QString reason = CapPeer::unavailableReason();
        if (!reason.isEmpty()) {
            if (CapPeer::required())
                QFAIL(qPrintable(QStringLiteral("SAP CAP is required under CI: ") + reason));
            QSKIP(qPrintable(QStringLiteral("CAP tests not run: ") + reason));
        }
    }

    void init()
    {
        m_peer = std::make_unique<CapPeer>();
        QVERIFY(m_peer->start());
        QVERIFY(m_peer->isRunning());
        QCOMPARE(m_peer->serviceRoot().host(), QStringLiteral("127.0.0.1"));
    }

    void cleanup() { m_peer.reset(); }

    void metadataListsTheSets()
    {
        const CapPeer::Response metadata = m_peer->request("GET", QStringLiteral("$metadata"));
        QCOMPARE(metadata.status, 200);
        for (const char *set : { "Products", "OrderLines", "Currencies" })
            QVERIFY2(metadata.body.contains("<EntitySet Name=\"" + QByteArray(set) + '"'), set);
        QVERIFY(metadata.body.contains("<Property Name=\"stock\" Type=\"Edm.Int64\"/>"));
        QVERIFY(metadata.body.contains(
            "<Property Name=\"price\" Type=\"Edm.Decimal\" Precision=\"15\" Scale=\"3\"/>"));
        QVERIFY(metadata.body.contains("<PropertyRef Name=\"orderNo\"/>"));
        QVERIFY(metadata.body.contains("<PropertyRef Name=\"lineCode\"/>"));
        // Currencies has no change-time property.
        const qsizetype currencies = metadata.body.indexOf("<EntityType Name=\"Currencies\">");
        QVERIFY(currencies >= 0);
        const QByteArray currencyType = metadata.body.mid(
            currencies, metadata.body.indexOf("</EntityType>", currencies) - currencies);
        QVERIFY(currencyType.contains("Name=\"rate\""));
        QVERIFY(!currencyType.contains("modifiedAt"));
    }

    void basicAuth()
    {
        QCOMPARE(m_peer->request("GET", QStringLiteral("Currencies?$top=1")).status, 200);
        const QString query = QStringLiteral("Currencies?$top=1");
        QCOMPARE(m_peer->request("GET", query, {}, CapPeer::user(), QStringLiteral("wrong")).status,
                 401);
        QCOMPARE(m_peer->request("GET", query, {}, QStringLiteral("mallory"), CapPeer::password())
                     .status,
                 401);
        QCOMPARE(m_peer->request("GET", query, {}, QString(), QString()).status, 401);
    }

    void pageCapGivesNextLink()
    {
        const CapPeer::Response page = m_peer->request(
            "GET", QStringLiteral("Products?$top=5000&$count=true&$orderby=ID&$select=ID"));
        QCOMPARE(page.status, 200);
        QList<QByteArray> records;
        QString next;
        QVERIFY(CapPeer::splitCollection(page.body, &records, &next));
        QCOMPARE(records.size(), 1000);
        QCOMPARE(CapPeer::rawMember(page.body, QStringLiteral("@odata.count")), QByteArray("5000"));
        QVERIFY2(next.contains(QLatin1String("skiptoken")), qPrintable(next));

        // The cap is the harness's to set.
        CapPeer::Options options;
        options.pageMax = 250;
        QVERIFY(m_peer->start(options));
        QVERIFY(CapPeer::splitCollection(
            m_peer->request("GET", QStringLiteral("Products?$top=5000")).body, &records, &next));
        QCOMPARE(records.size(), 1000 + 250);
        QVERIFY(!next.isEmpty());
    }

    void readAllFollowsNextLinks()
    {
        bool ok = false;
        const QList<QByteArray> all = products(&ok);
        QVERIFY(ok);
        QCOMPARE(all.size(), 5000);
        QSet<QString> ids;
        QString previous;
        for (const QByteArray &record : all) {
            const QString id = stringMember(record, QStringLiteral("ID"));
            QVERIFY2(id > previous, qPrintable(id));
            previous = id;
            ids.insert(id);
        }
        QCOMPARE(ids.size(), 5000);
        const QList<QByteArray> lines = m_peer->readAll(
            QStringLiteral("OrderLines"), QStringLiteral("$orderby=orderNo,lineCode"), &ok);
        QVERIFY(ok);
        QCOMPARE(lines.size(), 400);
        // Strings in code point order (SQLite's binary UTF-8), as a keyset client compares them.
        QStringList codes;
        for (const QByteArray &line : lines) {
            if (CapPeer::rawMember(line, QStringLiteral("orderNo")) == "1000")
                codes.append(stringMember(line, QStringLiteral("lineCode")));
        }
        QCOMPARE(codes,
                 QStringList({ QStringLiteral("100%"), QStringLiteral("A"), QStringLiteral("O'K"),
                               QStringLiteral("a+b"), QStringLiteral("b 2"), QStringLiteral("é€"),
                               QStringLiteral("ü"), QStringLiteral("日本") }));
        QCOMPARE(m_peer->readAll(QStringLiteral("Currencies"), QStringLiteral("$orderby=code"), &ok)
                     .size(),
                 300);
        QVERIFY(ok);
    }

    void numbersExactAsText()
    {
        const QList<QByteArray> all = products();
        const auto product = [&all](const char *name, const char *member) {
            return productMember(all, QString::fromUtf8(name), QString::fromUtf8(member));
        };
        QCOMPARE(product("Product 0", "stock"), QByteArray("\"9007199254740993\""));
        QCOMPARE(product("Product 0", "price"), QByteArray("\"999999999999.999\""));
        QCOMPARE(product("Product 1", "stock"), QByteArray("\"-9007199254740993\""));
        QCOMPARE(product("Product 3", "stock"), QByteArray("\"-9223372036854775808\""));
        QCOMPARE(product("Product 5", "stock"), QByteArray("null"));
        QCOMPARE(product("Product 0", "releaseDate"), QByteArray("\"2024-01-01\""));
        QCOMPARE(product("Product 0", "lastSold"), QByteArray("\"2024-01-01T00:00:01Z\""));
        QCOMPARE(product("Product 0", "modifiedAt"), QByteArray("\"2024-01-01T00:00:00.007Z\""));

        // Written as a string, stored and read back exactly.
        const QString id = newId();
        const QByteArray created = m_peer->create(
            QStringLiteral("Products"),
            QStringLiteral(
                R"({"ID":"%1","name":"exact","stock":"9007199254740995","price":"-0.005"})")
                .arg(id)
                .toUtf8());
        QCOMPARE(CapPeer::rawMember(created, QStringLiteral("stock")),
                 QByteArray("\"9007199254740995\""));
        const QByteArray read = findRecord(products(), QStringLiteral("ID"), id);
        QCOMPARE(CapPeer::rawMember(read, QStringLiteral("stock")),
                 QByteArray("\"9007199254740995\""));
        QCOMPARE(CapPeer::rawMember(read, QStringLiteral("price")), QByteArray("\"-0.005\""));
    }

    void bareNumbersAsCapDefault()
    {
        CapPeer::Options options;
        options.bareNumbers = true;
        options.products = 20;
        QVERIFY(m_peer->start(options));
        const QList<QByteArray> all = products();
        QCOMPARE(all.size(), 20);
        QCOMPARE(productMember(all, QStringLiteral("Product 0"), QStringLiteral("stock")),
                 QByteArray("9007199254740992"));
        QCOMPARE(productMember(all, QStringLiteral("Product 0"), QStringLiteral("price")),
                 QByteArray("999999999999.999"));
        QCOMPARE(productMember(all, QStringLiteral("Product 2"), QStringLiteral("price")),
                 QByteArray("0.001"));
    }

    void unicodeKeptExactly()
    {
        const QList<QByteArray> all = products();
        QCOMPARE(stringMember(findRecord(all, QStringLiteral("name"), QStringLiteral("Product 2")),
                              QStringLiteral("note")),
                 QStringLiteral("emoji 😀🎉👩‍👩‍👧 astral 𝄞 𠜎 #2"));
        QCOMPARE(stringMember(findRecord(all, QStringLiteral("name"), QStringLiteral("Product 7")),
                              QStringLiteral("note")),
                 QStringLiteral("newline\nsecond line\r\nthird\ttabbed #7"));
        const QString text = QStringLiteral("e\u0301 \u05e2\u05d1 \"q\" \\ \U0001F600 \u0001 日本");
        const QString id = newId();
        QJsonObject record { { QStringLiteral("ID"), id }, { QStringLiteral("note"), text } };
        QVERIFY(!m_peer
                     ->create(QStringLiteral("Products"),
                              QJsonDocument(record).toJson(QJsonDocument::Compact))
                     .isEmpty());
        QCOMPARE(
            stringMember(findRecord(products(), QStringLiteral("ID"), id), QStringLiteral("note")),
            text);
    }

    void writesVisibleAndFreshPerStart()
    {
        const QString id = newId();
        QVERIFY(!m_peer
                     ->create(QStringLiteral("Products"),
                              QStringLiteral(R"({"ID":"%1","name":"created"})").arg(id).toUtf8())
                     .isEmpty());
        QByteArray record = findRecord(products(), QStringLiteral("ID"), id);
        QCOMPARE(stringMember(record, QStringLiteral("name")), QStringLiteral("created"));
        const QDateTime createdAt = timeMember(record, QStringLiteral("modifiedAt"));
        QVERIFY(createdAt > QDateTime::currentDateTimeUtc().addSecs(-60));

        QTest::qWait(5); // a later millisecond for the change
        const QString key = CapPeer::keyPredicate({ QUuid(id) });
        QVERIFY(m_peer->patch(QStringLiteral("Products"), key, R"({"name":"patched"})"));
        record = findRecord(products(), QStringLiteral("ID"), id);
        QCOMPARE(stringMember(record, QStringLiteral("name")), QStringLiteral("patched"));
        QVERIFY(timeMember(record, QStringLiteral("modifiedAt")) > createdAt);

        QVERIFY(m_peer->remove(QStringLiteral("Products"), key));
        QVERIFY(findRecord(products(), QStringLiteral("ID"), id).isEmpty());
        QCOMPARE(products().size(), 5000);

        // Composite keys with characters that need quoting or encoding.
        const QStringList names { QStringLiteral("orderNo"), QStringLiteral("lineCode") };
        QVERIFY(m_peer->patch(QStringLiteral("OrderLines"),
                              CapPeer::keyPredicate({ 1000, QStringLiteral("a+b") }, names),
                              R"({"comment":"plus"})"));
        QVERIFY(m_peer->patch(QStringLiteral("OrderLines"),
                              CapPeer::keyPredicate({ 1000, QStringLiteral("O'K") }, names),
                              R"({"quantity":"-9007199254740993"})"));
        QVERIFY(m_peer->remove(QStringLiteral("OrderLines"),
                               CapPeer::keyPredicate({ 1000, QStringLiteral("100%") }, names)));
        QVERIFY(!m_peer
                     ->create(QStringLiteral("OrderLines"),
                              R"({"orderNo":-5,"lineCode":"x y","quantity":"1"})")
                     .isEmpty());
        const QList<QByteArray> lines = m_peer->readAll(
            QStringLiteral("OrderLines"), QStringLiteral("$orderby=orderNo,lineCode"));
        QCOMPARE(lines.size(), 400);
        QCOMPARE(stringMember(findRecord(lines, QStringLiteral("comment"), QStringLiteral("plus")),
                              QStringLiteral("lineCode")),
                 QStringLiteral("a+b"));
        QCOMPARE(stringMember(lines.first(), QStringLiteral("lineCode")), QStringLiteral("x y"));
        for (const QByteArray &line : lines) {
            QVERIFY(CapPeer::rawMember(line, QStringLiteral("orderNo")) != "1000"
                    || stringMember(line, QStringLiteral("lineCode")) != QStringLiteral("100%"));
        }

        // A new start is a fresh database.
        QVERIFY(m_peer->start());
        QCOMPARE(products().size(), 5000);
        QCOMPARE(
            m_peer
                ->readAll(QStringLiteral("OrderLines"), QStringLiteral("$filter=comment eq 'plus'"))
                .size(),
            0);
    }

    void insertProductsShareModifiedAt()
    {
        const QList<QByteArray> inserted = m_peer->insertProducts(25, QStringLiteral("batch"));
        QCOMPARE(inserted.size(), 25);
        const QByteArray stamp = CapPeer::rawMember(inserted.first(), QStringLiteral("modifiedAt"));
        QVERIFY(!stamp.isEmpty());
        for (const QByteArray &record : inserted)
            QCOMPARE(CapPeer::rawMember(record, QStringLiteral("modifiedAt")), stamp);
        const QList<QByteArray> sameTime
            = m_peer->readAll(QStringLiteral("Products"),
                              QStringLiteral("$filter=modifiedAt eq %1&$orderby=ID")
                                  .arg(QString::fromUtf8(stamp.mid(1, stamp.size() - 2))));
        QCOMPARE(sameTime.size(), 25);
        QCOMPARE(products().size(), 5025);

        // Updates of seeded records in one transaction, stamped alike and later.
        const QList<QByteArray> all = products();
        const QStringList ids { stringMember(all.at(10), QStringLiteral("ID")),
                                stringMember(all.at(20), QStringLiteral("ID")),
                                stringMember(all.at(30), QStringLiteral("ID")) };
        const QList<QByteArray> updated = m_peer->updateProducts(ids, QStringLiteral("renamed"));
        QCOMPARE(updated.size(), 3);
        const QByteArray updateStamp
            = CapPeer::rawMember(updated.first(), QStringLiteral("modifiedAt"));
        for (const QByteArray &record : updated) {
            QCOMPARE(CapPeer::rawMember(record, QStringLiteral("modifiedAt")), updateStamp);
            QCOMPARE(stringMember(record, QStringLiteral("name")), QStringLiteral("renamed"));
        }
        QVERIFY(timeMember(updated.first(), QStringLiteral("modifiedAt"))
                > timeMember(inserted.first(), QStringLiteral("modifiedAt")));
    }

    void slowTransactionStampsItsStart()
    {
        const QString id = newId();
        QElapsedTimer clock;
        clock.start();
        QNetworkReply *slow = m_peer->startSlowUpsertProduct(id, QStringLiteral("slow"), 1500);
        QTest::qWait(300);
        // Not visible while it runs, and a write made meanwhile is stamped later.
        const QString key = CapPeer::keyPredicate({ QUuid(id) });
        QCOMPARE(m_peer->request("GET", QStringLiteral("Products") + key).status, 404);
        const QString fastId = newId();
        const QByteArray fast
            = m_peer->create(QStringLiteral("Products"),
                             QStringLiteral(R"({"ID":"%1","name":"fast"})").arg(fastId).toUtf8());
        QVERIFY(!fast.isEmpty());
        QVERIFY(!slow->isFinished());

        const CapPeer::Response done = CapPeer::finish(slow);
        QCOMPARE(done.status, 200);
        QVERIFY(clock.elapsed() >= 1500);
        const QDateTime slowStamp = timeMember(done.body, QStringLiteral("modifiedAt"));
        const QDateTime fastStamp = timeMember(fast, QStringLiteral("modifiedAt"));
        QVERIFY2(slowStamp.isValid() && slowStamp < fastStamp,
                 qPrintable(slowStamp.toString(Qt::ISODateWithMs) + u' '
                            + fastStamp.toString(Qt::ISODateWithMs)));
        QVERIFY(slowStamp.msecsTo(QDateTime::currentDateTimeUtc()) >= 1400);

        // Committed now, behind the fast write's change time: a keyset query from there misses it.
        const QList<QByteArray> after
            = m_peer->readAll(QStringLiteral("Products"),
                              QStringLiteral("$filter=modifiedAt ge %1&$orderby=modifiedAt,ID")
                                  .arg(stringMember(fast, QStringLiteral("modifiedAt"))));
        QVERIFY(!findRecord(after, QStringLiteral("ID"), fastId).isEmpty());
        QVERIFY(findRecord(after, QStringLiteral("ID"), id).isEmpty());
        QCOMPARE(
            stringMember(findRecord(products(), QStringLiteral("ID"), id), QStringLiteral("name")),
            QStringLiteral("slow"));

        // On an existing record, it updates.
        QNetworkReply *again = m_peer->startSlowUpsertProduct(id, QStringLiteral("slower"), 200);
        const CapPeer::Response updated = CapPeer::finish(again);
        QCOMPARE(updated.status, 200);
        QCOMPARE(stringMember(updated.body, QStringLiteral("name")), QStringLiteral("slower"));
        QCOMPARE(products().size(), 5002);
    }

    void jsonScanner()
    {
        const QByteArray object
            = " { \"a\" : \"x\\\"}\" , \"b\":[1,{\"c\":\"]\"}], \"n\" : -1.5e3 , \"z\":null } ";
        QCOMPARE(CapPeer::rawMember(object, QStringLiteral("a")), QByteArray("\"x\\\"}\""));
        QCOMPARE(CapPeer::rawMember(object, QStringLiteral("b")), QByteArray("[1,{\"c\":\"]\"}]"));
        QCOMPARE(CapPeer::rawMember(object, QStringLiteral("n")), QByteArray("-1.5e3"));
        QCOMPARE(CapPeer::rawMember(object, QStringLiteral("z")), QByteArray("null"));
        QVERIFY(CapPeer::rawMember(object, QStringLiteral("c")).isEmpty());
        QList<QByteArray> records;
        QString next;
        QVERIFY(CapPeer::splitCollection(
            "{\"value\":[{\"k\":\"a,b\"},{\"k\":2}],\"@odata.nextLink\":\"S?x=\\u0031\"}", &records,
            &next));
        QCOMPARE(records, (QList<QByteArray> { "{\"k\":\"a,b\"}", "{\"k\":2}" }));
        QCOMPARE(next, QStringLiteral("S?x=1"));
        QVERIFY(!CapPeer::splitCollection("{\"value\":[{\"k\":1},]}", &records, &next));
        QVERIFY(!CapPeer::splitCollection("{\"other\":1}", &records, &next));
        QCOMPARE(CapPeer::keyPredicate({ 1000, QStringLiteral("O'K a+b 100%") },
                                       { QStringLiteral("n"), QStringLiteral("c") }),
                 QStringLiteral("(n=1000,c='O''K%20a%2Bb%20100%25')"));
    }
};

QTEST_GUILESS_MAIN(TstCapPeer)
#include "tst_cappeer.moc"
