#pragma once

#include "common/types.h"
#include "server/backend/serverbackend.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>
#include <QVariantMap>
#include <functional>
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
    (ServerValues::storableText, as PgServerStore does), and an id holding one is refused:
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
    QString databasePath() const { return m_path; }

    /*!
        Inserts or updates records: \a data maps field names to values (QString, integer,
        double, bool, datetime as protocol text or QDateTime, or null). Each record gets a new
        sequence number and changedAt. All in one transaction. A record is replaced, not
        merged: fields absent from \a data become null. An unknown field, a value of the wrong
        type or a malformed timestamp is an error (BadRequest), and then nothing of the batch
        is written.
    */
    bool upsert(const QString &entity, const QList<std::pair<QString, QVariantMap>> &records,
                QString *error) override;
    using ServerBackend::upsert;

    /*! Marks records deleted (a tombstone with a new sequence number and changedAt). */
    bool remove(const QString &entity, const QStringList &ids, QString *error) override;

    /*!
        Applies a push (see ServerBackend::push). A record's version is the sequence number of
        its last change, as text. Results are remembered in the table _bs_pushes.
    */
    std::optional<QByteArray> push(const QString &entity, const PushRequest &request,
                                   QString *error) override;

    /*!
        Tells \a observer the entity of every row this connection writes, as SQLite writes it
        (sqlite3_update_hook): the server is the only writer of its SQLite database.
    */
    bool observeChanges(std::function<void(const QString &entity)> observer) override;

    // The cursor is the sequence number of the last change returned: a non-negative integer.

private:
    struct Entity;

    // ServerBackend in SQLite: pages and counts read through the sqlite3 C API (sqlitepage.h).
    std::optional<QByteArray> page(ServedEntity *entity, PagingMode mode, const QString &since,
                                   qint64 offset, int limit, int *records,
                                   QString *error) const override;
    std::optional<qint64> countChanges(ServedEntity *entity, PagingMode mode, const QString &since,
                                       QString *error) const override;
    bool addChecked(const EntitySchema &schema, QString *error) override;
    QString liveCountSql(const ServedEntity &entity) const override;
    QString liveRecordsSql(const ServedEntity &entity) const override;

    Entity *findEntity(const QString &name, QString *error) const;
    bool loadCatalogue(QString *error);
    bool writeCatalogue(const Entity &entity, QString *error);
    bool createTable(const Entity &entity, QString *error);
    QString nextChangedAt(Entity *entity);
    bool restoreAndFail(Entity *entity, qint64 seq, const QString &changedAt, QString *error);
    class PushRun; // sqlitepush.cpp

    static void onRowWritten(void *store, int operation, const char *database, const char *table,
                             qint64 row);

    QString m_path;
    std::function<void(const QString &entity)> m_observer;
    qint64 m_lastClockMs = -1; // Timestamp::now() costs a QDateTime format; cache it per ms
    QString m_lastClockText;
};

} // namespace BatchSync
