#include "cli.h"

#include "common/identifier.h"
#include "output/console.h"
#include "shared/options.h"
#include "shared/secrettext.h"
#include "sources/http/transport.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QUrl>
#include <unistd.h>

namespace BatchSync::Cli {

namespace {

QString epilogue()
{
    const SyncSettings defaults;
    return QStringLiteral(
               "\nSettings: --headless and --status start from the settings the desktop window "
               "saved in\n  %3\n(source, endpoint, user, CA certificate, plain http allowed, "
               "change-time properties, safety window,\npaging, batch size, adaptive batch size "
               "and its "
               "target, concurrency,\ndirection, conflict policies).\nThe flags override them for "
               "this run only and are never saved.\n"
               "The window keeps the token and the password in the OS keychain, which a "
               "headless run\nreads when neither a flag nor the environment gives them; without "
               "a keychain (a server\nwithout a desktop session), give them with --token-file, "
               "--password-file or the\nenvironment (below).\nWithout a saved endpoint or "
               "--endpoint, batchsync starts its embedded demo server on\n127.0.0.1, with its "
               "data in the "
               "application data folder, and syncs from it.\n"
               "\nOData services (--source odata): --endpoint is the service root URL, e.g.\n"
               "  batchsync --headless --source odata --endpoint "
               "http://127.0.0.1:4004/odata/v4/shop/ \\\n"
               "            --user alice --password-file ~/.shop-password --changed-field "
               "modifiedAt\n"
               "Authentication is HTTP Basic (--user, the password from --password-file or\n"
               "BATCHSYNC_PASSWORD: never on the command line) or a bearer token (--token-file,\n"
               "BATCHSYNC_TOKEN or --token); either one given for a run replaces the saved one.\n"
               "Defaults when nothing is saved: --paging cursor, --batch-size %1, --concurrency "
               "%2.\n"
               "\nEnvironment:\n"
               "  BATCHSYNC_TOKEN   Bearer token, used when neither --token nor --token-file "
               "is given.\n"
               "                    Prefer it (or --token-file) to --token, which other users "
               "may see in\n                    the process list.\n"
               "                    Not used with --user.\n"
               "  BATCHSYNC_PASSWORD  The Basic password of --user (or of the saved user), when "
               "--password-file\n"
               "                    is not given.\n"
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
               "    {\"event\":\"start\", source (batchsync or odata), endpoint, demo, database, "
               "paging\n     (keyset for odata), "
               "batchSize, adaptiveBatchSize, targetBatchMs, concurrency, entities\n     (null: "
               "all), "
               "authentication (none, basic or bearer; never the secret); with odata\n"
               "     also user (null: none), changeTimeProperties {set: property, \"*\": every "
               "other set},\n     safetyWindowSeconds}; direction (both, pull or push), conflicts "
               "{\"*\": the "
               "policy of\n     every entity, entity: its own}\n"
               "    {\"event\":\"state\", entity, state, done, total}\n"
               "    {\"event\":\"phase\", entity, phase (push, changes, reload or deletions)}: "
               "done and total\n     now count that phase's records\n"
               "    {\"event\":\"push\", entity, done, total}: local changes sent, of those "
               "pending, in place\n     of \"progress\" while the entity pushes\n"
               "    {\"event\":\"pushed\", entity, applied, conflicts, rejected}: how its push "
               "ended\n"
               "    {\"event\":\"progress\", entity, state, done, total, rate (records/s),\n"
               "     etaSeconds (null: unknown), overall {done, total, rate, etaSeconds} of\n"
               "     the whole sync}, at most ~20 a second per entity\n"
               "    {\"event\":\"retry\", entity (null: the endpoint), attempt, delayMs, reason}\n"
               "    {\"event\":\"error\", entity (null: the endpoint), category, message}\n"
               "    {\"event\":\"interrupted\", signal (\"SIGINT\" or \"SIGTERM\"), immediate}\n"
               "    {\"event\":\"summary\", exitCode, records (pulled: changed, added or deleted), "
               "pushed,\n     conflicts, rejected, elapsedMs, rate, interruptedBy (null or the "
               "signal),\n     entities: [{entity, state, done, total, synced, pushed, "
               "conflicts, rejected,\n     elapsedMs, error}], endpointErrors: [{category, "
               "message}]}, always the last line.\n"
               "    state: idle, queued, counting, running, paused, completed or failed; "
               "category:\n"
               "    network, auth, request, protocol, storage, aborted, or server (the "
               "embedded server);\n"
               "    error: null or {category, message}.\n"
               "  --quiet: nothing on standard output or standard error but errors.\n"
               "\n--status: each entity's saved state in the local database (--db, or the "
               "endpoint's own),\nread without contacting the server and without changing the "
               "file: state, done/total,\nrecords stored, paging mode, last completed sync, "
               "whether a run is in progress or\npaused, the error of a failed entity, its local "
               "changes not pushed yet (new,\nchanged, deleted) and its open conflicts "
               "(conflict, rejected). With --progress json,\none line:\n"
               "    {\"event\":\"status\", database, entities: [{entity, state, done, total, "
               "records,\n"
               "     paging, lastCompletedAt (null: never), runActive, error, pending {new, "
               "changed,\n     deleted}, conflicts {conflict, rejected}}], missing: [names]}\n"
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
        .arg(App::Profile::settingsFile());
}

QList<App::OptionSpec> options()
{
    const SyncSettings defaults;
    return {
        { { QStringLiteral("h"), QStringLiteral("help") },
          QString(),
          QStringLiteral("Shows this help and exits.") },
        { { QStringLiteral("version") },
          QString(),
          QStringLiteral("Shows the version and exits.") },
        { { QStringLiteral("headless") },
          QString(),
          QStringLiteral("Syncs from the command line, without a window.") },
        { { QStringLiteral("status") },
          QString(),
          QStringLiteral("Shows each entity's saved state in the local database, without "
                         "contacting the server or syncing, and exits.") },
        { { QStringLiteral("source") },
          QStringLiteral("batchsync|odata"),
          QStringLiteral("What speaks at the endpoint: \"batchsync\" (default), a BatchSync "
                         "server, or \"odata\", an OData v4 service. Default: the saved one.") },
        { { QStringLiteral("endpoint") },
          QStringLiteral("URL"),
          QStringLiteral("Protocol v1 base URL (http or https), e.g. "
                         "http://127.0.0.1:8080/api/v1; with --source odata, the service root "
                         "URL, e.g. http://127.0.0.1:4004/odata/v4/shop/. Default: the saved "
                         "one, else the embedded demo server (BatchSync only).") },
        { { QStringLiteral("db") },
          QStringLiteral("PATH"),
          QStringLiteral("The local SQLite database. Default: the endpoint's own, shared with "
                         "the window, in the application data folder (demo.sqlite for the "
                         "demo).") },
        { { QStringLiteral("token") },
          QStringLiteral("T"),
          QStringLiteral("Bearer token for the endpoint; not with --user. Other users can see "
                         "it in the process list: prefer --token-file or $BATCHSYNC_TOKEN. "
                         "Default: $BATCHSYNC_TOKEN, else the window's (in the OS keychain).") },
        { { QStringLiteral("token-file") },
          QStringLiteral("F"),
          QStringLiteral("A file whose first line is the bearer token; not with --token or "
                         "--user.") },
        { { QStringLiteral("ca-cert") },
          QStringLiteral("FILE"),
          QStringLiteral("Trust the certificate authorities in this PEM file, instead of the "
                         "system's, for an https endpoint (a private CA, a self-signed "
                         "server). Default: the saved one.") },
        { { QStringLiteral("allow-insecure-http") },
          QString(),
          QStringLiteral("Send the token or password over plain http to a host that is not "
                         "this machine (127.0.0.1, localhost), where anyone on the way can read "
                         "them. Refused without it.") },
        { { QStringLiteral("user") },
          QStringLiteral("U"),
          QStringLiteral("OData: the user name for HTTP Basic authentication; the password "
                         "comes from --password-file or $BATCHSYNC_PASSWORD, never from the "
                         "command line. Not with --token. Default: the saved one.") },
        { { QStringLiteral("password-file") },
          QStringLiteral("F"),
          QStringLiteral("OData: a file whose first line is the password of --user (or of the "
                         "saved user). Default: $BATCHSYNC_PASSWORD, else the window's (in "
                         "the OS keychain).") },
        { { QStringLiteral("changed-field") },
          QStringLiteral("PROP|set=PROP,..."),
          QStringLiteral("OData: the change-time property of every set (PROP), of named sets "
                         "(set=PROP), or both, e.g. modifiedAt,Orders=changedOn; may be "
                         "repeated. Default: the saved ones, else found by name (modifiedAt, "
                         "changedDate, ...).") },
        { { QStringLiteral("safety-window") },
          QStringLiteral("SECONDS"),
          QStringLiteral("OData: how far before its position an incremental sync reads again, "
                         "for records committed late, 0 to %1 s (default %2).")
              .arg(SyncSettings::MaxSafetyWindowSeconds)
              .arg(SyncSettings::DefaultSafetyWindowSeconds) },
        { { QStringLiteral("paging") },
          QStringLiteral("cursor|offset"),
          QStringLiteral(
              "\"cursor\" (default; cannot miss changes made during a sync) or "
              "\"offset\" (for endpoints that only page by offset). BatchSync servers only: "
              "an OData service is read in keyset pages.") },
        { { QStringLiteral("batch-size") },
          QStringLiteral("N|adaptive"),
          QStringLiteral("Records per request, %1 to %2 (default %3); \"adaptive\" starts from "
                         "the saved or default size and sizes each batch to take about "
                         "--batch-target-ms.")
              .arg(SyncSettings::MinBatchSize)
              .arg(SyncSettings::MaxBatchSize)
              .arg(SyncSettings::DefaultBatchSize) },
        { { QStringLiteral("batch-target-ms") },
          QStringLiteral("MS"),
          QStringLiteral("The duration an adaptive batch aims for, %1 to %2 ms (default %3); "
                         "needs an adaptive batch size.")
              .arg(SyncSettings::MinTargetBatchMs)
              .arg(SyncSettings::MaxTargetBatchMs)
              .arg(SyncSettings::DefaultTargetBatchMs) },
        { { QStringLiteral("concurrency") },
          QStringLiteral("N"),
          QStringLiteral("Entities syncing at once, 1 to %1 (default %2).")
              .arg(SyncSettings::MaxConcurrency)
              .arg(defaults.concurrency) },
        { { QStringLiteral("direction") },
          QStringLiteral("both|pull|push"),
          QStringLiteral("\"both\" (default): each entity's local changes are pushed, then the "
                         "server's pulled; \"pull\": only pull (local changes stay pending); "
                         "\"push\": only push. Default: the saved one.") },
        { { QStringLiteral("conflicts") },
          QStringLiteral("POLICY|entity=POLICY"),
          QStringLiteral("What a push does when the server's record changed since the local "
                         "edit: \"server-wins\" (default; the server's record replaces the "
                         "local one) or \"client-wins\" (the local record is sent once more, on "
                         "top of the server's). A bare POLICY is for every entity, "
                         "entity=POLICY for one (e.g. server-wins,orders=client-wins); may be "
                         "repeated. Either way the conflict is kept in _sync_conflicts. "
                         "Default: the saved ones.") },
        { { QStringLiteral("entities") },
          QStringLiteral("a,b"),
          QStringLiteral("Comma-separated entities to sync (or show), e.g. customers,orders. "
                         "Default: every entity the endpoint reports.") },
        { { QStringLiteral("progress") },
          QStringLiteral("auto|plain|json"),
          QStringLiteral("How progress is shown: \"auto\" (default), \"plain\" or \"json\" (see "
                         "Output below).") },
        { { QStringLiteral("quiet") },
          QString(),
          QStringLiteral("Prints nothing but errors; the exit status tells the outcome.") },
        { { QStringLiteral("live") },
          QString(),
          QStringLiteral("With --headless: after the sync, stay in step until SIGINT or SIGTERM: "
                         "a change on the server is pulled within about a second (GET /wait), "
                         "local edits are pushed with it; a server that cannot tell of changes "
                         "is synced every minute, and a lost network is waited out.") },
        { { QStringLiteral("retry-give-up-ms") },
          QStringLiteral("MS"),
          QStringLiteral("Advanced: how long a failing request is retried before its entity "
                         "fails, in ms (default %1).")
              .arg(defaults.retryGiveUpMs) },
    };
}

// Each step reads its options into the command line; a non-empty result is a usage error.

QString readEndpoint(const QCommandLineParser &parser, CommandLine *command)
{
    if (!parser.isSet(QStringLiteral("endpoint")))
        return QString();
    const QString text = parser.value(QStringLiteral("endpoint")).trimmed();
    const QUrl endpoint(text, QUrl::StrictMode);
    if (endpoint.isValid() && !endpoint.isRelative() && endpoint.host().isEmpty())
        return QStringLiteral("the endpoint \"%1\" names no host").arg(App::printableUrl(text));
    if (endpoint.isEmpty())
        return QStringLiteral("--endpoint needs a URL");
    command->overrides.endpoint = endpoint;
    return QString();
}

QString readSource(const QCommandLineParser &parser, CommandLine *command)
{
    App::ProfileOverrides &flags = command->overrides;
    if (parser.isSet(QStringLiteral("source"))) {
        const QString text = parser.value(QStringLiteral("source"));
        flags.source = sourceKindFromName(text.trimmed().toLower());
        if (!flags.source)
            return QStringLiteral("--source must be \"batchsync\" or \"odata\", not \"%1\"")
                .arg(text);
    }
    const QString changed = QStringLiteral("changed-field");
    if (parser.isSet(changed)) {
        QString problem;
        flags.changeTimeProperties = App::Profile::parseChangeTimeProperties(
            parser.values(changed).join(QLatin1Char(',')), &problem);
        if (!problem.isEmpty())
            return QStringLiteral("--changed-field: %1").arg(problem);
        if (flags.changeTimeProperties->isEmpty())
            return QStringLiteral("--changed-field needs a property name, e.g. modifiedAt or "
                                  "Orders=changedOn");
    }
    const QString window = QStringLiteral("safety-window");
    if (parser.isSet(window)) {
        flags.safetyWindowSeconds
            = App::parseInteger(parser.value(window), 0, SyncSettings::MaxSafetyWindowSeconds);
        if (!flags.safetyWindowSeconds)
            return QStringLiteral("--safety-window needs a whole number of seconds from 0 to %1, "
                                  "not \"%2\"")
                .arg(SyncSettings::MaxSafetyWindowSeconds)
                .arg(parser.value(window));
    }
    for (const char *name : { "user", "password-file", "changed-field", "safety-window" }) {
        if (parser.isSet(QLatin1String(name)))
            command->odataFlags.append(QStringLiteral("--%1").arg(QLatin1String(name)));
    }
    return QString();
}

// Basic (--user) or a bearer token (--token, BATCHSYNC_TOKEN): the one given replaces the
// saved authentication for the run. Neither secret is ever quoted.
QString readAuthentication(const QCommandLineParser &parser, CommandLine *command)
{
    App::ProfileOverrides &flags = command->overrides;
    const QString tokenFile = QStringLiteral("token-file");
    if (parser.isSet(tokenFile) && parser.isSet(QStringLiteral("token")))
        return QStringLiteral("--token and --token-file: give one of them");
    const bool tokenFlag = parser.isSet(QStringLiteral("token")) || parser.isSet(tokenFile);
    if (parser.isSet(QStringLiteral("user"))) {
        if (tokenFlag)
            return QStringLiteral("--user (HTTP Basic) and --token (a bearer token) exclude each "
                                  "other: give one of them");
        const QString user = parser.value(QStringLiteral("user")).trimmed();
        if (user.isEmpty())
            return QStringLiteral("--user needs a user name");
        if (user.contains(QLatin1Char(':')))
            return QStringLiteral("--user: a user name for Basic authentication cannot contain "
                                  "':'");
        flags.user = user;
        flags.token = QString();
    } else if (parser.isSet(tokenFile)) {
        QString problem;
        flags.token = App::tokenFromFile(parser.value(tokenFile), &problem);
        if (!flags.token)
            return problem;
        flags.user = QString();
        flags.password = QString();
    } else if (const std::optional<QString> token = App::commandLineToken(parser)) {
        flags.token = *token;
        flags.user = QString();
        flags.password = QString();
    }
    const QString file = QStringLiteral("password-file");
    if (parser.isSet(file)) {
        if (tokenFlag)
            return QStringLiteral("--password-file goes with --user, not with --token");
        command->passwordFile = parser.value(file);
        QString problem;
        flags.password = App::passwordFromFile(*command->passwordFile, &problem);
        if (!flags.password)
            return problem;
    } else if (qEnvironmentVariableIsSet("BATCHSYNC_PASSWORD")) {
        flags.password = qEnvironmentVariable("BATCHSYNC_PASSWORD");
    }
    return QString();
}

// --ca-cert (read now, so that a wrong file is said before anything starts) and
// --allow-insecure-http.
QString readTransport(const QCommandLineParser &parser, CommandLine *command)
{
    App::ProfileOverrides &flags = command->overrides;
    if (parser.isSet(QStringLiteral("ca-cert"))) {
        const QString path = parser.value(QStringLiteral("ca-cert"));
        if (path.trimmed().isEmpty())
            return QStringLiteral("--ca-cert needs a PEM file");
        QString problem;
        if (!Http::readCaCertificates(path, &problem))
            return QStringLiteral("--ca-cert: %1").arg(problem);
        flags.caCertificateFile = QFileInfo(path).absoluteFilePath();
    }
    if (parser.isSet(QStringLiteral("allow-insecure-http")))
        flags.allowInsecureHttp = true;
    return QString();
}

QString readPaging(const QCommandLineParser &parser, CommandLine *command)
{
    if (!parser.isSet(QStringLiteral("paging")))
        return QString();
    const QString text = parser.value(QStringLiteral("paging"));
    const std::optional<PagingMode> mode = pagingModeFromName(text.trimmed().toLower());
    if (!mode)
        return QStringLiteral("--paging must be \"cursor\" or \"offset\", not \"%1\"").arg(text);
    command->overrides.paging = *mode;
    return QString();
}

QString readTwoWay(const QCommandLineParser &parser, CommandLine *command)
{
    App::ProfileOverrides &flags = command->overrides;
    if (parser.isSet(QStringLiteral("direction"))) {
        const QString text = parser.value(QStringLiteral("direction"));
        flags.direction = syncDirectionFromName(text.trimmed().toLower());
        if (!flags.direction)
            return QStringLiteral("--direction must be \"both\", \"pull\" or \"push\", not "
                                  "\"%1\"")
                .arg(text);
    }
    const QString conflicts = QStringLiteral("conflicts");
    if (parser.isSet(conflicts)) {
        QString problem;
        QMap<QString, ConflictPolicy> policies = App::Profile::parseConflictPolicies(
            parser.values(conflicts).join(QLatin1Char(',')), &problem);
        if (!problem.isEmpty())
            return QStringLiteral("--conflicts: %1").arg(problem);
        if (policies.isEmpty())
            return QStringLiteral("--conflicts needs a policy, e.g. client-wins or "
                                  "orders=client-wins");
        if (policies.contains(QString()))
            flags.conflictPolicy = policies.take(QString());
        flags.conflictPolicies = policies;
    }
    return QString();
}

QString readNumbers(const QCommandLineParser &parser, CommandLine *command)
{
    App::ProfileOverrides &flags = command->overrides;
    const QString batchSize = QStringLiteral("batch-size");
    if (parser.isSet(batchSize)) {
        // A number is a fixed size.
        flags.adaptiveBatchSize
            = parser.value(batchSize).trimmed().compare(u"adaptive", Qt::CaseInsensitive) == 0;
    }
    const std::pair<QString, std::optional<int> *> numbers[] = {
        { batchSize, &flags.batchSize },
        { QStringLiteral("batch-target-ms"), &flags.targetBatchMs },
        { QStringLiteral("concurrency"), &flags.concurrency },
        { QStringLiteral("retry-give-up-ms"), &command->retryGiveUpMs },
    };
    for (const auto &[name, target] : numbers) {
        if (!parser.isSet(name) || (name == batchSize && *flags.adaptiveBatchSize))
            continue;
        const QString text = parser.value(name);
        *target = App::parseInteger(text);
        if (!*target) {
            return QStringLiteral("--%1 needs a whole number%2, not \"%3\"")
                .arg(name, name == batchSize ? QStringLiteral(" or \"adaptive\"") : QString(),
                     text);
        }
    }
    return QString();
}

QString readEntities(const QCommandLineParser &parser, CommandLine *command)
{
    if (!parser.isSet(QStringLiteral("entities")))
        return QString();
    const QStringList names = parser.value(QStringLiteral("entities")).split(QLatin1Char(','));
    for (const QString &raw : names) {
        const QString name = raw.trimmed();
        if (name.isEmpty())
            continue;
        const QString problem = Identifier::check(name, u"entity");
        if (!problem.isEmpty())
            return QStringLiteral("--entities: %1").arg(problem);
        if (!command->entities.contains(name))
            command->entities.append(name);
    }
    if (command->entities.isEmpty())
        return QStringLiteral("--entities needs at least one entity name");
    return QString();
}

QString readDatabase(const QCommandLineParser &parser, CommandLine *command)
{
    if (!parser.isSet(QStringLiteral("db")))
        return QString();
    const QString path = parser.value(QStringLiteral("db"));
    if (path.trimmed().isEmpty())
        return QStringLiteral("--db needs a file path");
    const QFileInfo info(path);
    if (!info.absoluteDir().exists())
        return QStringLiteral("the folder of --db \"%1\" does not exist").arg(info.absolutePath());
    command->databasePath = info.absoluteFilePath();
    return QString();
}

QString readOutput(const QCommandLineParser &parser, CommandLine *command)
{
    command->live = parser.isSet(QStringLiteral("live"));
    const QString progress = QStringLiteral("progress");
    if (parser.isSet(QStringLiteral("quiet"))) {
        if (parser.isSet(progress))
            return QStringLiteral("--quiet shows no progress: leave out --progress");
        command->output = ProgressOutput::Quiet;
        return QString();
    }
    const QString mode = parser.isSet(progress) ? parser.value(progress).trimmed().toLower()
                                                : QStringLiteral("auto");
    if (mode == QLatin1String("json")) {
        command->output = ProgressOutput::Json;
    } else if (mode == QLatin1String("plain")) {
        command->output = ProgressOutput::Plain;
    } else if (mode == QLatin1String("auto")) {
        command->output = ::isatty(STDERR_FILENO) && qgetenv("TERM") != "dumb"
            ? ProgressOutput::Live
            : ProgressOutput::Plain;
    } else {
        return QStringLiteral("--progress must be \"auto\", \"plain\" or \"json\", not \"%1\"")
            .arg(parser.value(progress));
    }
    return QString();
}

QString checkMode(const QCommandLineParser &parser, CommandLine *command)
{
    if (command->mode != Mode::Window)
        return QString();
    for (const char *name : { "entities", "retry-give-up-ms", "progress", "quiet", "live" }) {
        if (parser.isSet(QLatin1String(name)))
            return QStringLiteral("--%1 needs --headless").arg(QLatin1String(name));
    }
    return QString();
}

} // namespace

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

int usageError(const QString &message)
{
    Output::writeTo(
        stderr,
        QStringLiteral("batchsync: %1\nRun \"batchsync --help\" for the options.\n").arg(message));
    return ExitUsage;
}

std::optional<CommandLine> parse(const QStringList &arguments, int *exitCode)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("BatchSync: keeps a local SQLite database in sync with a server, in "
                       "batches: pushes the local edits, then pulls the server's changes."));
    App::addOptions(parser, options());
    const auto fail = [exitCode](const QString &message) -> std::optional<CommandLine> {
        *exitCode = usageError(message);
        return std::nullopt;
    };
    // Before the parser, whose message would be "unknown option": say where a password goes.
    for (const QString &argument : arguments) {
        if (argument == QLatin1String("--password")
            || argument.startsWith(QLatin1String("--password="))) {
            return fail(QStringLiteral("a password is never taken on the command line, where "
                                       "other users can see it: use --password-file F (its "
                                       "first line) or the environment variable "
                                       "BATCHSYNC_PASSWORD"));
        }
    }
    if (!parser.parse(arguments))
        return fail(parser.errorText());
    if (parser.isSet(QStringLiteral("help"))) {
        // Qt's first line names the binary's full path; the rest is the option list.
        QString help = parser.helpText();
        help.replace(0, help.indexOf(QLatin1Char('\n')),
                     QStringLiteral("Usage: batchsync [--headless | --status] [options]\n\n"
                                    "Without --headless or --status, opens the desktop window; "
                                    "the options then\noverride the saved settings for this "
                                    "session."));
        Output::writeTo(stdout, help + epilogue());
        *exitCode = 0;
        return std::nullopt;
    }
    if (parser.isSet(QStringLiteral("version"))) {
        Output::writeTo(
            stdout, QStringLiteral("batchsync %1\n").arg(QCoreApplication::applicationVersion()));
        *exitCode = 0;
        return std::nullopt;
    }
    if (!parser.positionalArguments().isEmpty()) {
        return fail(QStringLiteral("unexpected argument \"%1\"")
                        .arg(parser.positionalArguments().constFirst()));
    }

