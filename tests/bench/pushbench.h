#pragma once

#include "common/types.h"

#include <QString>
#include <QStringList>

namespace BatchSync::Bench {

/*! What batchsync-bench --push measures. */
struct PushBenchOptions
{
    qint64 records = 100000; //!< records on the server, each changed locally once per run
    int batchSize = 1000; //!< the client's --batch-size, for the push and the pull
    int runs = 3; //!< rounds of (edit, push, pull) over the same local database
    QString workDir; //!< the databases and logs
    QString clientBin; //!< batchsync
    QString serverBin; //!< batchsync-server
    QString postgres; //!< a libpq connection string: the server serves PostgreSQL; empty: SQLite
    QStringList clientArgs; //!< extra arguments for every batchsync run
};

/*!
    --push: seeds the server's database with options.records records of one entity, starts the
    real batchsync-server on it and syncs them into a fresh local database with the real
    batchsync --headless. Then, options.runs times: changes every local record with plain SQL
    (the capture triggers record N pending changes), times batchsync --headless --direction
    push from start to exit, checks that nothing is pending, no conflict is kept and the server
    holds every new value, and times the pull of the same N changes (--direction pull) for the
    push/pull ratio. Prints each round, the medians and a RESULT line. Runs on the calling
    thread; returns the exit status (0, or 1 when a step or a check failed).
*/
int runPushBench(const PushBenchOptions &options);

/*!
    The benchmarks' server entity \a name: 7 fields (3 strings, real, int, bool, datetime),
    about 200 bytes of values a record, like the first-sync benchmark's.
*/
EntitySchema pushSchema(const QString &name);

/*! The CPU time (user + system clock ticks) process \a pid has used so far; -1 when gone. */
qint64 processCpuTicks(qint64 pid);
double ticksToSeconds(qint64 ticks);

} // namespace BatchSync::Bench
