#include "store/localstore.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "store/walcheckpointer.h"

#include <QDir>
#include <QElapsedTimer>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QScopeGuard>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QStringEncoder>
#include <QThread>
#include <map>
#include <sqlite3.h>
#include <vector>

namespace BatchSync {

namespace {

// PRAGMA user_version of the layout written here; raise it with a migration in
// createSyncState() whenever the layout changes. 2: _sync_state.bulk_load and
// _sync_bulk_deleted (a table in bulk-load state has no index on id, which format 1 refuses).
constexpr int currentFormat = 2;

// The page cache for upserts: random ids touch index pages all over the file, so a larger
// cache than SQLite's 2 MB default saves reads, while a client's peak memory stays well
// below 64 MB whatever it syncs.
constexpr int CacheKiB = 16384;
// The page cache while only bulk loads have written: appends touch the last pages of a table,
// so a larger cache would only fill up with pages never read again, and the memory of a
// first sync would grow with the data up to the upsert cache.
constexpr int BulkLoadCacheKiB = 2048;
// The page cache while the id index is built: SQLite's sorter keeps up to a cache's worth of
// keys in memory per run it sorts, two runs at once with its helper thread, and merges them
// from a temporary file. Runs of 512 KiB build the index no slower than runs of 2 MiB (about
// 0.2 s for 250,000 ids) and keep the build's peak near the bulk load's.
constexpr int IndexBuildCacheKiB = 512;

const QString driverName = QStringLiteral("QSQLITE");
const QString changedAtColumn = QStringLiteral("_changed_at");

// Every SELECT of _sync_state lists these columns in this order; the first 14 are those of
// format 1, which an older database must have.
const QString syncStateColumns = QStringLiteral(
    "entity, paging, cursor, cursor_id, run_active, run_cursor, run_cursor_id, run_done, "
    "run_total, state, error_category, error_message, last_completed_at, fields, bulk_load");
constexpr int formatOneColumnCount = 14;
enum SyncStateColumn {
    ColEntity,
    ColPaging,
    ColCursor,
    ColCursorId,
    ColRunActive,
    ColRunCursor,
    ColRunCursorId,
    ColRunDone,
    ColRunTotal,
    ColState,
    ColErrorCategory,
    ColErrorMessage,
    ColLastCompletedAt,
    ColFields,
    ColBulkLoad
};

QString sqlType(FieldType type)
{
    switch (type) {
    case FieldType::String:
    case FieldType::DateTime:
        return QStringLiteral("TEXT");
    case FieldType::Int:
    case FieldType::Bool:
        return QStringLiteral("INTEGER");
    case FieldType::Real:
        return QStringLiteral("REAL");
    }
    return QStringLiteral("TEXT");
}

std::optional<ErrorCategory> errorCategoryFromName(QStringView name)
{
    for (ErrorCategory category :
         { ErrorCategory::None, ErrorCategory::Network, ErrorCategory::Auth, ErrorCategory::Request,
           ErrorCategory::Protocol, ErrorCategory::Storage, ErrorCategory::Aborted }) {
        if (name == errorCategoryName(category))
            return category;
    }
    return std::nullopt;
}

// Empty positions and messages are stored as NULL, which is what an outside reader expects.
QVariant textOrNull(const QString &text)
{
    return text.isEmpty() ? QVariant() : QVariant(text);
}

QString fieldsToJson(const QList<FieldSpec> &fields)
{
    QJsonArray array;
    for (const FieldSpec &field : fields) {
        array.append(QJsonObject { { QStringLiteral("name"), field.name },
                                   { QStringLiteral("type"), fieldTypeName(field.type) } });
    }
    return QString::fromUtf8(QJsonDocument(array).toJson(QJsonDocument::Compact));
}

QList<FieldSpec> fieldsFromJson(const QString &json, const QString &entity)
{
    QList<FieldSpec> fields;
    if (json.isEmpty())
        return fields;
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(json.toUtf8(), &parseError);
    if (!document.isArray()) {
        qCWarning(lcStore) << "ignoring the unreadable field list of entity" << entity << ":"
                           << parseError.errorString();
        return fields;
    }
    QSet<QString> seen;
    const QJsonArray array = document.array();
    for (const QJsonValue &value : array) {
        const QJsonObject object = value.toObject();
        const QString name = object.value(QStringLiteral("name")).toString();
        const auto type = fieldTypeFromName(object.value(QStringLiteral("type")).toString());
        if (!Identifier::check(name, u"field").isEmpty() || !type
            || seen.contains(name.toLower())) {
            qCWarning(lcStore)
                << "ignoring an unreadable field of entity" << entity << ":"
                << QJsonDocument(QJsonArray { value }).toJson(QJsonDocument::Compact);
            continue;
        }
        seen.insert(name.toLower());
        fields.append(FieldSpec { name, *type });
    }
    return fields;
}

// Names come from the server: check all of them before any SQL is built. Returns a message
// for the user, or an empty string.
QString schemaProblem(const EntitySchema &schema)
{
    QString problem = Identifier::check(schema.name, u"entity");
    if (!problem.isEmpty())
        return QStringLiteral("The server sent an unusable entity: %1").arg(problem);
    const QString prefix
        = QStringLiteral("The server sent an unusable schema for entity \"%1\": ").arg(schema.name);
    QSet<QString> seen;
    for (const FieldSpec &field : schema.fields) {
        problem = Identifier::check(field.name, u"field");
        if (!problem.isEmpty())
            return prefix + problem;
        // SQLite's column names ignore letter case, so "Name" and "name" would collide.
        const QString folded = field.name.toLower();
        if (seen.contains(folded)) {
            return prefix
                + QStringLiteral("field name \"%1\" appears twice (letter case aside)")
                      .arg(Identifier::printable(field.name));
        }
        seen.insert(folded);
    }
    return QString();
}

void clearError(SyncError *error)
{
    if (error)
        *error = SyncError();
}

bool fail(SyncError *error, ErrorCategory category, const QString &message)
{
    qCWarning(lcStore).noquote() << message;
    if (error) {
        *error = SyncError();
        error->category = category;
        error->message = message;
    }
    return false;
}

QSqlDatabase connection(const QString &name)
{
    return QSqlDatabase::database(name, false);
}

bool execPrepared(QSqlQuery &query, const QString &sql, const QVariantList &values)
{
    if (!query.prepare(sql))
        return false;
    for (const QVariant &value : values)
        query.addBindValue(value);
    return query.exec();
}

// SQL text for an identifier that was not checked by Identifier::check (names read back from
// the database's own schema).
QString quotedAny(const QString &name)
{
    QString escaped = name;
    escaped.replace(QLatin1Char('"'), QStringLiteral("\"\""));
    return QLatin1Char('"') + escaped + QLatin1Char('"');
}

// The name of the unique index on id that completeRun() creates after a bulk load. Entity
// names never start with '_', so it cannot clash with an entity's table.
QString idIndexName(const QString &entity)
{
    return QLatin1Char('_') + entity + QStringLiteral("_id");
}

/*
    One sqlite3 statement of the store's connection. Errors keep SQLite's result code and
    message for storageFailure(), read at once since the next call on the connection replaces
    them.
*/
class Statement final
{
    Q_DISABLE_COPY_MOVE(Statement)

public:
    Statement() = default;
    ~Statement() { sqlite3_finalize(m_statement); }

    // SQLITE_PREPARE_PERSISTENT for the statements kept across batches.
    bool prepare(sqlite3 *db, const QString &sql, unsigned flags = 0)
    {
        sqlite3_finalize(m_statement);
        m_statement = nullptr;
        m_db = db;
        const QByteArray utf8 = sql.toUtf8();
        const int rc = sqlite3_prepare_v3(db, utf8.constData(), int(utf8.size()), flags,
                                          &m_statement, nullptr);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(m_statement);
            m_statement = nullptr;
            return failed(rc);
        }
        return true;
    }
    bool isPrepared() const { return m_statement != nullptr; }
    sqlite3_stmt *handle() const { return m_statement; }

