// Pushes to PostgreSQL decided many changes at a time: a request mixing creates, updates,
// deletions, conflicts and rejections over more records than get a lock each; the same record
// and the same changeId twice in one request; values PostgreSQL refuses and ids it reads as one
// record ("7" and "07"), each rejecting or conflicting that change alone among many. Results,
// versions (growing in request order) and the table afterwards are checked. Needs
// BATCHSYNC_TEST_POSTGRES (see .ci/postgres): skips without it, fails without it under CI.

#include "server/backend/serverbackend.h"
#include "server/push.h"
#include "testutil/pushbackends.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>
#include <limits>
#include <memory>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

const QString Database = QStringLiteral("bs_tst_pgpush");

EntitySchema items()
{
    return { QStringLiteral("items"),
             { { QStringLiteral("label"), FieldType::String },
               { QStringLiteral("qty"), FieldType::Int } } };
}

QJsonObject change(const QString &changeId, const QString &id, const QJsonValue &base,
                   const QJsonObject &data)
{
    return { { "changeId", changeId },
             { "id", id },
             { "base", base },
             { "deleted", false },
             { "data", data } };
}

QJsonObject deletion(const QString &changeId, const QString &id, const QJsonValue &base)
{
    return { { "changeId", changeId }, { "id", id }, { "base", base }, { "deleted", true } };
}

QStringList statuses(const QJsonArray &results)
{
    QStringList list;
    for (const QJsonValue &result : results)
        list.append(result.toObject().value(QLatin1String("status")).toString());
    return list;
}

} // namespace

class TstPgPush : public QObject
{
    Q_OBJECT

    std::unique_ptr<PushBackend> m_backend;
    std::unique_ptr<SyncServer> m_server;
    std::unique_ptr<QNetworkAccessManager> m_nam;
    int m_tests = 0;

    QJsonArray push(const QString &entity, const QJsonArray &changes)
    {
        const QJsonObject body { { "client", "c" }, { "changes", changes } };
        std::unique_ptr<QNetworkReply> reply(
            postChanges(*m_nam, m_server->baseUrl(), entity,
                        QJsonDocument(body).toJson(QJsonDocument::Compact)));
        QByteArray answer;
        const int status = finish(reply.get(), &answer);
        if (status != 200)
            qWarning("push: %d %s", status, answer.constData());
        return QJsonDocument::fromJson(answer).object().value(QLatin1String("results")).toArray();
    }

    QString version(const QString &id)
    {
        return m_backend
            ->exec(QStringLiteral("SELECT _bs_seq::text FROM items WHERE id = '%1'").arg(id))
            .toString();
    }

    // The versions of the applied results that have one grow in request order.
    static bool versionsGrow(const QJsonArray &results, QString *problem)
    {
        qint64 last = 0;
        QSet<QString> seen;
        for (const QJsonValue &value : results) {
            const QJsonObject result = value.toObject();
            const QString changeId = result.value("changeId").toString();
            if (seen.contains(changeId))
                continue; // a changeId seen earlier in the request: its result again
            seen.insert(changeId);
            if (result.value("status").toString() != QLatin1String("applied")
                || !result.contains("version"))
                continue;
            const qint64 version = result.value("version").toString().toLongLong();
            if (version <= last) {
                *problem = QStringLiteral("%1: version %2 not after %3")
                               .arg(result.value("changeId").toString())
                               .arg(version)
                               .arg(last);
                return false;
            }
            last = version;
        }
        return true;
    }

private Q_SLOTS:
    void initTestCase()
    {
        const QString reason = PgTest::unavailableReason();
        if (!reason.isEmpty() && PgTest::required())
            QFAIL(qPrintable(QStringLiteral("PostgreSQL is required under CI: ") + reason));
        if (!reason.isEmpty())
            QSKIP(qPrintable(QStringLiteral("PostgreSQL tests not run: ") + reason));
    }

