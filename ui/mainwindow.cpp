#include "mainwindow.h"

#include "conflictsview.h"
#include "dataview.h"
#include "engine/syncengine.h"
#include "logview.h"
#include "progresspage.h"
#include "settingsdialog.h"
#include "shared/demoendpoint.h"
#include "shared/secretstore.h"
#include "shared/secrettext.h"
#include "uitext.h"
#include "windowlayout.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <algorithm>

namespace BatchSync::Ui {

namespace {

const QString iconPath = QStringLiteral(":/batchsync/batchsync.svg");
constexpr int DefaultWidth = 1100;
constexpr int DefaultHeight = 700;
constexpr int MinProgressHeight = 160;

bool isActive(SyncState state)
{
    return state == SyncState::Queued || state == SyncState::Counting
        || state == SyncState::Running;
}

QIcon themedIcon(const QString &name, QStyle::StandardPixmap fallback, const QStyle *style)
{
    return QIcon::fromTheme(name, style->standardIcon(fallback));
}

// The desktop's own settings icon if it has one; no icon beats a misleading one.
QIcon settingsIcon()
{
    return QIcon::fromTheme(QStringLiteral("configure"),
                            QIcon::fromTheme(QStringLiteral("preferences-system")));
}

} // namespace

MainWindow::MainWindow(const DesktopOptions &options, QWidget *parent)
    : QMainWindow(parent)
    , m_options(options)
    , m_databasePath(options.databasePath.isEmpty()
                         ? options.profile.databasePath(options.dataDirectory)
                         : options.databasePath)
{
    setObjectName(QStringLiteral("mainWindow"));
    setWindowIcon(QIcon(iconPath));
    createActions();
    createWidgets();
    restoreLayout();
    if (m_options.demo) {
        connect(m_options.demo, &App::DemoEndpoint::ready, this, &MainWindow::onServerReady);
        connect(m_options.demo, &App::DemoEndpoint::failed, this, &MainWindow::onServerFailed);
    }
    if (!m_options.secrets) {
        connectEndpoint();
        return;
    }
    // The engine starts once the keychain answered: with the token, not a 401 first.
    connect(m_options.secrets, &App::SecretStore::loaded, this, &MainWindow::onSecretsLoaded);
    connect(m_options.secrets, &App::SecretStore::saved, this, &MainWindow::onSecretsSaved);
    m_page->setMessage(tr("Reading the token and password from the OS keychain…"));
    updateActions();
    // Settings saved before the keychain answered would replace what it holds with nothing.
    m_settingsAction->setEnabled(false);
    m_options.secrets->load();
}

void MainWindow::onSecretsLoaded(const QString &token, const QString &password)
{
    if (const QString problem = m_options.secrets->problem(); !problem.isEmpty())
        m_log->addMessage(problem, LogView::Severity::Warning);
    if (!m_options.secretsGiven) {
        m_options.profile.token = token;
        m_options.profile.password = password;
    }
    m_settingsAction->setEnabled(true);
    connectEndpoint();
}

void MainWindow::onSecretsSaved()
{
    const QString problem = m_options.secrets->problem();
    if (!problem.isEmpty())
        m_log->addMessage(problem, LogView::Severity::Warning);
    else if (!m_options.profile.token.isEmpty() || !m_options.profile.password.isEmpty())
        m_log->addMessage(tr("The token and password are kept in the OS keychain"));
}

MainWindow::~MainWindow()
{
    // Its destructor pauses running jobs, which may still be talking to the embedded server.
    m_engine.reset();
}

void MainWindow::createActions()
{
    m_syncAllAction
        = new QAction(themedIcon(QStringLiteral("view-refresh"), QStyle::SP_BrowserReload, style()),
                      tr("&Sync All"), this);
    m_syncAllAction->setObjectName(QStringLiteral("syncAllAction"));
    m_syncAllAction->setShortcuts({ QKeySequence(Qt::Key_F5), QKeySequence(Qt::CTRL | Qt::Key_R) });
    m_syncAllAction->setToolTip(
        tr("Sync every entity, resuming paused ones where they stopped (F5)"));
    m_syncAllAction->setStatusTip(m_syncAllAction->toolTip());
    connect(m_syncAllAction, &QAction::triggered, this, &MainWindow::syncAll);

    m_pauseAllAction = new QAction(
        themedIcon(QStringLiteral("media-playback-pause"), QStyle::SP_MediaPause, style()),
        tr("&Pause All"), this);
    m_pauseAllAction->setObjectName(QStringLiteral("pauseAllAction"));
    m_pauseAllAction->setShortcuts(
        { QKeySequence(Qt::Key_F6), QKeySequence(Qt::CTRL | Qt::Key_P) });
    m_pauseAllAction->setToolTip(
        tr("Pause every running sync; nothing synced so far is lost (F6)"));
    m_pauseAllAction->setStatusTip(m_pauseAllAction->toolTip());
    connect(m_pauseAllAction, &QAction::triggered, this, &MainWindow::pauseAll);

    m_liveAction = new QAction(
        themedIcon(QStringLiteral("network-transmit-receive"), QStyle::SP_DriveNetIcon, style()),
        tr("&Live"), this);
    m_liveAction->setObjectName(QStringLiteral("liveAction"));
    m_liveAction->setCheckable(true);
    m_liveAction->setChecked(m_options.profile.live);
    m_liveAction->setToolTip(tr("Keep the data in step by itself: a change on the server arrives "
                                "within about a second, local edits are sent with it"));
    m_liveAction->setStatusTip(m_liveAction->toolTip());
    connect(m_liveAction, &QAction::toggled, this, &MainWindow::setLive);

    m_settingsAction = new QAction(settingsIcon(), tr("Se&ttings…"), this);
    m_settingsAction->setObjectName(QStringLiteral("settingsAction"));
    m_settingsAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Comma));
    m_settingsAction->setMenuRole(QAction::PreferencesRole);
    m_settingsAction->setToolTip(
        tr("Endpoint, token, paging, batch size and concurrency (Ctrl+,)"));
    m_settingsAction->setStatusTip(m_settingsAction->toolTip());
    connect(m_settingsAction, &QAction::triggered, this, &MainWindow::openSettings);

    m_quitAction = new QAction(
        themedIcon(QStringLiteral("application-exit"), QStyle::SP_DialogCloseButton, style()),
        tr("&Quit"), this);
    m_quitAction->setObjectName(QStringLiteral("quitAction"));
    m_quitAction->setShortcut(QKeySequence::Quit);
    m_quitAction->setMenuRole(QAction::QuitRole);
    m_quitAction->setToolTip(tr("Quit; running syncs are saved and resume next time"));
    m_quitAction->setStatusTip(m_quitAction->toolTip());
    connect(m_quitAction, &QAction::triggered, this, &QWidget::close);

    QMenu *fileMenu = menuBar()->addMenu(tr("&File"));
    fileMenu->addAction(m_settingsAction);
    fileMenu->addSeparator();
    fileMenu->addAction(m_quitAction);
    QMenu *syncMenu = menuBar()->addMenu(tr("&Sync"));
    syncMenu->addAction(m_syncAllAction);
    syncMenu->addAction(m_pauseAllAction);
    syncMenu->addSeparator();
    syncMenu->addAction(m_liveAction);

    QToolBar *toolBar = addToolBar(tr("Main Toolbar"));
    toolBar->setObjectName(QStringLiteral("mainToolBar"));
    toolBar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    toolBar->setMovable(false);
    toolBar->addAction(m_syncAllAction);
    toolBar->addAction(m_pauseAllAction);
    toolBar->addAction(m_liveAction);
    toolBar->addSeparator();
    toolBar->addAction(m_settingsAction);
}