    // A null QString is NULL, as with QSQLITE. Text is converted to UTF-8 (the database's
    // encoding) here, with Qt's converter, into a buffer per parameter that is reused from one
    // row to the next and lives until the step that reads it: SQLite's own UTF-16 conversion
    // and a copy per value cost more.
    bool bindText(int index, QStringView text, bool isNull = false)
    {
        if (isNull)
            return bindNull(index);
        if (size_t(index) >= m_text.size())
            m_text.resize(size_t(index) + 1);
        QByteArray &utf8 = m_text[size_t(index)];
        utf8.resize(m_encoder.requiredSpace(text.size()));
        const char *end = m_encoder.appendToBuffer(utf8.data(), text);
        utf8.resize(end - utf8.constData());
        const int rc = sqlite3_bind_text(m_statement, index, utf8.constData(), int(utf8.size()),
                                         SQLITE_STATIC);
        return rc == SQLITE_OK || failed(rc);
    }
    bool bindText(int index, const QString &text)
    {
        return bindText(index, QStringView(text), text.isNull());
    }
    // Empty positions and messages are stored as NULL, which is what an outside reader expects.
    bool bindTextOrNull(int index, const QString &text)
    {
        return text.isEmpty() ? bindNull(index) : bindText(index, text);
    }
    bool bindNull(int index)
    {
        const int rc = sqlite3_bind_null(m_statement, index);
        return rc == SQLITE_OK || failed(rc);
    }
    bool bindInt(int index, qint64 value)
    {
        const int rc = sqlite3_bind_int64(m_statement, index, value);
        return rc == SQLITE_OK || failed(rc);
    }
    // A value of Change::values (which outlives the step), stored exactly as QSQLITE stores it:
    // strings (and datetimes, which are protocol text) as TEXT, int and bool as INTEGER, real
    // as REAL, null as NULL.
    bool bindValue(int index, const QVariant &value)
    {
        int rc = SQLITE_OK;
        switch (value.typeId()) {
        case QMetaType::UnknownType:
            rc = sqlite3_bind_null(m_statement, index);
            break;
        case QMetaType::QString:
            return bindText(index, *static_cast<const QString *>(value.constData()));
        case QMetaType::LongLong:
            rc = sqlite3_bind_int64(m_statement, index,
                                    *static_cast<const qlonglong *>(value.constData()));
            break;
        case QMetaType::Double:
            rc = sqlite3_bind_double(m_statement, index,
                                     *static_cast<const double *>(value.constData()));
            break;
        case QMetaType::Bool:
            rc = sqlite3_bind_int(m_statement, index,
                                  *static_cast<const bool *>(value.constData()) ? 1 : 0);
            break;
        case QMetaType::Int:
        case QMetaType::UInt:
        case QMetaType::Long:
        case QMetaType::ULong:
        case QMetaType::ULongLong:
        case QMetaType::Short:
        case QMetaType::UShort:
            rc = sqlite3_bind_int64(m_statement, index, value.toLongLong());
            break;
        case QMetaType::Float:
            rc = sqlite3_bind_double(m_statement, index, value.toDouble());
            break;
        case QMetaType::QByteArray: {
            const auto *bytes = static_cast<const QByteArray *>(value.constData());
            rc = bytes->isNull() ? sqlite3_bind_null(m_statement, index)
                                 : sqlite3_bind_blob(m_statement, index, bytes->constData(),
                                                     int(bytes->size()), SQLITE_STATIC);
            break;
        }
        case QMetaType::QDateTime: {
            const QDateTime dateTime = value.toDateTime();
            if (!dateTime.isValid())
                return bindNull(index);
            return bindText(index, dateTime.toString(Qt::ISODateWithMs));
        }
        default: {
            if (value.isNull())
                return bindNull(index);
            return bindText(index, value.toString());
        }
        }
        return rc == SQLITE_OK || failed(rc);
    }

    // Runs a statement that returns no rows; ready for the next use afterwards.
    bool exec()
    {
        const int rc = sqlite3_step(m_statement);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
            failed(rc);
            sqlite3_reset(m_statement);
            return false;
        }
        sqlite3_reset(m_statement);
        return true;
    }
    // Steps once: true on success, with *row telling whether a row is there. reset() after.
    bool next(bool *row)
    {
        const int rc = sqlite3_step(m_statement);
        *row = rc == SQLITE_ROW;
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
            failed(rc);
            sqlite3_reset(m_statement);
            return false;
        }
        return true;
    }
    qint64 intValue(int column) const { return sqlite3_column_int64(m_statement, column); }
    QString textValue(int column) const
    {
        const auto *text = static_cast<const QChar *>(sqlite3_column_text16(m_statement, column));
        return text ? QString(text, sqlite3_column_bytes16(m_statement, column) / 2) : QString();
    }
    bool isNull(int column) const
    {
        return sqlite3_column_type(m_statement, column) == SQLITE_NULL;
    }
    void reset() { sqlite3_reset(m_statement); }
    // Rows changed by the last exec() on the connection.
    qint64 changes() const { return sqlite3_changes64(m_db); }

    int errorCode() const { return m_errorCode; }
    QString errorText() const { return m_errorText; }

private:
    bool failed(int rc)
    {
        m_errorCode = rc;
        m_errorText = m_db ? QString::fromUtf8(sqlite3_errmsg(m_db)) : QString();
        if (m_errorText.isEmpty())
            m_errorText = QString::fromUtf8(sqlite3_errstr(rc));
        return false;
    }

    sqlite3 *m_db = nullptr;
    sqlite3_stmt *m_statement = nullptr;
    QStringEncoder m_encoder { QStringEncoder::Utf8, QStringConverter::Flag::Stateless };
    std::vector<QByteArray> m_text; // by parameter index
    int m_errorCode = SQLITE_OK;
    QString m_errorText;
};

// BEGIN IMMEDIATE takes the write lock at once (waiting up to the busy timeout), so a
// transaction never fails half-way because another writer got in first. Rolls back unless
// committed. Plain SQL on the connection, so QSqlQuery statements may run inside it.
class Transaction final
{
    Q_DISABLE_COPY_MOVE(Transaction)

public:
    Transaction(sqlite3 *db, Statement &begin, Statement &commit, Statement &rollback)
        : m_db(db)
        , m_begin(begin)
        , m_commit(commit)
        , m_rollback(rollback)
    {
    }
    ~Transaction()
    {
        if (m_open)
            rollback();
    }

    bool begin()
    {
        if (!m_begin.exec())
            return failed(m_begin);
        m_open = true;
        return true;
    }

    bool commit()
    {
        if (!m_commit.exec()) {
            failed(m_commit);
            rollback();
            return false;
        }
        m_open = false;
        return true;
    }

    int errorCode() const { return m_errorCode; }
    QString errorText() const { return m_errorText; }

private:
    bool failed(const Statement &statement)
    {
        m_errorCode = statement.errorCode();
        m_errorText = statement.errorText();
        return false;
    }

    void rollback()
    {
        m_open = false;
        // SQLite may have rolled back by itself already (e.g. disk full).
        if (sqlite3_get_autocommit(m_db))
            return;
        if (!m_rollback.exec())
            qCDebug(lcStore) << "rollback:" << m_rollback.errorText();
    }

    sqlite3 *m_db;
    Statement &m_begin;
    Statement &m_commit;
    Statement &m_rollback;
    bool m_open = false;
    int m_errorCode = SQLITE_OK;
    QString m_errorText;
};

} // namespace

// Prepared on first use: the upsert needs the unique index on id, which a table in bulk-load
// state does not have, and the append is only used in that state.
struct LocalStore::EntityStatements
{
    QList<FieldSpec> fields; // the schema the statements are for
    QString upsertSql;
    QString appendSql;
    QString removeSql;
    QString recordDeletionSql;
    Statement upsert; // id, one value per field, _changed_at
    Statement append; // the same, a plain INSERT (bulk-load state)
    Statement remove; // id
    Statement recordDeletion; // entity, id (bulk-load state)
};

