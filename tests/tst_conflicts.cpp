// The conflicts view over a local database the store wrote: the list of conflicting and
// rejected pushed changes, both records side by side, and what each action does to the
// entity's table, to the pending changes and to _sync_conflicts; failures in words, and no
// SQL on the GUI thread.

#include "conflictsmodel.h"
#include "conflictsview.h"
#include "engine/syncengine.h"
#include "mainwindow.h"
#include "store/localstore.h"
#include "testutil/rawdb.h"

#include <QFileInfo>
#include <QItemSelectionModel>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QTabWidget>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <atomic>
#include <memory>

using namespace BatchSync;
using namespace BatchSync::Ui;
using Test::RawDb;
using Action = ConflictsWorker::Action;

namespace {

const QString someTime = QStringLiteral("2026-12-01T06:20:16.123Z");
// Beyond 2^53: a double would not keep it.
const QString bigNumber = QStringLiteral("9007199254740993");

EntitySchema customersSchema()
{
    return { QStringLiteral("customers"),
             { { QStringLiteral("name"), FieldType::String },
               { QStringLiteral("visits"), FieldType::Int },
               { QStringLiteral("active"), FieldType::Bool },
               { QStringLiteral("balance"), FieldType::Real } } };
}

Change record(const QString &id, const QString &name, qint64 visits, bool active, double balance,
              const QString &version)
{
    Change change;
    change.id = id;
    change.changedAt = someTime;
    change.values = { name, visits, active, balance };
    change.version = version;
    return change;
}

QString sqlText(const QString &text)
{
    if (text.isNull())
        return QStringLiteral("NULL");
    QString escaped = text;
    escaped.replace(QLatin1Char('\''), QStringLiteral("''"));
    return QLatin1Char('\'') + escaped + QLatin1Char('\'');
}

struct ConflictRow
{
    qint64 seq;
    QString id;
    QString kind;
    QString local; // JSON; null: a local deletion
    QString server; // JSON; null: none
    QString error;
    QString base;
    QString serverVersion;
    QString resolution;
};

/*
    The database as the engine leaves it after a push:
    1 a: conflict, the server's record kept (the table holds it, version 11)
    2 b: conflict, client wins: the local record was resent (the table holds it, version 12)
    3 c: rejected, restored to the server's version 3
    4 d: conflict on a local deletion, the server's record kept (version 14)
    5 e: conflict, deleted on the server, the local record resent (the table holds it, 5)
    6 f: conflict, deleted on the server, the server's state kept (no row)
*/
const QList<ConflictRow> &conflictRows()
{
    static const QList<ConflictRow> rows = {
        { 1, QStringLiteral("a"), QStringLiteral("conflict"),
          QStringLiteral(R"({"name":"Mine A","visits":5,"active":true,"balance":1.5})"),
          QStringLiteral(R"({"name":"Server A","visits":7,"active":false,"balance":1.5})"),
          QString(), QStringLiteral("1"), QStringLiteral("11"), QStringLiteral("server") },
        { 2, QStringLiteral("b"), QStringLiteral("conflict"),
          QStringLiteral(R"({"name":"Mine B","visits":2,"active":1,"balance":2})"),
          QStringLiteral(R"({"name":"Server B","visits":8,"active":0,"balance":2.25})"), QString(),
          QStringLiteral("2"), QStringLiteral("12"), QStringLiteral("resent") },
        { 3, QStringLiteral("c"), QStringLiteral("rejected"),
          QStringLiteral(R"({"name":"Bad C","visits":%1,"active":false,"balance":null})")
              .arg(bigNumber),
          QString(), QStringLiteral("field visits: out of range"), QStringLiteral("3"), QString(),
          QStringLiteral("restored") },
        { 4, QStringLiteral("d"), QStringLiteral("conflict"), QString(),
          QStringLiteral(R"({"name":"Server D","visits":4,"active":true,"balance":4.5})"),
          QString(), QStringLiteral("4"), QStringLiteral("14"), QStringLiteral("server") },
        { 5, QStringLiteral("e"), QStringLiteral("conflict"),
          QStringLiteral(R"({"name":"Mine E","visits":1,"active":true,"balance":0.5})"), QString(),
          QString(), QStringLiteral("5"), QString(), QStringLiteral("resent") },
        { 6, QStringLiteral("f"), QStringLiteral("conflict"),
          QStringLiteral(R"({"name":"Mine F","visits":6,"active":false,"balance":6.5})"), QString(),
          QString(), QStringLiteral("6"), QString(), QStringLiteral("server") },
    };
    return rows;
}

// The records as "id|name|visits|active|balance|version", ordered by id.
QStringList records(RawDb &db)
{
    QStringList result;
    for (const QVariantList &row : db.rows(QStringLiteral(
             "SELECT id, name, visits, active, balance, _version FROM customers ORDER BY id"))) {
        QStringList values;
        for (const QVariant &value : row)
            values.append(value.isNull() ? QStringLiteral("NULL") : value.toString());
        result.append(values.join(QLatin1Char('|')));
    }
    return result;
}

// The pending changes as "id:base:deleted:created", ordered by id.
QStringList pending(RawDb &db)
{
    QStringList result;
    for (const QVariantList &row : db.rows(QStringLiteral(
             "SELECT id || ':' || ifnull(base, 'NULL') || ':' || deleted || ':' || created "
             "FROM _sync_pending ORDER BY entity, id")))
        result.append(row.first().toString());
    return result;
}

QList<qint64> openSeqs(RawDb &db)
{
    QList<qint64> seqs;
    for (const QVariantList &row :
         db.rows(QStringLiteral("SELECT seq FROM _sync_conflicts ORDER BY seq")))
        seqs.append(row.first().toLongLong());
    return seqs;
}

QStringList withoutIds(const QStringList &before, const QStringList &ids)
{
    QStringList result;
    for (const QString &line : before) {
        if (!ids.contains(line.section(QLatin1Char('|'), 0, 0)))
            result.append(line);
    }
    return result;
}

} // namespace

