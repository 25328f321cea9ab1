#include "serverstore.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "server/serverjson.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <sqlite3.h>

namespace BatchSync {

namespace {

using ServerJson::JsonWriter;

constexpr auto Driver = "QSQLITE";
constexpr auto CatalogueTable = "_bs_entities";

void setError(QString *error, const QString &message)
{
    if (error)
        *error = message;
}

QString sqlType(FieldType type)
{
    switch (type) {
    case FieldType::Int:
    case FieldType::Bool:
        return QStringLiteral("INTEGER");
    case FieldType::Real:
        return QStringLiteral("REAL");
    case FieldType::String:
    case FieldType::DateTime:
        break;
    }
    return QStringLiteral("TEXT");
}

// Field columns carry a prefix so that a field may be called "seq", "deleted" or
// "changed_at" without clashing with the bookkeeping columns.
QString columnName(const QString &field)
{
    return Identifier::quoted(QLatin1String("f_") + field);
}

// A cursor is the sequence number of the last change a client has; empty is the start.
std::optional<qint64> parseCursor(QStringView text)
{
    if (text.isEmpty())
        return 0;
    if (text.size() > 18)
        return std::nullopt;
    qint64 value = 0;
    for (QChar c : text) {
        if (c < u'0' || c > u'9')
            return std::nullopt;
        value = value * 10 + (c.unicode() - u'0');
    }
    return value;
}

/*
    The page path reads through the sqlite3 C API behind QSQLITE: a QVariant per cell and text
    turned into UTF-16 and back cost more than the rest of a page. These statements share
    QSQLITE's connection and are always reset after use, so that no read transaction stays open.
*/
struct StatementFinalizer
{
    void operator()(sqlite3_stmt *statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

class StatementReset final
{
    Q_DISABLE_COPY_MOVE(StatementReset)

public:
    explicit StatementReset(sqlite3_stmt *statement)
        : m_statement(statement)
    {
    }
    ~StatementReset() { sqlite3_reset(m_statement); }

private:
    sqlite3_stmt *m_statement;
};

sqlite3 *nativeHandle(const QString &connection)
{
    const QSqlDatabase db = QSqlDatabase::database(connection, false);
    const QVariant handle = db.driver() ? db.driver()->handle() : QVariant();
    if (!handle.isValid() || qstrcmp(handle.typeName(), "sqlite3*") != 0)
        return nullptr;
    return *static_cast<sqlite3 *const *>(handle.constData());
}

QString sqliteError(sqlite3 *db)
{
    return QString::fromUtf8(sqlite3_errmsg(db));
}

sqlite3_stmt *preparedStatement(Statement &slot, const QString &connection, const QString &sql,
                                QString *error)
{
    if (slot)
        return slot.get();
    sqlite3 *db = nativeHandle(connection);
    if (!db) {
        setError(error, QStringLiteral("the server database connection has no SQLite handle"));
        return nullptr;
    }
    const QByteArray text = sql.toUtf8();
    sqlite3_stmt *statement = nullptr;
    if (sqlite3_prepare_v3(db, text.constData(), int(text.size()), SQLITE_PREPARE_PERSISTENT,
                           &statement, nullptr)
        != SQLITE_OK) {
        setError(error, QStringLiteral("cannot prepare a query: %1").arg(sqliteError(db)));
        sqlite3_finalize(statement);
        return nullptr;
    }
    slot.reset(statement);
    return statement;
}

// Whether the database keeps its text in UTF-8 (SQLite's default, and so every database this
// store creates); otherwise pages read text as UTF-16, as QSQLITE does.
bool storesUtf8(sqlite3 *db)
{
    sqlite3_stmt *statement = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA encoding", -1, &statement, nullptr) != SQLITE_OK) {
        sqlite3_finalize(statement);
        return false;
    }
    const Statement owner(statement);
    if (sqlite3_step(statement) != SQLITE_ROW)
        return false;
    const char *encoding = reinterpret_cast<const char *>(sqlite3_column_text(statement, 0));
    return encoding && qstrcmp(encoding, "UTF-8") == 0;
}

/*
    A cell of the current row. One sqlite3_column_value() and then the sqlite3_value_*()
    readers take neither the connection's mutex nor an error check per reading, as each
    sqlite3_column_*() call does. The value is unprotected, which is safe here: it is read on
    the connection's own thread, before the next step.
*/
sqlite3_value *cell(sqlite3_stmt *statement, int column)
{
    return sqlite3_column_value(statement, column);
}

// A cell as QSqlQuery::value() holds it (QSQLITE's fetchNext), for the values whose storage
// class does not match their field's type, which this store never writes.
QVariant driverValue(sqlite3_value *value)
{
    switch (sqlite3_value_type(value)) {
    case SQLITE_BLOB:
        return QByteArray(static_cast<const char *>(sqlite3_value_blob(value)),
                          sqlite3_value_bytes(value));
    case SQLITE_INTEGER:
        return QVariant(qint64(sqlite3_value_int64(value)));
    case SQLITE_FLOAT:
        return QVariant(sqlite3_value_double(value));
    case SQLITE_NULL:
        return QVariant(QMetaType::fromType<QString>());
    default:
        return QString(reinterpret_cast<const QChar *>(sqlite3_value_text16(value)),
                       sqlite3_value_bytes16(value) / qsizetype(sizeof(QChar)));
    }
}

// changedSince as bound to SQL: empty is the empty string, never NULL, which would match
// nothing.
void bindChangedSince(sqlite3_stmt *statement, int index, const QString &since)
{
    const QByteArray text = since.toUtf8();
    sqlite3_bind_text(statement, index, text.isEmpty() ? "" : text.constData(), int(text.size()),
                      SQLITE_TRANSIENT);
}

qint64 integerCell(sqlite3_value *value)
{
    if (sqlite3_value_type(value) == SQLITE_INTEGER)
        return sqlite3_value_int64(value);
    return driverValue(value).toLongLong();
}

void writeText(JsonWriter &json, sqlite3_value *value, bool utf8)
{
    if (utf8) {
        const unsigned char *text = sqlite3_value_text(value);
        const int size = sqlite3_value_bytes(value);
        json.utf8String(text, text ? size : 0);
    } else {
        const auto *text = static_cast<const char16_t *>(sqlite3_value_text16(value));
        const int size = sqlite3_value_bytes16(value);
        json.string(QStringView(text, text ? size / 2 : 0));
    }
}

void writeTextCell(JsonWriter &json, sqlite3_value *value, bool utf8)
{
    if (sqlite3_value_type(value) == SQLITE_TEXT)
        writeText(json, value, utf8);
    else
        json.string(driverValue(value).toString());
}

// A field's value: the storage class its type is written with takes the direct path.
void writeField(JsonWriter &json, sqlite3_value *value, FieldType type, bool utf8)
{
    switch (sqlite3_value_type(value)) {
    case SQLITE_NULL:
        json.literal("null");
        return;
    case SQLITE_TEXT:
        if (type == FieldType::String || type == FieldType::DateTime) {
            writeText(json, value, utf8);
            return;
        }
        break;
    case SQLITE_INTEGER:
        if (type == FieldType::Int) {
            json.integer(sqlite3_value_int64(value));
            return;
        }
        if (type == FieldType::Bool) {
            json.boolean(sqlite3_value_int64(value) != 0);
            return;
        }
        break;
    case SQLITE_FLOAT:
        if (type == FieldType::Real) {
            json.real(sqlite3_value_double(value));
            return;
        }
        break;
    default:
        break;
    }
    const QVariant variant = driverValue(value);
    if (variant.isNull()) {
        json.literal("null");
        return;
    }
    switch (type) {
    case FieldType::String:
    case FieldType::DateTime:
        json.string(variant.toString());
        break;
    case FieldType::Int:
        json.integer(variant.toLongLong());
        break;
    case FieldType::Real:
        json.real(variant.toDouble());
        break;
    case FieldType::Bool:
        json.boolean(variant.toLongLong() != 0);
        break;
    }
}

} // namespace

struct ServerStore::Entity
{
    EntitySchema schema;
    int position = 0;
    QString table; // quoted
    QStringList columns; // quoted field columns, in schema order
    QList<QByteArray> jsonKeys; // "name": for each field, with a comma before all but the first
    qint64 lastSeq = 0;
    QString lastChangedAt;

