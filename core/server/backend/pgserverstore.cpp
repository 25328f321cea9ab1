#include "pgserverstore.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "server/backend/pgentity.h"
#include "server/backend/pginstall.h"
#include "server/backend/pgpage.h"
#include "server/backend/values.h"
#include "server/pagewriter.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

namespace BatchSync {

namespace {

using namespace PgSql;

constexpr auto Driver = "QPSQL";
// Marks the installed SQL; a newer one replaces the functions.
// 2: _bs_pushes. 3: batchsync_track() records numeric columns as decimal fields.
// 4: _bs_row_fields and _bs_moves, which the tombstone trigger fills.
constexpr auto InstalledVersion = "batchsync 5";
// Serialises installs and catalogue changes between server processes.
constexpr qint64 CatalogueLock = 0x62617463687379; // "batchsy"
// Rows per INSERT statement, within PostgreSQL's 65535 parameters.
constexpr int RowsPerStatement = 500;

bool hasNul(const QVariant &value)
{
    return value.typeId() == QMetaType::QString && value.toString().contains(QChar(0));
}

} // namespace

PgServerStore::PgServerStore(const QString &connectionString, const QString &connectionName)
    : ServerBackend(connectionName)
    , m_connectionString(connectionString)
{
}

PgServerStore::~PgServerStore() = default;

bool PgServerStore::isDriverAvailable()
{
    return QSqlDatabase::isDriverAvailable(QLatin1String(Driver));
}

QString PgServerStore::errorText(const QSqlError &error) const
{
    const QString text = error.databaseText().trimmed();
    return text.isEmpty() ? error.text().trimmed() : text;
}

bool PgServerStore::open(QString *error)
{
    if (isOpen())
        return true;
    PgConnection connection;
    QString problem;
    if (!addConnection(QLatin1String(Driver),
                       QStringLiteral("the Qt PostgreSQL driver (QPSQL) is not installed; on "
                                      "Debian install libqt6sql6-psql"),
                       error))
        return false;
    if (!PgConnection::parse(m_connectionString, &connection, &problem))
        return finishOpen(QStringLiteral("bad PostgreSQL connection string: %1").arg(problem),
                          error);
    {
        QSqlDatabase db = database();
        db.setHostName(connection.host);
        if (connection.port > 0)
            db.setPort(connection.port);
        db.setDatabaseName(connection.databaseName);
        db.setUserName(connection.userName);
        db.setPassword(connection.password);
        db.setConnectOptions(connection.options);
        if (!db.open())
            problem = QStringLiteral("cannot connect to PostgreSQL (%1): %2")
                          .arg(connection.describe(), errorText(db.lastError()));
    }
    if (problem.isEmpty())
        install(&problem);
    if (problem.isEmpty()) {
        // Pages and counts are read through libpq itself: no QVariant per cell.
        m_link = std::make_unique<PgLink>(m_connectionString);
        QString linkProblem;
        if (!m_link->open(&linkProblem))
            problem = QStringLiteral("cannot connect to PostgreSQL (%1): %2")
                          .arg(connection.describe(), linkProblem);
    }
    if (problem.isEmpty() && reloadCatalogue(&problem))
        readRowFields(m_schema + QLatin1String("._bs_row_fields"), &problem);
    if (problem.isEmpty()) {
        qCDebug(lcServer).noquote() << "opened PostgreSQL" << connection.describe() << "schema"
                                    << m_schema << "with" << servedEntities().size() << "entities";
    }
    return finishOpen(problem, error);
}

bool PgServerStore::install(QString *error)
{
    QSqlQuery query(database());
    // Same session settings whatever the server's configuration: shortest exact doubles.
    if (!query.exec(QStringLiteral("SET extra_float_digits = 1"))
        || !query.exec(QStringLiteral("SET client_min_messages = warning"))
        || !query.exec(QStringLiteral("SELECT current_schema()")) || !query.next()) {
        *error = QStringLiteral("cannot set up the PostgreSQL session: %1")
                     .arg(errorText(query.lastError()));
        return false;
    }
    const QString schema = query.value(0).toString();
    query.finish();
    if (schema.isEmpty() || !Identifier::matchesRule(schema)) {
        *error = schema.isEmpty()
            ? QStringLiteral("the PostgreSQL search_path names no schema to use")
            : QStringLiteral("the schema \"%1\" is not a plain identifier")
                  .arg(Identifier::printable(schema));
        return false;
    }
    m_schema = Identifier::quoted(schema);

    // Installed already (the usual case): nothing to write, so a server may run as a role
    // that cannot create functions.
    if (query.exec(QStringLiteral("SELECT obj_description(to_regprocedure('%1.batchsync_track("
                                  "regclass, text, text)'), 'pg_proc')")
                       .arg(m_schema))
        && query.next() && query.value(0).toString() == QLatin1String(InstalledVersion)) {
        return true;
    }
    query.finish();

    QString problem;
    const QStringList statements
        = PgInstall::statements(m_schema, CatalogueLock, QLatin1String(InstalledVersion), &problem);
    if (statements.isEmpty()) {
        *error = problem;
        return false;
    }
    if (!beginTransaction(error))
        return false;
    bool ok = exec(QStringLiteral("SELECT pg_advisory_xact_lock(%1)").arg(CatalogueLock), &problem);
    for (qsizetype i = 0; ok && i < statements.size(); ++i)
        ok = exec(statements.at(i), &problem);
    if (!ok) {
        rollbackTransaction();
        *error = QStringLiteral("cannot install the BatchSync tables and functions in schema %1: "
                                "%2")
                     .arg(m_schema, problem);
        return false;
    }
    return commitTransaction(error);
}

bool PgServerStore::reloadCatalogue(QString *error) const
{
    QSqlQuery query(database());
    query.setForwardOnly(true);
    const QString sql
        = QStringLiteral("SELECT e.name, e.table_schema, e.table_name, e.id_column, e.fields, "
                         "(SELECT format_type(a.atttypid, NULL) FROM pg_attribute a "
                         "WHERE a.attrelid = to_regclass(quote_ident(e.table_schema) || '.' "
                         "|| quote_ident(e.table_name)) AND a.attname = e.id_column "
                         "AND NOT a.attisdropped) "
                         "FROM %1._bs_entities e ORDER BY e.position")
              .arg(m_schema);
    if (!query.exec(sql)) {
        return fail(ServerError::Type::Internal,
                    QStringLiteral("cannot read the entity catalogue: %1")
                        .arg(errorText(query.lastError())),
                    error);
    }
    std::vector<std::unique_ptr<ServedEntity>> entities;
    while (query.next()) {
        const QString name = query.value(0).toString();
        const QString tableSchema = query.value(1).toString();
        const QString tableName = query.value(2).toString();
        const QString idColumn = query.value(3).toString();
        const QString fieldsText = query.value(4).toString();
        const QString idType = query.value(5).toString();
        const QString definition
            = QStringList { tableSchema, tableName, idColumn, idType, fieldsText }.join(u'\n');

        // Unchanged: keep it with its prepared queries.
        if (auto *known = static_cast<Entity *>(servedEntity(name));
            known && known->definition == definition) {
            entities.push_back(takeServedEntity(known));
            continue;
        }

        QString problem = Identifier::check(name, u"entity");
        if (problem.isEmpty()
            && (!Identifier::matchesRule(tableSchema) || !Identifier::matchesRule(tableName)
                || !Identifier::matchesRule(idColumn)))
            problem = QStringLiteral("the table of entity %1 is not named by plain identifiers")
                          .arg(name);
        if (problem.isEmpty() && idType.isEmpty())
            problem = QStringLiteral("the table %1.%2 of entity %3 or its column %4 is missing")
                          .arg(tableSchema, tableName, name, idColumn);
        auto entity = std::make_unique<Entity>();
        entity->schema.name = name;
        entity->table = Identifier::quoted(tableSchema) + u'.' + Identifier::quoted(tableName);
        entity->idColumn = Identifier::quoted(idColumn);
        entity->idType = isKnownSqlType(idType) ? idType : QStringLiteral("text");
        entity->definition = definition;
        const QJsonArray fields = QJsonDocument::fromJson(fieldsText.toUtf8()).array();
        for (qsizetype i = 0; i < fields.size() && problem.isEmpty(); ++i) {
            const QJsonObject object = fields.at(i).toObject();
            FieldSpec field;
            problem = catalogueField(object, &field);
            // An earlier batchsync_track() recorded numeric columns as real: served exactly now.
            if (field.type == FieldType::Real
                && object.value(QLatin1String("sqltype")).toString() == QLatin1String("numeric"))
                field.type = FieldType::Decimal;
            const QString column = object.value(QLatin1String("column")).toString();
            const QString sqlType = object.value(QLatin1String("sqltype")).toString();
            if (problem.isEmpty() && !Identifier::matchesRule(column))
                problem = QStringLiteral("field \"%1\" has no valid column").arg(field.name);
            if (problem.isEmpty() && !isKnownSqlType(sqlType))
                problem = QStringLiteral("field \"%1\" has an unsupported column type \"%2\"")
                              .arg(field.name, Identifier::printable(sqlType));
            entity->schema.fields.append(field);
            entity->columns.append({ Identifier::quoted(column), sqlType });
        }
        entity->fieldKeys = PageWriter::fieldKeys(entity->schema);
        if (!problem.isEmpty()) {
            // One broken entry must not take the others down: it is left out, loudly.
            qCWarning(lcServer).noquote()
                << "entity catalogue: not serving" << name << ":" << problem;
            continue;
        }
        entities.push_back(std::move(entity));
    }
    setServedEntities(std::move(entities));
    return true;
}

PgServerStore::Entity *PgServerStore::findEntity(const QString &name, QString *error) const
{
    return static_cast<Entity *>(ServerBackend::findEntity(name, error));
}

void PgServerStore::refreshCatalogue() const
{
    QString problem;
    if (!reloadCatalogue(&problem))
        qCWarning(lcServer).noquote() << problem;
}

bool PgServerStore::retryAfterFailure() const
{
    // The table may have changed under us (another server): read the catalogue again.
    return reloadCatalogue(nullptr);
}

bool PgServerStore::addChecked(const EntitySchema &schema, QString *error)
{
    if (!beginTransaction(error))
        return false;
    QString problem;
    // The catalogue as it is now, with no other server changing it meanwhile.
    if (!exec(QStringLiteral("SELECT pg_advisory_xact_lock(%1)").arg(CatalogueLock), &problem))
        return rollbackAndFail(problem, error);
    if (!reloadCatalogue(error)) {
        rollbackTransaction();
        return false;
    }
    const auto abandon = [&](const QString &message) { return rollbackAndFail(message, error); };

    auto *existing = static_cast<Entity *>(servedEntity(schema.name));
    EntitySchema merged;
    QList<FieldSpec> added;
    if (!mergeSchema(existing ? &existing->schema : nullptr, schema, &merged, &added, error)) {
        rollbackTransaction();
        return false;
    }
    if (existing && added.isEmpty()) {
        rollbackTransaction();
        return true;
    }

    // The catalogue's field list: existing fields keep their columns and types.
    QJsonArray fields;
    QString table = Identifier::quoted(schema.name);
    if (existing) {
        table = existing->table;
        for (qsizetype i = 0; i < existing->schema.fields.size(); ++i) {
            QString column = existing->columns.at(i).column;
            column = column.mid(1, column.size() - 2); // checked identifiers: no inner quotes
            QJsonObject entry = catalogueEntry(existing->schema.fields.at(i));
            entry.insert(QStringLiteral("column"), column);
            entry.insert(QStringLiteral("sqltype"), existing->columns.at(i).sqlType);
            fields.append(entry);
        }
    }
    for (const FieldSpec &field : std::as_const(added)) {
        QJsonObject entry = catalogueEntry(field);
        entry.insert(QStringLiteral("column"), field.name);
        entry.insert(QStringLiteral("sqltype"), fieldSqlType(field.type));
        fields.append(entry);
    }

    if (existing) {
        for (const FieldSpec &field : std::as_const(added)) {
            if (!exec(QStringLiteral("ALTER TABLE %1 ADD COLUMN %2 %3")
                          .arg(table, Identifier::quoted(field.name), fieldSqlType(field.type)),
                      &problem))
                return abandon(QStringLiteral("cannot add field %1 to entity %2: %3")
                                   .arg(field.name, schema.name, problem));
        }
    } else {
        QString sql = QStringLiteral("CREATE TABLE %1.%2(id text COLLATE \"C\" PRIMARY KEY")
                          .arg(m_schema, table);
        for (const FieldSpec &field : std::as_const(added))
            sql += QLatin1String(", ") + Identifier::quoted(field.name) + u' '
                + fieldSqlType(field.type);
        sql += u')';
        if (!exec(sql, &problem)
            || !exec(QStringLiteral("SELECT %1.batchsync_track('%1.%2'::regclass, '%3', 'id')")
                         .arg(m_schema, table, schema.name),
                     &problem))
            return abandon(QStringLiteral("cannot create the table of entity %1: %2")
                               .arg(schema.name, problem));
    }
    QSqlQuery update(database());
    update.prepare(
        QStringLiteral("UPDATE %1._bs_entities SET fields = ? WHERE name = ?").arg(m_schema));
    update.addBindValue(QString::fromUtf8(QJsonDocument(fields).toJson(QJsonDocument::Compact)));
    update.addBindValue(schema.name);
    if (!update.exec() || update.numRowsAffected() != 1) {
        const QString message = QStringLiteral("cannot record entity %1: %2")
                                    .arg(schema.name, errorText(update.lastError()));
        update.finish();
        return abandon(message);
    }
    update.finish();
    if (!commitTransaction(error))
        return false;
    if (!reloadCatalogue(error))
        return false;
    qCDebug(lcServer) << "entity" << schema.name << "now has" << merged.fields.size() << "fields";
    return true;
}

bool PgServerStore::upsert(const QString &entityName,
                           const QList<std::pair<QString, QVariantMap>> &records, QString *error)
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return false;
    const EntitySchema &schema = entity->schema;
    const qsizetype fieldCount = schema.fields.size();

