#include "jsontree.h"

#include <QStringDecoder>
#include <cmath>
#include <string>

namespace BatchSync {

const JsonNode *JsonNode::member(QStringView key) const
{
    for (const auto &[name, value] : members) {
        if (name == key)
            return &value;
    }
    return nullptr;
}

QString JsonNode::kindName(Kind kind)
{
    switch (kind) {
    case Kind::Null:
        return QStringLiteral("null");
    case Kind::Bool:
        return QStringLiteral("a boolean");
    case Kind::Number:
        return QStringLiteral("a number");
    case Kind::String:
        return QStringLiteral("a string");
    case Kind::Array:
        return QStringLiteral("a list");
    case Kind::Object:
        return QStringLiteral("an object");
    }
    return QString();
}

namespace {

class Reader
{
public:
    explicit Reader(QByteArrayView text)
        : m_at(text.data())
        , m_end(text.data() + text.size())
    {
    }

    std::optional<JsonNode> document()
    {
        JsonNode root;
        skipSpace();
        if (!value(&root, 0))
            return std::nullopt;
        skipSpace();
        if (m_at != m_end)
            return fail(QStringLiteral("unexpected text after the end of the document"));
        return root;
    }

    QString error() const { return m_error; }
    int line() const { return m_line; }

private:
    std::nullopt_t fail(const QString &message)
    {
        if (m_error.isEmpty())
            m_error = QStringLiteral("line %1: %2").arg(m_line).arg(message);
        return std::nullopt;
    }

    void skipSpace()
    {
        while (m_at != m_end) {
            if (*m_at == '\n')
                ++m_line;
            else if (*m_at != ' ' && *m_at != '\t' && *m_at != '\r')
                return;
            ++m_at;
        }
    }

    bool literal(const char *word)
    {
        const std::size_t size = std::char_traits<char>::length(word);
        if (std::size_t(m_end - m_at) < size || std::char_traits<char>::compare(m_at, word, size))
            return false;
        m_at += size;
        return true;
    }

    bool value(JsonNode *node, int depth)
    {
        node->line = m_line;
        if (m_at == m_end) {
            fail(QStringLiteral("the document ends where a value should be"));
            return false;
        }
        switch (*m_at) {
        case '{':
            return object(node, depth + 1);
        case '[':
            return array(node, depth + 1);
        case '"':
            node->kind = JsonNode::Kind::String;
            return string(&node->string);
        case 't':
        case 'f':
            node->kind = JsonNode::Kind::Bool;
            node->boolean = *m_at == 't';
            if (literal(node->boolean ? "true" : "false"))
                return true;
            break;
        case 'n':
            if (literal("null"))
                return true;
            break;
        default:
            if (*m_at == '-' || (*m_at >= '0' && *m_at <= '9')) {
                node->kind = JsonNode::Kind::Number;
                return number(&node->number);
            }
            break;
        }
        fail(QStringLiteral("expected a value (an object, a list, a string, a number, true, "
                            "false or null)"));
        return false;
    }

    bool object(JsonNode *node, int depth)
    {
        node->kind = JsonNode::Kind::Object;
        if (depth > JsonTree::MaxDepth) {
            fail(QStringLiteral("nested more than %1 levels deep").arg(JsonTree::MaxDepth));
            return false;
        }
        ++m_at; // '{'
        skipSpace();
        if (m_at != m_end && *m_at == '}') {
            ++m_at;
            return true;
        }
        for (;;) {
            if (m_at == m_end || *m_at != '"') {
                fail(QStringLiteral("expected a member's name in double quotes"));
                return false;
            }
            const int keyLine = m_line;
            QString key;
            if (!string(&key))
                return false;
            if (node->member(key)) {
                m_line = keyLine;
                fail(QStringLiteral("\"%1\" appears twice in one object").arg(key));
                return false;
            }
            skipSpace();
            if (m_at == m_end || *m_at != ':') {
                fail(QStringLiteral("expected ':' after \"%1\"").arg(key));
                return false;
            }
            ++m_at;
            skipSpace();
            JsonNode member;
            if (!value(&member, depth))
                return false;
            node->members.append({ key, std::move(member) });
            skipSpace();
            if (m_at != m_end && *m_at == ',') {
                ++m_at;
                skipSpace();
                continue;
            }
            if (m_at != m_end && *m_at == '}') {
                ++m_at;
                return true;
            }
            fail(QStringLiteral("expected ',' or '}' after a member"));
            return false;
        }
    }

