#include "protocolparser.h"

#include "common/identifier.h"
#include "common/timestamp.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>
#include <QJsonValue>
#include <cmath>

namespace BatchSync::Protocol {

namespace {

// Beyond the protocol's own rules: bounds that keep a hostile or broken server from making
// the client build absurd tables or keys. SQLite allows 2000 columns by default.
constexpr int MaxFields = 1000;
constexpr int MaxIdLength = 1024;
constexpr int MaxCursorLength = 4096;
constexpr int MaxErrorMessageLength = 500;

QString describe(const QJsonValue &value)
{
    switch (value.type()) {
    case QJsonValue::Null:
        return QStringLiteral("null");
    case QJsonValue::Bool:
        return QStringLiteral("a bool");
    case QJsonValue::Double:
        return QStringLiteral("a number");
    case QJsonValue::String:
        return QStringLiteral("a string");
    case QJsonValue::Array:
        return QStringLiteral("an array");
    case QJsonValue::Object:
        return QStringLiteral("an object");
    case QJsonValue::Undefined:
        break;
    }
    return QStringLiteral("nothing (missing)");
}

QString numberText(const QJsonValue &value)
{
    const QVariant v = value.toVariant();
    if (v.typeId() == QMetaType::LongLong)
        return QString::number(v.toLongLong());
    return QString::number(value.toDouble(), 'g', 17);
}

/*!
    The exact integer a JSON number holds, or nullopt when it has a fraction or does not fit
    a qint64. QJsonDocument keeps integers that fit as qint64 and everything else as double;
    an integral double (1e3, 2.0, or a value beyond 2^53 that lost precision) is accepted.
*/
std::optional<qint64> integerOf(const QJsonValue &value)
{
    if (!value.isDouble())
        return std::nullopt;
    const QVariant v = value.toVariant();
    if (v.typeId() == QMetaType::LongLong)
        return v.toLongLong();
    const double d = value.toDouble();
    // 2^63 is exactly representable as a double; qint64 covers [-2^63, 2^63).
    constexpr double limit = 9223372036854775808.0;
    if (!std::isfinite(d) || std::floor(d) != d || d < -limit || d >= limit)
        return std::nullopt;
    return static_cast<qint64>(d);
}

/*! Parses \a body as a JSON object; on failure \a error says why. */
std::optional<QJsonObject> parseObject(const QByteArray &body, QString *error)
{
    if (body.trimmed().isEmpty()) {
        *error = QStringLiteral("the response body is empty (expected a JSON object)");
        return std::nullopt;
    }
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        *error = QStringLiteral("the response is not valid JSON: %1 at byte %2")
                     .arg(parseError.errorString())
                     .arg(parseError.offset);
        return std::nullopt;
    }
    if (!document.isObject()) {
        *error = QStringLiteral("expected a JSON object at the top level, got %1")
                     .arg(document.isArray() ? QStringLiteral("an array")
                                             : QStringLiteral("something else"));
        return std::nullopt;
    }
    return document.object();
}

QString fieldTypeList()
{
    return QStringLiteral("string, int, real, bool or datetime");
}

bool parseFields(const QJsonValue &fieldsValue, const QString &path, const QString &entityName,
                 QList<FieldSpec> *fields, QString *error)
{
    if (fieldsValue.isUndefined()) {
        *error = QStringLiteral("%1: missing (expected an array of fields for entity \"%2\")")
                     .arg(path, entityName);
        return false;
    }
    if (!fieldsValue.isArray()) {
        *error = QStringLiteral("%1: expected an array of fields for entity \"%2\", got %3")
                     .arg(path, entityName, describe(fieldsValue));
        return false;
    }
    const QJsonArray array = fieldsValue.toArray();
    if (array.size() > MaxFields) {
        *error = QStringLiteral("%1: entity \"%2\" has %3 fields; at most %4 are supported")
                     .arg(path, entityName)
                     .arg(array.size())
                     .arg(MaxFields);
        return false;
    }

    QList<FieldSpec> result;
    result.reserve(array.size());
    QHash<QString, int> seen; // lower-case name → index
    for (qsizetype i = 0; i < array.size(); ++i) {
        const QString fieldPath = QStringLiteral("%1[%2]").arg(path).arg(i);
        const QJsonValue item = array.at(i);
        if (!item.isObject()) {
            *error = QStringLiteral("%1: expected a field object, got %2")
                         .arg(fieldPath, describe(item));
            return false;
        }
        const QJsonObject object = item.toObject();

        const QJsonValue nameValue = object.value(QLatin1String("name"));
        if (!nameValue.isString()) {
            *error = QStringLiteral("%1.name: expected a string, got %2")
                         .arg(fieldPath, describe(nameValue));
            return false;
        }
        const QString name = nameValue.toString();
        const QString problem = Identifier::check(name, u"field");
        if (!problem.isEmpty()) {
            *error
                = QStringLiteral("%1.name: %2 (entity \"%3\")").arg(fieldPath, problem, entityName);
            return false;
        }
        const QString folded = name.toLower();
        if (const auto it = seen.constFind(folded); it != seen.constEnd()) {
            *error = QStringLiteral("%1.name: duplicate field name \"%2\" in entity \"%3\" "
                                    "(same as %4[%5] \"%6\"; names are case-insensitive)")
                         .arg(fieldPath, name, entityName, path)
                         .arg(it.value())
                         .arg(result.at(it.value()).name);
            return false;
        }

        const QJsonValue typeValue = object.value(QLatin1String("type"));
        if (!typeValue.isString()) {
            *error = QStringLiteral("%1.type: expected a type name (%2) for field \"%3\" of "
                                    "entity \"%4\", got %5")
                         .arg(fieldPath, fieldTypeList(), name, entityName, describe(typeValue));
            return false;
        }
        const QString typeName = typeValue.toString();
        const std::optional<FieldType> type = fieldTypeFromName(typeName);
        if (!type) {
            *error = QStringLiteral("%1.type: unknown field type \"%2\" for field \"%3\" of "
                                    "entity \"%4\" (expected %5)")
                         .arg(fieldPath, Identifier::printable(typeName), name, entityName,
                              fieldTypeList());
            return false;
        }
        seen.insert(folded, int(i));
        result.append(FieldSpec { name, *type });
    }
    *fields = result;
    return true;
}

/*!
    Converts \a value for a field of \a type into the type Change::values holds. On failure
    \a error names the field and what was received (the caller adds the path).
*/
bool convertValue(const QJsonValue &value, const FieldSpec &field, QVariant *out, QString *error)
{
    if (value.isNull()) {
        *out = QVariant();
        return true;
    }
    const QString fieldType = fieldTypeName(field.type);
    switch (field.type) {
    case FieldType::String:
        if (value.isString()) {
            *out = value.toString();
            return true;
        }
        *error = QStringLiteral("expected a string for field \"%1\" (%2), got %3")
                     .arg(field.name, fieldType, describe(value));
        return false;
    case FieldType::Int:
        if (value.isDouble()) {
            if (const std::optional<qint64> integer = integerOf(value)) {
                *out = *integer;
                return true;
            }
            const double d = value.toDouble();
            *error = std::floor(d) == d
                ? QStringLiteral("expected an integer for field \"%1\" (%2), got %3, "
                                 "which does not fit a 64-bit integer")
                      .arg(field.name, fieldType, numberText(value))
                : QStringLiteral("expected an integer for field \"%1\" (%2), got %3")
                      .arg(field.name, fieldType, numberText(value));
            return false;
        }
        *error = QStringLiteral("expected an integer for field \"%1\" (%2), got %3")
                     .arg(field.name, fieldType, describe(value));
        return false;
    case FieldType::Real:
        if (value.isDouble()) {
            const double d = value.toDouble();
            if (std::isfinite(d)) {
                *out = d;
                return true;
            }
        }
        *error = QStringLiteral("expected a number for field \"%1\" (%2), got %3")
                     .arg(field.name, fieldType, describe(value));
        return false;
    case FieldType::Bool:
        if (value.isBool()) {
            *out = value.toBool();
            return true;
        }
        *error = QStringLiteral("expected true or false for field \"%1\" (%2), got %3")
                     .arg(field.name, fieldType, describe(value));
        return false;
    case FieldType::DateTime:
        if (value.isString()) {
            const QString text = value.toString();
            if (Timestamp::isValid(text)) {
                *out = text;
                return true;
            }
            *error = QStringLiteral("expected a timestamp (YYYY-MM-DDTHH:MM:SS.mmmZ, UTC) for "
                                    "field \"%1\" (%2), got \"%3\"")
                         .arg(field.name, fieldType, Identifier::printable(text));
            return false;
        }
        *error = QStringLiteral("expected a timestamp string for field \"%1\" (%2), got %3")
                     .arg(field.name, fieldType, describe(value));
        return false;
    }
    *error = QStringLiteral("field \"%1\" has an unsupported type").arg(field.name);
    return false;
}

bool parseChange(const QJsonValue &item, const QString &path, const EntitySchema &schema,
                 const QHash<QString, int> &fieldIndex, Change *change, QString *error)
{
    if (!item.isObject()) {
        *error = QStringLiteral("%1: expected a change object, got %2").arg(path, describe(item));
        return false;
    }
    const QJsonObject object = item.toObject();

    const QJsonValue idValue = object.value(QLatin1String("id"));
    if (idValue.isUndefined()) {
        *error = QStringLiteral("%1.id: missing").arg(path);
        return false;
    }
    if (!idValue.isString()) {
        *error = QStringLiteral("%1.id: expected a string, got %2").arg(path, describe(idValue));
        return false;
    }
    const QString id = idValue.toString();
    if (id.isEmpty()) {
        *error = QStringLiteral("%1.id: is empty").arg(path);
        return false;
    }
    if (id.size() > MaxIdLength) {
        *error = QStringLiteral("%1.id: is %2 characters long; at most %3 are supported")
                     .arg(path)
                     .arg(id.size())
                     .arg(MaxIdLength);
        return false;
    }

    const QJsonValue changedAtValue = object.value(QLatin1String("changedAt"));
    if (changedAtValue.isUndefined()) {
        *error = QStringLiteral("%1.changedAt: missing (change \"%2\")")
                     .arg(path, Identifier::printable(id));
        return false;
    }
    if (!changedAtValue.isString()) {
        *error = QStringLiteral("%1.changedAt: expected a timestamp string, got %2 (change \"%3\")")
                     .arg(path, describe(changedAtValue), Identifier::printable(id));
        return false;
    }
    const QString changedAt = changedAtValue.toString();
    if (!Timestamp::isValid(changedAt)) {
        *error = QStringLiteral("%1.changedAt: \"%2\" is not a timestamp of the form "
                                "YYYY-MM-DDTHH:MM:SS.mmmZ (UTC) (change \"%3\")")
                     .arg(path, Identifier::printable(changedAt), Identifier::printable(id));
        return false;
    }

    const QJsonValue deletedValue = object.value(QLatin1String("deleted"));
    bool deleted = false;
    if (!deletedValue.isUndefined()) {
        if (!deletedValue.isBool()) {
            *error = QStringLiteral("%1.deleted: expected true or false, got %2 (change \"%3\")")
                         .arg(path, describe(deletedValue), Identifier::printable(id));
            return false;
        }
        deleted = deletedValue.toBool();
    }

    const QJsonValue dataValue = object.value(QLatin1String("data"));
    QVariantList values;
    if (deleted) {
        // A tombstone's data, if a server sends any, is not used.
        if (!dataValue.isUndefined() && !dataValue.isNull() && !dataValue.isObject()) {
            *error = QStringLiteral("%1.data: expected an object or null, got %2 (change \"%3\")")
                         .arg(path, describe(dataValue), Identifier::printable(id));
            return false;
        }
    } else {
        if (dataValue.isUndefined() || dataValue.isNull()) {
            *error = QStringLiteral("%1.data: missing (change \"%2\" is not deleted, so it needs "
                                    "its data)")
                         .arg(path, Identifier::printable(id));
            return false;
        }
        if (!dataValue.isObject()) {
            *error = QStringLiteral("%1.data: expected an object, got %2 (change \"%3\")")
                         .arg(path, describe(dataValue), Identifier::printable(id));
            return false;
        }
        const QJsonObject data = dataValue.toObject();
        values = QVariantList(schema.fields.size());
        for (auto it = data.constBegin(); it != data.constEnd(); ++it) {
            const QString key = it.key();
            const auto index = fieldIndex.constFind(key);
            if (index == fieldIndex.constEnd()) {
                *error = QStringLiteral("%1.data: unknown field \"%2\" (not in the schema of "
                                        "entity \"%3\"; the schema must be refreshed) "
                                        "(change \"%4\")")
                             .arg(path, Identifier::printable(key), schema.name,
                                  Identifier::printable(id));
                return false;
            }
            const FieldSpec &field = schema.fields.at(index.value());
            QString problem;
            if (!convertValue(it.value(), field, &values[index.value()], &problem)) {
                *error = QStringLiteral("%1.data.%2: %3 (change \"%4\")")
                             .arg(path, field.name, problem, Identifier::printable(id));
                return false;
            }
        }
    }

    change->id = id;
    change->changedAt = changedAt;
    change->deleted = deleted;
    change->values = values;
    return true;
}

} // namespace