    // Prepared on first use and kept: a page must not pay for parsing SQL. All of them are
    // finalized when the schema changes and before the connection closes.
    std::unique_ptr<QSqlQuery> upsertQuery;
    std::unique_ptr<QSqlQuery> removeQuery;
    Statement cursorPageStatement;
    Statement offsetPageStatement;
    Statement cursorCountStatement;
    Statement offsetCountStatement;
    bool utf8Text = true; // the database's text encoding, checked before the first page
    bool encodingChecked = false;
    qsizetype pageBytesPerRecord = 0; // of the last page, to size the next one's buffer

    void setSchema(const EntitySchema &newSchema)
    {
        schema = newSchema;
        table = Identifier::quoted(schema.name);
        columns.clear();
        jsonKeys.clear();
        for (const FieldSpec &field : std::as_const(schema.fields)) {
            columns.append(columnName(field.name));
            QByteArray key = jsonKeys.isEmpty() ? QByteArray("\"") : QByteArray(",\"");
            key += field.name.toLatin1(); // checked identifiers: plain ASCII, nothing to escape
            key += "\":";
            jsonKeys.append(key);
        }
        resetQueries();
    }

    void resetQueries()
    {
        upsertQuery.reset();
        removeQuery.reset();
        cursorPageStatement.reset();
        offsetPageStatement.reset();
        cursorCountStatement.reset();
        offsetCountStatement.reset();
        encodingChecked = false;
    }

