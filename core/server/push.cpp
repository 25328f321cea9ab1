#include "push.h"

#include "common/decimal.h"
#include "common/identifier.h"
#include "pushreader.h"
#include "server/backend/values.h"
#include "server/pagewriter.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>
#include <QJsonValue>
#include <cstring>

namespace BatchSync::Push {

namespace {

// Whether [begin, end) is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool isJsonNumber(const char *begin, const char *end)
{
    const char *p = begin;
    const auto digits = [&] {
        const char *const start = p;
        while (p < end && *p >= '0' && *p <= '9')
            ++p;
        return p > start;
    };
    if (p < end && *p == '-')
        ++p;
    if (p < end && *p == '0')
        ++p;
    else if (!digits())
        return false;
    if (p < end && *p == '.' && (++p, !digits()))
        return false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        ++p;
        if (p < end && (*p == '+' || *p == '-'))
            ++p;
        if (!digits())
            return false;
    }
    return p == end;
}

/*
    Qt keeps every whole JSON number as an integer, 4.0 and 1e2 included, but an int field takes
    a number written without fraction or exponent only. So the body is read from a copy in
    which every number written with a fraction or an exponent is a string: U+0000 and the
    number's text. So is an integer beyond 64 bits, which no int holds: Qt would read a double
    (-2^63 - 1 as -2^63, an int again), or refuse the whole document for a number beyond a
    double's range (400 digits), where the protocol rejects the change that has it. A string that
   begins with U+0000 (in valid JSON only as the escape \u0000) gets a second U+0000, so that text()
   gives it back as it was.

    The copy must be JSON exactly when the body is: only a well-formed number in the place of
    a value becomes a string ("1.2.3", "1e" or a number in the place of a key stay as they
    are, for the parser to refuse). Qt takes a string with a control character in it, which
    JSON does not (a NUL there would pass for the mark): \a controlAt receives the offset of
    the first, or -1.
*/
QByteArray markWrittenNumbers(const QByteArray &body, qsizetype *controlAt)
{
    *controlAt = -1;
    QByteArray out;
    out.reserve(body.size() + 256);
    const char *p = body.constData();
    const char *const end = p + body.size();
    const char *copied = p;
    QByteArray open; // the containers around p: '{' or '['
    bool keyNext = false; // p is where an object's key belongs
    while (p < end) {
        const char c = *p;
        if (c == '{' || c == '[') {
            open.append(c);
            keyNext = c == '{';
            ++p;
        } else if (c == '}' || c == ']') {
            open.chop(1);
            keyNext = false;
            ++p;
        } else if (c == ',' || c == ':') {
            keyNext = c == ',' && open.endsWith('{');
            ++p;
        } else if (c == '"') {
            const char *const start = p++;
            while (p < end && *p != '"') {
                if (uchar(*p) < 0x20 && *controlAt < 0)
                    *controlAt = p - body.constData();
                p += *p == '\\' ? 2 : 1;
            }
            p = qMin(p + 1, end);
            if (p - start >= 7 && std::memcmp(start + 1, "\\u0000", 6) == 0) {
                out.append(copied, start + 1 - copied);
                out.append("\\u0000");
                copied = start + 1;
            }
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            const char *const start = p;
            bool written = false; // with a fraction or an exponent
            while (p < end && (std::strchr("0123456789+-.eE", *p) != nullptr && *p != '\0')) {
                written = written || *p == '.' || *p == 'e' || *p == 'E';
                ++p;
            }
            // Beyond 64 bits Qt reads a double, and a double of -2^63 fits an int again.
            const bool negative = *start == '-';
            const qsizetype digits = p - start - (negative ? 1 : 0);
            const bool beyond64 = digits > 19
                || (digits == 19
                    && std::memcmp(start + (negative ? 1 : 0),
                                   negative ? "9223372036854775808" : "9223372036854775807", 19)
                        > 0);
            if ((written || beyond64) && !keyNext && isJsonNumber(start, p)) {
                out.append(copied, start - copied);
                out.append("\"\\u0000");
                out.append(start, p - start);
                out.append('"');
                copied = p;
            }
        } else {
            ++p;
        }
    }
    out.append(copied, end - copied);
    return out;
}

// A number written with a fraction or an exponent: its text (see markWrittenNumbers()).
std::optional<QString> writtenNumber(const QJsonValue &value)
{
    if (!value.isString())
        return std::nullopt;
    const QString text = value.toString();
    if (text.size() < 2 || text.at(0) != QChar(u'\0') || text.at(1) == QChar(u'\0'))
        return std::nullopt;
    return text.mid(1);
}

bool isText(const QJsonValue &value)
{
    return value.isString() && !writtenNumber(value);
}

// A string as the client sent it (see markWrittenNumbers()).
QString text(const QJsonValue &value)
{
    const QString text = value.toString();
    return text.startsWith(QChar(u'\0')) ? text.mid(1) : text;
}

// A value of a field, strictly of its type (JSON null is null for every type): nullopt with
// \a reason set otherwise.
std::optional<QVariant> strictValue(const FieldSpec &field, const QJsonValue &value,
                                    QString *reason)
{
    if (value.isNull())
        return QVariant();
    bool ok = false;
    QVariant result;
    switch (field.type) {
    case FieldType::Bool:
        ok = value.isBool();
        result = value.toBool();
        break;
    case FieldType::Int:
        // Written without fraction or exponent; beyond 64 bits Qt reads a double.
        if (value.isDouble()) {
            result = value.toVariant();
            ok = result.typeId() == QMetaType::LongLong;
        }
        break;
    case FieldType::Real:
        if (value.isDouble()) {
            ok = true;
            result = value.toDouble();
        } else if (const std::optional<QString> number = writtenNumber(value)) {
            result = number->toDouble(&ok);
        }
        break;
    case FieldType::String:
        ok = isText(value);
        result = text(value);
        break;
    case FieldType::DateTime:
        ok = isText(value) && ServerValues::isTimestamp(text(value));
        result = text(value);
        break;
    case FieldType::Decimal:
        ok = isText(value) && Decimal::isValid(text(value));
        result = text(value);
        break;
    }
    if (!ok) {
        *reason
            = QStringLiteral("field %1: expected %2").arg(field.name, fieldTypeName(field.type));
        return std::nullopt;
    }
    QString what;
    std::optional<QVariant> column = ServerValues::columnValue(field.type, result, &what);
    if (!column)
        *reason = QStringLiteral("field %1: expected %2").arg(field.name, what);
    return column;
}

QString idProblem(const QJsonValue &value)
{
    if (value.isUndefined())
        return QStringLiteral("id: missing");
    if (!isText(value))
        return QStringLiteral("id: expected a string");
    const QString id = text(value);
    if (id.isEmpty())
        return QStringLiteral("id: is empty");
    if (id.contains(QChar(u'\0')))
        return QStringLiteral("id: contains U+0000");
    if (!ServerValues::isStorableText(id))
        return QStringLiteral("id: contains a lone surrogate, U+FFFE or U+FFFF");
    if (id.toUtf8().size() > MaxIdBytes)
        return QStringLiteral("id: longer than %1 UTF-8 bytes").arg(MaxIdBytes);
    return QString();
}

// The change's own fields, checked: its rejection, or an empty string.
QString readChange(const QJsonObject &object, const EntitySchema &schema,
                   const QHash<QString, int> &fieldIndex, PushChange *change)
{
    const QJsonValue id = object.value(QLatin1String("id"));
    if (QString problem = idProblem(id); !problem.isEmpty())
        return problem;
    change->id = text(id);

    const QJsonValue base = object.value(QLatin1String("base"));
    if (base.isUndefined())
        return QStringLiteral("base: missing (null for a record the client created)");
    if (!base.isNull() && !isText(base))
        return QStringLiteral("base: expected a string or null");
    if (!base.isNull())
        change->base = text(base);

    const QJsonValue deleted = object.value(QLatin1String("deleted"));
    if (deleted.isUndefined())
        return QStringLiteral("deleted: missing");
    if (!deleted.isBool())
        return QStringLiteral("deleted: expected true or false");
    change->deleted = deleted.toBool();
    if (change->deleted)
        return QString(); // a deletion's data, if any, is not looked at

    const QJsonValue data = object.value(QLatin1String("data"));
    if (!data.isObject())
        return QStringLiteral("data: expected an object (the whole record)");
    const QJsonObject fields = data.toObject();
    change->values = QVariantList(schema.fields.size());
    for (auto it = fields.begin(); it != fields.end(); ++it) {
        const auto index = fieldIndex.constFind(it.key());
        if (index == fieldIndex.cend()) {
            const QString key = it.key().startsWith(QChar(u'\0')) ? it.key().mid(1) : it.key();
            return QStringLiteral("field %1: not a field of entity %2")
                .arg(Identifier::printable(key), schema.name);
        }
        QString reason;
        std::optional<QVariant> value = strictValue(schema.fields.at(*index), it.value(), &reason);
        if (!value)
            return reason;
        change->values[*index] = std::move(*value);
    }
    return QString();
}

// A client identifier or changeId: its fault, or an empty string.
QString identifierProblem(const QJsonValue &value, const QString &what)
{
    if (value.isUndefined())
        return QStringLiteral("%1 is missing").arg(what);
    if (!isText(value))
        return QStringLiteral("%1 must be a string").arg(what);
    const QString identifier = text(value);
    if (identifier.isEmpty())
        return QStringLiteral("%1 is empty").arg(what);
    if (identifier.size() > MaxChangeIdLength)
        return QStringLiteral("%1 is longer than %2 characters").arg(what).arg(MaxChangeIdLength);
    // A result names its changeId in UTF-8, which has no lone surrogate: the client could not
    // find its answer.
    if (!ServerValues::isStorableText(identifier))
        return QStringLiteral("%1 contains a lone surrogate, U+FFFE or U+FFFF").arg(what);
    return QString();
}

void writeKey(JsonWriter &json, const char *key, const QString &text)
{
    json.raw(',');
    json.raw('"');
    json.raw(QByteArray(key));
    json.literal("\":");
    json.string(text);
}

JsonWriter resultStart(const QString &changeId, qsizetype reserve)
{
    JsonWriter json(reserve);
    json.literal("{\"changeId\":");
    json.string(changeId);
    return json;
}

} // namespace

