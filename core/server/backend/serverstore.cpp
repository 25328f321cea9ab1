#include "serverstore.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "server/backend/serverstore_p.h"
#include "server/backend/sqlitepage.h"
#include "server/backend/values.h"
#include "server/pagewriter.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

namespace BatchSync {

namespace {

constexpr auto CatalogueTable = "_bs_entities";

// Decimal fields are TEXT: a NUMERIC column would turn "12.50" into the double 12.5.
QString sqlType(FieldType type)
{
    if (type == FieldType::Int || type == FieldType::Bool)
        return QStringLiteral("INTEGER");
    return type == FieldType::Real ? QStringLiteral("REAL") : QStringLiteral("TEXT");
}

// A cursor is the sequence number of the last change a client has; empty is the start.
std::optional<qint64> parseCursor(QStringView text)
{
    return text.isEmpty() ? std::optional<qint64>(0) : ServerValues::parseCount(text);
}

} // namespace

ServerStore::ServerStore(const QString &databasePath, const QString &connectionName)
    : ServerBackend(connectionName)
    , m_path(databasePath)
{
}

ServerStore::~ServerStore() = default;

bool ServerStore::open(QString *error)
{
    if (isOpen())
        return true;
    if (!addConnection(QStringLiteral("QSQLITE"),
                       QStringLiteral("the Qt SQLite driver (QSQLITE) is not installed"), error))
        return false;

    QString problem;
    {
        QSqlDatabase db = database();
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
                // The remembered result of each pushed change, by its client and changeId.
                "CREATE TABLE IF NOT EXISTS _bs_pushes(client TEXT NOT NULL, "
                "change_id TEXT NOT NULL, result TEXT NOT NULL, at INTEGER NOT NULL, "
                "PRIMARY KEY(client, change_id)) WITHOUT ROWID",
                "CREATE INDEX IF NOT EXISTS _bs_pushes_at ON _bs_pushes(at)",
            };
            for (const char *sql : setup) {
                if (!exec(QLatin1String(sql), &problem))
                    break;
            }
        }
    }
    if (problem.isEmpty())
        loadCatalogue(&problem);
    if (!problem.isEmpty()) {
        return finishOpen(
            QStringLiteral("cannot open the server database \"%1\": %2").arg(m_path, problem),
            error);
    }
    qCDebug(lcServer) << "opened" << m_path << "with" << servedEntities().size() << "entities";
    return finishOpen(QString(), error);
}

