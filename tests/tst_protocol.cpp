#include "common/timestamp.h"
#include "common/types.h"
#include "sources/protocol/protocolclient.h"
#include "sources/protocol/protocolparser.h"
#include "sources/protocol/protocolparser_p.h"
#include "testutil/fakenetwork.h"
#include "testutil/pagediff.h"
#include "testutil/referenceparser.h"
#include "testutil/testserver.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocale>
#include <QNetworkAccessManager>
#include <QPointer>
#include <QSet>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QUrlQuery>
#include <cmath>
#include <cstring>
#include <limits>

using namespace BatchSync;
using BatchSync::Test::FakeNetworkAccessManager;
using BatchSync::Test::FakeRule;
using BatchSync::Test::pageDifference;

namespace {

const QString FakeBase = QStringLiteral("http://127.0.0.1:8080/api/v1");

EntitySchema customersSchema()
{
    EntitySchema schema;
    schema.name = QStringLiteral("customers");
    schema.fields = { { QStringLiteral("name"), FieldType::String },
                      { QStringLiteral("balance"), FieldType::Real },
                      { QStringLiteral("active"), FieldType::Bool },
                      { QStringLiteral("visits"), FieldType::Int },
                      { QStringLiteral("since"), FieldType::DateTime } };
    return schema;
}

QByteArray toJson(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QJsonObject validData()
{
    return QJsonObject { { QStringLiteral("name"), QStringLiteral("Ada") },
                         { QStringLiteral("balance"), 12.5 },
                         { QStringLiteral("active"), true },
                         { QStringLiteral("visits"), 3 },
                         { QStringLiteral("since"), QStringLiteral("2025-01-02T03:04:05.000Z") } };
}

QJsonObject validChange(int n = 1)
{
    return QJsonObject { { QStringLiteral("id"), QStringLiteral("c-%1").arg(n) },
                         { QStringLiteral("changedAt"),
                           QStringLiteral("2026-11-26T06:20:16.123Z") },
                         { QStringLiteral("deleted"), false },
                         { QStringLiteral("data"), validData() } };
}

/*! Sets \a key of \a object to \a value, or removes it when \a value is undefined. */
QJsonObject with(QJsonObject object, const QString &key, const QJsonValue &value)
{
    if (value.isUndefined())
        object.remove(key);
    else
        object.insert(key, value);
    return object;
}

QJsonObject changeWithData(const QString &field, const QJsonValue &value)
{
    return with(validChange(), QStringLiteral("data"), with(validData(), field, value));
}

QByteArray pageBody(const QJsonArray &changes, const QString &key = QString(),
                    const QJsonValue &value = QJsonValue::Undefined)
{
    QJsonObject root { { QStringLiteral("changes"), changes },
                       { QStringLiteral("cursor"), QStringLiteral("8812") },
                       { QStringLiteral("hasMore"), true } };
    if (!key.isEmpty())
        root = with(root, key, value);
    return toJson(root);
}

QByteArray pageOf(const QJsonObject &change)
{
    return pageBody(QJsonArray { change });
}

QByteArray nested(int depth)
{
    return QByteArray(depth, '[') + QByteArray(depth, ']');
}

QByteArray entitiesBody()
{
    return QByteArrayLiteral(R"({"entities": [
        {"name": "customers",
         "fields": [{"name": "name", "type": "string"},
                    {"name": "balance", "type": "real"},
                    {"name": "active", "type": "bool"},
                    {"name": "visits", "type": "int"},
                    {"name": "since", "type": "datetime"}]},
        {"name": "orders", "fields": [{"name": "total", "type": "real"}]}
    ]})");
}

QString httpDate(const QDateTime &utc)
{
    return QLocale::c().toString(utc, QStringLiteral("ddd, dd MMM yyyy HH:mm:ss 'GMT'"));
}

/*!
    A raw TCP server that answers every HTTP request with fixed bytes (possibly a lie about
    the length, possibly nothing), so that the client can be tested against Qt's real HTTP
    stack, not only against FakeNetworkAccessManager.
*/
class RawHttpServer final : public QObject
{
public:
    enum class Mode { Answer, AnswerAndClose, Silent };

    RawHttpServer(Mode mode, const QByteArray &response)
        : m_mode(mode)
        , m_response(response)
    {
        connect(&m_server, &QTcpServer::newConnection, this, &RawHttpServer::onNewConnection);
    }

    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    quint16 port() const { return m_server.serverPort(); }
    QUrl baseUrl() const { return QUrl(QStringLiteral("http://127.0.0.1:%1/api/v1").arg(port())); }

private:
    void onNewConnection()
    {
        while (QTcpSocket *socket = m_server.nextPendingConnection()) {
            socket->setParent(this);
            connect(socket, &QTcpSocket::readyRead, this, [this, socket] {
                m_received += socket->readAll();
                if (!m_received.contains("\r\n\r\n") || m_mode == Mode::Silent)
                    return;
                m_received.clear();
                socket->write(m_response);
                if (m_mode == Mode::AnswerAndClose) {
                    socket->flush();
                    socket->disconnectFromHost();
                }
            });
        }
    }

    QTcpServer m_server;
    Mode m_mode;
    QByteArray m_response;
    QByteArray m_received;
};

ChangePage sentinelPage()
{
    ChangePage page;
    page.cursor = QStringLiteral("sentinel");
    page.hasMore = true;
    page.changes.append(Change { QStringLiteral("keep"), QString(), false, { 1 } });
    return page;
}

/*!
    Runs Protocol::parseChanges and the oracle (Test::parseChangesReference, QJsonDocument)
    on \a body. Empty when they agree: same outcome, same fault (category and message), same
    page to the bits of each double, and the output untouched on failure. \a accepted says
    whether parseChanges took the body.
*/
QString parityProblem(const QByteArray &body, const EntitySchema &schema, int limit,
                      PagingMode mode, bool *accepted = nullptr)
{
    const ChangePage untouched = sentinelPage();
    ChangePage reference = untouched;
    QString referenceError;
    const bool referenceOk
        = Test::parseChangesReference(body, schema, limit, mode, &reference, &referenceError);
    ChangePage published = untouched;
    QString publishedError;
    const bool publishedOk
        = Protocol::parseChanges(body, schema, limit, mode, &published, &publishedError);
    if (accepted)
        *accepted = publishedOk;

    if (publishedOk != referenceOk) {
        return QStringLiteral("parseChanges says %1 (%2), the oracle %3 (%4)")
            .arg(publishedOk)
            .arg(publishedError)
            .arg(referenceOk)
            .arg(referenceError);
    }
    if (publishedOk != publishedError.isEmpty())
        return QStringLiteral("parseChanges's outcome and message disagree: ") + publishedError;
    if (Test::errorCategory(publishedError) != Test::errorCategory(referenceError)) {
        return QStringLiteral("faults differ: %1 vs %2")
            .arg(Test::errorCategory(publishedError), Test::errorCategory(referenceError));
    }
    if (publishedError != referenceError) {
        return QStringLiteral("messages differ: \"%1\" vs \"%2\"")
            .arg(publishedError, referenceError);
    }
    if (const QString d = pageDifference(published, reference); !d.isEmpty())
        return QStringLiteral("parseChanges and the oracle differ: ") + d;
    return QString();
}

QByteArray changesBody(const QByteArray &changes,
                       const QByteArray &rest = R"("cursor": "9", "hasMore": true)")
{
    return "{\"changes\": [" + changes + "], " + rest + '}';
}

/*! A page of one change with \a data (JSON text) for customersSchema(). */
QByteArray dataBody(const QByteArray &data)
{
    return changesBody(R"({"id": "x", "changedAt": "2025-01-01T00:00:00.000Z", "data": )" + data
                       + '}');
}

} // namespace

class TestProtocol final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    // Parser
    void parseEntities();
    void parseEntitiesEdgeCases();
    void parseEntitiesInvalid_data();
    void parseEntitiesInvalid();
    void parseCount_data();
    void parseCount();
    void parseCountInvalid_data();
    void parseCountInvalid();
    void parseChanges();
    void parseChangesTypes_data();
    void parseChangesTypes();
    void parseChangesDeleted();
    void pushBodyIsExactJson();
    void parseChangesCursor_data();
    void parseChangesCursor();
    void parseChangesLimit();
    void parseChangesInvalid_data();
    void parseChangesInvalid();
    void parseChangesErrorNamesIndex();
    void parseChangesDecimal_data();
    void parseChangesDecimal();
    void parseEntitiesDecimal();
    void pushDecimals();
    void pushResultsRefused_data();
    void pushResultsRefused();
    void parseChangesParity_data();
    void parseChangesParity();
    void parseChangesParityLargePage();
    void parseChangesParityOtherSchemas();
    void fastTimestamp_data();
    void fastTimestamp();
    void fastTimestampCalendar();
    void parseErrorMessage_data();
    void parseErrorMessage();

    // Client against the fake network
    void urlFor_data();
    void urlFor();
    void fetchEntities();
    void fetchCount();
    void fetchChanges();
    void queryParameters_data();
    void queryParameters();
    void headers();
    void finishedIsQueued();
    void invalidEndpoint_data();
    void invalidEndpoint();
    void httpErrors_data();
    void httpErrors();
    void networkErrors_data();
    void networkErrors();
    void hangingReplyTimesOut();
    void delayedReply();
    void truncatedBody();
    void oversizeBody_data();
    void oversizeBody();
    void invalidBody();
    void abortInFlight();
    void abortDelayedReply();
    void abortAfterFinished();
    void deleteInFlight();
    void managerDeleted();
    void fakeManagerTransferTimeout();
    void fakeRulesOrderAndCount();
    void fakeDynamicRule();

    // Client against Qt's real HTTP stack
    void realConnectionRefused();
    void realNoResponse();
    void realTruncatedBody();
    void pageParsedAsideEndsOnce_data();
    void pageParsedAsideEndsOnce();
    void realOversizeChunked();
    void realRetryAfter();

    // Client against the reference server
    void serverEntities();
    void serverCursorPaging();
    void serverOffsetPaging();
    void serverAuth();
    void serverUnknownEntity();
    void serverFaultInjection();
    void serverPagesMatchTheOracle();

private:
    static bool waitFinished(ProtocolRequest *request, int timeout = 10000);
};

void TestProtocol::initTestCase()
{
    qRegisterMetaType<PagingMode>();
    qRegisterMetaType<ErrorCategory>();
}

bool TestProtocol::waitFinished(ProtocolRequest *request, int timeout)
{
    // finished() is queued, so a spy made right after the fetch call cannot miss it.
    QSignalSpy spy(request, &ProtocolRequest::finished);
    return spy.wait(timeout) && spy.count() == 1;
}

// Parser ----------------------------------------------------------------------------------

void TestProtocol::parseEntities()
{
    QList<EntitySchema> entities;
    QString error;
    QVERIFY2(Protocol::parseEntities(entitiesBody(), &entities, &error), qPrintable(error));
    QVERIFY(error.isEmpty());
    QCOMPARE(entities.size(), 2);
    QCOMPARE(entities.at(0), customersSchema());
    QCOMPARE(entities.at(1).name, QStringLiteral("orders"));
    QCOMPARE(entities.at(1).fields,
             (QList<FieldSpec> { { QStringLiteral("total"), FieldType::Real } }));
}

void TestProtocol::parseEntitiesEdgeCases()
{
    QList<EntitySchema> entities;
    QString error;

    QVERIFY(Protocol::parseEntities(R"({"entities": []})", &entities, &error));
    QVERIFY(entities.isEmpty());

    // No fields, unknown keys ignored, 64-character names, same field name in two entities.
    const QString longName = QString(64, u'n');
    const QByteArray body
        = QStringLiteral(
              R"({"version": 1, "entities": [{"name": "tags", "fields": [], "x": 1},
                 {"name": "%1", "fields": [{"name": "%1", "type": "int", "doc": "d"}]},
                 {"name": "notes", "fields": [{"name": "total", "type": "string"}]},
                 {"name": "orders", "fields": [{"name": "total", "type": "real"}]}]})")
              .arg(longName)
              .toUtf8();
    QVERIFY2(Protocol::parseEntities(body, &entities, &error), qPrintable(error));
    QCOMPARE(entities.size(), 4);
    QCOMPARE(entities.at(0).name, QStringLiteral("tags"));
    QVERIFY(entities.at(0).fields.isEmpty());
    QCOMPARE(entities.at(1).name, longName);
    QCOMPARE(entities.at(1).fields.at(0).name, longName);
    QCOMPARE(entities.at(1).fields.at(0).type, FieldType::Int);
}

void TestProtocol::parseEntitiesInvalid_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QString>("expected");

    auto entity = [](const QString &name) {
        return QStringLiteral(R"({"entities": [{"name": %1, "fields": []}]})").arg(name).toUtf8();
    };
    auto field = [](const QString &fieldJson) {
        return QStringLiteral(R"({"entities": [{"name": "customers", "fields": [%1]}]})")
            .arg(fieldJson)
            .toUtf8();
    };

    QTest::newRow("empty-body") << QByteArray() << "the response body is empty";
    QTest::newRow("whitespace-body") << QByteArray(" \r\n\t ") << "the response body is empty";
    QTest::newRow("not-json") << QByteArray("<html>Bad Gateway</html>") << "not valid JSON";
    QTest::newRow("truncated-json")
        << QByteArray(R"({"entities": [{"name": "a")") << "not valid JSON";
    QTest::newRow("binary") << QByteArray("\x00\xff\xfe{", 4) << "not valid JSON";
    QTest::newRow("top-level-array") << QByteArray(R"([{"entities": []}])")
                                     << "expected a JSON object at the top level, got an array";
    QTest::newRow("top-level-string") << QByteArray(R"("entities")") << "";
    QTest::newRow("top-level-number") << QByteArray("42") << "";
    QTest::newRow("deeply-nested-array") << nested(100000) << "not valid JSON";
    QTest::newRow("deeply-nested-object") << QByteArray(R"({"entities": )") + nested(200) + "}"
                                          << "entities[0]: expected an entity object, got an array";
    QTest::newRow("missing-entities") << QByteArray("{}") << "entities: missing";
    QTest::newRow("entities-object")
        << QByteArray(R"({"entities": {}})") << "entities: expected an array, got an object";
    QTest::newRow("entities-null")
        << QByteArray(R"({"entities": null})") << "entities: expected an array, got null";
    QTest::newRow("entity-number") << QByteArray(R"({"entities": [1]})")
                                   << "entities[0]: expected an entity object, got a number";
    QTest::newRow("entity-nested-garbage")
        << QByteArray(R"({"entities": [)") + nested(500) + "]}"
        << "entities[0]: expected an entity object, got an array";
    QTest::newRow("name-missing") << QByteArray(R"({"entities": [{"fields": []}]})")
                                  << "entities[0].name: expected a string, got nothing";
    QTest::newRow("name-number") << entity("7")
                                 << "entities[0].name: expected a string, got a number";
    QTest::newRow("name-empty") << entity(R"("")") << "entities[0].name: entity name is empty";
    QTest::newRow("name-injection")
        << entity(R"("x; DROP TABLE y")")
        << R"(entities[0].name: entity name "x; DROP TABLE y" is not a valid identifier)";
    QTest::newRow("name-quote") << entity(R"("a\"b")")
                                << R"(entity name "a\u0022b" is not a valid identifier)";
    QTest::newRow("name-single-quote") << entity(R"("a'b")") << "is not a valid identifier";
    QTest::newRow("name-space") << entity(R"("first name")")
                                << R"(entity name "first name" is not a valid identifier)";
    QTest::newRow("name-newline") << entity(R"("a\nb")") << R"(entity name "a\u000ab")";
    QTest::newRow("name-unicode") << entity(R"("kunden_ä")") << "is not a valid identifier";
    QTest::newRow("name-leading-digit") << entity(R"("1st")") << "is not a valid identifier";
    QTest::newRow("name-65") << entity(u'"' + QString(65, u'a') + u'"')
                             << "is not a valid identifier";
    QTest::newRow("name-id") << entity(R"("id")") << R"(entity name "id" is reserved)";
    QTest::newRow("name-ID") << entity(R"("ID")") << R"(entity name "ID" is reserved)";
    QTest::newRow("name-underscore") << entity(R"("_x")") << R"(entity name "_x" is reserved)";
    QTest::newRow("name-sync-state") << entity(R"("_sync_state")") << "is reserved";
    QTest::newRow("name-sqlite-master")
        << entity(R"("sqlite_master")") << R"(entity name "sqlite_master" is reserved)";
    QTest::newRow("duplicate-entity-case")
        << QByteArray(R"({"entities": [{"name": "customers", "fields": []},
                                           {"name": "orders", "fields": []},
                                           {"name": "Customers", "fields": []}]})")
        << R"(entities[2].name: duplicate entity name "Customers" (same as entities[0] "customers")";
    QTest::newRow("duplicate-entity-exact")
        << QByteArray(R"({"entities": [{"name": "a", "fields": []}, {"name": "a", "fields": []}]})")
        << "entities[1].name: duplicate entity name \"a\"";
    QTest::newRow("fields-missing")
        << QByteArray(R"({"entities": [{"name": "customers"}]})") << "entities[0].fields: missing";
    QTest::newRow("fields-object")
        << QByteArray(R"({"entities": [{"name": "customers", "fields": {}}]})")
        << R"(entities[0].fields: expected an array of fields for entity "customers", got an object)";
    QTest::newRow("field-string") << field(R"("name")")
                                  << "entities[0].fields[0]: expected a field object, got a string";
    QTest::newRow("field-name-missing")
        << field(R"({"type": "int"})") << "entities[0].fields[0].name: expected a string";
    QTest::newRow("field-name-injection")
        << field(R"({"name": "x; DROP TABLE y", "type": "int"})")
        << R"(entities[0].fields[0].name: field name "x; DROP TABLE y" is not a valid identifier)";
    QTest::newRow("field-name-quotes")
        << field(R"({"name": "a\"); --", "type": "int"})") << "is not a valid identifier";
    QTest::newRow("field-name-space") << field(R"({"name": "full name", "type": "string"})")
                                      << R"(field name "full name" is not a valid identifier)";
    QTest::newRow("field-id") << field(R"({"name": "id", "type": "string"})")
                              << R"(entities[0].fields[0].name: field name "id" is reserved)";
    QTest::newRow("field-ID") << field(R"({"name": "ID", "type": "string"})")
                              << R"(field name "ID" is reserved)";
    QTest::newRow("field-Id") << field(R"({"name": "Id", "type": "string"})") << "is reserved";
    QTest::newRow("field-underscore")
        << field(R"({"name": "_x", "type": "int"})") << R"(field name "_x" is reserved)";
    QTest::newRow("field-sqlite") << field(R"({"name": "sqlite_x", "type": "int"})")
                                  << "is reserved";
    QTest::newRow("duplicate-field-case")
        << field(R"({"name": "name", "type": "string"}, {"name": "Name", "type": "string"})")
        << R"(entities[0].fields[1].name: duplicate field name "Name" in entity "customers")";
    QTest::newRow("type-missing") << field(R"({"name": "photo"})")
                                  << "entities[0].fields[0].type: expected a type name";
    QTest::newRow("type-number") << field(R"({"name": "photo", "type": 3})")
                                 << "entities[0].fields[0].type: expected a type name";
    QTest::newRow("type-blob") << QByteArray(R"({"entities": [{"name": "a", "fields": []},
                                           {"name": "b", "fields": []},
                                           {"name": "c", "fields": [{"name": "photo", "type": "blob"}]}]})")
                               << R"(entities[2].fields[0].type: unknown field type "blob")";
    QTest::newRow("type-case") << field(R"({"name": "n", "type": "String"})")
                               << R"(unknown field type "String")";
    QTest::newRow("type-integer") << field(R"({"name": "n", "type": "integer"})")
                                  << R"(unknown field type "integer")";
    QTest::newRow("type-hostile") << field(R"({"name": "n", "type": "int\"; DROP"})")
                                  << R"(unknown field type "int\u0022; DROP")";

    QJsonArray manyFields;
    for (int i = 0; i < 1001; ++i) {
        manyFields.append(QJsonObject { { QStringLiteral("name"), QStringLiteral("f%1").arg(i) },
                                        { QStringLiteral("type"), QStringLiteral("int") } });
    }
    QTest::newRow("too-many-fields") << toJson(QJsonObject {
        { QStringLiteral("entities"),
          QJsonArray { QJsonObject { { QStringLiteral("name"), QStringLiteral("wide") },
                                     { QStringLiteral("fields"), manyFields } } } } })
                                     << R"(entities[0].fields: entity "wide" has 1001 fields)";
}

