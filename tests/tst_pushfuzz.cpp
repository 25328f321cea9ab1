// Seeded hostile push bodies (POST /entities/{name}/changes) against the server on SQLite and
// on PostgreSQL: valid bodies built from a model of the table, then mutated (wrong types for
// every field, missing and unknown keys, duplicate keys, huge and exponent numbers, U+0000,
// invalid UTF-8, deep nesting, truncation, byte flips). Every answer must be 200, 400 or 413;
// a 400 or 413 changes nothing; a 200 has one result per change in order, a remembered
// changeId gets its first result, an applied change is in the table and the change feed at
// its version, and nothing else changed. The model, not the server, says what the table is.
// A failure prints the seed and the case; BATCHSYNC_TEST_SEED=<seed> repeats a run,
// BATCHSYNC_FUZZ_ITERATIONS=<n> changes the number of cases (1500 per backend by default).

#include "server/backend/values.h"
#include "server/push.h"
#include "testutil/pushbackends.h"
#include "testutil/pushfuzzer.h"
#include "testutil/pushoracle.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QtTest>
#include <cmath>
#include <memory>
#include <vector>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

const QString Database = QStringLiteral("bs_tst_pushfuzz");
const QString Entity = QStringLiteral("customers");

EntitySchema customers()
{
    return { Entity,
             { { QStringLiteral("name"), FieldType::String },
               { QStringLiteral("balance"), FieldType::Real },
               { QStringLiteral("active"), FieldType::Bool },
               { QStringLiteral("visits"), FieldType::Int },
               { QStringLiteral("since"), FieldType::DateTime } } };
}

// A record as the server must have it.
struct Record
{
    QString version; // empty: never existed
    bool deleted = false;
    QJsonObject data;
    bool live() const { return !version.isEmpty() && !deleted; }
};

QString preview(const QByteArray &body)
{
    QString text = QString::fromLatin1(body.left(400).toPercentEncoding("{}[]\":,. -_"));
    return body.size() > 400 ? text + QStringLiteral("... (%1 bytes)").arg(body.size()) : text;
}

} // namespace

class TstPushFuzz final : public QObject
{
    Q_OBJECT

private:
    int m_tests = 0;
    quint32 m_seed = 20261207;
    int m_iterations = 1500;
    std::unique_ptr<QNetworkAccessManager> m_nam;
    std::unique_ptr<PushBackend> m_backend;
    std::unique_ptr<SyncServer> m_server;

    // What the test knows of the server.
    QHash<QString, Record> m_model;
    QHash<QString, QJsonObject> m_remembered; // client + U+0001 + changeId → first result
    QStringList m_rememberedIds; // the changeIds in m_remembered
    QString m_cursor;
    qint64 m_lastVersion = 0;
    QString m_failure; // the first fault found in the case being checked
    bool m_pristine = false; // the case's body is as validBody() made it

    bool fail(const QString &what)
    {
        if (m_failure.isEmpty())
            m_failure = what;
        return false;
    }

    bool startBackend()
    {
        QFETCH(QString, backend);
        m_backend = std::make_unique<PushBackend>(backend, Database);
        if (!m_backend->isAvailable())
            return false;
        QString error;
        m_server = std::make_unique<SyncServer>();
        if (!m_backend->create(QStringLiteral("f%1").arg(++m_tests))
            || !m_backend->open(m_server.get(), &error) || m_server->listen() == 0
            || !m_server->backend()->addEntity(customers(), &error)) {
            qWarning("cannot start the server: %s", qPrintable(error));
            return false;
        }
        m_model.clear();
        m_remembered.clear();
        m_rememberedIds.clear();
        m_cursor.clear();
        m_lastVersion = 0;
        return true;
    }

    std::pair<int, QByteArray> post(const QByteArray &body)
    {
        std::unique_ptr<QNetworkReply> reply(
            postChanges(*m_nam, m_server->baseUrl(), Entity, body));
        QByteArray answer;
        const int status = finish(reply.get(), &answer);
        return { status, answer };
    }

