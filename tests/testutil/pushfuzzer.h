#pragma once

// The generator of tst_pushfuzz: push bodies as JSON text that a mutation may make wrong
// anywhere, valid values of every field type, and hostile values, keys and bytes. All
// randomness comes from one seeded QRandomGenerator.

#include "common/types.h"

#include <QByteArray>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QList>
#include <QRandomGenerator>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace BatchSync::Test {

/*!
    JSON as text that may be wrong: an object's keys and a leaf's text are written as they
    are, so that a mutation can put anything anywhere.
*/
struct Json
{
    enum class Kind { Raw, Object, Array };
    Kind kind = Kind::Raw;
    QByteArray raw;
    std::vector<std::pair<QByteArray, Json>> members; // key text with its quotes
    std::vector<Json> items;

    static Json leaf(const QByteArray &text) { return { Kind::Raw, text, {}, {} }; }
    static Json string(const QString &text)
    {
        QByteArray quoted = QJsonDocument(QJsonArray { text }).toJson(QJsonDocument::Compact);
        return leaf(quoted.mid(1, quoted.size() - 2));
    }
    static Json object() { return { Kind::Object, {}, {}, {} }; }

    Json &add(const char *key, Json value)
    {
        members.emplace_back(QByteArray("\"") + key + '"', std::move(value));
        return *this;
    }

    QByteArray text() const
    {
        if (kind == Kind::Raw)
            return raw;
        QByteArray out(1, kind == Kind::Object ? '{' : '[');
        if (kind == Kind::Object) {
            for (std::size_t i = 0; i < members.size(); ++i)
                out += (i ? "," : "") + members[i].first + ':' + members[i].second.text();
        } else {
            for (std::size_t i = 0; i < items.size(); ++i)
                out += (i ? "," : "") + items[i].text();
        }
        return out + (kind == Kind::Object ? '}' : ']');
    }
};

// Values that break a field, a key or the shape: each is a JSON text, valid or not.
inline const QList<QByteArray> &hostileValues()
{
    static const QList<QByteArray> values {
        "null",
        "true",
        "false",
        "0",
        "1",
        "-1",
        "1.5",
        "1e2",
        "1E+2",
        "-0",
        "4.0",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "1e400",
        "-1e-400",
        "\"\"",
        "\"x\"",
        "\"\\u0000\"",
        "\"a\\u0000b\"",
        "\"\\ud800\"",
        "\"\\uffff\"",
        "\"2026-12-02T08:00:00.000Z\"",
        "\"2026-02-30T08:00:00.000Z\"",
        "\"2026-12-02 08:00:00\"",
        "\"2026-12-02T24:00:00.000Z\"",
        "\"2026-12-02T08:00:00Z\"",
        "\"true\"",
        "\"12\"",
        "[]",
        "{}",
        "[1,2]",
        "{\"a\":1}",
        "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
        "1.",
        "1e",
        ".5",
        "01",
        "+1",
        "--1",
        "1.2.3",
        "0x10",
        "NaN",
        "Infinity",
        "nul",
        "tru",
        "\"\xff\xfe\"",
        "\"\xc0\x80\"",
        "\"\xed\xa0\x80\"",
        "\"" + QByteArray(600, 'w') + "\"",
    };
    return values;
}

class Fuzzer
{
public:
    explicit Fuzzer(quint32 seed)
        : m_random(seed)
    {
    }

    int below(int n) { return n <= 0 ? 0 : int(m_random.bounded(n)); }
    bool chance(int percent) { return below(100) < percent; }

    // ---- valid values ----

    QString text()
    {
        static const QStringList pieces { "a",  "Z",  " ",  "é", "ß", "€", "中", "😀",
                                          "\\", "\"", "\n", "'", "0", "%", "<b>" };
        QString out;
        for (int i = below(12); i > 0; --i)
            out += pieces.at(below(pieces.size()));
        return out;
    }

