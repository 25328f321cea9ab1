#include "protocolparser.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "protocolparser_p.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>
#include <QJsonValue>
#include <QList>
#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

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

// The fast parser of GET .../changes --------------------------------------------------------
//
// One pass over the UTF-8 bytes, straight into the ChangePage. It only ever says yes to a
// body QJsonDocument and the reference walk would accept with the same result; whatever it
// is not sure of (anything invalid, and the rare valid forms below) it leaves to the
// reference, which then also writes the error message. So the two can only differ in speed.
//
// What QJsonDocument (Qt 6.4) does, and this parser therefore reproduces:
// - a number is kept as a qint64 when its text is an integer that fits, or when its value
//   as a double is integral and in [-2^63, 2^63) ("7.0", "1e3", "-0.0" become integers);
//   anything else is the correctly rounded double, and overflow or underflow to zero is an
//   error. So a real field holding -0.0 reads back as +0.0.
// - a \uXXXX escape is one UTF-16 unit, lone surrogates included;
// - well-formed UTF-8 is accepted (noncharacters too); anything else is an error;
// - with duplicate keys the last one wins; keys are compared after unescaping.
// Left to the reference: duplicate keys and escaped keys (so that the key compared is the
// key read), "1." / ".5" / "1.e5", escapes outside JSON's own set, raw control characters in
// strings, numbers longer than MaxNumberLength, nesting deeper than MaxSkipDepth, and
// schemas whose field names are not ASCII.

namespace {

constexpr int MaxNumberLength = 100;
constexpr int MaxSkipDepth = 64;

template<typename Char> bool isTimestampText(const Char *p, qsizetype size)
{
    // YYYY-MM-DDTHH:MM:SS.mmmZ, a real date (proleptic Gregorian, no year 0) and a time of
    // day from 00:00:00.000 to 23:59:59.999: what QDateTime accepts and formats back as is.
    if (size != 24)
        return false;
    const auto digit = [p](int i) { return unsigned(p[i]) - unsigned('0'); };
    static constexpr int digitAt[] = { 0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22 };
    for (const int i : digitAt) {
        if (digit(i) > 9)
            return false;
    }
    if (p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':' || p[19] != '.'
        || p[23] != 'Z') {
        return false;
    }
    const unsigned year = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3);
    const unsigned month = digit(5) * 10 + digit(6);
    const unsigned day = digit(8) * 10 + digit(9);
    const unsigned hour = digit(11) * 10 + digit(12);
    const unsigned minute = digit(14) * 10 + digit(15);
    const unsigned second = digit(17) * 10 + digit(18);
    if (year == 0 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59
        || second > 59) {
        return false;
    }
    static constexpr unsigned char daysIn[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return day <= (month == 2 && leap ? 29u : daysIn[month - 1]);
}

inline bool isDigit(char c)
{
    return c >= '0' && c <= '9';
}

inline int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*! Length of the well-formed UTF-8 sequence at \a p (a byte >= 0x80), or 0. */
inline int utf8SequenceLength(const uchar *p, const uchar *end)
{
    const auto continuation = [](uchar b) { return (b & 0xc0) == 0x80; };
    const uchar c = p[0];
    if (c >= 0xc2 && c <= 0xdf)
        return end - p >= 2 && continuation(p[1]) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        // No overlong forms (E0 80..9F) and no surrogates (ED A0..BF).
        const uchar low = c == 0xe0 ? 0xa0 : 0x80;
        const uchar high = c == 0xed ? 0x9f : 0xbf;
        return end - p >= 3 && p[1] >= low && p[1] <= high && continuation(p[2]) ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        // No overlong forms (F0 80..8F) and nothing beyond U+10FFFF (F4 90..).
        const uchar low = c == 0xf0 ? 0x90 : 0x80;
        const uchar high = c == 0xf4 ? 0x8f : 0xbf;
        return end - p >= 4 && p[1] >= low && p[1] <= high && continuation(p[2])
                && continuation(p[3])
            ? 4
            : 0;
    }
    return 0;
}

