#pragma once

#include "common/packedchanges.h"

#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <QVariant>
#include <optional>

/*!
    \file types.h
    Value types shared by every part of BatchSync (client and server). All of them are plain values:
    safe to copy between threads and to pass through queued signals.
*/

namespace BatchSync {
Q_NAMESPACE

/*!
    The type of an entity field, as named by the protocol (v1; \c decimal since v1.1). Local
    columns: TEXT for String, DateTime and Decimal; INTEGER for Int and Bool; REAL for Real.
*/
enum class FieldType {
    String,
    Int,
    Real,
    Bool,
    DateTime,
    Decimal //!< an exact decimal number, as text in plain notation (see decimal.h)
};
Q_ENUM_NS(FieldType)

/*! How the client pages through changes (see docs/protocol.md, "Protocol v1"). */
enum class PagingMode {
    Cursor, //!< opaque server cursor; cannot drift (the default)
    Offset //!< changedSince + offset + limit, for endpoints that only page by offset
};
Q_ENUM_NS(PagingMode)

/*! What kind of endpoint an engine syncs from (see sources/source.h). */
enum class SourceKind {
    Protocol, //!< a BatchSync protocol server, such as batchsync-server
    OData //!< an OData v4 service (Mendix, SAP CAP and Gateway, Dataverse, ...)
};
Q_ENUM_NS(SourceKind)

/*! The state of one entity's sync job. */
enum class SyncState {
    Idle, //!< never synced, or nothing to do yet
    Queued, //!< waiting for a free slot (concurrency limit)
    Counting, //!< asking the server how many changes there are
    Running, //!< pulling batches
    Paused, //!< stopped by the user (or interrupted); resumable from the last commit
    Completed, //!< caught up with the server
    Failed //!< stopped with an error; see the message
};
Q_ENUM_NS(SyncState)

/*!
    What a run of an entity is doing, and so what a page's records are and how the local
    store applies them (see LocalStore::applyPhase).
*/
enum class SyncPhase {
    Changes, //!< changes after a position: upserts and deletions, applied as they come
    Reload, //!< the whole set read again (a source without change tracking): staged, and
            //!< replacing the table at once when the phase ends
    Deletions, //!< the ids the source still has: when the phase ends, every other local record
               //!< is deleted (nothing when it does not end)
    Push //!< the entity's pending local changes sent to the source, before any pull
};
Q_ENUM_NS(SyncPhase)

/*! Which way an entity's sync goes. */
enum class SyncDirection {
    Both, //!< push the pending local changes, then pull (the default)
    Pull, //!< only pull; local changes stay pending
    Push //!< only push
};
Q_ENUM_NS(SyncDirection)

/*! What live sync is doing (SyncEngine::setLive). */
enum class LiveState {
    Off, //!< live sync is off
    Waiting, //!< up to date: a wait request is open for news
    Woken, //!< news came for some entities: they sync now
    Offline, //!< the endpoint cannot be reached: asked again after a backoff
    Timer //!< the endpoint cannot tell of news: synced on a timer
};
Q_ENUM_NS(LiveState)

/*! What a push does with a change the server answers with \c conflict. */
enum class ConflictPolicy {
    ServerWins, //!< the server's record replaces the local one (the default)
    ClientWins //!< the local record is sent once more, on top of the server's current version
};
Q_ENUM_NS(ConflictPolicy)

/*! How a run of an entity's sync ended: reported once per run. */
enum class JobResult {
    Completed, //!< caught up with the source
    Failed, //!< stopped by an error
    Cancelled //!< ended on purpose before completing; what was committed stays
};
Q_ENUM_NS(JobResult)

/*! What kind of error stopped something; decides whether it is retried. */
enum class ErrorCategory {
    None,
    Network, //!< connection refused/reset, timeout, 5xx, 429: transient, retried
    Auth, //!< 401 or 403: the token was refused
    Request, //!< 400, 404 and other 4xx: the server refused the request
    Protocol, //!< the response does not follow protocol v1
    Storage, //!< the local database could not be written
    Aborted //!< cancelled on purpose (pause, shutdown)
};
Q_ENUM_NS(ErrorCategory)

/*! Protocol name of a field type ("string", "int", ...). */
QString fieldTypeName(FieldType type);
/*! Parses a protocol field type name; nullopt for anything else. */
std::optional<FieldType> fieldTypeFromName(QStringView name);
/*! "cursor" or "offset". */
QString pagingModeName(PagingMode mode);
/*! Parses "cursor" or "offset"; nullopt for anything else. */
std::optional<PagingMode> pagingModeFromName(QStringView name);
/*! The name of a source kind in settings and on the command line ("batchsync"). */
QString sourceKindName(SourceKind kind);
/*! Parses a source kind name; nullopt for anything else. */
std::optional<SourceKind> sourceKindFromName(QStringView name);
/*! Lower-case state name, as persisted in _sync_state ("idle", "running", ...). */
QString syncStateName(SyncState state);
/*! Parses a persisted state name; nullopt for anything else. */
std::optional<SyncState> syncStateFromName(QStringView name);
/*! "changes", "reload", "deletions" or "push". */
QString syncPhaseName(SyncPhase phase);
/*! "both", "pull" or "push". */
QString syncDirectionName(SyncDirection direction);
/*! Parses "both", "pull" or "push"; nullopt for anything else. */
std::optional<SyncDirection> syncDirectionFromName(QStringView name);
/*! "server-wins" or "client-wins". */
QString conflictPolicyName(ConflictPolicy policy);
/*! Parses "server-wins" or "client-wins"; nullopt for anything else. */
std::optional<ConflictPolicy> conflictPolicyFromName(QStringView name);
/*! A word for the category, for logs ("network", "auth", ...). */
QString errorCategoryName(ErrorCategory category);

/*! One field of an entity. */
struct FieldSpec
{
    QString name;
    FieldType type = FieldType::String;