void MainWindow::createWidgets()
{
    m_page = new ProgressPage(this);
    connect(m_page, &ProgressPage::startRequested, this, [this](const QString &entity) {
        if (m_engine)
            m_engine->start(entity);
    });
    connect(m_page, &ProgressPage::pauseRequested, this, [this](const QString &entity) {
        if (m_engine)
            m_engine->pause(entity);
    });
    connect(m_page, &ProgressPage::resumeRequested, this, [this](const QString &entity) {
        if (m_engine)
            m_engine->resume(entity);
    });

    m_log = new LogView(this);
    m_data = new DataView(this);
    connect(m_data, &DataView::pendingChangesCounted, m_page, &ProgressPage::setPendingChanges);
    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("bottomTabs"));
    m_tabs->addTab(m_log, tr("&Log"));
    m_tabs->addTab(m_data, tr("&Data"));
    m_conflicts = new ConflictsView(this);
    m_tabs->addTab(m_conflicts, tr("&Conflicts"));
    connect(m_conflicts, &ConflictsView::countChanged, this, [this](int count) {
        m_tabs->setTabText(m_tabs->indexOf(m_conflicts),
                           count > 0 ? tr("&Conflicts (%1)").arg(count) : tr("&Conflicts"));
    });
    m_tabs->setDocumentMode(true);

    m_splitter = new QSplitter(Qt::Vertical, this);
    m_splitter->setObjectName(QStringLiteral("mainSplitter"));
    m_splitter->addWidget(m_page);
    m_splitter->addWidget(m_tabs);
    m_splitter->setChildrenCollapsible(false);
    m_splitter->setStretchFactor(0, 0);
    m_splitter->setStretchFactor(1, 1);
    connect(m_splitter, &QSplitter::splitterMoved, this, [this] { m_splitterRestored = true; });
    setCentralWidget(m_splitter);

    m_databaseLabel = new QLabel(this);
    m_databaseLabel->setObjectName(QStringLiteral("databaseLabel"));
    m_databaseLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    statusBar()->addWidget(m_databaseLabel, 1);
    m_endpointLabel = new QLabel(this);
    m_endpointLabel->setObjectName(QStringLiteral("endpointLabel"));
    m_endpointLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    statusBar()->addPermanentWidget(m_endpointLabel);
    m_liveLabel = new QLabel(this);
    m_liveLabel->setObjectName(QStringLiteral("liveLabel"));
    statusBar()->addPermanentWidget(m_liveLabel);
}

