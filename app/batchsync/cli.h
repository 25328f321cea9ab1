#pragma once

#include "output/progressoutput.h"
#include "shared/profile.h"

#include <QString>
#include <QStringList>
#include <optional>

namespace BatchSync::Cli {

constexpr int ExitUsage = 2;

/*! What batchsync was asked to do. */
enum class Mode {
    Window, //!< the desktop window (no --headless nor --status)
    Headless, //!< --headless: a sync from the terminal
    Status, //!< --status: the local database's saved state
};

/*! The command line, checked: what it runs and what it overrides for this run. */
struct CommandLine
{
    Mode mode = Mode::Window;
    App::ProfileOverrides overrides;
    /*! The flags given that only an OData source takes, e.g. "--user". */
    QStringList odataFlags;
    std::optional<QString> passwordFile; //!< --password-file, as given
    std::optional<int> retryGiveUpMs;
    std::optional<QString> databasePath; //!< --db, absolute
    QStringList entities; //!< --entities; empty: all
    ProgressOutput output = ProgressOutput::Plain;
    bool live = false; //!< --live: keep in step until SIGINT or SIGTERM
};

/*!
    Whether the command line opens the window, which needs a QApplication (and a display);
    the headless sync, --help and --version must work without one, so the choice is made
    before any application object exists.
*/
bool wantsWindow(int argc, char *argv[]);

/*!
    Parses the application's arguments. Empty when the program is done: --help or --version
    printed (\a exitCode 0) or a usage error printed (\a exitCode ExitUsage).
*/
std::optional<CommandLine> parse(const QStringList &arguments, int *exitCode);

/*!
    Why \a profile, the saved one (\a saved, with \a loadProblem from Profile::load()) under
    \a commandLine's overrides, cannot be used, or an empty string.
*/
QString problemWith(const CommandLine &commandLine, const App::Profile &saved,
                    const QString &loadProblem);

/*! Prints \a message as a usage error on standard error; returns ExitUsage. */
int usageError(const QString &message);

} // namespace BatchSync::Cli