    QString selectColumns() const
    {
        QString sql = QStringLiteral("SELECT seq, id, changed_at, deleted");
        for (const QString &column : columns)
            sql += QLatin1String(", ") + column;
        return sql + QLatin1String(" FROM ") + table;
    }

    QString upsertSql() const
    {
        QString names = QStringLiteral("seq, id, changed_at, deleted");
        QString values = QStringLiteral(":s, :i, :c, 0");
        QString updates
            = QStringLiteral("seq = excluded.seq, changed_at = excluded.changed_at, deleted = 0");
        for (qsizetype i = 0; i < columns.size(); ++i) {
            const QString &column = columns.at(i);
            names += QLatin1String(", ") + column;
            values += QLatin1String(", :f") + QString::number(i);
            updates += QLatin1String(", ") + column + QLatin1String(" = excluded.") + column;
        }
        return QStringLiteral("INSERT INTO %1(%2) VALUES(%3) ON CONFLICT(id) DO UPDATE SET %4")
            .arg(table, names, values, updates);
    }

    QString removeSql() const
    {
        QString sql
            = QStringLiteral("UPDATE %1 SET seq = ?, changed_at = ?, deleted = 1").arg(table);
        for (const QString &column : columns)
            sql += QLatin1String(", ") + column + QLatin1String(" = NULL");
        return sql + QLatin1String(" WHERE id = ? AND deleted = 0");
    }
};

ServerStore::ServerStore(const QString &databasePath, const QString &connectionName)
    : m_path(databasePath)
    , m_connectionName(connectionName)
{
}

ServerStore::~ServerStore()
{
    if (!m_open)
        return;
    // Every QSqlQuery must be gone before the connection is removed.
    m_byName.clear();
    m_entities.clear();
    QSqlDatabase::database(m_connectionName, false).close();
    QSqlDatabase::removeDatabase(m_connectionName);
}

bool ServerStore::isOpen() const
{
    return m_open;
}

bool ServerStore::open(QString *error)
{
    if (m_open)
        return true;
    if (!QSqlDatabase::isDriverAvailable(QLatin1String(Driver))) {
        setError(error, QStringLiteral("the Qt SQLite driver (QSQLITE) is not installed"));
        return false;
    }
    if (QSqlDatabase::contains(m_connectionName)) {
        setError(error,
                 QStringLiteral("the database connection name \"%1\" is already in use")
                     .arg(m_connectionName));
        return false;
    }

    QString problem;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QLatin1String(Driver), m_connectionName);
        db.setDatabaseName(m_path);
        db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
        if (!db.open()) {
            problem = db.lastError().text();
        } else {
            const char *const setup[] = {
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA cache_size = -32768",
                "CREATE TABLE IF NOT EXISTS _bs_entities(position INTEGER NOT NULL, "
                "name TEXT PRIMARY KEY, fields TEXT NOT NULL)",
            };
            QSqlQuery query(db);
            for (const char *sql : setup) {
                if (!query.exec(QLatin1String(sql))) {
                    problem = query.lastError().text();
                    break;
                }
                query.finish();
            }
        }
    }
    m_open = problem.isEmpty();
    if (m_open && !loadCatalogue(&problem))
        m_open = false;
    if (!m_open) {
        m_byName.clear();
        m_entities.clear();
        QSqlDatabase::database(m_connectionName, false).close();
        QSqlDatabase::removeDatabase(m_connectionName);
        setError(error,
                 QStringLiteral("cannot open the server database \"%1\": %2").arg(m_path, problem));
        return false;
    }
    qCDebug(lcServer) << "opened" << m_path << "with" << m_entities.size() << "entities";
    return true;
}

