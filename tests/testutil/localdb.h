#pragma once

#include "common/types.h"

#include <QHash>
#include <QString>
#include <QVariantList>

namespace BatchSync::Test {

/*!
    Every record of \a schema's table in the local database at \a path, read through a
    connection of its own (read-only): id → values in schema order, typed like
    ServerStore::liveRecords, so that the two compare with ==.
*/
QHash<QString, QVariantList> localRecords(const QString &path, const EntitySchema &schema);

/*!
    An empty string when the local database at \a path holds exactly \a expected for
    \a schema; otherwise what differs (missing, extra and changed ids, a few of each).
*/
QString differences(const QString &path, const EntitySchema &schema,
                    const QHash<QString, QVariantList> &expected);

} // namespace BatchSync::Test
