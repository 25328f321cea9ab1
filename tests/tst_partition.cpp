// The partition test of the access rules, end to end: records move between regions while two
// devices, whose tokens see only their own region's rows, sync again and again over HTTP with
// the real engine. At the end each device's local database holds exactly the server's records
// of its region, and no page ever served to a token named an id that was never in its region.
// On SQLite, or on PostgreSQL with BATCHSYNC_TEST_BACKEND=postgres.

#include "engine/syncengine.h"
#include "server/access/authrules.h"
#include "testutil/localdb.h"
#include "testutil/pushfixture.h"

#include <QRandomGenerator>
#include <QSet>
#include <QTemporaryDir>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

const QString PgDatabase = QStringLiteral("batchsync_partition");
const QStringList Regions { "north", "south", "east" };
constexpr int Records = 300;

QByteArray tokenOf(const QString &region)
{
    return "device-" + region.toLatin1() + "-secret";
}

} // namespace

class TstPartition : public QObject, private PushFixture
{
    Q_OBJECT

private slots:
    void initTestCase() { BATCHSYNC_SKIP_UNLESS_POSTGRES_USABLE(); }

    void init()
    {
        if (PgTest::selected()) {
            m_postgres = PgTest::connection(PgDatabase, QStringLiteral("partition"), true);
            QVERIFY(!m_postgres.isEmpty());
        }
        QVERIFY(setUp());
        m_dir = std::make_unique<QTemporaryDir>();
    }
    void cleanup()
    {
        tearDown();
        m_dir.reset();
    }

    void devicesSeeOnlyTheirRowsWhileRecordsMove()
    {
        QString error;
        const EntitySchema places { "places",
                                    { { "region", FieldType::String },
                                      { "name", FieldType::String },
                                      { "moves", FieldType::Int } } };
        QVERIFY2(m_server->backend()->addEntity(places, &error), qPrintable(error));

        QByteArray file = "{\"tokens\": [";
        for (const QString &region : { QStringLiteral("north"), QStringLiteral("south") }) {
            file += "{\"name\": \"" + region.toLatin1() + "\", \"sha256\": \""
                + AccessRules::hashHex(tokenOf(region))
                + "\", \"read\": [\"places\"], \"rows\": {\"places\": {\"region\": \""
                + region.toLatin1() + "\"}}},";
        }
        file.chop(1);
        file += "]}";
        const std::optional<AccessRules> rules = AccessRules::parse(file, &error);
        QVERIFY2(rules, qPrintable(error));
        QVERIFY2(m_server->server()->setAccessRules(*rules, &error), qPrintable(error));

        // Every id ever in each region, and every id served to each token.
        QHash<QString, QSet<QString>> everIn;
        QHash<QString, QSet<QString>> served;
        connect(m_server->server(), &SyncServer::pageSent, this,
                [&served](const QString &, const QString &token, const QByteArray &page) {
                    const QJsonArray changes
                        = QJsonDocument::fromJson(page).object().value("changes").toArray();
                    for (const QJsonValue &change : changes)
                        served[token].insert(change.toObject().value("id").toString());
                });

        QRandomGenerator random(20261207);
        QHash<QString, int> moves;
        const auto write = [&](const QString &id) {
            const QString region = Regions.at(int(random.bounded(Regions.size())));
            everIn[region].insert(id);
            const QVariantMap data { { "region", region },
                                     { "name", QStringLiteral("Place %1").arg(id) },
                                     { "moves", moves[id]++ } };
            QVERIFY2(m_server->backend()->upsert("places", id, data, &error), qPrintable(error));
        };
        for (int i = 0; i < Records; ++i)
            write(QStringLiteral("p%1").arg(i));

        // Two devices syncing again and again on their own threads, while records move (and
        // some are deleted) here between their pages.
        std::vector<std::unique_ptr<SyncEngine>> devices;
        std::vector<std::unique_ptr<QSignalSpy>> rounds;
        for (const QString &region : { QStringLiteral("north"), QStringLiteral("south") }) {
            SyncSettings s;
            s.endpoint = m_server->baseUrl();
            s.databasePath = m_dir->filePath(region + ".sqlite");
            s.token = QString::fromLatin1(tokenOf(region));
            s.batchSize = 100;
            s.retryBaseDelayMs = 10;
            s.retryMaxDelayMs = 100;
            SyncEngine *engine = devices.emplace_back(std::make_unique<SyncEngine>(s)).get();
            rounds.push_back(std::make_unique<QSignalSpy>(engine, &SyncEngine::finished));
            connect(engine, &SyncEngine::finished, engine, &SyncEngine::startAll);
            engine->startAll();
        }
        int writes = 0;
        int deletions = 0;
        QElapsedTimer clock;
        clock.start();
        while (writes < 2000) {
            const QString id = QStringLiteral("p%1").arg(random.bounded(Records + 20));
            if (random.bounded(20) == 0) {
                QVERIFY(m_server->backend()->remove("places", { id }, &error));
                ++deletions;
            } else {
                write(id);
            }
            ++writes;
            if (writes % 25 == 0)
                QTest::qWait(5); // the devices' requests are served meanwhile
        }
        const int roundsDuringWrites = int(rounds[0]->size() + rounds[1]->size());

        // Writes over: one more whole round each, then compare.
        for (size_t d = 0; d < devices.size(); ++d) {
            disconnect(devices[d].get(), &SyncEngine::finished, devices[d].get(),
                       &SyncEngine::startAll);
            const qsizetype before = rounds[d]->size();
            QTRY_VERIFY_WITH_TIMEOUT(rounds[d]->size() > before && !devices[d]->isBusy(), 60000);
            devices[d]->startAll();
            QTRY_VERIFY_WITH_TIMEOUT(rounds[d]->size() > before + 1 && !devices[d]->isBusy(),
                                     60000);
        }
        const QHash<QString, QVariantList> all = m_server->backend()->liveRecords("places");
        for (const QString &region : { QStringLiteral("north"), QStringLiteral("south") }) {
            QHash<QString, QVariantList> expected;
            for (auto it = all.cbegin(); it != all.cend(); ++it) {
                if (it->at(0).toString() == region)
                    expected.insert(it.key(), *it);
            }
            QVERIFY(!expected.isEmpty());
            const QString differs
                = differences(m_dir->filePath(region + ".sqlite"), places, expected);
            QVERIFY2(differs.isEmpty(), qPrintable(region + ": " + differs));
            const QSet<QString> outside = served.value(region) - everIn.value(region);
            QVERIFY2(outside.isEmpty(),
                     qPrintable(region + " was served ids never in it: "
                                + QStringList(outside.values()).join(u' ')));
            QVERIFY(!served.value(region).isEmpty());
            qInfo("%s: %lld records at the end, %lld ids served, %d ids ever in it",
                  qPrintable(region), qint64(expected.size()), qint64(served.value(region).size()),
                  int(everIn.value(region).size()));
        }
        qInfo("%d writes (%d deletions) in %lld ms, %d rounds of the devices meanwhile", writes,
              deletions, clock.elapsed(), roundsDuringWrites);
        QVERIFY(roundsDuringWrites >= 2);
    }

private:
    std::unique_ptr<QTemporaryDir> m_dir;
};

QTEST_GUILESS_MAIN(TstPartition)
#include "tst_partition.moc"