/*!
    A mask with the high bit set in each of the 8 bytes of \a v that is a quote, a backslash,
    below 0x20 or above 0x7f. Bytes above a flagged one may be flagged wrongly (borrows), the
    lowest flagged byte never is.
*/
inline quint64 specialBytes(quint64 v)
{
    constexpr quint64 ones = 0x0101010101010101ULL;
    constexpr quint64 highs = 0x8080808080808080ULL;
    const auto zeroByte = [](quint64 x) { return (x - ones) & ~x & highs; };
    const quint64 quote = zeroByte(v ^ (ones * '"'));
    const quint64 backslash = zeroByte(v ^ (ones * '\\'));
    const quint64 control = (v - ones * 0x20) & ~v & highs;
    return quote | backslash | control | (v & highs);
}

const double exactPowersOf10[]
    = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

/*! A JSON string as it stands in the body, between its quotes. */
struct StringToken
{
    const char *begin = nullptr;
    const char *end = nullptr;
    bool escaped = false;
    bool ascii = true;

    qsizetype size() const { return end - begin; }
    bool is(const char *text, qsizetype length) const
    {
        // Keys are short: a loop beats a call to memcmp.
        if (size() != length)
            return false;
        for (qsizetype i = 0; i < length; ++i) {
            if (begin[i] != text[i])
                return false;
        }
        return true;
    }
    template<std::size_t N> bool is(const char (&text)[N]) const
    {
        return is(text, qsizetype(N - 1));
    }
};

/*! A JSON number as QJsonDocument keeps it. */
struct Number
{
    bool isInteger = false;
    qint64 integer = 0;
    double real = 0;
};

class FastChangesParser
{
public:
    FastChangesParser(const QByteArray &body, const EntitySchema &schema, int maxChanges)
        : m_p(body.constData())
        , m_end(body.constData() + body.size())
        , m_maxChanges(maxChanges)
        , m_fieldCount(schema.fields.size())
    {
        m_fields.reserve(schema.fields.size());
        for (int i = 0; i < schema.fields.size(); ++i) {
            const FieldSpec &spec = schema.fields.at(i);
            const QByteArray name = spec.name.toLatin1();
            // As QHash::insert does for the reference: a repeated name means the last field.
            auto same = std::find_if(m_fields.begin(), m_fields.end(),
                                     [&name](const Field &f) { return f.name == name; });
            const bool plain = std::all_of(name.cbegin(), name.cend(), [](char c) {
                return uchar(c) >= 0x20 && c != '"' && c != '\\';
            });
            Field field { name, spec.type, i, plain ? '"' + name + '"' : QByteArray() };
            if (same != m_fields.end())
                *same = field;
            else
                m_fields.append(field);
        }
        m_seen.fill(0, m_fields.size());
    }

    bool parse(PagingMode mode, ChangePage *page)
    {
        // A UTF-8 byte order mark, which QJsonDocument skips too.
        if (m_end - m_p > 3 && uchar(m_p[0]) == 0xef && uchar(m_p[1]) == 0xbb
            && uchar(m_p[2]) == 0xbf) {
            m_p += 3;
        }
        skipSpace();
        if (!consume('{'))
            return false;
        skipSpace();
        ChangePage result;
        bool seenChanges = false;
        bool seenCursor = false;
        bool seenHasMore = false;
        for (;;) {
            StringToken key;
            if (!readKey(&key))
                return false;
            if (key.is("changes")) {
                if (seenChanges || !parseChangeList(&result.changes))
                    return false;
                seenChanges = true;
            } else if (key.is("cursor")) {
                if (seenCursor || !readCursor(&result.cursor))
                    return false;
                seenCursor = true;
            } else if (key.is("hasMore")) {
                if (seenHasMore || !readBool(&result.hasMore))
                    return false;
                seenHasMore = true;
            } else if (!skipValue(1)) {
                return false;
            }
            const Next next = afterItem('}');
            if (next == Next::Closed)
                break;
            if (next == Next::Bad)
                return false;
        }
        skipSpace();
        if (m_p != m_end || !seenChanges || !seenHasMore)
            return false;
        if (result.cursor.size() > MaxCursorLength
            || (mode == PagingMode::Cursor && result.cursor.isEmpty())) {
            return false;
        }
        *page = std::move(result);
        return true;
    }

private:
    struct Field
    {
        QByteArray name; // Latin-1 (ASCII only: see parseChangesFast)
        FieldType type;
        int index; // in the schema, and so in Change::values
        QByteArray quoted; // "name" as it stands in a body, when nothing in it needs escaping
    };

