// Seeded random inputs for the protocol parser and validator: random bytes, mutations of
// valid bodies, and structurally valid JSON with random types. Nothing may crash (ASan
// checks memory), every failure must say why, and every success must satisfy the protocol's
// invariants. A failure prints the seed and the iteration; BATCHSYNC_TEST_SEED=<seed>
// reproduces it, BATCHSYNC_FUZZ_ITERATIONS=<n> changes the count.

#include "common/decimal.h"
#include "common/identifier.h"
#include "common/timestamp.h"
#include "common/types.h"
#include "sources/protocol/protocolparser.h"
#include "testutil/pagediff.h"
#include "testutil/referenceparser.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QRandomGenerator>
#include <QSet>
#include <QTest>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

using namespace BatchSync;
using BatchSync::Test::pageDifference;

namespace {

constexpr int MaxIdLength = 1024; // protocolparser.cpp's bounds
constexpr int MaxCursorLength = 4096;
constexpr int MaxErrorMessageLength = 500;

QString hexPreview(const QByteArray &body)
{
    QByteArray shown = body.left(300);
    QString text = QString::fromLatin1(shown.toPercentEncoding("{}[]\":,. -_"));
    if (body.size() > shown.size())
        text += QStringLiteral("... (%1 bytes)").arg(body.size());
    return text;
}

/*! A random generator of inputs; all randomness comes from one seeded QRandomGenerator. */
class Inputs
{
public:
    explicit Inputs(quint32 seed)
        : m_random(seed)
    {
    }

    QRandomGenerator &random() { return m_random; }
    int below(int n) { return n <= 0 ? 0 : int(m_random.bounded(n)); }
    bool chance(int percent) { return below(100) < percent; }

    // ---- names, values ----

    QString validName()
    {
        static const QString first
            = QStringLiteral("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
        static const QString rest = first + QStringLiteral("0123456789_");
        QString name(1, first.at(below(first.size())));
        const int length = below(12);
        for (int i = 0; i < length; ++i)
            name += rest.at(below(rest.size()));
        return name;
    }

    QString hostileName()
    {
        static const QStringList names {
            QStringLiteral("x; DROP TABLE y"),
            QStringLiteral("a\"b"),
            QStringLiteral("has space"),
            QStringLiteral("id"),
            QStringLiteral("ID"),
            QStringLiteral("_x"),
            QStringLiteral("sqlite_master"),
            QStringLiteral("SQLITE_temp"),
            QStringLiteral(""),
            QStringLiteral("1abc"),
            QString(65, u'a'),
            QStringLiteral("ünïcode"),
            QStringLiteral("a\nb"),
            QStringLiteral("tab\t"),
            QStringLiteral("a'b"),
            QStringLiteral("a]b"),
            QStringLiteral("a`b"),
            QStringLiteral("--"),
            QString(QChar(0)),
            QStringLiteral("\u202Eevil"),
            QStringLiteral("_sync_state"),
            QString(100000, u'n'),
        };
        return names.at(below(int(names.size())));
    }

    QString anyName() { return chance(75) ? validName() : hostileName(); }

    QString timestamp()
    {
        const qint64 ms = qint64(m_random.bounded(4102444800000.0)); // 1970..2100
        return Timestamp::format(QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC));
    }

    QString badTimestamp()
    {
        static const QStringList bad {
            QStringLiteral("2026-11-26T06:20:16Z"),
            QStringLiteral("2026-11-26 06:20:16.123Z"),
            QStringLiteral("2026-13-01T00:00:00.000Z"),
            QStringLiteral("2026-02-30T00:00:00.000Z"),
            QStringLiteral("2026-11-26T24:00:00.000Z"),
            QStringLiteral("2026-11-26T06:20:16.123+01:00"),
            QStringLiteral("yesterday"),
            QStringLiteral(""),
            QStringLiteral("２０２６-11-26T06:20:16.123Z"),
            QStringLiteral("2026-11-26T06:20:16.123Z "),
            QStringLiteral("+2026-11-26T06:20:16.123Z"),
            QStringLiteral("2026-11-26T06:20:60.000Z"),
            QStringLiteral("0000-00-00T00:00:00.000Z"),
        };
        return bad.at(below(int(bad.size())));
    }

    // A decimal value in plain notation; unless \a valid, sometimes one of the forms refused.
    QString decimalText(bool valid)
    {
        static const QStringList forms {
            QStringLiteral("0"),
            QStringLiteral("-0.003"),
            QStringLiteral("12.50"),
            QStringLiteral("12345678901234567890.123456789012345678"),
            QStringLiteral("123456789012345678901234567890123456789"), // 39 digits
            QStringLiteral("1e3"),
            QStringLiteral("007"),
            QStringLiteral("+1"),
            QStringLiteral(".5"),
            QStringLiteral("5."),
            QStringLiteral(" 1"),
            QStringLiteral(""),
            QStringLiteral("NaN"),
        };
        if (valid || chance(60)) {
            if (chance(20))
                return forms.at(below(4)); // the first four are valid
            return QString::number(below(2000000) - 1000000)
                + (chance(50) ? QString() : QStringLiteral(".%1").arg(below(100000)));
        }
        return forms.at(below(int(forms.size())));
    }

    QString randomString()
    {
        switch (below(8)) {
        case 0:
            return QString();
        case 1:
            return QString(chance(3) ? 200000 : below(5000), QChar(u'x')); // long
        case 2: { // unicode, including lone surrogates and control characters
            QString s;
            const int n = below(40);
            for (int i = 0; i < n; ++i)
                s += QChar(char16_t(m_random.bounded(0x10000)));
            return s;
        }
        case 3:
            return timestamp();
        case 4:
            return badTimestamp();
        case 5:
            return hostileName();
        default:
            return validName();
        }
    }

    double weirdNumber()
    {
        static const double numbers[] = {
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -5.0,
            1e300,
            -1e300,
            1e-300,
            9007199254740993.0,
            9223372036854775807.0,
            9223372036854775808.0,
            -9223372036854775808.0,
            18446744073709551616.0,
            std::numeric_limits<double>::max(),
            std::numeric_limits<double>::lowest(),
            std::numeric_limits<double>::denorm_min(),
            2147483648.0,
            4294967296.0,
            123456789.125,
        };
        return numbers[below(int(std::size(numbers)))];
    }