void TestProtocol::parseEntitiesInvalid()
{
    QFETCH(QByteArray, body);
    QFETCH(QString, expected);

    const QList<EntitySchema> sentinel = { customersSchema() };
    QList<EntitySchema> entities = sentinel;
    QString error;
    QVERIFY(!Protocol::parseEntities(body, &entities, &error));
    QVERIFY(!error.isEmpty());
    QVERIFY2(error.contains(expected), qPrintable(error));
    QCOMPARE(entities, sentinel);
}

void TestProtocol::parseCount_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<qint64>("expected");

    QTest::newRow("zero") << QByteArray(R"({"count": 0})") << qint64(0);
    QTest::newRow("example") << QByteArray(R"({"count": 120000})") << qint64(120000);
    QTest::newRow("exponent") << QByteArray(R"({"count": 1e3})") << qint64(1000);
    QTest::newRow("integral-double") << QByteArray(R"({"count": 2.0})") << qint64(2);
    QTest::newRow("negative-zero") << QByteArray(R"({"count": -0})") << qint64(0);
    QTest::newRow("beyond-2^53") << QByteArray(R"({"count": 9007199254740993})")
                                 << qint64(9007199254740993LL);
    QTest::newRow("max") << QByteArray(R"({"count": 9223372036854775807})")
                         << std::numeric_limits<qint64>::max();
    QTest::newRow("extra-keys") << QByteArray(R"({"count": 5, "since": "x"})") << qint64(5);
}

void TestProtocol::parseCount()
{
    QFETCH(QByteArray, body);
    QFETCH(qint64, expected);
    qint64 count = -7;
    QString error;
    QVERIFY2(Protocol::parseCount(body, &count, &error), qPrintable(error));
    QCOMPARE(count, expected);
}

void TestProtocol::parseCountInvalid_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QString>("expected");

    QTest::newRow("negative") << QByteArray(R"({"count": -1})")
                              << "count: expected a non-negative integer, got -1";
    QTest::newRow("fractional") << QByteArray(R"({"count": 1.5})")
                                << "count: expected a non-negative integer, got 1.5";
    QTest::newRow("negative-fraction") << QByteArray(R"({"count": -0.5})") << "got -0.5";
    QTest::newRow("string") << QByteArray(R"({"count": "5"})")
                            << "count: expected a non-negative integer, got a string";
    QTest::newRow("bool") << QByteArray(R"({"count": true})") << "got a bool";
    QTest::newRow("null") << QByteArray(R"({"count": null})") << "got null";
    QTest::newRow("array") << QByteArray(R"({"count": [5]})") << "got an array";
    QTest::newRow("missing") << QByteArray(R"({"total": 5})") << "count: missing";
    QTest::newRow("huge") << QByteArray(R"({"count": 1e30})")
                          << "count: expected a non-negative integer";
    QTest::newRow("2^63") << QByteArray(R"({"count": 9223372036854775808})")
                          << "count: expected a non-negative integer";
    QTest::newRow("out-of-double-range") << QByteArray(R"({"count": 1e400})") << "not valid JSON";
    QTest::newRow("not-json") << QByteArray("count=5") << "not valid JSON";
    QTest::newRow("top-level-array") << QByteArray("[5]") << "got an array";
    QTest::newRow("empty") << QByteArray() << "the response body is empty";
    QTest::newRow("nested") << nested(5000) << "not valid JSON";
}

void TestProtocol::parseCountInvalid()
{
    QFETCH(QByteArray, body);
    QFETCH(QString, expected);
    qint64 count = 77;
    QString error;
    QVERIFY(!Protocol::parseCount(body, &count, &error));
    QVERIFY2(error.contains(expected), qPrintable(error));
    QCOMPARE(count, qint64(77));
}

void TestProtocol::parseChanges()
{
    // The example of DESIGN.md.
    const QByteArray body = R"({"changes": [
       {"id": "c-000001", "changedAt": "2026-11-26T06:20:16.123Z", "deleted": false,
        "data": {"name": "Ada", "balance": 12.5, "active": true, "visits": 3,
                 "since": "2025-01-02T03:04:05.000Z"}},
       {"id": "c-000007", "changedAt": "2026-11-26T06:20:17.000Z", "deleted": true}
     ],
     "cursor": "8812",
     "hasMore": true})";
    ChangePage page;
    QString error;
    QVERIFY2(
        Protocol::parseChanges(body, customersSchema(), 1000, PagingMode::Cursor, &page, &error),
        qPrintable(error));
    QCOMPARE(page.cursor, QStringLiteral("8812"));
    QCOMPARE(page.hasMore, true);
    QCOMPARE(page.changes.size(), 2);

    const Change &first = page.changes.at(0);
    QCOMPARE(first.id, QStringLiteral("c-000001"));
    QCOMPARE(first.changedAt, QStringLiteral("2026-11-26T06:20:16.123Z"));
    QCOMPARE(first.deleted, false);
    QCOMPARE(first.values.size(), 5);
    QCOMPARE(first.values.at(0).typeId(), QMetaType::QString);
    QCOMPARE(first.values.at(0).toString(), QStringLiteral("Ada"));
    QCOMPARE(first.values.at(1).typeId(), QMetaType::Double);
    QCOMPARE(first.values.at(1).toDouble(), 12.5);
    QCOMPARE(first.values.at(2).typeId(), QMetaType::Bool);
    QCOMPARE(first.values.at(2).toBool(), true);
    QCOMPARE(first.values.at(3).typeId(), QMetaType::LongLong);
    QCOMPARE(first.values.at(3).toLongLong(), qint64(3));
    QCOMPARE(first.values.at(4).typeId(), QMetaType::QString);
    QCOMPARE(first.values.at(4).toString(), QStringLiteral("2025-01-02T03:04:05.000Z"));

    const Change &second = page.changes.at(1);
    QCOMPARE(second.id, QStringLiteral("c-000007"));
    QCOMPARE(second.deleted, true);
    QVERIFY(second.values.isEmpty());

    // An empty page at the end.
    QVERIFY(Protocol::parseChanges(R"({"changes": [], "cursor": "8812", "hasMore": false})",
                                   customersSchema(), 1000, PagingMode::Cursor, &page, &error));
    QVERIFY(page.changes.isEmpty());
    QCOMPARE(page.hasMore, false);
    QCOMPARE(page.cursor, QStringLiteral("8812"));
}

void TestProtocol::parseChangesTypes_data()
{
    QTest::addColumn<QString>("data"); // JSON object text
    QTest::addColumn<QVariantList>("expected");

    const QVariant null;
    QTest::newRow("all-null")
        << R"({"name": null, "balance": null, "active": null, "visits": null, "since": null})"
        << QVariantList { null, null, null, null, null };
    QTest::newRow("all-absent") << "{}" << QVariantList { null, null, null, null, null };
    QTest::newRow("schema-order")
        << R"({"since": "2025-01-02T03:04:05.000Z", "visits": 9, "name": "B"})"
        << QVariantList { QStringLiteral("B"), null, null, qint64(9),
                          QStringLiteral("2025-01-02T03:04:05.000Z") };
    QTest::newRow("int-exponent") << R"({"visits": 1e3})"
                                  << QVariantList { null, null, null, qint64(1000), null };
    QTest::newRow("int-integral-double")
        << R"({"visits": 7.0})" << QVariantList { null, null, null, qint64(7), null };
    QTest::newRow("int-negative") << R"({"visits": -42})"
                                  << QVariantList { null, null, null, qint64(-42), null };
    QTest::newRow("int-beyond-2^53")
        << R"({"visits": 9007199254740993})"
        << QVariantList { null, null, null, qint64(9007199254740993LL), null };
    QTest::newRow("int-min") << R"({"visits": -9223372036854775808})"
                             << QVariantList { null, null, null, std::numeric_limits<qint64>::min(),
                                               null };
    QTest::newRow("int-large-double")
        << R"({"visits": 1e18})"
        << QVariantList { null, null, null, qint64(1000000000000000000LL), null };
    QTest::newRow("real-integer") << R"({"balance": 3})"
                                  << QVariantList { null, 3.0, null, null, null };
    QTest::newRow("real-negative-exponent")
        << R"({"balance": -1.5e-3})" << QVariantList { null, -0.0015, null, null, null };
    QTest::newRow("real-huge") << R"({"balance": 1e300})"
                               << QVariantList { null, 1e300, null, null, null };
    QTest::newRow("bool-false") << R"({"active": false})"
                                << QVariantList { null, null, false, null, null };
    QTest::newRow("string-empty") << R"({"name": ""})"
                                  << QVariantList { QString(""), null, null, null, null };
    QTest::newRow("string-unicode")
        << R"({"name": "Zoë \u00e9 \ud83d\ude00 'x'; DROP"})"
        << QVariantList { QStringLiteral("Zoë é 😀 'x'; DROP"), null, null, null, null };
}

void TestProtocol::parseChangesTypes()
{
    QFETCH(QString, data);
    QFETCH(QVariantList, expected);

    const QByteArray body
        = QStringLiteral(
              R"({"changes": [{"id": "x", "changedAt": "2025-01-01T00:00:00.000Z", "data": %1}], "cursor": "1", "hasMore": false})")
              .arg(data)
              .toUtf8();
    ChangePage page;
    QString error;
    QVERIFY2(Protocol::parseChanges(body, customersSchema(), 10, PagingMode::Cursor, &page, &error),
             qPrintable(error));
    QCOMPARE(page.changes.size(), 1);
    const QVariantList values = page.changes.at(0).values;
    QCOMPARE(page.changes.at(0).deleted, false); // absent "deleted" means false
    QCOMPARE(values.size(), expected.size());
    for (int i = 0; i < values.size(); ++i) {
        QCOMPARE(values.at(i).isNull(), expected.at(i).isNull());
        if (expected.at(i).isNull())
            continue;
        QCOMPARE(values.at(i).typeId(), expected.at(i).typeId());
        QCOMPARE(values.at(i), expected.at(i));
    }
    bool accepted = false;
    const QString problem
        = parityProblem(body, customersSchema(), 10, PagingMode::Cursor, &accepted);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QVERIFY(accepted);
}

// The push body is written without a DOM: it must still be JSON that reads back to exactly
// the values sent, escapes and extremes included.
void TestProtocol::pushBodyIsExactJson()
{
    const EntitySchema schema { QStringLiteral("things"),
                                { { QStringLiteral("text"), FieldType::String },
                                  { QStringLiteral("count"), FieldType::Int },
                                  { QStringLiteral("ratio"), FieldType::Real },
                                  { QStringLiteral("on"), FieldType::Bool },
                                  { QStringLiteral("at"), FieldType::DateTime } } };
    const QString tricky = QStringLiteral("q\"b\\n\nt\tc") + QChar(1) + QChar(0x1f)
        + QStringLiteral("\u00e9\u4e2d") + QString::fromUtf8("\xf0\x9f\x98\x80") + u'/';
    const QList<LocalChange> changes {
        { QStringLiteral("c\"1:1"),
          QStringLiteral("id \\1"),
          QStringLiteral("17"),
          false,
          { tricky, std::numeric_limits<qint64>::max(), 0.1, true,
            QStringLiteral("2026-01-01T00:00:00.000Z") } },
        { QStringLiteral("c:2"),
          QStringLiteral("two"),
          QString(),
          false,
          { QVariant(), std::numeric_limits<qint64>::min(), 1e300, false, QVariant() } },
        { QStringLiteral("c:3"),
          QStringLiteral("three"),
          QStringLiteral("9"),
          false,
          { QStringLiteral(""), qint64(-5), std::nan(""), QVariant(), QVariant() } },
        { QStringLiteral("c:4"), QStringLiteral("gone"), QStringLiteral("8"), true, {} },
    };
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(
        Protocol::pushBody(schema, QStringLiteral("cl\"i"), changes), &error);
    QCOMPARE(error.error, QJsonParseError::NoError);
    const QJsonObject root = document.object();
    QCOMPARE(root.value("client").toString(), QStringLiteral("cl\"i"));
    const QJsonArray sent = root.value("changes").toArray();
    QCOMPARE(sent.size(), 4);
    const QJsonObject first = sent.at(0).toObject();
    QCOMPARE(first.value("changeId").toString(), QStringLiteral("c\"1:1"));
    QCOMPARE(first.value("id").toString(), QStringLiteral("id \\1"));
    QCOMPARE(first.value("base").toString(), QStringLiteral("17"));
    QCOMPARE(first.value("deleted"), QJsonValue(false));
    const QJsonObject data = first.value("data").toObject();
    QCOMPARE(data.keys(), (QStringList { "at", "count", "on", "ratio", "text" }));
    QCOMPARE(data.value("text").toString(), tricky);
    QCOMPARE(data.value("count").toInteger(), std::numeric_limits<qint64>::max());
    QCOMPARE(data.value("ratio").toDouble(), 0.1);
    QCOMPARE(data.value("on"), QJsonValue(true));
    QCOMPARE(data.value("at").toString(), QStringLiteral("2026-01-01T00:00:00.000Z"));
    const QJsonObject second = sent.at(1).toObject();
    QVERIFY(second.value("base").isNull());
    const QJsonObject secondData = second.value("data").toObject();
    QVERIFY(secondData.value("text").isNull());
    QCOMPARE(secondData.value("count").toInteger(), std::numeric_limits<qint64>::min());
    QCOMPARE(secondData.value("ratio").toDouble(), 1e300);
    QCOMPARE(secondData.value("on"), QJsonValue(false));
    QVERIFY(secondData.value("at").isNull());
    const QJsonObject thirdData = sent.at(2).toObject().value("data").toObject();
    QCOMPARE(thirdData.value("text"), QJsonValue(QString()));
    QCOMPARE(thirdData.value("count").toInteger(), -5);
    QVERIFY(thirdData.value("ratio").isNull()); // JSON has no NaN
    QVERIFY(thirdData.value("on").isNull());
    const QJsonObject fourth = sent.at(3).toObject();
    QCOMPARE(fourth.value("deleted"), QJsonValue(true));
    QVERIFY(!fourth.contains("data"));
    QCOMPARE(fourth.keys(), (QStringList { "base", "changeId", "deleted", "id" }));
}

