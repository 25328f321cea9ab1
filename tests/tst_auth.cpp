// Who gets in (batchsync-server --auth FILE): the auth file's parser (every refusal names its
// line; fuzzed), the tokens' hashes, and every denial path over HTTP: no token, a wrong one, an
// entity outside a token's scope on every route, a read-only token pushing, the order of a
// large push's refusals; then the server binary: --hash-token, SIGHUP with a good and a
// malformed file, --verbose naming the token and never the token itself. On SQLite, or on
// PostgreSQL with BATCHSYNC_TEST_BACKEND=postgres (the ctest entry tst_auth_postgres).

#include "server/access/authrules.h"
#include "server/access/jsontree.h"
#include "server/access/rowaccess.h"
#include "testutil/pushfixture.h"

#include <QJsonDocument>
#include <QLoggingCategory>
#include <QProcess>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <csignal>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

const QString PgDatabase = QStringLiteral("batchsync_auth");

// Three devices: one reads and writes customers, one only reads them, one sees only orders.
const QByteArray WriterToken = "writer-secret-7f3a9c";
const QByteArray ReaderToken = "reader-secret-51be02";
const QByteArray OrdersToken = "orders-secret-c44d1e";
// And one that reads and writes only the active customers.
const QByteArray ActiveToken = "active-secret-09e2b7";

QByteArray tokenLine(const char *name, const QByteArray &token, const char *read, const char *write)
{
    return QByteArrayLiteral("  {\"name\": \"") + name + QByteArrayLiteral("\", \"sha256\": \"")
        + AccessRules::hashHex(token) + QByteArrayLiteral("\",\n   \"read\": ") + read
        + QByteArrayLiteral(", \"write\": ") + write + '}';
}

QByteArray threeDevices()
{
    return QByteArrayLiteral("{\"tokens\": [\n")
        + tokenLine("writer", WriterToken, "[\"customers\"]", "[\"customers\"]") + ",\n"
        + tokenLine("reader", ReaderToken, "[\"customers\"]", "[]") + ",\n"
        + tokenLine("orders-only", OrdersToken, "[\"orders\"]", "[\"orders\"]") + ",\n"
        + tokenLine("active-only", ActiveToken, "[\"customers\"]", "[\"customers\"]")
              .replace("]}", "],\n   \"rows\": {\"customers\": {\"active\": true}}}")
        + "\n]}\n";
}

QByteArray bearer(const QByteArray &token)
{
    return QByteArrayLiteral("Bearer ") + token;
}

const QString Hash = QString::fromLatin1(AccessRules::hashHex("x"));

} // namespace

class TstAuth : public QObject, private PushFixture
{
    Q_OBJECT

private slots:
    void initTestCase() { BATCHSYNC_SKIP_UNLESS_POSTGRES_USABLE(); }

    // ---- The file ----

    void parses()
    {
        const QByteArray text
            = QByteArrayLiteral("{\"tokens\": [\n"
                                "  {\"name\": \"north-tablet\", \"sha256\": \"")
            + AccessRules::hashHex("north")
            + QByteArrayLiteral(
                  "\",\n"
                  "   \"read\": [\"customers\", \"orders\"], \"write\": [\"orders\"],\n"
                  "   \"rows\": {\"customers\": {\"region\": \"north\", \"tier\": 2},\n"
                  "            \"orders\": {\"region\": \"north\", \"open\": true, \"x\": "
                  "null}}},\n"
                  "  {\"name\": \"auditor\", \"sha256\": \"")
            + AccessRules::hashHex("audit").toUpper() + QByteArrayLiteral("\"}\n]}");
        QString error;
        const std::optional<AccessRules> rules = AccessRules::parse(text, &error);
        QVERIFY2(rules, qPrintable(error));
        QCOMPARE(rules->tokens().size(), 2);
        const AccessToken &north = rules->tokens().at(0);
        QCOMPARE(north.name, QStringLiteral("north-tablet"));
        QCOMPARE(north.read, (QSet<QString> { "customers", "orders" }));
        QCOMPARE(north.write, QSet<QString> { "orders" });
        QVERIFY(north.canWrite("orders") && !north.canWrite("customers"));
        const RowFilter customers = north.rowsOf("customers");
        QCOMPARE(customers.equals.size(), 2);
        QCOMPARE(customers.equals.at(0).first, QStringLiteral("region"));
        QCOMPARE(customers.equals.at(0).second, QJsonValue("north"));
        QCOMPARE(customers.equals.at(1).second, QJsonValue(2));
        const RowFilter orders = north.rowsOf("orders");
        QCOMPARE(orders.equals.at(1).second, QJsonValue(true));
        QVERIFY(orders.equals.at(2).second.isNull());
        QVERIFY(north.rowsOf("products").isEmpty());
        const AccessToken &auditor = rules->tokens().at(1);
        QVERIFY(auditor.read.isEmpty() && auditor.write.isEmpty());
        QCOMPARE(rules->rowFields().value("orders"), (QStringList { "open", "region", "x" }));

        // Tokens are found by their hash; a hash in capitals is the same hash.
        QCOMPARE(rules->find("north"), &north);
        QCOMPARE(rules->find("audit"), &auditor);
        QCOMPARE(rules->find("north "), nullptr);
        QCOMPARE(rules->find(""), nullptr);
        QCOMPARE(rules->find(AccessRules::hashHex("north")), nullptr);

        QVERIFY(AccessRules::parse("{\"tokens\": []}", &error));
    }

