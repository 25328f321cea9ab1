// Row filters on the pull side of the server's backends (SQLite; PostgreSQL as
// tst_rows_postgres): what a caller restricted to some rows is served and counted from a
// position, in cursor and offset mode; records that leave its rows served as deletions, ids it
// could never see never served; plain SQL writes and two servers on PostgreSQL; and a partition
// run where records move between regions while two devices pull.

#include "testutil/rowdevice.h"

#include <QElapsedTimer>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

const QString Database = QStringLiteral("bs_tst_rows");
const QString Entity = QStringLiteral("customers");

EntitySchema customers()
{
    return { Entity,
             { { QStringLiteral("region"), FieldType::String },
               { QStringLiteral("tier"), FieldType::Int },
               { QStringLiteral("vip"), FieldType::Bool },
               { QStringLiteral("score"), FieldType::Real },
               { QStringLiteral("since"), FieldType::DateTime },
               { QStringLiteral("note"), FieldType::String },
               { QStringLiteral("amount"), FieldType::Decimal } } };
}

RowFilter filterOf(const QByteArray &json)
{
    RowFilter filter;
    const QJsonObject object = QJsonDocument::fromJson(json).object();
    // The file's order matters to no one, but keep it stable.
    QStringList keys = object.keys();
    for (const QString &key : std::as_const(keys))
        filter.equals.append({ key, object.value(key) });
    return filter;
}

// Writes rounds of random changes while devices pull: records move between north, south and
// east, change otherwise, are deleted, created and brought back; one transaction per call,
// sometimes a record twice in one. Remembers which ids ever matched each region, in a
// committed state (what a device could ever see).
class PartitionWriter final
{
public:
    explicit PartitionWriter(quint32 seed)
        : m_random(seed)
    {
    }

    QSet<QString> everIn[2]; // north, south
    int moved = 0; // committed region changes of live records
    int writes = 0;

    bool open(const QString &path, const QString &connection, const QString &name, QString *error)
    {
        m_backend = openRowsBackend(path, connection, name, error);
        return m_backend != nullptr;
    }
    void close() { m_backend.reset(); }

    /*! The state before any device pulls: \a records records spread over the regions. */
    void seen(const QString &id, const QString &region)
    {
        m_region.insert(id, region);
        note(id, region);
    }

    bool round(QString *error)
    {
        static const QString regions[]
            = { QStringLiteral("north"), QStringLiteral("south"), QStringLiteral("east") };
        QList<std::pair<QString, QVariantMap>> records;
        QHash<QString, QString> last; // the transaction's final region per id
        for (int i = 0; i < 40; ++i) {
            const QString id = QStringLiteral("r%1").arg(m_random.bounded(800), 4, 10, QChar(u'0'));
            const QString region = regions[m_random.bounded(3)];
            records.append(
                { id,
                  { { QStringLiteral("region"), region },
                    { QStringLiteral("note"), QString::number(m_random.bounded(9)) } } });
            last.insert(id, region);
        }
        if (!m_backend->upsert(Entity, records, error))
            return false;
        writes += int(records.size());
        for (auto it = last.cbegin(); it != last.cend(); ++it) {
            const QString before = m_region.value(it.key());
            if (!before.isEmpty() && before != it.value())
                ++moved;
            m_region.insert(it.key(), it.value());
            note(it.key(), it.value());
        }
        QStringList gone;
        for (int i = 0; i < 6; ++i)
            gone.append(QStringLiteral("r%1").arg(m_random.bounded(800), 4, 10, QChar(u'0')));
        if (!m_backend->remove(Entity, gone, error))
            return false;
        for (const QString &id : std::as_const(gone))
            m_region.remove(id);
        writes += int(gone.size());
        return true;
    }

private:
    void note(const QString &id, const QString &region)
    {
        if (region == QLatin1String("north"))
            everIn[0].insert(id);
        else if (region == QLatin1String("south"))
            everIn[1].insert(id);
    }

    QRandomGenerator m_random;
    std::unique_ptr<ServerBackend> m_backend;
    QHash<QString, QString> m_region; // live records' regions
};

} // namespace

