// batchsync: the desktop app, and --headless for the terminal.

#include "headless.h"

#include "appsettings.h"
#include "mainwindow.h"

#include "common/identifier.h"
#include "common/types.h"
#include "engine/syncsettings.h"

#include <QCommandLineOption>
#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QStandardPaths>
#include <QUrl>

#include <cstdio>
#include <memory>
#include <optional>

#include <unistd.h>

#ifndef BATCHSYNC_VERSION
#define BATCHSYNC_VERSION "0.1.0"
#endif

using namespace BatchSync;

namespace {

constexpr int ExitUsage = 2;

void printTo(FILE *stream, const QString &text)
{
    const QByteArray bytes = text.toLocal8Bit();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stream);
    std::fflush(stream);
}

int usageError(const QString &message)
{
    printTo(
        stderr,
        QStringLiteral("batchsync: %1\nRun \"batchsync --help\" for the options.\n").arg(message));
    return ExitUsage;
}

std::optional<int> parseInt(const QString &text)
{
    bool ok = false;
    const int value = text.trimmed().toInt(&ok);
    return ok ? std::optional<int>(value) : std::nullopt;
}

QString epilogue()
{
    const SyncSettings defaults;
    return QStringLiteral(
               "\nWithout --endpoint, batchsync starts its embedded demo server on "
               "127.0.0.1, with its data\nin the application data folder, and syncs from "
               "it.\n"
               "\nEnvironment:\n"
               "  BATCHSYNC_TOKEN   Bearer token, used when --token is not given. Prefer it to "
               "--token,\n"
               "                    which other users may see in the process list.\n"
               "\nOutput: progress and errors go to standard error (a live display on a "
               "terminal, plain\nlines otherwise); the summary goes to standard output.\n"
               "\nExit status: 0 every entity synced; 1 an entity or the endpoint failed; "
               "2 bad options;\n130 or 143 interrupted by SIGINT or SIGTERM (progress is "
               "saved and the next run resumes).\n"
               "Defaults: --paging cursor, --batch-size %1, --concurrency %2.\n"
               "Diagnostics: QT_LOGGING_RULES=\"batchsync.*=true\" shows the library's "
               "log.\n")
        .arg(defaults.batchSize)
        .arg(defaults.concurrency);
}

// The window needs a QApplication (and a display); the headless sync, --help and --version
// must work without one, so the choice is made before any application object exists.
bool wantsWindow(int argc, char *argv[])
{
    for (int i = 1; i < argc; ++i) {
        const QByteArray arg(argv[i]);
        if (arg == "--headless" || arg == "-h" || arg == "--help" || arg == "--version")
            return false;
    }
    return true;
}

} // namespace

