#include "syncworker.h"

#include "common/logging.h"
#include "engine/entityjob.h"
#include "engine/livewatch.h"
#include "store/localstore.h"

#include <QAtomicInt>
#include <QElapsedTimer>
#include <QRandomGenerator>
#include <algorithm>

namespace BatchSync {

namespace {

QString nextConnectionName()
{
    static QAtomicInt counter;
    return QStringLiteral("batchsync-engine-%1").arg(counter.fetchAndAddRelaxed(1));
}

qint64 monotonicMs()
{
    static QElapsedTimer clock = [] {
        QElapsedTimer t;
        t.start();
        return t;
    }();
    return clock.elapsed();
}

} // namespace

SyncWorker::SyncWorker(const SyncSettings &settings, SourceFactory sourceFactory, QObject *parent)
    : QObject(parent)
    , m_settings(settings)
    , m_sourceFactory(std::move(sourceFactory))
    , m_settingsError(settings.validate())
    , m_discoveryRetry(this) // a child, so that it moves to the worker thread with us
    , m_autoSync(this)
{
    m_discoveryRetry.setSingleShot(true);
    connect(&m_discoveryRetry, &QTimer::timeout, this, &SyncWorker::fetchEntities);
}

SyncWorker::~SyncWorker()
{
    // The jobs go before the members they use (the source, the store, the prefetch budget).
    qDeleteAll(m_jobs);
}

void SyncWorker::initialize()
{
    // Created here, in the worker thread, and never handed to another.
    m_source = m_sourceFactory();
    if (!m_source) {
        m_settingsError = QStringLiteral("no source could be made for the endpoint");
        qCWarning(lcEngine) << m_settingsError;
    }

    if (m_source) {
        m_live = new LiveWatch(
            m_source.get(), [this] { return liveCursors(); }, m_settings, this);
        connect(m_live, &LiveWatch::wake, this, &SyncWorker::onLiveWake);
        connect(m_live, &LiveWatch::stateChanged, this, &SyncWorker::liveStateChanged);
    }

    m_store = std::make_unique<LocalStore>(m_settings.databasePath, nextConnectionName());
    SyncError error;
    if (!m_store->open(&error)) {
        m_storeError = error.message;
        qCWarning(lcEngine) << "cannot open the local database:" << error.message;
        Q_EMIT failed(QString(), ErrorCategory::Storage, error.message);
        emitEntities();
        return;
    }
    const QList<StoredEntity> stored = m_store->loadEntities(&error);
    if (error.isError()) {
        m_storeError = error.message;
        Q_EMIT failed(QString(), error.category, error.message);
    }
    for (const StoredEntity &entity : stored)
        addJob(entity);
    emitEntities();
    if (m_settings.live)
        setLive(true);
    if (m_settings.autoSyncSeconds > 0) {
        connect(&m_autoSync, &QTimer::timeout, this, &SyncWorker::startAll);
        m_autoSync.start(m_settings.autoSyncSeconds * 1000);
    }
    if (m_settings.syncAtStart)
        startAll();
}

void SyncWorker::networkBack()
{
    if (m_live && m_live->isEnabled())
        m_live->networkBack();
    else if (m_settings.autoSyncSeconds > 0 && !m_busy)
        startAll(); // automatic sync: what was missed while offline, now
}

void SyncWorker::shutdown()
{
    m_shuttingDown = true;
    m_autoSync.stop();
    delete m_live; // its wait request goes before the source
    m_live = nullptr;
    m_discoveryRetry.stop();
    if (m_discovery) {
        m_discovery->disconnect(this);
        m_discovery->abort();
        delete m_discovery.data();
    }
    m_pendingStarts.clear();
    m_pendingStartAll = false;
    m_queue.clear();
    for (EntityJob *job : std::as_const(m_jobs)) {
        // Nothing is lost: every batch was committed with its position. Saving the job as
        // Paused lets the next start continue where it stopped.
        if (job->isActive())
            job->pause();
    }
    qDeleteAll(m_jobs);
    m_jobs.clear();
    m_source.reset();
    m_store.reset();
}

EntityJob *SyncWorker::addJob(const StoredEntity &stored)
{
    auto *job
        = new EntityJob(stored, m_settings, m_source.get(), m_store.get(), &m_prefetchBudget, this);
    m_jobs.insert(stored.schema.name, job);
    connect(job, &EntityJob::stateChanged, this,
            [this](const QString &entity, SyncState state, ErrorCategory category,
                   const QString &message) {
                Q_EMIT stateChanged(entity, state, category, message);
                if (state == SyncState::Failed)
                    Q_EMIT failed(entity, category, message);
                onJobStateChanged(entity, state);
            });
    connect(job, &EntityJob::progressChanged, this, &SyncWorker::progressChanged);
    connect(job, &EntityJob::runStarted, this, &SyncWorker::runStarted);
    connect(job, &EntityJob::runFinished, this, &SyncWorker::runFinished);
    connect(job, &EntityJob::retrying, this, &SyncWorker::retrying);
    connect(job, &EntityJob::pushed, this, &SyncWorker::pushed);
    connect(job, &EntityJob::phaseChanged, this, &SyncWorker::phaseChanged);
    return job;
}

void SyncWorker::emitEntities()
{
    QStringList names = m_jobs.keys();
    names.sort();
    QList<EntityStatus> list;
    list.reserve(names.size());
    for (const QString &name : std::as_const(names))
        list.append(m_jobs.value(name)->status());
    Q_EMIT entitiesLoaded(list);
}

bool SyncWorker::checkUsable(const QString &entity)
{
    QString reason;
    ErrorCategory category = ErrorCategory::Request;
    if (!m_settingsError.isEmpty()) {
        reason = QStringLiteral("cannot sync: %1").arg(m_settingsError);
    } else if (!m_storeError.isEmpty()) {
        reason = QStringLiteral("cannot sync: %1").arg(m_storeError);
        category = ErrorCategory::Storage;
    }
    if (reason.isEmpty())
        return true;
    if (EntityJob *job = m_jobs.value(entity))
        job->fail(category, reason);
    else
        Q_EMIT failed(entity, category, reason);
    return false;
}

void SyncWorker::refreshEntities()
{
    if (m_shuttingDown || !checkUsable(QString()))
        return;
    if (!m_discovery && !m_discoveryRetry.isActive())
        fetchEntities();
}

void SyncWorker::requestStart(const QString &entity)
{
    if (m_shuttingDown)
        return;
    // Report busy at once, so that a start that ends without any work still ends with
    // finished() for whoever waits on it.
    if (!m_busy) {
        m_busy = true;
        Q_EMIT busyChanged(true);
    }
    if (checkUsable(entity)) {
        if (entity.isEmpty())
            m_pendingStartAll = true;
        else if (!m_pendingStarts.contains(entity))
            m_pendingStarts.append(entity);
        // Every start asks for the schema first, so that a field the server added since the
        // last sync gets its column before any page needs it.
        if (!m_discovery && !m_discoveryRetry.isActive())
            fetchEntities();
    }
    updateBusy();
}

void SyncWorker::start(const QString &entity)
{
    if (EntityJob *job = m_jobs.value(entity); job && job->isActive())
        return;
    requestStart(entity);
}

void SyncWorker::startAll()
{
    requestStart(QString());
}

void SyncWorker::resume(const QString &entity)
{
    EntityJob *job = m_jobs.value(entity);
    if (!job || job->state() != SyncState::Paused)
        return;
    requestStart(entity);
}

void SyncWorker::pause(const QString &entity)
{
    stop(entity, &EntityJob::pause);
}

void SyncWorker::cancel(const QString &entity)
{
    stop(entity, &EntityJob::cancel);
}

void SyncWorker::stop(const QString &entity, void (EntityJob::*how)())
{
    m_pendingStarts.removeAll(entity);
    m_queue.removeAll(entity);
    if (EntityJob *job = m_jobs.value(entity))
        (job->*how)();
    updateBusy();
}

void SyncWorker::pauseAll()
{
    m_pendingStarts.clear();
    m_pendingStartAll = false;
    m_queue.clear();
    for (EntityJob *job : std::as_const(m_jobs))
        job->pause();
    updateBusy();
}

void SyncWorker::fetchEntities()
{
    if (m_shuttingDown)
        return;
    m_discovery = m_source->fetchEntities();
    connect(m_discovery.data(), &SourceReply::finished, this, &SyncWorker::onEntitiesFinished);
}

void SyncWorker::onEntitiesFinished()
{
    SourceReply *request = m_discovery.data();
    if (!request || sender() != request)
        return;
    m_discovery = nullptr;
    request->deleteLater();
    const SyncError error = request->error();
    if (error.category == ErrorCategory::Aborted)
        return;
    if (error.isTransient() && (!m_pendingStarts.isEmpty() || m_pendingStartAll)) {
        retryDiscovery(error);
        return;
    }
    if (error.isError()) {
        failDiscovery(error);
        return;
    }
    m_discoveryAttempt = 0;
    m_discoveryFirstFailureMs = -1;
    applyEntities(request->entities());
    startPending();
    updateBusy();
}

void SyncWorker::retryDiscovery(const SyncError &error)
{
    const qint64 now = monotonicMs();
    if (m_discoveryFirstFailureMs < 0)
        m_discoveryFirstFailureMs = now;
    ++m_discoveryAttempt;
    const qint64 backoff = std::min<qint64>(m_settings.retryMaxDelayMs,
                                            qint64(m_settings.retryBaseDelayMs)
                                                << std::min(m_discoveryAttempt - 1, 16));
    qint64 delay = backoff / 2 + QRandomGenerator::global()->bounded(backoff / 2 + 1);
    if (error.retryAfterSeconds >= 0)
        delay = std::max<qint64>(delay, qint64(error.retryAfterSeconds) * 1000);
    const qint64 elapsed = now - m_discoveryFirstFailureMs;
    if (elapsed + delay > m_settings.retryGiveUpMs) {
        SyncError final = error;
        final.message = QStringLiteral("gave up after %1 attempts in %2 s: %3")
                            .arg(m_discoveryAttempt)
                            .arg(elapsed / 1000.0, 0, 'f', 1)
                            .arg(error.message);
        failDiscovery(final);
        return;
    }
    qCInfo(lcEngine) << "listing the entities failed; retrying in" << delay
                     << "ms:" << error.message;
    Q_EMIT retrying(QString(), m_discoveryAttempt, int(delay), error.message);
    m_discoveryRetry.start(int(delay));
}

void SyncWorker::failDiscovery(const SyncError &error)
{
    m_discoveryAttempt = 0;
    m_discoveryFirstFailureMs = -1;
    qCWarning(lcEngine) << "cannot list the entities:" << error.message;
    Q_EMIT failed(QString(), error.category, error.message);
    // The entities waiting for the list cannot start: say so on each of them.
    const QStringList pending = std::exchange(m_pendingStarts, {});
    m_pendingStartAll = false;
    for (const QString &entity : pending) {
        if (EntityJob *job = m_jobs.value(entity))
            job->fail(error.category, error.message);
        else
            Q_EMIT failed(entity, error.category, error.message);
    }
    updateBusy();
}

void SyncWorker::applyEntities(const QList<EntitySchema> &entities)
{
    QSet<QString> reported;
    for (const EntitySchema &schema : entities) {
        reported.insert(schema.name);
        SyncError error;
        const bool ensured = m_store->ensureEntity(schema, &error);
        EntityJob *job = m_jobs.value(schema.name);
        if (!job) {
            StoredEntity stored;
            if (ensured) {
                if (auto loaded = m_store->loadEntity(schema.name, &error))
                    stored = *loaded;
            }
            stored.schema = schema;
            stored.paging = m_settings.paging;
            job = addJob(stored);
        }
        job->setSchema(schema);
        job->setReported(true);
        if (!ensured)
            job->fail(error.category, error.message);
    }
    for (EntityJob *job : std::as_const(m_jobs)) {
        if (!reported.contains(job->name()))
            job->setReported(false);
    }
    emitEntities();
}

void SyncWorker::startPending()
{
    QStringList names = std::exchange(m_pendingStarts, {});
    if (std::exchange(m_pendingStartAll, false)) {
        QStringList all;
        for (EntityJob *job : std::as_const(m_jobs)) {
            if (job->isReported())
                all.append(job->name());
        }
        all.sort();
        for (const QString &name : std::as_const(names)) {
            if (!all.contains(name))
                all.append(name);
        }
        names = all;
    }
    for (const QString &name : std::as_const(names)) {
        EntityJob *job = m_jobs.value(name);
        if (!job || !job->isReported()) {
            const QString message
                = QStringLiteral("the endpoint has no entity named \"%1\"").arg(name);
            if (job)
                job->fail(ErrorCategory::Request, message);
            else
                Q_EMIT failed(name, ErrorCategory::Request, message);
            continue;
        }
        if (job->isActive())
            continue;
        m_queue.append(name);
        job->enqueue();
    }
    schedule();
}

void SyncWorker::schedule()
{
    if (m_shuttingDown)
        return;
    int working = 0;
    for (EntityJob *job : std::as_const(m_jobs)) {
        if (job->isWorking())
            ++working;
    }
    while (working < m_settings.concurrency && !m_queue.isEmpty()) {
        EntityJob *job = m_jobs.value(m_queue.takeFirst());
        if (!job || job->state() != SyncState::Queued)
            continue;
        ++working;
        job->begin();
    }
}

void SyncWorker::onJobStateChanged(const QString &entity, SyncState state)
{
    Q_UNUSED(entity);
    if (state == SyncState::Completed || state == SyncState::Failed || state == SyncState::Paused) {
        schedule();
    }
    updateBusy();
}

void SyncWorker::setLive(bool live)
{
    m_liveWanted = live;
    if (!m_live)
        return;
    m_live->setEnabled(live);
    if (live && !m_busy)
        m_live->engineIdle();
}

QHash<QString, QString> SyncWorker::liveCursors() const
{
    QHash<QString, QString> cursors;
    if (!m_store)
        return cursors;
    for (auto it = m_jobs.cbegin(); it != m_jobs.cend(); ++it) {
        SyncError error;
        const std::optional<StoredEntity> stored = m_store->loadEntity(it.key(), &error);
        // An entity that failed waits for the next sync someone asks for: following it would
        // wake the engine again and again for a sync that cannot succeed.
        if (!stored || stored->paging != PagingMode::Cursor || stored->state == SyncState::Failed
            || stored->committed.isStart()) {
            continue;
        }
        cursors.insert(it.key(), stored->committed.cursor);
    }
    return cursors;
}

void SyncWorker::onLiveWake(const QStringList &entities)
{
    if (entities.isEmpty()) {
        startAll();
    } else {
        for (const QString &entity : entities)
            start(entity);
    }
    if (!m_busy && m_live)
        m_live->engineIdle(); // nothing started (an unknown entity, say): wait again
}

void SyncWorker::updateBusy()
{
    bool busy = m_discovery && (!m_pendingStarts.isEmpty() || m_pendingStartAll);
    busy = busy || m_discoveryRetry.isActive();
    for (EntityJob *job : std::as_const(m_jobs))
        busy = busy || job->isActive();
    if (busy != m_busy) {
        m_busy = busy;
        Q_EMIT busyChanged(busy);
        if (m_live && !m_shuttingDown) {
            if (busy)
                m_live->engineBusy();
            else
                m_live->engineIdle();
        }
    }
}

} // namespace BatchSync
