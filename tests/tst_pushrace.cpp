// Pushes at the same time: several clients push changes to the same records on the same base,
// each request sent twice at once (a retry with the same changeIds), to two servers sharing
// one PostgreSQL database (one server on SQLite), while a puller pages in cursor mode. For
// each record exactly one change of a round applies and the others get its record as their
// conflict's current; a retry gets the first answer; no answer is a 5xx; the final table is
// the applied changes, and the puller ends at every final version (the safe watermark holds).
// Also: remembered results are forgotten after seven days, not before, on both backends.

#include "server/backend/serverbackend.h"
#include "server/push.h"
#include "testutil/pushbackends.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QRandomGenerator>
#include <QScopeGuard>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QtTest>
#include <algorithm>
#include <memory>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

const QString Database = QStringLiteral("bs_tst_pushrace");
const QString Entity = QStringLiteral("items");

EntitySchema items()
{
    return { Entity,
             { { QStringLiteral("label"), FieldType::String },
               { QStringLiteral("qty"), FieldType::Int } } };
}

// A record as the test expects the server to have it.
struct Record
{
    QString version; // empty: never existed
    bool deleted = false;
    QJsonObject data;
};

QJsonObject parsedObject(const QByteArray &body)
{
    return QJsonDocument::fromJson(body).object();
}

bool sameData(const QJsonObject &expected, const QJsonObject &served)
{
    const EntitySchema schema = items();
    for (const FieldSpec &field : schema.fields) {
        if (!sameValue(field.type, expected.value(field.name), served.value(field.name)))
            return false;
    }
    return true;
}

/*!
    Pages in cursor mode from its servers in turn, one request after the other, for as long
    as it runs; keeps every change it saw, in order.
*/
class Puller
{
public:
    Puller(QNetworkAccessManager &nam, const QList<QUrl> &servers)
        : m_nam(nam)
        , m_servers(servers)
    {
    }

    void start() { next(); }
    /*! Stops after a last pull that reaches the end of the feed; false if it fails. */
    bool stop()
    {
        m_stopping = true;
        if (!QTest::qWaitFor([this] { return m_done || !m_error.isEmpty(); }, 60000))
            m_error = QStringLiteral("the puller did not reach the end within 60 s");
        return m_error.isEmpty();
    }

    int pulls() const { return m_pulls; }
    QString error() const { return m_error; }
    /*! Per record: every (version, change) seen, in the order served. */
    const QHash<QString, QList<QJsonObject>> &seen() const { return m_seen; }

private:
    void next()
    {
        QNetworkReply *reply
            = getChanges(m_nam, m_servers.at(m_pulls % m_servers.size()), Entity, m_cursor, 50);
        QObject::connect(reply, &QNetworkReply::finished, reply, [this, reply] {
            reply->deleteLater();
            ++m_pulls;
            const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
            const QByteArray body = reply->readAll();
            if (status != 200) {
                m_error = QStringLiteral("a pull answered %1: %2")
                              .arg(status)
                              .arg(QString::fromUtf8(body.left(300)));
                return;
            }
            const QJsonObject page = parsedObject(body);
            for (const QJsonValue &change : page.value(QLatin1String("changes")).toArray())
                m_seen[change.toObject().value(QLatin1String("id")).toString()].append(
                    change.toObject());
            m_cursor = page.value(QLatin1String("cursor")).toString();
            const bool more = page.value(QLatin1String("hasMore")).toBool();
            // The last pull starts after stop(): every push has been answered by then.
            if (m_stopping && m_finalPull && !more) {
                m_done = true;
                return;
            }
            m_finalPull = m_stopping;
            next();
        });
    }

    QNetworkAccessManager &m_nam;
    QList<QUrl> m_servers;
    QString m_cursor;
    QHash<QString, QList<QJsonObject>> m_seen;
    QString m_error;
    int m_pulls = 0;
    bool m_stopping = false;
    bool m_finalPull = false;
    bool m_done = false;
};

} // namespace

