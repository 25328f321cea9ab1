#pragma once

#include <QString>
#include <QStringList>
#include <functional>
#include <string>

namespace BatchSync::Bench {

/*! One generated record of batchsync-bench, the values the server holds for it. */
struct BenchRecord
{
    std::string id, name, email, note, updated;
    double amount = 0;
    qint64 quantity = 0;
    bool active = false;
};

/*!
    The rows the storage references write beside a sync: record i (0-based, of \a records)
    belongs to table i % tables.size() (the sync's entities), in that order within each table.
*/
struct StorageWork
{
    QString path; //!< the database file; removed (with its WAL) before and after
    QStringList tables; //!< the entities' tables, e.g. bench1..bench4
    qint64 records = 0;
    int batchSize = 1000; //!< rows per transaction
    std::function<BenchRecord(qint64 index)> record; //!< the record of an index
};

/*! What a storage reference measured: rows per second, or why it could not. */
struct StorageRate
{
    bool ok = false;
    double rowsPerSecond = 0;
    QString message;
};

/*!
    The baseline: the rows upserted through the sqlite3 C API into TEXT PRIMARY KEY tables,
    --batch-size rows plus one state-row update per transaction, prepared statements, the
    client's settings (WAL, synchronous=NORMAL, cache_size=-16384, wal_autocheckpoint=10000).
    Only the transactions are timed (the rows are made between them).
*/
StorageRate runBaseline(const StorageWork &work);

/*!
    The floor: the rows, made in memory first (no parsing, no network), appended through the
    sqlite3 C API with one prepared INSERT per table into tables without any index, committed
    every --batch-size rows, then indexed once per table (the unique index on id a first sync
    builds at its end), with the client's settings for a first sync (WAL, synchronous=NORMAL,
    wal_autocheckpoint=10000, threads=1, a 2 MiB page cache while appending and 512 KiB while
    indexing, and the client's WalCheckpointer on a thread of its own). Timed as a whole, from
    opening the database to its last index; not the close (its time is in the message).
*/
StorageRate runFloor(const StorageWork &work);

} // namespace BatchSync::Bench
