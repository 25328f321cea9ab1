#pragma once

#include <QByteArray>
#include <QJsonParseError>
#include <QString>
#include <QtGlobal>
#include <cstring>

/*!
    \file jsonscanner.h
    Internal to BatchSync::Client, not part of its API (it may change at any time): a pull
    scanner over the UTF-8 bytes of a JSON document, for the single-pass changes parser. Any
    thread; one scanner per document.

    It takes and refuses exactly what QJsonDocument::fromJson (Qt 6) does, and on a syntax
    error stops with the same QJsonParseError code and byte offset, so that a syntax error
    reads the same whichever parser met it. What that means beyond RFC 8259:
    - a number's integer part, fraction and exponent digits may be empty ("1.", ".5", "-.5",
      "1.e5"), with QByteArray::toDouble deciding what it is worth; "01" is 0 followed by 1;
    - a number is a qint64 when its text is an integer that fits, or when its value is an
      integral double in [-2^63, 2^63) ("7.0", "1e3", "-0.0"); otherwise the double, and
      overflow or underflow to zero is an error;
    - strings may hold raw control characters; "\x" for any other byte x is that byte (as
      Latin-1); a \uXXXX escape is one UTF-16 unit, lone surrogates included;
    - well-formed UTF-8 is taken (noncharacters too), anything else is an error;
    - at most 1024 nested arrays and objects; a leading UTF-8 byte order mark is skipped.
*/

namespace BatchSync::Protocol::detail {

/*! What a JSON value is, in the words the protocol's messages use. */
enum class JsonKind { Missing, Null, Bool, Number, String, Array, Object };

/*! "null", "a bool", "a number", ..., or "nothing (missing)". */
QString describeKind(JsonKind kind);

/*! A JSON string as it stands in the document, between its quotes (already checked). */
struct JsonString
{
    const char *begin = nullptr;
    const char *end = nullptr;
    bool escaped = false; // holds a backslash
    bool ascii = true; // holds no byte above 0x7f

    qsizetype size() const { return end - begin; }

    /*! Whether the raw bytes are \a text; an escaped string never is. */
    bool is(const char *text, qsizetype length) const
    {
        // Keys are short: a loop beats a call to memcmp.
        if (escaped || size() != length)
            return false;
        for (qsizetype i = 0; i < length; ++i) {
            if (begin[i] != text[i])
                return false;
        }
        return true;
    }

    /*! Whether the string, unescaped, is the ASCII \a text. */
    template<std::size_t N> bool equals(const char (&text)[N]) const
    {
        if (!escaped)
            return is(text, qsizetype(N - 1));
        return decode() == QLatin1String(text, qsizetype(N - 1));
    }

    /*! The text, unescaped as QJsonDocument does. */
    Q_ALWAYS_INLINE QString decode() const
    {
        if (escaped)
            return decodeEscaped();
        return ascii ? QString::fromLatin1(begin, size()) : QString::fromUtf8(begin, size());
    }

private:
    QString decodeEscaped() const;
};

/*! A JSON number as QJsonDocument keeps it. */
struct JsonNumber
{
    bool isInteger = false;
    qint64 integer = 0;
    double real = 0;
    /*! The number's text as it stands in the document, for values that must stay exact. */
    const char *textBegin = nullptr;
    const char *textEnd = nullptr;

    QByteArray rawText() const { return QByteArray(textBegin, textEnd - textBegin); }

    /*! The value as messages show it: the integer, or the double with 17 digits. */
    QString text() const;
};

/*! Any JSON value; arrays and objects are skipped, only their kind is kept. */
struct JsonValue
{
    JsonKind kind = JsonKind::Missing;
    bool boolean = false;
    JsonString string;
    JsonNumber number;
};

class JsonScanner
{
public:
    explicit JsonScanner(const QByteArray &body)
        : m_head(body.constData())
        , m_p(body.constData())
        , m_end(body.constData() + body.size())
    {
    }
    Q_DISABLE_COPY_MOVE(JsonScanner)

    /*! "the response is not valid JSON: <what> at byte <offset>" after a false return. */
    QString errorMessage() const;

    // ---- the document ----

    /*! Skips a byte order mark and reads the first token: '{', '[' or an error. */
    bool beginDocument(char *token)
    {
        if (m_end - m_p > 3 && uchar(m_p[0]) == 0xef && uchar(m_p[1]) == 0xbb
            && uchar(m_p[2]) == 0xbf) {
            m_p += 3;
        }
        *token = nextToken();
        if (*token != '{' && *token != '[')
            return fail(QJsonParseError::IllegalValue);
        return enterContainer();
    }

    /*! After the top-level value: nothing but white space may follow. */
    bool endDocument()
    {
        eatSpace();
        return m_p == m_end || fail(QJsonParseError::GarbageAtEnd);
    }

    // ---- objects: after '{', firstMember; after each value, nextMember ----

    /*! Whether a member follows the opening brace (its opening quote read). */
    Q_ALWAYS_INLINE bool firstMember(bool *more)
    {
        const char token = nextToken();
        *more = token == '"';
        if (token == '"')
            return true;
        return token == '}' ? leaveContainer() : fail(QJsonParseError::UnterminatedObject);
    }

