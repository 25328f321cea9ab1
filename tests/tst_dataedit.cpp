// Editing in the data view: typed editors that refuse what is not of their type, edits,
// additions and deletions that land in the entity's table and are captured in _sync_pending,
// writes on the model's worker thread that never hold up the window, failures (a held write
// lock, an existing id, a bulk-loading entity) that keep the database's value, and the local
// changes shown on the progress page.

#include "dataview.h"
#include "entityrow.h"
#include "mainwindow.h"
#include "progresspage.h"
#include "recorddelegate.h"
#include "recordmodel.h"
#include "store/localstore.h"
#include "testutil/customers.h"
#include "testutil/fetchall.h"
#include "testutil/rawdb.h"

#include <QDateTimeEdit>
#include <QElapsedTimer>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QScrollBar>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QTimer>
#include <QToolButton>
#include <memory>

using namespace BatchSync;
using namespace BatchSync::Ui;
using BatchSync::Test::customersSchema;
using BatchSync::Test::fetchAll;
using BatchSync::Test::RawDb;

namespace {

constexpr int Customers = 600;

// Columns of the customers as the model shows them.
enum Column { Id, Name, Balance, Active, Visits, Since };

EntityStatus status(const QString &name)
{
    EntityStatus status;
    status.name = name;
    return status;
}

QString customerId(int i)
{
    return QStringLiteral("c-%1").arg(i, 4, 10, QLatin1Char('0'));
}

Change customer(int i)
{
    return { customerId(i),
             QStringLiteral("2026-01-01T00:00:00.000Z"),
             false,
             { QStringLiteral("Name %1").arg(i), i / 4.0, i % 2 == 0, qint64(i),
               QStringLiteral("2025-01-02T03:04:05.006Z") } };
}

// A database whose customers completed their first sync, and whose "fresh" entity is still
// in its bulk load.
bool makeDatabase(const QString &path)
{
    LocalStore store(path, QStringLiteral("tst_dataedit-writer"));
    SyncError error;
    QList<Change> changes;
    for (int i = 0; i < Customers; ++i)
        changes.append(customer(i));
    const SyncPosition end { QString::number(Customers), {} };
    const EntitySchema customers = customersSchema();
    EntitySchema fresh = customersSchema();
    fresh.name = QStringLiteral("fresh");
    const bool ok = store.open(&error) && store.ensureEntity(customers, &error)
        && store.beginRun(customers.name, PagingMode::Cursor, {}, Customers, SyncState::Running,
                          &error)
        && store.applyBatch(customers, changes, end, Customers, Customers, &error)
        && store.completeRun(customers.name, end, Customers, Customers,
                             QDateTime::currentDateTimeUtc(), &error)
        && store.ensureEntity(fresh, &error)
        && store.beginRun(fresh.name, PagingMode::Cursor, {}, 10, SyncState::Running, &error)
        && store.applyBatch(fresh, changes.mid(0, 2), { QStringLiteral("2"), {} }, 2, 10, &error);
    if (!ok)
        qWarning("%s", qPrintable(error.message));
    return ok;
}

// The pending change of a record: {deleted, created}, or nothing.
QVariantList pending(RawDb &db, const QString &id)
{
    const QList<QVariantList> rows
        = db.rows(QStringLiteral("SELECT deleted, created FROM _sync_pending WHERE entity = "
                                 "'customers' AND id = '%1'")
                      .arg(id));
    return rows.isEmpty() ? QVariantList() : rows.first();
}

} // namespace

class TestDataEdit final : public QObject
{
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_path;

    // A model showing every customer, ordered by id (row i is customer i).
    std::unique_ptr<RecordModel> customersModel()
    {
        auto model = std::make_unique<RecordModel>();
        model->setDatabasePath(m_path);
        model->setSchemas({ customersSchema() });
        model->setQuery(
            { QStringLiteral("customers"), {}, QStringLiteral("id"), Qt::AscendingOrder });
        if (fetchAll(model.get()) != Customers)
            return nullptr;
        return model;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QLocale::setDefault(QLocale(QLocale::English, QLocale::UnitedStates));
    }

    void init()
    {
        // Each test edits a database of its own.
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        m_path = m_dir->filePath(QStringLiteral("local.sqlite"));
        QVERIFY(makeDatabase(m_path));
    }

