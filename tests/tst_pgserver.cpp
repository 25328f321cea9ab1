// The PostgreSQL backend's own cases: the safe watermark (a transaction that commits late is
// never skipped, in cursor and offset mode), several stateless servers on one database, a
// user's own table made syncable with batchsync_track() and synced by the real engine, numeric
// columns served and pushed as exact decimals, and batchsync-server --postgres. Needs
// BATCHSYNC_TEST_POSTGRES (see .ci/postgres): skips without it, fails without it under CI.

#include "common/timestamp.h"
#include "engine/syncengine.h"
#include "server/backend/pgserverstore.h"
#include "server/backend/serverstore.h"
#include "server/demodata.h"
#include "server/syncserver.h"
#include "testutil/localdb.h"
#include "testutil/pgtest.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkReply>
#include <QProcess>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QUrlQuery>
#include <QtTest>
#include <memory>

using namespace BatchSync;

namespace {

const QString Database = QStringLiteral("bs_tst_pgserver");

// A connection of its own, with transactions under the test's control: another client of
// the same database, as an application writing to it would be.
class Session
{
public:
    explicit Session(const QString &connection)
        : m_name(QStringLiteral("tst_pgserver-session-%1").arg(++s_sessions))
    {
        PgConnection parsed;
        QString error;
        if (!PgConnection::parse(connection, &parsed, &error)) {
            qWarning("Session: %s", qPrintable(error));
            return;
        }
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), m_name);
        db.setHostName(parsed.host);
        if (parsed.port > 0)
            db.setPort(parsed.port);
        db.setDatabaseName(parsed.databaseName);
        db.setUserName(parsed.userName);
        db.setPassword(parsed.password);
        db.setConnectOptions(parsed.options);
        if (!db.open())
            qWarning("Session: %s", qPrintable(db.lastError().text()));
        else
            exec(QStringLiteral("SET client_min_messages = warning"));
    }
    ~Session()
    {
        QSqlDatabase::database(m_name, false).close();
        QSqlDatabase::removeDatabase(m_name);
    }
    Q_DISABLE_COPY_MOVE(Session)

    bool exec(const QString &sql)
    {
        QSqlQuery query(QSqlDatabase::database(m_name, false));
        if (!query.exec(sql)) {
            qWarning("Session: %s: %s", qPrintable(sql), qPrintable(query.lastError().text()));
            return false;
        }
        return true;
    }

    QVariant value(const QString &sql)
    {
        QSqlQuery query(QSqlDatabase::database(m_name, false));
        if (!query.exec(sql) || !query.next()) {
            qWarning("Session: %s: %s", qPrintable(sql), qPrintable(query.lastError().text()));
            return QVariant();
        }
        return query.value(0);
    }

private:
    static inline int s_sessions = 0;
    QString m_name;
};

struct Page
{
    QStringList ids;
    QString cursor;
    QString lastChangedAt;
    bool hasMore = false;
};

Page parse(const QByteArray &body)
{
    Page page;
    const QJsonObject root = QJsonDocument::fromJson(body).object();
    for (const QJsonValue &change : root.value(QLatin1String("changes")).toArray()) {
        page.ids.append(change.toObject().value(QLatin1String("id")).toString());
        page.lastChangedAt = change.toObject().value(QLatin1String("changedAt")).toString();
    }
    page.cursor = root.value(QLatin1String("cursor")).toString();
    page.hasMore = root.value(QLatin1String("hasMore")).toBool();
    return page;
}

EntitySchema items()
{
    return { QStringLiteral("items"),
             { { QStringLiteral("label"), FieldType::String },
               { QStringLiteral("qty"), FieldType::Int } } };
}

QVariantMap item(int i)
{
    return { { QStringLiteral("label"), QStringLiteral("item %1").arg(i) },
             { QStringLiteral("qty"), qint64(i) } };
}

} // namespace

class TstPgServer final : public QObject
{
    Q_OBJECT

private:
    int m_tests = 0;
    int m_stores = 0;
    QString m_schema;
    QString m_connection;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<QNetworkAccessManager> m_nam;

    std::unique_ptr<PgServerStore> openStore()
    {
        auto store = std::make_unique<PgServerStore>(
            m_connection, QStringLiteral("tst_pgserver-%1").arg(++m_stores));
        QString error;
        if (!store->open(&error)) {
            qWarning("cannot open the store: %s", qPrintable(error));
            return nullptr;
        }
        return store;
    }