std::optional<PushRequest> parse(const QByteArray &body, const EntitySchema &schema, QString *error)
{
    if (std::optional<PushRequest> request = readPlain(body, schema))
        return request;
    return parseDocument(body, schema, error);
}

std::optional<PushRequest> parseDocument(const QByteArray &body, const EntitySchema &schema,
                                         QString *error)
{
    QJsonParseError parseError;
    qsizetype controlAt = -1;
    const QJsonDocument document
        = QJsonDocument::fromJson(markWrittenNumbers(body, &controlAt), &parseError);
    if (parseError.error == QJsonParseError::NoError && controlAt >= 0) {
        *error = QStringLiteral("the body is not JSON: a control character in a string at byte %1")
                     .arg(controlAt);
        return std::nullopt;
    }
    if (parseError.error != QJsonParseError::NoError) {
        QJsonDocument::fromJson(body, &parseError); // the fault where the client sees it
        *error = QStringLiteral("the body is not JSON: %1 at byte %2")
                     .arg(parseError.errorString())
                     .arg(parseError.offset);
        return std::nullopt;
    }
    if (!document.isObject()) {
        *error = QStringLiteral("the body must be a JSON object");
        return std::nullopt;
    }
    const QJsonObject root = document.object();
    PushRequest request;
    const QJsonValue changes = root.value(QLatin1String("changes"));
    if (!changes.isArray()) {
        *error = QStringLiteral("changes must be an array");
        return std::nullopt;
    }
    const QJsonArray array = changes.toArray();
    if (array.size() > MaxChanges) {
        *error = QStringLiteral("more than %1 changes in one request").arg(MaxChanges);
        return std::nullopt;
    }
    // {"changes": []} answers {"results": []}: with nothing to remember, no client is needed.
    const QJsonValue client = root.value(QLatin1String("client"));
    if (array.isEmpty() && client.isUndefined())
        return request;
    if (QString problem = identifierProblem(client, QStringLiteral("client")); !problem.isEmpty()) {
        *error = problem;
        return std::nullopt;
    }
    request.client = text(client);
    QHash<QString, int> fieldIndex;
    for (qsizetype i = 0; i < schema.fields.size(); ++i)
        fieldIndex.insert(schema.fields.at(i).name, int(i));
    request.changes.reserve(array.size());
    for (qsizetype i = 0; i < array.size(); ++i) {
        const QString where = QStringLiteral("changes[%1]").arg(i);
        if (!array.at(i).isObject()) {
            *error = QStringLiteral("%1 must be an object").arg(where);
            return std::nullopt;
        }
        const QJsonObject object = array.at(i).toObject();
        const QJsonValue changeId = object.value(QLatin1String("changeId"));
        if (QString problem = identifierProblem(changeId, where + QLatin1String(".changeId"));
            !problem.isEmpty()) {
            *error = problem;
            return std::nullopt;
        }
        PushChange change;
        change.changeId = text(changeId);
        change.rejection = readChange(object, schema, fieldIndex, &change);
        request.changes.append(std::move(change));
    }
    return request;
}