    friend bool operator==(const FieldSpec &a, const FieldSpec &b)
    {
        return a.name == b.name && a.type == b.type;
    }
    friend bool operator!=(const FieldSpec &a, const FieldSpec &b) { return !(a == b); }
};

/*! An entity as reported by GET /entities: its name and its fields, in order. */
struct EntitySchema
{
    QString name;
    QList<FieldSpec> fields;
    /*!
        Whether the caller may push changes to it (protocol v1.1 "writable"); false for a v1
        server and every source that takes no writes. Not part of the table's shape: ==
        ignores it.
    */
    bool writable = false;

    /*! Index of the field called \a name, or -1. */
    int fieldIndex(QStringView name) const;

    friend bool operator==(const EntitySchema &a, const EntitySchema &b)
    {
        return a.name == b.name && a.fields == b.fields;
    }
    friend bool operator!=(const EntitySchema &a, const EntitySchema &b) { return !(a == b); }
};

/*!
    One change of one record. \c values holds one entry per field of the entity's
    schema, in schema order: QString for string and datetime, qint64 for int, double for
    real, bool for bool, QString for decimal (the exact text in plain notation, as sent: never
    a double; see decimal.h), and a null QVariant for JSON null or an absent field.
    A deleted change has no values.
*/
struct Change
{
    QString id;
    QString changedAt;
    bool deleted = false;
    QVariantList values;
    QString version {}; //!< the server's version of the record after it (v1.1); empty: none sent
};

/*!
    One local change to push (protocol v1.1): the whole record after the change, or a
    deletion, on top of the server's version \c base.
*/
struct LocalChange
{
    QString changeId; //!< unique per change: "<client id>:<sequence>"
    QString id;
    QString base; //!< the version the local record was based on; empty for a new record
    bool deleted = false;
    QVariantList values; //!< one per schema field, as in Change::values; none for a deletion
};

/*! The server's answer to one pushed change (protocol v1.1). */
struct PushResult
{
    enum class Status { Applied, Conflict, Rejected };
    QString changeId;
    Status status = Status::Rejected;
    QString version; //!< Applied: the record's new version
    QString changedAt; //!< Applied: the record's new changedAt
    QString error; //!< Rejected: the server's reason
    /*!
        Conflict: the server's record now (deleted, without version, when it has none live);
        its values follow the schema, as in Change::values.
    */
    Change current;
};

/*! One page of GET /entities/{name}/changes. */
struct ChangePage
{
    QList<Change> changes; //!< the changes, unless \c packed holds them
    QString cursor; //!< position after the last change; empty when the server sent none
    bool hasMore = false;
    SyncPhase phase = SyncPhase::Changes;
    bool phaseStart = false; //!< the first page of a Reload or Deletions phase
    bool phaseEnd = false; //!< the last page of a Reload or Deletions phase
    qint64 phaseTotal = -1; //!< on a phase's first page: its records, where the source knows
    /*!
        The changes in compact form, instead of \c changes: the protocol source's pages in
        cursor mode (always in the Changes phase). A source fills one and leaves the other
        empty.
    */
    PackedChanges packed;

    /*! The number of changes, whichever form holds them. */
    qsizetype size() const { return changes.size() + packed.size(); }
};

/*!
    A position in an entity's change stream. In cursor mode \c cursor is the server's
    opaque cursor. In offset mode \c cursor is the largest changedAt applied and \c id the
    largest id applied at that changedAt. Both empty: from the beginning.
*/
struct SyncPosition
{
    QString cursor;
    QString id;

    bool isStart() const { return cursor.isEmpty(); }
    friend bool operator==(const SyncPosition &a, const SyncPosition &b)
    {
        return a.cursor == b.cursor && a.id == b.id;
    }
    friend bool operator!=(const SyncPosition &a, const SyncPosition &b) { return !(a == b); }
};

/*! An error: its category, a message a person can act on, and HTTP details if any. */
struct SyncError
{
    ErrorCategory category = ErrorCategory::None;
    QString message;
    int httpStatus = 0; //!< 0 when no HTTP status was received
    int retryAfterSeconds = -1; //!< from Retry-After, -1 when absent

    bool isError() const { return category != ErrorCategory::None; }
    /*! Whether trying again later may succeed (network errors, 5xx, 429). */
    bool isTransient() const { return category == ErrorCategory::Network; }
};

/*!
    What the engine knows of one entity: its schema, its state, its progress and the
    outcome of its last run. \c done and \c total are records of the current (or last) run.
*/
struct EntityStatus
{
    QString name;
    QList<FieldSpec> fields;
    SyncState state = SyncState::Idle;
    SyncPhase phase = SyncPhase::Changes; //!< what the run does; done and total count its records
    qint64 done = 0;
    qint64 total = 0;
    ErrorCategory errorCategory = ErrorCategory::None;
    QString errorMessage;
    QDateTime lastCompletedAt; //!< UTC; invalid when never completed
};

} // namespace BatchSync

Q_DECLARE_METATYPE(BatchSync::EntitySchema)
Q_DECLARE_METATYPE(BatchSync::EntityStatus)
Q_DECLARE_METATYPE(BatchSync::SyncError)