int main(int argc, char *argv[])
{
    const bool window = wantsWindow(argc, argv);
    std::unique_ptr<QCoreApplication> app = window
            ? std::make_unique<QApplication>(argc, argv)
            : std::make_unique<QCoreApplication>(argc, argv);
    QCoreApplication::setOrganizationName(QStringLiteral("BatchSync"));
    QCoreApplication::setApplicationName(QStringLiteral("batchsync"));
    QCoreApplication::setApplicationVersion(QStringLiteral(BATCHSYNC_VERSION));

    const SyncSettings defaults;
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("BatchSync: pulls a server's changes, in batches, into a local SQLite "
                       "database."));
    const QCommandLineOption helpOption({ QStringLiteral("h"), QStringLiteral("help") },
                                        QStringLiteral("Shows this help and exits."));
    const QCommandLineOption versionOption(QStringLiteral("version"),
                                           QStringLiteral("Shows the version and exits."));
    const QCommandLineOption headlessOption(
        QStringLiteral("headless"),
        QStringLiteral("Syncs from the command line, without a window."));
    const QCommandLineOption endpointOption(
        QStringLiteral("endpoint"),
        QStringLiteral("Protocol v1 base URL (http or https), e.g. "
                       "http://127.0.0.1:8080/api/v1. Default: the embedded demo server."),
        QStringLiteral("URL"));
    const QCommandLineOption dbOption(
        QStringLiteral("db"),
        QStringLiteral("The local SQLite database. Default: batchsync.sqlite in the "
                       "application data folder."),
        QStringLiteral("PATH"));
    const QCommandLineOption tokenOption(
        QStringLiteral("token"),
        QStringLiteral("Bearer token for the endpoint. Default: $BATCHSYNC_TOKEN."),
        QStringLiteral("T"));
    const QCommandLineOption pagingOption(
        QStringLiteral("paging"),
        QStringLiteral("\"cursor\" (default; cannot miss changes made during a sync) or "
                       "\"offset\" (for endpoints that only page by offset)."),
        QStringLiteral("cursor|offset"));
    const QCommandLineOption batchSizeOption(
        QStringLiteral("batch-size"),
        QStringLiteral("Records per request, %1 to %2 (default %3).")
            .arg(SyncSettings::MinBatchSize)
            .arg(SyncSettings::MaxBatchSize)
            .arg(SyncSettings::DefaultBatchSize),
        QStringLiteral("N"));
    const QCommandLineOption concurrencyOption(
        QStringLiteral("concurrency"),
        QStringLiteral("Entities syncing at once, 1 to %1 (default %2).")
            .arg(SyncSettings::MaxConcurrency)
            .arg(defaults.concurrency),
        QStringLiteral("N"));
    const QCommandLineOption entitiesOption(
        QStringLiteral("entities"),
        QStringLiteral("Comma-separated entities to sync, e.g. customers,orders. Default: "
                       "every entity the endpoint reports."),
        QStringLiteral("a,b"));
    const QCommandLineOption retryGiveUpOption(
        QStringLiteral("retry-give-up-ms"),
        QStringLiteral("Advanced: how long a failing request is retried before its entity "
                       "fails, in ms (default %1).")
            .arg(defaults.retryGiveUpMs),
        QStringLiteral("MS"));
    parser.addOptions({ helpOption, versionOption, headlessOption, endpointOption, dbOption,
                        tokenOption, pagingOption, batchSizeOption, concurrencyOption,
                        entitiesOption, retryGiveUpOption });

    if (!parser.parse(QCoreApplication::arguments()))
        return usageError(parser.errorText());
    if (parser.isSet(helpOption)) {
        // Qt's first line names the binary's full path; the rest is the option list.
        QString help = parser.helpText();
        help.replace(0, help.indexOf(QLatin1Char('\n')),
                     QStringLiteral("Usage: batchsync [--headless] [options]\n\nWithout --headless, opens the desktop window; the options then override the\nsaved settings for this session."));
        printTo(stdout, help + epilogue());
        return 0;
    }
    if (parser.isSet(versionOption)) {
        printTo(stdout,
                QStringLiteral("batchsync %1\n").arg(QCoreApplication::applicationVersion()));
        return 0;
    }
    if (!parser.positionalArguments().isEmpty()) {
        return usageError(QStringLiteral("unexpected argument \"%1\"")
                              .arg(parser.positionalArguments().constFirst()));
    }
    HeadlessOptions options;
    SyncSettings &settings = options.settings;

    if (parser.isSet(endpointOption)) {
        const QString text = parser.value(endpointOption).trimmed();
        settings.endpoint = QUrl(text, QUrl::StrictMode);
        if (settings.endpoint.isValid() && !settings.endpoint.isRelative()
            && settings.endpoint.host().isEmpty()) {
            return usageError(QStringLiteral("the endpoint \"%1\" names no host").arg(text));
        }
        if (settings.endpoint.isEmpty())
            return usageError(QStringLiteral("--endpoint needs a URL"));
    }

    settings.token = parser.isSet(tokenOption) ? parser.value(tokenOption)
                                               : qEnvironmentVariable("BATCHSYNC_TOKEN");

    if (parser.isSet(pagingOption)) {
        const QString text = parser.value(pagingOption);
        const std::optional<PagingMode> mode = pagingModeFromName(text.trimmed().toLower());
        if (!mode)
            return usageError(
                QStringLiteral("--paging must be \"cursor\" or \"offset\", not \"%1\"").arg(text));
        settings.paging = *mode;
    }

    const std::pair<const QCommandLineOption *, int *> numbers[] = {
        { &batchSizeOption, &settings.batchSize },
        { &concurrencyOption, &settings.concurrency },
        { &retryGiveUpOption, &settings.retryGiveUpMs },
    };
    for (const auto &[option, target] : numbers) {
        if (!parser.isSet(*option))
            continue;
        const QString text = parser.value(*option);
        const std::optional<int> value = parseInt(text);
        if (!value) {
            return usageError(QStringLiteral("--%1 needs a whole number, not \"%2\"")
                                  .arg(option->names().constFirst(), text));
        }
        *target = *value;
    }

    if (parser.isSet(entitiesOption)) {
        const QStringList names = parser.value(entitiesOption).split(QLatin1Char(','));
        for (const QString &raw : names) {
            const QString name = raw.trimmed();
            if (name.isEmpty())
                continue;
            const QString problem = Identifier::check(name, u"entity");
            if (!problem.isEmpty())
                return usageError(QStringLiteral("--entities: %1").arg(problem));
            if (!options.entities.contains(name))
                options.entities.append(name);
        }
        if (options.entities.isEmpty())
            return usageError(QStringLiteral("--entities needs at least one entity name"));
    }

    if (window) {
        if (parser.isSet(entitiesOption) || parser.isSet(retryGiveUpOption))
            return usageError(QStringLiteral("--entities and --retry-give-up-ms need --headless"));
        // Flags override the saved settings for this session only.
        Ui::DesktopOptions desktop = Ui::DesktopOptions::fromSettings(Ui::AppSettings::load());
        if (parser.isSet(endpointOption))
            desktop.endpoint = settings.endpoint;
        if (parser.isSet(tokenOption) || qEnvironmentVariableIsSet("BATCHSYNC_TOKEN"))
            desktop.token = settings.token;
        if (parser.isSet(pagingOption))
            desktop.paging = settings.paging;
        if (parser.isSet(batchSizeOption))
            desktop.batchSize = settings.batchSize;
        if (parser.isSet(concurrencyOption))
            desktop.concurrency = settings.concurrency;
        if (parser.isSet(dbOption)) {
            const QFileInfo info(parser.value(dbOption));
            if (!info.absoluteDir().exists()) {
                return usageError(QStringLiteral("the folder of --db \"%1\" does not exist")
                                          .arg(info.absolutePath()));
            }
            desktop.databasePath = info.absoluteFilePath();
        }
        SyncSettings checked;
        checked.endpoint = desktop.endpoint.isEmpty()
                ? QUrl(QStringLiteral("http://127.0.0.1/api/v1"))
                : desktop.endpoint;
        checked.databasePath = QStringLiteral("checked");
        checked.batchSize = desktop.batchSize;
        checked.concurrency = desktop.concurrency;
        if (const QString problem = checked.validate(); !problem.isEmpty())
            return usageError(problem);
        return Ui::runDesktop(desktop);
    }

    const QString dataDir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    if (parser.isSet(dbOption)) {
        const QString path = parser.value(dbOption);
        if (path.trimmed().isEmpty())
            return usageError(QStringLiteral("--db needs a file path"));
        const QFileInfo info(path);
        if (!info.absoluteDir().exists()) {
            return usageError(QStringLiteral("the folder of --db \"%1\" does not exist")
                                  .arg(info.absolutePath()));
        }
        settings.databasePath = info.absoluteFilePath();
    } else {
        if (dataDir.isEmpty() || !QDir().mkpath(dataDir))
            return usageError(QStringLiteral("cannot create the application data folder \"%1\"; "
                                             "use --db")
                                  .arg(dataDir));
        // The same file the window uses for this endpoint: both modes share the progress.
        settings.databasePath = Ui::AppSettings::databasePathFor(settings.endpoint, dataDir);
    }

    // The embedded server's URL is known only once it listens: check the rest meanwhile.
    SyncSettings checked = settings;
    if (checked.endpoint.isEmpty())
        checked.endpoint = QUrl(QStringLiteral("http://127.0.0.1/api/v1"));
    if (const QString problem = checked.validate(); !problem.isEmpty())
        return usageError(problem);

    if (settings.endpoint.isEmpty()) {
        if (dataDir.isEmpty() || !QDir().mkpath(dataDir))
            return usageError(
                QStringLiteral("cannot create the application data folder \"%1\"").arg(dataDir));
        options.demoDatabasePath = dataDir + QStringLiteral("/demo-server.sqlite");
    }

    options.liveDisplay = ::isatty(STDERR_FILENO) && qgetenv("TERM") != "dumb";
    // The core's messages are for developers, and its warnings repeat what the engine's
    // signals already tell the user; QT_LOGGING_RULES still wins.
    QLoggingCategory::setFilterRules(
        QStringLiteral("batchsync.*.info=false\nbatchsync.*.debug=false\n"
                       "batchsync.*.warning=false"));

    HeadlessRunner runner(options);
    TerminationSignals terminationSignals;
    QString signalError;
    if (!terminationSignals.install(&signalError))
        printTo(stderr, QStringLiteral("batchsync: warning: %1\n").arg(signalError));
    QObject::connect(&terminationSignals, &TerminationSignals::received, &runner,
                     &HeadlessRunner::interrupt);
    QObject::connect(&runner, &HeadlessRunner::finished, app.get(),
                     [](int exitCode) { QCoreApplication::exit(exitCode); });
    QMetaObject::invokeMethod(&runner, &HeadlessRunner::start, Qt::QueuedConnection);
    return QCoreApplication::exec();
}
