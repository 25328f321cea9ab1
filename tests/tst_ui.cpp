// The desktop window, driven with QTest under the offscreen platform against real servers.

#include "dataview.h"
#include "engine/syncengine.h"
#include "entityrow.h"
#include "logview.h"
#include "mainwindow.h"
#include "progresspage.h"
#include "server/http/tlssetup.h"
#include "server/syncserver.h"
#include "settingsdialog.h"
#include "shared/demosession.h"
#include "shared/profile.h"
#include "testutil/fetchall.h"
#include "testutil/testserver.h"
#include "uitext.h"
#include "windowlayout.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QElapsedTimer>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <memory>

using namespace BatchSync;
using namespace BatchSync::Ui;
using BatchSync::App::Profile;
using BatchSync::Test::fetchAll;

namespace {

constexpr int SyncTimeoutMs = 120000;

template<typename T> T *child(const QWidget &window, const QString &name)
{
    T *widget = window.findChild<T *>(name);
    if (!widget)
        qWarning("no %s named %s", T::staticMetaObject.className(), qPrintable(name));
    return widget;
}

QString stateOf(const MainWindow &window, const QString &entity)
{
    const QLabel *label = window.findChild<QLabel *>(QStringLiteral("state_") + entity);
    return label ? label->text() : QStringLiteral("<no row>");
}

QString stateWord(SyncState state)
{
    return UiText::state(state);
}

bool barFull(const MainWindow &window, const QString &entity)
{
    const QProgressBar *bar = window.findChild<QProgressBar *>(QStringLiteral("bar_") + entity);
    return bar && bar->value() == bar->maximum();
}

QString buttonText(const MainWindow &window, const QString &entity)
{
    const QPushButton *button = window.findChild<QPushButton *>(QStringLiteral("button_") + entity);
    return button ? button->text() : QStringLiteral("<no button>");
}

void click(const MainWindow &window, const QString &entity)
{
    QPushButton *button = window.findChild<QPushButton *>(QStringLiteral("button_") + entity);
    QVERIFY2(button, qPrintable(entity));
    QTest::mouseClick(button, Qt::LeftButton);
}

EntityRow *rowOf(const MainWindow &window, const QString &entity)
{
    return window.findChild<EntityRow *>(QStringLiteral("row_") + entity);
}

bool logContains(const MainWindow &window, const QString &text)
{
    for (const QString &line : window.logView()->messages()) {
        if (line.contains(text, Qt::CaseInsensitive))
            return true;
    }
    return false;
}

// Counts the layout passes a widget asks for.
class LayoutCounter final : public QObject
{
public:
    int requests = 0;

protected:
    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (event->type() == QEvent::LayoutRequest)
            ++requests;
        return QObject::eventFilter(watched, event);
    }
};

// The offscreen platform says this for every top-level window; it is noise here.
QtMessageHandler qtTestHandler = nullptr;
void quietHandler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (message.contains(QLatin1String("does not support propagateSizeHints")))
        return;
    qtTestHandler(type, context, message);
}

quint16 unusedPort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    const quint16 port = probe.serverPort();
    probe.close();
    return port;
}

} // namespace

class TestUi final : public QObject
{
    Q_OBJECT

private:
    DesktopOptions optionsFor(const QUrl &endpoint, int batchSize = 100, int concurrency = 3)
    {
        DesktopOptions options;
        options.profile.endpoint = endpoint;
        options.demo = m_demo.get();
        options.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        options.dataDirectory = m_dir->path();
        options.profile.batchSize = batchSize;
        options.profile.concurrency = concurrency;
        options.tuning.retryBaseDelayMs = 20;
        options.tuning.retryMaxDelayMs = 100;
        options.tuning.retryGiveUpMs = 400;
        return options;
    }

    DesktopOptions demoOptions(const QString &localName)
    {
        DesktopOptions options;
        options.demo = m_demo.get();
        options.databasePath = m_dir->filePath(localName);
        options.dataDirectory = m_dir->path();
        return options;
    }

    /*! The local database the profile's rule gives \a endpoint in \a directory. */
    static QString databasePathFor(const QUrl &endpoint, const QString &directory = QString())
    {
        Profile profile;
        profile.endpoint = endpoint;
        return profile.databasePath(directory);
    }