    void refusesWithTheLine_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<int>("line");
        QTest::addColumn<QString>("says");

        const QByteArray hash = Hash.toLatin1();
        const auto file = [&hash](const QByteArray &fields) {
            return QByteArrayLiteral("{\"tokens\": [\n {\"name\": \"a\",\n  \"sha256\": \"") + hash
                + "\"" + fields + "}\n]}";
        };
        QTest::newRow("empty") << QByteArray() << 1 << "ends where a value should be";
        QTest::newRow("not an object") << QByteArray("\n[]") << 2 << "must be an object";
        QTest::newRow("no tokens") << QByteArray("{}") << 1 << "no \"tokens\"";
        QTest::newRow("tokens not a list")
            << QByteArray("{\"tokens\":\n {}}") << 2 << "\"tokens\" must be a list";
        QTest::newRow("unknown top key")
            << QByteArray("{\"tokens\": [],\n \"token\": 1}") << 2 << "unknown key \"token\"";
        QTest::newRow("syntax: missing comma")
            << QByteArray("{\"tokens\": [\n {\"name\": \"a\"\n \"sha256\": \"\"}]}") << 3
            << "expected ',' or '}'";
        QTest::newRow("syntax: trailing comma")
            << QByteArray("{\"tokens\": [\n{},\n]}") << 3 << "expected a value";
        QTest::newRow("syntax: unclosed string")
            << QByteArray("{\"tokens\": [\n\n{\"name\": \"a}]}") << 3 << "not closed";
        QTest::newRow("syntax: text after")
            << QByteArray("{\"tokens\": []}\n\nx") << 3 << "after the end";
        QTest::newRow("syntax: control character")
            << QByteArray("{\"tokens\": [{\"name\": \"a\tb\"}]}") << 1 << "control character";
        QTest::newRow("syntax: bad UTF-8")
            << QByteArray("{\"tokens\": [{\"name\": \"\xc3\x28\"}]}") << 1 << "UTF-8";
        QTest::newRow("syntax: lone surrogate")
            << QByteArray("{\"tokens\": [{\"name\": \"\\ud800\"}]}") << 1 << "surrogate";
        QTest::newRow("syntax: leading zero")
            << QByteArray("{\"tokens\": [{\"name\": 01}]}") << 1 << "malformed number";
        QTest::newRow("syntax: duplicate key")
            << QByteArray("{\"tokens\": [],\n\"tokens\": []}") << 2 << "appears twice";
        QTest::newRow("syntax: too deep")
            << QByteArray(100, '[') + QByteArray(100, ']') << 1 << "levels deep";
        QTest::newRow("token not an object")
            << QByteArray("{\"tokens\": [\n\"a\"]}") << 2 << "a token must be an object";
        QTest::newRow("no name") << QByteArray("{\"tokens\": [\n {}]}") << 2 << "no \"name\"";
        QTest::newRow("name a number")
            << QByteArray("{\"tokens\": [\n {\"name\":\n 7}]}") << 3 << "must be a string";
        QTest::newRow("name with a space")
            << QByteArray("{\"tokens\": [{\"name\": \"a b\"}]}") << 1 << "letters, digits";
        QTest::newRow("name too long")
            << QByteArray("{\"tokens\": [{\"name\": \"") + QByteArray(65, 'n') + "\"}]}" << 1
            << "letters, digits";
        QTest::newRow("no sha256")
            << QByteArray("{\"tokens\": [\n {\"name\": \"a\"}]}") << 2 << "no \"sha256\"";
        QTest::newRow("sha256 short")
            << QByteArray("{\"tokens\": [{\"name\": \"a\",\n\"sha256\": \"abc\"}]}") << 2
            << "64 hexadecimal";
        QTest::newRow("sha256 not hex")
            << QByteArray("{\"tokens\": [{\"name\": \"a\", \"sha256\": \"") + QByteArray(64, 'g')
                + "\"}]}"
            << 1 << "64 hexadecimal";
        QTest::newRow("unknown token key")
            << file(",\n  \"rwos\": {}") << 4 << "unknown key \"rwos\"";
        QTest::newRow("read not a list")
            << file(",\n  \"read\": \"customers\"") << 4 << "\"read\" must be a list";
        QTest::newRow("read a number")
            << file(",\n  \"read\": [1]") << 4 << "an entity in \"read\" must be a string";
        QTest::newRow("read a bad name")
            << file(",\n  \"read\": [\"x; DROP\"]") << 4 << "not a valid identifier";
        QTest::newRow("write without read")
            << file(",\n  \"read\": [\"a\"],\n  \"write\": [\"a\", \"b\"]") << 5
            << "\"write\" names b, which \"read\" does not";
        QTest::newRow("rows of an unread entity")
            << file(",\n  \"read\": [\"a\"],\n  \"rows\": {\"b\":\n {\"r\": 1}}") << 6
            << "\"rows\" names b";
        QTest::newRow("rows not an object")
            << file(",\n  \"read\": [\"a\"],\n  \"rows\": []") << 5 << "\"rows\" must be an object";
        QTest::newRow("rows without a field")
            << file(",\n  \"read\": [\"a\"],\n  \"rows\": {\"a\": {}}") << 5 << "name no field";
        QTest::newRow("rows on the id")
            << file(",\n  \"read\": [\"a\"],\n  \"rows\": {\"a\": {\"id\": \"1\"}}") << 5
            << "reserved";
        QTest::newRow("rows value a list")
            << file(",\n  \"read\": [\"a\"],\n  \"rows\": {\"a\": {\"r\":\n [1]}}") << 6
            << "a.r must be a string, a number";
        QTest::newRow("two tokens named alike")
            << QByteArray("{\"tokens\": [{\"name\": \"a\", \"sha256\": \"") + Hash.toLatin1()
                + "\"},\n{\"name\": \"a\", \"sha256\": \"" + AccessRules::hashHex("y") + "\"}]}"
            << 2 << "two tokens are named a";
        QTest::newRow("two tokens with one hash")
            << QByteArray("{\"tokens\": [{\"name\": \"a\", \"sha256\": \"") + Hash.toLatin1()
                + "\"},\n{\"name\": \"b\", \"sha256\": \"" + Hash.toUpper().toLatin1() + "\"}]}"
            << 2 << "same sha256";
    }

    void refusesWithTheLine()
    {
        QFETCH(QByteArray, text);
        QFETCH(int, line);
        QFETCH(QString, says);
        QString error;
        QVERIFY(!AccessRules::parse(text, &error));
        QVERIFY2(error.startsWith(QStringLiteral("line %1: ").arg(line)), qPrintable(error));
        QVERIFY2(error.contains(says), qPrintable(error));
    }

    void loadsFromAFile()
    {
        QTemporaryDir dir;
        QString error;
        QVERIFY(!AccessRules::load(dir.filePath("missing.json"), &error));
        QVERIFY2(error.contains("cannot read the auth file") && error.contains("missing.json"),
                 qPrintable(error));
        QVERIFY(!AccessRules::load(dir.path(), &error));
        QVERIFY2(error.contains("is a folder"), qPrintable(error));
        QFile bad(dir.filePath("bad.json"));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write("{\"tokens\": [\n\n  7]}");
        bad.close();
        QVERIFY(!AccessRules::load(bad.fileName(), &error));
        QVERIFY2(error.contains("bad.json, line 3: a token must be an object"), qPrintable(error));
        QFile good(dir.filePath("good.json"));
        QVERIFY(good.open(QIODevice::WriteOnly));
        good.write(threeDevices());
        good.close();
        const std::optional<AccessRules> rules = AccessRules::load(good.fileName(), &error);
        QVERIFY2(rules, qPrintable(error));
        QCOMPARE(rules->tokens().size(), 4);
    }

    // Mutations of a valid file: the parser never crashes, refuses with a line within the
    // text, and accepts only what is JSON (QJsonDocument agrees).
    void fuzzedFilesAreRefusedInWords()
    {
        const QByteArray seed = threeDevices();
        QRandomGenerator random(20261207);
        int accepted = 0;
        for (int round = 0; round < 20000; ++round) {
            QByteArray text = seed;
            const int edits = 1 + int(random.bounded(4));
            for (int e = 0; e < edits; ++e) {
                const int at = int(random.bounded(qMax<qsizetype>(1, text.size())));
                static const char alphabet[] = "{}[]\":,\\ \n0123456789-+.eEtrufalsn\xc3\x80\x01"
                                               "ab";
                const char c = alphabet[random.bounded(int(sizeof(alphabet) - 1))];
                switch (random.bounded(4)) {
                case 0:
                    text.remove(at, 1 + int(random.bounded(8)));
                    break;
                case 1:
                    text.insert(at, c);
                    break;
                case 2:
                    if (at < text.size())
                        text[at] = c;
                    break;
                default:
                    text.truncate(at);
                    break;
                }
            }
            QString error;
            int line = 0;
            const std::optional<JsonNode> tree = JsonTree::parse(text, &error, &line);
            QJsonParseError jsonError;
            QJsonDocument::fromJson(text, &jsonError);
            // QJsonDocument reads only an object or an array as a document.
            if (tree
                && (tree->kind == JsonNode::Kind::Object || tree->kind == JsonNode::Kind::Array))
                QVERIFY2(jsonError.error == QJsonParseError::NoError, text.constData());
            const std::optional<AccessRules> rules = AccessRules::parse(text, &error);
            if (rules) {
                ++accepted;
                continue;
            }
            static const QRegularExpression linePrefix(QStringLiteral("^line (\\d+): \\S"));
            const QRegularExpressionMatch match = linePrefix.match(error);
            QVERIFY2(match.hasMatch(), qPrintable(error));
            QVERIFY2(match.captured(1).toInt() <= text.count('\n') + 1, qPrintable(error));
        }
        QVERIFY(accepted > 0); // some mutations (whitespace, a letter in a name) stay valid
    }

    // ---- Over HTTP ----

    void init()
    {
        if (QByteArray(QTest::currentTestFunction()).startsWith("http")
            || QByteArray(QTest::currentTestFunction()).startsWith("binary")) {
            if (PgTest::selected()) {
                m_postgres = PgTest::connection(PgDatabase, QStringLiteral("auth"), true);
                QVERIFY(!m_postgres.isEmpty());
            }
        }
        if (!QByteArray(QTest::currentTestFunction()).startsWith("http"))
            return;
        QVERIFY(setUp());
        m_server->addCustomers(3, 7, QStringLiteral("orders"));
        QString error;
        const std::optional<AccessRules> rules = AccessRules::parse(threeDevices(), &error);
        QVERIFY2(rules, qPrintable(error));
        QVERIFY2(m_server->server()->setAccessRules(*rules, &error), qPrintable(error));
    }
    void cleanup()
    {
        if (m_server)
            tearDown();
    }

    void httpWithoutTheRightTokenNothingIsServed_data()
    {
        QTest::addColumn<QByteArray>("authorization");
        QTest::newRow("none") << QByteArray();
        QTest::newRow("empty bearer") << QByteArray("Bearer ");
        QTest::newRow("wrong token") << bearer("writer-secret-7f3a9d");
        QTest::newRow("the hash itself") << bearer(AccessRules::hashHex(WriterToken));
        QTest::newRow("basic scheme") << QByteArray("Basic ") + WriterToken.toBase64();
        QTest::newRow("token without a scheme") << WriterToken;
        QTest::newRow("a prefix of a token") << bearer(WriterToken.left(10));
    }

    void httpWithoutTheRightTokenNothingIsServed()
    {
        QFETCH(QByteArray, authorization);
        const qint64 before = changeCount();
        for (const QString &path :
             { QStringLiteral("/entities"), QStringLiteral("/entities/customers/count"),
               QStringLiteral("/entities/customers/changes"),
               QStringLiteral("/entities/nothing/changes"), QStringLiteral("/no/such/path") }) {
            const Reply reply = send("GET", path, QByteArray(), authorization);
            QCOMPARE(reply.status, 401);
            QCOMPARE(reply.json().value("error").toString(),
                     QStringLiteral("missing or invalid bearer token"));
        }
        const Reply pushed
            = push(request({ change("1", "new", QJsonValue(), false, fullData("N", 1)) }),
                   QStringLiteral("customers"), authorization);
        QCOMPARE(pushed.status, 401);
        QCOMPARE(changeCount(), before);
    }

    void httpEntitiesListsWhatATokenReads()
    {
        const auto listed = [this](const QByteArray &token) {
            QMap<QString, bool> entities;
            const Reply reply
                = send("GET", QStringLiteral("/entities"), QByteArray(), bearer(token));
            for (const QJsonValue &entity : reply.json().value("entities").toArray()) {
                entities.insert(entity.toObject().value("name").toString(),
                                entity.toObject().value("writable").toBool());
            }
            return entities;
        };
        QCOMPARE(listed(WriterToken), (QMap<QString, bool> { { "customers", true } }));
        QCOMPARE(listed(ReaderToken), (QMap<QString, bool> { { "customers", false } }));
        QCOMPARE(listed(OrdersToken), (QMap<QString, bool> { { "orders", true } }));

        m_server->server()->setReadOnly(true);
        QCOMPARE(listed(WriterToken), (QMap<QString, bool> { { "customers", false } }));
    }

    // An entity outside a token's "read" answers every route exactly as one that does not
    // exist: its name reveals nothing.
    void httpHiddenEntitiesAnswerAsUnknownOnEveryRoute_data()
    {
        QTest::addColumn<QByteArray>("verb");
        QTest::addColumn<QString>("path");
        QTest::newRow("count") << QByteArray("GET") << "/entities/%1/count";
        QTest::newRow("count since") << QByteArray("GET") << "/entities/%1/count?since=0";
        QTest::newRow("changes") << QByteArray("GET") << "/entities/%1/changes?limit=10";
        QTest::newRow("changes offset")
            << QByteArray("GET") << "/entities/%1/changes?changedSince=&offset=0";
        QTest::newRow("push") << QByteArray("POST") << "/entities/%1/changes";
    }

    void httpHiddenEntitiesAnswerAsUnknownOnEveryRoute()
    {
        QFETCH(QByteArray, verb);
        QFETCH(QString, path);
        const QByteArray body = verb == "POST"
            ? request({ change("1", "x", QJsonValue(), false, fullData("N", 1)) })
            : QByteArray();
        const qint64 before = changeCount();
        const Reply hidden = send(verb, path.arg("customers"), body, bearer(OrdersToken));
        const Reply unknown = send(verb, path.arg("invoices"), body, bearer(OrdersToken));
        QCOMPARE(hidden.status, 404);
        QCOMPARE(hidden.json().value("error").toString(),
                 QStringLiteral("no entity named \"customers\""));
        QCOMPARE(unknown.status, 404);
        QCOMPARE(unknown.json().value("error").toString(),
                 QStringLiteral("no entity named \"invoices\""));
        QCOMPARE(changeCount(), before);

        // The same route for an entity the token reads.
        const Reply seen = send(verb, path.arg("orders"),
                                verb == "POST" ? request({}) : QByteArray(), bearer(OrdersToken));
        QCOMPARE(seen.status, 200);
    }

    void httpReadOnlyTokensCannotPush()
    {
        const qint64 before = changeCount();
        const QByteArray body = request({ change("1", m_ids.at(0), "1", true) });
        const Reply refused = push(body, QStringLiteral("customers"), bearer(ReaderToken));
        QCOMPARE(refused.status, 403);
        QCOMPARE(refused.json().value("error").toString(),
                 QStringLiteral("the token reader may read customers but not write to it"));
        QCOMPARE(changeCount(), before);
        QVERIFY(!liveRecord(m_ids.at(0)).isEmpty());

        // Pulls work for it, and the writer's push goes through.
        QCOMPARE(send("GET", "/entities/customers/count", {}, bearer(ReaderToken)).json(),
                 QJsonObject({ { "count", 5 } }));
        const Reply applied = push(body, QStringLiteral("customers"), bearer(WriterToken));
        QCOMPARE(applied.status, 200);
        QCOMPARE(applied.json()["results"][0]["status"].toString(), QStringLiteral("applied"));
        QVERIFY(liveRecord(m_ids.at(0)).isEmpty());
    }

    // A body over 16 MiB is refused from its head, after the refusals that come first.
    void httpLargePushRefusalsKeepTheirOrder_data()
    {
        QTest::addColumn<QByteArray>("token");
        QTest::addColumn<QString>("entity");
        QTest::addColumn<int>("status");
        QTest::newRow("wrong token") << QByteArray("nope") << "customers" << 401;
        QTest::newRow("hidden entity") << OrdersToken << "customers" << 404;
        QTest::newRow("read only") << ReaderToken << "customers" << 403;
        QTest::newRow("writer: too large") << WriterToken << "customers" << 413;
    }

    void httpLargePushRefusalsKeepTheirOrder()
    {
        QFETCH(QByteArray, token);
        QFETCH(QString, entity);
        QFETCH(int, status);
        const QByteArray head = "POST /api/v1/entities/" + entity.toLatin1()
            + "/changes HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token
            + "\r\nContent-Type: application/json\r\nContent-Length: "
            + QByteArray::number(Push::MaxBodyBytes + 1) + "\r\n\r\n";
        const QByteArray answer = raw(head);
        QVERIFY2(answer.startsWith("HTTP/1.1 " + QByteArray::number(status)), answer.constData());
    }

    // A token's rows on a push: a change that would create, change or move a record outside
    // them is rejected, and says nothing of the record.
    void httpRowsOnAPush_data()
    {
        QTest::addColumn<QString>("id");
        QTest::addColumn<bool>("staleBase");
        QTest::addColumn<bool>("deleted");
        QTest::addColumn<bool>("active");
        QTest::addColumn<QString>("status");
        QTest::newRow("create inside") << "new" << false << false << true << "applied";
        QTest::newRow("create outside") << "new" << false << false << false << "rejected";
        QTest::newRow("change inside") << "in" << false << false << true << "applied";
        QTest::newRow("move out") << "in" << false << false << false << "rejected";
        QTest::newRow("move another's in") << "out" << false << false << true << "rejected";
        QTest::newRow("change outside") << "out" << false << false << false << "rejected";
        QTest::newRow("delete inside") << "in" << false << true << true << "applied";
        QTest::newRow("delete outside") << "out" << false << true << true << "rejected";
        QTest::newRow("create over outside") << "out" << true << false << true << "rejected";
        QTest::newRow("stale base inside") << "in" << true << false << true << "conflict";
    }

    void httpRowsOnAPush()
    {
        QFETCH(QString, id);
        QFETCH(bool, staleBase);
        QFETCH(bool, deleted);
        QFETCH(bool, active);
        QFETCH(QString, status);
        QString error;
        for (const auto &[key, isActive] : { std::pair("in", true), std::pair("out", false) }) {
            QJsonObject data = fullData(key, 3);
            data.insert("active", isActive);
            QVERIFY(m_server->backend()->upsert("customers", key, data.toVariantMap(), &error));
        }
        const QJsonObject before = liveRecord(id);
        QJsonValue base = id == "new" ? QJsonValue() : pulled(id).value("version");
        if (staleBase)
            base = id == "in" ? QJsonValue("1") : QJsonValue();
        QJsonObject data = fullData("sent", 4);
        data.insert("active", active);
        const Reply reply = push(request({ change("c1", id, base, deleted, data) }),
                                 QStringLiteral("customers"), bearer(ActiveToken));
        QCOMPARE(reply.status, 200);
        const QJsonObject result = reply.json()["results"][0].toObject();
        QCOMPARE(result.value("status").toString(), status);
        if (status == "rejected") {
            QCOMPARE(result.value("error").toString(), RowAccess::outsideReason());
            QCOMPARE(liveRecord(id), before);
            QVERIFY(!reply.body.contains("\"out\"") || id == "out");
            QVERIFY(!result.contains("current"));
        } else if (status == "applied") {
            QCOMPARE(liveRecord(id).isEmpty(), deleted);
        } else {
            QCOMPARE(result["current"]["data"]["active"].toBool(), true);
        }
    }

    // A conflict whose server record lies outside the rows (it moved out between the check
    // and the transaction, or was remembered from an earlier answer) becomes a rejection.
    void rowsScreenTheResults()
    {
        const EntitySchema schema { "customers",
                                    { { "name", FieldType::String },
                                      { "active", FieldType::Bool },
                                      { "visits", FieldType::Int } } };
        const RowFilter rows { { { "active", true }, { "visits", 3 } } };
        const QByteArray body
            = "{\"results\":[{\"changeId\":\"a\",\"status\":\"applied\",\"version\":\"9\","
              "\"changedAt\":\"2026-12-02T08:00:00.000Z\"},"
              "{\"changeId\":\"b\",\"status\":\"conflict\",\"current\":{\"id\":\"x\","
              "\"version\":\"8\",\"changedAt\":\"2026-12-02T08:00:00.000Z\",\"deleted\":false,"
              "\"data\":{\"name\":\"secret\",\"active\":false,\"visits\":3}}},"
              "{\"changeId\":\"c\",\"status\":\"conflict\",\"current\":{\"id\":\"y\","
              "\"version\":\"7\",\"changedAt\":\"2026-12-02T08:00:00.000Z\",\"deleted\":false,"
              "\"data\":{\"name\":\"shown\",\"active\":true,\"visits\":3}}},"
              "{\"changeId\":\"d\",\"status\":\"conflict\",\"current\":{\"id\":\"z\","
              "\"deleted\":true}}]}";
        const std::optional<QByteArray> screened = RowAccess::screenResults(body, rows, schema);
        QVERIFY(screened);
        QVERIFY(!screened->contains("secret"));
        const QJsonArray results = QJsonDocument::fromJson(*screened)["results"].toArray();
        QCOMPARE(results.size(), 4);
        QCOMPARE(results[0]["status"].toString(), QStringLiteral("applied"));
        QCOMPARE(results[1].toObject(),
                 QJsonObject({ { "changeId", "b" },
                               { "status", "rejected" },
                               { "error", RowAccess::outsideReason() } }));
        QCOMPARE(results[2]["current"]["data"]["name"].toString(), QStringLiteral("shown"));
        QCOMPARE(results[3]["status"].toString(), QStringLiteral("conflict"));

        // Nothing outside: the body as it was.
        const RowFilter none { { { "visits", 3 } } };
        QCOMPARE(RowAccess::screenResults(body, none, schema), body);
        QVERIFY(!RowAccess::screenResults("not json", rows, schema));

        // Typed comparisons.
        const EntitySchema typed { "t",
                                   { { "s", FieldType::String },
                                     { "i", FieldType::Int },
                                     { "r", FieldType::Real },
                                     { "b", FieldType::Bool },
                                     { "d", FieldType::Decimal } } };
        const QVariantList values { "north", qint64(2), 2.5, false, "10.50" };
        const auto matches = [&](const char *field, const QJsonValue &value) {
            return RowAccess::matches(RowFilter { { { field, value } } }, typed, values);
        };
        QVERIFY(matches("s", "north") && !matches("s", "North") && !matches("s", 1));
        QVERIFY(matches("i", 2) && !matches("i", "2") && !matches("i", 2.5));
        QVERIFY(matches("r", 2.5) && !matches("r", "2.5"));
        QVERIFY(matches("b", false) && !matches("b", 0) && !matches("b", QJsonValue()));
        QVERIFY(matches("d", "10.50") && matches("d", 10.5) && !matches("d", "10.5"));
        QVERIFY(!matches("missing", "north"));
        QVERIFY(RowAccess::matches(RowFilter { { { "s", QJsonValue() } } }, typed,
                                   { QVariant(), qint64(1), 1.0, true, "1" }));
    }

    // ---- The server binary ----

    void binaryHashTokenMakesALineTheFileAdmits()
    {
        QProcess generate;
        generate.start(BATCHSYNC_SERVER_BIN, { "--hash-token", "north-tablet" });
        QVERIFY(generate.waitForFinished(20000));
        QCOMPARE(generate.exitCode(), 0);
        const QList<QByteArray> lines = generate.readAllStandardOutput().trimmed().split('\n');
        QCOMPARE(lines.size(), 2);
        QVERIFY2(lines.at(0).startsWith("token: "), lines.at(0).constData());
        const QByteArray token = lines.at(0).mid(7);
        QVERIFY(token.size() >= 43);
        QString error;
        const std::optional<AccessRules> rules
            = AccessRules::parse("{\"tokens\": [" + lines.at(1) + "]}", &error);
        QVERIFY2(rules, qPrintable(error));
        QCOMPARE(rules->tokens().at(0).name, QStringLiteral("north-tablet"));
        QVERIFY(rules->find(token));

        // A given token is hashed, not printed; a bad name is refused.
        QProcess given;
        given.start(BATCHSYNC_SERVER_BIN, { "--hash-token", "d1", "--token", "abc" });
        QVERIFY(given.waitForFinished(20000));
        QCOMPARE(given.exitCode(), 0);
        const QByteArray line = given.readAllStandardOutput();
        QVERIFY(!line.contains("abc"));
        QVERIFY(line.contains(AccessRules::hashHex("abc")));
        QProcess bad;
        bad.start(BATCHSYNC_SERVER_BIN, { "--hash-token", "two words" });
        QVERIFY(bad.waitForFinished(20000));
        QCOMPARE(bad.exitCode(), 2);
        QVERIFY(bad.readAllStandardError().contains("must be 1 to 64 letters"));
    }

    void binaryRefusesABadStart_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QString>("says");
        QTest::newRow("missing file")
            << QStringList { "--auth", "%1/none.json" } << "cannot read the auth file";
        QTest::newRow("malformed file")
            << QStringList { "--auth", "%1/bad.json" } << "bad.json, line 2: unknown key";
        QTest::newRow("with --token") << QStringList { "--auth", "%1/good.json", "--token", "t" }
                                      << "either --auth FILE or --token";
    }

    void binaryRefusesABadStart()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QString, says);
        QTemporaryDir dir;
        writeFile(dir.filePath("bad.json"), "{\"tokens\": [],\n\"x\": 1}");
        writeFile(dir.filePath("good.json"), threeDevices());
        for (QString &argument : arguments)
            argument.replace(QLatin1String("%1"), dir.path());
        QProcess server;
        server.start(BATCHSYNC_SERVER_BIN,
                     arguments + QStringList { "--db", dir.filePath("s.sqlite"), "--port", "0" });
        QVERIFY(server.waitForFinished(20000));
        QCOMPARE(server.exitCode(), 2);
        const QByteArray stderrText = server.readAllStandardError();
        QVERIFY2(stderrText.contains(says.toUtf8()), stderrText.constData());
    }

    // SIGHUP re-reads the file: a good one replaces the rules, a malformed one is refused
    // with its line and the rules in force stay. --verbose names tokens, never shows them.
    void binaryReloadsOnHangup()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath("auth.json");
        writeFile(path, threeDevices());
        QProcess server;
        QStringList arguments {
            "--auth", path, "--port", "0", "--verbose", "--demo-scale", "0.01"
        };
        arguments += m_postgres.isEmpty() ? QStringList { "--db", dir.filePath("s.sqlite") }
                                          : QStringList { "--postgres", m_postgres };
        server.start(BATCHSYNC_SERVER_BIN, arguments);
        QVERIFY(server.waitForStarted());
        QByteArray out;
        QTRY_VERIFY_WITH_TIMEOUT(out.append(server.readAllStandardOutput()).contains("/api/v1"),
                                 30000);
        static const QRegularExpression address(QStringLiteral("127\\.0\\.0\\.1:(\\d+)/"));
        const quint16 port = address.match(QString::fromLatin1(out)).captured(1).toUShort();
        QVERIFY2(port != 0, out.constData());
        const auto status = [port](const QByteArray &token) {
            return httpStatus(port, "/api/v1/entities/customers/count", token);
        };
        QCOMPARE(status(WriterToken), 200);
        QCOMPARE(status(OrdersToken), 404);

        // A good file: the orders token now reads customers too, the reader is gone.
        QByteArray changed = threeDevices();
        changed.replace("\"read\": [\"orders\"]", "\"read\": [\"orders\", \"customers\"]");
        changed.replace("\"name\": \"reader\", \"sha256\": \"" + AccessRules::hashHex(ReaderToken),
                        "\"name\": \"reader\", \"sha256\": \"" + AccessRules::hashHex("other"));
        writeFile(path, changed);
        ::kill(pid_t(server.processId()), SIGHUP);
        QTRY_VERIFY_WITH_TIMEOUT(m_stderr.append(server.readAllStandardError()).contains("re-read"),
                                 10000);
        QCOMPARE(status(OrdersToken), 200);
        QCOMPARE(status(ReaderToken), 401);

        // A malformed file: refused with its line; the rules in force stay.
        writeFile(path, "{\"tokens\": [\n  {\"name\": \"a\"}\n]}");
        ::kill(pid_t(server.processId()), SIGHUP);
        QTRY_VERIFY_WITH_TIMEOUT(
            m_stderr.append(server.readAllStandardError()).contains("rules in force stay"), 10000);
        QVERIFY2(m_stderr.contains("line 2: token a has no \"sha256\""), m_stderr.constData());
        QCOMPARE(status(OrdersToken), 200);
        QCOMPARE(status(WriterToken), 200);

        server.terminate();
        QVERIFY(server.waitForFinished(20000));
        m_stderr += server.readAllStandardError();
        QVERIFY2(m_stderr.contains("/api/v1/entities/customers/count 200")
                     && m_stderr.contains("token=orders-only"),
                 m_stderr.constData());
        QVERIFY(m_stderr.contains("401") && m_stderr.contains("token=(none)"));
        for (const QByteArray &secret : { WriterToken, ReaderToken, OrdersToken })
            QVERIFY2(!m_stderr.contains(secret), m_stderr.constData());
        m_stderr.clear();
    }

private:
    static void writeFile(const QString &path, const QByteArray &text)
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        file.write(text);
    }

    static int httpStatus(quint16 port, const QString &path, const QByteArray &token)
    {
        QNetworkAccessManager nam;
        QNetworkRequest request(QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(port).arg(path)));
        request.setRawHeader("Authorization", bearer(token));
        std::unique_ptr<QNetworkReply> reply(nam.get(request));
        QSignalSpy finished(reply.get(), &QNetworkReply::finished);
        if (!reply->isFinished() && !finished.wait(20000))
            return 0;
        return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    }

    QByteArray m_stderr;
};

QTEST_GUILESS_MAIN(TstAuth)
#include "tst_auth.moc"
