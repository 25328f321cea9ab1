// batchsync: the desktop app, and --headless for the terminal.

#include "appsettings.h"
#include "common/identifier.h"
#include "common/types.h"
#include "common/syncsettings.h"
#include "headless.h"
#include "localstatus.h"
#include "mainwindow.h"

#include <QApplication>
#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QSettings>
#include <QStandardPaths>
#include <QUrl>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <unistd.h>

#ifndef BATCHSYNC_VERSION
#define BATCHSYNC_VERSION "0.1.0"
#endif

using namespace BatchSync;

namespace {

constexpr int ExitFailure = 1;
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
               "\nSettings: --headless and --status start from the settings the desktop window "
               "saved in\n  %3\n(endpoint, token, paging, batch size, adaptive batch size "
               "and its target, concurrency).\nThe flags override them for this run only and "
               "are never saved. Without a saved endpoint or\n--endpoint, "
               "batchsync starts its embedded demo server on 127.0.0.1, with its data in the\n"
               "application data folder, and syncs from it.\n"
               "Defaults when nothing is saved: --paging cursor, --batch-size %1, --concurrency "
               "%2.\n"
               "\nEnvironment:\n"
               "  BATCHSYNC_TOKEN   Bearer token, used when --token is not given (before the "
               "saved one).\n"
               "                    Prefer it to --token, which other users may see in the "
               "process list.\n"
               "  QT_LOGGING_RULES  The library's log for developers, on standard error, by "
               "category:\n"
               "                    batchsync.protocol, batchsync.store, batchsync.engine, "
               "batchsync.server\n"
               "                    e.g. QT_LOGGING_RULES=\"batchsync.*.debug=true\".\n"
               "\nOutput (--progress):\n"
               "  auto   a live per-entity display on standard error when it is a terminal, "
               "plain lines\n"
               "         otherwise (the default); the summary goes to standard output.\n"
               "  plain  state changes, and progress every 2 s, as lines on standard error.\n"
               "  json   one JSON object per line on standard output, and nothing on standard "
               "error\n"
               "         (bad options excepted: exit status 2 and a message there). Events:\n"
               "    {\"event\":\"start\", endpoint, demo, database, paging, batchSize, "
               "adaptiveBatchSize,\n"
               "     targetBatchMs, concurrency, entities (null: all)}\n"
               "    {\"event\":\"state\", entity, state, done, total}\n"
               "    {\"event\":\"progress\", entity, state, done, total, rate (records/s),\n"
               "     etaSeconds (null: unknown)}, at most ~20 a second per entity\n"
               "    {\"event\":\"retry\", entity (null: the endpoint), attempt, delayMs, reason}\n"
               "    {\"event\":\"error\", entity (null: the endpoint), category, message}\n"
               "    {\"event\":\"interrupted\", signal (\"SIGINT\" or \"SIGTERM\"), immediate}\n"
               "    {\"event\":\"summary\", exitCode, records, elapsedMs, rate, interruptedBy "
               "(null or\n"
               "     the signal), entities: [{entity, state, done, total, synced, elapsedMs, "
               "error}],\n"
               "     endpointErrors: [{category, message}]}, always the last line.\n"
               "    state: idle, queued, counting, running, paused, completed or failed; "
               "category:\n"
               "    network, auth, request, protocol, storage, aborted, or server (the "
               "embedded server);\n"
               "    error: null or {category, message}.\n"
               "  --quiet: nothing on standard output or standard error but errors.\n"
               "\n--status: each entity's saved state in the local database (--db, or the "
               "endpoint's own),\nread without contacting the server and without changing the "
               "file: state, done/total,\nrecords stored, paging mode, last completed sync, "
               "whether a run is in progress or\npaused, and the error of a failed entity. With "
               "--progress json, one line:\n"
               "    {\"event\":\"status\", database, entities: [{entity, state, done, total, "
               "records,\n"
               "     paging, lastCompletedAt (null: never), runActive, error}], missing: "
               "[names]}\n"
               "\nExit status:\n"
               "  0    every entity synced (--status: the state was read)\n"
               "  1    an entity or the endpoint failed (--status: no local database, or not "
               "readable)\n"
               "  2    bad options\n"
               "  130  interrupted by SIGINT, 143 by SIGTERM: the sync is paused, its progress "
               "saved,\n"
               "       and the next run resumes it.\n")
        .arg(defaults.batchSize)
        .arg(defaults.concurrency)
        .arg(QDir::toNativeSeparators(QSettings().fileName()));
}