void TestProtocol::parseChangesDeleted()
{
    ChangePage page;
    QString error;
    const QByteArray body = R"({"changes": [
        {"id": "a", "changedAt": "2025-01-01T00:00:00.000Z", "deleted": true},
        {"id": "b", "changedAt": "2025-01-01T00:00:00.000Z", "deleted": true, "data": null},
        {"id": "c", "changedAt": "2025-01-01T00:00:00.000Z", "deleted": true,
         "data": {"unknown": [1, 2], "visits": "not checked"}},
        {"id": "a", "changedAt": "2025-01-01T00:00:00.001Z", "data": {"name": "again"}}
    ], "cursor": 17, "hasMore": false})";
    QVERIFY2(Protocol::parseChanges(body, customersSchema(), 10, PagingMode::Cursor, &page, &error),
             qPrintable(error));
    QCOMPARE(page.changes.size(), 4);
    for (int i = 0; i < 3; ++i) {
        QVERIFY(page.changes.at(i).deleted);
        QVERIFY(page.changes.at(i).values.isEmpty());
    }
    // The same id twice in a page is allowed: it changed again.
    QCOMPARE(page.changes.at(3).id, QStringLiteral("a"));
    QCOMPARE(page.changes.at(3).values.at(0).toString(), QStringLiteral("again"));
    QCOMPARE(page.cursor, QStringLiteral("17"));
    bool accepted = false;
    const QString problem
        = parityProblem(body, customersSchema(), 10, PagingMode::Cursor, &accepted);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QVERIFY(accepted);
}

void TestProtocol::parseChangesCursor_data()
{
    QTest::addColumn<QString>("cursorJson"); // empty: absent
    QTest::addColumn<PagingMode>("mode");
    QTest::addColumn<QString>("expected");

    QTest::newRow("cursor-string") << R"("abc==")" << PagingMode::Cursor << "abc==";
    QTest::newRow("cursor-number") << "8812" << PagingMode::Cursor << "8812";
    QTest::newRow("cursor-big-number")
        << "9007199254740993" << PagingMode::Cursor << "9007199254740993";
    QTest::newRow("cursor-integral-double") << "5.0" << PagingMode::Cursor << "5";
    QTest::newRow("offset-absent") << QString() << PagingMode::Offset << QString();
    QTest::newRow("offset-null") << "null" << PagingMode::Offset << QString();
    QTest::newRow("offset-empty") << R"("")" << PagingMode::Offset << QString();
    QTest::newRow("offset-string") << R"("2025")" << PagingMode::Offset << "2025";
}

void TestProtocol::parseChangesCursor()
{
    QFETCH(QString, cursorJson);
    QFETCH(PagingMode, mode);
    QFETCH(QString, expected);

    QString body = QStringLiteral(R"({"changes": [], "hasMore": false)");
    if (!cursorJson.isEmpty())
        body += QStringLiteral(R"(, "cursor": %1)").arg(cursorJson);
    body += u'}';
    ChangePage page;
    page.cursor = QStringLiteral("old");
    QString error;
    QVERIFY2(Protocol::parseChanges(body.toUtf8(), customersSchema(), 10, mode, &page, &error),
             qPrintable(error));
    QCOMPARE(page.cursor, expected);
    bool accepted = false;
    const QString problem = parityProblem(body.toUtf8(), customersSchema(), 10, mode, &accepted);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QVERIFY(accepted);
}

void TestProtocol::parseChangesLimit()
{
    QJsonArray changes;
    for (int i = 0; i < Protocol::MaxLimit; ++i)
        changes.append(validChange(i));
    ChangePage page;
    QString error;
    QVERIFY2(Protocol::parseChanges(pageBody(changes), customersSchema(), Protocol::MaxLimit,
                                    PagingMode::Cursor, &page, &error),
             qPrintable(error));
    QCOMPARE(page.changes.size(), Protocol::MaxLimit);
    QCOMPARE(page.changes.last().id, QStringLiteral("c-%1").arg(Protocol::MaxLimit - 1));
    bool accepted = false;
    QString problem = parityProblem(pageBody(changes), customersSchema(), Protocol::MaxLimit,
                                    PagingMode::Cursor, &accepted);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QVERIFY(accepted);

    // A limit beyond the protocol's is the protocol's.
    changes.append(validChange(-1));
    page = ChangePage();
    QVERIFY(!Protocol::parseChanges(pageBody(changes), customersSchema(), 50000, PagingMode::Cursor,
                                    &page, &error));
    QVERIFY2(error.contains(QStringLiteral("10001 changes, more than the limit of 10000")),
             qPrintable(error));
    QVERIFY(page.changes.isEmpty());
    problem = parityProblem(pageBody(changes), customersSchema(), 50000, PagingMode::Cursor);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
}

void TestProtocol::parseChangesInvalid_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("limit");
    QTest::addColumn<PagingMode>("mode");
    QTest::addColumn<QString>("expected");

    const PagingMode cursor = PagingMode::Cursor;
    const QJsonValue undefined(QJsonValue::Undefined);
    const QString longId(1025, u'i');

    // Whole body
    QTest::newRow("empty-body") << QByteArray() << 10 << cursor << "the response body is empty";
    QTest::newRow("not-json") << QByteArray("Service Unavailable") << 10 << cursor
                              << "not valid JSON";
    QTest::newRow("top-level-array") << QByteArray(R"([{"changes": []}])") << 10 << cursor
                                     << "expected a JSON object at the top level, got an array";
    QTest::newRow("deeply-nested") << nested(100000) << 10 << cursor << "not valid JSON";
    QTest::newRow("nested-garbage-changes")
        << QByteArray(R"({"changes": [)") + nested(1000) + R"(], "cursor": "1", "hasMore": false})"
        << 10 << cursor << "changes[0]: expected a change object, got an array";
    QTest::newRow("changes-missing")
        << QByteArray(R"({"cursor": "1", "hasMore": false})") << 10 << cursor << "changes: missing";
    QTest::newRow("changes-object")
        << QByteArray(R"({"changes": {}, "cursor": "1", "hasMore": false})") << 10 << cursor
        << "changes: expected an array, got an object";
    QTest::newRow("change-string") << pageBody(QJsonArray { QStringLiteral("c-1") }) << 10 << cursor
                                   << "changes[0]: expected a change object, got a string";
    QTest::newRow("change-null") << pageBody(QJsonArray { QJsonValue() }) << 10 << cursor
                                 << "changes[0]: expected a change object, got null";

    // id
    QTest::newRow("id-missing") << pageOf(with(validChange(), "id", undefined)) << 10 << cursor
                                << "changes[0].id: missing";
    QTest::newRow("id-empty") << pageOf(with(validChange(), "id", "")) << 10 << cursor
                              << "changes[0].id: is empty";
    QTest::newRow("id-number") << pageOf(with(validChange(), "id", 17)) << 10 << cursor
                               << "changes[0].id: expected a string, got a number";
    QTest::newRow("id-null") << pageOf(with(validChange(), "id", QJsonValue())) << 10 << cursor
                             << "changes[0].id: expected a string, got null";
    QTest::newRow("id-too-long") << pageOf(with(validChange(), "id", longId)) << 10 << cursor
                                 << "changes[0].id: is 1025 characters long";

    // changedAt
    QTest::newRow("changedAt-missing") << pageOf(with(validChange(), "changedAt", undefined)) << 10
                                       << cursor << "changes[0].changedAt: missing";
    QTest::newRow("changedAt-number")
        << pageOf(with(validChange(), "changedAt", 1700000000)) << 10 << cursor
        << "changes[0].changedAt: expected a timestamp string, got a number";
    QTest::newRow("changedAt-no-millis")
        << pageOf(with(validChange(), "changedAt", "2026-11-26T06:20:16Z")) << 10 << cursor
        << R"(changes[0].changedAt: "2026-11-26T06:20:16Z" is not a timestamp)";
    // version (protocol v1.1; absent or null from a v1 server)
    QTest::newRow("version-number") << pageOf(with(validChange(), "version", 8812)) << 10 << cursor
                                    << "changes[0].version: expected a string, got a number";
    QTest::newRow("version-object")
        << pageOf(with(validChange(), "version", QJsonObject())) << 10 << cursor
        << "changes[0].version: expected a string, got an object";
    QTest::newRow("changedAt-month-13")
        << pageOf(with(validChange(), "changedAt", "2026-13-26T06:20:16.000Z")) << 10 << cursor
        << "changes[0].changedAt:";
    QTest::newRow("changedAt-offset")
        << pageOf(with(validChange(), "changedAt", "2026-11-26T06:20:16.000+01:00")) << 10 << cursor
        << "is not a timestamp";
    QTest::newRow("changedAt-empty")
        << pageOf(with(validChange(), "changedAt", "")) << 10 << cursor << "is not a timestamp";

    // deleted and data
    QTest::newRow("deleted-string") << pageOf(with(validChange(), "deleted", "yes")) << 10 << cursor
                                    << "changes[0].deleted: expected true or false, got a string";
    QTest::newRow("deleted-number") << pageOf(with(validChange(), "deleted", 1)) << 10 << cursor
                                    << "changes[0].deleted: expected true or false, got a number";
    QTest::newRow("deleted-null") << pageOf(with(validChange(), "deleted", QJsonValue())) << 10
                                  << cursor
                                  << "changes[0].deleted: expected true or false, got null";
    QTest::newRow("data-missing") << pageOf(with(validChange(), "data", undefined)) << 10 << cursor
                                  << "changes[0].data: missing";
    QTest::newRow("data-null") << pageOf(with(validChange(), "data", QJsonValue())) << 10 << cursor
                               << "changes[0].data: missing";
    QTest::newRow("data-array") << pageOf(with(validChange(), "data", QJsonArray { 1 })) << 10
                                << cursor << "changes[0].data: expected an object, got an array";
    QTest::newRow("data-string") << pageOf(with(validChange(), "data", "name=Ada")) << 10 << cursor
                                 << "changes[0].data: expected an object, got a string";
    QTest::newRow("deleted-data-number")
        << pageOf(with(with(validChange(), "deleted", true), "data", 5)) << 10 << cursor
        << "changes[0].data: expected an object or null, got a number";
    QTest::newRow("unknown-field") << pageOf(changeWithData("nickname", "Ada")) << 10 << cursor
                                   << R"(changes[0].data: unknown field "nickname")";
    QTest::newRow("unknown-field-case") << pageOf(changeWithData("Name", "Ada")) << 10 << cursor
                                        << R"(changes[0].data: unknown field "Name")";
    QTest::newRow("unknown-field-hostile")
        << pageOf(changeWithData("x\"; DROP TABLE y; --", 1)) << 10 << cursor
        << R"(unknown field "x\u0022; DROP TABLE y; --")";
    QTest::newRow("unknown-field-id") << pageOf(changeWithData("id", "other")) << 10 << cursor
                                      << R"(changes[0].data: unknown field "id")";

    // Values of each type
    QTest::newRow("string-number")
        << pageOf(changeWithData("name", 5)) << 10 << cursor
        << R"(changes[0].data.name: expected a string for field "name" (string), got a number)";
    QTest::newRow("string-bool")
        << pageOf(changeWithData("name", true)) << 10 << cursor
        << "changes[0].data.name: expected a string for field \"name\" (string), got a bool";
    QTest::newRow("string-object")
        << pageOf(changeWithData("name", QJsonObject {})) << 10 << cursor << "got an object";
    QTest::newRow("string-array") << pageOf(changeWithData("name", QJsonArray { "Ada" })) << 10
                                  << cursor << "got an array";
    QTest::newRow("int-string")
        << pageOf(changeWithData("visits", "3")) << 10 << cursor
        << R"(changes[0].data.visits: expected an integer for field "visits" (int), got a string)";
    QTest::newRow("int-fraction")
        << pageOf(changeWithData("visits", 1.5)) << 10 << cursor
        << R"(changes[0].data.visits: expected an integer for field "visits" (int), got 1.5)";
    QTest::newRow("int-bool") << pageOf(changeWithData("visits", false)) << 10 << cursor
                              << "(int), got a bool";
    QTest::newRow("int-huge") << pageOf(changeWithData("visits", 1e30)) << 10 << cursor
                              << "which does not fit a 64-bit integer";
    QTest::newRow("int-2^63") << QByteArray(
        R"({"changes": [{"id": "x", "changedAt": "2025-01-01T00:00:00.000Z", "data": {"visits": 9223372036854775808}}], "cursor": "1", "hasMore": false})")
                              << 10 << cursor << "does not fit a 64-bit integer";
    QTest::newRow("int-array") << pageOf(changeWithData("visits", QJsonArray { 3 })) << 10 << cursor
                               << "(int), got an array";
    QTest::newRow("real-string")
        << pageOf(changeWithData("balance", "12.5")) << 10 << cursor
        << R"(changes[0].data.balance: expected a number for field "balance" (real), got a string)";
    QTest::newRow("real-bool") << pageOf(changeWithData("balance", true)) << 10 << cursor
                               << "(real), got a bool";
    QTest::newRow("real-object") << pageOf(changeWithData("balance", QJsonObject { { "v", 1 } }))
                                 << 10 << cursor << "(real), got an object";
    QTest::newRow("bool-number")
        << pageOf(changeWithData("active", 1)) << 10 << cursor
        << R"(changes[0].data.active: expected true or false for field "active" (bool), got a number)";
    QTest::newRow("bool-string") << pageOf(changeWithData("active", "true")) << 10 << cursor
                                 << "(bool), got a string";
    QTest::newRow("datetime-number")
        << pageOf(changeWithData("since", 1735689600)) << 10 << cursor
        << R"(changes[0].data.since: expected a timestamp string for field "since" (datetime), got a number)";
    QTest::newRow("datetime-date-only") << pageOf(changeWithData("since", "2025-01-02")) << 10
                                        << cursor << R"((datetime), got "2025-01-02")";
    QTest::newRow("datetime-feb-30")
        << pageOf(changeWithData("since", "2024-02-30T00:00:00.000Z")) << 10 << cursor
        << R"(changes[0].data.since: expected a timestamp)";
    QTest::newRow("datetime-bool")
        << pageOf(changeWithData("since", true)) << 10 << cursor << "(datetime), got a bool";

    // Page
    QTest::newRow("too-many") << pageBody(
        QJsonArray { validChange(1), validChange(2), validChange(3) })
                              << 2 << cursor
                              << "the server sent 3 changes, more than the limit of 2";
    QTest::newRow("hasMore-missing")
        << pageBody({}, "hasMore", undefined) << 10 << cursor << "hasMore: missing";
    QTest::newRow("hasMore-string") << pageBody({}, "hasMore", "true") << 10 << cursor
                                    << "hasMore: expected true or false, got a string";
    QTest::newRow("hasMore-number") << pageBody({}, "hasMore", 1) << 10 << cursor
                                    << "hasMore: expected true or false, got a number";
    QTest::newRow("hasMore-null") << pageBody({}, "hasMore", QJsonValue()) << 10 << cursor
                                  << "hasMore: expected true or false, got null";
    QTest::newRow("cursor-missing")
        << pageBody({}, "cursor", undefined) << 10 << cursor << "cursor: missing";
    QTest::newRow("cursor-null") << pageBody({}, "cursor", QJsonValue()) << 10 << cursor
                                 << "cursor: missing";
    QTest::newRow("cursor-empty") << pageBody({}, "cursor", "") << 10 << cursor
                                  << "cursor: is empty";
    QTest::newRow("cursor-bool") << pageBody({}, "cursor", true) << 10 << cursor
                                 << "cursor: expected a string, got a bool";
    QTest::newRow("cursor-object") << pageBody({}, "cursor", QJsonObject {}) << 10 << cursor
                                   << "cursor: expected a string, got an object";
    QTest::newRow("cursor-fraction") << pageBody({}, "cursor", 1.5) << 10 << cursor
                                     << "cursor: expected a string or an integer, got 1.5";
    QTest::newRow("cursor-too-long") << pageBody({}, "cursor", QString(5000, u'c')) << 10 << cursor
                                     << "cursor: is 5000 characters long";
    QTest::newRow("offset-cursor-bool") << pageBody({}, "cursor", false) << 10 << PagingMode::Offset
                                        << "cursor: expected a string, got a bool";
    QTest::newRow("offset-hasMore-missing")
        << pageBody({}, "hasMore", undefined) << 10 << PagingMode::Offset << "hasMore: missing";
}

void TestProtocol::parseChangesInvalid()
{
    QFETCH(QByteArray, body);
    QFETCH(int, limit);
    QFETCH(PagingMode, mode);
    QFETCH(QString, expected);

    ChangePage page;
    page.cursor = QStringLiteral("previous");
    page.hasMore = true;
    page.changes.append(Change { QStringLiteral("keep"), QString(), false, {} });
    QString error;
    QVERIFY(!Protocol::parseChanges(body, customersSchema(), limit, mode, &page, &error));
    QVERIFY2(error.contains(expected), qPrintable(error));
    // Untouched on failure.
    QCOMPARE(page.cursor, QStringLiteral("previous"));
    QCOMPARE(page.hasMore, true);
    QCOMPARE(page.changes.size(), 1);
    QCOMPARE(page.changes.at(0).id, QStringLiteral("keep"));
    const QString problem = parityProblem(body, customersSchema(), limit, mode);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
}

void TestProtocol::parseChangesErrorNamesIndex()
{
    // The message names the index, the field, its type and what came instead.
    QJsonArray changes;
    for (int i = 0; i < 18; ++i)
        changes.append(validChange(i));
    changes[17] = changeWithData(QStringLiteral("balance"), QStringLiteral("12.50"));
    ChangePage page;
    QString error;
    QVERIFY(!Protocol::parseChanges(pageBody(changes), customersSchema(), 1000, PagingMode::Cursor,
                                    &page, &error));
    QVERIFY2(
        error.startsWith(QStringLiteral(
            R"(changes[17].data.balance: expected a number for field "balance" (real), got a string)")),
        qPrintable(error));
}