    // The changes after the last cursor, read from the backend; moves the cursor to the end.
    std::optional<QJsonArray> feed()
    {
        int records = 0;
        QString error;
        const std::optional<QByteArray> page = m_server->backend()->changesJson(
            Entity, PagingMode::Cursor, m_cursor, 0, 10000, &records, &error);
        if (!page) {
            fail(QStringLiteral("the feed failed: ") + error);
            return std::nullopt;
        }
        const QJsonObject object = QJsonDocument::fromJson(*page).object();
        if (object.value("hasMore").toBool()) {
            fail(QStringLiteral("more than 10000 changes from one request"));
            return std::nullopt;
        }
        m_cursor = object.value("cursor").toString();
        return object.value("changes").toArray();
    }

    bool sameRecordData(const QJsonObject &expected, const QJsonObject &served)
    {
        for (const FieldSpec &field : customers().fields) {
            QJsonValue sent = expected.value(field.name);
            if (sent.isString() && !ServerValues::isStorableText(sent.toString()))
                sent = ServerValues::storableText(sent.toString());
            if (!sameValue(field.type, sent, served.value(field.name)))
                return false;
        }
        return true;
    }

    // Checks one result against the model, and applies it to the model.
    bool checkResult(const QString &client, const QJsonObject &change, const QJsonObject &result,
                     QSet<QString> *changed)
    {
        const QString changeId = change.value("changeId").toString();
        if (result.value("changeId").toString() != changeId)
            return fail(QStringLiteral("result for %1 instead of %2")
                            .arg(result.value("changeId").toString(), changeId));
        const QString key = client + QChar(1) + changeId;
        if (const auto remembered = m_remembered.constFind(key); remembered != m_remembered.cend())
            return *remembered == result
                || fail(QStringLiteral("changeId %1 seen before got a new result").arg(changeId));
        m_remembered.insert(key, result);
        m_rememberedIds.append(changeId);
        const QString status = result.value("status").toString();
        const QString invalid = invalidity(change, customers());
        if (status == QLatin1String("rejected")) {
            if (m_pristine)
                return fail(QStringLiteral("%1: a valid change rejected").arg(changeId));
            return !result.value("error").toString().isEmpty() || fail("a rejection without error");
        }
        if (!invalid.isEmpty())
            return fail(QStringLiteral("%1: %2 for a change with a wrong %3")
                            .arg(changeId, status, invalid));
        if (!change.value("id").isString() || change.value("id").toString().isEmpty())
            return fail(QStringLiteral("%1 for an id that is not a string").arg(status));
        const QString id = change.value("id").toString();
        const QJsonValue base = change.value("base");
        const bool deleted = change.value("deleted").toBool();
        Record &record = m_model[id];
        const bool shouldConflict
            = base.isNull() ? record.live() : !record.live() || record.version != base.toString();
        if (status == QLatin1String("conflict")) {
            if (!shouldConflict)
                return fail(QStringLiteral("%1: a conflict at its base").arg(changeId));
            const QJsonObject current = result.value("current").toObject();
            if (current.value("id").toString() != id
                || current.value("deleted").toBool() == record.live())
                return fail(QStringLiteral("%1: wrong current %2")
                                .arg(changeId, QString::fromUtf8(QJsonDocument(current).toJson())));
            if (record.live()
                && (current.value("version").toString() != record.version
                    || !sameRecordData(record.data, current.value("data").toObject())))
                return fail(QStringLiteral("%1: current is not the record").arg(changeId));
            if (!record.live() && current.contains("version"))
                return fail(QStringLiteral("%1: a version for no record").arg(changeId));
            return true;
        }
        if (status != QLatin1String("applied"))
            return fail(QStringLiteral("%1: status %2").arg(changeId, status));
        if (shouldConflict)
            return fail(QStringLiteral("%1: applied off its base").arg(changeId));
        const QString version = result.value("version").toString();
        if (deleted && base.isNull()) { // nothing live: changes nothing
            if (version != record.version)
                return fail(QStringLiteral("%1: a deletion of nothing got version %2")
                                .arg(changeId, version));
            return true;
        }
        if (version.toLongLong() <= m_lastVersion)
            return fail(QStringLiteral("%1: version %2 not after %3")
                            .arg(changeId, version)
                            .arg(m_lastVersion));
        if (!deleted && !change.value("data").isObject())
            return fail(QStringLiteral("%1: applied without data").arg(changeId));
        m_lastVersion = version.toLongLong();
        record = { version, deleted, deleted ? QJsonObject() : change.value("data").toObject() };
        changed->insert(id);
        return true;
    }

