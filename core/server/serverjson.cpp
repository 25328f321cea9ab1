#include "serverjson.h"

#include "common/identifier.h"
#include "common/timestamp.h"

#include <QDate>
#include <QDateTime>
#include <limits>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace BatchSync::ServerJson {

namespace {

// The bytes a JSON string holds as they are: printable ASCII but the quote and the backslash.
struct PlainBytes
{
    bool plain[256] = {};
    constexpr PlainBytes()
    {
        for (int c = 0x20; c < 0x80; ++c)
            plain[c] = c != '"' && c != '\\';
    }
};
constexpr PlainBytes plainBytes;

// Whether none of the eight bytes of \a word needs care: none below 0x20, none from 0x80 on,
// no quote and no backslash (bit tricks that tell whether a byte is zero or below a value).
inline bool isPlainWord(quint64 word)
{
    constexpr quint64 ones = 0x0101010101010101ULL;
    constexpr quint64 highs = 0x8080808080808080ULL;
    const quint64 quote = word ^ (ones * '"');
    const quint64 backslash = word ^ (ones * '\\');
    const quint64 special = ((word - ones * 0x20) & ~word) | ((quote - ones) & ~quote)
        | ((backslash - ones) & ~backslash) | word;
    return (special & highs) == 0;
}

// SQLite's sqlite3Utf8Trans1: the value bits of a UTF-8 lead byte from 0xc0 on.
constexpr unsigned char utf8Lead[64] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x00, 0x01, 0x02, 0x03, 0x00, 0x01, 0x00, 0x00,
};

} // namespace

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
    Text as SQLite stores it (UTF-8), written as string(QStringView) writes the same text read
    through sqlite3_column_text16, which is how QSQLITE reads it: byte for byte the same body.
    Printable ASCII runs are copied. Anything else is decoded the way SQLite turns UTF-8 into
    UTF-16 (READ_UTF8 in its utf.c: a stray continuation byte stands for itself, overlong forms,
    surrogates, U+FFFE and U+FFFF become U+FFFD, code points above U+FFFF become a surrogate
    pair of their low 20 bits), then encoded as string() encodes those UTF-16 units.
*/
void JsonWriter::utf8String(const unsigned char *text, qsizetype size)
{
    static constexpr char hex[] = "0123456789abcdef";
    // Worst case: 6 bytes (\u00XX) per byte, plus the quotes.
    char *out = room(2 + 6 * size);
    *out++ = '"';
    const unsigned char *p = text;
    const unsigned char *const end = text + size;
    while (p < end) {
        // Many bytes at a time while none needs care (most text needs none).
#ifdef __SSE2__
        while (end - p >= 16) {
            const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
            // Signed: bytes from 0x80 on are negative, so below 0x20 too.
            const __m128i special
                = _mm_or_si128(_mm_cmplt_epi8(bytes, _mm_set1_epi8(0x20)),
                               _mm_or_si128(_mm_cmpeq_epi8(bytes, _mm_set1_epi8('"')),
                                            _mm_cmpeq_epi8(bytes, _mm_set1_epi8('\\'))));
            if (_mm_movemask_epi8(special) != 0)
                break;
            _mm_storeu_si128(reinterpret_cast<__m128i *>(out), bytes);
            out += 16;
            p += 16;
        }
#endif
        while (end - p >= 8) {
            quint64 word;
            std::memcpy(&word, p, 8);
            if (!isPlainWord(word))
                break;
            std::memcpy(out, &word, 8);
            out += 8;
            p += 8;
        }
        if (p == end)
            break;
        if (plainBytes.plain[*p]) {
            *out++ = char(*p++);
            continue;
        }
        quint32 c = *p++;
        if (c < 0x80) {
            *out++ = '\\';
            switch (c) {
            case '"':
                *out++ = '"';
                break;
            case '\\':
                *out++ = '\\';
                break;
            case '\n':
                *out++ = 'n';
                break;
            case '\r':
                *out++ = 'r';
                break;
            case '\t':
                *out++ = 't';
                break;
            case '\b':
                *out++ = 'b';
                break;
            case '\f':
                *out++ = 'f';
                break;
            default:
                *out++ = 'u';
                *out++ = '0';
                *out++ = '0';
                *out++ = hex[c >> 4];
                *out++ = hex[c & 0xf];
            }
            continue;
        }
        if (c >= 0xc0) {
            c = utf8Lead[c - 0xc0];
            while (p < end && (*p & 0xc0) == 0x80)
                c = (c << 6) + (0x3f & *p++);
            if (c < 0x80 || (c & 0xfffff800) == 0xd800 || (c & 0xfffffffe) == 0xfffe)
                c = 0xfffd;
        }
        if (c < 0x800) {
            *out++ = char(0xc0 | (c >> 6));
            *out++ = char(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            *out++ = char(0xe0 | (c >> 12));
            *out++ = char(0x80 | ((c >> 6) & 0x3f));
            *out++ = char(0x80 | (c & 0x3f));
        } else {
            c = 0x10000 + ((c - 0x10000) & 0xfffff);
            *out++ = char(0xf0 | (c >> 18));
            *out++ = char(0x80 | ((c >> 12) & 0x3f));
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