    // Every value checked before anything is written.
    QList<QVariantList> rows;
    rows.reserve(records.size());
    for (const auto &[id, data] : records) {
        if (id.contains(QChar(0))) {
            return fail(ServerError::Type::BadRequest,
                        QStringLiteral("record \"%1\" of entity %2: PostgreSQL text cannot hold "
                                       "U+0000")
                            .arg(Identifier::printable(id), schema.name),
                        error);
        }
        QVariantList values(fieldCount);
        QString problem;
        if (!ServerValues::recordValues(schema, id, data, &values, &problem))
            return fail(ServerError::Type::BadRequest, problem, error);
        for (qsizetype i = 0; i < fieldCount; ++i) {
            QVariant &value = values[i];
            if (hasNul(value)) {
                return fail(
                    ServerError::Type::BadRequest,
                    QStringLiteral("record \"%1\" of entity %2: field %3: PostgreSQL "
                                   "text cannot hold U+0000")
                        .arg(Identifier::printable(id), schema.name, schema.fields.at(i).name),
                    error);
            }
            if (schema.fields.at(i).type == FieldType::Bool && !value.isNull())
                value = QVariant(value.toLongLong() != 0);
        }
        rows.append(std::move(values));
    }

    const int rowsPerStatement = qMax(1, qMin(RowsPerStatement, 30000 / int(1 + fieldCount)));
    if (!beginTransaction(error))
        return false;
    qsizetype next = 0;
    QSet<QString> idsInStatement;
    while (next < records.size()) {
        // A statement may not write one row twice: a repeated id starts the next one.
        qsizetype end = next;
        idsInStatement.clear();
        while (end < records.size() && end - next < rowsPerStatement
               && !idsInStatement.contains(records.at(end).first)) {
            idsInStatement.insert(records.at(end).first);
            ++end;
        }
        const int count = int(end - next);
        std::unique_ptr<QSqlQuery> oneOff;
        QSqlQuery *query = nullptr;
        QString problem;
        if (count == rowsPerStatement) {
            query = prepared(entity->upsertQuery, entity->upsertSql(rowsPerStatement), &problem);
        } else {
            query = prepared(oneOff, entity->upsertSql(count), &problem);
        }
        if (!query)
            return rollbackAndFail(problem, error);
        int position = 0;
        for (qsizetype r = next; r < end; ++r) {
            query->bindValue(position++, records.at(r).first);
            for (const QVariant &value : std::as_const(rows.at(r)))
                query->bindValue(position++, value);
        }
        if (!query->exec()) {
            const QString message = QStringLiteral("cannot write records of entity %1: %2")
                                        .arg(schema.name, errorText(query->lastError()));
            query->finish();
            return rollbackAndFail(message, error);
        }
        query->finish();
        next = end;
    }
    return commitTransaction(error);
}

