#pragma once

#include "common/types.h"
#include "server/access/rowfilter.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QSet>
#include <QString>
#include <QStringList>
#include <QVariantMap>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

QT_BEGIN_NAMESPACE
class QJsonObject;
class QSqlDatabase;
class QSqlError;
class QSqlQuery;
QT_END_NAMESPACE

/*!
    \file serverbackend.h
    What the reference server serves from: the interface of its databases, and what every
    backend shares (the connection, transactions, prepared queries, typed errors, the checks).
*/

namespace BatchSync {

struct PushRequest;

/*!
    Why a backend call failed. The type decides how the HTTP layer answers (400, 404, 409, 501,
    503 or 500); the message is for people, and no code compares it.
*/
struct ServerError
{
    enum class Type {
        None, //!< nothing failed
        BadRequest, //!< malformed input: a cursor, a timestamp, paging values, a record's values
        NotFound, //!< no entity of that name
        Conflict, //!< clashes with what is stored: an entity or field name, a field's type
        Unavailable, //!< no database to serve from: not open, unreachable, no driver
        NotImplemented, //!< this backend cannot do it (pushes to PostgreSQL)
        Internal, //!< the database failed
    };

    Type type = Type::None;
    QString message;
};

/*!
    The data behind SyncServer and DemoData: served entities, their records with a change
    log (cursor and changedAt paging, tombstones) and the protocol's JSON pages. ServerStore
    keeps it in SQLite, PgServerStore in PostgreSQL; both give the same JSON bytes for the
    same data (PageWriter writes them), except for the cursor's text, which is opaque to
    clients.

    This base owns what the backends share: the named QSqlDatabase connection, transactions,
    prepared queries, the catalogue of served entities, the checks of requests, and the typed
    error of the last failure (lastError()). Every failure sets it and, when given, the
    \c{QString *error} of the call to its message.

    A backend is used from the thread that called open() only.
*/
class ServerBackend
{
public:
    virtual ~ServerBackend();

    /*! Connects to (creating if needed) the database; false with \a error set on failure. */
    virtual bool open(QString *error) = 0;
    bool isOpen() const { return m_open; }

    /*! The last failure: its type and message. Read it right after a call that failed. */
    const ServerError &lastError() const { return m_lastError; }

    /*! The served entities, in the order they were added. */
    QList<EntitySchema> entities() const;
    std::optional<EntitySchema> entity(const QString &name) const;

    /*!
        Adds an entity, or adds the fields it lacks to an existing one. A name or field the
        catalogue cannot hold is BadRequest; a clash with another entity's name, or with a
        field's name or type, is Conflict.
    */
    bool addEntity(const EntitySchema &schema, QString *error);

    /*!
        Inserts or replaces records (fields absent from the data become null), each with a
        new change; all or nothing. See ServerStore::upsert for the accepted values.
    */
    virtual bool upsert(const QString &entity,
                        const QList<std::pair<QString, QVariantMap>> &records, QString *error)
        = 0;
    bool upsert(const QString &entity, const QString &id, const QVariantMap &data, QString *error);

    /*! Deletes records, leaving a tombstone for each; unknown ids change nothing. */
    virtual bool remove(const QString &entity, const QStringList &ids, QString *error) = 0;

    /*!
        Number of changes after a cursor or a changedSince timestamp (empty: all). A malformed
        cursor ("invalid cursor") or timestamp is BadRequest, an unknown entity NotFound.
    */
    std::optional<qint64> count(const QString &entity, PagingMode mode, const QString &since,
                                QString *error) const;

    /*!
        The JSON body of GET .../changes. Cursor mode: the changes after \a since, with a
        "cursor" (the position of the last change returned, or \a since when the page is
        empty; "0" from the beginning). Offset mode: changes with changedAt > since
        (strictly), by changedAt then id, skipping \a offset, with no cursor, like a pure
        offset endpoint. \a records receives the number of changes in the page. Errors as
        count(), and limit < 1 or offset < 0 is BadRequest.
    */
    std::optional<QByteArray> changesJson(const QString &entity, PagingMode mode,
                                          const QString &since, qint64 offset, int limit,
                                          int *records, QString *error) const;

    /*!
        count() and changesJson() restricted to \a rows: count() gives exactly the number of
        changes the pages serve from the same position. \a rows (empty: every record) serves a
       caller the records it may see: the changes of the records that match it now (at their last
       change, as to everyone), and a deletion at each change that took a record out of it (a
       transaction that began with the record matching and left it not matching, or deleted), so
       that a device drops a record that left its rows. A caller is never served an id that did not
       match its rows in some committed state after (or at) its position. Every field of \a rows
       must be registered with setRowFields() first; a field the entity lacks or has not registered,
       or a value of the wrong JSON type for its field, is Internal.
    */
    std::optional<qint64> count(const QString &entity, PagingMode mode, const QString &since,
                                const RowFilter &rows, QString *error) const;
    std::optional<QByteArray> changesJson(const QString &entity, PagingMode mode,
                                          const QString &since, qint64 offset, int limit,
                                          const RowFilter &rows, int *records,
                                          QString *error) const;