class TstPushRace final : public QObject
{
    Q_OBJECT

private:
    static inline QAtomicInt s_runsAgain;
    static inline QtMessageHandler s_previousHandler = nullptr;
    int m_tests = 0;
    std::unique_ptr<QNetworkAccessManager> m_nam;

    // The backend of the current row, created; null (the row skipped or failed) otherwise.
    std::unique_ptr<PushBackend> backendOfRow()
    {
        QFETCH(QString, backend);
        auto made = std::make_unique<PushBackend>(backend, Database);
        if (!made->isAvailable())
            return nullptr;
        if (!made->create(QStringLiteral("r%1").arg(++m_tests)))
            return nullptr;
        return made;
    }

    void backends()
    {
        QTest::addColumn<QString>("backend");
        QTest::newRow("sqlite") << QStringLiteral("sqlite");
        QTest::newRow("postgres") << QStringLiteral("postgres");
    }

    // One round's request of \a client: a change of every record in \a order.
    static QByteArray roundBody(int client, int round, const QStringList &order,
                                const QHash<QString, Record> &model)
    {
        const int kind = round % 4; // 0, 1: updates; 2: deletions; 3: creations on tombstones
        QJsonArray changes;
        for (const QString &id : order) {
            const Record &record = model.value(id);
            QJsonObject change {
                { QStringLiteral("changeId"), QStringLiteral("r%1-%2").arg(round).arg(id) },
                { QStringLiteral("id"), id },
                { QStringLiteral("base"), kind == 3 ? QJsonValue() : QJsonValue(record.version) },
                { QStringLiteral("deleted"), kind == 2 },
            };
            if (kind != 2)
                change.insert(QStringLiteral("data"),
                              QJsonObject { { QStringLiteral("label"),
                                              QStringLiteral("c%1 r%2").arg(client).arg(round) },
                                            { QStringLiteral("qty"), client * 1000 + round } });
            changes.append(change);
        }
        return QJsonDocument(QJsonObject { { QStringLiteral("client"),
                                             QStringLiteral("client-%1").arg(client) },
                                           { QStringLiteral("changes"), changes } })
            .toJson(QJsonDocument::Compact);
    }

private Q_SLOTS:
    void init()
    {
        m_nam = std::make_unique<QNetworkAccessManager>();
        m_nam->setProxy(QNetworkProxy::NoProxy);
    }

    void cleanup() { m_nam.reset(); }

