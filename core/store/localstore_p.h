#pragma once

// Internal to the local store; not installed.

#include "store/localstore.h"
#include "store/sqlite_p.h"

#include <QString>
#include <QVariantList>
#include <map>
#include <memory>
#include <optional>

QT_BEGIN_NAMESPACE
class QSqlDatabase;
class QSqlQuery;
QT_END_NAMESPACE

namespace BatchSync {

namespace StorePrivate {

// The page cache for updates and upserts: random ids touch index pages all over the file, so
// a larger cache than SQLite's 2 MB default saves reads. Updates by id run as fast with 8 MB
// as with 16 (batchsync-bench --incremental-percent 100, 200,000 and 1,000,000 records: the
// rest of the file is in the system's cache), and a client's peak memory stays well below
// 64 MB whatever it syncs.
constexpr int CacheKiB = 8192;
// The page cache while only bulk loads have written: appends touch the last pages of a table,
// so a larger cache would only fill up with pages never read again, and the memory of a
// first sync would grow with the data up to the upsert cache.
constexpr int BulkLoadCacheKiB = 2048;
// The page cache while the id index is built: SQLite's sorter keeps up to a cache's worth of
// keys in memory per run it sorts, two runs at once with its helper thread, and merges them
// from a temporary file. Runs of 512 KiB build the index no slower than runs of 2 MiB (about
// 0.2 s for 250,000 ids) and keep the build's peak near the bulk load's.
constexpr int IndexBuildCacheKiB = 512;

extern const QString changedAtColumn;
// The record's server version (protocol v1.1), the base of a local change; NULL when unknown.
extern const QString versionColumn;

// Every SELECT of _sync_state lists these columns in this order; the first 14 are those of
// format 1, which an older database must have.
extern const QString syncStateColumns;
constexpr int formatOneColumnCount = 14;
enum SyncStateColumn {
    ColEntity,
    ColPaging,
    ColCursor,
    ColCursorId,
    ColRunActive,
    ColRunCursor,
    ColRunCursorId,
    ColRunDone,
    ColRunTotal,
    ColState,
    ColErrorCategory,
    ColErrorMessage,
    ColLastCompletedAt,
    ColFields,
    ColBulkLoad
};

void clearError(SyncError *error);
// Logs \a message and stores it in \a error; returns false.
bool fail(SyncError *error, ErrorCategory category, const QString &message);
// The Storage error of a write on an entity that has no _sync_state row; returns false.
bool failNoState(SyncError *error, const QString &what);

QSqlDatabase connection(const QString &name);
bool execPrepared(QSqlQuery &query, const QString &sql, const QVariantList &values);

// Names come from the server: check all of them before any SQL is built. Returns a message
// for the user, or an empty string.
QString schemaProblem(const EntitySchema &schema);

// The field list as _sync_state.fields holds it.
QString fieldsToJson(const QList<FieldSpec> &fields);

// \a text as an SQL string literal.
QString sqlLiteral(const QString &text);
// The ids of the entity's records that have a pending local change (a SELECT of one column).
QString pendingIdsSql(const QString &entity);
// _sync_meta (the client id, the capture switch, the change sequence), _sync_pending and
// _sync_conflicts.
bool createCaptureTables(QSqlQuery &query);
// \a values (one per field of \a schema) as a compact JSON object, as _sync_conflicts keeps it.
QString recordJson(const EntitySchema &schema, const QVariantList &values);
// A JSON object of \a columns of the row \a row ("OLD", or a table alias), as SQL.
QString recordJsonSql(const QStringList &columns, const QString &row);
// The _version column and the capture triggers of the table of \a entity (a checked name),
// where missing. On failure the error is the query's.
bool prepareCapture(QSqlQuery &query, const QString &entity);

} // namespace StorePrivate

// Prepared on first use: the upsert needs the unique index on id, which a table in bulk-load
// state does not have, and the append is only used in that state.
struct LocalStore::EntityStatements
{
    QList<FieldSpec> fields; // the schema the statements are for
    QString upsertSql;
    QString appendSql;
    QString updateSql;
    QString removeSql;
    QString recordDeletionSql;
    Sqlite::Statement upsert; // id, one value per field, _changed_at, _version
    Sqlite::Statement append; // the same, a plain INSERT (bulk load, and after an update missed)
    Sqlite::Statement update; // the same parameters, an UPDATE by id
    Sqlite::Statement remove; // id
    Sqlite::Statement recordDeletion; // entity, id (bulk-load state)
    // Whether the next batch updates by id first (most changes of the last one were
    // updates of existing records) rather than upserting.
    bool updateFirst = true;
};

// The changes of a batch, from a page's list of changes or its packed form.
class LocalStore::BatchRows
{
public:
    explicit BatchRows(const QList<Change> &changes)
        : m_changes(&changes)
    {
    }
    explicit BatchRows(const PackedChanges &packed)
        : m_packed(&packed)
    {
    }

