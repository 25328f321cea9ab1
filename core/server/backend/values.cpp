#include "values.h"

#include "common/decimal.h"
#include "common/identifier.h"
#include "common/timestamp.h"

#include <QDate>
#include <QDateTime>
#include <limits>

namespace BatchSync::ServerValues {

std::optional<qint64> parseCount(QStringView text)
{
    if (text.isEmpty() || text.size() > 18)
        return std::nullopt;
    qint64 value = 0;
    for (QChar c : text) {
        if (c < u'0' || c > u'9')
            return std::nullopt;
        value = value * 10 + (c.unicode() - u'0');
    }
    return value;
}

/*
    Timestamp::isValid without its QDateTime round trip, which costs microseconds per value:
    bulk writes check every datetime field. Same rule: the exact protocol form and a real
    calendar date and time.
*/
bool isTimestamp(QStringView text)
{
    static constexpr char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (text.size() != 24)
        return false;
    for (int i = 0; i < 24; ++i) {
        const char16_t c = text.at(i).unicode();
        if (pattern[i] == 'd' ? (c < u'0' || c > u'9') : c != char16_t(pattern[i]))
            return false;
    }
    const auto number = [text](int from, int length) {
        int value = 0;
        for (int i = from; i < from + length; ++i)
            value = value * 10 + (text.at(i).unicode() - u'0');
        return value;
    };
    const int year = number(0, 4);
    const int month = number(5, 2);
    const int day = number(8, 2);
    return year >= 1 && month >= 1 && month <= 12 && day >= 1
        && day <= QDate(year, month, 1).daysInMonth() && number(11, 2) <= 23 && number(14, 2) <= 59
        && number(17, 2) <= 59;
}

namespace {

// A UTF-16 unit that may need replacing: a surrogate, U+FFFE or U+FFFF.
inline bool isSuspect(char16_t u)
{
    return u >= 0xd800 && (u < 0xe000 || u >= 0xfffe);
}

// The length of the storable prefix of [begin, end): up to the first unit to replace.
const char16_t *storablePrefixEnd(const char16_t *p, const char16_t *const end)
{
    while (p < end) {
        const char16_t u = *p;
        if (!isSuspect(u)) {
            ++p;
            continue;
        }
        if (QChar::isHighSurrogate(u) && end - p >= 2 && QChar::isLowSurrogate(p[1])) {
            p += 2;
            continue;
        }
        break;
    }
    return p;
}

} // namespace

bool isStorableText(QStringView text)
{
    const char16_t *end = text.utf16() + text.size();
    return storablePrefixEnd(text.utf16(), end) == end;
}

QString storableText(const QString &text)
{
    const char16_t *const begin = QStringView(text).utf16();
    const char16_t *const end = begin + text.size();
    const char16_t *p = storablePrefixEnd(begin, end);
    if (p == end)
        return text;
    QString result = text;
    char16_t *out = reinterpret_cast<char16_t *>(result.data());
    while (p < end) {
        out[p - begin] = char16_t(0xfffd); // a lone surrogate, U+FFFE or U+FFFF
        p = storablePrefixEnd(p + 1, end);
    }
    return result;
}

QString schemaProblem(const EntitySchema &schema)
{
    QString problem = Identifier::check(schema.name, u"entity");
    for (qsizetype i = 0; problem.isEmpty() && i < schema.fields.size(); ++i) {
        const QString &name = schema.fields.at(i).name;
        problem = Identifier::check(name, u"field");
        for (qsizetype j = 0; problem.isEmpty() && j < i; ++j) {
            // SQLite's column names ignore letter case, so "Name" and "name" clash; PostgreSQL
            // refuses them too, so that a schema serves from either backend.
            if (schema.fields.at(j).name.compare(name, Qt::CaseInsensitive) == 0)
                problem = QStringLiteral("field \"%1\" appears twice").arg(name);
        }
    }
    return problem;
}

QString describe(const QVariant &value)
{
    QString text = value.toString();
    if (text.size() > 40)
        text = text.left(40) + QStringLiteral("…");
    return QStringLiteral("%1 \"%2\"")
        .arg(QString::fromLatin1(value.metaType().name()), Identifier::printable(text));
}

/*
    \a value as stored in a column of \a type, or nullopt with \a what set to what the field
    expects. Values are checked here so that the server only ever serves protocol-valid data.
*/
std::optional<QVariant> columnValue(FieldType type, const QVariant &value, QString *what)
{
    if (!value.isValid() || value.isNull())
        return QVariant();
    const int typeId = value.typeId();
    switch (type) {
    case FieldType::String:
        if (typeId == QMetaType::QString) {
            const QString text = value.toString();
            if (text.isNull())
                return QVariant(QStringLiteral(""));
            return isStorableText(text) ? value : QVariant(storableText(text));
        }
        if (typeId == QMetaType::QByteArray)
            return QVariant(storableText(QString::fromUtf8(value.toByteArray())));
        if (typeId == QMetaType::QChar)
            return QVariant(storableText(value.toString()));
        *what = QStringLiteral("a string");
        return std::nullopt;
    case FieldType::Int:
        switch (typeId) {
        case QMetaType::Int:
        case QMetaType::UInt:
        case QMetaType::Long:
        case QMetaType::LongLong:
        case QMetaType::Short:
        case QMetaType::UShort:
        case QMetaType::SChar:
        case QMetaType::UChar:
        case QMetaType::Char:
            return QVariant(value.toLongLong());
        case QMetaType::ULong:
        case QMetaType::ULongLong:
            if (value.toULongLong() <= quint64(std::numeric_limits<qint64>::max()))
                return QVariant(value.toLongLong());
            break;
        case QMetaType::Double:
        case QMetaType::Float: {
            const double d = value.toDouble();
            if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.2e18)
                return QVariant(qint64(d));
            break;
        }
        default:
            break;
        }
        *what = QStringLiteral("an integer");
        return std::nullopt;
    case FieldType::Real:
        switch (typeId) {
        case QMetaType::Double:
        case QMetaType::Float:
        case QMetaType::Int:
        case QMetaType::UInt:
        case QMetaType::Long:
        case QMetaType::ULong:
        case QMetaType::LongLong:
        case QMetaType::ULongLong:
        case QMetaType::Short:
        case QMetaType::UShort:
            return QVariant(value.toDouble());
        default:
            break;
        }
        *what = QStringLiteral("a number");
        return std::nullopt;
    case FieldType::Bool:
        if (typeId == QMetaType::Bool)
            return QVariant(qint64(value.toBool() ? 1 : 0));
        *what = QStringLiteral("a bool");
        return std::nullopt;
    case FieldType::DateTime:
        if (typeId == QMetaType::QString && isTimestamp(value.toString()))
            return value;
        if (typeId == QMetaType::QDateTime && value.toDateTime().isValid())
            return QVariant(Timestamp::format(value.toDateTime()));
        *what = QStringLiteral("a timestamp like 2026-11-26T06:20:16.123Z");
        return std::nullopt;
    case FieldType::Decimal:
        // Only text: a double would already have lost the exact value.
        if (typeId == QMetaType::QString && Decimal::isValid(value.toString()))
            return value;
        *what = QStringLiteral("a decimal in plain notation like \"12.50\"");
        return std::nullopt;
    }
    *what = QStringLiteral("a known type");
    return std::nullopt;
}

