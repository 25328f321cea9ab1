#pragma once

#include "common/types.h"

#include <QDateTime>
#include <QList>
#include <QString>
#include <memory>
#include <optional>

QT_BEGIN_NAMESPACE
class QSqlError;
class QThread;
QT_END_NAMESPACE

/*!
    \file localstore.h
    The local SQLite database: one table per entity and the _sync_state table
    (see docs/protocol.md, "The local database").
*/

namespace BatchSync {

class WalCheckpointer;

/*! What _sync_state holds for one entity. */
struct StoredEntity
{
    EntitySchema schema; //!< the schema last applied to the entity's table
    PagingMode paging = PagingMode::Cursor; //!< the mode the positions below belong to
    SyncPosition committed; //!< where the last completed sync ended
    bool runActive = false; //!< a run is in progress (possibly paused, failed or interrupted)
    SyncPosition run; //!< position of the run in progress, after its last committed batch
    qint64 runDone = 0; //!< records of the current (or last) run committed
    qint64 runTotal = 0; //!< progress total of the current (or last) run
    SyncState state = SyncState::Idle; //!< as last persisted
    ErrorCategory errorCategory = ErrorCategory::None;
    QString errorMessage;
    QDateTime lastCompletedAt; //!< UTC; invalid when never completed
    bool bulkLoad = false; //!< the run is a first sync in bulk-load state (see LocalStore)
};

/*! What a batch of pushed changes came to (see LocalStore::applyPushResults). */
struct PushOutcome
{
    qint64 applied = 0; //!< stored by the server
    qint64 conflicts = 0; //!< the server's record had moved on (kept in _sync_conflicts)
    qint64 rejected = 0; //!< could never apply (kept in _sync_conflicts)
    qint64 resent = 0; //!< of the conflicts, those to be sent again (client wins)
};

/*!
    The local store: a QtSql SQLite connection with its own name, opened in the thread that
    uses it (the engine's worker thread) and never used from another: a call from another
    thread fails with a Storage error. WAL journal; prepared statements are kept per entity
    and reused across batches.

    Every method that writes runs in one transaction: either all of it is in the database
    or none of it. In particular applyBatch() commits a batch's rows together with the
    position that follows them, so a crash at any moment loses at most the batch in flight.
    Batches are written through the sqlite3 C API of the same connection (prepared once per
    entity, values bound straight from Change::values, or a packed page's UTF-8 text as it is);
    errors read the same either way.

    Local edits: triggers on each entity's table record any program's INSERT, UPDATE and
    DELETE as a pending change in _sync_pending (one row per record, with the version it had
    before the first edit; see README, "The local database"). The store's own writes are
    never recorded: they run with the connection's triggers off, or, when the table has
    triggers of its own, with the capture switched off inside their transaction (_sync_meta
    'capture'). They skip every record that has a pending change.

    Bulk load: a run that starts from the beginning (beginRun() with a start position)
    on an entity whose table holds no rows is a first sync, and puts the entity in bulk-load
    state, persisted in _sync_state (\c bulk_load) until completeRun():
    - the table is a plain rowid table with the same columns and \e no index on id (a table
      whose id is its primary key is re-created empty for that);
    - applyBatch() appends every upsert with a plain INSERT, in change order, so that the
      row with the largest rowid is the newest version of its id; a deletion is recorded in
      _sync_bulk_deleted (entity, id, mark: the largest rowid at that moment) and removes,
      at completion, exactly the versions received before it;
    - completeRun() then, in the transaction that completes the run, keeps only the newest
      version of each id, applies the recorded deletions and creates the unique index on id
      (named _<entity>_id).
    Until then an outside reader of the table may see superseded versions of a record and
    records whose deletion is not applied yet, and a lookup by id scans the table. A process
    killed during the load resumes from its last committed batch, still in bulk-load state;
    killed during completeRun(), nothing of the completion is kept and the next completeRun()
    does it again. A run from the start on a table that holds rows, and every later run, use
    the normal upsert by id.
*/
class LocalStore final
{
    Q_DISABLE_COPY_MOVE(LocalStore)

public:
    /*! Does not open anything yet; \a connectionName must be unique in the process. */
    LocalStore(const QString &databasePath, const QString &connectionName);
    /*! Closes the connection and removes it from QSqlDatabase's registry. */
    ~LocalStore();

    QString databasePath() const { return m_path; }
    QString connectionName() const { return m_connectionName; }