    QJsonValue randomScalar()
    {
        switch (below(6)) {
        case 0:
            return QJsonValue(QJsonValue::Null);
        case 1:
            return chance(50);
        case 2:
            return weirdNumber();
        case 3:
            return qint64(m_random.generate64());
        case 4:
            return double(below(2000) - 1000);
        default:
            return randomString();
        }
    }

    QJsonValue randomValue(int depth = 0)
    {
        if (depth > 4 || chance(60))
            return randomScalar();
        if (chance(50)) {
            QJsonArray array;
            const int n = below(5);
            for (int i = 0; i < n; ++i)
                array.append(randomValue(depth + 1));
            return array;
        }
        QJsonObject object;
        const int n = below(5);
        for (int i = 0; i < n; ++i)
            object.insert(anyName(), randomValue(depth + 1));
        return object;
    }

    /*! A value of \a type, or (when \a correct is false) probably of another type. */
    QJsonValue valueFor(FieldType type, bool correct)
    {
        if (!correct)
            return randomValue();
        if (chance(10))
            return QJsonValue(QJsonValue::Null);
        switch (type) {
        case FieldType::String:
            return chance(90) ? validName() : randomString();
        case FieldType::Int:
            return chance(80) ? double(below(1000000) - 500000) : double(qint64(1) << 52);
        case FieldType::Real:
            return chance(50) ? m_random.bounded(1.0e6) : double(below(1000));
        case FieldType::Bool:
            return chance(50);
        case FieldType::DateTime:
            return timestamp();
        case FieldType::Decimal:
            return decimalText(true);
        }
        return QJsonValue();
    }

    // ---- schemas and bodies ----

    EntitySchema validSchema()
    {
        EntitySchema schema;
        schema.name = validName();
        QSet<QString> seen;
        const int n = below(8);
        for (int i = 0; i < n; ++i) {
            QString name = validName();
            if (Identifier::isReserved(name) || seen.contains(name.toLower()))
                continue;
            seen.insert(name.toLower());
            schema.fields.append({ name, FieldType(below(6)) });
        }
        return schema;
    }

    QJsonObject schemaJson(const EntitySchema &schema)
    {
        QJsonArray fields;
        for (const FieldSpec &field : schema.fields)
            fields.append(QJsonObject { { QStringLiteral("name"), field.name },
                                        { QStringLiteral("type"), fieldTypeName(field.type) } });
        return QJsonObject { { QStringLiteral("name"), schema.name },
                             { QStringLiteral("fields"), fields } };
    }

    /*! A valid change for \a schema, as JSON. */
    QJsonObject validChange(const EntitySchema &schema, int index)
    {
        QJsonObject change { { QStringLiteral("id"),
                               QStringLiteral("id-%1-%2").arg(index).arg(below(1000)) },
                             { QStringLiteral("changedAt"), timestamp() } };
        const bool deleted = chance(15);
        if (deleted || chance(80))
            change.insert(QStringLiteral("deleted"), deleted);
        if (!deleted) {
            QJsonObject data;
            for (const FieldSpec &field : schema.fields) {
                if (chance(90))
                    data.insert(field.name, valueFor(field.type, true));
            }
            change.insert(QStringLiteral("data"), data);
        }
        return change;
    }

    QJsonObject validPage(const EntitySchema &schema, int count, bool withCursor)
    {
        QJsonArray changes;
        for (int i = 0; i < count; ++i)
            changes.append(validChange(schema, i));
        QJsonObject page { { QStringLiteral("changes"), changes },
                           { QStringLiteral("hasMore"), chance(50) } };
        if (withCursor)
            page.insert(QStringLiteral("cursor"),
                        chance(70) ? QJsonValue(QString::number(m_random.bounded(1000000)))
                                   : QJsonValue(double(m_random.bounded(1000000))));
        return page;
    }

    QJsonObject validEntities()
    {
        QJsonArray entities;
        QSet<QString> seen;
        const int n = below(5);
        for (int i = 0; i < n; ++i) {
            const EntitySchema schema = validSchema();
            if (Identifier::isReserved(schema.name) || seen.contains(schema.name.toLower()))
                continue;
            seen.insert(schema.name.toLower());
            entities.append(schemaJson(schema));
        }
        return QJsonObject { { QStringLiteral("entities"), entities } };
    }

    /*! Replaces a random node of \a value by something else (another type, weird values). */
    QJsonValue mutateJson(const QJsonValue &value, int depth = 0)
    {
        if (depth > 6 || chance(25) || !(value.isArray() || value.isObject()))
            return chance(50) ? randomValue() : randomScalar();
        if (value.isArray()) {
            QJsonArray array = value.toArray();
            if (array.isEmpty() || chance(10)) {
                array.append(randomValue());
                return array;
            }
            const int i = below(int(array.size()));
            if (chance(10))
                array.removeAt(i);
            else
                array[i] = mutateJson(array.at(i), depth + 1);
            return array;
        }
        QJsonObject object = value.toObject();
        const QStringList keys = object.keys();
        if (keys.isEmpty() || chance(10)) {
            object.insert(anyName(), randomValue());
            return object;
        }
        const QString key = keys.at(below(int(keys.size())));
        if (chance(15))
            object.remove(key);
        else
            object.insert(key, mutateJson(object.value(key), depth + 1));
        return object;
    }