bool ServerStore::loadCatalogue(QString *error)
{
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    QSqlQuery query(db);
    query.setForwardOnly(true);
    if (!query.exec(QStringLiteral("SELECT position, name, fields FROM %1 ORDER BY position")
                        .arg(QLatin1String(CatalogueTable)))) {
        setError(error, query.lastError().text());
        return false;
    }
    while (query.next()) {
        EntitySchema schema;
        schema.name = query.value(1).toString();
        QString problem = Identifier::check(schema.name, u"entity");
        const QJsonArray fields = QJsonDocument::fromJson(query.value(2).toByteArray()).array();
        for (const QJsonValue &value : fields) {
            if (!problem.isEmpty())
                break;
            const QJsonObject object = value.toObject();
            FieldSpec field;
            field.name = object.value(QLatin1String("name")).toString();
            const auto type = fieldTypeFromName(object.value(QLatin1String("type")).toString());
            problem = Identifier::check(field.name, u"field");
            if (problem.isEmpty() && !type)
                problem = QStringLiteral("field \"%1\" has no valid type").arg(field.name);
            field.type = type.value_or(FieldType::String);
            schema.fields.append(field);
        }
        if (!problem.isEmpty()) {
            setError(error, QStringLiteral("the entity catalogue is damaged: %1").arg(problem));
            return false;
        }
        auto entity = std::make_unique<Entity>();
        entity->position = query.value(0).toInt();
        entity->setSchema(schema);
        m_byName.insert(schema.name, entity.get());
        m_entities.push_back(std::move(entity));
    }
    query.finish();

    for (const auto &entity : m_entities) {
        // Recreating a missing table (never expected) beats failing on every request.
        if (!createTable(*entity, error))
            return false;
        if (!query.exec(
                QStringLiteral("SELECT max(seq), max(changed_at) FROM %1").arg(entity->table))
            || !query.next()) {
            setError(error, query.lastError().text());
            return false;
        }
        entity->lastSeq = query.value(0).toLongLong();
        entity->lastChangedAt = query.value(1).toString();
        query.finish();
    }
    return true;
}

bool ServerStore::createTable(const Entity &entity, QString *error)
{
    QString sql = QStringLiteral("CREATE TABLE IF NOT EXISTS %1(seq INTEGER PRIMARY KEY, "
                                 "id TEXT NOT NULL UNIQUE, changed_at TEXT NOT NULL, "
                                 "deleted INTEGER NOT NULL DEFAULT 0")
                      .arg(entity.table);
    for (qsizetype i = 0; i < entity.columns.size(); ++i)
        sql += QLatin1String(", ") + entity.columns.at(i) + u' '
            + sqlType(entity.schema.fields.at(i).type);
    sql += u')';
    // Entity names never start with '_', so "_bs_..." cannot clash with an entity's table.
    const QString index
        = QStringLiteral("CREATE INDEX IF NOT EXISTS %1 ON %2(changed_at, id)")
              .arg(Identifier::quoted(QLatin1String("_bs_changed_") + entity.schema.name),
                   entity.table);
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    if (!query.exec(sql) || !query.exec(index)) {
        setError(error,
                 QStringLiteral("cannot create the table of entity %1: %2")
                     .arg(entity.schema.name, query.lastError().text()));
        return false;
    }
    return true;
}

bool ServerStore::writeCatalogue(const Entity &entity, QString *error)
{
    QJsonArray fields;
    for (const FieldSpec &field : entity.schema.fields) {
        fields.append(QJsonObject { { QStringLiteral("name"), field.name },
                                    { QStringLiteral("type"), fieldTypeName(field.type) } });
    }
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    query.prepare(QStringLiteral("INSERT INTO %1(position, name, fields) VALUES(?, ?, ?) "
                                 "ON CONFLICT(name) DO UPDATE SET fields = excluded.fields")
                      .arg(QLatin1String(CatalogueTable)));
    query.addBindValue(entity.position);
    query.addBindValue(entity.schema.name);
    query.addBindValue(QString::fromUtf8(QJsonDocument(fields).toJson(QJsonDocument::Compact)));
    if (!query.exec()) {
        setError(error,
                 QStringLiteral("cannot record entity %1: %2")
                     .arg(entity.schema.name, query.lastError().text()));
        return false;
    }
    return true;
}