    QByteArray get(const QUrl &url, int *status = nullptr)
    {
        QNetworkRequest request(url);
        std::unique_ptr<QNetworkReply> reply(m_nam->get(request));
        QSignalSpy finished(reply.get(), &QNetworkReply::finished);
        if (!reply->isFinished() && !finished.wait(20000))
            return QByteArray();
        if (status)
            *status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        return reply->readAll();
    }

    QUrl changesUrl(const QUrl &base, const QString &entity, const QString &key,
                    const QString &since, int limit = 1000)
    {
        QUrl url = base;
        url.setPath(base.path() + QStringLiteral("/entities/%1/changes").arg(entity));
        QUrlQuery query;
        query.addQueryItem(QStringLiteral("limit"), QString::number(limit));
        if (!since.isEmpty())
            query.addQueryItem(key, QString::fromLatin1(QUrl::toPercentEncoding(since)));
        url.setQuery(query);
        return url;
    }

    /*
        Pages to the end from \a since as a client does, appending the ids served; returns
        where the next sync starts: the last cursor, or in offset mode (a fixed changedSince
        and a growing offset) the latest changedAt seen.
    */
    QString pageToEnd(ServerBackend *store, PagingMode mode, const QString &since, QStringList *ids)
    {
        QString error;
        QString cursor = since;
        QString latest = since;
        qint64 offset = 0;
        for (bool more = true; more;) {
            int records = 0;
            const std::optional<QByteArray> body = store->changesJson(
                QStringLiteral("items"), mode, mode == PagingMode::Cursor ? cursor : since, offset,
                3, &records, &error);
            if (!body) {
                qWarning("pageToEnd: %s", qPrintable(error));
                return QString();
            }
            const Page page = parse(*body);
            *ids += page.ids;
            more = page.hasMore;
            offset += records;
            cursor = page.cursor;
            if (page.lastChangedAt > latest)
                latest = page.lastChangedAt;
        }
        return mode == PagingMode::Cursor ? cursor : latest;
    }

    SyncSettings settingsFor(const QUrl &endpoint, PagingMode paging)
    {
        SyncSettings settings;
        settings.endpoint = endpoint;
        settings.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        settings.paging = paging;
        settings.batchSize = 100;
        settings.retryBaseDelayMs = 20;
        settings.retryMaxDelayMs = 200;
        settings.retryGiveUpMs = 2000;
        return settings;
    }

    bool sync(const SyncSettings &settings, QString *problem)
    {
        SyncEngine engine(settings);
        QSignalSpy finished(&engine, &SyncEngine::finished);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        engine.startAll();
        if (!finished.wait(60000)) {
            *problem = QStringLiteral("the sync did not finish");
            return false;
        }
        if (!failed.isEmpty()) {
            *problem = failed.first().at(2).toString();
            return false;
        }
        return true;
    }

private Q_SLOTS:
    void initTestCase()
    {
        const QString reason = Test::PgTest::unavailableReason();
        if (!reason.isEmpty()) {
            if (Test::PgTest::required())
                QFAIL(qPrintable(QStringLiteral("PostgreSQL is required under CI: ") + reason));
            QSKIP(qPrintable(QStringLiteral("PostgreSQL tests not run: ") + reason));
        }
    }

    void init()
    {
        m_schema = QStringLiteral("p%1").arg(++m_tests);
        m_connection = Test::PgTest::connection(Database, m_schema, true);
        QVERIFY(!m_connection.isEmpty());
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        m_nam = std::make_unique<QNetworkAccessManager>();
        m_nam->setProxy(QNetworkProxy::NoProxy);
    }

    void cleanup()
    {
        m_nam.reset();
        m_dir.reset();
        Test::PgTest::dropSchema(Database, m_schema);
    }

    void watermarkHoldsBackLateCommits_data()
    {
        QTest::addColumn<PagingMode>("mode");
        QTest::newRow("cursor") << PagingMode::Cursor;
        QTest::newRow("offset") << PagingMode::Offset;
    }

