#include "store/localstore.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"

#include <QDir>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QThread>

#include <map>

namespace BatchSync {

namespace {

// PRAGMA user_version of the layout written here; raise it with a migration in
// createSyncState() whenever the layout changes.
constexpr int currentFormat = 1;

const QString driverName = QStringLiteral("QSQLITE");
const QString changedAtColumn = QStringLiteral("_changed_at");

// SQLite's primary result codes (sqlite3.h); QSQLITE reports them in nativeErrorCode().
namespace SqliteResult {
constexpr int Perm = 3;
constexpr int Busy = 5;
constexpr int Locked = 6;
constexpr int NoMem = 7;
constexpr int ReadOnly = 8;
constexpr int IoErr = 10;
constexpr int Corrupt = 11;
constexpr int Full = 13;
constexpr int CantOpen = 14;
constexpr int NotADb = 26;
} // namespace SqliteResult

// Every SELECT of _sync_state lists these columns in this order.
const QString syncStateColumns = QStringLiteral(
    "entity, paging, cursor, cursor_id, run_active, run_cursor, run_cursor_id, run_done, "
    "run_total, state, error_category, error_message, last_completed_at, fields");
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
    ColFields
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

// BEGIN IMMEDIATE takes the write lock at once (waiting up to the busy timeout), so a
// transaction never fails half-way because another writer got in first. Rolls back unless
// committed.
class Transaction final
{
    Q_DISABLE_COPY_MOVE(Transaction)

public:
    Transaction(QSqlQuery &begin, QSqlQuery &commit, QSqlQuery &rollback)
        : m_begin(begin)
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
        if (!m_begin.exec()) {
            m_error = m_begin.lastError();
            return false;
        }
        m_open = true;
        return true;
    }

    bool commit()
    {
        if (!m_commit.exec()) {
            m_error = m_commit.lastError();
            rollback();
            return false;
        }
        m_open = false;
        return true;
    }

    QSqlError error() const { return m_error; }

private:
    void rollback()
    {
        m_open = false;
        // Fails harmlessly when SQLite has already rolled back by itself (e.g. disk full).
        if (!m_rollback.exec())
            qCDebug(lcStore) << "rollback:" << m_rollback.lastError().text();
    }

    QSqlQuery &m_begin;
    QSqlQuery &m_commit;
    QSqlQuery &m_rollback;
    QSqlError m_error;
    bool m_open = false;
};

} // namespace

struct LocalStore::EntityStatements
{
    explicit EntityStatements(const QSqlDatabase &db)
        : upsert(db)
        , remove(db)
    {
    }

    QList<FieldSpec> fields; // the schema the statements were prepared for
    QSqlQuery upsert; // id, one value per field, _changed_at
    QSqlQuery remove; // id
};

struct LocalStore::Statements
{
    explicit Statements(const QSqlDatabase &db)
        : begin(db)
        , commit(db)
        , rollback(db)
        , saveRun(db)
    {
    }