void MainWindow::restoreLayout()
{
    resize(DefaultWidth, DefaultHeight);
    if (!m_options.rememberLayout)
        return;
    const WindowLayout layout = WindowLayout::load();
    if (!layout.geometry.isEmpty())
        restoreGeometry(layout.geometry);
    if (!layout.windowState.isEmpty())
        restoreState(layout.windowState);
    if (!layout.splitterState.isEmpty())
        m_splitterRestored = m_splitter->restoreState(layout.splitterState);
    m_data->setColumnStates(layout.columnStates);
}

void MainWindow::saveLayout()
{
    if (!m_options.rememberLayout)
        return;
    WindowLayout layout;
    layout.geometry = saveGeometry();
    layout.windowState = saveState();
    layout.splitterState = m_splitter->saveState();
    layout.columnStates = m_data->columnStates();
    layout.save();
}

QUrl MainWindow::endpoint() const
{
    if (m_engine)
        return m_engine->settings().endpoint;
    return m_options.profile.endpoint;
}

bool MainWindow::applyProfile(const App::Profile &profile)
{
    if (const QString problem = profile.validate(); !problem.isEmpty()) {
        m_log->addMessage(tr("Settings not applied: %1").arg(problem), LogView::Severity::Error);
        return false;
    }
    if (m_options.profile == profile)
        return true;
    const bool endpointChanged = !m_options.profile.sameEndpoint(profile);

    m_resumeAfterRestart.clear();
    if (!endpointChanged && m_engine) {
        // Same server, same database: what was syncing goes on with the new settings.
        for (const EntityStatus &status : m_engine->entities()) {
            if (isActive(status.state))
                m_resumeAfterRestart.append(status.name);
        }
    }
    m_engine.reset();

    m_options.profile = profile;
    if (endpointChanged) {
        if (!isEmbeddedDemo() && m_options.demo)
            m_options.demo->stop();
        m_databasePath = profile.databasePath(m_options.dataDirectory);
        m_page->clear();
        m_log->addMessage(tr("Switched to %1; its records are kept in %2")
                              .arg(isEmbeddedDemo() ? tr("the embedded demo server")
                                                    : App::printableUrl(profile.endpoint),
                                   m_databasePath));
    } else {
        m_log->addMessage(tr("Settings applied"));
    }
    connectEndpoint();
    return true;
}

