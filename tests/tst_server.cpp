// The reference server: its backend (sequence, tombstones, counts, paging, JSON) and
// SyncServer over real HTTP on an ephemeral port, EmbeddedServer, and batchsync-server.
// On SQLite (ServerStore), or on PostgreSQL (PgServerStore) with BATCHSYNC_TEST_BACKEND=postgres
// and BATCHSYNC_TEST_POSTGRES set (the ctest entry tst_server_postgres; see .ci/postgres).

#include "common/identifier.h"
#include "common/timestamp.h"
#include "server/backend/pginstall.h"
#include "server/backend/pgserverstore.h"
#include "server/backend/serverstore.h"
#include "server/demodata.h"
#include "server/syncserver.h"
#include "sources/protocol/protocolparser.h"
#include "testutil/pgtest.h"
#include "testutil/testserver.h"

#include <QElapsedTimer>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkReply>
#include <QProcess>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStringDecoder>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QUrlQuery>
#include <QtTest>
#include <cmath>
#include <limits>
#include <memory>

using namespace BatchSync;

namespace {

// Which backend the store and HTTP tests run on.
bool usePostgres()
{
    static const bool postgres
        = qEnvironmentVariable("BATCHSYNC_TEST_BACKEND") == QLatin1String("postgres");
    return postgres;
}

const QString PgDatabase = QStringLiteral("bs_tst_server");
QString g_httpConnection; // PostgreSQL: the current test's schema, for its HTTP servers

#define SQLITE_ONLY()                                                                              \
    if (usePostgres())                                                                             \
    QSKIP("SQLite only: the PostgreSQL backend has its own case in tst_pgserver")

struct Page
{
    bool ok = false;
    QString problem;
    QList<QJsonObject> changes;
    bool hasCursor = false;
    QString cursor;
    bool hasMore = false;
};

Page parsePage(const QByteArray &body)
{
    Page page;
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(body, &error);
    if (error.error != QJsonParseError::NoError || !document.isObject()) {
        page.problem = QStringLiteral("not a JSON object: %1: %2")
                           .arg(error.errorString(), QString::fromUtf8(body.left(200)));
        return page;
    }
    const QJsonObject root = document.object();
    if (!root.value(QLatin1String("changes")).isArray()
        || !root.value(QLatin1String("hasMore")).isBool()) {
        page.problem = QStringLiteral("no changes array or hasMore: %1")
                           .arg(QString::fromUtf8(body.left(200)));
        return page;
    }
    for (const QJsonValue &change : root.value(QLatin1String("changes")).toArray())
        page.changes.append(change.toObject());
    page.hasCursor = root.contains(QLatin1String("cursor"));
    page.cursor = root.value(QLatin1String("cursor")).toString();
    page.hasMore = root.value(QLatin1String("hasMore")).toBool();
    page.ok = true;
    return page;
}

bool isValidUtf8(const QByteArray &bytes)
{
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    const QString text = decoder(bytes);
    return !decoder.hasError();
}

EntitySchema everyType(const QString &name = QStringLiteral("things"))
{
    return { name,
             { { QStringLiteral("text"), FieldType::String },
               { QStringLiteral("count"), FieldType::Int },
               { QStringLiteral("amount"), FieldType::Real },
               { QStringLiteral("flag"), FieldType::Bool },
               { QStringLiteral("at"), FieldType::DateTime } } };
}

QVariantMap thing(int i)
{
    return { { QStringLiteral("text"), QStringLiteral("thing %1").arg(i) },
             { QStringLiteral("count"), qint64(i) },
             { QStringLiteral("amount"), i * 0.25 },
             { QStringLiteral("flag"), i % 2 == 0 },
             { QStringLiteral("at"),
               QStringLiteral("2025-01-02T03:04:05.%1Z").arg(i % 1000, 3, 10, QLatin1Char('0')) } };
}

// Strings that JSON writers get wrong. Not among them: a leading U+FEFF, which SQLite's UTF-16
// interface (all QSQLITE offers) drops, and the text both backends repair before storing it
// (lone surrogates, U+FFFE, U+FFFF: storeRepairsUnstorableText).
QStringList hostileStrings()
{
    QString controls;
    for (char16_t c = 0; c < 0x20; ++c)
        controls += QChar(c);
    QStringList strings {
        QStringLiteral("plain"),
        QString(),
        QStringLiteral("quote \" inside \"\""),
        QStringLiteral("back\\slash \\\\ and \\\" and \\u0041"),
        QStringLiteral("new\nline\ttab\rreturn\bback\fform"),
        controls,
        QStringLiteral("del \x7f and </script> and \\/"),
        QStringLiteral("été, Łódź, 中文, ☃"),
        QStringLiteral("emoji 😀👍🏽 and flags 🇩🇪"),
        QStringLiteral("separators \u2028 \u2029"),
        QStringLiteral("inner \uFEFF zero-width no-break space"),
        QStringLiteral("a") + QChar(0) + QStringLiteral("b (embedded NUL)"),
        QString(5000, QChar(u'x')) + QStringLiteral("\"long\""),
    };
    // PostgreSQL text cannot hold U+0000 (storeJsonEscaping checks the refusal). A leading
    // U+FEFF is lost there too: Qt's QPSQL driver drops it when it reads text.
    if (usePostgres()) {
        strings.removeAt(11);
        strings[5].remove(QChar(0));
    }
    return strings;
}

QUrl endpoint(const QUrl &base, const QString &path,
              const QList<std::pair<QString, QString>> &query = {})
{
    QUrl url = base;
    url.setPath(base.path() + path);
    if (!query.isEmpty()) {
        QUrlQuery q;
        for (const auto &[key, value] : query)
            q.addQueryItem(key, QString::fromLatin1(QUrl::toPercentEncoding(value)));
        url.setQuery(q);
    }
    return url;
}

struct Reply
{
    int status = 0; // 0: no HTTP answer
    QByteArray body;
    QByteArray contentType;
    QNetworkReply::NetworkError error = QNetworkReply::NoError;
};

/*
    Test::TestServer on the backend under test: a temporary SQLite database, or a fresh
    PostgreSQL schema (g_httpConnection).
*/
class BackendServer
{
public:
    bool start(const QString &token = QString())
    {
        if (!usePostgres())
            return m_sqlite.start(token);
        QString error;
        if (!m_server.backend() && !m_server.openPostgres(g_httpConnection, &error)) {
            qWarning("BackendServer: %s", qPrintable(error));
            return false;
        }
        m_server.setToken(token);
        if (m_server.port() == 0 && m_server.listen(QHostAddress::LocalHost, 0) == 0) {
            qWarning("BackendServer: cannot listen: %s", qPrintable(m_server.errorString()));
            return false;
        }
        return true;
    }

    SyncServer *server() { return usePostgres() ? &m_server : m_sqlite.server(); }
    ServerBackend *store() { return server()->backend(); }
    QUrl baseUrl() { return server()->baseUrl(); }

    // As Test::TestServer::addCustomers, on either backend.
    EntitySchema addCustomers(int records, quint32 seed = 1,
                              const QString &name = QStringLiteral("customers"))
    {
        if (!usePostgres())
            return m_sqlite.addCustomers(records, seed, name);
        const EntitySchema schema { name,
                                    { { QStringLiteral("name"), FieldType::String },
                                      { QStringLiteral("balance"), FieldType::Real },
                                      { QStringLiteral("active"), FieldType::Bool },
                                      { QStringLiteral("visits"), FieldType::Int },
                                      { QStringLiteral("since"), FieldType::DateTime } } };
        QString error;
        if (!store() || !store()->addEntity(schema, &error)) {
            qWarning("BackendServer::addCustomers: %s",
                     store() ? qPrintable(error) : "not started");
            return schema;
        }
        QRandomGenerator random(seed);
        QList<std::pair<QString, QVariantMap>> batch;
        const qint64 start = QDateTime(QDate(2020, 1, 1), QTime(0, 0), Qt::UTC).toMSecsSinceEpoch();
        for (int i = 0; i < records; ++i) {
            const QVariantMap data {
                { QStringLiteral("name"), QStringLiteral("Customer %1").arg(i) },
                { QStringLiteral("balance"), std::round(random.bounded(10000.0) * 100.0) / 100.0 },
                { QStringLiteral("active"), random.bounded(2) == 1 },
                { QStringLiteral("visits"), qint64(random.bounded(1000)) },
                { QStringLiteral("since"),
                  Timestamp::format(QDateTime::fromMSecsSinceEpoch(
                      start + qint64(random.bounded(1.0e11)), Qt::UTC)) },
            };
            batch.append({ Test::TestServer::randomId(random), data });
        }
        if (!store()->upsert(name, batch, &error))
            qWarning("BackendServer::addCustomers: %s", qPrintable(error));
        return schema;
    }

private:
    Test::TestServer m_sqlite;
    SyncServer m_server;
};

// The cursor's order: numbers in SQLite, "xid.seq" pairs in PostgreSQL.
std::pair<qint64, qint64> cursorKey(const QString &cursor)
{
    const qsizetype dot = cursor.indexOf(u'.');
    if (dot < 0)
        return { 0, cursor.toLongLong() };
    return { cursor.left(dot).toLongLong(), cursor.mid(dot + 1).toLongLong() };
}

// A backend whose every read and write fails with one error: the HTTP status must follow the
// error's type, whatever its message says.
class FailingBackend final : public ServerBackend
{
public:
    FailingBackend(ServerError::Type type, const QString &message)
        : ServerBackend(QStringLiteral("tst_server-failing"))
        , m_type(type)
        , m_message(message)
    {
    }

    bool open(QString *error) override
    {
        auto entity = std::make_unique<ServedEntity>();
        entity->schema = { QStringLiteral("things"), {} };
        addServedEntity(std::move(entity));
        return finishOpen(QString(), error);
    }
    bool upsert(const QString &, const QList<std::pair<QString, QVariantMap>> &,
                QString *error) override
    {
        return fail(m_type, m_message, error);
    }
    bool remove(const QString &, const QStringList &, QString *error) override
    {
        return fail(m_type, m_message, error);
    }

protected:
    std::optional<qint64> countChanges(ServedEntity *, PagingMode, const QString &,
                                       const RowConditions &, QString *error) const override
    {
        fail(m_type, m_message, error);
        return std::nullopt;
    }
    std::optional<QByteArray> page(ServedEntity *, PagingMode, const QString &, qint64, int,
                                   const RowConditions &, int *, QString *error) const override
    {
        fail(m_type, m_message, error);
        return std::nullopt;
    }
    bool addChecked(const EntitySchema &, QString *error) override
    {
        return fail(m_type, m_message, error);
    }
    QString liveRecordsSql(const ServedEntity &) const override { return QString(); }
    QString liveCountSql(const ServedEntity &) const override { return QString(); }

private:
    ServerError::Type m_type;
    QString m_message;
};

} // namespace

class TstServer final : public QObject
{
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<QNetworkAccessManager> m_nam;
    int m_stores = 0;
    int m_tests = 0;
    QStringList m_schemas; // PostgreSQL: the current test's, dropped after it

    // The backend under test; \a path names a database (a schema in PostgreSQL).
    std::unique_ptr<ServerBackend> openStore(const QString &path = QString())
    {
        const QString file
            = path.isEmpty() ? m_dir->filePath(QStringLiteral("store.sqlite")) : path;
        std::unique_ptr<ServerBackend> store;
        if (usePostgres()) {
            const QString schema = QStringLiteral("t%1_%2").arg(m_tests).arg(
                QFileInfo(file).baseName().toLower().remove(
                    QRegularExpression(QStringLiteral("[^a-z0-9]"))));
            const bool fresh = !m_schemas.contains(schema);
            const QString connection = Test::PgTest::connection(PgDatabase, schema, fresh);
            if (connection.isEmpty())
                return nullptr;
            if (fresh)
                m_schemas.append(schema);
            store = std::make_unique<PgServerStore>(
                connection, QStringLiteral("tst_server-%1").arg(++m_stores));
        } else {
            store = std::make_unique<ServerStore>(file,
                                                  QStringLiteral("tst_server-%1").arg(++m_stores));
        }
        QString error;
        if (!store->open(&error)) {
            qWarning("cannot open the store: %s", qPrintable(error));
            return nullptr;
        }
        return store;
    }

