#include "store/localstore.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "store/localstore_p.h"
#include "store/walcheckpointer.h"

#include <QDir>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QThread>

/*
    The local store's connection: opening and closing it, the thread check, and the wording
    of storage errors. The other parts of LocalStore: schema.cpp (the database format and the
    entities' tables), capture.cpp (local edits recorded by triggers), syncstate.cpp (the
   _sync_state rows of a run), applybatch.cpp (writing a batch) and bulkload.cpp (the first sync of
   an entity); sqlite_p.h wraps the C API.
*/

namespace BatchSync {

using namespace StorePrivate;

namespace StorePrivate {

void clearError(SyncError *error)
{
    if (error)
        *error = SyncError();
}

bool fail(SyncError *error, ErrorCategory category, const QString &message)
{
    qCWarning(lcStore).noquote() << message;
    if (error) {
        *error = SyncError();
        error->category = category;
        error->message = message;
    }
    return false;
}

bool failNoState(SyncError *error, const QString &what)
{
    return fail(error, ErrorCategory::Storage,
                QStringLiteral("%1: the local database has no state for this entity "
                               "(ensureEntity() must come first)")
                    .arg(what));
}

QSqlDatabase connection(const QString &name)
{
    return QSqlDatabase::database(name, false);
}

bool execPrepared(QSqlQuery &query, const QString &sql, const QVariantList &values)
{
    if (!query.prepare(sql))
        return false;
    for (const QVariant &value : values)
        query.addBindValue(value);
    return query.exec();
}

} // namespace StorePrivate

namespace {

const QString driverName = QStringLiteral("QSQLITE");

// What a primary result code other than SQLITE_BUSY means for the user; %1 is the file.
QString problemText(int code)
{
    switch (code) {
    case SQLITE_READONLY:
        return QStringLiteral("the local database %1 is read-only; make the file and its folder "
                              "writable");
    case SQLITE_FULL:
        return QStringLiteral("the disk holding %1 is full; free some space and try again");
    case SQLITE_CANTOPEN:
        return QStringLiteral("the local database %1 cannot be opened; check that its folder "
                              "exists and is writable");
    case SQLITE_PERM:
        return QStringLiteral("access to the local database %1 was denied");
    case SQLITE_IOERR:
        return QStringLiteral("the disk holding %1 reported an input/output error");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return QStringLiteral("the local database %1 is damaged or is not a SQLite database; "
                              "move it away to start afresh");
    case SQLITE_NOMEM:
        return QStringLiteral("out of memory while using the local database %1");
    default:
        return QStringLiteral("the local database %1 reported an error");
    }
}

} // namespace

LocalStore::LocalStore(const QString &databasePath, const QString &connectionName)
    : m_path(databasePath)
    , m_connectionName(connectionName)
{
}

LocalStore::~LocalStore()
{
    close();
}

void LocalStore::setBusyTimeout(int milliseconds)
{
    m_busyTimeoutMs = qMax(0, milliseconds);
    if (!m_statements || QThread::currentThread() != m_thread)
        return;
    QSqlQuery query(connection(m_connectionName));
    if (!query.exec(QStringLiteral("PRAGMA busy_timeout = %1").arg(m_busyTimeoutMs)))
        qCWarning(lcStore) << "could not set the busy timeout:" << query.lastError().text();
}

bool LocalStore::open(SyncError *error)
{
    clearError(error);
    if (m_statements)
        return checkUsable(error);
    if (QSqlDatabase::contains(m_connectionName)) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("Could not open the local database %1: the connection name "
                                   "\"%2\" is already in use in this program")
                        .arg(QDir::toNativeSeparators(m_path), m_connectionName));
    }
    if (!openConnection(error)) {
        close();
        return false;
    }
    qCInfo(lcStore).noquote() << "opened the local database" << m_path;
    return true;
}