// The window needs a QApplication (and a display); the headless sync, --help and --version
// must work without one, so the choice is made before any application object exists.
bool wantsWindow(int argc, char *argv[])
{
    for (int i = 1; i < argc; ++i) {
        const QByteArray arg(argv[i]);
        if (arg == "--headless" || arg == "--status" || arg == "-h" || arg == "--help"
            || arg == "--version")
            return false;
    }
    return true;
}

// What the command line says, checked; each field is set only when its flag is given.
struct Flags
{
    std::optional<QUrl> endpoint;
    std::optional<QString> token; // --token, else BATCHSYNC_TOKEN
    std::optional<PagingMode> paging;
    std::optional<int> batchSize;
    std::optional<bool> adaptiveBatchSize;
    std::optional<int> targetBatchMs;
    std::optional<int> concurrency;
    std::optional<int> retryGiveUpMs;
    std::optional<QString> databasePath; // absolute
    QStringList entities;
};

// The settings the window saved, then the flags on top of them.
SyncSettings mergedSettings(const Ui::AppSettings &saved, const Flags &flags)
{
    SyncSettings settings;
    settings.endpoint = flags.endpoint.value_or(saved.endpoint());
    settings.token = flags.token.value_or(saved.token());
    settings.paging = flags.paging.value_or(saved.paging());
    settings.batchSize = flags.batchSize.value_or(saved.batchSize());
    settings.adaptiveBatchSize = flags.adaptiveBatchSize.value_or(saved.adaptiveBatchSize());
    settings.targetBatchMs = flags.targetBatchMs.value_or(saved.targetBatchMs());
    settings.concurrency = flags.concurrency.value_or(saved.concurrency());
    if (flags.retryGiveUpMs)
        settings.retryGiveUpMs = *flags.retryGiveUpMs;
    return settings;
}

// Why \a settings cannot be used, if they cannot; the embedded server's URL is known only
// once it listens, so an empty endpoint stands for any valid one here.
QString problemWith(SyncSettings settings)
{
    if (settings.endpoint.isEmpty())
        settings.endpoint = QUrl(QStringLiteral("http://127.0.0.1/api/v1"));
    if (settings.databasePath.isEmpty())
        settings.databasePath = QStringLiteral("checked");
    return settings.validate();
}

QString targetNeedsAdaptive()
{
    return QStringLiteral("--batch-target-ms needs an adaptive batch size: add --batch-size "
                          "adaptive");
}

int printStatus(const QString &databasePath, const QStringList &entities, ProgressOutput output)
{
    QString error;
    const std::optional<QList<EntityReport>> read = LocalStatus::read(databasePath, &error);
    if (!read) {
        if (output == ProgressOutput::Json) {
            const QByteArray line = jsonEventLine(
                QStringLiteral("error"),
                { { QStringLiteral("entity"), QJsonValue::Null },
                  { QStringLiteral("category"), errorCategoryName(ErrorCategory::Storage) },
                  { QStringLiteral("message"), error } });
            std::fwrite(line.constData(), 1, size_t(line.size()), stdout);
            std::fflush(stdout);
        } else {
            printTo(stderr, QStringLiteral("batchsync: %1\n").arg(error));
        }
        return ExitFailure;
    }
    QList<EntityReport> shown;
    QStringList missing;
    for (const EntityReport &report : *read) {
        if (entities.isEmpty() || entities.contains(report.stored.schema.name))
            shown.append(report);
    }
    for (const QString &name : entities) {
        const bool found = std::any_of(shown.cbegin(), shown.cend(), [&](const EntityReport &r) {
            return r.stored.schema.name == name;
        });
        if (!found)
            missing.append(name);
    }
    switch (output) {
    case ProgressOutput::Json: {
        QJsonObject fields = LocalStatus::json(databasePath, shown);
        fields.insert(QStringLiteral("missing"), QJsonArray::fromStringList(missing));
        const QByteArray line = jsonEventLine(QStringLiteral("status"), fields);
        std::fwrite(line.constData(), 1, size_t(line.size()), stdout);
        std::fflush(stdout);
        break;
    }
    case ProgressOutput::Quiet:
        break;
    case ProgressOutput::Live:
    case ProgressOutput::Plain: {
        QString text = LocalStatus::text(databasePath, shown);
        if (!missing.isEmpty()) {
            text += QStringLiteral("Never synced into this database: %1\n")
                        .arg(missing.join(QStringLiteral(", ")));
        }
        printTo(stdout, text);
        break;
    }
    }
    return 0;
}

} // namespace

