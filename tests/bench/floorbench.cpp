// The storage references of batchsync-bench: the same rows as the sync's through the sqlite3
// C API, upserted (the baseline) and appended then indexed (the floor).

#include "floorbench.h"

#include "store/walcheckpointer.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <vector>

#ifdef BATCHSYNC_BENCH_HAVE_SQLITE3
#include <sqlite3.h>
#endif

namespace BatchSync::Bench {

#ifdef BATCHSYNC_BENCH_HAVE_SQLITE3
namespace {

void removeDatabase(const QString &path)
{
    for (const char *suffix : { "", "-wal", "-shm" })
        QFile::remove(path + QLatin1String(suffix));
}

// A connection and the first error it met (then every later call does nothing).
class Connection final
{
    Q_DISABLE_COPY_MOVE(Connection)

public:
    explicit Connection(const QString &path)
    {
        removeDatabase(path);
        const QByteArray file = QFile::encodeName(path);
        if (sqlite3_open(file.constData(), &m_db) != SQLITE_OK)
            failed();
    }
    ~Connection() { close(); }

    bool ok() const { return m_message.isEmpty(); }
    QString message() const { return m_message; }

    bool exec(const QByteArray &sql)
    {
        char *message = nullptr;
        if (ok() && sqlite3_exec(m_db, sql.constData(), nullptr, nullptr, &message) != SQLITE_OK) {
            m_message
                = QStringLiteral("%1: %2").arg(QString::fromUtf8(sql), QString::fromUtf8(message));
        }
        sqlite3_free(message);
        return ok();
    }

    sqlite3_stmt *prepare(const QByteArray &sql)
    {
        sqlite3_stmt *statement = nullptr;
        if (ok() && sqlite3_prepare_v2(m_db, sql.constData(), -1, &statement, nullptr) != SQLITE_OK)
            failed();
        m_statements.push_back(statement);
        return statement;
    }

    bool step(sqlite3_stmt *statement)
    {
        if (!ok())
            return false;
        const int rc = sqlite3_step(statement);
        sqlite3_reset(statement);
        if (rc != SQLITE_DONE)
            failed();
        return ok();
    }

    // The rows of \a table, or -1.
    qint64 rows(const QByteArray &table)
    {
        sqlite3_stmt *statement = prepare("SELECT count(*) FROM " + table);
        if (!ok() || sqlite3_step(statement) != SQLITE_ROW) {
            failed();
            return -1;
        }
        const qint64 count = sqlite3_column_int64(statement, 0);
        sqlite3_reset(statement);
        return count;
    }

    // Finalizes every statement and closes (a WAL database's last close checkpoints it).
    void close()
    {
        for (sqlite3_stmt *statement : m_statements)
            sqlite3_finalize(statement);
        m_statements.clear();
        if (m_db && sqlite3_close(m_db) != SQLITE_OK && ok())
            failed();
        m_db = nullptr;
    }

private:
    void failed() { m_message = QString::fromUtf8(sqlite3_errmsg(m_db)); }

    sqlite3 *m_db = nullptr;
    std::vector<sqlite3_stmt *> m_statements;
    QString m_message;
};

QByteArray quoted(const QString &table)
{
    return '"' + table.toUtf8() + '"';
}

// The generated record's columns, as the client's table has them (after "id").
const char *const valueColumns = "\"name\", \"email\", \"note\", \"amount\", \"quantity\", "
                                 "\"active\", \"updated\", \"_changed_at\"";

void bindValues(sqlite3_stmt *statement, const BenchRecord &row, const std::string &changedAt)
{
    sqlite3_bind_text(statement, 1, row.id.data(), int(row.id.size()), SQLITE_STATIC);
    sqlite3_bind_text(statement, 2, row.name.data(), int(row.name.size()), SQLITE_STATIC);
    sqlite3_bind_text(statement, 3, row.email.data(), int(row.email.size()), SQLITE_STATIC);
    sqlite3_bind_text(statement, 4, row.note.data(), int(row.note.size()), SQLITE_STATIC);
    sqlite3_bind_double(statement, 5, row.amount);
    sqlite3_bind_int64(statement, 6, row.quantity);
    sqlite3_bind_int(statement, 7, row.active ? 1 : 0);
    sqlite3_bind_text(statement, 8, row.updated.data(), int(row.updated.size()), SQLITE_STATIC);
    sqlite3_bind_text(statement, 9, changedAt.data(), int(changedAt.size()), SQLITE_STATIC);
}

std::string nowText()
{
    return QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs).toStdString();
}

StorageRate rate(const Connection &db, qint64 rows, qint64 nanoseconds)
{
    if (!db.ok())
        return { false, 0, db.message() };
    if (nanoseconds <= 0)
        return { false, 0, QStringLiteral("nothing was timed") };
    return { true, double(rows) / (double(nanoseconds) / 1e9), QString() };
}

// The generated records of one table, in one block of text (a vector of records would hold
// five allocations each, twice the memory).
class Records final
{
public:
    void append(const BenchRecord &row)
    {
        Entry entry { m_text.size(), {}, row.amount, row.quantity, row.active };
        const std::string *parts[] = { &row.id, &row.name, &row.email, &row.note, &row.updated };
        for (size_t i = 0; i < std::size(parts); ++i) {
            entry.lengths[i] = quint32(parts[i]->size());
            m_text += *parts[i];
        }
        m_entries.push_back(entry);
    }
    size_t size() const { return m_entries.size(); }