void TestProtocol::parseChangesDecimal_data()
{
    QTest::addColumn<QByteArray>("value"); // the JSON text of field "price"
    QTest::addColumn<QString>("expected"); // the exact text kept, or the words of the refusal
    QTest::addColumn<bool>("accepted");

    QTest::newRow("money") << QByteArray(R"("12.50")") << "12.50" << true;
    QTest::newRow("negative fraction") << QByteArray(R"("-0.003")") << "-0.003" << true;
    QTest::newRow("zero") << QByteArray(R"("0")") << "0" << true;
    QTest::newRow("38 digits, exact") << QByteArray(R"("12345678901234567890.123456789012345678")")
                                      << "12345678901234567890.123456789012345678" << true;
    QTest::newRow("escaped digits") << QByteArray(R"("12.5")") << "12.5" << true;
    QTest::newRow("null") << QByteArray("null") << QString() << true;
    QTest::newRow("number")
        << QByteArray("12.5")
        << R"(changes[0].data.price: expected a decimal string (like "12.50") for field "price" (decimal), got a number)"
        << false;
    QTest::newRow("integer number")
        << QByteArray("12")
        << R"(expected a decimal string (like "12.50") for field "price" (decimal), got a number)"
        << false;
    QTest::newRow("exponent")
        << QByteArray(R"("1.5e3")")
        << R"(changes[0].data.price: expected a decimal in plain notation for field "price" (decimal), got "1.5e3", which has an exponent)"
        << false;
    QTest::newRow("39 digits")
        << QByteArray(R"("123456789012345678901234567890123456789")")
        << R"(for field "price" (decimal), got "123456789012345678901234567890123456789", which has 39 significant digits; at most 38 are allowed)"
        << false;
    QTest::newRow("leading zero") << QByteArray(R"("007")") << "which has a leading zero" << false;
    QTest::newRow("plus") << QByteArray(R"("+1")") << "which is not a number in plain notation"
                          << false;
    QTest::newRow("space") << QByteArray(R"(" 1")") << "which is not a number in plain notation"
                           << false;
    QTest::newRow("empty") << QByteArray(R"("")") << "which is empty" << false;
    QTest::newRow("bool") << QByteArray("true") << R"(for field "price" (decimal), got a bool)"
                          << false;
    QTest::newRow("object") << QByteArray(R"({"v": "1"})")
                            << R"(for field "price" (decimal), got an object)" << false;
}

void TestProtocol::parseChangesDecimal()
{
    QFETCH(QByteArray, value);
    QFETCH(QString, expected);
    QFETCH(bool, accepted);
    const EntitySchema schema { QStringLiteral("products"),
                                { { QStringLiteral("name"), FieldType::String },
                                  { QStringLiteral("price"), FieldType::Decimal } } };
    const QByteArray body = R"({"changes": [{"id": "p1", "changedAt": "2025-01-01T00:00:00.000Z",
        "version": "7", "data": {"name": "Tea", "price": )"
        + value + R"(}}], "cursor": "1", "hasMore": false})";
    ChangePage page;
    QString error;
    QCOMPARE(Protocol::parseChanges(body, schema, 10, PagingMode::Cursor, &page, &error), accepted);
    if (accepted) {
        QVERIFY(error.isEmpty());
        const QVariant price = page.changes.at(0).values.at(1);
        if (expected.isNull()) {
            QVERIFY(price.isNull());
        } else {
            QCOMPARE(price.typeId(), QMetaType::QString);
            QCOMPARE(price.toString(), expected);
        }
    } else {
        QVERIFY2(error.contains(expected), qPrintable(error));
    }
    bool referenceAccepted = false;
    const QString problem = parityProblem(body, schema, 10, PagingMode::Cursor, &referenceAccepted);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QCOMPARE(referenceAccepted, accepted);
}

void TestProtocol::parseEntitiesDecimal()
{
    QList<EntitySchema> entities;
    QString error;
    QVERIFY2(Protocol::parseEntities(R"({"protocol": "1.1", "entities": [{"name": "products",
        "writable": true, "fields": [{"name": "price", "type": "decimal"}]}]})",
                                     &entities, &error),
             qPrintable(error));
    QCOMPARE(entities.size(), 1);
    QCOMPARE(entities.at(0).fields,
             (QList<FieldSpec> { { QStringLiteral("price"), FieldType::Decimal } }));
    // The name is exact, as for every type.
    QVERIFY(!Protocol::parseEntities(R"({"entities": [{"name": "products",
        "fields": [{"name": "price", "type": "Decimal"}]}]})",
                                     &entities, &error));
    QVERIFY2(error.contains(QStringLiteral("Decimal")), qPrintable(error));
}

void TestProtocol::pushDecimals()
{
    const EntitySchema schema { QStringLiteral("products"),
                                { { QStringLiteral("price"), FieldType::Decimal } } };
    // Sent as the JSON string of the local text.
    const QByteArray body = Protocol::pushBody(
        schema, QStringLiteral("c"),
        { LocalChange { QStringLiteral("c:1"),
                        QStringLiteral("p1"),
                        QString(),
                        false,
                        { QStringLiteral("12345678901234567890.123456789012345678") } } });
    QVERIFY2(body.contains(R"("data":{"price":"12345678901234567890.123456789012345678"})"),
             body.constData());

    // A conflict's current record: a decimal only in plain notation, kept exactly.
    const auto conflict = [](const QByteArray &price) {
        return R"({"results":[{"changeId":"c:1","status":"conflict","current":{"id":"p1",)"
               R"("version":"9","changedAt":"2026-12-02T08:00:00.000Z","deleted":false,)"
               R"("data":{"price":)"
            + price + "}}}]}";
    };
    QList<PushResult> results;
    QString error;
    QVERIFY2(Protocol::parsePushResults(conflict(R"("12.50")"), schema, 1, &results, &error),
             qPrintable(error));
    QCOMPARE(results.at(0).current.values, QVariantList { QStringLiteral("12.50") });
    for (const QByteArray &bad : { QByteArray("12.5"), QByteArray(R"("1e3")"),
                                   QByteArray(R"("123456789012345678901234567890123456789")") }) {
        QVERIFY(!Protocol::parsePushResults(conflict(bad), schema, 1, &results, &error));
        QVERIFY2(error.contains(QStringLiteral("price: expected a decimal in plain notation")),
                 qPrintable(error));
    }
}

// An answer to a push that does not follow protocol v1.1 is refused in words, and nothing of
// it is taken: the client then applies no result and sends the same changeIds again.
void TestProtocol::pushResultsRefused_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QString>("expected"); // in the message
    const QByteArray applied = "{\"changeId\":\"c:1\",\"status\":\"applied\",\"version\":\"9\","
                               "\"changedAt\":\"2026-12-02T08:00:00.000Z\"}";
    QTest::newRow("not JSON") << QByteArray("<html>") << QString();
    QTest::newRow("no results") << QByteArray("{}") << QStringLiteral("results: expected an array");
    QTest::newRow("too few") << QByteArray("{\"results\":[]}")
                             << QStringLiteral("0 results for 1 changes");
    QTest::newRow("too many") << QByteArray("{\"results\":[" + applied + "," + applied + "]}")
                              << QStringLiteral("2 results for 1 changes");
    QTest::newRow("not an object")
        << QByteArray("{\"results\":[1]}") << QStringLiteral("results[0]: expected an object");
    QTest::newRow("no changeId") << QByteArray("{\"results\":[{\"status\":\"rejected\"}]}")
                                 << QStringLiteral("results[0].changeId");
    QTest::newRow("unknown status")
        << QByteArray("{\"results\":[{\"changeId\":\"c:1\",\"status\":\"done\"}]}")
        << QStringLiteral("results[0].status");
    QTest::newRow("applied without version")
        << QByteArray("{\"results\":[{\"changeId\":\"c:1\",\"status\":\"applied\","
                      "\"changedAt\":\"2026-12-02T08:00:00.000Z\"}]}")
        << QStringLiteral("results[0].version");
    QTest::newRow("applied with a bad time")
        << QByteArray("{\"results\":[{\"changeId\":\"c:1\",\"status\":\"applied\","
                      "\"version\":\"9\",\"changedAt\":\"yesterday\"}]}")
        << QStringLiteral("results[0].changedAt");
    QTest::newRow("conflict without current")
        << QByteArray("{\"results\":[{\"changeId\":\"c:1\",\"status\":\"conflict\"}]}")
        << QStringLiteral("results[0].current");
    QTest::newRow("conflict with a value of another type")
        << QByteArray("{\"results\":[{\"changeId\":\"c:1\",\"status\":\"conflict\",\"current\":"
                      "{\"id\":\"a\",\"version\":\"9\",\"deleted\":false,"
                      "\"data\":{\"visits\":\"many\"}}}]}")
        << QStringLiteral("visits");
}

void TestProtocol::pushResultsRefused()
{
    QFETCH(QByteArray, body);
    QFETCH(QString, expected);
    const EntitySchema schema { QStringLiteral("customers"),
                                { { QStringLiteral("visits"), FieldType::Int } } };
    QList<PushResult> results { PushResult() };
    QString error;
    QVERIFY(!Protocol::parsePushResults(body, schema, 1, &results, &error));
    QVERIFY(!error.isEmpty());
    QVERIFY2(error.contains(expected), qPrintable(error));
    QCOMPARE(results.size(), 1); // untouched
}