class TstRows final : public QObject
{
    Q_OBJECT

private:
    int m_tests = 0;
    int m_backends = 0;
    QString m_schema;
    QString m_connection;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<ServerBackend> m_store;

    QString path() const { return m_dir->filePath(QStringLiteral("rows.sqlite")); }

    std::unique_ptr<ServerBackend> openBackend()
    {
        QString error;
        auto backend = openRowsBackend(path(), m_connection,
                                       QStringLiteral("tst_rows-%1").arg(++m_backends), &error);
        if (!backend)
            qWarning("cannot open the backend: %s", qPrintable(error));
        return backend;
    }

    // "a {json}" upserts record a with those fields (the others null); "-a" deletes it;
    // "a {json} | b {json}" upserts both in one call (one transaction).
    bool run(ServerBackend *backend, const QStringList &ops)
    {
        for (const QString &op : ops) {
            QString error;
            bool ok = false;
            if (op.startsWith(u'-')) {
                ok = backend->remove(Entity, { op.mid(1) }, &error);
            } else {
                QList<std::pair<QString, QVariantMap>> records;
                for (const QString &record : op.split(QLatin1String(" | "))) {
                    const qsizetype space = record.indexOf(u' ');
                    records.append({ record.left(space),
                                     QJsonDocument::fromJson(record.mid(space + 1).toUtf8())
                                         .object()
                                         .toVariantMap() });
                }
                ok = backend->upsert(Entity, records, &error);
            }
            if (!ok) {
                qWarning("%s: %s", qPrintable(op), qPrintable(error));
                return false;
            }
        }
        return true;
    }