    // Checks the answer to \a body, the change feed and the table against the model.
    bool check(const QByteArray &body, int status, const QByteArray &answer)
    {
        m_failure.clear();
        if (status != 200 && status != 400 && status != 413)
            return fail(QStringLiteral("answered %1: %2")
                            .arg(status)
                            .arg(QString::fromUtf8(answer.left(300))));
        QSet<QString> changed;
        const QString shape = shapeProblem(body);
        if (status == 200 && !shape.isEmpty())
            return fail(QStringLiteral("200 for a body with %1").arg(shape));
        if (status == 400 && shape.isEmpty())
            return fail(QStringLiteral("400 for a body of the right shape"));
        if (status == 200) {
            const QJsonObject request = QJsonDocument::fromJson(qtReadable(body)).object();
            const QJsonArray changes = request.value("changes").toArray();
            const QJsonArray results
                = QJsonDocument::fromJson(answer).object().value("results").toArray();
            if (results.size() != changes.size())
                return fail(QStringLiteral("%1 results for %2 changes")
                                .arg(results.size())
                                .arg(changes.size()));
            const QString client = request.value("client").toString();
            for (qsizetype i = 0; i < changes.size(); ++i) {
                if (!checkResult(client, changes.at(i).toObject(), results.at(i).toObject(),
                                 &changed))
                    return false;
            }
        } else if (!QJsonDocument::fromJson(answer).object().value("error").isString()) {
            return fail(QStringLiteral("%1 without an error: %2")
                            .arg(status)
                            .arg(QString::fromUtf8(answer)));
        }
        const std::optional<QJsonArray> changes = feed();
        if (!changes)
            return false;
        QSet<QString> fed;
        for (const QJsonValue &value : *changes) {
            const QJsonObject change = value.toObject();
            const QString id = change.value("id").toString();
            fed.insert(id);
            const Record &record = m_model.value(id);
            if (change.value("version").toString() != record.version
                || change.value("deleted").toBool() != record.deleted
                || (!record.deleted
                    && !sameRecordData(record.data, change.value("data").toObject())))
                return fail(QStringLiteral("the feed has %1 as %2, not at version %3")
                                .arg(id,
                                     QString::fromUtf8(
                                         QJsonDocument(change).toJson(QJsonDocument::Compact)),
                                     record.version));
        }
        if (fed != changed)
            return fail(QStringLiteral("the feed changed %1 records, the results %2")
                            .arg(fed.size())
                            .arg(changed.size()));
        return checkTable();
    }

    bool checkTable()
    {
        const QHash<QString, QVariantList> live = m_server->backend()->liveRecords(Entity);
        qsizetype expected = 0;
        const EntitySchema schema = customers();
        for (auto it = m_model.cbegin(); it != m_model.cend(); ++it) {
            if (!it->live())
                continue;
            ++expected;
            const QVariantList values = live.value(it.key());
            if (values.size() != schema.fields.size())
                return fail(QStringLiteral("record %1 is not in the table").arg(it.key()));
            for (qsizetype i = 0; i < values.size(); ++i) {
                const FieldSpec &field = schema.fields.at(i);
                if (field.type == FieldType::DateTime || field.type == FieldType::String)
                    continue; // compared in the feed, in the protocol's form
                if (!sameValue(field.type, it->data.value(field.name),
                               QJsonValue::fromVariant(values.at(i))))
                    return fail(QStringLiteral("record %1's %2 is %3 in the table")
                                    .arg(it.key(), field.name, values.at(i).toString()));
            }
        }
        return live.size() == expected
            || fail(QStringLiteral("%1 live records, %2 expected").arg(live.size()).arg(expected));
    }