class TestConflicts final : public QObject
{
    Q_OBJECT

    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_path;

    // Selects the conflicts \a seqs in the list, as a click would.
    static bool select(ConflictsView &view, const QList<qint64> &seqs)
    {
        QItemSelection selection;
        for (const qint64 seq : seqs) {
            const int row = view.model()->rowOf(seq);
            if (row < 0)
                return false;
            selection.select(view.model()->index(row, 0),
                             view.model()->index(row, ConflictsModel::ColumnCount - 1));
        }
        view.listView()->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect);
        return view.selectedSeqs() == seqs;
    }

    // Opens a view on the database, waits for the list.
    static std::unique_ptr<ConflictsView> openView(const QString &path)
    {
        auto view = std::make_unique<ConflictsView>();
        view->setDatabasePath(path);
        return view;
    }

    // Presses the button of \a action with \a seqs selected; waits for the answer and the
    // reload that follows. The error it reported, empty when none.
    static QString press(ConflictsView &view, Action action, const QList<qint64> &seqs,
                         int *closed = nullptr)
    {
        if (!select(view, seqs))
            return QStringLiteral("cannot select");
        QSignalSpy finished(view.model(), &ConflictsModel::actionFinished);
        QSignalSpy loaded(view.model(), &ConflictsModel::loaded);
        const char *name = action == Action::KeepServer ? "keepServerButton"
            : action == Action::SendMine                ? "sendMineButton"
                                                        : "discardButton";
        auto *button = view.findChild<QPushButton *>(QLatin1String(name));
        if (!button || !button->isEnabled())
            return QStringLiteral("button not enabled");
        button->click();
        if ((finished.isEmpty() && !finished.wait(10000))
            || (loaded.isEmpty() && !loaded.wait(10000)))
            return QStringLiteral("no answer");
        if (closed)
            *closed = finished.first().at(1).toInt();
        return finished.first().at(2).toString();
    }

