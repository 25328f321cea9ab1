#include "common/identifier.h"
#include "common/types.h"
#include "sources/protocol/protocolparser.h"
#include "store/localstore.h"
#include "testutil/immutable.h"
#include "testutil/rawdb.h"

#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QRandomGenerator>
#include <QScopeGuard>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QSqlRecord>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QUuid>
#include <atomic>
#include <functional>
#include <limits>
#include <memory>
#include <sqlite3.h>

#ifdef Q_OS_LINUX
#include <unistd.h> // access()
#endif

using namespace BatchSync;
using Test::RawDb;

namespace {

QString uniqueConnectionName()
{
    static std::atomic<int> serial { 0 };
    return QStringLiteral("tst_store_%1").arg(++serial);
}

const QString someTime = QStringLiteral("2026-11-26T06:20:16.123Z");

EntitySchema customersSchema()
{
    return EntitySchema { QStringLiteral("customers"),
                          { { QStringLiteral("name"), FieldType::String },
                            { QStringLiteral("balance"), FieldType::Real },
                            { QStringLiteral("active"), FieldType::Bool },
                            { QStringLiteral("visits"), FieldType::Int },
                            { QStringLiteral("since"), FieldType::DateTime } } };
}

Change record(const QString &id, const QString &name, qint64 visits = 1, bool active = true,
              const QString &changedAt = someTime)
{
    Change change;
    change.id = id;
    change.changedAt = changedAt;
    change.values = { name, 12.5, active, visits, QStringLiteral("2025-01-02T03:04:05.000Z") };
    return change;
}

Change tombstone(const QString &id, const QString &changedAt = someTime)
{
    Change change;
    change.id = id;
    change.changedAt = changedAt;
    change.deleted = true;
    return change;
}

/*! Runs \a sql on the store's own connection (same thread), e.g. to set a pragma. */
bool execOnStore(const LocalStore &store, const QString &sql)
{
    QSqlQuery query(QSqlDatabase::database(store.connectionName(), false));
    if (query.exec(sql))
        return true;
    qWarning() << sql << query.lastError().text();
    return false;
}

/*! One batch from steps such as "a=Ada" (upsert a, named Ada) and "-a" (delete a). */
QList<Change> changesFrom(const QString &steps)
{
    QList<Change> changes;
    for (const QString &step : steps.split(u' ', Qt::SkipEmptyParts)) {
        if (step.startsWith(u'-'))
            changes.append(tombstone(step.mid(1)));
        else
            changes.append(record(step.section(u'=', 0, 0), step.section(u'=', 1)));
    }
    return changes;
}

/*! "id=name" for every row of \a table (duplicate ids included), ordered by id and name. */
QStringList contents(RawDb &raw, const QString &table = QStringLiteral("customers"))
{
    QStringList result;
    for (const QVariantList &row :
         raw.rows(QStringLiteral("SELECT id, name FROM %1 ORDER BY id, name").arg(table))) {
        result.append(row.at(0).toString() + u'=' + row.at(1).toString());
    }
    return result;
}

/*! Names of the unique indexes on exactly id of \a table. */
QStringList uniqueIdIndexes(RawDb &raw, const QString &table = QStringLiteral("customers"))
{
    QStringList names;
    for (const QVariantList &row :
         raw.rows(QStringLiteral("SELECT il.name FROM pragma_index_list('%1') AS il WHERE "
                                 "il.\"unique\" = 1 AND (SELECT count(*) FROM "
                                 "pragma_index_info(il.name)) = 1 AND (SELECT name FROM "
                                 "pragma_index_info(il.name)) = 'id'")
                      .arg(table))) {
        names.append(row.first().toString());
    }
    return names;
}

/*! Runs a small sync sequence on whatever thread it lives in. */
class StoreWorker final : public QObject
{
    Q_OBJECT

public:
    explicit StoreWorker(const QString &path)
        : m_path(path)
    {
    }

public Q_SLOTS:
    void run()
    {
        const bool onMainThread = QThread::currentThread() == qApp->thread();
        LocalStore store(m_path, uniqueConnectionName());
        SyncError error;
        const EntitySchema schema = customersSchema();
        const bool ok = store.open(&error) && store.ensureEntity(schema, &error)
            && store.beginRun(schema.name, PagingMode::Cursor, {}, 2, SyncState::Running, &error)
            && store.applyBatch(schema,
                                { record(QStringLiteral("w1"), QStringLiteral("W")),
                                  record(QStringLiteral("w2"), QStringLiteral("X")) },
                                { QStringLiteral("c2"), {} }, 2, 2, &error)
            && store.completeRun(schema.name, { QStringLiteral("c2"), {} }, 2, 2,
                                 QDateTime::currentDateTimeUtc(), &error);
        Q_EMIT finished(ok, ok ? store.rowCount(schema.name) : -1, error.message, onMainThread);
    }

Q_SIGNALS:
    void finished(bool ok, qint64 rows, const QString &message, bool onMainThread);

private:
    QString m_path;
};

} // namespace

class TestStore final : public QObject
{
    Q_OBJECT

private:
    QString newPath() { return m_dir->filePath(QStringLiteral("db%1.sqlite").arg(++m_serial)); }

