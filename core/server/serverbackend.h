#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>
#include <QVariantMap>
#include <optional>
#include <utility>

/*!
    \file serverbackend.h
    What the reference server serves from: the interface of its databases.
*/

namespace BatchSync {

/*!
    The data behind SyncServer and DemoData: served entities, their records with a change
    log (cursor and changedAt paging, tombstones) and the protocol's JSON pages. ServerStore
    keeps it in SQLite, PgServerStore in PostgreSQL; both give the same JSON bytes for the
    same data, except for the cursor's text, which is opaque to clients.

    A backend is used from the thread that called open() only.
*/
class ServerBackend
{
public:
    virtual ~ServerBackend() = default;

    /*! Connects to (creating if needed) the database; false with \a error set on failure. */
    virtual bool open(QString *error) = 0;
    virtual bool isOpen() const = 0;

    /*! The served entities, in the order they were added. */
    virtual QList<EntitySchema> entities() const = 0;
    virtual std::optional<EntitySchema> entity(const QString &name) const = 0;

    /*! Adds an entity, or adds the fields it lacks to an existing one. */
    virtual bool addEntity(const EntitySchema &schema, QString *error) = 0;

    /*!
        Inserts or replaces records (fields absent from the data become null), each with a
        new change; all or nothing. See ServerStore::upsert for the accepted values.
    */
    virtual bool upsert(const QString &entity,
                        const QList<std::pair<QString, QVariantMap>> &records, QString *error)
        = 0;
    virtual bool upsert(const QString &entity, const QString &id, const QVariantMap &data,
                        QString *error)
        = 0;

    /*! Deletes records, leaving a tombstone for each; unknown ids change nothing. */
    virtual bool remove(const QString &entity, const QStringList &ids, QString *error) = 0;

    /*! Number of changes after a cursor or a changedSince timestamp (empty: all). */
    virtual std::optional<qint64> count(const QString &entity, PagingMode mode,
                                        const QString &since, QString *error) const = 0;

    /*! The JSON body of GET .../changes; see ServerStore::changesJson. */
    virtual std::optional<QByteArray> changesJson(const QString &entity, PagingMode mode,
                                                  const QString &since, qint64 offset, int limit,
                                                  int *records, QString *error) const = 0;

    /*! Every live record of \a entity: id → values in schema order, typed as Change::values. */
    virtual QHash<QString, QVariantList> liveRecords(const QString &entity) const = 0;

    /*! Number of live records of \a entity. */
    virtual qint64 liveCount(const QString &entity) const = 0;

protected:
    ServerBackend() = default;
    Q_DISABLE_COPY_MOVE(ServerBackend)
};

} // namespace BatchSync
