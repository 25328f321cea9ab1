#include "common/decimal.h"
#include "common/identifier.h"
#include "sources/protocol/protocolparser.h"
#include "sources/protocol/protocolparser_p.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <charconv>
#include <cmath>
#include <cstring>

/*
    Protocol v1.1 push: the body of POST /entities/{name}/changes and the reading of its
    answer, one result per change sent.
*/

namespace BatchSync::Protocol {

using namespace detail;

namespace {

// \a text as a JSON string, in UTF-8 as QString::toUtf8() converts it.
void appendString(QByteArray *out, QStringView text)
{
    // Most text is printable ASCII without quote or backslash: copied as it is.
    const qsizetype start = out->size();
    out->resize(start + text.size() + 2);
    char *p = out->data() + start;
    *p++ = '"';
    for (const QChar c : text) {
        const char16_t unit = c.unicode();
        if (unit < 0x20 || unit >= 0x80 || unit == u'"' || unit == u'\\')
            break;
        *p++ = char(unit);
    }
    if (p - (out->constData() + start) == text.size() + 1) {
        *p = '"';
        return;
    }
    out->resize(start);
    const QByteArray utf8 = text.toUtf8();
    out->append('"');
    qsizetype plain = 0; // bytes from here on need no escape
    for (qsizetype i = 0; i < utf8.size(); ++i) {
        const auto byte = static_cast<unsigned char>(utf8.at(i));
        if (byte >= 0x20 && byte != '"' && byte != '\\')
            continue;
        out->append(utf8.constData() + plain, i - plain);
        plain = i + 1;
        // A quote and a backslash behind a backslash, other control characters as \u00XX.
        static constexpr char hex[] = "0123456789abcdef";
        const char escaped[] = { '\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0xf] };
        if (byte == '"' || byte == '\\')
            out->append('\\').append(char(byte));
        else
            out->append(escaped, sizeof escaped);
    }
    out->append(utf8.constData() + plain, utf8.size() - plain);
    out->append('"');
}

// A local value as the wire has it: by its type as the store read it (see takePushBatch).
void appendValue(QByteArray *out, const QVariant &value)
{
    char number[32];
    switch (value.typeId()) {
    case QMetaType::UnknownType:
        out->append("null");
        return;
    case QMetaType::LongLong:
        out->append(number,
                    std::to_chars(number, number + sizeof number, value.toLongLong()).ptr - number);
        return;
    case QMetaType::Double: {
        const double real = value.toDouble();
        if (!std::isfinite(real)) {
            out->append("null"); // JSON has no NaN or infinity
            return;
        }
        // The shortest text that reads back as the same double.
        out->append(number, std::to_chars(number, number + sizeof number, real).ptr - number);
        return;
    }
    case QMetaType::Bool:
        out->append(value.toBool() ? "true" : "false");
        return;
    default:
        appendString(out, value.toString());
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

// Reads `"<text>"` at \a p: plain ASCII only (no escape, no control character).
bool plainString(const char *&p, const char *end, QString *text)
{
    if (p == end || *p != '"')
        return false;
    const char *const start = ++p;
    while (p < end && *p != '"') {
        const auto byte = static_cast<unsigned char>(*p);
        if (byte < 0x20 || byte >= 0x80 || byte == '\\')
            return false;
        ++p;
    }
    if (p == end)
        return false;
    *text = QString::fromLatin1(start, p - start);
    ++p;
    return true;
}

bool literal(const char *&p, const char *end, QLatin1StringView text)
{
    if (end - p < text.size() || std::memcmp(p, text.data(), size_t(text.size())) != 0)
        return false;
    p += text.size();
    return true;
}

/*
    The answer as the reference server writes it when every change applied, read in one pass:
    {"results":[{"changeId":"…","status":"applied","version":"…","changedAt":"…"},…]} without
    white space, escapes or text beyond ASCII. False for any other body (then the full reading
    decides, its messages included).
*/
bool readAllApplied(const QByteArray &body, int sent, QList<PushResult> *results)
{
    const char *p = body.constData();
    const char *const end = p + body.size();
    QList<PushResult> parsed;
    parsed.reserve(sent);
    if (!literal(p, end, QLatin1StringView("{\"results\":[")))
        return false;
    if (!literal(p, end, QLatin1StringView("]"))) {
        do {
            PushResult result;
            result.status = PushResult::Status::Applied;
            if (!literal(p, end, QLatin1StringView("{\"changeId\":"))
                || !plainString(p, end, &result.changeId)
                || !literal(p, end, QLatin1StringView(",\"status\":\"applied\",\"version\":"))
                || !plainString(p, end, &result.version) || result.version.isEmpty()
                || !literal(p, end, QLatin1StringView(",\"changedAt\":"))
                || !plainString(p, end, &result.changedAt) || !isValidTimestamp(result.changedAt)
                || !literal(p, end, QLatin1StringView("}")))
                return false;
            parsed.append(std::move(result));
        } while (literal(p, end, QLatin1StringView(",")));
        if (!literal(p, end, QLatin1StringView("]")))
            return false;
    }
    if (!literal(p, end, QLatin1StringView("}")) || p != end || parsed.size() != sent)
        return false;
    *results = std::move(parsed);
    return true;
}

} // namespace

QByteArray pushBody(const EntitySchema &schema, const QString &clientId,
                    const QList<LocalChange> &changes)
{
    // Written straight into the bytes (no DOM): a batch of 10,000 changes is a few MB.
    QList<QByteArray> keys;
    for (qsizetype i = 0; i < schema.fields.size(); ++i) {
        QByteArray key = i == 0 ? QByteArray("{") : QByteArray(",");
        appendString(&key, schema.fields.at(i).name);
        keys.append(key + ':');
    }
    QByteArray out;
    out.reserve(64 + changes.size() * (160 + 48 * schema.fields.size()));
    out += "{\"client\":";
    appendString(&out, clientId);
    out += ",\"changes\":[";
    for (qsizetype c = 0; c < changes.size(); ++c) {
        const LocalChange &change = changes.at(c);
        out += c == 0 ? "{\"changeId\":" : ",{\"changeId\":";
        appendString(&out, change.changeId);
        out += ",\"id\":";
        appendString(&out, change.id);
        out += ",\"base\":";
        if (change.base.isEmpty())
            out += "null";
        else
            appendString(&out, change.base);
        if (change.deleted) {
            out += ",\"deleted\":true}";
            continue;
        }
        out += ",\"deleted\":false,\"data\":";
        for (qsizetype i = 0; i < schema.fields.size(); ++i) {
            out += keys.at(i);
            appendValue(&out, change.values.value(i));
        }
        out += schema.fields.isEmpty() ? "{}}" : "}}";
    }
    out += "]}";
    return out;
}

bool parsePushResults(const QByteArray &body, const EntitySchema &schema, int sent,
                      QList<PushResult> *results, QString *error)
{
    if (readAllApplied(body, sent, results))
        return true;
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