    void editorsRefuseInvalidInput_data()
    {
        QTest::addColumn<int>("column");
        QTest::addColumn<QString>("typed");
        QTest::addColumn<QString>("shown"); // what the editor kept of it
        QTest::addColumn<bool>("acceptable");
        QTest::newRow("int: letters") << int(Visits) << "12x3"
                                      << "123" << true;
        QTest::newRow("int: beyond 64 bits") << int(Visits) << "99999999999999999999"
                                             << "999999999999999999" << true;
        QTest::newRow("int: 64 bits") << int(Visits) << "-9223372036854775808"
                                      << "-9223372036854775808" << true;
        QTest::newRow("int: a fraction") << int(Visits) << "1.5"
                                         << "15" << true;
        QTest::newRow("int: a sign alone") << int(Visits) << "-"
                                           << "-" << false;
        QTest::newRow("real: letters") << int(Balance) << "abc"
                                       << "" << true;
        QTest::newRow("real: a comma") << int(Balance) << "1,5"
                                       << "15" << true;
        QTest::newRow("real: '.' and exponent") << int(Balance) << "-2.5e3x"
                                                << "-2.5e3" << true;
        QTest::newRow("real: an exponent without digits") << int(Balance) << "1e"
                                                          << "1e" << false;
        QTest::newRow("id: empty") << int(Id) << ""
                                   << "" << false;
    }

    void editorsRefuseInvalidInput()
    {
        QFETCH(int, column);
        QFETCH(QString, typed);
        QFETCH(QString, shown);
        QFETCH(bool, acceptable);
        const std::unique_ptr<RecordModel> model = customersModel();
        QVERIFY(model);
        const QModelIndex index = model->index(7, column);
        const QVariant before = index.data(Qt::EditRole);
        RecordDelegate delegate;
        QWidget parent;
        QWidget *editor = delegate.createEditor(&parent, {}, index);
        auto *line = qobject_cast<QLineEdit *>(editor);
        QVERIFY(line);
        delegate.setEditorData(editor, index);
        line->clear();
        QTest::keyClicks(line, typed);
        QCOMPARE(line->text(), shown);
        QCOMPARE(line->hasAcceptableInput(), acceptable);
        QSignalSpy written(model.get(), &RecordModel::written);
        delegate.setModelData(editor, model.get(), index);
        if (!acceptable) {
            // Never handed to the model: nothing shown, nothing written.
            QCOMPARE(model->pendingWrites(), 0);
            QCOMPARE(index.data(Qt::EditRole), before);
            return;
        }
        QTRY_COMPARE(written.size(), 1);
        RawDb db(m_path);
        const QVariant stored = db.scalar(
            QStringLiteral("SELECT %1 FROM customers WHERE id = '%2'")
                .arg(model->headerData(column, Qt::Horizontal).toString(), customerId(7)));
        if (shown.isEmpty())
            QVERIFY(stored.isNull());
        else if (column == Visits)
            QCOMPARE(stored.toLongLong(), shown.toLongLong());
        else
            QCOMPARE(stored.toDouble(), shown.toDouble());
    }

    void modelRefusesValuesNotOfTheType_data()
    {
        QTest::addColumn<int>("column");
        QTest::addColumn<QVariant>("value");
        QTest::newRow("int") << int(Visits) << QVariant(QStringLiteral("12x"));
        QTest::newRow("int, fraction") << int(Visits) << QVariant(2.5);
        QTest::newRow("real") << int(Balance) << QVariant(QStringLiteral("1,5"));
        QTest::newRow("bool") << int(Active) << QVariant(QStringLiteral("maybe"));
        QTest::newRow("datetime") << int(Since) << QVariant(QStringLiteral("2026-13-01T00:00:00Z"));
        QTest::newRow("empty id") << int(Id) << QVariant(QString());
        QTest::newRow("blank id") << int(Id) << QVariant(QStringLiteral("  "));
        QTest::newRow("id over 512 bytes") << int(Id) << QVariant(QString(257, QChar(0xe9)));
        QTest::newRow("id with NUL") << int(Id) << QVariant(QStringLiteral("a") + QChar(0));
    }

