#pragma once

#include "appsettings.h"
#include "common/types.h"
#include "common/syncsettings.h"

#include <QMainWindow>
#include <QStringList>
#include <QUrl>
#include <memory>

QT_BEGIN_NAMESPACE
class QAction;
class QLabel;
class QSplitter;
class QTabWidget;
QT_END_NAMESPACE

namespace BatchSync {
class EmbeddedServer;
class SyncEngine;
} // namespace BatchSync

namespace BatchSync::Ui {

class DataView;
class LogView;
class ProgressPage;

/*! How the desktop window starts: where to sync from, into which database, and how. */
struct DesktopOptions
{
    QUrl endpoint; //!< the protocol base URL; empty: start the embedded demo server
    QString token; //!< bearer token; empty: none
    PagingMode paging = PagingMode::Cursor;
    int batchSize = SyncSettings::DefaultBatchSize;
    /*! Size batches toward targetBatchMs, starting from batchSize (SyncSettings). */
    bool adaptiveBatchSize = false;
    int targetBatchMs = SyncSettings::DefaultTargetBatchMs;
    int concurrency = SyncSettings().concurrency;
    /*! The local database; empty: AppSettings::databasePathFor(endpoint, dataDirectory). */
    QString databasePath;
    /*! Where per-endpoint databases and the demo server's data live; empty: AppDataLocation. */
    QString dataDirectory;
    /*! The embedded demo server's database; empty: AppSettings::demoServerPathFor(). */
    QString demoServerPath;
    /*!
        The embedded demo server holds each page this long, so that its sync of about
        100,000 records lasts some 20 s: long enough to watch the bars and try Pause.
    */
    int demoPageDelayMs = 150;
    int retryBaseDelayMs = SyncSettings().retryBaseDelayMs;
    int retryMaxDelayMs = SyncSettings().retryMaxDelayMs;
    int retryGiveUpMs = SyncSettings().retryGiveUpMs;
    /*! Restore the window layout from QSettings at start and save it on close. */
    bool rememberLayout = true;

    /*! The connection settings of \a settings (the rest keeps its defaults). */
    static DesktopOptions fromSettings(const AppSettings &settings);
};

/*!
    The BatchSync desktop window: the per-entity progress page with an overall bar, the log,
    the data view, and the Sync all / Pause all / Settings / Quit actions.

    It owns a SyncEngine for the endpoint (and, with no endpoint, an EmbeddedServer with the
    demo data, the engine following once the server listens). It only calls the engine's
    slots and watches its signals; the data view reads the local database through its own
    read-only connection. Destroying the window destroys the engine, which saves running
    syncs as Paused: the next launch shows their progress and resumes them.
*/
class MainWindow final : public QMainWindow
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(MainWindow)

public:
    explicit MainWindow(const DesktopOptions &options, QWidget *parent = nullptr);
    ~MainWindow() override;

    /*! The engine; null while the embedded demo server is starting (or failed to). */
    SyncEngine *engine() const { return m_engine.get(); }
    /*! The endpoint in use: the configured one, or the embedded server's once it listens. */
    QUrl endpoint() const;
    bool isEmbeddedDemo() const { return m_options.endpoint.isEmpty(); }
    QString databasePath() const { return m_databasePath; }

    /*! The connection settings in use (the layout fields are left empty). */
    AppSettings currentSettings() const;
    /*!
        Applies \a settings without asking: a new endpoint switches to that endpoint's own
        local database (the running syncs of the old one are saved as Paused); other changes
        restart the engine on the same database and let running syncs continue. Returns false,
        with the reason in the log, when \a settings are invalid.
    */
    bool applySettings(const AppSettings &settings);

    ProgressPage *progressPage() const { return m_page; }
    LogView *logView() const { return m_log; }
    DataView *dataView() const { return m_data; }

public Q_SLOTS:
    void syncAll();
    void pauseAll();
    /*! Opens the settings dialog; asks before switching endpoints; saves with QSettings. */
    void openSettings();

Q_SIGNALS:
    /*! A new engine exists (at start, when the demo server is ready, after applySettings()). */
    void engineCreated(BatchSync::SyncEngine *engine);

protected:
    void showEvent(QShowEvent *event) override;
    void closeEvent(QCloseEvent *event) override;

private:
    void createActions();
    void createWidgets();
    void restoreLayout();
    void saveLayout();
    void connectEndpoint();
    void createEngine(const QUrl &url);
    void updateTitle();
    void updateActions();
    void fitProgressPane();

    void onServerReady(const QUrl &url);
    void onServerFailed(const QString &message);
    void onEntitiesChanged();
    void onStateChanged(const QString &entity, BatchSync::SyncState state);
    void onProgress(const QString &entity, qint64 done, qint64 total, double recordsPerSecond,
                    qint64 etaSeconds);
    void onFailed(const QString &entity, BatchSync::ErrorCategory category, const QString &message);
    void onRetrying(const QString &entity, int attempt, int delayMs, const QString &reason);
    void onFinished();

    DesktopOptions m_options;
    QString m_databasePath;
    // Declared before the engine so that the engine goes first: it may still talk to it.
    std::unique_ptr<EmbeddedServer> m_server;
    std::unique_ptr<SyncEngine> m_engine;
    bool m_splitterRestored = false; // from the settings or by the user: keep it
    int m_entityLoads = 0; // entitiesChanged() of the current engine so far
    QStringList m_resumeAfterRestart;

    ProgressPage *m_page = nullptr;
    LogView *m_log = nullptr;
    DataView *m_data = nullptr;
    QTabWidget *m_tabs = nullptr;
    QSplitter *m_splitter = nullptr;
    QLabel *m_databaseLabel = nullptr;
    QLabel *m_endpointLabel = nullptr;
    QAction *m_syncAllAction = nullptr;
    QAction *m_pauseAllAction = nullptr;
    QAction *m_settingsAction = nullptr;
    QAction *m_quitAction = nullptr;
};

/*!
    Opens the window with \a options and runs the event loop; returns its exit code. Needs a
    QApplication.
*/
int runDesktop(const DesktopOptions &options);

} // namespace BatchSync::Ui