bool parseEntities(const QByteArray &body, QList<EntitySchema> *entities, QString *error)
{
    QString problem;
    const std::optional<QJsonObject> root = parseObject(body, &problem);
    if (!root) {
        *error = problem;
        return false;
    }
    const QJsonValue entitiesValue = root->value(QLatin1String("entities"));
    if (entitiesValue.isUndefined()) {
        *error = QStringLiteral("entities: missing (expected an array of entities)");
        return false;
    }
    if (!entitiesValue.isArray()) {
        *error = QStringLiteral("entities: expected an array, got %1").arg(describe(entitiesValue));
        return false;
    }

    const QJsonArray array = entitiesValue.toArray();
    QList<EntitySchema> result;
    result.reserve(array.size());
    QHash<QString, int> seen; // lower-case name → index
    for (qsizetype i = 0; i < array.size(); ++i) {
        const QString path = QStringLiteral("entities[%1]").arg(i);
        const QJsonValue item = array.at(i);
        if (!item.isObject()) {
            *error
                = QStringLiteral("%1: expected an entity object, got %2").arg(path, describe(item));
            return false;
        }
        const QJsonObject object = item.toObject();
        const QJsonValue nameValue = object.value(QLatin1String("name"));
        if (!nameValue.isString()) {
            *error = QStringLiteral("%1.name: expected a string, got %2")
                         .arg(path, describe(nameValue));
            return false;
        }
        const QString name = nameValue.toString();
        problem = Identifier::check(name, u"entity");
        if (!problem.isEmpty()) {
            *error = QStringLiteral("%1.name: %2").arg(path, problem);
            return false;
        }
        const QString folded = name.toLower();
        if (const auto it = seen.constFind(folded); it != seen.constEnd()) {
            *error = QStringLiteral("%1.name: duplicate entity name \"%2\" (same as "
                                    "entities[%3] \"%4\"; names are case-insensitive)")
                         .arg(path, name)
                         .arg(it.value())
                         .arg(result.at(it.value()).name);
            return false;
        }

        EntitySchema schema;
        schema.name = name;
        if (!parseFields(object.value(QLatin1String("fields")), path + QStringLiteral(".fields"),
                         name, &schema.fields, error)) {
            return false;
        }
        seen.insert(folded, int(i));
        result.append(schema);
    }
    *entities = result;
    return true;
}

