// Push::readPlain(): a push body read in one pass, straight into a PushRequest. A QJsonDocument
// of the body (with its copy that marks written numbers, then a QJsonObject lookup and a
// QVariant per value) cost more than the backend's own work. This reader takes only what it can
// decide exactly as Push::parse() would: any body with something unusual in it (a fault, a
// rejection, an escape it does not read, a duplicate key, a number Qt might read otherwise) is
// left to Push::parse()'s reading, which then decides alone.

#include "pushreader.h"

#include "common/decimal.h"
#include "server/backend/values.h"

#include <QVarLengthArray>
#include <cmath>
#include <cstring>

namespace BatchSync::Push {

namespace {

enum class Kind { String, Number, True, False, Null, Object, Array };

class Reader final
{
public:
    explicit Reader(const QByteArray &body)
        : m_p(body.constData())
        , m_end(body.constData() + body.size())
    {
    }

    bool atEnd()
    {
        skipSpace();
        return m_p == m_end;
    }

    // Consumes \a c (after white space).
    bool take(char c)
    {
        skipSpace();
        if (m_p == m_end || *m_p != c)
            return false;
        ++m_p;
        return true;
    }

    // The kind of the next value, not consumed; false at the end.
    bool peek(Kind *kind)
    {
        skipSpace();
        if (m_p == m_end)
            return false;
        switch (*m_p) {
        case '"':
            *kind = Kind::String;
            return true;
        case '{':
            *kind = Kind::Object;
            return true;
        case '[':
            *kind = Kind::Array;
            return true;
        case 't':
            *kind = Kind::True;
            return true;
        case 'f':
            *kind = Kind::False;
            return true;
        case 'n':
            *kind = Kind::Null;
            return true;
        default:
            *kind = Kind::Number;
            return *m_p == '-' || (*m_p >= '0' && *m_p <= '9');
        }
    }

    bool literal(const char *word)
    {
        skipSpace();
        const size_t size = std::strlen(word);
        if (size_t(m_end - m_p) < size || std::memcmp(m_p, word, size) != 0)
            return false;
        m_p += size;
        return true;
    }

    /*
        A key with neither escape nor byte beyond ASCII, its quotes and colon consumed; false
        for any other (the full reader decides).
    */
    bool key(QByteArrayView *key)
    {
        if (!take('"'))
            return false;
        const char *const start = m_p;
        while (m_p < m_end && *m_p != '"') {
            const uchar c = uchar(*m_p);
            if (c < 0x20 || c >= 0x80 || c == '\\')
                return false;
            ++m_p;
        }
        if (m_p == m_end)
            return false;
        *key = QByteArrayView(start, m_p - start);
        ++m_p;
        return take(':');
    }

    /*
        A string value as UTF-8 in \a utf8 (which it may point into the body). False for a
        control character, invalid UTF-8, a noncharacter U+FFFE or U+FFFF, an escaped U+0000,
        a lone surrogate or an unknown escape.
    */
    bool string(QByteArrayView *utf8, bool *ascii)
    {
        if (!take('"'))
            return false;
        const char *const start = m_p;
        *ascii = true;
        bool escaped = false;
        while (m_p < m_end && *m_p != '"') {
            const uchar c = uchar(*m_p);
            if (c < 0x20)
                return false;
            if (c == '\\') {
                escaped = true;
                m_p += 2;
            } else if (c >= 0x80) {
                *ascii = false;
                if (!skipUtf8())
                    return false;
            } else {
                ++m_p;
            }
        }
        if (m_p >= m_end)
            return false;
        const char *const stop = m_p++;
        if (!escaped) {
            *utf8 = QByteArrayView(start, stop - start);
            return true;
        }
        m_unescaped.clear();
        for (const char *p = start; p < stop; ++p) {
            if (*p != '\\') {
                m_unescaped.append(*p);
                continue;
            }
            ++p;
            switch (*p) {
            case '"':
            case '\\':
            case '/':
                m_unescaped.append(*p);
                break;
            case 'b':
                m_unescaped.append('\b');
                break;
            case 'f':
                m_unescaped.append('\f');
                break;
            case 'n':
                m_unescaped.append('\n');
                break;
            case 'r':
                m_unescaped.append('\r');
                break;
            case 't':
                m_unescaped.append('\t');
                break;
            case 'u': {
                char32_t code = 0;
                if (!hex4(p + 1, stop, &code))
                    return false;
                p += 4;
                if (code >= 0xdc00 && code < 0xe000)
                    return false;
                if (code >= 0xd800 && code < 0xdc00) {
                    char32_t low = 0;
                    if (stop - p < 7 || p[1] != '\\' || p[2] != 'u' || !hex4(p + 3, stop, &low)
                        || low < 0xdc00 || low >= 0xe000)
                        return false;
                    p += 6;
                    code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                }
                if (code == 0 || code == 0xfffe || code == 0xffff)
                    return false;
                *ascii = *ascii && code < 0x80;
                appendUtf8(code);
                break;
            }
            default:
                return false;
            }
        }
        *utf8 = QByteArrayView(m_unescaped);
        return true;
    }