void MainWindow::connectEndpoint()
{
    m_data->setDatabasePath(m_databasePath);
    m_conflicts->setDatabasePath(m_databasePath);
    m_entityLoads = 0;
    if (!isEmbeddedDemo()) {
        createEngine(m_options.profile.endpoint);
        return;
    }
    App::DemoEndpoint *demo = m_options.demo;
    if (!demo) {
        const QString text = tr("No endpoint is set and the embedded demo server is not "
                                "available: choose an endpoint in Settings.");
        m_log->addMessage(text, LogView::Severity::Error);
        m_page->setMessage(text, true);
        updateTitle();
        updateActions();
        return;
    }
    if (!demo->baseUrl().isEmpty()) {
        createEngine(demo->baseUrl());
        return;
    }
    demo->start();
    m_log->addMessage(tr("Starting the embedded demo server (the first start creates its "
                         "demo data)…"));
    m_page->setMessage(tr("Starting the embedded demo server…"));
    updateTitle();
    updateActions();
}

void MainWindow::onServerReady(const QUrl &url)
{
    m_log->addMessage(
        tr("The embedded demo server is listening at %1").arg(App::printableUrl(url)));
    if (isEmbeddedDemo() && !m_engine)
        createEngine(url);
}

void MainWindow::onServerFailed(const QString &message)
{
    if (!isEmbeddedDemo())
        return;
    const QString text = tr("The embedded demo server could not start: %1").arg(message);
    m_log->addMessage(text, LogView::Severity::Error);
    m_page->setMessage(text + QLatin1Char('\n')
                           + tr("The records synced before are still in the Data tab."),
                       true);
    updateTitle();
}

void MainWindow::setLive(bool live)
{
    if (m_options.profile.live != live) {
        m_options.profile.live = live;
        // Only this choice changes; what else the file holds stays as it is.
        App::Profile saved = m_options.profile;
        saved.save();
    }
    if (m_engine)
        m_engine->setLive(live);
    if (!live) {
        m_liveLabel->clear();
        m_page->setLiveText(QString());
    }
    m_log->addMessage(live ? tr("Live sync on: changes on the server arrive by themselves")
                           : tr("Live sync off"));
}

QString MainWindow::liveText() const
{
    return m_liveLabel->text();
}

void MainWindow::onLiveStateChanged(LiveState state, const QStringList &entities,
                                    const QString &message)
{
    const QString now = QLocale().toString(QTime::currentTime(), QLocale::ShortFormat);
    switch (state) {
    case LiveState::Off:
        m_liveLabel->clear();
        m_page->setLiveText(QString());
        break;
    case LiveState::Waiting:
        m_page->setLiveText(tr("Up to date · live"));
        if (!m_liveLabel->text().startsWith(tr("Up to date")))
            m_liveLabel->setText(tr("Up to date · live"));
        break;
    case LiveState::Woken:
        m_liveLabel->setText(tr("Up to date · live · last change %1").arg(now));
        m_log->addMessage(tr("Changed on the server: %1").arg(entities.join(QLatin1String(", "))));
        break;
    case LiveState::Offline:
        m_liveLabel->setText(tr("Waiting for the network"));
        m_page->setLiveText(tr("Waiting for the network"));
        m_log->addMessage(tr("Live sync is waiting for the network: %1").arg(message),
                          LogView::Severity::Warning);
        break;
    case LiveState::Timer:
        m_liveLabel->setText(tr("Live · syncing every %1 s")
                                 .arg(m_engine ? m_engine->settings().liveTimerSeconds : 0));
        break;
    }
}