    CommandLine command;
    if (parser.isSet(QStringLiteral("status")))
        command.mode = Mode::Status;
    else if (parser.isSet(QStringLiteral("headless")))
        command.mode = Mode::Headless;
    for (const auto step :
         { readSource, readAuthentication, readEndpoint, readTransport, readPaging, readTwoWay,
           readNumbers, readEntities, readDatabase, readOutput, checkMode }) {
        if (const QString problem = step(parser, &command); !problem.isEmpty())
            return fail(problem);
    }
    return command;
}

QString problemWith(const CommandLine &commandLine, const App::Profile &saved,
                    const QString &loadProblem)
{
    const App::ProfileOverrides &flags = commandLine.overrides;
    if (flags.targetBatchMs && !flags.appliedTo(saved).adaptiveBatchSize) {
        return QStringLiteral("--batch-target-ms needs an adaptive batch size: add --batch-size "
                              "adaptive");
    }
    if (commandLine.mode == Mode::Status)
        return QString(); // it reads what is there, whatever the settings say
    if (!loadProblem.isEmpty())
        return App::Profile::inSavedSettings(loadProblem, App::Profile::settingsFile(), false);
    const App::Profile run = flags.appliedTo(saved);
    if (run.source == SourceKind::Protocol && !commandLine.odataFlags.isEmpty()) {
        return QStringLiteral("%1 is for OData services: add --source odata (a BatchSync server "
                              "takes --token)")
            .arg(commandLine.odataFlags.constFirst());
    }
    if (run.source == SourceKind::OData) {
        if (flags.paging)
            return QStringLiteral("--paging is for BatchSync servers: an OData service is read "
                                  "in keyset pages on its change-time property");
        if (run.isEmbeddedDemo())
            return QStringLiteral("--source odata needs --endpoint with the service root URL, "
                                  "e.g. http://127.0.0.1:4004/odata/v4/shop/ (the embedded demo "
                                  "server speaks the BatchSync protocol)");
        if (commandLine.passwordFile && run.user.isEmpty())
            return QStringLiteral("--password-file needs a user: add --user");
        // The window asks for it in its settings instead.
        if (commandLine.mode == Mode::Headless && !run.user.isEmpty() && run.password.isEmpty())
            return QStringLiteral("no password for the user \"%1\": give --password-file F, or "
                                  "set BATCHSYNC_PASSWORD, or save it in the window's "
                                  "settings (the OS keychain keeps it)")
                .arg(run.user);
    }
    return flags.problemWith(saved, App::Profile::settingsFile());
}

} // namespace BatchSync::Cli