struct LocalStore::Statements
{
    sqlite3 *db = nullptr; // owned by QSQLITE's connection
    Statement begin;
    Statement commit;
    Statement rollback;
    Statement saveRun; // run_cursor, run_cursor_id, run_done, run_total, entity
    Statement bulkLoad; // entity -> bulk_load; no row when the entity has no state
    std::map<QString, std::unique_ptr<EntityStatements>> entities;
    int cacheKiB = 0; // the page cache set last, in KiB
    bool upserted = false; // a batch was written by upsert since the connection opened

    // A failure leaves the previous size, which costs speed or memory, never data.
    void setCacheKiB(int kib)
    {
        if (kib == cacheKiB)
            return;
        const QByteArray pragma = "PRAGMA cache_size = -" + QByteArray::number(kib);
        const int rc = sqlite3_exec(db, pragma.constData(), nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) {
            qCWarning(lcStore) << "could not set the page cache to" << kib
                               << "KiB:" << sqlite3_errstr(rc);
            return;
        }
        cacheKiB = kib;
    }
};

LocalStore::LocalStore(const QString &databasePath, const QString &connectionName)
    : m_path(databasePath)
    , m_connectionName(connectionName)
{
}

LocalStore::~LocalStore()
{
    close();
}

void LocalStore::setBusyTimeout(int milliseconds)
{
    m_busyTimeoutMs = qMax(0, milliseconds);
    if (!m_statements || QThread::currentThread() != m_thread)
        return;
    QSqlQuery query(connection(m_connectionName));
    if (!query.exec(QStringLiteral("PRAGMA busy_timeout = %1").arg(m_busyTimeoutMs)))
        qCWarning(lcStore) << "could not set the busy timeout:" << query.lastError().text();
}

bool LocalStore::open(SyncError *error)
{
    clearError(error);
    if (m_statements)
        return checkUsable(error);
    if (QSqlDatabase::contains(m_connectionName)) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("Could not open the local database %1: the connection name "
                                   "\"%2\" is already in use in this program")
                        .arg(QDir::toNativeSeparators(m_path), m_connectionName));
    }
    if (!openConnection(error)) {
        close();
        return false;
    }
    qCInfo(lcStore).noquote() << "opened the local database" << m_path;
    return true;
}

bool LocalStore::openConnection(SyncError *error)
{
    if (!QSqlDatabase::isDriverAvailable(driverName)) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("Could not open the local database %1: Qt's SQLite driver "
                                   "(QSQLITE) is not installed (Debian: libqt6sql6-sqlite)")
                        .arg(QDir::toNativeSeparators(m_path)));
    }
    QSqlDatabase db = QSqlDatabase::addDatabase(driverName, m_connectionName);
    m_ownsConnection = true;
    m_thread = QThread::currentThread();
    db.setDatabaseName(m_path);
    db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(m_busyTimeoutMs));
    const QString what = QStringLiteral("Could not open the local database");
    if (!db.open())
        return storageFailure(error, what, db.lastError());

    QSqlQuery query(db);
    // The page cache is sized per batch (Statements::setCacheKiB). Checkpoints every 10000
    // pages (~40 MB of WAL) instead of 1000: a checkpoint writes and syncs every page the
    // batches touched since the last one, and with random ids that is most of them; this
    // alone makes bulk syncs ~25% faster (see the throughput test).
    for (const QString &pragma : { QStringLiteral("PRAGMA busy_timeout = %1").arg(m_busyTimeoutMs),
                                   QStringLiteral("PRAGMA foreign_keys = OFF"),
                                   QStringLiteral("PRAGMA wal_autocheckpoint = 10000"),
                                   // The index build at the end of a bulk load sorts on a
                                   // second thread while this one merges.
                                   QStringLiteral("PRAGMA threads = 1") }) {
        if (!query.exec(pragma))
            return storageFailure(error, what, query.lastError());
    }
    // WAL: readers (the app's data view) never block the writer, and a commit costs one
    // append instead of a rollback journal.
    if (!query.exec(QStringLiteral("PRAGMA journal_mode = WAL")))
        return storageFailure(error, what, query.lastError());
    const QString mode = query.next() ? query.value(0).toString() : QString();
    query.finish();
    if (mode.compare(u"wal", Qt::CaseInsensitive) != 0) {
        qCWarning(lcStore).noquote()
            << "the local database" << m_path << "uses journal mode" << mode << "instead of WAL";
    }
    // In WAL mode NORMAL cannot corrupt the database; a power cut may lose the last commits,
    // which the next start fetches again.
    if (!query.exec(QStringLiteral("PRAGMA synchronous = NORMAL")))
        return storageFailure(error, what, query.lastError());
    // Checkpoints run on a thread of their own. While batches keep coming they never catch up
    // with the last commit, and SQLite starts the WAL over only when they have: this
    // connection's automatic checkpoint, cheap because it finds most pages copied already,
    // is what bounds the WAL (to ~40 MB instead of a growing share of the database).
    if (mode.compare(u"wal", Qt::CaseInsensitive) == 0) {
        auto checkpointer = std::make_unique<WalCheckpointer>(m_path);
        if (checkpointer->start())
            m_checkpointer = std::move(checkpointer);
    }

    // The batches go through the sqlite3 C API of this very connection: QSQLITE's handle.
    const QVariant handle = db.driver() ? db.driver()->handle() : QVariant();
    sqlite3 *sqlite = nullptr;
    if (handle.isValid() && qstrcmp(handle.typeName(), "sqlite3*") == 0)
        sqlite = *static_cast<sqlite3 *const *>(handle.constData());
    if (!sqlite) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1 %2: Qt's SQLite driver does not expose its sqlite3 "
                                   "handle")
                        .arg(what, QDir::toNativeSeparators(m_path)));
    }

    m_statements = std::make_unique<Statements>();
    m_statements->db = sqlite;
    m_statements->setCacheKiB(CacheKiB);
    const std::pair<Statement *, QString> fixed[] = {
        { &m_statements->begin, QStringLiteral("BEGIN IMMEDIATE") },
        { &m_statements->commit, QStringLiteral("COMMIT") },
        { &m_statements->rollback, QStringLiteral("ROLLBACK") },
    };
    for (const auto &[statement, sql] : fixed) {
        if (!statement->prepare(sqlite, sql, SQLITE_PREPARE_PERSISTENT))
            return storageFailure(error, what, statement->errorCode(), statement->errorText());
    }
    if (!createSyncState(error))
        return false;
    // Writing state='running' with each batch replaces a stale state or error of a run that
    // was interrupted and continues now.
    const std::pair<Statement *, QString> state[] = {
        { &m_statements->saveRun,
          QStringLiteral("UPDATE _sync_state SET run_active = 1, run_cursor = ?, "
                         "run_cursor_id = ?, run_done = ?, run_total = ?, state = 'running', "
                         "error_category = NULL, error_message = NULL WHERE entity = ?") },
        { &m_statements->bulkLoad,
          QStringLiteral("SELECT bulk_load FROM _sync_state WHERE entity = ?") },
    };
    for (const auto &[statement, sql] : state) {
        if (!statement->prepare(sqlite, sql, SQLITE_PREPARE_PERSISTENT))
            return storageFailure(error, what, statement->errorCode(), statement->errorText());
    }
    return true;
}