    void sameRecordsAtOnce_data()
    {
        // 16 records a request lock each record; 80 lock their entity (more than 64).
        QTest::addColumn<QString>("backend");
        QTest::addColumn<int>("records");
        QTest::newRow("sqlite") << QStringLiteral("sqlite") << 16;
        QTest::newRow("postgres") << QStringLiteral("postgres") << 16;
        QTest::newRow("postgres, 80 records") << QStringLiteral("postgres") << 80;
    }
    void sameRecordsAtOnce()
    {
        std::unique_ptr<PushBackend> backend = backendOfRow();
        if (!backend) {
            QVERIFY(!PgTest::required());
            QSKIP("backend not available");
        }
        constexpr int Clients = 4;
        QFETCH(int, records);
        constexpr int Rounds = 24;
        const int serverCount = backend->isPostgres() ? 2 : 1;
        std::vector<std::unique_ptr<ServerThread>> servers;
        QList<QUrl> urls;
        for (int i = 0; i < serverCount; ++i) {
            servers.push_back(std::make_unique<ServerThread>());
            QString error;
            QVERIFY2(servers.back()->start(*backend, &error), qPrintable(error));
            urls.append(servers.back()->baseUrl());
        }
        QHash<QString, Record> model;
        QStringList ids;
        QList<std::pair<QString, QVariantMap>> initial;
        for (int i = 0; i < records; ++i) {
            ids.append(QStringLiteral("rec-%1").arg(i, 2, 10, QLatin1Char('0')));
            initial.append({ ids.last(),
                             { { QStringLiteral("label"), QStringLiteral("initial") },
                               { QStringLiteral("qty"), qint64(i) } } });
        }
        bool added = false;
        QString error;
        servers.front()->call([&](SyncServer *server) {
            added = server->backend()->addEntity(items(), &error)
                && server->backend()->upsert(Entity, initial, &error);
        });
        QVERIFY2(added, qPrintable(error));
        {
            QByteArray body;
            std::unique_ptr<QNetworkReply> reply(
                getChanges(*m_nam, urls.front(), Entity, {}, 1000));
            QCOMPARE(finish(reply.get(), &body), 200);
            for (const QJsonValue &value : parsedObject(body).value("changes").toArray()) {
                const QJsonObject change = value.toObject();
                model.insert(
                    change.value("id").toString(),
                    { change.value("version").toString(), false, change.value("data").toObject() });
            }
            QCOMPARE(model.size(), records);
        }

        Puller puller(*m_nam, urls);
        puller.start();
        QRandomGenerator random(20261207);
        QHash<QString, QSet<QString>> appliedVersions; // per record, every version it had
        for (const QString &id : ids)
            appliedVersions[id].insert(model.value(id).version);
        int requests = 0;
        int conflicts = 0;
        QElapsedTimer timer;
        timer.start();
        for (int round = 0; round < Rounds; ++round) {
            // Each client sends its request and, at once, a retry of it to the other server.
            std::vector<std::unique_ptr<QNetworkReply>> replies;
            for (int client = 0; client < Clients; ++client) {
                QStringList order = ids;
                if (round % 2 == 1) // in an order of its own: requests lock rows crosswise
                    std::shuffle(order.begin(), order.end(), random);
                const QByteArray body = roundBody(client, round, order, model);
                replies.emplace_back(
                    postChanges(*m_nam, urls.at(client % serverCount), Entity, body));
                replies.emplace_back(
                    postChanges(*m_nam, urls.at((client + 1) % serverCount), Entity, body));
            }
            QHash<QString, QList<QJsonObject>> byRecord; // the results of each record's changes
            QHash<QString, int> clientOfApplied;
            for (int client = 0; client < Clients; ++client) {
                QByteArray first;
                QByteArray retry;
                const int firstStatus = finish(replies.at(2 * client).get(), &first);
                const int retryStatus = finish(replies.at(2 * client + 1).get(), &retry);
                requests += 2;
                QVERIFY2(firstStatus == 200 && retryStatus == 200,
                         qPrintable(QStringLiteral("round %1, client %2: %3 %4, %5 %6")
                                        .arg(round)
                                        .arg(client)
                                        .arg(firstStatus)
                                        .arg(QString::fromUtf8(first.left(300)))
                                        .arg(retryStatus)
                                        .arg(QString::fromUtf8(retry.left(300)))));
                const QJsonArray results = parsedObject(first).value("results").toArray();
                // The same changeIds: whichever came second got the first one's results.
                QCOMPARE(parsedObject(retry).value("results").toArray(), results);
                QCOMPARE(results.size(), records);
                for (const QJsonValue &value : results) {
                    const QJsonObject result = value.toObject();
                    const QString id = result.value("changeId").toString().section('-', 1, -1);
                    byRecord[id].append(result);
                    if (result.value("status").toString() == QLatin1String("applied"))
                        clientOfApplied.insert(id, client);
                }
            }
            const int kind = round % 4;
            for (const QString &id : ids) {
                const QList<QJsonObject> &results = byRecord.value(id);
                QCOMPARE(results.size(), Clients);
                int applied = 0;
                QJsonObject winner;
                for (const QJsonObject &result : results) {
                    if (result.value("status").toString() == QLatin1String("applied")) {
                        ++applied;
                        winner = result;
                    }
                }
                QVERIFY2(applied == 1,
                         qPrintable(QStringLiteral("round %1, record %2: %3 applied")
                                        .arg(round)
                                        .arg(id)
                                        .arg(applied)));
                Record &record = model[id];
                const QString version = winner.value("version").toString();
                QVERIFY2(version.toLongLong() > record.version.toLongLong(), qPrintable(version));
                record.version = version;
                record.deleted = kind == 2;
                const int client = clientOfApplied.value(id);
                record.data = kind == 2
                    ? QJsonObject()
                    : QJsonObject { { "label", QStringLiteral("c%1 r%2").arg(client).arg(round) },
                                    { "qty", client * 1000 + round } };
                appliedVersions[id].insert(version);
                for (const QJsonObject &result : results) {
                    if (result == winner)
                        continue;
                    ++conflicts;
                    QCOMPARE(result.value("status").toString(), QStringLiteral("conflict"));
                    const QJsonObject current = result.value("current").toObject();
                    QCOMPARE(current.value("id").toString(), id);
                    QCOMPARE(current.value("deleted").toBool(), record.deleted);
                    if (!record.deleted) {
                        QCOMPARE(current.value("version").toString(), version);
                        QVERIFY(sameData(record.data, current.value("data").toObject()));
                    }
                }
            }
        }
        const qint64 pushMs = timer.elapsed();
        QVERIFY2(puller.stop(), qPrintable(puller.error()));

        // The table is the applied changes.
        QHash<QString, QVariantList> live;
        for (const auto &server : servers)
            server->call(
                [&](SyncServer *server) { live = server->backend()->liveRecords(Entity); });
        QHash<QString, QVariantList> expected;
        for (auto it = model.cbegin(); it != model.cend(); ++it) {
            if (!it->deleted)
                expected.insert(it.key(),
                                { it->data.value("label").toString(),
                                  qint64(it->data.value("qty").toInteger()) });
        }
        QCOMPARE(live, expected);

        // The puller saw only versions that were applied, in order, and ends at each final one.
        for (const QString &id : ids) {
            const QList<QJsonObject> &seen = puller.seen().value(id);
            QVERIFY2(!seen.isEmpty(), qPrintable(id));
            qint64 last = 0;
            for (const QJsonObject &change : seen) {
                const QString version = change.value("version").toString();
                QVERIFY2(appliedVersions.value(id).contains(version), qPrintable(version));
                QVERIFY(version.toLongLong() > last);
                last = version.toLongLong();
            }
            const Record &record = model.value(id);
            const QJsonObject &final = seen.last();
            QCOMPARE(final.value("version").toString(), record.version);
            QCOMPARE(final.value("deleted").toBool(), record.deleted);
            if (!record.deleted)
                QVERIFY(sameData(record.data, final.value("data").toObject()));
        }
        qInfo().noquote() << QStringLiteral(
                                 "%1: %2 servers, %3 clients, %4 rounds of %5 records: %6 push "
                                 "requests (%7 retries), %8 changes applied, %9 conflicts, ")
                                 .arg(QString::fromLatin1(QTest::currentDataTag()))
                                 .arg(serverCount)
                                 .arg(Clients)
                                 .arg(Rounds)
                                 .arg(records)
                                 .arg(requests)
                                 .arg(requests / 2)
                                 .arg(Rounds * records)
                                 .arg(conflicts)
                + QStringLiteral("%1 pulls meanwhile, %2 ms").arg(puller.pulls()).arg(pushMs);
    }