bool LocalStore::openConnection(SyncError *error)
{
    if (!QSqlDatabase::isDriverAvailable(driverName)) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("Could not open the local database %1: Qt's SQLite driver "
                                   "(QSQLITE) is not installed (Debian: libqt6sql6-sqlite)")
                        .arg(QDir::toNativeSeparators(m_path)));
    }
    QSqlDatabase db = QSqlDatabase::addDatabase(driverName, m_connectionName);
    m_ownsConnection = true;
    m_thread = QThread::currentThread();
    db.setDatabaseName(m_path);
    db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(m_busyTimeoutMs));
    const QString what = QStringLiteral("Could not open the local database");
    if (!db.open())
        return storageFailure(error, what, db.lastError());

    QSqlQuery query(db);
    // The page cache is sized per batch (Statements::setCacheKiB). Checkpoints every 10000
    // pages (~40 MB of WAL) instead of 1000: a checkpoint writes and syncs every page the
    // batches touched since the last one, and with random ids that is most of them; this
    // alone makes bulk syncs ~25% faster (see the throughput test).
    for (const QString &pragma : { QStringLiteral("PRAGMA busy_timeout = %1").arg(m_busyTimeoutMs),
                                   QStringLiteral("PRAGMA foreign_keys = OFF"),
                                   QStringLiteral("PRAGMA wal_autocheckpoint = 10000"),
                                   // The index build at the end of a bulk load sorts on a
                                   // second thread while this one merges.
                                   QStringLiteral("PRAGMA threads = 1") }) {
        if (!query.exec(pragma))
            return storageFailure(error, what, query.lastError());
    }
    // WAL: readers (the app's data view) never block the writer, and a commit costs one
    // append instead of a rollback journal.
    if (!query.exec(QStringLiteral("PRAGMA journal_mode = WAL")))
        return storageFailure(error, what, query.lastError());
    const QString mode = query.next() ? query.value(0).toString() : QString();
    query.finish();
    if (mode.compare(u"wal", Qt::CaseInsensitive) != 0) {
        qCWarning(lcStore).noquote()
            << "the local database" << m_path << "uses journal mode" << mode << "instead of WAL";
    }
    // In WAL mode NORMAL cannot corrupt the database; a power cut may lose the last commits,
    // which the next start fetches again.
    if (!query.exec(QStringLiteral("PRAGMA synchronous = NORMAL")))
        return storageFailure(error, what, query.lastError());
    // Checkpoints run on a thread of their own. While batches keep coming they never catch up
    // with the last commit, and SQLite starts the WAL over only when they have: this
    // connection's automatic checkpoint, cheap because it finds most pages copied already,
    // is what bounds the WAL (to ~40 MB instead of a growing share of the database).
    if (mode.compare(u"wal", Qt::CaseInsensitive) == 0) {
        auto checkpointer = std::make_unique<WalCheckpointer>(m_path);
        if (checkpointer->start())
            m_checkpointer = std::move(checkpointer);
    }

    // The batches go through the sqlite3 C API of this very connection: QSQLITE's handle.
    const QVariant handle = db.driver() ? db.driver()->handle() : QVariant();
    sqlite3 *sqlite = nullptr;
    if (handle.isValid() && qstrcmp(handle.typeName(), "sqlite3*") == 0)
        sqlite = *static_cast<sqlite3 *const *>(handle.constData());
    if (!sqlite) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1 %2: Qt's SQLite driver does not expose its sqlite3 "
                                   "handle")
                        .arg(what, QDir::toNativeSeparators(m_path)));
    }

    m_statements = std::make_unique<Statements>();
    m_statements->db = sqlite;
    m_statements->setCacheKiB(CacheKiB);
    const auto prepare = [&](std::initializer_list<std::pair<Sqlite::Statement *, QString>> list) {
        for (const auto &[statement, sql] : list) {
            if (!statement->prepare(sqlite, sql, SQLITE_PREPARE_PERSISTENT))
                return storageFailure(error, what, statement->errorCode(), statement->errorText());
        }
        return true;
    };
    if (!prepare({ { &m_statements->begin, QStringLiteral("BEGIN IMMEDIATE") },
                   { &m_statements->commit, QStringLiteral("COMMIT") },
                   { &m_statements->rollback, QStringLiteral("ROLLBACK") } })
        || !createSyncState(error)) {
        return false;
    }
    // Writing state='running' with each batch replaces a stale state or error of a run that
    // was interrupted and continues now.
    return prepare(
        { { &m_statements->saveRun,
            QStringLiteral("UPDATE _sync_state SET run_active = 1, run_cursor = ?, "
                           "run_cursor_id = ?, run_done = ?, run_total = ?, state = 'running', "
                           "error_category = NULL, error_message = NULL WHERE entity = ?") },
          { &m_statements->bulkLoad,
            QStringLiteral("SELECT bulk_load FROM _sync_state WHERE entity = ?") },
          { &m_statements->captureOff,
            QStringLiteral("UPDATE _sync_meta SET value = 0 WHERE key = 'capture'") },
          { &m_statements->captureOn,
            QStringLiteral("UPDATE _sync_meta SET value = 1 WHERE key = 'capture'") },
          { &m_statements->otherTriggers,
            QStringLiteral("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' "
                           "AND tbl_name = ?1 COLLATE NOCASE AND name NOT IN ('_sync_' || ?2 || "
                           "'_insert', '_sync_' || ?2 || '_update', '_sync_' || ?2 || "
                           "'_delete'))") },
          { &m_statements->anyPending,
            QStringLiteral("SELECT 1 FROM _sync_pending WHERE entity = ? LIMIT 1") },
          { &m_statements->isPending,
            QStringLiteral("SELECT 1 FROM _sync_pending WHERE entity = ? AND id = ?") } });
}

bool LocalStore::isOpen() const
{
    return m_statements != nullptr;
}

void LocalStore::close()
{
    if (m_thread && QThread::currentThread() != m_thread) {
        qCWarning(lcStore).noquote()
            << "closing the local database" << m_path << "from a thread that did not open it";
    }
    // The background checkpoints end first, so that closing the last connection checkpoints
    // what remains.
    m_checkpointer.reset();
    // Every QSqlQuery must be gone before the connection is removed.
    m_statements.reset();
    if (m_ownsConnection) {
        {
            QSqlDatabase db = connection(m_connectionName);
            if (db.isOpen())
                db.close();
        }
        QSqlDatabase::removeDatabase(m_connectionName);
        m_ownsConnection = false;
        qCDebug(lcStore).noquote() << "closed the local database" << m_path;
    }
    m_thread = nullptr;
}