bool LocalStore::createSyncState(SyncError *error)
{
    const QString what = QStringLiteral("Could not prepare the local database");
    Transaction transaction(m_statements->db, m_statements->begin, m_statements->commit,
                            m_statements->rollback);
    if (!transaction.begin())
        return storageFailure(error, what, transaction.errorCode(), transaction.errorText());

    QSqlQuery query(connection(m_connectionName));
    if (!query.exec(QStringLiteral("PRAGMA user_version")))
        return storageFailure(error, what, query.lastError());
    const int format = query.next() ? query.value(0).toInt() : 0;
    query.finish();
    if (format > currentFormat) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1: the local database %2 was written by a newer version of "
                                   "BatchSync (format %3; this version knows up to %4)")
                        .arg(what, QDir::toNativeSeparators(m_path))
                        .arg(format)
                        .arg(currentFormat));
    }

    if (!query.exec(QStringLiteral("CREATE TABLE IF NOT EXISTS _sync_state ("
                                   "entity TEXT PRIMARY KEY NOT NULL, "
                                   "paging TEXT NOT NULL DEFAULT 'cursor', "
                                   "cursor TEXT, "
                                   "cursor_id TEXT, "
                                   "run_active INTEGER NOT NULL DEFAULT 0, "
                                   "run_cursor TEXT, "
                                   "run_cursor_id TEXT, "
                                   "run_done INTEGER NOT NULL DEFAULT 0, "
                                   "run_total INTEGER NOT NULL DEFAULT 0, "
                                   "state TEXT NOT NULL DEFAULT 'idle', "
                                   "error_category TEXT, "
                                   "error_message TEXT, "
                                   "last_completed_at TEXT, "
                                   "fields TEXT, "
                                   "bulk_load INTEGER NOT NULL DEFAULT 0)"))) {
        return storageFailure(error, what, query.lastError());
    }

    // A _sync_state table made by someone else would fail later in confusing ways.
    if (!query.exec(QStringLiteral("SELECT name FROM pragma_table_info('_sync_state')")))
        return storageFailure(error, what, query.lastError());
    QSet<QString> present;
    while (query.next())
        present.insert(query.value(0).toString().toLower());
    query.finish();
    const QStringList columns = syncStateColumns.split(QStringLiteral(", "));
    for (const QString &column : columns.mid(0, formatOneColumnCount)) {
        if (!present.contains(column)) {
            return fail(error, ErrorCategory::Storage,
                        QStringLiteral("%1: the table _sync_state in %2 was not made by BatchSync "
                                       "(it has no column \"%3\"); use another database file")
                            .arg(what, QDir::toNativeSeparators(m_path), column));
        }
    }

    // Migrations from older formats go here, in this transaction. The format is written even
    // when it is unchanged: a read-only file would otherwise open fine and fail only at the
    // first batch, after the user has been told the sync started.
    // Format 1 -> 2: the bulk-load state and the deletions recorded during a bulk load.
    if (!present.contains(QStringLiteral("bulk_load"))
        && !query.exec(QStringLiteral("ALTER TABLE _sync_state ADD COLUMN "
                                      "bulk_load INTEGER NOT NULL DEFAULT 0"))) {
        return storageFailure(error, what, query.lastError());
    }
    if (!query.exec(QStringLiteral("CREATE TABLE IF NOT EXISTS _sync_bulk_deleted ("
                                   "entity TEXT NOT NULL, "
                                   "id TEXT NOT NULL, "
                                   "mark INTEGER NOT NULL, "
                                   "PRIMARY KEY (entity, id)) WITHOUT ROWID"))) {
        return storageFailure(error, what, query.lastError());
    }
    if (!query.exec(QStringLiteral("PRAGMA user_version = %1").arg(currentFormat)))
        return storageFailure(error, what, query.lastError());
    if (!transaction.commit())
        return storageFailure(error, what, transaction.errorCode(), transaction.errorText());
    return true;
}

bool LocalStore::isOpen() const
{
    return m_statements != nullptr;
}

void LocalStore::close()
{
    if (m_thread && QThread::currentThread() != m_thread) {
        qCWarning(lcStore).noquote()
            << "closing the local database" << m_path << "from a thread that did not open it";
    }
    // The background checkpoints end first, so that closing the last connection checkpoints
    // what remains.
    m_checkpointer.reset();
    // Every QSqlQuery must be gone before the connection is removed.
    m_statements.reset();
    if (m_ownsConnection) {
        {
            QSqlDatabase db = connection(m_connectionName);
            if (db.isOpen())
                db.close();
        }
        QSqlDatabase::removeDatabase(m_connectionName);
        m_ownsConnection = false;
        qCDebug(lcStore).noquote() << "closed the local database" << m_path;
    }
    m_thread = nullptr;
}

bool LocalStore::checkUsable(SyncError *error) const
{
    if (!m_statements) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("The local database %1 is not open")
                        .arg(QDir::toNativeSeparators(m_path)));
    }
    if (QThread::currentThread() != m_thread) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("The local database %1 was opened in another thread; a "
                                   "connection may only be used in its own thread")
                        .arg(QDir::toNativeSeparators(m_path)));
    }
    return true;
}

bool LocalStore::storageFailure(SyncError *error, const QString &what,
                                const QSqlError &sqlError) const
{
    bool numeric = false;
    const int code = sqlError.nativeErrorCode().toInt(&numeric);
    QString sqliteText = sqlError.databaseText();
    if (sqliteText.isEmpty())
        sqliteText = sqlError.driverText();
    return storageFailure(error, what, numeric ? code : -1, sqliteText);
}

// QtSql and the C API report the same result codes and messages: one wording for both.
bool LocalStore::storageFailure(SyncError *error, const QString &what, int sqliteCode,
                                const QString &sqliteText) const
{
    const QString path = QDir::toNativeSeparators(m_path);
    QString problem;
    // Extended result codes keep the primary code in their low byte.
    switch (sqliteCode < 0 ? -1 : sqliteCode & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        problem = QStringLiteral("the local database %1 is locked by another program (waited %2 "
                                 "ms); close the other program or try again later")
                      .arg(path)
                      .arg(m_busyTimeoutMs);
        break;
    case SQLITE_READONLY:
        problem = QStringLiteral("the local database %1 is read-only; make the file and its "
                                 "folder writable")
                      .arg(path);
        break;
    case SQLITE_FULL:
        problem = QStringLiteral("the disk holding %1 is full; free some space and try again")
                      .arg(path);
        break;
    case SQLITE_CANTOPEN:
        problem = QStringLiteral("the local database %1 cannot be opened; check that its folder "
                                 "exists and is writable")
                      .arg(path);
        break;
    case SQLITE_PERM:
        problem = QStringLiteral("access to the local database %1 was denied").arg(path);
        break;
    case SQLITE_IOERR:
        problem = QStringLiteral("the disk holding %1 reported an input/output error").arg(path);
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        problem = QStringLiteral("the local database %1 is damaged or is not a SQLite database; "
                                 "move it away to start afresh")
                      .arg(path);
        break;
    case SQLITE_NOMEM:
        problem = QStringLiteral("out of memory while using the local database %1").arg(path);
        break;
    default:
        problem = QStringLiteral("the local database %1 reported an error").arg(path);
        break;
    }
    return fail(error, ErrorCategory::Storage,
                QStringLiteral("%1: %2 (SQLite: %3)").arg(what, problem, sqliteText));
}