    // A valid request from the model: changes that apply, conflict, repeat a changeId.
    Json validBody(Fuzzer &fuzzer, int *counter)
    {
        const QString client = fuzzer.chance(50) ? QStringLiteral("fz-a") : QStringLiteral("fz-b");
        Json root = Json::object();
        root.add("client", Json::string(client));
        Json changes { Json::Kind::Array, {}, {}, {} };
        QHash<QString, Record> predicted = m_model;
        QStringList seen;
        for (int i = fuzzer.below(8) + 1; i > 0; --i) {
            const QString id = fuzzer.chance(3) ? QStringLiteral("id-%1").arg(++*counter)
                                                : QStringLiteral("r%1").arg(fuzzer.below(40));
            Record &record = predicted[id];
            QString changeId = QStringLiteral("k%1").arg(++*counter);
            if (fuzzer.chance(5) && !seen.isEmpty())
                changeId = seen.at(fuzzer.below(int(seen.size())));
            else if (fuzzer.chance(5) && !m_rememberedIds.isEmpty())
                changeId = m_rememberedIds.at(fuzzer.below(int(m_rememberedIds.size())));
            seen.append(changeId);
            const bool onBase = fuzzer.chance(75);
            const bool deleted = fuzzer.chance(20);
            Json base = Json::leaf("null");
            if (record.live() || !onBase)
                base = Json::string(onBase ? record.version : QString::number(fuzzer.below(50)));
            Json change = Json::object();
            change.add("changeId", Json::string(changeId))
                .add("id", Json::string(id))
                .add("base", base)
                .add("deleted", Json::leaf(deleted ? "true" : "false"));
            if (!deleted)
                change.add("data", fuzzer.data(customers()));
            if (onBase && (record.live() || !deleted)) // as it will be, for the next change
                record = { QStringLiteral("x%1").arg(*counter), deleted, {} };
            changes.items.push_back(std::move(change));
        }
        root.members.emplace_back("\"changes\"", std::move(changes));
        return root;
    }

    static void backends()
    {
        QTest::addColumn<QString>("backend");
        QTest::newRow("sqlite") << QStringLiteral("sqlite");
        QTest::newRow("postgres") << QStringLiteral("postgres");
    }

    static QByteArray edgeChange(const QByteArray &changeId, const QByteArray &id,
                                 const QByteArray &data, const QByteArray &extra = {})
    {
        return "{\"changeId\":" + changeId + ",\"id\":" + id + ",\"base\":null,\"deleted\":false"
            + extra + ",\"data\":" + data + '}';
    }

    static QByteArray edgeBody(const QList<QByteArray> &changes, const QByteArray &client = "\"e\"")
    {
        return "{\"client\":" + client + ",\"changes\":[" + changes.join(',') + "]}";
    }