bool recordValues(const EntitySchema &schema, const QString &id, const QVariantMap &data,
                  QVariantList *values, QString *error)
{
    if (id.isEmpty()) {
        *error = QStringLiteral("a record of entity %1 has an empty id").arg(schema.name);
        return false;
    }
    if (!isStorableText(id)) {
        *error = QStringLiteral("record \"%1\" of entity %2: an id cannot hold a lone surrogate, "
                                "U+FFFE or U+FFFF")
                     .arg(Identifier::printable(id), schema.name);
        return false;
    }
    values->resize(schema.fields.size());
    for (QVariant &value : *values)
        value = QVariant();
    for (auto it = data.cbegin(); it != data.cend(); ++it) {
        const int index = schema.fieldIndex(it.key());
        if (index < 0) {
            *error = QStringLiteral("entity %1 has no field \"%2\"")
                         .arg(schema.name, Identifier::printable(it.key()));
            return false;
        }
        QString expected;
        std::optional<QVariant> value
            = columnValue(schema.fields.at(index).type, it.value(), &expected);
        if (!value) {
            *error = QStringLiteral("record \"%1\" of entity %2: field %3 must be %4, not %5")
                         .arg(Identifier::printable(id), schema.name, it.key(), expected,
                              describe(it.value()));
            return false;
        }
        (*values)[index] = std::move(*value);
    }
    return true;
}

// A column read back from the database, typed as Change::values are.
QVariant typedValue(FieldType type, const QVariant &column)
{
    if (column.isNull())
        return QVariant();
    switch (type) {
    case FieldType::String:
    case FieldType::DateTime:
    case FieldType::Decimal:
        return column.toString();
    case FieldType::Int:
        return QVariant(column.toLongLong());
    case FieldType::Real:
        return QVariant(column.toDouble());
    case FieldType::Bool:
        return QVariant(column.toLongLong() != 0);
    }
    return QVariant();
}

} // namespace BatchSync::ServerValues
