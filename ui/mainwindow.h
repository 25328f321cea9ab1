#pragma once

#include "common/syncsettings.h"
#include "common/types.h"
#include "shared/profile.h"

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
class SyncEngine;
} // namespace BatchSync

namespace BatchSync::App {
class DemoEndpoint;
class SecretStore;
} // namespace BatchSync::App

namespace BatchSync::Ui {

class ConflictsView;
class DataView;
class LogView;
class ProgressPage;

/*! How the desktop window starts: the profile, and what is the window's own. */
struct DesktopOptions
{
    /*! The connection settings of this session: the saved profile under the flags. */
    App::Profile profile;
    /*!
        The embedded demo server, used while the profile has no endpoint; not owned, it
        outlives the window. The window starts it if it is not started yet.
    */
    App::DemoEndpoint *demo = nullptr;
    /*! The local database; empty: the profile's own, in dataDirectory. */
    QString databasePath;
    /*! Where per-endpoint databases live; empty: AppDataLocation. */
    QString dataDirectory;
    /*! The engine's settings that are not the profile's (retry delays, timeouts). */
    SyncSettings tuning;
    /*! Restore the window layout from QSettings at start and save it on close. */
    bool rememberLayout = true;
    /*!
        Where the token and the password are kept (the OS keychain); not owned, it outlives
        the window. The window reads them before it connects, and Settings saves through it.
        Null: they are neither read nor kept (Profile::save() only).
    */
    App::SecretStore *secrets = nullptr;
    /*! The command line gave the authentication: the keychain's does not replace it. */
    bool secretsGiven = false;
};

/*!
    The BatchSync desktop window: the per-entity progress page with an overall bar, the log,
    the data view, and the Sync all / Pause all / Settings / Quit actions.

    It owns a SyncEngine for the endpoint (with no endpoint, for the embedded demo server it is
    given, the engine following once the server listens). It only calls the engine's
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
    bool isEmbeddedDemo() const { return m_options.profile.isEmbeddedDemo(); }
    QString databasePath() const { return m_databasePath; }

    /*! The profile in use. */
    App::Profile profile() const { return m_options.profile; }
    /*!
        Applies \a profile without asking or saving: a new endpoint switches to that
        endpoint's own local database (the running syncs of the old one are saved as Paused);
        other changes restart the engine on the same database and let running syncs continue.
        Returns false, with the reason in the log, when \a profile is invalid.
    */
    bool applyProfile(const App::Profile &profile);

    ProgressPage *progressPage() const { return m_page; }
    LogView *logView() const { return m_log; }
    DataView *dataView() const { return m_data; }
    ConflictsView *conflictsView() const { return m_conflicts; }

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

    void onSecretsLoaded(const QString &token, const QString &password);
    void onSecretsSaved();
    void onServerReady(const QUrl &url);
    void onServerFailed(const QString &message);
    void onEntitiesChanged();
    void onStateChanged(const QString &entity, BatchSync::SyncState state);
    void onProgress(const QString &entity, qint64 done, qint64 total, double recordsPerSecond,
                    qint64 etaSeconds);
    void onFailed(const QString &entity, BatchSync::ErrorCategory category, const QString &message);
    void onPushed(const QString &entity, qint64 applied, qint64 conflicts, qint64 rejected);
    void onRetrying(const QString &entity, int attempt, int delayMs, const QString &reason);
    void onFinished();

    DesktopOptions m_options;
    QString m_databasePath;
    std::unique_ptr<SyncEngine> m_engine;
    bool m_splitterRestored = false; // from the settings or by the user: keep it
    int m_entityLoads = 0; // entitiesChanged() of the current engine so far
    QStringList m_resumeAfterRestart;

    ProgressPage *m_page = nullptr;
    LogView *m_log = nullptr;
    DataView *m_data = nullptr;
    ConflictsView *m_conflicts = nullptr;
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