    void watermarkHoldsBackLateCommits()
    {
        QFETCH(PagingMode, mode);
        auto store = openStore();
        QVERIFY(store);
        QString error;
        QVERIFY2(store->addEntity(items(), &error), qPrintable(error));
        QList<std::pair<QString, QVariantMap>> batch;
        for (int i = 0; i < 5; ++i)
            batch.append({ QStringLiteral("r%1").arg(i), item(i) });
        QVERIFY2(store->upsert(QStringLiteral("items"), batch, &error), qPrintable(error));

        // Transaction A writes first (the lower sequence number and changedAt) and stays
        // open; B writes after it and commits.
        Session a(m_connection);
        Session b(m_connection);
        QVERIFY(a.exec(QStringLiteral("BEGIN")));
        QVERIFY(
            a.exec(QStringLiteral("INSERT INTO items(id, label, qty) VALUES ('late', 'A', 1)")));
        QTest::qWait(5); // a later millisecond for B
        QVERIFY(b.exec(QStringLiteral("BEGIN")));
        QVERIFY(
            b.exec(QStringLiteral("INSERT INTO items(id, label, qty) VALUES ('early', 'B', 2)")));
        QVERIFY(b.exec(QStringLiteral("COMMIT")));
        Session observer(m_connection);
        QVERIFY(
            observer.value(QStringLiteral("SELECT _bs_seq FROM items WHERE id = 'early'"))
                .toLongLong()
            > a.value(QStringLiteral("SELECT _bs_seq FROM items WHERE id = 'late'")).toLongLong());
        QVERIFY(observer.value(QStringLiteral("SELECT count(*) FROM items WHERE id = 'early'"))
                    .toLongLong()
                == 1); // B's row is committed and visible

        // A client pages to the end: B's row must wait for A, or A's would be skipped.
        QStringList ids;
        const QString position = pageToEnd(store.get(), mode, QString(), &ids);
        QCOMPARE(ids.size(), 5);
        QVERIFY2(!ids.contains(QStringLiteral("early")), qPrintable(ids.join(u' ')));
        QCOMPARE(store->count(QStringLiteral("items"), mode, QString(), &error), 5);
        QCOMPARE(store->count(QStringLiteral("items"), mode, position, &error), 0);
        // Again, and nothing moves while A is open.
        QStringList again;
        QCOMPARE(pageToEnd(store.get(), mode, position, &again), position);
        QVERIFY(again.isEmpty());

        QVERIFY(a.exec(QStringLiteral("COMMIT")));
        QStringList after;
        pageToEnd(store.get(), mode, position, &after);
        QCOMPARE(after, (QStringList { QStringLiteral("late"), QStringLiteral("early") }));
        QCOMPARE(store->count(QStringLiteral("items"), mode, position, &error), 2);
    }

    void sameJsonAsSqlite()
    {
        // The same data in both backends: the same bytes, but for the times of the changes
        // and the text of the cursors and versions (each backend numbers changes its own way).
        ServerStore sqlite(m_dir->filePath(QStringLiteral("same.sqlite")),
                           QStringLiteral("tst_pgserver-sqlite"));
        QString error;
        QVERIFY2(sqlite.open(&error), qPrintable(error));
        auto postgres = openStore();
        QVERIFY(postgres);
        QVERIFY2(DemoData::populate(&sqlite, 0.02, 3, &error), qPrintable(error));
        QVERIFY2(DemoData::populate(postgres.get(), 0.02, 3, &error), qPrintable(error));
        QCOMPARE(postgres->entities(), sqlite.entities());
        const QRegularExpression varying(
            QStringLiteral("\"(changedAt|cursor|version)\":\"[^\"]*\""));
        for (const EntitySchema &schema : sqlite.entities()) {
            for (const PagingMode mode : { PagingMode::Cursor, PagingMode::Offset }) {
                int records = 0;
                const std::optional<QByteArray> expected
                    = sqlite.changesJson(schema.name, mode, QString(), 0, 10000, &records, &error);
                QVERIFY2(expected, qPrintable(error));
                QVERIFY(records > 0);
                const std::optional<QByteArray> actual = postgres->changesJson(
                    schema.name, mode, QString(), 0, 10000, &records, &error);
                QVERIFY2(actual, qPrintable(error));
                if (mode == PagingMode::Offset) {
                    // Ordered by changedAt, then id: ties depend on the times of the writes.
                    QCOMPARE(QString::fromUtf8(*actual).replace(varying, QString()).size(),
                             QString::fromUtf8(*expected).replace(varying, QString()).size());
                    continue;
                }
                QCOMPARE(QString::fromUtf8(*actual).replace(varying, QString()),
                         QString::fromUtf8(*expected).replace(varying, QString()));
            }
            QCOMPARE(postgres->liveRecords(schema.name), sqlite.liveRecords(schema.name));
        }
    }

private:
    QJsonArray pushTo(const QUrl &base, const QString &entity, const QByteArray &changes)
    {
        QNetworkRequest request(QUrl(base.toString() + "/entities/" + entity + "/changes"));
        request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
        std::unique_ptr<QNetworkReply> reply(
            m_nam->post(request, "{\"client\":\"c\",\"changes\":[" + changes + "]}"));
        QSignalSpy finished(reply.get(), &QNetworkReply::finished);
        if (!reply->isFinished() && !finished.wait(20000))
            return QJsonArray();
        const QByteArray body = reply->readAll();
        if (reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt() != 200)
            qWarning("push: %s", body.constData());
        return QJsonDocument::fromJson(body).object().value(QLatin1String("results")).toArray();
    }