    // ---- tokens ----

    char peek() const { return m_p < m_end ? *m_p : '\0'; }

    bool consume(char c)
    {
        if (m_p < m_end && *m_p == c) {
            ++m_p;
            return true;
        }
        return false;
    }

    // After a member or an element: a comma, with more to come, or the closing bracket.
    enum class Next { More, Closed, Bad };
    Next afterItem(char close)
    {
        skipSpace();
        if (consume(',')) {
            skipSpace();
            return Next::More;
        }
        return consume(close) ? Next::Closed : Next::Bad;
    }

    void skipSpace()
    {
        // Compact JSON has none: one test in the common case.
        if (m_p < m_end && uchar(*m_p) > ' ')
            return;
        skipSpaceSlowly();
    }

    Q_NEVER_INLINE void skipSpaceSlowly()
    {
        while (m_p < m_end && (*m_p == ' ' || *m_p == '\n' || *m_p == '\r' || *m_p == '\t'))
            ++m_p;
    }

    bool consumeLiteral(const char *text, qsizetype length)
    {
        if (m_end - m_p < length || std::memcmp(m_p, text, size_t(length)) != 0)
            return false;
        m_p += length;
        return true;
    }

    bool readBool(bool *value)
    {
        if (consumeLiteral("true", 4)) {
            *value = true;
            return true;
        }
        if (consumeLiteral("false", 5)) {
            *value = false;
            return true;
        }
        return false;
    }

    /*! Scans the string whose opening quote is at m_p, checking its UTF-8 and escapes. */
    bool scanString(StringToken *token)
    {
        if (!consume('"'))
            return false;
        const char *p = m_p;
        bool escaped = false;
        bool ascii = true;
        for (;;) {
            // Eight bytes at a time up to the first one that needs a look.
            while (m_end - p >= 8) {
                quint64 v;
                std::memcpy(&v, p, 8);
                const quint64 special = specialBytes(v);
                if (special == 0) {
                    p += 8;
                    continue;
                }
#if Q_BYTE_ORDER == Q_LITTLE_ENDIAN
                p += qCountTrailingZeroBits(special) / 8;
#endif
                break;
            }
            if (p >= m_end)
                return false;
            const uchar c = uchar(*p);
            if (c == '"')
                break;
            if (c == '\\') {
                if (m_end - p < 2)
                    return false;
                switch (p[1]) {
                case '"':
                case '\\':
                case '/':
                case 'b':
                case 'f':
                case 'n':
                case 'r':
                case 't':
                    p += 2;
                    break;
                case 'u':
                    if (m_end - p < 6 || hexValue(p[2]) < 0 || hexValue(p[3]) < 0
                        || hexValue(p[4]) < 0 || hexValue(p[5]) < 0) {
                        return false;
                    }
                    p += 6;
                    break;
                default:
                    return false; // QJsonDocument takes "\a" as "a"; not worth the bytes
                }
                escaped = true;
                continue;
            }
            if (c < 0x20)
                return false;
            if (c < 0x80) {
                ++p;
                continue;
            }
            const int length = utf8SequenceLength(reinterpret_cast<const uchar *>(p),
                                                  reinterpret_cast<const uchar *>(m_end));
            if (length == 0)
                return false;
            ascii = false;
            p += length;
        }
        token->begin = m_p;
        token->end = p;
        token->escaped = escaped;
        token->ascii = ascii;
        m_p = p + 1;
        return true;
    }

    /*! An object key and the colon after it; escaped keys are left to the reference. */
    bool readKey(StringToken *key)
    {
        if (peek() != '"')
            return false;
        // Keys are short and plain ASCII: a byte loop first, the full scan for anything else.
        const char *p = m_p + 1;
        while (p < m_end && *p != '"' && uchar(*p) >= 0x20 && uchar(*p) < 0x80 && *p != '\\')
            ++p;
        if (p < m_end && *p == '"') {
            key->begin = m_p + 1;
            key->end = p;
            key->escaped = false;
            key->ascii = true;
            m_p = p + 1;
        } else if (!scanString(key) || key->escaped) {
            return false;
        }
        skipSpace();
        if (!consume(':'))
            return false;
        skipSpace();
        return true;
    }