bool LocalStore::ensureEntity(const EntitySchema &schema, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    const QString problem = schemaProblem(schema);
    if (!problem.isEmpty())
        return fail(error, ErrorCategory::Protocol, problem);

    const QString what
        = QStringLiteral("Could not prepare the table of entity \"%1\"").arg(schema.name);
    const QString path = QDir::toNativeSeparators(m_path);
    const QString table = Identifier::quoted(schema.name);
    Transaction transaction(m_statements->db, m_statements->begin, m_statements->commit,
                            m_statements->rollback);
    if (!transaction.begin())
        return storageFailure(error, what, transaction.errorCode(), transaction.errorText());
    QSqlQuery query(connection(m_connectionName));
    query.setForwardOnly(true);

    // Table names ignore letter case; two entities differing only in case would share one.
    if (!execPrepared(query,
                      QStringLiteral("SELECT entity FROM _sync_state "
                                     "WHERE entity = ? COLLATE NOCASE AND entity <> ?"),
                      { schema.name, schema.name }))
        return storageFailure(error, what, query.lastError());
    if (query.next()) {
        return fail(error, ErrorCategory::Protocol,
                    QStringLiteral("%1: it differs only in letter case from the entity \"%2\"")
                        .arg(what, Identifier::printable(query.value(0).toString())));
    }

    if (!execPrepared(query,
                      QStringLiteral("SELECT type FROM sqlite_master WHERE name = ? COLLATE "
                                     "NOCASE AND type IN ('table', 'view', 'index')"),
                      { schema.name }))
        return storageFailure(error, what, query.lastError());
    const QString existingType = query.next() ? query.value(0).toString() : QString();
    query.finish();

    if (existingType.isEmpty()) {
        QString sql
            = QStringLiteral("CREATE TABLE %1 (\"id\" TEXT PRIMARY KEY NOT NULL").arg(table);
        for (const FieldSpec &field : schema.fields)
            sql += QStringLiteral(", %1 %2").arg(Identifier::quoted(field.name),
                                                 sqlType(field.type));
        sql += QStringLiteral(", %1 TEXT)").arg(Identifier::quoted(changedAtColumn));
        if (!query.exec(sql))
            return storageFailure(error, what, query.lastError());
        qCInfo(lcStore) << "created the table of entity" << schema.name << "with"
                        << schema.fields.size() << "fields";
    } else if (existingType != u"table") {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1: %2 already holds a %3 of that name, not a table; rename "
                                   "or remove it")
                        .arg(what, path, existingType));
    } else {
        if (!execPrepared(query, QStringLiteral("SELECT name, type FROM pragma_table_info(?)"),
                          { schema.name }))
            return storageFailure(error, what, query.lastError());
        QHash<QString, QString> columnTypes; // lower-case name -> declared type
        while (query.next())
            columnTypes.insert(query.value(0).toString().toLower(), query.value(1).toString());
        query.finish();

        if (!columnTypes.contains(QStringLiteral("id"))) {
            return fail(error, ErrorCategory::Storage,
                        QStringLiteral("%1: the table \"%2\" in %3 was not made by BatchSync (it "
                                       "has no id column); rename or remove it")
                            .arg(what, schema.name, path));
        }
        // In bulk-load state the table has no index on id until the run completes.
        if (!execPrepared(query,
                          QStringLiteral("SELECT bulk_load FROM _sync_state WHERE entity = ?"),
                          { schema.name }))
            return storageFailure(error, what, query.lastError());
        const bool bulkLoad = query.next() && query.value(0).toLongLong() != 0;
        query.finish();
        // Upserts need a unique index on exactly "id" (a text primary key makes one).
        if (!bulkLoad
            && !execPrepared(
                query,
                QStringLiteral("SELECT count(*) FROM pragma_index_list(?) AS il WHERE "
                               "il.\"unique\" = 1 AND il.partial = 0 "
                               "AND (SELECT count(*) FROM pragma_index_info(il.name)) = 1 "
                               "AND (SELECT name FROM pragma_index_info(il.name)) = 'id' "
                               "COLLATE NOCASE"),
                { schema.name }))
            return storageFailure(error, what, query.lastError());
        const bool uniqueId = bulkLoad || (query.next() && query.value(0).toLongLong() > 0);
        query.finish();
        if (!uniqueId) {
            return fail(error, ErrorCategory::Storage,
                        QStringLiteral("%1: the table \"%2\" in %3 was not made by BatchSync (its "
                                       "id column is neither a text primary key nor unique); "
                                       "rename or remove it")
                            .arg(what, schema.name, path));
        }

        for (const FieldSpec &field : schema.fields) {
            const QString wanted = sqlType(field.type);
            const auto existing = columnTypes.constFind(field.name.toLower());
            if (existing == columnTypes.constEnd()) {
                if (!query.exec(QStringLiteral("ALTER TABLE %1 ADD COLUMN %2 %3")
                                    .arg(table, Identifier::quoted(field.name), wanted))) {
                    return storageFailure(error, what, query.lastError());
                }
                qCInfo(lcStore) << "added field" << field.name << "to entity" << schema.name;
            } else if (existing->compare(wanted, Qt::CaseInsensitive) != 0) {
                // SQLite keeps any value in any column, so the old column still serves.
                qCInfo(lcStore) << "field" << field.name << "of entity" << schema.name
                                << "is now of type" << fieldTypeName(field.type)
                                << "; its column keeps the declared type" << *existing;
            }
        }
        if (!columnTypes.contains(changedAtColumn)
            && !query.exec(QStringLiteral("ALTER TABLE %1 ADD COLUMN %2 TEXT")
                               .arg(table, Identifier::quoted(changedAtColumn)))) {
            return storageFailure(error, what, query.lastError());
        }
    }

    if (!execPrepared(query,
                      QStringLiteral("INSERT INTO _sync_state (entity, paging, fields) "
                                     "VALUES (?, 'cursor', ?) "
                                     "ON CONFLICT (entity) DO UPDATE SET fields = excluded.fields"),
                      { schema.name, fieldsToJson(schema.fields) }))
        return storageFailure(error, what, query.lastError());
    query.finish();

    if (!transaction.commit())
        return storageFailure(error, what, transaction.errorCode(), transaction.errorText());
    // The table may have new columns: prepare the entity's statements afresh.
    m_statements->entities.erase(schema.name);
    return true;
}

LocalStore::EntityStatements *LocalStore::entityStatements(const EntitySchema &schema,
                                                           SyncError *error)
{
    const auto found = m_statements->entities.find(schema.name);
    if (found != m_statements->entities.end() && found->second->fields == schema.fields)
        return found->second.get();

    const QString problem = schemaProblem(schema);
    if (!problem.isEmpty()) {
        fail(error, ErrorCategory::Protocol, problem);
        return nullptr;
    }

    QString columns = QStringLiteral("\"id\"");
    QString placeholders = QStringLiteral("?");
    QString updates;
    for (const FieldSpec &field : schema.fields) {
        const QString column = Identifier::quoted(field.name);
        columns += QStringLiteral(", ") + column;
        placeholders += QStringLiteral(", ?");
        updates += QStringLiteral("%1 = excluded.%1, ").arg(column);
    }
    const QString changedAt = Identifier::quoted(changedAtColumn);
    columns += QStringLiteral(", ") + changedAt;
    placeholders += QStringLiteral(", ?");
    updates += QStringLiteral("%1 = excluded.%1").arg(changedAt);
    const QString table = Identifier::quoted(schema.name);

    auto statements = std::make_unique<EntityStatements>();
    statements->fields = schema.fields;
    statements->appendSql
        = QStringLiteral("INSERT INTO %1 (%2) VALUES (%3)").arg(table, columns, placeholders);
    statements->upsertSql = statements->appendSql
        + QStringLiteral(" ON CONFLICT (\"id\") DO UPDATE SET %1").arg(updates);
    statements->removeSql = QStringLiteral("DELETE FROM %1 WHERE \"id\" = ?").arg(table);
    // The mark is the newest row of the table: the deletion covers every version up to it.
    // ("WHERE true" keeps ON CONFLICT from being read as a join constraint.)
    statements->recordDeletionSql
        = QStringLiteral("INSERT INTO _sync_bulk_deleted (entity, id, mark) "
                         "SELECT ?1, ?2, coalesce(max(rowid), 0) FROM %1 WHERE true "
                         "ON CONFLICT (entity, id) DO UPDATE SET mark = excluded.mark")
              .arg(table);
    EntityStatements *result = statements.get();
    m_statements->entities[schema.name] = std::move(statements);
    return result;
}

