#pragma once

#include <QString>

namespace BatchSync::Bench {

/*! What batchsync-bench --live measures. */
struct LiveBenchOptions
{
    int clients = 100; //!< live clients (engines in this process, each on its own thread)
    int changes = 30; //!< changes the writer pushes, one at a time
    int intervalMs = 300; //!< the writer's pace: at least this long between two changes
    int idleWaits = 1000; //!< held GET /wait requests for the idle server's memory
    QString workDir; //!< the databases and logs
    QString serverBin; //!< batchsync-server
};

/*!
    --live: starts the real batchsync-server (SQLite, a small demo) and options.clients live
    clients (SyncEngine::setLive, each with its own local database), and waits until every one
    is up to date and waiting. Measures the server's RSS and CPU while they all wait (5 s).
    Then a writer pushes options.changes changes to one record, one at a time and at least
    options.intervalMs apart: for each, the latency from the writer's "applied" answer to each
    client's commit of that record (its engine's Completed state after the change, checked
    in its database at the end). Last, options.idleWaits raw connections each hold a wait, and
    the server's RSS is read again. Prints the figures and a RESULT line; returns 0, or 1 when
    a step or a check failed. Runs on the calling thread.
*/
int runLiveBench(const LiveBenchOptions &options);

} // namespace BatchSync::Bench