    void init()
    {
        m_backend = std::make_unique<PushBackend>(QStringLiteral("postgres"), Database);
        QVERIFY(m_backend->create(QStringLiteral("p%1").arg(++m_tests)));
        m_server = std::make_unique<SyncServer>();
        QString error;
        QVERIFY2(m_backend->open(m_server.get(), &error), qPrintable(error));
        QVERIFY(m_server->listen() > 0);
        QVERIFY2(m_server->backend()->addEntity(items(), &error), qPrintable(error));
        m_nam = std::make_unique<QNetworkAccessManager>();
        m_nam->setProxy(QNetworkProxy::NoProxy);
    }

    void cleanup()
    {
        m_nam.reset();
        m_server.reset();
        m_backend.reset();
    }

    void mixedRequest()
    {
        // 100 records on the server, then one request of 200 changes, every kind of them.
        QList<std::pair<QString, QVariantMap>> records;
        for (int i = 0; i < 100; ++i)
            records.append({ QStringLiteral("r%1").arg(i),
                             { { QStringLiteral("label"), QStringLiteral("old") },
                               { QStringLiteral("qty"), i } } });
        QString error;
        QVERIFY2(m_server->backend()->upsert(QStringLiteral("items"), records, &error),
                 qPrintable(error));
        QJsonArray changes;
        QStringList expected;
        for (int i = 0; i < 100; ++i) {
            const QString id = QStringLiteral("r%1").arg(i);
            const QString changeId = QStringLiteral("u%1").arg(i);
            if (i < 40) {
                changes.append(
                    change(changeId, id, version(id), { { "label", "new" }, { "qty", -i } }));
                expected.append("applied");
            } else if (i < 50) {
                changes.append(change(changeId, id, "1", { { "qty", 0 } })); // a stale base
                expected.append("conflict");
            } else if (i < 60) {
                changes.append(deletion(changeId, id, version(id)));
                expected.append("applied");
            } else if (i < 65) {
                changes.append(change(changeId, id, QJsonValue(), { { "qty", 0 } })); // live
                expected.append("conflict");
            } else if (i < 70) {
                changes.append(deletion(changeId, id, "1")); // a stale base
                expected.append("conflict");
            }
            if (i < 80) {
                changes.append(change(QStringLiteral("n%1").arg(i), QStringLiteral("n%1").arg(i),
                                      QJsonValue(), { { "label", "created" }, { "qty", i } }));
                expected.append("applied");
            }
            if (i < 5) {
                changes.append(deletion(QStringLiteral("g%1").arg(i),
                                        QStringLiteral("gone%1").arg(i), QJsonValue()));
                expected.append("applied");
                changes.append(QJsonObject { { "changeId", QStringLiteral("w%1").arg(i) },
                                             { "id", "r99" },
                                             { "base", QJsonValue() },
                                             { "deleted", false } }); // no data
                expected.append("rejected");
            }
        }
        const QJsonArray results = push(QStringLiteral("items"), changes);
        QCOMPARE(statuses(results), expected);
        QString problem;
        QVERIFY2(versionsGrow(results, &problem), qPrintable(problem));

        // A conflict gives the record as the server has it.
        for (const QJsonValue &value : results) {
            const QJsonObject result = value.toObject();
            if (result.value("changeId").toString() != QLatin1String("u45"))
                continue;
            const QJsonObject current = result.value("current").toObject();
            QCOMPARE(current.value("id").toString(), QStringLiteral("r45"));
            QCOMPARE(current.value("version").toString(), version(QStringLiteral("r45")));
            QCOMPARE(current.value("data").toObject().value("qty").toInt(), 45);
            QCOMPARE(current.value("data").toObject().value("label").toString(),
                     QStringLiteral("old"));
        }
        // The table: 100 - 10 deleted + 80 created; the results' versions are the rows'.
        QCOMPARE(m_server->backend()->liveCount(QStringLiteral("items")), 170);
        const QHash<QString, QVariantList> live
            = m_server->backend()->liveRecords(QStringLiteral("items"));
        QCOMPARE(live.value(QStringLiteral("r7")),
                 (QVariantList { QStringLiteral("new"), qint64(-7) }));
        QCOMPARE(live.value(QStringLiteral("r47")),
                 (QVariantList { QStringLiteral("old"), qint64(47) }));
        QCOMPARE(live.value(QStringLiteral("n79")),
                 (QVariantList { QStringLiteral("created"), qint64(79) }));
        QVERIFY(!live.contains(QStringLiteral("r55")));
        QVERIFY(live.contains(QStringLiteral("r66")));
        QCOMPARE(results.at(0).toObject().value("version").toString(), version("r0"));
        QCOMPARE(
            m_backend->exec("SELECT seq::text FROM _bs_tombstones WHERE id = 'r55'").toString(),
            [&] {
                for (const QJsonValue &value : results) {
                    if (value.toObject().value("changeId").toString() == QLatin1String("u55"))
                        return value.toObject().value("version").toString();
                }
                return QString();
            }());

        // The same request again: every result remembered, nothing written.
        const QString before = m_backend->exec("SELECT max(_bs_seq)::text FROM items").toString();
        QCOMPARE(push(QStringLiteral("items"), changes), results);
        QCOMPARE(m_backend->exec("SELECT max(_bs_seq)::text FROM items").toString(), before);
    }