    static QByteArray pushChange(const QString &changeId, const QString &id, const QJsonValue &base,
                                 bool deleted, const QJsonObject &data)
    {
        QJsonObject change {
            { "changeId", changeId }, { "id", id }, { "base", base }, { "deleted", deleted }
        };
        if (!deleted)
            change.insert("data", data);
        return QJsonDocument(change).toJson(QJsonDocument::Compact);
    }

    static QStringList statuses(const QJsonArray &results)
    {
        QStringList list;
        for (const QJsonValue &result : results)
            list.append(result.toObject().value(QLatin1String("status")).toString());
        return list;
    }

private Q_SLOTS:
    void pushes()
    {
        // Versions in pages, and pushes decided against them, as on SQLite (tst_push).
        SyncServer server;
        QString error;
        QVERIFY2(server.openPostgres(m_connection, &error), qPrintable(error));
        QVERIFY(server.listen() > 0);
        ServerBackend *store = server.backend();
        QVERIFY(store->addEntity(items(), &error));
        QVERIFY(store->upsert(
            QStringLiteral("items"),
            { { QStringLiteral("a"), item(1) }, { QStringLiteral("b"), item(2) } }, &error));
        const auto pulled = [&](const QString &since) {
            return QJsonDocument::fromJson(get(changesUrl(server.baseUrl(), QStringLiteral("items"),
                                                          QStringLiteral("since"), since)))
                .object();
        };
        const QJsonArray changes = pulled(QString()).value(QLatin1String("changes")).toArray();
        const QString a = changes.at(0).toObject().value("version").toString();
        const QString b = changes.at(1).toObject().value("version").toString();
        QVERIFY2(a.toLongLong() > 0 && b.toLongLong() > a.toLongLong(), qPrintable(a + ' ' + b));
        const QString cursor = pulled(QString()).value(QLatin1String("cursor")).toString();

        const QJsonObject none;
        const QByteArray body = pushChange("1", "a", a, false, { { "label", "x" }, { "qty", 5 } })
            + ',' + pushChange("2", "b", QStringLiteral("1"), false, none) + ','
            + pushChange("3", "n", QJsonValue(), false, { { "qty", 7 } }) + ','
            + pushChange("4", "a", QJsonValue(), false, none) + ','
            + pushChange("5", "b", b, true, none) + ','
            + pushChange("6", "m", QJsonValue(), false, { { "qty", 4.5 } }) + ','
            + pushChange("7", "m", QJsonValue(), false,
                         { { "label", QStringLiteral("a") + QChar(0) } })
            + ',' + pushChange("1", "z", QJsonValue(), true, none);
        const QJsonArray results = pushTo(server.baseUrl(), QStringLiteral("items"), body);
        QCOMPARE(statuses(results),
                 QStringList({ "applied", "conflict", "applied", "conflict", "applied", "rejected",
                               "rejected", "applied" }));
        QCOMPARE(results.at(7), results.at(0)); // a changeId seen earlier in the request
        const QJsonObject current = results.at(1).toObject().value("current").toObject();
        QCOMPARE(current.value("version").toString(), b);
        QCOMPARE(current.value("data").toObject().value("qty").toInt(), 2);
        QCOMPARE(store->liveRecords(QStringLiteral("items")).value(QStringLiteral("a")),
                 QVariantList({ QStringLiteral("x"), qint64(5) }));
        QCOMPARE(store->liveCount(QStringLiteral("items")), 2); // a and n

        // Pulls see the pushed changes at the versions the results gave.
        QHash<QString, QString> versions;
        for (const QJsonValue &change : pulled(cursor).value(QLatin1String("changes")).toArray())
            versions.insert(change.toObject().value("id").toString(),
                            change.toObject().value("version").toString());
        QCOMPARE(versions.value("a"), results.at(0).toObject().value("version").toString());
        QCOMPARE(versions.value("n"), results.at(2).toObject().value("version").toString());
        QCOMPARE(versions.value("b"), results.at(4).toObject().value("version").toString());

        // Remembered across requests; a create over the deleted id applies.
        QCOMPARE(pushTo(server.baseUrl(), QStringLiteral("items"),
                        pushChange("3", "n", QJsonValue(), true, {}))
                     .at(0),
                 results.at(2));
        QCOMPARE(statuses(pushTo(server.baseUrl(), QStringLiteral("items"),
                                 pushChange("8", "b", QJsonValue(), false, { { "qty", 9 } }))),
                 QStringList({ "applied" }));

        // A user's table refuses what its columns cannot take: that change only is rejected.
        Session app(m_connection);
        QVERIFY(app.exec(QStringLiteral("CREATE TABLE orders(id integer PRIMARY KEY, "
                                        "amount integer NOT NULL CHECK (amount > 0))")));
        QCOMPARE(app.value(QStringLiteral("SELECT batchsync_track('orders')")).toString(),
                 QStringLiteral("orders"));
        const QJsonArray orders
            = pushTo(server.baseUrl(), QStringLiteral("orders"),
                     pushChange("o1", "7", QJsonValue(), false, { { "amount", 3 } }) + ','
                         + pushChange("o2", "x", QJsonValue(), false, { { "amount", 3 } }) + ','
                         + pushChange("o3", "8", QJsonValue(), false, { { "amount", 0 } }) + ','
                         + pushChange("o4", "9", QJsonValue(), false, {}));
        QCOMPARE(statuses(orders), QStringList({ "applied", "rejected", "rejected", "rejected" }));
        QCOMPARE(app.value(QStringLiteral("SELECT count(*) FROM orders")).toInt(), 1);
    }