    static QString decode(const StringToken &token)
    {
        if (!token.escaped) {
            return token.ascii ? QString::fromLatin1(token.begin, token.size())
                               : QString::fromUtf8(token.begin, token.size());
        }
        // Never more UTF-16 units than bytes.
        QString text(token.size(), Qt::Uninitialized);
        char16_t *const begin = reinterpret_cast<char16_t *>(text.data());
        char16_t *out = begin;
        const uchar *p = reinterpret_cast<const uchar *>(token.begin);
        const uchar *const end = reinterpret_cast<const uchar *>(token.end);
        while (p < end) {
            const uchar c = *p;
            if (c == '\\') {
                switch (p[1]) {
                case 'b':
                    *out++ = u'\b';
                    break;
                case 'f':
                    *out++ = u'\f';
                    break;
                case 'n':
                    *out++ = u'\n';
                    break;
                case 'r':
                    *out++ = u'\r';
                    break;
                case 't':
                    *out++ = u'\t';
                    break;
                case 'u':
                    *out++ = char16_t(hexValue(char(p[2])) << 12 | hexValue(char(p[3])) << 8
                                      | hexValue(char(p[4])) << 4 | hexValue(char(p[5])));
                    p += 6;
                    continue;
                default: // '"', '\\', '/'
                    *out++ = char16_t(p[1]);
                    break;
                }
                p += 2;
            } else if (c < 0x80) {
                *out++ = c;
                ++p;
            } else if (c < 0xe0) {
                *out++ = char16_t((c & 0x1f) << 6 | (p[1] & 0x3f));
                p += 2;
            } else if (c < 0xf0) {
                *out++ = char16_t((c & 0x0f) << 12 | (p[1] & 0x3f) << 6 | (p[2] & 0x3f));
                p += 3;
            } else {
                const char32_t u = char32_t(c & 0x07) << 18 | char32_t(p[1] & 0x3f) << 12
                    | char32_t(p[2] & 0x3f) << 6 | char32_t(p[3] & 0x3f);
                *out++ = QChar::highSurrogate(u);
                *out++ = QChar::lowSurrogate(u);
                p += 4;
            }
        }
        text.truncate(out - begin);
        return text;
    }

    bool readString(QString *value)
    {
        StringToken token;
        if (!scanString(&token))
            return false;
        *value = decode(token);
        return true;
    }

