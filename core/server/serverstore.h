#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>
#include <QVariantMap>

#include <optional>

/*!
    \file serverstore.h
    The reference server's data, in SQLite through QtSql.
*/

namespace BatchSync {

/*!
    The reference server's database. One table per entity holding every record's current
    version and a tombstone for every deleted one; each change takes the next sequence
    number of its entity, which is the cursor (keyset paging: a page costs the same whether
    it is the first or the thousandth, and a record that changes again simply moves after
    the cursor). changedAt is the time of the change, never earlier than the entity's
    previous changedAt, in the protocol's millisecond form.

    Entities and their fields are kept in a catalogue table. Everything is checked with
    Identifier::check before it reaches SQL.

    One named connection, used from the thread that called open() only.
*/
class ServerStore final
{
    Q_DISABLE_COPY_MOVE(ServerStore)

public:
    /*! \a databasePath may be ":memory:". \a connectionName must be unique in the process. */
    ServerStore(const QString &databasePath, const QString &connectionName);
    ~ServerStore();

    bool open(QString *error);
    bool isOpen() const;
    QString databasePath() const { return m_path; }

    /*! The served entities, in the order they were added. */
    QList<EntitySchema> entities() const;
    std::optional<EntitySchema> entity(const QString &name) const;

    /*! Adds an entity, or adds the fields it lacks to an existing one. */
    bool addEntity(const EntitySchema &schema, QString *error);

    /*!
        Inserts or updates records: \a data maps field names to values (QString, integer,
        double, bool, datetime as protocol text, or null). Each record gets a new sequence
        number and changedAt. All in one transaction.
    */
    bool upsert(const QString &entity, const QList<std::pair<QString, QVariantMap>> &records,
                QString *error);
    bool upsert(const QString &entity, const QString &id, const QVariantMap &data, QString *error);

    /*! Marks records deleted (a tombstone with a new sequence number and changedAt). */
    bool remove(const QString &entity, const QStringList &ids, QString *error);

    /*! Changes after \a since: a cursor (cursor mode) or a changedSince timestamp (offset). */
    std::optional<qint64> count(const QString &entity, PagingMode mode, const QString &since,
                                QString *error) const;

    /*!
        The JSON body of GET .../changes, written directly (no DOM per record).
        Cursor mode: changes with sequence > since, by sequence. Offset mode: changes with
        changedAt > since (strictly), by changedAt then id, skipping \a offset.
        \a records receives the number of changes in the page.
    */
    std::optional<QByteArray> changesJson(const QString &entity, PagingMode mode,
                                          const QString &since, qint64 offset, int limit,
                                          int *records, QString *error) const;

    /*!
        Every live (not deleted) record of \a entity: id → values in schema order, typed as
        in Change::values. For tests and tools that compare a client's copy with the server.
    */
    QHash<QString, QVariantList> liveRecords(const QString &entity) const;

    /*! Number of live records of \a entity. */
    qint64 liveCount(const QString &entity) const;

private:
    QString m_path;
    QString m_connectionName;
};

} // namespace BatchSync
