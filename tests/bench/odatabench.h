#pragma once

#include <QString>
#include <QStringList>

namespace BatchSync::Bench {

/*! What batchsync-bench --source odata measures. */
struct ODataBenchOptions
{
    qint64 records = 100000; //!< Products seeded in SAP CAP
    int batchSize = 1000; //!< $top of every page, the client's batch size
    int rounds = 3; //!< rounds of (CAP's own rate, the sync), alternated
    QString workDir; //!< the local databases and logs
};

/*!
    --source odata: starts SAP CAP (tests/peers/cap) on 127.0.0.1 with options.records
    Products, then alternates, options.rounds times, CAP's own rate (a plain HTTP loop fetching
    the keyset pages the OData source fetches, in this process) and the real sync (a SyncEngine
    with the OData source, in a child process of this program, into a fresh local database),
    and prints both rates, their ratio, the client's peak RSS and a RESULT line. Returns the
    exit status.
*/
int runODataBench(const ODataBenchOptions &options);

/*! The sync child's main(): "--odata-sync-child endpoint database batchSize set". */
int odataSyncChildMain(const QStringList &arguments);

} // namespace BatchSync::Bench
