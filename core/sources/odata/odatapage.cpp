#include "odatapage.h"

#include "common/decimal.h"
#include "common/identifier.h"
#include "sources/odata/odataquery.h"
#include "sources/protocol/jsonscanner.h"

#include <QDate>
#include <QHash>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTime>
#include <QUrl>
#include <QUuid>
#include <cmath>
#include <limits>
#include <vector>

namespace BatchSync::OData {

using Protocol::detail::describeKind;
using Protocol::detail::JsonKind;
using Protocol::detail::JsonScanner;
using Protocol::detail::JsonString;
using Protocol::detail::JsonValue;

namespace {

// Where a property's value goes: a field of the schema, a key position, the change time.
struct Slot
{
    const Property *property = nullptr;
    int field = -1;
    int key = -1;
    bool changeTime = false;
};

bool isDecimalText(QStringView text)
{
    // JSON's number grammar, which OData's Decimal literals also follow.
    qsizetype p = 0;
    const auto digits = [&] {
        const qsizetype begin = p;
        while (p < text.size() && text.at(p) >= u'0' && text.at(p) <= u'9')
            ++p;
        return p > begin;
    };
    if (p < text.size() && text.at(p) == u'-')
        ++p;
    if (!digits())
        return false;
    if (p < text.size() && text.at(p) == u'.') {
        ++p;
        if (!digits())
            return false;
    }
    if (p < text.size() && (text.at(p) == u'e' || text.at(p) == u'E')) {
        ++p;
        if (p < text.size() && (text.at(p) == u'+' || text.at(p) == u'-'))
            ++p;
        if (!digits())
            return false;
    }
    return p == text.size();
}

bool isTimeOfDay(QStringView text)
{
    static const QStringList forms { QStringLiteral("HH:mm"), QStringLiteral("HH:mm:ss"),
                                     QStringLiteral("HH:mm:ss.z") };
    for (const QString &form : forms) {
        if (QTime::fromString(text.left(form == forms.last() ? 12 : text.size()).toString(), form)
                .isValid()) {
            return form != forms.last() || text.size() <= 20;
        }
    }
    return false;
}

QString jsonString(const QString &text)
{
    QString out = QStringLiteral("\"");
    for (const QChar c : text) {
        switch (c.unicode()) {
        case u'"':
            out += QStringLiteral("\\\"");
            break;
        case u'\\':
            out += QStringLiteral("\\\\");
            break;
        case u'\b':
            out += QStringLiteral("\\b");
            break;
        case u'\f':
            out += QStringLiteral("\\f");
            break;
        case u'\n':
            out += QStringLiteral("\\n");
            break;
        case u'\r':
            out += QStringLiteral("\\r");
            break;
        case u'\t':
            out += QStringLiteral("\\t");
            break;
        default:
            if (c.unicode() < 0x20)
                out += QStringLiteral("\\u%1").arg(c.unicode(), 4, 16, QLatin1Char('0'));
            else
                out += c;
        }
    }
    return out + u'"';
}

/*!
    \a value of \a property as the local database holds it (\a local) and as text for a key
    or a position (\a text). False with \a problem when it does not fit the type.
*/
bool convert(const Property &property, const JsonValue &value, QVariant *local, QString *text,
             QString *problem)
{
    const auto wrong = [&] {
        *problem = QStringLiteral("%1 is %2, not a value of type %3")
                       .arg(Identifier::quoted(property.name), describeKind(value.kind),
                            property.edmType);
        return false;
    };
    if (value.kind == JsonKind::Null) {
        *local = QVariant();
        text->clear();
        return true;
    }
    const bool isString = value.kind == JsonKind::String;
    const bool isNumber = value.kind == JsonKind::Number;
    switch (property.kind) {
    case EdmKind::String:
    case EdmKind::Enum:
        if (!isString)
            return wrong();
        *text = value.string.decode();
        *local = *text;
        return true;
    case EdmKind::Guid:
        if (!isString)
            return wrong();
        *text = value.string.decode().toLower();
        if (QUuid::fromString(*text).isNull() && *text != u"00000000-0000-0000-0000-000000000000")
            return wrong();
        *local = *text;
        return true;
    case EdmKind::Boolean:
        if (value.kind != JsonKind::Bool)
            return wrong();
        *text = value.boolean ? QStringLiteral("true") : QStringLiteral("false");
        *local = value.boolean;
        return true;
    case EdmKind::Integer: {
        // Numbers and (IEEE754Compatible) strings alike, from their text: exact.
        const QByteArray raw = isNumber ? value.number.rawText()
            : isString                  ? value.string.decode().toLatin1()
                                        : QByteArray();
        bool ok = false;
        const qlonglong integer = raw.toLongLong(&ok);
        if (!ok || raw.contains('+') || raw.contains(' '))
            return wrong();
        *text = QString::number(integer);
        *local = qint64(integer);
        return true;
    }
    case EdmKind::Double: {
        double real = 0;
        if (isNumber) {
            real = value.number.isInteger ? double(value.number.integer) : value.number.real;
        } else if (isString) {
            const QString word = value.string.decode();
            if (word == u"INF")
                real = std::numeric_limits<double>::infinity();
            else if (word == u"-INF")
                real = -std::numeric_limits<double>::infinity();
            else if (word == u"NaN")
                real = std::numeric_limits<double>::quiet_NaN();
            else if (bool ok = false; real = word.toDouble(&ok), !ok || !isDecimalText(word))
                return wrong();
        } else {
            return wrong();
        }
        *text = QString::number(real, 'g', 17);
        *local = real;
        return true;
    }
    case EdmKind::Decimal: {
        // A number's own text, or (IEEE754Compatible) a string's: exact, never a double. An
        // exponent is written out ("1.5E+3" is "1500"), as the local decimal type has none.
        const QString raw = isNumber ? QString::fromLatin1(value.number.rawText())
            : isString               ? value.string.decode()
                                     : QString();
        bool tooLong = false;
        const std::optional<QString> plain = Decimal::fromJsonNumber(raw, &tooLong);
        if (tooLong) {
            *problem = QStringLiteral("%1 is %2, which has more than %3 significant digits")
                           .arg(Identifier::quoted(property.name), raw.left(80))
                           .arg(Decimal::MaxSignificantDigits);
            return false;
        }
        if (!plain)
            return wrong();
        *text = *plain;
        *local = *plain;
        return true;
    }
    case EdmKind::DateTimeOffset: {
        if (!isString)
            return wrong();
        const std::optional<QString> time = canonicalTime(value.string.decode());
        if (!time)
            return wrong();
        *text = *time;
        *local = localTime(*time);
        return true;
    }
    case EdmKind::Date:
        if (!isString)
            return wrong();
        *text = value.string.decode();
        if (text->size() != 10 || !QDate::fromString(*text, Qt::ISODate).isValid())
            return wrong();
        *local = *text;
        return true;
    case EdmKind::TimeOfDay:
        if (!isString)
            return wrong();
        *text = value.string.decode();
        if (!isTimeOfDay(*text))
            return wrong();
        *local = *text;
        return true;
    }
    return wrong();
}

bool isCountKey(const JsonString &key)
{
    return key.equals("@odata.count") || key.equals("@count");
}

/*! \@odata.count, a number or (IEEE754Compatible) a string; nullopt when it is no count. */
std::optional<qint64> countOf(const JsonValue &value)
{
    bool ok = false;
    const qlonglong count = value.kind == JsonKind::Number ? value.number.rawText().toLongLong(&ok)
        : value.kind == JsonKind::String                   ? value.string.decode().toLongLong(&ok)
                                                           : 0;
    if (!ok || count < 0)
        return std::nullopt;
    return count;
}

class Reader
{
public:
    Reader(const QByteArray &body, const EntitySet &set, const EntitySchema &schema,
           RecordShape shape, ResponsePage *page, QString *problem)
        : m_scanner(body)
        , m_set(set)
        , m_schema(schema)
        , m_shape(shape)
        , m_page(page)
        , m_problem(problem)
    {
    }

