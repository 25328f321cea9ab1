#include "common/decimal.h"
#include "common/identifier.h"
#include "sources/protocol/protocolparser.h"
#include "sources/protocol/protocolparser_p.h"

#include <QJsonArray>
#include <QJsonDocument>

/*
    Protocol v1.1 push: the body of POST /entities/{name}/changes and the reading of its
    answer, one result per change sent.
*/

namespace BatchSync::Protocol {

using namespace detail;

namespace {

QJsonValue wireValue(const QVariant &value)
{
    switch (value.typeId()) {
    case QMetaType::UnknownType:
        return QJsonValue(QJsonValue::Null);
    case QMetaType::LongLong:
        return QJsonValue(value.toLongLong());
    case QMetaType::Double:
        return QJsonValue(value.toDouble());
    case QMetaType::Bool:
        return QJsonValue(value.toBool());
    default:
        return QJsonValue(value.toString());
    }
}

// A field of the server's current record, checked against its type as a page's would be.
bool readValue(const QJsonValue &value, const FieldSpec &field, const QString &path, QVariant *out,
               QString *error)
{
    const auto wrong = [&](const char *expected) {
        *error = QStringLiteral("%1.%2: expected %3, got %4")
                     .arg(path, field.name, QLatin1String(expected), describe(value));
        return false;
    };
    if (value.isNull() || value.isUndefined()) {
        *out = QVariant();
        return true;
    }
    switch (field.type) {
    case FieldType::Int: {
        const std::optional<qint64> integer = integerOf(value);
        if (!integer)
            return wrong("an integer");
        *out = *integer;
        return true;
    }
    case FieldType::Real:
        if (!value.isDouble())
            return wrong("a number");
        *out = value.toDouble();
        return true;
    case FieldType::Bool:
        if (!value.isBool())
            return wrong("true or false");
        *out = value.toBool();
        return true;
    case FieldType::DateTime:
        if (!value.isString() || !isValidTimestamp(value.toString()))
            return wrong("a timestamp");
        *out = value.toString();
        return true;
    case FieldType::Decimal:
        if (!value.isString() || !Decimal::isValid(value.toString()))
            return wrong("a decimal in plain notation");
        *out = value.toString();
        return true;
    default:
        if (!value.isString())
            return wrong("a string");
        *out = value.toString();
        return true;
    }
}

} // namespace

QByteArray pushBody(const EntitySchema &schema, const QString &clientId,
                    const QList<LocalChange> &changes)
{
    QJsonArray array;
    for (const LocalChange &change : changes) {
        QJsonObject object { { QStringLiteral("changeId"), change.changeId },
                             { QStringLiteral("id"), change.id },
                             { QStringLiteral("base"),
                               change.base.isEmpty() ? QJsonValue(QJsonValue::Null)
                                                     : QJsonValue(change.base) },
                             { QStringLiteral("deleted"), change.deleted } };
        if (!change.deleted) {
            QJsonObject data;
            for (qsizetype i = 0; i < schema.fields.size(); ++i)
                data.insert(schema.fields.at(i).name, wireValue(change.values.value(i)));
            object.insert(QStringLiteral("data"), data);
        }
        array.append(object);
    }
    return QJsonDocument(QJsonObject { { QStringLiteral("client"), clientId },
                                       { QStringLiteral("changes"), array } })
        .toJson(QJsonDocument::Compact);
}

bool parsePushResults(const QByteArray &body, const EntitySchema &schema, int sent,
                      QList<PushResult> *results, QString *error)
{
    QString problem;
    const std::optional<QJsonObject> root = parseObject(body, &problem);
    if (!root) {
        *error = problem;
        return false;
    }
    const QJsonValue resultsValue = root->value(QLatin1String("results"));
    if (!resultsValue.isArray()) {
        *error = QStringLiteral("results: expected an array, got %1").arg(describe(resultsValue));
        return false;
    }
    const QJsonArray array = resultsValue.toArray();
    if (array.size() != sent) {
        *error
            = QStringLiteral("results: %1 results for %2 changes sent").arg(array.size()).arg(sent);
        return false;
    }
    QList<PushResult> parsed;
    parsed.reserve(array.size());
    for (qsizetype i = 0; i < array.size(); ++i) {
        const QString path = QStringLiteral("results[%1]").arg(i);
        const QJsonValue item = array.at(i);
        if (!item.isObject()) {
            *error = QStringLiteral("%1: expected an object, got %2").arg(path, describe(item));
            return false;
        }
        const QJsonObject object = item.toObject();
        PushResult result;
        const QJsonValue changeId = object.value(QLatin1String("changeId"));
        if (!changeId.isString()) {
            *error = QStringLiteral("%1.changeId: expected a string, got %2")
                         .arg(path, describe(changeId));
            return false;
        }
        result.changeId = changeId.toString();
        const QString status = object.value(QLatin1String("status")).toString();
        if (status == QLatin1String("applied")) {
            result.status = PushResult::Status::Applied;
            const QJsonValue version = object.value(QLatin1String("version"));
            const QJsonValue changedAt = object.value(QLatin1String("changedAt"));
            if (!version.isString() || version.toString().isEmpty()) {
                *error = QStringLiteral("%1.version: expected a non-empty string, got %2")
                             .arg(path, describe(version));
                return false;
            }
            if (!changedAt.isString() || !isValidTimestamp(changedAt.toString())) {
                *error = QStringLiteral("%1.changedAt: expected a timestamp, got %2")
                             .arg(path, describe(changedAt));
                return false;
            }
            result.version = version.toString();
            result.changedAt = changedAt.toString();
        } else if (status == QLatin1String("conflict")) {
            result.status = PushResult::Status::Conflict;
            const QJsonValue currentValue = object.value(QLatin1String("current"));
            if (!currentValue.isObject()) {
                *error = QStringLiteral("%1.current: expected an object, got %2")
                             .arg(path, describe(currentValue));
                return false;
            }
            const QJsonObject current = currentValue.toObject();
            Change &record = result.current;
            record.id = current.value(QLatin1String("id")).toString();
            record.deleted = current.value(QLatin1String("deleted")).toBool();
            const QJsonValue version = current.value(QLatin1String("version"));
            if (!record.deleted && (!version.isString() || version.toString().isEmpty())) {
                *error = QStringLiteral("%1.current.version: expected a non-empty string, got %2")
                             .arg(path, describe(version));
                return false;
            }
            record.version = version.toString();
            record.changedAt = current.value(QLatin1String("changedAt")).toString();
            if (!record.deleted) {
                const QJsonValue dataValue = current.value(QLatin1String("data"));
                if (!dataValue.isObject()) {
                    *error = QStringLiteral("%1.current.data: expected an object, got %2")
                                 .arg(path, describe(dataValue));
                    return false;
                }
                const QJsonObject data = dataValue.toObject();
                record.values.reserve(schema.fields.size());
                for (const FieldSpec &field : schema.fields) {
                    QVariant value;
                    if (!readValue(data.value(field.name), field,
                                   path + QStringLiteral(".current.data"), &value, error))
                        return false;
                    record.values.append(value);
                }
            }
        } else if (status == QLatin1String("rejected")) {
            result.status = PushResult::Status::Rejected;
            result.error = object.value(QLatin1String("error")).toString();
            if (result.error.isEmpty())
                result.error = QStringLiteral("rejected by the server (no reason given)");
        } else {
            *error = QStringLiteral("%1.status: expected \"applied\", \"conflict\" or "
                                    "\"rejected\", got %2")
                         .arg(path, describe(object.value(QLatin1String("status"))));
            return false;
        }
        parsed.append(std::move(result));
    }
    *results = std::move(parsed);
    return true;
}

} // namespace BatchSync::Protocol