void TestProtocol::parseChangesParity_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("limit");
    QTest::addColumn<PagingMode>("mode");
    QTest::addColumn<bool>("fast"); // valid: parseChanges must take it (as the oracle does)

    const PagingMode offset = PagingMode::Offset;
    const auto row = [](const char *name, const QByteArray &body, bool fast, int limit = 10,
                        PagingMode mode = PagingMode::Cursor) {
        QTest::newRow(name) << body << limit << mode << fast;
    };
    const auto data = [&row](const char *name, const QByteArray &json, bool fast) {
        row(name, dataBody(json), fast);
    };
    const QByteArray change = R"({"id": "x", "changedAt": "2025-01-01T00:00:00.000Z", "data": {}})";
    const QByteArray tombstone
        = R"({"id": "t", "changedAt": "2025-01-01T00:00:00.000Z", "deleted": true})";

    // Valid, in the forms servers write.
    row("design-example", R"({"changes": [
       {"id": "c-000001", "changedAt": "2026-11-26T06:20:16.123Z", "deleted": false,
        "data": {"name": "Ada", "balance": 12.5, "active": true, "visits": 3,
                 "since": "2025-01-02T03:04:05.000Z"}},
       {"id": "c-000007", "changedAt": "2026-11-26T06:20:17.000Z", "deleted": true}
     ],
     "cursor": "8812",
     "hasMore": true})",
        true);
    row("compact",
        R"({"changes":[{"id":"a","changedAt":"2026-11-26T06:20:16.123Z","deleted":false,"data":{"name":"Ada","balance":-0.25,"active":false,"visits":-3,"since":null}}],"cursor":"1","hasMore":false})",
        true);
    row("whitespace-everywhere",
        " \t\r\n{ \"changes\" :\n[ { \"id\" : \"a\" , "
        "\"changedAt\"\t:\r\"2026-11-26T06:20:16.123Z\" , \"data\" : { \"visits\" : 1 , \"name\" : "
        "\"n\" } } ] ,\n\"hasMore\" : false , \"cursor\" : \"1\" } \r\n\t",
        true);
    row("byte-order-mark", "\xef\xbb\xbf" + changesBody(change), true);
    row("empty-changes", changesBody(""), true);
    row("keys-in-any-order",
        R"({"hasMore": true, "cursor": "5", "changes": [{"data": {"since": "2025-01-02T03:04:05.000Z", "name": "B"}, "deleted": false, "changedAt": "2025-01-01T00:00:00.000Z", "id": "x"}]})",
        true);
    row("unknown-keys",
        R"({"v": {"a": [1, -2.5e3, {"b": null, "c": [true, false, "\u00e9\ud800"]}]}, "changes": [{"id": "x", "extra": [[], {}], "changedAt": "2025-01-01T00:00:00.000Z", "data": {}}], "cursor": "1", "hasMore": true, "next": null})",
        true);
    row("at-the-limit", changesBody(change + ',' + change + ',' + change), true, 3);
    row("cursor-number", changesBody(change, R"("cursor": 8812, "hasMore": true)"), true);
    row("cursor-big-number", changesBody(change, R"("cursor": 9007199254740993, "hasMore": true)"),
        true);
    row("cursor-integral-double", changesBody(change, R"("cursor": 5.0, "hasMore": true)"), true);
    row("cursor-exponent", changesBody(change, R"("cursor": 1e3, "hasMore": true)"), true);
    row("cursor-negative-zero", changesBody(change, R"("cursor": -0.0, "hasMore": true)"), true);
    row("cursor-int-min", changesBody(change, R"("cursor": -9223372036854775808, "hasMore": true)"),
        true);
    row("cursor-escaped", changesBody(change, R"("cursor": "a\"b\u0063", "hasMore": true)"), true);
    row("offset-cursor-absent", changesBody(change, R"("hasMore": true)"), true, 10, offset);
    row("offset-cursor-null", changesBody(change, R"("cursor": null, "hasMore": true)"), true, 10,
        offset);
    row("offset-cursor-empty", changesBody(change, R"("cursor": "", "hasMore": true)"), true, 10,
        offset);
    row("offset-cursor-4096",
        changesBody(change, "\"cursor\": \"" + QByteArray(4096, 'c') + "\", \"hasMore\": true"),
        true, 10, offset);
    row("tombstones",
        changesBody(
            tombstone
            + R"(, {"id": "u", "changedAt": "2025-01-01T00:00:00.000Z", "deleted": true, "data": null}, {"id": "v", "changedAt": "2025-01-01T00:00:00.000Z", "deleted": true, "data": {"unknown": [1], "visits": "not checked"}})"),
        true);
    row("tombstone-data-first",
        changesBody(
            R"({"id": "t", "data": {"visits": 4}, "changedAt": "2025-01-01T00:00:00.000Z", "deleted": true})"),
        true);
    row("tombstone-data-first-unchecked",
        changesBody(
            R"({"id": "t", "data": {"unknown": 1, "visits": "x", "visits": 2, "n\u0061me": [{}]}, "changedAt": "2025-01-01T00:00:00.000Z", "deleted": true})"),
        true);
    row("data-first-invalid-not-deleted",
        changesBody(
            R"({"id": "t", "data": {"unknown": 1}, "changedAt": "2025-01-01T00:00:00.000Z", "deleted": false})"),
        false);
    row("deleted-false-after-data",
        changesBody(
            R"({"id": "t", "data": {"visits": 4}, "changedAt": "2025-01-01T00:00:00.000Z", "deleted": false})"),
        true);
    row("same-id-twice", changesBody(change + ',' + change), true);
    row("id-1024",
        changesBody("{\"id\": \"" + QByteArray(1024, 'i')
                    + R"(", "changedAt": "2025-01-01T00:00:00.000Z", "data": {}})"),
        true);
    row("id-escapes",
        changesBody(
            R"({"id": "\u0000\t\/\\", "changedAt": "2025-01-01T00:00:00.000Z", "data": {}})"),
        true);
    row("id-unicode",
        changesBody("{\"id\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\", \"changedAt\": "
                    "\"2025-01-01T00:00:00.000Z\", \"data\": {}}"),
        true);
    row("changedAt-escaped",
        changesBody(R"({"id": "x", "changedAt": "2025-01-01T00:00:00.000\u005a", "data": {}})"),
        true);
    data("all-null",
         R"({"name": null, "balance": null, "active": null, "visits": null, "since": null})", true);
    data("int-exponent", R"({"visits": 1e3})", true);
    data("int-exponent-upper", R"({"visits": 1E+2})", true);
    data("int-integral-double", R"({"visits": 7.000})", true);
    data("int-negative-zero", R"({"visits": -0})", true);
    data("int-negative-zero-double", R"({"visits": -0.0})", true);
    data("int-beyond-2^53", R"({"visits": 9007199254740993})", true);
    data("int-beyond-2^53-double", R"({"visits": 9007199254740993.0})", true);
    data("int-max", R"({"visits": 9223372036854775807})", true);
    data("int-min", R"({"visits": -9223372036854775808})", true);
    data("int-below-min-rounds-to-min", R"({"visits": -9223372036854775809})", true);
    data("int-1e18", R"({"visits": 1e18})", true);
    data("int-zero-exponent", R"({"visits": 0e-400})", true);
    data("real-integer", R"({"balance": 3})", true);
    data("real-negative-zero", R"({"balance": -0})", true);
    data("real-negative-zero-double", R"({"balance": -0.0})", true);
    data("real-fraction", R"({"balance": 0.1})", true);
    data("real-many-digits", R"({"balance": 3.14159265358979323846264338327950288})", true);
    data("real-huge", R"({"balance": 1.7976931348623157e308})", true);
    data("real-2^63", R"({"balance": 9223372036854775808})", true);
    data("real-big-integer", R"({"balance": 123456789012345678901234567890})", true);
    data("real-int-rounding", R"({"balance": 9007199254740993})", true);
    data("real-subnormal", R"({"balance": 1e-320})", true);
    data("real-smallest", R"({"balance": 4.9e-324})", true);
    data("real-1e22", R"({"balance": 1e22})", true);
    data("real-1e23", R"({"balance": 1e23})", true);
    data("real-tiny", R"({"balance": -2.5e-300})", true);
    data("real-ulp", R"({"balance": 1.0000000000000002})", true);
    data("bool-false", R"({"active": false})", true);
    data("string-empty", R"({"name": ""})", true);
    data("string-escapes", R"({"name": "\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac"})", true);
    data("string-surrogate-pair", R"({"name": "\ud83d\ude00"})", true);
    data("string-lone-high-surrogate", R"({"name": "a\ud800b"})", true);
    data("string-lone-low-surrogate", R"({"name": "\udc00"})", true);
    data("string-reversed-pair", R"({"name": "\ude00\ud83d"})", true);
    data("string-nul", R"({"name": "\u0000"})", true);
    data("string-raw-utf8",
         "{\"name\": \"Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"}", true);
    data("string-noncharacters", "{\"name\": \"\xef\xbf\xbe\xef\xbf\xbf\xef\xb7\x90\"}", true);
    data("string-raw-and-escaped", "{\"name\": \"\xc3\xa9\\n\xf0\x9f\x98\x80\\u00e9\"}", true);
    data("string-del", "{\"name\": \"a\x7f\"}", true);
    data("string-long",
         "{\"name\": \"" + QByteArray(1000, 'n') + "\\\"" + QByteArray(7, 'm') + "\"}", true);
    data("datetime-leap-day", R"({"since": "2024-02-29T23:59:59.999Z"})", true);
    data("datetime-2000-leap-day", R"({"since": "2000-02-29T00:00:00.000Z"})", true);
    data("datetime-first", R"({"since": "0001-01-01T00:00:00.000Z"})", true);
    data("datetime-last", R"({"since": "9999-12-31T23:59:59.999Z"})", true);

    // Valid, in the rarer forms QJsonDocument takes too: duplicate keys (the last counts),
    // escaped keys, lenient numbers and escapes, raw control characters, deep values.
    row("duplicate-changes",
        R"({"changes": {"not": "checked"}, "changes": [], "cursor": "1", "hasMore": true})", true);
    row("duplicate-hasMore", R"({"changes": [], "cursor": "1", "hasMore": 7, "hasMore": true})",
        true);
    row("duplicate-id",
        changesBody(R"({"id": 5, "id": "x", "changedAt": "2025-01-01T00:00:00.000Z", "data": {}})"),
        true);
    data("duplicate-field", R"({"visits": "x", "visits": 3})", true);
    data("escaped-field-key", R"({"vis\u0069ts": 3})", true);
    row("escaped-top-level-key", R"({"ch\u0061nges": [], "cursor": "1", "hasMore": true})", true);
    row("escaped-unknown-key", R"({"\u0078": 1, "changes": [], "cursor": "1", "hasMore": true})",
        true);
    data("real-trailing-dot", R"({"balance": 1.})", true);
    data("real-leading-dot", R"({"balance": .5})", true);
    data("real-dot-exponent", R"({"balance": 1.e5})", true);
    data("real-very-long", "{\"balance\": 1." + QByteArray(200, '5') + '}', true);
    data("string-lenient-escape", R"({"name": "\a\'"})", true);
    data("string-raw-tab", "{\"name\": \"a\tb\"}", true);
    data("string-raw-control", "{\"name\": \"a\x01b\"}", true);
    row("deep-unknown-value",
        "{\"x\": " + nested(100) + R"(, "changes": [], "cursor": "1", "hasMore": true})", true);

    // Invalid: the same message as the oracle's.
    row("empty-body", QByteArray(), false);
    row("spaces-only", " \r\n", false);
    row("top-level-array", "[" + changesBody("") + "]", false);
    row("bom-only", "\xef\xbb\xbf", false);
    row("garbage-at-end", changesBody("") + "x", false);
    row("nul-at-end", changesBody("") + QByteArray(1, '\0'), false);
    row("unterminated", R"({"changes": [], "cursor": "1", "hasMore": true)", false);
    row("trailing-comma-object", R"({"changes": [], "cursor": "1", "hasMore": true,})", false);
    row("trailing-comma-array", changesBody(change + ','), false);
    row("leading-comma-array", changesBody(',' + change), false);
    row("missing-colon", R"({"changes" [], "cursor": "1", "hasMore": true})", false);
    row("too-many", changesBody(change + ',' + change), false, 1);
    row("changes-missing", R"({"cursor": "1", "hasMore": true})", false);
    row("changes-null", R"({"changes": null, "cursor": "1", "hasMore": true})", false);
    row("change-array", changesBody("[]"), false);
    row("hasMore-missing", R"({"changes": [], "cursor": "1"})", false);
    row("hasMore-number", R"({"changes": [], "cursor": "1", "hasMore": 1})", false);
    row("cursor-missing", R"({"changes": [], "hasMore": true})", false);
    row("cursor-empty", R"({"changes": [], "cursor": "", "hasMore": true})", false);
    row("cursor-fraction", R"({"changes": [], "cursor": 1.5, "hasMore": true})", false);
    row("cursor-2^63", R"({"changes": [], "cursor": 9223372036854775808, "hasMore": true})", false);
    row("cursor-true", R"({"changes": [], "cursor": true, "hasMore": true})", false);
    row("cursor-4097",
        "{\"changes\": [], \"cursor\": \"" + QByteArray(4097, 'c') + "\", \"hasMore\": true}",
        false, 10, offset);
    row("id-missing", changesBody(R"({"changedAt": "2025-01-01T00:00:00.000Z", "data": {}})"),
        false);
    row("id-empty",
        changesBody(R"({"id": "", "changedAt": "2025-01-01T00:00:00.000Z", "data": {}})"), false);
    row("id-1025",
        changesBody("{\"id\": \"" + QByteArray(1025, 'i')
                    + R"(", "changedAt": "2025-01-01T00:00:00.000Z", "data": {}})"),
        false);
    row("changedAt-missing", changesBody(R"({"id": "x", "data": {}})"), false);
    row("changedAt-24h",
        changesBody(R"({"id": "x", "changedAt": "2025-01-01T24:00:00.000Z", "data": {}})"), false);
    row("changedAt-feb-29",
        changesBody(R"({"id": "x", "changedAt": "2025-02-29T00:00:00.000Z", "data": {}})"), false);
    row("changedAt-year-0",
        changesBody(R"({"id": "x", "changedAt": "0000-01-01T00:00:00.000Z", "data": {}})"), false);
    row("changedAt-lower-z",
        changesBody(R"({"id": "x", "changedAt": "2025-01-01T00:00:00.000z", "data": {}})"), false);
    row("deleted-null",
        changesBody(
            R"({"id": "x", "changedAt": "2025-01-01T00:00:00.000Z", "deleted": null, "data": {}})"),
        false);
    row("data-missing", changesBody(R"({"id": "x", "changedAt": "2025-01-01T00:00:00.000Z"})"),
        false);
    row("data-null",
        changesBody(R"({"id": "x", "changedAt": "2025-01-01T00:00:00.000Z", "data": null})"),
        false);
    row("tombstone-data-number",
        changesBody(
            R"({"id": "x", "changedAt": "2025-01-01T00:00:00.000Z", "deleted": true, "data": 5})"),
        false);
    data("data-array", "[]", false);
    data("unknown-field", R"({"nickname": "x"})", false);
    data("unknown-field-case", R"({"Name": "x"})", false);
    data("int-fraction", R"({"visits": 1.5})", false);
    data("int-2^63", R"({"visits": 9223372036854775808})", false);
    data("int-1e19", R"({"visits": 1e19})", false);
    data("int-string", R"({"visits": "3"})", false);
    data("real-string", R"({"balance": "3"})", false);
    data("real-overflow", R"({"balance": 1e400})", false);
    data("real-underflow", R"({"balance": 1e-400})", false);
    data("real-underflow-subnormal", R"({"balance": 2.4e-324})", false);
    data("real-leading-zero", R"({"balance": 01})", false);
    data("real-minus-only", R"({"balance": -})", false);
    data("real-plus", R"({"balance": +1})", false);
    data("real-exponent-only", R"({"balance": 1e})", false);
    data("real-nan", R"({"balance": NaN})", false);
    data("real-infinity", R"({"balance": Infinity})", false);
    data("real-then-garbage", R"({"balance": 3x})", false);
    data("bool-number", R"({"active": 1})", false);
    data("bool-truncated-literal", R"({"active": tru})", false);
    data("null-truncated-literal", R"({"active": nul})", false);
    data("string-number", R"({"name": 5})", false);
    data("string-unterminated", R"({"name": "abc})", false);
    data("string-short-escape", R"({"name": "\u12"})", false);
    data("string-bad-hex", R"({"name": "\u12g4"})", false);
    data("utf8-truncated", "{\"name\": \"\xc3\"}", false);
    data("utf8-bad-continuation", "{\"name\": \"\xc3\x28\"}", false);
    data("utf8-overlong", "{\"name\": \"\xc0\x80\"}", false);
    data("utf8-overlong-3", "{\"name\": \"\xe0\x80\xaf\"}", false);
    data("utf8-surrogate", "{\"name\": \"\xed\xa0\x80\"}", false);
    data("utf8-beyond-10ffff", "{\"name\": \"\xf4\x90\x80\x80\"}", false);
    data("utf8-ff", "{\"name\": \"\xff\"}", false);
    data("utf8-in-unknown-key", "{\"\xc3\x28\": 1}", false);
    row("utf8-in-skipped-value",
        "{\"x\": \"\xed\xa0\x80\", \"changes\": [], \"cursor\": \"1\", \"hasMore\": true}", false);
    row("overflow-in-skipped-value",
        R"({"x": [1e400], "changes": [], "cursor": "1", "hasMore": true})", false);
    data("datetime-feb-30", R"({"since": "2024-02-30T00:00:00.000Z"})", false);
    data("datetime-no-millis", R"({"since": "2024-02-01T00:00:00Z"})", false);
    data("datetime-offset", R"({"since": "2024-02-01T00:00:00.000+01:00"})", false);
    data("datetime-number", R"({"since": 1})", false);
    row("deep-nesting",
        "{\"x\": " + nested(2000) + R"(, "changes": [], "cursor": "1", "hasMore": true})", false);
    // QJsonDocument's limit is 1024 levels, the page's own object included.
    row("nesting-at-the-limit",
        "{\"x\": " + nested(1023) + R"(, "changes": [], "cursor": "1", "hasMore": true})", true);
    row("nesting-beyond-the-limit",
        "{\"x\": " + nested(1024) + R"(, "changes": [], "cursor": "1", "hasMore": true})", false);
    row("nesting-beyond-the-limit-in-data", dataBody(R"({"name": )" + nested(1021) + '}'), false);

    // Several faults: the one the oracle's walk meets first is reported.
    const QByteArray badId = R"({"id": 5, "changedAt": "2025-01-01T00:00:00.000Z", "data": {}})";
    row("syntax-error-after-a-fault",
        R"({"changes": [{"id": 5}], "cursor": "1", "hasMore": true, "x": [1 2]})", false);
    row("syntax-error-before-a-fault",
        R"({"x": "\u12", "changes": [{"id": 5}], "cursor": "1", "hasMore": true})", false);
    row("first-faulty-change", changesBody(change + ',' + badId + ',' + tombstone + ",7"), false);
    row("limit-before-a-faulty-change", changesBody(badId + ',' + change), false, 1);
    row("changes-before-hasMore", R"({"hasMore": 1, "cursor": true, "changes": [{"id": ""}]})",
        false);
    row("hasMore-before-cursor", R"({"cursor": true, "changes": [], "hasMore": 1})", false);
    row("last-changes-counts",
        R"({"changes": [], "changes": [{"id": 5}], "cursor": "1", "hasMore": true})", false);
    row("last-id-counts",
        changesBody(R"({"id": "x", "id": 5, "changedAt": "2025-01-01T00:00:00.000Z", "data": {}})"),
        false);
    row("last-data-counts",
        changesBody(
            R"({"id": "x", "data": {"visits": 1}, "changedAt": "2025-01-01T00:00:00.000Z", "data": 3})"),
        false);
    row("last-data-counts-valid",
        changesBody(
            R"({"id": "x", "data": {"visits": "x"}, "changedAt": "2025-01-01T00:00:00.000Z", "data": {"visits": 1}})"),
        true);
    row("id-before-changedAt",
        changesBody(R"({"changedAt": "2025-01-01T24:00:00.000Z", "data": 1, "id": ""})"), false);
    row("changedAt-before-deleted",
        changesBody(R"({"deleted": 1, "changedAt": "x", "id": "y", "data": 1})"), false);
    row("deleted-before-data",
        changesBody(
            R"({"data": {"nope": 1}, "deleted": "yes", "changedAt": "2025-01-01T00:00:00.000Z", "id": "y"})"),
        false);
    data("fields-by-key-order", R"({"visits": "x", "name": 5, "balance": true})", false);
    data("unknown-key-first", R"({"visits": "x", "aaa": 1})", false);
    data("unknown-key-last", R"({"zzz": 1, "active": 3})", false);
    data("least-unknown-key", R"({"zzz": 1, "yyy": 2, "\u0078": 3})", false);
    data("last-field-value-counts", R"({"visits": 3, "visits": "x"})", false);
    data("escaped-key-fault", R"({"vis\u0069ts": "x"})", false);
    data("empty-key", R"({"": 1})", false);
    data("fault-in-second-data-only", R"({"visits": 1, "name": "a"}, "data": {"visits": 1.5})",
         false);
    row("top-level-array-with-syntax-error", "[1, 2", false);
    row("top-level-string", R"("changes")", false);
    row("first-backslash-ends-the-body", R"({"changes": [], "x": "ab\)", false);
    row("later-backslash-ends-the-body", R"({"changes": [], "x": "a\nb\)", false);
}

void TestProtocol::parseChangesParity()
{
    QFETCH(QByteArray, body);
    QFETCH(int, limit);
    QFETCH(PagingMode, mode);
    QFETCH(bool, fast);

    bool accepted = false;
    const QString problem = parityProblem(body, customersSchema(), limit, mode, &accepted);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    // Plain forms are taken; the rest as the oracle says (checked above).
    if (fast)
        QVERIFY(accepted);
}

void TestProtocol::parseChangesParityOtherSchemas()
{
    // Field names that are not ASCII, and a name given twice (the oracle's QHash keeps the
    // last field of that name): every key form, valid or not, read as the oracle reads it.
    const EntitySchema unicode { QStringLiteral("unicode"),
                                 { { QStringLiteral("na\u00efve"), FieldType::String },
                                   { QStringLiteral("z\u00e8ta"), FieldType::Int } } };
    const EntitySchema repeated { QStringLiteral("repeated"),
                                  { { QStringLiteral("a"), FieldType::Int },
                                    { QStringLiteral("b"), FieldType::Bool },
                                    { QStringLiteral("a"), FieldType::String } } };
    struct Case
    {
        const EntitySchema &schema;
        QByteArray data;
        bool valid;
    };
    const Case cases[] = {
        { unicode, "{\"na\xc3\xafve\": \"x\", \"z\xc3\xa8ta\": 3}", true },
        { unicode, R"({"na\u00efve": "x", "z\u00E8ta": 3})", true },
        { unicode, "{\"z\xc3\xa8ta\": \"x\", \"na\xc3\xafve\": 1}", false },
        { unicode, "{\"naive\": \"x\"}", false },
        // Beyond U+FFFF against U+E000: raw, escaped, and one of each.
        { unicode, "{\"\xf0\x9f\x98\x80\": 1, \"\xee\x80\x80\": 2}", false },
        { unicode, R"({"\ud83d\ude00": 1, "\ue000": 2})", false },
        { unicode, "{\"\xf0\x9f\x98\x80\": 1, \"\\ue000\": 2}", false },
        { unicode, "{\"\\ud83d\\ude00\": 1, \"\xee\x80\x80\": 2}", false },
        { repeated, R"({"a": "text", "b": true})", true },
        { repeated, R"({"a": 5})", false },
        { repeated, R"({"a": 5, "a": "last"})", true },
        { repeated, R"({"b": 1, "a": 2})", false },
    };
    for (const Case &c : cases) {
        bool accepted = false;
        const QString problem
            = parityProblem(dataBody(c.data), c.schema, 10, PagingMode::Cursor, &accepted);
        QVERIFY2(problem.isEmpty(),
                 qPrintable(QString::fromUtf8(c.data) + QStringLiteral(": ") + problem));
        QCOMPARE(accepted, c.valid);
    }
}

void TestProtocol::parseChangesParityLargePage()
{
    // Long strings and many changes: the parser's eight-bytes-at-a-time string scan
    // meets every alignment of quotes and escapes.
    QJsonArray changes;
    for (int i = 0; i < 300; ++i) {
        QString name = QString(i % 37, u'a');
        if (i % 3 == 0)
            name += QStringLiteral("\"\\\n");
        if (i % 5 == 0)
            name += QStringLiteral("é€😀");
        if (i % 7 == 0)
            name += QChar(0xd800 + i);
        QJsonObject data = validData();
        data.insert(QStringLiteral("name"), name);
        data.insert(QStringLiteral("balance"), i * 0.37 - 20);
        data.insert(QStringLiteral("visits"), i * 1000003);
        changes.append(with(validChange(i), QStringLiteral("data"), data));
    }
    const QByteArray body = pageBody(changes);
    bool accepted = false;
    const QString problem
        = parityProblem(body, customersSchema(), 1000, PagingMode::Cursor, &accepted);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QVERIFY(accepted);

    // Every truncation of a smaller page is refused by both.
    const QByteArray small = pageBody(QJsonArray { validChange(1), validChange(2) });
    for (qsizetype n = 0; n < small.size(); ++n) {
        const QString truncated
            = parityProblem(small.left(n), customersSchema(), 10, PagingMode::Cursor, &accepted);
        QVERIFY2(truncated.isEmpty(),
                 qPrintable(QStringLiteral("%1 bytes: %2").arg(n).arg(truncated)));
        QVERIFY(!accepted);
    }
}