bool LocalStore::applyBatch(const EntitySchema &schema, const QList<Change> &changes,
                            const SyncPosition &after, qint64 done, qint64 total, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    EntityStatements *statements = entityStatements(schema, error);
    if (!statements)
        return false;

    const QString what = QStringLiteral("Could not save a batch of entity \"%1\"").arg(schema.name);
    const qsizetype fieldCount = schema.fields.size();
    // Check everything first, so that a bad change costs no transaction.
    for (qsizetype i = 0; i < changes.size(); ++i) {
        const Change &change = changes.at(i);
        if (change.id.isEmpty()) {
            return fail(error, ErrorCategory::Protocol,
                        QStringLiteral("%1: change %2 has no id").arg(what).arg(i + 1));
        }
        if (!change.deleted && change.values.size() != fieldCount) {
            return fail(error, ErrorCategory::Protocol,
                        QStringLiteral("%1: change %2 (id \"%3\") has %4 values but the entity "
                                       "has %5 fields")
                            .arg(what)
                            .arg(i + 1)
                            .arg(Identifier::printable(change.id))
                            .arg(change.values.size())
                            .arg(fieldCount));
        }
    }

    sqlite3 *db = m_statements->db;
    Transaction transaction(db, m_statements->begin, m_statements->commit, m_statements->rollback);
    if (!transaction.begin())
        return storageFailure(error, what, transaction.errorCode(), transaction.errorText());

    // Read in the transaction: another store on the same file may have completed the run.
    std::optional<bool> bulk;
    if (!bulkLoadState(schema.name, &bulk, what, error))
        return false;
    if (!bulk) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1: the local database has no state for this entity "
                                   "(ensureEntity() must come first)")
                        .arg(what));
    }

    const auto ready = [&](Statement &statement, const QString &sql) {
        if (statement.isPrepared())
            return true;
        if (statement.prepare(db, sql, SQLITE_PREPARE_PERSISTENT))
            return true;
        storageFailure(error,
                       QStringLiteral("Could not prepare writing entity \"%1\"").arg(schema.name),
                       statement.errorCode(), statement.errorText());
        return false;
    };
    // Once an upsert has run, its cache stays: shrinking it for another entity's bulk load
    // would drop the index pages that the next upsert reads.
    if (!*bulk)
        m_statements->upserted = true;
    m_statements->setCacheKiB(m_statements->upserted ? CacheKiB : BulkLoadCacheKiB);

    Statement &write = *bulk ? statements->append : statements->upsert;
    Statement &remove = *bulk ? statements->recordDeletion : statements->remove;
    bool haveWrite = false;
    bool haveRemove = false;
    const int changedAtIndex = int(fieldCount) + 2;
    for (const Change &change : changes) {
        Statement *statement = nullptr;
        bool bound = true;
        if (change.deleted) {
            if (!haveRemove
                && !(haveRemove = ready(
                         remove, *bulk ? statements->recordDeletionSql : statements->removeSql)))
                return false;
            statement = &remove;
            if (*bulk)
                bound = remove.bindText(1, schema.name) && remove.bindText(2, change.id);
            else
                bound = remove.bindText(1, change.id);
        } else {
            if (!haveWrite
                && !(haveWrite
                     = ready(write, *bulk ? statements->appendSql : statements->upsertSql)))
                return false;
            statement = &write;
            bound = write.bindText(1, change.id);
            for (qsizetype i = 0; bound && i < fieldCount; ++i)
                bound = write.bindValue(int(i) + 2, change.values.at(i));
            bound = bound && write.bindText(changedAtIndex, change.changedAt);
        }
        if (!bound || !statement->exec()) {
            return storageFailure(
                error,
                QStringLiteral("%1 (record \"%2\")").arg(what, Identifier::printable(change.id)),
                statement->errorCode(), statement->errorText());
        }
    }

    Statement &saveRun = m_statements->saveRun;
    if (!saveRun.bindTextOrNull(1, after.cursor) || !saveRun.bindTextOrNull(2, after.id)
        || !saveRun.bindInt(3, done) || !saveRun.bindInt(4, total)
        || !saveRun.bindText(5, schema.name) || !saveRun.exec()) {
        return storageFailure(error, what, saveRun.errorCode(), saveRun.errorText());
    }

    if (!transaction.commit())
        return storageFailure(error, what, transaction.errorCode(), transaction.errorText());
    qCDebug(lcStore) << "saved" << changes.size() << "changes of" << schema.name << "at" << done
                     << "of" << total << (*bulk ? "(bulk load)" : "");
    return true;
}

bool LocalStore::bulkLoadState(const QString &entity, std::optional<bool> *bulk,
                               const QString &what, SyncError *error)
{
    Statement &query = m_statements->bulkLoad;
    bool row = false;
    if (!query.bindText(1, entity) || !query.next(&row))
        return storageFailure(error, what, query.errorCode(), query.errorText());
    *bulk = row ? std::optional<bool>(query.intValue(0) != 0) : std::nullopt;
    query.reset();
    return true;
}

bool LocalStore::updateSyncState(const QString &entity, const QString &what, const QString &sql,
                                 const QVariantList &values, SyncError *error)
{
    // One statement: atomic by itself.
    QSqlQuery query(connection(m_connectionName));
    if (!execPrepared(query, sql, values + QVariantList { entity }))
        return storageFailure(error, what, query.lastError());
    if (query.numRowsAffected() != 1) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1: the local database has no state for this entity "
                                   "(ensureEntity() must come first)")
                        .arg(what));
    }
    return true;
}

bool LocalStore::beginRun(const QString &entity, PagingMode paging, const SyncPosition &from,
                          qint64 total, SyncState state, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    const QString what = QStringLiteral("Could not start a run of entity \"%1\"")
                             .arg(Identifier::printable(entity));
    sqlite3 *db = m_statements->db;
    Transaction transaction(db, m_statements->begin, m_statements->commit, m_statements->rollback);
    if (!transaction.begin())
        return storageFailure(error, what, transaction.errorCode(), transaction.errorText());

    const QString mode = pagingModeName(paging);
    // A position only means something in its own paging mode: a change of mode forgets it.
    Statement update;
    if (!update.prepare(db,
                        QStringLiteral("UPDATE _sync_state SET "
                                       "cursor = CASE WHEN paging = ?1 THEN cursor END, "
                                       "cursor_id = CASE WHEN paging = ?1 THEN cursor_id END, "
                                       "paging = ?1, run_active = 1, run_cursor = ?2, "
                                       "run_cursor_id = ?3, run_done = 0, run_total = ?4, "
                                       "state = ?5, error_category = NULL, "
                                       "error_message = NULL WHERE entity = ?6"))
        || !update.bindText(1, mode) || !update.bindTextOrNull(2, from.cursor)
        || !update.bindTextOrNull(3, from.id) || !update.bindInt(4, total)
        || !update.bindText(5, syncStateName(state)) || !update.bindText(6, entity)
        || !update.exec()) {
        return storageFailure(error, what, update.errorCode(), update.errorText());
    }
    if (update.changes() != 1) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1: the local database has no state for this entity "
                                   "(ensureEntity() must come first)")
                        .arg(what));
    }
    bool bulk = false;
    if (from.isStart() && !enterBulkLoad(entity, &bulk, what, error))
        return false;
    if (!transaction.commit())
        return storageFailure(error, what, transaction.errorCode(), transaction.errorText());
    if (bulk) {
        // The table may have been re-created: prepare its statements afresh.
        m_statements->entities.erase(entity);
    }
    return true;
}