bool parseCount(const QByteArray &body, qint64 *count, QString *error)
{
    QString problem;
    const std::optional<QJsonObject> root = parseObject(body, &problem);
    if (!root) {
        *error = problem;
        return false;
    }
    const QJsonValue value = root->value(QLatin1String("count"));
    if (value.isUndefined()) {
        *error = QStringLiteral("count: missing (expected a non-negative integer)");
        return false;
    }
    if (!value.isDouble()) {
        *error
            = QStringLiteral("count: expected a non-negative integer, got %1").arg(describe(value));
        return false;
    }
    const std::optional<qint64> integer = integerOf(value);
    if (!integer || *integer < 0) {
        *error = QStringLiteral("count: expected a non-negative integer, got %1")
                     .arg(numberText(value));
        return false;
    }
    *count = *integer;
    return true;
}

bool parseChanges(const QByteArray &body, const EntitySchema &schema, int limit, PagingMode mode,
                  ChangePage *page, QString *error)
{
    QString problem;
    const std::optional<QJsonObject> root = parseObject(body, &problem);
    if (!root) {
        *error = problem;
        return false;
    }

    const QJsonValue changesValue = root->value(QLatin1String("changes"));
    if (changesValue.isUndefined()) {
        *error = QStringLiteral("changes: missing (expected an array of changes)");
        return false;
    }
    if (!changesValue.isArray()) {
        *error = QStringLiteral("changes: expected an array, got %1").arg(describe(changesValue));
        return false;
    }
    const QJsonArray array = changesValue.toArray();
    const int maxChanges = qBound(1, limit, MaxLimit);
    if (array.size() > maxChanges) {
        *error = QStringLiteral("changes: the server sent %1 changes, more than the limit of %2 "
                                "that was asked for")
                     .arg(array.size())
                     .arg(maxChanges);
        return false;
    }

    QHash<QString, int> fieldIndex;
    fieldIndex.reserve(schema.fields.size());
    for (int i = 0; i < schema.fields.size(); ++i)
        fieldIndex.insert(schema.fields.at(i).name, i);

    ChangePage result;
    result.changes.reserve(array.size());
    for (qsizetype i = 0; i < array.size(); ++i) {
        Change change;
        if (!parseChange(array.at(i), QStringLiteral("changes[%1]").arg(i), schema, fieldIndex,
                         &change, error)) {
            return false;
        }
        result.changes.append(std::move(change));
    }

    const QJsonValue hasMoreValue = root->value(QLatin1String("hasMore"));
    if (hasMoreValue.isUndefined()) {
        *error = QStringLiteral("hasMore: missing (expected true or false)");
        return false;
    }
    if (!hasMoreValue.isBool()) {
        *error
            = QStringLiteral("hasMore: expected true or false, got %1").arg(describe(hasMoreValue));
        return false;
    }
    result.hasMore = hasMoreValue.toBool();

    const QJsonValue cursorValue = root->value(QLatin1String("cursor"));
    if (cursorValue.isString()) {
        result.cursor = cursorValue.toString();
    } else if (cursorValue.isDouble()) {
        const std::optional<qint64> integer = integerOf(cursorValue);
        if (!integer) {
            *error = QStringLiteral("cursor: expected a string or an integer, got %1")
                         .arg(numberText(cursorValue));
            return false;
        }
        result.cursor = QString::number(*integer);
    } else if (!cursorValue.isUndefined() && !cursorValue.isNull()) {
        *error = QStringLiteral("cursor: expected a string, got %1").arg(describe(cursorValue));
        return false;
    }
    if (result.cursor.size() > MaxCursorLength) {
        *error = QStringLiteral("cursor: is %1 characters long; at most %2 are supported")
                     .arg(result.cursor.size())
                     .arg(MaxCursorLength);
        return false;
    }
    if (mode == PagingMode::Cursor && result.cursor.isEmpty()) {
        *error = cursorValue.isUndefined() || cursorValue.isNull()
            ? QStringLiteral("cursor: missing (cursor mode needs the position after this page)")
            : QStringLiteral("cursor: is empty (cursor mode needs the position after this page)");
        return false;
    }

    *page = std::move(result);
    return true;
}

QString parseErrorMessage(const QByteArray &body)
{
    if (body.isEmpty())
        return QString();
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body, &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject())
        return QString();
    const QJsonValue value = document.object().value(QLatin1String("error"));
    if (!value.isString())
        return QString();

    // The text is shown to a person and logged: no control characters, bounded length.
    QString text = value.toString().simplified();
    for (QChar &c : text) {
        if (!c.isPrint())
            c = u' ';
    }
    if (text.size() > MaxErrorMessageLength) {
        text.truncate(MaxErrorMessageLength);
        text += QStringLiteral("…");
    }
    return text;
}

} // namespace BatchSync::Protocol