    qsizetype size() const { return m_packed ? m_packed->size() : m_changes->size(); }
    bool isDeleted(qsizetype row) const
    {
        return m_packed ? m_packed->isDeleted(row) : m_changes->at(row).deleted;
    }
    // For messages and the pending check.
    QString id(qsizetype row) const
    {
        return m_packed ? QString::fromUtf8(m_packed->id(row)) : m_changes->at(row).id;
    }
    bool bindId(Sqlite::Statement &statement, int index, qsizetype row) const
    {
        return m_packed ? statement.bindUtf8(index, m_packed->id(row))
                        : statement.bindText(index, m_changes->at(row).id);
    }
    // The id, one value per field, the changedAt and the version.
    bool bindRecord(Sqlite::Statement &statement, qsizetype row, int fieldCount) const;
    // Why the rows cannot be written to an entity of \a fieldCount fields, or empty.
    QString problem(const QString &what, int fieldCount) const;

private:
    const QList<Change> *m_changes = nullptr;
    const PackedChanges *m_packed = nullptr;
};

struct LocalStore::Statements
{
    sqlite3 *db = nullptr; // owned by QSQLITE's connection
    Sqlite::Statement begin;
    Sqlite::Statement commit;
    Sqlite::Statement rollback;
    Sqlite::Statement saveRun; // run_cursor, run_cursor_id, run_done, run_total, entity
    Sqlite::Statement bulkLoad; // entity -> bulk_load; no row when the entity has no state
    Sqlite::Statement captureOff; // the store's own writes are not local changes
    Sqlite::Statement captureOn;
    Sqlite::Statement otherTriggers; // entity -> 1 when its table has triggers of its own
    Sqlite::Statement anyPending; // entity -> a row when it has pending local changes
    Sqlite::Statement isPending; // entity, id -> a row when the record has one
    std::map<QString, std::unique_ptr<EntityStatements>> entities;
    int cacheKiB = 0; // the page cache set last, in KiB
    bool triggersEnabled = true; // SQLITE_DBCONFIG_ENABLE_TRIGGER of the connection
    bool upserted = false; // a batch was written by upsert since the connection opened

    // A failure leaves the previous size, which costs speed or memory, never data.
    void setCacheKiB(int kib);
    // The page cache for writing a batch in bulk-load state (\a bulk) or by upsert.
    void setBatchCache(bool bulk);
    // Turns the connection's triggers on or off; a change makes prepared statements prepare
    // again at their next use.
    bool setTriggersEnabled(bool enabled);
};

/*
    A write transaction of the store (Sqlite::Transaction) whose failures become the store's
    Storage errors, worded by storageFailure() with \a what.
*/
class LocalStore::Write final
{
    Q_DISABLE_COPY_MOVE(Write)

public:
    Write(LocalStore &store, const QString &what, SyncError *error)
        : m_store(store)
        , m_what(what)
        , m_error(error)
    {
    }

    // Clears the error, checks that the store is usable in this thread, and begins.
    bool begin();
    // begin(), and the writes of this transaction to the table of \a entity are not captured
    // as local changes: the connection's triggers are off, or, when the table has triggers of
    // its own, the capture switch is (on again before the commit, so no other connection
    // sees it off).
    bool beginUncaptured(const QString &entity);
    bool commit();

private:
    LocalStore &m_store;
    const QString m_what;
    SyncError *m_error;
    std::optional<Sqlite::Transaction> m_transaction; // from begin(), when the store is open
    bool m_uncaptured = false;
};

} // namespace BatchSync