bool LocalStore::enterBulkLoad(const QString &entity, bool *entered, const QString &what,
                               SyncError *error)
{
    *entered = false;
    if (!Identifier::check(entity, u"entity").isEmpty())
        return true; // a name nobody may use in SQL; the normal path refuses it later
    std::optional<bool> bulk;
    if (!bulkLoadState(entity, &bulk, what, error))
        return false;
    if (bulk.value_or(false)) {
        // A first sync started over: the versions already appended are superseded in turn.
        *entered = true;
        qCInfo(lcStore) << "entity" << entity << "starts its first sync again, in bulk load";
        return true;
    }

    sqlite3 *db = m_statements->db;
    const auto failed = [&](const Statement &statement) {
        return storageFailure(error, what, statement.errorCode(), statement.errorText());
    };
    const QString table = Identifier::quoted(entity);

    // Only a rowid table whose only unique constraint is on id, and that holds no rows.
    Statement query;
    bool row = false;
    if (!query.prepare(db,
                       QStringLiteral("SELECT wr FROM pragma_table_list WHERE schema = 'main' "
                                      "AND type = 'table' AND name = ?1 COLLATE NOCASE"))
        || !query.bindText(1, entity) || !query.next(&row)) {
        return failed(query);
    }
    if (!row || query.intValue(0) != 0)
        return true;
    if (!query.prepare(db, QStringLiteral("SELECT EXISTS (SELECT 1 FROM %1)").arg(table))
        || !query.next(&row)) {
        return failed(query);
    }
    if (query.intValue(0) != 0)
        return true;

    if (!query.prepare(db,
                       QStringLiteral("SELECT il.name, il.\"unique\", il.origin, il.partial, "
                                      "(SELECT count(*) FROM pragma_index_info(il.name)), "
                                      "(SELECT name FROM pragma_index_info(il.name)) "
                                      "FROM pragma_index_list(?1) AS il"))
        || !query.bindText(1, entity)) {
        return failed(query);
    }
    QStringList dropIndexes;
    QSet<QString> idIndexes;
    bool recreate = false;
    while (true) {
        if (!query.next(&row))
            return failed(query);
        if (!row)
            break;
        if (query.intValue(1) == 0)
            continue;
        const bool onId = query.intValue(3) == 0 && query.intValue(4) == 1
            && query.textValue(5).compare(u"id", Qt::CaseInsensitive) == 0;
        if (!onId) {
            qCInfo(lcStore) << "entity" << entity
                            << "has another unique index: its first sync upserts by id";
            return true;
        }
        const QString name = query.textValue(0);
        idIndexes.insert(name.toLower());
        if (query.textValue(2) == u"c")
            dropIndexes.append(name);
        else
            recreate = true; // the primary key or a UNIQUE constraint of the table itself
    }

    QStringList statements;
    for (const QString &name : std::as_const(dropIndexes))
        statements.append(QStringLiteral("DROP INDEX %1").arg(quotedAny(name)));
    if (recreate) {
        // The table is empty: re-create it with the same columns and no constraint on id, and
        // with its other indexes and triggers.
        QStringList definitions;
        if (!query.prepare(db,
                           QStringLiteral("SELECT name, type, \"notnull\", dflt_value "
                                          "FROM pragma_table_info(?1) ORDER BY cid"))
            || !query.bindText(1, entity)) {
            return failed(query);
        }
        while (true) {
            if (!query.next(&row))
                return failed(query);
            if (!row)
                break;
            const QString type = query.textValue(1);
            for (const QChar c : type) {
                if (!c.isLetterOrNumber() && !QStringView(u" _(),.+-").contains(c))
                    return true; // a declared type too odd to repeat safely
            }
            QString definition = quotedAny(query.textValue(0));
            if (!type.isEmpty())
                definition += QLatin1Char(' ') + type;
            if (query.intValue(2) != 0)
                definition += QStringLiteral(" NOT NULL");
            if (!query.isNull(3))
                definition += QStringLiteral(" DEFAULT (%1)").arg(query.textValue(3));
            definitions.append(definition);
        }
        QStringList others;
        if (!query.prepare(db,
                           QStringLiteral("SELECT name, sql FROM sqlite_master WHERE tbl_name = "
                                          "?1 COLLATE NOCASE AND type IN ('index', 'trigger') "
                                          "AND sql IS NOT NULL ORDER BY type, name"))
            || !query.bindText(1, entity)) {
            return failed(query);
        }
        while (true) {
            if (!query.next(&row))
                return failed(query);
            if (!row)
                break;
            if (!idIndexes.contains(query.textValue(0).toLower()))
                others.append(query.textValue(1));
        }
        statements = { QStringLiteral("DROP TABLE %1").arg(table),
                       QStringLiteral("CREATE TABLE %1 (%2)")
                           .arg(table, definitions.join(QStringLiteral(", "))) };
        statements += others;
    }
    statements.append(QStringLiteral("DELETE FROM _sync_bulk_deleted WHERE entity = ?1"));
    statements.append(QStringLiteral("UPDATE _sync_state SET bulk_load = 1 WHERE entity = ?1"));
    // Statements prepared on the old table would hold it.
    m_statements->entities.erase(entity);
    for (const QString &sql : std::as_const(statements)) {
        Statement statement;
        if (!statement.prepare(db, sql)
            || (sqlite3_bind_parameter_count(statement.handle()) > 0
                && !statement.bindText(1, entity))
            || !statement.exec()) {
            return failed(statement);
        }
    }
    *entered = true;
    qCInfo(lcStore) << "entity" << entity
                    << "starts its first sync in bulk load (no index on id until it completes)";
    return true;
}

bool LocalStore::completeRun(const QString &entity, const SyncPosition &final, qint64 done,
                             qint64 total, const QDateTime &completedAt, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    const QString what = QStringLiteral("Could not complete the run of entity \"%1\"")
                             .arg(Identifier::printable(entity));
    sqlite3 *db = m_statements->db;
    Transaction transaction(db, m_statements->begin, m_statements->commit, m_statements->rollback);
    if (!transaction.begin())
        return storageFailure(error, what, transaction.errorCode(), transaction.errorText());

    std::optional<bool> bulk;
    if (!bulkLoadState(entity, &bulk, what, error))
        return false;
    if (!bulk) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1: the local database has no state for this entity "
                                   "(ensureEntity() must come first)")
                        .arg(what));
    }
    QElapsedTimer timer;
    timer.start();
    if (*bulk && !finishBulkLoad(entity, what, error))
        return false;

    const QString when = completedAt.isValid() ? Timestamp::format(completedAt) : Timestamp::now();
    Statement update;
    if (!update.prepare(db,
                        QStringLiteral("UPDATE _sync_state SET cursor = ?, cursor_id = ?, "
                                       "run_active = 0, run_cursor = NULL, run_cursor_id = NULL, "
                                       "run_done = ?, run_total = ?, state = ?, "
                                       "last_completed_at = ?, error_category = NULL, "
                                       "error_message = NULL, bulk_load = 0 WHERE entity = ?"))
        || !update.bindTextOrNull(1, final.cursor) || !update.bindTextOrNull(2, final.id)
        || !update.bindInt(3, done) || !update.bindInt(4, total)
        || !update.bindText(5, syncStateName(SyncState::Completed)) || !update.bindText(6, when)
        || !update.bindText(7, entity) || !update.exec()) {
        return storageFailure(error, what, update.errorCode(), update.errorText());
    }
    if (!transaction.commit())
        return storageFailure(error, what, transaction.errorCode(), transaction.errorText());
    if (*bulk) {
        // The upsert can be prepared now that the index exists.
        m_statements->entities.erase(entity);
        qCInfo(lcStore) << "entity" << entity << "completed its bulk load in" << timer.elapsed()
                        << "ms";
    }
    return true;
}