bool ServerStore::beginTransaction(QString *error)
{
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (!db.transaction()) {
        setError(error,
                 QStringLiteral("cannot begin a transaction: %1").arg(db.lastError().text()));
        return false;
    }
    return true;
}

bool ServerStore::commitTransaction(QString *error)
{
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (!db.commit()) {
        setError(error, QStringLiteral("cannot commit: %1").arg(db.lastError().text()));
        db.rollback();
        return false;
    }
    return true;
}

void ServerStore::rollbackTransaction()
{
    QSqlDatabase::database(m_connectionName, false).rollback();
}

QString ServerStore::nextChangedAt(Entity *entity)
{
    const qint64 ms = QDateTime::currentMSecsSinceEpoch();
    if (ms != m_lastClockMs) {
        m_lastClockMs = ms;
        m_lastClockText = Timestamp::format(QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC));
    }
    // Never earlier than the entity's last change, even if the clock steps back: offset
    // mode clients rely on changedAt order being change order.
    if (m_lastClockText > entity->lastChangedAt)
        entity->lastChangedAt = m_lastClockText;
    return entity->lastChangedAt;
}

ServerStore::Entity *ServerStore::findEntity(const QString &name, QString *error) const
{
    if (!m_open) {
        setError(error, QStringLiteral("the server database is not open"));
        return nullptr;
    }
    Entity *entity = m_byName.value(name);
    if (!entity)
        setError(error, QStringLiteral("no entity named \"%1\"").arg(Identifier::printable(name)));
    return entity;
}

QList<EntitySchema> ServerStore::entities() const
{
    QList<EntitySchema> result;
    result.reserve(qsizetype(m_entities.size()));
    for (const auto &entity : m_entities)
        result.append(entity->schema);
    return result;
}

std::optional<EntitySchema> ServerStore::entity(const QString &name) const
{
    if (const Entity *found = m_byName.value(name))
        return found->schema;
    return std::nullopt;
}

bool ServerStore::addEntity(const EntitySchema &schema, QString *error)
{
    if (!m_open) {
        setError(error, QStringLiteral("the server database is not open"));
        return false;
    }
    QString problem = ServerJson::schemaProblem(schema);
    Entity *existing = m_byName.value(schema.name);
    if (problem.isEmpty() && !existing) {
        for (const auto &other : m_entities) {
            if (other->schema.name.compare(schema.name, Qt::CaseInsensitive) == 0)
                problem = QStringLiteral("entity name \"%1\" clashes with entity \"%2\"")
                              .arg(schema.name, other->schema.name);
        }
    }
    if (!problem.isEmpty()) {
        setError(error, problem);
        return false;
    }

    EntitySchema merged = existing ? existing->schema : EntitySchema { schema.name, {} };
    QList<FieldSpec> added;
    for (const FieldSpec &field : schema.fields) {
        const int index = merged.fieldIndex(field.name);
        if (index >= 0) {
            if (merged.fields.at(index).type != field.type) {
                setError(
                    error,
                    QStringLiteral("field %1 of entity %2 already has type %3")
                        .arg(field.name, schema.name, fieldTypeName(merged.fields.at(index).type)));
                return false;
            }
            continue;
        }
        for (const FieldSpec &other : std::as_const(merged.fields)) {
            if (other.name.compare(field.name, Qt::CaseInsensitive) == 0) {
                setError(error,
                         QStringLiteral("field \"%1\" clashes with field \"%2\" of entity %3")
                             .arg(field.name, other.name, schema.name));
                return false;
            }
        }
        merged.fields.append(field);
        added.append(field);
    }
    if (existing && added.isEmpty())
        return true;

    auto candidate = std::make_unique<Entity>();
    candidate->setSchema(merged);
    candidate->position = existing ? existing->position
                                   : (m_entities.empty() ? 0 : m_entities.back()->position + 1);
    if (existing)
        existing->resetQueries(); // no statement of the old schema outlives the change
    if (!beginTransaction(error))
        return false;
    bool ok = true;
    if (existing) {
        QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
        for (const FieldSpec &field : std::as_const(added)) {
            const QString sql
                = QStringLiteral("ALTER TABLE %1 ADD COLUMN %2 %3")
                      .arg(candidate->table, columnName(field.name), sqlType(field.type));
            if (!query.exec(sql)) {
                setError(error,
                         QStringLiteral("cannot add field %1 to entity %2: %3")
                             .arg(field.name, schema.name, query.lastError().text()));
                ok = false;
                break;
            }
        }
    } else {
        ok = createTable(*candidate, error);
    }
    ok = ok && writeCatalogue(*candidate, error);
    if (!ok) {
        rollbackTransaction();
        return false;
    }
    if (!commitTransaction(error))
        return false;

    if (existing) {
        existing->setSchema(merged);
    } else {
        m_byName.insert(schema.name, candidate.get());
        m_entities.push_back(std::move(candidate));
    }
    qCDebug(lcServer) << "entity" << schema.name << "now has" << merged.fields.size() << "fields";
    return true;
}

