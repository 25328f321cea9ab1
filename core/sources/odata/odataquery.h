#pragma once

#include "sources/odata/odatametadata.h"

#include <QList>
#include <QString>
#include <QStringList>
#include <optional>
#include <utility>

/*!
    \file odataquery.h
    The OData v4 source's queries: keyset pages on a set's change time and key, never
    $skip over changing data (docs/protocol.md, "The OData v4 mapping"). Plain functions and
    values; any thread.
*/

namespace BatchSync::OData {

/*!
    Where a set's keyset order stands: the change time and the key of the last record
    applied (each key value as the service sent it, numbers as their exact text). Empty: from
    the beginning.
*/
struct KeysetPosition
{
    QString changeTime; //!< UTC, YYYY-MM-DDTHH:MM:SS.sssZ
    QStringList key; //!< one value per key property, in key order

    bool isStart() const { return changeTime.isEmpty(); }
    friend bool operator==(const KeysetPosition &a, const KeysetPosition &b)
    {
        return a.changeTime == b.changeTime && a.key == b.key;
    }

    /*! The position as the engine stores it (an opaque cursor): a compact JSON array. */
    QString toCursor() const;
    /*! A stored cursor back; nullopt when it is not one of \a keyCount key values. */
    static std::optional<KeysetPosition> fromCursor(const QString &cursor, int keyCount);
};

/*! \a value of \a property as an OData URL literal: 'O''Brien', 42, true, a GUID, a time. */
QString literal(const Property &property, const QString &value);

/*!
    The $filter that selects what follows \a after in (change time, key...) order:
    T gt t or (T eq t and (k1 gt a or (k1 eq a and k2 gt b))). Empty at the start.
*/
QString keysetFilter(const EntitySet &set, const KeysetPosition &after);

/*!
    The query of the next page of \a set after \a after: $select of the mapped properties
    and the key, $filter as keysetFilter(), $orderby the change time and the key, $top
    \a limit, and $count=true (the progress total of what follows).
*/
QList<std::pair<QString, QString>> pageQuery(const EntitySet &set, const KeysetPosition &after,
                                             int limit);

/*!
    Where an incremental sync starts: \a committed moved back by \a windowSeconds, without a
    key, so that a record stamped before the position and committed after it (a slow
    transaction) is read again. The start stays the start.
*/
KeysetPosition safetyWindowStart(const KeysetPosition &committed, int windowSeconds);

} // namespace BatchSync::OData
