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
    the beginning; a change time without a key: from that time on, inclusive (the start of a
    safety window).
*/
struct KeysetPosition
{
    QString changeTime; //!< UTC as canonicalTime() writes it, with the service's precision
    QStringList key; //!< one value per key property, in key order

    bool isStart() const { return changeTime.isEmpty(); }
    friend bool operator==(const KeysetPosition &a, const KeysetPosition &b)
    {
        return a.changeTime == b.changeTime && a.key == b.key;
    }
};

/*!
    The OData source's position in an entity's run, kept by the engine as an opaque cursor
    (a compact JSON object). A run of a set with a change time reads the changes after
    \c position, then (unless it began from nothing) scans the keys for deletions; a set
    without one is reloaded whole, in key order.
*/
struct RunCursor
{
    enum class Phase { Changes, Deletions, Reload };

    Phase phase = Phase::Changes;
    /*! Changes: the last record read. Deletions: where the changes ended (kept for the next run).
     */
    KeysetPosition position;
    /*! Deletions and Reload: the key of the last record read; empty: from the first. */
    QStringList key;
    /*! The run began from nothing: no record was local before it, so no deletions to find. */
    bool fromStart = false;
    /*! The run ended here; the next one starts a safety window back (or reloads anew). */
    bool complete = false;
    /*!
        With delta links: the service's link to read next, a next link within a response's
        pages or, when complete, the delta link of the changes after this run. A Reload with
        a link is the initial read of a delta-tracked set; Changes with one read its deltas.
    */
    QString link;

    bool isDelta() const { return !link.isEmpty(); }

    friend bool operator==(const RunCursor &a, const RunCursor &b)
    {
        return a.phase == b.phase && a.position == b.position && a.key == b.key
            && a.fromStart == b.fromStart && a.complete == b.complete && a.link == b.link;
    }

    QString toString() const;
    /*!
        A stored cursor back; nullopt when it is not one of this source's for a key of
        \a keyCount properties. An empty \a text is the start of a first run.
    */
    static std::optional<RunCursor> parse(const QString &text, int keyCount);
};

/*!
    An Edm.DateTimeOffset value in UTC, "YYYY-MM-DDTHH:MM:SS[.fff...]Z", with the fraction
    digits the service sent (a keyset position must compare equal to the service's own
    value). nullopt when \a text is not a DateTimeOffset.
*/
std::optional<QString> canonicalTime(QStringView text);
/*! A canonical time as the local database holds it: "YYYY-MM-DDTHH:MM:SS.sssZ". */
QString localTime(const QString &canonical);
/*! Compares two canonical times as instants (<0, 0, >0). */
int compareTimes(const QString &a, const QString &b);

/*! \a value of \a property as an OData URL literal: 'O''Brien', 42, true, a GUID, a time. */
QString literal(const Property &property, const QString &value);

/*!
    The $filter that selects what follows the key values \a after in key order:
    k1 gt a or (k1 eq a and k2 gt b). Empty when \a after is empty.
*/
QString keyFilter(const EntitySet &set, const QStringList &after);

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
    The query of the next page in key order after \a after: every mapped property
    (\a keysOnly: the key properties only, for a scan of what exists), $orderby the key,
    $top \a limit and $count=true.
*/
QList<std::pair<QString, QString>> keyPageQuery(const EntitySet &set, const QStringList &after,
                                                int limit, bool keysOnly);

/*!
    Where an incremental sync starts: \a committed moved back by \a windowSeconds, without a
    key, so that a record stamped before the position and committed after it (a slow
    transaction) is read again. The start stays the start.
*/
KeysetPosition safetyWindowStart(const KeysetPosition &committed, int windowSeconds);

} // namespace BatchSync::OData