    /*!
        Registers, in the database, the fields row filters use, per entity: from then on each
        transaction's change of a live record of the entity records a move (the registered
        fields' values before and after the transaction), which is how a record that leaves a
        filter is served as a deletion. Fields are only ever added (several servers of one
        database may register different ones); registering fields registered already writes
        nothing. A field registered later covers the moves made from then on only: a record
        that left a filter on it before is not served as a deletion. Moves are not purged.
        An unknown entity or field is BadRequest, and then nothing is registered.
    */
    bool setRowFields(const QHash<QString, QStringList> &fieldsByEntity, QString *error);

    /*! The fields registered for row filters of \a entity, by this backend or before. */
    QStringList rowFields(const QString &entity) const;

    /*!
        Applies the changes of a push (POST .../changes, protocol v1.1) in request order, in
        one transaction, and returns the answer's body: one result per change (see push.h and
        docs/protocol.md). Each (client, changeId) result is remembered for at least
        Push::RememberSeconds; a change whose changeId was seen gets the remembered result and
        is not applied. A failure of the database stores nothing (Internal); an unknown entity
        is NotFound. This base answers NotImplemented (501); ServerStore and PgServerStore
        override it.
    */
    virtual std::optional<QByteArray> push(const QString &entity, const PushRequest &request,
                                           QString *error);

    /*! Every live record of \a entity: id → values in schema order, typed as Change::values. */
    QHash<QString, QVariantList> liveRecords(const QString &entity) const;

    /*!
        The live records of \a entity among \a ids: id → values in schema order, typed as
        Change::values; nullopt when the database fails (Internal) or the entity is unknown.
    */
    std::optional<QHash<QString, QVariantList>>
    liveRecords(const QString &entity, const QStringList &ids, QString *error) const;

    /*!
        Calls \a observer with an entity's name when its changes may have moved on, from this
        backend's thread, possibly in the middle of a write (so \a observer must not use the
        backend; it only takes note). False when this backend cannot tell (callers then look
        for themselves now and then). This base cannot.
    */
    virtual bool observeChanges(std::function<void(const QString &entity)> observer)
    {
        Q_UNUSED(observer);
        return false;
    }
    /*!
        Whether a change observeChanges() told of may become readable only later (a safe
        watermark held back by an older transaction): callers then look again for a while.
    */
    virtual bool changesMayLag() const { return false; }

    /*! Number of live records of \a entity. */
    qint64 liveCount(const QString &entity) const;

protected:
    /*! What a backend keeps of each served entity; backends derive their own. */
    struct ServedEntity
    {
        virtual ~ServedEntity();
        EntitySchema schema;
        QString table; // quoted
        QList<QByteArray> fieldKeys; // PageWriter::fieldKeys(schema)
    };

    /*! \a connectionName must be unique in the process. */
    explicit ServerBackend(const QString &connectionName);
    Q_DISABLE_COPY_MOVE(ServerBackend)

    /*!
        One condition of a checked row filter: the field at \a field (schema order) equals
        \a value, typed for the field (QString, qint64, double, bool), or is null when
        \a value is null.
    */
    struct RowCondition
    {
        qsizetype field = 0;
        QVariant value;
    };
    using RowConditions = QList<RowCondition>;

    // ---- What each backend does its own way ----

    /*!
        The changes after \a since (checked but for the cursor, which is the backend's); with
        \a rows, those page() serves with them.
    */
    virtual std::optional<qint64> countChanges(ServedEntity *entity, PagingMode mode,
                                               const QString &since, const RowConditions &rows,
                                               QString *error) const = 0;
    /*!
        A page (see changesJson(); the arguments are checked but for the cursor). \a rows,
        when not empty, holds registered fields only.
    */
    virtual std::optional<QByteArray> page(ServedEntity *entity, PagingMode mode,
                                           const QString &since, qint64 offset, int limit,
                                           const RowConditions &rows, int *records,
                                           QString *error) const = 0;
    /*!
        Registers \a fields (checked, in the entity; some may be registered already) for row
        filters in the database, in one transaction. This base answers NotImplemented.
    */
    virtual bool registerRowFields(ServedEntity *entity, const QStringList &fields, QString *error);
    /*! Notes fields registered in the database (read at open). */
    void noteRowFields(const QString &entity, const QStringList &fields) const;
    /*!
        Reads the registered fields from \a table (entity, field), at open: fields of
        entities or fields not served are ignored. False with \a error set on failure.
    */
    bool readRowFields(const QString &table, QString *error) const;
    /*! Adds a checked \a schema's entity, or its new fields. */
    virtual bool addChecked(const EntitySchema &schema, QString *error) = 0;
    /*!
        SELECT of the live records: the id (named _bs_id, as text), then the fields in schema
        order.
    */
    virtual QString liveRecordsSql(const ServedEntity &entity) const = 0;
    /*! Reads the rows of liveRecordsSql() into \a records, typed as Change::values. */
    static void readLiveRows(QSqlQuery *query, const QList<FieldSpec> &fields,
                             QHash<QString, QVariantList> *records);
    /*! SELECT count(*) of the live records. */
    virtual QString liveCountSql(const ServedEntity &entity) const = 0;
    /*! Reads the catalogue again, when others may change it; called before entities(). */
    virtual void refreshCatalogue() const { }
    /*! After an Internal failure of a read: whether to look the entity up and try once more. */
    virtual bool retryAfterFailure() const { return false; }
    /*! A database error's text for messages. */
    virtual QString errorText(const QSqlError &error) const;