namespace {

QSqlQuery *prepared(std::unique_ptr<QSqlQuery> &slot, const QString &connection, const QString &sql,
                    QString *error)
{
    if (!slot) {
        auto query = std::make_unique<QSqlQuery>(QSqlDatabase::database(connection, false));
        query->setForwardOnly(true);
        if (!query->prepare(sql)) {
            setError(error,
                     QStringLiteral("cannot prepare a query: %1").arg(query->lastError().text()));
            return nullptr;
        }
        slot = std::move(query);
    }
    return slot.get();
}

} // namespace

bool ServerStore::upsert(const QString &entityName,
                         const QList<std::pair<QString, QVariantMap>> &records, QString *error)
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return false;
    QSqlQuery *query = prepared(entity->upsertQuery, m_connectionName, entity->upsertSql(), error);
    if (!query)
        return false;

    const qint64 savedSeq = entity->lastSeq;
    const QString savedChangedAt = entity->lastChangedAt;
    if (!beginTransaction(error))
        return false;
    const auto fail = [&](const QString &message) {
        query->finish();
        rollbackTransaction();
        entity->lastSeq = savedSeq;
        entity->lastChangedAt = savedChangedAt;
        setError(error, message);
        return false;
    };

    const EntitySchema &schema = entity->schema;
    const qsizetype fieldCount = schema.fields.size();
    QVariantList values(fieldCount);
    // Named placeholders: Qt 6.4 formats a name for every positional bind, which showed up
    // as a tenth of a bulk write.
    const QString seqName = QStringLiteral(":s");
    const QString idName = QStringLiteral(":i");
    const QString changedAtName = QStringLiteral(":c");
    QStringList fieldNames;
    for (qsizetype i = 0; i < fieldCount; ++i)
        fieldNames.append(QLatin1String(":f") + QString::number(i));
    for (const auto &[id, data] : records) {
        QString problem;
        if (!ServerJson::recordValues(schema, id, data, &values, &problem))
            return fail(problem);
        query->bindValue(seqName, ++entity->lastSeq);
        query->bindValue(idName, id);
        query->bindValue(changedAtName, nextChangedAt(entity));
        for (qsizetype i = 0; i < fieldCount; ++i)
            query->bindValue(fieldNames.at(i), values.at(i));
        if (!query->exec()) {
            return fail(
                QStringLiteral("cannot write record \"%1\" of entity %2: %3")
                    .arg(Identifier::printable(id), schema.name, query->lastError().text()));
        }
    }
    query->finish();
    if (!commitTransaction(error)) {
        entity->lastSeq = savedSeq;
        entity->lastChangedAt = savedChangedAt;
        return false;
    }
    return true;
}

bool ServerStore::upsert(const QString &entity, const QString &id, const QVariantMap &data,
                         QString *error)
{
    return upsert(entity, { { id, data } }, error);
}

