// batchsync: the desktop app, and --headless for the terminal.

#include "cli.h"
#include "headless.h"
#include "localstatus.h"
#include "mainwindow.h"
#include "output/console.h"
#include "shared/demosession.h"
#include "shared/profile.h"
#include "shared/secretstore.h"
#include "shared/terminationsignals.h"

#include <QApplication>
#include <QCoreApplication>
#include <QDir>
#include <QLoggingCategory>
#include <QStandardPaths>
#include <memory>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#ifndef BATCHSYNC_VERSION
#define BATCHSYNC_VERSION "0.1.0"
#endif

using namespace BatchSync;

namespace {

int runWindow(const App::Profile &profile, const Cli::CommandLine &command)
{
    // Started before the window, which only uses it (and may start it again after a switch).
    App::DemoSession demo(App::Profile::demoServerPath());
    demo.setPageDelay(App::DemoSession::WatchablePageDelayMs);
    if (profile.isEmbeddedDemo())
        demo.start();
    // The window reads the token and password from the OS keychain, and saves them there.
    App::SecretStore secrets;
    const App::ProfileOverrides &flags = command.overrides;
    Ui::DesktopOptions options;
    options.profile = profile;
    options.demo = &demo;
    options.secrets = &secrets;
    options.secretsGiven = flags.token || flags.user || flags.password;
    options.databasePath = command.databasePath.value_or(QString());
    return Ui::runDesktop(options);
}

int runHeadless(const App::Profile &profile, const Cli::CommandLine &command)
{
    const QString dataDir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    const bool haveDataDir = !dataDir.isEmpty() && QDir().mkpath(dataDir);
    if (!command.databasePath && !haveDataDir) {
        return Cli::usageError(
            QStringLiteral("cannot create the application data folder \"%1\"; use --db")
                .arg(dataDir));
    }
    // The same file the window uses for this endpoint: both modes share the progress.
    const QString databasePath
        = command.databasePath.value_or(QDir(dataDir).filePath(profile.databaseFileName()));
    std::unique_ptr<App::DemoSession> demo;
    if (profile.isEmbeddedDemo()) {
        if (!haveDataDir) {
            return Cli::usageError(
                QStringLiteral("cannot create the application data folder \"%1\"").arg(dataDir));
        }
        demo = std::make_unique<App::DemoSession>(App::Profile::demoServerPath(dataDir));
        demo->setToken(profile.token);
    }

    SyncSettings tuning;
    tuning.retryGiveUpMs = command.retryGiveUpMs.value_or(tuning.retryGiveUpMs);
    HeadlessOptions options;
    options.settings = profile.syncSettings(profile.endpoint, databasePath, tuning);
    options.entities = command.entities;
    options.output = command.output;
    options.liveSync = command.live;
    // The window's choices; a headless run syncs once, or follows --live.
    options.settings.live = false;
    options.settings.syncAtStart = false;
    options.settings.autoSyncSeconds = 0;
    options.demo = demo.get();

    // The core's messages are for developers, and its warnings repeat what the engine's
    // signals already tell the user; QT_LOGGING_RULES still wins.
    QLoggingCategory::setFilterRules(
        QStringLiteral("batchsync.*.info=false\nbatchsync.*.debug=false\n"
                       "batchsync.*.warning=false"));

    HeadlessRunner runner(options);
    App::TerminationSignals terminationSignals;
    QString signalError;
    if (!terminationSignals.install(&signalError) && command.output != ProgressOutput::Json)
        Output::writeTo(stderr, QStringLiteral("batchsync: warning: %1\n").arg(signalError));
    QObject::connect(&terminationSignals, &App::TerminationSignals::received, &runner,
                     &HeadlessRunner::interrupt);
    QObject::connect(&runner, &HeadlessRunner::finished, &runner,
                     [](int exitCode) { QCoreApplication::exit(exitCode); });
    QMetaObject::invokeMethod(&runner, &HeadlessRunner::start, Qt::QueuedConnection);
    return QCoreApplication::exec();
}

// The token and password the window keeps in the OS keychain, for a headless run given
// neither by a flag nor by the environment; asked for only when the settings file says the
// keychain keeps one. The keychain answers asynchronously: an event loop of its own runs
// until it did, before the sync's (one after the other, never nested).
App::Profile withKeychainSecrets(App::Profile saved, const Cli::CommandLine &command)
{
    const App::ProfileOverrides &flags = command.overrides;
    App::SecretStore secrets;
    if (flags.token || flags.password || !secrets.keepsSecrets())
        return saved;
    QObject::connect(&secrets, &App::SecretStore::loaded, &secrets,
                     [&saved](const QString &token, const QString &password) {
                         saved.token = token;
                         saved.password = password;
                         QCoreApplication::exit(0);
                     });
    secrets.load(false);
    QCoreApplication::exec();
    if (!secrets.problem().isEmpty() && command.output != ProgressOutput::Json)
        Output::writeTo(stderr, QStringLiteral("batchsync: warning: %1\n").arg(secrets.problem()));
    return saved;
}

} // namespace

int main(int argc, char *argv[])
{
#if defined(__GLIBC__)
    // Pages of thousands of records come and go in buffers of megabytes, on several threads.
    // glibc raises its mmap threshold to the largest block freed, so such buffers would then
    // come from the heaps of those threads and stay with them after the page is written
    // (~12 MB more at 10,000 records a page). A fixed threshold gives them back at once.
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    // Fixing it also fixes the trim threshold, at 128 KiB by default: a heap would then give
    // its top back after every page and fault it in again for the next one.
    mallopt(M_TRIM_THRESHOLD, 2 * 1024 * 1024);
#endif
    const bool window = Cli::wantsWindow(argc, argv);
    std::unique_ptr<QCoreApplication> app = window ? std::make_unique<QApplication>(argc, argv)
                                                   : std::make_unique<QCoreApplication>(argc, argv);
    QCoreApplication::setOrganizationName(QStringLiteral("BatchSync"));
    QCoreApplication::setApplicationName(QStringLiteral("batchsync"));
    QCoreApplication::setApplicationVersion(QStringLiteral(BATCHSYNC_VERSION));

    int exitCode = 0;
    const std::optional<Cli::CommandLine> command
        = Cli::parse(QCoreApplication::arguments(), &exitCode);
    if (!command)
        return exitCode;

    // The profile the window saved, under the flags, for this run only.
    QString loadProblem;
    App::Profile saved = App::Profile::load(&loadProblem);
    if (command->mode == Cli::Mode::Headless)
        saved = withKeychainSecrets(saved, *command);
    if (const QString problem = Cli::problemWith(*command, saved, loadProblem); !problem.isEmpty())
        return Cli::usageError(problem);
    const App::Profile profile = command->overrides.appliedTo(saved);

    switch (command->mode) {
    case Cli::Mode::Status: {
        // Reading must change nothing on disk: not even the data folder is created.
        const QString dataDir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
        return LocalStatus::print(
            command->databasePath.value_or(QDir(dataDir).filePath(profile.databaseFileName())),
            command->entities, command->output);
    }
    case Cli::Mode::Headless:
        return runHeadless(profile, *command);
    case Cli::Mode::Window:
        break;
    }
    return runWindow(profile, *command);
}