    // The position after every change so far, as an unfiltered caller gets it.
    QString positionNow(PagingMode mode)
    {
        RowDevice all;
        all.mode = mode;
        QString error;
        if (!all.pullAll(m_store.get(), Entity, 1000, &error))
            qWarning("%s", qPrintable(error));
        return mode == PagingMode::Cursor ? all.since : all.pageMax;
    }

private slots:
    void initTestCase() { BATCHSYNC_SKIP_UNLESS_POSTGRES_USABLE(); }

    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        if (PgTest::selected()) {
            m_schema = QStringLiteral("r%1").arg(++m_tests);
            m_connection = PgTest::connection(Database, m_schema, true);
            QVERIFY(!m_connection.isEmpty());
        }
        m_store = openBackend();
        QVERIFY(m_store);
        QString error;
        QVERIFY2(m_store->addEntity(customers(), &error), qPrintable(error));
        QVERIFY2(
            m_store->setRowFields({ { Entity,
                                      { QStringLiteral("region"), QStringLiteral("tier"),
                                        QStringLiteral("vip"), QStringLiteral("score"),
                                        QStringLiteral("since"), QStringLiteral("amount") } } },
                                  &error),
            qPrintable(error));
    }

    void cleanup()
    {
        m_store.reset();
        if (!m_schema.isEmpty())
            PgTest::dropSchema(Database, m_schema);
        m_schema.clear();
        m_dir.reset();
    }

    // From a device at the position after `setup`, holding the records that matched then:
    // what a caller with `filter` is served after `after`, in order (offset mode: any order).
    void served_data()
    {
        QTest::addColumn<PagingMode>("mode");
        QTest::addColumn<QByteArray>("filter");
        QTest::addColumn<QStringList>("setup");
        QTest::addColumn<QStringList>("after");
        QTest::addColumn<QStringList>("expected");

        const QString n = QStringLiteral("{\"region\":\"north\"}");
        const QString s = QStringLiteral("{\"region\":\"south\"}");
        const QString n2 = QStringLiteral("{\"region\":\"north\",\"note\":\"2\"}");
        const QString s2 = QStringLiteral("{\"region\":\"south\",\"note\":\"2\"}");
        const QByteArray north = "{\"region\":\"north\"}";
        struct Case
        {
            const char *name;
            QByteArray filter;
            QStringList setup, after, expected;
        };
        const QList<Case> cases {
            { "untouched", north, { "a " + n }, {}, {} },
            { "changed inside", north, { "a " + n }, { "a " + n2 }, { "a+" } },
            { "insert inside", north, {}, { "b " + n }, { "b+" } },
            { "insert outside", north, {}, { "b " + s }, {} },
            { "move out", north, { "a " + n }, { "a " + s }, { "a-" } },
            { "move in", north, { "a " + s }, { "a " + n }, { "a+" } },
            { "move out, change", north, { "a " + n }, { "a " + s, "a " + s2 }, { "a-" } },
            { "moved out before", north, { "a " + n, "a " + s }, { "a " + s2 }, {} },
            { "move out and back", north, { "a " + n }, { "a " + s, "a " + n2 }, { "a-", "a+" } },
            { "move in and out", north, { "a " + s }, { "a " + n, "a " + s }, { "a-" } },
            { "outside changed", north, { "a " + s }, { "a " + s2 }, {} },
            { "delete inside", north, { "a " + n }, { "-a" }, { "a-" } },
            { "delete outside", north, { "a " + s }, { "-a" }, {} },
            { "insert outside, delete", north, {}, { "b " + s, "-b" }, {} },
            { "insert inside, delete", north, {}, { "b " + n, "-b" }, { "b-" } },
            { "move out, delete", north, { "a " + n }, { "a " + s, "-a" }, { "a-" } },
            { "deleted, back outside", north, { "a " + n, "-a" }, { "a " + s }, {} },
            { "deleted, back inside, out",
              north,
              { "a " + n, "-a" },
              { "a " + n, "a " + s },
              { "a-" } },
            // One transaction writing a record several times: judged by the values before it.
            { "batch: note, then out", north, { "a " + n }, { "a " + n2 + " | a " + s }, { "a-" } },
            { "batch: in, then out", north, { "a " + s }, { "a " + n + " | a " + s2 }, {} },
            { "batch: insert in, out", north, {}, { "b " + n + " | b " + s }, {} },
            { "batch: out and back", north, { "a " + n }, { "a " + s + " | a " + n2 }, { "a+" } },
            { "batch across a page",
              north,
              { "a " + n, "b " + n },
              { "b " + n2 + " | a " + s + " | b " + s },
              { "a-", "b-" } },
            { "null region in", north, { "a {}" }, { "a " + n }, { "a+" } },
            { "null region out", north, { "a " + n }, { "a {}" }, { "a-" } },
            { "several in order",
              north,
              { "a " + n, "b " + n, "c " + s },
              { "a " + s, "b " + n2, "c " + s2, "d " + n, "-c" },
              { "a-", "b+", "d+" } },
            { "two fields: one flips",
              "{\"region\":\"north\",\"vip\":true}",
              { "a {\"region\":\"north\",\"vip\":true}", "b {\"region\":\"north\",\"vip\":false}" },
              { "a {\"region\":\"north\",\"vip\":false}", "b {\"region\":\"north\",\"vip\":true}" },
              { "a-", "b+" } },
            { "two fields: never both",
              "{\"region\":\"north\",\"vip\":true}",
              { "a {\"region\":\"south\",\"vip\":true}" },
              { "a {\"region\":\"north\",\"vip\":false}", "a {\"region\":\"south\",\"vip\":true}" },
              {} },
            { "int",
              "{\"tier\":3}",
              { "a {\"tier\":3}", "b {\"tier\":4}" },
              { "a {\"tier\":4}", "b {\"tier\":3}", "c {\"tier\":30}" },
              { "a-", "b+" } },
            { "bool false",
              "{\"vip\":false}",
              { "a {\"vip\":false}", "b {}" },
              { "a {\"vip\":true}", "b {\"vip\":false}" },
              { "a-", "b+" } },
            { "null",
              "{\"region\":null}",
              { "a {}", "b " + n },
              { "a " + n, "b {}", "c " + s },
              { "a-", "b+" } },
            { "real",
              "{\"score\":1.5}",
              { "a {\"score\":1.5}" },
              { "a {\"score\":2.5}", "b {\"score\":1.5}" },
              { "a-", "b+" } },
            // A decimal equals a string as its exact text, a number as the number it reads as.
            { "decimal text",
              "{\"amount\":\"12.50\"}",
              { "a {\"amount\":\"12.50\"}", "b {\"amount\":\"12.5\"}" },
              { "a {\"amount\":\"13.00\"}", "b {\"amount\":\"12.50\"}" },
              { "a-", "b+" } },
            { "decimal number",
              "{\"amount\":12.5}",
              { "a {\"amount\":\"12.50\"}" },
              { "a {\"amount\":\"13\"}", "b {\"amount\":\"12.5\"}", "c {\"amount\":\"125\"}" },
              { "a-", "b+" } },
            { "datetime",
              "{\"since\":\"2026-01-02T03:04:05.006Z\"}",
              { "a {\"since\":\"2026-01-02T03:04:05.006Z\"}" },
              { "a {\"since\":\"2026-01-02T03:04:05.007Z\"}",
                "b {\"since\":\"2026-01-02T03:04:05.006Z\"}" },
              { "a-", "b+" } },
        };
        for (const PagingMode mode : { PagingMode::Cursor, PagingMode::Offset }) {
            for (const Case &c : cases) {
                QTest::addRow("%s: %s", mode == PagingMode::Cursor ? "cursor" : "offset", c.name)
                    << mode << c.filter << c.setup << c.after << c.expected;
            }
        }
    }

    void served()
    {
        QFETCH(PagingMode, mode);
        QFETCH(QByteArray, filter);
        QFETCH(QStringList, setup);
        QFETCH(QStringList, after);
        QFETCH(QStringList, expected);
        QVERIFY(run(m_store.get(), setup));

        RowDevice device;
        device.filter = filterOf(filter);
        device.mode = mode;
        device.since = positionNow(mode);
        device.records = RowDevice::expected(m_store.get(), Entity, device.filter);
        if (mode == PagingMode::Offset)
            waitPast(device.since);
        QVERIFY(run(m_store.get(), after));

        // In pages of one and of many: the same changes, and count() says how many.
        RowDevice paged = device;
        QString error;
        QVERIFY2(device.pullAll(m_store.get(), Entity, 1000, &error), qPrintable(error));
        QVERIFY2(paged.pullAll(m_store.get(), Entity, 1, &error), qPrintable(error));
        QCOMPARE(paged.served, device.served);
        if (mode == PagingMode::Offset) {
            device.served.sort();
            expected.sort();
        }
        QCOMPARE(device.served, expected);
        QCOMPARE(device.records, RowDevice::expected(m_store.get(), Entity, device.filter));
        // Caught up, a cursor moves past the changes it was not served: the next pull need
        // not read them again.
        if (mode == PagingMode::Cursor) {
            QCOMPARE(device.since, positionNow(mode));
            QCOMPARE(paged.since, device.since);
        }
        // Caught up: nothing more, and count() agrees.
        QVERIFY2(device.pullAll(m_store.get(), Entity, 10, &error), qPrintable(error));
        QCOMPARE(device.served.size(), expected.size());
    }

    void unfilteredUnchanged()
    {
        QVERIFY(run(m_store.get(),
                    { "a {\"region\":\"north\"}", "b {\"region\":\"south\"}",
                      "a {\"region\":\"south\"}", "-b" }));
        RowDevice all;
        QString error;
        QVERIFY2(all.pullAll(m_store.get(), Entity, 1, &error), qPrintable(error));
        QCOMPARE(all.served, QStringList({ "a+", "b-" }));
    }

    void refused_data()
    {
        QTest::addColumn<QByteArray>("filter");
        QTest::addColumn<QString>("field");
        QTest::newRow("unknown field") << QByteArray("{\"colour\":\"red\"}") << "colour";
        QTest::newRow("not registered") << QByteArray("{\"note\":\"x\"}") << "note";
        QTest::newRow("string for int") << QByteArray("{\"tier\":\"3\"}") << "tier";
        QTest::newRow("fraction for int") << QByteArray("{\"tier\":1.5}") << "tier";
        QTest::newRow("number for bool") << QByteArray("{\"vip\":1}") << "vip";
        QTest::newRow("number for string") << QByteArray("{\"region\":7}") << "region";
        QTest::newRow("bad datetime") << QByteArray("{\"since\":\"yesterday\"}") << "since";
        QTest::newRow("object") << QByteArray("{\"region\":{}}") << "region";
        QTest::newRow("bad decimal") << QByteArray("{\"amount\":\"1e3\"}") << "amount";
    }

    void refused()
    {
        QFETCH(QByteArray, filter);
        QFETCH(QString, field);
        QVERIFY(run(m_store.get(), { "a {\"region\":\"north\"}" }));
        const RowFilter rows = filterOf(filter);
        for (const PagingMode mode : { PagingMode::Cursor, PagingMode::Offset }) {
            QString error;
            QVERIFY(!m_store->count(Entity, mode, QString(), rows, &error));
            QCOMPARE(m_store->lastError().type, ServerError::Type::Internal);
            QVERIFY2(error.contains(Entity) && error.contains(field), qPrintable(error));
            error.clear();
            QVERIFY(!m_store->changesJson(Entity, mode, QString(), 0, 10, rows, nullptr, &error));
            QCOMPARE(m_store->lastError().type, ServerError::Type::Internal);
            QVERIFY2(error.contains(Entity) && error.contains(field), qPrintable(error));
        }
    }

    void registration()
    {
        QString error;
        QVERIFY(!m_store->setRowFields({ { Entity, { QStringLiteral("colour") } } }, &error));
        QVERIFY2(error.contains(QLatin1String("colour")), qPrintable(error));
        QVERIFY(!m_store->setRowFields({ { QStringLiteral("nothing"), { QStringLiteral("a") } } },
                                       &error));
        QVERIFY(!m_store->rowFields(Entity).contains(QLatin1String("note")));
        // Registered fields last: a backend opened later knows them from the database.
        QVERIFY(run(m_store.get(), { "a {\"region\":\"north\"}" }));
        const QString cursor = positionNow(PagingMode::Cursor);
        QVERIFY(run(m_store.get(), { "a {\"region\":\"south\"}" }));
        m_store.reset();
        m_store = openBackend();
        QVERIFY(m_store);
        QCOMPARE(m_store->rowFields(Entity),
                 QStringList({ "amount", "region", "score", "since", "tier", "vip" }));
        RowDevice device;
        device.filter = filterOf("{\"region\":\"north\"}");
        device.since = cursor;
        QVERIFY2(device.pullAll(m_store.get(), Entity, 10, &error), qPrintable(error));
        QCOMPARE(device.served, QStringList({ "a-" }));
        // A field registered later covers the moves from then on.
        QVERIFY(run(m_store.get(), { "b {\"note\":\"x\"}", "c {\"note\":\"x\"}" }));
        const QString before = positionNow(PagingMode::Cursor);
        QVERIFY(run(m_store.get(), { "b {\"note\":\"y\"}" }));
        QVERIFY2(m_store->setRowFields({ { Entity, { QStringLiteral("note") } } }, &error),
                 qPrintable(error));
        QVERIFY(run(m_store.get(), { "c {\"note\":\"y\"}" }));
        RowDevice notes;
        notes.filter = filterOf("{\"note\":\"x\"}");
        notes.since = before;
        QVERIFY2(notes.pullAll(m_store.get(), Entity, 10, &error), qPrintable(error));
        QCOMPARE(notes.served, QStringList({ "c-" }));
    }

    void plainSql()
    {
        if (!PgTest::selected())
            QSKIP("PostgreSQL only: plain SQL writes to a user's own table");
        QString error;
        QVERIFY2(PgTest::exec(
                     Database, m_schema,
                     QStringLiteral("CREATE TABLE shops(id text PRIMARY KEY, region text, "
                                    "size integer);"
                                    "INSERT INTO shops VALUES ('s1', 'north', 1), "
                                    "('s2', 'north', 2), ('s3', 'south', 3), ('s6', 'north', 6);"
                                    "SELECT batchsync_track('shops')"),
                     &error),
                 qPrintable(error));
        const QString shops = QStringLiteral("shops");
        QVERIFY2(m_store->setRowFields({ { shops, { QStringLiteral("region") } } }, &error),
                 qPrintable(error));
        RowDevice device;
        device.filter = filterOf("{\"region\":\"north\"}");
        QVERIFY2(device.pullAll(m_store.get(), shops, 10, &error), qPrintable(error));
        QCOMPARE(device.served, QStringList({ "s1+", "s2+", "s6+" }));
        // Another program's writes, each its own transaction: a move out, a rename (the old
        // id leaves), a deletion of a record the device never saw, one moving in; then
        // transactions writing a record more than once: one made and moved in and out (never
        // anyone's to see), one changed and moved out.
        const QStringList writes {
            QStringLiteral("UPDATE shops SET region = 'south' WHERE id = 's1'"),
            QStringLiteral("UPDATE shops SET id = 's9' WHERE id = 's2'"),
            QStringLiteral("DELETE FROM shops WHERE id = 's3'"),
            QStringLiteral("INSERT INTO shops VALUES ('s4', 'south', 4)"),
            QStringLiteral("UPDATE shops SET region = 'north' WHERE id = 's4'"),
            QStringLiteral("BEGIN; INSERT INTO shops VALUES ('s5', 'east', 5);"
                           "UPDATE shops SET region = 'north' WHERE id = 's5';"
                           "UPDATE shops SET region = 'east' WHERE id = 's5'; COMMIT"),
            QStringLiteral("BEGIN; UPDATE shops SET size = 60 WHERE id = 's6';"
                           "UPDATE shops SET region = 'south' WHERE id = 's6'; COMMIT"),
        };
        for (const QString &sql : writes)
            QVERIFY2(PgTest::exec(Database, m_schema, sql, &error), qPrintable(error));
        device.served.clear();
        QVERIFY2(device.pullAll(m_store.get(), shops, 1, &error), qPrintable(error));
        QCOMPARE(device.served, QStringList({ "s1-", "s9+", "s2-", "s4+", "s6-" }));
        QCOMPARE(device.records, RowDevice::expected(m_store.get(), shops, device.filter));
    }

    void twoServers()
    {
        if (!PgTest::selected())
            QSKIP("PostgreSQL only: several servers on one database");
        std::unique_ptr<ServerBackend> other = openBackend();
        QVERIFY(other);
        QString error;
        // The other server registers its own fields too; both keep moving records.
        QVERIFY2(other->setRowFields({ { Entity, { QStringLiteral("note") } } }, &error),
                 qPrintable(error));
        QVERIFY2(other->setRowFields({ { Entity, { QStringLiteral("region") } } }, &error),
                 qPrintable(error));
        QVERIFY(run(m_store.get(), { "a {\"region\":\"north\"}", "b {\"region\":\"north\"}" }));
        RowDevice device;
        device.filter = filterOf("{\"region\":\"north\"}");
        QVERIFY2(device.pullAll(other.get(), Entity, 10, &error), qPrintable(error));
        QVERIFY(run(other.get(), { "a {\"region\":\"south\"}", "c {\"region\":\"north\"}" }));
        QVERIFY(run(m_store.get(), { "-b", "c {\"region\":\"east\"}" }));
        device.served.clear();
        QVERIFY2(device.pullAll(m_store.get(), Entity, 1, &error), qPrintable(error));
        QCOMPARE(device.served, QStringList({ "a-", "b-", "c-" }));
        RowDevice notes;
        notes.filter = filterOf("{\"note\":null}");
        QVERIFY2(notes.pullAll(other.get(), Entity, 2, &error), qPrintable(error));
        QCOMPARE(notes.records, RowDevice::expected(other.get(), Entity, notes.filter));
    }

    void partition_data()
    {
        QTest::addColumn<PagingMode>("mode");
        QTest::newRow("cursor") << PagingMode::Cursor;
        QTest::newRow("offset") << PagingMode::Offset;
    }

    void partition();
};