    // Bodies at and beyond each limit, with the answer each must get: (name, body, status,
    // the statuses of its results).
    static QList<std::tuple<QByteArray, QByteArray, int, QStringList>> edges()
    {
        const auto visits = [](const QByteArray &changeId, const QByteArray &value) {
            return edgeChange('"' + changeId + '"', '"' + changeId + '"',
                              "{\"visits\":" + value + '}');
        };
        const auto balance = [](const QByteArray &changeId, const QByteArray &value) {
            return edgeChange('"' + changeId + '"', '"' + changeId + '"',
                              "{\"balance\":" + value + '}');
        };
        QList<QByteArray> many;
        for (int i = 0; i <= Push::MaxChanges; ++i)
            many.append(edgeChange("\"m" + QByteArray::number(i) + '"',
                                   "\"m" + QByteArray::number(i) + '"',
                                   "{\"visits\":" + QByteArray::number(i) + '}'));
        const QByteArray tooMany = edgeBody(many);
        many.removeLast();
        const QStringList applied { "applied" };
        const QStringList rejected { "rejected" };
        const QByteArray nulls = "{\"name\":null,\"balance\":null,\"active\":null,\"visits\":null,"
                                 "\"since\":null}";
        return {
            { "10,001 changes", tooMany, 400, {} },
            { "10,000 changes", edgeBody(many), 200, QStringList(Push::MaxChanges, "applied") },
            { "number 1.2.3", edgeBody({ visits("n1", "1.2.3") }), 400, {} },
            { "number 1e", edgeBody({ balance("n2", "1e") }), 400, {} },
            { "number as a key", "{\"client\":\"e\",1.5:2,\"changes\":[]}", 400, {} },
            { "number as a change's key",
              edgeBody({ edgeChange("\"n3\"", "\"n3\"", "{}", ",2.5:1") }),
              400,
              {} },
            { "int of 400 digits", edgeBody({ visits("i1", QByteArray(400, '9')) }), 200,
              rejected },
            { "real of 400 digits", edgeBody({ balance("i2", QByteArray(400, '9')) }), 200,
              rejected },
            { "real 1e400", edgeBody({ balance("i3", "1e400") }), 200, rejected },
            { "real -1e-400", edgeBody({ balance("i4", "-1e-400") }), 200, rejected },
            { "real of 25 digits", edgeBody({ balance("i5", QByteArray(25, '7')) }), 200, applied },
            { "int max", edgeBody({ visits("i6", "9223372036854775807") }), 200, applied },
            { "int min", edgeBody({ visits("i7", "-9223372036854775808") }), 200, applied },
            { "int max + 1", edgeBody({ visits("i8", "9223372036854775808") }), 200, rejected },
            { "int min - 1", edgeBody({ visits("i9", "-9223372036854775809") }), 200, rejected },
            { "int 1e2", edgeBody({ visits("i10", "1e2") }), 200, rejected },
            { "int 4.0", edgeBody({ visits("i11", "4.0") }), 200, rejected },
            { "bool 0 and 1",
              edgeBody({ edgeChange("\"b1\"", "\"b1\"", "{\"active\":0}"),
                         edgeChange("\"b2\"", "\"b2\"", "{\"active\":1}") }),
              200,
              { "rejected", "rejected" } },
            { "datetime malformed",
              edgeBody(
                  { edgeChange("\"d1\"", "\"d1\"", "{\"since\":\"2026-12-02T08:00:00Z\"}"),
                    edgeChange("\"d2\"", "\"d2\"", "{\"since\":\"2026-12-32T08:00:00.000Z\"}") }),
              200,
              { "rejected", "rejected" } },
            { "nulls everywhere", edgeBody({ edgeChange("\"z1\"", "\"z1\"", nulls) }), 200,
              applied },
            { "U+0000 and backslashes in identifiers",
              edgeBody({ edgeChange("\"a\\u0000\"", "\"u1\"", "{}"),
                         edgeChange("\"a\\\\0\"", "\"u2\"", "{}"),
                         edgeChange("\"a\\\\\\u0000\"", "\"u3\"", "{}"),
                         edgeChange("\"a\\u0000\"", "\"u4\"", "{}") },
                       "\"\\u0000c\\\\\""),
              200,
              { "applied", "applied", "applied", "applied" } },
            { "changeId with a lone surrogate",
              edgeBody({ edgeChange("\"\\udc00\"", "\"s1\"", "{}") }),
              400,
              {} },
            { "client with a lone surrogate",
              edgeBody({ edgeChange("\"s2\"", "\"s2\"", "{}") }, "\"\\ud800\""),
              400,
              {} },
            { "changeId of 128",
              edgeBody({ edgeChange('"' + QByteArray(128, 'c') + '"', "\"c1\"", "{}") }), 200,
              applied },
            { "changeId of 129",
              edgeBody({ edgeChange('"' + QByteArray(129, 'c') + '"', "\"c2\"", "{}") }),
              400,
              {} },
            { "id of 512 bytes",
              edgeBody(
                  { edgeChange("\"l1\"", '"' + QString(256, QChar(0xe9)).toUtf8() + '"', "{}") }),
              200, applied },
            { "id of 513 bytes",
              edgeBody(
                  { edgeChange("\"l2\"", '"' + QString(171, QChar(0x20ac)).toUtf8() + '"', "{}") }),
              200, rejected },
            { "id with U+0000", edgeBody({ edgeChange("\"l3\"", "\"x\\u0000\"", "{}") }), 200,
              rejected },
            { "nesting 100,000 deep", QByteArray(100000, '[') + QByteArray(100000, ']'), 400, {} },
            { "a field 500 deep",
              edgeBody({ balance("x1", QByteArray(500, '[') + QByteArray(500, ']')) }), 200,
              rejected },
            { "duplicate keys",
              edgeBody({ edgeChange("\"k1\"", "\"k1\"", "{}", ",\"deleted\":true,\"id\":\"k2\"") }),
              200,
              {} },
            { "a raw control character in a string",
              edgeBody(
                  { edgeChange("\"r1\"", "\"r1\"", QByteArray("{\"name\":\"\0001.5\"}", 15)) }),
              400,
              {} },
            { "changes 1e400", "{\"client\":\"e\",\"changes\":1e400}", 400, {} },
            { "unknown keys",
              "{\"client\":\"e\",\"x\":1,\"changes\":["
                  + edgeChange("\"k3\"", "\"k3\"", "{}", ",\"y\":[]") + "]}",
              200, applied },
        };
    }

private Q_SLOTS:
    void initTestCase()
    {
        bool ok = false;
        const quint32 seed = qEnvironmentVariable("BATCHSYNC_TEST_SEED").toUInt(&ok);
        if (ok)
            m_seed = seed;
        const int iterations = qEnvironmentVariableIntValue("BATCHSYNC_FUZZ_ITERATIONS", &ok);
        if (ok && iterations > 0)
            m_iterations = iterations;
    }