    void decimals()
    {
        // numeric is served as decimal: PostgreSQL's own text, in a JSON string, never a double.
        Session app(m_connection);
        QVERIFY(app.exec(QStringLiteral("CREATE TABLE prices(id text PRIMARY KEY, "
                                        "amount numeric(38,10), loose numeric)")));
        QVERIFY(app.exec(QStringLiteral(
            "INSERT INTO prices VALUES ('big', '1234567890123456789012345678.1234567891', "
            "'-0.003'), ('tiny', '-0.0000000001', 'NaN'), "
            "('long', NULL, '1234567890123456789012345678901234567890')")));
        SyncServer server;
        QString error;
        QVERIFY2(server.openPostgres(m_connection, &error), qPrintable(error));
        QVERIFY(server.listen() > 0);
        QCOMPARE(app.value(QStringLiteral("SELECT batchsync_track('prices')")).toString(),
                 QStringLiteral("prices"));
        const std::optional<EntitySchema> schema
            = server.backend()->entity(QStringLiteral("prices"));
        QVERIFY(schema);
        QCOMPARE(schema->fields,
                 (QList<FieldSpec> { { QStringLiteral("amount"), FieldType::Decimal },
                                     { QStringLiteral("loose"), FieldType::Decimal } }));
        const QByteArray page = get(
            changesUrl(server.baseUrl(), QStringLiteral("prices"), QStringLiteral("since"), {}));
        QVERIFY2(page.contains(R"("data":{"amount":"1234567890123456789012345678.1234567891",)"
                               R"("loose":"-0.003"})"),
                 page.constData());
        // NaN and more than 38 digits are no decimal: served as null, not refused by clients.
        QVERIFY2(page.contains(R"("data":{"amount":"-0.0000000001","loose":null})"),
                 page.constData());
        QVERIFY2(page.contains(R"("data":{"amount":null,"loose":null})"), page.constData());

        // Synced by the real engine: the exact text in a TEXT column.
        const SyncSettings settings = settingsFor(server.baseUrl(), PagingMode::Cursor);
        QVERIFY2(sync(settings, &error), qPrintable(error));
        const QHash<QString, QVariantList> local
            = Test::localRecords(settings.databasePath, *schema);
        QCOMPARE(local.value(QStringLiteral("big")),
                 (QVariantList { QStringLiteral("1234567890123456789012345678.1234567891"),
                                 QStringLiteral("-0.003") }));

        // Pushes: only plain-notation strings, stored exactly through text.
        const QString exact = QStringLiteral("9876543210987654321098765432.0123456789");
        const QJsonArray results = pushTo(
            server.baseUrl(), QStringLiteral("prices"),
            pushChange("1", "pushed", QJsonValue(), false, { { "amount", exact } }) + ','
                + pushChange("2", "e", QJsonValue(), false, { { "amount", "1e3" } }) + ','
                + pushChange("3", "n", QJsonValue(), false, { { "amount", 12.5 } }) + ','
                + pushChange("4", "d", QJsonValue(), false,
                             { { "amount", "123456789012345678901234567890123456789" } })
                + ','
                // Valid, but more than numeric(38,10) holds: PostgreSQL refuses that change.
                + pushChange("5", "o", QJsonValue(), false,
                             { { "amount", "12345678901234567890123456789" } })
                + ',' + pushChange("6", "z", QJsonValue(), false, { { "loose", "-0" } }));
        QCOMPARE(
            statuses(results),
            QStringList({ "applied", "rejected", "rejected", "rejected", "rejected", "applied" }));
        QVERIFY2(results.at(1).toObject().value("error").toString().startsWith(
                     QStringLiteral("field amount: expected")),
                 qPrintable(results.at(1).toObject().value("error").toString()));
        QCOMPARE(app.value(QStringLiteral("SELECT amount::text FROM prices WHERE id = 'pushed'"))
                     .toString(),
                 exact);
        QCOMPARE(server.backend()->liveRecords(QStringLiteral("prices")).value("pushed"),
                 (QVariantList { exact, QVariant() }));

        // A field the server creates as decimal is a numeric column, served the same way.
        QVERIFY2(server.backend()->addEntity(
                     { QStringLiteral("fees"), { { QStringLiteral("rate"), FieldType::Decimal } } },
                     &error),
                 qPrintable(error));
        QCOMPARE(app.value(QStringLiteral("SELECT format_type(atttypid, NULL) FROM pg_attribute "
                                          "WHERE attrelid = 'fees'::regclass AND attname = 'rate'"))
                     .toString(),
                 QStringLiteral("numeric"));
        QVERIFY2(server.backend()->upsert(QStringLiteral("fees"), QStringLiteral("f"),
                                          { { QStringLiteral("rate"), QStringLiteral("0.0250") } },
                                          &error),
                 qPrintable(error));
        QVERIFY(!server.backend()->upsert(QStringLiteral("fees"), QStringLiteral("g"),
                                          { { QStringLiteral("rate"), 0.025 } }, &error));
        const QByteArray fees = get(
            changesUrl(server.baseUrl(), QStringLiteral("fees"), QStringLiteral("since"), {}));
        QVERIFY2(fees.contains(R"("data":{"rate":"0.0250"})"), fees.constData());

        // A catalogue from before decimals (numeric recorded as real) is served as decimal.
        QVERIFY(app.exec(QStringLiteral(
            "UPDATE _bs_entities SET fields = replace(fields, '\"decimal\"', '\"real\"') "
            "WHERE name = 'prices'")));
        QVERIFY(app.value(QStringLiteral("SELECT fields FROM _bs_entities WHERE name = 'prices'"))
                    .toString()
                    .contains(QStringLiteral("\"real\"")));
        SyncServer older;
        QVERIFY2(older.openPostgres(m_connection, &error), qPrintable(error));
        QCOMPARE(older.backend()->entity(QStringLiteral("prices"))->fields, schema->fields);
    }