    /*!
        How long a write waits for another connection or program that holds the database
        lock before it fails with a Storage error saying so; 5000 ms by default. Applies at
        once when the store is open, otherwise at open().
    */
    void setBusyTimeout(int milliseconds);
    int busyTimeout() const { return m_busyTimeoutMs; }

    /*!
        Opens (creating if needed) the database and the _sync_state table, in the calling
        thread. Fails with a Storage error naming the file when it cannot be opened, is
        read-only, stays locked by another program beyond busyTimeout(), or was written by a
        newer version of BatchSync. Calling it again while open does nothing.
    */
    bool open(SyncError *error);
    bool isOpen() const;
    /*! Drops the prepared statements, closes the connection and frees its name. */
    void close();

    /*!
        Makes the entity's table match \a schema: creates it (id TEXT primary key, one typed
        column per field, _changed_at and _version), or adds missing columns with ALTER TABLE
        (in bulk-load state too), and creates its capture triggers where missing. Columns of fields
       the server no longer reports are kept. Names are checked with Identifier::check and quoted.
       Creates the _sync_state row if there is none and stores the schema in it.
    */
    bool ensureEntity(const EntitySchema &schema, SyncError *error);

    /*! Every entity in _sync_state, ordered by name. */
    QList<StoredEntity> loadEntities(SyncError *error);
    /*! One entity; nullopt if it has no _sync_state row (or on error). */
    std::optional<StoredEntity> loadEntity(const QString &entity, SyncError *error);

    /*!
        Starts a run from \a from in mode \a paging: run position = from, done = 0,
        total = \a total, state = \a state, error cleared. A change of paging mode makes the
        committed position meaningless, so the caller passes a start position then (and the
        committed position of the old mode is forgotten). A run from the start on an empty
        table enters the bulk-load state (see the class description); one in bulk-load state
        already stays in it. All in one transaction.
    */
    bool beginRun(const QString &entity, PagingMode paging, const SyncPosition &from, qint64 total,
                  SyncState state, SyncError *error);

    /*!
        In ONE transaction: applies \a changes in order (upsert by id, delete on tombstone)
        to the entity's table and stores \a after as the run position with \a done and
        \a total; the persisted state becomes Running and any error is cleared. On any failure
        nothing of it is written. A change whose value count does not match \a schema, or
        without an id, fails the whole batch with a Protocol error. In bulk-load state upserts
        are appended and deletions recorded (see the class description). A change of a
        record that has a pending local change is skipped. Change::version goes to the
        record's _version column (NULL when empty).
    */
    bool applyBatch(const EntitySchema &schema, const QList<Change> &changes,
                    const SyncPosition &after, qint64 done, qint64 total, SyncError *error);
    /*! The same, for a page's changes in packed form: the same rows, the same result. */
    bool applyBatch(const EntitySchema &schema, const PackedChanges &changes,
                    const SyncPosition &after, qint64 done, qint64 total, SyncError *error);

    /*!
        In ONE transaction, like applyBatch(): a page of a Reload or Deletions phase (see
        SyncPhase) and the run position \a after it.
        - Reload: the records go to a staging table, _sync_reload_<entity> (emptied by the
          phase's first page); the phase's last page then replaces the entity's rows with the
          staged ones, so that a reader sees the old table or the new one, never a mix.
        - Deletions: the ids go to _sync_seen_<entity> (emptied by the first page); the last
          page deletes every record of the entity whose id was not seen.
        A phase that never ends changes nothing in the entity's table. Records that have a
        pending local change are neither replaced nor deleted. A Changes page is
        applied by applyBatch().
    */
    bool applyPhase(const EntitySchema &schema, const ChangePage &page, const SyncPosition &after,
                    qint64 done, qint64 total, SyncError *error);

    /*!
        Ends the run: the committed position becomes \a final, the run is no longer active,
        state Completed, done/total kept for display, last completion time \a completedAt.
        In bulk-load state it also, in the same transaction, drops superseded versions,
        applies the recorded deletions and creates the unique index on id; this takes a few
        seconds for a million rows.
    */
    bool completeRun(const QString &entity, const SyncPosition &final, qint64 done, qint64 total,
                     const QDateTime &completedAt, SyncError *error);

    /*!
        Persists a state change without touching the run position: progress \a done and
        \a total, and for Failed the error category and message (cleared otherwise).
    */
    bool saveState(const QString &entity, SyncState state, qint64 done, qint64 total,
                   ErrorCategory errorCategory, const QString &errorMessage, SyncError *error);

