#include "jsonscanner.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <limits>

namespace BatchSync::Protocol::detail {

namespace {

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
    A mask with the high bit set in each of the 8 bytes of \a v that is a quote, a backslash
    or above 0x7f. Bytes above a flagged one may be flagged wrongly (borrows), the lowest
    flagged byte never is.
*/
inline quint64 specialBytes(quint64 v)
{
    constexpr quint64 ones = 0x0101010101010101ULL;
    constexpr quint64 highs = 0x8080808080808080ULL;
    const auto zeroByte = [](quint64 x) { return (x - ones) & ~x & highs; };
    return zeroByte(v ^ (ones * '"')) | zeroByte(v ^ (ones * '\\')) | (v & highs);
}

const double exactPowersOf10[]
    = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

constexpr double twoTo63 = 9223372036854775808.0;

/*! QJsonDocument's rule: an integral double in [-2^63, 2^63) is kept as a qint64. */
void setNumber(double value, JsonNumber *number)
{
    if (value >= -twoTo63 && value < twoTo63 && double(qint64(value)) == value) {
        number->isInteger = true;
        number->integer = qint64(value);
    } else {
        number->isInteger = false;
        number->real = value;
    }
}

/*!
    The value of a number in JSON's own grammar, with the text [intBegin, p) etc. already
    split; false when it is not one of the simple cases computed here.
*/
bool fastNumber(bool negative, const char *intBegin, const char *intEnd, const char *fracBegin,
                const char *fracEnd, bool hasExponent, int exponent, JsonNumber *number)
{
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
            if (nonZero && ++digits <= 19)
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
        return false;
    }
    setNumber(negative ? -value : value, number);
    return true;
}

} // namespace

QString describeKind(JsonKind kind)
{
    switch (kind) {
    case JsonKind::Null:
        return QStringLiteral("null");
    case JsonKind::Bool:
        return QStringLiteral("a bool");
    case JsonKind::Number:
        return QStringLiteral("a number");
    case JsonKind::String:
        return QStringLiteral("a string");
    case JsonKind::Array:
        return QStringLiteral("an array");
    case JsonKind::Object:
        return QStringLiteral("an object");
    case JsonKind::Missing:
        break;
    }
    return QStringLiteral("nothing (missing)");
}

QString JsonNumber::text() const
{
    return isInteger ? QString::number(integer) : QString::number(real, 'g', 17);
}

QString JsonString::decodeEscaped() const
{
    // Never more UTF-16 units than bytes.
    QString text(size(), Qt::Uninitialized);
    char16_t *const first = reinterpret_cast<char16_t *>(text.data());
    char16_t *out = first;
    const uchar *p = reinterpret_cast<const uchar *>(begin);
    const uchar *const last = reinterpret_cast<const uchar *>(end);
    while (p < last) {
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
            default: // '"', '\\', '/', and any other byte as itself (Latin-1)
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
    text.truncate(out - first);
    return text;
}

QString JsonScanner::errorMessage() const
{
    QJsonParseError error;
    error.error = m_error;
    return QStringLiteral("the response is not valid JSON: %1 at byte %2")
        .arg(error.errorString())
        .arg(m_errorOffset);
}

bool JsonScanner::failAt(QJsonParseError::ParseError error, qsizetype offset)
{
    m_error = error;
    m_errorOffset = offset;
    return false;
}

bool JsonScanner::eatSpaceSlowly()
{
    while (m_p < m_end && (*m_p == ' ' || *m_p == '\n' || *m_p == '\r' || *m_p == '\t'))
        ++m_p;
    return m_p < m_end;
}

bool JsonScanner::scanString(JsonString *string)
{
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
            return failAt(QJsonParseError::UnterminatedString, m_end - m_head + 1);
        const uchar c = uchar(*p);
        if (c == '"')
            break;
        if (c == '\\') {
            // QJsonDocument looks for the end first up to the first backslash, and past it
            // decodes: a backslash that ends the document is either's error.
            if (m_end - p < 2) {
                return failAt(escaped ? QJsonParseError::IllegalEscapeSequence
                                      : QJsonParseError::UnterminatedString,
                              m_end - m_head);
            }
            escaped = true;
            if (p[1] != 'u') {
                p += 2; // any other byte stands for itself
                continue;
            }
            p += 2;
            if (m_end - p < 4)
                return failAt(QJsonParseError::IllegalEscapeSequence, p - m_head);
            for (int i = 0; i < 4; ++i, ++p) {
                if (hexValue(*p) < 0)
                    return failAt(QJsonParseError::IllegalEscapeSequence, p - m_head);
            }
            continue;
        }
        if (c < 0x80) {
            ++p;
            continue;
        }
        const int length = utf8SequenceLength(reinterpret_cast<const uchar *>(p),
                                              reinterpret_cast<const uchar *>(m_end));
        if (length == 0)
            return failAt(QJsonParseError::IllegalUTF8String, p - m_head);
        ascii = false;
        p += length;
    }
    // A document never ends with a string.
    if (m_end - p < 2)
        return failAt(QJsonParseError::UnterminatedString, p + 1 - m_head);
    string->begin = m_p;
    string->end = p;
    string->escaped = escaped;
    string->ascii = ascii && !escaped;
    m_p = p + 1;
    return true;
}