    QSqlQuery begin;
    QSqlQuery commit;
    QSqlQuery rollback;
    QSqlQuery saveRun; // run_cursor, run_cursor_id, run_done, run_total, entity
    std::map<QString, std::unique_ptr<EntityStatements>> entities;
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
    // A larger page cache than SQLite's 2 MB default: ids are random, so every batch touches
    // index pages all over the file, and each miss is a read from the OS. Checkpoints every
    // 10000 pages (~40 MB of WAL) instead of 1000: a checkpoint writes and syncs every page
    // the batches touched since the last one, and with random ids that is most of them; this
    // alone makes bulk syncs ~25% faster (see the throughput test).
    for (const QString &pragma : { QStringLiteral("PRAGMA busy_timeout = %1").arg(m_busyTimeoutMs),
                                   QStringLiteral("PRAGMA foreign_keys = OFF"),
                                   QStringLiteral("PRAGMA cache_size = -16384"),
                                   QStringLiteral("PRAGMA wal_autocheckpoint = 10000") }) {
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

    m_statements = std::make_unique<Statements>(db);
    const std::pair<QSqlQuery *, QString> fixed[] = {
        { &m_statements->begin, QStringLiteral("BEGIN IMMEDIATE") },
        { &m_statements->commit, QStringLiteral("COMMIT") },
        { &m_statements->rollback, QStringLiteral("ROLLBACK") },
    };
    for (const auto &[statement, sql] : fixed) {
        if (!statement->prepare(sql))
            return storageFailure(error, what, statement->lastError());
    }
    if (!createSyncState(error))
        return false;
    // Writing state='running' with each batch replaces a stale state or error of a run that
    // was interrupted and continues now.
    if (!m_statements->saveRun.prepare(QStringLiteral(
            "UPDATE _sync_state SET run_active = 1, run_cursor = ?, run_cursor_id = ?, "
            "run_done = ?, run_total = ?, state = 'running', error_category = NULL, "
            "error_message = NULL WHERE entity = ?"))) {
        return storageFailure(error, what, m_statements->saveRun.lastError());
    }
    return true;
}

bool LocalStore::createSyncState(SyncError *error)
{
    const QString what = QStringLiteral("Could not prepare the local database");
    Transaction transaction(m_statements->begin, m_statements->commit, m_statements->rollback);
    if (!transaction.begin())
        return storageFailure(error, what, transaction.error());

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
                                   "fields TEXT)"))) {
        return storageFailure(error, what, query.lastError());
    }

    // A _sync_state table made by someone else would fail later in confusing ways.
    if (!query.exec(QStringLiteral("SELECT name FROM pragma_table_info('_sync_state')")))
        return storageFailure(error, what, query.lastError());
    QSet<QString> present;
    while (query.next())
        present.insert(query.value(0).toString().toLower());
    query.finish();
    const QStringList required = syncStateColumns.split(QStringLiteral(", "));
    for (const QString &column : required) {
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
    if (!query.exec(QStringLiteral("PRAGMA user_version = %1").arg(currentFormat)))
        return storageFailure(error, what, query.lastError());
    if (!transaction.commit())
        return storageFailure(error, what, transaction.error());
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
    // Extended result codes keep the primary code in their low byte.
    const int code = sqlError.nativeErrorCode().toInt(&numeric) & 0xff;
    const QString path = QDir::toNativeSeparators(m_path);
    QString problem;
    switch (numeric ? code : -1) {
    case SqliteResult::Busy:
    case SqliteResult::Locked:
        problem = QStringLiteral("the local database %1 is locked by another program (waited %2 "
                                 "ms); close the other program or try again later")
                      .arg(path)
                      .arg(m_busyTimeoutMs);
        break;
    case SqliteResult::ReadOnly:
        problem = QStringLiteral("the local database %1 is read-only; make the file and its "
                                 "folder writable")
                      .arg(path);
        break;
    case SqliteResult::Full:
        problem = QStringLiteral("the disk holding %1 is full; free some space and try again")
                      .arg(path);
        break;
    case SqliteResult::CantOpen:
        problem = QStringLiteral("the local database %1 cannot be opened; check that its folder "
                                 "exists and is writable")
                      .arg(path);
        break;
    case SqliteResult::Perm:
        problem = QStringLiteral("access to the local database %1 was denied").arg(path);
        break;
    case SqliteResult::IoErr:
        problem = QStringLiteral("the disk holding %1 reported an input/output error").arg(path);
        break;
    case SqliteResult::Corrupt:
    case SqliteResult::NotADb:
        problem = QStringLiteral("the local database %1 is damaged or is not a SQLite database; "
                                 "move it away to start afresh")
                      .arg(path);
        break;
    case SqliteResult::NoMem:
        problem = QStringLiteral("out of memory while using the local database %1").arg(path);
        break;
    default:
        problem = QStringLiteral("the local database %1 reported an error").arg(path);
        break;
    }
    QString sqliteText = sqlError.databaseText();
    if (sqliteText.isEmpty())
        sqliteText = sqlError.driverText();
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
    Transaction transaction(m_statements->begin, m_statements->commit, m_statements->rollback);
    if (!transaction.begin())
        return storageFailure(error, what, transaction.error());
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
        // Upserts need a unique index on exactly "id" (a text primary key makes one).
        if (!execPrepared(
                query,
                QStringLiteral("SELECT count(*) FROM pragma_index_list(?) AS il WHERE "
                               "il.\"unique\" = 1 AND il.partial = 0 "
                               "AND (SELECT count(*) FROM pragma_index_info(il.name)) = 1 "
                               "AND (SELECT name FROM pragma_index_info(il.name)) = 'id' "
                               "COLLATE NOCASE"),
                { schema.name }))
            return storageFailure(error, what, query.lastError());
        const bool uniqueId = query.next() && query.value(0).toLongLong() > 0;
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
        return storageFailure(error, what, transaction.error());
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

    auto statements = std::make_unique<EntityStatements>(connection(m_connectionName));
    statements->fields = schema.fields;
    const QString what = QStringLiteral("Could not prepare writing entity \"%1\"").arg(schema.name);
    if (!statements->upsert.prepare(
            QStringLiteral("INSERT INTO %1 (%2) VALUES (%3) ON CONFLICT (\"id\") DO UPDATE SET %4")
                .arg(table, columns, placeholders, updates))) {
        storageFailure(error, what, statements->upsert.lastError());
        return nullptr;
    }
    if (!statements->remove.prepare(QStringLiteral("DELETE FROM %1 WHERE \"id\" = ?").arg(table))) {
        storageFailure(error, what, statements->remove.lastError());
        return nullptr;
    }
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

    Transaction transaction(m_statements->begin, m_statements->commit, m_statements->rollback);
    if (!transaction.begin())
        return storageFailure(error, what, transaction.error());

    QSqlQuery &upsert = statements->upsert;
    QSqlQuery &remove = statements->remove;
    const int changedAtIndex = int(fieldCount) + 1;
    for (const Change &change : changes) {
        QSqlQuery &query = change.deleted ? remove : upsert;
        query.bindValue(0, change.id);
        if (!change.deleted) {
            for (qsizetype i = 0; i < fieldCount; ++i)
                upsert.bindValue(int(i) + 1, change.values.at(i));
            upsert.bindValue(changedAtIndex, change.changedAt);
        }
        if (!query.exec()) {
            return storageFailure(
                error,
                QStringLiteral("%1 (record \"%2\")").arg(what, Identifier::printable(change.id)),
                query.lastError());
        }
    }

    QSqlQuery &saveRun = m_statements->saveRun;
    saveRun.bindValue(0, textOrNull(after.cursor));
    saveRun.bindValue(1, textOrNull(after.id));
    saveRun.bindValue(2, done);
    saveRun.bindValue(3, total);
    saveRun.bindValue(4, schema.name);
    if (!saveRun.exec())
        return storageFailure(error, what, saveRun.lastError());
    if (saveRun.numRowsAffected() != 1) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1: the local database has no state for this entity "
                                   "(ensureEntity() must come first)")
                        .arg(what));
    }

    if (!transaction.commit())
        return storageFailure(error, what, transaction.error());
    qCDebug(lcStore) << "saved" << changes.size() << "changes of" << schema.name << "at" << done
                     << "of" << total;
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
    const QString mode = pagingModeName(paging);
    // A position only means something in its own paging mode: a change of mode forgets it.
    return updateSyncState(
        entity,
        QStringLiteral("Could not start a run of entity \"%1\"").arg(Identifier::printable(entity)),
        QStringLiteral("UPDATE _sync_state SET "
                       "cursor = CASE WHEN paging = ? THEN cursor END, "
                       "cursor_id = CASE WHEN paging = ? THEN cursor_id END, "
                       "paging = ?, run_active = 1, run_cursor = ?, run_cursor_id = ?, "
                       "run_done = 0, run_total = ?, state = ?, error_category = NULL, "
                       "error_message = NULL WHERE entity = ?"),
        { mode, mode, mode, textOrNull(from.cursor), textOrNull(from.id), total,
          syncStateName(state) },
        error);
}

bool LocalStore::completeRun(const QString &entity, const SyncPosition &final, qint64 done,
                             qint64 total, const QDateTime &completedAt, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    const QString when = completedAt.isValid() ? Timestamp::format(completedAt) : Timestamp::now();
    return updateSyncState(
        entity,
        QStringLiteral("Could not complete the run of entity \"%1\"")
            .arg(Identifier::printable(entity)),
        QStringLiteral("UPDATE _sync_state SET cursor = ?, cursor_id = ?, run_active = 0, "
                       "run_cursor = NULL, run_cursor_id = NULL, run_done = ?, "
                       "run_total = ?, state = ?, last_completed_at = ?, "
                       "error_category = NULL, error_message = NULL WHERE entity = ?"),
        { textOrNull(final.cursor), textOrNull(final.id), done, total,
          syncStateName(SyncState::Completed), when },
        error);
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
