#include "pagewriter.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace BatchSync {

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

void JsonWriter::value(FieldType type, const QVariant &value)
{
    if (value.isNull()) {
        literal("null");
        return;
    }
    switch (type) {
    case FieldType::String:
    case FieldType::DateTime:
    case FieldType::Decimal: // the exact text, as a JSON string
        string(value.toString());
        break;
    case FieldType::Int:
        integer(value.toLongLong());
        break;
    case FieldType::Real:
        real(value.toDouble());
        break;
    case FieldType::Bool:
        boolean(value.toLongLong() != 0);
        break;
    }
}

namespace PageWriter {

QList<QByteArray> fieldKeys(const EntitySchema &schema)
{
    QList<QByteArray> keys;
    keys.reserve(schema.fields.size());
    for (const FieldSpec &field : schema.fields) {
        QByteArray key = keys.isEmpty() ? QByteArray("\"") : QByteArray(",\"");
        key += field.name.toLatin1(); // checked identifiers: plain ASCII, nothing to escape
        key += "\":";
        keys.append(key);
    }
    return keys;
}

QByteArray entities(const QList<EntitySchema> &schemas, const QSet<QString> &writable)
{
    QJsonArray entities;
    for (const EntitySchema &schema : schemas) {
        QJsonArray fields;
        for (const FieldSpec &field : schema.fields) {
            fields.append(QJsonObject { { QStringLiteral("name"), field.name },
                                        { QStringLiteral("type"), fieldTypeName(field.type) } });
        }
        entities.append(
            QJsonObject { { QStringLiteral("name"), schema.name },
                          { QStringLiteral("fields"), fields },
                          { QStringLiteral("writable"), writable.contains(schema.name) } });
    }
    const QJsonObject body { { QStringLiteral("protocol"), QStringLiteral("1.1") },
                             { QStringLiteral("entities"), entities } };
    return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

QByteArray count(qint64 changes)
{
    return QByteArrayLiteral("{\"count\":") + QByteArray::number(changes) + '}';
}

QByteArray error(const QString &message)
{
    const QJsonObject object { { QStringLiteral("error"), message } };
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

} // namespace PageWriter

} // namespace BatchSync