    /*!
        Ends the run without completing it: what its batches committed stays, the run is no
        longer active (the next run starts from the last completed position) and the state
        is Idle, with done/total kept for display. A first sync cancelled in bulk-load state
        stays in it: the next run starts the first sync again.
    */
    bool cancelRun(const QString &entity, qint64 done, qint64 total, SyncError *error);

    /*! The local database's client id (protocol v1.1 "client"), made once; empty on error. */
    QString clientId(SyncError *error);

    /*! How many records of \a entity have a pending local change; -1 on error. */
    qint64 pendingCount(const QString &entity, SyncError *error);

    /*!
        In ONE transaction: up to \a limit of the entity's pending local changes, in id order,
        each with the record as the table holds it now (or as a deletion), and each frozen:
        its number (sent_seq) is fixed and names it on the wire ("<client id>:<number>"), and
        a write of the record from now on is a new change, sent after this one's answer. A
        change frozen before and not yet answered (a crash, a failed request) comes again
        under the same number, so that the server answers it without applying it twice.
        Nothing is taken while the entity's first sync is bulk-loading. A batch of large
        records holds fewer than \a limit changes: about 4 MiB of memory at most (one change
        at least), so that the client's memory stays bounded whatever the batch size. With
        \a after, only the changes of records whose id sorts after it: the next batch while
        one is in flight.
    */
    bool takePushBatch(const EntitySchema &schema, int limit, QList<LocalChange> *changes,
                       SyncError *error, const QString &after = QString());

    /*!
        In ONE transaction, the server's \a results for the changes \a sent (as taken by
        takePushBatch(), one result each, in order; otherwise a Protocol error and nothing
        written), with the entity's table, _sync_pending and _sync_conflicts:
        - applied: the change is no longer pending and the record takes the new version and
          changedAt; a record written again meanwhile stays pending, on top of that version;
        - conflict: kept in _sync_conflicts; with ConflictPolicy::ClientWins, the first time,
          the local record stays and is pending again, on top of the server's version, under
          a new number (resolution "resent"); otherwise the server's record replaces the local
          one (resolution "server");
        - rejected: kept in _sync_conflicts with the server's reason; the record returns to
          what the server last sent of it, or goes if it never did (resolution "restored").
        None of these writes is captured as a local change.
    */
    bool applyPushResults(const EntitySchema &schema, ConflictPolicy policy,
                          const QList<LocalChange> &sent, const QList<PushResult> &results,
                          PushOutcome *outcome, SyncError *error);

    /*!
        Number of rows in the entity's table; -1 when there is no such table. In bulk-load
        state it counts superseded versions and records whose deletion is not applied yet.
    */
    qint64 rowCount(const QString &entity);

private:
    // Defined in localstore_p.h, which is not installed.
    struct Statements;
    struct EntityStatements;
    class Write;
    class BatchRows;

    bool checkUsable(SyncError *error) const;
    bool openConnection(SyncError *error);
    bool createSyncState(SyncError *error);
    EntityStatements *entityStatements(const EntitySchema &schema, SyncError *error);
    bool updateSyncState(const QString &entity, const QString &what, const QString &sql,
                         const QVariantList &values, SyncError *error);
    bool storageFailure(SyncError *error, const QString &what, const QSqlError &sqlError) const;
    bool storageFailure(SyncError *error, const QString &what, int sqliteCode,
                        const QString &sqliteText) const;
    bool bulkLoadState(const QString &entity, bool *bulk, const QString &what, SyncError *error);
    bool enterBulkLoad(const QString &entity, bool *entered, const QString &what, SyncError *error);
    bool finishBulkLoad(const QString &entity, const QString &what, SyncError *error);
    bool applyRows(const EntitySchema &schema, const BatchRows &rows, const SyncPosition &after,
                   qint64 done, qint64 total, SyncError *error);
    // Whether the record \a id (a null id: any record) of \a entity has a pending local change.
    bool pendingState(const QString &entity, const QString &id, bool *pending, const QString &what,
                      SyncError *error);
    bool saveRunPosition(const QString &entity, const SyncPosition &after, qint64 done,
                         qint64 total, const QString &what, SyncError *error);

    QString m_path;
    QString m_connectionName;
    int m_busyTimeoutMs = 5000;
    bool m_ownsConnection = false; // added to QSqlDatabase's registry by this store
    QThread *m_thread = nullptr; // the thread that opened the connection
    // Prepared statements, reused across batches; reset before the connection is removed.
    std::unique_ptr<Statements> m_statements;
    std::unique_ptr<WalCheckpointer> m_checkpointer; // while open in WAL mode
};

} // namespace BatchSync