    bool readNumber(Number *number)
    {
        const char *const start = m_p;
        const char *p = m_p;
        const bool negative = p < m_end && *p == '-';
        if (negative)
            ++p;
        const char *const intBegin = p;
        if (p < m_end && *p == '0') {
            ++p;
        } else if (p < m_end && *p >= '1' && *p <= '9') {
            while (p < m_end && isDigit(*p))
                ++p;
        } else {
            return false;
        }
        const char *const intEnd = p;
        const char *fracBegin = p;
        const char *fracEnd = p;
        if (p < m_end && *p == '.') {
            fracBegin = ++p;
            while (p < m_end && isDigit(*p))
                ++p;
            if (p == fracBegin)
                return false; // "1.", which QJsonDocument takes as 1
            fracEnd = p;
        }
        bool hasExponent = false;
        int exponent = 0;
        if (p < m_end && (*p == 'e' || *p == 'E')) {
            hasExponent = true;
            ++p;
            const bool negativeExponent = p < m_end && *p == '-';
            if (p < m_end && (*p == '-' || *p == '+'))
                ++p;
            const char *const expBegin = p;
            while (p < m_end && isDigit(*p)) {
                if (exponent < 100000)
                    exponent = exponent * 10 + (*p - '0');
                ++p;
            }
            if (p == expBegin)
                return false;
            if (negativeExponent)
                exponent = -exponent;
        }
        // QJsonDocument refuses a number that ends the input; so does the grammar here.
        if (p >= m_end || p - start > MaxNumberLength)
            return false;
        m_p = p;

        if (fracBegin == fracEnd && !hasExponent && intEnd - intBegin <= 19) {
            quint64 magnitude = 0;
            for (const char *d = intBegin; d < intEnd; ++d)
                magnitude = magnitude * 10 + quint64(*d - '0');
            constexpr quint64 maxMagnitude = quint64(std::numeric_limits<qint64>::max());
            if (magnitude <= maxMagnitude || (negative && magnitude == maxMagnitude + 1)) {
                number->isInteger = true;
                number->integer = negative
                    ? (magnitude == maxMagnitude + 1 ? std::numeric_limits<qint64>::min()
                                                     : -qint64(magnitude))
                    : qint64(magnitude);
                return true;
            }
        }

        // The significant digits, when there are at most 19 of them.
        quint64 mantissa = 0;
        int digits = 0;
        bool nonZero = false;
        const auto addDigits = [&](const char *from, const char *to) {
            for (const char *d = from; d < to; ++d) {
                if (*d != '0')
                    nonZero = true;
                if (!nonZero)
                    continue;
                if (++digits <= 19)
                    mantissa = mantissa * 10 + quint64(*d - '0');
            }
        };
        addDigits(intBegin, intEnd);
        addDigits(fracBegin, fracEnd);
        const int exponent10 = exponent - int(fracEnd - fracBegin);

        double value = 0;
        if (!nonZero) {
            value = 0;
        } else if (digits <= 19 && mantissa <= (quint64(1) << 53) && exponent10 >= -22
                   && exponent10 <= 22 && std::numeric_limits<double>::is_iec559
                   && FLT_EVAL_METHOD == 0) {
            // Both operands are exact, so one IEEE operation rounds correctly (Clinger).
            value = exponent10 >= 0 ? double(mantissa) * exactPowersOf10[exponent10]
                                    : double(mantissa) / exactPowersOf10[-exponent10];
        } else {
            const std::from_chars_result result
                = std::from_chars(negative ? start + 1 : start, p, value);
            // Overflow and underflow to zero are errors for QJsonDocument too.
            if (result.ec != std::errc() || result.ptr != p || !std::isfinite(value)
                || value == 0) {
                return false;
            }
        }
        if (negative)
            value = -value;

        constexpr double twoTo63 = 9223372036854775808.0;
        if (value >= -twoTo63 && value < twoTo63 && double(qint64(value)) == value) {
            number->isInteger = true;
            number->integer = qint64(value);
        } else {
            number->isInteger = false;
            number->real = value;
        }
        return true;
    }

    bool skipValue(int depth)
    {
        switch (peek()) {
        case '"': {
            StringToken token;
            return scanString(&token);
        }
        case '{': {
            if (depth >= MaxSkipDepth)
                return false;
            ++m_p;
            skipSpace();
            if (consume('}'))
                return true;
            for (;;) {
                StringToken key;
                if (!scanString(&key))
                    return false;
                skipSpace();
                if (!consume(':'))
                    return false;
                skipSpace();
                if (!skipValue(depth + 1))
                    return false;
                if (const Next next = afterItem('}'); next != Next::More)
                    return next == Next::Closed;
            }
        }
        case '[': {
            if (depth >= MaxSkipDepth)
                return false;
            ++m_p;
            skipSpace();
            if (consume(']'))
                return true;
            for (;;) {
                if (!skipValue(depth + 1))
                    return false;
                if (const Next next = afterItem(']'); next != Next::More)
                    return next == Next::Closed;
            }
        }
        case 't':
            return consumeLiteral("true", 4);
        case 'f':
            return consumeLiteral("false", 5);
        case 'n':
            return consumeLiteral("null", 4);
        default: {
            Number number;
            return readNumber(&number);
        }
        }
    }

    bool readCursor(QString *cursor)
    {
        const char c = peek();
        if (c == '"')
            return readString(cursor);
        if (c == 'n')
            return consumeLiteral("null", 4);
        Number number;
        if (!readNumber(&number) || !number.isInteger)
            return false;
        *cursor = QString::number(number.integer);
        return true;
    }