int main(int argc, char *argv[])
{
    const bool window = wantsWindow(argc, argv);
    std::unique_ptr<QCoreApplication> app = window ? std::make_unique<QApplication>(argc, argv)
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
    const QCommandLineOption statusOption(
        QStringLiteral("status"),
        QStringLiteral("Shows each entity's saved state in the local database, without "
                       "contacting the server or syncing, and exits."));
    const QCommandLineOption endpointOption(
        QStringLiteral("endpoint"),
        QStringLiteral("Protocol v1 base URL (http or https), e.g. "
                       "http://127.0.0.1:8080/api/v1. Default: the saved one, else the "
                       "embedded demo server."),
        QStringLiteral("URL"));
    const QCommandLineOption dbOption(
        QStringLiteral("db"),
        QStringLiteral("The local SQLite database. Default: the endpoint's own, shared with "
                       "the window, in the application data folder (demo.sqlite for the "
                       "demo)."),
        QStringLiteral("PATH"));
    const QCommandLineOption tokenOption(
        QStringLiteral("token"),
        QStringLiteral("Bearer token for the endpoint. Default: $BATCHSYNC_TOKEN, else the "
                       "saved one."),
        QStringLiteral("T"));
    const QCommandLineOption pagingOption(
        QStringLiteral("paging"),
        QStringLiteral("\"cursor\" (default; cannot miss changes made during a sync) or "
                       "\"offset\" (for endpoints that only page by offset)."),
        QStringLiteral("cursor|offset"));
    const QCommandLineOption batchSizeOption(
        QStringLiteral("batch-size"),
        QStringLiteral("Records per request, %1 to %2 (default %3); \"adaptive\" starts from "
                       "the saved or default size and sizes each batch to take about "
                       "--batch-target-ms.")
            .arg(SyncSettings::MinBatchSize)
            .arg(SyncSettings::MaxBatchSize)
            .arg(SyncSettings::DefaultBatchSize),
        QStringLiteral("N|adaptive"));
    const QCommandLineOption batchTargetOption(
        QStringLiteral("batch-target-ms"),
        QStringLiteral("The duration an adaptive batch aims for, %1 to %2 ms (default %3); "
                       "needs an adaptive batch size.")
            .arg(SyncSettings::MinTargetBatchMs)
            .arg(SyncSettings::MaxTargetBatchMs)
            .arg(SyncSettings::DefaultTargetBatchMs),
        QStringLiteral("MS"));
    const QCommandLineOption concurrencyOption(
        QStringLiteral("concurrency"),
        QStringLiteral("Entities syncing at once, 1 to %1 (default %2).")
            .arg(SyncSettings::MaxConcurrency)
            .arg(defaults.concurrency),
        QStringLiteral("N"));
    const QCommandLineOption entitiesOption(
        QStringLiteral("entities"),
        QStringLiteral("Comma-separated entities to sync (or show), e.g. customers,orders. "
                       "Default: every entity the endpoint reports."),
        QStringLiteral("a,b"));
    const QCommandLineOption progressOption(
        QStringLiteral("progress"),
        QStringLiteral("How progress is shown: \"auto\" (default), \"plain\" or \"json\" (see "
                       "Output below)."),
        QStringLiteral("auto|plain|json"));
    const QCommandLineOption quietOption(
        QStringLiteral("quiet"),
        QStringLiteral("Prints nothing but errors; the exit status tells the outcome."));
    const QCommandLineOption retryGiveUpOption(
        QStringLiteral("retry-give-up-ms"),
        QStringLiteral("Advanced: how long a failing request is retried before its entity "
                       "fails, in ms (default %1).")
            .arg(defaults.retryGiveUpMs),
        QStringLiteral("MS"));
    parser.addOptions({ helpOption, versionOption, headlessOption, statusOption, endpointOption,
                        dbOption, tokenOption, pagingOption, batchSizeOption, batchTargetOption,
                        concurrencyOption, entitiesOption, progressOption, quietOption,
                        retryGiveUpOption });

    if (!parser.parse(QCoreApplication::arguments()))
        return usageError(parser.errorText());
    if (parser.isSet(helpOption)) {
        // Qt's first line names the binary's full path; the rest is the option list.
        QString help = parser.helpText();
        help.replace(0, help.indexOf(QLatin1Char('\n')),
                     QStringLiteral("Usage: batchsync [--headless | --status] [options]\n\n"
                                    "Without --headless or --status, opens the desktop window; "
                                    "the options then\noverride the saved settings for this "
                                    "session."));
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

    Flags flags;
    if (parser.isSet(endpointOption)) {
        const QString text = parser.value(endpointOption).trimmed();
        const QUrl endpoint(text, QUrl::StrictMode);
        if (endpoint.isValid() && !endpoint.isRelative() && endpoint.host().isEmpty())
            return usageError(QStringLiteral("the endpoint \"%1\" names no host").arg(text));
        if (endpoint.isEmpty())
            return usageError(QStringLiteral("--endpoint needs a URL"));
        flags.endpoint = endpoint;
    }

    if (parser.isSet(tokenOption))
        flags.token = parser.value(tokenOption);
    else if (qEnvironmentVariableIsSet("BATCHSYNC_TOKEN"))
        flags.token = qEnvironmentVariable("BATCHSYNC_TOKEN");

    if (parser.isSet(pagingOption)) {
        const QString text = parser.value(pagingOption);
        const std::optional<PagingMode> mode = pagingModeFromName(text.trimmed().toLower());
        if (!mode)
            return usageError(
                QStringLiteral("--paging must be \"cursor\" or \"offset\", not \"%1\"").arg(text));
        flags.paging = *mode;
    }

    if (parser.isSet(batchSizeOption)
        && parser.value(batchSizeOption).trimmed().compare(u"adaptive", Qt::CaseInsensitive) == 0) {
        flags.adaptiveBatchSize = true;
    } else if (parser.isSet(batchSizeOption)) {
        flags.adaptiveBatchSize = false; // a number is a fixed size
    }

    const std::pair<const QCommandLineOption *, std::optional<int> *> numbers[] = {
        { &batchSizeOption, &flags.batchSize },
        { &batchTargetOption, &flags.targetBatchMs },
        { &concurrencyOption, &flags.concurrency },
        { &retryGiveUpOption, &flags.retryGiveUpMs },
    };
    for (const auto &[option, target] : numbers) {
        if (!parser.isSet(*option) || (option == &batchSizeOption && *flags.adaptiveBatchSize))
            continue;
        const QString text = parser.value(*option);
        const std::optional<int> value = parseInt(text);
        if (!value) {
            return usageError(QStringLiteral("--%1 needs a whole number%2, not \"%3\"")
                                  .arg(option->names().constFirst(),
                                       option == &batchSizeOption
                                           ? QStringLiteral(" or \"adaptive\"")
                                           : QString(),
                                       text));
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
            if (!flags.entities.contains(name))
                flags.entities.append(name);
        }
        if (flags.entities.isEmpty())
            return usageError(QStringLiteral("--entities needs at least one entity name"));
    }

    if (parser.isSet(dbOption)) {
        const QString path = parser.value(dbOption);
        if (path.trimmed().isEmpty())
            return usageError(QStringLiteral("--db needs a file path"));
        const QFileInfo info(path);
        if (!info.absoluteDir().exists()) {
            return usageError(QStringLiteral("the folder of --db \"%1\" does not exist")
                                  .arg(info.absolutePath()));
        }
        flags.databasePath = info.absoluteFilePath();
    }

    ProgressOutput output = ProgressOutput::Plain;
    if (parser.isSet(quietOption)) {
        if (parser.isSet(progressOption))
            return usageError(QStringLiteral("--quiet shows no progress: leave out --progress"));
        output = ProgressOutput::Quiet;
    } else {
        const QString mode = parser.isSet(progressOption)
            ? parser.value(progressOption).trimmed().toLower()
            : QStringLiteral("auto");
        if (mode == QLatin1String("json")) {
            output = ProgressOutput::Json;
        } else if (mode == QLatin1String("plain")) {
            output = ProgressOutput::Plain;
        } else if (mode == QLatin1String("auto")) {
            output = ::isatty(STDERR_FILENO) && qgetenv("TERM") != "dumb" ? ProgressOutput::Live
                                                                          : ProgressOutput::Plain;
        } else {
            return usageError(
                QStringLiteral("--progress must be \"auto\", \"plain\" or \"json\", not \"%1\"")
                    .arg(parser.value(progressOption)));
        }
    }

    if (window) {
        for (const QCommandLineOption *option :
             { &entitiesOption, &retryGiveUpOption, &progressOption, &quietOption }) {
            if (parser.isSet(*option)) {
                return usageError(
                    QStringLiteral("--%1 needs --headless").arg(option->names().constFirst()));
            }
        }
        // Flags override the saved settings for this session only.
        Ui::DesktopOptions desktop = Ui::DesktopOptions::fromSettings(Ui::AppSettings::load());
        desktop.endpoint = flags.endpoint.value_or(desktop.endpoint);
        desktop.token = flags.token.value_or(desktop.token);
        desktop.paging = flags.paging.value_or(desktop.paging);
        desktop.batchSize = flags.batchSize.value_or(desktop.batchSize);
        desktop.adaptiveBatchSize = flags.adaptiveBatchSize.value_or(desktop.adaptiveBatchSize);
        desktop.targetBatchMs = flags.targetBatchMs.value_or(desktop.targetBatchMs);
        desktop.concurrency = flags.concurrency.value_or(desktop.concurrency);
        if (flags.databasePath)
            desktop.databasePath = *flags.databasePath;
        if (parser.isSet(batchTargetOption) && !desktop.adaptiveBatchSize)
            return usageError(targetNeedsAdaptive());
        SyncSettings checked;
        checked.endpoint = desktop.endpoint;
        checked.batchSize = desktop.batchSize;
        checked.adaptiveBatchSize = desktop.adaptiveBatchSize;
        checked.targetBatchMs = desktop.targetBatchMs;
        checked.concurrency = desktop.concurrency;
        if (const QString problem = problemWith(checked); !problem.isEmpty())
            return usageError(problem);
        return Ui::runDesktop(desktop);
    }

    // --headless and --status: the window's saved settings, under the flags.
    const Ui::AppSettings saved = Ui::AppSettings::load();
    SyncSettings settings = mergedSettings(saved, flags);
    if (parser.isSet(batchTargetOption) && !settings.adaptiveBatchSize)
        return usageError(targetNeedsAdaptive());
    const QString dataDir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);

    if (parser.isSet(statusOption)) {
        // Reading must change nothing on disk: not even the data folder is created.
        const QString path = flags.databasePath.value_or(
            QDir(dataDir).filePath(Ui::AppSettings::databaseFileNameFor(settings.endpoint)));
        return printStatus(path, flags.entities, output);
    }

    if (const QString problem = problemWith(settings); !problem.isEmpty()) {
        // Name the settings file when its values, not the flags, are what is wrong.
        if (problemWith(mergedSettings(Ui::AppSettings(), flags)).isEmpty()) {
            return usageError(QStringLiteral("%1, in the settings saved by the window (%2): "
                                             "change them there, or override them with a flag")
                                  .arg(problem, QDir::toNativeSeparators(QSettings().fileName())));
        }
        return usageError(problem);
    }

    HeadlessOptions options;
    options.entities = flags.entities;
    options.output = output;
    if (flags.databasePath) {
        settings.databasePath = *flags.databasePath;
    } else {
        if (dataDir.isEmpty() || !QDir().mkpath(dataDir))
            return usageError(QStringLiteral("cannot create the application data folder \"%1\"; "
                                             "use --db")
                                  .arg(dataDir));
        // The same file the window uses for this endpoint: both modes share the progress.
        settings.databasePath = Ui::AppSettings::databasePathFor(settings.endpoint, dataDir);
    }
    if (settings.endpoint.isEmpty()) {
        if (dataDir.isEmpty() || !QDir().mkpath(dataDir))
            return usageError(
                QStringLiteral("cannot create the application data folder \"%1\"").arg(dataDir));
        options.demoDatabasePath = dataDir + QStringLiteral("/demo-server.sqlite");
    }
    options.settings = settings;

    // The core's messages are for developers, and its warnings repeat what the engine's
    // signals already tell the user; QT_LOGGING_RULES still wins.
    QLoggingCategory::setFilterRules(
        QStringLiteral("batchsync.*.info=false\nbatchsync.*.debug=false\n"
                       "batchsync.*.warning=false"));

    HeadlessRunner runner(options);
    TerminationSignals terminationSignals;
    QString signalError;
    if (!terminationSignals.install(&signalError) && output != ProgressOutput::Json)
        printTo(stderr, QStringLiteral("batchsync: warning: %1\n").arg(signalError));
    QObject::connect(&terminationSignals, &TerminationSignals::received, &runner,
                     &HeadlessRunner::interrupt);
    QObject::connect(&runner, &HeadlessRunner::finished, app.get(),
                     [](int exitCode) { QCoreApplication::exit(exitCode); });
    QMetaObject::invokeMethod(&runner, &HeadlessRunner::start, Qt::QueuedConnection);
    return QCoreApplication::exec();
}