    /*! Byte-level mutations of \a body. */
    QByteArray mutateBytes(QByteArray body)
    {
        static const QByteArray tokens[] = {
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            ",",
            "null",
            "true",
            "false",
            "-",
            "1e999",
            "\\u0000",
            "\\ud800",
            "\\",
            "0",
            "-0",
            "9223372036854775808",
            "\xff",
            "\xc3\x28",
            "\x00",
            "NaN",
            "Infinity",
            "/*",
            "\xef\xbb\xbf",
        };
        const int edits = 1 + below(6);
        for (int e = 0; e < edits; ++e) {
            const int at = below(int(body.size()) + 1);
            switch (below(6)) {
            case 0: // flip a bit
                if (!body.isEmpty())
                    body[qMin(at, int(body.size()) - 1)] ^= char(1 << below(8));
                break;
            case 1: // insert a random byte
                body.insert(at, char(below(256)));
                break;
            case 2: // delete a range
                body.remove(at, below(16));
                break;
            case 3: // insert a JSON-ish token
                body.insert(at, tokens[below(int(std::size(tokens)))]);
                break;
            case 4: // duplicate a range
                body.insert(at, body.mid(below(int(body.size()) + 1), below(64)));
                break;
            default: // truncate
                body.truncate(at);
                break;
            }
        }
        return body;
    }

    QByteArray randomBytes()
    {
        static const QByteArray alphabet = "{}[]\":,0123456789.-+eEtruefalsnul \\/\n";
        const int length = below(chance(90) ? 256 : 8192);
        QByteArray bytes(length, Qt::Uninitialized);
        const bool jsonish = chance(50);
        for (int i = 0; i < length; ++i)
            bytes[i] = jsonish ? alphabet.at(below(int(alphabet.size()))) : char(below(256));
        return bytes;
    }

    QByteArray deepNesting()
    {
        const int depth = 1 + below(5000);
        const bool arrays = chance(50);
        QByteArray body = arrays ? QByteArray("{\"changes\": ") : QByteArray();
        for (int i = 0; i < depth; ++i)
            body += arrays ? "[" : "{\"a\":";
        body += "1";
        if (chance(80)) {
            for (int i = 0; i < depth; ++i)
                body += arrays ? "]" : "}";
            if (arrays)
                body += ", \"cursor\": \"1\", \"hasMore\": false}";
        }
        return body;
    }

private:
    QRandomGenerator m_random;
};

// ---- the changes parser against the oracle ----

/*!
    Raw JSON text of GET .../changes bodies, written byte by byte so that every form a server
    may choose appears: escapes or raw UTF-8, number spellings, whitespace, key order, unknown
    keys, and (now and then) wrong types, bad timestamps and the rarer forms QJsonDocument also
    takes (escaped keys, raw control characters, lenient escapes and numbers). \c clean stays
    true while only the forms servers write were written.
*/
class PageWriter
{
public:
    explicit PageWriter(Inputs &inputs)
        : m_in(inputs)
    {
    }

    bool clean = true;

    QByteArray page(const EntitySchema &schema, int count, PagingMode mode)
    {
        QByteArray out;
        if (m_in.chance(3))
            out += "\xef\xbb\xbf";
        QList<QByteArray> members;
        QByteArray changes = "[" + space();
        for (int i = 0; i < count; ++i) {
            if (i > 0)
                changes += space() + ',' + space();
            changes += change(schema, i);
        }
        changes += space() + ']';
        members << key("changes") + changes;
        members << key("hasMore") + (m_in.chance(50) ? "true" : "false");
        if (mode == PagingMode::Cursor || m_in.chance(60)) {
            switch (m_in.below(mode == PagingMode::Cursor ? 3 : 5)) {
            case 0:
                members << key("cursor") + QByteArray::number(m_in.below(1000000));
                break;
            case 1:
                members << key("cursor") + integerText(true);
                break;
            case 2:
                members << key("cursor") + string(QString::number(m_in.below(100000)));
                break;
            case 3:
                members << key("cursor") + "null";
                break;
            default:
                members << key("cursor") + "\"\"";
                break;
            }
        }
        if (m_in.chance(10))
            members << key(unknownName()) + anyValue(0);
        if (m_in.chance(2)) {
            members << key("hasMore") + "true"; // a duplicate key
            clean = false;
        }
        out += space() + '{' + space() + joined(members) + space() + '}' + space();
        return out;
    }

private:
    Inputs &m_in;

    /*! A key no schema, change or page has ('-' is not in identifiers). */
    QByteArray unknownName() { return "-" + m_in.validName().toUtf8(); }

    bool perMille(int n) { return m_in.below(1000) < n; }

    QByteArray space()
    {
        static const char *const spaces[] = { " ", "\n", "\t", "\r\n  ", "  " };
        return m_in.chance(85) ? QByteArray() : QByteArray(spaces[m_in.below(5)]);
    }

    QByteArray key(const QByteArray &name)
    {
        return string(QString::fromUtf8(name), true) + space() + ':' + space();
    }

    QByteArray joined(QList<QByteArray> members)
    {
        if (m_in.chance(30)) { // another key order
            for (qsizetype i = members.size() - 1; i > 0; --i)
                members.swapItemsAt(i, m_in.below(int(i) + 1));
        }
        QByteArray out;
        for (qsizetype i = 0; i < members.size(); ++i) {
            if (i > 0)
                out += space() + ',' + space();
            out += members.at(i);
        }
        return out;
    }

    QByteArray string(const QString &text, bool isKey = false)
    {
        const bool upper = m_in.chance(20);
        const auto escape = [upper](char16_t u) {
            const QByteArray digits = QByteArray::number(uint(u), 16).rightJustified(4, '0');
            return "\\u" + (upper ? digits.toUpper() : digits);
        };
        // Rare per string: escapes in keys and "\a"-style escapes.
        const bool escapeKey = isKey && perMille(5);
        const bool lenient = !isKey && perMille(5);
        QByteArray out = "\"";
        for (qsizetype i = 0; i < text.size(); ++i) {
            const char16_t u = text.at(i).unicode();
            const bool escapeIt = isKey ? escapeKey && m_in.chance(50) : m_in.chance(4);
            if (escapeIt && isKey)
                clean = false; // no server escapes a key
            if (QChar::isHighSurrogate(u) && i + 1 < text.size()
                && QChar::isLowSurrogate(text.at(i + 1).unicode()) && !escapeIt) {
                out += QString(text.mid(i, 2)).toUtf8();
                ++i;
            } else if (QChar::isSurrogate(u) || escapeIt) {
                out += escape(u);
            } else if (u == u'"' || u == u'\\') {
                out += '\\';
                out += char(u);
            } else if (u == u'/' && m_in.chance(30)) {
                out += "\\/";
            } else if (u < 0x20) {
                static const char *const named[] = { "\\b", "\\t", "\\n", nullptr, "\\f", "\\r" };
                if (u >= 8 && u <= 13 && named[u - 8] && m_in.chance(70)) {
                    out += named[u - 8];
                } else if (m_in.chance(3)) {
                    out += char(u); // raw: not JSON, but QJsonDocument takes it
                    clean = false;
                } else {
                    out += escape(u);
                }
            } else if (u < 0x80) {
                if (lenient && u >= 'a' && u <= 'z' && m_in.chance(30)) {
                    out += "\\"; // "\a" is read as "a" by QJsonDocument alone
                    clean = false;
                }
                out += char(u);
            } else {
                out += QString(QChar(u)).toUtf8();
            }
        }
        out += '"';
        return out;
    }

