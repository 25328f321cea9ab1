#pragma once

#include <QString>
#include <QStringList>

namespace BatchSync::Bench {

/*! What batchsync-bench --postgres (without --push) measures. */
struct PgPullBenchOptions
{
    QString postgres; //!< a libpq connection string: the database the servers serve
    qint64 records = 100000; //!< records of the served table
    int batchSize = 1000; //!< the clients' --batch-size
    int clients = 1; //!< batchsync --headless processes syncing at once
    int servers = 1; //!< batchsync-server processes on the one database
    int runs = 3; //!< rounds, each with fresh local databases
    QString workDir; //!< the local databases and logs
    QString clientBin; //!< batchsync
    QString serverBin; //!< batchsync-server
    QStringList clientArgs; //!< extra arguments for every batchsync run
};

/*!
    --postgres without --push: the pull from PostgreSQL. Fills the table "pgpull" (an entity
    of 7 fields, about 200 bytes of values a record) with options.records records in one
    INSERT ... SELECT from generate_series (kept for the next invocation when it holds them
    already), then, options.runs times: starts options.servers real batchsync-server --postgres
    processes on the database and options.clients real batchsync --headless processes at once,
    spread over the servers in turn, each syncing every record into a fresh local database of
    its own (checked: it must hold them all). Prints each round (the aggregate: clients x
    records / the time from the first start to the last exit; each client's own rate; the
    servers' CPU time), the medians and a RESULT line. Runs on the calling thread; returns the
    exit status (0, or 1 when a step or a check failed).
*/
int runPgPullBench(const PgPullBenchOptions &options);

} // namespace BatchSync::Bench