    void valuesKeptExactly()
    {
        // Values and ids travel as array literals written into the statements: every character
        // that means something there arrives as it was sent.
        const QStringList texts { QStringLiteral("it's"),
                                  QStringLiteral("say \"hi\""),
                                  QStringLiteral("back\\slash\\"),
                                  QStringLiteral("what?"),
                                  QStringLiteral("{a,b}"),
                                  QStringLiteral("NULL"),
                                  QString(),
                                  QStringLiteral(" spaced "),
                                  QStringLiteral("\u00e9\u4e2d\U0001F600"),
                                  QStringLiteral("line\nbreak\ttab"),
                                  QStringLiteral("$1 %1 :a") };
        QJsonArray changes;
        for (qsizetype i = 0; i < texts.size(); ++i) {
            const qint64 qty
                = i % 2 ? std::numeric_limits<qint64>::max() : std::numeric_limits<qint64>::min();
            changes.append(change(QStringLiteral("v%1").arg(i),
                                  QStringLiteral("id %1 ").arg(i) + texts.at(i), QJsonValue(),
                                  { { "label", texts.at(i) }, { "qty", qty } }));
        }
        changes.append(change("null", "nothing", QJsonValue(),
                              { { "label", QJsonValue() }, { "qty", QJsonValue() } }));
        const QJsonArray results = push(QStringLiteral("items"), changes);
        QCOMPARE(statuses(results), QStringList(changes.size(), QStringLiteral("applied")));
        const QHash<QString, QVariantList> live
            = m_server->backend()->liveRecords(QStringLiteral("items"));
        QCOMPARE(live.size(), changes.size());
        for (qsizetype i = 0; i < texts.size(); ++i) {
            const qint64 qty
                = i % 2 ? std::numeric_limits<qint64>::max() : std::numeric_limits<qint64>::min();
            QCOMPARE(
                live.value(QStringLiteral("id %1 ").arg(i) + texts.at(i)),
                (QVariantList { texts.at(i).isNull() ? QStringLiteral("") : texts.at(i), qty }));
        }
        QCOMPARE(live.value(QStringLiteral("nothing")), (QVariantList { QVariant(), QVariant() }));
        // Remembered as sent: the same request again gives the same results.
        QCOMPARE(push(QStringLiteral("items"), changes), results);
    }