    void severalStatelessServers()
    {
        // Two servers on one database: changes through one, pages through the other.
        SyncServer writer;
        SyncServer reader;
        QString error;
        QVERIFY2(writer.openPostgres(m_connection, &error), qPrintable(error));
        QVERIFY2(reader.openPostgres(m_connection, &error), qPrintable(error));
        QVERIFY(reader.listen() > 0);
        ServerBackend *store = writer.backend();

        // An entity the reader has never seen is found on request.
        QVERIFY(store->addEntity(items(), &error));
        QList<std::pair<QString, QVariantMap>> batch;
        for (int i = 0; i < 20; ++i)
            batch.append({ QStringLiteral("r%1").arg(i), item(i) });
        QVERIFY(store->upsert(QStringLiteral("items"), batch, &error));
        int status = 0;
        Page page = parse(get(changesUrl(reader.baseUrl(), QStringLiteral("items"),
                                         QStringLiteral("since"), QString(), 15),
                              &status));
        QCOMPARE(status, 200);
        QCOMPARE(page.ids.size(), 15);
        QVERIFY(page.hasMore);

        // A change made through the writer while a reader's client pages, and a late
        // transaction through a third connection: nothing skipped, nothing stale.
        QVERIFY(store->upsert(QStringLiteral("items"), QStringLiteral("r0"), item(100), &error));
        QVERIFY(store->remove(QStringLiteral("items"), { QStringLiteral("r19") }, &error));
        Session late(m_connection);
        QVERIFY(late.exec(QStringLiteral("BEGIN")));
        QVERIFY(late.exec(QStringLiteral("UPDATE items SET qty = 7 WHERE id = 'r1'")));
        QVERIFY(store->upsert(QStringLiteral("items"), QStringLiteral("r2"), item(200), &error));
        QStringList ids = page.ids;
        QString cursor = page.cursor;
        for (bool more = true; more;) {
            page = parse(get(changesUrl(reader.baseUrl(), QStringLiteral("items"),
                                        QStringLiteral("since"), cursor, 4)));
            ids += page.ids;
            cursor = page.cursor;
            more = page.hasMore;
        }
        QVERIFY2(!ids.mid(15).contains(QStringLiteral("r2")), qPrintable(ids.join(u' ')));
        QVERIFY(late.exec(QStringLiteral("COMMIT")));
        page = parse(get(changesUrl(reader.baseUrl(), QStringLiteral("items"),
                                    QStringLiteral("since"), cursor)));
        ids += page.ids;
        QCOMPARE(ids.mid(ids.size() - 2),
                 (QStringList { QStringLiteral("r1"), QStringLiteral("r2") }));
        QVERIFY(ids.contains(QStringLiteral("r0")));
        QVERIFY(ids.lastIndexOf(QStringLiteral("r19")) >= 15); // its tombstone

        // A field added through the writer shows in the reader's entity list.
        EntitySchema more = items();
        more.fields.append({ QStringLiteral("note"), FieldType::String });
        QVERIFY(store->addEntity(more, &error));
        const QJsonArray entities
            = QJsonDocument::fromJson(get(QUrl(reader.baseUrl().toString() + "/entities")))
                  .object()
                  .value(QLatin1String("entities"))
                  .toArray();
        QCOMPARE(entities.size(), 1);
        QCOMPARE(entities.first().toObject().value(QLatin1String("fields")).toArray().size(), 3);
        QCOMPARE(reader.backend()->liveRecords(QStringLiteral("items")),
                 store->liveRecords(QStringLiteral("items")));
    }