void TestProtocol::fastTimestamp_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");

    const QList<std::pair<const char *, bool>> cases {
        { "2026-11-26T06:20:16.123Z", true },
        { "2024-02-29T00:00:00.000Z", true },
        { "2000-02-29T00:00:00.000Z", true },
        { "1900-02-29T00:00:00.000Z", false },
        { "2100-02-29T00:00:00.000Z", false },
        { "2400-02-29T00:00:00.000Z", true },
        { "2023-02-29T00:00:00.000Z", false },
        { "2024-02-30T00:00:00.000Z", false },
        { "2024-04-31T00:00:00.000Z", false },
        { "2024-12-31T23:59:59.999Z", true },
        { "2024-12-32T00:00:00.000Z", false },
        { "2024-00-10T00:00:00.000Z", false },
        { "2024-13-10T00:00:00.000Z", false },
        { "2024-01-00T00:00:00.000Z", false },
        { "2024-01-01T24:00:00.000Z", false },
        { "2024-01-01T23:60:00.000Z", false },
        { "2024-01-01T23:59:60.000Z", false },
        { "0000-01-01T00:00:00.000Z", false },
        { "0001-01-01T00:00:00.000Z", true },
        { "9999-12-31T23:59:59.999Z", true },
        { "1582-10-10T00:00:00.000Z", true },
        { "1969-12-31T23:59:59.999Z", true },
        { "2026-11-26T06:20:16Z", false },
        { "2026-11-26T06:20:16.12Z", false },
        { "2026-11-26T06:20:16.1234Z", false },
        { "2026-11-26 06:20:16.123Z", false },
        { "2026-11-26t06:20:16.123Z", false },
        { "2026-11-26T06:20:16.123z", false },
        { "2026-11-26T06:20:16,123Z", false },
        { "2026-11-26T06:20:16.123+00:00", false },
        { "2026-11-26T06:20:16.123+01", false },
        { "+026-11-26T06:20:16.123Z", false },
        { "-026-11-26T06:20:16.123Z", false },
        { " 026-11-26T06:20:16.123Z", false },
        { "2026-1-126T06:20:16.123Z", false },
        { "2026-11-26T6:20:16.1234Z", false },
        { "2026/11/26T06:20:16.123Z", false },
        { "2026-11-26T06-20-16.123Z", false },
        { "", false },
        { "yesterday", false },
    };
    for (const auto &[text, valid] : cases)
        QTest::newRow(text) << QString::fromLatin1(text) << valid;
    QTest::newRow("fullwidth-digits") << QStringLiteral("２０２６-11-26T06:20:16.123Z") << false;
    QTest::newRow("arabic-indic-digit") << QStringLiteral("٢026-11-26T06:20:16.123Z") << false;
    QTest::newRow("nul-inside")
        << QStringLiteral("2026-11-26T06:20:16.123Z").replace(4, 1, QChar(0)) << false;
    QTest::newRow("trailing-nul") << QStringLiteral("2026-11-26T06:20:16.123Z") + QChar(0) << false;
}

void TestProtocol::fastTimestamp()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QCOMPARE(Timestamp::isValid(text), valid);
    QCOMPARE(Protocol::detail::isValidTimestamp(text), valid);
}

void TestProtocol::fastTimestampCalendar()
{
    // Every day number of every month of years around the leap-year rules and the ends of the
    // range, then every time of day field value, against the QDateTime-based validator.
    int compared = 0;
    int valid = 0;
    const auto compare = [&](const QString &text) {
        const bool expected = Timestamp::isValid(text);
        ++compared;
        valid += expected;
        if (Protocol::detail::isValidTimestamp(text) != expected)
            QFAIL(qPrintable(QStringLiteral("%1: %2 expected").arg(text).arg(expected)));
    };
    for (const int year : { 0, 1, 4, 99, 100, 400, 1582, 1600, 1700, 1900, 1969, 1970, 2000, 2023,
                            2024, 2100, 2400, 9996, 9999 }) {
        for (int month = 0; month <= 13; ++month) {
            for (int day = 0; day <= 32; ++day)
                compare(QString::asprintf("%04d-%02d-%02dT12:34:56.789Z", year, month, day));
        }
    }
    for (int hour = 0; hour <= 25; ++hour) {
        for (int minute = 0; minute <= 61; ++minute) {
            for (const int second : { 0, 1, 30, 58, 59, 60, 61, 99 })
                compare(QString::asprintf("2024-02-29T%02d:%02d:%02d.000Z", hour, minute, second));
        }
    }
    for (int ms = 0; ms <= 999; ms += 37)
        compare(QString::asprintf("1999-12-31T23:59:59.%03dZ", ms));
    QVERIFY(valid > 1000 && valid < compared);
}

void TestProtocol::parseErrorMessage_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QString>("expected");

    QTest::newRow("message") << QByteArray(R"({"error": "unknown entity \"x\""})")
                             << R"(unknown entity "x")";
    QTest::newRow("extra-keys") << QByteArray(R"({"code": 7, "error": "limit must be 1 to 10000"})")
                                << "limit must be 1 to 10000";
    QTest::newRow("empty-object") << QByteArray("{}") << QString();
    QTest::newRow("number") << QByteArray(R"({"error": 5})") << QString();
    QTest::newRow("object") << QByteArray(R"({"error": {"message": "x"}})") << QString();
    QTest::newRow("empty-body") << QByteArray() << QString();
    QTest::newRow("html") << QByteArray("<h1>502 Bad Gateway</h1>") << QString();
    QTest::newRow("array") << QByteArray(R"(["error"])") << QString();
    QTest::newRow("nested") << nested(100000) << QString();
    QTest::newRow("control-characters")
        << QByteArray(R"({"error": "line1\nline2\u001b[31m"})") << "line1 line2 [31m";
    QTest::newRow("long") << toJson(QJsonObject { { "error", QString(2000, u'e') } })
                          << QString(500, u'e') + QStringLiteral("…");
}

void TestProtocol::parseErrorMessage()
{
    QFETCH(QByteArray, body);
    QFETCH(QString, expected);
    QCOMPARE(Protocol::parseErrorMessage(body), expected);
}

// Client against the fake network ---------------------------------------------------------

void TestProtocol::urlFor_data()
{
    QTest::addColumn<QString>("base");
    QTest::addColumn<QString>("path");
    QTest::addColumn<QString>("expected");

    QTest::newRow("plain") << FakeBase << "/entities"
                           << "http://127.0.0.1:8080/api/v1/entities";
    QTest::newRow("trailing-slash") << "http://127.0.0.1:8080/api/v1/"
                                    << "/entities"
                                    << "http://127.0.0.1:8080/api/v1/entities";
    QTest::newRow("no-leading-slash") << FakeBase << "entities"
                                      << "http://127.0.0.1:8080/api/v1/entities";
    QTest::newRow("root") << "https://sync.example.com"
                          << "/entities"
                          << "https://sync.example.com/entities";
    QTest::newRow("encoded-segment") << FakeBase << "/entities/a%20b%2Fc/count"
                                     << "http://127.0.0.1:8080/api/v1/entities/a%20b%2Fc/count";
}

void TestProtocol::urlFor()
{
    QFETCH(QString, base);
    QFETCH(QString, path);
    QFETCH(QString, expected);
    FakeNetworkAccessManager fake;
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(base));
    QCOMPARE(client.urlFor(path).toString(QUrl::FullyEncoded), expected);
}

void TestProtocol::fetchEntities()
{
    FakeNetworkAccessManager fake;
    const int rule = fake.addRule(FakeRule::respond("/entities", 200, entitiesBody()));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *request = client.fetchEntities();
    QCOMPARE(request->kind(), ProtocolRequest::Kind::Entities);
    QVERIFY(!request->isFinished());
    QSignalSpy spy(request, &ProtocolRequest::finished);
    QVERIFY(spy.wait());
    QCOMPARE(spy.count(), 1);
    QVERIFY(request->isFinished());
    QCOMPARE(request->error().category, ErrorCategory::None);
    QVERIFY(request->error().message.isEmpty());
    QCOMPARE(request->entities().size(), 2);
    QCOMPARE(request->entities().at(0), customersSchema());
    QCOMPARE(request->bytesReceived(), qint64(entitiesBody().size()));
    QCOMPARE(fake.hits(rule), 1);
    QCOMPARE(fake.requestedUrls(), QList<QUrl> { QUrl(FakeBase + "/entities") });
}

void TestProtocol::fetchCount()
{
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::respond("/entities/customers/count", 200, R"({"count": 120000})"));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *request
        = client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString());
    QCOMPARE(request->kind(), ProtocolRequest::Kind::Count);
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::None);
    QCOMPARE(request->count(), qint64(120000));
}

void TestProtocol::fetchChanges()
{
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::respond("/entities/customers/changes", 200,
                                   pageBody(QJsonArray { validChange(1), validChange(2) })));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *request = client.fetchChanges(customersSchema(), ChangesQuery {});
    QCOMPARE(request->kind(), ProtocolRequest::Kind::Changes);
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::None);
    // Cursor mode: the page comes packed.
    QVERIFY(request->page().changes.isEmpty());
    QCOMPARE(request->page().size(), 2);
    QCOMPARE(request->page().cursor, QStringLiteral("8812"));
    QCOMPARE(request->page().hasMore, true);
    const QList<Change> changes = request->page().packed.toChanges();
    QCOMPARE(changes.at(1).id, QStringLiteral("c-2"));
    QCOMPARE(changes.at(1).values.at(3), QVariant(qint64(3)));

    // Offset mode: as a list, which the engine reads positions from.
    ProtocolRequest *offset
        = client.fetchChanges(customersSchema(), ChangesQuery { PagingMode::Offset, {}, 0, 10 });
    QVERIFY(waitFinished(offset));
    QCOMPARE(offset->error().category, ErrorCategory::None);
    QVERIFY(offset->page().packed.isEmpty());
    QCOMPARE(offset->page().changes.size(), 2);
    QCOMPARE(offset->page().changes.at(1).id, QStringLiteral("c-2"));
}

void TestProtocol::queryParameters_data()
{
    QTest::addColumn<QString>("call"); // "count" or "changes"
    QTest::addColumn<PagingMode>("mode");
    QTest::addColumn<QString>("since");
    QTest::addColumn<qint64>("offset");
    QTest::addColumn<int>("limit");
    QTest::addColumn<QString>("expectedPath");
    QTest::addColumn<QStringList>("expectedQuery"); // key=value, decoded, in order

    const QString changes = QStringLiteral("/api/v1/entities/customers/changes");
    const QString count = QStringLiteral("/api/v1/entities/customers/count");
    const QString ts = QStringLiteral("2026-11-26T06:20:16.123Z");

    QTest::newRow("cursor-start") << "changes" << PagingMode::Cursor << QString() << qint64(0)
                                  << 1000 << changes << QStringList { "limit=1000" };
    QTest::newRow("cursor-since") << "changes" << PagingMode::Cursor << "8812" << qint64(0) << 500
                                  << changes << QStringList { "since=8812", "limit=500" };
    QTest::newRow("cursor-ignores-offset")
        << "changes" << PagingMode::Cursor << "8812" << qint64(70) << 500 << changes
        << QStringList { "since=8812", "limit=500" };
    QTest::newRow("cursor-special-chars")
        << "changes" << PagingMode::Cursor << "a+b&c=d /%?#é" << qint64(0) << 100 << changes
        << QStringList { "since=a+b&c=d /%?#é", "limit=100" };
    QTest::newRow("limit-too-small") << "changes" << PagingMode::Cursor << QString() << qint64(0)
                                     << 0 << changes << QStringList { "limit=1" };
    QTest::newRow("limit-too-large") << "changes" << PagingMode::Cursor << QString() << qint64(0)
                                     << 20000 << changes << QStringList { "limit=10000" };
    QTest::newRow("offset-start") << "changes" << PagingMode::Offset << QString() << qint64(0)
                                  << 1000 << changes << QStringList { "offset=0", "limit=1000" };
    QTest::newRow("offset-since") << "changes" << PagingMode::Offset << ts << qint64(2000) << 1000
                                  << changes
                                  << QStringList { "changedSince=" + ts, "offset=2000",
                                                   "limit=1000" };
    QTest::newRow("count-cursor-start")
        << "count" << PagingMode::Cursor << QString() << qint64(0) << 0 << count << QStringList {};
    QTest::newRow("count-cursor") << "count" << PagingMode::Cursor << "8812" << qint64(0) << 0
                                  << count << QStringList { "since=8812" };
    QTest::newRow("count-offset") << "count" << PagingMode::Offset << ts << qint64(0) << 0 << count
                                  << QStringList { "changedSince=" + ts };
}

void TestProtocol::queryParameters()
{
    QFETCH(QString, call);
    QFETCH(PagingMode, mode);
    QFETCH(QString, since);
    QFETCH(qint64, offset);
    QFETCH(int, limit);
    QFETCH(QString, expectedPath);
    QFETCH(QStringList, expectedQuery);

    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::error(QString(), 503, QStringLiteral("not this time")));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *request = call == QLatin1String("count")
        ? client.fetchCount(QStringLiteral("customers"), mode, since)
        : client.fetchChanges(customersSchema(), ChangesQuery { mode, since, offset, limit });
    QVERIFY(waitFinished(request));

    QCOMPARE(fake.requestCount(), 1);
    const QUrl url = fake.requestedUrls().constFirst();
    QCOMPARE(url.host(), QStringLiteral("127.0.0.1"));
    QCOMPARE(url.port(), 8080);
    QCOMPARE(url.path(), expectedPath);
    QStringList query;
    const auto items = QUrlQuery(url).queryItems(QUrl::FullyDecoded);
    for (const auto &[key, value] : items)
        query.append(key + u'=' + value);
    QCOMPARE(query, expectedQuery);
}

void TestProtocol::headers()
{
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::respond("/entities", 200, R"({"entities": []})"));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));
    client.setTransferTimeout(1234);

    QVERIFY(waitFinished(client.fetchEntities()));
    QNetworkRequest sent = fake.requests().constLast();
    QVERIFY(!sent.hasRawHeader("Authorization"));
    QCOMPARE(sent.rawHeader("Accept"), QByteArray("application/json"));
    QCOMPARE(sent.transferTimeout(), 1234);

    client.setToken(QStringLiteral("s3cret-token"));
    QCOMPARE(client.token(), QStringLiteral("s3cret-token"));
    QVERIFY(waitFinished(client.fetchEntities()));
    sent = fake.requests().constLast();
    QCOMPARE(sent.rawHeader("Authorization"), QByteArray("Bearer s3cret-token"));

    client.setToken(QString());
    QVERIFY(waitFinished(
        client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString())));
    QVERIFY(!fake.requests().constLast().hasRawHeader("Authorization"));
    QCOMPARE(fake.requestCount(), 3);
}

void TestProtocol::finishedIsQueued()
{
    // Even an immediate failure and an immediate abort finish from the event loop.
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::respond("/entities", 200, R"({"entities": []})"));
    ProtocolClient client(&fake);

    ProtocolRequest *noUrl = client.fetchEntities(); // no base URL
    QSignalSpy noUrlSpy(noUrl, &ProtocolRequest::finished);
    QCOMPARE(noUrlSpy.count(), 0);

    client.setBaseUrl(QUrl(FakeBase));
    ProtocolRequest *aborted = client.fetchEntities();
    QSignalSpy abortedSpy(aborted, &ProtocolRequest::finished);
    aborted->abort();
    QVERIFY(aborted->isFinished());
    QCOMPARE(abortedSpy.count(), 0);

    ProtocolRequest *ok = client.fetchEntities();
    QSignalSpy okSpy(ok, &ProtocolRequest::finished);
    QCOMPARE(okSpy.count(), 0);

    QTRY_COMPARE(okSpy.count(), 1);
    QTRY_COMPARE(noUrlSpy.count(), 1);
    QTRY_COMPARE(abortedSpy.count(), 1);
    QCOMPARE(noUrl->error().category, ErrorCategory::Request);
    QCOMPARE(aborted->error().category, ErrorCategory::Aborted);
    QCOMPARE(ok->error().category, ErrorCategory::None);
}

void TestProtocol::invalidEndpoint_data()
{
    QTest::addColumn<QString>("base");
    QTest::addColumn<QString>("token");
    QTest::addColumn<QString>("expected");

    QTest::newRow("empty") << QString() << QString() << "no endpoint URL is set";
    QTest::newRow("ftp") << "ftp://example.com/api" << QString() << "is not an http or https URL";
    QTest::newRow("no-host") << "http:///api/v1" << QString() << "is not an http or https URL";
    QTest::newRow("relative") << "api/v1" << QString() << "is not an http or https URL";
    QTest::newRow("token-newline") << FakeBase << "abc\r\nX-Evil: 1"
                                   << "token contains";
    QTest::newRow("token-space") << FakeBase << "abc def"
                                 << "token contains";
}

void TestProtocol::invalidEndpoint()
{
    QFETCH(QString, base);
    QFETCH(QString, token);
    QFETCH(QString, expected);

    FakeNetworkAccessManager fake;
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(base));
    client.setToken(token);
    ProtocolRequest *request = client.fetchEntities();
    QSignalSpy spy(request, &ProtocolRequest::finished);
    QVERIFY(spy.wait());
    QCOMPARE(request->error().category, ErrorCategory::Request);
    QVERIFY2(request->error().message.contains(expected), qPrintable(request->error().message));
    QCOMPARE(fake.requestCount(), 0);
}

