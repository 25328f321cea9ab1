#pragma once

#include "common/types.h"
#include "server/serverbackend.h"

#include <QHash>
#include <QString>
#include <memory>
#include <optional>
#include <vector>

/*!
    \file pgserverstore.h
    The reference server's data in PostgreSQL, through Qt's QPSQL driver.
*/

namespace BatchSync {

/*!
    Where a PostgreSQL server is, from a libpq connection string ("host=db port=5432
    dbname=shop user=sync password='a b'") or URI ("postgresql://sync@db:5432/shop").
    Keywords other than host, port, dbname, user and password pass through to libpq.
*/
struct PgConnection
{
    QString host;
    int port = -1;
    QString databaseName;
    QString userName;
    QString password;
    QString options; // the other keywords, as "key=value" separated by spaces

    /*! Parses \a text; false with \a error set when it is malformed. */
    static bool parse(const QString &text, PgConnection *connection, QString *error);
    /*! host, port, dbname and user, for messages (never the password). */
    QString describe() const;
};

/*!
    ServerBackend in PostgreSQL. Stateless: every change is stamped inside PostgreSQL, so
    any number of server processes may serve and write one database; each one re-reads the
    catalogue when asked for an entity it does not know and for the entity list.

    Tables: every served entity is a table with an id column (unique), its field columns and
    three bookkeeping columns that triggers keep: _bs_seq (a database-wide sequence),
    _bs_xid (the writing transaction's id, xid8) and _bs_changed_at (protocol text, UTC).
    A DELETE leaves a row in _bs_tombstones; the catalogue is _bs_entities. Entities added
    through addEntity get a table named as the entity with a column per field; any existing
    table can be served by batchsync_track('table'), an SQL function open() installs.

    The safe watermark: a change is served only once every transaction older than its own
    has ended, that is when its _bs_xid is below the current snapshot's xmin. Changes are
    served in (_bs_xid, _bs_seq) order and the cursor ("xid.seq") holds both, so a
    transaction that commits late can never land behind a cursor that has moved on: its
    xid is at least the xmin of every page served while it was open. Offset mode applies
    the same watermark (see the README for what remains there). A transaction left open
    holds every entity's changes back until it ends, never loses them.

    Field values are checked as ServerStore checks them; text cannot hold U+0000 in
    PostgreSQL, so such a string is an error here.

    One named QSqlDatabase connection, used from the thread that called open() only.
*/
class PgServerStore final : public ServerBackend
{
    Q_DISABLE_COPY_MOVE(PgServerStore)

public:
    /*! \a connectionString: see PgConnection. \a connectionName must be unique. */
    PgServerStore(const QString &connectionString, const QString &connectionName);
    ~PgServerStore() override;

    /*! Whether Qt's PostgreSQL driver (Debian: libqt6sql6-psql) is installed. */
    static bool isDriverAvailable();

    /*!
        Connects (failing within connect_timeout, 10 s unless the string says otherwise),
        and installs the catalogue, the tombstone table, the triggers' functions and
        batchsync_track() in the current schema when they are missing.
    */
    bool open(QString *error) override;
    bool isOpen() const override { return m_open; }
    /*! The schema the bookkeeping lives in (the connection's current_schema). */
    QString schemaName() const { return m_schema; }

    QList<EntitySchema> entities() const override;
    std::optional<EntitySchema> entity(const QString &name) const override;
    bool addEntity(const EntitySchema &schema, QString *error) override;
    bool upsert(const QString &entity, const QList<std::pair<QString, QVariantMap>> &records,
                QString *error) override;
    bool upsert(const QString &entity, const QString &id, const QVariantMap &data,
                QString *error) override;
    bool remove(const QString &entity, const QStringList &ids, QString *error) override;

    /*!
        Cursor mode: \a since is empty, "0" or a cursor this backend returned ("xid.seq");
        anything else is "invalid cursor". Offset mode: a changedSince timestamp or empty.
        Both count only changes below the watermark, as changesJson serves them.
    */
    std::optional<qint64> count(const QString &entity, PagingMode mode, const QString &since,
                                QString *error) const override;
    std::optional<QByteArray> changesJson(const QString &entity, PagingMode mode,
                                          const QString &since, qint64 offset, int limit,
                                          int *records, QString *error) const override;
    QHash<QString, QVariantList> liveRecords(const QString &entity) const override;
    qint64 liveCount(const QString &entity) const override;

private:
    struct Entity;

    Entity *findEntity(const QString &name, QString *error) const;
    bool reloadCatalogue(QString *error) const;
    bool install(QString *error);
    bool exec(const QString &sql, QString *error) const;
    bool beginTransaction(QString *error);
    bool commitTransaction(QString *error);
    void rollbackTransaction();
    std::optional<QByteArray> page(Entity *entity, PagingMode mode, const QString &since,
                                   qint64 offset, int limit, int *records, QString *error) const;
    std::optional<qint64> countChanges(Entity *entity, PagingMode mode, const QString &since,
                                       QString *error) const;

    QString m_connectionString;
    QString m_connectionName;
    QString m_schema; // quoted
    bool m_open = false;
    mutable std::vector<std::unique_ptr<Entity>> m_entities; // catalogue order
    mutable QHash<QString, Entity *> m_byName;
};

} // namespace BatchSync