    void usersOwnTable_data()
    {
        QTest::addColumn<PagingMode>("mode");
        QTest::newRow("cursor") << PagingMode::Cursor;
        QTest::newRow("offset") << PagingMode::Offset;
    }

    void usersOwnTable()
    {
        QFETCH(PagingMode, mode);
        // A plain table with data, as an application has it; then the documented steps:
        // the server installs batchsync_track(), the user calls it.
        Session app(m_connection);
        QVERIFY(app.exec(
            QStringLiteral("CREATE TABLE products(id text PRIMARY KEY, name varchar(80) NOT NULL, "
                           "price numeric(10,2), stock integer, active boolean, added timestamptz, "
                           "picture bytea)")));
        QVERIFY(app.exec(QStringLiteral(
            "INSERT INTO products SELECT 'p' || i, 'Product ' || i, i * 1.25, i % 7, i % 2 = 0, "
            "timestamptz '2025-03-04 05:06:07.089+00' + i * interval '1 hour', NULL "
            "FROM generate_series(1, 250) i")));
        {
            auto installer = openStore(); // installs the functions into the schema
            QVERIFY(installer);
        }
        QCOMPARE(app.value(QStringLiteral("SELECT batchsync_track('products')")).toString(),
                 QStringLiteral("products"));

        SyncServer server;
        QString error;
        QVERIFY2(server.openPostgres(m_connection, &error), qPrintable(error));
        QVERIFY(server.listen() > 0);
        const std::optional<EntitySchema> schema
            = server.backend()->entity(QStringLiteral("products"));
        QVERIFY(schema);
        QStringList fields;
        for (const FieldSpec &field : schema->fields)
            fields.append(field.name + u':' + fieldTypeName(field.type));
        QCOMPARE(fields,
                 (QStringList { QStringLiteral("name:string"), QStringLiteral("price:decimal"),
                                QStringLiteral("stock:int"), QStringLiteral("active:bool"),
                                QStringLiteral("added:datetime") }));

        const SyncSettings settings = settingsFor(server.baseUrl(), mode);
        QVERIFY2(sync(settings, &error), qPrintable(error));
        QHash<QString, QVariantList> live
            = server.backend()->liveRecords(QStringLiteral("products"));
        QCOMPARE(live.size(), 250);
        QString difference = Test::differences(settings.databasePath, *schema, live);
        QVERIFY2(difference.isEmpty(), qPrintable(difference));
        const QVariantList p3
            = Test::localRecords(settings.databasePath, *schema).value(QStringLiteral("p3"));
        QCOMPARE(p3,
                 (QVariantList { QStringLiteral("Product 3"), QStringLiteral("3.75"), qint64(3),
                                 false, QStringLiteral("2025-03-04T08:06:07.089Z") }));

        // The application goes on with plain SQL; the next sync follows.
        QVERIFY(app.exec(QStringLiteral("UPDATE products SET price = 99.5, stock = NULL "
                                        "WHERE id IN ('p1', 'p2')")));
        QVERIFY(app.exec(QStringLiteral("DELETE FROM products WHERE id IN ('p3', 'p4')")));
        QVERIFY(app.exec(QStringLiteral("INSERT INTO products(id, name) VALUES ('new1', 'New')")));
        QVERIFY(app.exec(QStringLiteral("DELETE FROM products WHERE id = 'p5'")));
        QVERIFY(app.exec(QStringLiteral("INSERT INTO products(id, name) VALUES ('p5', 'Back')")));
        QVERIFY(app.exec(QStringLiteral("UPDATE products SET id = 'p6b' WHERE id = 'p6'")));
        QVERIFY2(sync(settings, &error), qPrintable(error));
        live = server.backend()->liveRecords(QStringLiteral("products"));
        QCOMPARE(live.size(), 249);
        QVERIFY(!live.contains(QStringLiteral("p3")) && !live.contains(QStringLiteral("p6")));
        // numeric(10,2) keeps its scale: the exact text PostgreSQL holds.
        QCOMPARE(live.value(QStringLiteral("p1")).at(1), QVariant(QStringLiteral("99.50")));
        QVERIFY(live.value(QStringLiteral("p1")).at(2).isNull());
        QCOMPARE(live.value(QStringLiteral("p5")).at(0), QVariant(QStringLiteral("Back")));
        difference = Test::differences(settings.databasePath, *schema, live);
        QVERIFY2(difference.isEmpty(), qPrintable(difference));

        // A table without a unique id column is refused with a reason.
        QVERIFY(app.exec(QStringLiteral("CREATE TABLE loose(id text, x int)")));
        QTest::ignoreMessage(QtWarningMsg,
                             QRegularExpression(QStringLiteral("primary key or unique")));
        QVERIFY(!app.exec(QStringLiteral("SELECT batchsync_track('loose')")));
    }

