#include "rowaccess.h"

#include "common/decimal.h"
#include "server/push.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <cmath>

namespace BatchSync {

namespace {

bool equals(FieldType type, const QVariant &value, const QJsonValue &wanted)
{
    if (wanted.isNull() || !value.isValid() || value.isNull())
        return wanted.isNull() && (!value.isValid() || value.isNull());
    switch (type) {
    case FieldType::String:
    case FieldType::DateTime:
        return wanted.isString() && value.toString() == wanted.toString();
    case FieldType::Decimal: {
        const QString text = value.toString();
        if (wanted.isString())
            return text == wanted.toString();
        // A number in the file: compared as the decimal it reads as.
        return wanted.isDouble() && std::isfinite(text.toDouble())
            && text.toDouble() == wanted.toDouble();
    }
    case FieldType::Int: {
        if (!wanted.isDouble())
            return false;
        const double number = wanted.toDouble();
        return std::trunc(number) == number && double(value.toLongLong()) == number;
    }
    case FieldType::Real:
        return wanted.isDouble() && value.toDouble() == wanted.toDouble();
    case FieldType::Bool:
        return wanted.isBool() && value.toBool() == wanted.toBool();
    }
    return false;
}

// A conflict's "current" data, typed as Change::values.
QVariantList valuesOf(const EntitySchema &schema, const QJsonObject &data)
{
    QVariantList values;
    values.reserve(schema.fields.size());
    for (const FieldSpec &field : schema.fields) {
        const QJsonValue value = data.value(field.name);
        switch (field.type) {
        case FieldType::Int:
            values.append(value.isDouble() ? QVariant(qint64(value.toDouble())) : QVariant());
            break;
        case FieldType::Real:
            values.append(value.isDouble() ? QVariant(value.toDouble()) : QVariant());
            break;
        case FieldType::Bool:
            values.append(value.isBool() ? QVariant(value.toBool()) : QVariant());
            break;
        default:
            values.append(value.isString() ? QVariant(value.toString()) : QVariant());
            break;
        }
    }
    return values;
}

} // namespace

QString RowAccess::outsideReason()
{
    return QStringLiteral("outside the rows this token may write");
}

bool RowAccess::matches(const RowFilter &rows, const EntitySchema &schema,
                        const QVariantList &values)
{
    for (const auto &[name, wanted] : rows.equals) {
        const int index = schema.fieldIndex(name);
        if (index < 0 || !equals(schema.fields.at(index).type, values.value(index), wanted))
            return false;
    }
    return true;
}

void RowAccess::screen(PushRequest *request, const RowFilter &rows, const EntitySchema &schema,
                       const QHash<QString, QVariantList> &current)
{
    for (PushChange &change : request->changes) {
        if (!change.rejection.isEmpty())
            continue;
        const auto live = current.constFind(change.id);
        const bool outsideNow = live != current.cend() && !matches(rows, schema, *live);
        const bool outsideAfter = !change.deleted && !matches(rows, schema, change.values);
        if (outsideNow || outsideAfter)
            change.rejection = outsideReason();
    }
}

std::optional<QByteArray> RowAccess::screenResults(const QByteArray &body, const RowFilter &rows,
                                                   const EntitySchema &schema)
{
    const QJsonDocument document = QJsonDocument::fromJson(body);
    if (!document.isObject())
        return std::nullopt;
    const QJsonArray results = document.object().value(QLatin1String("results")).toArray();
    QList<QByteArray> objects;
    objects.reserve(results.size());
    bool changed = false;
    for (const QJsonValue &value : results) {
        const QJsonObject result = value.toObject();
        const QJsonObject current = result.value(QLatin1String("current")).toObject();
        if (result.value(QLatin1String("status")).toString() == QLatin1String("conflict")
            && !current.value(QLatin1String("deleted")).toBool()
            && !matches(rows, schema,
                        valuesOf(schema, current.value(QLatin1String("data")).toObject()))) {
            objects.append(Push::rejected(result.value(QLatin1String("changeId")).toString(),
                                          outsideReason()));
            changed = true;
            continue;
        }
        objects.append(QJsonDocument(result).toJson(QJsonDocument::Compact));
    }
    return changed ? Push::results(objects) : body;
}

} // namespace BatchSync
