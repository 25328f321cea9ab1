#pragma once

#include "common/types.h"

#include <QString>
#include <QUrl>

namespace BatchSync {

/*!
    Everything a SyncEngine needs to know: where to sync from, into which local database,
    and how. A plain value; any thread.
*/
struct SyncSettings
{
    static constexpr int MinBatchSize = 100;
    static constexpr int MaxBatchSize = 10000;
    static constexpr int DefaultBatchSize = 1000;
    static constexpr int MaxConcurrency = 16;
    static constexpr int DefaultTargetBatchMs = 250;
    static constexpr int MinTargetBatchMs = 20;
    static constexpr int MaxTargetBatchMs = 10000;

    SourceKind source = SourceKind::Protocol; //!< what speaks at the endpoint
    QUrl endpoint; //!< protocol base URL, e.g. http://127.0.0.1:8080/api/v1
    QString token; //!< bearer token; empty: none
    QString databasePath; //!< the local SQLite file
    PagingMode paging = PagingMode::Cursor;
    int batchSize = DefaultBatchSize; //!< records per request, MinBatchSize..MaxBatchSize
    /*!
        When true, batchSize is only the first batch's size: each entity then sizes its
        batches within MinBatchSize..MaxBatchSize so that one batch (request, parse and
        store) takes about targetBatchMs.
    */
    bool adaptiveBatchSize = false;
    int targetBatchMs = DefaultTargetBatchMs; //!< MinTargetBatchMs..MaxTargetBatchMs
    int concurrency = 2; //!< entities syncing at once, 1..MaxConcurrency
    int transferTimeoutMs = 30000; //!< a request with no data for this long fails
    int retryBaseDelayMs = 500; //!< first retry delay; doubles per attempt, with jitter
    int retryMaxDelayMs = 30000; //!< cap of one retry delay (Retry-After included)
    int retryGiveUpMs = 120000; //!< a failing batch is given up after this long
    int progressIntervalMs = 50; //!< at most one progress signal per entity per interval

    /*! An empty string when the settings can be used, otherwise why not. */
    QString validate() const;
};

} // namespace BatchSync