    void serverBinary()
    {
        const QString binary = QStringLiteral(BATCHSYNC_SERVER_BIN);
        QProcess process;
        process.start(binary,
                      { QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                        QStringLiteral("--postgres"), m_connection, QStringLiteral("--demo-scale"),
                        QStringLiteral("0.01"), QStringLiteral("--verbose") });
        QTRY_VERIFY_WITH_TIMEOUT(process.canReadLine() || process.state() == QProcess::NotRunning,
                                 60000);
        const QString line = QString::fromUtf8(process.readLine()).trimmed();
        QVERIFY2(line.startsWith(QLatin1String("Serving protocol v1 at http://127.0.0.1:")),
                 qPrintable(line + QString::fromUtf8(process.readAllStandardError())));
        const QUrl url(line.section(u' ', -1));
        int status = 0;
        QUrl count = url;
        count.setPath(url.path() + QStringLiteral("/entities/orders/count"));
        const QByteArray body = get(count, &status);
        QCOMPARE(status, 200);
        QCOMPARE(QJsonDocument::fromJson(body).object().value(QLatin1String("count")).toInt(), 500);
        // One log line per request: method, path and query, status, bytes, milliseconds.
        QByteArray log;
        QTRY_VERIFY_WITH_TIMEOUT(
            (log += process.readAllStandardError()).contains("/api/v1/entities/orders/count"),
            10000);
        QVERIFY2(QRegularExpression(QStringLiteral("GET /api/v1/entities/orders/count 200 \\d+ "
                                                   "bytes [0-9.]+ ms"))
                     .match(QString::fromUtf8(log))
                     .hasMatch(),
                 log.constData());
        process.terminate();
        QVERIFY(process.waitForFinished(30000));
        QCOMPARE(process.exitCode(), 0);

        // Nothing listens on port 1: a clear message, exit code 1.
        QProcess bad;
        bad.start(binary,
                  { QStringLiteral("--postgres"),
                    QStringLiteral("host=127.0.0.1 port=1 dbname=shop user=sync"),
                    QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0") });
        QVERIFY(bad.waitForFinished(30000));
        QCOMPARE(bad.exitCode(), 1);
        const QByteArray message = bad.readAllStandardError();
        QVERIFY2(
            message.startsWith("batchsync-server: cannot connect to PostgreSQL (host=127.0.0.1 "
                               "port=1 dbname=shop user=sync)"),
            message.constData());

        QProcess help;
        help.start(binary, { QStringLiteral("--help") });
        QVERIFY(help.waitForFinished(30000));
        const QByteArray text = help.readAllStandardOutput();
        for (const char *expected : { "--postgres", "--verbose", "batchsync.protocol",
                                      "batchsync.store", "batchsync.engine", "batchsync.server" })
            QVERIFY2(text.contains(expected), expected);
    }
};

QTEST_GUILESS_MAIN(TstPgServer)
#include "tst_pgserver.moc"