    void expiredResultsForgottenInChunks()
    {
        // More expired results than one statement forgets: all go, the young ones stay.
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        QString error;
        QVERIFY2(
            PgTest::exec(Database, m_backend->schema(),
                         QStringLiteral("INSERT INTO _bs_pushes(client, change_id, result, at) "
                                        "SELECT 'old', 'c' || g, '{}', %1 - g % 100 FROM "
                                        "generate_series(1, 25000) AS g; "
                                        "INSERT INTO _bs_pushes VALUES ('young', 'y', '{}', %2)")
                             .arg(now - Push::RememberSeconds - 60)
                             .arg(now - Push::RememberSeconds + 600),
                         &error),
            qPrintable(error));
        QCOMPARE(statuses(push(QStringLiteral("items"),
                               { change("1", "a", QJsonValue(), { { "qty", 1 } }) })),
                 QStringList({ "applied" }));
        QCOMPARE(m_backend->exec("SELECT count(*) FROM _bs_pushes WHERE client = 'old'").toInt(),
                 0);
        QCOMPARE(m_backend->exec("SELECT count(*) FROM _bs_pushes WHERE client <> 'old'").toInt(),
                 2);
    }

    void sameRecordTwice()
    {
        QString error;
        QVERIFY2(m_server->backend()->upsert(QStringLiteral("items"),
                                             { { QStringLiteral("a"), { { "qty", 1 } } },
                                               { QStringLiteral("b"), { { "qty", 2 } } } },
                                             &error),
                 qPrintable(error));
        const QString a = version(QStringLiteral("a"));
        const QString b = version(QStringLiteral("b"));
        const QJsonArray changes {
            change("1", "a", a, { { "qty", 10 } }),
            change("2", "a", a, { { "qty", 20 } }), // its base is gone: the first wrote a
            deletion("3", "b", b),
            change("4", "b", QJsonValue(), { { "qty", 30 } }), // a create over the deletion
            change("5", "x", QJsonValue(), { { "qty", 40 } }),
            change("6", "x", QJsonValue(), { { "qty", 50 } }), // x is live by now
            change("1", "z", QJsonValue(), { { "qty", 60 } }), // a changeId seen earlier
            deletion("7", "x", QJsonValue()),
        };
        const QJsonArray results = push(QStringLiteral("items"), changes);
        QCOMPARE(statuses(results),
                 QStringList({ "applied", "conflict", "applied", "applied", "applied", "conflict",
                               "applied", "conflict" }));
        QCOMPARE(results.at(6), results.at(0));
        QString problem;
        QVERIFY2(versionsGrow(results, &problem), qPrintable(problem));
        const QJsonObject second = results.at(1).toObject().value("current").toObject();
        QCOMPARE(second.value("version").toString(),
                 results.at(0).toObject().value("version").toString());
        QCOMPARE(second.value("data").toObject().value("qty").toInt(), 10);
        const QJsonObject sixth = results.at(5).toObject().value("current").toObject();
        QCOMPARE(sixth.value("version").toString(),
                 results.at(4).toObject().value("version").toString());
        QCOMPARE(sixth.value("data").toObject().value("qty").toInt(), 40);
        const QHash<QString, QVariantList> live
            = m_server->backend()->liveRecords(QStringLiteral("items"));
        QCOMPARE(live.size(), 3);
        QCOMPARE(live.value(QStringLiteral("a")).value(1), QVariant(qint64(10)));
        QCOMPARE(live.value(QStringLiteral("b")).value(1), QVariant(qint64(30)));
        QCOMPARE(live.value(QStringLiteral("x")).value(1), QVariant(qint64(40)));
        QCOMPARE(results.at(3).toObject().value("version").toString(), version("b"));
        QCOMPARE(m_backend->exec("SELECT count(*) FROM _bs_tombstones WHERE id = 'b'").toInt(), 0);
    }