private Q_SLOTS:
    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        m_path = m_dir->filePath(QStringLiteral("local.sqlite"));
        {
            static std::atomic<int> serial { 0 };
            LocalStore store(m_path, QStringLiteral("tst_conflicts_%1").arg(++serial));
            SyncError error;
            const EntitySchema schema = customersSchema();
            const QList<Change> changes = {
                record(QStringLiteral("a"), QStringLiteral("Server A"), 7, false, 1.5,
                       QStringLiteral("11")),
                record(QStringLiteral("b"), QStringLiteral("Mine B"), 2, true, 2,
                       QStringLiteral("12")),
                record(QStringLiteral("c"), QStringLiteral("C"), 3, true, 3, QStringLiteral("3")),
                record(QStringLiteral("d"), QStringLiteral("Server D"), 4, true, 4.5,
                       QStringLiteral("14")),
                record(QStringLiteral("e"), QStringLiteral("Mine E"), 1, true, 0.5,
                       QStringLiteral("5")),
                record(QStringLiteral("g"), QStringLiteral("G"), 9, false, 9, QStringLiteral("7")),
            };
            QVERIFY2(
                store.open(&error) && store.ensureEntity(schema, &error)
                    && store.beginRun(schema.name, PagingMode::Cursor, {}, 6, SyncState::Running,
                                      &error)
                    && store.applyBatch(schema, changes, { QStringLiteral("6"), {} }, 6, 6, &error)
                    && store.completeRun(schema.name, { QStringLiteral("6"), {} }, 6, 6, {},
                                         &error),
                qPrintable(error.message));
        }
        RawDb db(m_path);
        QVERIFY(db.isOpen());
        for (const ConflictRow &row : conflictRows()) {
            QString problem;
            QVERIFY2(db.exec(QStringLiteral("INSERT INTO _sync_conflicts (seq, entity, id, kind, "
                                            "local, server, error, at, base, server_version, "
                                            "resolution) VALUES (%1, 'customers', %2, %3, %4, "
                                            "%5, %6, %7, %8, %9, %10)")
                                 .arg(row.seq)
                                 .arg(sqlText(row.id), sqlText(row.kind), sqlText(row.local),
                                      sqlText(row.server), sqlText(row.error), sqlText(someTime),
                                      sqlText(row.base), sqlText(row.serverVersion),
                                      sqlText(row.resolution)),
                             &problem),
                     qPrintable(problem));
        }
        QCOMPARE(pending(db), QStringList());
    }

    void listsTheConflicts()
    {
        ConflictsView view;
        QSignalSpy counts(&view, &ConflictsView::countChanged);
        view.setDatabasePath(m_path);
        QTRY_COMPARE(view.count(), 6);
        QCOMPARE(counts.size(), 1);
        QCOMPARE(counts.first().first().toInt(), 6);
        ConflictsModel *model = view.model();
        QCOMPARE(view.listView()->model(), model);
        QCOMPARE(model->rowCount(), 6);
        for (int row = 0; row < 6; ++row) {
            const ConflictRow &expected = conflictRows().at(row);
            QCOMPARE(model->index(row, ConflictsModel::EntityColumn).data().toString(),
                     QStringLiteral("customers"));
            QCOMPARE(model->index(row, ConflictsModel::RecordColumn).data().toString(),
                     expected.id);
            QCOMPARE(model->index(row, ConflictsModel::KindColumn).data().toString(),
                     expected.kind == QLatin1String("rejected") ? QStringLiteral("Rejected")
                                                                : QStringLiteral("Conflict"));
            QVERIFY(!model->index(row, ConflictsModel::TimeColumn).data().toString().isEmpty());
            QCOMPARE(model->index(row, ConflictsModel::TimeColumn).data(Qt::ToolTipRole),
                     QVariant(someTime));
        }
        // What happened, in words.
        const auto outcome = [&](int row) {
            return model->index(row, ConflictsModel::OutcomeColumn).data().toString();
        };
        QVERIFY2(outcome(0).contains(QLatin1String("the server's record replaced yours")),
                 qPrintable(outcome(0)));
        QVERIFY2(outcome(1).contains(QLatin1String("yours was sent again")),
                 qPrintable(outcome(1)));
        QVERIFY2(outcome(2).contains(QLatin1String("field visits: out of range"))
                     && outcome(2).contains(QLatin1String("undone")),
                 qPrintable(outcome(2)));

        // A conflict the engine keeps later shows at the next reload, and the count follows.
        RawDb db(m_path);
        QVERIFY(db.exec(
            QStringLiteral(
                "INSERT INTO _sync_conflicts (seq, entity, id, kind, local, server, at, base, "
                "resolution) VALUES (7, 'customers', 'g', 'conflict', '{}', '{}', '%1', '7', "
                "'server')")
                .arg(someTime)));
        view.reload();
        QTRY_COMPARE(view.count(), 7);
        QCOMPARE(counts.size(), 2);
        QCOMPARE(counts.last().first().toInt(), 7);
    }

    void showsBothRecordsSideBySide()
    {
        ConflictsView view;
        view.setDatabasePath(m_path);
        QTRY_COMPARE(view.count(), 6);
        QTableWidget *values = view.valuesTable();
        QCOMPARE(values->rowCount(), 0);
        // "field: yours | the server's | differs" per row.
        const auto shown = [&] {
            QStringList lines;
            for (int row = 0; row < values->rowCount(); ++row) {
                lines.append(
                    QStringLiteral("%1: %2 | %3 | %4")
                        .arg(values->item(row, 0)->text(), values->item(row, 1)->text(),
                             values->item(row, 2)->text(),
                             values->item(row, 1)->data(ConflictsView::DiffersRole).toBool()
                                 ? QStringLiteral("differs")
                                 : QStringLiteral("same")));
            }
            return lines;
        };
        QVERIFY(select(view, { 1 }));
        QCOMPARE(shown(),
                 QStringList({ QStringLiteral("name: Mine A | Server A | differs"),
                               QStringLiteral("visits: 5 | 7 | differs"),
                               QStringLiteral("active: true | false | differs"),
                               QStringLiteral("balance: 1.5 | 1.5 | same") }));
        QVERIFY(values->item(0, 1)->font().bold());
        QVERIFY(!values->item(3, 1)->font().bold());
        QVERIFY(values->item(0, 1)->background() != values->item(3, 1)->background());

        // A bool sent as 0/1 reads as a bool; 2 and 2.0 are the same number.
        QVERIFY(select(view, { 2 }));
        QCOMPARE(shown(),
                 QStringList({ QStringLiteral("name: Mine B | Server B | differs"),
                               QStringLiteral("visits: 2 | 8 | differs"),
                               QStringLiteral("active: true | false | differs"),
                               QStringLiteral("balance: 2 | 2.25 | differs") }));

        // Rejected: the server sent no record; a 64-bit number is shown exactly; null in words.
        QVERIFY(select(view, { 3 }));
        QCOMPARE(shown(),
                 QStringList({ QStringLiteral("name: Bad C | not given | differs"),
                               QStringLiteral("visits: %1 | not given | differs").arg(bigNumber),
                               QStringLiteral("active: false | not given | differs"),
                               QStringLiteral("balance: null | not given | differs") }));
        QVERIFY(values->item(3, 1)->font().italic());

        // A local deletion, and a record the server no longer has.
        QVERIFY(select(view, { 4 }));
        QCOMPARE(shown(),
                 QStringList({ QStringLiteral("name: deleted | Server D | differs"),
                               QStringLiteral("visits: deleted | 4 | differs"),
                               QStringLiteral("active: deleted | true | differs"),
                               QStringLiteral("balance: deleted | 4.5 | differs") }));
        QVERIFY(select(view, { 5 }));
        QCOMPARE(shown().first(), QStringLiteral("name: Mine E | none | differs"));
        auto *summary = view.findChild<QLabel *>(QStringLiteral("conflictSummary"));
        QVERIFY(summary);
        QVERIFY2(summary->text().startsWith(
                     QLatin1String("customers e: you edited version 5; the server has no such "
                                   "record.")),
                 qPrintable(summary->text()));
        QVERIFY(select(view, { 4 }));
        QVERIFY2(summary->text().startsWith(QLatin1String(
                     "customers d: you deleted it (at version 4); the server has version 14.")),
                 qPrintable(summary->text()));

        // Two selected: no side by side.
        QVERIFY(select(view, { 1, 2 }));
        QCOMPARE(values->rowCount(), 0);
    }

    void actions_data()
    {
        QTest::addColumn<int>("action");
        QTest::addColumn<qint64>("seq");
        // The records changed, as "id|name|visits|active|balance|version" (a line without '|':
        // the record is gone), and the pending changes as "id:base:deleted:created".
        QTest::addColumn<QStringList>("changed");
        QTest::addColumn<QStringList>("expectedPending");

        // Keep the server's where the table already holds it: only the conflict closes.
        for (const qint64 seq : { 1, 3, 4, 6 }) {
            QTest::addRow("keep server: %lld, already the server's", seq)
                << int(Action::KeepServer) << seq << QStringList() << QStringList();
        }
        // Client-wins sent the local record again: the server's is written back as an edit.
        QTest::newRow("keep server: resent")
            << int(Action::KeepServer) << qint64(2)
            << QStringList { QStringLiteral("b|Server B|8|0|2.25|12") }
            << QStringList { QStringLiteral("b:12:0:0") };
        QTest::newRow("keep server: resent over a server deletion")
            << int(Action::KeepServer) << qint64(5) << QStringList { QStringLiteral("e") }
            << QStringList { QStringLiteral("e:5:1:0") };

        // Send mine again: the local record is written back as an edit on the current version.
        QTest::newRow("send mine: server's kept")
            << int(Action::SendMine) << qint64(1)
            << QStringList { QStringLiteral("a|Mine A|5|1|1.5|11") }
            << QStringList { QStringLiteral("a:11:0:0") };
        QTest::newRow("send mine: resent") << int(Action::SendMine) << qint64(2)
                                           << QStringList { QStringLiteral("b|Mine B|2|1|2|12") }
                                           << QStringList { QStringLiteral("b:12:0:0") };
        QTest::newRow("send mine: rejected")
            << int(Action::SendMine) << qint64(3)
            << QStringList { QStringLiteral("c|Bad C|%1|0|NULL|3").arg(bigNumber) }
            << QStringList { QStringLiteral("c:3:0:0") };
        QTest::newRow("send mine: local deletion")
            << int(Action::SendMine) << qint64(4) << QStringList { QStringLiteral("d") }
            << QStringList { QStringLiteral("d:14:1:0") };
        QTest::newRow("send mine: server deletion, row gone")
            << int(Action::SendMine) << qint64(6)
            << QStringList { QStringLiteral("f|Mine F|6|0|6.5|NULL") }
            << QStringList { QStringLiteral("f:NULL:0:1") };

        // Discard: no record changes.
        for (qint64 seq = 1; seq <= 6; ++seq) {
            QTest::addRow("discard %lld", seq)
                << int(Action::Discard) << seq << QStringList() << QStringList();
        }
    }

    void actions()
    {
        QFETCH(int, action);
        QFETCH(qint64, seq);
        QFETCH(QStringList, changed);
        QFETCH(QStringList, expectedPending);

        RawDb db(m_path);
        const QStringList before = records(db);
        auto view = openView(m_path);
        QTRY_COMPARE(view->count(), 6);
        int closed = 0;
        QCOMPARE(press(*view, Action(action), { seq }, &closed), QString());
        QCOMPARE(closed, 1);
        QCOMPARE(view->count(), 5);
        QCOMPARE(view->model()->rowOf(seq), -1);
        QVERIFY(!view->messageLabel()->property("error").toBool());

        QList<qint64> open { 1, 2, 3, 4, 5, 6 };
        open.removeOne(seq);
        QCOMPARE(openSeqs(db), open);
        QCOMPARE(pending(db), expectedPending);
        QStringList ids;
        QStringList expected;
        for (const QString &line : changed) {
            ids.append(line.section(QLatin1Char('|'), 0, 0));
            if (line.contains(QLatin1Char('|')))
                expected.append(line);
        }
        expected += withoutIds(before, ids);
        std::sort(expected.begin(), expected.end());
        QCOMPARE(records(db), expected);
    }

    void severalAtOnce()
    {
        RawDb db(m_path);
        auto view = openView(m_path);
        QTRY_COMPARE(view->count(), 6);
        int closed = 0;
        QCOMPARE(press(*view, Action::SendMine, { 1, 4, 6 }, &closed), QString());
        QCOMPARE(closed, 3);
        QCOMPARE(view->count(), 3);
        QCOMPARE(openSeqs(db), QList<qint64>({ 2, 3, 5 }));
        QCOMPARE(pending(db),
                 QStringList({ QStringLiteral("a:11:0:0"), QStringLiteral("d:14:1:0"),
                               QStringLiteral("f:NULL:0:1") }));
        QVERIFY2(view->messageLabel()->text().contains(QLatin1String("3 conflicts closed")),
                 qPrintable(view->messageLabel()->text()));
    }

    void lockedDatabaseChangesNothing()
    {
        RawDb db(m_path);
        const QStringList before = records(db);
        auto view = openView(m_path);
        view->model()->setBusyTimeout(100);
        QTRY_COMPARE(view->count(), 6);
        RawDb other(m_path);
        QVERIFY(other.exec(QStringLiteral("BEGIN IMMEDIATE")));
        const QString error = press(*view, Action::SendMine, { 1, 4 });
        QVERIFY(other.exec(QStringLiteral("ROLLBACK")));
        QVERIFY2(error.contains(QLatin1String("Nothing was changed"))
                     && error.contains(QLatin1String("in use")),
                 qPrintable(error));
        QCOMPARE(view->messageLabel()->text(), error);
        QVERIFY(view->messageLabel()->property("error").toBool());
        QCOMPARE(view->count(), 6);
        QCOMPARE(openSeqs(db), QList<qint64>({ 1, 2, 3, 4, 5, 6 }));
        QCOMPARE(records(db), before);
        QCOMPARE(pending(db), QStringList());

        // Once the lock is gone the same action goes through.
        QCOMPARE(press(*view, Action::SendMine, { 1, 4 }), QString());
        QCOMPARE(openSeqs(db), QList<qint64>({ 2, 3, 5, 6 }));
    }

    void refusedDuringBulkLoad()
    {
        RawDb db(m_path);
        QVERIFY(db.exec(
            QStringLiteral("UPDATE _sync_state SET bulk_load = 1 WHERE entity = 'customers'")));
        const QStringList before = records(db);
        auto view = openView(m_path);
        QTRY_COMPARE(view->count(), 6);
        // One of the two would write: neither is done.
        const QString error = press(*view, Action::SendMine, { 1, 2 });
        QVERIFY2(error.contains(QLatin1String("first sync")), qPrintable(error));
        QCOMPARE(openSeqs(db), QList<qint64>({ 1, 2, 3, 4, 5, 6 }));
        QCOMPARE(records(db), before);
        QCOMPARE(pending(db), QStringList());
        // Keep the server's on a resent conflict writes too: refused as well.
        QVERIFY(press(*view, Action::KeepServer, { 2 }).contains(QLatin1String("first sync")));
        QCOMPARE(openSeqs(db), QList<qint64>({ 1, 2, 3, 4, 5, 6 }));
        // Closing without writing is allowed.
        QCOMPARE(press(*view, Action::Discard, { 2 }), QString());
        QCOMPARE(records(db), before);
        QCOMPARE(openSeqs(db), QList<qint64>({ 1, 3, 4, 5, 6 }));
    }

    void aConflictClosedMeanwhileIsSkipped()
    {
        RawDb db(m_path);
        auto view = openView(m_path);
        QTRY_COMPARE(view->count(), 6);
        QVERIFY(select(*view, { 1, 2 }));
        QVERIFY(db.exec(QStringLiteral("DELETE FROM _sync_conflicts WHERE seq = 1")));
        int closed = -1;
        QCOMPARE(press(*view, Action::SendMine, { 1, 2 }, &closed), QString());
        QCOMPARE(closed, 1);
        QCOMPARE(pending(db), QStringList({ QStringLiteral("b:12:0:0") }));
        QCOMPARE(records(db).first(), QStringLiteral("a|Server A|7|0|1.5|11"));
    }

    void noDatabaseYet()
    {
        ConflictsView view;
        QSignalSpy loaded(view.model(), &ConflictsModel::loaded);
        const QString missing = m_dir->filePath(QStringLiteral("none.sqlite"));
        view.setDatabasePath(missing);
        QVERIFY(loaded.wait(10000));
        QCOMPARE(loaded.first().first().toString(), QString());
        QCOMPARE(view.count(), 0);
        QVERIFY(!QFileInfo::exists(missing));
    }

    void worksOnItsOwnThread()
    {
        ConflictsView view;
        ConflictsModel *model = view.model();
        QThread *worker = nullptr;
        QThread *resolver = nullptr;
        // Direct connections: the lambdas run in the thread that emits.
        connect(
            model->worker(), &ConflictsWorker::loaded, this,
            [&worker] { worker = QThread::currentThread(); }, Qt::DirectConnection);
        connect(
            model->worker(), &ConflictsWorker::resolved, this,
            [&resolver] { resolver = QThread::currentThread(); }, Qt::DirectConnection);
        view.setDatabasePath(m_path);
        QTRY_COMPARE(view.count(), 6);
        QCOMPARE(press(view, Action::Discard, { 3 }), QString());
        QVERIFY(model->workerThread() != QThread::currentThread());
        QVERIFY(model->workerThread()->isRunning());
        QCOMPARE(worker, model->workerThread());
        QCOMPARE(resolver, model->workerThread());
        QCOMPARE(model->worker()->thread(), model->workerThread());
        // The connection belongs to the worker's thread: the GUI thread cannot even get it.
        QVERIFY(QSqlDatabase::connectionNames().contains(model->connectionName()));
        QTest::ignoreMessage(QtWarningMsg,
                             "QSqlDatabasePrivate::database: requested database does not "
                             "belong to the calling thread.");
        QVERIFY(!QSqlDatabase::database(model->connectionName(), false).isValid());
    }

    void theWindowShowsTheCount()
    {
        DesktopOptions options;
        // Nothing listens there: the engine exists, its syncs fail.
        options.profile.endpoint = QUrl(QStringLiteral("http://127.0.0.1:1/api/v1"));
        options.databasePath = m_path;
        options.dataDirectory = m_dir->path();
        options.rememberLayout = false;
        MainWindow window(options);
        auto *tabs = window.findChild<QTabWidget *>(QStringLiteral("bottomTabs"));
        QVERIFY(tabs);
        ConflictsView *view = window.conflictsView();
        const int index = tabs->indexOf(view);
        QVERIFY(index >= 0);
        QTRY_COMPARE(tabs->tabText(index), QStringLiteral("&Conflicts (6)"));

        // A sync that ends makes the window read the conflicts again.
        RawDb db(m_path);
        QVERIFY(db.exec(QStringLiteral("INSERT INTO _sync_conflicts (seq, entity, id, kind, "
                                       "local, server, at, base, resolution) VALUES (7, "
                                       "'customers', 'g', 'conflict', '{}', '{}', '%1', '7', "
                                       "'server')")
                            .arg(someTime)));
        QTRY_VERIFY(window.engine());
        QCOMPARE(tabs->tabText(index), QStringLiteral("&Conflicts (6)"));
        QSignalSpy loaded(view->model(), &ConflictsModel::loaded);
        Q_EMIT window.engine()->finished();
        QVERIFY(loaded.wait(10000));
        QCOMPARE(tabs->tabText(index), QStringLiteral("&Conflicts (7)"));

        QCOMPARE(press(*view, Action::Discard, { 1, 2, 3, 4, 5, 6, 7 }), QString());
        QCOMPARE(tabs->tabText(index), QStringLiteral("&Conflicts"));
    }
};

QTEST_MAIN(TestConflicts)
#include "tst_conflicts.moc"