    // ---- changes ----

    bool parseChangeList(QList<Change> *changes)
    {
        if (!consume('['))
            return false;
        skipSpace();
        if (consume(']'))
            return true;
        // About 330 bytes per change for a typical entity; the limit bounds it anyway.
        changes->reserve(qMin<qsizetype>(m_maxChanges, (m_end - m_p) / 64 + 1));
        for (;;) {
            if (changes->size() >= m_maxChanges)
                return false;
            if (!parseChange(&changes->emplace_back()))
                return false;
            if (const Next next = afterItem(']'); next != Next::More)
                return next == Next::Closed;
        }
    }

    bool parseChange(Change *change)
    {
        if (!consume('{'))
            return false;
        skipSpace();
        enum : unsigned { Id = 1, ChangedAt = 2, Deleted = 4, Data = 8 };
        unsigned seen = 0;
        bool deleted = false;
        bool hasValues = false;
        QVariantList values;
        for (;;) {
            StringToken key;
            if (!readKey(&key))
                return false;
            unsigned which = 0;
            if (key.is("id")) {
                which = Id;
                if (!readString(&change->id))
                    return false;
            } else if (key.is("changedAt")) {
                which = ChangedAt;
                if (!readString(&change->changedAt))
                    return false;
            } else if (key.is("deleted")) {
                which = Deleted;
                if (!readBool(&deleted))
                    return false;
            } else if (key.is("data")) {
                which = Data;
                if (peek() == 'n') {
                    if (!consumeLiteral("null", 4))
                        return false;
                } else if (peek() != '{') {
                    return false;
                } else if ((seen & Deleted) && deleted) {
                    // A tombstone's data is not used, only checked to be JSON.
                    if (!skipValue(2))
                        return false;
                } else {
                    // Before "deleted", data is read as if the change were not deleted; if
                    // that fails, it may still be a tombstone's data, which is not checked.
                    const char *const dataBegin = m_p;
                    hasValues = parseData(&values);
                    if (!hasValues) {
                        m_p = dataBegin;
                        values.clear();
                        if (!skipValue(2))
                            return false;
                    }
                }
            } else if (!skipValue(2)) {
                return false;
            }
            if (seen & which)
                return false; // a duplicate key: the reference knows which one counts
            seen |= which;
            const Next next = afterItem('}');
            if (next == Next::Closed)
                break;
            if (next == Next::Bad)
                return false;
        }
        if (!(seen & Id) || !(seen & ChangedAt) || change->id.isEmpty()
            || change->id.size() > MaxIdLength
            || !isTimestampText(change->changedAt.utf16(), change->changedAt.size())) {
            return false;
        }
        change->deleted = deleted;
        if (!deleted) {
            if (!hasValues)
                return false;
            change->values = std::move(values);
        }
        return true;
    }

    /*!
        When the key at m_p is the field after the last one found, exactly as written in the
        schema, consumes it and its colon and sets \a field; false on a syntax error.
    */
    bool consumeExpectedField(const Field **field)
    {
        if (m_fields.isEmpty())
            return true;
        const Field &expected = m_fields.at(m_nextField);
        const QByteArray &quoted = expected.quoted;
        if (quoted.isEmpty() || m_end - m_p <= quoted.size()
            || std::memcmp(m_p, quoted.constData(), size_t(quoted.size())) != 0) {
            return true;
        }
        m_p += quoted.size();
        skipSpace();
        if (!consume(':'))
            return false;
        skipSpace();
        m_lastField = m_nextField;
        m_nextField = m_nextField + 1 == m_fields.size() ? 0 : m_nextField + 1;
        *field = &expected;
        return true;
    }

    const Field *findField(const StringToken &key)
    {
        // Servers usually write the fields in schema order: try the one after the last first.
        const qsizetype count = m_fields.size();
        for (qsizetype n = 0, i = m_nextField; n < count; ++n, i = i + 1 == count ? 0 : i + 1) {
            const Field &field = m_fields.at(i);
            if (key.is(field.name.constData(), field.name.size())) {
                m_nextField = i + 1 == count ? 0 : i + 1;
                m_lastField = i;
                return &field;
            }
        }
        return nullptr;
    }