bool PgServerStore::remove(const QString &entityName, const QStringList &ids, QString *error)
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return false;
    QSqlQuery *query = beginWrite(entity->removeQuery,
                                  QStringLiteral("DELETE FROM %1 WHERE %2 = CAST(? AS %3)")
                                      .arg(entity->table, entity->idColumn, entity->idType),
                                  error);
    if (!query)
        return false;
    for (const QString &id : ids) {
        if (id.isEmpty() || id.contains(QChar(0)) || !ServerValues::isStorableText(id))
            continue; // never stored, so nothing to delete
        query->bindValue(0, id);
        if (!query->exec()) {
            const QString message = QStringLiteral("cannot delete record \"%1\" of entity %2: %3")
                                        .arg(Identifier::printable(id), entity->schema.name,
                                             errorText(query->lastError()));
            query->finish();
            return rollbackAndFail(message, error);
        }
        query->finish();
    }
    return commitTransaction(error);
}

PgResult PgServerStore::readChanges(Entity *entity, const QString &sql,
                                    const QList<QByteArray> &parameters, const QString &what,
                                    QString *error) const
{
    QString problem;
    PgResult result = m_link->query(sql, parameters, &problem);
    if (!result) {
        fail(ServerError::Type::Internal,
             QStringLiteral("cannot %1 the changes of entity %2: %3")
                 .arg(what, entity->schema.name, problem),
             error);
    }
    return result;
}