    QString textValue()
    {
        switch (m_in.below(6)) {
        case 0: {
            QString s; // any UTF-16, lone surrogates included
            const int n = m_in.below(12);
            for (int i = 0; i < n; ++i)
                s += QChar(char16_t(m_in.random().bounded(0x10000)));
            return s;
        }
        case 1:
            return QStringLiteral("Zoë \"quoted\" \\ / tab\t nl\n 😀 € \u0001 \u007f");
        case 2:
            return QString(m_in.below(40), u'x') + QStringLiteral("\"")
                + QString(m_in.below(9), u'y');
        case 3:
            return QString();
        default:
            return m_in.validName();
        }
    }

    QByteArray integerText(bool cursor)
    {
        // Spellings QJsonDocument reads as an integer; the last ones are its lenient forms.
        static const char *const forms[] = { "0",
                                             "-0",
                                             "-0.0",
                                             "7.000",
                                             "1e3",
                                             "1E+2",
                                             "120e-1",
                                             "9007199254740993",
                                             "9007199254740993.0",
                                             "9223372036854775807",
                                             "-9223372036854775808",
                                             "-9223372036854775809",
                                             "1e18",
                                             "0e-400",
                                             "1.",
                                             "1.e5" };
        const int n = int(std::size(forms));
        if (!cursor && perMille(10)) {
            clean = false;
            return forms[n - 1 - m_in.below(2)];
        }
        if (m_in.chance(50))
            return QByteArray::number(qint64(m_in.random().generate64()) >> m_in.below(64));
        return forms[m_in.below(n - 2)];
    }

    QByteArray realText()
    {
        static const char *const forms[] = { "0.1",
                                             "-0.0",
                                             "1e300",
                                             "1.7976931348623157e308",
                                             "1e-320",
                                             "4.9e-324",
                                             "123456789012345678901234567890",
                                             "3.14159265358979323846264338327950288",
                                             "1e22",
                                             "1e23",
                                             "2.5E-3",
                                             "9223372036854775808",
                                             ".5" };
        const int n = int(std::size(forms));
        if (m_in.chance(60)) {
            char text[32];
            const double d = m_in.chance(50) ? (m_in.random().generateDouble() - 0.5) * 1e6
                                             : double(m_in.below(1000000)) / 100.0;
            return QByteArray(text, int(std::to_chars(text, text + 32, d).ptr - text));
        }
        if (perMille(10)) {
            clean = false;
            return forms[n - 1];
        }
        return forms[m_in.below(n - 1)];
    }

    QByteArray badValue()
    {
        // Invalid JSON or a number QJsonDocument refuses.
        static const char *const forms[]
            = { "1e400", "-1e999", "1e-400", "2.4e-324",  "01",           "+1",
                "-",     "NaN",    "tru",    "\"\\u12\"", "\"\xc3\x28\"", "\"\xed\xa0\x80\"",
                "[1,]",  "{\"a\"}" };
        return forms[m_in.below(int(std::size(forms)))];
    }

    QByteArray anyValue(int depth)
    {
        switch (m_in.below(depth > 3 ? 5 : 7)) {
        case 0:
            return "null";
        case 1:
            return m_in.chance(50) ? "true" : "false";
        case 2:
            return m_in.chance(50) ? integerText(false) : realText();
        case 3:
        case 4:
            return string(textValue());
        case 5: {
            QByteArray out = "[" + space();
            const int n = m_in.below(4);
            for (int i = 0; i < n; ++i)
                out += (i ? "," : "") + space() + anyValue(depth + 1);
            return out + space() + ']';
        }
        default: {
            QByteArray out = "{" + space();
            const int n = m_in.below(4);
            for (int i = 0; i < n; ++i) {
                out += (i ? "," : "") + space() + string(m_in.validName()) + ':'
                    + anyValue(depth + 1);
            }
            return out + space() + '}';
        }
        }
    }

    QByteArray value(FieldType type)
    {
        if (m_in.chance(8))
            return "null";
        if (perMille(5))
            return badValue();
        if (perMille(10))
            return anyValue(0); // probably the wrong type
        switch (type) {
        case FieldType::String:
            return string(textValue());
        case FieldType::Int:
            return integerText(false);
        case FieldType::Real:
            return m_in.chance(80) ? realText() : integerText(false);
        case FieldType::Bool:
            return m_in.chance(50) ? "true" : "false";
        case FieldType::DateTime:
            return string(perMille(990) ? m_in.timestamp() : m_in.badTimestamp());
        case FieldType::Decimal:
            return perMille(990) ? string(m_in.decimalText(false)) : realText();
        }
        return "null";
    }

