#pragma once

#include "common/types.h"

#include <QList>
#include <QString>
#include <QStringList>
#include <functional>
#include <optional>

namespace BatchSync::Bench {

enum class SpinMode {
    Poll, //!< processes events without ever sleeping (the --gui measurement's way)
    Sleep //!< sleeps until the next event, as a window's event loop does
};
/*! Runs the event loop until \a done or \a timeoutMs; false on timeout. */
bool spinUntil(const std::function<bool()> &done, int timeoutMs, SpinMode mode = SpinMode::Poll);

/*! Record \a index of entity \a entity (both 0-based). */
using RecordMaker = std::function<Change(int entity, qint64 index)>;

/*!
    Makes \a path a local database holding \a schemas, entity i with \a rows[i] records, written
    by the local store as a first sync writes them (bulk load, then the index on id). A
    database that holds exactly that already is reused.
*/
bool prepareDataViewDatabase(const QString &path, const QList<EntitySchema> &schemas,
                             const QList<qint64> &rows, const RecordMaker &record, QString *error);

struct DataViewFigures
{
    double maxStallMs = 0; //!< the longest gap of a 5 ms timer in the window's event loop
    double maxBusyMs = 0; //!< the most the GUI thread ran within one such gap (its own work)
};

/*!
    --dataview: runs the desktop window on \a path in a child process of this program (with no
    server to reach), and there, in its data view, shows the first entity, types \a filter a
    key at a time, scrolls, sorts by each column, and switches entities. Returns the longest
    stall of the window's event loop, and the most the GUI thread worked within one stall (on
    a busy machine the rest is waiting for a CPU); \a report gets a line per step.
*/
std::optional<DataViewFigures> runDataViewChild(const QString &path, const QString &filter,
                                                const QString &logPrefix, QStringList *report,
                                                QString *error);

/*! The child's main(): "--dataview-child database filter". */
int dataViewChildMain(const QStringList &arguments);

} // namespace BatchSync::Bench
