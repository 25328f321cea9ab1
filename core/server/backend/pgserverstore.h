#pragma once

#include "common/types.h"
#include "server/backend/pgconnection.h"
#include "server/backend/pglink.h"
#include "server/backend/serverbackend.h"

#include <QHash>
#include <QString>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

/*!
    \file pgserverstore.h
    The reference server's data in PostgreSQL, through Qt's QPSQL driver.
*/

namespace BatchSync {

/*!
    ServerBackend in PostgreSQL. Stateless: every change is stamped inside PostgreSQL, so
    any number of server processes may serve and write one database; each one re-reads the
    catalogue when asked for an entity it does not know and for the entity list.

    Tables: every served entity is a table with an id column (unique), its field columns and
    three bookkeeping columns that triggers keep: _bs_seq (a database-wide sequence),
    _bs_xid (the writing transaction's id, xid8) and _bs_changed_at (protocol text, UTC).
    A DELETE leaves a row in _bs_tombstones; the catalogue is _bs_entities. Entities added
    through addEntity get a table named as the entity with a column per field; any existing
    table can be served by batchsync_track('table'), an SQL function open() installs (the
    SQL is in backend/sql/, compiled in as resources).

    The safe watermark: a change is served only once every transaction older than its own
    has ended, that is when its _bs_xid is below the current snapshot's xmin. Changes are
    served in (_bs_xid, _bs_seq) order and the cursor ("xid.seq") holds both, so a
    transaction that commits late can never land behind a cursor that has moved on: its
    xid is at least the xmin of every page served while it was open. Offset mode applies
    the same watermark (see the README for what remains there). A transaction left open
    holds every entity's changes back until it ends, never loses them.

    Field values are checked as ServerStore checks them; text cannot hold U+0000 in
    PostgreSQL, so such a string is an error here.

    One named QSqlDatabase connection, and one libpq connection (PgLink) for the pages of
    changes and their counts, used from the thread that called open() only.
*/
class PgServerStore final : public ServerBackend
{
    Q_DISABLE_COPY_MOVE(PgServerStore)

public:
    /*! \a connectionString: see PgConnection. \a connectionName must be unique. */
    PgServerStore(const QString &connectionString, const QString &connectionName);
    ~PgServerStore() override;

    /*!
        LISTENs on the channel the triggers notify (batchsync_changes, the entity as payload),
        so that every write to a served table, by any server or plain SQL, is told.
    */
    bool observeChanges(std::function<void(const QString &entity)> observer) override;
    bool changesMayLag() const override { return true; }

    /*! Whether Qt's PostgreSQL driver (Debian: libqt6sql6-psql) is installed. */
    static bool isDriverAvailable();

    /*!
        Connects (failing within connect_timeout, 10 s unless the string says otherwise),
        and installs the catalogue, the tombstone table, the triggers' functions and
        batchsync_track() in the current schema when they are missing.
    */
    bool open(QString *error) override;
    /*! The schema the bookkeeping lives in (the connection's current_schema). */
    QString schemaName() const { return m_schema; }

    /*! Deletes rows; the trigger leaves a tombstone for each. */
    bool remove(const QString &entity, const QStringList &ids, QString *error) override;
    /*! Upserts rows, many per statement; the triggers stamp each as a change. */
    bool upsert(const QString &entity, const QList<std::pair<QString, QVariantMap>> &records,
                QString *error) override;
    using ServerBackend::upsert;

    /*!
        Applies a push (see ServerBackend::push). A record's version is the sequence number
        of its last change, as text. Results are remembered in the table _bs_pushes. A value
        the table refuses (a constraint, a value its column type cannot take) rejects that
        change.
    */
    std::optional<QByteArray> push(const QString &entity, const PushRequest &request,
                                   QString *error) override;

private:
    struct Entity;
    class PushRun; // pgpush.cpp

    // ServerBackend in PostgreSQL. Entities are added under the catalogue lock, which keeps
    // other server processes out meanwhile; they may change the catalogue at any time, so it
    // is read again before listing entities and after a failed read (a table changed under
    // us); messages are the server's own, not the driver's. Cursor mode: since is empty, "0"
    // or a cursor this backend returned ("xid.seq"); anything else is "invalid cursor". Both
    // modes count and serve only changes below the watermark.
    bool addChecked(const EntitySchema &schema, QString *error) override;
    void refreshCatalogue() const override;
    bool retryAfterFailure() const override;
    QString errorText(const QSqlError &error) const override;
    std::optional<qint64> countChanges(ServedEntity *entity, PagingMode mode, const QString &since,
                                       const RowConditions &rows, QString *error) const override;
    std::optional<QByteArray> page(ServedEntity *entity, PagingMode mode, const QString &since,
                                   qint64 offset, int limit, const RowConditions &rows,
                                   int *records, QString *error) const override;
    // Row filters (pgrows.cpp): _bs_row_fields lists the registered fields, and the tombstone
    // trigger records in _bs_moves the values of an entity's registered fields before and
    // after each transaction's change of a live record, whoever writes.
    bool registerRowFields(ServedEntity *entity, const QStringList &fields,
                           QString *error) override;
    /*!
        The SQL of a page (or a count, \a count) under \a rows into \a sql, and its
        parameters' text into \a parameters: the filter's values, the position (\a since),
        \a offset and \a limit + 1.
    */
    void rowsQuery(Entity *entity, PagingMode mode, bool count, const QString &since,
                   const RowConditions &rows, qint64 offset, int limit, QString *sql,
                   QList<QByteArray> *parameters) const;
    /*! Runs a read of \a entity's changes on the libpq connection; fails as "cannot \a what". */
    PgResult readChanges(Entity *entity, const QString &sql, const QList<QByteArray> &parameters,
                         const QString &what, QString *error) const;
    /*!
        The position ("xid.seq") of the entity's last change below the watermark now, empty
        when none: a filtered page that reaches the end moves its cursor there, past the
        changes it did not serve (read before the page, so that the page sees every change up
        to it).
    */
    std::optional<QString> lastPosition(Entity *entity, QString *error) const;
    QString liveRecordsSql(const ServedEntity &entity) const override;
    QString liveCountSql(const ServedEntity &entity) const override;

    Entity *findEntity(const QString &name, QString *error) const;
    bool reloadCatalogue(QString *error) const;
    bool install(QString *error);

    QString m_connectionString;
    QString m_schema; // quoted
    std::unique_ptr<PgLink> m_link; // the reads of changes
};

} // namespace BatchSync