    bool read()
    {
        if (!mapSlots())
            return false;
        char token = 0;
        if (!m_scanner.beginDocument(&token))
            return syntax();
        if (token != '{')
            return failWith(QStringLiteral("the response is not a JSON object"));
        bool more = false;
        bool sawValue = false;
        if (!m_scanner.firstMember(&more))
            return syntax();
        while (more) {
            JsonString key;
            if (!m_scanner.readKey(&key))
                return syntax();
            if (key.equals("value")) {
                if (m_scanner.peek() != '[')
                    return failWith(QStringLiteral("\"value\" is not an array of records"));
                if (!readRecords())
                    return false;
                sawValue = true;
            } else if (isCountKey(key)) {
                JsonValue value;
                if (!m_scanner.readValue(&value))
                    return syntax();
                const std::optional<qint64> count = countOf(value);
                if (!count)
                    return failWith(QStringLiteral("@odata.count is not a count"));
                m_page->count = *count;
            } else if (key.equals("@odata.nextLink") || key.equals("@nextLink")
                       || key.equals("@odata.deltaLink") || key.equals("@deltaLink")) {
                JsonValue value;
                if (!m_scanner.readValue(&value))
                    return syntax();
                if (value.kind != JsonKind::String)
                    return failWith(QStringLiteral("%1 is not a URL").arg(key.decode()));
                (key.decode().contains(QLatin1String("next")) ? m_page->nextLink
                                                              : m_page->deltaLink)
                    = value.string.decode();
            } else {
                JsonValue skipped;
                if (!m_scanner.readValue(&skipped))
                    return syntax();
            }
            if (!m_scanner.nextMember(&more))
                return syntax();
        }
        if (!m_scanner.endDocument())
            return syntax();
        if (!sawValue)
            return failWith(QStringLiteral("the response has no \"value\" array of records"));
        return true;
    }

private:
    bool mapSlots()
    {
        for (int k = 0; k < m_set.keys.size(); ++k) {
            Slot &slot = m_slots[m_set.keys.at(k).name];
            slot.property = &m_set.keys.at(k);
            slot.key = k;
        }
        if (m_shape == RecordShape::Keys)
            return true;
        for (int f = 0; f < m_schema.fields.size(); ++f) {
            const QString &name = m_schema.fields.at(f).name;
            const Property *column = nullptr;
            for (const Property &candidate : m_set.columns) {
                if (candidate.name == name)
                    column = &candidate;
            }
            if (!column) {
                return failWith(QStringLiteral("the service no longer has the property %1; "
                                               "sync again to read its metadata anew")
                                    .arg(Identifier::quoted(name)));
            }
            Slot &slot = m_slots[name];
            slot.property = column;
            slot.field = f;
        }
        if (!m_set.changeTime.isEmpty()) {
            Slot &slot = m_slots[m_set.changeTime];
            slot.changeTime = true;
            for (const Property &column : m_set.columns) {
                if (column.name == m_set.changeTime)
                    slot.property = &column;
            }
        }
        return true;
    }

