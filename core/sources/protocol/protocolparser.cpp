#include "protocolparser.h"

#include "common/identifier.h"
#include "jsonscanner.h"
#include "protocolparser_p.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>
#include <QJsonValue>
#include <QList>
#include <cmath>

namespace BatchSync::Protocol {

namespace detail {

QString describe(const QJsonValue &value)
{
    // The same words as the changes parser's; QJsonValue::Type numbers its kinds from 0.
    static_assert(QJsonValue::Null == 0 && QJsonValue::Bool == 1 && QJsonValue::Double == 2
                  && QJsonValue::String == 3 && QJsonValue::Array == 4 && QJsonValue::Object == 5);
    static constexpr JsonKind kinds[] = { JsonKind::Null,   JsonKind::Bool,  JsonKind::Number,
                                          JsonKind::String, JsonKind::Array, JsonKind::Object };
    const int type = int(value.type());
    return describeKind(type >= 0 && type < 6 ? kinds[type] : JsonKind::Missing);
}

QString numberText(const QJsonValue &value)
{
    const QVariant v = value.toVariant();
    if (v.typeId() == QMetaType::LongLong)
        return QString::number(v.toLongLong());
    return QString::number(value.toDouble(), 'g', 17);
}

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

} // namespace detail

namespace {

using detail::describe;
using detail::integerOf;
using detail::numberText;
using detail::parseObject;

// Beyond the protocol's own rules: bounds that keep a hostile or broken server from making
// the client build absurd tables or keys. SQLite allows 2000 columns by default.
constexpr int MaxFields = 1000;
constexpr int MaxErrorMessageLength = 500;

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

    // Protocol v1.1 says which entities take pushes; a v1 server takes none.
    const QJsonValue protocol = root->value(QLatin1String("protocol"));
    const bool pushes = protocol.isString() && protocol.toString() != QLatin1String("1")
        && protocol.toString() != QLatin1String("1.0");
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
        const QJsonValue writable = object.value(QLatin1String("writable"));
        if (!writable.isUndefined() && !writable.isBool()) {
            *error = QStringLiteral("%1.writable: expected true or false, got %2")
                         .arg(path, describe(writable));
            return false;
        }
        schema.writable = pushes && writable.toBool();
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

bool parseWait(const QByteArray &body, QStringList *changed, QString *error)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body, &parseError);
    const QJsonValue list = document.object().value(QLatin1String("changed"));
    if (parseError.error != QJsonParseError::NoError || !document.isObject() || !list.isArray()) {
        *error = QStringLiteral("the answer is not {\"changed\": [...]}");
        return false;
    }
    QStringList names;
    for (const QJsonValue &value : list.toArray()) {
        const QString name = value.toString();
        const QString problem = Identifier::check(name, u"entity");
        if (!value.isString() || !problem.isEmpty()) {
            *error = value.isString() ? problem
                                      : QStringLiteral("\"changed\" holds something other than "
                                                       "entity names");
            return false;
        }
        if (names.contains(name)) {
            *error = QStringLiteral("\"changed\" names %1 twice").arg(name);
            return false;
        }
        names.append(name);
    }
    *changed = names;
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
