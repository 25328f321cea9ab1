#include "headless.h"

#include "engine/syncengine.h"
#include "output/console.h"
#include "output/jsonevents.h"
#include "output/text.h"
#include "shared/demoendpoint.h"

#include <QJsonArray>
#include <QMetaEnum>
#include <QUrl>
#include <algorithm>
#include <csignal>

namespace BatchSync {

using namespace Output;

namespace {

constexpr int LiveRefreshMs = 100; // at most ~10 redraws per second
constexpr int PlainTickMs = 250;
constexpr int PlainLineIntervalMs = 2000; // one progress line per active entity this often
constexpr int InterruptGraceMs = 5000; // how long a pause may take before we stop anyway

bool isWorking(SyncState state)
{
    return state == SyncState::Counting || state == SyncState::Running;
}

QString signalName(int signalNumber)
{
    switch (signalNumber) {
    case SIGINT:
        return QStringLiteral("SIGINT");
    case SIGTERM:
        return QStringLiteral("SIGTERM");
    default:
        return QStringLiteral("signal %1").arg(signalNumber);
    }
}

// Adds the start event's fields on the source (what it is and how it authenticates, never
// the password nor the token themselves) and on the way it syncs.
void addSourceFields(const SyncSettings &settings, QJsonObject *fields)
{
    const QString authentication = !settings.user.isEmpty() ? QStringLiteral("basic")
        : !settings.token.isEmpty()                         ? QStringLiteral("bearer")
                                                            : QStringLiteral("none");
    fields->insert(QStringLiteral("source"), sourceKindName(settings.source));
    fields->insert(QStringLiteral("authentication"), authentication);
    fields->insert(QStringLiteral("direction"), syncDirectionName(settings.direction));
    QJsonObject conflicts { { QStringLiteral("*"), conflictPolicyName(settings.conflictPolicy) } };
    for (auto it = settings.conflictPolicies.cbegin(); it != settings.conflictPolicies.cend(); ++it)
        conflicts.insert(it.key(), conflictPolicyName(it.value()));
    fields->insert(QStringLiteral("conflicts"), conflicts);
    if (settings.source != SourceKind::OData)
        return;
    QJsonObject properties;
    for (auto it = settings.changeTimeProperties.cbegin();
         it != settings.changeTimeProperties.cend(); ++it)
        properties.insert(it.key().isEmpty() ? QStringLiteral("*") : it.key(), it.value());
    fields->insert(QStringLiteral("user"),
                   settings.user.isEmpty() ? QJsonValue(QJsonValue::Null)
                                           : QJsonValue(settings.user));
    fields->insert(QStringLiteral("changeTimeProperties"), properties);
    fields->insert(QStringLiteral("safetyWindowSeconds"), settings.safetyWindowSeconds);
}

} // namespace

HeadlessRunner::HeadlessRunner(const HeadlessOptions &options, QObject *parent)
    : QObject(parent)
    , m_options(options)
    , m_settings(options.settings)
{
    m_previousMessageHandler = qInstallMessageHandler(routeMessage);
    connect(&m_tick, &QTimer::timeout, this, &HeadlessRunner::onTick);
    m_interruptDeadline.setSingleShot(true);
    connect(&m_interruptDeadline, &QTimer::timeout, this, [this] {
        printLine(QStringLiteral("The sync did not pause in time; stopping it now (nothing "
                                 "committed is lost)."));
        conclude();
    });
}

HeadlessRunner::~HeadlessRunner()
{
    // Before the embedded server stops: its requests go there.
    m_engine.reset();
    qInstallMessageHandler(m_previousMessageHandler);
}

void HeadlessRunner::start()
{
    if (!m_settings.endpoint.isEmpty()) {
        startSync();
        return;
    }
    if (!m_options.demo) {
        onServerFailed(QStringLiteral("it is not available"));
        return;
    }
    printLine(QStringLiteral("No endpoint set (by --endpoint or in the window's settings): "
                             "starting the embedded demo server (its data: %1; the first start "
                             "creates the demo records)...")
                  .arg(m_options.demo->databasePath()));
    connect(m_options.demo, &App::DemoEndpoint::ready, this, &HeadlessRunner::onServerReady);
    connect(m_options.demo, &App::DemoEndpoint::failed, this, &HeadlessRunner::onServerFailed);
    if (!m_options.demo->baseUrl().isEmpty())
        onServerReady(m_options.demo->baseUrl());
    else
        m_options.demo->start();
}

void HeadlessRunner::onServerReady(const QUrl &baseUrl)
{
    if (m_ended || m_engine)
        return;
    m_settings.endpoint = baseUrl;
    startSync();
}

void HeadlessRunner::onServerFailed(const QString &message)
{
    if (m_ended)
        return;
    endpointProblem(
        QStringLiteral("server"), message,
        QStringLiteral("batchsync: the embedded demo server could not start: %1").arg(message));
    conclude();
}

void HeadlessRunner::endpointProblem(const QString &category, const QString &message,
                                     const QString &text)
{
    m_endpointProblems.append({ category, message });
    if (isJson()) {
        emitEvent(QStringLiteral("error"),
                  { { QStringLiteral("entity"), QJsonValue::Null },
                    { QStringLiteral("category"), category },
                    { QStringLiteral("message"), message } });
    } else {
        printProblem(text);
    }
}

void HeadlessRunner::startSync()
{
    const QString batches = m_settings.adaptiveBatchSize
        ? QStringLiteral("adaptive batches from %1 records aiming at %2 ms")
              .arg(m_settings.batchSize)
              .arg(m_settings.targetBatchMs)
        : QStringLiteral("batches of %1").arg(m_settings.batchSize);
    QString kind = isDemo() ? QStringLiteral(" (embedded demo server)") : QString();
    if (m_settings.source == SourceKind::OData) {
        kind = m_settings.user.isEmpty()
            ? QStringLiteral(" (OData v4 service)")
            : QStringLiteral(" (OData v4 service, as %1)").arg(m_settings.user);
    }
    const QString paging = m_settings.source == SourceKind::OData
        ? QStringLiteral("keyset")
        : pagingModeName(m_settings.paging);
    const QString direction = m_settings.direction == SyncDirection::Both
        ? QString()
        : QStringLiteral(", %1 only").arg(syncDirectionName(m_settings.direction));
    printLine(QStringLiteral("Syncing from %1%2 into %3 (%4 paging, %5, %6 at once%7)")
                  .arg(endpointText(), kind, m_settings.databasePath, paging, batches)
                  .arg(m_settings.concurrency)
                  .arg(direction));
    if (isJson()) {
        QJsonObject fields { { QStringLiteral("endpoint"), endpointText() },
                             { QStringLiteral("demo"), isDemo() },
                             { QStringLiteral("database"), m_settings.databasePath },
                             { QStringLiteral("paging"), paging },
                             { QStringLiteral("batchSize"), m_settings.batchSize },
                             { QStringLiteral("adaptiveBatchSize"), m_settings.adaptiveBatchSize },
                             { QStringLiteral("targetBatchMs"), m_settings.targetBatchMs },
                             { QStringLiteral("concurrency"), m_settings.concurrency },
                             { QStringLiteral("entities"),
                               m_options.entities.isEmpty()
                                   ? QJsonValue(QJsonValue::Null)
                                   : QJsonValue(QJsonArray::fromStringList(m_options.entities)) } };
        addSourceFields(m_settings, &fields);
        emitEvent(QStringLiteral("start"), fields);
    }

    m_engine = std::make_unique<SyncEngine>(m_settings);
    SyncEngine *engine = m_engine.get();
    connect(engine, &SyncEngine::stateChanged, this, &HeadlessRunner::onStateChanged);
    connect(engine, &SyncEngine::progressChanged, this, &HeadlessRunner::onProgress);
    connect(engine, &SyncEngine::failed, this, &HeadlessRunner::onFailed);
    connect(engine, &SyncEngine::retrying, this, &HeadlessRunner::onRetrying);
    connect(engine, &SyncEngine::phaseChanged, this, &HeadlessRunner::onPhaseChanged);
    connect(engine, &SyncEngine::pushed, this, &HeadlessRunner::onPushed);
    connect(engine, &SyncEngine::finished, this, &HeadlessRunner::onEngineFinished);
    connect(engine, &SyncEngine::liveStateChanged, this, &HeadlessRunner::onLiveStateChanged);

    m_syncClock.start();
    if (showsProgress())
        m_tick.start(isLive() ? LiveRefreshMs : PlainTickMs);

    if (m_options.liveSync)
        engine->setLive(true); // from the end of this first sync on
    if (m_options.entities.isEmpty()) {
        engine->startAll();
        return;
    }
    // The engine checks each name against the endpoint's list before it starts, and fails
    // an unknown one with a message, so there is no need to wait for entitiesChanged()
    // (whose first emission only has the entities known locally).
    for (const QString &name : std::as_const(m_options.entities))
        row(name);
    for (const QString &name : std::as_const(m_options.entities))
        engine->start(name);
}

HeadlessRunner::Row *HeadlessRunner::row(const QString &entity)
{
    for (Row &r : m_rows) {
        if (r.name == entity)
            return &r;
    }
    if (entity.isEmpty() || !isSelected(entity))
        return nullptr;
    Row r;
    r.name = entity;
    m_rows.append(r);
    m_nameWidth = std::clamp(int(entity.size()), m_nameWidth, MaxNameWidth);
    return &m_rows.last();
}

bool HeadlessRunner::isSelected(const QString &entity) const
{
    return m_options.entities.isEmpty() || m_options.entities.contains(entity);
}

void HeadlessRunner::onStateChanged(const QString &entity, SyncState state)
{
    Row *r = row(entity);
    if (!r)
        return;
    const SyncState previous = r->state;
    r->state = state;
    switch (state) {
    case SyncState::Counting:
        // A new run, or a resumed one: its first progress tells where it starts.
        r->lastDone = -1;
        r->elapsedMs = -1;
        if (!r->clock.isValid())
            r->clock.start();
        break;
    case SyncState::Running:
        if (!r->clock.isValid())
            r->clock.start();
        break;
    case SyncState::Paused:
    case SyncState::Completed:
    case SyncState::Failed:
        if (r->clock.isValid())
            r->elapsedMs = r->clock.elapsed();
        break;
    default:
        break;
    }
    if (state == SyncState::Failed) {
        if (r->error.isEmpty()) {
            const EntityStatus status = m_engine->entity(entity);
            r->error = status.errorMessage;
            r->errorCategory = status.errorCategory;
        }
    } else {
        r->error.clear();
        r->errorCategory = ErrorCategory::None;
    }
    r->note.clear();
    m_dirty = true;

    if (isJson() && state != previous) {
        emitEvent(QStringLiteral("state"),
                  { { QStringLiteral("entity"), r->name },
                    { QStringLiteral("state"), syncStateName(state) },
                    { QStringLiteral("done"), r->done },
                    { QStringLiteral("total"), r->total } });
    }
    // Failures are printed by onFailed(), which carries the message.
    if (isPlain() && state != previous && state != SyncState::Failed && state != SyncState::Idle) {
        printStatusLine(*r, true);
    }
    if (m_signal)
        checkIdle();
}

void HeadlessRunner::onProgress(const QString &entity, qint64 done, qint64 total,
                                double recordsPerSecond, qint64 etaSeconds)
{
    Row *r = row(entity);
    if (!r)
        return;
    // Count what this process brings in: a resumed run starts above zero.
    r->advance(done, total);
    r->rate = recordsPerSecond;
    r->eta = etaSeconds;
    m_dirty = true;
    if (isJson()) {
        const auto [event, fields] = progressEvent(*r, progressJson(m_engine->overallProgress()));
        emitEvent(event, fields);
    }
}

void HeadlessRunner::onFailed(const QString &entity, ErrorCategory category, const QString &message)
{
    if (entity.isEmpty()) {
        m_endpointFailed = true;
        m_endpointCategory = category;
        // The engine may report one cause twice (when it happens and when a start meets it).
        const bool repeated = std::any_of(m_endpointErrors.cbegin(), m_endpointErrors.cend(),
                                          [&](const QString &e) { return message.contains(e); });
        m_endpointErrors.append(message);
        if (!repeated) {
            endpointProblem(errorCategoryName(category), message,
                            category == ErrorCategory::Storage
                                ? QStringLiteral("batchsync: %1").arg(message)
                                : QStringLiteral("batchsync: cannot sync from %1: %2")
                                      .arg(endpointText(), message));
        }
        // Let the state changes the engine sends with it arrive first.
        QMetaObject::invokeMethod(this, &HeadlessRunner::checkIdle, Qt::QueuedConnection);
        return;
    }
    Row *r = row(entity);
    if (!r)
        return;
    r->state = SyncState::Failed;
    r->error = message;
    r->errorCategory = category;
    m_dirty = true;
    if (isJson()) {
        emitEvent(QStringLiteral("error"),
                  { { QStringLiteral("entity"), entity },
                    { QStringLiteral("category"), errorCategoryName(category) },
                    { QStringLiteral("message"), message } });
    } else if (isPlain()) {
        printStatusLine(*r);
    }
}

void HeadlessRunner::onRetrying(const QString &entity, int attempt, int delayMs,
                                const QString &reason)
{
    if (isJson()) {
        emitEvent(QStringLiteral("retry"),
                  { { QStringLiteral("entity"), jsonOrNull(entity) },
                    { QStringLiteral("attempt"), attempt },
                    { QStringLiteral("delayMs"), delayMs },
                    { QStringLiteral("reason"), reason } });
    }
    const QString retry
        = QStringLiteral("retry %1 in %2: %3").arg(attempt).arg(seconds(delayMs), reason);
    Row *r = entity.isEmpty() ? nullptr : row(entity);
    if (!r) {
        printLine(QStringLiteral("%1: %2").arg(entity.isEmpty() ? endpointText() : entity, retry));
        return;
    }
    r->note = retry;
    m_dirty = true;
    if (isPlain()) {
        printLine(QStringLiteral("%1: %2").arg(entity, retry));
        r->lastLine.start();
    }
}

void HeadlessRunner::onPhaseChanged(const QString &entity, SyncPhase phase)
{
    // From here on the entity's done and total count this phase's records.
    Row *r = row(entity);
    const SyncPhase previous = r ? r->phase : SyncPhase::Changes;
    if (r) {
        r->enterPhase(phase);
        m_dirty = true;
    }
    if (isJson()) {
        emitEvent(QStringLiteral("phase"),
                  { { QStringLiteral("entity"), entity },
                    { QStringLiteral("phase"), syncPhaseName(phase) } });
        return;
    }
    if (!isPlain())
        return;
    switch (phase) {
    case SyncPhase::Push:
        printLine(QStringLiteral("%1: uploading local changes").arg(entity));
        break;
    case SyncPhase::Changes:
        if (previous == SyncPhase::Push)
            printLine(QStringLiteral("%1: pulling changes").arg(entity));
        break;
    case SyncPhase::Reload:
        printLine(QStringLiteral("%1: reloading the whole set").arg(entity));
        break;
    case SyncPhase::Deletions:
        printLine(QStringLiteral("%1: checking for deletions").arg(entity));
        break;
    }
}

void HeadlessRunner::onPushed(const QString &entity, qint64 applied, qint64 conflicts,
                              qint64 rejected)
{
    Row *r = row(entity);
    if (!r)
        return;
    r->addPushed(applied, conflicts, rejected);
    m_dirty = true;
    if (isJson()) {
        emitEvent(QStringLiteral("pushed"), pushedJson(entity, applied, conflicts, rejected));
        return;
    }
    const QString text = pushedText(applied, conflicts, rejected);
    if (!text.isEmpty())
        printLine(QStringLiteral("%1: %2").arg(entity, text));
}

void HeadlessRunner::onEngineFinished()
{
    // Live: the run goes on until a signal; each round ends in the live state's lines.
    if (m_options.liveSync && !m_signal)
        return;
    conclude();
}

void HeadlessRunner::onLiveStateChanged(LiveState state, const QStringList &entities,
                                        const QString &message)
{
    const LiveState before = std::exchange(m_liveState, state);
    if (isJson()) {
        if (before == LiveState::Offline && state != LiveState::Offline)
            emitEvent(QStringLiteral("live"),
                      { { QStringLiteral("state"), QStringLiteral("online") } });
        QJsonObject fields { { QStringLiteral("state"),
                               QString::fromLatin1(
                                   QMetaEnum::fromType<LiveState>().valueToKey(int(state)))
                                   .toLower() } };
        if (state == LiveState::Woken)
            fields.insert(QStringLiteral("entities"), QJsonArray::fromStringList(entities));
        if (!message.isEmpty())
            fields.insert(QStringLiteral("message"), message);
        emitEvent(QStringLiteral("live"), fields);
        return;
    }
    switch (state) {
    case LiveState::Waiting:
        if (before != LiveState::Waiting)
            printLine(QStringLiteral("Up to date · live: waiting for changes on the server."));
        break;
    case LiveState::Woken:
        printLine(
            QStringLiteral("Changed on the server: %1.").arg(entities.join(QLatin1String(", "))));
        break;
    case LiveState::Offline:
        printLine(QStringLiteral("Waiting for the network: %1").arg(message));
        break;
    case LiveState::Timer:
        printLine(QStringLiteral("The server cannot tell of changes; syncing every %1 s instead.")
                      .arg(m_settings.liveTimerSeconds));
        break;
    case LiveState::Off:
        break;
    }
}

void HeadlessRunner::onTick()
{
    if (isLive()) {
        if (m_dirty)
            redraw();
        return;
    }
    for (Row &r : m_rows) {
        if (isWorking(r.state)
            && (!r.lastLine.isValid() || r.lastLine.elapsed() >= PlainLineIntervalMs)) {
            printStatusLine(r);
        }
    }
}

void HeadlessRunner::interrupt(int signalNumber)
{
    if (m_ended)
        return;
    if (isJson()) {
        emitEvent(QStringLiteral("interrupted"),
                  { { QStringLiteral("signal"), signalName(signalNumber) },
                    { QStringLiteral("immediate"), m_signal != 0 } });
    }
    if (m_signal) {
        printLine(QStringLiteral("Interrupted again: stopping now (nothing committed is lost)."));
        conclude();
        return;
    }
    if (m_options.liveSync && m_engine && !m_engine->isBusy()) {
        // The way a live run ends: nothing is in flight, so nothing is interrupted.
        m_engine->setLive(false);
        conclude();
        return;
    }
    m_signal = signalNumber;
    if (!m_engine) {
        printLine(QStringLiteral("Interrupted before the sync began."));
    } else {
        printLine(QStringLiteral("Interrupted: pausing. Progress is saved; the next run resumes "
                                 "where this one stopped."));
        m_engine->pauseAll();
        m_interruptDeadline.start(InterruptGraceMs);
    }
    checkIdle();
}

void HeadlessRunner::checkIdle()
{
    if (m_ended)
        return;
    const bool busy = m_engine && m_engine->isBusy();
    // Live, a failing endpoint is waited out; only a signal ends the run.
    if ((m_signal || (m_endpointFailed && !m_options.liveSync)) && !busy)
        conclude();
}

void HeadlessRunner::conclude()
{
    if (m_ended)
        return;
    m_tick.stop();
    m_interruptDeadline.stop();
    if (isLive() && !m_rows.isEmpty())
        redraw(); // the final state stays on screen; what follows goes below it
    Console::releaseDisplay();

    const qint64 elapsedMs = m_syncClock.isValid() ? m_syncClock.elapsed() : 0;
    qint64 synced = 0;
    qint64 pushed = 0;
    qint64 conflicts = 0;
    qint64 rejected = 0;
    bool allCompleted = !m_endpointFailed && m_endpointProblems.isEmpty();
    bool authFailed = m_endpointFailed && m_endpointCategory == ErrorCategory::Auth;
    bool networkFailed = m_endpointFailed && m_endpointCategory == ErrorCategory::Network;
    for (const Row &r : std::as_const(m_rows)) {
        synced += r.synced;
        pushed += r.pushApplied;
        conflicts += r.pushConflicts;
        rejected += r.pushRejected;
        if (r.state != SyncState::Completed)
            allCompleted = false;
        if (r.state == SyncState::Failed) {
            authFailed = authFailed || r.errorCategory == ErrorCategory::Auth;
            networkFailed = networkFailed || r.errorCategory == ErrorCategory::Network;
        }
    }
    const bool nothingToSync = m_rows.isEmpty() && allCompleted && m_options.entities.isEmpty();
    const int exitCode = m_signal ? 128 + m_signal : (allCompleted ? 0 : 1);

    if (isJson()) {
        QJsonArray entities;
        for (const Row &r : std::as_const(m_rows))
            entities.append(summaryJson(r));
        QJsonArray endpointErrors;
        for (const Problem &problem : std::as_const(m_endpointProblems)) {
            endpointErrors.append(QJsonObject { { QStringLiteral("category"), problem.category },
                                                { QStringLiteral("message"), problem.message } });
        }
        emitEvent(QStringLiteral("summary"),
                  { { QStringLiteral("exitCode"), exitCode },
                    { QStringLiteral("records"), synced },
                    { QStringLiteral("pushed"), pushed },
                    { QStringLiteral("conflicts"), conflicts },
                    { QStringLiteral("rejected"), rejected },
                    { QStringLiteral("elapsedMs"), elapsedMs },
                    { QStringLiteral("rate"),
                      jsonRate(elapsedMs > 0 ? double(synced) * 1000.0 / double(elapsedMs) : 0.0) },
                    { QStringLiteral("interruptedBy"),
                      m_signal ? QJsonValue(signalName(m_signal)) : QJsonValue(QJsonValue::Null) },
                    { QStringLiteral("entities"), entities },
                    { QStringLiteral("endpointErrors"), endpointErrors } });
        end(exitCode);
        return;
    }

    const bool verbose = showsProgress();
    for (const Row &r : std::as_const(m_rows)) {
        const qint64 ms = r.elapsed();
        switch (r.state) {
        case SyncState::Completed:
            if (verbose) {
                const QString pushText = pushedText({ r });
                printOutput(
                    QStringLiteral("%1: %2 records in %3 (%4 records/s)%5")
                        .arg(r.name)
                        .arg(r.synced)
                        .arg(seconds(ms), ratePerSecond(r.synced, ms),
                             pushText.isEmpty() ? QString() : QStringLiteral("; ") + pushText));
            }
            break;
        case SyncState::Failed:
            printProblem(
                QStringLiteral("%1: failed: %2")
                    .arg(r.name, r.error.isEmpty() ? QStringLiteral("unknown error") : r.error));
            break;
        case SyncState::Paused:
            // Paused by an interruption is what was asked for, not an error.
            if (!verbose)
                break;
            if (r.done == 0 && r.total == 0) {
                printLine(QStringLiteral("%1: paused before it began; the next run syncs it")
                              .arg(r.name));
            } else {
                printLine(QStringLiteral("%1: paused at %2 of %3 records; the next run resumes "
                                         "from there")
                              .arg(r.name)
                              .arg(r.done)
                              .arg(r.total));
            }
            break;
        default: {
            const QString text
                = QStringLiteral("%1: not completed (%2)").arg(r.name, syncStateName(r.state));
            if (m_signal)
                printLine(text);
            else
                printProblem(text);
            break;
        }
        }
    }
    if (verbose && !m_rows.isEmpty()) {
        printOutput(summaryLine(m_rows, elapsedMs));
    }
    if (authFailed) {
        printProblem(m_settings.token.isEmpty()
                         ? QStringLiteral("The server requires a token: give it with "
                                          "--token-file F or BATCHSYNC_TOKEN.")
                         : QStringLiteral("The server refused the token: check --token-file, "
                                          "--token or BATCHSYNC_TOKEN."));
    }
    if (networkFailed) {
        printProblem(QStringLiteral("Check that the endpoint URL is right and that the server is "
                                    "running and reachable."));
    }
    if (nothingToSync && !m_signal)
        printLine(QStringLiteral("The endpoint reports no entities: nothing to sync."));
    end(exitCode);
}

void HeadlessRunner::end(int exitCode)
{
    if (m_ended)
        return;
    m_ended = true;
    m_tick.stop();
    m_interruptDeadline.stop();
    Q_EMIT finished(exitCode);
}

void HeadlessRunner::printLine(const QString &text)
{
    if (showsProgress())
        Console::print(text);
}

void HeadlessRunner::printProblem(const QString &text)
{
    if (!isJson())
        Console::print(text);
}

void HeadlessRunner::emitEvent(const QString &event, const QJsonObject &fields)
{
    if (!isJson())
        return;
    const QByteArray line = jsonEventLine(event, fields);
    std::fwrite(line.constData(), 1, size_t(line.size()), stdout);
    std::fflush(stdout);
}

void HeadlessRunner::printStatusLine(Row &r, bool announce)
{
    printLine(plainLine(r, announce));
    r.lastLine.start();
}

void HeadlessRunner::redraw()
{
    QList<Row> lines = m_rows;
    // Several entities: a last line for all of them, with the engine's overall figures.
    if (m_rows.size() > 1 && m_engine)
        lines.append(overallRow());
    Console::setDisplay(displayLines(lines, m_nameWidth, terminalWidth()));
    m_dirty = false;
}

HeadlessRunner::Row HeadlessRunner::overallRow() const
{
    const ProgressInfo all = m_engine->overallProgress();
    Row r;
    r.name = QStringLiteral("all");
    r.done = all.done;
    r.total = all.total;
    r.rate = all.rate;
    r.eta = all.etaSeconds;
    bool working = false;
    bool completed = true;
    for (const Row &row : m_rows) {
        working = working || isWorking(row.state);
        completed = completed && row.state == SyncState::Completed;
        r.synced += row.synced;
    }
    r.state = working ? SyncState::Running : completed ? SyncState::Completed : SyncState::Idle;
    r.elapsedMs = m_syncClock.isValid() ? m_syncClock.elapsed() : 0;
    return r;
}

QString HeadlessRunner::endpointText() const
{
    return m_settings.endpoint.toString(QUrl::RemoveUserInfo);
}

} // namespace BatchSync