    void forgottenAfterSevenDaysOnly_data() { backends(); }
    void forgottenAfterSevenDaysOnly()
    {
        std::unique_ptr<PushBackend> backend = backendOfRow();
        if (!backend) {
            QVERIFY(!PgTest::required());
            QSKIP("backend not available");
        }
        SyncServer server;
        QString error;
        QVERIFY2(backend->open(&server, &error), qPrintable(error));
        QVERIFY(server.listen() > 0);
        QVERIFY2(server.backend()->addEntity(items(), &error), qPrintable(error));
        const auto push = [&](const QString &changeId, const QString &id) {
            const QJsonObject change { { "changeId", changeId },
                                       { "id", id },
                                       { "base", QJsonValue() },
                                       { "deleted", false },
                                       { "data", QJsonObject { { "qty", 1 } } } };
            const QByteArray body
                = QJsonDocument(
                      QJsonObject { { "client", "c" }, { "changes", QJsonArray { change } } })
                      .toJson(QJsonDocument::Compact);
            std::unique_ptr<QNetworkReply> reply(
                postChanges(*m_nam, server.baseUrl(), Entity, body));
            QByteArray answer;
            if (finish(reply.get(), &answer) != 200)
                qWarning("push answered: %s", answer.constData());
            return parsedObject(answer).value("results").toArray().at(0).toObject();
        };
        const QJsonObject old = push("old", "a");
        const QJsonObject young = push("young", "b");
        QCOMPARE(old.value("status").toString(), QStringLiteral("applied"));
        QCOMPARE(young.value("status").toString(), QStringLiteral("applied"));
        const auto remembered = [&](const QString &changeId) {
            return backend
                ->exec(QStringLiteral("SELECT count(*) FROM _bs_pushes WHERE client = "
                                      "'c' AND change_id = '%1'")
                           .arg(changeId))
                .toInt();
        };
        // Time passes: one result is a minute past the limit, the other a minute short of it.
        const qint64 limit = Push::RememberSeconds;
        const auto age = [&](const QString &changeId, qint64 seconds) {
            return backend
                ->exec(QStringLiteral("UPDATE _bs_pushes SET at = at - %1 WHERE change_id = "
                                      "'%2' RETURNING at")
                           .arg(seconds)
                           .arg(changeId))
                .toLongLong();
        };
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        QVERIFY(age("old", limit + 60) < now - limit);
        QVERIFY(age("young", limit - 60) > now - limit);
        QCOMPARE(remembered("old"), 1); // nothing is purged but by a push
        QCOMPARE(push("other", "x").value("status").toString(), QStringLiteral("applied"));
        QCOMPARE(remembered("old"), 0);
        QCOMPARE(remembered("young"), 1);
        QCOMPARE(remembered("other"), 1);
        // The young result is still the answer to its changeId; the old changeId is new again
        // (its record exists now: a create on a null base conflicts).
        QCOMPARE(push("young", "b"), young);
        QCOMPARE(push("old", "a").value("status").toString(), QStringLiteral("conflict"));
    }