bool ServerStore::remove(const QString &entityName, const QStringList &ids, QString *error)
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return false;
    QSqlQuery *query = prepared(entity->removeQuery, m_connectionName, entity->removeSql(), error);
    if (!query)
        return false;

    const qint64 savedSeq = entity->lastSeq;
    const QString savedChangedAt = entity->lastChangedAt;
    if (!beginTransaction(error))
        return false;
    for (const QString &id : ids) {
        if (!ServerJson::isStorableText(id))
            continue; // never stored, so nothing to delete
        query->bindValue(0, entity->lastSeq + 1);
        query->bindValue(1, nextChangedAt(entity));
        query->bindValue(2, id);
        if (!query->exec()) {
            const QString message = QStringLiteral("cannot delete record \"%1\" of entity %2: %3")
                                        .arg(Identifier::printable(id), entity->schema.name,
                                             query->lastError().text());
            query->finish();
            rollbackTransaction();
            entity->lastSeq = savedSeq;
            entity->lastChangedAt = savedChangedAt;
            setError(error, message);
            return false;
        }
        // Unknown and already deleted ids change nothing and take no sequence number.
        if (query->numRowsAffected() > 0)
            ++entity->lastSeq;
    }
    query->finish();
    if (!commitTransaction(error)) {
        entity->lastSeq = savedSeq;
        entity->lastChangedAt = savedChangedAt;
        return false;
    }
    return true;
}

std::optional<qint64> ServerStore::count(const QString &entityName, PagingMode mode,
                                         const QString &since, QString *error) const
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return std::nullopt;
    sqlite3_stmt *statement = nullptr;
    if (mode == PagingMode::Cursor) {
        const std::optional<qint64> seq = parseCursor(since);
        if (!seq) {
            setError(error, QStringLiteral("invalid cursor"));
            return std::nullopt;
        }
        statement = preparedStatement(
            entity->cursorCountStatement, m_connectionName,
            QStringLiteral("SELECT count(*) FROM %1 WHERE seq > ?").arg(entity->table), error);
        if (statement)
            sqlite3_bind_int64(statement, 1, *seq);
    } else {
        if (!since.isEmpty() && !Timestamp::isValid(since)) {
            setError(error,
                     QStringLiteral("changedSince must be a timestamp like "
                                    "2026-11-26T06:20:16.123Z"));
            return std::nullopt;
        }
        statement = preparedStatement(
            entity->offsetCountStatement, m_connectionName,
            QStringLiteral("SELECT count(*) FROM %1 WHERE changed_at > ?").arg(entity->table),
            error);
        if (statement)
            bindChangedSince(statement, 1, since);
    }
    if (!statement)
        return std::nullopt;
    const StatementReset reset(statement);
    if (sqlite3_step(statement) != SQLITE_ROW) {
        setError(error,
                 QStringLiteral("cannot count the changes of entity %1: %2")
                     .arg(entity->schema.name, sqliteError(sqlite3_db_handle(statement))));
        return std::nullopt;
    }
    return qint64(sqlite3_column_int64(statement, 0));
}