void MainWindow::createEngine(const QUrl &url)
{
    m_engine.reset();
    m_entityLoads = 0;
    m_engine = std::make_unique<SyncEngine>(
        m_options.profile.syncSettings(url, m_databasePath, m_options.tuning));
    SyncEngine *engine = m_engine.get();
    connect(engine, &SyncEngine::entitiesChanged, this, &MainWindow::onEntitiesChanged);
    connect(engine, &SyncEngine::stateChanged, this, &MainWindow::onStateChanged);
    connect(engine, &SyncEngine::progressChanged, this, &MainWindow::onProgress);
    connect(engine, &SyncEngine::phaseChanged, m_page, &ProgressPage::setPhase);
    connect(engine, &SyncEngine::overallProgressChanged, m_page, &ProgressPage::setOverallProgress);
    connect(engine, &SyncEngine::failed, this, &MainWindow::onFailed);
    connect(engine, &SyncEngine::retrying, this, &MainWindow::onRetrying);
    connect(engine, &SyncEngine::pushed, this, &MainWindow::onPushed);
    connect(engine, &SyncEngine::finished, this, &MainWindow::onFinished);
    connect(engine, &SyncEngine::liveStateChanged, this, &MainWindow::onLiveStateChanged);
    m_liveLabel->clear();
    m_page->setMessage(tr("Connecting to %1…").arg(App::printableUrl(url)));
    engine->refreshEntities();
    updateTitle();
    updateActions();
    Q_EMIT engineCreated(engine);
}

void MainWindow::updateTitle()
{
    const QUrl url = endpoint();
    QString where;
    if (isEmbeddedDemo()) {
        where = url.isEmpty() ? tr("embedded demo (starting…)")
                              : tr("%1 (embedded demo)").arg(App::printableUrl(url));
    } else {
        where = App::printableUrl(url);
    }
    setWindowTitle(tr("BatchSync — %1").arg(where));
    m_endpointLabel->setText(tr("Endpoint: %1").arg(where));
    m_databaseLabel->setText(tr("Local database: %1").arg(QFileInfo(m_databasePath).fileName()));
    m_databaseLabel->setToolTip(
        tr("%1\nThe synced records, readable offline; one file per endpoint")
            .arg(QDir::toNativeSeparators(m_databasePath)));
}

void MainWindow::updateActions()
{
    bool anyActive = false;
    if (m_engine) {
        for (const EntityStatus &status : m_engine->entities())
            anyActive = anyActive || isActive(status.state);
    }
    m_syncAllAction->setEnabled(m_engine != nullptr);
    m_pauseAllAction->setEnabled(m_engine != nullptr && (anyActive || m_engine->isBusy()));
}

void MainWindow::syncAll()
{
    if (!m_engine)
        return;
    m_log->addMessage(
        tr("Sync all: syncing every entity from %1").arg(App::printableUrl(endpoint())));
    m_engine->startAll();
    m_pauseAllAction->setEnabled(true);
}

void MainWindow::pauseAll()
{
    if (!m_engine)
        return;
    m_log->addMessage(tr("Pause all"));
    m_engine->pauseAll();
}

