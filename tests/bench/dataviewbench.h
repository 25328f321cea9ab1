#pragma once

#include "common/types.h"

#include <QList>
#include <QString>
#include <QStringList>
#include <functional>
#include <optional>

namespace BatchSync::Bench {

/*! Runs the event loop until \a done or \a timeoutMs; false on timeout. */
bool spinUntil(const std::function<bool()> &done, int timeoutMs);

/*! Record \a index of entity \a entity (both 0-based). */
using RecordMaker = std::function<Change(int entity, qint64 index)>;

/*!
    Makes \a path a local database holding \a schemas, entity i with \a rows[i] records, written
    by the local store as a first sync writes them (bulk load, then the index on id). A
    database that holds exactly that already is reused.
*/
bool prepareDataViewDatabase(const QString &path, const QList<EntitySchema> &schemas,
                             const QList<qint64> &rows, const RecordMaker &record, QString *error);

/*!
    --dataview: runs the desktop window on \a path in a child process of this program (with no
    server to reach), and there, in its data view, shows the first entity, types \a filter a
    key at a time, scrolls, sorts by each column, and switches entities. Returns the longest
    stall of the window's event loop in ms; \a report gets a line per step.
*/
std::optional<double> runDataViewChild(const QString &path, const QString &filter,
                                       const QString &logPrefix, QStringList *report,
                                       QString *error);

/*! The child's main(): "--dataview-child database filter". */
int dataViewChildMain(const QStringList &arguments);

} // namespace BatchSync::Bench
