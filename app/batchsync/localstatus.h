#pragma once

#include "output/progressoutput.h"
#include "store/localstore.h"

#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>
#include <optional>

namespace BatchSync {

/*! One entity's saved state, as `batchsync --status` shows it. */
struct EntityReport
{
    StoredEntity stored; //!< its _sync_state row (the schema's fields are not read)
    qint64 records = -1; //!< rows in the entity's table; -1 when it has none
    // Local changes not pushed yet (_sync_pending), and conflicts and rejections kept
    // (_sync_conflicts); 0 in a database of a format without these tables.
    qint64 pendingNew = 0; //!< records created locally
    qint64 pendingChanged = 0; //!< records edited locally
    qint64 pendingDeleted = 0; //!< records deleted locally
    qint64 conflicts = 0; //!< changes that met a newer server record
    qint64 rejected = 0; //!< changes the server refused

    qint64 pending() const { return pendingNew + pendingChanged + pendingDeleted; }
};

/*!
    What `batchsync --status` reports: the _sync_state of a local database, with each
    entity's pending local changes and kept conflicts, read without
    contacting any server and without changing anything on disk. Main thread.
*/
class LocalStatus final
{
public:
    /*!
        Reads every entity's saved state from the local database at \a path, in name order.
        Never creates the file, nor the -wal and -shm files beside it when nothing else has
        the database open (a read-only connection would): a quiet database is read as an
        immutable file, and read again through an ordinary read-only connection if it
        changed meanwhile. nullopt with \a error set when the file does not exist or is not
        a BatchSync local database.
    */
    static std::optional<QList<EntityReport>> read(const QString &path, QString *error);

    /*! A table for a person: one line per entity, and the reason below a failed one. */
    static QString text(const QString &path, const QList<EntityReport> &entities);
    /*! The fields of the JSON "status" line (see `batchsync --help`). */
    static QJsonObject json(const QString &path, const QList<EntityReport> &entities);

    /*!
        `batchsync --status`: prints the state of \a entities (empty: all) in the database at
        \a path as \a output says; returns the exit code (1 when it cannot be read).
    */
    static int print(const QString &path, const QStringList &entities, ProgressOutput output);
};

} // namespace BatchSync