    Reply get(const QUrl &url, const QByteArray &authorization = QByteArray(),
              const QByteArray &verb = QByteArrayLiteral("GET"))
    {
        QNetworkRequest request(url);
        if (!authorization.isEmpty())
            request.setRawHeader("Authorization", authorization);
        std::unique_ptr<QNetworkReply> reply(
            verb == "GET" ? m_nam->get(request) : m_nam->sendCustomRequest(request, verb));
        QSignalSpy finished(reply.get(), &QNetworkReply::finished);
        Reply result;
        if (!reply->isFinished() && !finished.wait(20000))
            return result;
        result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        result.body = reply->readAll();
        result.contentType = reply->header(QNetworkRequest::ContentTypeHeader).toByteArray();
        result.error = reply->error();
        return result;
    }

    // The cursor after the first \a changes changes of \a entity.
    QString cursorAt(ServerBackend *store, const QString &entity, int changes)
    {
        if (changes == 0)
            return QStringLiteral("0");
        int records = 0;
        QString error;
        const std::optional<QByteArray> body = store->changesJson(
            entity, PagingMode::Cursor, QString(), 0, changes, &records, &error);
        if (!body || records != changes) {
            qWarning("cursorAt %d: %d records, %s", changes, records, qPrintable(error));
            return QString();
        }
        return parsePage(*body).cursor;
    }

    QString errorOf(const Reply &reply)
    {
        return QJsonDocument::fromJson(reply.body)
            .object()
            .value(QLatin1String("error"))
            .toString();
    }

private Q_SLOTS:
    void initTestCase()
    {
        if (!usePostgres())
            return;
        const QString reason = Test::PgTest::unavailableReason();
        if (!reason.isEmpty()) {
            if (Test::PgTest::required())
                QFAIL(qPrintable(QStringLiteral("PostgreSQL is required under CI: ") + reason));
            QSKIP(qPrintable(QStringLiteral("PostgreSQL tests not run: ") + reason));
        }
    }

    void init()
    {
        ++m_tests;
        if (usePostgres()) {
            g_httpConnection = Test::PgTest::connection(
                PgDatabase, QStringLiteral("t%1_http").arg(m_tests), true);
            QVERIFY(!g_httpConnection.isEmpty());
            m_schemas.append(QStringLiteral("t%1_http").arg(m_tests));
        }
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        m_nam = std::make_unique<QNetworkAccessManager>();
        m_nam->setProxy(QNetworkProxy::NoProxy);
    }

    void cleanup()
    {
        m_nam.reset();
        m_dir.reset();
        for (const QString &schema : std::as_const(m_schemas))
            Test::PgTest::dropSchema(PgDatabase, schema);
        m_schemas.clear();
    }

    // ---- ServerStore ---------------------------------------------------------------------

    void storeSequenceAdvancesOnUpdate()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        QVERIFY2(store->addEntity(everyType(), &error), qPrintable(error));
        QVERIFY2(store->upsert(QStringLiteral("things"),
                               { { QStringLiteral("a"), thing(1) },
                                 { QStringLiteral("b"), thing(2) },
                                 { QStringLiteral("c"), thing(3) } },
                               &error),
                 qPrintable(error));
        QCOMPARE(store->count(QStringLiteral("things"), PagingMode::Cursor, QString(), &error), 3);

        int records = -1;
        Page page = parsePage(*store->changesJson(QStringLiteral("things"), PagingMode::Cursor,
                                                  QString(), 0, 10, &records, &error));
        QVERIFY2(page.ok, qPrintable(page.problem));
        QCOMPARE(records, 3);
        QCOMPARE(page.changes.size(), 3);
        const QString third = page.cursor;
        if (!usePostgres())
            QCOMPARE(third, QStringLiteral("3"));
        QVERIFY(!page.hasMore);
        QCOMPARE(page.changes.at(0).value(QLatin1String("id")).toString(), QStringLiteral("a"));

        // An update moves the record after the cursor, with its new data.
        QVariantMap changed = thing(1);
        changed[QStringLiteral("text")] = QStringLiteral("changed");
        QVERIFY2(store->upsert(QStringLiteral("things"), QStringLiteral("a"), changed, &error),
                 qPrintable(error));
        QCOMPARE(store->count(QStringLiteral("things"), PagingMode::Cursor, third, &error), 1);
        QCOMPARE(store->count(QStringLiteral("things"), PagingMode::Cursor, QString(), &error), 3);
        page = parsePage(*store->changesJson(QStringLiteral("things"), PagingMode::Cursor, third, 0,
                                             10, &records, &error));
        QCOMPARE(page.changes.size(), 1);
        QCOMPARE(page.changes.at(0).value(QLatin1String("id")).toString(), QStringLiteral("a"));
        QCOMPARE(page.changes.at(0)
                     .value(QLatin1String("data"))
                     .toObject()
                     .value(QLatin1String("text"))
                     .toString(),
                 QStringLiteral("changed"));
        const QString fourth = page.cursor;
        if (!usePostgres())
            QCOMPARE(fourth, QStringLiteral("4"));
        QVERIFY(cursorKey(third) < cursorKey(fourth));

        // The whole log now lists b, c, a: each record once, in change order.
        page = parsePage(*store->changesJson(QStringLiteral("things"), PagingMode::Cursor,
                                             QString(), 0, 10, &records, &error));
        QStringList ids;
        for (const QJsonObject &change : std::as_const(page.changes))
            ids.append(change.value(QLatin1String("id")).toString());
        QCOMPARE(ids,
                 (QStringList { QStringLiteral("b"), QStringLiteral("c"), QStringLiteral("a") }));