    Json value(FieldType type)
    {
        if (chance(8))
            return Json::leaf("null");
        switch (type) {
        case FieldType::Bool:
            return Json::leaf(chance(50) ? "true" : "false");
        case FieldType::Int: {
            static const qint64 edges[] { 0, 1, -1, std::numeric_limits<qint64>::max(),
                                          std::numeric_limits<qint64>::min() };
            return Json::leaf(
                QByteArray::number(chance(20) ? edges[below(5)] : qint64(m_random.generate64())));
        }
        case FieldType::Real: {
            const double d = (m_random.generateDouble() - 0.5) * std::pow(10.0, below(40) - 20);
            return Json::leaf(QByteArray::number(d, 'g', 17));
        }
        case FieldType::String:
            return Json::string(text());
        case FieldType::DateTime:
            return Json::string(
                QDateTime::fromMSecsSinceEpoch(qint64(m_random.bounded(4e12)), Qt::UTC)
                    .toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss.zzzZ")));
        case FieldType::Decimal: {
            static const char *const edges[] { "0", "-0", "12.50", "-0.003", "007", "1e3",
                                               "+1", ".5", "5.", " 1", "" };
            if (chance(30))
                return Json::string(QString::fromLatin1(edges[below(11)]));
            return Json::string(QString::number(qint64(m_random.generate64()))
                                + QStringLiteral(".") + QString::number(below(1000)));
        }
        }
        return Json::leaf("null");
    }

    Json data(const EntitySchema &schema)
    {
        Json data = Json::object();
        for (const FieldSpec &field : schema.fields) {
            if (chance(85))
                data.members.emplace_back('"' + field.name.toUtf8() + '"', value(field.type));
        }
        return data;
    }

    // ---- mutations ----

    QByteArray hostileKey()
    {
        static const QList<QByteArray> keys {
            "\"\"",         "\"x\"",    "\"\\u0000\"", "\"name\\u0000\"", "\"Name\"",
            "\"changeid\"", "\"data\"", "\"id\"",      "\"\xff\"",        "1",
            "1.5",          "null",     "\"visits\""
        };
        return keys.at(below(keys.size()));
    }

    Json hostileValue()
    {
        if (chance(3)) {
            const int depth = chance(50) ? 300 : 5000;
            return Json::leaf(QByteArray(depth, '[') + QByteArray(depth, ']'));
        }
        if (chance(4)) { // an id or changeId at and beyond its limits
            static const QList<int> lengths { 128, 129, 170, 171, 256, 257, 512, 513 };
            const int length = lengths.at(below(lengths.size()));
            const QString unit = chance(50) ? QStringLiteral("i") : QStringLiteral("é");
            return Json::string(unit.repeated(unit == QLatin1String("i") ? length : length / 2));
        }
        return Json::leaf(hostileValues().at(below(hostileValues().size())));
    }

    // Every object member of \a node and below, as (object, index).
    void members(Json &node, std::vector<std::pair<Json *, std::size_t>> *out)
    {
        for (std::size_t i = 0; i < node.members.size(); ++i) {
            out->emplace_back(&node, i);
            members(node.members[i].second, out);
        }
        for (Json &item : node.items)
            members(item, out);
    }

    void mutate(Json &root)
    {
        std::vector<std::pair<Json *, std::size_t>> all;
        members(root, &all);
        if (all.empty())
            return;
        auto [object, index] = all.at(std::size_t(below(int(all.size()))));
        auto &member = object->members[index];
        Json *changes = nullptr;
        for (auto &[key, value] : root.members) {
            if (key == "\"changes\"" && value.kind == Json::Kind::Array)
                changes = &value;
        }
        switch (below(9)) {
        case 0:
        case 1:
        case 2:
            member.second = hostileValue();
            break;
        case 3:
            object->members.erase(object->members.begin() + std::ptrdiff_t(index));
            break;
        case 4: // a duplicate key: which one counts is the parser's choice, and both agree
            object->members.insert(object->members.begin() + std::ptrdiff_t(index),
                                   { member.first, hostileValue() });
            break;
        case 5:
            object->members.emplace_back(hostileKey(), hostileValue());
            break;
        case 6:
            member.first = hostileKey();
            break;
        case 7: // a change that is not an object, or one too many of them
            if (changes && !changes->items.empty()) {
                Json &item = changes->items.at(std::size_t(below(int(changes->items.size()))));
                if (chance(50))
                    item = hostileValue();
                else
                    changes->items.push_back(item);
            }
            break;
        default: // U+0000 at the start of a string
            if (member.second.kind == Json::Kind::Raw && member.second.raw.startsWith('"'))
                member.second.raw.insert(1, "\\u0000");
            break;
        }
    }

    QByteArray mutateBytes(QByteArray body)
    {
        switch (below(3)) {
        case 0:
            body.truncate(below(int(body.size())));
            break;
        case 1:
            for (int i = below(4) + 1; i > 0 && !body.isEmpty(); --i) {
                static const char bytes[]
                    = { '\0', '\xff', '\xc0', '\x80', '"', '\\', '{', ']',
                        ',',  ':',    '0',    'e',    '.', '-',  ' ', '\x7f' };
                body[below(int(body.size()))] = bytes[below(int(sizeof bytes))];
            }
            break;
        default: {
            const int at = below(int(body.size()));
            body.insert(at, hostileValues().at(below(hostileValues().size())));
            break;
        }
        }
        return body;
    }

private:
    QRandomGenerator m_random;
};

} // namespace BatchSync::Test