    void modelRefusesValuesNotOfTheType()
    {
        QFETCH(int, column);
        QFETCH(QVariant, value);
        const std::unique_ptr<RecordModel> model = customersModel();
        QVERIFY(model);
        const QModelIndex index = model->index(3, column);
        const QVariant before = index.data(Qt::EditRole);
        QSignalSpy failed(model.get(), &RecordModel::writeFailed);
        QVERIFY(!model->setData(index, value));
        QCOMPARE(failed.size(), 1);
        QCOMPARE(model->pendingWrites(), 0);
        QCOMPARE(index.data(Qt::EditRole), before);
    }

    void dateTimeEditorWritesUtcToTheMillisecond()
    {
        const std::unique_ptr<RecordModel> model = customersModel();
        QVERIFY(model);
        const QModelIndex index = model->index(5, Since);
        RecordDelegate delegate;
        QWidget parent;
        auto *edit = qobject_cast<QDateTimeEdit *>(delegate.createEditor(&parent, {}, index));
        QVERIFY(edit);
        delegate.setEditorData(edit, index);
        QCOMPARE(edit->dateTime(), QDateTime(QDate(2025, 1, 2), QTime(3, 4, 5, 6), Qt::UTC));
        // Letters are no date: the editor keeps its value.
        QTest::keyClicks(edit, QStringLiteral("abc"));
        QCOMPARE(edit->dateTime(), QDateTime(QDate(2025, 1, 2), QTime(3, 4, 5, 6), Qt::UTC));
        edit->setDateTime(QDateTime(QDate(2026, 12, 1), QTime(6, 20, 16, 123), Qt::UTC));
        QSignalSpy written(model.get(), &RecordModel::written);
        delegate.setModelData(edit, model.get(), index);
        QTRY_COMPARE(written.size(), 1);
        RawDb db(m_path);
        QCOMPARE(db.scalar(QStringLiteral("SELECT since FROM customers WHERE id = 'c-0005'")),
                 QVariant(QStringLiteral("2026-12-01T06:20:16.123Z")));
        QCOMPARE(index.data(), QVariant(QStringLiteral("2026-12-01T06:20:16.123Z")));
    }

    void cellEditLandsAndIsCaptured_data()
    {
        QTest::addColumn<int>("column");
        QTest::addColumn<QVariant>("value");
        QTest::addColumn<QString>("sqlType"); // typeof() of the stored value
        QTest::addColumn<QString>("sqlValue"); // the stored value as text
        QTest::newRow("string") << int(Name) << QVariant(QStringLiteral("Zed")) << "text"
                                << "Zed";
        QTest::newRow("int") << int(Visits) << QVariant(QStringLiteral("9223372036854775807"))
                             << "integer"
                             << "9223372036854775807";
        QTest::newRow("real") << int(Balance) << QVariant(QStringLiteral("-0.125")) << "real"
                              << "-0.125";
        QTest::newRow("bool") << int(Active) << QVariant(false) << "integer"
                              << "0";
        QTest::newRow("datetime, offset")
            << int(Since) << QVariant(QStringLiteral("2026-12-01T08:20:16.5+02:00")) << "text"
            << "2026-12-01T06:20:16.500Z";
        QTest::newRow("null") << int(Name) << QVariant() << "null"
                              << "";
        QTest::newRow("null int") << int(Visits) << QVariant(QString()) << "null"
                                  << "";
    }