    void refusedValuesAmongMany()
    {
        // A user's table refuses what its columns cannot take: among 100 changes, those only.
        QString error;
        QVERIFY2(PgTest::exec(Database, m_backend->schema(),
                              QStringLiteral("CREATE TABLE orders(id integer PRIMARY KEY, amount "
                                             "integer NOT NULL CHECK (amount > 0), note text)"),
                              &error),
                 qPrintable(error));
        QCOMPARE(m_backend->exec("SELECT batchsync_track('orders')").toString(),
                 QStringLiteral("orders"));
        QJsonArray changes;
        QStringList expected;
        for (int i = 1; i <= 100; ++i) {
            QJsonObject data { { "amount", 3 }, { "note", QStringLiteral("n%1").arg(i) } };
            QString id = QString::number(i);
            QString status = QStringLiteral("applied");
            if (i == 20) {
                data.insert("amount", 0); // the CHECK
            } else if (i == 40) {
                data.insert("amount", qint64(3000000000)); // beyond integer
            } else if (i == 80) {
                data.insert("note", QString(QStringLiteral("a") + QChar(0))); // no U+0000 in text
            } else if (i == 90) {
                data.remove("amount"); // NOT NULL
            }
            if (i == 20 || i == 40 || i == 80 || i == 90)
                status = QStringLiteral("rejected");
            changes.append(change(QStringLiteral("o%1").arg(i), id, QJsonValue(), data));
            expected.append(status);
        }
        const QJsonArray results = push(QStringLiteral("orders"), changes);
        QCOMPARE(statuses(results), expected);
        for (int i : { 20, 40, 90 }) {
            const QString error = results.at(i - 1).toObject().value("error").toString();
            QVERIFY2(error.startsWith(QStringLiteral("the database refused the record: ")),
                     qPrintable(error));
        }
        QCOMPARE(results.at(79).toObject().value("error").toString(),
                 QStringLiteral("PostgreSQL text cannot hold U+0000"));
        QString problem;
        QVERIFY2(versionsGrow(results, &problem), qPrintable(problem));
        QCOMPARE(m_backend->exec("SELECT count(*) FROM orders").toInt(), 96);
        QCOMPARE(m_backend->exec("SELECT note FROM orders WHERE id = 99").toString(),
                 QStringLiteral("n99"));

        // An id the column cannot take, among others.
        QJsonArray again = push(QStringLiteral("orders"),
                                { change("q1", "200", QJsonValue(), { { "amount", 1 } }),
                                  change("q2", "sixty", QJsonValue(), { { "amount", 1 } }),
                                  change("q3", "201", QJsonValue(), { { "amount", 1 } }) });
        QCOMPARE(statuses(again), QStringList({ "applied", "rejected", "applied" }));
        QVERIFY2(again.at(1).toObject().value("error").toString().startsWith(
                     QStringLiteral("the database refused the record: ")),
                 qPrintable(again.at(1).toObject().value("error").toString()));

        // "07" is the record 7: a create of it conflicts, and gives the id as the client wrote it.
        const QString seven = results.at(6).toObject().value("version").toString();
        again = push(QStringLiteral("orders"),
                     { change("p1", "07", QJsonValue(), { { "amount", 5 } }) });
        QCOMPARE(statuses(again), QStringList({ "conflict" }));
        QJsonObject current = again.at(0).toObject().value("current").toObject();
        QCOMPARE(current.value("id").toString(), QStringLiteral("07"));
        QCOMPARE(current.value("version").toString(), seven);
        // Two names of one record in one request: decided one after the other.
        again = push(QStringLiteral("orders"),
                     { change("p2", "7", seven, { { "amount", 9 } }),
                       change("p3", "007", seven, { { "amount", 11 } }) });
        QCOMPARE(statuses(again), QStringList({ "applied", "conflict" }));
        current = again.at(1).toObject().value("current").toObject();
        QCOMPARE(current.value("version").toString(),
                 again.at(0).toObject().value("version").toString());
        QCOMPARE(current.value("data").toObject().value("amount").toInt(), 9);
        QCOMPARE(m_backend->exec("SELECT amount FROM orders WHERE id = 7").toInt(), 9);
    }
};

QTEST_GUILESS_MAIN(TstPgPush)
#include "tst_pgpush.moc"
