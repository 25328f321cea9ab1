// The data view and its model over a local database the store wrote: rows before the count,
// superseded queries that never show, filtering and sorting in SQL, switching entities, types
// shown from the first display, and no SQL on the GUI thread.

#include "dataview.h"
#include "recordmodel.h"
#include "store/localstore.h"
#include "testutil/customers.h"
#include "testutil/fetchall.h"

#include <QComboBox>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <algorithm>
#include <memory>

using namespace BatchSync;
using namespace BatchSync::Ui;
using BatchSync::Test::customersSchema;
using BatchSync::Test::fetchAll;

namespace {

constexpr int Customers = 3000;
constexpr int Orders = 500;

EntitySchema ordersSchema()
{
    return { QStringLiteral("orders"),
             { { QStringLiteral("customer"), FieldType::String },
               { QStringLiteral("amount"), FieldType::Real } } };
}

// Record i of the customers: every column in another order than the ids.
QVariantList customer(int i)
{
    return { QStringLiteral("Name %1").arg((i * 7919) % Customers, 4, 10, QLatin1Char('0')),
             double((i * 37) % 1000) / 10.0, i % 3 == 0, qint64((i * 13) % 100),
             QStringLiteral("2025-%1-%2T03:04:05.000Z")
                 .arg(1 + i % 12, 2, 10, QLatin1Char('0'))
                 .arg(1 + i % 28, 2, 10, QLatin1Char('0')) };
}

QString customerId(int i)
{
    return QStringLiteral("c-%1").arg(i, 5, 10, QLatin1Char('0'));
}

bool writeEntity(LocalStore &store, const EntitySchema &schema, int rows,
                 const std::function<QVariantList(int)> &values, const QString &idPrefix)
{
    SyncError error;
    QList<Change> changes;
    for (int i = 0; i < rows; ++i) {
        changes.append({ idPrefix == u"c" ? customerId(i) : idPrefix + QString::number(i),
                         QStringLiteral("2026-01-01T00:00:00.000Z"), false, values(i) });
    }
    const SyncPosition end { QString::number(rows), {} };
    const bool ok = store.ensureEntity(schema, &error)
        && store.beginRun(schema.name, PagingMode::Cursor, {}, rows, SyncState::Running, &error)
        && store.applyBatch(schema, changes, end, rows, rows, &error)
        && store.completeRun(schema.name, end, rows, rows, QDateTime::currentDateTimeUtc(), &error);
    if (!ok)
        qWarning("%s", qPrintable(error.message));
    return ok;
}

QVariantList columnValues(const RecordModel &model, int column, int role = Qt::EditRole)
{
    QVariantList values;
    for (int row = 0; row < model.rowCount(); ++row)
        values.append(model.index(row, column).data(role));
    return values;
}

bool lessThan(const QVariant &a, const QVariant &b)
{
    return QVariant::compare(a, b) == QPartialOrdering::Less;
}

} // namespace