    bool readRecords()
    {
        if (m_members.empty()) {
            for (auto it = m_slots.cbegin(); it != m_slots.cend(); ++it)
                m_members.emplace_back(it.key().toUtf8(), &it.value());
        }
        if (!m_scanner.enter())
            return syntax();
        bool more = false;
        if (!m_scanner.firstElement(&more))
            return syntax();
        const bool records = m_shape != RecordShape::Keys;
        const bool withTime = records && !m_set.changeTime.isEmpty();
        while (more) {
            const int index = int(m_page->changes.size()) + 1;
            if (m_scanner.peek() != '{')
                return failWith(QStringLiteral("record %1 is not a JSON object").arg(index));
            if (!m_scanner.enter())
                return syntax();
            Change change;
            if (records)
                change.values.resize(m_schema.fields.size());
            QStringList key(m_set.keys.size());
            QList<bool> haveKey(m_set.keys.size(), false);
            QString time;
            bool removed = false;
            QString entityId; // @id, or a 4.0 deleted entity's id
            QString valueProblem; // kept until it is known whether the entry is a removal
            bool member = false;
            if (!m_scanner.firstMember(&member))
                return syntax();
            while (member) {
                JsonString name;
                if (!m_scanner.readKey(&name))
                    return syntax();
                JsonValue value;
                if (!m_scanner.readValue(&value))
                    return syntax();
                const Slot *slot = findSlot(name);
                if (m_shape == RecordShape::Delta && (!slot || name.is("id", 2))) {
                    const QString memberName = name.decode();
                    if (memberName == u"@removed" || memberName == u"@odata.removed") {
                        removed = true;
                    } else if ((memberName == u"@id" || memberName == u"@odata.id"
                                || memberName == u"id")
                               && value.kind == JsonKind::String) {
                        if (memberName != u"id" || entityId.isEmpty())
                            entityId = value.string.decode();
                    } else if (memberName == u"@odata.context" && value.kind == JsonKind::String
                               && value.string.decode().endsWith(QLatin1String("$deletedEntity"))) {
                        removed = true;
                    }
                }
                if (slot && slot->property) {
                    QVariant local;
                    QString text;
                    QString problem;
                    if (!convert(*slot->property, value, &local, &text, &problem)) {
                        if (valueProblem.isEmpty())
                            valueProblem = problem;
                        if (!m_scanner.nextMember(&member))
                            return syntax();
                        continue;
                    }
                    if (slot->field >= 0)
                        change.values[slot->field] = local;
                    if (slot->key >= 0 && !local.isNull()) {
                        key[slot->key] = text;
                        haveKey[slot->key] = true;
                    }
                    if (slot->changeTime)
                        time = text;
                }
                if (!m_scanner.nextMember(&member))
                    return syntax();
            }
            if (removed) {
                if (haveKey.contains(false)) {
                    const std::optional<QStringList> fromId = keyFromEntityId(m_set, entityId);
                    if (!fromId) {
                        return failWith(QStringLiteral("removed entry %1 names no record of %2 "
                                                       "(id \"%3\")")
                                            .arg(index)
                                            .arg(Identifier::quoted(m_set.name),
                                                 Identifier::printable(entityId)));
                    }
                    key = *fromId;
                }
                change = Change();
                change.id = localId(m_set, key);
                change.deleted = true;
                m_page->changes.append(std::move(change));
                m_page->keys.append(std::move(key));
                m_page->times.append(QString());
                if (!m_scanner.nextElement(&more))
                    return syntax();
                continue;
            }
            if (!valueProblem.isEmpty())
                return failWith(QStringLiteral("record %1: %2").arg(index).arg(valueProblem));
            for (int k = 0; k < key.size(); ++k) {
                if (!haveKey.at(k)) {
                    return failWith(QStringLiteral("record %1 lacks its key property %2")
                                        .arg(index)
                                        .arg(Identifier::quoted(m_set.keys.at(k).name)));
                }
            }
            if (withTime && time.isEmpty()) {
                return failWith(QStringLiteral("record %1 (id %2) lacks its change time %3")
                                    .arg(index)
                                    .arg(Identifier::printable(localId(m_set, key)),
                                         Identifier::quoted(m_set.changeTime)));
            }
            change.id = localId(m_set, key);
            if (!time.isEmpty())
                change.changedAt = localTime(time);
            m_page->changes.append(std::move(change));
            m_page->keys.append(std::move(key));
            m_page->times.append(time);
            if (!m_scanner.nextElement(&more))
                return syntax();
        }
        return true;
    }