    QByteArray change(const EntitySchema &schema, int index)
    {
        QList<QByteArray> members;
        if (!perMille(3)) {
            members << key("id")
                    + (perMille(5) ? anyValue(0)
                                   : string(m_in.chance(90) ? QStringLiteral("id-%1").arg(index)
                                                            : textValue()));
        }
        if (!perMille(3)) {
            members << key("changedAt")
                    + string(perMille(995) ? m_in.timestamp() : m_in.badTimestamp());
        }
        const bool deleted = m_in.chance(15);
        if (deleted || m_in.chance(70))
            members << key("deleted")
                    + (perMille(3) ? anyValue(0) : QByteArray(deleted ? "true" : "false"));
        if (!deleted || m_in.chance(20)) {
            if (perMille(5)) {
                members << key("data") + (m_in.chance(50) ? "null" : anyValue(0));
            } else {
                QList<QByteArray> fields;
                QSet<QString> written;
                for (const FieldSpec &field : schema.fields) {
                    if (!m_in.chance(90))
                        continue;
                    fields << key(field.name.toUtf8()) + value(field.type);
                    if (written.contains(field.name))
                        clean = false; // a name the schema repeats, written twice
                    written.insert(field.name);
                }
                if (perMille(5))
                    fields << key(unknownName()) + anyValue(0); // not in the schema
                if (!schema.fields.isEmpty() && perMille(5)) {
                    const FieldSpec &again
                        = schema.fields.at(m_in.below(int(schema.fields.size())));
                    fields << key(again.name.toUtf8()) + value(again.type); // a duplicate key
                    clean = false;
                }
                members << key("data") + '{' + space() + joined(fields) + space() + '}';
            }
        }
        if (m_in.chance(5))
            members << key(unknownName()) + anyValue(0);
        return '{' + space() + joined(members) + space() + '}';
    }
};

/*! Empty when \a value holds what Change::values promises for \a field. */
QString checkValue(const QVariant &value, const FieldSpec &field)
{
    if (value.isNull())
        return QString();
    const int id = value.typeId();
    switch (field.type) {
    case FieldType::String:
        return id == QMetaType::QString ? QString() : QStringLiteral("string field not a QString");
    case FieldType::Int:
        return id == QMetaType::LongLong ? QString() : QStringLiteral("int field not a qint64");
    case FieldType::Real:
        if (id != QMetaType::Double)
            return QStringLiteral("real field not a double");
        return std::isfinite(value.toDouble()) ? QString() : QStringLiteral("real not finite");
    case FieldType::Bool:
        return id == QMetaType::Bool ? QString() : QStringLiteral("bool field not a bool");
    case FieldType::DateTime:
        if (id != QMetaType::QString)
            return QStringLiteral("datetime field not a QString");
        return Timestamp::isValid(value.toString()) ? QString()
                                                    : QStringLiteral("datetime not a timestamp");
    case FieldType::Decimal:
        if (id != QMetaType::QString)
            return QStringLiteral("decimal field not a QString");
        return Decimal::isValid(value.toString()) ? QString()
                                                  : QStringLiteral("decimal not plain notation");
    }
    return QStringLiteral("unknown field type");
}

struct Stats
{
    QMap<QString, int> accepted;
    QMap<QString, int> rejected;
    int parses = 0;
};

} // namespace

class TestFuzz final : public QObject
{
    Q_OBJECT

private:
    quint32 m_seed = 0;
    int m_iterations = 20000;
    Stats m_stats;

    /*! Runs every parser on \a body and checks the invariants; empty when all hold. */
    QString check(const QByteArray &body, const QList<EntitySchema> &schemas, int limit,
                  PagingMode mode)
    {
        // parseEntities
        {
            QList<EntitySchema> entities { EntitySchema { QStringLiteral("sentinel"), {} } };
            const QList<EntitySchema> untouched = entities;
            QString error;
            ++m_stats.parses;
            if (Protocol::parseEntities(body, &entities, &error)) {
                ++m_stats.accepted[QStringLiteral("entities")];
                if (!error.isEmpty())
                    return QStringLiteral("parseEntities: success with an error message");
                QSet<QString> names;
                for (const EntitySchema &entity : std::as_const(entities)) {
                    const QString problem = Identifier::check(entity.name, u"entity");
                    if (!problem.isEmpty())
                        return QStringLiteral("parseEntities accepted: ") + problem;
                    if (names.contains(entity.name.toLower()))
                        return QStringLiteral("parseEntities accepted a duplicate: ") + entity.name;
                    names.insert(entity.name.toLower());
                    QSet<QString> fields;
                    for (const FieldSpec &field : entity.fields) {
                        const QString fieldProblem = Identifier::check(field.name, u"field");
                        if (!fieldProblem.isEmpty())
                            return QStringLiteral("parseEntities accepted: ") + fieldProblem;
                        if (fields.contains(field.name.toLower()))
                            return QStringLiteral("parseEntities accepted a duplicate field: ")
                                + field.name;
                        fields.insert(field.name.toLower());
                    }
                }
            } else {
                ++m_stats.rejected[QStringLiteral("entities")];
                if (error.trimmed().isEmpty())
                    return QStringLiteral("parseEntities failed without a message");
                if (entities != untouched)
                    return QStringLiteral("parseEntities wrote its output on failure");
            }
        }
        // parseCount
        {
            qint64 count = -42;
            QString error;
            ++m_stats.parses;
            if (Protocol::parseCount(body, &count, &error)) {
                ++m_stats.accepted[QStringLiteral("count")];
                if (count < 0)
                    return QStringLiteral("parseCount accepted %1").arg(count);
            } else {
                ++m_stats.rejected[QStringLiteral("count")];
                if (error.trimmed().isEmpty())
                    return QStringLiteral("parseCount failed without a message");
                if (count != -42)
                    return QStringLiteral("parseCount wrote its output on failure");
            }
        }
        // parseChanges, for each schema
        for (const EntitySchema &schema : schemas) {
            ChangePage page;
            page.cursor = QStringLiteral("sentinel");
            QString error;
            ++m_stats.parses;
            if (Protocol::parseChanges(body, schema, limit, mode, &page, &error)) {
                ++m_stats.accepted[QStringLiteral("changes")];
                if (page.changes.size() > qBound(1, limit, Protocol::MaxLimit))
                    return QStringLiteral("parseChanges accepted %1 changes for limit %2")
                        .arg(page.changes.size())
                        .arg(limit);
                if (mode == PagingMode::Cursor && page.cursor.isEmpty())
                    return QStringLiteral("parseChanges accepted no cursor in cursor mode");
                if (page.cursor.size() > MaxCursorLength)
                    return QStringLiteral("parseChanges accepted a cursor of %1 characters")
                        .arg(page.cursor.size());
                for (const Change &change : std::as_const(page.changes)) {
                    if (change.id.isEmpty() || change.id.size() > MaxIdLength)
                        return QStringLiteral("parseChanges accepted an id of %1 characters")
                            .arg(change.id.size());
                    if (!Timestamp::isValid(change.changedAt))
                        return QStringLiteral("parseChanges accepted changedAt ")
                            + Identifier::printable(change.changedAt);
                    if (change.deleted) {
                        if (!change.values.isEmpty())
                            return QStringLiteral("parseChanges: a deletion with values");
                        continue;
                    }
                    if (change.values.size() != schema.fields.size())
                        return QStringLiteral("parseChanges: %1 values for %2 fields")
                            .arg(change.values.size())
                            .arg(schema.fields.size());
                    for (int i = 0; i < schema.fields.size(); ++i) {
                        const QString problem
                            = checkValue(change.values.at(i), schema.fields.at(i));
                        if (!problem.isEmpty())
                            return QStringLiteral("parseChanges accepted field %1: %2")
                                .arg(schema.fields.at(i).name, problem);
                    }
                }
            } else {
                ++m_stats.rejected[QStringLiteral("changes")];
                if (error.trimmed().isEmpty())
                    return QStringLiteral("parseChanges failed without a message");
                if (page.cursor != u"sentinel" || !page.changes.isEmpty())
                    return QStringLiteral("parseChanges wrote its output on failure");
            }
        }
        // parseErrorMessage
        {
            ++m_stats.parses;
            const QString message = Protocol::parseErrorMessage(body);
            if (message.size() > MaxErrorMessageLength + 1)
                return QStringLiteral("parseErrorMessage: %1 characters").arg(message.size());
            for (const QChar c : message) {
                if (!c.isPrint())
                    return QStringLiteral("parseErrorMessage: unprintable U+%1")
                        .arg(c.unicode(), 4, 16, QLatin1Char('0'));
            }
        }
        return QString();
    }

private Q_SLOTS:
    void initTestCase()
    {
        bool ok = false;
        // A seed is any quint32, so not always an int.
        m_seed = qEnvironmentVariable("BATCHSYNC_TEST_SEED").toUInt(&ok);
        if (!ok)
            m_seed = QRandomGenerator::system()->generate();
        const int iterations = qEnvironmentVariableIntValue("BATCHSYNC_FUZZ_ITERATIONS", &ok);
        if (ok && iterations > 0)
            m_iterations = iterations;
        qInfo().noquote() << QStringLiteral("seed %1 (set BATCHSYNC_TEST_SEED=%1 to repeat), "
                                            "%2 iterations")
                                 .arg(m_seed)
                                 .arg(m_iterations);
    }

