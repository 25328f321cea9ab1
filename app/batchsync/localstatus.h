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
};

/*!
    What `batchsync --status` reports: the _sync_state of a local database, read without
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