void MainWindow::openSettings()
{
    SettingsDialog dialog(m_options.profile, this);
    if (m_options.secrets) {
        const QString problem = m_options.secrets->problem();
        dialog.setSecretsNote(problem.isEmpty() ? tr("The token and the password are kept in the "
                                                     "OS keychain, not in the settings file.")
                                                : problem,
                              !problem.isEmpty());
    }
    if (dialog.exec() != QDialog::Accepted)
        return;
    const App::Profile chosen = dialog.profile();
    const App::Profile &current = m_options.profile;
    if (current == chosen)
        return;
    if (!current.sameEndpoint(chosen)) {
        const QString from = current.isEmbeddedDemo() ? tr("the embedded demo server")
                                                      : App::printableUrl(current.endpoint);
        const QString to = chosen.isEmbeddedDemo() ? tr("the embedded demo server")
                                                   : App::printableUrl(chosen.endpoint);
        const auto answer = QMessageBox::question(
            this, tr("Switch Endpoint?"),
            tr("Switch from %1 to %2?\n\nEach endpoint keeps its own local database, so the "
               "records of the two servers never mix. Syncs in progress are paused and "
               "can be resumed when you switch back.")
                .arg(from, to),
            QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
        if (answer != QMessageBox::Yes)
            return;
    }
    if (m_options.secrets)
        m_options.secrets->save(chosen);
    else
        chosen.save();
    applyProfile(chosen);
}

void MainWindow::showEvent(QShowEvent *event)
{
    QMainWindow::showEvent(event);
    fitProgressPane();
}

void MainWindow::fitProgressPane()
{
    // Until the user has a layout of their own, the page gets just the room its rows need
    // (within reason); the log and the data view get the rest. Only once shown is the
    // splitter's height known.
    if (m_splitterRestored || !isVisible())
        return;
    const int available = m_splitter->height() - m_splitter->handleWidth();
    const int wanted = std::clamp(m_page->fittingHeight(), MinProgressHeight,
                                  std::max(MinProgressHeight, available / 2));
    m_splitter->setSizes({ wanted, std::max(0, available - wanted) });
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    saveLayout();
    // Destroying the engine saves running syncs as Paused; the next launch resumes them.
    m_engine.reset();
    event->accept();
}

void MainWindow::onEntitiesChanged()
{
    if (!m_engine)
        return;
    const QList<EntityStatus> entities = m_engine->entities();
    m_page->setEntities(entities);
    m_page->setOverallProgress(m_engine->overallProgress());
    QList<EntitySchema> schemas;
    for (const EntityStatus &status : entities)
        schemas.append({ status.name, status.fields });
    m_data->setSchemas(schemas);
    m_data->refreshEntityList();

    // The first call holds what the database remembers; later ones follow GET /entities.
    if (++m_entityLoads > 1) {
        m_page->setMessage(entities.isEmpty() ? tr("The server reports no entities.") : QString());
    }
    if (m_entityLoads == 1 && !m_resumeAfterRestart.isEmpty()) {
        for (const QString &name : std::as_const(m_resumeAfterRestart)) {
            if (m_engine->entity(name).state == SyncState::Paused)
                m_engine->resume(name);
        }
        m_resumeAfterRestart.clear();
    }
    // Once the new rows are laid out: their size hints are only right after that.
    QTimer::singleShot(0, this, &MainWindow::fitProgressPane);
    updateActions();
}

void MainWindow::onStateChanged(const QString &entity, SyncState state)
{
    if (!m_engine)
        return;
    const EntityStatus status = m_engine->entity(entity);
    m_page->setState(entity, state, status.errorMessage);
    switch (state) {
    case SyncState::Completed:
        m_page->setProgress(entity, status.done, status.total, 0, -1);
        m_page->setLastCompleted(entity, status.lastCompletedAt);
        m_log->addMessage(tr("%1: sync completed, %2").arg(entity, UiText::records(status.done)));
        m_data->entityUpdated(entity);
        break;
    case SyncState::Paused:
        m_log->addMessage(
            tr("%1: paused at %2 of %3")
                .arg(entity, UiText::number(status.done), UiText::records(status.total)));
        m_data->entityUpdated(entity);
        break;
    case SyncState::Idle:
    case SyncState::Queued:
    case SyncState::Counting:
    case SyncState::Running:
    case SyncState::Failed: // failed() says why
        break;
    }
    updateActions();
}

void MainWindow::onProgress(const QString &entity, qint64 done, qint64 total,
                            double recordsPerSecond, qint64 etaSeconds)
{
    m_page->setProgress(entity, done, total, recordsPerSecond, etaSeconds);
}

void MainWindow::onFailed(const QString &entity, ErrorCategory category, const QString &message)
{
    QString text;
    if (entity.isEmpty()) {
        text = category == ErrorCategory::Storage
            ? tr("The local database cannot be used: %1").arg(message)
            : tr("Cannot list the entities (%1): %2").arg(UiText::category(category), message);
        m_page->setMessage(text, true);
        statusBar()->showMessage(text, 10000);
    } else {
        text = tr("%1 failed (%2): %3").arg(entity, UiText::category(category), message);
        m_page->setState(entity, SyncState::Failed, message);
    }
    m_log->addMessage(text, LogView::Severity::Error);
}

void MainWindow::onPushed(const QString &entity, qint64 applied, qint64 conflicts, qint64 rejected)
{
    const qint64 sent = applied + conflicts + rejected;
    QString text = sent == 1
        ? tr("%1: sent 1 local change, %2 applied").arg(entity, QLocale().toString(applied))
        : tr("%1: sent %2 local changes, %3 applied")
              .arg(entity, QLocale().toString(sent), QLocale().toString(applied));
    if (conflicts > 0)
        text += tr(", %1 in conflict").arg(QLocale().toString(conflicts));
    if (rejected > 0)
        text += tr(", %1 rejected").arg(QLocale().toString(rejected));
    if (conflicts + rejected > 0)
        text += tr(" (see the Conflicts tab)");
    m_log->addMessage(
        text, conflicts + rejected > 0 ? LogView::Severity::Warning : LogView::Severity::Info);
}

void MainWindow::onRetrying(const QString &entity, int attempt, int delayMs, const QString &reason)
{
    const QString delay = delayMs < 1000
        ? tr("%1 ms").arg(delayMs)
        : tr("%1 s").arg(QLocale().toString(delayMs / 1000.0, 'g', delayMs < 10000 ? 2 : 3));
    const QString who = entity.isEmpty() ? tr("Listing the entities") : entity;
    m_log->addMessage(
        tr("%1: retrying in %2 (attempt %3): %4").arg(who, delay).arg(attempt).arg(reason),
        LogView::Severity::Warning);
}

void MainWindow::onFinished()
{
    if (!m_engine)
        return;
    int completed = 0;
    int paused = 0;
    int failed = 0;
    for (const EntityStatus &status : m_engine->entities()) {
        completed += status.state == SyncState::Completed ? 1 : 0;
        paused += status.state == SyncState::Paused ? 1 : 0;
        failed += status.state == SyncState::Failed ? 1 : 0;
    }
    // A partly read table holds a read snapshot of the database: let it go at the end.
    m_data->entityUpdated(m_data->currentEntity());
    m_conflicts->reload(); // the push may have kept new conflicts
    m_log->addMessage(tr("Sync finished: %1 completed, %2 paused, %3 failed")
                          .arg(completed)
                          .arg(paused)
                          .arg(failed),
                      failed > 0 ? LogView::Severity::Warning : LogView::Severity::Info);
    updateActions();
}

int runDesktop(const DesktopOptions &options)
{
    QApplication::setWindowIcon(QIcon(iconPath));
    MainWindow window(options);
    window.show();
    return QApplication::exec();
}

} // namespace BatchSync::Ui