    // Binds row \a i without copying its text (the text outlives the statement's step).
    void bind(sqlite3_stmt *statement, size_t i, const std::string &changedAt,
              const std::string &version) const
    {
        const Entry &entry = m_entries[i];
        const char *text = m_text.data() + entry.offset;
        static constexpr int textColumns[] = { 1, 2, 3, 4, 8 };
        for (size_t part = 0; part < std::size(textColumns); ++part) {
            sqlite3_bind_text(statement, textColumns[part], text, int(entry.lengths[part]),
                              SQLITE_STATIC);
            text += entry.lengths[part];
        }
        sqlite3_bind_double(statement, 5, entry.amount);
        sqlite3_bind_int64(statement, 6, entry.quantity);
        sqlite3_bind_int(statement, 7, entry.active ? 1 : 0);
        sqlite3_bind_text(statement, 9, changedAt.data(), int(changedAt.size()), SQLITE_STATIC);
        sqlite3_bind_text(statement, 10, version.data(), int(version.size()), SQLITE_STATIC);
    }

private:
    struct Entry
    {
        size_t offset;
        quint32 lengths[5];
        double amount;
        qint64 quantity;
        bool active;
    };
    std::string m_text;
    std::vector<Entry> m_entries;
};

} // namespace

StorageRate runBaseline(const StorageWork &work)
{
    Connection db(work.path);
    // The client's settings for upserts (LocalStore).
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA cache_size = -16384");
    db.exec("PRAGMA wal_autocheckpoint = 10000");
    db.exec("CREATE TABLE _state(entity TEXT PRIMARY KEY, cursor TEXT, done INTEGER)");
    std::vector<sqlite3_stmt *> upserts;
    for (const QString &name : work.tables) {
        const QByteArray table = quoted(name);
        db.exec("CREATE TABLE " + table
                + " (\"id\" TEXT PRIMARY KEY NOT NULL, \"name\" TEXT, \"email\" TEXT, "
                  "\"note\" TEXT, \"amount\" REAL, \"quantity\" INTEGER, \"active\" INTEGER, "
                  "\"updated\" TEXT, \"_changed_at\" TEXT)");
        db.exec("INSERT INTO _state VALUES ('" + name.toUtf8() + "', NULL, 0)");
        upserts.push_back(db.prepare(
            "INSERT INTO " + table + " (\"id\", " + valueColumns
            + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (\"id\") DO UPDATE SET \"name\" "
              "= excluded.\"name\", \"email\" = excluded.\"email\", \"note\" = "
              "excluded.\"note\", \"amount\" = excluded.\"amount\", \"quantity\" = "
              "excluded.\"quantity\", \"active\" = excluded.\"active\", \"updated\" = "
              "excluded.\"updated\", \"_changed_at\" = excluded.\"_changed_at\""));
    }
    sqlite3_stmt *state = db.prepare("UPDATE _state SET cursor = ?, done = ? WHERE entity = ?");
    sqlite3_stmt *begin = db.prepare("BEGIN");
    sqlite3_stmt *commit = db.prepare("COMMIT");

    const std::string changedAt = nowText();
    const qint64 tables = work.tables.size();
    qint64 nanoseconds = 0;
    qint64 stored = 0;
    std::vector<BenchRecord> rows;
    rows.reserve(size_t(work.batchSize));
    // Table by table, in the server's order within each (as a one-entity-at-a-time sync).
    for (qint64 e = 0; db.ok() && e < tables; ++e) {
        qint64 index = e;
        qint64 done = 0;
        while (db.ok() && index < work.records) {
            rows.clear();
            for (; index < work.records && qsizetype(rows.size()) < work.batchSize;
                 index += tables) {
                rows.push_back(work.record(index));
            }
            QElapsedTimer timer;
            timer.start();
            db.step(begin);
            sqlite3_stmt *upsert = upserts[size_t(e)];
            for (const BenchRecord &row : rows) {
                bindValues(upsert, row, changedAt);
                if (!db.step(upsert))
                    break;
            }
            done += qint64(rows.size());
            const std::string cursor = std::to_string(done);
            const QByteArray entity = work.tables.at(e).toUtf8();
            sqlite3_bind_text(state, 1, cursor.data(), int(cursor.size()), SQLITE_STATIC);
            sqlite3_bind_int64(state, 2, done);
            sqlite3_bind_text(state, 3, entity.constData(), int(entity.size()), SQLITE_STATIC);
            db.step(state);
            db.step(commit);
            nanoseconds += timer.nsecsElapsed();
            stored += qint64(rows.size());
        }
    }
    db.close();
    removeDatabase(work.path);
    return rate(db, stored, nanoseconds);
}

StorageRate runFloor(const StorageWork &work)
{
    // The rows first, in memory: the floor times storage alone.
    const qint64 tables = work.tables.size();
    std::vector<Records> records(static_cast<size_t>(tables));
    for (qint64 index = 0; index < work.records; ++index)
        records[size_t(index % tables)].append(work.record(index));
    const std::string changedAt = nowText();
    const std::string version = "1";

    QElapsedTimer timer;
    timer.start();
    Connection db(work.path);
    // The client's settings (LocalStore::openConnection; the page cache of a bulk load, then
    // of the index build: StorePrivate::BulkLoadCacheKiB, IndexBuildCacheKiB).
    db.exec("PRAGMA foreign_keys = OFF");
    db.exec("PRAGMA wal_autocheckpoint = 10000");
    db.exec("PRAGMA threads = 1");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    // The client's checkpoints on a thread of their own, so that the writer seldom stops.
    WalCheckpointer checkpointer(work.path);
    if (db.ok())
        checkpointer.start();
    sqlite3_stmt *begin = db.prepare("BEGIN IMMEDIATE");
    sqlite3_stmt *commit = db.prepare("COMMIT");
    qint64 stored = 0;
    for (qint64 e = 0; db.ok() && e < tables; ++e) {
        // A first sync's table: no constraint and no index on id until the end.
        const QByteArray table = quoted(work.tables.at(e));
        db.exec("CREATE TABLE " + table
                + " (\"id\" TEXT NOT NULL, \"name\" TEXT, \"email\" TEXT, \"note\" TEXT, "
                  "\"amount\" REAL, \"quantity\" INTEGER, \"active\" INTEGER, \"updated\" TEXT, "
                  "\"_changed_at\" TEXT, \"_version\" TEXT)");
        sqlite3_stmt *append = db.prepare("INSERT INTO " + table + " (\"id\", " + valueColumns
                                          + ", \"_version\") VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                                            "?, ?)");
        db.exec("PRAGMA cache_size = -2048");
        const Records &rows = records[size_t(e)];
        for (size_t i = 0; db.ok() && i < rows.size();) {
            db.step(begin);
            const size_t end = std::min(rows.size(), i + size_t(work.batchSize));
            for (; i < end && db.ok(); ++i) {
                rows.bind(append, i, changedAt, version);
                db.step(append);
            }
            db.step(commit);
        }
        db.exec("PRAGMA cache_size = -512");
        db.exec("CREATE UNIQUE INDEX \"_" + work.tables.at(e).toUtf8() + "_id\" ON " + table
                + " (\"id\")");
        stored += qint64(rows.size());
    }
    // Up to the last index: closing copies the WAL into the database file, which the client
    // does on a thread of its own while it syncs (WalCheckpointer).
    const qint64 nanoseconds = timer.nsecsElapsed();
    qint64 found = 0;
    for (const QString &table : work.tables)
        found += db.rows(quoted(table));
    timer.restart();
    checkpointer.stop();
    db.close();
    StorageRate result = rate(db, stored, nanoseconds);
    if (result.ok && found != work.records) {
        result = {
            false, 0,
            QStringLiteral("the floor's tables hold %1 rows, not %2").arg(found).arg(work.records)
        };
    } else if (result.ok) {
        result.message = QStringLiteral("then the close (WAL checkpoint): %1 s")
                             .arg(double(timer.nsecsElapsed()) / 1e9, 0, 'f', 2);
    }
    removeDatabase(work.path);
    return result;
}

#else

StorageRate runBaseline(const StorageWork &)
{
    return { false, 0,
             QStringLiteral("built without SQLite3 (install libsqlite3-dev and reconfigure)") };
}

StorageRate runFloor(const StorageWork &work)
{
    return runBaseline(work);
}

#endif

} // namespace BatchSync::Bench