    void deadlockWithAnotherWriterRunsAgain()
    {
        // Counts the server's "run again" lines, from its thread.
        s_runsAgain.storeRelaxed(0);
        QLoggingCategory::setFilterRules(QStringLiteral("batchsync.server.info=true"));
        s_previousHandler = qInstallMessageHandler(
            [](QtMsgType type, const QMessageLogContext &context, const QString &message) {
                if (message.contains(QLatin1String(" run again ")))
                    s_runsAgain.fetchAndAddRelaxed(1);
                else if (type != QtInfoMsg)
                    s_previousHandler(type, context, message);
            });
        const auto restore = qScopeGuard([] {
            qInstallMessageHandler(s_previousHandler);
            QLoggingCategory::setFilterRules(QString());
        });
        // An application's transaction and a push lock two records in opposite orders: the
        // push, which waits first, is the one PostgreSQL aborts, and the server runs it again.
        PushBackend backend(QStringLiteral("postgres"), Database);
        if (!backend.isAvailable()) {
            QVERIFY(!PgTest::required());
            QSKIP("PostgreSQL not available");
        }
        QVERIFY(backend.create(QStringLiteral("r%1").arg(++m_tests)));
        ServerThread server;
        QString error;
        QVERIFY2(server.start(backend, &error), qPrintable(error));
        bool added = false;
        server.call([&](SyncServer *server) {
            added = server->backend()->addEntity(items(), &error)
                && server->backend()->upsert(
                    Entity,
                    { { "a", { { "qty", qint64(1) } } }, { "b", { { "qty", qint64(2) } } } },
                    &error);
        });
        QVERIFY2(added, qPrintable(error));
        QHash<QString, QString> versions;
        {
            QByteArray body;
            std::unique_ptr<QNetworkReply> reply(
                getChanges(*m_nam, server.baseUrl(), Entity, {}, 10));
            QCOMPARE(finish(reply.get(), &body), 200);
            for (const QJsonValue &change : parsedObject(body).value("changes").toArray())
                versions.insert(change.toObject().value("id").toString(),
                                change.toObject().value("version").toString());
        }
        const QString name = QStringLiteral("tst_pushrace-application");
        {
            QSqlDatabase application = PgTest::addConnection(name, Database, backend.schema());
            QVERIFY2(application.open(), qPrintable(application.lastError().text()));
            QSqlDatabase monitor = PgTest::addConnection(name + "-monitor", Database, {});
            QVERIFY2(monitor.open(), qPrintable(monitor.lastError().text()));
            QSqlQuery query(application);
            QVERIFY(query.exec(QStringLiteral("BEGIN")));
            QVERIFY(query.exec(QStringLiteral("UPDATE items SET qty = 20 WHERE id = 'b'")));
            QJsonArray changes;
            for (const QString &id : { QStringLiteral("a"), QStringLiteral("b") })
                changes.append(QJsonObject { { "changeId", "d-" + id },
                                             { "id", id },
                                             { "base", versions.value(id) },
                                             { "deleted", false },
                                             { "data", QJsonObject { { "qty", 99 } } } });
            const QByteArray body
                = QJsonDocument(QJsonObject { { "client", "c" }, { "changes", changes } })
                      .toJson(QJsonDocument::Compact);
            std::unique_ptr<QNetworkReply> reply(
                postChanges(*m_nam, server.baseUrl(), Entity, body));
            // The push has changed a and waits for b. PostgreSQL looks for a deadlock once,
            // deadlock_timeout (1 s) after a wait begins: the application must wait within it.
            QVERIFY(query.exec(QStringLiteral("SELECT pg_backend_pid()")) && query.next());
            const QString blocked = QStringLiteral("SELECT count(*) FROM pg_stat_activity WHERE "
                                                   "pg_blocking_pids(pid) @> ARRAY[%1]")
                                        .arg(query.value(0).toInt());
            QSqlQuery watch(monitor);
            const auto pushWaits
                = [&] { return watch.exec(blocked) && watch.next() && watch.value(0).toInt() > 0; };
            QVERIFY(QTest::qWaitFor(pushWaits, 20000));
            // The push is aborted first. Its next run may meet the application again and win
            // that time: either way the push answers, and nothing is half done.
            const bool committed
                = query.exec(QStringLiteral("UPDATE items SET qty = 10 WHERE id = 'a'"));
            QVERIFY(query.exec(QString::fromLatin1(committed ? "COMMIT" : "ROLLBACK")));
            QByteArray answer;
            QCOMPARE(finish(reply.get(), &answer), 200);
            QVERIFY2(s_runsAgain.loadRelaxed() > 0, "the push was never run again");
            const QJsonArray results = parsedObject(answer).value("results").toArray();
            QCOMPARE(results.size(), 2);
            for (int i = 0; i < 2; ++i) {
                const QJsonObject result = results.at(i).toObject();
                // After the application's commit both records moved on; else the push applied.
                QCOMPARE(result.value("status").toString(),
                         QString::fromLatin1(committed ? "conflict" : "applied"));
                if (committed)
                    QCOMPARE(
                        result.value("current").toObject().value("data").toObject().value("qty"),
                        QJsonValue(i == 0 ? 10 : 20));
            }
        }
        QSqlDatabase::removeDatabase(name);
        QSqlDatabase::removeDatabase(name + "-monitor");
    }
};

QTEST_GUILESS_MAIN(TstPushRace)
#include "tst_pushrace.moc"