    /*
        A number's text, when it is a JSON number that Qt reads as the protocol does: an integer
        within 64 bits (\a integer true, \a value set) or one with a fraction or an exponent.
        False for -0 and an integer beyond 64 bits, whose reading the full reader decides.
    */
    bool number(QByteArrayView *text, bool *integer, qint64 *value)
    {
        skipSpace();
        const char *const start = m_p;
        const bool negative = m_p < m_end && *m_p == '-';
        if (negative)
            ++m_p;
        const char *const digits = m_p;
        if (m_p < m_end && *m_p == '0')
            ++m_p;
        else if (!skipDigits())
            return false;
        const char *const digitsEnd = m_p;
        *integer = true;
        if (m_p < m_end && *m_p == '.') {
            ++m_p;
            *integer = false;
            if (!skipDigits())
                return false;
        }
        if (m_p < m_end && (*m_p == 'e' || *m_p == 'E')) {
            ++m_p;
            *integer = false;
            if (m_p < m_end && (*m_p == '+' || *m_p == '-'))
                ++m_p;
            if (!skipDigits())
                return false;
        }
        *text = QByteArrayView(start, m_p - start);
        if (!*integer)
            return true;
        if (digitsEnd - digits > 18 || (negative && *digits == '0'))
            return false; // beyond 64 bits maybe, or -0: the full reader knows
        qint64 n = 0;
        for (const char *p = digits; p < digitsEnd; ++p)
            n = n * 10 + (*p - '0');
        *value = negative ? -n : n;
        return true;
    }

    // Any JSON value, read over; false for anything unusual or nested deeper than 64.
    bool skipValue(int depth = 0)
    {
        Kind kind;
        if (depth > 64 || !peek(&kind))
            return false;
        QByteArrayView text;
        bool flag = false;
        qint64 integer = 0;
        switch (kind) {
        case Kind::String:
            return string(&text, &flag);
        case Kind::Number:
            return number(&text, &flag, &integer);
        case Kind::True:
            return literal("true");
        case Kind::False:
            return literal("false");
        case Kind::Null:
            return literal("null");
        case Kind::Array:
            take('[');
            if (take(']'))
                return true;
            do {
                if (!skipValue(depth + 1))
                    return false;
            } while (take(','));
            return take(']');
        case Kind::Object:
            take('{');
            if (take('}'))
                return true;
            do {
                QByteArrayView name;
                if (!key(&name) || !skipValue(depth + 1))
                    return false;
            } while (take(','));
            return take('}');
        }
        return false;
    }

private:
    void skipSpace()
    {
        while (m_p < m_end && (*m_p == ' ' || *m_p == '\n' || *m_p == '\r' || *m_p == '\t'))
            ++m_p;
    }

    bool skipDigits()
    {
        const char *const start = m_p;
        while (m_p < m_end && *m_p >= '0' && *m_p <= '9')
            ++m_p;
        return m_p > start;
    }

    // One UTF-8 sequence beyond ASCII, strictly valid (no overlong form, no surrogate, at most
    // U+10FFFF) and no U+FFFE or U+FFFF.
    bool skipUtf8()
    {
        const auto *p = reinterpret_cast<const uchar *>(m_p);
        const auto *end = reinterpret_cast<const uchar *>(m_end);
        int length = 0;
        char32_t code = 0;
        if (p[0] >= 0xc2 && p[0] <= 0xdf) {
            length = 2;
            code = p[0] & 0x1f;
        } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
            length = 3;
            code = p[0] & 0x0f;
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
            length = 4;
            code = p[0] & 0x07;
        } else {
            return false;
        }
        if (end - p < length)
            return false;
        for (int i = 1; i < length; ++i) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            code = (code << 6) | (p[i] & 0x3f);
        }
        const char32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
        if (code < least[length] || code > 0x10ffff || (code >= 0xd800 && code < 0xe000)
            || code == 0xfffe || code == 0xffff)
            return false;
        m_p += length;
        return true;
    }