std::optional<QByteArray> ServerStore::changesJson(const QString &entityName, PagingMode mode,
                                                   const QString &since, qint64 offset, int limit,
                                                   int *records, QString *error) const
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return std::nullopt;
    if (limit < 1 || offset < 0) {
        setError(error,
                 limit < 1 ? QStringLiteral("limit must be at least 1")
                           : QStringLiteral("offset must not be negative"));
        return std::nullopt;
    }

    sqlite3_stmt *statement = nullptr;
    qint64 sinceSeq = 0;
    if (mode == PagingMode::Cursor) {
        const std::optional<qint64> seq = parseCursor(since);
        if (!seq) {
            setError(error, QStringLiteral("invalid cursor"));
            return std::nullopt;
        }
        sinceSeq = *seq;
        statement = preparedStatement(
            entity->cursorPageStatement, m_connectionName,
            entity->selectColumns() + QLatin1String(" WHERE seq > ? ORDER BY seq LIMIT ?"), error);
        if (statement) {
            sqlite3_bind_int64(statement, 1, sinceSeq);
            // One more tells whether there are more.
            sqlite3_bind_int64(statement, 2, qint64(limit) + 1);
        }
    } else {
        if (!since.isEmpty() && !Timestamp::isValid(since)) {
            setError(error,
                     QStringLiteral("changedSince must be a timestamp like "
                                    "2026-11-26T06:20:16.123Z"));
            return std::nullopt;
        }
        statement = preparedStatement(entity->offsetPageStatement, m_connectionName,
                                      entity->selectColumns()
                                          + QLatin1String(" WHERE changed_at > ? ORDER BY "
                                                          "changed_at, id LIMIT ? OFFSET ?"),
                                      error);
        if (statement) {
            bindChangedSince(statement, 1, since);
            sqlite3_bind_int64(statement, 2, qint64(limit) + 1);
            sqlite3_bind_int64(statement, 3, offset);
        }
    }
    if (!statement)
        return std::nullopt;
    const StatementReset reset(statement);
    if (!entity->encodingChecked) {
        entity->utf8Text = storesUtf8(sqlite3_db_handle(statement));
        entity->encodingChecked = true;
    }
    const bool utf8 = entity->utf8Text;

    const QList<FieldSpec> &fields = entity->schema.fields;
    const int fieldCount = int(fields.size());
    // Sized from the previous page, so that a page is written without growing its buffer.
    const qsizetype perRecord = entity->pageBytesPerRecord > 0
        ? entity->pageBytesPerRecord + entity->pageBytesPerRecord / 8 + 16
        : 112 + 32 * fieldCount;
    JsonWriter json(qMin(limit, 10000) * perRecord + 64);
    json.literal("{\"changes\":[");
    int count = 0;
    bool hasMore = false;
    qint64 lastSeq = sinceSeq;
    int step;
    while ((step = sqlite3_step(statement)) == SQLITE_ROW) {
        if (count == limit) {
            hasMore = true;
            break;
        }
        if (count > 0)
            json.raw(',');
        ++count;
        lastSeq = integerCell(cell(statement, 0));
        json.literal("{\"id\":");
        writeTextCell(json, cell(statement, 1), utf8);
        json.literal(",\"changedAt\":");
        writeTextCell(json, cell(statement, 2), utf8);
        if (integerCell(cell(statement, 3)) != 0) {
            json.literal(",\"deleted\":true}");
            continue;
        }
        json.literal(",\"deleted\":false,\"data\":{");
        for (int i = 0; i < fieldCount; ++i) {
            json.raw(entity->jsonKeys.at(i));
            writeField(json, cell(statement, 4 + i), fields.at(i).type, utf8);
        }
        json.literal("}}");
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        setError(error,
                 QStringLiteral("cannot read the changes of entity %1: %2")
                     .arg(entity->schema.name, sqliteError(sqlite3_db_handle(statement))));
        return std::nullopt;
    }

    json.literal("],");
    if (mode == PagingMode::Cursor) {
        json.literal("\"cursor\":\"");
        json.integer(lastSeq);
        json.literal("\",");
    }
    if (hasMore)
        json.literal("\"hasMore\":true}");
    else
        json.literal("\"hasMore\":false}");
    if (records)
        *records = count;
    QByteArray body = json.take();
    if (count > 0)
        entity->pageBytesPerRecord = body.size() / count;
    return body;
}

QHash<QString, QVariantList> ServerStore::liveRecords(const QString &entityName) const
{
    QHash<QString, QVariantList> result;
    QString error;
    const Entity *entity = findEntity(entityName, &error);
    if (!entity) {
        qCWarning(lcServer) << error;
        return result;
    }
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    query.setForwardOnly(true);
    if (!query.exec(entity->selectColumns() + QLatin1String(" WHERE deleted = 0"))) {
        qCWarning(lcServer) << "cannot read entity" << entityName << query.lastError().text();
        return result;
    }
    const QList<FieldSpec> &fields = entity->schema.fields;
    while (query.next()) {
        QVariantList values;
        values.reserve(fields.size());
        for (qsizetype i = 0; i < fields.size(); ++i)
            values.append(ServerJson::typedValue(fields.at(i).type, query.value(int(4 + i))));
        result.insert(query.value(1).toString(), values);
    }
    return result;
}

qint64 ServerStore::liveCount(const QString &entityName) const
{
    QString error;
    const Entity *entity = findEntity(entityName, &error);
    if (!entity) {
        qCWarning(lcServer) << error;
        return 0;
    }
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    if (!query.exec(QStringLiteral("SELECT count(*) FROM %1 WHERE deleted = 0").arg(entity->table))
        || !query.next()) {
        qCWarning(lcServer) << "cannot count entity" << entityName << query.lastError().text();
        return 0;
    }
    return query.value(0).toLongLong();
}

} // namespace BatchSync