    bool parseData(QVariantList *values)
    {
        if (!consume('{'))
            return false;
        skipSpace();
        // Built in place while the keys come in schema order (as servers write them), with
        // the gaps and the end filled with nulls.
        *values = QVariantList();
        values->reserve(m_fieldCount);
        ++m_generation;
        if (consume('}')) {
            values->resize(m_fieldCount);
            return true;
        }
        for (;;) {
            const Field *field = nullptr;
            if (!consumeExpectedField(&field))
                return false;
            if (!field) {
                StringToken key;
                if (!readKey(&key))
                    return false;
                field = findField(key);
            }
            if (!field || m_seen[m_lastField] == m_generation)
                return false;
            m_seen[m_lastField] = m_generation;
            if (!readValue(*field, values))
                return false;
            const Next next = afterItem('}');
            if (next == Next::Closed)
                break;
            if (next == Next::Bad)
                return false;
        }
        values->resize(m_fieldCount);
        return true;
    }

    /*! Puts \a value at \a index of \a values, which holds the fields before some index. */
    template<typename... Args>
    static void place(QVariantList *values, qsizetype index, Args &&...args)
    {
        if (index >= values->size()) {
            values->resize(index);
            values->emplaceBack(std::forward<Args>(args)...);
        } else {
            (*values)[index] = QVariant(std::forward<Args>(args)...);
        }
    }

    bool readValue(const Field &field, QVariantList *values)
    {
        const char c = peek();
        if (c == 'n')
            return consumeLiteral("null", 4); // the value stays a null QVariant
        switch (field.type) {
        case FieldType::String:
        case FieldType::DateTime: {
            QString text;
            if (!readString(&text))
                return false;
            if (field.type == FieldType::DateTime && !isTimestampText(text.utf16(), text.size()))
                return false;
            // Moved in rather than copied (QVariant has no QString&& constructor).
            place(values, field.index, QMetaType::fromType<QString>());
            *static_cast<QString *>((*values)[field.index].data()) = std::move(text);
            return true;
        }
        case FieldType::Int: {
            Number number;
            if (!readNumber(&number) || !number.isInteger)
                return false;
            place(values, field.index, qlonglong(number.integer));
            return true;
        }
        case FieldType::Real: {
            Number number;
            if (!readNumber(&number))
                return false;
            place(values, field.index, number.isInteger ? double(number.integer) : number.real);
            return true;
        }
        case FieldType::Bool: {
            bool b = false;
            if (!readBool(&b))
                return false;
            place(values, field.index, b);
            return true;
        }
        }
        return false;
    }

    const char *m_p;
    const char *const m_end;
    const int m_maxChanges;
    const qsizetype m_fieldCount;
    QList<Field> m_fields;
    QList<quint32> m_seen; // per field: the data object that last set it (duplicate keys)
    quint32 m_generation = 0;
    qsizetype m_nextField = 0;
    qsizetype m_lastField = 0;
};

} // namespace

namespace detail {

bool isValidTimestamp(QStringView text)
{
    return isTimestampText(text.utf16(), text.size());
}

bool parseChangesFast(const QByteArray &body, const EntitySchema &schema, int limit,
                      PagingMode mode, ChangePage *page)
{
    for (const FieldSpec &field : schema.fields) {
        for (const QChar c : field.name) {
            if (c.unicode() >= 0x80)
                return false; // keys are matched as bytes: ASCII names only
        }
    }
    FastChangesParser parser(body, schema, qBound(1, limit, MaxLimit));
    return parser.parse(mode, page);
}

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

} // namespace detail

bool parseChanges(const QByteArray &body, const EntitySchema &schema, int limit, PagingMode mode,
                  ChangePage *page, QString *error)
{
    if (detail::parseChangesFast(body, schema, limit, mode, page))
        return true;
    const bool ok = detail::parseChangesReference(body, schema, limit, mode, page, error);
    if (ok) {
        // Valid, but in a form the fast parser leaves to the reference: correct, only slower.
        qCDebug(lcProtocol) << "changes page of" << body.size()
                            << "bytes parsed by the reference parser";
    }
    return ok;
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