QByteArray applied(const QString &changeId, const QString &version, const QString &changedAt)
{
    JsonWriter json = resultStart(changeId, 128);
    json.literal(",\"status\":\"applied\"");
    writeKey(json, "version", version);
    writeKey(json, "changedAt", changedAt);
    json.raw('}');
    return json.take();
}

QByteArray appliedUnchanged(const QString &changeId, const StoredRecord &record)
{
    // A tombstone's version and time; with no record at all there is neither.
    if (record.exists)
        return applied(changeId, record.version, record.changedAt);
    JsonWriter json = resultStart(changeId, 64);
    json.literal(",\"status\":\"applied\"}");
    return json.take();
}

QByteArray conflict(const QString &changeId, const EntitySchema &schema, const QString &id,
                    const StoredRecord &current)
{
    JsonWriter json = resultStart(changeId, 256);
    json.literal(",\"status\":\"conflict\",\"current\":{\"id\":");
    json.string(id);
    if (!current.exists || current.deleted) {
        json.literal(",\"deleted\":true}}");
        return json.take();
    }
    writeKey(json, "version", current.version);
    writeKey(json, "changedAt", current.changedAt);
    json.literal(",\"deleted\":false,\"data\":{");
    const QList<QByteArray> keys = PageWriter::fieldKeys(schema);
    for (qsizetype i = 0; i < keys.size(); ++i) {
        json.raw(keys.at(i));
        json.value(schema.fields.at(i).type, current.values.value(i));
    }
    json.literal("}}}");
    return json.take();
}

QByteArray rejected(const QString &changeId, const QString &reason)
{
    JsonWriter json = resultStart(changeId, 128);
    json.literal(",\"status\":\"rejected\"");
    writeKey(json, "error", reason);
    json.raw('}');
    return json.take();
}

QByteArray results(const QList<QByteArray> &objects)
{
    qsizetype size = 16;
    for (const QByteArray &object : objects)
        size += object.size() + 1;
    QByteArray body;
    body.reserve(size);
    body += "{\"results\":[";
    for (qsizetype i = 0; i < objects.size(); ++i) {
        if (i > 0)
            body += ',';
        body += objects.at(i);
    }
    body += "]}";
    return body;
}

} // namespace BatchSync::Push