    bool array(JsonNode *node, int depth)
    {
        node->kind = JsonNode::Kind::Array;
        if (depth > JsonTree::MaxDepth) {
            fail(QStringLiteral("nested more than %1 levels deep").arg(JsonTree::MaxDepth));
            return false;
        }
        ++m_at; // '['
        skipSpace();
        if (m_at != m_end && *m_at == ']') {
            ++m_at;
            return true;
        }
        for (;;) {
            JsonNode item;
            if (!value(&item, depth))
                return false;
            node->items.append(std::move(item));
            skipSpace();
            if (m_at != m_end && *m_at == ',') {
                ++m_at;
                skipSpace();
                continue;
            }
            if (m_at != m_end && *m_at == ']') {
                ++m_at;
                return true;
            }
            fail(QStringLiteral("expected ',' or ']' after a value in a list"));
            return false;
        }
    }

    static int hexDigit(char c)
    {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    }

    bool hex4(char16_t *unit)
    {
        if (m_end - m_at < 4)
            return false;
        int code = 0;
        for (int i = 0; i < 4; ++i) {
            const int digit = hexDigit(m_at[i]);
            if (digit < 0)
                return false;
            code = code * 16 + digit;
        }
        m_at += 4;
        *unit = char16_t(code);
        return true;
    }

    bool string(QString *out)
    {
        ++m_at; // '"'
        QByteArray utf8;
        for (;;) {
            if (m_at == m_end) {
                fail(QStringLiteral("a string is not closed"));
                return false;
            }
            const char c = *m_at++;
            if (c == '"')
                break;
            if (uchar(c) < 0x20) {
                fail(QStringLiteral("a control character inside a string (write it as \\n, "
                                    "\\t or \\u00XX)"));
                return false;
            }
            if (c != '\\') {
                utf8.append(c);
                continue;
            }
            if (m_at == m_end)
                continue; // reported as not closed
            const char escape = *m_at++;
            static const char from[] = "\"\\/bfnrt";
            static const char to[] = "\"\\/\b\f\n\r\t";
            if (const char *found = std::char_traits<char>::find(from, 8, escape)) {
                utf8.append(to[found - from]);
                continue;
            }
            char16_t unit = 0;
            if (escape != 'u' || !hex4(&unit)) {
                fail(QStringLiteral("a bad escape in a string"));
                return false;
            }
            char16_t units[2] = { unit, 0 };
            qsizetype count = 1;
            if (QChar::isHighSurrogate(unit)) {
                if (m_end - m_at < 6 || m_at[0] != '\\' || m_at[1] != 'u') {
                    fail(QStringLiteral("a lone surrogate escape in a string"));
                    return false;
                }
                m_at += 2;
                if (!hex4(&units[1]) || !QChar::isLowSurrogate(units[1])) {
                    fail(QStringLiteral("a lone surrogate escape in a string"));
                    return false;
                }
                count = 2;
            } else if (QChar::isLowSurrogate(unit)) {
                fail(QStringLiteral("a lone surrogate escape in a string"));
                return false;
            }
            utf8.append(QStringView(units, count).toUtf8());
        }
        QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
        *out = decoder.decode(utf8);
        if (decoder.hasError()) {
            fail(QStringLiteral("a string is not valid UTF-8"));
            return false;
        }
        return true;
    }

    bool number(double *out)
    {
        const char *start = m_at;
        if (*m_at == '-')
            ++m_at;
        const auto digits = [this] {
            const char *first = m_at;
            while (m_at != m_end && *m_at >= '0' && *m_at <= '9')
                ++m_at;
            return m_at - first;
        };
        const char *integral = m_at;
        const auto integralDigits = digits();
        bool ok = integralDigits > 0 && !(integralDigits > 1 && *integral == '0');
        if (ok && m_at != m_end && *m_at == '.') {
            ++m_at;
            ok = digits() > 0;
        }
        if (ok && m_at != m_end && (*m_at == 'e' || *m_at == 'E')) {
            ++m_at;
            if (m_at != m_end && (*m_at == '+' || *m_at == '-'))
                ++m_at;
            ok = digits() > 0;
        }
        if (!ok) {
            fail(QStringLiteral("a malformed number"));
            return false;
        }
        // QByteArrayView::toDouble reads the C locale's notation whatever the process's locale.
        *out = QByteArrayView(start, m_at - start).toDouble(&ok);
        if (!ok || !std::isfinite(*out)) {
            fail(QStringLiteral("a number too large"));
            return false;
        }
        return true;
    }

    const char *m_at;
    const char *m_end;
    int m_line = 1;
    QString m_error;
};

} // namespace

std::optional<JsonNode> JsonTree::parse(QByteArrayView text, QString *error, int *errorLine)
{
    Reader reader(text);
    std::optional<JsonNode> root = reader.document();
    if (!root) {
        *error = reader.error();
        if (errorLine)
            *errorLine = reader.line();
    }
    return root;
}

} // namespace BatchSync