    // ---- Errors ----

    /*! Records the failure and sets \a error (when given) to \a message; returns false. */
    bool fail(ServerError::Type type, const QString &message, QString *error) const;
    bool failUnlessOpen(QString *error) const;

    // ---- The connection ----

    QString connectionName() const { return m_connectionName; }
    QSqlDatabase database() const;
    /*!
        Adds the named connection with \a driver; false (Unavailable, \a missingDriver) when
        Qt has no such driver, or when the name is taken.
    */
    bool addConnection(const QString &driver, const QString &missingDriver, QString *error);
    /*! Ends open(): open when \a problem is empty; otherwise closes and fails with it. */
    bool finishOpen(const QString &problem, QString *error);

    // ---- Transactions and queries ----

    bool beginTransaction(QString *error);
    bool commitTransaction(QString *error);
    void rollbackTransaction();
    /*! After beginTransaction() began one, and after it ended (committed or rolled back). */
    virtual void transactionBegun() { }
    virtual void transactionEnded() { }
    /*! Rolls back and fails with \a message (Internal unless \a type says otherwise). */
    bool rollbackAndFail(const QString &message, QString *error,
                         ServerError::Type type = ServerError::Type::Internal);
    /*!
        The query in \a slot, prepared from \a sql on first use and kept: a page must not pay
        for parsing SQL. Null (Internal) when it cannot be prepared.
    */
    QSqlQuery *prepared(std::unique_ptr<QSqlQuery> &slot, const QString &sql, QString *error) const;
    /*! The query in \a slot (see prepared()), in a transaction begun for it; null on failure. */
    QSqlQuery *beginWrite(std::unique_ptr<QSqlQuery> &slot, const QString &sql, QString *error);
    /*!
        A push in one transaction: \a results gives every change's result object (nullopt with
        its \c problem set when the database failed: then all is rolled back, Internal).
        Returns the answer's body.
    */
    std::optional<QByteArray> pushInTransaction(
        const QString &entity,
        const std::function<std::optional<QList<QByteArray>>(QString *problem)> &results,
        QString *error);
    /*! Runs \a sql; false with \a error set to errorText() (nothing recorded) on failure. */
    bool exec(const QString &sql, QString *error) const;

    // ---- The catalogue of served entities ----

    /*! The entity named \a name; null with NotFound (Unavailable when not open). */
    ServedEntity *findEntity(const QString &name, QString *error) const;
    const std::vector<std::unique_ptr<ServedEntity>> &servedEntities() const { return m_entities; }
    ServedEntity *servedEntity(const QString &name) const { return m_byName.value(name); }
    void addServedEntity(std::unique_ptr<ServedEntity> entity) const;
    /*! Replaces the catalogue; \a entities may hold entries taken with takeServedEntity(). */
    void setServedEntities(std::vector<std::unique_ptr<ServedEntity>> entities) const;
    std::unique_ptr<ServedEntity> takeServedEntity(ServedEntity *entity) const;
    /*!
        How \a schema extends \a existing (null: a new entity): \a merged receives the whole
        schema, \a added the new fields. False (Conflict) on a clash with another entity's
        name, an existing field's type or a field name in another letter case.
    */
    bool mergeSchema(const EntitySchema *existing, const EntitySchema &schema, EntitySchema *merged,
                     QList<FieldSpec> *added, QString *error) const;
    /*! A catalogue entry's field: its name and type, or why it is damaged. */
    static QString catalogueField(const QJsonObject &object, FieldSpec *field);
    /*! The catalogue entry of \a field: its name and type. */
    static QJsonObject catalogueEntry(const FieldSpec &field);

    bool invalidCursor(QString *error) const;

private:
    /*! \a rows checked against \a entity and typed; false (Internal) when it cannot apply. */
    bool rowConditions(const ServedEntity &entity, const RowFilter &rows, RowConditions *conditions,
                       QString *error) const;

    void closeConnection();
    /*!
        After a read of entity \a name failed: whether to read once more, from \a entity
        looked up again (see retryAfterFailure()); otherwise the first failure stands.
    */
    bool mayRetry(const QString &name, ServedEntity **entity, QString *error) const;

    QString m_connectionName;
    bool m_open = false;
    mutable ServerError m_lastError;
    mutable std::vector<std::unique_ptr<ServedEntity>> m_entities; // in catalogue order
    mutable QHash<QString, ServedEntity *> m_byName;
    mutable QHash<QString, QSet<QString>> m_rowFields; // entity → registered fields
};

} // namespace BatchSync
