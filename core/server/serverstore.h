#pragma once

#include "common/types.h"
#include "server/serverbackend.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>
#include <QVariantMap>
#include <memory>
#include <optional>
#include <vector>

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
    Identifier::check before it reaches SQL. Each entity is a table named as the entity:
    seq (the cursor), id, changed_at, deleted (tombstones keep their row, fields null), then
    a column "f_<field>" per field, so that a field may be called "seq" or "deleted".
    Strings go through SQLite's UTF-16 interface (all QSQLITE offers), which drops a leading
    U+FEFF. Before that, values have every lone surrogate, U+FFFE and U+FFFF replaced by U+FFFD
    (ServerJson::storableText, as PgServerStore does), and an id holding one is refused:
    SQLite would read text after a leading U+FFFE byte-swapped and let a lone surrogate take
    the next character with it.

    One named connection, used from the thread that called open() only.
*/
class ServerStore final : public ServerBackend
{
    Q_DISABLE_COPY_MOVE(ServerStore)

public:
    /*! \a databasePath may be ":memory:". \a connectionName must be unique in the process. */
    ServerStore(const QString &databasePath, const QString &connectionName);
    ~ServerStore() override;

    bool open(QString *error) override;
    bool isOpen() const override;
    QString databasePath() const { return m_path; }

    /*! The served entities, in the order they were added. */
    QList<EntitySchema> entities() const override;
    std::optional<EntitySchema> entity(const QString &name) const override;

    /*! Adds an entity, or adds the fields it lacks to an existing one. */
    bool addEntity(const EntitySchema &schema, QString *error) override;

    /*!
        Inserts or updates records: \a data maps field names to values (QString, integer,
        double, bool, datetime as protocol text or QDateTime, or null). Each record gets a new
        sequence number and changedAt. All in one transaction. A record is replaced, not
        merged: fields absent from \a data become null. An unknown field, a value of the wrong
        type or a malformed timestamp is an error, and then nothing of the batch is written.
    */
    bool upsert(const QString &entity, const QList<std::pair<QString, QVariantMap>> &records,
                QString *error) override;
    bool upsert(const QString &entity, const QString &id, const QVariantMap &data,
                QString *error) override;

    /*! Marks records deleted (a tombstone with a new sequence number and changedAt). */
    bool remove(const QString &entity, const QStringList &ids, QString *error) override;

    /*!
        Changes after \a since: a cursor (cursor mode; empty: all, not a non-negative integer:
        error "invalid cursor") or a changedSince timestamp (offset mode; empty: all).
    */
    std::optional<qint64> count(const QString &entity, PagingMode mode, const QString &since,
                                QString *error) const override;

    /*!
        The JSON body of GET .../changes, written directly (no DOM per record).
        Cursor mode: changes with sequence > since, by sequence. Offset mode: changes with
        changedAt > since (strictly), by changedAt then id, skipping \a offset.
        \a records receives the number of changes in the page.
        Cursor mode bodies carry "cursor" (the sequence of the last change returned, or
        \a since when the page is empty; "0" from the beginning). Offset mode bodies carry
        none, like a pure offset endpoint, so that clients are exercised without one.
        Errors: unknown entity, "invalid cursor", an invalid changedSince, limit < 1 or
        offset < 0.
    */
    std::optional<QByteArray> changesJson(const QString &entity, PagingMode mode,
                                          const QString &since, qint64 offset, int limit,
                                          int *records, QString *error) const override;

    /*!
        Every live (not deleted) record of \a entity: id → values in schema order, typed as
        in Change::values. For tests and tools that compare a client's copy with the server.
    */
    QHash<QString, QVariantList> liveRecords(const QString &entity) const override;

    /*! Number of live records of \a entity. */
    qint64 liveCount(const QString &entity) const override;

private:
    struct Entity;

    Entity *findEntity(const QString &name, QString *error) const;
    bool loadCatalogue(QString *error);
    bool writeCatalogue(const Entity &entity, QString *error);
    bool createTable(const Entity &entity, QString *error);
    bool beginTransaction(QString *error);
    bool commitTransaction(QString *error);
    void rollbackTransaction();
    QString nextChangedAt(Entity *entity);

    QString m_path;
    QString m_connectionName;
    bool m_open = false;
    std::vector<std::unique_ptr<Entity>> m_entities; // in catalogue order
    QHash<QString, Entity *> m_byName;
    qint64 m_lastClockMs = -1; // Timestamp::now() costs a QDateTime format; cache it per ms
    QString m_lastClockText;
};

} // namespace BatchSync