    void randomInputsKeepTheInvariants()
    {
        Inputs inputs(m_seed);
        QElapsedTimer timer;
        timer.start();
        QMap<QString, int> kinds;
        int validAccepted = 0;

        // Fixed seeds of each kind of body, mutated below.
        const EntitySchema fixed { QStringLiteral("customers"),
                                   { { QStringLiteral("name"), FieldType::String },
                                     { QStringLiteral("balance"), FieldType::Real },
                                     { QStringLiteral("active"), FieldType::Bool },
                                     { QStringLiteral("visits"), FieldType::Int },
                                     { QStringLiteral("since"), FieldType::DateTime } } };
        const QList<QByteArray> corpus {
            QJsonDocument(QJsonObject { { QStringLiteral("entities"),
                                          QJsonArray { inputs.schemaJson(fixed) } } })
                .toJson(),
            R"({"count": 120000})",
            QJsonDocument(inputs.validPage(fixed, 3, true)).toJson(QJsonDocument::Compact),
            R"({"error": "token refused"})",
        };

        for (int iteration = 0; iteration < m_iterations; ++iteration) {
            QList<EntitySchema> schemas { fixed, inputs.validSchema() };
            int limit = inputs.chance(90) ? 1 + inputs.below(Protocol::MaxLimit)
                                          : inputs.below(30000) - 10000;
            const PagingMode mode = inputs.chance(50) ? PagingMode::Cursor : PagingMode::Offset;
            QByteArray body;
            QString kind;
            bool mustAccept = false;
            const int pick = inputs.below(100);
            if (pick < 20) {
                kind = QStringLiteral("random bytes");
                body = inputs.randomBytes();
            } else if (pick < 45) {
                kind = QStringLiteral("byte mutation");
                body = inputs.mutateBytes(corpus.at(inputs.below(int(corpus.size()))));
            } else if (pick < 65) {
                kind = QStringLiteral("JSON mutation");
                const QJsonObject root
                    = QJsonDocument::fromJson(corpus.at(inputs.below(int(corpus.size())))).object();
                const QJsonValue mutated = inputs.mutateJson(root);
                body = mutated.isArray() ? QJsonDocument(mutated.toArray()).toJson()
                    : mutated.isObject() ? QJsonDocument(mutated.toObject()).toJson()
                                         : QJsonDocument(QJsonArray { mutated }).toJson();
            } else if (pick < 68) {
                kind = QStringLiteral("deep nesting");
                body = inputs.deepNesting();
            } else if (pick < 80) {
                // Structurally valid, with random schema/values that may or may not fit.
                kind = QStringLiteral("random-typed JSON");
                const EntitySchema &schema = schemas.at(inputs.below(2));
                QJsonObject page = inputs.validPage(schema, inputs.below(6), true);
                QJsonArray changes = page.value(QStringLiteral("changes")).toArray();
                for (int i = 0; i < changes.size(); ++i) {
                    QJsonObject change = changes.at(i).toObject();
                    QJsonObject data = change.value(QStringLiteral("data")).toObject();
                    for (const FieldSpec &field : schema.fields) {
                        if (inputs.chance(20))
                            data.insert(field.name, inputs.valueFor(field.type, false));
                    }
                    if (inputs.chance(5))
                        data.insert(inputs.anyName(), inputs.randomValue());
                    if (!change.value(QStringLiteral("deleted")).toBool())
                        change.insert(QStringLiteral("data"), data);
                    if (inputs.chance(5))
                        change.insert(QStringLiteral("id"), inputs.randomScalar());
                    if (inputs.chance(5))
                        change.insert(QStringLiteral("changedAt"), inputs.badTimestamp());
                    changes[i] = change;
                }
                page.insert(QStringLiteral("changes"), changes);
                if (inputs.chance(10))
                    page.insert(QStringLiteral("hasMore"), inputs.randomScalar());
                if (inputs.chance(10))
                    page.insert(QStringLiteral("cursor"), inputs.randomScalar());
                body = QJsonDocument(page).toJson(QJsonDocument::Compact);
            } else if (pick < 88) {
                kind = QStringLiteral("random entities");
                QJsonObject root = inputs.validEntities();
                QJsonArray entities = root.value(QStringLiteral("entities")).toArray();
                if (inputs.chance(70)) {
                    QJsonArray fields;
                    const int n = inputs.below(6);
                    for (int i = 0; i < n; ++i) {
                        fields.append(QJsonObject {
                            { QStringLiteral("name"), inputs.anyName() },
                            { QStringLiteral("type"),
                              inputs.chance(80)
                                  ? QJsonValue(fieldTypeName(FieldType(inputs.below(6))))
                                  : inputs.randomScalar() } });
                    }
                    entities.append(QJsonObject { { QStringLiteral("name"), inputs.anyName() },
                                                  { QStringLiteral("fields"), fields } });
                }
                root.insert(QStringLiteral("entities"), entities);
                body = QJsonDocument(root).toJson();
            } else if (pick < 92) {
                kind = QStringLiteral("random count/error");
                const QString key
                    = inputs.chance(50) ? QStringLiteral("count") : QStringLiteral("error");
                body = QJsonDocument(QJsonObject { { key, inputs.randomValue() } }).toJson();
            } else {
                // Valid by construction: must be accepted, with the values sent.
                kind = QStringLiteral("valid page");
                mustAccept = true;
                limit = 1 + inputs.below(Protocol::MaxLimit);
                const EntitySchema schema = schemas.at(inputs.below(2)); // a copy: replaced next
                schemas = { schema };
                const int count = qMin(limit, inputs.below(8));
                body = QJsonDocument(inputs.validPage(schema, count, true))
                           .toJson(QJsonDocument::Compact);
            }
            ++kinds[kind];

            const QString problem = check(body, schemas, limit, mode);
            QVERIFY2(problem.isEmpty(),
                     qPrintable(QStringLiteral("seed %1, iteration %2 (%3): %4; input: %5")
                                    .arg(m_seed)
                                    .arg(iteration)
                                    .arg(kind, problem, hexPreview(body))));
            if (mustAccept) {
                ChangePage page;
                QString error;
                QVERIFY2(Protocol::parseChanges(body, schemas.first(), limit, mode, &page, &error),
                         qPrintable(QStringLiteral("seed %1, iteration %2: a valid page was "
                                                   "refused: %3; input: %4")
                                        .arg(m_seed)
                                        .arg(iteration)
                                        .arg(error, hexPreview(body))));
                // The values are those sent.
                const QJsonArray sent = QJsonDocument::fromJson(body)
                                            .object()
                                            .value(QStringLiteral("changes"))
                                            .toArray();
                QCOMPARE(page.changes.size(), sent.size());
                for (int i = 0; i < sent.size(); ++i) {
                    const QJsonObject change = sent.at(i).toObject();
                    QCOMPARE(page.changes.at(i).id, change.value(QStringLiteral("id")).toString());
                    QCOMPARE(page.changes.at(i).changedAt,
                             change.value(QStringLiteral("changedAt")).toString());
                    if (page.changes.at(i).deleted)
                        continue;
                    const QJsonObject data = change.value(QStringLiteral("data")).toObject();
                    for (int f = 0; f < schemas.first().fields.size(); ++f) {
                        const FieldSpec &field = schemas.first().fields.at(f);
                        const QJsonValue v = data.value(field.name);
                        const QVariant got = page.changes.at(i).values.at(f);
                        if (v.isUndefined() || v.isNull()) {
                            QVERIFY(got.isNull());
                        } else if (field.type == FieldType::Int) {
                            QCOMPARE(got.toLongLong(), qint64(v.toDouble()));
                        } else if (field.type == FieldType::Real) {
                            QCOMPARE(got.toDouble(), v.toDouble());
                        } else if (field.type == FieldType::Bool) {
                            QCOMPARE(got.toBool(), v.toBool());
                        } else {
                            QCOMPARE(got.toString(), v.toString());
                        }
                    }
                }
                ++validAccepted;
            }
        }

        QStringList perKind;
        for (auto it = kinds.cbegin(); it != kinds.cend(); ++it)
            perKind << QStringLiteral("%1 %2").arg(it.value()).arg(it.key());
        QStringList outcomes;
        for (const QString &parser :
             { QStringLiteral("entities"), QStringLiteral("count"), QStringLiteral("changes") }) {
            outcomes << QStringLiteral("%1 %2 accepted / %3 refused")
                            .arg(parser)
                            .arg(m_stats.accepted.value(parser))
                            .arg(m_stats.rejected.value(parser));
        }
        qInfo().noquote()
            << QStringLiteral(
                   "fuzz summary: seed %1, %2 inputs (%3), %4 parser calls in %5 ms; %6; %7 valid "
                   "pages accepted with their values; no invariant broken")
                   .arg(m_seed)
                   .arg(m_iterations)
                   .arg(perKind.join(QLatin1String(", ")))
                   .arg(m_stats.parses)
                   .arg(timer.elapsed())
                   .arg(outcomes.join(QLatin1String("; ")))
                   .arg(validAccepted);
        // Each kind of input must have been tried, or the fuzzer is not doing its job.
        QVERIFY(m_iterations < 1000 || kinds.size() == 8);
        QVERIFY(m_iterations < 1000 || m_stats.accepted.value(QStringLiteral("changes")) > 0);
        QVERIFY(m_iterations < 1000 || m_stats.accepted.value(QStringLiteral("entities")) > 0);
    }