    static bool hex4(const char *p, const char *end, char32_t *code)
    {
        if (end - p < 4)
            return false;
        *code = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = p[i];
            int digit = 0;
            if (c >= '0' && c <= '9')
                digit = c - '0';
            else if (c >= 'a' && c <= 'f')
                digit = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                digit = c - 'A' + 10;
            else
                return false;
            *code = (*code << 4) | char32_t(digit);
        }
        return true;
    }

    void appendUtf8(char32_t code)
    {
        if (code < 0x80) {
            m_unescaped.append(char(code));
        } else if (code < 0x800) {
            m_unescaped.append(char(0xc0 | (code >> 6)));
            m_unescaped.append(char(0x80 | (code & 0x3f)));
        } else if (code < 0x10000) {
            m_unescaped.append(char(0xe0 | (code >> 12)));
            m_unescaped.append(char(0x80 | ((code >> 6) & 0x3f)));
            m_unescaped.append(char(0x80 | (code & 0x3f)));
        } else {
            m_unescaped.append(char(0xf0 | (code >> 18)));
            m_unescaped.append(char(0x80 | ((code >> 12) & 0x3f)));
            m_unescaped.append(char(0x80 | ((code >> 6) & 0x3f)));
            m_unescaped.append(char(0x80 | (code & 0x3f)));
        }
    }

    const char *m_p;
    const char *const m_end;
    QByteArray m_unescaped;
};

QString toQString(QByteArrayView utf8, bool ascii)
{
    return ascii ? QString::fromLatin1(utf8) : QString::fromUtf8(utf8);
}

// A client identifier or changeId as Push::parse() takes it without fault.
bool readIdentifier(Reader &reader, QString *identifier)
{
    QByteArrayView utf8;
    bool ascii = false;
    if (!reader.string(&utf8, &ascii) || utf8.isEmpty())
        return false;
    *identifier = toQString(utf8, ascii);
    return identifier->size() <= MaxChangeIdLength && ServerValues::isStorableText(*identifier);
}

class ChangeReader final
{
public:
    ChangeReader(Reader &reader, const EntitySchema &schema)
        : m_reader(reader)
        , m_schema(schema)
    {
        for (const FieldSpec &field : schema.fields)
            m_names.append(field.name.toUtf8());
    }

    // One change, accepted whole; false for anything that is not (the full reader decides).
    bool read(PushChange *change)
    {
        enum Seen { ChangeId = 1, Id = 2, Base = 4, Deleted = 8, Data = 16 };
        int seen = 0;
        QVariantList values;
        if (!m_reader.take('{'))
            return false;
        if (m_reader.take('}'))
            return false;
        do {
            QByteArrayView name;
            if (!m_reader.key(&name))
                return false;
            int bit = 0;
            bool ok = true;
            if (name == "changeId") {
                bit = ChangeId;
                ok = readIdentifier(m_reader, &change->changeId);
            } else if (name == "id") {
                bit = Id;
                ok = readId(&change->id);
            } else if (name == "base") {
                bit = Base;
                ok = readBase(&change->base);
            } else if (name == "deleted") {
                bit = Deleted;
                ok = m_reader.literal("true") ? (change->deleted = true)
                                              : m_reader.literal("false");
            } else if (name == "data") {
                bit = Data;
                ok = readData(&values);
            } else {
                ok = m_reader.skipValue(); // not looked at
            }
            if (!ok || (seen & bit) != 0)
                return false;
            seen |= bit;
        } while (m_reader.take(','));
        if (!m_reader.take('}'))
            return false;
        if ((seen & (ChangeId | Id | Base | Deleted)) != (ChangeId | Id | Base | Deleted))
            return false;
        if (!change->deleted) {
            if (!(seen & Data))
                return false;
            change->values = std::move(values);
        }
        return true;
    }

private:
    bool readId(QString *id)
    {
        QByteArrayView utf8;
        bool ascii = false;
        if (!m_reader.string(&utf8, &ascii) || utf8.isEmpty() || utf8.size() > MaxIdBytes)
            return false;
        *id = toQString(utf8, ascii);
        return ascii || ServerValues::isStorableText(*id);
    }

    bool readBase(std::optional<QString> *base)
    {
        if (m_reader.literal("null"))
            return true;
        QByteArrayView utf8;
        bool ascii = false;
        if (!m_reader.string(&utf8, &ascii))
            return false;
        *base = toQString(utf8, ascii);
        return true;
    }