    /*! After a member's value: a comma and another member, or the closing brace. */
    Q_ALWAYS_INLINE bool nextMember(bool *more)
    {
        char token = nextToken();
        *more = false;
        if (token == ',') {
            token = nextToken();
            *more = token == '"';
            if (token == '"')
                return true;
            return fail(token == '}' ? QJsonParseError::MissingObject
                                     : QJsonParseError::UnterminatedObject);
        }
        return token == '}' ? leaveContainer() : fail(QJsonParseError::UnterminatedObject);
    }

    /*! The key whose opening quote was read, and the colon after it. */
    Q_ALWAYS_INLINE bool readKey(JsonString *key)
    {
        // Keys are short and plain: a byte loop first, the full scan for anything else.
        const char *p = m_p;
        while (p < m_end && *p != '"' && *p != '\\' && uchar(*p) < 0x80)
            ++p;
        if (p + 1 < m_end && *p == '"') {
            key->begin = m_p;
            key->end = p;
            key->escaped = false;
            key->ascii = true;
            m_p = p + 1;
        } else if (!scanString(key)) {
            return false;
        }
        return afterKey();
    }

    /*!
        When the key whose opening quote was read is exactly \a quoted (a name that needs no
        escaping, between quotes), consumes it; the caller then calls afterKey().
    */
    bool consumeKey(const QByteArray &quoted)
    {
        const qsizetype size = quoted.size() - 1; // the opening quote is read
        if (size <= 0 || m_end - m_p <= size
            || std::memcmp(m_p, quoted.constData() + 1, size_t(size)) != 0) {
            return false;
        }
        m_p += size;
        return true;
    }

    /*! The colon after a key, and the value's start. */
    Q_ALWAYS_INLINE bool afterKey()
    {
        if (nextToken() != ':')
            return fail(QJsonParseError::MissingNameSeparator);
        return eatSpace() || fail(QJsonParseError::UnterminatedObject);
    }

    // ---- arrays: after '[', firstElement; after each value, nextElement ----

    Q_ALWAYS_INLINE bool firstElement(bool *more)
    {
        *more = false;
        if (!eatSpace())
            return fail(QJsonParseError::UnterminatedArray);
        if (*m_p == ']') {
            ++m_p;
            return leaveContainer();
        }
        *more = true;
        return true;
    }

    Q_ALWAYS_INLINE bool nextElement(bool *more)
    {
        const char token = nextToken();
        *more = token == ',';
        if (token == ']')
            return leaveContainer();
        if (!eatSpace())
            return fail(QJsonParseError::UnterminatedArray);
        return token == ',' || fail(QJsonParseError::MissingValueSeparator);
    }

    // ---- values: the scanner stands on a value's first byte ----

    char peek() const { return *m_p; }

    /*! The bytes not read yet. */
    qsizetype remaining() const { return m_end - m_p; }

    /*! Consumes the '{' or '[' at the current position, which opens a container. */
    bool enter()
    {
        ++m_p;
        return enterContainer();
    }

    /*! Whether the value here is read by readNumber (QJsonDocument's own test). */
    bool atNumber() const
    {
        switch (*m_p) {
        case 'n':
        case 't':
        case 'f':
        case '"':
        case '[':
        case '{':
        case ',':
        case ']':
        case '}':
            return false;
        default:
            return true;
        }
    }

    /*! The string whose opening quote is at the current position. */
    Q_ALWAYS_INLINE bool readString(JsonString *string)
    {
        ++m_p;
        return scanString(string);
    }

    /*! true or false; anything else is left for readValue. */
    Q_ALWAYS_INLINE bool readBool(bool *value)
    {
        if (m_end - m_p > 4 && std::memcmp(m_p, "true", 4) == 0) {
            m_p += 4;
            *value = true;
            return true;
        }
        if (m_end - m_p > 5 && std::memcmp(m_p, "false", 5) == 0) {
            m_p += 5;
            *value = false;
            return true;
        }
        return false;
    }

    bool readNumber(JsonNumber *number);

    /*! Any value; arrays and objects are checked and skipped. */
    bool readValue(JsonValue *value);

private:
    bool fail(QJsonParseError::ParseError error) { return failAt(error, m_p - m_head); }
    bool failAt(QJsonParseError::ParseError error, qsizetype offset);

    bool enterContainer()
    {
        // QJsonDocument's limit, the top level included.
        return ++m_depth <= 1024 || fail(QJsonParseError::DeepNesting);
    }
    bool leaveContainer()
    {
        --m_depth;
        return true;
    }

    /*! Skips white space; false at the end of the document. */
    Q_ALWAYS_INLINE bool eatSpace()
    {
        // Compact JSON has none: one test in the common case.
        if (m_p < m_end && uchar(*m_p) > ' ')
            return true;
        return eatSpaceSlowly();
    }
    bool eatSpaceSlowly();

    /*!
        Reads the next byte that is not white space, or 0 at the end. (QJsonDocument maps
        every byte but the structural ones to 0; callers only ever compare with those.)
    */
    Q_ALWAYS_INLINE char nextToken() { return eatSpace() ? *m_p++ : '\0'; }

    bool scanString(JsonString *string);
    bool readLiteral(const char *rest, qsizetype length);
    bool skipContainer(JsonKind *kind);

    const char *const m_head;
    const char *m_p;
    const char *const m_end;
    int m_depth = 0;
    QJsonParseError::ParseError m_error = QJsonParseError::NoError;
    qsizetype m_errorOffset = 0;
};

} // namespace BatchSync::Protocol::detail