bool JsonScanner::readLiteral(const char *rest, qsizetype length)
{
    ++m_p;
    if (m_end - m_p < length + 1)
        return fail(QJsonParseError::IllegalValue);
    for (qsizetype i = 0; i < length; ++i) {
        if (*m_p++ != rest[i])
            return fail(QJsonParseError::IllegalValue);
    }
    return true;
}

bool JsonScanner::readNumber(JsonNumber *number)
{
    // QJsonDocument's grammar, looser than JSON's: every digit run may be empty.
    const char *const start = m_p;
    const char *p = m_p;
    const bool negative = p < m_end && *p == '-';
    if (negative)
        ++p;
    const char *const intBegin = p;
    if (p < m_end && *p == '0') {
        ++p;
    } else {
        while (p < m_end && isDigit(*p))
            ++p;
    }
    const char *const intEnd = p;
    bool hasFraction = false;
    const char *fracBegin = p;
    const char *fracEnd = p;
    if (p < m_end && *p == '.') {
        hasFraction = true;
        fracBegin = ++p;
        while (p < m_end && isDigit(*p))
            ++p;
        fracEnd = p;
    }
    bool hasExponent = false;
    bool exponentDigits = false;
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
        exponentDigits = p != expBegin;
        if (negativeExponent)
            exponent = -exponent;
    }
    m_p = p;
    if (p >= m_end)
        return fail(QJsonParseError::TerminationByNumber);
    number->textBegin = start;
    number->textEnd = p;

    const bool plain = intEnd != intBegin && (!hasFraction || fracEnd != fracBegin)
        && (!hasExponent || exponentDigits) && p - start <= 100;
    if (plain) {
        if (fastNumber(negative, intBegin, intEnd, fracBegin, fracEnd, hasExponent, exponent,
                       number)) {
            return true;
        }
        double value = 0;
        const std::from_chars_result result
            = std::from_chars(negative ? start + 1 : start, p, value);
        if (result.ec == std::errc() && result.ptr == p && std::isfinite(value) && value != 0) {
            setNumber(negative ? -value : value, number);
            return true;
        }
    }
    // The lenient forms, and the edges above (overflow, underflow, subnormals): exactly
    // what QJsonDocument does with them.
    const QByteArray text = QByteArray::fromRawData(start, p - start);
    bool ok = false;
    if (!hasExponent && std::all_of(fracBegin, fracEnd, [](char c) { return c == '0'; })) {
        const qlonglong integer = text.toLongLong(&ok);
        if (ok) {
            number->isInteger = true;
            number->integer = integer;
            return true;
        }
    }
    const double value = text.toDouble(&ok);
    if (!ok)
        return fail(QJsonParseError::IllegalNumber);
    setNumber(value, number);
    return true;
}

bool JsonScanner::readValue(JsonValue *value)
{
    switch (*m_p) {
    case '"':
        value->kind = JsonKind::String;
        return readString(&value->string);
    case 'n':
        value->kind = JsonKind::Null;
        return readLiteral("ull", 3);
    case 't':
        value->kind = JsonKind::Bool;
        value->boolean = true;
        return readLiteral("rue", 3);
    case 'f':
        value->kind = JsonKind::Bool;
        value->boolean = false;
        return readLiteral("alse", 4);
    case '[':
    case '{':
        return skipContainer(&value->kind);
    case ',':
        ++m_p;
        return fail(QJsonParseError::IllegalValue);
    case ']':
    case '}':
        ++m_p;
        return fail(QJsonParseError::MissingObject);
    default:
        value->kind = JsonKind::Number;
        return readNumber(&value->number);
    }
}

bool JsonScanner::skipContainer(JsonKind *kind)
{
    const bool object = *m_p == '{';
    *kind = object ? JsonKind::Object : JsonKind::Array;
    if (!enter())
        return false;
    bool more = false;
    if (!(object ? firstMember(&more) : firstElement(&more)))
        return false;
    JsonValue item;
    while (more) {
        if (object) {
            JsonString key;
            if (!readKey(&key))
                return false;
        }
        if (!readValue(&item))
            return false;
        if (!(object ? nextMember(&more) : nextElement(&more)))
            return false;
    }
    return true;
}

} // namespace BatchSync::Protocol::detail