    void parserAgreesWithOracle()
    {
        // Protocol::parseChanges against the QJsonDocument walk of the tests' oracle, on
        // pages in the forms servers write, in rarer forms, and with bytes mutated: on every
        // body they must agree (outcome, fault and message, page to the bits of each double).
        Inputs inputs(m_seed ^ 0x5eedf00d);
        PageWriter writer(inputs);
        const EntitySchema customers { QStringLiteral("customers"),
                                       { { QStringLiteral("name"), FieldType::String },
                                         { QStringLiteral("balance"), FieldType::Real },
                                         { QStringLiteral("active"), FieldType::Bool },
                                         { QStringLiteral("visits"), FieldType::Int },
                                         { QStringLiteral("since"), FieldType::DateTime } } };
        // The same name twice: the oracle maps it to the last field (QHash::insert).
        const EntitySchema repeated { QStringLiteral("repeated"),
                                      { { QStringLiteral("a"), FieldType::Int },
                                        { QStringLiteral("b"), FieldType::Bool },
                                        { QStringLiteral("a"), FieldType::String } } };
        const EntitySchema unicode { QStringLiteral("unicode"),
                                     { { QStringLiteral("naïve"), FieldType::String } } };
        const int iterations = qMax(1, m_iterations / 4);
        int accepted = 0;
        int refused = 0;
        int cleanAccepted = 0;
        int mutated = 0;
        for (int iteration = 0; iteration < iterations; ++iteration) {
            const int pick = inputs.below(100);
            const EntitySchema schema = pick < 50 ? customers
                : pick < 90                       ? inputs.validSchema()
                : pick < 97                       ? repeated
                                                  : unicode;
            const PagingMode mode = inputs.chance(50) ? PagingMode::Cursor : PagingMode::Offset;
            const int count = inputs.below(12);
            const int limit = inputs.chance(90) ? qMax(1, count + inputs.below(3))
                : inputs.chance(50)             ? qMax(1, count - 1) // one too many
                                                : inputs.below(30000) - 10000;
            writer.clean = schema.name != u"unicode";
            QByteArray body = writer.page(schema, count, mode);
            if (inputs.chance(25)) {
                body = inputs.mutateBytes(body);
                writer.clean = false;
                ++mutated;
            }

            ChangePage reference;
            QString error;
            const bool ok
                = Test::parseChangesReference(body, schema, limit, mode, &reference, &error);
            const ChangePage untouched { { Change { QStringLiteral("keep"), {}, false, {} } },
                                         QStringLiteral("sentinel"),
                                         true,
                                         SyncPhase::Changes,
                                         false,
                                         false,
                                         -1,
                                         {} };
            ChangePage published = untouched;
            QString publishedError;
            const bool publishedOk
                = Protocol::parseChanges(body, schema, limit, mode, &published, &publishedError);

            QString problem;
            if (publishedOk != ok
                || Test::errorCategory(publishedError) != Test::errorCategory(error)
                || publishedError != error)
                problem = QStringLiteral("parseChanges: %1 \"%2\", the oracle: %3 \"%4\"")
                              .arg(publishedOk)
                              .arg(publishedError)
                              .arg(ok)
                              .arg(error);
            else if (const QString d = pageDifference(published, ok ? reference : untouched);
                     !d.isEmpty())
                problem = QStringLiteral("parseChanges and the oracle differ: ") + d;
            // The packed form of the same page: the same outcome and message, and the same
            // changes as the store would write them.
            ChangePage packed = untouched;
            QString packedError;
            const bool packedOk = Protocol::parseChanges(
                body, schema, limit, mode, &packed, &packedError, Protocol::ChangeForm::Packed);
            if (problem.isEmpty() && (packedOk != ok || packedError != error)) {
                problem = QStringLiteral("packed: %1 \"%2\", the oracle: %3 \"%4\"")
                              .arg(packedOk)
                              .arg(packedError)
                              .arg(ok)
                              .arg(error);
            } else if (problem.isEmpty() && ok
                       && (!packed.changes.isEmpty() || packed.packed.size() != reference.size())) {
                problem = QStringLiteral("packed: %1 listed and %2 packed changes, the oracle %3")
                              .arg(packed.changes.size())
                              .arg(packed.packed.size())
                              .arg(reference.size());
            } else if (problem.isEmpty()) {
                const QString d = ok
                    ? pageDifference(Test::unpacked(packed), Test::throughUtf8(reference))
                    : pageDifference(packed, untouched);
                if (!d.isEmpty())
                    problem = QStringLiteral("packed and the oracle differ: ") + d;
            }
            QVERIFY2(problem.isEmpty(),
                     qPrintable(QStringLiteral("seed %1, iteration %2, schema %3, limit %4: %5; "
                                               "input: %6")
                                    .arg(m_seed)
                                    .arg(iteration)
                                    .arg(schema.name)
                                    .arg(limit)
                                    .arg(problem, hexPreview(body))));
            ok ? ++accepted : ++refused;
            cleanAccepted += ok && writer.clean;
        }
        qInfo().noquote() << QStringLiteral("differential: seed %1, %2 bodies (%3 mutated): "
                                            "%4 valid (%5 written in plain forms), %6 invalid; "
                                            "no disagreement")
                                 .arg(m_seed)
                                 .arg(iterations)
                                 .arg(mutated)
                                 .arg(accepted)
                                 .arg(cleanAccepted)
                                 .arg(refused);
        // Both outcomes, and pages in the forms servers write, must have been exercised.
        QVERIFY(iterations < 1000 || (accepted > iterations / 10 && refused > iterations / 10));
        QVERIFY(iterations < 1000 || cleanAccepted > iterations / 20);
    }
};

QTEST_GUILESS_MAIN(TestFuzz)
#include "tst_fuzz.moc"