bool LocalStore::finishBulkLoad(const QString &entity, const QString &what, SyncError *error)
{
    const QString problem = Identifier::check(entity, u"entity");
    if (!problem.isEmpty())
        return fail(error, ErrorCategory::Storage, QStringLiteral("%1: %2").arg(what, problem));
    sqlite3 *db = m_statements->db;
    const QString table = Identifier::quoted(entity);
    const QString createIndex
        = QStringLiteral("CREATE UNIQUE INDEX IF NOT EXISTS %1 ON %2 (\"id\")")
              .arg(Identifier::quoted(idIndexName(entity)), table);
    Statement statement;
    const auto run = [&](const QString &sql) {
        return statement.prepare(db, sql)
            && (sqlite3_bind_parameter_count(statement.handle()) == 0
                || statement.bindText(1, entity))
            && statement.exec();
    };
    const auto failed
        = [&] { return storageFailure(error, what, statement.errorCode(), statement.errorText()); };

    // The sorter's runs spill to a temporary file beyond the cache size, so that the peak
    // memory of the build does not grow with the entity.
    const int cacheKiB = m_statements->cacheKiB;
    m_statements->setCacheKiB(IndexBuildCacheKiB);
    const auto restoreCache
        = qScopeGuard([this, cacheKiB] { m_statements->setCacheKiB(cacheKiB); });

    // An id that arrived more than once makes the unique index fail (after its sort): then keep
    // only the newest version of each id, the largest rowid, and build it again. Versions of
    // an id received before its deletion go below, whichever version was kept here.
    if (!run(createIndex)) {
        if ((statement.errorCode() & 0xff) != SQLITE_CONSTRAINT)
            return failed();
        qCInfo(lcStore) << "entity" << entity
                        << "received records more than once; keeping the newest version of each";
        if (!run(QStringLiteral("DELETE FROM %1 WHERE rowid IN (SELECT r FROM (SELECT rowid AS "
                                "r, row_number() OVER (PARTITION BY \"id\" ORDER BY rowid "
                                "DESC) AS n FROM %1) WHERE n > 1)")
                     .arg(table))
            || !run(createIndex)) {
            return failed();
        }
    }
    if (!run(QStringLiteral("DELETE FROM %1 WHERE rowid IN (SELECT t.rowid FROM "
                            "_sync_bulk_deleted AS d JOIN %1 AS t ON t.\"id\" = d.id "
                            "WHERE d.entity = ?1 AND t.rowid <= d.mark)")
                 .arg(table))
        || !run(QStringLiteral("DELETE FROM _sync_bulk_deleted WHERE entity = ?1"))) {
        return failed();
    }
    return true;
}

bool LocalStore::saveState(const QString &entity, SyncState state, qint64 done, qint64 total,
                           ErrorCategory errorCategory, const QString &errorMessage,
                           SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    const bool failed = state == SyncState::Failed;
    const QVariant category = failed && errorCategory != ErrorCategory::None
        ? QVariant(errorCategoryName(errorCategory))
        : QVariant();
    const QVariant message = failed ? textOrNull(errorMessage) : QVariant();
    return updateSyncState(
        entity,
        QStringLiteral("Could not save the state of entity \"%1\"")
            .arg(Identifier::printable(entity)),
        QStringLiteral("UPDATE _sync_state SET state = ?, run_done = ?, run_total = ?, "
                       "error_category = ?, error_message = ? WHERE entity = ?"),
        { syncStateName(state), done, total, category, message }, error);
}

bool LocalStore::cancelRun(const QString &entity, qint64 done, qint64 total, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    return updateSyncState(
        entity,
        QStringLiteral("Could not cancel the run of entity \"%1\"")
            .arg(Identifier::printable(entity)),
        QStringLiteral("UPDATE _sync_state SET state = ?, run_active = 0, run_cursor = NULL, "
                       "run_cursor_id = NULL, run_done = ?, run_total = ?, "
                       "error_category = NULL, error_message = NULL WHERE entity = ?"),
        { syncStateName(SyncState::Idle), done, total }, error);
}

namespace {

std::optional<StoredEntity> entityFromRow(const QSqlQuery &query)
{
    StoredEntity stored;
    stored.schema.name = query.value(ColEntity).toString();
    // Someone may have edited the file: never let a bad name reach SQL later.
    const QString problem = Identifier::check(stored.schema.name, u"entity");
    if (!problem.isEmpty()) {
        qCWarning(lcStore).noquote() << "ignoring a state row of the local database:" << problem;
        return std::nullopt;
    }
    const QString &name = stored.schema.name;
    stored.schema.fields = fieldsFromJson(query.value(ColFields).toString(), name);

    const QString paging = query.value(ColPaging).toString();
    if (const auto mode = pagingModeFromName(paging)) {
        stored.paging = *mode;
    } else {
        qCWarning(lcStore) << "entity" << name << "has an unknown paging mode" << paging
                           << "; its positions are ignored";
        // Positions of an unknown mode are meaningless; starting over is safe.
        stored.runActive = false;
        stored.state = SyncState::Idle;
        return stored;
    }
    stored.committed.cursor = query.value(ColCursor).toString();
    stored.committed.id = query.value(ColCursorId).toString();
    stored.runActive = query.value(ColRunActive).toLongLong() != 0;
    stored.run.cursor = query.value(ColRunCursor).toString();
    stored.run.id = query.value(ColRunCursorId).toString();
    stored.runDone = qMax<qint64>(0, query.value(ColRunDone).toLongLong());
    stored.runTotal = qMax<qint64>(0, query.value(ColRunTotal).toLongLong());
    stored.bulkLoad = query.value(ColBulkLoad).toLongLong() != 0;

    const QString state = query.value(ColState).toString();
    if (const auto parsed = syncStateFromName(state)) {
        stored.state = *parsed;
    } else {
        qCWarning(lcStore) << "entity" << name << "has an unknown state" << state;
        stored.state = stored.runActive ? SyncState::Paused : SyncState::Idle;
    }
    if (stored.state == SyncState::Failed) {
        const QString category = query.value(ColErrorCategory).toString();
        if (const auto parsed = errorCategoryFromName(category)) {
            stored.errorCategory = *parsed;
        } else if (!category.isEmpty()) {
            qCWarning(lcStore) << "entity" << name << "has an unknown error category" << category;
        }
        stored.errorMessage = query.value(ColErrorMessage).toString();
    }
    const QString completed = query.value(ColLastCompletedAt).toString();
    if (!completed.isEmpty()) {
        stored.lastCompletedAt = Timestamp::parse(completed);
        if (!stored.lastCompletedAt.isValid())
            qCWarning(lcStore) << "entity" << name << "has an unreadable completion time"
                               << completed;
    }
    return stored;
}

} // namespace

QList<StoredEntity> LocalStore::loadEntities(SyncError *error)
{
    clearError(error);
    QList<StoredEntity> entities;
    if (!checkUsable(error))
        return entities;
    QSqlQuery query(connection(m_connectionName));
    query.setForwardOnly(true);
    if (!query.exec(
            QStringLiteral("SELECT %1 FROM _sync_state ORDER BY entity").arg(syncStateColumns))) {
        storageFailure(error, QStringLiteral("Could not read the sync state"), query.lastError());
        return entities;
    }
    while (query.next()) {
        if (auto stored = entityFromRow(query))
            entities.append(std::move(*stored));
    }
    if (query.lastError().isValid()) {
        storageFailure(error, QStringLiteral("Could not read the sync state"), query.lastError());
        return {};
    }
    return entities;
}

std::optional<StoredEntity> LocalStore::loadEntity(const QString &entity, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return std::nullopt;
    const QString what = QStringLiteral("Could not read the sync state of entity \"%1\"")
                             .arg(Identifier::printable(entity));
    QSqlQuery query(connection(m_connectionName));
    query.setForwardOnly(true);
    if (!execPrepared(
            query,
            QStringLiteral("SELECT %1 FROM _sync_state WHERE entity = ?").arg(syncStateColumns),
            { entity })) {
        storageFailure(error, what, query.lastError());
        return std::nullopt;
    }
    if (!query.next()) {
        if (query.lastError().isValid())
            storageFailure(error, what, query.lastError());
        return std::nullopt;
    }
    return entityFromRow(query);
}

qint64 LocalStore::rowCount(const QString &entity)
{
    if (!checkUsable(nullptr) || !Identifier::check(entity, u"entity").isEmpty())
        return -1;
    QSqlQuery query(connection(m_connectionName));
    query.setForwardOnly(true);
    if (!execPrepared(query,
                      QStringLiteral("SELECT count(*) FROM sqlite_master "
                                     "WHERE type = 'table' AND name = ? COLLATE NOCASE"),
                      { entity })
        || !query.next() || query.value(0).toLongLong() == 0) {
        return -1;
    }
    if (!query.exec(QStringLiteral("SELECT count(*) FROM %1").arg(Identifier::quoted(entity)))
        || !query.next()) {
        qCWarning(lcStore) << "could not count the rows of" << entity << ":"
                           << query.lastError().text();
        return -1;
    }
    return query.value(0).toLongLong();
}

} // namespace BatchSync