void TestProtocol::httpErrors_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QByteArray>("retryAfter"); // header value; empty: none
    QTest::addColumn<QString>("token");
    QTest::addColumn<ErrorCategory>("category");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<int>("retryMin");
    QTest::addColumn<int>("retryMax");

    const QByteArray invalidToken = R"({"error": "invalid token"})";
    QTest::newRow("401") << 401 << invalidToken << QByteArray() << "wrong" << ErrorCategory::Auth
                         << "the server refused the token (401): invalid token" << -1 << -1;
    QTest::newRow("401-no-token") << 401 << QByteArray(R"({"error": "a token is required"})")
                                  << QByteArray() << QString() << ErrorCategory::Auth
                                  << "the server requires a token (401): a token is required" << -1
                                  << -1;
    QTest::newRow("403") << 403 << QByteArray(R"({"error": "read only"})") << QByteArray() << "t"
                         << ErrorCategory::Auth << "the server refused the token (403): read only"
                         << -1 << -1;
    QTest::newRow("404")
        << 404 << QByteArray(R"({"error": "unknown entity \"customers\""})") << QByteArray()
        << QString() << ErrorCategory::Request
        << R"(GET /entities/customers/count: not found (404): unknown entity "customers")" << -1
        << -1;
    QTest::newRow("400") << 400 << QByteArray(R"({"error": "limit must be 1 to 10000"})")
                         << QByteArray() << QString() << ErrorCategory::Request
                         << "the server rejected the request (400): limit must be 1 to 10000" << -1
                         << -1;
    QTest::newRow("409") << 409 << QByteArray() << QByteArray() << QString()
                         << ErrorCategory::Request << "(409): Conflict" << -1 << -1;
    QTest::newRow("500") << 500 << QByteArray(R"({"error": "database is locked"})") << QByteArray()
                         << QString() << ErrorCategory::Network
                         << "GET /entities/customers/count: server error (500): database is locked"
                         << -1 << -1;
    QTest::newRow("500-html") << 500 << QByteArray("<html>oops</html>") << QByteArray() << QString()
                              << ErrorCategory::Network
                              << "server error (500): Internal Server Error" << -1 << -1;
    QTest::newRow("502") << 502 << QByteArray() << QByteArray() << QString()
                         << ErrorCategory::Network << "server error (502): Bad Gateway" << -1 << -1;
    QTest::newRow("503-retry-after")
        << 503 << QByteArray(R"({"error": "maintenance"})") << QByteArray("7") << QString()
        << ErrorCategory::Network << "server error (503): maintenance" << 7 << 7;
    QTest::newRow("429-retry-after")
        << 429 << QByteArray(R"({"error": "slow down"})") << QByteArray(" 3 ") << QString()
        << ErrorCategory::Network << "the server is busy (429): slow down" << 3 << 3;
    QTest::newRow("429-no-retry-after") << 429 << QByteArray() << QByteArray() << QString()
                                        << ErrorCategory::Network << "(429)" << -1 << -1;
    QTest::newRow("429-retry-after-zero") << 429 << QByteArray() << QByteArray("0") << QString()
                                          << ErrorCategory::Network << "(429)" << 0 << 0;
    QTest::newRow("503-retry-after-date")
        << 503 << QByteArray() << httpDate(QDateTime::currentDateTimeUtc().addSecs(120)).toLatin1()
        << QString() << ErrorCategory::Network << "(503)" << 100 << 120;
    QTest::newRow("503-retry-after-past-date")
        << 503 << QByteArray() << QByteArray("Wed, 21 Oct 2015 07:28:00 GMT") << QString()
        << ErrorCategory::Network << "(503)" << 0 << 0;
    QTest::newRow("503-retry-after-garbage")
        << 503 << QByteArray() << QByteArray("soon") << QString() << ErrorCategory::Network
        << "(503)" << -1 << -1;
    QTest::newRow("503-retry-after-negative")
        << 503 << QByteArray() << QByteArray("-5") << QString() << ErrorCategory::Network << "(503)"
        << -1 << -1;
    QTest::newRow("503-retry-after-huge")
        << 503 << QByteArray() << QByteArray("99999999999") << QString() << ErrorCategory::Network
        << "(503)" << 86400 << 86400;
    QTest::newRow("redirect") << 302 << QByteArray() << QByteArray() << QString()
                              << ErrorCategory::Request << "the server redirects (302)" << -1 << -1;
    QTest::newRow("hostile-server-text")
        << 400 << QByteArray(R"({"error": "bad\r\nSet-Cookie: x\u0000"})") << QByteArray()
        << QString() << ErrorCategory::Request << "(400): bad Set-Cookie: x" << -1 << -1;
}

void TestProtocol::httpErrors()
{
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    QFETCH(QByteArray, retryAfter);
    QFETCH(QString, token);
    QFETCH(ErrorCategory, category);
    QFETCH(QString, expected);
    QFETCH(int, retryMin);
    QFETCH(int, retryMax);

    FakeNetworkAccessManager fake;
    FakeRule rule = FakeRule::respond("/count", status, body);
    if (!retryAfter.isEmpty())
        rule.withHeader("Retry-After", retryAfter);
    fake.addRule(rule);
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));
    client.setToken(token);

    ProtocolRequest *request
        = client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString());
    QSignalSpy spy(request, &ProtocolRequest::finished);
    QVERIFY(spy.wait());
    const SyncError &error = request->error();
    QCOMPARE(error.category, category);
    QCOMPARE(error.httpStatus, status);
    QVERIFY2(error.message.contains(expected), qPrintable(error.message));
    QVERIFY2(error.retryAfterSeconds >= retryMin && error.retryAfterSeconds <= retryMax,
             qPrintable(QString::number(error.retryAfterSeconds)));
    QCOMPARE(error.isTransient(), category == ErrorCategory::Network);
    QCOMPARE(request->count(), qint64(0));
}

void TestProtocol::networkErrors_data()
{
    QTest::addColumn<QNetworkReply::NetworkError>("networkError");
    QTest::addColumn<ErrorCategory>("category");
    QTest::addColumn<QString>("expected");

    QTest::newRow("refused") << QNetworkReply::ConnectionRefusedError << ErrorCategory::Network
                             << "connection refused by 127.0.0.1:8080 — is the server running?";
    QTest::newRow("host-not-found") << QNetworkReply::HostNotFoundError << ErrorCategory::Network
                                    << "host 127.0.0.1:8080 not found";
    QTest::newRow("closed")
        << QNetworkReply::RemoteHostClosedError << ErrorCategory::Network
        << "GET /entities: 127.0.0.1:8080 closed the connection without answering";
    QTest::newRow("socket-timeout") << QNetworkReply::TimeoutError << ErrorCategory::Network
                                    << "no response from 127.0.0.1:8080 within 30 s";
    QTest::newRow("tls") << QNetworkReply::SslHandshakeFailedError << ErrorCategory::Network
                         << "secure connection to 127.0.0.1:8080 failed";
    QTest::newRow("temporary") << QNetworkReply::TemporaryNetworkFailureError
                               << ErrorCategory::Network
                               << "network error talking to 127.0.0.1:8080";
    QTest::newRow("unknown") << QNetworkReply::UnknownNetworkError << ErrorCategory::Network
                             << "network error talking to 127.0.0.1:8080";
    QTest::newRow("protocol-unknown")
        << QNetworkReply::ProtocolUnknownError << ErrorCategory::Request << "GET /entities:";
}

void TestProtocol::networkErrors()
{
    QFETCH(QNetworkReply::NetworkError, networkError);
    QFETCH(ErrorCategory, category);
    QFETCH(QString, expected);

    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::fail("/entities", networkError));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));
    ProtocolRequest *request = client.fetchEntities();
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, category);
    QCOMPARE(request->error().httpStatus, 0);
    QVERIFY2(request->error().message.contains(expected), qPrintable(request->error().message));
}

void TestProtocol::hangingReplyTimesOut()
{
    FakeNetworkAccessManager fake;
    const int rule = fake.addRule(FakeRule::hang("/changes"));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));
    client.setTransferTimeout(200);
    QCOMPARE(client.transferTimeout(), 200);

    ProtocolRequest *request = client.fetchChanges(customersSchema(), ChangesQuery {});
    QSignalSpy spy(request, &ProtocolRequest::finished);
    QVERIFY(!spy.wait(50));
    QVERIFY(spy.wait(5000));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(request->error().category, ErrorCategory::Network);
    QVERIFY2(request->error().message.contains(
                 QStringLiteral("no response from 127.0.0.1:8080 within 200 ms")),
             qPrintable(request->error().message));
    QVERIFY(request->error().isTransient());
    QCOMPARE(fake.hits(rule), 1);
}

void TestProtocol::delayedReply()
{
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::respond("/count", 200, R"({"count": 3})").after(100).once());
    fake.addRule(FakeRule::respond("/count", 200, R"({"count": 4})").after(2000));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));
    client.setTransferTimeout(1000);

    // Late, but within the transfer timeout.
    ProtocolRequest *late
        = client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString());
    QVERIFY(waitFinished(late));
    QCOMPARE(late->error().category, ErrorCategory::None);
    QCOMPARE(late->count(), qint64(3));

    // Later than the transfer timeout.
    client.setTransferTimeout(150);
    ProtocolRequest *tooLate
        = client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString());
    QVERIFY(waitFinished(tooLate));
    QCOMPARE(tooLate->error().category, ErrorCategory::Network);
    QVERIFY2(tooLate->error().message.contains(QStringLiteral("within 150 ms")),
             qPrintable(tooLate->error().message));
}

void TestProtocol::truncatedBody()
{
    const QByteArray body = pageBody(QJsonArray { validChange(1), validChange(2) });
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::respond("/changes", 200, body.left(40)).withContentLength(body.size()));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *request = client.fetchChanges(customersSchema(), ChangesQuery {});
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::Network);
    QVERIFY2(request->error().message.contains(
                 QStringLiteral("127.0.0.1:8080 closed the connection after 40 of %1 bytes")
                     .arg(body.size())),
             qPrintable(request->error().message));
    QVERIFY(request->page().changes.isEmpty());
}

void TestProtocol::oversizeBody_data()
{
    QTest::addColumn<bool>("announced");
    QTest::addColumn<int>("chunk");

    QTest::newRow("content-length") << true << 0;
    QTest::newRow("content-length-chunks") << true << 256;
    QTest::newRow("streamed") << false << 256;
    QTest::newRow("streamed-one-piece") << false << 0;
}

void TestProtocol::oversizeBody()
{
    QFETCH(bool, announced);
    QFETCH(int, chunk);

    QJsonArray changes;
    for (int i = 0; i < 100; ++i)
        changes.append(validChange(i));
    const QByteArray body = pageBody(changes);
    QVERIFY(body.size() > 10000);

    FakeNetworkAccessManager fake;
    FakeRule rule = FakeRule::respond("/changes", 200, body).inChunks(chunk, 5);
    if (!announced)
        rule.withoutContentLength();
    fake.addRule(rule);
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));
    client.setMaxResponseSize(1000);
    QCOMPARE(client.maxResponseSize(), qint64(1000));

    ProtocolRequest *request = client.fetchChanges(customersSchema(), ChangesQuery {});
    QSignalSpy spy(request, &ProtocolRequest::finished);
    QVERIFY(spy.wait());
    QCOMPARE(request->error().category, ErrorCategory::Protocol);
    QVERIFY2(request->error().message.contains(QStringLiteral("response larger than 1000 bytes")),
             qPrintable(request->error().message));
    QVERIFY(request->bytesReceived() <= 1000);
    // The same body is fine within the limit.
    client.setMaxResponseSize(body.size());
    ProtocolRequest *fits = client.fetchChanges(customersSchema(), ChangesQuery {});
    QVERIFY(waitFinished(fits));
    QCOMPARE(fits->error().category, ErrorCategory::None);
    QCOMPARE(fits->bytesReceived(), qint64(body.size()));
    QCOMPARE(spy.count(), 1);
}

void TestProtocol::invalidBody()
{
    QJsonArray changes { validChange(0), validChange(1), validChange(2),
                         with(validChange(3), QStringLiteral("id"), 42) };
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::respond("/changes", 200, pageBody(changes)));
    fake.addRule(FakeRule::respond("/entities", 200, "<html>hello</html>"));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *request = client.fetchChanges(customersSchema(), ChangesQuery {});
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::Protocol);
    QVERIFY2(
        request->error().message.startsWith(QStringLiteral(
            "GET /entities/customers/changes: changes[3].id: expected a string, got a number")),
        qPrintable(request->error().message));
    QVERIFY(request->page().changes.isEmpty());

    ProtocolRequest *entities = client.fetchEntities();
    QVERIFY(waitFinished(entities));
    QCOMPARE(entities->error().category, ErrorCategory::Protocol);
    QVERIFY2(entities->error().message.startsWith(
                 QStringLiteral("GET /entities: the response is not valid JSON")),
             qPrintable(entities->error().message));
    QVERIFY(!entities->error().isTransient());
}

void TestProtocol::abortInFlight()
{
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::hang("/changes"));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *request = client.fetchChanges(customersSchema(), ChangesQuery {});
    QSignalSpy spy(request, &ProtocolRequest::finished);
    QVERIFY(!spy.wait(20)); // the request is in flight
    request->abort();
    QVERIFY(request->isFinished());
    QCOMPARE(spy.count(), 0); // never from inside abort()
    request->abort(); // twice: still one finished()
    QVERIFY(spy.wait());
    QCOMPARE(request->error().category, ErrorCategory::Aborted);
    QVERIFY(!request->error().isTransient());
    request->abort();
    QVERIFY(!spy.wait(100));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(request->error().category, ErrorCategory::Aborted);
}

void TestProtocol::abortDelayedReply()
{
    // The reply would come in 30 ms; the abort must win and the reply must not leak through.
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::respond("/count", 200, R"({"count": 9})").after(30));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *request
        = client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString());
    QSignalSpy spy(request, &ProtocolRequest::finished);
    request->abort();
    QVERIFY(spy.wait());
    QVERIFY(!spy.wait(150));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(request->error().category, ErrorCategory::Aborted);
    QCOMPARE(request->count(), qint64(0));
}

void TestProtocol::abortAfterFinished()
{
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::respond("/count", 200, R"({"count": 9})"));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *request
        = client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString());
    QSignalSpy spy(request, &ProtocolRequest::finished);
    QVERIFY(spy.wait());
    request->abort();
    QCOMPARE(request->error().category, ErrorCategory::None);
    QCOMPARE(request->count(), qint64(9));
    QVERIFY(!spy.wait(50));
    QCOMPARE(spy.count(), 1);

    // The receiver deletes the request with deleteLater(), as documented.
    QPointer<ProtocolRequest> guard(request);
    request->deleteLater();
    QTRY_VERIFY(guard.isNull());
}

void TestProtocol::deleteInFlight()
{
    FakeNetworkAccessManager fake;
    fake.addRule(FakeRule::hang("/entities"));
    fake.addRule(FakeRule::respond("/count", 200, R"({"count": 1})").inChunks(4, 50));
    auto client = std::make_unique<ProtocolClient>(&fake);
    client->setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *hanging = client->fetchEntities();
    ProtocolRequest *streaming
        = client->fetchCount(QStringLiteral("c"), PagingMode::Cursor, QString());
    QPointer<ProtocolRequest> hangingGuard(hanging);
    QSignalSpy spy(streaming, &ProtocolRequest::finished);
    QVERIFY(!spy.wait(15)); // a chunk or two has arrived
    delete hanging;
    QVERIFY(hangingGuard.isNull());
    client.reset(); // deletes the streaming request in the middle of its body
    QVERIFY(!spy.wait(100));
    QCOMPARE(spy.count(), 0);
    // The fake replies were aborted and are deleted later; nothing may touch them now.
    QTRY_COMPARE(fake.findChildren<QNetworkReply *>().size(), qsizetype(0));
}

void TestProtocol::managerDeleted()
{
    // Against the documented contract, but the request must still finish exactly once.
    auto fake = std::make_unique<FakeNetworkAccessManager>();
    fake->addRule(FakeRule::hang("/entities"));
    ProtocolClient client(fake.get());
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *request = client.fetchEntities();
    QSignalSpy spy(request, &ProtocolRequest::finished);
    QVERIFY(!spy.wait(10));
    fake.reset();
    QVERIFY(spy.wait());
    QVERIFY(!spy.wait(50));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(request->error().category, ErrorCategory::Aborted);
}

void TestProtocol::fakeManagerTransferTimeout()
{
    // A request without a transfer timeout gets the manager's, as in Qt.
    FakeNetworkAccessManager fake;
    fake.setTransferTimeout(100);
    fake.addRule(FakeRule::hang(QString()));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));
    client.setTransferTimeout(0);

    ProtocolRequest *request = client.fetchEntities();
    QVERIFY(waitFinished(request));
    QCOMPARE(fake.requests().constFirst().transferTimeout(), 0);
    QCOMPARE(request->error().category, ErrorCategory::Network);
    QVERIFY2(request->error().message.startsWith(QStringLiteral("no response from 127.0.0.1:8080")),
             qPrintable(request->error().message));
}

void TestProtocol::fakeRulesOrderAndCount()
{
    FakeNetworkAccessManager fake;
    const int busy = fake.addRule(FakeRule::error("/count", 503, QStringLiteral("busy")).times(2));
    const int ok = fake.addRule(FakeRule::respond("/count", 200, R"({"count": 5})"));
    const int entities = fake.addRule(FakeRule::respond("/entities", 200, R"({"entities": []})"));
    QSignalSpy created(&fake, &FakeNetworkAccessManager::requestCreated);
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    QList<ErrorCategory> categories;
    for (int i = 0; i < 4; ++i) {
        ProtocolRequest *request
            = client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString());
        QVERIFY(waitFinished(request));
        categories.append(request->error().category);
    }
    QCOMPARE(categories,
             (QList<ErrorCategory> { ErrorCategory::Network, ErrorCategory::Network,
                                     ErrorCategory::None, ErrorCategory::None }));
    QCOMPARE(fake.hits(busy), 2);
    QCOMPARE(fake.hits(ok), 2);
    QCOMPARE(fake.hits(entities), 0); // "/entities/customers/count" matched "/count" first
    QCOMPARE(created.count(), 4);
    QCOMPARE(created.at(0).at(1).toInt(), busy);
    QCOMPARE(created.at(3).at(1).toInt(), ok);

    fake.removeRule(ok);
    fake.clearRequests();
    QCOMPARE(fake.requestCount(), 0);
    ProtocolRequest *request = client.fetchEntities();
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::None);
    QCOMPARE(fake.hits(entities), 1);
    QCOMPARE(fake.requestCount(), 1);
}