std::optional<qint64> PgServerStore::countChanges(ServedEntity *served, PagingMode mode,
                                                  const QString &since, const RowConditions &rows,
                                                  QString *error) const
{
    auto *entity = static_cast<Entity *>(served);
    const std::optional<Cursor> cursor
        = mode == PagingMode::Cursor ? parseCursor(since) : std::optional<Cursor>(Cursor());
    if (!cursor) {
        invalidCursor(error);
        return std::nullopt;
    }
    QString sql = QStringLiteral("SELECT count(*) FROM %1 WHERE c.x < "
                                 "pg_snapshot_xmin(pg_current_snapshot()) AND ")
                      .arg(entity->changes(m_schema));
    QList<QByteArray> parameters;
    if (!rows.isEmpty()) {
        rowsQuery(entity, mode, true, since, rows, 0, 0, &sql, &parameters);
    } else if (mode == PagingMode::Cursor) {
        sql += QLatin1String("(c.x, c.s) > (CAST(? AS xid8), CAST(? AS bigint))");
        parameters = { cursor->xid.toLatin1(), QByteArray::number(cursor->seq) };
    } else {
        sql += QLatin1String("c.a > CAST(? AS text)");
        parameters = { since.toUtf8() };
    }
    const PgResult result = readChanges(entity, sql, parameters, QStringLiteral("count"), error);
    if (!result)
        return std::nullopt;
    if (result.rows() != 1) {
        fail(ServerError::Type::Internal,
             QStringLiteral("cannot count the changes of entity %1: no count read")
                 .arg(entity->schema.name),
             error);
        return std::nullopt;
    }
    return QByteArray(result.text(0, 0)).toLongLong();
}