bool ServerStore::loadCatalogue(QString *error)
{
    QSqlQuery query(database());
    query.setForwardOnly(true);
    if (!query.exec(QStringLiteral("SELECT position, name, fields FROM %1 ORDER BY position")
                        .arg(QLatin1String(CatalogueTable)))) {
        *error = query.lastError().text();
        return false;
    }
    while (query.next()) {
        EntitySchema schema;
        schema.name = query.value(1).toString();
        QString problem = Identifier::check(schema.name, u"entity");
        const QJsonArray fields = QJsonDocument::fromJson(query.value(2).toByteArray()).array();
        for (qsizetype i = 0; i < fields.size() && problem.isEmpty(); ++i) {
            FieldSpec field;
            problem = catalogueField(fields.at(i).toObject(), &field);
            schema.fields.append(field);
        }
        if (!problem.isEmpty()) {
            *error = QStringLiteral("the entity catalogue is damaged: %1").arg(problem);
            return false;
        }
        auto entity = std::make_unique<Entity>();
        entity->position = query.value(0).toInt();
        entity->setSchema(schema);
        addServedEntity(std::move(entity));
    }
    query.finish();

    for (const auto &served : servedEntities()) {
        auto *entity = static_cast<Entity *>(served.get());
        // Recreating a missing table (never expected) beats failing on every request.
        if (!createTable(*entity, error))
            return false;
        if (!query.exec(
                QStringLiteral("SELECT max(seq), max(changed_at) FROM %1").arg(entity->table))
            || !query.next()) {
            *error = query.lastError().text();
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
    QString problem;
    if (exec(sql, &problem) && exec(index, &problem))
        return true;
    return fail(
        ServerError::Type::Internal,
        QStringLiteral("cannot create the table of entity %1: %2").arg(entity.schema.name, problem),
        error);
}

bool ServerStore::writeCatalogue(const Entity &entity, QString *error)
{
    QJsonArray fields;
    for (const FieldSpec &field : entity.schema.fields)
        fields.append(catalogueEntry(field));
    QSqlQuery query(database());
    query.prepare(QStringLiteral("INSERT INTO %1(position, name, fields) VALUES(?, ?, ?) "
                                 "ON CONFLICT(name) DO UPDATE SET fields = excluded.fields")
                      .arg(QLatin1String(CatalogueTable)));
    query.addBindValue(entity.position);
    query.addBindValue(entity.schema.name);
    query.addBindValue(QString::fromUtf8(QJsonDocument(fields).toJson(QJsonDocument::Compact)));
    if (query.exec())
        return true;
    return fail(ServerError::Type::Internal,
                QStringLiteral("cannot record entity %1: %2")
                    .arg(entity.schema.name, query.lastError().text()),
                error);
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
    return static_cast<Entity *>(ServerBackend::findEntity(name, error));
}

bool ServerStore::addChecked(const EntitySchema &schema, QString *error)
{
    auto *existing = static_cast<Entity *>(servedEntity(schema.name));
    EntitySchema merged;
    QList<FieldSpec> added;
    if (!mergeSchema(existing ? &existing->schema : nullptr, schema, &merged, &added, error))
        return false;
    if (existing && added.isEmpty())
        return true;

    auto candidate = std::make_unique<Entity>();
    candidate->setSchema(merged);
    const auto &served = servedEntities();
    candidate->position = existing
        ? existing->position
        : (served.empty() ? 0 : static_cast<Entity *>(served.back().get())->position + 1);
    if (existing)
        existing->resetQueries(); // no statement of the old schema outlives the change
    if (!beginTransaction(error))
        return false;
    bool ok = true;
    if (existing) {
        for (const FieldSpec &field : std::as_const(added)) {
            QString problem;
            if (!exec(QStringLiteral("ALTER TABLE %1 ADD COLUMN %2 %3")
                          .arg(candidate->table, ServerStoreDetail::columnName(field.name),
                               sqlType(field.type)),
                      &problem)) {
                fail(ServerError::Type::Internal,
                     QStringLiteral("cannot add field %1 to entity %2: %3")
                         .arg(field.name, schema.name, problem),
                     error);
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

    if (existing)
        existing->setSchema(merged);
    else
        addServedEntity(std::move(candidate));
    qCDebug(lcServer) << "entity" << schema.name << "now has" << merged.fields.size() << "fields";
    return true;
}

bool ServerStore::restoreAndFail(Entity *entity, qint64 seq, const QString &changedAt,
                                 QString *error)
{
    entity->lastSeq = seq;
    entity->lastChangedAt = changedAt;
    return fail(lastError().type, lastError().message, error);
}

bool ServerStore::upsert(const QString &entityName,
                         const QList<std::pair<QString, QVariantMap>> &records, QString *error)
{
    Entity *entity = findEntity(entityName, error);
    QSqlQuery *query
        = entity ? beginWrite(entity->upsertQuery, entity->upsertSql(), error) : nullptr;
    if (!query)
        return false;
    const qint64 savedSeq = entity->lastSeq;
    const QString savedChangedAt = entity->lastChangedAt;
    const auto failWith = [&](ServerError::Type type, const QString &message) {
        query->finish();
        rollbackAndFail(message, nullptr, type);
        return restoreAndFail(entity, savedSeq, savedChangedAt, error);
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
        if (!ServerValues::recordValues(schema, id, data, &values, &problem))
            return failWith(ServerError::Type::BadRequest, problem);
        query->bindValue(seqName, ++entity->lastSeq);
        query->bindValue(idName, id);
        query->bindValue(changedAtName, nextChangedAt(entity));
        for (qsizetype i = 0; i < fieldCount; ++i)
            query->bindValue(fieldNames.at(i), values.at(i));
        if (!query->exec()) {
            return failWith(
                ServerError::Type::Internal,
                QStringLiteral("cannot write record \"%1\" of entity %2: %3")
                    .arg(Identifier::printable(id), schema.name, query->lastError().text()));
        }
    }
    query->finish();
    if (!commitTransaction(error))
        return restoreAndFail(entity, savedSeq, savedChangedAt, error);
    return true;
}

bool ServerStore::remove(const QString &entityName, const QStringList &ids, QString *error)
{
    Entity *entity = findEntity(entityName, error);
    QSqlQuery *query
        = entity ? beginWrite(entity->removeQuery, entity->removeSql(), error) : nullptr;
    if (!query)
        return false;
    // Unknown and already deleted ids change nothing and take no sequence number.
    const qint64 savedSeq = entity->lastSeq;
    const QString savedChangedAt = entity->lastChangedAt;
    for (const QString &id : ids) {
        if (!ServerValues::isStorableText(id))
            continue; // never stored, so nothing to delete
        query->bindValue(0, entity->lastSeq + 1);
        query->bindValue(1, nextChangedAt(entity));
        query->bindValue(2, id);
        if (!query->exec()) {
            const QString message = QStringLiteral("cannot delete record \"%1\" of entity %2: %3")
                                        .arg(Identifier::printable(id), entity->schema.name,
                                             query->lastError().text());
            query->finish();
            rollbackAndFail(message, nullptr);
            return restoreAndFail(entity, savedSeq, savedChangedAt, error);
        }
        if (query->numRowsAffected() > 0)
            ++entity->lastSeq;
    }
    query->finish();
    if (!commitTransaction(error))
        return restoreAndFail(entity, savedSeq, savedChangedAt, error);
    return true;
}

std::optional<qint64> ServerStore::countChanges(ServedEntity *served, PagingMode mode,
                                                const QString &since, QString *error) const
{
    auto *entity = static_cast<Entity *>(served);
    QString problem;
    sqlite3_stmt *statement = nullptr;
    if (mode == PagingMode::Cursor) {
        const std::optional<qint64> seq = parseCursor(since);
        if (!seq) {
            invalidCursor(error);
            return std::nullopt;
        }
        statement = SqlitePage::prepare(
            entity->cursorCountStatement, connectionName(),
            QStringLiteral("SELECT count(*) FROM %1 WHERE seq > ?").arg(entity->table), &problem);
        if (statement)
            sqlite3_bind_int64(statement, 1, *seq);
    } else {
        statement = SqlitePage::prepare(
            entity->offsetCountStatement, connectionName(),
            QStringLiteral("SELECT count(*) FROM %1 WHERE changed_at > ?").arg(entity->table),
            &problem);
        if (statement)
            SqlitePage::bindChangedSince(statement, 1, since);
    }
    if (!statement) {
        fail(ServerError::Type::Internal, problem, error);
        return std::nullopt;
    }
    const SqlitePage::StatementReset reset(statement);
    if (sqlite3_step(statement) != SQLITE_ROW) {
        fail(ServerError::Type::Internal,
             QStringLiteral("cannot count the changes of entity %1: %2")
                 .arg(entity->schema.name, SqlitePage::sqliteError(sqlite3_db_handle(statement))),
             error);
        return std::nullopt;
    }
    return qint64(sqlite3_column_int64(statement, 0));
}

std::optional<QByteArray> ServerStore::page(ServedEntity *served, PagingMode mode,
                                            const QString &since, qint64 offset, int limit,
                                            int *records, QString *error) const
{
    auto *entity = static_cast<Entity *>(served);
    QString problem;
    sqlite3_stmt *statement = nullptr;
    qint64 sinceSeq = 0;
    if (mode == PagingMode::Cursor) {
        const std::optional<qint64> seq = parseCursor(since);
        if (!seq) {
            invalidCursor(error);
            return std::nullopt;
        }
        sinceSeq = *seq;
        statement = SqlitePage::prepare(entity->cursorPageStatement, connectionName(),
                                        entity->selectColumns()
                                            + QLatin1String(" WHERE seq > ? ORDER BY seq LIMIT ?"),
                                        &problem);
        if (statement) {
            sqlite3_bind_int64(statement, 1, sinceSeq);
            // One more tells whether there are more.
            sqlite3_bind_int64(statement, 2, qint64(limit) + 1);
        }
    } else {
        statement = SqlitePage::prepare(entity->offsetPageStatement, connectionName(),
                                        entity->selectColumns()
                                            + QLatin1String(" WHERE changed_at > ? ORDER BY "
                                                            "changed_at, id LIMIT ? OFFSET ?"),
                                        &problem);
        if (statement) {
            SqlitePage::bindChangedSince(statement, 1, since);
            sqlite3_bind_int64(statement, 2, qint64(limit) + 1);
            sqlite3_bind_int64(statement, 3, offset);
        }
    }
    if (!statement) {
        fail(ServerError::Type::Internal, problem, error);
        return std::nullopt;
    }
    const SqlitePage::StatementReset reset(statement);
    if (!entity->encodingChecked) {
        entity->utf8Text = SqlitePage::storesUtf8(sqlite3_db_handle(statement));
        entity->encodingChecked = true;
    }

    // Sized from the previous page, so that a page is written without growing its buffer.
    const qsizetype perRecord = entity->pageBytesPerRecord > 0
        ? entity->pageBytesPerRecord + entity->pageBytesPerRecord / 8 + 16
        : 112 + 32 * entity->schema.fields.size();
    SqlitePage::Rows rows(statement, entity->schema.fields, entity->utf8Text, sinceSeq);
    PageWriter::Page written = PageWriter::write(rows, entity->fieldKeys, mode, limit,
                                                 qMin(limit, 10000) * perRecord + 64);
    if (rows.failed()) {
        fail(ServerError::Type::Internal,
             QStringLiteral("cannot read the changes of entity %1: %2")
                 .arg(entity->schema.name, SqlitePage::sqliteError(sqlite3_db_handle(statement))),
             error);
        return std::nullopt;
    }
    if (records)
        *records = written.records;
    if (written.records > 0)
        entity->pageBytesPerRecord = written.body.size() / written.records;
    return std::move(written.body);
}

QString ServerStore::liveRecordsSql(const ServedEntity &served) const
{
    const auto &entity = static_cast<const Entity &>(served);
    QString sql = QStringLiteral("SELECT id AS _bs_id");
    for (const QString &column : entity.columns)
        sql += QLatin1String(", ") + column;
    return sql + QLatin1String(" FROM ") + entity.table + QLatin1String(" WHERE deleted = 0");
}

QString ServerStore::liveCountSql(const ServedEntity &entity) const
{
    return QStringLiteral("SELECT count(*) FROM %1 WHERE deleted = 0").arg(entity.table);
}

} // namespace BatchSync