void TestProtocol::fakeDynamicRule()
{
    FakeNetworkAccessManager fake;
    int seen = 0;
    fake.addRule(FakeRule::dynamic("/count", [&seen](const QNetworkRequest &request) {
        ++seen;
        if (seen % 2 == 0)
            return FakeRule::fail(QString(), QNetworkReply::ConnectionRefusedError);
        const QString since = QUrlQuery(request.url()).queryItemValue(QStringLiteral("since"));
        return FakeRule::respond(
            QString(), 200, QStringLiteral(R"({"count": %1})").arg(since.toInt() + 1).toUtf8());
    }));
    ProtocolClient client(&fake);
    client.setBaseUrl(QUrl(FakeBase));

    ProtocolRequest *first
        = client.fetchCount(QStringLiteral("c"), PagingMode::Cursor, QStringLiteral("41"));
    QVERIFY(waitFinished(first));
    QCOMPARE(first->count(), qint64(42));
    ProtocolRequest *second
        = client.fetchCount(QStringLiteral("c"), PagingMode::Cursor, QStringLiteral("41"));
    QVERIFY(waitFinished(second));
    QCOMPARE(second->error().category, ErrorCategory::Network);
    QCOMPARE(seen, 2);
}

// Client against Qt's real HTTP stack -----------------------------------------------------

void TestProtocol::realConnectionRefused()
{
    QTcpServer probe;
    QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
    const quint16 port = probe.serverPort();
    probe.close(); // nothing listens there now

    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(QUrl(QStringLiteral("http://127.0.0.1:%1/api/v1").arg(port)));
    ProtocolRequest *request = client.fetchEntities();
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::Network);
    QCOMPARE(
        request->error().message,
        QStringLiteral("connection refused by 127.0.0.1:%1 — is the server running?").arg(port));
}

void TestProtocol::realNoResponse()
{
    RawHttpServer server(RawHttpServer::Mode::Silent, QByteArray());
    QVERIFY(server.listen());
    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(server.baseUrl());
    client.setTransferTimeout(300);

    ProtocolRequest *request = client.fetchEntities();
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::Network);
    QVERIFY2(request->error().message.startsWith(
                 QStringLiteral("no response from 127.0.0.1:%1 within 300 ms").arg(server.port())),
             qPrintable(request->error().message));
}

void TestProtocol::pageParsedAsideEndsOnce_data()
{
    QTest::addColumn<bool>("deleteIt");
    QTest::newRow("aborted") << false;
    QTest::newRow("deleted") << true;
}

// A page of changes is parsed on another thread: a request aborted or deleted at any moment
// of that still ends exactly once, and never touches what is gone (ASan watches).
void TestProtocol::pageParsedAsideEndsOnce()
{
    QFETCH(bool, deleteIt);
    const EntitySchema schema { QStringLiteral("customers"),
                                { { QStringLiteral("name"), FieldType::String },
                                  { QStringLiteral("visits"), FieldType::Int } } };
    QByteArray body = "{\"changes\":[";
    constexpr int Changes = 5000;
    for (int i = 0; i < Changes; ++i) {
        if (i > 0)
            body += ',';
        body += "{\"id\":\"c" + QByteArray::number(i)
            + "\",\"changedAt\":\"2025-03-14T09:26:53.123Z\",\"deleted\":false,"
              "\"data\":{\"name\":\"customer number "
            + QByteArray::number(i) + "\",\"visits\":" + QByteArray::number(i) + "}}";
    }
    body += "],\"cursor\":\"x\",\"hasMore\":false}";
    RawHttpServer server(RawHttpServer::Mode::Answer,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + QByteArray::number(body.size()) + "\r\n\r\n" + body);
    QVERIFY(server.listen());
    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(server.baseUrl());

    int completed = 0;
    int cut = 0;
    for (int round = 0; round < 40; ++round) {
        ChangesQuery query;
        query.limit = Changes;
        QPointer<ProtocolRequest> request = client.fetchChanges(schema, query);
        QSignalSpy finished(request.data(), &ProtocolRequest::finished);
        // The whole body read: from here on the page is being parsed, or parsed and on its way
        // back; each round cuts in a little later.
        QElapsedTimer wait;
        wait.start();
        while (request->bytesReceived() < body.size() && wait.elapsed() < 10000)
            QCoreApplication::processEvents();
        QCOMPARE(request->bytesReceived(), qint64(body.size()));
        wait.restart();
        while (wait.nsecsElapsed() < qint64(round % 8) * 250000)
            QCoreApplication::processEvents();
        if (deleteIt) {
            const bool wasFinished = request->isFinished();
            delete request.data();
            completed += wasFinished ? 1 : 0;
            cut += wasFinished ? 0 : 1;
            continue;
        }
        request->abort();
        QTRY_COMPARE(finished.count(), 1);
        QTest::qWait(5); // a second finished(), or a late page, would show here
        QCOMPARE(finished.count(), 1);
        if (request->error().isError()) {
            QCOMPARE(request->error().category, ErrorCategory::Aborted);
            QCOMPARE(request->page().size(), 0);
            ++cut;
        } else {
            QCOMPARE(request->page().size(), Changes);
            ++completed;
        }
        delete request.data();
    }
    qInfo("%d of 40 requests were cut while their page was parsed, %d had ended", cut, completed);
    QCOMPARE(cut + completed, 40);
}

void TestProtocol::realTruncatedBody()
{
    const QByteArray body = R"({"count": 12345})";
    RawHttpServer server(
        RawHttpServer::Mode::AnswerAndClose,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n"
        "Connection: close\r\n\r\n"
            + body);
    QVERIFY(server.listen());
    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(server.baseUrl());

    ProtocolRequest *request
        = client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString());
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::Network);
    QCOMPARE(
        request->error().message,
        QStringLiteral("GET /entities/customers/count: 127.0.0.1:%1 closed the connection after "
                       "16 of 400 bytes of the response")
            .arg(server.port()));
    QCOMPARE(request->count(), qint64(0));
}

void TestProtocol::realOversizeChunked()
{
    // Chunked transfer encoding: no Content-Length, so only counting the bytes can stop it.
    QByteArray response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n";
    const QByteArray piece = QByteArray(1000, ' ');
    response += QByteArray::number(piece.size(), 16) + "\r\n{\"count\": 1" + piece.mid(11) + "\r\n";
    for (int i = 0; i < 64; ++i)
        response += QByteArray::number(piece.size(), 16) + "\r\n" + piece + "\r\n";
    response += "1\r\n}\r\n0\r\n\r\n";

    RawHttpServer server(RawHttpServer::Mode::Answer, response);
    QVERIFY(server.listen());
    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(server.baseUrl());
    client.setMaxResponseSize(16 * 1024);

    ProtocolRequest *request
        = client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString());
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::Protocol);
    QVERIFY2(request->error().message.contains(QStringLiteral("response larger than 16384 bytes")),
             qPrintable(request->error().message));

    // Within the limit the same response parses (whitespace is valid JSON).
    client.setMaxResponseSize(response.size());
    ProtocolRequest *fits
        = client.fetchCount(QStringLiteral("customers"), PagingMode::Cursor, QString());
    QVERIFY(waitFinished(fits));
    QVERIFY2(fits->error().category == ErrorCategory::None, qPrintable(fits->error().message));
    QCOMPARE(fits->count(), qint64(1));
}

void TestProtocol::realRetryAfter()
{
    RawHttpServer server(
        RawHttpServer::Mode::Answer,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Retry-After: 12\r\nContent-Length: 27\r\n\r\n{\"error\": \"down for a bit\"}");
    QVERIFY(server.listen());
    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(server.baseUrl());

    ProtocolRequest *request = client.fetchEntities();
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::Network);
    QCOMPARE(request->error().httpStatus, 503);
    QCOMPARE(request->error().retryAfterSeconds, 12);
    QCOMPARE(request->error().message,
             QStringLiteral("GET /entities: server error (503): down for a bit"));
}

// Client against the reference server -----------------------------------------------------

void TestProtocol::serverEntities()
{
    Test::TestServer server;
    QVERIFY(server.start());
    const EntitySchema customers = server.addCustomers(10);

    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(server.baseUrl());
    ProtocolRequest *request = client.fetchEntities();
    QVERIFY(waitFinished(request));
    QVERIFY2(request->error().category == ErrorCategory::None,
             qPrintable(request->error().message));
    QVERIFY(request->entities().contains(customers));
}

void TestProtocol::serverCursorPaging()
{
    Test::TestServer server;
    QVERIFY(server.start());
    const EntitySchema customers = server.addCustomers(250, 7);
    QString storeError;
    QVERIFY2(server.store()->remove(customers.name,
                                    { server.store()->liveRecords(customers.name).keys().first() },
                                    &storeError),
             qPrintable(storeError));

    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(server.baseUrl());

    ProtocolRequest *count = client.fetchCount(customers.name, PagingMode::Cursor, QString());
    QVERIFY(waitFinished(count));
    QVERIFY2(count->error().category == ErrorCategory::None, qPrintable(count->error().message));
    // A record's latest change only: 249 upserts and one deletion.
    QCOMPARE(count->count(), qint64(250));

    QHash<QString, QVariantList> records;
    QString cursor;
    int pages = 0;
    qint64 changes = 0;
    bool hasMore = true;
    while (hasMore) {
        ProtocolRequest *request
            = client.fetchChanges(customers, ChangesQuery { PagingMode::Cursor, cursor, 0, 100 });
        QVERIFY(waitFinished(request));
        QVERIFY2(request->error().category == ErrorCategory::None,
                 qPrintable(request->error().message));
        const ChangePage &page = request->page();
        QVERIFY(page.changes.isEmpty());
        QVERIFY(page.size() <= 100);
        QVERIFY(!page.cursor.isEmpty());
        const QList<Change> pageChanges = page.packed.toChanges();
        for (const Change &change : pageChanges) {
            if (change.deleted)
                records.remove(change.id);
            else
                records.insert(change.id, change.values);
        }
        changes += page.size();
        cursor = page.cursor;
        hasMore = page.hasMore;
        request->deleteLater();
        QVERIFY(++pages < 10);
    }
    QCOMPARE(changes, qint64(250));
    QCOMPARE(records.size(), 249);
    QCOMPARE(records, server.store()->liveRecords(customers.name));

    // Caught up: nothing after the last cursor.
    ProtocolRequest *after = client.fetchCount(customers.name, PagingMode::Cursor, cursor);
    QVERIFY(waitFinished(after));
    QCOMPARE(after->count(), qint64(0));
}

void TestProtocol::serverOffsetPaging()
{
    Test::TestServer server;
    QVERIFY(server.start());
    const EntitySchema customers = server.addCustomers(120, 3);

    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(server.baseUrl());

    QSet<QString> ids;
    qint64 offset = 0;
    bool hasMore = true;
    QString lastChangedAt;
    while (hasMore) {
        ProtocolRequest *request = client.fetchChanges(
            customers, ChangesQuery { PagingMode::Offset, QString(), offset, 50 });
        QVERIFY(waitFinished(request));
        QVERIFY2(request->error().category == ErrorCategory::None,
                 qPrintable(request->error().message));
        for (const Change &change : request->page().changes) {
            QVERIFY(change.changedAt >= lastChangedAt); // ordered by changedAt
            lastChangedAt = change.changedAt;
            ids.insert(change.id);
        }
        offset += request->page().changes.size();
        hasMore = request->page().hasMore;
        QVERIFY(offset <= 120);
    }
    QCOMPARE(ids.size(), 120);

    // changedSince is strictly greater: nothing after the last changedAt.
    ProtocolRequest *count = client.fetchCount(customers.name, PagingMode::Offset, lastChangedAt);
    QVERIFY(waitFinished(count));
    QCOMPARE(count->count(), qint64(0));
}

void TestProtocol::serverAuth()
{
    Test::TestServer server;
    QVERIFY(server.start(QStringLiteral("t0ken")));
    server.addCustomers(5);

    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(server.baseUrl());

    ProtocolRequest *none = client.fetchEntities();
    QVERIFY(waitFinished(none));
    QCOMPARE(none->error().category, ErrorCategory::Auth);
    QCOMPARE(none->error().httpStatus, 401);
    QVERIFY2(
        none->error().message.startsWith(QStringLiteral("the server requires a token (401): ")),
        qPrintable(none->error().message));

    client.setToken(QStringLiteral("wrong"));
    ProtocolRequest *wrong = client.fetchEntities();
    QVERIFY(waitFinished(wrong));
    QCOMPARE(wrong->error().category, ErrorCategory::Auth);
    QVERIFY2(
        wrong->error().message.startsWith(QStringLiteral("the server refused the token (401): ")),
        qPrintable(wrong->error().message));

    client.setToken(QStringLiteral("t0ken"));
    ProtocolRequest *right = client.fetchEntities();
    QVERIFY(waitFinished(right));
    QVERIFY2(right->error().category == ErrorCategory::None, qPrintable(right->error().message));
    QCOMPARE(right->entities().size(), 1);
}

void TestProtocol::serverUnknownEntity()
{
    Test::TestServer server;
    QVERIFY(server.start());
    server.addCustomers(1);

    QNetworkAccessManager manager;
    ProtocolClient client(&manager);
    client.setBaseUrl(server.baseUrl());

    EntitySchema missing = customersSchema();
    missing.name = QStringLiteral("nosuchthing");
    ProtocolRequest *request = client.fetchChanges(missing, ChangesQuery {});
    QVERIFY(waitFinished(request));
    QCOMPARE(request->error().category, ErrorCategory::Request);
    QCOMPARE(request->error().httpStatus, 404);
    QVERIFY2(request->error().message.startsWith(
                 QStringLiteral("GET /entities/nosuchthing/changes: not found (404): ")),
             qPrintable(request->error().message));
    QVERIFY(!request->error().isTransient());
}

void TestProtocol::serverFaultInjection()
{
    // The fake network in front of the real server: the first count fails, the rest is real.
    Test::TestServer server;
    QVERIFY(server.start());
    const EntitySchema customers = server.addCustomers(30);

    FakeNetworkAccessManager fake;
    const int failing = fake.addRule(FakeRule::error("/count", 503, QStringLiteral("injected"))
                                         .withHeader("Retry-After", "1")
                                         .once());
    ProtocolClient client(&fake);
    client.setBaseUrl(server.baseUrl());

    ProtocolRequest *first = client.fetchCount(customers.name, PagingMode::Cursor, QString());
    QVERIFY(waitFinished(first));
    QCOMPARE(first->error().category, ErrorCategory::Network);
    QCOMPARE(first->error().retryAfterSeconds, 1);
    QVERIFY(first->error().message.contains(QStringLiteral("injected")));

    ProtocolRequest *second = client.fetchCount(customers.name, PagingMode::Cursor, QString());
    QVERIFY(waitFinished(second));
    QVERIFY2(second->error().category == ErrorCategory::None, qPrintable(second->error().message));
    QCOMPARE(second->count(), qint64(30));
    QCOMPARE(fake.hits(failing), 1);
    QCOMPARE(fake.requestCount(), 2);
    QCOMPARE(server.server()->requestsServed(), qint64(1));
}

void TestProtocol::serverPagesMatchTheOracle()
{
    // Real bodies from the reference server, read raw: parseChanges takes every page, with
    // the oracle's result.
    Test::TestServer server;
    QVERIFY(server.start());
    const EntitySchema customers = server.addCustomers(120, 11);
    QString storeError;
    QVERIFY2(server.store()->remove(customers.name,
                                    { server.store()->liveRecords(customers.name).keys().first() },
                                    &storeError),
             qPrintable(storeError));

    QNetworkAccessManager manager;
    QString cursor;
    int pages = 0;
    int changes = 0;
    for (bool hasMore = true; hasMore; ++pages) {
        QVERIFY(pages < 20);
        QUrl url(server.baseUrl().toString()
                 + QStringLiteral("/entities/%1/changes").arg(customers.name));
        QUrlQuery query;
        query.addQueryItem(QStringLiteral("since"), cursor);
        query.addQueryItem(QStringLiteral("limit"), QStringLiteral("50"));
        url.setQuery(query);
        QNetworkReply *reply = manager.get(QNetworkRequest(url));
        QSignalSpy finished(reply, &QNetworkReply::finished);
        QVERIFY(finished.wait(10000));
        const QByteArray body = reply->readAll();
        reply->deleteLater();
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);

        bool accepted = false;
        const QString problem = parityProblem(body, customers, 50, PagingMode::Cursor, &accepted);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY(accepted);
        ChangePage page;
        QString error;
        QVERIFY2(Protocol::parseChanges(body, customers, 50, PagingMode::Cursor, &page, &error),
                 qPrintable(error));
        changes += page.changes.size();
        cursor = page.cursor;
        hasMore = page.hasMore;
    }
    QCOMPARE(changes, 120); // a record's latest change only: 119 upserts, 1 deletion
}

QTEST_GUILESS_MAIN(TestProtocol)
#include "tst_protocol.moc"