class TestDataView final : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_path;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_path = m_dir.filePath(QStringLiteral("local.sqlite"));
        LocalStore store(m_path, QStringLiteral("tst_dataview-writer"));
        SyncError error;
        QVERIFY2(store.open(&error), qPrintable(error.message));
        QVERIFY(writeEntity(store, customersSchema(), Customers, customer, QStringLiteral("c")));
        QVERIFY(writeEntity(
            store, ordersSchema(), Orders,
            [](int i) {
                return QVariantList { customerId(i % 50), double(i) };
            },
            QStringLiteral("o-")));
        store.close();
        // A query that never ends by itself: counting or sorting an endless sequence.
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"),
                                                        QStringLiteral("tst_dataview-view"));
            db.setDatabaseName(m_path);
            QVERIFY(db.open());
            QSqlQuery view(db);
            QVERIFY(view.exec(QStringLiteral(
                "CREATE VIEW endless AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                "FROM c) SELECT 'e-' || x AS id, x AS n FROM c")));
            view.finish();
            db.close();
        }
        QSqlDatabase::removeDatabase(QStringLiteral("tst_dataview-view"));
    }

    void rowsArriveBeforeTheCount()
    {
        RecordModel model;
        model.setDatabasePath(m_path);
        model.setQuery({ QStringLiteral("customers"), {}, {}, Qt::AscendingOrder });
        QVERIFY(model.isLoading());
        QCOMPARE(model.matchingRows(), -1);
        QList<qint64> countWhenRowsCame;
        connect(&model, &RecordModel::rowsFetched, this,
                [&] { countWhenRowsCame.append(model.matchingRows()); });
        QTRY_VERIFY(!countWhenRowsCame.isEmpty());
        // The first screenful is there, the count not yet; the rest waits for the view.
        QCOMPARE(countWhenRowsCame.first(), -1);
        QCOMPARE(model.rowCount(), RecordModel::ChunkRows);
        QCOMPARE(model.columnCount(), 6); // id + 5 fields; no bookkeeping columns
        QVERIFY(model.canFetchMore({}));
        QTRY_COMPARE(model.matchingRows(), Customers);
        QCOMPARE(model.totalRows(), Customers);
        QCOMPARE(model.rowCount(), RecordModel::ChunkRows);
        QCOMPARE(fetchAll(&model), Customers);
        QVERIFY(!model.canFetchMore({}));
    }

    void aNewFilterCancelsTheOneInFlight()
    {
        RecordModel model;
        model.setDatabasePath(m_path);
        QStringList inserted;
        connect(&model, &QAbstractItemModel::rowsInserted, this,
                [&](const QModelIndex &, int first, int last) {
                    for (int row = first; row <= last; ++row)
                        inserted.append(model.index(row, 1).data().toString());
                });
        QList<qint64> counts;
        connect(&model, &RecordModel::countsChanged, this, [&] {
            if (model.matchingRows() >= 0)
                counts.append(model.matchingRows());
        });
        // "Name 1" matches 1,000 rows, "Name 2999" one: nothing of the first may show.
        model.setQuery(
            { QStringLiteral("customers"), QStringLiteral("Name 1"), {}, Qt::AscendingOrder });
        const quint64 first = model.generation();
        model.setQuery(
            { QStringLiteral("customers"), QStringLiteral("Name 2999"), {}, Qt::AscendingOrder });
        QVERIFY(model.generation() > first);
        QTRY_COMPARE(model.matchingRows(), 1);
        QCOMPARE(fetchAll(&model), 1);
        QCOMPARE(inserted, QStringList { QStringLiteral("Name 2999") });
        QCOMPARE(counts, QList<qint64> { 1 });

        // The same through the filter box, typed key by key: only the last text counts.
        DataView view;
        view.setDatabasePath(m_path);
        view.setCurrentEntity(QStringLiteral("customers"));
        QTRY_COMPARE(view.matchingRows(), Customers);
        QStringList shown;
        connect(view.model(), &QAbstractItemModel::rowsInserted, this,
                [&](const QModelIndex &, int firstRow, int lastRow) {
                    for (int row = firstRow; row <= lastRow; ++row)
                        shown.append(view.model()->index(row, 1).data().toString());
                });
        auto *filter = view.findChild<QLineEdit *>(QStringLiteral("filterEdit"));
        for (const QChar c : QStringLiteral("Name 0042"))
            view.setFilterText(filter->text() + c);
        QTRY_COMPARE(view.matchingRows(), 1);
        QCOMPARE(fetchAll(view.model()), 1);
        QCOMPARE(shown, QStringList { QStringLiteral("Name 0042") });
    }

    void aNewQueryInterruptsTheRunningOne_data()
    {
        QTest::addColumn<QString>("sortField");
        QTest::newRow("endless sort before the first row") << QStringLiteral("n");
        QTest::newRow("endless count after the first rows") << QString();
    }

    void aNewQueryInterruptsTheRunningOne()
    {
        QFETCH(QString, sortField);
        RecordModel model;
        model.setDatabasePath(m_path);
        model.setQuery({ QStringLiteral("endless"), {}, sortField, Qt::AscendingOrder });
        if (sortField.isEmpty()) {
            // The first rows come; the count that follows them would never end.
            QTRY_VERIFY(!model.isLoading());
            QCOMPARE(model.rowCount(), RecordModel::ChunkRows);
            QCOMPARE(model.matchingRows(), -1);
        } else {
            // Sorting never yields a first row; give the worker the time to start it.
            QTest::qWait(200);
            QVERIFY(model.isLoading());
        }
        // Only an interrupted statement lets the worker take the next query.
        model.setQuery({ QStringLiteral("customers"), {}, {}, Qt::AscendingOrder });
        QTRY_COMPARE(model.matchingRows(), Customers);
        QCOMPARE(model.shownEntity(), QStringLiteral("customers"));
        // Nor does an endless query hold up the model's end (the test would not finish).
        model.setQuery({ QStringLiteral("endless"), {}, sortField, Qt::AscendingOrder });
    }

    void filterMatchesTheTextColumns_data()
    {
        QTest::addColumn<QString>("filter");
        QTest::newRow("name") << QStringLiteral("Name 12");
        QTest::newRow("id") << QStringLiteral("c-0001");
        QTest::newRow("datetime") << QStringLiteral("-07-1");
        QTest::newRow("several columns") << QStringLiteral("7");
        QTest::newRow("LIKE wildcard") << QStringLiteral("%");
        QTest::newRow("nothing") << QStringLiteral("zzz");
    }

    void filterMatchesTheTextColumns()
    {
        QFETCH(QString, filter);
        QStringList expected;
        for (int i = 0; i < Customers; ++i) {
            const QVariantList values = customer(i);
            if (customerId(i).contains(filter) || values.at(0).toString().contains(filter)
                || values.at(4).toString().contains(filter)) {
                expected.append(customerId(i));
            }
        }
        RecordModel model;
        model.setDatabasePath(m_path);
        model.setQuery(
            { QStringLiteral("customers"), filter, QStringLiteral("id"), Qt::AscendingOrder });
        QCOMPARE(fetchAll(&model), expected.size());
        QStringList ids;
        for (const QVariant &id : columnValues(model, 0))
            ids.append(id.toString());
        QCOMPARE(ids, expected);
        QTRY_COMPARE(model.matchingRows(), expected.size());
        QCOMPARE(model.totalRows(), Customers);
    }

    void sortsByEveryColumn_data()
    {
        QTest::addColumn<int>("column");
        QTest::addColumn<Qt::SortOrder>("order");
        for (int column = 0; column < 6; ++column) {
            QTest::addRow("column %d ascending", column) << column << Qt::AscendingOrder;
            QTest::addRow("column %d descending", column) << column << Qt::DescendingOrder;
        }
    }

    void sortsByEveryColumn()
    {
        QFETCH(int, column);
        QFETCH(Qt::SortOrder, order);
        RecordModel model;
        model.setDatabasePath(m_path);
        model.setQuery({ QStringLiteral("customers"), {}, {}, Qt::AscendingOrder });
        QTRY_VERIFY(!model.isLoading());
        const QString field = model.headerData(column, Qt::Horizontal).toString();
        model.setQuery({ QStringLiteral("customers"), {}, field, order });
        QCOMPARE(fetchAll(&model), Customers);

        QVariantList expected;
        for (int i = 0; i < Customers; ++i)
            expected.append(column == 0 ? QVariant(customerId(i)) : customer(i).at(column - 1));
        std::stable_sort(expected.begin(), expected.end(), lessThan);
        if (order == Qt::DescendingOrder)
            std::reverse(expected.begin(), expected.end());
        const QVariantList shown = columnValues(model, column);
        QCOMPARE(shown.size(), expected.size());
        for (int row = 0; row < shown.size(); ++row) {
            // Bools are stored as integers: compare what they mean.
            const QVariant want = expected.at(row).typeId() == QMetaType::Bool
                ? QVariant(qlonglong(expected.at(row).toBool()))
                : expected.at(row);
            QVERIFY2(QVariant::compare(shown.at(row), want) == QPartialOrdering::Equivalent,
                     qPrintable(QStringLiteral("row %1: %2, expected %3")
                                    .arg(row)
                                    .arg(shown.at(row).toString(), want.toString())));
        }
    }

    void viewSortsOnAHeaderClickAndSaysSo()
    {
        DataView view;
        view.setDatabasePath(m_path);
        view.setCurrentEntity(QStringLiteral("customers"));
        auto *label = view.findChild<QLabel *>(QStringLiteral("rowCountLabel"));
        QTRY_COMPARE(label->text(), QStringLiteral("3,000 records"));
        auto *table = view.findChild<QTableView *>(QStringLiteral("dataView"));
        table->horizontalHeader()->setSortIndicator(4, Qt::DescendingOrder); // visits
        QCOMPARE(label->text(), QStringLiteral("Sorting…"));
        QCOMPARE(view.model()->query().sortField, QStringLiteral("visits"));
        QTRY_COMPARE(label->text(), QStringLiteral("3,000 records"));
        QCOMPARE(view.model()->index(0, 4).data().toLongLong(), 99);
        view.setFilterText(QStringLiteral("Name 1"));
        QCOMPARE(label->text(), QStringLiteral("Sorting…"));
        QTRY_COMPARE(label->text(), QStringLiteral("1,000 of 3,000 records match"));
        qint64 most = -1;
        for (int i = 0; i < Customers; ++i) {
            if (customer(i).at(0).toString().startsWith(QLatin1String("Name 1")))
                most = std::max(most, customer(i).at(3).toLongLong());
        }
        QCOMPARE(view.model()->index(0, 1).data().toString().left(6), QStringLiteral("Name 1"));
        QCOMPARE(view.model()->index(0, 4).data().toLongLong(), most);
    }

    void switchingEntities()
    {
        DataView view;
        view.setDatabasePath(m_path);
        QTRY_COMPARE(view.entityNames(),
                     (QStringList { QStringLiteral("customers"), QStringLiteral("orders") }));
        auto *label = view.findChild<QLabel *>(QStringLiteral("rowCountLabel"));
        auto *combo = view.findChild<QComboBox *>(QStringLiteral("entityCombo"));
        QTRY_COMPARE(label->text(), QStringLiteral("3,000 records")); // the first is shown
        QCOMPARE(view.model()->shownEntity(), QStringLiteral("customers"));

        combo->setCurrentIndex(combo->findText(QStringLiteral("orders")));
        QCOMPARE(label->text(), QStringLiteral("Loading…"));
        QTRY_COMPARE(label->text(), QStringLiteral("500 records"));
        QCOMPARE(view.model()->shownEntity(), QStringLiteral("orders"));
        QCOMPARE(view.model()->columnCount(), 3);
        QCOMPARE(view.model()->headerData(1, Qt::Horizontal).toString(),
                 QStringLiteral("customer"));

        // Back and forth before anything arrives: only the last one shows.
        QStringList entities;
        connect(view.model(), &RecordModel::rowsFetched, this,
                [&] { entities.append(view.model()->shownEntity()); });
        combo->setCurrentIndex(combo->findText(QStringLiteral("customers")));
        combo->setCurrentIndex(combo->findText(QStringLiteral("orders")));
        QTRY_COMPARE(view.matchingRows(), Orders);
        QCOMPARE(entities, QStringList { QStringLiteral("orders") });
        QCOMPARE(fetchAll(view.model()), Orders);

        // An entity asked for by name, and the filter applies to it.
        view.setFilterText(QStringLiteral("c-00049"));
        QTRY_COMPARE(view.matchingRows(), 10);
        view.setCurrentEntity(QStringLiteral("customers"));
        QTRY_COMPARE(view.matchingRows(), 1);
        QCOMPARE(view.model()->index(0, 0).data().toString(), QStringLiteral("c-00049"));
    }

    void boolsShowAsWordsFromTheFirstDisplay()
    {
        // A fresh start: the engine has not reported any schema yet; the database knows it.
        DataView view;
        view.setDatabasePath(m_path);
        view.setCurrentEntity(QStringLiteral("customers"));
        QTRY_VERIFY(view.model()->rowCount() > 0);
        const int active = 3;
        QCOMPARE(view.model()->headerData(active, Qt::Horizontal).toString(),
                 QStringLiteral("active"));
        for (int row = 0; row < 6; ++row) {
            const QString id = view.model()->index(row, 0).data().toString();
            const int i = id.mid(2).toInt();
            QCOMPARE(view.model()->index(row, active).data().toString(),
                     i % 3 == 0 ? QStringLiteral("true") : QStringLiteral("false"));
        }
        // Ints stay numbers, right-aligned.
        QCOMPARE(view.model()->index(0, 4).data().typeId(), QMetaType::LongLong);
        QCOMPARE(view.model()->index(0, 4).data(Qt::TextAlignmentRole).toInt(),
                 int(Qt::AlignRight | Qt::AlignVCenter));
    }

    void decimalsShowExactlySortByValueAndMatchAsText()
    {
        const QString path = m_dir.filePath(QStringLiteral("decimals.sqlite"));
        const EntitySchema prices { QStringLiteral("prices"),
                                    { { QStringLiteral("amount"), FieldType::Decimal } } };
        const QStringList amounts {
            QStringLiteral("9"),     QStringLiteral("10"),
            QStringLiteral("-2.5"),  QStringLiteral("12.50"),
            QStringLiteral("0.001"), QStringLiteral("12345678901234567890.123456789012345678")
        };
        {
            LocalStore store(path, QStringLiteral("tst_dataview-decimals"));
            SyncError error;
            QVERIFY2(store.open(&error), qPrintable(error.message));
            QVERIFY(writeEntity(
                store, prices, int(amounts.size()),
                [&](int i) { return QVariantList { amounts.at(i) }; }, QStringLiteral("p-")));
        }
        RecordModel model;
        model.setDatabasePath(path);
        model.setQuery({ prices.name, {}, QStringLiteral("amount"), Qt::AscendingOrder });
        QCOMPARE(fetchAll(&model), int(amounts.size()));
        // By value, not by text ("9" before "10"), and each shown as it is stored.
        QCOMPARE(columnValues(model, 1, Qt::DisplayRole),
                 (QVariantList { QStringLiteral("-2.5"), QStringLiteral("0.001"),
                                 QStringLiteral("9"), QStringLiteral("10"), QStringLiteral("12.50"),
                                 QStringLiteral("12345678901234567890.123456789012345678") }));
        QCOMPARE(model.index(0, 1).data(Qt::TextAlignmentRole).toInt(),
                 int(Qt::AlignRight | Qt::AlignVCenter));
        // The filter matches the text: "12.5" finds "12.50".
        model.setQuery(
            { prices.name, QStringLiteral("12.5"), QStringLiteral("id"), Qt::AscendingOrder });
        QCOMPARE(fetchAll(&model), 1);
        QCOMPARE(model.index(0, 1).data(), QVariant(QStringLiteral("12.50")));
    }

    void noSqlOnTheGuiThread()
    {
        DataView view;
        view.setDatabasePath(m_path);
        view.setCurrentEntity(QStringLiteral("customers"));
        view.setFilterText(QStringLiteral("Name"));
        QTRY_COMPARE(view.matchingRows(), Customers);
        RecordModel *model = view.model();
        QVERIFY(model->workerThread() != QThread::currentThread());
        QVERIFY(model->workerThread()->isRunning());
        // The model's connection exists, and belongs to its worker's thread: the GUI thread
        // cannot even get it. No data view connection belongs to the GUI thread.
        QVERIFY(QSqlDatabase::connectionNames().contains(model->connectionName()));
        int viewConnections = 0;
        for (const QString &name : QSqlDatabase::connectionNames()) {
            if (!name.startsWith(QLatin1String("batchsync-ui-data")))
                continue;
            ++viewConnections;
            QTest::ignoreMessage(QtWarningMsg,
                                 "QSqlDatabasePrivate::database: requested database does not "
                                 "belong to the calling thread.");
            QVERIFY(!QSqlDatabase::database(name, false).isValid());
        }
        QCOMPARE(viewConnections, 1);
        // Nor does the connection that writes the view's edits (open: it counted the local
        // changes).
        QTRY_VERIFY(QSqlDatabase::connectionNames().contains(model->writeConnectionName()));
        QTest::ignoreMessage(QtWarningMsg,
                             "QSqlDatabasePrivate::database: requested database does not "
                             "belong to the calling thread.");
        QVERIFY(!QSqlDatabase::database(model->writeConnectionName(), false).isValid());
    }

    void aPartlyReadTableHoldsNoReadTransaction_data()
    {
        QTest::addColumn<QString>("filter");
        QTest::newRow("every row") << QString();
        QTest::newRow("filtered") << QStringLiteral("Name");
    }

    void aPartlyReadTableHoldsNoReadTransaction()
    {
        // While the view shows the first rows of a long table, a sync's checkpoints still
        // complete: a read transaction held until the table is read to its end would keep the
        // WAL growing by every page the sync writes.
        QFETCH(QString, filter);
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString path = dir.filePath(QStringLiteral("partly.sqlite"));
        {
            LocalStore store(path, QStringLiteral("tst_dataview-partly"));
            SyncError error;
            QVERIFY2(store.open(&error), qPrintable(error.message));
            QVERIFY(
                writeEntity(store, customersSchema(), Customers, customer, QStringLiteral("c")));
        }
        RecordModel model;
        model.setDatabasePath(path);
        model.setQuery({ QStringLiteral("customers"), filter, {}, Qt::AscendingOrder });
        QTRY_COMPARE(model.matchingRows(), Customers);
        QCOMPARE(model.rowCount(), RecordModel::ChunkRows);
        QVERIFY(model.canFetchMore({}));

        const QString writer = QStringLiteral("tst_dataview-checkpoint");
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), writer);
            db.setDatabaseName(path);
            QVERIFY(db.open());
            QSqlQuery query(db);
            QVERIFY(query.exec(QStringLiteral("PRAGMA busy_timeout = 0")));
            QVERIFY(query.exec(QStringLiteral("CREATE TABLE scratch (x)")));
            QVERIFY(query.exec(QStringLiteral("INSERT INTO scratch VALUES (1)")));
            // busy, WAL frames, frames checkpointed: not held up by a reader of an older
            // snapshot, and the WAL starts over.
            QVERIFY(query.exec(QStringLiteral("PRAGMA wal_checkpoint(TRUNCATE)")));
            QVERIFY(query.next());
            QCOMPARE(query.value(0).toInt(), 0);
            QCOMPARE(query.value(1).toInt(), 0);
            query.finish();
            db.close();
        }
        QSqlDatabase::removeDatabase(writer);
        // The rest still comes, each row once, in the table's order.
        QCOMPARE(fetchAll(&model), Customers);
        const QVariantList ids = columnValues(model, 0);
        for (int i = 0; i < Customers; ++i)
            QCOMPARE(ids.at(i).toString(), customerId(i));
    }
};

QTEST_MAIN(TestDataView)
#include "tst_dataview.moc"
