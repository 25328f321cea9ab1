#include "serverjson.h"

#include "common/identifier.h"
#include "common/timestamp.h"

#include <QDate>
#include <QDateTime>
#include <limits>

namespace BatchSync::ServerJson {

void JsonWriter::string(QStringView text)
{
    static constexpr char hex[] = "0123456789abcdef";
    // Worst case: 6 bytes (\u00XX) per UTF-16 unit, plus the quotes.
    char *out = room(2 + 6 * text.size());
    *out++ = '"';
    const char16_t *p = text.utf16();
    const char16_t *const end = p + text.size();
    while (p < end) {
        const char16_t u = *p++;
        if (u < 0x80) {
            if (u >= 0x20 && u != u'"' && u != u'\\') {
                *out++ = char(u);
                continue;
            }
            *out++ = '\\';
            switch (u) {
            case u'"':
                *out++ = '"';
                break;
            case u'\\':
                *out++ = '\\';
                break;
            case u'\n':
                *out++ = 'n';
                break;
            case u'\r':
                *out++ = 'r';
                break;
            case u'\t':
                *out++ = 't';
                break;
            case u'\b':
                *out++ = 'b';
                break;
            case u'\f':
                *out++ = 'f';
                break;
            default:
                *out++ = 'u';
                *out++ = '0';
                *out++ = '0';
                *out++ = hex[u >> 4];
                *out++ = hex[u & 0xf];
            }
        } else if (u < 0x800) {
            *out++ = char(0xc0 | (u >> 6));
            *out++ = char(0x80 | (u & 0x3f));
        } else if (QChar::isHighSurrogate(u) && p < end && QChar::isLowSurrogate(*p)) {
            const char32_t c = QChar::surrogateToUcs4(u, *p++);
            *out++ = char(0xf0 | (c >> 18));
            *out++ = char(0x80 | ((c >> 12) & 0x3f));
            *out++ = char(0x80 | ((c >> 6) & 0x3f));
            *out++ = char(0x80 | (c & 0x3f));
        } else {
            // A lone surrogate has no UTF-8 form; U+FFFD keeps the body valid UTF-8.
            const char16_t c = QChar::isSurrogate(u) ? char16_t(0xfffd) : u;
            *out++ = char(0xe0 | (c >> 12));
            *out++ = char(0x80 | ((c >> 6) & 0x3f));
            *out++ = char(0x80 | (c & 0x3f));
        }
    }
    *out++ = '"';
    m_size = out - m_out.constData();
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
            return text.isNull() ? QVariant(QStringLiteral("")) : value;
        }
        if (typeId == QMetaType::QByteArray)
            return QVariant(QString::fromUtf8(value.toByteArray()));
        if (typeId == QMetaType::QChar)
            return QVariant(value.toString());
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
    }
    *what = QStringLiteral("a known type");
    return std::nullopt;
}

// A column read back from the database, typed as Change::values are.
QVariant typedValue(FieldType type, const QVariant &column)
{
    if (column.isNull())
        return QVariant();
    switch (type) {
    case FieldType::String:
    case FieldType::DateTime:
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

} // namespace BatchSync::ServerJson