    // The record, strictly of its fields' types; a field left out is null. With deleted true
    // it is not looked at: a reading that fails here leaves the change to the full reader all
    // the same.
    bool readData(QVariantList *values)
    {
        const qsizetype fields = m_schema.fields.size();
        *values = QVariantList(fields);
        QVarLengthArray<bool, 64> seen(fields, false);
        if (!m_reader.take('{'))
            return false;
        if (m_reader.take('}'))
            return true;
        qsizetype next = 0;
        do {
            QByteArrayView name;
            if (!m_reader.key(&name))
                return false;
            const qsizetype index = fieldIndex(name, next);
            if (index < 0 || seen[index])
                return false;
            seen[index] = true;
            next = index + 1;
            if (!readValue(m_schema.fields.at(index).type, &(*values)[index]))
                return false;
        } while (m_reader.take(','));
        return m_reader.take('}');
    }

    qsizetype fieldIndex(QByteArrayView name, qsizetype guess) const
    {
        if (guess < m_names.size() && m_names.at(guess) == name)
            return guess;
        for (qsizetype i = 0; i < m_names.size(); ++i) {
            if (m_names.at(i) == name)
                return i;
        }
        return -1;
    }

    // A value as Push::parse() gives it: ServerValues::columnValue() of the strict value.
    bool readValue(FieldType type, QVariant *value)
    {
        Kind kind;
        if (!m_reader.peek(&kind))
            return false;
        if (kind == Kind::Null)
            return m_reader.literal("null");
        QByteArrayView text;
        bool flag = false;
        qint64 integer = 0;
        switch (type) {
        case FieldType::Bool:
            if (kind != Kind::True && kind != Kind::False)
                return false;
            *value = QVariant(qint64(kind == Kind::True ? 1 : 0));
            return m_reader.literal(kind == Kind::True ? "true" : "false");
        case FieldType::Int:
            if (kind != Kind::Number || !m_reader.number(&text, &flag, &integer) || !flag)
                return false;
            *value = QVariant(integer);
            return true;
        case FieldType::Real: {
            if (kind != Kind::Number || !m_reader.number(&text, &flag, &integer))
                return false;
            if (flag) {
                *value = QVariant(double(integer));
                return true;
            }
            bool ok = false;
            const double d = text.toDouble(&ok);
            // Beyond a double's range either way, the full reader decides.
            if (!ok || !std::isfinite(d) || (d == 0 && hasNonZeroDigit(text)))
                return false;
            *value = QVariant(d);
            return true;
        }
        case FieldType::String:
        case FieldType::DateTime:
        case FieldType::Decimal: {
            bool ascii = false;
            if (kind != Kind::String || !m_reader.string(&text, &ascii))
                return false;
            const QString string = toQString(text, ascii);
            if (type == FieldType::DateTime)
                return ServerValues::isTimestamp(string) && (*value = string, true);
            if (type == FieldType::Decimal)
                return Decimal::isValid(string) && (*value = string, true);
            QString what;
            std::optional<QVariant> column
                = ServerValues::columnValue(FieldType::String, QVariant(string), &what);
            if (!column)
                return false;
            *value = std::move(*column);
            return true;
        }
        }
        return false;
    }

    // Whether a number's mantissa has a digit other than 0 (1e-400 reads as 0).
    static bool hasNonZeroDigit(QByteArrayView text)
    {
        for (const char c : text) {
            if (c == 'e' || c == 'E')
                return false;
            if (c >= '1' && c <= '9')
                return true;
        }
        return false;
    }

    Reader &m_reader;
    const EntitySchema &m_schema;
    QList<QByteArray> m_names; // the fields' names in UTF-8, schema order
};

} // namespace

std::optional<PushRequest> readPlain(const QByteArray &body, const EntitySchema &schema)
{
    Reader reader(body);
    PushRequest request;
    bool client = false;
    bool changes = false;
    if (!reader.take('{') || reader.take('}'))
        return std::nullopt;
    do {
        QByteArrayView name;
        if (!reader.key(&name))
            return std::nullopt;
        if (name == "client") {
            if (client || !readIdentifier(reader, &request.client))
                return std::nullopt;
            client = true;
        } else if (name == "changes") {
            if (changes || !reader.take('[') || reader.take(']'))
                return std::nullopt; // {"changes": []} is rare: the full reader takes it
            changes = true;
            ChangeReader changeReader(reader, schema);
            do {
                if (request.changes.size() == MaxChanges)
                    return std::nullopt;
                PushChange change;
                if (!changeReader.read(&change))
                    return std::nullopt;
                request.changes.append(std::move(change));
            } while (reader.take(','));
            if (!reader.take(']'))
                return std::nullopt;
        } else if (!reader.skipValue()) {
            return std::nullopt;
        }
    } while (reader.take(','));
    if (!reader.take('}') || !reader.atEnd() || !client || !changes)
        return std::nullopt;
    return request;
}

} // namespace BatchSync::Push