    void cellEditLandsAndIsCaptured()
    {
        QFETCH(int, column);
        QFETCH(QVariant, value);
        QFETCH(QString, sqlType);
        QFETCH(QString, sqlValue);
        const std::unique_ptr<RecordModel> model = customersModel();
        QVERIFY(model);
        const QModelIndex index = model->index(4, column);
        QSignalSpy written(model.get(), &RecordModel::written);
        QVERIFY(model->setData(index, value));
        QCOMPARE(model->pendingWrites(), 1); // shown at once, written later
        QTRY_COMPARE(written.size(), 1);
        QCOMPARE(model->pendingWrites(), 0);
        RawDb db(m_path);
        const QString name = model->headerData(column, Qt::Horizontal).toString();
        const QList<QVariantList> stored = db.rows(
            QStringLiteral("SELECT typeof(%1), %1 FROM customers WHERE id = 'c-0004'").arg(name));
        QCOMPARE(stored.size(), 1);
        QCOMPARE(stored.first().at(0).toString(), sqlType);
        QCOMPARE(stored.first().at(1).toString(), sqlValue);
        // The model shows what the database holds, as it holds it.
        QCOMPARE(index.data(Qt::EditRole).toString(), sqlValue);
        QCOMPARE(index.data(Qt::EditRole).isNull(), sqlType == u"null");
        // Captured: one pending change of the record, an update, with the record before.
        QCOMPARE(pending(db, customerId(4)), (QVariantList { 0, 0 }));
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 1);
        QCOMPARE(db.scalar(QStringLiteral("SELECT json_extract(before, '$.name') FROM "
                                          "_sync_pending WHERE id = 'c-0004'")),
                 QVariant(QStringLiteral("Name 4")));
        // The same value again is no write.
        QVERIFY(!model->setData(index, index.data(Qt::EditRole)));
        QCOMPARE(model->pendingWrites(), 0);
    }

    void decimalsAreEditedAsExactText_data()
    {
        QTest::addColumn<QString>("typed");
        QTest::addColumn<QString>("shown"); // a key the editor refuses never lands
        QTest::addColumn<bool>("acceptable"); // by the editor, and then stored as shown

        QTest::newRow("money") << "12.50"
                               << "12.50" << true;
        QTest::newRow("38 digits") << "12345678901234567890.123456789012345678"
                                   << "12345678901234567890.123456789012345678" << true;
        QTest::newRow("negative") << "-0.003"
                                  << "-0.003" << true;
        QTest::newRow("cleared: null") << ""
                                       << "" << true;
        QTest::newRow("a sign alone") << "-"
                                      << "-" << false;
        QTest::newRow("a point at the end") << "12."
                                            << "12." << false;
        QTest::newRow("a leading zero") << "007"
                                        << "007" << false;
        QTest::newRow("39 digits") << "123456789012345678901234567890123456789"
                                   << "123456789012345678901234567890123456789" << false;
        QTest::newRow("an exponent") << "1e3"
                                     << "13" << true;
        QTest::newRow("a comma") << "1,5"
                                 << "15" << true;
        QTest::newRow("a plus") << "+2"
                                << "2" << true;
    }

    void decimalsAreEditedAsExactText()
    {
        QFETCH(QString, typed);
        QFETCH(QString, shown);
        QFETCH(bool, acceptable);
        QString refusal;
        QVERIFY(!RecordModel::storedValue(FieldType::Decimal, QVariant(12.5), &refusal));
        const EntitySchema prices { QStringLiteral("prices"),
                                    { { QStringLiteral("amount"), FieldType::Decimal } } };
        {
            LocalStore store(m_path, QStringLiteral("tst_dataedit-prices"));
            SyncError error;
            const SyncPosition end { QStringLiteral("1"), {} };
            const Change change { QStringLiteral("p1"),
                                  QStringLiteral("2026-01-01T00:00:00.000Z"),
                                  false,
                                  { QStringLiteral("9.99") } };
            QVERIFY2(store.open(&error) && store.ensureEntity(prices, &error)
                         && store.beginRun(prices.name, PagingMode::Cursor, {}, 1,
                                           SyncState::Running, &error)
                         && store.applyBatch(prices, { change }, end, 1, 1, &error)
                         && store.completeRun(prices.name, end, 1, 1,
                                              QDateTime::currentDateTimeUtc(), &error),
                     qPrintable(error.message));
        }
        RecordModel model;
        model.setDatabasePath(m_path);
        model.setSchemas({ prices });
        model.setQuery({ prices.name, {}, QStringLiteral("id"), Qt::AscendingOrder });
        QCOMPARE(fetchAll(&model), 1);
        const QModelIndex index = model.index(0, 1);
        RecordDelegate delegate;
        QWidget parent;
        auto *line = qobject_cast<QLineEdit *>(delegate.createEditor(&parent, {}, index));
        QVERIFY(line);
        QCOMPARE(line->objectName(), QStringLiteral("decimalEditor"));
        delegate.setEditorData(line, index);
        QCOMPARE(line->text(), QStringLiteral("9.99"));
        line->clear();
        QTest::keyClicks(line, typed);
        QCOMPARE(line->text(), shown);
        QCOMPARE(line->hasAcceptableInput(), acceptable);
        QSignalSpy written(&model, &RecordModel::written);
        delegate.setModelData(line, &model, index);
        RawDb db(m_path);
        const auto stored = [&] {
            return db.rows(QStringLiteral("SELECT typeof(amount), amount FROM prices")).first();
        };
        if (!acceptable) {
            QCOMPARE(model.pendingWrites(), 0);
            QCOMPARE(stored(), (QVariantList { QStringLiteral("text"), QStringLiteral("9.99") }));
            // Nor does the model take it from anyone else.
            QString error;
            QVERIFY(!RecordModel::storedValue(FieldType::Decimal, shown, &error));
            QVERIFY2(error.contains(QStringLiteral("plain notation")), qPrintable(error));
            return;
        }
        QTRY_COMPARE(written.size(), 1);
        if (shown.isEmpty())
            QCOMPARE(stored().first(), QVariant(QStringLiteral("null")));
        else
            QCOMPARE(stored(), (QVariantList { QStringLiteral("text"), shown }));
    }

    void idChangeIsADeletionAndACreation()
    {
        const std::unique_ptr<RecordModel> model = customersModel();
        QVERIFY(model);
        QSignalSpy written(model.get(), &RecordModel::written);
        QSignalSpy failed(model.get(), &RecordModel::writeFailed);
        QVERIFY(model->setData(model->index(2, Id), QStringLiteral("renamed")));
        QTRY_COMPARE(written.size(), 1);
        QCOMPARE(model->index(2, Id).data(), QVariant(QStringLiteral("renamed")));
        QCOMPARE(model->index(2, Name).data(), QVariant(QStringLiteral("Name 2")));
        RawDb db(m_path);
        QCOMPARE(pending(db, customerId(2)), (QVariantList { 1, 0 }));
        QCOMPARE(pending(db, QStringLiteral("renamed")), (QVariantList { 0, 1 }));
        // An id taken already is refused by the database's side, and the row shows its own.
        QVERIFY(model->setData(model->index(2, Id), customerId(3)));
        QTRY_COMPARE(failed.size(), 1);
        QVERIFY2(failed.first().first().toString().contains(customerId(3)),
                 qPrintable(failed.first().first().toString()));
        QCOMPARE(model->index(2, Id).data(), QVariant(QStringLiteral("renamed")));
        QCOMPARE(
            db.scalar(QStringLiteral("SELECT count(*) FROM customers WHERE id = 'c-0003'")).toInt(),
            1);
    }

    void addAndDeleteRecords()
    {
        const std::unique_ptr<RecordModel> model = customersModel();
        QVERIFY(model);
        QTRY_COMPARE(model->totalRows(), Customers);
        QSignalSpy added(model.get(), &RecordModel::recordAdded);
        QSignalSpy deleted(model.get(), &RecordModel::recordsDeleted);
        QSignalSpy failed(model.get(), &RecordModel::writeFailed);
        model->addRecord(QStringLiteral("new-1"));
        QTRY_COMPARE(added.size(), 1);
        QCOMPARE(model->index(0, Id).data(), QVariant(QStringLiteral("new-1")));
        QVERIFY(model->index(0, Name).data().isNull());
        QCOMPARE(model->rowCount(), Customers + 1);
        QCOMPARE(model->totalRows(), Customers + 1);
        RawDb db(m_path);
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM customers WHERE id = 'new-1' AND "
                                          "name IS NULL AND visits IS NULL AND since IS NULL")),
                 QVariant(1));
        QCOMPARE(pending(db, QStringLiteral("new-1")), (QVariantList { 0, 1 }));

        // An id that exists, or none, is refused.
        model->addRecord(customerId(1));
        QTRY_COMPARE(failed.size(), 1);
        QVERIFY(failed.last().first().toString().contains(QLatin1String("already")));
        model->addRecord(QString());
        QCOMPARE(failed.size(), 2); // refused before any write
        QCOMPARE(model->pendingWrites(), 0);
        QCOMPARE(added.size(), 1);
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM customers")).toInt(),
                 Customers + 1);

        // Deleting the record just added cancels it out; deleting synced ones is captured.
        model->deleteRecords({ QStringLiteral("new-1") });
        QTRY_COMPARE(deleted.size(), 1);
        QCOMPARE(pending(db, QStringLiteral("new-1")), QVariantList());
        model->deleteRecords({ customerId(10), customerId(11) });
        QTRY_COMPARE(deleted.size(), 2);
        QCOMPARE(deleted.last().first().toInt(), 2);
        QCOMPARE(pending(db, customerId(10)), (QVariantList { 1, 0 }));
        QCOMPARE(pending(db, customerId(11)), (QVariantList { 1, 0 }));
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM customers")).toInt(),
                 Customers - 2);
        QCOMPARE(model->rowCount(), Customers - 2);
        QCOMPARE(model->totalRows(), Customers - 2);
        QCOMPARE(model->index(10, Id).data(), QVariant(customerId(12)));
    }

    void viewAddsAndDeletesThroughItsDialogs()
    {
        DataView view;
        view.resize(800, 500);
        view.show();
        view.setDatabasePath(m_path);
        view.setCurrentEntity(QStringLiteral("customers"));
        QTRY_COMPARE(view.matchingRows(), Customers);
        auto *table = view.findChild<QTableView *>(QStringLiteral("dataView"));

        // Add record: the dialog asks for the id; the window goes on meanwhile.
        view.findChild<QToolButton *>(QStringLiteral("addRecordButton"))->click();
        auto *dialog = view.findChild<QInputDialog *>(QStringLiteral("addRecordDialog"));
        QVERIFY(dialog);
        QVERIFY(dialog->isVisible());
        dialog->setTextValue(QStringLiteral("added"));
        dialog->accept();
        QTRY_COMPARE(view.model()->index(0, Id).data(), QVariant(QStringLiteral("added")));
        QTRY_COMPARE(table->currentIndex().row(), 0);
        // An empty id never reaches the database.
        view.addRecord(QStringLiteral("  "));
        QCOMPARE(view.editMessage(), QStringLiteral("A record needs an id"));
        QCOMPARE(view.model()->pendingWrites(), 0);

        // Delete key on two selected rows: a confirmation that counts them, then the deletion.
        table->selectRow(1);
        table->selectionModel()->select(view.model()->index(2, 0),
                                        QItemSelectionModel::Select | QItemSelectionModel::Rows);
        const QString first = view.model()->idAt(1);
        const QString second = view.model()->idAt(2);
        const int rows = view.model()->rowCount();
        table->setFocus();
        QTest::keyClick(table, Qt::Key_Delete);
        auto *box = view.findChild<QMessageBox *>(QStringLiteral("deleteConfirmation"));
        QVERIFY(box);
        QVERIFY2(box->text().contains(QLatin1String("Delete 2 records from customers")),
                 qPrintable(box->text()));
        box->button(QMessageBox::Yes)->click();
        QTRY_COMPARE(view.model()->rowCount(), rows - 2);
        QCOMPARE(view.model()->idAt(1), customerId(2));
        QTRY_COMPARE(view.matchingRows(), Customers - 1);
        RawDb db(m_path);
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM customers WHERE id IN ('%1', "
                                          "'%2')")
                               .arg(first, second))
                     .toInt(),
                 0);
        QCOMPARE(pending(db, first), (QVariantList { 1, 0 }));
        QCOMPARE(view.editMessage(), QString());
    }

    void lockedDatabaseKeepsTheOldValueAndNeverHoldsTheWindow()
    {
        const std::unique_ptr<RecordModel> model = customersModel();
        QVERIFY(model);
        model->setWriteTimeout(400);
        RawDb other(m_path);
        QVERIFY(other.exec(QStringLiteral("BEGIN IMMEDIATE")));
        // The window's thread goes on while the write waits for the lock.
        int ticks = 0;
        QTimer ticker;
        ticker.setInterval(20);
        connect(&ticker, &QTimer::timeout, this, [&] { ++ticks; });
        ticker.start();
        QSignalSpy failed(model.get(), &RecordModel::writeFailed);
        const QModelIndex index = model->index(6, Name);
        QElapsedTimer clock;
        clock.start();
        QVERIFY(model->setData(index, QStringLiteral("Locked out")));
        QVERIFY2(clock.elapsed() < 100, qPrintable(QString::number(clock.elapsed())));
        QCOMPARE(index.data(), QVariant(QStringLiteral("Locked out"))); // shown meanwhile
        QVERIFY(failed.wait(10000));
        QVERIFY2(clock.elapsed() >= 400, qPrintable(QString::number(clock.elapsed())));
        QVERIFY2(ticks >= 10, qPrintable(QString::number(ticks)));
        QVERIFY2(failed.first().first().toString().contains(QLatin1String("locked")),
                 qPrintable(failed.first().first().toString()));
        // The database's value again, in the model and in the file.
        QCOMPARE(index.data(), QVariant(QStringLiteral("Name 6")));
        QVERIFY(other.exec(QStringLiteral("ROLLBACK")));
        QCOMPARE(other.scalar(QStringLiteral("SELECT name FROM customers WHERE id = 'c-0006'")),
                 QVariant(QStringLiteral("Name 6")));
        QCOMPARE(other.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 0);

        // The writer's connection exists and belongs to the worker's thread, not this one.
        QVERIFY(QSqlDatabase::connectionNames().contains(model->writeConnectionName()));
        QTest::ignoreMessage(QtWarningMsg,
                             "QSqlDatabasePrivate::database: requested database does not "
                             "belong to the calling thread.");
        QVERIFY(!QSqlDatabase::database(model->writeConnectionName(), false).isValid());
        QVERIFY(model->workerThread() != QThread::currentThread());

        // Once the lock is gone, the same edit goes through.
        QSignalSpy written(model.get(), &RecordModel::written);
        QVERIFY(model->setData(index, QStringLiteral("Let in")));
        QTRY_COMPARE(written.size(), 1);
        QCOMPARE(other.scalar(QStringLiteral("SELECT name FROM customers WHERE id = 'c-0006'")),
                 QVariant(QStringLiteral("Let in")));
    }

    void bulkLoadingEntityIsNotEdited()
    {
        RecordModel model;
        model.setDatabasePath(m_path);
        model.setQuery({ QStringLiteral("fresh"), {}, QStringLiteral("id"), Qt::AscendingOrder });
        QCOMPARE(fetchAll(&model), 2);
        QSignalSpy failed(&model, &RecordModel::writeFailed);
        QVERIFY(model.setData(model.index(0, Name), QStringLiteral("Too early")));
        QTRY_COMPARE(failed.size(), 1);
        QVERIFY2(failed.first().first().toString().contains(
                     QLatin1String("wait for the first sync to finish")),
                 qPrintable(failed.first().first().toString()));
        QCOMPARE(model.index(0, Name).data(), QVariant(QStringLiteral("Name 0")));
        model.addRecord(QStringLiteral("x"));
        model.deleteRecords({ customerId(0) });
        QTRY_COMPARE(failed.size(), 3);
        RawDb db(m_path);
        QCOMPARE(db.rows(QStringLiteral("SELECT id, name FROM fresh ORDER BY id")),
                 (QList<QVariantList> { { customerId(0), QStringLiteral("Name 0") },
                                        { customerId(1), QStringLiteral("Name 1") } }));
        QCOMPARE(db.scalar(QStringLiteral("SELECT count(*) FROM _sync_pending")).toInt(), 0);
    }

    void editKeepsTheScrollPosition()
    {
        DataView view;
        view.resize(800, 400);
        view.show();
        view.setDatabasePath(m_path);
        view.setCurrentEntity(QStringLiteral("customers"));
        QTRY_COMPARE(view.matchingRows(), Customers);
        QCOMPARE(fetchAll(view.model()), Customers);
        auto *table = view.findChild<QTableView *>(QStringLiteral("dataView"));
        const QModelIndex index = view.model()->index(300, Name);
        table->scrollTo(index, QAbstractItemView::PositionAtTop);
        const int position = table->verticalScrollBar()->value();
        QVERIFY(position > 0);
        QSignalSpy written(view.model(), &RecordModel::written);
        // As the editor would, through the view's own delegate.
        table->setCurrentIndex(index);
        table->edit(index);
        auto *editor = table->findChild<QLineEdit *>(QStringLiteral("textEditor"));
        QVERIFY(editor);
        editor->setText(QStringLiteral("Scrolled"));
        QTest::keyClick(editor, Qt::Key_Return);
        QTRY_COMPARE(written.size(), 1);
        QCOMPARE(view.model()->index(300, Name).data(), QVariant(QStringLiteral("Scrolled")));
        QCOMPARE(table->verticalScrollBar()->value(), position);
        QCOMPARE(view.model()->rowCount(), Customers);

        // Set to null, from the context menu's action.
        auto *setNull = view.findChild<QAction *>(QStringLiteral("setNullAction"));
        QVERIFY(setNull);
        setNull->trigger();
        QTRY_COMPARE(written.size(), 2);
        QVERIFY(view.model()->index(300, Name).data(Qt::EditRole).isNull());
        QCOMPARE(table->verticalScrollBar()->value(), position);
    }

    void progressPageShowsTheLocalChanges()
    {
        ProgressPage page;
        page.setEntities({ status(QStringLiteral("customers")), status(QStringLiteral("fresh")) });
        DataView view;
        connect(&view, &DataView::pendingChangesCounted, &page, &ProgressPage::setPendingChanges);
        auto *label = page.findChild<QLabel *>(QStringLiteral("pending_customers"));
        QVERIFY(label);
        QCOMPARE(label->text(), QString());
        {
            RawDb db(m_path); // an edit made by another program before the window opened
            QVERIFY(db.exec(QStringLiteral("UPDATE customers SET visits = 0 WHERE id = 'c-0001'")));
        }
        QSignalSpy counted(&view, &DataView::pendingChangesCounted);
        view.setDatabasePath(m_path);
        QTRY_COMPARE(label->text(), QStringLiteral("1 local change to send"));
        view.setCurrentEntity(QStringLiteral("customers"));
        QTRY_COMPARE(view.matchingRows(), Customers);
        QVERIFY(view.model()->setData(view.model()->index(2, Name), QStringLiteral("Two")));
        QTRY_COMPARE(label->text(), QStringLiteral("2 local changes to send"));
        QCOMPARE(page.row(QStringLiteral("customers"))->pendingChanges(), 2);
        QCOMPARE(page.findChild<QLabel *>(QStringLiteral("pending_fresh"))->text(), QString());

        // After a sync (here: the pending rows go, as a push would take them), on request.
        {
            RawDb db(m_path);
            QVERIFY(db.exec(QStringLiteral("DELETE FROM _sync_pending")));
        }
        const qsizetype before = counted.size();
        view.entityUpdated(QStringLiteral("customers"));
        QTRY_VERIFY(counted.size() > before);
        QCOMPARE(label->text(), QString());
        QCOMPARE(page.row(QStringLiteral("customers"))->pendingChanges(), 0);
        // A row made after the count shows it at once.
        ProgressPage later;
        later.setPendingChanges({ { QStringLiteral("orders"), 1234 } });
        later.setEntities({ status(QStringLiteral("orders")) });
        QCOMPARE(later.findChild<QLabel *>(QStringLiteral("pending_orders"))->text(),
                 QStringLiteral("1,234 local changes to send"));
    }

    void windowShowsTheLocalChangesOfEachEntity()
    {
        {
            RawDb db(m_path); // edits made by another program while the window was closed
            QVERIFY(db.exec(QStringLiteral(
                "UPDATE customers SET visits = 0 WHERE id IN ('c-0001', 'c-0002', 'c-0003')")));
        }
        DesktopOptions options;
        options.profile.endpoint = QUrl(QStringLiteral("http://127.0.0.1:9/api/v1")); // nobody
        options.databasePath = m_path;
        options.dataDirectory = m_dir->path();
        options.rememberLayout = false;
        options.tuning.retryBaseDelayMs = 20;
        options.tuning.retryMaxDelayMs = 100;
        options.tuning.retryGiveUpMs = 400;
        MainWindow window(options);
        // The entities the database remembers, each with its local changes.
        QTRY_VERIFY(window.progressPage()->row(QStringLiteral("customers")));
        QTRY_COMPARE(window.progressPage()->row(QStringLiteral("customers"))->pendingChanges(), 3);
        QCOMPARE(window.findChild<QLabel *>(QStringLiteral("pending_customers"))->text(),
                 QStringLiteral("3 local changes to send"));
        QCOMPARE(window.progressPage()->row(QStringLiteral("fresh"))->pendingChanges(), 0);
        // An edit in the window's data view counts at once.
        DataView *view = window.dataView();
        QVERIFY(view);
        view->setCurrentEntity(QStringLiteral("customers"));
        QTRY_COMPARE(view->matchingRows(), Customers);
        view->addRecord(QStringLiteral("from-the-window"));
        QTRY_COMPARE(window.progressPage()->row(QStringLiteral("customers"))->pendingChanges(), 4);
    }
};

QTEST_MAIN(TestDataEdit)
#include "tst_dataedit.moc"