    void init()
    {
        m_nam = std::make_unique<QNetworkAccessManager>();
        m_nam->setProxy(QNetworkProxy::NoProxy);
    }

    void cleanup()
    {
        m_server.reset();
        m_backend.reset();
        m_nam.reset();
    }

    void hostileBodies_data() { backends(); }
    void hostileBodies()
    {
        if (!startBackend()) {
            QVERIFY(!PgTest::required());
            QSKIP("backend not available");
        }
        Fuzzer fuzzer(m_seed);
        int counter = 0;
        QHash<int, int> statuses;
        int mutated = 0;
        QElapsedTimer timer;
        timer.start();
        for (int iteration = 0; iteration < m_iterations; ++iteration) {
            Json root = validBody(fuzzer, &counter);
            const int mutations = fuzzer.chance(30) ? 0 : fuzzer.below(3) + 1;
            for (int i = 0; i < mutations; ++i)
                fuzzer.mutate(root);
            QByteArray body = root.text();
            m_pristine = mutations == 0;
            if (fuzzer.chance(15)) {
                m_pristine = false;
                body = fuzzer.mutateBytes(body);
                ++mutated;
            } else if (mutations > 0) {
                ++mutated;
            }
            const auto [status, answer] = post(body);
            ++statuses[status];
            if (!check(body, status, answer)) {
                // The whole body, for a look at what the message cuts short.
                QFile file(QDir::temp().filePath(QStringLiteral("tst_pushfuzz-failure.json")));
                if (file.open(QIODevice::WriteOnly))
                    file.write(body);
                m_failure += QStringLiteral(" (the body is in %1)").arg(file.fileName());
            }
            QVERIFY2(m_failure.isEmpty(),
                     qPrintable(
                         QStringLiteral("seed %1, case %2: %3; body: %4; answer: %5")
                             .arg(m_seed)
                             .arg(iteration)
                             .arg(m_failure, preview(body), QString::fromUtf8(answer.left(600)))));
        }
        qInfo().noquote() << QStringLiteral("%1: seed %2, %3 bodies (%4 mutated) in %5 ms: %6 "
                                            "answered 200, %7 400, %8 413; %9 records live")
                                 .arg(QString::fromLatin1(QTest::currentDataTag()))
                                 .arg(m_seed)
                                 .arg(m_iterations)
                                 .arg(mutated)
                                 .arg(timer.elapsed())
                                 .arg(statuses.value(200))
                                 .arg(statuses.value(400))
                                 .arg(statuses.value(413))
                                 .arg(m_server->backend()->liveCount(Entity));
    }

    void limits_data() { backends(); }
    void limits()
    {
        if (!startBackend()) {
            QVERIFY(!PgTest::required());
            QSKIP("backend not available");
        }
        for (const auto &[name, body, status, statuses] : edges()) {
            const auto [answered, answer] = post(body);
            m_pristine = false;
            QVERIFY2(check(body, answered, answer),
                     qPrintable(QStringLiteral("%1: %2; answer: %3")
                                    .arg(QString::fromUtf8(name), m_failure,
                                         QString::fromUtf8(answer.left(600)))));
            QVERIFY2(answered == status, name.constData());
            if (!statuses.isEmpty()) {
                QStringList got;
                for (const QJsonValue &result :
                     QJsonDocument::fromJson(answer).object().value("results").toArray())
                    got.append(result.toObject().value("status").toString());
                QVERIFY2(got == statuses,
                         qPrintable(QString::fromUtf8(name + ": " + answer.left(600))));
            }
        }
        // Sent again, the identifiers with U+0000 and backslashes get their own results back.
        const QByteArray again = edgeBody({ edgeChange("\"a\\\\0\"", "\"u2\"", "{}"),
                                            edgeChange("\"a\\u0000\"", "\"u1\"", "{}") },
                                          "\"\\u0000c\\\\\"");
        const auto [status, answer] = post(again);
        QVERIFY2(check(again, status, answer), qPrintable(m_failure));
    }
};

QTEST_GUILESS_MAIN(TstPushFuzz)
#include "tst_pushfuzz.moc"