std::optional<QByteArray> PgServerStore::page(ServedEntity *served, PagingMode mode,
                                              const QString &since, qint64 offset, int limit,
                                              const RowConditions &rows, int *records,
                                              QString *error) const
{
    auto *entity = static_cast<Entity *>(served);
    const std::optional<Cursor> cursor
        = mode == PagingMode::Cursor ? parseCursor(since) : std::optional<Cursor>(Cursor());
    if (!cursor) {
        invalidCursor(error);
        return std::nullopt;
    }
    QString sql = QStringLiteral("%1 FROM %2 WHERE c.x < "
                                 "pg_snapshot_xmin(pg_current_snapshot()) AND ")
                      .arg(entity->pageColumns(), entity->changes(m_schema));
    QList<QByteArray> parameters;
    const QByteArray more = QByteArray::number(qint64(limit) + 1); // tells whether there are more
    if (!rows.isEmpty()) {
        rowsQuery(entity, mode, false, since, rows, offset, limit, &sql, &parameters);
    } else if (mode == PagingMode::Cursor) {
        sql += QLatin1String("(c.x, c.s) > (CAST(? AS xid8), CAST(? AS bigint)) "
                             "ORDER BY c.x, c.s LIMIT CAST(? AS bigint)");
        parameters = { cursor->xid.toLatin1(), QByteArray::number(cursor->seq), more };
    } else {
        sql += QLatin1String("c.a > CAST(? AS text) ORDER BY c.a, c.i "
                             "LIMIT CAST(? AS bigint) OFFSET CAST(? AS bigint)");
        parameters = { since.toUtf8(), more, QByteArray::number(offset) };
    }
    std::optional<QString> end;
    if (!rows.isEmpty() && mode == PagingMode::Cursor) {
        end = lastPosition(entity, error);
        if (!end)
            return std::nullopt;
    }
    const PgResult result = readChanges(entity, sql, parameters, QStringLiteral("read"), error);
    if (!result)
        return std::nullopt;
    Rows reader(result, entity->schema.fields, mode == PagingMode::Cursor ? since : QString());
    if (end)
        reader.setEndPosition(*end);
    PageWriter::Page written
        = PageWriter::write(reader, entity->fieldKeys, mode, limit,
                            qMin(limit, 1000) * (112 + 32 * entity->schema.fields.size()));
    if (records)
        *records = written.records;
    return std::move(written.body);
}

QString PgServerStore::liveRecordsSql(const ServedEntity &served) const
{
    const auto &entity = static_cast<const Entity &>(served);
    QString sql = QStringLiteral("SELECT %1::text AS _bs_id").arg(entity.idColumn);
    for (const Entity::Field &field : entity.columns)
        sql += QLatin1String(", ") + selectExpression(field.column, field.sqlType);
    return sql + QLatin1String(" FROM ") + entity.table;
}

QString PgServerStore::liveCountSql(const ServedEntity &entity) const
{
    return QStringLiteral("SELECT count(*) FROM %1").arg(entity.table);
}

} // namespace BatchSync