    // A first sync of \a rows records of about 1 KB, in batches of 1000, completed; their ids
    // go to \a ids.
    void loadFromScratch(LocalStore &store, const EntitySchema &schema, int rows, QStringList *ids,
                         const std::function<void()> &afterBatch = {})
    {
        SyncError error;
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, {}, rows, SyncState::Counting, &error));
        QVERIFY(store.loadEntity(schema.name, &error)->bulkLoad);
        const QString padding(1000, QLatin1Char('b'));
        for (int start = 0; start < rows; start += 1000) {
            QList<Change> changes;
            for (int i = start; i < qMin(rows, start + 1000); ++i) {
                ids->append(QUuid::createUuid().toString(QUuid::WithoutBraces));
                changes.append(record(ids->last(), padding, i));
            }
            const qint64 done = start + changes.size();
            QVERIFY2(store.applyBatch(schema, changes, { QString::number(done), {} }, done, rows,
                                      &error),
                     qPrintable(error.message));
            if (afterBatch)
                afterBatch();
        }
        QVERIFY2(store.completeRun(schema.name, { QString::number(rows), {} }, rows, rows,
                                   QDateTime::currentDateTimeUtc(), &error),
                 qPrintable(error.message));
        QCOMPARE(store.rowCount(schema.name), rows);
    }

    std::unique_ptr<QTemporaryDir> m_dir;
    int m_serial = 0;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY2(QSqlDatabase::isDriverAvailable(QStringLiteral("QSQLITE")),
                 "the QSQLITE driver is missing (libqt6sql6-sqlite)");
    }

    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
    }

    void cleanup() { m_dir.reset(); }

    void walIsCheckpointedInTheBackground()
    {
        // The writer's own automatic checkpoint waits for tens of megabytes of WAL; the
        // background checkpointer copies the committed pages into the database file while
        // the store stays open, so the file grows long before that.
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        const EntitySchema schema = customersSchema();
        QVERIFY2(store.open(&error) && store.ensureEntity(schema, &error)
                     && store.beginRun(schema.name, PagingMode::Cursor, {}, 0, SyncState::Running,
                                       &error),
                 qPrintable(error.message));
        const qint64 before = QFileInfo(path).size();
        const QString padding(200, QLatin1Char('x'));
        qint64 done = 0;
        for (int batch = 0; batch < 20; ++batch) {
            QList<Change> changes;
            for (int i = 0; i < 500; ++i) {
                changes.append(record(QStringLiteral("r%1-%2").arg(batch).arg(i),
                                      padding + QString::number(i)));
            }
            done += changes.size();
            QVERIFY2(store.applyBatch(schema, changes, { QString::number(done), {} }, done, done,
                                      &error),
                     qPrintable(error.message));
        }
        const QString wal = path + QStringLiteral("-wal");
        QVERIFY(QFileInfo(wal).size() > 1000000); // well below the writer's own bound
        QTRY_VERIFY_WITH_TIMEOUT(QFileInfo(path).size() > before + 1000000, 10000);
        QCOMPARE(store.rowCount(schema.name), done);
        store.close();
        RawDb raw(path);
        QCOMPARE(raw.rows(QStringLiteral("PRAGMA integrity_check")).value(0).value(0).toString(),
                 QStringLiteral("ok"));
        QCOMPARE(raw.rows(QStringLiteral("SELECT count(*) FROM customers"))
                     .value(0)
                     .value(0)
                     .toLongLong(),
                 done);
    }

    void walStaysBoundedInALongSync()
    {
        // The background checkpoints never catch up with a writer that commits every few
        // milliseconds, so the WAL would only start over at the writer's own bound.
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error) && store.ensureEntity(customersSchema(), &error));
        const QString wal = path + QStringLiteral("-wal");
        qint64 largest = 0;
        QStringList ids;
        loadFromScratch(store, customersSchema(), 56000, &ids,
                        [&] { largest = qMax(largest, QFileInfo(wal).size()); });
        if (QTest::currentTestFailed())
            return;
        store.close();
        const qint64 database = QFileInfo(path).size();
        qInfo("largest WAL: %.1f MB, database: %.1f MB", largest / 1048576.0, database / 1048576.0);
        QVERIFY(database > 56 * 1048576);
        QVERIFY2(largest < 48 * 1048576, qPrintable(QString::number(largest)));
    }

    void openCreatesSyncStateInWalMode()
    {
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        QVERIFY(!store.isOpen());
        SyncError error;
        QVERIFY2(store.open(&error), qPrintable(error.message));
        QVERIFY(store.isOpen());
        QCOMPARE(error.category, ErrorCategory::None);
        QVERIFY(QFile::exists(path));
        QVERIFY(store.loadEntities(&error).isEmpty());
        {
            QSqlQuery query(QSqlDatabase::database(store.connectionName(), false));
            QVERIFY(query.exec(QStringLiteral("PRAGMA busy_timeout")) && query.next());
            QCOMPARE(query.value(0).toInt(), 5000);
            QVERIFY(query.exec(QStringLiteral("PRAGMA foreign_keys")) && query.next());
            QCOMPARE(query.value(0).toInt(), 0);
            QVERIFY(query.exec(QStringLiteral("PRAGMA synchronous")) && query.next());
            QCOMPARE(query.value(0).toInt(), 1); // NORMAL
        }

        RawDb raw(path);
        QVERIFY(raw.isOpen());
        QCOMPARE(raw.scalar(QStringLiteral("PRAGMA journal_mode")).toString(),
                 QStringLiteral("wal"));
        QCOMPARE(raw.scalar(QStringLiteral("PRAGMA user_version")).toInt(), 4);
        QStringList columns;
        for (const QVariantList &row :
             raw.rows(QStringLiteral("SELECT name FROM pragma_table_info('_sync_state')"))) {
            columns.append(row.first().toString());
        }
        QCOMPARE(
            columns,
            QStringList({ "entity", "paging", "cursor", "cursor_id", "run_active", "run_cursor",
                          "run_cursor_id", "run_done", "run_total", "state", "error_category",
                          "error_message", "last_completed_at", "fields", "bulk_load" }));
        QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM sqlite_master WHERE type = "
                                           "'table' AND name = '_sync_bulk_deleted'"))
                     .toInt(),
                 1);

        // Opening twice is harmless; close() makes the connection name free again.
        QVERIFY(store.open(&error));
        store.close();
        QVERIFY(!store.isOpen());
        QVERIFY(!QSqlDatabase::contains(store.connectionName()));
        QVERIFY(store.open(&error));
    }

    void openFailsClearly_data()
    {
        QTest::addColumn<QString>("setup");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing folder") << "missing-folder"
                                        << "cannot be opened";
        QTest::newRow("not a database") << "garbage"
                                        << "not a SQLite database";
        QTest::newRow("newer format") << "newer"
                                      << "newer version of BatchSync";
        QTest::newRow("foreign _sync_state") << "foreign"
                                             << "not made by BatchSync";
    }

    void openFailsClearly()
    {
        QFETCH(QString, setup);
        QFETCH(QString, expected);
        QString path = newPath();
        if (setup == u"missing-folder") {
            path = m_dir->filePath(QStringLiteral("no/such/folder/db.sqlite"));
        } else if (setup == u"garbage") {
            QFile file(path);
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write(QByteArray(8192, 'x'));
        } else {
            RawDb raw(path);
            QVERIFY(raw.exec(setup == u"newer"
                                 ? QStringLiteral("PRAGMA user_version = 99")
                                 : QStringLiteral("CREATE TABLE _sync_state (entity TEXT)")));
        }
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(!store.open(&error));
        QVERIFY(!store.isOpen());
        QCOMPARE(error.category, ErrorCategory::Storage);
        QVERIFY2(error.message.contains(expected), qPrintable(error.message));
        QVERIFY2(error.message.contains(QFileInfo(path).fileName()), qPrintable(error.message));
        QVERIFY(!QSqlDatabase::contains(store.connectionName()));
        // A store that is not open says so instead of crashing.
        QVERIFY(!store.ensureEntity(customersSchema(), &error));
        QCOMPARE(error.category, ErrorCategory::Storage);
        QVERIFY(store.loadEntities(&error).isEmpty());
        QCOMPARE(store.rowCount(QStringLiteral("customers")), -1);
    }

    void ensureEntityCreatesTypedColumns_data()
    {
        QTest::addColumn<QString>("entity");
        QTest::addColumn<QString>("field");
        QTest::newRow("plain") << "customers"
                               << "name";
        QTest::newRow("keywords") << "select"
                                  << "order";
        QTest::newRow("more keywords") << "table"
                                       << "where";
        QTest::newRow("mixed case") << "Orders"
                                    << "Total_2";
        QTest::newRow("64 chars") << QString(64, u'e') << QString(64, u'f');
    }

    void ensureEntityCreatesTypedColumns()
    {
        QFETCH(QString, entity);
        QFETCH(QString, field);
        const QString path = newPath();
        const EntitySchema schema { entity,
                                    { { field, FieldType::String },
                                      { QStringLiteral("amount"), FieldType::Real },
                                      { QStringLiteral("flag"), FieldType::Bool },
                                      { QStringLiteral("count"), FieldType::Int },
                                      { QStringLiteral("at"), FieldType::DateTime } } };
        {
            LocalStore store(path, uniqueConnectionName());
            SyncError error;
            QVERIFY2(store.open(&error), qPrintable(error.message));
            QVERIFY2(store.ensureEntity(schema, &error), qPrintable(error.message));
            QVERIFY2(store.ensureEntity(schema, &error), qPrintable(error.message)); // idempotent
            QCOMPARE(store.rowCount(entity), 0);

            Change change;
            change.id = QStringLiteral("k1");
            change.changedAt = someTime;
            change.values = { QStringLiteral("text"), 2.25, true, qint64(7), someTime };
            QVERIFY2(
                store.applyBatch(schema, { change }, { QStringLiteral("1"), {} }, 1, 1, &error),
                qPrintable(error.message));
            QCOMPARE(store.rowCount(entity), 1);

            const auto stored = store.loadEntity(entity, &error);
            QVERIFY(stored);
            QCOMPARE(stored->schema, schema);
            QCOMPARE(stored->paging, PagingMode::Cursor);
        }
        RawDb raw(path);
        const QString table = u'"' + entity + u'"';
        const QList<QVariantList> info = raw.rows(
            QStringLiteral("SELECT name, type, pk FROM pragma_table_info('%1')").arg(entity));
        QCOMPARE(info.size(), 8);
        const QList<std::pair<QString, QString>> expected = {
            { "id", "TEXT" },          { field, "TEXT" },      { "amount", "REAL" },
            { "flag", "INTEGER" },     { "count", "INTEGER" }, { "at", "TEXT" },
            { "_changed_at", "TEXT" }, { "_version", "TEXT" },
        };
        for (int i = 0; i < info.size(); ++i) {
            QCOMPARE(info.at(i).at(0).toString(), expected.at(i).first);
            QCOMPARE(info.at(i).at(1).toString(), expected.at(i).second);
            QCOMPARE(info.at(i).at(2).toInt(), i == 0 ? 1 : 0);
        }
        const QList<QVariantList> rows = raw.rows(
            QStringLiteral("SELECT \"%1\", typeof(amount), flag, typeof(flag), count, at, "
                           "_changed_at FROM %2 WHERE id = 'k1'")
                .arg(field, table));
        QCOMPARE(rows.size(), 1);
        QCOMPARE(rows.first().at(0).toString(), QStringLiteral("text"));
        QCOMPARE(rows.first().at(1).toString(), QStringLiteral("real"));
        QCOMPARE(rows.first().at(2).toInt(), 1);
        QCOMPARE(rows.first().at(3).toString(), QStringLiteral("integer"));
        QCOMPARE(rows.first().at(4).toInt(), 7);
        QCOMPARE(rows.first().at(5).toString(), someTime);
        QCOMPARE(rows.first().at(6).toString(), someTime);
    }

    void hostileNamesRejected_data()
    {
        QTest::addColumn<QString>("entity");
        QTest::addColumn<QString>("field");
        const QStringList hostile
            = { "x; DROP TABLE y", "a\"b", "has space", "id",        "ID",  "_x", "sqlite_master",
                QString(65, u'a'), "",     "1abc",      "caf\u00e9", "a\nb" };
        for (const QString &name : hostile) {
            const QString tag = Identifier::printable(name.left(20));
            QTest::addRow("entity \"%s\"", qPrintable(tag)) << name << "name";
            QTest::addRow("field \"%s\"", qPrintable(tag)) << "customers" << name;
        }
        QTest::newRow("field _changed_at") << "customers"
                                           << "_changed_at";
    }

    void hostileNamesRejected()
    {
        QFETCH(QString, entity);
        QFETCH(QString, field);
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        RawDb raw(path);
        QVERIFY(raw.exec(QStringLiteral("CREATE TABLE y (a)")));
        const auto objectCount = [&raw] {
            return raw.scalar(QStringLiteral("SELECT count(*) FROM sqlite_master")).toInt();
        };
        const int objectsBefore = objectCount();

        const EntitySchema schema {
            entity, { { QStringLiteral("ok"), FieldType::Int }, { field, FieldType::String } }
        };
        QVERIFY(!store.ensureEntity(schema, &error));
        QCOMPARE(error.category, ErrorCategory::Protocol);
        QVERIFY(!error.message.isEmpty());
        QVERIFY2(error.message.contains(u"not a valid identifier")
                     || error.message.contains(u"reserved") || error.message.contains(u"empty"),
                 qPrintable(error.message));
        QVERIFY2(!error.message.contains(u'\n'), qPrintable(error.message));

        Change change;
        change.id = QStringLiteral("1");
        change.changedAt = someTime;
        change.values = { qint64(1), QStringLiteral("v") };
        QVERIFY(!store.applyBatch(schema, { change }, { QStringLiteral("1"), {} }, 1, 1, &error));
        QCOMPARE(error.category, ErrorCategory::Protocol);

        QCOMPARE(objectCount(), objectsBefore);
        QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM _sync_state")).toInt(), 0);
        QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM y")).toInt(), 0);
        QVERIFY(store.loadEntities(&error).isEmpty());
        QCOMPARE(store.rowCount(entity), -1);
    }

    void duplicateFieldNamesRejected()
    {
        LocalStore store(newPath(), uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema { QStringLiteral("customers"),
                                    { { QStringLiteral("Name"), FieldType::String },
                                      { QStringLiteral("name"), FieldType::String } } };
        QVERIFY(!store.ensureEntity(schema, &error));
        QCOMPARE(error.category, ErrorCategory::Protocol);
        QVERIFY2(error.message.contains(u"twice"), qPrintable(error.message));
        QCOMPARE(store.rowCount(QStringLiteral("customers")), -1);
    }

    void entitiesDifferingInCaseRejected()
    {
        LocalStore store(newPath(), uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        EntitySchema schema = customersSchema();
        QVERIFY(store.ensureEntity(schema, &error));
        schema.name = QStringLiteral("Customers");
        QVERIFY(!store.ensureEntity(schema, &error));
        QCOMPARE(error.category, ErrorCategory::Protocol);
        QVERIFY2(error.message.contains(u"letter case"), qPrintable(error.message));
        QCOMPARE(store.loadEntities(&error).size(), 1);
    }

    void addingFieldAltersTableAndKeepsData()
    {
        const QString path = newPath();
        EntitySchema schema { QStringLiteral("items"),
                              { { QStringLiteral("name"), FieldType::String } } };
        {
            LocalStore store(path, uniqueConnectionName());
            SyncError error;
            QVERIFY(store.open(&error));
            QVERIFY(store.ensureEntity(schema, &error));
            Change change;
            change.id = QStringLiteral("a");
            change.changedAt = someTime;
            change.values = { QStringLiteral("first") };
            QVERIFY2(
                store.applyBatch(schema, { change }, { QStringLiteral("1"), {} }, 1, 1, &error),
                qPrintable(error.message));

            // The server adds a field (and renames nothing): the table grows, data stays.
            schema.fields.append({ QStringLiteral("price"), FieldType::Real });
            schema.fields.append({ QStringLiteral("order"), FieldType::Int });
            QVERIFY2(store.ensureEntity(schema, &error), qPrintable(error.message));
            change.id = QStringLiteral("b");
            change.values = { QStringLiteral("second"), 3.5, qint64(4) };
            QVERIFY2(
                store.applyBatch(schema, { change }, { QStringLiteral("2"), {} }, 2, 2, &error),
                qPrintable(error.message));
            QCOMPARE(store.rowCount(schema.name), 2);

            // A field the server no longer reports keeps its column.
            const EntitySchema fewer { schema.name, { schema.fields.at(0), schema.fields.at(2) } };
            QVERIFY(store.ensureEntity(fewer, &error));
            change.id = QStringLiteral("c");
            change.values = { QStringLiteral("third"), qint64(5) };
            QVERIFY2(store.applyBatch(fewer, { change }, { QStringLiteral("3"), {} }, 3, 3, &error),
                     qPrintable(error.message));
            QCOMPARE(store.loadEntity(schema.name, &error)->schema, fewer);
        }
        RawDb raw(path);
        QCOMPARE(
            raw.scalar(QStringLiteral("SELECT count(*) FROM pragma_table_info('items')")).toInt(),
            6); // id, name, _changed_at, _version, price, order
        const QList<QVariantList> rows
            = raw.rows(QStringLiteral("SELECT id, name, price, \"order\" FROM items ORDER BY id"));
        QCOMPARE(rows.size(), 3);
        QCOMPARE(rows.at(0).at(1).toString(), QStringLiteral("first"));
        QVERIFY(rows.at(0).at(2).isNull());
        QCOMPARE(rows.at(1).at(2).toDouble(), 3.5);
        QCOMPARE(rows.at(1).at(3).toInt(), 4);
        QVERIFY(rows.at(2).at(2).isNull());
        QCOMPARE(rows.at(2).at(3).toInt(), 5);
    }

    void changedFieldTypeKeepsColumn()
    {
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        EntitySchema schema { QStringLiteral("items"),
                              { { QStringLiteral("size"), FieldType::Int } } };
        QVERIFY(store.ensureEntity(schema, &error));
        schema.fields[0].type = FieldType::String;
        QVERIFY2(store.ensureEntity(schema, &error), qPrintable(error.message));
        Change change;
        change.id = QStringLiteral("a");
        change.changedAt = someTime;
        change.values = { QStringLiteral("large") };
        QVERIFY2(store.applyBatch(schema, { change }, { QStringLiteral("1"), {} }, 1, 1, &error),
                 qPrintable(error.message));
        QCOMPARE(store.loadEntity(schema.name, &error)->schema, schema);
        RawDb raw(path);
        QCOMPARE(raw.scalar(QStringLiteral(
                                "SELECT type FROM pragma_table_info('items') WHERE name = 'size'"))
                     .toString(),
                 QStringLiteral("INTEGER"));
        QCOMPARE(raw.scalar(QStringLiteral("SELECT size FROM items")).toString(),
                 QStringLiteral("large"));
    }

    void existingForeignTable_data()
    {
        QTest::addColumn<QString>("sql");
        QTest::addColumn<bool>("accepted");
        QTest::addColumn<QString>("expected");
        QTest::newRow("no id column")
            << "CREATE TABLE customers (name TEXT)" << false << "no id column";
        QTest::newRow("id not unique") << "CREATE TABLE customers (id TEXT, name TEXT)" << false
                                       << "neither a text primary key nor unique";
        QTest::newRow("a view") << "CREATE VIEW customers AS SELECT 1 AS id" << false << "view";
        QTest::newRow("unique id")
            << "CREATE TABLE customers (id TEXT UNIQUE, name TEXT)" << true << "";
        QTest::newRow("without rowid")
            << "CREATE TABLE Customers (ID TEXT PRIMARY KEY, extra TEXT) WITHOUT ROWID" << true
            << "";
    }

    void existingForeignTable()
    {
        QFETCH(QString, sql);
        QFETCH(bool, accepted);
        QFETCH(QString, expected);
        const QString path = newPath();
        {
            RawDb raw(path);
            QVERIFY(raw.exec(sql));
        }
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QCOMPARE(store.ensureEntity(schema, &error), accepted);
        if (!accepted) {
            QCOMPARE(error.category, ErrorCategory::Storage);
            QVERIFY2(error.message.contains(expected), qPrintable(error.message));
            QVERIFY(!store.loadEntity(schema.name, &error));
            return;
        }
        QVERIFY2(store.applyBatch(schema, { record("a", "A"), record("a", "B") },
                                  { QStringLiteral("1"), {} }, 2, 2, &error),
                 qPrintable(error.message));
        QCOMPARE(store.rowCount(schema.name), 1);
    }

    void upsertUpdateDelete()
    {
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(store.ensureEntity(schema, &error));
        RawDb raw(path);
        const auto row = [&raw](const QString &id) {
            const QList<QVariantList> rows = raw.rows(
                QStringLiteral("SELECT name, balance, active, visits, since, _changed_at, "
                               "typeof(active), typeof(visits) FROM customers WHERE id = '%1'")
                    .arg(id));
            return rows.isEmpty() ? QVariantList() : rows.first();
        };

        Change withNulls = record(QStringLiteral("c2"), QString());
        withNulls.values = { QVariant(), QVariant(), QVariant(), QVariant(), QVariant() };
        QVERIFY2(store.applyBatch(
                     schema, { record(QStringLiteral("c1"), QStringLiteral("Ada"), 3), withNulls },
                     { QStringLiteral("10"), {} }, 2, 5, &error),
                 qPrintable(error.message));
        QCOMPARE(store.rowCount(schema.name), 2);
        QVariantList c1 = row(QStringLiteral("c1"));
        QCOMPARE(c1.at(0).toString(), QStringLiteral("Ada"));
        QCOMPARE(c1.at(1).toDouble(), 12.5);
        QCOMPARE(c1.at(2).toInt(), 1);
        QCOMPARE(c1.at(3).toInt(), 3);
        QCOMPARE(c1.at(4).toString(), QStringLiteral("2025-01-02T03:04:05.000Z"));
        QCOMPARE(c1.at(5).toString(), someTime);
        QCOMPARE(c1.at(6).toString(), QStringLiteral("integer"));
        QCOMPARE(c1.at(7).toString(), QStringLiteral("integer"));
        const QVariantList c2 = row(QStringLiteral("c2"));
        for (int i = 0; i < 5; ++i)
            QVERIFY2(c2.at(i).isNull(), qPrintable(QString::number(i)));

        const QString later = QStringLiteral("2026-11-26T06:21:00.000Z");
        QVERIFY(store.applyBatch(
            schema, { record(QStringLiteral("c1"), QStringLiteral("Ada L."), 4, false, later) },
            { QStringLiteral("11"), {} }, 3, 5, &error));
        QCOMPARE(store.rowCount(schema.name), 2);
        c1 = row(QStringLiteral("c1"));
        QCOMPARE(c1.at(0).toString(), QStringLiteral("Ada L."));
        QCOMPARE(c1.at(2).toInt(), 0);
        QCOMPARE(c1.at(3).toInt(), 4);
        QCOMPARE(c1.at(5).toString(), later);

        // Deleting twice, or deleting what was never there, is not an error.
        QVERIFY(store.applyBatch(schema,
                                 { tombstone(QStringLiteral("c1")), tombstone(QStringLiteral("c1")),
                                   tombstone(QStringLiteral("never")) },
                                 { QStringLiteral("12"), {} }, 5, 5, &error));
        QCOMPARE(store.rowCount(schema.name), 1);
        QVERIFY(row(QStringLiteral("c1")).isEmpty());
        QVERIFY(!row(QStringLiteral("c2")).isEmpty());
    }

    void duplicateIdsInOneBatch_data()
    {
        QTest::addColumn<QStringList>("sequence"); // "name" upserts the record, "-" deletes it
        QTest::addColumn<QString>("expected"); // its final name, or empty when gone
        QTest::newRow("upsert twice") << QStringList { "A", "B" } << "B";
        QTest::newRow("three times") << QStringList { "A", "B", "C" } << "C";
        QTest::newRow("upsert then delete") << QStringList { "A", "-" } << "";
        QTest::newRow("delete then upsert") << QStringList { "-", "A" } << "A";
        QTest::newRow("upsert delete upsert") << QStringList { "A", "-", "B" } << "B";
    }

    void duplicateIdsInOneBatch()
    {
        QFETCH(QStringList, sequence);
        QFETCH(QString, expected);
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(store.ensureEntity(schema, &error));
        QList<Change> changes { record(QStringLiteral("other"), QStringLiteral("O")) };
        for (const QString &step : sequence) {
            changes.append(step == u"-" ? tombstone(QStringLiteral("dup"))
                                        : record(QStringLiteral("dup"), step));
        }
        QVERIFY2(store.applyBatch(schema, changes, { QStringLiteral("1"), {} }, changes.size(),
                                  changes.size(), &error),
                 qPrintable(error.message));
        RawDb raw(path);
        const QVariant name
            = raw.scalar(QStringLiteral("SELECT name FROM customers WHERE id = 'dup'"));
        QCOMPARE(name.toString(), expected);
        QCOMPARE(store.rowCount(schema.name), expected.isEmpty() ? 1 : 2);
    }

    void updatesInsertsAndDeletionsMixed()
    {
        // Batches of mostly new records and batches of mostly updates are written in different
        // ways; each batch here follows one of the other kind, and mixes every kind of change.
        const QString path = newPath();
        const EntitySchema schema = customersSchema();
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY2(store.open(&error) && store.ensureEntity(schema, &error),
                 qPrintable(error.message));
        RawDb raw(path);
        qint64 done = 0;
        const auto apply = [&](const QList<Change> &changes) {
            done += changes.size();
            return store.applyBatch(schema, changes, { QString::number(done), {} }, done, 100,
                                    &error);
        };

        QVERIFY2(apply(changesFrom(QStringLiteral("a=A b=B c=C d=D e=E"))),
                 qPrintable(error.message));
        QCOMPARE(contents(raw), QStringList({ "a=A", "b=B", "c=C", "d=D", "e=E" }));

        QList<Change> changes
            = changesFrom(QStringLiteral("a=A2 b=B2 c=C2 f=F g=G1 g=G2 -d -h -g g=G3"));
        changes[0].version = QStringLiteral("v7");
        QVERIFY2(apply(changes), qPrintable(error.message));
        QCOMPARE(contents(raw), QStringList({ "a=A2", "b=B2", "c=C2", "e=E", "f=F", "g=G3" }));
        QCOMPARE(raw.scalar(QStringLiteral("SELECT _version FROM customers WHERE id = 'a'")),
                 QVariant(QStringLiteral("v7")));

        QVERIFY2(apply(changesFrom(QStringLiteral("a=A3 -a a=A4 e=E3 i=I j=J1 -j j=J2 -b -x"))),
                 qPrintable(error.message));
        QCOMPARE(contents(raw),
                 QStringList({ "a=A4", "c=C2", "e=E3", "f=F", "g=G3", "i=I", "j=J2" }));
        QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM customers WHERE _version IS "
                                           "NOT NULL"))
                     .toLongLong(),
                 0);

        changes = changesFrom(QStringLiteral("c=C3 f=F2 k=K"));
        changes[1].version = QStringLiteral("v9");
        QVERIFY2(apply(changes), qPrintable(error.message));
        QCOMPARE(contents(raw),
                 QStringList({ "a=A4", "c=C3", "e=E3", "f=F2", "g=G3", "i=I", "j=J2", "k=K" }));
        QCOMPARE(raw.scalar(QStringLiteral("SELECT group_concat(id || ':' || _version) FROM "
                                           "customers WHERE _version IS NOT NULL")),
                 QVariant(QStringLiteral("f:v9")));
        QCOMPARE(raw.scalar(QStringLiteral("SELECT run_cursor FROM _sync_state WHERE entity = "
                                           "'customers'")),
                 QVariant(QString::number(done)));
    }

    void packedPagesWriteTheSameRows()
    {
        // The same pages, parsed as lists of changes and packed, leave the same bytes in two
        // databases: a first sync (bulk load) with a deletion, then a later run of updates,
        // inserts and deletions, one of them of a record with a pending local change.
        const EntitySchema schema { QStringLiteral("mixed"),
                                    { { QStringLiteral("s"), FieldType::String },
                                      { QStringLiteral("i"), FieldType::Int },
                                      { QStringLiteral("r"), FieldType::Real },
                                      { QStringLiteral("b"), FieldType::Bool },
                                      { QStringLiteral("t"), FieldType::DateTime },
                                      { QStringLiteral("d"), FieldType::Decimal } } };
        const auto change = [](const char *id, const char *data, const char *extra = "") {
            return QByteArray("{\"id\":\"") + id + "\",\"changedAt\":\"2026-01-02T03:04:05.678Z\""
                + extra + ",\"data\":{" + data + "}}";
        };
        const auto page = [](const QList<QByteArray> &changes, const char *cursor) {
            return "{\"changes\":[" + changes.join(',') + "],\"hasMore\":true,\"cursor\":\""
                + cursor + "\"}";
        };
        const QList<QList<QByteArray>> runs {
            { page(
                  { change("a",
                           "\"s\":\"plain\",\"i\":1,\"r\":1.5,\"b\":true,\"t\":\"2026-01-01T00:00:"
                           "00.000Z\",\"d\":\"12.50\""),
                    change("b",
                           "\"s\":\"caf\\u00e9 \\\"q\\\" \\\\ "
                           "\\n\",\"i\":-9223372036854775808,\"r\":-0.0,\"b\":false",
                           ",\"version\":\"v1\""),
                    change("c\u00e9", "\"s\":\"naïve 🙂\",\"i\":9223372036854775807,\"r\":1e300",
                           ",\"version\":\"\""),
                    change("d", "\"s\":null,\"i\":null,\"r\":2,\"b\":null,\"t\":null,\"d\":null",
                           ",\"version\":null") },
                  "p1"),
              page({ change("e", "\"s\":\"\",\"d\":\"-0.003\""),
                     change("k",
                            "\"s\":\"kept\",\"i\":-9223372036854775808,\"r\":-0.0,\"b\":true,"
                            "\"t\":\"2026-01-01T00:00:00.000Z\",\"d\":\"0.00120\"",
                            ",\"version\":\"v0\""),
                     change("\\ud83d\\ude00", "\"s\":\"lone \\ud800 surrogate\",\"r\":3.25"),
                     change("b", "", ",\"deleted\":true"),
                     change("f", "\"s\":\"dup\",\"s\":\"last wins\",\"i\":2,\"i\":null") },
                   "p2") },
            { page({ change("a", "\"s\":\"updated\",\"i\":10,\"b\":false", ",\"version\":\"v2\""),
                     change("p", "\"s\":\"server's\",\"i\":5"),
                     change("g", "\"s\":\"new\",\"r\":0.1"),
                     change("c\u00e9", "", ",\"deleted\":true"),
                     change("x", "", ",\"deleted\":true") },
                   "p3"),
              page({ change("e", "\"s\":\"again \\u0000 nul\""), change("d", "\"i\":4"),
                     change("h",
                            "\"s\":\"t\\u00e0b\\tle\",\"i\":42,\"r\":-1.25e-7,\"b\":true,"
                            "\"t\":\"2024-02-29T23:59:59.999Z\",\"d\":\"-12345678901234567890.5\"",
                            ",\"version\":\"v3\""),
                     change("a", "\"s\":\"twice in a run\"") },
                   "p4") }
        };

        const auto load = [&](Protocol::ChangeForm form, QString *dump) {
            const QString path = newPath();
            LocalStore store(path, uniqueConnectionName());
            SyncError error;
            QVERIFY2(store.open(&error) && store.ensureEntity(schema, &error),
                     qPrintable(error.message));
            RawDb raw(path);
            qint64 done = 0;
            for (qsizetype run = 0; run < runs.size(); ++run) {
                QVERIFY(store.beginRun(schema.name, PagingMode::Cursor, {}, 10, SyncState::Running,
                                       &error));
                QCOMPARE(store.loadEntity(schema.name, &error)->bulkLoad, run == 0);
                for (const QByteArray &body : runs.at(run)) {
                    ChangePage parsed;
                    QString problem;
                    QVERIFY2(Protocol::parseChanges(body, schema, 100, PagingMode::Cursor, &parsed,
                                                    &problem, form),
                             qPrintable(problem));
                    QCOMPARE(parsed.packed.isEmpty(), form == Protocol::ChangeForm::List);
                    done += parsed.size();
                    QVERIFY2(
                        store.applyPhase(schema, parsed, { parsed.cursor, {} }, done, 10, &error),
                        qPrintable(error.message));
                }
                QVERIFY2(store.completeRun(schema.name, { QStringLiteral("end"), {} }, done, done,
                                           QDateTime::currentDateTimeUtc(), &error),
                         qPrintable(error.message));
                if (run == 0) {
                    QVERIFY(raw.edit(QStringLiteral("UPDATE mixed SET s = 'mine' WHERE id = 'd'")));
                    QVERIFY(raw.edit(QStringLiteral("DELETE FROM mixed WHERE id = 'e'")));
                }
            }
            QVERIFY(raw.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt() > 0);
            QStringList rows;
            const QString columns = QStringLiteral("id, s, i, r, b, t, d, _changed_at, _version");
            QString select;
            for (const QString &column : columns.split(QStringLiteral(", "))) {
                select += (select.isEmpty() ? QString() : QStringLiteral(" || '|' || "))
                    + QStringLiteral("typeof(%1) || ':' || CASE typeof(%1) WHEN 'real' THEN "
                                     "printf('%!.17g', %1) ELSE hex(%1) END")
                          .arg(column);
            }
            for (const QVariantList &row :
                 raw.rows(QStringLiteral("SELECT %1 FROM mixed ORDER BY id").arg(select))) {
                rows.append(row.at(0).toString());
            }
            rows
                += raw.scalar(QStringLiteral("SELECT group_concat(id || ':' || deleted, ' ') FROM "
                                             "(SELECT id, deleted FROM _sync_pending ORDER BY id)"))
                       .toString();
            *dump = rows.join(QLatin1Char('\n'));
        };
        QString listed;
        QString packed;
        load(Protocol::ChangeForm::List, &listed);
        if (QTest::currentTestFailed())
            return;
        load(Protocol::ChangeForm::Packed, &packed);
        if (QTest::currentTestFailed())
            return;
        QCOMPARE(packed, listed);

        // Packed changes are a Changes page's only: a phase's page of them is refused whole.
        {
            const QString path = newPath();
            LocalStore store(path, uniqueConnectionName());
            SyncError error;
            QVERIFY2(store.open(&error) && store.ensureEntity(schema, &error),
                     qPrintable(error.message));
            ChangePage phasePage;
            QString problem;
            QVERIFY2(Protocol::parseChanges(runs.at(1).at(0), schema, 100, PagingMode::Cursor,
                                            &phasePage, &problem, Protocol::ChangeForm::Packed),
                     qPrintable(problem));
            phasePage.phase = SyncPhase::Reload;
            phasePage.phaseStart = true;
            QVERIFY(!store.applyPhase(schema, phasePage, { phasePage.cursor, {} }, 5, 5, &error));
            QCOMPARE(error.category, ErrorCategory::Protocol);
            QVERIFY2(error.message.contains(QLatin1String("packed")), qPrintable(error.message));
            QCOMPARE(store.rowCount(schema.name), 0);
        }
        qDebug().noquote() << listed;
        // What the pages say, so that the comparison is not of two empty tables.
        QCOMPARE(listed.count(QLatin1Char('\n')), 8);
        QVERIFY(listed.contains(
            QString::fromLatin1(QByteArray("lone \xef\xbf\xbd surrogate").toHex().toUpper())));
    }

    void failedBatchChangesNothing_data()
    {
        QTest::addColumn<QString>("failure");
        QTest::addColumn<ErrorCategory>("category");
        QTest::addColumn<QString>("expected");
        QTest::addColumn<bool>("bulk"); // a first sync (bulk load) or a later run (upserts)
        for (const bool bulk : { false, true }) {
            const char *mode = bulk ? "bulk" : "upsert";
            QTest::addRow("wrong value count, %s", mode)
                << "values" << ErrorCategory::Protocol << "has 2 values" << bulk;
            QTest::addRow("empty id, %s", mode)
                << "id" << ErrorCategory::Protocol << "has no id" << bulk;
            QTest::addRow("trigger raises on insert, %s", mode)
                << "trigger" << ErrorCategory::Storage << "boom rejected" << bulk;
        }
        // In bulk-load state deletions wait for completeRun() (see bulkLoadCompletionFails).
        QTest::newRow("trigger raises on delete, upsert")
            << "delete-trigger" << ErrorCategory::Storage << "keep rejected" << false;
    }

    void failedBatchChangesNothing()
    {
        QFETCH(QString, failure);
        QFETCH(ErrorCategory, category);
        QFETCH(QString, expected);
        QFETCH(bool, bulk);
        const QString path = newPath();
        const EntitySchema schema = customersSchema();
        const SyncPosition first { QStringLiteral("100"), {} };
        {
            LocalStore store(path, uniqueConnectionName());
            SyncError error;
            QVERIFY(store.open(&error));
            QVERIFY(store.ensureEntity(schema, &error));
            const SyncPosition from
                = bulk ? SyncPosition() : SyncPosition { QStringLiteral("50"), {} };
            QVERIFY(store.beginRun(schema.name, PagingMode::Cursor, from, 10, SyncState::Running,
                                   &error));
            QCOMPARE(store.loadEntity(schema.name, &error)->bulkLoad, bulk);
            QVERIFY(store.applyBatch(schema, { record("a", "A1"), record("keep", "K") }, first, 2,
                                     10, &error));
            {
                RawDb raw(path);
                QVERIFY(raw.exec(QStringLiteral(
                    "CREATE TRIGGER no_boom BEFORE INSERT ON customers WHEN NEW.id = 'boom' "
                    "BEGIN SELECT RAISE(ABORT, 'boom rejected'); END")));
                QVERIFY(raw.exec(QStringLiteral(
                    "CREATE TRIGGER no_delete BEFORE DELETE ON customers WHEN OLD.id = 'keep' "
                    "BEGIN SELECT RAISE(ABORT, 'keep rejected'); END")));
            }

            QList<Change> changes { record("b", "B"), record("a", "A2"), tombstone("a") };
            Change bad = record(QStringLiteral("boom"), QStringLiteral("X"));
            if (failure == u"values")
                bad.values = { QStringLiteral("X"), 1.0 };
            else if (failure == u"id")
                bad.id.clear();
            else if (failure == u"delete-trigger")
                bad = tombstone(QStringLiteral("keep"));
            changes << bad << record("c", "C");

            QVERIFY(
                !store.applyBatch(schema, changes, { QStringLiteral("200"), {} }, 7, 12, &error));
            QCOMPARE(error.category, category);
            QVERIFY2(error.message.contains(expected), qPrintable(error.message));
            QVERIFY2(error.message.contains(u"customers"), qPrintable(error.message));

            // Nothing of the batch, and the store goes on working (no transaction left open).
            QCOMPARE(store.rowCount(schema.name), 2);
            const auto stored = store.loadEntity(schema.name, &error);
            QVERIFY(stored);
            QCOMPARE(stored->run, first);
            QCOMPARE(stored->runDone, 2);
            QCOMPARE(stored->runTotal, 10);
            QVERIFY2(store.applyBatch(schema, { record("d", "D") }, { QStringLiteral("300"), {} },
                                      3, 10, &error),
                     qPrintable(error.message));
        }
        LocalStore reopened(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(reopened.open(&error));
        QCOMPARE(reopened.rowCount(schema.name), 3);
        QCOMPARE(reopened.loadEntity(schema.name, &error)->run.cursor, QStringLiteral("300"));
        RawDb raw(path);
        QCOMPARE(raw.scalar(QStringLiteral("SELECT name FROM customers WHERE id = 'a'")).toString(),
                 QStringLiteral("A1"));
        QCOMPARE(raw.scalar(QStringLiteral(
                                "SELECT count(*) FROM customers WHERE id IN ('b', 'c', 'boom')"))
                     .toInt(),
                 0);
    }

    void batchAndPositionCommittedTogether()
    {
        const QString path = newPath();
        const EntitySchema schema = customersSchema();
        {
            LocalStore store(path, uniqueConnectionName());
            SyncError error;
            QVERIFY(store.open(&error));
            QVERIFY(store.ensureEntity(schema, &error));
            QVERIFY(store.beginRun(schema.name, PagingMode::Offset, {}, 0, SyncState::Counting,
                                   &error));
            QList<Change> changes;
            for (int i = 0; i < 250; ++i)
                changes.append(record(QStringLiteral("r%1").arg(i, 4, 10, QLatin1Char('0')),
                                      QStringLiteral("n")));
            QVERIFY(store.applyBatch(schema, changes, { someTime, QStringLiteral("r0249") }, 250,
                                     1000, &error));
        }
        // A new store, as after a restart of the app.
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        QCOMPARE(store.rowCount(schema.name), 250);
        const auto stored = store.loadEntity(schema.name, &error);
        QVERIFY(stored);
        QCOMPARE(stored->paging, PagingMode::Offset);
        QVERIFY(stored->runActive);
        QCOMPARE(stored->run, (SyncPosition { someTime, QStringLiteral("r0249") }));
        QCOMPARE(stored->runDone, 250);
        QCOMPARE(stored->runTotal, 1000);
        QCOMPARE(stored->state, SyncState::Running);
        QVERIFY(stored->committed.isStart());
        QCOMPARE(stored->schema, schema);
    }

    void runStateRoundTrip()
    {
        const QString path = newPath();
        const EntitySchema schema = customersSchema();
        const EntitySchema other { QStringLiteral("accounts"),
                                   { { QStringLiteral("iban"), FieldType::String } } };
        const auto reopen = [&path](const std::function<void(LocalStore &)> &check) {
            LocalStore store(path, uniqueConnectionName());
            SyncError error;
            QVERIFY(store.open(&error));
            check(store);
        };

        reopen([&](LocalStore &store) {
            SyncError error;
            QVERIFY(store.ensureEntity(schema, &error));
            QVERIFY(store.ensureEntity(other, &error));
            const auto fresh = store.loadEntity(schema.name, &error);
            QVERIFY(fresh);
            QCOMPARE(fresh->state, SyncState::Idle);
            QVERIFY(!fresh->runActive);
            QVERIFY(fresh->committed.isStart());
            QVERIFY(!fresh->lastCompletedAt.isValid());
            QVERIFY(store.beginRun(schema.name, PagingMode::Cursor, {}, 0, SyncState::Counting,
                                   &error));
            QVERIFY(store.applyBatch(schema, { record("a", "A"), record("b", "B") },
                                     { QStringLiteral("c-2"), {} }, 2, 5, &error));
            QVERIFY(store.saveState(schema.name, SyncState::Paused, 2, 5, ErrorCategory::Aborted,
                                    QStringLiteral("ignored unless failed"), &error));
        });
        if (QTest::currentTestFailed())
            return;

        reopen([&](LocalStore &store) {
            SyncError error;
            const QList<StoredEntity> all = store.loadEntities(&error);
            QCOMPARE(error.category, ErrorCategory::None);
            QCOMPARE(all.size(), 2);
            QCOMPARE(all.at(0).schema.name, QStringLiteral("accounts")); // ordered by name
            const StoredEntity &paused = all.at(1);
            QCOMPARE(paused.schema, schema);
            QCOMPARE(paused.state, SyncState::Paused);
            QVERIFY(paused.runActive);
            QCOMPARE(paused.run, (SyncPosition { QStringLiteral("c-2"), {} }));
            QCOMPARE(paused.runDone, 2);
            QCOMPARE(paused.runTotal, 5);
            QCOMPARE(paused.errorCategory, ErrorCategory::None);
            QVERIFY(paused.errorMessage.isEmpty());

            // Resumed, then failed.
            QVERIFY(store.applyBatch(schema, { record("c", "C") }, { QStringLiteral("c-3"), {} }, 3,
                                     5, &error));
            QVERIFY(store.saveState(schema.name, SyncState::Failed, 3, 5, ErrorCategory::Auth,
                                    QStringLiteral("the server refused the token (401)"), &error));
        });
        if (QTest::currentTestFailed())
            return;

        reopen([&](LocalStore &store) {
            SyncError error;
            const auto failed = store.loadEntity(schema.name, &error);
            QVERIFY(failed);
            QCOMPARE(failed->state, SyncState::Failed);
            QCOMPARE(failed->errorCategory, ErrorCategory::Auth);
            QCOMPARE(failed->errorMessage, QStringLiteral("the server refused the token (401)"));
            QCOMPARE(failed->run, (SyncPosition { QStringLiteral("c-3"), {} }));
            QCOMPARE(failed->runDone, 3);
            QVERIFY(failed->runActive);

            // A batch after a failure (the run continues) clears the error.
            QVERIFY(store.applyBatch(schema, { record("d", "D") }, { QStringLiteral("c-4"), {} }, 4,
                                     5, &error));
            const auto running = store.loadEntity(schema.name, &error);
            QCOMPARE(running->state, SyncState::Running);
            QCOMPARE(running->errorCategory, ErrorCategory::None);
            QVERIFY(running->errorMessage.isEmpty());

            QVERIFY(store.saveState(schema.name, SyncState::Failed, 4, 5, ErrorCategory::Network,
                                    QStringLiteral("timeout"), &error));
            const QDateTime completedAt
                = QDateTime(QDate(2026, 11, 26), QTime(7, 8, 9, 123), Qt::UTC);
            QVERIFY(store.completeRun(schema.name, { QStringLiteral("c-5"), {} }, 5, 5, completedAt,
                                      &error));
        });
        if (QTest::currentTestFailed())
            return;

        reopen([&](LocalStore &store) {
            SyncError error;
            const auto done = store.loadEntity(schema.name, &error);
            QVERIFY(done);
            QCOMPARE(done->state, SyncState::Completed);
            QVERIFY(!done->runActive);
            QCOMPARE(done->committed, (SyncPosition { QStringLiteral("c-5"), {} }));
            QCOMPARE(done->runDone, 5);
            QCOMPARE(done->runTotal, 5);
            QCOMPARE(done->errorCategory, ErrorCategory::None);
            QVERIFY(done->errorMessage.isEmpty());
            QCOMPARE(done->lastCompletedAt,
                     QDateTime(QDate(2026, 11, 26), QTime(7, 8, 9, 123), Qt::UTC));
            QCOMPARE(done->lastCompletedAt.timeSpec(), Qt::UTC);

            // The next run starts from the committed position; progress restarts at 0.
            QVERIFY(store.beginRun(schema.name, PagingMode::Cursor, done->committed, 7,
                                   SyncState::Running, &error));
            const auto next = store.loadEntity(schema.name, &error);
            QVERIFY(next->runActive);
            QCOMPARE(next->run, done->committed);
            QCOMPARE(next->committed, done->committed);
            QCOMPARE(next->runDone, 0);
            QCOMPARE(next->runTotal, 7);
            QCOMPARE(next->state, SyncState::Running);
            QCOMPARE(next->lastCompletedAt, done->lastCompletedAt);
        });
        if (QTest::currentTestFailed())
            return;

        RawDb raw(path);
        QCOMPARE(
            raw.scalar(QStringLiteral(
                           "SELECT last_completed_at FROM _sync_state WHERE entity = 'customers'"))
                .toString(),
            QStringLiteral("2026-11-26T07:08:09.123Z"));
        QCOMPARE(
            raw.scalar(QStringLiteral("SELECT state FROM _sync_state WHERE entity = 'customers'"))
                .toString(),
            QStringLiteral("running"));
        QVERIFY(raw.scalar(QStringLiteral(
                               "SELECT error_message FROM _sync_state WHERE entity = 'customers'"))
                    .isNull());
        QCOMPARE(
            raw.scalar(QStringLiteral("SELECT fields FROM _sync_state WHERE entity = 'accounts'"))
                .toString(),
            QStringLiteral("[{\"name\":\"iban\",\"type\":\"string\"}]"));
    }

    void pagingModeChangeForgetsPosition()
    {
        LocalStore store(newPath(), uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(store.ensureEntity(schema, &error));
        QVERIFY(store.beginRun(schema.name, PagingMode::Offset, {}, 1, SyncState::Running, &error));
        const SyncPosition offsetEnd { someTime, QStringLiteral("a") };
        QVERIFY(store.applyBatch(schema, { record("a", "A") }, offsetEnd, 1, 1, &error));
        QVERIFY(store.completeRun(schema.name, offsetEnd, 1, 1, QDateTime::currentDateTimeUtc(),
                                  &error));
        QCOMPARE(store.loadEntity(schema.name, &error)->committed, offsetEnd);

        // Same mode keeps the committed position; another mode forgets it.
        QVERIFY(store.beginRun(schema.name, PagingMode::Offset, offsetEnd, 0, SyncState::Counting,
                               &error));
        QCOMPARE(store.loadEntity(schema.name, &error)->committed, offsetEnd);
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, {}, 0, SyncState::Counting, &error));
        const auto stored = store.loadEntity(schema.name, &error);
        QCOMPARE(stored->paging, PagingMode::Cursor);
        QVERIFY(stored->committed.isStart());
        QVERIFY(stored->run.isStart());
    }

    void unknownEntityRejected()
    {
        LocalStore store(newPath(), uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(!store.loadEntity(schema.name, &error));
        QCOMPARE(error.category, ErrorCategory::None); // not there is not an error
        QCOMPARE(store.rowCount(schema.name), -1);
        QVERIFY(!store.applyBatch(schema, { record("a", "A") }, {}, 1, 1, &error));
        QCOMPARE(error.category, ErrorCategory::Storage);
        QVERIFY(
            !store.beginRun(schema.name, PagingMode::Cursor, {}, 1, SyncState::Running, &error));
        QCOMPARE(error.category, ErrorCategory::Storage);
        QVERIFY2(error.message.contains(u"ensureEntity"), qPrintable(error.message));
        QVERIFY(!store.saveState(schema.name, SyncState::Paused, 0, 0, ErrorCategory::None, {},
                                 &error));
        QVERIFY(!store.completeRun(schema.name, {}, 0, 0, QDateTime::currentDateTimeUtc(), &error));
        QCOMPARE(error.category, ErrorCategory::Storage);

        // A table that exists but whose state row does not: the batch is refused whole.
        QVERIFY(execOnStore(store,
                            QStringLiteral("CREATE TABLE orphans (id TEXT PRIMARY KEY NOT NULL, "
                                           "name TEXT, _changed_at TEXT)")));
        Change change;
        change.id = QStringLiteral("x");
        change.values = { QStringLiteral("X") };
        const EntitySchema orphans { QStringLiteral("orphans"),
                                     { { QStringLiteral("name"), FieldType::String } } };
        QVERIFY(!store.applyBatch(orphans, { change }, {}, 1, 1, &error));
        QCOMPARE(error.category, ErrorCategory::Storage);
        QCOMPARE(store.rowCount(orphans.name), 0);
    }

    void corruptStateHandledGracefully()
    {
        const QString path = newPath();
        {
            LocalStore store(path, uniqueConnectionName());
            SyncError error;
            QVERIFY(store.open(&error));
        }
        {
            RawDb raw(path);
            QVERIFY(raw.exec(QStringLiteral(
                "INSERT INTO _sync_state (entity, paging, cursor, run_active, run_done, run_total, "
                "state, error_category, error_message, last_completed_at, fields) VALUES "
                "('a', 'cursor', 'c', 1, 'many', -5, 'exploded', 'weird', 'msg', 'yesterday', "
                "'{not json'), "
                "('b', 'sideways', 'c', 1, 3, 4, 'paused', NULL, NULL, NULL, "
                "  '[{\"name\":\"ok\",\"type\":\"int\"},{\"name\":\"x; DROP\",\"type\":\"int\"},"
                "    "
                "{\"name\":\"t\",\"type\":\"blob\"},42,{\"name\":\"OK\",\"type\":\"string\"}]'), "
                "('c', 'offset', NULL, 0, 0, 0, 'failed', 'weird', 'boom', NULL, NULL), "
                "('x; DROP TABLE y', 'cursor', NULL, 0, 0, 0, 'idle', NULL, NULL, NULL, '[]')")));
        }
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const QList<StoredEntity> all = store.loadEntities(&error);
        QCOMPARE(error.category, ErrorCategory::None);
        QCOMPARE(all.size(), 3); // the hostile name is left out
        QCOMPARE(all.at(0).schema.name, QStringLiteral("a"));
        QVERIFY(all.at(0).schema.fields.isEmpty());
        QCOMPARE(all.at(0).state, SyncState::Paused); // unknown state of an active run
        QCOMPARE(all.at(0).runDone, 0);
        QCOMPARE(all.at(0).runTotal, 0);
        QVERIFY(!all.at(0).lastCompletedAt.isValid());
        QCOMPARE(all.at(0).errorCategory, ErrorCategory::None);
        QCOMPARE(all.at(1).schema.fields,
                 (QList<FieldSpec> { { QStringLiteral("ok"), FieldType::Int } }));
        QVERIFY(!all.at(1).runActive); // an unknown paging mode starts over
        QCOMPARE(all.at(2).state, SyncState::Failed);
        QCOMPARE(all.at(2).errorCategory, ErrorCategory::None); // unknown: not made up
        QCOMPARE(all.at(2).errorMessage, QStringLiteral("boom"));
        QVERIFY(!store.loadEntity(QStringLiteral("x; DROP TABLE y"), &error));
    }

    void readOnlyFile()
    {
        const QString path = newPath();
        {
            LocalStore store(path, uniqueConnectionName());
            SyncError error;
            QVERIFY(store.open(&error));
            QVERIFY(store.ensureEntity(customersSchema(), &error));
        }
        QVERIFY(
            QFile::setPermissions(path, QFile::ReadOwner | QFile::ReadGroup | QFile::ReadOther));
        bool immutable = false;
        const auto restore = qScopeGuard([&] {
#ifdef Q_OS_LINUX
            if (immutable)
                Test::setImmutable(path, false);
#endif
            QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner);
        });
#ifdef Q_OS_LINUX
        if (::access(QFile::encodeName(path).constData(), W_OK) == 0) {
            // Root ignores permissions; the immutable attribute stops it too.
            immutable = Test::setImmutable(path, true);
            if (!immutable)
                QSKIP("cannot make a file read-only for this user");
        }
#endif

        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(!store.open(&error));
        QCOMPARE(error.category, ErrorCategory::Storage);
        QVERIFY2(error.message.contains(u"is read-only"), qPrintable(error.message));
        QVERIFY2(error.message.contains(path), qPrintable(error.message));
        QVERIFY2(error.message.contains(u"SQLite:"), qPrintable(error.message));
    }

    void writeRefused_data()
    {
        QTest::addColumn<QString>("refusal");
        QTest::addColumn<QString>("expected");
        QTest::newRow("read-only") << "read-only"
                                   << "is read-only";
        QTest::newRow("disk full") << "full"
                                   << "is full";
    }

    void writeRefused()
    {
        QFETCH(QString, refusal);
        QFETCH(QString, expected);
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(store.ensureEntity(schema, &error));
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, {}, 5000, SyncState::Running, &error));
        QVERIFY(store.applyBatch(schema, { record("a", "A") }, { QStringLiteral("1"), {} }, 1, 5000,
                                 &error));

        int pageCount = 0;
        {
            QSqlQuery query(QSqlDatabase::database(store.connectionName(), false));
            QVERIFY(query.exec(QStringLiteral("PRAGMA page_count")) && query.next());
            pageCount = query.value(0).toInt();
        }
        // The connection stands in for a read-only file or a full disk (a few more pages only).
        const bool readOnly = refusal == u"read-only";
        QVERIFY(execOnStore(store,
                            readOnly
                                ? QStringLiteral("PRAGMA query_only = 1")
                                : QStringLiteral("PRAGMA max_page_count = %1").arg(pageCount + 2)));
        QList<Change> changes;
        for (int i = 0; i < 2000; ++i)
            changes.append(record(QStringLiteral("big%1").arg(i), QString(200, u'x')));
        QVERIFY(
            !store.applyBatch(schema, changes, { QStringLiteral("2"), {} }, 2001, 5000, &error));
        QCOMPARE(error.category, ErrorCategory::Storage);
        QVERIFY2(error.message.contains(expected), qPrintable(error.message));
        QVERIFY2(error.message.contains(path), qPrintable(error.message));
        QVERIFY2(error.message.contains(u"SQLite:"), qPrintable(error.message));
        if (readOnly) {
            QVERIFY(!store.saveState(schema.name, SyncState::Paused, 1, 5000, ErrorCategory::None,
                                     {}, &error));
            QVERIFY2(error.message.contains(expected), qPrintable(error.message));
        }

        QCOMPARE(store.rowCount(schema.name), 1);
        const auto stored = store.loadEntity(schema.name, &error);
        QCOMPARE(stored->run.cursor, QStringLiteral("1"));
        QCOMPARE(stored->runDone, 1);

        // Once there is room again, the same batch goes through.
        QVERIFY(execOnStore(store, QStringLiteral("PRAGMA query_only = 0")));
        QVERIFY(execOnStore(store, QStringLiteral("PRAGMA max_page_count = 1073741823")));
        QVERIFY2(store.applyBatch(schema, changes, { QStringLiteral("2"), {} }, 2001, 5000, &error),
                 qPrintable(error.message));
        QCOMPARE(store.rowCount(schema.name), 2001);
    }

    void lockedDatabase_data()
    {
        QTest::addColumn<QString>("lock");
        QTest::newRow("exclusive") << "BEGIN EXCLUSIVE";
        QTest::newRow("immediate") << "BEGIN IMMEDIATE";
    }

    void lockedDatabase()
    {
        QFETCH(QString, lock);
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        store.setBusyTimeout(200);
        QCOMPARE(store.busyTimeout(), 200);
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(store.ensureEntity(schema, &error));
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, {}, 10, SyncState::Running, &error));
        QVERIFY(store.applyBatch(schema, { record("a", "A") }, { QStringLiteral("1"), {} }, 1, 10,
                                 &error));

        RawDb other(path);
        QVERIFY(other.exec(lock));
        QVERIFY(other.exec(QStringLiteral("UPDATE customers SET name = 'held' WHERE id = 'a'")));

        QElapsedTimer timer;
        timer.start();
        QVERIFY(!store.applyBatch(schema, { record("b", "B") }, { QStringLiteral("2"), {} }, 2, 10,
                                  &error));
        QVERIFY2(timer.elapsed() >= 150, qPrintable(QString::number(timer.elapsed())));
        QCOMPARE(error.category, ErrorCategory::Storage);
        QVERIFY2(error.message.contains(u"is locked by another program"),
                 qPrintable(error.message));
        QVERIFY2(error.message.contains(path), qPrintable(error.message));
        QVERIFY2(error.message.contains(u"SQLite:"), qPrintable(error.message));

        QVERIFY(!store.saveState(schema.name, SyncState::Paused, 1, 10, ErrorCategory::None, {},
                                 &error));
        QVERIFY2(error.message.contains(u"locked"), qPrintable(error.message));
        EntitySchema grown = schema;
        grown.fields.append({ QStringLiteral("extra"), FieldType::Int });
        QVERIFY(!store.ensureEntity(grown, &error));
        QVERIFY2(error.message.contains(u"locked"), qPrintable(error.message));

        // Another store cannot even open while the lock is held.
        {
            LocalStore second(path, uniqueConnectionName());
            second.setBusyTimeout(50);
            QVERIFY(!second.open(&error));
            QVERIFY2(error.message.contains(u"locked"), qPrintable(error.message));
        }

        // WAL: reading goes on during the lock, and shows nothing advanced.
        QCOMPARE(store.rowCount(schema.name), 1);
        auto stored = store.loadEntity(schema.name, &error);
        QVERIFY(stored);
        QCOMPARE(stored->run.cursor, QStringLiteral("1"));
        QCOMPARE(stored->runDone, 1);
        QCOMPARE(stored->state, SyncState::Running);

        QVERIFY(other.exec(QStringLiteral("ROLLBACK")));
        QVERIFY2(store.applyBatch(schema, { record("b", "B") }, { QStringLiteral("2"), {} }, 2, 10,
                                  &error),
                 qPrintable(error.message));
        QCOMPARE(store.rowCount(schema.name), 2);
        QCOMPARE(store.loadEntity(schema.name, &error)->runDone, 2);
    }

    void busyTimeoutWaitsForShortLocks()
    {
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(store.ensureEntity(schema, &error));
        store.setBusyTimeout(5000);

        // Another thread holds the write lock for a moment; the store waits instead of failing.
        std::atomic<bool> locked { false };
        std::unique_ptr<QThread> holder(QThread::create([&path, &locked] {
            RawDb other(path);
            if (other.exec(QStringLiteral("BEGIN IMMEDIATE"))) {
                locked = true;
                QThread::msleep(300);
                other.exec(QStringLiteral("COMMIT"));
            }
            locked = true;
        }));
        holder->start();
        QTRY_VERIFY(locked);
        QVERIFY2(store.applyBatch(schema, { record("a", "A") }, { QStringLiteral("1"), {} }, 1, 1,
                                  &error),
                 qPrintable(error.message));
        QVERIFY(holder->wait(5000));
        QCOMPARE(store.rowCount(schema.name), 1);
    }

    void twoStoresInOneProcess()
    {
        const QString pathA = newPath();
        const QString pathB = newPath();
        LocalStore a(pathA, uniqueConnectionName());
        LocalStore b(pathB, uniqueConnectionName());
        LocalStore sameFile(pathA, uniqueConnectionName());
        SyncError error;
        QVERIFY(a.open(&error));
        QVERIFY(b.open(&error));
        QVERIFY(sameFile.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(a.ensureEntity(schema, &error));
        QVERIFY(b.ensureEntity(schema, &error));
        QVERIFY(a.applyBatch(schema, { record("a1", "A"), record("a2", "A") }, {}, 2, 2, &error));
        QVERIFY(b.applyBatch(schema, { record("b1", "B") }, {}, 1, 1, &error));
        QCOMPARE(a.rowCount(schema.name), 2);
        QCOMPARE(b.rowCount(schema.name), 1);
        QCOMPARE(sameFile.rowCount(schema.name), 2);
        QVERIFY(sameFile.applyBatch(schema, { record("a3", "A") }, {}, 3, 3, &error));
        QCOMPARE(a.rowCount(schema.name), 3);

        // A connection name already in use is refused, not taken over.
        LocalStore clash(pathB, a.connectionName());
        QVERIFY(!clash.open(&error));
        QCOMPARE(error.category, ErrorCategory::Storage);
        QVERIFY2(error.message.contains(u"already in use"), qPrintable(error.message));
        QVERIFY(a.isOpen());
        QCOMPARE(a.rowCount(schema.name), 3);
    }

    void worksOnWorkerThread()
    {
        const QString path = newPath();
        QThread thread;
        auto *worker = new StoreWorker(path);
        worker->moveToThread(&thread);
        connect(&thread, &QThread::finished, worker, &QObject::deleteLater);

        bool finished = false;
        bool ok = false;
        bool onMainThread = true;
        qint64 rows = -1;
        QString message;
        connect(worker, &StoreWorker::finished, this,
                [&](bool workerOk, qint64 workerRows, const QString &workerMessage, bool main) {
                    finished = true;
                    ok = workerOk;
                    rows = workerRows;
                    message = workerMessage;
                    onMainThread = main;
                });
        thread.start();
        QMetaObject::invokeMethod(worker, &StoreWorker::run, Qt::QueuedConnection);
        QTRY_VERIFY_WITH_TIMEOUT(finished, 10000);
        thread.quit();
        QVERIFY(thread.wait(10000));
        QVERIFY2(ok, qPrintable(message));
        QVERIFY(!onMainThread);
        QCOMPARE(rows, 2);

        // The worker's store is gone; the data stays, readable from here.
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        QCOMPARE(store.rowCount(QStringLiteral("customers")), 2);
        const auto stored = store.loadEntity(QStringLiteral("customers"), &error);
        QVERIFY(stored);
        QCOMPARE(stored->state, SyncState::Completed);
        QCOMPARE(stored->committed.cursor, QStringLiteral("c2"));

        // A store may only be used in the thread that opened it: others get an error.
        bool refused = false;
        SyncError otherError;
        std::unique_ptr<QThread> other(QThread::create([&] {
            refused = !store.saveState(QStringLiteral("customers"), SyncState::Paused, 0, 0,
                                       ErrorCategory::None, {}, &otherError);
        }));
        other->start();
        QVERIFY(other->wait(10000));
        QVERIFY(refused);
        QCOMPARE(otherError.category, ErrorCategory::Storage);
        QVERIFY2(otherError.message.contains(u"another thread"), qPrintable(otherError.message));
    }

    void bulkLoadFirstSync_data()
    {
        QTest::addColumn<QStringList>("batches"); // see changesFrom()
        QTest::addColumn<QStringList>("expected"); // contents() at the end
        QTest::newRow("plain") << QStringList { "a=A b=B", "c=C" }
                               << QStringList { "a=A", "b=B", "c=C" };
        QTest::newRow("twice across batches")
            << QStringList { "a=A1 b=B", "a=A2" } << QStringList { "a=A2", "b=B" };
        QTest::newRow("twice in one batch")
            << QStringList { "a=A1 a=A2 b=B" } << QStringList { "a=A2", "b=B" };
        QTest::newRow("many versions")
            << QStringList { "a=1 a=2", "a=3 b=B", "a=4" } << QStringList { "a=4", "b=B" };
        QTest::newRow("deleted") << QStringList { "a=A b=B", "-a" } << QStringList { "b=B" };
        QTest::newRow("deleted in its batch")
            << QStringList { "a=A b=B -a" } << QStringList { "b=B" };
        QTest::newRow("deleted twice") << QStringList { "a=A", "-a", "-a" } << QStringList {};
        QTest::newRow("delete then recreate")
            << QStringList { "a=A1 b=B", "-a", "a=A2" } << QStringList { "a=A2", "b=B" };
        QTest::newRow("delete and recreate in one batch")
            << QStringList { "a=A1 -a a=A2" } << QStringList { "a=A2" };
        QTest::newRow("recreated then deleted again")
            << QStringList { "a=A1", "-a a=A2 b=B", "-a" } << QStringList { "b=B" };
        QTest::newRow("deletion of what never came")
            << QStringList { "-x a=A" } << QStringList { "a=A" };
        QTest::newRow("deletion before the record")
            << QStringList { "-a", "a=A" } << QStringList { "a=A" };
        QTest::newRow("only deletions") << QStringList { "-a -b" } << QStringList {};
        QTest::newRow("nothing") << QStringList {} << QStringList {};
    }

    void bulkLoadFirstSync()
    {
        QFETCH(QStringList, batches);
        QFETCH(QStringList, expected);
        const EntitySchema schema = customersSchema();
        // The same changes through the upsert path are the reference for every column.
        const QString bulkPath = newPath();
        const QString upsertPath = newPath();
        for (const bool bulk : { true, false }) {
            LocalStore store(bulk ? bulkPath : upsertPath, uniqueConnectionName());
            SyncError error;
            QVERIFY(store.open(&error));
            QVERIFY(store.ensureEntity(schema, &error));
            const SyncPosition from
                = bulk ? SyncPosition() : SyncPosition { QStringLiteral("0"), {} };
            QVERIFY2(store.beginRun(schema.name, PagingMode::Cursor, from, 0, SyncState::Counting,
                                    &error),
                     qPrintable(error.message));
            QCOMPARE(store.loadEntity(schema.name, &error)->bulkLoad, bulk);
            if (bulk) {
                RawDb raw(bulkPath);
                QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM "
                                                   "pragma_index_list('customers')"))
                             .toInt(),
                         0);
            }
            qint64 done = 0;
            for (const QString &steps : std::as_const(batches)) {
                const QList<Change> changes = changesFrom(steps);
                done += changes.size();
                QVERIFY2(store.applyBatch(schema, changes, { QString::number(done), {} }, done,
                                          done, &error),
                         qPrintable(error.message));
            }
            QVERIFY(store.loadEntity(schema.name, &error)->runActive);
            QVERIFY2(store.completeRun(schema.name, { QString::number(done), {} }, done, done,
                                       QDateTime::currentDateTimeUtc(), &error),
                     qPrintable(error.message));
            const auto stored = store.loadEntity(schema.name, &error);
            QVERIFY(!stored->bulkLoad);
            QVERIFY(!stored->runActive);
            QCOMPARE(stored->state, SyncState::Completed);
            QCOMPARE(store.rowCount(schema.name), expected.size());
        }

        RawDb raw(bulkPath);
        QCOMPARE(contents(raw), expected);
        QCOMPARE(uniqueIdIndexes(raw), QStringList { QStringLiteral("_customers_id") });
        QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM _sync_bulk_deleted")).toInt(), 0);
        QCOMPARE(raw.scalar(QStringLiteral("SELECT bulk_load FROM _sync_state")).toInt(), 0);
        // The table keeps its columns and their types.
        RawDb reference(upsertPath);
        const QString columnsSql
            = QStringLiteral("SELECT name, type FROM pragma_table_info('customers')");
        QCOMPARE(raw.rows(columnsSql), reference.rows(columnsSql));
        const QString rowsSql = QStringLiteral(
            "SELECT id, name, typeof(name), balance, typeof(balance), active, typeof(active), "
            "visits, typeof(visits), since, _changed_at FROM customers ORDER BY id");
        QCOMPARE(raw.rows(rowsSql), reference.rows(rowsSql));
        QCOMPARE(raw.scalar(QStringLiteral("PRAGMA integrity_check")).toString(),
                 QStringLiteral("ok"));
    }

    void bulkLoadResumesAfterInterruption()
    {
        const QString path = newPath();
        EntitySchema schema = customersSchema();
        {
            LocalStore store(path, uniqueConnectionName());
            SyncError error;
            QVERIFY(store.open(&error));
            QVERIFY(store.ensureEntity(schema, &error));
            QVERIFY(store.beginRun(schema.name, PagingMode::Cursor, {}, 9, SyncState::Counting,
                                   &error));
            QVERIFY(store.applyBatch(schema, changesFrom("a=A1 b=B1 c=C1"),
                                     { QStringLiteral("3"), {} }, 3, 9, &error));
            QVERIFY(store.applyBatch(schema, changesFrom("a=A2 -c"), { QStringLiteral("5"), {} }, 5,
                                     9, &error));
            // Superseded versions and pending deletions are still rows until completion.
            QCOMPARE(store.rowCount(schema.name), 4);
            // Closed without completeRun(), as when the process is killed.
        }
        {
            RawDb raw(path);
            QCOMPARE(contents(raw), QStringList({ "a=A1", "a=A2", "b=B1", "c=C1" }));
            QVERIFY(uniqueIdIndexes(raw).isEmpty());
            QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM _sync_bulk_deleted")).toInt(),
                     1);
        }

        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        auto stored = store.loadEntity(schema.name, &error);
        QVERIFY(stored);
        QVERIFY(stored->runActive);
        QVERIFY(stored->bulkLoad);
        QCOMPARE(stored->run, (SyncPosition { QStringLiteral("5"), {} }));
        QCOMPARE(stored->runDone, 5);

        // The server grew a field meanwhile: the table grows in bulk-load state too.
        schema.fields.append({ QStringLiteral("tier"), FieldType::Int });
        QVERIFY2(store.ensureEntity(schema, &error), qPrintable(error.message));
        QVERIFY(store.loadEntity(schema.name, &error)->bulkLoad);
        Change withTier = record(QStringLiteral("d"), QStringLiteral("D1"));
        withTier.values.append(qint64(3));
        Change bWithTier = record(QStringLiteral("b"), QStringLiteral("B2"));
        bWithTier.values.append(qint64(2));
        QVERIFY2(store.applyBatch(schema, { withTier, bWithTier }, { QStringLiteral("7"), {} }, 7,
                                  9, &error),
                 qPrintable(error.message));

        // Started over from the beginning (say the cursor expired): still a bulk load, and the
        // versions already there are superseded in turn.
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, {}, 9, SyncState::Counting, &error));
        QVERIFY(store.loadEntity(schema.name, &error)->bulkLoad);
        Change c2 = record(QStringLiteral("c"), QStringLiteral("C2"));
        c2.values.append(QVariant());
        QVERIFY(store.applyBatch(schema, { c2 }, { QStringLiteral("1"), {} }, 1, 9, &error));
        QVERIFY2(store.completeRun(schema.name, { QStringLiteral("1"), {} }, 1, 1,
                                   QDateTime::currentDateTimeUtc(), &error),
                 qPrintable(error.message));
        stored = store.loadEntity(schema.name, &error);
        QVERIFY(!stored->bulkLoad);
        QCOMPARE(stored->committed, (SyncPosition { QStringLiteral("1"), {} }));
        RawDb raw(path);
        QCOMPARE(contents(raw), QStringList({ "a=A2", "b=B2", "c=C2", "d=D1" }));
        QCOMPARE(raw.rows(QStringLiteral("SELECT group_concat(quote(tier), ' ') FROM "
                                         "(SELECT tier FROM customers ORDER BY id)"))
                     .first()
                     .first()
                     .toString(),
                 QStringLiteral("NULL 2 NULL 3"));
        QCOMPARE(uniqueIdIndexes(raw), QStringList { QStringLiteral("_customers_id") });
    }

    void bulkLoadCompletionFails_data()
    {
        QTest::addColumn<QString>("fault");
        QTest::addColumn<QString>("expected");
        QTest::newRow("disk full") << "full"
                                   << "is full";
        QTest::newRow("read-only") << "read-only"
                                   << "is read-only";
        QTest::newRow("locked") << "locked"
                                << "is locked by another program";
        QTest::newRow("trigger refuses a deletion") << "trigger"
                                                    << "keep rejected";
    }

    void bulkLoadCompletionFails()
    {
        QFETCH(QString, fault);
        QFETCH(QString, expected);
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        store.setBusyTimeout(100);
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(store.ensureEntity(schema, &error));
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, {}, 0, SyncState::Counting, &error));
        QList<Change> changes;
        for (int i = 0; i < 3000; ++i)
            changes.append(
                record(QStringLiteral("r%1").arg(i % 2000), QStringLiteral("v%1").arg(i)));
        changes.append(tombstone(QStringLiteral("keep")));
        changes.append(tombstone(QStringLiteral("r7")));
        QVERIFY(store.applyBatch(schema, changesFrom("keep=K"), { QStringLiteral("1"), {} }, 1,
                                 3003, &error));
        QVERIFY(store.applyBatch(schema, changes, { QStringLiteral("2"), {} }, 3003, 3003, &error));
        const qint64 rowsBefore = store.rowCount(schema.name);
        QCOMPARE(rowsBefore, 3001);

        std::unique_ptr<RawDb> other;
        if (fault == u"full") {
            QSqlQuery query(QSqlDatabase::database(store.connectionName(), false));
            QVERIFY(query.exec(QStringLiteral("PRAGMA page_count")) && query.next());
            QVERIFY(execOnStore(
                store, QStringLiteral("PRAGMA max_page_count = %1").arg(query.value(0).toInt())));
        } else if (fault == u"read-only") {
            QVERIFY(execOnStore(store, QStringLiteral("PRAGMA query_only = 1")));
        } else if (fault == u"locked") {
            other = std::make_unique<RawDb>(path);
            QVERIFY(other->exec(QStringLiteral("BEGIN IMMEDIATE")));
        } else {
            QVERIFY(execOnStore(store,
                                QStringLiteral("CREATE TRIGGER no_delete BEFORE DELETE ON "
                                               "customers WHEN OLD.id = 'keep' BEGIN SELECT "
                                               "RAISE(ABORT, 'keep rejected'); END")));
        }
        QVERIFY(!store.completeRun(schema.name, { QStringLiteral("2"), {} }, 3003, 3003,
                                   QDateTime::currentDateTimeUtc(), &error));
        QCOMPARE(error.category, ErrorCategory::Storage);
        QVERIFY2(error.message.contains(expected), qPrintable(error.message));
        QVERIFY2(error.message.contains(u"customers"), qPrintable(error.message));

        // Nothing of the completion: still a bulk load in the same place, with every version
        // and deletion, and no index.
        auto stored = store.loadEntity(schema.name, &error);
        QVERIFY(stored->bulkLoad);
        QVERIFY(stored->runActive);
        QCOMPARE(stored->run, (SyncPosition { QStringLiteral("2"), {} }));
        QVERIFY(stored->committed.isStart());
        QVERIFY(stored->state != SyncState::Completed);
        QCOMPARE(store.rowCount(schema.name), rowsBefore);
        {
            RawDb raw(path);
            QVERIFY(uniqueIdIndexes(raw).isEmpty());
            QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM _sync_bulk_deleted")).toInt(),
                     2);
        }

        // The fault gone, the next completeRun() does it all.
        other.reset();
        QVERIFY(execOnStore(store, QStringLiteral("PRAGMA max_page_count = 1073741823")));
        QVERIFY(execOnStore(store, QStringLiteral("PRAGMA query_only = 0")));
        QVERIFY(execOnStore(store, QStringLiteral("DROP TRIGGER IF EXISTS no_delete")));
        QVERIFY2(store.completeRun(schema.name, { QStringLiteral("2"), {} }, 3003, 3003,
                                   QDateTime::currentDateTimeUtc(), &error),
                 qPrintable(error.message));
        stored = store.loadEntity(schema.name, &error);
        QVERIFY(!stored->bulkLoad);
        QCOMPARE(stored->state, SyncState::Completed);
        QCOMPARE(store.rowCount(schema.name), 1999);
        RawDb raw(path);
        QCOMPARE(uniqueIdIndexes(raw), QStringList { QStringLiteral("_customers_id") });
        QCOMPARE(
            raw.scalar(QStringLiteral("SELECT name FROM customers WHERE id = 'r5'")).toString(),
            QStringLiteral("v2005"));
        QCOMPARE(
            raw.scalar(QStringLiteral("SELECT name FROM customers WHERE id = 'r1500'")).toString(),
            QStringLiteral("v1500"));
        QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM customers WHERE id IN ('r7', "
                                           "'keep')"))
                     .toInt(),
                 0);
    }

    void afterBulkLoadUpsertsUseTheIndex()
    {
        const QString path = newPath();
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(store.ensureEntity(schema, &error));
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, {}, 0, SyncState::Counting, &error));
        QVERIFY(store.applyBatch(schema, changesFrom("a=A b=B c=C"), { QStringLiteral("3"), {} }, 3,
                                 3, &error));
        QVERIFY(store.completeRun(schema.name, { QStringLiteral("3"), {} }, 3, 3,
                                  QDateTime::currentDateTimeUtc(), &error));

        // The next run upserts and deletes by id.
        QVERIFY(store.beginRun(schema.name, PagingMode::Cursor, { QStringLiteral("3"), {} }, 0,
                               SyncState::Counting, &error));
        QVERIFY(!store.loadEntity(schema.name, &error)->bulkLoad);
        QVERIFY2(store.applyBatch(schema, changesFrom("a=A2 d=D -b a=A3"),
                                  { QStringLiteral("7"), {} }, 4, 4, &error),
                 qPrintable(error.message));
        {
            RawDb raw(path);
            QCOMPARE(contents(raw), QStringList({ "a=A3", "c=C", "d=D" }));
            const QString plan = raw.rows(QStringLiteral("EXPLAIN QUERY PLAN SELECT name FROM "
                                                         "customers WHERE id = 'a'"))
                                     .first()
                                     .last()
                                     .toString();
            QVERIFY2(plan.contains(u"INDEX _customers_id"), qPrintable(plan));
            QString message;
            QVERIFY(!raw.exec(QStringLiteral("INSERT INTO customers (id) VALUES ('a')"), &message));
            QVERIFY2(message.contains(u"UNIQUE"), qPrintable(message));
        }

        // A run from the start on a table that holds rows (a paging-mode change) upserts.
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Offset, {}, 0, SyncState::Counting, &error));
        QVERIFY(!store.loadEntity(schema.name, &error)->bulkLoad);
        QVERIFY(store.applyBatch(schema, changesFrom("a=A4 -a -c -d"),
                                 { someTime, QStringLiteral("d") }, 4, 4, &error));
        QVERIFY(store.completeRun(schema.name, { someTime, QStringLiteral("d") }, 4, 4,
                                  QDateTime::currentDateTimeUtc(), &error));
        QCOMPARE(store.rowCount(schema.name), 0);

        // Emptied, then a run from the start again: a bulk load, the index dropped meanwhile.
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, {}, 0, SyncState::Counting, &error));
        QVERIFY(store.loadEntity(schema.name, &error)->bulkLoad);
        {
            RawDb raw(path);
            QVERIFY(uniqueIdIndexes(raw).isEmpty());
        }
        QVERIFY(store.applyBatch(schema, changesFrom("e=E1 e=E2"), { QStringLiteral("2"), {} }, 2,
                                 2, &error));
        QVERIFY(store.completeRun(schema.name, { QStringLiteral("2"), {} }, 2, 2,
                                  QDateTime::currentDateTimeUtc(), &error));
        RawDb raw(path);
        QCOMPARE(contents(raw), QStringList { QStringLiteral("e=E2") });
        QCOMPARE(uniqueIdIndexes(raw), QStringList { QStringLiteral("_customers_id") });
    }

    // SQLite's own allocation count (sqlite3_memory_highwater), exact whatever the machine:
    // a first sync's memory must not grow with the data, while upserts keep their larger
    // cache.
    void firstSyncMemoryDoesNotGrowWithTheData()
    {
        const EntitySchema schema = customersSchema();
        qint64 peak[2] = {};
        QStringList ids;
        const int rows[2] = { 4000, 32000 }; // about 4 MB and 33 MB of records
        std::unique_ptr<LocalStore> store;
        for (int i = 0; i < 2; ++i) {
            store.reset(); // its cache too
            store = std::make_unique<LocalStore>(newPath(), uniqueConnectionName());
            SyncError error;
            QVERIFY(store->open(&error));
            QVERIFY(store->ensureEntity(schema, &error));
            ids.clear();
            sqlite3_memory_highwater(1);
            loadFromScratch(*store, schema, rows[i], &ids);
            if (QTest::currentTestFailed())
                return;
            peak[i] = sqlite3_memory_highwater(0);
            if (peak[i] == 0)
                QSKIP("SQLite is built without memory statistics");
        }
        qInfo("SQLite's peak memory in a first sync: %.1f MB for %d records, %.1f MB for %d",
              peak[0] / 1048576.0, rows[0], peak[1] / 1048576.0, rows[1]);
        QVERIFY2(peak[1] < peak[0] + peak[0] / 2,
                 qPrintable(QStringLiteral("%1 bytes against %2").arg(peak[1]).arg(peak[0])));

        // The next run updates records all over the file: its cache grows beyond the bulk
        // load's.
        SyncError error;
        QVERIFY(store->beginRun(schema.name, PagingMode::Cursor, { QStringLiteral("1"), {} }, 0,
                                SyncState::Counting, &error));
        sqlite3_memory_highwater(1);
        QRandomGenerator random(7);
        const QString padding(1000, QLatin1Char('u'));
        qint64 done = 0;
        for (int batch = 0; batch < rows[1] / 1000; ++batch) {
            QList<Change> changes;
            for (int i = 0; i < 1000; ++i)
                changes.append(record(ids.at(random.bounded(ids.size())), padding));
            done += changes.size();
            QVERIFY2(store->applyBatch(schema, changes, { QString::number(done + 1), {} }, done,
                                       rows[1], &error),
                     qPrintable(error.message));
        }
        const qint64 upsertPeak = sqlite3_memory_highwater(0);
        qInfo("SQLite's peak memory updating %lld records: %.1f MB", done, upsertPeak / 1048576.0);
        QVERIFY2(upsertPeak > peak[1] + 4 * 1048576,
                 qPrintable(QStringLiteral("%1 bytes against %2").arg(upsertPeak).arg(peak[1])));
    }

    void bulkLoadOnlyOnSuitableTables_data()
    {
        QTest::addColumn<QString>("sql");
        QTest::addColumn<bool>("bulk");
        QTest::newRow("without rowid")
            << "CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT) WITHOUT ROWID" << false;
        QTest::newRow("another unique column")
            << "CREATE TABLE customers (id TEXT UNIQUE, name TEXT UNIQUE)" << false;
        QTest::newRow("unique id constraint")
            << "CREATE TABLE customers (id TEXT UNIQUE, name TEXT)" << true;
        QTest::newRow("unique index on id, other index kept")
            << "CREATE TABLE customers (id TEXT, name TEXT); "
               "CREATE UNIQUE INDEX by_id ON customers (id); "
               "CREATE INDEX by_name ON customers (name)"
            << true;
    }

    void bulkLoadOnlyOnSuitableTables()
    {
        QFETCH(QString, sql);
        QFETCH(bool, bulk);
        const QString path = newPath();
        {
            RawDb raw(path);
            for (const QString &statement : sql.split(QStringLiteral("; ")))
                QVERIFY(raw.exec(statement));
        }
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY2(store.ensureEntity(schema, &error), qPrintable(error.message));
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, {}, 0, SyncState::Counting, &error));
        QCOMPARE(store.loadEntity(schema.name, &error)->bulkLoad, bulk);
        QVERIFY2(store.applyBatch(schema, changesFrom("a=A1 b=B a=A2"), { QStringLiteral("3"), {} },
                                  3, 3, &error),
                 qPrintable(error.message));
        QVERIFY2(store.completeRun(schema.name, { QStringLiteral("3"), {} }, 3, 3,
                                   QDateTime::currentDateTimeUtc(), &error),
                 qPrintable(error.message));
        RawDb raw(path);
        QCOMPARE(contents(raw), QStringList({ "a=A2", "b=B" }));
        QVERIFY(!uniqueIdIndexes(raw).isEmpty());
        if (sql.contains(u"by_name")) {
            QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM sqlite_master WHERE name = "
                                               "'by_name'"))
                         .toInt(),
                     1);
        }
    }

    void oldLayoutDatabaseKeepsWorking()
    {
        // A database written by format 1: the id is the table's primary key.
        const QString path = newPath();
        {
            RawDb raw(path);
            for (const char *sql :
                 { "PRAGMA journal_mode = WAL",
                   "CREATE TABLE _sync_state (entity TEXT PRIMARY KEY NOT NULL, paging TEXT NOT "
                   "NULL DEFAULT 'cursor', cursor TEXT, cursor_id TEXT, run_active INTEGER NOT "
                   "NULL DEFAULT 0, run_cursor TEXT, run_cursor_id TEXT, run_done INTEGER NOT "
                   "NULL DEFAULT 0, run_total INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL "
                   "DEFAULT 'idle', error_category TEXT, error_message TEXT, last_completed_at "
                   "TEXT, fields TEXT)",
                   "CREATE TABLE customers (\"id\" TEXT PRIMARY KEY NOT NULL, \"name\" TEXT, "
                   "\"balance\" REAL, \"active\" INTEGER, \"visits\" INTEGER, \"since\" TEXT, "
                   "\"_changed_at\" TEXT)",
                   "INSERT INTO customers (id, name) VALUES ('a', 'A'), ('b', 'B')",
                   "INSERT INTO _sync_state (entity, cursor, run_done, run_total, state, "
                   "last_completed_at, fields) VALUES ('customers', '2', 2, 2, 'completed', "
                   "'2026-11-26T06:00:00.000Z', '[{\"name\":\"name\",\"type\":\"string\"},"
                   "{\"name\":\"balance\",\"type\":\"real\"},{\"name\":\"active\",\"type\":"
                   "\"bool\"},{\"name\":\"visits\",\"type\":\"int\"},{\"name\":\"since\","
                   "\"type\":\"datetime\"}]')",
                   "PRAGMA user_version = 1" }) {
                QVERIFY2(raw.exec(QString::fromUtf8(sql)), sql);
            }
        }
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY2(store.open(&error), qPrintable(error.message));
        const EntitySchema schema = customersSchema();
        auto stored = store.loadEntity(schema.name, &error);
        QVERIFY(stored);
        QCOMPARE(stored->schema, schema);
        QCOMPARE(stored->committed.cursor, QStringLiteral("2"));
        QVERIFY(!stored->bulkLoad);
        QVERIFY(store.ensureEntity(schema, &error));
        QVERIFY(store.beginRun(schema.name, PagingMode::Cursor, stored->committed, 0,
                               SyncState::Counting, &error));
        QVERIFY2(store.applyBatch(schema, changesFrom("a=A2 c=C -b"), { QStringLiteral("5"), {} },
                                  3, 3, &error),
                 qPrintable(error.message));
        QVERIFY(store.completeRun(schema.name, { QStringLiteral("5"), {} }, 3, 3,
                                  QDateTime::currentDateTimeUtc(), &error));
        // A run from the start on its rows (paging mode changed) upserts too.
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Offset, {}, 0, SyncState::Counting, &error));
        QVERIFY(!store.loadEntity(schema.name, &error)->bulkLoad);
        QVERIFY(store.applyBatch(schema, changesFrom("c=C2"), { someTime, QStringLiteral("c") }, 1,
                                 1, &error));
        store.close();

        RawDb raw(path);
        QCOMPARE(raw.scalar(QStringLiteral("PRAGMA user_version")).toInt(), 4);
        QCOMPARE(contents(raw), QStringList({ "a=A2", "c=C2" }));
        // Unchanged layout: still the primary key, no second index.
        QCOMPARE(raw.scalar(QStringLiteral(
                                "SELECT pk FROM pragma_table_info('customers') WHERE name = 'id'"))
                     .toInt(),
                 1);
        QCOMPARE(uniqueIdIndexes(raw).size(), 1);
        QVERIFY(uniqueIdIndexes(raw).first().startsWith(u"sqlite_autoindex"));
    }

    void valuesRoundTrip_data()
    {
        QTest::addColumn<FieldType>("type");
        QTest::addColumn<QVariant>("value");
        QTest::addColumn<QString>("storedType"); // typeof() in SQL
        QTest::addColumn<QVariant>("stored");
        const auto both = [](const char *tag, FieldType type, const QVariant &value,
                             const QString &storedType, const QVariant &stored) {
            for (const char *mode : { "bulk", "upsert" })
                QTest::addRow("%s, %s", tag, mode) << type << value << storedType << stored;
        };
        const QString text = QStringLiteral("Zo\u00eb says \"it's\" \u2713 \u65e5\u672c "
                                            "\U0001F600 \\ %1 ?1 ;");
        both("string", FieldType::String, text, "text", text);
        both("empty string", FieldType::String, QString(""), "text", QString(""));
        both("null string", FieldType::String, QVariant(), "null", QVariant());
        both("int max", FieldType::Int, std::numeric_limits<qint64>::max(), "integer",
             std::numeric_limits<qint64>::max());
        both("int min", FieldType::Int, std::numeric_limits<qint64>::min(), "integer",
             std::numeric_limits<qint64>::min());
        both("int zero", FieldType::Int, qint64(0), "integer", qint64(0));
        both("real", FieldType::Real, 3.141592653589793, "real", 3.141592653589793);
        both("real tiny", FieldType::Real, 4.9e-324, "real", 4.9e-324);
        both("real huge negative", FieldType::Real, -1.7976931348623157e308, "real",
             -1.7976931348623157e308);
        both("bool true", FieldType::Bool, true, "integer", qint64(1));
        both("bool false", FieldType::Bool, false, "integer", qint64(0));
        both("datetime", FieldType::DateTime, someTime, "text", someTime);
        both("null datetime", FieldType::DateTime, QVariant(), "null", QVariant());
        both("null int", FieldType::Int, QVariant(), "null", QVariant());
        // Exact text in a TEXT column: no NUMERIC affinity turns it into a double.
        const QString decimal = QStringLiteral("12345678901234567890.123456789012345678");
        both("decimal 38 digits", FieldType::Decimal, decimal, "text", decimal);
        both("decimal trailing zeros", FieldType::Decimal, QStringLiteral("12.50"), "text",
             QStringLiteral("12.50"));
        both("decimal negative", FieldType::Decimal, QStringLiteral("-0.003"), "text",
             QStringLiteral("-0.003"));
        both("null decimal", FieldType::Decimal, QVariant(), "null", QVariant());
    }

    void valuesRoundTrip()
    {
        QFETCH(FieldType, type);
        QFETCH(QVariant, value);
        QFETCH(QString, storedType);
        QFETCH(QVariant, stored);
        const bool bulk = QString::fromLatin1(QTest::currentDataTag()).endsWith(u"bulk");
        const QString path = newPath();
        const EntitySchema schema { QStringLiteral("things"),
                                    { { QStringLiteral("value"), type } } };
        LocalStore store(path, uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        QVERIFY(store.ensureEntity(schema, &error));
        const SyncPosition from = bulk ? SyncPosition() : SyncPosition { QStringLiteral("0"), {} };
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, from, 0, SyncState::Counting, &error));
        QCOMPARE(store.loadEntity(schema.name, &error)->bulkLoad, bulk);
        Change change;
        change.id = QStringLiteral("k\u00e9y \"1\"");
        change.changedAt = someTime;
        change.values = { value };
        Change other = change;
        other.id = QStringLiteral("other");
        other.values = { QVariant() };
        QVERIFY2(
            store.applyBatch(schema, { other, change }, { QStringLiteral("1"), {} }, 2, 2, &error),
            qPrintable(error.message));
        QVERIFY(store.completeRun(schema.name, { QStringLiteral("1"), {} }, 2, 2,
                                  QDateTime::currentDateTimeUtc(), &error));
        RawDb raw(path);
        const QList<QVariantList> rows
            = raw.rows(QStringLiteral("SELECT id, typeof(value), value, _changed_at FROM things "
                                      "WHERE id <> 'other'"));
        QCOMPARE(rows.size(), 1);
        QCOMPARE(rows.first().at(0).toString(), change.id);
        QCOMPARE(rows.first().at(1).toString(), storedType);
        if (stored.isNull()) {
            QVERIFY(rows.first().at(2).isNull());
        } else if (storedType == u"text") {
            QCOMPARE(rows.first().at(2).toString(), stored.toString());
        } else if (storedType == u"real") {
            QCOMPARE(rows.first().at(2).toDouble(), stored.toDouble());
        } else {
            QCOMPARE(rows.first().at(2).toLongLong(), stored.toLongLong());
        }
        QCOMPARE(rows.first().at(3).toString(), someTime);
        if (type == FieldType::Decimal) {
            QCOMPARE(raw.scalar(QStringLiteral("SELECT type FROM pragma_table_info('things') "
                                               "WHERE name = 'value'"))
                         .toString(),
                     QStringLiteral("TEXT"));
        }
    }

    void applyBatchThroughput()
    {
        // A rough figure, not a timed assertion. BATCHSYNC_STORE_BENCH_ROWS=100000 for more.
        const int rows = qEnvironmentVariableIsSet("BATCHSYNC_STORE_BENCH_ROWS")
            ? qEnvironmentVariableIntValue("BATCHSYNC_STORE_BENCH_ROWS")
            : 20000;
        constexpr int batchSize = 1000;
        LocalStore store(newPath(), uniqueConnectionName());
        SyncError error;
        QVERIFY(store.open(&error));
        const EntitySchema schema = customersSchema();
        QVERIFY(store.ensureEntity(schema, &error));
        QVERIFY(
            store.beginRun(schema.name, PagingMode::Cursor, {}, rows, SyncState::Running, &error));

        QList<QList<Change>> batches;
        for (int start = 0; start < rows; start += batchSize) {
            QList<Change> batch;
            batch.reserve(batchSize);
            for (int i = start; i < qMin(rows, start + batchSize); ++i) {
                batch.append(record(QUuid::createUuid().toString(QUuid::WithoutBraces),
                                    QStringLiteral("Customer %1").arg(i),
                                    QRandomGenerator::global()->bounded(1000)));
            }
            batches.append(batch);
        }
        QElapsedTimer timer;
        timer.start();
        qint64 done = 0;
        for (const QList<Change> &batch : std::as_const(batches)) {
            done += batch.size();
            QVERIFY2(
                store.applyBatch(schema, batch, { QString::number(done), {} }, done, rows, &error),
                qPrintable(error.message));
        }
        const qint64 ms = qMax<qint64>(1, timer.elapsed());
        QCOMPARE(store.rowCount(schema.name), rows);
        qInfo("applyBatch: %d random-UUID rows in batches of %d: %lld ms, %lld rows/s", rows,
              batchSize, ms, qint64(rows) * 1000 / ms);
    }
};

QTEST_GUILESS_MAIN(TestStore)
#include "tst_store.moc"
