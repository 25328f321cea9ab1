#include "referenceparser.h"

#include "common/decimal.h"
#include "common/identifier.h"
#include "common/timestamp.h"
#include "sources/protocol/protocolparser.h"
#include "sources/protocol/protocolparser_p.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QJsonValue>
#include <cmath>

namespace BatchSync::Test {

namespace {

using Protocol::detail::describe;
using Protocol::detail::integerOf;
using Protocol::detail::MaxCursorLength;
using Protocol::detail::MaxIdLength;
using Protocol::detail::numberText;
using Protocol::detail::parseObject;

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
    case FieldType::Decimal:
        if (value.isString()) {
            const QString text = value.toString();
            if (Decimal::isValid(text)) {
                *out = text;
                return true;
            }
            *error = QStringLiteral("expected a decimal in plain notation for field \"%1\" (%2), "
                                    "got \"%3\", which %4")
                         .arg(field.name, fieldType, Identifier::printable(text),
                              Decimal::problem(text));
            return false;
        }
        *error = QStringLiteral("expected a decimal string (like \"12.50\") for field \"%1\" "
                                "(%2), got %3")
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
    const QJsonValue versionValue = object.value(QLatin1String("version"));
    QString version;
    if (!versionValue.isUndefined() && !versionValue.isNull()) {
        if (!versionValue.isString()) {
            *error = QStringLiteral("%1.version: expected a string, got %2 (change \"%3\")")
                         .arg(path, describe(versionValue), Identifier::printable(id));
            return false;
        }
        version = versionValue.toString();
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
    change->version = version;
    change->deleted = deleted;
    change->values = values;
    return true;
}

} // namespace

bool parseChangesReference(const QByteArray &body, const EntitySchema &schema, int limit,
                           PagingMode mode, ChangePage *page, QString *error)
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
    const int maxChanges = qBound(1, limit, Protocol::MaxLimit);
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

QString errorCategory(const QString &message)
{
    if (message.startsWith(QLatin1String("the response is not valid JSON")))
        return QStringLiteral("syntax");
    const qsizetype colon = message.indexOf(QLatin1String(": "));
    return colon < 0 ? message : message.left(colon);
}

} // namespace BatchSync::Test