    QTemporaryDir m_suiteDir;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<App::DemoSession> m_demo;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_suiteDir.isValid());
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("BatchSyncTest"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_ui"));
        QSettings::setDefaultFormat(QSettings::IniFormat);
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope,
                           m_suiteDir.filePath(QStringLiteral("settings")));
        QLocale::setDefault(QLocale(QLocale::English, QLocale::UnitedStates));
        qtTestHandler = qInstallMessageHandler(quietHandler);
    }

    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        QSettings().clear();
        // Shared by the demo tests: the demo data is created once. At full speed: the stall
        // measured is the worst case, and the suite stays quick.
        m_demo = std::make_unique<App::DemoSession>(
            m_suiteDir.filePath(QStringLiteral("demo-server.sqlite")));
        m_demo->setPageDelay(0);
    }

    void cleanup()
    {
        m_demo.reset();
        m_dir.reset();
    }

    void pageListsTheServersEntities()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(300, 1, QStringLiteral("customers"));
        server.addCustomers(200, 2, QStringLiteral("orders"));
        server.addCustomers(100, 3, QStringLiteral("products"));

        MainWindow window(optionsFor(server.baseUrl()));
        window.show();
        const QStringList expected { QStringLiteral("customers"), QStringLiteral("orders"),
                                     QStringLiteral("products") };
        QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames(), expected, 10000);
        for (const QString &name : expected) {
            QVERIFY(rowOf(window, name));
            QCOMPARE(stateOf(window, name), stateWord(SyncState::Idle));
            QCOMPARE(buttonText(window, name), QStringLiteral("Start"));
        }
        QVERIFY(window.windowTitle().contains(server.baseUrl().toString()));
        QVERIFY(!window.windowTitle().contains(QStringLiteral("embedded demo")));
        QVERIFY(!window.isEmbeddedDemo());
        QVERIFY(window.progressPage()->message().isEmpty());

        QAction *syncAll = child<QAction>(window, QStringLiteral("syncAllAction"));
        QAction *pauseAll = child<QAction>(window, QStringLiteral("pauseAllAction"));
        QVERIFY(syncAll && pauseAll);
        QVERIFY(syncAll->shortcuts().contains(QKeySequence(Qt::Key_F5)));
        QVERIFY(pauseAll->shortcuts().contains(QKeySequence(Qt::Key_F6)));
        QVERIFY(!syncAll->toolTip().isEmpty());
        QVERIFY(!pauseAll->toolTip().isEmpty());
        QVERIFY(QFile::exists(QStringLiteral(":/batchsync/batchsync.svg")));
        QVERIFY(!window.windowIcon().pixmap(32).isNull());
    }

    void syncAllFillsEveryBarAndTheDataView()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(3000, 1, QStringLiteral("customers"));
        server.addCustomers(1500, 2, QStringLiteral("orders"));
        server.addCustomers(0, 3, QStringLiteral("empty"));

        MainWindow window(optionsFor(server.baseUrl(), 250));
        window.show();
        QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames().size(), 3, 10000);

        child<QAction>(window, QStringLiteral("syncAllAction"))->trigger();
        for (const QString &name :
             { QStringLiteral("customers"), QStringLiteral("orders"), QStringLiteral("empty") }) {
            QTRY_VERIFY_WITH_TIMEOUT(barFull(window, name), SyncTimeoutMs);
            QTRY_COMPARE(stateOf(window, name), stateWord(SyncState::Completed));
            QCOMPARE(buttonText(window, name), QStringLiteral("Start"));
            const QLabel *last = child<QLabel>(window, QStringLiteral("lastSync_") + name);
            QVERIFY(last && !last->text().isEmpty() && last->text() != QStringLiteral("never"));
        }
        const QProgressBar *overall = child<QProgressBar>(window, QStringLiteral("overallBar"));
        QCOMPARE(overall->value(), overall->maximum());
        QCOMPARE(window.progressPage()->overallDone(), 4500);
        QCOMPARE(child<QLabel>(window, QStringLiteral("count_customers"))->text(),
                 QStringLiteral("3,000 / 3,000"));
        QTRY_VERIFY(
            logContains(window, QStringLiteral("customers: sync completed, 3,000 records")));

        // The data view reads the local database.
        DataView *data = window.dataView();
        QTRY_VERIFY(data->entityNames().contains(QStringLiteral("customers")));
        auto *combo = child<QComboBox>(window, QStringLiteral("entityCombo"));
        combo->setCurrentIndex(combo->findText(QStringLiteral("customers")));
        const QLabel *count = child<QLabel>(window, QStringLiteral("rowCountLabel"));
        QTRY_COMPARE(count->text(), QStringLiteral("3,000 records"));
        QVERIFY2(data->model()->rowCount() < 3000, "the model must fetch lazily");
        QCOMPARE(fetchAll(data->model()), 3000);
        QCOMPARE(data->model()->columnCount(), 6); // id + 5 fields; no bookkeeping columns
        QCOMPARE(child<QAbstractItemView>(window, QStringLiteral("dataView"))->model(),
                 data->model());

        // The filter box waits for a pause in typing, then matches the text columns.
        auto *filter = child<QLineEdit>(window, QStringLiteral("filterEdit"));
        QTest::keyClicks(filter, QStringLiteral("Customer 12"));
        QCOMPARE(count->text(), QStringLiteral("3,000 records"));
        QTRY_COMPARE(count->text(), QStringLiteral("111 of 3,000 records match"));
        QCOMPARE(fetchAll(data->model()), 111);
        data->setFilterText(QStringLiteral("Customer 1234"));
        QCOMPARE(fetchAll(data->model()), 1);
        QCOMPARE(data->model()->index(0, 1).data().toString(), QStringLiteral("Customer 1234"));
        // LIKE's wildcards and quotes are matched literally, never as SQL. (The count is
        // unknown, -1, from each new filter until it is counted.)
        data->setFilterText(QStringLiteral("%"));
        QTRY_COMPARE(data->matchingRows(), 0);
        data->setFilterText(QStringLiteral("_"));
        QTRY_COMPARE(data->matchingRows(), 0);
        data->setFilterText(QStringLiteral("'; DROP TABLE customers; --"));
        QTRY_COMPARE(data->matchingRows(), 0);
        data->setFilterText(QString());
        QTRY_COMPARE(data->matchingRows(), 3000);

        // A click on a column header sorts by it, in SQL, still lazily.
        auto *table = child<QTableView>(window, QStringLiteral("dataView"));
        table->horizontalHeader()->setSortIndicator(2, Qt::DescendingOrder); // balance
        QCOMPARE(data->model()->headerData(2, Qt::Horizontal).toString(),
                 QStringLiteral("balance"));
        QCOMPARE(data->model()->query().sortField, QStringLiteral("balance"));
        QTRY_VERIFY(!data->model()->isLoading());
        QVERIFY(data->model()->rowCount() < 3000);
        QVERIFY(data->model()->index(0, 2).data().toDouble()
                >= data->model()->index(1, 2).data().toDouble());
        QVERIFY(data->model()->index(1, 2).data().toDouble()
                >= data->model()->index(200, 2).data().toDouble());

        combo->setCurrentIndex(combo->findText(QStringLiteral("empty")));
        QTRY_COMPARE(count->text(), QStringLiteral("0 records"));
    }

    // An edit made in the data view reaches the server with the next Sync all.
    void editInTheWindowReachesTheServer()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(300, 1, QStringLiteral("customers"));
        MainWindow window(optionsFor(server.baseUrl(), 100));
        window.show();
        QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames().size(), 1, 10000);
        child<QAction>(window, QStringLiteral("syncAllAction"))->trigger();
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(window, QStringLiteral("customers")),
                                  stateWord(SyncState::Completed), SyncTimeoutMs);

        DataView *data = window.dataView();
        QTRY_VERIFY(data->entityNames().contains(QStringLiteral("customers")));
        auto *combo = child<QComboBox>(window, QStringLiteral("entityCombo"));
        combo->setCurrentIndex(combo->findText(QStringLiteral("customers")));
        QTRY_COMPARE(data->model()->rowCount() > 0, true);
        QTRY_VERIFY(!data->model()->isLoading());
        const QModelIndex name = data->model()->index(0, 1);
        const QString id = data->model()->index(0, 0).data().toString();
        QVERIFY(data->model()->setData(name, QStringLiteral("Edited in the window")));
        const QLabel *pending = child<QLabel>(window, QStringLiteral("pending_customers"));
        QVERIFY(pending);
        QTRY_VERIFY_WITH_TIMEOUT(pending->text().startsWith(QLatin1Char('1')), 10000);

        QList<SyncPhase> phases;
        connect(window.engine(), &SyncEngine::phaseChanged, this,
                [&phases](const QString &, SyncPhase phase) { phases.append(phase); });
        child<QAction>(window, QStringLiteral("syncAllAction"))->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(
            logContains(window, QStringLiteral("customers: sent 1 local change, 1 applied")),
            SyncTimeoutMs);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(window, QStringLiteral("customers")),
                                  stateWord(SyncState::Completed), SyncTimeoutMs);
        QCOMPARE(phases.value(0), SyncPhase::Push);
        QCOMPARE(server.store()->liveRecords(QStringLiteral("customers")).value(id).value(0),
                 QVariant(QStringLiteral("Edited in the window")));
        QTRY_VERIFY_WITH_TIMEOUT(!pending->text().startsWith(QLatin1Char('1')), 10000);
    }

    // The Live switch: the window syncs by itself, says "Up to date · live" on each row, and a
    // change on the server arrives without a click.
    void liveSwitchKeepsTheWindowInStep()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(50, 1, QStringLiteral("customers"));
        MainWindow window(optionsFor(server.baseUrl(), 100));
        window.show();
        QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames().size(), 1, 10000);
        QAction *live = child<QAction>(window, QStringLiteral("liveAction"));
        QVERIFY(live && live->isCheckable() && !live->isChecked());
        live->trigger();
        QVERIFY(window.profile().live);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(window, QStringLiteral("customers")),
                                  QStringLiteral("Up to date · live"), SyncTimeoutMs);
        QTRY_COMPARE_WITH_TIMEOUT(server.server()->waitsHeld(), 1, SyncTimeoutMs);
        QCOMPARE(window.liveText(), QStringLiteral("Up to date · live"));

        QString error;
        QVERIFY(server.store()->upsert(
            QStringLiteral("customers"), QStringLiteral("from-elsewhere"),
            { { QStringLiteral("name"), QStringLiteral("Elsewhere") } }, &error));
        QTRY_VERIFY_WITH_TIMEOUT(
            logContains(window, QStringLiteral("Changed on the server: customers")), SyncTimeoutMs);
        QTRY_VERIFY_WITH_TIMEOUT(
            window.liveText().startsWith(QStringLiteral("Up to date · live · last change")),
            SyncTimeoutMs);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(window, QStringLiteral("customers")),
                                  QStringLiteral("Up to date · live"), SyncTimeoutMs);

        live->trigger();
        QVERIFY(!window.profile().live);
        QTRY_COMPARE_WITH_TIMEOUT(server.server()->waitsHeld(), 0, SyncTimeoutMs);
        QCOMPARE(stateOf(window, QStringLiteral("customers")), stateWord(SyncState::Completed));
    }

    void pauseOneWhileOthersContinueThenResume()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(20000, 1, QStringLiteral("customers"));
        server.addCustomers(3000, 2, QStringLiteral("orders"));
        server.addCustomers(3000, 3, QStringLiteral("products"));

        MainWindow window(optionsFor(server.baseUrl(), 100, 3));
        window.show();
        QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames().size(), 3, 10000);
        QTest::qWait(50); // the layout settles once

        // Progress updates repaint labels; they never lay the page out again.
        LayoutCounter layouts;
        window.progressPage()->installEventFilter(&layouts);
        child<QWidget>(window, QStringLiteral("rows"))->installEventFilter(&layouts);
        for (EntityRow *row : window.progressPage()->findChildren<EntityRow *>())
            row->installEventFilter(&layouts);
        QSignalSpy progress(window.engine(), &SyncEngine::progressChanged);
        child<QAction>(window, QStringLiteral("syncAllAction"))->trigger();

        const QString customers = QStringLiteral("customers");
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(window, customers)->done() > 0, SyncTimeoutMs);
        QCOMPARE(buttonText(window, customers), QStringLiteral("Pause"));
        click(window, customers);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(window, customers), stateWord(SyncState::Paused), 10000);
        QCOMPARE(buttonText(window, customers), QStringLiteral("Resume"));
        const qint64 pausedAt = rowOf(window, customers)->done();
        QVERIFY2(pausedAt < 20000, "the sync finished before it could be paused");

        // The others go on to the end; the paused one does not move.
        for (const QString &name : { QStringLiteral("orders"), QStringLiteral("products") }) {
            QTRY_VERIFY_WITH_TIMEOUT(barFull(window, name), SyncTimeoutMs);
            QTRY_COMPARE(stateOf(window, name), stateWord(SyncState::Completed));
        }
        QTest::qWait(200);
        QCOMPARE(stateOf(window, customers), stateWord(SyncState::Paused));
        QCOMPARE(rowOf(window, customers)->done(), pausedAt);
        QVERIFY(!barFull(window, customers));
        QVERIFY(logContains(window, QStringLiteral("customers: paused at")));
        qInfo("%d layout requests for %d progress updates", layouts.requests,
              int(progress.count()));
        QVERIFY(progress.count() > 10);
        QVERIFY2(layouts.requests <= 5, qPrintable(QString::number(layouts.requests)));
        // (The counter does see a change of geometry.)
        const int before = layouts.requests;
        child<QProgressBar>(window, QStringLiteral("bar_orders"))->setMinimumWidth(121);
        QTRY_VERIFY(layouts.requests > before);

        click(window, customers);
        QTRY_VERIFY_WITH_TIMEOUT(barFull(window, customers), SyncTimeoutMs);
        QTRY_COMPARE(stateOf(window, customers), stateWord(SyncState::Completed));
        QCOMPARE(rowOf(window, customers)->done(), 20000);

        window.dataView()->setCurrentEntity(customers);
        QTRY_COMPARE(child<QLabel>(window, QStringLiteral("rowCountLabel"))->text(),
                     QStringLiteral("20,000 records"));
    }

    void pausedProgressShowsAtNextLaunchAndResumes()
    {
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(20000, 4, QStringLiteral("customers"));
        const QString customers = QStringLiteral("customers");
        qint64 pausedAt = 0;
        {
            MainWindow window(optionsFor(server.baseUrl(), 100, 2));
            window.show();
            QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames().size(), 1, 10000);
            child<QAction>(window, QStringLiteral("syncAllAction"))->trigger();
            QTRY_VERIFY_WITH_TIMEOUT(rowOf(window, customers)->done() >= 1000, SyncTimeoutMs);
            // Pause all, then quit: the next launch shows where it stopped.
            QAction *pauseAll = child<QAction>(window, QStringLiteral("pauseAllAction"));
            QVERIFY(pauseAll->isEnabled());
            pauseAll->trigger();
            QTRY_COMPARE_WITH_TIMEOUT(stateOf(window, customers), stateWord(SyncState::Paused),
                                      10000);
            pausedAt = rowOf(window, customers)->done();
            QVERIFY(pausedAt < 20000);
            window.close();
        }
        // A second launch, with the server unreachable: progress and records are still there.
        {
            MainWindow window(
                optionsFor(QUrl(QStringLiteral("http://127.0.0.1:%1/api/v1").arg(unusedPort()))));
            window.show();
            QTRY_VERIFY_WITH_TIMEOUT(rowOf(window, customers), 10000);
            QCOMPARE(stateOf(window, customers), stateWord(SyncState::Paused));
            QCOMPARE(rowOf(window, customers)->done(), pausedAt);
            QCOMPARE(buttonText(window, customers), QStringLiteral("Resume"));
            window.dataView()->setCurrentEntity(customers);
            QTRY_COMPARE(window.dataView()->matchingRows(), pausedAt);
        }
        {
            MainWindow window(optionsFor(server.baseUrl(), 100, 2));
            window.show();
            QTRY_VERIFY_WITH_TIMEOUT(rowOf(window, customers), 10000);
            QCOMPARE(stateOf(window, customers), stateWord(SyncState::Paused));
            QCOMPARE(rowOf(window, customers)->done(), pausedAt);
            const QProgressBar *bar = child<QProgressBar>(window, QStringLiteral("bar_customers"));
            QVERIFY(bar->value() > 0 && bar->value() < bar->maximum());
            click(window, customers);
            QTRY_VERIFY_WITH_TIMEOUT(barFull(window, customers), SyncTimeoutMs);
            QTRY_COMPARE(stateOf(window, customers), stateWord(SyncState::Completed));
            window.dataView()->setCurrentEntity(customers);
            QTRY_COMPARE(window.dataView()->matchingRows(), 20000);
        }
    }

    void failureShowsTheReason_data()
    {
        QTest::addColumn<bool>("deadServer");
        QTest::addColumn<QString>("category");
        QTest::addColumn<QString>("reason");
        QTest::newRow("wrong token")
            << false << QStringLiteral("token refused") << QStringLiteral("refused the token");
        QTest::newRow("dead server") << true << QStringLiteral("cannot reach the server")
                                     << QStringLiteral("connection refused");
    }

    void failureShowsTheReason()
    {
        QFETCH(bool, deadServer);
        QFETCH(QString, category);
        QFETCH(QString, reason);
        const QString customers = QStringLiteral("customers");

        Test::TestServer server;
        QVERIFY(server.start(QStringLiteral("secret")));
        server.addCustomers(500, 1, customers);
        {
            DesktopOptions options = optionsFor(server.baseUrl());
            options.profile.token = QStringLiteral("secret");
            MainWindow window(options);
            QTRY_VERIFY_WITH_TIMEOUT(rowOf(window, customers), 10000);
            child<QAction>(window, QStringLiteral("syncAllAction"))->trigger();
            QTRY_VERIFY_WITH_TIMEOUT(barFull(window, customers), SyncTimeoutMs);
        }

        DesktopOptions options = optionsFor(
            deadServer ? QUrl(QStringLiteral("http://127.0.0.1:%1/api/v1").arg(unusedPort()))
                       : server.baseUrl());
        options.profile.token = QStringLiteral("wrong");
        MainWindow window(options);
        window.show();
        // Listing the entities fails at once: the page and the log say why.
        QTRY_VERIFY_WITH_TIMEOUT(window.progressPage()->message().contains(category), 10000);
        QVERIFY(window.progressPage()->message().contains(reason, Qt::CaseInsensitive));
        QVERIFY(logContains(window, category));
        // The entity synced before is still listed, with its records.
        QVERIFY(rowOf(window, customers));
        QCOMPARE(stateOf(window, customers), stateWord(SyncState::Completed));
        window.dataView()->setCurrentEntity(customers);
        QTRY_COMPARE(child<QLabel>(window, QStringLiteral("rowCountLabel"))->text(),
                     QStringLiteral("500 records"));

        click(window, customers);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(window, customers), stateWord(SyncState::Failed), 20000);
        EntityRow *row = rowOf(window, customers);
        QVERIFY2(row->toolTip().contains(reason, Qt::CaseInsensitive), qPrintable(row->toolTip()));
        QVERIFY(child<QLabel>(window, QStringLiteral("state_customers"))
                    ->toolTip()
                    .contains(reason, Qt::CaseInsensitive));
        QCOMPARE(buttonText(window, customers), QStringLiteral("Start"));
        QTRY_VERIFY(logContains(window, QStringLiteral("customers failed (%1)").arg(category)));
        if (deadServer)
            QVERIFY(logContains(window, QStringLiteral("retrying in")));

        // The log is copyable.
        window.logView()->clearSelection();
        window.logView()->copy();
        QVERIFY(QApplication::clipboard()->text().contains(category));
    }

    void refusedCertificateShowsTheReason()
    {
        // An entity synced over HTTPS, then the server's certificate expired: the page, the
        // log and the row say so, and nothing is retried.
        const QString tls = QStringLiteral(BATCHSYNC_TLS_DATA "/");
        QString error;
        const auto valid = Tls::serverConfiguration(tls + QStringLiteral("server.pem"),
                                                    tls + QStringLiteral("server.key"), &error);
        const auto expired = Tls::serverConfiguration(tls + QStringLiteral("expired.pem"),
                                                      tls + QStringLiteral("expired.key"), &error);
        QVERIFY2(valid && expired, qPrintable(error));
        Test::TestServer server;
        QVERIFY(server.start());
        server.addCustomers(200, 2);
        server.server()->setTlsConfiguration(*valid);
        DesktopOptions options = optionsFor(server.baseUrl());
        options.profile.caCertificateFile = tls + QStringLiteral("ca.pem");
        const QString customers = QStringLiteral("customers");
        {
            MainWindow first(options);
            QTRY_VERIFY_WITH_TIMEOUT(rowOf(first, customers), 10000);
            child<QAction>(first, QStringLiteral("syncAllAction"))->trigger();
            QTRY_VERIFY_WITH_TIMEOUT(barFull(first, customers), SyncTimeoutMs);
        }

        server.server()->setTlsConfiguration(*expired);
        MainWindow window(options);
        window.show();
        const QString reason = QStringLiteral("certificate has expired");
        QTRY_VERIFY_WITH_TIMEOUT(window.progressPage()->message().contains(reason), 10000);
        QVERIFY(logContains(window, reason));
        click(window, customers);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(window, customers), stateWord(SyncState::Failed), 10000);
        QVERIFY2(rowOf(window, customers)->toolTip().contains(reason),
                 qPrintable(rowOf(window, customers)->toolTip()));
        QVERIFY(!logContains(window, QStringLiteral("retrying in")));
    }

    void settingsRoundTripThroughQSettings()
    {
        Profile settings;
        settings.endpoint = QUrl(QStringLiteral("https://sync.example.com/api/v1"));
        settings.token = QStringLiteral("s3cret-token");
        settings.paging = PagingMode::Offset;
        settings.batchSize = 2500;
        settings.concurrency = 5;
        WindowLayout layout;
        layout.geometry = QByteArrayLiteral("geometry");
        layout.splitterState = QByteArrayLiteral("splitter");
        layout.columnStates = { { QStringLiteral("customers"), QByteArrayLiteral("columns") } };
        QVERIFY(settings.validate().isEmpty());
        settings.save();
        layout.save();

        const Profile loaded = Profile::load();
        QCOMPARE(loaded.endpoint, settings.endpoint);
        // The OS keychain keeps the token (SecretStore), never the settings file.
        QVERIFY(loaded.token.isEmpty());
        QVERIFY(!QSettings().contains(QStringLiteral("connection/token")));
        settings.token.clear();
        QCOMPARE(loaded.paging, PagingMode::Offset);
        QCOMPARE(loaded.batchSize, 2500);
        QCOMPARE(loaded.concurrency, 5);
        const WindowLayout loadedLayout = WindowLayout::load();
        QCOMPARE(loadedLayout.geometry, QByteArrayLiteral("geometry"));
        QCOMPARE(loadedLayout.splitterState, QByteArrayLiteral("splitter"));
        QCOMPARE(loadedLayout.columnStates.value(QStringLiteral("customers")),
                 QByteArrayLiteral("columns"));
        QVERIFY(loaded == settings);

        // Defaults when nothing is stored: the embedded demo.
        QSettings().clear();
        const Profile defaults = Profile::load();
        QVERIFY(defaults.isEmbeddedDemo());
        QCOMPARE(defaults.batchSize, SyncSettings::DefaultBatchSize);
        QVERIFY(defaults.validate().isEmpty());
    }

    void settingsValidation_data()
    {
        QTest::addColumn<QString>("endpoint");
        QTest::addColumn<QString>("token");
        QTest::addColumn<int>("batchSize");
        QTest::addColumn<int>("concurrency");
        QTest::addColumn<bool>("valid");
        QTest::newRow("embedded demo") << QString() << QString() << 1000 << 2 << true;
        QTest::newRow("https") << QStringLiteral("https://example.com/api/v1")
                               << QStringLiteral("abc.DEF-123") << 100 << 16 << true;
        QTest::newRow("http with port")
            << QStringLiteral("http://127.0.0.1:8080/api/v1") << QString() << 10000 << 1 << true;
        QTest::newRow("ftp") << QStringLiteral("ftp://example.com/") << QString() << 1000 << 2
                             << false;
        QTest::newRow("not a url")
            << QStringLiteral("not a url") << QString() << 1000 << 2 << false;
        QTest::newRow("no host") << QStringLiteral("http://") << QString() << 1000 << 2 << false;
        QTest::newRow("query") << QStringLiteral("http://h/api?x=1") << QString() << 1000 << 2
                               << false;
        QTest::newRow("batch too small") << QString() << QString() << 99 << 2 << false;
        QTest::newRow("batch too large") << QString() << QString() << 10001 << 2 << false;
        QTest::newRow("no concurrency") << QString() << QString() << 1000 << 0 << false;
        QTest::newRow("too much concurrency") << QString() << QString() << 1000 << 17 << false;
        QTest::newRow("token with space")
            << QString() << QStringLiteral("a b") << 1000 << 2 << false;
    }

    void settingsAskBeforeAllowingPlainHttp()
    {
        Profile base;
        base.token = QStringLiteral("t0ken");
        SettingsDialog dialog(base);
        int asked = 0;
        bool answer = false;
        dialog.confirmInsecureHttp = [&](const QString &host) {
            ++asked;
            [&] { QCOMPARE(host, QStringLiteral("sync.example.com")); }();
            return answer;
        };
        child<QLineEdit>(dialog, QStringLiteral("endpointEdit"))
            ->setText(QStringLiteral("http://sync.example.com/api/v1"));
        QVERIFY2(dialog.shownReason().contains(QStringLiteral("--allow-insecure-http")),
                 qPrintable(dialog.shownReason()));
        auto *ok = dialog.findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Ok);
        QVERIFY(!ok->isEnabled());

        auto *allow = child<QCheckBox>(dialog, QStringLiteral("allowInsecureHttpCheck"));
        allow->setChecked(true);
        QCOMPARE(dialog.shownReason(), QString());
        QVERIFY(ok->isEnabled());
        dialog.accept(); // declined: the dialog stays open
        QCOMPARE(asked, 1);
        QCOMPARE(dialog.result(), int(QDialog::Rejected));
        answer = true;
        dialog.accept();
        QCOMPARE(asked, 2);
        QCOMPARE(dialog.result(), int(QDialog::Accepted));
        QVERIFY(dialog.profile().allowInsecureHttp);

        // Once saved so, it is not asked again; the CA file is checked as it is typed.
        SettingsDialog again(dialog.profile());
        again.confirmInsecureHttp = [&](const QString &) { return ++asked, false; };
        child<QLineEdit>(again, QStringLiteral("caCertificateEdit"))
            ->setText(QStringLiteral("/nonexistent/ca.pem"));
        QVERIFY2(again.shownReason().contains(QStringLiteral("/nonexistent/ca.pem")),
                 qPrintable(again.shownReason()));
        child<QLineEdit>(again, QStringLiteral("caCertificateEdit"))->clear();
        again.accept();
        QCOMPARE(again.result(), int(QDialog::Accepted));
        QCOMPARE(asked, 2);
        QCOMPARE(again.profile().caCertificateFile, QString());
    }

    void settingsValidation()
    {
        QFETCH(QString, endpoint);
        QFETCH(QString, token);
        QFETCH(int, batchSize);
        QFETCH(int, concurrency);
        QFETCH(bool, valid);
        Profile settings;
        settings.endpoint = endpoint.isEmpty() ? QUrl() : QUrl(endpoint, QUrl::StrictMode);
        settings.token = token;
        settings.batchSize = batchSize;
        settings.concurrency = concurrency;
        const QString reason = settings.validate();
        QCOMPARE(reason.isEmpty(), valid);

        // The dialog shows the same reason and refuses OK (its spin boxes clamp the numbers).
        if (batchSize >= 100 && batchSize <= 10000 && concurrency >= 1 && concurrency <= 16) {
            SettingsDialog dialog(Profile {});
            child<QLineEdit>(dialog, QStringLiteral("endpointEdit"))->setText(endpoint);
            child<QLineEdit>(dialog, QStringLiteral("tokenEdit"))->setText(token);
            QCOMPARE(dialog.validate().isEmpty(), valid);
            QCOMPARE(dialog.shownReason().isEmpty(), valid);
            auto *buttons = dialog.findChild<QDialogButtonBox *>();
            QCOMPARE(buttons->button(QDialogButtonBox::Ok)->isEnabled(), valid);
            dialog.accept();
            QCOMPARE(dialog.result() == QDialog::Accepted, valid);
            if (valid)
                QCOMPARE(dialog.profile().endpoint.toString(), endpoint);
        }
    }

    void eachEndpointHasItsOwnDatabase()
    {
        const QString dir = m_dir->path();
        const QString demo = databasePathFor(QUrl(), dir);
        QVERIFY(demo.endsWith(QStringLiteral("/demo.sqlite")));
        const QString a = databasePathFor(QUrl(QStringLiteral("http://a.example/api/v1")), dir);
        const QString b = databasePathFor(QUrl(QStringLiteral("http://b.example/api/v1")), dir);
        QVERIFY(a != b && a != demo);
        QVERIFY(a.startsWith(dir));
        QCOMPARE(databasePathFor(QUrl(QStringLiteral("HTTP://A.example/api/v1/")), dir), a);
        QVERIFY(databasePathFor(QUrl(QStringLiteral("http://a.example/api/v1")))
                    .startsWith(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)));
        QVERIFY(Profile::demoServerPath(dir) != demo);
    }

    void switchingEndpointsNeverMixesTheirData()
    {
        Test::TestServer first;
        QVERIFY(first.start());
        first.addCustomers(300, 1, QStringLiteral("customers"));
        Test::TestServer second;
        QVERIFY(second.start());
        second.addCustomers(200, 2, QStringLiteral("orders"));

        DesktopOptions options = optionsFor(first.baseUrl());
        options.databasePath.clear(); // per endpoint, in dataDirectory
        MainWindow window(options);
        window.show();
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(window, QStringLiteral("customers")), 10000);
        child<QAction>(window, QStringLiteral("syncAllAction"))->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(barFull(window, QStringLiteral("customers")), SyncTimeoutMs);
        const QString firstPath = window.databasePath();
        QCOMPARE(firstPath, databasePathFor(first.baseUrl(), m_dir->path()));

        // A change that keeps the endpoint keeps the database.
        Profile settings = window.profile();
        settings.batchSize = 500;
        QVERIFY(window.applyProfile(settings));
        QCOMPARE(window.databasePath(), firstPath);
        QCOMPARE(window.engine()->settings().batchSize, 500);
        QTRY_COMPARE(stateOf(window, QStringLiteral("customers")), stateWord(SyncState::Completed));

        settings.endpoint = second.baseUrl();
        QVERIFY(window.applyProfile(settings));
        QVERIFY(window.databasePath() != firstPath);
        QCOMPARE(window.engine()->settings().endpoint, second.baseUrl());
        QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames(),
                                  QStringList { QStringLiteral("orders") }, 10000);
        child<QAction>(window, QStringLiteral("syncAllAction"))->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(barFull(window, QStringLiteral("orders")), SyncTimeoutMs);
        QTRY_COMPARE(window.dataView()->entityNames(), QStringList { QStringLiteral("orders") });

        // Back to the first: its own data again.
        settings.endpoint = first.baseUrl();
        QVERIFY(window.applyProfile(settings));
        QCOMPARE(window.databasePath(), firstPath);
        QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames(),
                                  QStringList { QStringLiteral("customers") }, 10000);
        QCOMPARE(stateOf(window, QStringLiteral("customers")), stateWord(SyncState::Completed));
        QTRY_COMPARE(window.dataView()->entityNames(), QStringList { QStringLiteral("customers") });

        // Invalid settings are refused, with the reason in the log.
        settings.endpoint = QUrl(QStringLiteral("ftp://example.com"));
        QVERIFY(!window.applyProfile(settings));
        QCOMPARE(window.databasePath(), firstPath);
        QVERIFY(logContains(window, QStringLiteral("http://")));
    }

    void settingsDialogAsksBeforeSwitchingEndpoints()
    {
        Test::TestServer other;
        QVERIFY(other.start());
        other.addCustomers(100, 5, QStringLiteral("orders"));
        const QUrl dead(QStringLiteral("http://127.0.0.1:%1/api/v1").arg(unusedPort()));
        DesktopOptions options = optionsFor(dead);
        options.databasePath.clear();
        MainWindow window(options);
        window.show();
        QTRY_VERIFY(window.engine());

        // Plays the user: fills the dialog, then answers the question with \a answer.
        QStringList questions;
        const auto answerWith = [&](QMessageBox::StandardButton answer) {
            auto *driver = new QTimer(&window);
            connect(driver, &QTimer::timeout, &window, [&, driver, answer] {
                QWidget *modal = QApplication::activeModalWidget();
                if (auto *dialog = qobject_cast<SettingsDialog *>(modal)) {
                    dialog->findChild<QLineEdit *>(QStringLiteral("endpointEdit"))
                        ->setText(other.baseUrl().toString());
                    dialog->accept();
                } else if (auto *box = qobject_cast<QMessageBox *>(modal)) {
                    questions.append(box->text());
                    box->button(answer)->click();
                    driver->deleteLater();
                }
            });
            driver->start(20);
        };

        answerWith(QMessageBox::Cancel);
        window.openSettings();
        QCOMPARE(questions.size(), 1);
        QVERIFY(questions.first().contains(other.baseUrl().toString()));
        QVERIFY(questions.first().contains(QStringLiteral("own local database")));
        QCOMPARE(window.engine()->settings().endpoint, dead);
        QVERIFY(Profile::load().endpoint.isEmpty()); // nothing saved

        answerWith(QMessageBox::Yes);
        window.openSettings();
        QCOMPARE(questions.size(), 2);
        QCOMPARE(window.engine()->settings().endpoint, other.baseUrl());
        QCOMPARE(Profile::load().endpoint, other.baseUrl());
        QCOMPARE(window.databasePath(), databasePathFor(other.baseUrl(), m_dir->path()));
        QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames(),
                                  QStringList { QStringLiteral("orders") }, 10000);
    }

    void layoutIsRemembered()
    {
        QByteArray splitterState;
        {
            MainWindow window(
                optionsFor(QUrl(QStringLiteral("http://127.0.0.1:%1/api/v1").arg(unusedPort()))));
            QCOMPARE(window.size(), QSize(1100, 700));
            window.show();
            window.resize(900, 640);
            auto *splitter = child<QSplitter>(window, QStringLiteral("mainSplitter"));
            splitter->setSizes({ 200, 300 });
            splitterState = splitter->saveState();
            window.close();
        }
        MainWindow window(
            optionsFor(QUrl(QStringLiteral("http://127.0.0.1:%1/api/v1").arg(unusedPort()))));
        QCOMPARE(window.size(), QSize(900, 640));
        QCOMPARE(child<QSplitter>(window, QStringLiteral("mainSplitter"))->saveState(),
                 splitterState);
    }

    void embeddedDemoStartsAndListsEntities()
    {
        MainWindow window(demoOptions(QStringLiteral("demo.sqlite")));
        window.show();
        QVERIFY(window.isEmbeddedDemo());
        QVERIFY(window.windowTitle().contains(QStringLiteral("embedded demo")));
        // The first start creates the demo data (about 100,000 records).
        QTRY_VERIFY_WITH_TIMEOUT(window.engine(), 180000);
        QTRY_VERIFY_WITH_TIMEOUT(window.progressPage()->entityNames().size() >= 2, 30000);
        QCOMPARE(window.engine()->settings().endpoint.host(), QStringLiteral("127.0.0.1"));
        QVERIFY(window.windowTitle().contains(window.endpoint().toString()));
        QVERIFY(window.windowTitle().contains(QStringLiteral("(embedded demo)")));
        QVERIFY(window.progressPage()->message().isEmpty());
        qInfo("embedded demo entities: %s",
              qPrintable(window.progressPage()->entityNames().join(QStringLiteral(", "))));
    }

    void windowStartsAndStopsTheDemoItIsGiven()
    {
        const QUrl dead(QStringLiteral("http://127.0.0.1:%1/api/v1").arg(unusedPort()));
        DesktopOptions options = optionsFor(dead);
        options.databasePath.clear();
        MainWindow window(options);
        QTRY_VERIFY(window.engine());
        QVERIFY(!m_demo->isStarted()); // an endpoint of its own: no demo server

        Profile demo = window.profile();
        demo.endpoint = QUrl();
        QVERIFY(window.applyProfile(demo));
        QVERIFY(window.isEmbeddedDemo());
        QVERIFY(m_demo->isStarted());
        QTRY_VERIFY_WITH_TIMEOUT(window.engine(), 180000);
        QVERIFY(!m_demo->baseUrl().isEmpty());
        QCOMPARE(window.engine()->settings().endpoint, m_demo->baseUrl());
        QCOMPARE(window.databasePath(), databasePathFor(QUrl(), m_dir->path()));
        QTRY_VERIFY_WITH_TIMEOUT(window.progressPage()->entityNames().size() >= 2, 30000);

        // Back to the endpoint: the demo server is not needed any more.
        QVERIFY(window.applyProfile(options.profile));
        QVERIFY(!m_demo->isStarted());
        QCOMPARE(window.engine()->settings().endpoint, dead);
    }

    void guiNeverStallsDuringADemoSync()
    {
        MainWindow window(demoOptions(QStringLiteral("stall.sqlite")));
        window.show();
        QTRY_VERIFY_WITH_TIMEOUT(window.engine(), 180000);
        QTRY_VERIFY_WITH_TIMEOUT(!window.progressPage()->entityNames().isEmpty()
                                     && window.progressPage()->message().isEmpty(),
                                 30000);
        // The data tab shown, so that its re-reads after each entity count too.
        child<QTabWidget>(window, QStringLiteral("bottomTabs"))->setCurrentIndex(1);

        QElapsedTimer clock;
        qint64 last = -1;
        qint64 longest = 0;
        QTimer ticker;
        ticker.setTimerType(Qt::PreciseTimer);
        ticker.setInterval(5);
        connect(&ticker, &QTimer::timeout, this, [&] {
            const qint64 now = clock.elapsed();
            if (last >= 0)
                longest = std::max(longest, now - last);
            last = now;
        });

        QSignalSpy finished(window.engine(), &SyncEngine::finished);
        clock.start();
        ticker.start();
        child<QAction>(window, QStringLiteral("syncAllAction"))->trigger();
        QVERIFY(finished.wait(300000));
        const qint64 elapsed = clock.elapsed();
        ticker.stop();

        const qint64 records = window.progressPage()->overallDone();
        for (const QString &name : window.progressPage()->entityNames())
            QCOMPARE(stateOf(window, name), stateWord(SyncState::Completed));
        QVERIFY(records > 10000);
        qInfo("longest GUI event-loop stall: %lld ms during a sync of %lld demo records in "
              "%lld ms (batch size %d, %d entities at once)",
              longest, records, elapsed, window.engine()->settings().batchSize,
              window.engine()->settings().concurrency);
        QVERIFY2(longest < 250,
                 qPrintable(QStringLiteral("the GUI stalled for %1 ms").arg(longest)));
    }

    // Not a check: BATCHSYNC_SCREENSHOT=<file.png> grabs the window mid-sync for the README.
    void screenshot()
    {
        const QString path = qEnvironmentVariable("BATCHSYNC_SCREENSHOT");
        if (path.isEmpty())
            QSKIP("set BATCHSYNC_SCREENSHOT=<file.png> to take the README's screenshot");
        DesktopOptions options = demoOptions(QStringLiteral("demo.sqlite"));
        options.profile.batchSize = 100;
        options.profile.concurrency = 3;
        MainWindow window(options);
        window.show();
        QTRY_VERIFY_WITH_TIMEOUT(window.engine(), 180000);
        QTRY_VERIFY_WITH_TIMEOUT(!window.progressPage()->entityNames().isEmpty()
                                     && window.progressPage()->message().isEmpty(),
                                 30000);
        const QStringList names = window.progressPage()->entityNames();
        child<QAction>(window, QStringLiteral("syncAllAction"))->trigger();
        const QString paused = names.first();
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(window, paused)->total() > 0
                                     && rowOf(window, paused)->done()
                                         > rowOf(window, paused)->total() * 2 / 5,
                                 SyncTimeoutMs);
        click(window, paused);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(window, paused), stateWord(SyncState::Paused), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(window.progressPage()->overallDone()
                                     > window.progressPage()->overallTotal() / 3,
                                 SyncTimeoutMs);
        // The partly synced records of the paused entity, read from the local database.
        child<QTabWidget>(window, QStringLiteral("bottomTabs"))->setCurrentIndex(1);
        window.dataView()->setCurrentEntity(paused);
        QTRY_VERIFY(window.dataView()->matchingRows() > 0);
        QVERIFY(window.grab().save(path));
        qInfo("screenshot saved to %s", qPrintable(path));
    }

    void settingsDialogAdaptiveBatchSize()
    {
        // Saved by one dialog...
        Profile original;
        original.batchSize = 800;
        SettingsDialog first(original);
        auto *adaptive = child<QCheckBox>(first, QStringLiteral("adaptiveBatchCheck"));
        auto *target = child<QSpinBox>(first, QStringLiteral("targetBatchSpin"));
        QVERIFY(adaptive && target);
        QVERIFY(!adaptive->isChecked());
        QVERIFY(!target->isEnabled()); // the target only matters when the size adapts
        QCOMPARE(target->value(), SyncSettings::DefaultTargetBatchMs);
        QCOMPARE(target->minimum(), SyncSettings::MinTargetBatchMs);
        QCOMPARE(target->maximum(), SyncSettings::MaxTargetBatchMs);
        QTest::mouseClick(adaptive, Qt::LeftButton);
        QVERIFY(adaptive->isChecked());
        QVERIFY(target->isEnabled());
        target->setValue(1200);
        QVERIFY(first.shownReason().isEmpty());
        first.accept();
        QCOMPARE(first.result(), int(QDialog::Accepted));
        const Profile chosen = first.profile();
        QVERIFY(chosen.adaptiveBatchSize);
        QCOMPARE(chosen.targetBatchMs, 1200);
        QCOMPARE(chosen.batchSize, 800);
        QVERIFY(chosen != original);
        chosen.save();

        // ...read back by the next one.
        const Profile loaded = Profile::load();
        QVERIFY(loaded.adaptiveBatchSize);
        QCOMPARE(loaded.targetBatchMs, 1200);
        QVERIFY(loaded == chosen);
        SettingsDialog second(loaded);
        QVERIFY(child<QCheckBox>(second, QStringLiteral("adaptiveBatchCheck"))->isChecked());
        QCOMPARE(child<QSpinBox>(second, QStringLiteral("targetBatchSpin"))->value(), 1200);
        QVERIFY(child<QSpinBox>(second, QStringLiteral("targetBatchSpin"))->isEnabled());

        // Unchecked again, it is saved as fixed, and the target is kept for next time.
        child<QCheckBox>(second, QStringLiteral("adaptiveBatchCheck"))->setChecked(false);
        QVERIFY(!child<QSpinBox>(second, QStringLiteral("targetBatchSpin"))->isEnabled());
        second.profile().save();
        QVERIFY(!Profile::load().adaptiveBatchSize);
        QCOMPARE(Profile::load().targetBatchMs, 1200);

        // Nothing saved: fixed, with the engine's default target.
        QSettings().clear();
        QVERIFY(!Profile::load().adaptiveBatchSize);
        QCOMPARE(Profile::load().targetBatchMs, SyncSettings::DefaultTargetBatchMs);
    }

    void settingsDialogTwoWay()
    {
        Profile original;
        original.conflictPolicies = { { QStringLiteral("orders"), ConflictPolicy::ClientWins } };
        SettingsDialog first(original);
        auto *direction = child<QComboBox>(first, QStringLiteral("directionCombo"));
        auto *policy = child<QComboBox>(first, QStringLiteral("conflictPolicyCombo"));
        QVERIFY(direction && policy);
        QCOMPARE(direction->currentData().value<SyncDirection>(), SyncDirection::Both);
        QCOMPARE(policy->currentData().value<ConflictPolicy>(), ConflictPolicy::ServerWins);
        QVERIFY(policy->isEnabled());
        // A pull meets no conflict: its policy waits, kept, for the next push.
        direction->setCurrentIndex(direction->findData(QVariant::fromValue(SyncDirection::Pull)));
        QVERIFY(!policy->isEnabled());
        direction->setCurrentIndex(direction->findData(QVariant::fromValue(SyncDirection::Push)));
        QVERIFY(policy->isEnabled());
        policy->setCurrentIndex(policy->findData(QVariant::fromValue(ConflictPolicy::ClientWins)));
        first.accept();
        QCOMPARE(first.result(), int(QDialog::Accepted));
        const Profile chosen = first.profile();
        QCOMPARE(chosen.direction, SyncDirection::Push);
        QCOMPARE(chosen.conflictPolicy, ConflictPolicy::ClientWins);
        QCOMPARE(chosen.conflictPolicies, original.conflictPolicies); // per entity: kept
        chosen.save();

        const Profile loaded = Profile::load();
        QVERIFY(loaded == chosen);
        SettingsDialog second(loaded);
        QCOMPARE(child<QComboBox>(second, QStringLiteral("directionCombo"))
                     ->currentData()
                     .value<SyncDirection>(),
                 SyncDirection::Push);
        QCOMPARE(child<QComboBox>(second, QStringLiteral("conflictPolicyCombo"))
                     ->currentData()
                     .value<ConflictPolicy>(),
                 ConflictPolicy::ClientWins);
        QSettings().clear();
    }

    void settingsDialogOData()
    {
        SettingsDialog first(Profile {});
        auto *source = child<QComboBox>(first, QStringLiteral("sourceCombo"));
        auto *endpoint = child<QLineEdit>(first, QStringLiteral("endpointEdit"));
        auto *token = child<QLineEdit>(first, QStringLiteral("tokenEdit"));
        auto *user = child<QLineEdit>(first, QStringLiteral("userEdit"));
        auto *password = child<QLineEdit>(first, QStringLiteral("passwordEdit"));
        auto *changeTime = child<QLineEdit>(first, QStringLiteral("changeTimeEdit"));
        auto *safety = child<QSpinBox>(first, QStringLiteral("safetyWindowSpin"));
        auto *paging = child<QComboBox>(first, QStringLiteral("pagingCombo"));
        QVERIFY(source && endpoint && token && user && password && changeTime && safety && paging);
        const auto odataFieldsEnabled = [&] {
            return user->isEnabled() && password->isEnabled() && changeTime->isEnabled()
                && safety->isEnabled();
        };
        const auto odataFieldsDisabled = [&] {
            return !user->isEnabled() && !password->isEnabled() && !changeTime->isEnabled()
                && !safety->isEnabled();
        };

        // A BatchSync server: its paging, no OData fields; the token serves both kinds.
        QCOMPARE(source->currentData().value<SourceKind>(), SourceKind::Protocol);
        QVERIFY(odataFieldsDisabled());
        QVERIFY(paging->isEnabled() && token->isEnabled());
        QCOMPARE(password->echoMode(), QLineEdit::Password);
        QCOMPARE(token->echoMode(), QLineEdit::Password);
        QCOMPARE(safety->value(), SyncSettings::DefaultSafetyWindowSeconds);
        QCOMPARE(safety->maximum(), SyncSettings::MaxSafetyWindowSeconds);

        source->setCurrentIndex(source->findData(QVariant::fromValue(SourceKind::OData)));
        QVERIFY(odataFieldsEnabled());
        QVERIFY(!paging->isEnabled() && token->isEnabled());
        // The embedded demo is a BatchSync server: an OData source needs its URL.
        QVERIFY2(first.shownReason().contains(QStringLiteral("service root URL")),
                 qPrintable(first.shownReason()));
        const QString root = QStringLiteral("http://127.0.0.1:4004/odata/v4/shop/");
        endpoint->setText(root);
        QVERIFY2(first.shownReason().isEmpty(), qPrintable(first.shownReason()));
        user->setText(QStringLiteral("alice"));
        password->setText(QStringLiteral("pa:ss wörd"));
        token->setText(QStringLiteral("tok"));
        QVERIFY2(first.shownReason().contains(QStringLiteral("not both")),
                 qPrintable(first.shownReason()));
        token->clear();
        changeTime->setText(QStringLiteral("modifiedAt, Orders=changed-on"));
        QVERIFY2(first.shownReason().contains(QStringLiteral("Change-time properties")),
                 qPrintable(first.shownReason()));
        first.accept();
        QCOMPARE(first.result(), int(QDialog::Rejected)); // refused, still open
        changeTime->setText(QStringLiteral(" modifiedAt , Orders = changedOn "));
        safety->setValue(45);
        QVERIFY2(first.shownReason().isEmpty(), qPrintable(first.shownReason()));
        first.accept();
        QCOMPARE(first.result(), int(QDialog::Accepted));

        const Profile chosen = first.profile();
        QCOMPARE(chosen.source, SourceKind::OData);
        QCOMPARE(chosen.endpoint, QUrl(root));
        QCOMPARE(chosen.user, QStringLiteral("alice"));
        QCOMPARE(chosen.password, QStringLiteral("pa:ss wörd"));
        QVERIFY(chosen.token.isEmpty());
        const QMap<QString, QString> properties { { QString(), QStringLiteral("modifiedAt") },
                                                  { QStringLiteral("Orders"),
                                                    QStringLiteral("changedOn") } };
        QCOMPARE(chosen.changeTimeProperties, properties);
        QCOMPARE(chosen.safetyWindowSeconds, 45);
        chosen.save();

        // Read back by the next dialog, field by field; the password is the keychain's
        // (SecretStore), never in the file.
        Profile loaded = Profile::load();
        QVERIFY(loaded.password.isEmpty());
        QVERIFY(!QSettings().contains(QStringLiteral("connection/password")));
        loaded.password = chosen.password;
        QVERIFY(loaded == chosen);
        SettingsDialog second(loaded);
        source = child<QComboBox>(second, QStringLiteral("sourceCombo"));
        user = child<QLineEdit>(second, QStringLiteral("userEdit"));
        password = child<QLineEdit>(second, QStringLiteral("passwordEdit"));
        changeTime = child<QLineEdit>(second, QStringLiteral("changeTimeEdit"));
        safety = child<QSpinBox>(second, QStringLiteral("safetyWindowSpin"));
        paging = child<QComboBox>(second, QStringLiteral("pagingCombo"));
        QCOMPARE(source->currentData().value<SourceKind>(), SourceKind::OData);
        QCOMPARE(child<QLineEdit>(second, QStringLiteral("endpointEdit"))->text(), root);
        QCOMPARE(user->text(), QStringLiteral("alice"));
        QCOMPARE(password->text(), QStringLiteral("pa:ss wörd"));
        QCOMPARE(changeTime->text(), QStringLiteral("modifiedAt,Orders=changedOn"));
        QCOMPARE(safety->value(), 45);
        QVERIFY(odataFieldsEnabled() && !paging->isEnabled());
        QVERIFY(second.profile() == chosen);

        // Back to a BatchSync server: the OData fields are off but kept for a switch back.
        source->setCurrentIndex(source->findData(QVariant::fromValue(SourceKind::Protocol)));
        QVERIFY(odataFieldsDisabled() && paging->isEnabled());
        QVERIFY2(second.shownReason().isEmpty(), qPrintable(second.shownReason()));
        second.profile().save();
        const Profile server = Profile::load();
        QCOMPARE(server.source, SourceKind::Protocol);
        QCOMPARE(server.user, QStringLiteral("alice"));
        QCOMPARE(server.changeTimeProperties, properties);
        QVERIFY(server.syncSettings(server.endpoint, u"x.sqlite"_qs).user.isEmpty());
    }

    void settingsTargetBatchValidation_data()
    {
        QTest::addColumn<int>("targetMs");
        QTest::addColumn<bool>("valid");
        QTest::newRow("shortest") << SyncSettings::MinTargetBatchMs << true;
        QTest::newRow("longest") << SyncSettings::MaxTargetBatchMs << true;
        QTest::newRow("too short") << SyncSettings::MinTargetBatchMs - 1 << false;
        QTest::newRow("too long") << SyncSettings::MaxTargetBatchMs + 1 << false;
        QTest::newRow("zero") << 0 << false;
    }

    void settingsTargetBatchValidation()
    {
        QFETCH(int, targetMs);
        QFETCH(bool, valid);
        Profile settings;
        settings.adaptiveBatchSize = true;
        settings.targetBatchMs = targetMs;
        const QString reason = settings.validate();
        QCOMPARE(reason.isEmpty(), valid);
        if (!valid)
            QVERIFY2(reason.contains(QStringLiteral("target batch duration")), qPrintable(reason));

        // The same as the engine decides.
        SyncSettings engine;
        engine.endpoint = QUrl(QStringLiteral("http://127.0.0.1/api/v1"));
        engine.databasePath = QStringLiteral("local.sqlite");
        engine.adaptiveBatchSize = true;
        engine.targetBatchMs = targetMs;
        QCOMPARE(engine.validate().isEmpty(), valid);

        // A value saved out of range (say, by hand) reaches the dialog clamped: never
        // accepted as it is.
        settings.save();
        SettingsDialog dialog(Profile::load());
        const int shown = child<QSpinBox>(dialog, QStringLiteral("targetBatchSpin"))->value();
        QVERIFY(shown >= SyncSettings::MinTargetBatchMs && shown <= SyncSettings::MaxTargetBatchMs);
        QCOMPARE(shown == targetMs, valid);
        QVERIFY(dialog.validate().isEmpty());
    }
};

QTEST_MAIN(TestUi)
#include "tst_ui.moc"