        // An empty page hands back the cursor it was given; from the start that is "0".
        page = parsePage(*store->changesJson(QStringLiteral("things"), PagingMode::Cursor, fourth,
                                             0, 10, &records, &error));
        QCOMPARE(page.changes.size(), 0);
        QCOMPARE(page.cursor, fourth);
        QVERIFY(!page.hasMore);
        QVERIFY2(store->addEntity({ QStringLiteral("empty"), {} }, &error), qPrintable(error));
        page = parsePage(*store->changesJson(QStringLiteral("empty"), PagingMode::Cursor, QString(),
                                             0, 10, &records, &error));
        QCOMPARE(page.cursor, QStringLiteral("0"));
        QCOMPARE(records, 0);
    }

    void storeTombstones()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        QVERIFY(store->addEntity(everyType(), &error));
        QVERIFY(store->upsert(
            QStringLiteral("things"),
            { { QStringLiteral("a"), thing(1) }, { QStringLiteral("b"), thing(2) } }, &error));
        QVERIFY2(store->remove(QStringLiteral("things"), { QStringLiteral("a") }, &error),
                 qPrintable(error));
        QCOMPARE(store->liveCount(QStringLiteral("things")), 1);
        QCOMPARE(store->liveRecords(QStringLiteral("things")).keys(),
                 QStringList { QStringLiteral("b") });
        QCOMPARE(store->count(QStringLiteral("things"), PagingMode::Cursor, QString(), &error), 2);
        const QString second = cursorAt(store.get(), QStringLiteral("things"), 1);
        QCOMPARE(store->count(QStringLiteral("things"), PagingMode::Cursor, second, &error), 1);

        int records = 0;
        Page page = parsePage(*store->changesJson(QStringLiteral("things"), PagingMode::Cursor,
                                                  second, 0, 10, &records, &error));
        QVERIFY2(page.ok, qPrintable(page.problem));
        QCOMPARE(page.changes.size(), 1);
        const QJsonObject tombstone = page.changes.first();
        QCOMPARE(tombstone.value(QLatin1String("id")).toString(), QStringLiteral("a"));
        QCOMPARE(tombstone.value(QLatin1String("deleted")), QJsonValue(true));
        QVERIFY(!tombstone.contains(QLatin1String("data")));
        QVERIFY(Timestamp::isValid(tombstone.value(QLatin1String("changedAt")).toString()));
        const QString third = page.cursor;
        if (!usePostgres())
            QCOMPARE(third, QStringLiteral("3"));

        // Deleting again, or deleting what never existed, changes nothing.
        QVERIFY(store->remove(QStringLiteral("things"),
                              { QStringLiteral("a"), QStringLiteral("never") }, &error));
        QCOMPARE(store->count(QStringLiteral("things"), PagingMode::Cursor, third, &error), 0);
        QCOMPARE(store->liveCount(QStringLiteral("things")), 1);

        // A deleted id can come back.
        QVERIFY(store->upsert(QStringLiteral("things"), QStringLiteral("a"), thing(5), &error));
        page = parsePage(*store->changesJson(QStringLiteral("things"), PagingMode::Cursor, third, 0,
                                             10, &records, &error));
        QCOMPARE(page.changes.size(), 1);
        QCOMPARE(page.changes.first().value(QLatin1String("deleted")), QJsonValue(false));
        QCOMPARE(page.changes.first()
                     .value(QLatin1String("data"))
                     .toObject()
                     .value(QLatin1String("count"))
                     .toInt(),
                 5);
        QCOMPARE(store->liveCount(QStringLiteral("things")), 2);
    }

    void storeChangedAtMonotonicInProtocolForm()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        QVERIFY(store->addEntity(everyType(), &error));
        const QDateTime before = QDateTime::currentDateTimeUtc().addMSecs(-1);
        for (int round = 0; round < 20; ++round) {
            QList<std::pair<QString, QVariantMap>> batch;
            for (int i = 0; i < 50; ++i)
                batch.append({ QStringLiteral("r%1").arg((round * 31 + i * 7) % 300), thing(i) });
            QVERIFY2(store->upsert(QStringLiteral("things"), batch, &error), qPrintable(error));
            if (round % 5 == 0)
                QVERIFY(store->remove(QStringLiteral("things"),
                                      { QStringLiteral("r%1").arg(round) }, &error));
        }
        const QDateTime after = QDateTime::currentDateTimeUtc().addMSecs(1);
        int records = 0;
        const Page page = parsePage(*store->changesJson(
            QStringLiteral("things"), PagingMode::Cursor, QString(), 0, 10000, &records, &error));
        QVERIFY2(page.ok, qPrintable(page.problem));
        QVERIFY(records > 100);
        QString previous;
        for (const QJsonObject &change : page.changes) {
            const QString changedAt = change.value(QLatin1String("changedAt")).toString();
            QVERIFY2(Timestamp::isValid(changedAt), qPrintable(changedAt));
            QCOMPARE(changedAt.size(), 24);
            QVERIFY2(changedAt >= previous,
                     qPrintable(previous + QLatin1String(" > ") + changedAt));
            const QDateTime time = Timestamp::parse(changedAt);
            QVERIFY(time >= before && time <= after);
            previous = changedAt;
        }
    }

    void storeCountBothModes()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        QVERIFY(store->addEntity(everyType(), &error));
        QList<std::pair<QString, QVariantMap>> batch;
        for (int i = 0; i < 40; ++i)
            batch.append({ QStringLiteral("r%1").arg(i), thing(i) });
        QVERIFY(store->upsert(QStringLiteral("things"), batch, &error));
        QVERIFY(store->remove(QStringLiteral("things"), { QStringLiteral("r0") }, &error));

        const QString entity = QStringLiteral("things");
        QCOMPARE(store->count(entity, PagingMode::Cursor, QString(), &error), 40);
        QCOMPARE(store->count(entity, PagingMode::Cursor, QStringLiteral("0"), &error), 40);
        // 40 changes: r1..r39, then r0's tombstone.
        QCOMPARE(
            store->count(entity, PagingMode::Cursor, cursorAt(store.get(), entity, 37), &error), 3);
        QCOMPARE(
            store->count(entity, PagingMode::Cursor, cursorAt(store.get(), entity, 40), &error), 0);
        if (usePostgres()) {
            QCOMPARE(
                store->count(entity, PagingMode::Cursor, QStringLiteral("999999999.1"), &error), 0);
        } else {
            QCOMPARE(cursorAt(store.get(), entity, 37), QStringLiteral("38"));
            QCOMPARE(store->count(entity, PagingMode::Cursor, QStringLiteral("0041"), &error), 0);
            QCOMPARE(store->count(entity, PagingMode::Cursor, QStringLiteral("999999"), &error), 0);
        }

        int records = 0;
        const Page all = parsePage(
            *store->changesJson(entity, PagingMode::Offset, QString(), 0, 100, &records, &error));
        const QString first = all.changes.first().value(QLatin1String("changedAt")).toString();
        const QString last = all.changes.last().value(QLatin1String("changedAt")).toString();
        QCOMPARE(store->count(entity, PagingMode::Offset, QString(), &error), 40);
        QCOMPARE(
            store->count(entity, PagingMode::Offset, Timestamp::previousMillisecond(first), &error),
            40);
        QCOMPARE(store->count(entity, PagingMode::Offset, last, &error), 0);
        QCOMPARE(store->count(entity, PagingMode::Offset,
                              QStringLiteral("2000-01-01T00:00:00.000Z"), &error),
                 40);

        QStringList badCursors { QStringLiteral("abc"), QStringLiteral("-1"), QStringLiteral(" 1"),
                                 QStringLiteral("+1"), QStringLiteral("99999999999999999999") };
        // "1.5" is a cursor's form in PostgreSQL ("xid.seq"), a bare number is not.
        badCursors += usePostgres()
            ? QStringList { QStringLiteral("5"), QStringLiteral("1.5.5"), QStringLiteral("1."),
                            QStringLiteral(".5"), QStringLiteral("1.-5") }
            : QStringList { QStringLiteral("1.5") };
        for (const QString &bad : std::as_const(badCursors)) {
            error.clear();
            QVERIFY2(!store->count(entity, PagingMode::Cursor, bad, &error), qPrintable(bad));
            QCOMPARE(error, QStringLiteral("invalid cursor"));
            QCOMPARE(store->lastError().type, ServerError::Type::BadRequest);
            QVERIFY(!store->changesJson(entity, PagingMode::Cursor, bad, 0, 10, &records, &error));
            QCOMPARE(error, QStringLiteral("invalid cursor"));
            QCOMPARE(store->lastError().type, ServerError::Type::BadRequest);
        }
        for (const QString &bad :
             { QStringLiteral("yesterday"), QStringLiteral("2025-01-01T00:00:00Z"),
               QStringLiteral("2025-02-29T00:00:00.000Z") }) {
            error.clear();
            QVERIFY2(!store->count(entity, PagingMode::Offset, bad, &error), qPrintable(bad));
            QVERIFY(error.contains(QLatin1String("changedSince")));
            QCOMPARE(store->lastError().type, ServerError::Type::BadRequest);
        }
        error.clear();
        QVERIFY(!store->count(QStringLiteral("nothing"), PagingMode::Cursor, QString(), &error));
        QCOMPARE(error, QStringLiteral("no entity named \"nothing\""));
        QCOMPARE(store->lastError().type, ServerError::Type::NotFound);
        QCOMPARE(store->lastError().message, error);
    }

    void storeKeysetPagingSurvivesUpdates_data()
    {
        QTest::addColumn<bool>("changeBetweenPages");
        QTest::newRow("quiet") << false;
        QTest::newRow("changes between pages") << true;
    }

    void storeKeysetPagingSurvivesUpdates()
    {
        QFETCH(bool, changeBetweenPages);
        auto store = openStore();
        QVERIFY(store);
        QString error;
        const QString entity = QStringLiteral("things");
        QVERIFY(store->addEntity(everyType(), &error));
        QList<std::pair<QString, QVariantMap>> batch;
        QRandomGenerator random(7);
        for (int i = 0; i < 1000; ++i)
            batch.append({ Test::TestServer::randomId(random), thing(i) });
        QVERIFY(store->upsert(entity, batch, &error));
        QCOMPARE(store->count(entity, PagingMode::Cursor, QString(), &error), 1000);

        // Replays the log the way a client does: apply in order, upsert or delete by id.
        QHash<QString, QVariantMap> replica;
        QHash<QString, int> seen;
        QString cursor;
        int pages = 0;
        int served = 0;
        int created = 0;
        QSet<QString> changedAfterSeen;
        for (bool more = true; more; ++pages) {
            int records = 0;
            const Page page = parsePage(
                *store->changesJson(entity, PagingMode::Cursor, cursor, 0, 97, &records, &error));
            QVERIFY2(page.ok, qPrintable(page.problem));
            QCOMPARE(records, page.changes.size());
            QVERIFY(records <= 97);
            served += records;
            for (const QJsonObject &change : page.changes) {
                const QString id = change.value(QLatin1String("id")).toString();
                ++seen[id];
                if (change.value(QLatin1String("deleted")).toBool())
                    replica.remove(id);
                else
                    replica.insert(id,
                                   change.value(QLatin1String("data")).toObject().toVariantMap());
            }
            QVERIFY(!page.cursor.isEmpty());
            QVERIFY(cursorKey(page.cursor) > cursorKey(cursor) || records == 0);
            cursor = page.cursor;
            more = page.hasMore;
            QCOMPARE(more,
                     store->count(entity, PagingMode::Cursor, cursor, &error).value_or(-1) > 0);
            if (changeBetweenPages && pages < 8) {
                // Change some records already served and some not yet, delete one, add one.
                const QStringList ids = replica.keys();
                const QString served1 = ids.at(pages * 3 % ids.size());
                QVariantMap data = thing(5000 + pages);
                QVERIFY(store->upsert(entity, served1, data, &error));
                changedAfterSeen.insert(served1);
                QVERIFY(store->upsert(entity, batch.at(999 - pages).first, data, &error));
                QVERIFY(store->remove(entity, { ids.at((pages * 7 + 1) % ids.size()) }, &error));
                QVERIFY(store->upsert(entity, QStringLiteral("new-%1").arg(pages), thing(pages),
                                      &error));
                ++created;
            }
        }
        QVERIFY(pages >= 11);

        // The replica equals the server, and nothing was missed.
        const QHash<QString, QVariantList> live = store->liveRecords(entity);
        QCOMPARE(qint64(live.size()), store->liveCount(entity));
        QCOMPARE(replica.size(), live.size());
        for (auto it = live.cbegin(); it != live.cend(); ++it) {
            QVERIFY2(replica.contains(it.key()), qPrintable(it.key()));
            const QVariantMap &data = replica.value(it.key());
            QCOMPARE(data.value(QStringLiteral("text")).toString(), it.value().at(0).toString());
            QCOMPARE(data.value(QStringLiteral("count")).toLongLong(),
                     it.value().at(1).toLongLong());
        }
        for (const auto &[id, data] : std::as_const(batch)) {
            Q_UNUSED(data)
            QVERIFY2(seen.value(id) >= 1, qPrintable(id));
            if (!changeBetweenPages)
                QCOMPARE(seen.value(id), 1);
        }
        if (!changeBetweenPages) {
            QCOMPARE(served, 1000);
        } else {
            // Records changed after they were served came again, after the cursor.
            for (const QString &id : std::as_const(changedAfterSeen))
                QVERIFY2(seen.value(id) >= 2, qPrintable(id));
            for (int i = 0; i < created; ++i)
                QVERIFY(seen.contains(QStringLiteral("new-%1").arg(i)));
        }
    }

    void storeOffsetModeOrdersByChangedAtThenId()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        const QString entity = QStringLiteral("things");
        QVERIFY(store->addEntity(everyType(), &error));
        QRandomGenerator random(11);
        for (int round = 0; round < 3; ++round) {
            QList<std::pair<QString, QVariantMap>> batch;
            for (int i = 0; i < 300; ++i)
                batch.append({ Test::TestServer::randomId(random), thing(i) });
            QVERIFY(store->upsert(entity, batch, &error));
        }

        QList<std::pair<QString, QString>> order; // (changedAt, id)
        qint64 offset = 0;
        for (bool more = true; more;) {
            int records = 0;
            const Page page = parsePage(*store->changesJson(entity, PagingMode::Offset, QString(),
                                                            offset, 64, &records, &error));
            QVERIFY2(page.ok, qPrintable(page.problem));
            QVERIFY2(!page.hasCursor, "offset mode pages carry no cursor");
            for (const QJsonObject &change : page.changes) {
                order.append({ change.value(QLatin1String("changedAt")).toString(),
                               change.value(QLatin1String("id")).toString() });
            }
            offset += records;
            more = page.hasMore;
        }
        QCOMPARE(order.size(), 900);
        QSet<QString> ids;
        QSet<QString> times;
        for (qsizetype i = 0; i < order.size(); ++i) {
            ids.insert(order.at(i).second);
            times.insert(order.at(i).first);
            if (i > 0)
                QVERIFY2(order.at(i - 1) < order.at(i), qPrintable(order.at(i).second));
        }
        QCOMPARE(ids.size(), 900);
        QVERIFY2(times.size() < 900, "bulk writes share changedAt values: ties are expected");

        // Strictly after changedSince: a client resuming from the last changedAt it applied,
        // minus a millisecond, sees every tied change again.
        const QString lastTime = order.last().first;
        const qint64 tied = std::count_if(order.cbegin(), order.cend(), [&](const auto &entry) {
            return entry.first == lastTime;
        });
        QCOMPARE(store->count(entity, PagingMode::Offset, Timestamp::previousMillisecond(lastTime),
                              &error),
                 tied);
        int records = 0;
        const Page tail = parsePage(*store->changesJson(entity, PagingMode::Offset,
                                                        Timestamp::previousMillisecond(lastTime), 0,
                                                        10000, &records, &error));
        QCOMPARE(qint64(records), tied);
        QCOMPARE(tail.changes.last().value(QLatin1String("id")).toString(), order.last().second);
    }

    void storeRejectsHostileNames_data()
    {
        QTest::addColumn<QString>("entity");
        QTest::addColumn<QString>("field");
        QTest::newRow("sql in entity")
            << QStringLiteral("x; DROP TABLE _bs_entities") << QStringLiteral("a");
        QTest::newRow("quote in entity") << QStringLiteral("a\"b") << QStringLiteral("a");
        QTest::newRow("reserved entity") << QStringLiteral("_bs_entities") << QStringLiteral("a");
        QTest::newRow("sqlite entity") << QStringLiteral("sqlite_master") << QStringLiteral("a");
        QTest::newRow("empty entity") << QString() << QStringLiteral("a");
        QTest::newRow("digit first") << QStringLiteral("1abc") << QStringLiteral("a");
        QTest::newRow("space") << QStringLiteral("a b") << QStringLiteral("a");
        QTest::newRow("non-ascii") << QStringLiteral("naïve") << QStringLiteral("a");
        QTest::newRow("65 chars") << QString(65, QChar(u'a')) << QStringLiteral("a");
        QTest::newRow("sql in field")
            << QStringLiteral("ok") << QStringLiteral("a TEXT); DROP TABLE ok; --");
        QTest::newRow("field id") << QStringLiteral("ok") << QStringLiteral("id");
        QTest::newRow("field ID") << QStringLiteral("ok") << QStringLiteral("ID");
        QTest::newRow("field underscore") << QStringLiteral("ok") << QStringLiteral("_seq");
        QTest::newRow("field empty") << QStringLiteral("ok") << QString();
    }

    void storeRejectsHostileNames()
    {
        QFETCH(QString, entity);
        QFETCH(QString, field);
        auto store = openStore();
        QVERIFY(store);
        QString error;
        QVERIFY(!store->addEntity({ entity, { { field, FieldType::String } } }, &error));
        QVERIFY(!error.isEmpty());
        QVERIFY(store->entities().isEmpty());
        // The catalogue survived.
        QVERIFY2(store->addEntity(everyType(), &error), qPrintable(error));
        QCOMPARE(store->entities().size(), 1);
    }

    void storeRejectsClashingNames()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        QVERIFY(!store->addEntity({ QStringLiteral("e"),
                                    { { QStringLiteral("Name"), FieldType::String },
                                      { QStringLiteral("name"), FieldType::Int } } },
                                  &error));
        QVERIFY(error.contains(QLatin1String("twice")));
        QCOMPARE(store->lastError().type, ServerError::Type::BadRequest);
        QVERIFY(store->addEntity(everyType(), &error));
        QVERIFY(!store->addEntity(everyType(QStringLiteral("THINGS")), &error));
        QVERIFY(error.contains(QLatin1String("clashes")));
        QCOMPARE(store->lastError().type, ServerError::Type::Conflict);
        // Field names the bookkeeping columns use are fine: fields have their own columns.
        QVERIFY2(store->addEntity({ QStringLiteral("tricky"),
                                    { { QStringLiteral("seq"), FieldType::Int },
                                      { QStringLiteral("deleted"), FieldType::Bool },
                                      { QStringLiteral("changed_at"), FieldType::String } } },
                                  &error),
                 qPrintable(error));
        QVERIFY2(store->upsert(QStringLiteral("tricky"), QStringLiteral("x"),
                               { { QStringLiteral("seq"), 99 },
                                 { QStringLiteral("deleted"), true },
                                 { QStringLiteral("changed_at"), QStringLiteral("never") } },
                               &error),
                 qPrintable(error));
        int records = 0;
        const Page page = parsePage(*store->changesJson(
            QStringLiteral("tricky"), PagingMode::Cursor, QString(), 0, 10, &records, &error));
        QCOMPARE(page.cursor, cursorAt(store.get(), QStringLiteral("tricky"), 1));
        if (!usePostgres())
            QCOMPARE(page.cursor, QStringLiteral("1"));
        QCOMPARE(page.changes.first().value(QLatin1String("deleted")), QJsonValue(false));
        QCOMPARE(page.changes.first()
                     .value(QLatin1String("data"))
                     .toObject()
                     .value(QLatin1String("seq"))
                     .toInt(),
                 99);
    }

    void storeValidatesValues()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        const QString entity = QStringLiteral("things");
        QVERIFY(store->addEntity(everyType(), &error));
        QVERIFY(store->upsert(entity, QStringLiteral("first"), thing(1), &error));

        const QList<std::pair<QString, QVariant>> bad = {
            { QStringLiteral("nosuchfield"), 1 },
            { QStringLiteral("count"), QStringLiteral("12") },
            { QStringLiteral("count"), 1.5 },
            { QStringLiteral("amount"), QStringLiteral("1.5") },
            { QStringLiteral("flag"), 1 },
            { QStringLiteral("text"), 12 },
            { QStringLiteral("at"), QStringLiteral("2025-01-01 00:00:00") },
            { QStringLiteral("at"), QStringLiteral("2025-02-29T00:00:00.000Z") },
            { QStringLiteral("at"), QStringLiteral("2025-01-01T24:00:00.000Z") },
            { QStringLiteral("at"), QStringLiteral("2025-01-01T00:00:00.000+01:00") },
        };
        for (const auto &[field, value] : bad) {
            // One bad record spoils its whole batch, and takes no sequence number.
            QVERIFY2(!store->upsert(entity,
                                    { { QStringLiteral("good"), thing(2) },
                                      { QStringLiteral("bad"), { { field, value } } } },
                                    &error),
                     qPrintable(field));
            QVERIFY(!error.isEmpty());
            QCOMPARE(store->lastError().type, ServerError::Type::BadRequest);
        }
        QVERIFY(!store->upsert(entity, QString(), thing(1), &error));
        QCOMPARE(store->lastError().type, ServerError::Type::BadRequest);
        QVERIFY(!store->upsert(QStringLiteral("nothing"), QStringLiteral("x"), thing(1), &error));
        QCOMPARE(store->lastError().type, ServerError::Type::NotFound);
        QCOMPARE(store->liveCount(entity), 1);
        QCOMPARE(store->count(entity, PagingMode::Cursor, QString(), &error), 1);

        // Values that are fine, including nulls, a leap day and a QDateTime.
        QVERIFY2(
            store->upsert(entity, QStringLiteral("second"),
                          { { QStringLiteral("text"), QVariant() },
                            { QStringLiteral("count"), 3.0 },
                            { QStringLiteral("amount"), 2 },
                            { QStringLiteral("flag"), false },
                            { QStringLiteral("at"),
                              QDateTime(QDate(2024, 2, 29), QTime(23, 59, 59, 999), Qt::UTC) } },
                          &error),
            qPrintable(error));
        int records = 0;
        const Page page = parsePage(*store->changesJson(
            entity, PagingMode::Cursor, cursorAt(store.get(), entity, 1), 0, 10, &records, &error));
        QCOMPARE(page.cursor, cursorAt(store.get(), entity, 2));
        if (!usePostgres())
            QCOMPARE(page.cursor, QStringLiteral("2"));
        const QJsonObject data = page.changes.first().value(QLatin1String("data")).toObject();
        QCOMPARE(data.value(QLatin1String("text")), QJsonValue(QJsonValue::Null));
        QCOMPARE(data.value(QLatin1String("count")), QJsonValue(3));
        QCOMPARE(data.value(QLatin1String("amount")).toDouble(), 2.0);
        QCOMPARE(data.value(QLatin1String("flag")), QJsonValue(false));
        QCOMPARE(data.value(QLatin1String("at")).toString(),
                 QStringLiteral("2024-02-29T23:59:59.999Z"));
        const QVariantList live = store->liveRecords(entity).value(QStringLiteral("second"));
        QCOMPARE(live.size(), 5);
        QVERIFY(live.at(0).isNull());
        QCOMPARE(live.at(1).typeId(), QMetaType::LongLong);
        QCOMPARE(live.at(2).typeId(), QMetaType::Double);
        QCOMPARE(live.at(3).typeId(), QMetaType::Bool);
        QCOMPARE(live.at(4).toString(), QStringLiteral("2024-02-29T23:59:59.999Z"));
    }

    void storeAddsFieldsAndPersists()
    {
        const QString path = m_dir->filePath(QStringLiteral("persist.sqlite"));
        QString error;
        QString lastChangedAt;
        {
            auto store = openStore(path);
            QVERIFY(store);
            QVERIFY(store->addEntity(everyType(), &error));
            QVERIFY(store->addEntity({ QStringLiteral("second"), {} }, &error));
            QVERIFY(store->upsert(
                QStringLiteral("things"),
                { { QStringLiteral("a"), thing(1) }, { QStringLiteral("b"), thing(2) } }, &error));
            EntitySchema more = everyType();
            more.fields.append({ QStringLiteral("extra"), FieldType::Int });
            QVERIFY2(store->addEntity(more, &error), qPrintable(error));
            QCOMPARE(store->entity(QStringLiteral("things"))->fields.size(), 6);
            QVERIFY(!store->addEntity(
                { QStringLiteral("things"), { { QStringLiteral("extra"), FieldType::String } } },
                &error));
            QVERIFY(error.contains(QLatin1String("already has type int")));
            QCOMPARE(store->lastError().type, ServerError::Type::Conflict);
            QVERIFY(!store->addEntity(
                { QStringLiteral("things"), { { QStringLiteral("EXTRA"), FieldType::Int } } },
                &error));
            QVERIFY(store->upsert(QStringLiteral("things"), QStringLiteral("c"),
                                  { { QStringLiteral("extra"), 7 } }, &error));
            int records = 0;
            const Page page = parsePage(*store->changesJson(
                QStringLiteral("things"), PagingMode::Cursor, QString(), 0, 10, &records, &error));
            QCOMPARE(records, 3);
            QCOMPARE(page.changes.first()
                         .value(QLatin1String("data"))
                         .toObject()
                         .value(QLatin1String("extra")),
                     QJsonValue(QJsonValue::Null));
            QCOMPARE(page.changes.last()
                         .value(QLatin1String("data"))
                         .toObject()
                         .value(QLatin1String("extra")),
                     QJsonValue(7));
            lastChangedAt = page.changes.last().value(QLatin1String("changedAt")).toString();
        }
        auto store = openStore(path);
        QVERIFY(store);
        const QList<EntitySchema> entities = store->entities();
        QCOMPARE(entities.size(), 2);
        QCOMPARE(entities.at(0).name, QStringLiteral("things"));
        QCOMPARE(entities.at(0).fields.last().name, QStringLiteral("extra"));
        QCOMPARE(entities.at(1).name, QStringLiteral("second"));
        // The sequence carries on where it was.
        const QString third = cursorAt(store.get(), QStringLiteral("things"), 3);
        QVERIFY(store->upsert(QStringLiteral("things"), QStringLiteral("a"), thing(9), &error));
        int records = 0;
        const Page page = parsePage(*store->changesJson(
            QStringLiteral("things"), PagingMode::Cursor, third, 0, 10, &records, &error));
        QCOMPARE(records, 1);
        QVERIFY(cursorKey(page.cursor) > cursorKey(third));
        if (!usePostgres())
            QCOMPARE(page.cursor, QStringLiteral("4"));
        QVERIFY(page.changes.first().value(QLatin1String("changedAt")).toString() >= lastChangedAt);
    }

    void storeOpenFailsCleanly()
    {
        if (usePostgres()) {
            // Nothing listens on port 1: a clear message naming the server, and no leftovers.
            PgServerStore store(QStringLiteral("host=127.0.0.1 port=1 dbname=x user=nobody "
                                               "connect_timeout=5"),
                                QStringLiteral("tst-bad"));
            QString error;
            QVERIFY(!store.open(&error));
            QVERIFY2(error.contains(QLatin1String("cannot connect to PostgreSQL (host=127.0.0.1 "
                                                  "port=1 dbname=x user=nobody)")),
                     qPrintable(error));
            QVERIFY(!store.isOpen());
            QVERIFY(!store.addEntity(everyType(), &error));
            QVERIFY(store.entities().isEmpty());
            PgServerStore malformed(QStringLiteral("host='unterminated"),
                                    QStringLiteral("tst-bad"));
            QVERIFY(!malformed.open(&error));
            QVERIFY2(error.contains(QLatin1String("connection string")), qPrintable(error));
            auto again = openStore();
            QVERIFY(again);
            return;
        }
        ServerStore store(m_dir->filePath(QStringLiteral("no/such/dir/x.sqlite")),
                          QStringLiteral("tst-bad"));
        QString error;
        QVERIFY(!store.open(&error));
        QVERIFY2(error.contains(QLatin1String("cannot open")), qPrintable(error));
        QVERIFY(!store.isOpen());
        QVERIFY(!store.addEntity(everyType(), &error));
        // The connection name is free again.
        ServerStore again(QStringLiteral(":memory:"), QStringLiteral("tst-bad"));
        QVERIFY2(again.open(&error), qPrintable(error));
        QVERIFY(again.addEntity(everyType(), &error));
    }

    void storeJsonEscaping()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        const QString entity = QStringLiteral("things");
        QVERIFY(store->addEntity(everyType(), &error));
        const QStringList strings = hostileStrings();
        if (usePostgres()) {
            // PostgreSQL text cannot hold U+0000: refused with a clear error, nothing written.
            const QString nul = QStringLiteral("a") + QChar(0) + QStringLiteral("b");
            QVERIFY(!store->upsert(entity, QStringLiteral("nul"),
                                   { { QStringLiteral("text"), nul } }, &error));
            QVERIFY2(error.contains(QLatin1String("U+0000")), qPrintable(error));
            QCOMPARE(store->lastError().type, ServerError::Type::BadRequest);
            QVERIFY(!store->upsert(entity, nul, thing(1), &error));
            QCOMPARE(store->lastError().type, ServerError::Type::BadRequest);
            QCOMPARE(store->count(entity, PagingMode::Cursor, QString(), &error), 0);
        }
        QList<std::pair<QString, QVariantMap>> batch;
        for (qsizetype i = 0; i < strings.size(); ++i)
            batch.append({ QStringLiteral("id \"%1\" \\ é").arg(i),
                           { { QStringLiteral("text"), strings.at(i) } } });
        QVERIFY2(store->upsert(entity, batch, &error), qPrintable(error));
        int records = 0;
        const QByteArray body
            = *store->changesJson(entity, PagingMode::Cursor, QString(), 0, 100, &records, &error);
        QVERIFY(isValidUtf8(body));
        const Page page = parsePage(body);
        QVERIFY2(page.ok, qPrintable(page.problem));
        QCOMPARE(page.changes.size(), strings.size());
        for (qsizetype i = 0; i < strings.size(); ++i) {
            const QJsonObject change = page.changes.at(i);
            QCOMPARE(change.value(QLatin1String("id")).toString(), batch.at(i).first);
            const QString text = change.value(QLatin1String("data"))
                                     .toObject()
                                     .value(QLatin1String("text"))
                                     .toString();
            QCOMPARE(text, strings.at(i).isNull() ? QString(QLatin1String("")) : strings.at(i));
        }
        // Raw control characters never reach the body.
        for (char c = 0; c < 0x20; ++c)
            QVERIFY2(!body.contains(c), qPrintable(QString::number(int(c))));

        // A lone surrogate cannot be UTF-8: the body stays valid anyway.
        QVERIFY(store->upsert(
            entity, QStringLiteral("lone"),
            { { QStringLiteral("text"), QString(QChar(0xd800)) + QStringLiteral("x") } }, &error));
        const QByteArray lone = *store->changesJson(
            entity, PagingMode::Cursor, cursorAt(store.get(), entity, int(strings.size())), 0, 100,
            &records, &error);
        QCOMPARE(records, 1);
        QVERIFY(isValidUtf8(lone));
        QVERIFY(parsePage(lone).ok);
    }

    void storeRepairsUnstorableText_data()
    {
        QTest::addColumn<QVariant>("value");
        QTest::addColumn<QString>("expected");
        const QChar high(0xd83d);
        const QChar low(0xdc20);
        const QString fish = QString(high) + low; // U+1F420
        const QString fffd(QChar(0xfffd));
        // SQLite would read the rest byte-swapped ("\u6c00\u6500...").
        QTest::newRow("leading U+FFFE")
            << QVariant(QStringLiteral("\uFFFEleading")) << fffd + QStringLiteral("leading");
        QTest::newRow("U+FFFE alone") << QVariant(QString(QChar(0xfffe))) << fffd;
        QTest::newRow("inner U+FFFE and U+FFFF")
            << QVariant(QStringLiteral("non \uFFFE char \uFFFF"))
            << QStringLiteral("non ") + fffd + QStringLiteral(" char ") + fffd;
        QTest::newRow("trailing U+FFFF")
            << QVariant(QStringLiteral("end\uFFFF")) << QStringLiteral("end") + fffd;
        // SQLite would take the next character into a pair: U+1F420 instead of " mid".
        QTest::newRow("lone high surrogate")
            << QVariant(QStringLiteral("lone high ") + high + QStringLiteral(" mid"))
            << QStringLiteral("lone high ") + fffd + QStringLiteral(" mid");
        QTest::newRow("lone high surrogate before a pair")
            << QVariant(QString(high) + fish) << fffd + fish;
        QTest::newRow("lone high surrogate at the end")
            << QVariant(QStringLiteral("end") + high) << QStringLiteral("end") + fffd;
        QTest::newRow("lone low surrogate")
            << QVariant(QStringLiteral("a") + low + QStringLiteral("b"))
            << QStringLiteral("a") + fffd + QStringLiteral("b");
        QTest::newRow("swapped pair") << QVariant(QString(low) + high) << fffd + fffd;
        QTest::newRow("U+FFFE after a pair") << QVariant(fish + QChar(0xfffe)) << fish + fffd;
        QTest::newRow("UTF-8 bytes of U+FFFE") << QVariant(QByteArray("\xef\xbf\xbe"
                                                                      "bytes"))
                                               << fffd + QStringLiteral("bytes");
        QTest::newRow("QChar U+FFFF") << QVariant(QChar(0xffff)) << fffd;
        QTest::newRow("kept: a pair, U+FFFD, U+FFFC, U+E000")
            << QVariant(fish + QStringLiteral(" \uFFFD \uFFFC \uE000"))
            << fish + QStringLiteral(" \uFFFD \uFFFC \uE000");
    }

    // Upsert, then a page and liveRecords: what was stored is what both backends serve.
    void storeRepairsUnstorableText()
    {
        QFETCH(QVariant, value);
        QFETCH(QString, expected);
        auto store = openStore();
        QVERIFY(store);
        QString error;
        const QString entity = QStringLiteral("things");
        QVERIFY(store->addEntity(everyType(), &error));
        QVERIFY2(store->upsert(entity, QStringLiteral("r"), { { QStringLiteral("text"), value } },
                               &error),
                 qPrintable(error));
        int records = 0;
        const std::optional<QByteArray> body
            = store->changesJson(entity, PagingMode::Cursor, QString(), 0, 10, &records, &error);
        QVERIFY2(body, qPrintable(error));
        QVERIFY(isValidUtf8(*body));
        const Page page = parsePage(*body);
        QVERIFY2(page.ok, qPrintable(page.problem));
        QCOMPARE(page.changes.size(), 1);
        const QString served = page.changes.first()
                                   .value(QLatin1String("data"))
                                   .toObject()
                                   .value(QLatin1String("text"))
                                   .toString();
        QCOMPARE(served, expected);
        QCOMPARE(store->liveRecords(entity).value(QStringLiteral("r")).value(0).toString(),
                 expected);
    }

    // An id is a record's identity: refused rather than repaired, and never deleted.
    void storeRefusesUnstorableIds_data()
    {
        QTest::addColumn<QString>("id");
        QTest::newRow("leading U+FFFE") << QStringLiteral("\uFFFEid");
        QTest::newRow("U+FFFF") << QStringLiteral("id\uFFFF");
        QTest::newRow("lone high surrogate") << QStringLiteral("id") + QChar(0xd800);
        QTest::newRow("lone low surrogate") << QString(QChar(0xdc00)) + QStringLiteral("id");
    }

    void storeRefusesUnstorableIds()
    {
        QFETCH(QString, id);
        auto store = openStore();
        QVERIFY(store);
        QString error;
        const QString entity = QStringLiteral("things");
        QVERIFY(store->addEntity(everyType(), &error));
        QVERIFY(!store->upsert(entity, { { QStringLiteral("fine"), thing(1) }, { id, thing(2) } },
                               &error));
        QVERIFY2(error.contains(QLatin1String("U+FFFE")), qPrintable(error));
        QCOMPARE(store->count(entity, PagingMode::Cursor, QString(), &error), 0);

        // Never stored, so removing it deletes nothing and takes no sequence number.
        QVERIFY2(store->upsert(entity, QStringLiteral("id"), thing(3), &error), qPrintable(error));
        QVERIFY2(store->remove(entity, { id }, &error), qPrintable(error));
        QCOMPARE(store->liveCount(entity), 1);
        QCOMPARE(store->count(entity, PagingMode::Cursor, QString(), &error), 1);
    }

    void storeNumbers()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        const QString entity = QStringLiteral("things");
        QVERIFY(store->addEntity(everyType(), &error));
        const QList<double> reals = { 0.1,
                                      1.0 / 3,
                                      -2.5,
                                      1e300,
                                      -1e-300,
                                      5e-324,
                                      123456789.123456789,
                                      9007199254740993.0,
                                      0.0,
                                      1e21,
                                      1e-7,
                                      2.2250738585072014e-308,
                                      std::numeric_limits<double>::max(),
                                      12.0 };
        const QList<qint64> ints = { 0,
                                     -1,
                                     42,
                                     std::numeric_limits<qint64>::max(),
                                     std::numeric_limits<qint64>::min(),
                                     9007199254740993LL };
        QList<std::pair<QString, QVariantMap>> batch;
        for (qsizetype i = 0; i < reals.size(); ++i)
            batch.append(
                { QStringLiteral("r%1").arg(i), { { QStringLiteral("amount"), reals.at(i) } } });
        for (qsizetype i = 0; i < ints.size(); ++i)
            batch.append(
                { QStringLiteral("i%1").arg(i), { { QStringLiteral("count"), ints.at(i) } } });
        batch.append({ QStringLiteral("nan"), { { QStringLiteral("amount"), std::nan("") } } });
        batch.append({ QStringLiteral("inf"),
                       { { QStringLiteral("amount"), std::numeric_limits<double>::infinity() } } });
        QVERIFY2(store->upsert(entity, batch, &error), qPrintable(error));

        int records = 0;
        const QByteArray body
            = *store->changesJson(entity, PagingMode::Cursor, QString(), 0, 100, &records, &error);
        const Page page = parsePage(body);
        QVERIFY2(page.ok, qPrintable(page.problem));
        for (qsizetype i = 0; i < reals.size(); ++i) {
            const double value = page.changes.at(i)
                                     .value(QLatin1String("data"))
                                     .toObject()
                                     .value(QLatin1String("amount"))
                                     .toDouble();
            QVERIFY2(value == reals.at(i),
                     qPrintable(QStringLiteral("%1 came back as %2")
                                    .arg(reals.at(i), 0, 'g', 17)
                                    .arg(value, 0, 'g', 17)));
        }
        // JSON numbers above 2^53 lose precision in a double parser; the text must be exact.
        QVERIFY(body.contains("\"count\":9223372036854775807,"));
        QVERIFY(body.contains("\"count\":-9223372036854775808,"));
        QVERIFY(body.contains("\"count\":9007199254740993,"));
        QVERIFY(body.contains("\"amount\":0.1,"));
        const QJsonObject nan
            = page.changes.at(reals.size() + ints.size()).value(QLatin1String("data")).toObject();
        const QJsonObject inf = page.changes.at(reals.size() + ints.size() + 1)
                                    .value(QLatin1String("data"))
                                    .toObject();
        QCOMPARE(nan.value(QLatin1String("amount")), QJsonValue(QJsonValue::Null));
        QCOMPARE(inf.value(QLatin1String("amount")), QJsonValue(QJsonValue::Null));
    }

    void storeDecimals()
    {
        // Exact text in, the same text out as a JSON string, on either backend.
        auto store = openStore();
        QVERIFY(store);
        QString error;
        const EntitySchema prices { QStringLiteral("prices"),
                                    { { QStringLiteral("amount"), FieldType::Decimal } } };
        QVERIFY2(store->addEntity(prices, &error), qPrintable(error));
        const QStringList amounts { QStringLiteral("12.50"), QStringLiteral("-0.003"),
                                    QStringLiteral("0"),
                                    QStringLiteral("12345678901234567890.123456789012345678") };
        QList<std::pair<QString, QVariantMap>> batch;
        for (qsizetype i = 0; i < amounts.size(); ++i)
            batch.append(
                { QStringLiteral("d%1").arg(i), { { QStringLiteral("amount"), amounts.at(i) } } });
        QVERIFY2(store->upsert(prices.name, batch, &error), qPrintable(error));
        int records = 0;
        const QByteArray body = *store->changesJson(prices.name, PagingMode::Cursor, QString(), 0,
                                                    100, &records, &error);
        for (const QString &amount : amounts) {
            const QByteArray served = "\"data\":{\"amount\":\"" + amount.toLatin1() + "\"}";
            QVERIFY2(body.contains(served), body.constData());
        }
        QCOMPARE(store->liveRecords(prices.name).value(QStringLiteral("d3")),
                 QVariantList { amounts.at(3) });
        // Only plain-notation text: a double has already lost the exact value.
        for (const QVariant &bad :
             { QVariant(12.5), QVariant(QStringLiteral("1e3")), QVariant(QStringLiteral("007")),
               QVariant(QStringLiteral("1234567890123456789012345678901234567890")) }) {
            QVERIFY(!store->upsert(prices.name, QStringLiteral("bad"),
                                   { { QStringLiteral("amount"), bad } }, &error));
            QVERIFY2(error.contains(QStringLiteral("field amount must be a decimal in plain "
                                                   "notation")),
                     qPrintable(error));
        }
        QCOMPARE(store->liveCount(prices.name), amounts.size());
    }

    void demoDataIsComplete()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        const double scale = 0.02;
        QVERIFY2(DemoData::populate(store.get(), scale, 5, &error), qPrintable(error));
        const QList<EntitySchema> entities = store->entities();
        QCOMPARE(entities.size(), 4);
        QSet<int> types;
        qint64 changes = 0;
        qint64 live = 0;
        for (const EntitySchema &schema : entities) {
            for (const FieldSpec &field : schema.fields)
                types.insert(int(field.type));
            changes
                += store->count(schema.name, PagingMode::Cursor, QString(), &error).value_or(-1);
            live += store->liveCount(schema.name);
            // Every page is protocol v1, as the client's parser sees it.
            QString cursor;
            for (bool more = true; more;) {
                int records = 0;
                const QByteArray body = *store->changesJson(schema.name, PagingMode::Cursor, cursor,
                                                            0, 500, &records, &error);
                ChangePage page;
                QVERIFY2(
                    Protocol::parseChanges(body, schema, 500, PagingMode::Cursor, &page, &error),
                    qPrintable(error));
                cursor = page.cursor;
                more = page.hasMore;
            }
        }
        QCOMPARE(types.size(), 5);
        QCOMPARE(changes, DemoData::recordCount(scale));
        QVERIFY(live < changes); // some tombstones
        QVERIFY(live > changes * 9 / 10);
        QCOMPARE(DemoData::recordCount(1.0), 100000);

        // Reproducible from the seed.
        auto again = openStore(m_dir->filePath(QStringLiteral("again.sqlite")));
        QVERIFY(DemoData::populate(again.get(), scale, 5, &error));
        auto other = openStore(m_dir->filePath(QStringLiteral("other.sqlite")));
        QVERIFY(DemoData::populate(other.get(), scale, 6, &error));
        const auto customers = store->liveRecords(QStringLiteral("customers"));
        QVERIFY(again->liveRecords(QStringLiteral("customers")) == customers);
        QVERIFY(other->liveRecords(QStringLiteral("customers")).keys() != customers.keys());
        const QString id = customers.keys().first();
        QVERIFY2(
            QRegularExpression(
                QStringLiteral("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))
                .match(id)
                .hasMatch(),
            qPrintable(id));
    }

    void pageBuildSpeed()
    {
        auto store = openStore();
        QVERIFY(store);
        QString error;
        const QString entity = QStringLiteral("things");
        QVERIFY(store->addEntity(everyType(), &error));
        QList<std::pair<QString, QVariantMap>> batch;
        QRandomGenerator random(3);
        for (int i = 0; i < 10000; ++i)
            batch.append({ Test::TestServer::randomId(random), thing(i) });
        QElapsedTimer timer;
        timer.start();
        QVERIFY(store->upsert(entity, batch, &error));
        const qint64 writeMs = timer.elapsed();
        qint64 best = std::numeric_limits<qint64>::max();
        for (int round = 0; round < 5; ++round) {
            timer.start();
            int records = 0;
            const auto body = store->changesJson(entity, PagingMode::Cursor, QString(), 0, 10000,
                                                 &records, &error);
            best = qMin(best, timer.nsecsElapsed());
            QVERIFY(body);
            QCOMPARE(records, 10000);
        }
        qInfo("10,000 records written in %lld ms; a 10,000-record page built in %.1f ms (%.0f "
              "records/s)",
              writeMs, best / 1e6, 10000 / (best / 1e9));
    }

    // ---- SyncServer over HTTP ------------------------------------------------------------

    void httpEntities()
    {
        BackendServer server;
        QVERIFY(server.start());
        server.addCustomers(5);
        QVERIFY(server.store()->addEntity(everyType(), nullptr));
        const Reply reply = get(endpoint(server.baseUrl(), QStringLiteral("/entities")));
        QCOMPARE(reply.status, 200);
        QCOMPARE(reply.contentType, QByteArray("application/json"));
        const QJsonArray entities = QJsonDocument::fromJson(reply.body)
                                        .object()
                                        .value(QLatin1String("entities"))
                                        .toArray();
        QCOMPARE(entities.size(), 2);
        const QJsonObject customers = entities.at(0).toObject();
        QCOMPARE(customers.value(QLatin1String("name")).toString(), QStringLiteral("customers"));
        const QJsonArray fields = customers.value(QLatin1String("fields")).toArray();
        QStringList types;
        for (const QJsonValue &field : fields) {
            QVERIFY(!field.toObject().value(QLatin1String("name")).toString().isEmpty());
            types.append(field.toObject().value(QLatin1String("type")).toString());
        }
        types.sort();
        QCOMPARE(types,
                 (QStringList { QStringLiteral("bool"), QStringLiteral("datetime"),
                                QStringLiteral("int"), QStringLiteral("real"),
                                QStringLiteral("string") }));
        QCOMPARE(entities.at(1).toObject().value(QLatin1String("name")).toString(),
                 QStringLiteral("things"));
        QCOMPARE(server.baseUrl().path(), QStringLiteral("/api/v1"));
        QCOMPARE(server.baseUrl().host(), QStringLiteral("127.0.0.1"));
    }

    void pageDelayHoldsPagesOnly()
    {
        BackendServer server;
        QVERIFY(server.start());
        server.addCustomers(10);
        server.server()->setPageDelay(300);
        const QUrl base = server.baseUrl();
        QElapsedTimer clock;
        clock.start();
        Reply reply = get(endpoint(base, QStringLiteral("/entities/customers/changes")));
        QCOMPARE(reply.status, 200);
        QVERIFY2(clock.elapsed() >= 290, qPrintable(QString::number(clock.elapsed())));
        QCOMPARE(QJsonDocument::fromJson(reply.body)
                     .object()
                     .value(QLatin1String("changes"))
                     .toArray()
                     .size(),
                 10);
        QCOMPARE(server.server()->pageDelay(), 300);
        server.server()->setPageDelay(-5);
        QCOMPARE(server.server()->pageDelay(), 0);
    }

    void httpCount()
    {
        BackendServer server;
        QVERIFY(server.start());
        server.addCustomers(250);
        const QUrl base = server.baseUrl();
        Reply reply = get(endpoint(base, QStringLiteral("/entities/customers/count")));
        QCOMPARE(reply.status, 200);
        QCOMPARE(reply.contentType, QByteArray("application/json"));
        QCOMPARE(QJsonDocument::fromJson(reply.body).object().value(QLatin1String("count")).toInt(),
                 250);
        reply = get(endpoint(base, QStringLiteral("/entities/customers/count"),
                             { { QStringLiteral("since"),
                                 cursorAt(server.store(), QStringLiteral("customers"), 200) } }));
        QCOMPARE(QJsonDocument::fromJson(reply.body).object().value(QLatin1String("count")).toInt(),
                 50);
        reply = get(endpoint(base, QStringLiteral("/entities/customers/count"),
                             { { QStringLiteral("since"), QString() } }));
        QCOMPARE(QJsonDocument::fromJson(reply.body).object().value(QLatin1String("count")).toInt(),
                 250);
        reply = get(endpoint(
            base, QStringLiteral("/entities/customers/count"),
            { { QStringLiteral("changedSince"), QStringLiteral("2000-01-01T00:00:00.000Z") } }));
        QCOMPARE(QJsonDocument::fromJson(reply.body).object().value(QLatin1String("count")).toInt(),
                 250);
        reply = get(endpoint(
            base, QStringLiteral("/entities/customers/count"),
            { { QStringLiteral("changedSince"), QStringLiteral("2999-01-01T00:00:00.000Z") } }));
        QCOMPARE(QJsonDocument::fromJson(reply.body).object().value(QLatin1String("count")).toInt(),
                 0);

        qint64 count = -1;
        QString error;
        QVERIFY2(Protocol::parseCount(reply.body, &count, &error), qPrintable(error));
        QCOMPARE(count, 0);
    }

    void httpChangesPaging_data()
    {
        QTest::addColumn<PagingMode>("mode");
        QTest::addColumn<int>("limit");
        QTest::newRow("cursor, 7") << PagingMode::Cursor << 7;
        QTest::newRow("cursor, 10000") << PagingMode::Cursor << 10000;
        QTest::newRow("offset, 7") << PagingMode::Offset << 7;
        QTest::newRow("offset, 100") << PagingMode::Offset << 100;
    }

    void httpChangesPaging()
    {
        QFETCH(PagingMode, mode);
        QFETCH(int, limit);
        BackendServer server;
        QVERIFY(server.start());
        const EntitySchema schema = server.addCustomers(301, 4);
        QSignalSpy pageServed(server.server(), &SyncServer::pageServed);
        const qint64 requestsBefore = server.server()->requestsServed();

        QSet<QString> ids;
        QString cursor;
        qint64 offset = 0;
        int pages = 0;
        int recordsInSignals = 0;
        for (bool more = true; more; ++pages) {
            QList<std::pair<QString, QString>> query { { QStringLiteral("limit"),
                                                         QString::number(limit) } };
            if (mode == PagingMode::Cursor) {
                query.append({ QStringLiteral("since"), cursor });
            } else {
                query.append({ QStringLiteral("changedSince"), QString() });
                query.append({ QStringLiteral("offset"), QString::number(offset) });
            }
            const Reply reply = get(
                endpoint(server.baseUrl(), QStringLiteral("/entities/customers/changes"), query));
            QCOMPARE(reply.status, 200);
            QCOMPARE(reply.contentType, QByteArray("application/json"));
            ChangePage page;
            QString error;
            QVERIFY2(Protocol::parseChanges(reply.body, schema, limit, mode, &page, &error),
                     qPrintable(error));
            for (const Change &change : std::as_const(page.changes)) {
                QVERIFY(!change.deleted);
                QCOMPARE(change.values.size(), 5);
                ids.insert(change.id);
            }
            QCOMPARE(pageServed.size(), pages + 1);
            QCOMPARE(pageServed.last().at(0).toString(), QStringLiteral("customers"));
            QCOMPARE(pageServed.last().at(1).toInt(), page.changes.size());
            recordsInSignals += pageServed.last().at(1).toInt();
            if (mode == PagingMode::Cursor)
                QVERIFY(!page.cursor.isEmpty());
            else
                QVERIFY(page.cursor.isEmpty());
            cursor = page.cursor;
            offset += page.changes.size();
            more = page.hasMore;
            QCOMPARE(more, offset < 301);
        }
        QCOMPARE(ids.size(), 301);
        QCOMPARE(pages, (301 + limit - 1) / limit);
        QCOMPARE(recordsInSignals, 301);
        QCOMPARE(server.server()->changesServed(), 301);
        QCOMPARE(server.server()->requestsServed() - requestsBefore, pages);

        // Without limit the default (1000) applies.
        const Reply reply
            = get(endpoint(server.baseUrl(), QStringLiteral("/entities/customers/changes")));
        QCOMPARE(reply.status, 200);
        QCOMPARE(parsePage(reply.body).changes.size(), 301);
        QCOMPARE(parsePage(reply.body).cursor,
                 cursorAt(server.store(), QStringLiteral("customers"), 301));
        if (!usePostgres())
            QCOMPARE(parsePage(reply.body).cursor, QStringLiteral("301"));
    }

    void httpBadRequests_data()
    {
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("query");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("message");
        const QString changes = QStringLiteral("/entities/customers/changes");
        const QString count = QStringLiteral("/entities/customers/count");
        const QString limitMessage = QStringLiteral("limit must be an integer from 1 to 10000");
        QTest::newRow("limit 0") << changes << "limit=0" << 400 << limitMessage;
        QTest::newRow("limit 10001") << changes << "limit=10001" << 400 << limitMessage;
        QTest::newRow("limit abc") << changes << "limit=abc" << 400 << limitMessage;
        QTest::newRow("limit -1") << changes << "limit=-1" << 400 << limitMessage;
        QTest::newRow("limit 1.5") << changes << "limit=1.5" << 400 << limitMessage;
        QTest::newRow("limit empty") << changes << "limit=" << 400 << limitMessage;
        QTest::newRow("limit huge")
            << changes << "limit=99999999999999999999999" << 400 << limitMessage;
        QTest::newRow("since abc") << changes << "since=abc" << 400 << "invalid cursor";
        QTest::newRow("since -1") << changes << "since=-1" << 400 << "invalid cursor";
        QTest::newRow("count since abc") << count << "since=x1" << 400 << "invalid cursor";
        QTest::newRow("changedSince bad")
            << changes << "changedSince=yesterday" << 400
            << "changedSince must be a timestamp like 2026-11-26T06:20:16.123Z";
        QTest::newRow("changedSince no ms")
            << count << "changedSince=2025-01-01T00:00:00Z" << 400
            << "changedSince must be a timestamp like 2026-11-26T06:20:16.123Z";
        QTest::newRow("both")
            << changes << "since=1&changedSince=" << 400
            << "give either since (cursor mode) or changedSince (offset mode), not both";
        QTest::newRow("offset -1") << changes << "changedSince=&offset=-1" << 400
                                   << "offset must be a non-negative integer";
        QTest::newRow("offset abc")
            << changes << "offset=abc" << 400 << "offset must be a non-negative integer";
        QTest::newRow("offset with since")
            << changes << "since=5&offset=5" << 400
            << "offset is only used with changedSince (offset mode), not with since";
        QTest::newRow("unknown entity") << "/entities/nothing/changes"
                                        << "" << 404 << "no entity named \"nothing\"";
        QTest::newRow("unknown entity count") << "/entities/x%22y/count"
                                              << "" << 404 << "no entity named \"x\\u0022y\"";
        QTest::newRow("unknown path") << "/nothing"
                                      << "" << 404 << "no such path: /api/v1/nothing";
        QTest::newRow("trailing slash") << "/entities/"
                                        << "" << 404 << "no such path: /api/v1/entities/";
        QTest::newRow("deeper") << "/entities/customers/changes/more"
                                << "" << 404
                                << "no such path: /api/v1/entities/customers/changes/more";
    }

    void httpStatusFollowsErrorType_data()
    {
        QTest::addColumn<ServerError::Type>("type");
        QTest::addColumn<QString>("message");
        QTest::addColumn<int>("status");
        using Type = ServerError::Type;
        QTest::newRow("bad request") << Type::BadRequest << "anything at all" << 400;
        QTest::newRow("not found") << Type::NotFound << "gone" << 404;
        QTest::newRow("conflict") << Type::Conflict << "clashes" << 409;
        QTest::newRow("unavailable") << Type::Unavailable << "no database" << 503;
        // The message that once meant a 400 no longer decides anything.
        QTest::newRow("internal, worded as a cursor error")
            << Type::Internal << "invalid cursor" << 500;
    }

    void httpStatusFollowsErrorType()
    {
        QFETCH(ServerError::Type, type);
        QFETCH(QString, message);
        QFETCH(int, status);
        auto backend = std::make_unique<FailingBackend>(type, message);
        QString error;
        QVERIFY(backend->open(&error));
        SyncServer server;
        server.setBackend(std::move(backend));
        QVERIFY(server.listen() != 0);
        for (const QString &route : { QStringLiteral("count"), QStringLiteral("changes") }) {
            QUrl url = server.baseUrl();
            url.setPath(url.path() + QStringLiteral("/entities/things/") + route);
            const Reply reply = get(url);
            QCOMPARE(reply.status, status);
            QCOMPARE(errorOf(reply), message);
            QCOMPARE(server.backend()->lastError().type, type);
        }
    }

    void postgresSqlComesFromResources()
    {
        QString error;
        const QStringList statements = PgInstall::statements(
            QStringLiteral("\"s\""), 42, QStringLiteral("batchsync test"), &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        // catalogue.sql 10, triggers.sql 3, track.sql 2: a function body with its inner
        // semicolons stays one statement.
        QCOMPARE(statements.size(), 15);
        for (const QString &statement : statements) {
            QVERIFY2(!statement.contains(u'@'), qPrintable(statement)); // placeholders filled in
            QVERIFY2(!statement.startsWith(QLatin1String("--")), qPrintable(statement));
            QVERIFY(!statement.endsWith(u';'));
        }
        QVERIFY(statements.first().startsWith(
            QLatin1String("CREATE SEQUENCE IF NOT EXISTS \"s\"._bs_seq")));
        QVERIFY(statements.at(5).startsWith(
            QLatin1String("CREATE TABLE IF NOT EXISTS \"s\"._bs_pushes(")));
        QVERIFY(statements.at(8).startsWith(
            QLatin1String("CREATE TABLE IF NOT EXISTS \"s\"._bs_moves(")));
        const QString track = statements.at(13);
        QVERIFY(
            track.startsWith(QLatin1String("CREATE OR REPLACE FUNCTION \"s\".batchsync_track(")));
        QVERIFY(track.contains(QLatin1String("PERFORM pg_advisory_xact_lock(42);")));
        QVERIFY(track.endsWith(QLatin1String("END $$")));
        QCOMPARE(
            statements.at(14),
            QStringLiteral("COMMENT ON FUNCTION \"s\".batchsync_track(regclass, text, text) IS "
                           "'batchsync test'"));

        QCOMPARE(PgInstall::splitStatements(QStringLiteral(
                     "-- a; comment\nSELECT ';' AS \"a;b\"; CREATE FUNCTION f() AS $$ x; y $$;\n")),
                 QStringList({ QStringLiteral("SELECT ';' AS \"a;b\""),
                               QStringLiteral("CREATE FUNCTION f() AS $$ x; y $$") }));
    }

    void httpBadRequests()
    {
        QFETCH(QString, path);
        QFETCH(QString, query);
        QFETCH(int, status);
        QFETCH(QString, message);
        BackendServer server;
        QVERIFY(server.start());
        server.addCustomers(3);
        QUrl url = endpoint(server.baseUrl(), QString());
        url.setPath(url.path() + path, QUrl::TolerantMode);
        if (!query.isEmpty())
            url.setQuery(query);
        QSignalSpy pageServed(server.server(), &SyncServer::pageServed);
        const Reply reply = get(url);
        QCOMPARE(reply.status, status);
        QCOMPARE(reply.contentType, QByteArray("application/json"));
        QCOMPARE(errorOf(reply), message);
        QCOMPARE(Protocol::parseErrorMessage(reply.body), message);
        QCOMPARE(pageServed.size(), 0);
        QCOMPARE(server.server()->requestsServed(), 1);
    }

    void httpOnlyGet()
    {
        BackendServer server;
        QVERIFY(server.start());
        server.addCustomers(3);
        // POST .../changes is a push (protocol v1.1, tst_push); POST elsewhere is not served.
        const std::pair<QByteArray, QString> requests[] = {
            { QByteArrayLiteral("POST"), QStringLiteral("/entities/customers/count") },
            { QByteArrayLiteral("POST"), QStringLiteral("/entities") },
            { QByteArrayLiteral("PUT"), QStringLiteral("/entities/customers/changes") },
            { QByteArrayLiteral("DELETE"), QStringLiteral("/entities/customers/changes") },
        };
        for (const auto &[verb, path] : requests) {
            const Reply reply = get(endpoint(server.baseUrl(), path), QByteArray(), verb);
            QCOMPARE(reply.status, 405);
            QCOMPARE(reply.contentType, QByteArray("application/json"));
            QVERIFY(!errorOf(reply).isEmpty());
        }
        // A push without a body is not JSON.
        const Reply push
            = get(endpoint(server.baseUrl(), QStringLiteral("/entities/customers/changes")),
                  QByteArray(), QByteArrayLiteral("POST"));
        QCOMPARE(push.status, 400);
        QCOMPARE(server.store()->liveCount(QStringLiteral("customers")), 3);
    }

    void httpToken()
    {
        BackendServer server;
        QVERIFY(server.start(QStringLiteral("s3cret")));
        server.addCustomers(3);
        const QUrl url = endpoint(server.baseUrl(), QStringLiteral("/entities/customers/count"));
        for (const QByteArray &wrong :
             { QByteArray(), QByteArrayLiteral("Bearer"), QByteArrayLiteral("Bearer "),
               QByteArrayLiteral("Bearer s3cre"), QByteArrayLiteral("Bearer s3cret2"),
               QByteArrayLiteral("Bearer S3CRET"), QByteArrayLiteral("Basic s3cret"),
               QByteArrayLiteral("s3cret") }) {
            const Reply reply = get(url, wrong);
            QCOMPARE(reply.status, 401);
            QCOMPARE(reply.contentType, QByteArray("application/json"));
            QCOMPARE(errorOf(reply), QStringLiteral("missing or invalid bearer token"));
        }
        QCOMPARE(get(url, QByteArrayLiteral("Bearer s3cret")).status, 200);
        QCOMPARE(get(url, QByteArrayLiteral("bearer s3cret")).status, 200);
        // Even unknown paths and entities are refused before anything is revealed.
        QCOMPARE(get(endpoint(server.baseUrl(), QStringLiteral("/nothing"))).status, 401);
        QCOMPARE(get(endpoint(server.baseUrl(), QStringLiteral("/entities/nothing/count"))).status,
                 401);
        QCOMPARE(get(endpoint(server.baseUrl(), QStringLiteral("/entities/nothing/count")),
                     QByteArrayLiteral("Bearer s3cret"))
                     .status,
                 404);
        // And the token can be dropped again.
        server.server()->setToken(QString());
        QCOMPARE(get(url).status, 200);
    }

    void httpJsonEscapingRoundTrips()
    {
        BackendServer server;
        QVERIFY(server.start());
        QString error;
        const EntitySchema schema = everyType();
        QVERIFY(server.store()->addEntity(schema, &error));
        const QStringList strings = hostileStrings();
        QList<std::pair<QString, QVariantMap>> batch;
        for (qsizetype i = 0; i < strings.size(); ++i)
            batch.append(
                { QString::number(i) + u' ' + strings.at(i).left(100),
                  { { QStringLiteral("text"), strings.at(i) }, { QStringLiteral("count"), i } } });
        QVERIFY2(server.store()->upsert(schema.name, batch, &error), qPrintable(error));

        const Reply reply
            = get(endpoint(server.baseUrl(), QStringLiteral("/entities/things/changes"),
                           { { QStringLiteral("limit"), QStringLiteral("100") } }));
        QCOMPARE(reply.status, 200);
        QVERIFY(isValidUtf8(reply.body));
        const Page page = parsePage(reply.body);
        QVERIFY2(page.ok, qPrintable(page.problem));
        QCOMPARE(page.changes.size(), strings.size());
        ChangePage parsed;
        QVERIFY2(
            Protocol::parseChanges(reply.body, schema, 100, PagingMode::Cursor, &parsed, &error),
            qPrintable(error));
        for (qsizetype i = 0; i < strings.size(); ++i) {
            const QString expected
                = strings.at(i).isNull() ? QString(QLatin1String("")) : strings.at(i);
            QCOMPARE(page.changes.at(i).value(QLatin1String("id")).toString(), batch.at(i).first);
            QCOMPARE(page.changes.at(i)
                         .value(QLatin1String("data"))
                         .toObject()
                         .value(QLatin1String("text"))
                         .toString(),
                     expected);
            QCOMPARE(parsed.changes.at(i).id, batch.at(i).first);
            QCOMPARE(parsed.changes.at(i).values.at(0).toString(), expected);
            QCOMPARE(parsed.changes.at(i).values.at(1).toLongLong(), qint64(i));
        }
    }

    void httpProtocolParserAgrees()
    {
        BackendServer server;
        QVERIFY(server.start());
        QString error;
        QVERIFY(DemoData::populate(server.store(), 0.01, 9, &error));

        Reply reply = get(endpoint(server.baseUrl(), QStringLiteral("/entities")));
        QList<EntitySchema> entities;
        QVERIFY2(Protocol::parseEntities(reply.body, &entities, &error), qPrintable(error));
        QCOMPARE(entities, server.store()->entities());

        for (const EntitySchema &schema : std::as_const(entities)) {
            for (const PagingMode mode : { PagingMode::Cursor, PagingMode::Offset }) {
                const QString since = mode == PagingMode::Cursor ? QStringLiteral("since")
                                                                 : QStringLiteral("changedSince");
                reply = get(endpoint(server.baseUrl(),
                                     QStringLiteral("/entities/%1/count").arg(schema.name),
                                     { { since, QString() } }));
                qint64 total = -1;
                QVERIFY2(Protocol::parseCount(reply.body, &total, &error), qPrintable(error));
                QCOMPARE(total,
                         server.store()->count(schema.name, mode, QString(), &error).value_or(-2));

                QString cursor;
                qint64 offset = 0;
                qint64 seen = 0;
                qint64 deleted = 0;
                for (bool more = true; more;) {
                    QList<std::pair<QString, QString>> query {
                        { QStringLiteral("limit"), QStringLiteral("73") }, { since, cursor }
                    };
                    if (mode == PagingMode::Offset)
                        query.append({ QStringLiteral("offset"), QString::number(offset) });
                    reply = get(endpoint(server.baseUrl(),
                                         QStringLiteral("/entities/%1/changes").arg(schema.name),
                                         query));
                    QCOMPARE(reply.status, 200);
                    ChangePage page;
                    QVERIFY2(Protocol::parseChanges(reply.body, schema, 73, mode, &page, &error),
                             qPrintable(error));
                    for (const Change &change : std::as_const(page.changes)) {
                        deleted += change.deleted ? 1 : 0;
                        QCOMPARE(change.values.size(), change.deleted ? 0 : schema.fields.size());
                    }
                    seen += page.changes.size();
                    offset += page.changes.size();
                    if (mode == PagingMode::Cursor)
                        cursor = page.cursor;
                    more = page.hasMore;
                }
                QCOMPARE(seen, total);
                QCOMPARE(seen - deleted, server.store()->liveCount(schema.name));
            }
        }
    }

    void httpAbortedClientsDoNotHurtTheServer()
    {
        BackendServer server;
        QVERIFY(server.start());
        server.addCustomers(12000, 8);
        const QUrl big = endpoint(server.baseUrl(), QStringLiteral("/entities/customers/changes"),
                                  { { QStringLiteral("limit"), QStringLiteral("10000") } });

        // 1. Replies aborted at once, before or while the request goes out.
        std::vector<std::unique_ptr<QNetworkReply>> replies;
        for (int i = 0; i < 30; ++i)
            replies.emplace_back(m_nam->get(QNetworkRequest(big)));
        for (auto &reply : replies)
            reply->abort();
        replies.clear();

        // 2. Replies aborted while the server builds their page.
        for (int i = 0; i < 12; ++i)
            replies.emplace_back(m_nam->get(QNetworkRequest(big)));
        int aborted = 0;
        auto connection = connect(server.server(), &SyncServer::pageServed, this, [&] {
            for (auto &reply : replies) {
                if (reply->isRunning()) {
                    reply->abort();
                    ++aborted;
                    break;
                }
            }
        });
        QTRY_VERIFY_WITH_TIMEOUT(std::all_of(replies.cbegin(), replies.cend(),
                                             [](const auto &reply) { return reply->isFinished(); }),
                                 30000);
        disconnect(connection);
        QVERIFY(aborted > 0);
        replies.clear();

        // 3. Raw sockets: half a request, a whole one then gone, and gone mid-response.
        const QByteArray request = "GET "
            + big.toString(QUrl::RemoveScheme | QUrl::RemoveAuthority).toLatin1()
            + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        std::vector<std::unique_ptr<QTcpSocket>> sockets;
        const qint64 before = server.server()->requestsServed();
        for (int i = 0; i < 30; ++i) {
            auto socket = std::make_unique<QTcpSocket>();
            socket->connectToHost(QHostAddress::LocalHost, server.server()->port());
            QVERIFY(socket->waitForConnected(5000));
            switch (i % 3) {
            case 0:
                socket->write(request.left(request.size() / 2));
                break;
            case 1:
            case 2:
                socket->write(request);
                break;
            }
            socket->flush();
            sockets.push_back(std::move(socket));
        }
        // Every whole request is answered; the answers (megabytes) are still being sent
        // when their clients vanish, some without reading a byte.
        QTRY_VERIFY_WITH_TIMEOUT(server.server()->requestsServed() >= before + 20, 30000);
        for (std::size_t i = 0; i < sockets.size(); ++i) {
            if (i % 3 == 2)
                QTRY_VERIFY_WITH_TIMEOUT(sockets[i]->bytesAvailable() > 0, 30000);
            sockets[i]->abort();
        }
        sockets.clear();

        // 4. A normal client is served as before.
        const Reply reply
            = get(endpoint(server.baseUrl(), QStringLiteral("/entities/customers/count")));
        QCOMPARE(reply.status, 200);
        QCOMPARE(QJsonDocument::fromJson(reply.body).object().value(QLatin1String("count")).toInt(),
                 12000);
        const Reply page = get(big);
        QCOMPARE(page.status, 200);
        QCOMPARE(parsePage(page.body).changes.size(), 10000);
    }

    void httpPipelinedRequestsAnswerInOrder()
    {
        BackendServer server;
        QVERIFY(server.start());
        server.addCustomers(30);
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, server.server()->port());
        QVERIFY(socket.waitForConnected(5000));
        QByteArray requests;
        QList<QByteArray> expected;
        for (int since : { 0, 10, 20 }) {
            requests += "GET /api/v1/entities/customers/changes?limit=5&since="
                + cursorAt(server.store(), QStringLiteral("customers"), since).toLatin1()
                + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
            expected.append(
                "\"cursor\":\""
                + cursorAt(server.store(), QStringLiteral("customers"), since + 5).toLatin1()
                + '"');
        }
        socket.write(requests);
        QByteArray received;
        QTRY_VERIFY_WITH_TIMEOUT((received += socket.readAll()).count("\"hasMore\":") == 3, 10000);
        QVERIFY(received.indexOf(expected.at(0)) >= 0);
        QVERIFY(received.indexOf(expected.at(0)) < received.indexOf(expected.at(1)));
        QVERIFY(received.indexOf(expected.at(1)) < received.indexOf(expected.at(2)));
    }

    // A page is written past QHttpServerResponse (its body shared with the socket, not
    // copied): the head must still be exactly Qt's, and the body exactly Content-Length long.
    void httpPageHeadIsExact_data()
    {
        QTest::addColumn<QByteArray>("query");
        QTest::addColumn<int>("since"); // a cursor after this many changes; -1: none
        QTest::addColumn<QByteArray>("status");
        QTest::addColumn<int>("records");
        QTest::newRow("page") << QByteArray("limit=1000") << -1 << QByteArray("200 OK") << 300;
        QTest::newRow("last page") << QByteArray("limit=1000") << 290 << QByteArray("200 OK") << 10;
        QTest::newRow("empty page") << QByteArray("limit=1000") << 300 << QByteArray("200 OK") << 0;
        QTest::newRow("bad request")
            << QByteArray("limit=0") << -1 << QByteArray("400 Bad Request") << -1;
    }

    void httpPageHeadIsExact()
    {
        QFETCH(QByteArray, query);
        QFETCH(int, since);
        QFETCH(QByteArray, status);
        QFETCH(int, records);
        BackendServer server;
        QVERIFY(server.start());
        server.addCustomers(300);
        if (since >= 0)
            query += "&since="
                + cursorAt(server.store(), QStringLiteral("customers"), since).toLatin1();
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, server.server()->port());
        QVERIFY(socket.waitForConnected(5000));
        const QByteArray request
            = "GET /api/v1/entities/customers/changes?" + query + " HTTP/1.1\r\nHost: x\r\n\r\n";
        socket.write(request + request); // the second answer must follow the first exactly
        const QByteArray headStart
            = "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: ";
        QByteArray received;
        qsizetype firstEnd = -1;
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                received += socket.readAll();
                const qsizetype headEnd = received.indexOf("\r\n\r\n");
                if (!received.startsWith(headStart) || headEnd < 0)
                    return false;
                const qint64 length
                    = received.mid(headStart.size(), headEnd - headStart.size()).toLongLong();
                firstEnd = headEnd + 4 + length;
                return received.size() > firstEnd && received.indexOf("\r\n\r\n", firstEnd) >= 0
                    && received.size() >= 2 * firstEnd;
            }(),
            10000);
        QCOMPARE(received.size(), 2 * firstEnd);
        QCOMPARE(received.first(firstEnd), received.sliced(firstEnd));
        const QByteArray body = received.first(firstEnd).sliced(received.indexOf("\r\n\r\n") + 4);
        QVERIFY(QJsonDocument::fromJson(body).isObject());
        if (records >= 0)
            QCOMPARE(parsePage(body).changes.size(), records);
    }

    // ---- EmbeddedServer ------------------------------------------------------------------

    void embeddedServerServesFromItsThread()
    {
        SQLITE_ONLY();
        const QString path = m_dir->filePath(QStringLiteral("embedded.sqlite"));
        {
            // An entity already there: no demo data is added.
            auto store = openStore(path);
            QVERIFY(store);
            QVERIFY(store->addEntity(everyType(), nullptr));
            QVERIFY(
                store->upsert(QStringLiteral("things"), QStringLiteral("x"), thing(1), nullptr));
        }
        EmbeddedServer embedded;
        QSignalSpy ready(&embedded, &EmbeddedServer::ready);
        QSignalSpy failed(&embedded, &EmbeddedServer::failed);
        embedded.start(path, true, QStringLiteral("tok"));
        QVERIFY(ready.wait(30000));
        QCOMPARE(failed.size(), 0);
        const QUrl url = ready.first().first().toUrl();
        QCOMPARE(embedded.baseUrl(), url);
        QCOMPARE(url.host(), QStringLiteral("127.0.0.1"));
        QVERIFY(url.port() > 0);
        QCOMPARE(get(endpoint(url, QStringLiteral("/entities"))).status, 401);
        const Reply reply
            = get(endpoint(url, QStringLiteral("/entities")), QByteArrayLiteral("Bearer tok"));
        QCOMPARE(reply.status, 200);
        QList<EntitySchema> entities;
        QString error;
        QVERIFY2(Protocol::parseEntities(reply.body, &entities, &error), qPrintable(error));
        QCOMPARE(entities.size(), 1);
        QCOMPARE(entities.first().name, QStringLiteral("things"));
    }

    void embeddedServerWithDemoData()
    {
        SQLITE_ONLY();
        EmbeddedServer embedded;
        QSignalSpy ready(&embedded, &EmbeddedServer::ready);
        QElapsedTimer timer;
        timer.start();
        embedded.start(m_dir->filePath(QStringLiteral("demo.sqlite")), true);
        QVERIFY(ready.wait(120000));
        qInfo("embedded server with demo data ready in %lld ms", timer.elapsed());
        const QUrl url = ready.first().first().toUrl();
        qint64 total = 0;
        for (const QString &entity : { QStringLiteral("customers"), QStringLiteral("products"),
                                       QStringLiteral("orders"), QStringLiteral("events") }) {
            const Reply reply
                = get(endpoint(url, QStringLiteral("/entities/%1/count").arg(entity)));
            QCOMPARE(reply.status, 200);
            total += QJsonDocument::fromJson(reply.body)
                         .object()
                         .value(QLatin1String("count"))
                         .toInteger();
        }
        QCOMPARE(total, DemoData::recordCount(1.0));
    }

    void embeddedServerFailsAndStopsCleanly()
    {
        SQLITE_ONLY();
        {
            EmbeddedServer embedded;
            QSignalSpy failed(&embedded, &EmbeddedServer::failed);
            QSignalSpy ready(&embedded, &EmbeddedServer::ready);
            QTest::ignoreMessage(
                QtWarningMsg,
                QRegularExpression(QStringLiteral("embedded server failed: cannot open")));
            embedded.start(m_dir->filePath(QStringLiteral("no/such/dir/x.sqlite")), true);
            QVERIFY(failed.wait(30000));
            QVERIFY2(failed.first().first().toString().contains(QLatin1String("cannot open")),
                     qPrintable(failed.first().first().toString()));
            QCOMPARE(ready.size(), 0);
            QVERIFY(embedded.baseUrl().isEmpty());
        }
        {
            // Destroyed before it is ready: joins its thread without a signal or a leak.
            EmbeddedServer embedded;
            embedded.start(m_dir->filePath(QStringLiteral("quick.sqlite")), false);
        }
        {
            EmbeddedServer never;
            Q_UNUSED(never)
        }
    }

    // ---- batchsync-server ----------------------------------------------------------------

    void serverBinary()
    {
        SQLITE_ONLY();
        const QString binary = QStringLiteral(BATCHSYNC_SERVER_BIN);
        QVERIFY2(QFileInfo(binary).isExecutable(), BATCHSYNC_SERVER_BIN);
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(QStringLiteral("XDG_DATA_HOME"),
                           m_dir->filePath(QStringLiteral("data")));
        environment.insert(QStringLiteral("BATCHSYNC_TOKEN"), QStringLiteral("from-env"));

        QProcess process;
        process.setProcessEnvironment(environment);
        QSignalSpy finished(&process, &QProcess::finished);
        process.start(binary,
                      { QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                        QStringLiteral("--demo-scale"), QStringLiteral("0.01") });
        QTRY_VERIFY_WITH_TIMEOUT(process.canReadLine() || process.state() == QProcess::NotRunning,
                                 60000);
        const QString line = QString::fromUtf8(process.readLine()).trimmed();
        QVERIFY2(line.startsWith(QLatin1String("Serving protocol v1 at http://127.0.0.1:")),
                 qPrintable(line + QString::fromUtf8(process.readAllStandardError())));
        const QUrl url(line.section(u' ', -1));
        QVERIFY(url.port() > 0);
        QCOMPARE(url.path(), QStringLiteral("/api/v1"));
        QVERIFY(QFileInfo::exists(
            m_dir->filePath(QStringLiteral("data/BatchSync/batchsync-server/server.sqlite"))));

        QCOMPARE(get(endpoint(url, QStringLiteral("/entities"))).status, 401);
        const Reply reply = get(endpoint(url, QStringLiteral("/entities/orders/count")),
                                QByteArrayLiteral("Bearer from-env"));
        QCOMPARE(reply.status, 200);
        QCOMPARE(QJsonDocument::fromJson(reply.body).object().value(QLatin1String("count")).toInt(),
                 500);

        // The port is taken now: a second server says so and fails.
        QProcess second;
        second.setProcessEnvironment(environment);
        second.start(binary,
                     { QStringLiteral("--listen"), QStringLiteral("127.0.0.1:%1").arg(url.port()),
                       QStringLiteral("--db"), m_dir->filePath(QStringLiteral("second.sqlite")) });
        QVERIFY(second.waitForFinished(30000));
        QCOMPARE(second.exitCode(), 1);
        QVERIFY2(second.readAllStandardError().contains("cannot listen"), "no message on stderr");

        process.terminate(); // SIGTERM: a clean exit
        QVERIFY(finished.wait(30000));
        QCOMPARE(process.exitStatus(), QProcess::NormalExit);
        QCOMPARE(process.exitCode(), 0);

        for (const QStringList &arguments :
             { QStringList { QStringLiteral("--listen"), QStringLiteral("nonsense") },
               QStringList { QStringLiteral("--listen"), QStringLiteral("127.0.0.1:99999") },
               QStringList { QStringLiteral("--demo-scale"), QStringLiteral("-1") },
               QStringList { QStringLiteral("--db"),
                             m_dir->filePath(QStringLiteral("no/dir/x.sqlite")) } }) {
            QProcess bad;
            bad.setProcessEnvironment(environment);
            bad.start(binary, arguments);
            QVERIFY(bad.waitForFinished(30000));
            QVERIFY2(bad.exitCode() != 0, qPrintable(arguments.join(u' ')));
            QVERIFY(bad.readAllStandardError().startsWith("batchsync-server: "));
        }
        QProcess version;
        version.start(binary, { QStringLiteral("--version") });
        QVERIFY(version.waitForFinished(30000));
        QVERIFY(version.readAllStandardOutput().startsWith("batchsync-server "));
    }
};

QTEST_GUILESS_MAIN(TstServer)
#include "tst_server.moc"