bool LocalStore::checkUsable(SyncError *error) const
{
    if (!m_statements) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("The local database %1 is not open")
                        .arg(QDir::toNativeSeparators(m_path)));
    }
    if (QThread::currentThread() != m_thread) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("The local database %1 was opened in another thread; a "
                                   "connection may only be used in its own thread")
                        .arg(QDir::toNativeSeparators(m_path)));
    }
    return true;
}

bool LocalStore::storageFailure(SyncError *error, const QString &what,
                                const QSqlError &sqlError) const
{
    bool numeric = false;
    const int code = sqlError.nativeErrorCode().toInt(&numeric);
    QString sqliteText = sqlError.databaseText();
    if (sqliteText.isEmpty())
        sqliteText = sqlError.driverText();
    return storageFailure(error, what, numeric ? code : -1, sqliteText);
}

// QtSql and the C API report the same result codes and messages: one wording for both.
bool LocalStore::storageFailure(SyncError *error, const QString &what, int sqliteCode,
                                const QString &sqliteText) const
{
    const QString path = QDir::toNativeSeparators(m_path);
    // Extended result codes keep the primary code in their low byte.
    const int code = sqliteCode < 0 ? -1 : sqliteCode & 0xff;
    const QString problem = code == SQLITE_BUSY || code == SQLITE_LOCKED
        ? QStringLiteral("the local database %1 is locked by another program (waited %2 ms); "
                         "close the other program or try again later")
              .arg(path)
              .arg(m_busyTimeoutMs)
        : problemText(code).arg(path);
    return fail(error, ErrorCategory::Storage,
                QStringLiteral("%1: %2 (SQLite: %3)").arg(what, problem, sqliteText));
}

bool LocalStore::Write::begin()
{
    clearError(m_error);
    if (!m_store.checkUsable(m_error))
        return false;
    Statements &statements = *m_store.m_statements;
    m_transaction.emplace(statements.db, statements.begin, statements.commit, statements.rollback);
    if (!m_transaction->begin()) {
        return m_store.storageFailure(m_error, m_what, m_transaction->errorCode(),
                                      m_transaction->errorText());
    }
    return true;
}

bool LocalStore::Write::beginUncaptured(const QString &entity)
{
    if (!begin())
        return false;
    // A trigger that fires costs a third of an appended row, even when its WHEN clause stops
    // it: when the table has no triggers but the capture's, the connection runs without
    // triggers at all; otherwise the switch makes the capture triggers skip the rows. Read in
    // the transaction, which keeps others from adding a trigger meanwhile.
    Statements &statements = *m_store.m_statements;
    Sqlite::Statement &others = statements.otherTriggers;
    const Sqlite::Step step = others.bindText(1, entity) && others.bindText(2, entity)
        ? others.step()
        : Sqlite::Step::Failed;
    if (step != Sqlite::Step::Row)
        return m_store.storageFailure(m_error, m_what, others.errorCode(), others.errorText());
    const bool haveOthers = others.intValue(0) != 0;
    others.reset();
    if (!statements.setTriggersEnabled(haveOthers)) {
        return fail(m_error, ErrorCategory::Storage,
                    QStringLiteral("%1: SQLite refused to switch triggers").arg(m_what));
    }
    if (!haveOthers)
        return true;
    Sqlite::Statement &off = statements.captureOff;
    if (!off.exec())
        return m_store.storageFailure(m_error, m_what, off.errorCode(), off.errorText());
    m_uncaptured = true;
    return true;
}

bool LocalStore::Write::commit()
{
    Q_ASSERT(m_transaction); // only after a begin() that succeeded
    if (m_uncaptured) {
        Sqlite::Statement &on = m_store.m_statements->captureOn;
        if (!on.exec())
            return m_store.storageFailure(m_error, m_what, on.errorCode(), on.errorText());
    }
    if (!m_transaction->commit()) {
        return m_store.storageFailure(m_error, m_what, m_transaction->errorCode(),
                                      m_transaction->errorText());
    }
    return true;
}

qint64 LocalStore::rowCount(const QString &entity)
{
    if (!checkUsable(nullptr) || !Identifier::check(entity, u"entity").isEmpty())
        return -1;
    QSqlQuery query(connection(m_connectionName));
    query.setForwardOnly(true);
    if (!execPrepared(query,
                      QStringLiteral("SELECT count(*) FROM sqlite_master "
                                     "WHERE type = 'table' AND name = ? COLLATE NOCASE"),
                      { entity })
        || !query.next() || query.value(0).toLongLong() == 0) {
        return -1;
    }
    if (!query.exec(QStringLiteral("SELECT count(*) FROM %1").arg(Identifier::quoted(entity)))
        || !query.next()) {
        qCWarning(lcStore) << "could not count the rows of" << entity << ":"
                           << query.lastError().text();
        return -1;
    }
    return query.value(0).toLongLong();
}

} // namespace BatchSync
