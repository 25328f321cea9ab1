#include "serverbackend.h"

#include "common/decimal.h"
#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "server/backend/values.h"
#include "server/push.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

namespace BatchSync {

ServerBackend::ServedEntity::~ServedEntity() = default;

ServerBackend::ServerBackend(const QString &connectionName)
    : m_connectionName(connectionName)
{
}

ServerBackend::~ServerBackend()
{
    if (m_open)
        closeConnection();
}

void ServerBackend::closeConnection()
{
    // Every QSqlQuery must be gone before the connection is removed.
    m_byName.clear();
    m_entities.clear();
    QSqlDatabase::database(m_connectionName, false).close();
    QSqlDatabase::removeDatabase(m_connectionName);
    m_open = false;
}

std::optional<QByteArray> ServerBackend::push(const QString &entity, const PushRequest &,
                                              QString *error)
{
    if (!findEntity(entity, error))
        return std::nullopt;
    fail(ServerError::Type::NotImplemented,
         QStringLiteral("this server's database does not take pushes yet"), error);
    return std::nullopt;
}

std::optional<QByteArray> ServerBackend::pushInTransaction(
    const QString &entity,
    const std::function<std::optional<QList<QByteArray>>(QString *problem)> &results,
    QString *error)
{
    if (!beginTransaction(error))
        return std::nullopt;
    QString problem;
    const std::optional<QList<QByteArray>> objects = results(&problem);
    if (!objects) {
        rollbackAndFail(QStringLiteral("cannot apply a push to entity %1: %2").arg(entity, problem),
                        error);
        return std::nullopt;
    }
    if (!commitTransaction(error))
        return std::nullopt;
    return Push::results(*objects);
}

bool ServerBackend::fail(ServerError::Type type, const QString &message, QString *error) const
{
    m_lastError = { type, message };
    if (error)
        *error = message;
    return false;
}

bool ServerBackend::failUnlessOpen(QString *error) const
{
    return m_open
        || fail(ServerError::Type::Unavailable, QStringLiteral("the server database is not open"),
                error);
}

bool ServerBackend::invalidCursor(QString *error) const
{
    return fail(ServerError::Type::BadRequest, QStringLiteral("invalid cursor"), error);
}

QString ServerBackend::errorText(const QSqlError &error) const
{
    return error.text();
}

QSqlDatabase ServerBackend::database() const
{
    return QSqlDatabase::database(m_connectionName, false);
}

bool ServerBackend::addConnection(const QString &driver, const QString &missingDriver,
                                  QString *error)
{
    if (!QSqlDatabase::isDriverAvailable(driver))
        return fail(ServerError::Type::Unavailable, missingDriver, error);
    if (QSqlDatabase::contains(m_connectionName)) {
        return fail(ServerError::Type::Internal,
                    QStringLiteral("the database connection name \"%1\" is already in use")
                        .arg(m_connectionName),
                    error);
    }
    QSqlDatabase::addDatabase(driver, m_connectionName);
    return true;
}

bool ServerBackend::finishOpen(const QString &problem, QString *error)
{
    if (problem.isEmpty()) {
        m_open = true;
        return true;
    }
    closeConnection();
    return fail(ServerError::Type::Unavailable, problem, error);
}

bool ServerBackend::beginTransaction(QString *error)
{
    QSqlDatabase db = database();
    if (db.transaction()) {
        transactionBegun();
        return true;
    }
    return fail(ServerError::Type::Internal,
                QStringLiteral("cannot begin a transaction: %1").arg(errorText(db.lastError())),
                error);
}

bool ServerBackend::commitTransaction(QString *error)
{
    QSqlDatabase db = database();
    if (db.commit()) {
        transactionEnded();
        return true;
    }
    const QString message = QStringLiteral("cannot commit: %1").arg(errorText(db.lastError()));
    db.rollback();
    transactionEnded();
    return fail(ServerError::Type::Internal, message, error);
}

void ServerBackend::rollbackTransaction()
{
    database().rollback();
    transactionEnded();
}

bool ServerBackend::rollbackAndFail(const QString &message, QString *error, ServerError::Type type)
{
    rollbackTransaction();
    return fail(type, message, error);
}

QSqlQuery *ServerBackend::prepared(std::unique_ptr<QSqlQuery> &slot, const QString &sql,
                                   QString *error) const
{
    if (!slot) {
        auto query = std::make_unique<QSqlQuery>(database());
        query->setForwardOnly(true);
        if (!query->prepare(sql)) {
            fail(ServerError::Type::Internal,
                 QStringLiteral("cannot prepare a query: %1").arg(errorText(query->lastError())),
                 error);
            return nullptr;
        }
        slot = std::move(query);
    }
    return slot.get();
}

QSqlQuery *ServerBackend::beginWrite(std::unique_ptr<QSqlQuery> &slot, const QString &sql,
                                     QString *error)
{
    QSqlQuery *query = prepared(slot, sql, error);
    return query && beginTransaction(error) ? query : nullptr;
}

bool ServerBackend::exec(const QString &sql, QString *error) const
{
    QSqlQuery query(database());
    if (query.exec(sql))
        return true;
    if (error)
        *error = errorText(query.lastError());
    return false;
}

ServerBackend::ServedEntity *ServerBackend::findEntity(const QString &name, QString *error) const
{
    if (!failUnlessOpen(error))
        return nullptr;
    ServedEntity *entity = m_byName.value(name);
    if (!entity && Identifier::check(name, u"entity").isEmpty()) {
        refreshCatalogue(); // another server process may have added it
        entity = m_byName.value(name);
    }
    if (!entity) {
        fail(ServerError::Type::NotFound,
             QStringLiteral("no entity named \"%1\"").arg(Identifier::printable(name)), error);
    }
    return entity;
}

void ServerBackend::addServedEntity(std::unique_ptr<ServedEntity> entity) const
{
    m_byName.insert(entity->schema.name, entity.get());
    m_entities.push_back(std::move(entity));
}

void ServerBackend::setServedEntities(std::vector<std::unique_ptr<ServedEntity>> entities) const
{
    // Entities that are gone or changed: their queries go before the connection is reused.
    m_byName.clear();
    m_entities.clear();
    for (auto &entity : entities)
        addServedEntity(std::move(entity));
}

std::unique_ptr<ServerBackend::ServedEntity>
ServerBackend::takeServedEntity(ServedEntity *entity) const
{
    for (auto &slot : m_entities) {
        if (slot.get() == entity) {
            m_byName.remove(entity->schema.name);
            return std::move(slot); // the empty slot goes with the next setServedEntities()
        }
    }
    return nullptr;
}

QList<EntitySchema> ServerBackend::entities() const
{
    QList<EntitySchema> result;
    if (!m_open)
        return result;
    refreshCatalogue();
    result.reserve(qsizetype(m_entities.size()));
    for (const auto &entity : m_entities) {
        if (entity)
            result.append(entity->schema);
    }
    return result;
}

std::optional<EntitySchema> ServerBackend::entity(const QString &name) const
{
    if (const ServedEntity *found = findEntity(name, nullptr))
        return found->schema;
    return std::nullopt;
}

bool ServerBackend::addEntity(const EntitySchema &schema, QString *error)
{
    if (!failUnlessOpen(error))
        return false;
    const QString problem = ServerValues::schemaProblem(schema);
    if (!problem.isEmpty())
        return fail(ServerError::Type::BadRequest, problem, error);
    return addChecked(schema, error);
}

bool ServerBackend::mergeSchema(const EntitySchema *existing, const EntitySchema &schema,
                                EntitySchema *merged, QList<FieldSpec> *added, QString *error) const
{
    const auto conflict = [this, error](const QString &message) {
        return fail(ServerError::Type::Conflict, message, error);
    };
    if (!existing) {
        for (const auto &other : m_entities) {
            if (other && other->schema.name.compare(schema.name, Qt::CaseInsensitive) == 0)
                return conflict(QStringLiteral("entity name \"%1\" clashes with entity \"%2\"")
                                    .arg(schema.name, other->schema.name));
        }
    }
    *merged = existing ? *existing : EntitySchema { schema.name, {} };
    added->clear();
    for (const FieldSpec &field : schema.fields) {
        const int index = merged->fieldIndex(field.name);
        if (index >= 0) {
            if (merged->fields.at(index).type != field.type) {
                return conflict(QStringLiteral("field %1 of entity %2 already has type %3")
                                    .arg(field.name, schema.name,
                                         fieldTypeName(merged->fields.at(index).type)));
            }
            continue;
        }
        for (const FieldSpec &other : std::as_const(merged->fields)) {
            if (other.name.compare(field.name, Qt::CaseInsensitive) == 0)
                return conflict(
                    QStringLiteral("field \"%1\" clashes with field \"%2\" of entity %3")
                        .arg(field.name, other.name, schema.name));
        }
        merged->fields.append(field);
        added->append(field);
    }
    return true;
}

QString ServerBackend::catalogueField(const QJsonObject &object, FieldSpec *field)
{
    field->name = object.value(QLatin1String("name")).toString();
    const auto type = fieldTypeFromName(object.value(QLatin1String("type")).toString());
    field->type = type.value_or(FieldType::String);
    QString problem = Identifier::check(field->name, u"field");
    if (problem.isEmpty() && !type)
        problem = QStringLiteral("field \"%1\" has no valid type").arg(field->name);
    return problem;
}

QJsonObject ServerBackend::catalogueEntry(const FieldSpec &field)
{
    return QJsonObject { { QStringLiteral("name"), field.name },
                         { QStringLiteral("type"), fieldTypeName(field.type) } };
}

bool ServerBackend::upsert(const QString &entity, const QString &id, const QVariantMap &data,
                           QString *error)
{
    return upsert(entity, { { id, data } }, error);
}

namespace {

bool isChangedSince(PagingMode mode, const QString &since)
{
    return mode == PagingMode::Cursor || since.isEmpty() || Timestamp::isValid(since);
}

const QString &changedSinceMessage()
{
    static const QString message
        = QStringLiteral("changedSince must be a timestamp like 2026-11-26T06:20:16.123Z");
    return message;
}

} // namespace

bool ServerBackend::mayRetry(const QString &name, ServedEntity **entity, QString *error) const
{
    if (m_lastError.type != ServerError::Type::Internal)
        return false;
    const ServerError first = m_lastError;
    if (retryAfterFailure()) {
        *entity = findEntity(name, nullptr);
        if (*entity)
            return true;
    }
    // No second try: the first failure stands.
    return fail(first.type, first.message, error);
}

std::optional<qint64> ServerBackend::count(const QString &name, PagingMode mode,
                                           const QString &since, QString *error) const
{
    return count(name, mode, since, RowFilter(), error);
}

std::optional<QByteArray> ServerBackend::changesJson(const QString &name, PagingMode mode,
                                                     const QString &since, qint64 offset, int limit,
                                                     int *records, QString *error) const
{
    return changesJson(name, mode, since, offset, limit, RowFilter(), records, error);
}

std::optional<qint64> ServerBackend::count(const QString &name, PagingMode mode,
                                           const QString &since, const RowFilter &rows,
                                           QString *error) const
{
    ServedEntity *entity = findEntity(name, error);
    if (!entity)
        return std::nullopt;
    if (!isChangedSince(mode, since)) {
        fail(ServerError::Type::BadRequest, changedSinceMessage(), error);
        return std::nullopt;
    }
    RowConditions conditions;
    if (!rows.isEmpty() && !rowConditions(*entity, rows, &conditions, error))
        return std::nullopt;
    std::optional<qint64> result = countChanges(entity, mode, since, conditions, error);
    if (!result && mayRetry(name, &entity, error)) {
        if (!rows.isEmpty() && !rowConditions(*entity, rows, &conditions, error))
            return std::nullopt;
        result = countChanges(entity, mode, since, conditions, error);
    }
    return result;
}

std::optional<QByteArray> ServerBackend::changesJson(const QString &name, PagingMode mode,
                                                     const QString &since, qint64 offset, int limit,
                                                     const RowFilter &rows, int *records,
                                                     QString *error) const
{
    ServedEntity *entity = findEntity(name, error);
    if (!entity)
        return std::nullopt;
    if (limit < 1 || offset < 0) {
        fail(ServerError::Type::BadRequest,
             limit < 1 ? QStringLiteral("limit must be at least 1")
                       : QStringLiteral("offset must not be negative"),
             error);
        return std::nullopt;
    }
    if (!isChangedSince(mode, since)) {
        fail(ServerError::Type::BadRequest, changedSinceMessage(), error);
        return std::nullopt;
    }
    RowConditions conditions;
    if (!rows.isEmpty() && !rowConditions(*entity, rows, &conditions, error))
        return std::nullopt;
    std::optional<QByteArray> result
        = page(entity, mode, since, offset, limit, conditions, records, error);
    if (!result && mayRetry(name, &entity, error)) {
        // The entity was looked up again: its fields may have moved.
        if (!rows.isEmpty() && !rowConditions(*entity, rows, &conditions, error))
            return std::nullopt;
        result = page(entity, mode, since, offset, limit, conditions, records, error);
    }
    return result;
}

bool ServerBackend::rowConditions(const ServedEntity &entity, const RowFilter &rows,
                                  RowConditions *conditions, QString *error) const
{
    conditions->clear();
    const EntitySchema &schema = entity.schema;
    const QSet<QString> registered = m_rowFields.value(schema.name);
    for (const auto &[field, value] : rows.equals) {
        const auto refuse = [&](const QString &why) {
            return fail(ServerError::Type::Internal,
                        QStringLiteral("the row filter of entity %1 cannot apply: field %2 %3")
                            .arg(schema.name, Identifier::printable(field), why),
                        error);
        };
        const int index = schema.fieldIndex(field);
        if (index < 0)
            return refuse(QStringLiteral("does not exist"));
        if (!registered.contains(field))
            return refuse(QStringLiteral("is not registered for row filters"));
        RowCondition condition { index, QVariant() };
        const FieldType type = schema.fields.at(index).type;
        if (value.isNull()) {
            conditions->append(condition);
            continue;
        }
        bool ok = false;
        switch (type) {
        case FieldType::String:
            ok = value.isString();
            break;
        case FieldType::DateTime:
            ok = value.isString() && Timestamp::isValid(value.toString());
            break;
        case FieldType::Decimal:
            // Its text, or a number: then compared as the number it reads as (as pushes are).
            ok = (value.isString() && Decimal::isValid(value.toString())) || value.isDouble();
            if (value.isDouble())
                condition.value = QVariant(value.toDouble());
            break;
        case FieldType::Int:
            // toInteger() gives its default for a number that is not integral.
            ok = value.isDouble() && value.toInteger(0) == value.toInteger(1);
            if (ok)
                condition.value = QVariant(qint64(value.toInteger()));
            break;
        case FieldType::Real:
            ok = value.isDouble();
            if (ok)
                condition.value = QVariant(value.toDouble());
            break;
        case FieldType::Bool:
            ok = value.isBool();
            if (ok)
                condition.value = QVariant(value.toBool());
            break;
        }
        if (!ok) {
            return refuse(
                QStringLiteral("has type %1, which the value %2 is not")
                    .arg(fieldTypeName(type),
                         QString::fromUtf8(
                             QJsonDocument(QJsonArray { value }).toJson(QJsonDocument::Compact))));
        }
        if (condition.value.isNull())
            condition.value = QVariant(value.toString());
        conditions->append(condition);
    }
    return true;
}

bool ServerBackend::setRowFields(const QHash<QString, QStringList> &fieldsByEntity, QString *error)
{
    if (!failUnlessOpen(error))
        return false;
    // Everything checked before anything is registered.
    std::vector<std::pair<ServedEntity *, QStringList>> work;
    for (auto it = fieldsByEntity.cbegin(); it != fieldsByEntity.cend(); ++it) {
        ServedEntity *entity = findEntity(it.key(), nullptr);
        if (!entity) {
            return fail(ServerError::Type::BadRequest,
                        QStringLiteral("row filters name entity \"%1\", which is not served")
                            .arg(Identifier::printable(it.key())),
                        error);
        }
        QStringList fields;
        for (const QString &field : it.value()) {
            if (entity->schema.fieldIndex(field) < 0) {
                return fail(ServerError::Type::BadRequest,
                            QStringLiteral("row filters name field \"%1\" of entity %2, which "
                                           "it does not have")
                                .arg(Identifier::printable(field), entity->schema.name),
                            error);
            }
            if (!fields.contains(field))
                fields.append(field);
        }
        if (!fields.isEmpty())
            work.emplace_back(entity, fields);
    }
    for (const auto &[entity, fields] : work) {
        const QSet<QString> &known = m_rowFields[entity->schema.name];
        bool fresh = false;
        for (const QString &field : fields)
            fresh = fresh || !known.contains(field);
        if (!fresh)
            continue; // registered already: no write, no lock
        if (!registerRowFields(entity, fields, error))
            return false;
        noteRowFields(entity->schema.name, fields);
    }
    return true;
}

bool ServerBackend::registerRowFields(ServedEntity *, const QStringList &, QString *error)
{
    return fail(ServerError::Type::NotImplemented,
                QStringLiteral("this server's database does not keep row filters"), error);
}

void ServerBackend::noteRowFields(const QString &entity, const QStringList &fields) const
{
    QSet<QString> &known = m_rowFields[entity];
    for (const QString &field : fields)
        known.insert(field);
}

bool ServerBackend::readRowFields(const QString &table, QString *error) const
{
    QSqlQuery query(database());
    query.setForwardOnly(true);
    if (!query.exec(QStringLiteral("SELECT entity, field FROM %1").arg(table))) {
        *error = QStringLiteral("cannot read the row filter fields: %1")
                     .arg(errorText(query.lastError()));
        return false;
    }
    while (query.next()) {
        const ServedEntity *entity = servedEntity(query.value(0).toString());
        const QString field = query.value(1).toString();
        if (entity && entity->schema.fieldIndex(field) >= 0)
            noteRowFields(entity->schema.name, { field });
    }
    return true;
}

QStringList ServerBackend::rowFields(const QString &entity) const
{
    QStringList fields = m_rowFields.value(entity).values();
    fields.sort();
    return fields;
}

QHash<QString, QVariantList> ServerBackend::liveRecords(const QString &name) const
{
    QHash<QString, QVariantList> result;
    QString error;
    const ServedEntity *entity = findEntity(name, &error);
    if (!entity) {
        qCWarning(lcServer).noquote() << error;
        return result;
    }
    QSqlQuery query(database());
    query.setForwardOnly(true);
    if (!query.exec(liveRecordsSql(*entity))) {
        qCWarning(lcServer).noquote()
            << "cannot read entity" << name << errorText(query.lastError());
        return result;
    }
    readLiveRows(&query, entity->schema.fields, &result);
    return result;
}

std::optional<QHash<QString, QVariantList>>
ServerBackend::liveRecords(const QString &name, const QStringList &ids, QString *error) const
{
    const ServedEntity *entity = findEntity(name, error);
    if (!entity)
        return std::nullopt;
    QHash<QString, QVariantList> result;
    const QList<FieldSpec> &fields = entity->schema.fields;
    constexpr qsizetype Chunk = 500;
    for (qsizetype first = 0; first < ids.size(); first += Chunk) {
        const qsizetype count = qMin(Chunk, ids.size() - first);
        QString placeholders = QStringLiteral("?");
        placeholders += QStringLiteral(",?").repeated(count - 1);
        QSqlQuery query(database());
        query.setForwardOnly(true);
        query.prepare(QStringLiteral("SELECT * FROM (%1) AS _bs_live WHERE _bs_id IN (%2)")
                          .arg(liveRecordsSql(*entity), placeholders));
        for (qsizetype i = first; i < first + count; ++i)
            query.addBindValue(ids.at(i));
        if (!query.exec()) {
            fail(ServerError::Type::Internal,
                 QStringLiteral("cannot read records of %1: %2")
                     .arg(name, errorText(query.lastError())),
                 error);
            return std::nullopt;
        }
        readLiveRows(&query, fields, &result);
    }
    return result;
}

void ServerBackend::readLiveRows(QSqlQuery *query, const QList<FieldSpec> &fields,
                                 QHash<QString, QVariantList> *records)
{
    while (query->next()) {
        QVariantList values;
        values.reserve(fields.size());
        for (qsizetype i = 0; i < fields.size(); ++i)
            values.append(ServerValues::typedValue(fields.at(i).type, query->value(int(1 + i))));
        records->insert(query->value(0).toString(), values);
    }
}

qint64 ServerBackend::liveCount(const QString &name) const
{
    QString error;
    const ServedEntity *entity = findEntity(name, &error);
    if (!entity) {
        qCWarning(lcServer).noquote() << error;
        return 0;
    }
    QSqlQuery query(database());
    if (!query.exec(liveCountSql(*entity)) || !query.next()) {
        qCWarning(lcServer).noquote()
            << "cannot count entity" << name << errorText(query.lastError());
        return 0;
    }
    return query.value(0).toLongLong();
}

} // namespace BatchSync