// Two devices, north and south, pull in small pages while a writer (another backend: another
// server, on a thread of its own in cursor mode; between rounds in offset mode, whose paging
// by offset is exact only while nothing changes) moves records between regions. Each device
// ends with exactly the server's records of its region, and was never served an id that was
// not in its region at some committed moment.
void TstRows::partition()
{
    QFETCH(PagingMode, mode);
    const int rounds = 120;
    PartitionWriter writer(20261207);
    QList<std::pair<QString, QVariantMap>> initial;
    static const char *const regions[] = { "north", "south", "east" };
    for (int i = 0; i < 600; ++i) {
        const QString id = QStringLiteral("r%1").arg(i, 4, 10, QChar(u'0'));
        initial.append({ id, { { QStringLiteral("region"), QLatin1String(regions[i % 3]) } } });
        writer.seen(id, QLatin1String(regions[i % 3]));
    }
    QString error;
    QVERIFY2(m_store->upsert(Entity, initial, &error), qPrintable(error));

    RowDevice devices[2];
    devices[0].filter = filterOf("{\"region\":\"north\"}");
    devices[1].filter = filterOf("{\"region\":\"south\"}");
    for (RowDevice &device : devices)
        device.mode = mode;
    QElapsedTimer timer;
    timer.start();
    if (mode == PagingMode::Cursor) {
        QString writerError;
        std::unique_ptr<QThread> thread(QThread::create([&] {
            if (!writer.open(path(), m_connection, QStringLiteral("tst_rows-writer"), &writerError))
                return;
            for (int i = 0; i < rounds && writerError.isEmpty(); ++i)
                writer.round(&writerError);
            writer.close();
        }));
        thread->start();
        // Pull while the writer writes, and until both devices have caught up after it ended.
        bool caughtUp[2] = { false, false };
        while (!(caughtUp[0] && caughtUp[1])) {
            const bool finished = thread->isFinished();
            for (int d = 0; d < 2; ++d) {
                bool more = false;
                QVERIFY2(devices[d].pullPage(m_store.get(), Entity, 7, &more, &error),
                         qPrintable(error));
                caughtUp[d] = finished && !more;
            }
        }
        thread->wait();
        QVERIFY2(writerError.isEmpty(), qPrintable(writerError));
    } else {
        QVERIFY2(writer.open(path(), m_connection, QStringLiteral("tst_rows-writer"), &error),
                 qPrintable(error));
        for (int i = 0; i < rounds; ++i) {
            for (RowDevice &device : devices) {
                QVERIFY2(device.pullAll(m_store.get(), Entity, 7, &error), qPrintable(error));
                waitPast(device.since);
            }
            QVERIFY2(writer.round(&error), qPrintable(error));
        }
        writer.close();
    }
    const qint64 elapsed = timer.elapsed();

    for (int d = 0; d < 2; ++d) {
        RowDevice &device = devices[d];
        // Caught up: count() and the pages agree from here too.
        QVERIFY2(device.pullAll(m_store.get(), Entity, 7, &error), qPrintable(error));
        const QHash<QString, QJsonObject> expected
            = RowDevice::expected(m_store.get(), Entity, device.filter);
        QVERIFY(!expected.isEmpty());
        const QString differs = difference(device.records, expected);
        QVERIFY2(differs.isEmpty(), qPrintable(differs));
        const QSet<QString> outside = device.servedIds - writer.everIn[d];
        QVERIFY2(outside.isEmpty(),
                 qPrintable(QStringLiteral("served ids it could never see: ")
                            + QStringList(outside.values()).join(u' ')));
        // A fresh device from the start: exactly its records, nothing it could not see now.
        RowDevice fresh;
        fresh.filter = device.filter;
        fresh.mode = mode;
        QVERIFY2(fresh.pullAll(m_store.get(), Entity, 50, &error), qPrintable(error));
        QCOMPARE(fresh.records, expected);
        QVERIFY(fresh.servedIds - writer.everIn[d] == QSet<QString>());
    }
    qInfo("partition (%s, %s): %d writes, %d records moved between regions; pages with changes "
          "%d north / %d south (%d / %d requests), changes served %lld / %lld, %lld ms",
          PgTest::selected() ? "postgres" : "sqlite",
          mode == PagingMode::Cursor ? "cursor" : "offset", writer.writes, writer.moved,
          devices[0].fullPages, devices[1].fullPages, devices[0].pages, devices[1].pages,
          qint64(devices[0].served.size()), qint64(devices[1].served.size()), elapsed);
}

QTEST_GUILESS_MAIN(TstRows)
#include "tst_rows.moc"