    bool syntax() { return failWith(m_scanner.errorMessage()); }
    bool failWith(const QString &problem)
    {
        *m_problem = problem;
        return false;
    }

    JsonScanner m_scanner;
    const EntitySet &m_set;
    const EntitySchema &m_schema;
    const RecordShape m_shape;
    ResponsePage *m_page;
    QString *m_problem;
    QHash<QString, Slot> m_slots;
    // The slots by their names' UTF-8 bytes: a record's members are matched without
    // decoding each name into a QString.
    std::vector<std::pair<QByteArray, const Slot *>> m_members;

    const Slot *findSlot(const JsonString &name) const
    {
        if (name.escaped) {
            const auto found = m_slots.constFind(name.decode());
            return found == m_slots.cend() ? nullptr : &*found;
        }
        for (const auto &[bytes, slot] : m_members) {
            if (name.is(bytes.constData(), bytes.size()))
                return slot;
        }
        return nullptr;
    }
};

} // namespace

bool parseResponse(const QByteArray &body, const EntitySet &set, const EntitySchema &schema,
                   RecordShape shape, ResponsePage *page, QString *problem)
{
    *page = ResponsePage();
    return Reader(body, set, schema, shape, page, problem).read();
}

bool peekResponse(const QByteArray &body, const EntitySet &set, const EntitySchema &schema,
                  RecordShape shape, PagePeek *peek)
{
    *peek = PagePeek();
    JsonScanner scanner(body);
    char token = 0;
    if (!scanner.beginDocument(&token) || token != '{')
        return false;
    bool more = false;
    if (!scanner.firstMember(&more))
        return false;
    qsizetype lastBegin = -1;
    qsizetype lastEnd = -1;
    while (more) {
        JsonString key;
        if (!scanner.readKey(&key))
            return false;
        JsonValue value;
        if (key.equals("value") && scanner.peek() == '[') {
            bool element = false;
            if (!scanner.enter() || !scanner.firstElement(&element))
                return false;
            while (element) {
                const qsizetype begin = body.size() - scanner.remaining();
                if (!scanner.readValue(&value))
                    return false;
                lastBegin = begin;
                lastEnd = body.size() - scanner.remaining();
                ++peek->received;
                if (!scanner.nextElement(&element))
                    return false;
            }
        } else {
            if (!scanner.readValue(&value))
                return false;
            if (isCountKey(key)) {
                const std::optional<qint64> count = countOf(value);
                if (!count)
                    return false; // the full reading says why
                peek->count = *count;
            } else if ((key.equals("@odata.nextLink") || key.equals("@nextLink"))
                       && value.kind == JsonKind::String) {
                peek->nextLink = value.string.decode();
            }
        }
        if (!scanner.nextMember(&more))
            return false;
    }
    if (peek->received == 0)
        return true;
    const QByteArray last = QByteArrayLiteral("{\"value\":[")
        + QByteArray::fromRawData(body.constData() + lastBegin, lastEnd - lastBegin) + "]}";
    ResponsePage page;
    QString problem;
    if (!parseResponse(last, set, schema, shape, &page, &problem) || page.keys.size() != 1)
        return false;
    peek->lastKey = page.keys.first();
    peek->lastTime = page.times.first();
    return true;
}

QString localId(const EntitySet &set, const QStringList &key)
{
    if (set.keys.size() == 1)
        return key.value(0);
    QString id = QStringLiteral("[");
    for (qsizetype k = 0; k < set.keys.size(); ++k) {
        if (k > 0)
            id += u',';
        switch (set.keys.at(k).kind) {
        case EdmKind::Integer:
        case EdmKind::Boolean:
        case EdmKind::Decimal:
        case EdmKind::Double:
            id += key.value(k);
            break;
        default:
            id += jsonString(key.value(k));
        }
    }
    return id + u']';
}

std::optional<QStringList> keyFromEntityId(const EntitySet &set, const QString &entityId)
{
    const QString decoded = QUrl::fromPercentEncoding(entityId.toUtf8());
    const qsizetype open = decoded.lastIndexOf(set.name + u'(');
    if (open < 0 || !decoded.endsWith(u')'))
        return std::nullopt;
    const QStringView inner = QStringView(decoded).mid(open + set.name.size() + 1,
                                                       decoded.size() - open - set.name.size() - 2);
    // Split on commas outside quotes; a quote inside a string is doubled.
    QList<QString> parts;
    QString part;
    bool quoted = false;
    for (qsizetype i = 0; i < inner.size(); ++i) {
        const QChar c = inner.at(i);
        if (c == u'\'')
            quoted = !quoted;
        if (c == u',' && !quoted) {
            parts.append(part);
            part.clear();
        } else {
            part += c;
        }
    }
    parts.append(part);
    if (quoted || parts.size() != set.keys.size())
        return std::nullopt;
    QStringList key(set.keys.size());
    for (qsizetype i = 0; i < parts.size(); ++i) {
        QString value = parts.at(i).trimmed();
        qsizetype position = i;
        const qsizetype equals = value.indexOf(u'=');
        if (equals > 0 && !value.startsWith(u'\'')) {
            const QString name = value.left(equals).trimmed();
            position = -1;
            for (qsizetype k = 0; k < set.keys.size(); ++k) {
                if (set.keys.at(k).name == name)
                    position = k;
            }
            if (position < 0)
                return std::nullopt;
            value = value.mid(equals + 1).trimmed();
        } else if (parts.size() > 1) {
            return std::nullopt; // a composite key names its parts
        }
        const Property &property = set.keys.at(position);
        if (value.size() >= 2 && value.startsWith(u'\'') && value.endsWith(u'\'')) {
            value
                = value.mid(1, value.size() - 2).replace(QStringLiteral("''"), QStringLiteral("'"));
        } else if (property.kind == EdmKind::Integer) {
            bool ok = false;
            const qlonglong integer = value.toLongLong(&ok);
            if (!ok)
                return std::nullopt;
            value = QString::number(integer);
        } else if (property.kind == EdmKind::Guid) {
            value = value.toLower();
        }
        if (value.isEmpty() || !key.at(position).isEmpty())
            return std::nullopt;
        key[position] = value;
    }
    return key;
}

QString errorMessage(const QByteArray &body)
{
    const QJsonObject error = QJsonDocument::fromJson(body).object().value(u"error").toObject();
    if (error.isEmpty())
        return QString();
    const QJsonValue messageValue = error.value(u"message");
    // OData 4.0 JSON allows {"lang", "value"} for the message too.
    const QString message = messageValue.isObject()
        ? messageValue.toObject().value(u"value").toString()
        : messageValue.toString();
    const QString code = error.value(u"code").toVariant().toString();
    if (message.isEmpty())
        return code;
    return code.isEmpty() ? message : QStringLiteral("%1 (%2)").arg(message, code);
}

} // namespace BatchSync::OData
