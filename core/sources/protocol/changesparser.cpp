// The parser of GET /entities/{name}/changes: one pass over the UTF-8 bytes (JsonScanner),
// straight into the ChangePage, and the protocol's checks on the way.
//
// Its result is defined as that of walking the QJsonDocument of the body (the tests keep
// that walk as their oracle): a syntax error anywhere wins over any other fault; then the
// page's members are checked in the order changes, each change in turn, hasMore, cursor; a
// change's in the order id, changedAt, deleted, data, and its data's fields in the order of
// their keys. With duplicate keys the last one counts, keys compared after unescaping. So
// the scan notes the first fault of each part, reads on to the end for syntax errors, and
// reports the fault the walk would have met first.

#include "common/decimal.h"
#include "common/identifier.h"
#include "jsonscanner.h"
#include "protocolparser.h"
#include "protocolparser_p.h"

#include <QHash>
#include <QList>
#include <QStringEncoder>
#include <QVarLengthArray>
#include <algorithm>
#include <cmath>

namespace BatchSync::Protocol {

namespace {

using detail::describeKind;
using detail::JsonKind;
using detail::JsonNumber;
using detail::JsonScanner;
using detail::JsonString;
using detail::JsonValue;

template<typename Char> bool isTimestampText(const Char *p, qsizetype size)
{
    // YYYY-MM-DDTHH:MM:SS.mmmZ, a real date (proleptic Gregorian, no year 0) and a time of
    // day from 00:00:00.000 to 23:59:59.999: what QDateTime accepts and formats back as is.
    if (size != 24)
        return false;
    const auto digit = [p](int i) { return unsigned(p[i]) - unsigned('0'); };
    static constexpr int digitAt[] = { 0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22 };
    for (const int i : digitAt) {
        if (digit(i) > 9)
            return false;
    }
    if (p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':' || p[19] != '.'
        || p[23] != 'Z') {
        return false;
    }
    const unsigned year = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3);
    const unsigned month = digit(5) * 10 + digit(6);
    const unsigned day = digit(8) * 10 + digit(9);
    const unsigned hour = digit(11) * 10 + digit(12);
    const unsigned minute = digit(14) * 10 + digit(15);
    const unsigned second = digit(17) * 10 + digit(18);
    if (year == 0 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59
        || second > 59) {
        return false;
    }
    static constexpr unsigned char daysIn[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return day <= (month == 2 && leap ? 29u : daysIn[month - 1]);
}

bool isTimestamp(const QString &text)
{
    return isTimestampText(text.utf16(), text.size());
}

bool isTimestamp(const JsonString &string)
{
    // An escape or a byte above 0x7f in a timestamp's bytes fails the check either way.
    return string.escaped ? isTimestamp(string.decode())
                          : isTimestampText(string.begin, string.size());
}

/*! Whether \a string, unescaped, is a valid decimal (no allocation for a plain short one). */
bool isDecimal(const JsonString &string)
{
    constexpr qsizetype Short = 64;
    if (string.escaped || !string.ascii || string.size() > Short)
        return Decimal::isValid(string.decode());
    char16_t text[Short];
    for (qsizetype i = 0; i < string.size(); ++i)
        text[i] = char16_t(uchar(string.begin[i]));
    return Decimal::isValid(QStringView(text, string.size()));
}

/*! Whether \a string, unescaped, is longer than \a max UTF-16 units. */
bool longerThan(const JsonString &string, qsizetype max)
{
    // Each byte, of text or of an escape, gives at most one unit.
    if (string.size() <= max)
        return false;
    return (!string.escaped && string.ascii ? string.size() : string.decode().size()) > max;
}

/*! The checks of one value against the type of its field; the message names the field. */
QString valueProblem(const QString &name, FieldType type, const JsonValue &value,
                     const QString &text)
{
    const QString typeName = fieldTypeName(type);
    const QString got = describeKind(value.kind);
    switch (type) {
    case FieldType::String:
        return QStringLiteral("expected a string for field \"%1\" (%2), got %3")
            .arg(name, typeName, got);
    case FieldType::Int:
        if (value.kind == JsonKind::Number) {
            const double d = value.number.real;
            return (std::floor(d) == d ? QStringLiteral("expected an integer for field \"%1\" "
                                                        "(%2), got %3, which does not fit a "
                                                        "64-bit integer")
                                       : QStringLiteral("expected an integer for field \"%1\" "
                                                        "(%2), got %3"))
                .arg(name, typeName, value.number.text());
        }
        return QStringLiteral("expected an integer for field \"%1\" (%2), got %3")
            .arg(name, typeName, got);
    case FieldType::Real:
        return QStringLiteral("expected a number for field \"%1\" (%2), got %3")
            .arg(name, typeName, got);
    case FieldType::Bool:
        return QStringLiteral("expected true or false for field \"%1\" (%2), got %3")
            .arg(name, typeName, got);
    case FieldType::DateTime:
        if (value.kind == JsonKind::String) {
            return QStringLiteral("expected a timestamp (YYYY-MM-DDTHH:MM:SS.mmmZ, UTC) for "
                                  "field \"%1\" (%2), got \"%3\"")
                .arg(name, typeName, Identifier::printable(text));
        }
        return QStringLiteral("expected a timestamp string for field \"%1\" (%2), got %3")
            .arg(name, typeName, got);
    case FieldType::Decimal:
        if (value.kind == JsonKind::String) {
            return QStringLiteral("expected a decimal in plain notation for field \"%1\" (%2), "
                                  "got \"%3\", which %4")
                .arg(name, typeName, Identifier::printable(text), Decimal::problem(text));
        }
        return QStringLiteral("expected a decimal string (like \"12.50\") for field \"%1\" (%2), "
                              "got %3")
            .arg(name, typeName, got);
    }
    return QStringLiteral("field \"%1\" has an unsupported type").arg(name);
}

/*! The first fault the data object of a change holds, by the order of its keys. */
struct DataFault
{
    bool found = false;
    QString key;
    bool escaped = false; // the key as written
    QString problem; // empty: the key is not a field of the schema
};

/*!
    Whether key \a a comes before \a b in a QJsonObject: QJsonDocument keeps a key that has
    an escape as UTF-16 and any other as UTF-8, and compares two UTF-16 keys by their units,
    and otherwise by code points. (Only U+E000..U+FFFF against characters beyond U+FFFF
    order differently.)
*/
bool keyLess(const QString &a, bool aEscaped, const QString &b, bool bEscaped)
{
    if (aEscaped && bEscaped)
        return a < b;
    return a.toUcs4() < b.toUcs4();
}

class ChangesParser
{
public:
    ChangesParser(const QByteArray &body, const EntitySchema &schema, int maxChanges, bool packed)
        : m_json(body)
        , m_schema(schema)
        , m_maxChanges(maxChanges)
        , m_packed(packed)
        , m_values(schema.fields.size())
    {
        m_fields.reserve(schema.fields.size());
        for (int i = 0; i < schema.fields.size(); ++i) {
            const FieldSpec &spec = schema.fields.at(i);
            const bool ascii = std::all_of(spec.name.cbegin(), spec.name.cend(),
                                           [](QChar c) { return c.unicode() < 0x80; });
            const QByteArray name = ascii ? spec.name.toLatin1() : QByteArray();
            const bool plain = ascii && std::all_of(name.cbegin(), name.cend(), [](char c) {
                                   return uchar(c) >= 0x20 && c != '"' && c != '\\';
                               });
            // As the oracle's QHash: a name given twice means the last field of that name.
            const auto same = std::find_if(m_fields.cbegin(), m_fields.cend(),
                                           [&](const Field &f) { return nameOf(f) == spec.name; });
            Field field { name, plain ? '"' + name + '"' : QByteArray(), i, spec.type, ascii };
            if (same != m_fields.cend())
                m_fields[same - m_fields.cbegin()] = field;
            else
                m_fields.append(field);
        }
    }

    bool parse(PagingMode mode, ChangePage *page, QString *error);

private:
    struct Field
    {
        QByteArray name; // when ascii
        QByteArray quoted; // "name" as it stands in a body, when nothing needs escaping
        int index; // in the schema, and so in Change::values
        FieldType type;
        bool ascii; // if not, the field is only found through m_byName
    };

    const QString &nameOf(const Field &field) const { return m_schema.fields.at(field.index).name; }

    /*! What the page's "changes" member held (the last one, if several). */
    struct ChangeList
    {
        JsonKind kind = JsonKind::Missing;
        qsizetype count = 0;
        QList<Change> changes; // or, for a packed page:
        PackedChanges packed;
        QString fault; // the first change's that has one
    };

    /*!
        A field's value in the change being read, as it stands in the document (the last one
        given for its key): checked against the field's type, converted only when the change
        is added to the page.
    */
    struct Value
    {
        enum class Kind : quint8 { Null, Text, Integer, Real, Bool };
        Kind kind = Kind::Null;
        JsonString text;
        qint64 integer = 0; // Integer, Bool
        double real = 0;
    };

    /*! The change being read (its strings point into the body). */
    struct RawChange
    {
        JsonString id;
        JsonString changedAt;
        JsonString version;
        bool hasVersion = false;
        bool deleted = false;
    };

    bool readChangeList(ChangeList *list);
    bool readChange(qsizetype index, QString *fault);
    void addChange(ChangeList *list);
    void addPackedChange(PackedChanges *packed);
    void setText(PackedChanges *packed, PackedChanges::Cell *cell, const JsonString &text);
    bool readData(DataFault *fault);
    const Field *findField(const JsonString &key);
    void noteProblem(int field, bool escaped, const QString &problem);
    /*! A value that should be a string: its kind, and its text when it is one. */
    bool readText(JsonKind *kind, JsonString *text)
    {
        if (m_json.peek() != '"') {
            JsonValue value;
            const bool ok = m_json.readValue(&value);
            *kind = value.kind;
            return ok;
        }
        // A later duplicate key replaces it.
        if (!m_json.readString(text))
            return false;
        *kind = JsonKind::String;
        return true;
    }
    bool readFieldValue(const Field &field, QString *problem);

    JsonScanner m_json;
    const EntitySchema &m_schema;
    const int m_maxChanges;
    const bool m_packed; // the page's changes go to ChangePage::packed
    RawChange m_change;
    QList<Value> m_values; // of m_change, per field of the schema
    QStringEncoder m_encoder { QStringEncoder::Utf8, QStringConverter::Flag::Stateless };
    QList<Field> m_fields;
    QHash<QString, int> m_byName; // into m_fields, for keys that are escaped or not ASCII
                                  // (made when the first such key comes)
    qsizetype m_nextField = 0; // where findField looks first
    struct Problem
    {
        QString text; // empty: none
        bool escaped = false; // the key as written
    };
    QList<Problem> m_problems; // per field of m_fields: the fault of its value in this data
    QList<int> m_faulty; // the fields with a problem
};

bool ChangesParser::parse(PagingMode mode, ChangePage *page, QString *error)
{
    char token = 0;
    if (!m_json.beginDocument(&token)) {
        *error = m_json.errorMessage();
        return false;
    }
    ChangeList list;
    JsonValue hasMore;
    JsonValue cursor;
    JsonValue skipped;
    bool more = false;
    bool ok = token == '{' ? m_json.firstMember(&more) : m_json.firstElement(&more);
    while (ok && more) {
        if (token == '[') { // not a page: only checked to be JSON, for the right message
            ok = m_json.readValue(&skipped) && m_json.nextElement(&more);
            continue;
        }
        JsonString key;
        ok = m_json.readKey(&key);
        if (!ok)
            break;
        if (key.equals("changes"))
            ok = readChangeList(&list);
        else if (key.equals("hasMore"))
            ok = m_json.readValue(&hasMore);
        else if (key.equals("cursor"))
            ok = m_json.readValue(&cursor);
        else
            ok = m_json.readValue(&skipped);
        ok = ok && m_json.nextMember(&more);
    }
    if (!ok || !m_json.endDocument()) {
        *error = m_json.errorMessage();
        return false;
    }
    if (token == '[') {
        *error = QStringLiteral("expected a JSON object at the top level, got an array");
        return false;
    }

    if (list.kind == JsonKind::Missing) {
        *error = QStringLiteral("changes: missing (expected an array of changes)");
        return false;
    }
    if (list.kind != JsonKind::Array) {
        *error = QStringLiteral("changes: expected an array, got %1").arg(describeKind(list.kind));
        return false;
    }
    if (list.count > m_maxChanges) {
        *error = QStringLiteral("changes: the server sent %1 changes, more than the limit of %2 "
                                "that was asked for")
                     .arg(list.count)
                     .arg(m_maxChanges);
        return false;
    }
    if (!list.fault.isEmpty()) {
        *error = list.fault;
        return false;
    }

    if (hasMore.kind == JsonKind::Missing) {
        *error = QStringLiteral("hasMore: missing (expected true or false)");
        return false;
    }
    if (hasMore.kind != JsonKind::Bool) {
        *error = QStringLiteral("hasMore: expected true or false, got %1")
                     .arg(describeKind(hasMore.kind));
        return false;
    }

    QString cursorText;
    if (cursor.kind == JsonKind::String) {
        cursorText = cursor.string.decode();
    } else if (cursor.kind == JsonKind::Number) {
        if (!cursor.number.isInteger) {
            *error = QStringLiteral("cursor: expected a string or an integer, got %1")
                         .arg(cursor.number.text());
            return false;
        }
        cursorText = QString::number(cursor.number.integer);
    } else if (cursor.kind != JsonKind::Missing && cursor.kind != JsonKind::Null) {
        *error = QStringLiteral("cursor: expected a string, got %1").arg(describeKind(cursor.kind));
        return false;
    }
    if (cursorText.size() > detail::MaxCursorLength) {
        *error = QStringLiteral("cursor: is %1 characters long; at most %2 are supported")
                     .arg(cursorText.size())
                     .arg(detail::MaxCursorLength);
        return false;
    }
    if (mode == PagingMode::Cursor && cursorText.isEmpty()) {
        *error = cursor.kind == JsonKind::Missing || cursor.kind == JsonKind::Null
            ? QStringLiteral("cursor: missing (cursor mode needs the position after this page)")
            : QStringLiteral("cursor: is empty (cursor mode needs the position after this page)");
        return false;
    }

    list.packed.squeeze();
    page->changes = std::move(list.changes);
    page->packed = std::move(list.packed);
    page->cursor = std::move(cursorText);
    page->hasMore = hasMore.boolean;
    return true;
}

bool ChangesParser::readChangeList(ChangeList *list)
{
    *list = ChangeList();
    if (m_json.peek() != '[') {
        JsonValue value;
        const bool ok = m_json.readValue(&value);
        list->kind = value.kind;
        return ok;
    }
    list->kind = JsonKind::Array;
    bool more = false;
    if (!m_json.enter() || !m_json.firstElement(&more))
        return false;
    JsonValue skipped;
    while (more) {
        // Once the page has a fault, the rest is only counted and checked to be JSON.
        if (list->count < m_maxChanges && list->fault.isEmpty()) {
            // About 330 bytes per change for a typical entity; the limit bounds it anyway.
            if (list->count == 0) {
                const qsizetype expected
                    = qMin<qsizetype>(m_maxChanges, m_json.remaining() / 64 + 1);
                if (m_packed) {
                    list->packed = PackedChanges(int(m_schema.fields.size()));
                    // The text never outgrows the JSON it comes from, so it is never copied
                    // to grow; of a large page's room, only what is written takes memory
                    // (glibc maps it on its own, pages as they are touched).
                    list->packed.reserve(expected, m_json.remaining());
                } else {
                    list->changes.reserve(expected);
                }
            }
            if (!readChange(list->count, &list->fault))
                return false;
            if (list->fault.isEmpty())
                addChange(list);
        } else if (!m_json.readValue(&skipped)) {
            return false;
        }
        ++list->count;
        if (!m_json.nextElement(&more))
            return false;
    }
    return true;
}

bool ChangesParser::readChange(qsizetype index, QString *fault)
{
    const auto path = [index] { return QStringLiteral("changes[%1]").arg(index); };
    if (m_json.peek() != '{') {
        JsonValue value;
        if (!m_json.readValue(&value))
            return false;
        *fault = QStringLiteral("%1: expected a change object, got %2")
                     .arg(path(), describeKind(value.kind));
        return true;
    }
    RawChange &change = m_change;
    JsonKind id = JsonKind::Missing;
    JsonKind changedAt = JsonKind::Missing;
    JsonKind version = JsonKind::Missing;
    JsonValue deleted;
    JsonKind dataKind = JsonKind::Missing;
    DataFault dataFault;
    bool more = false;
    if (!m_json.enter() || !m_json.firstMember(&more))
        return false;
    while (more) {
        JsonString key;
        if (!m_json.readKey(&key))
            return false;
        bool ok = true;
        if (key.equals("id")) {
            ok = readText(&id, &change.id);
        } else if (key.equals("changedAt")) {
            ok = readText(&changedAt, &change.changedAt);
        } else if (key.equals("version")) {
            ok = readText(&version, &change.version);
        } else if (key.equals("deleted")) {
            if (m_json.readBool(&deleted.boolean))
                deleted.kind = JsonKind::Bool;
            else
                ok = m_json.readValue(&deleted);
        } else if (key.equals("data")) {
            // Read as a live change's data, whether or not the change turns out deleted.
            dataFault = DataFault();
            if (m_json.peek() == '{') {
                dataKind = JsonKind::Object;
                ok = readData(&dataFault);
            } else {
                JsonValue value;
                ok = m_json.readValue(&value);
                dataKind = value.kind;
            }
        } else {
            JsonValue skipped;
            ok = m_json.readValue(&skipped);
        }
        if (!ok || !m_json.nextMember(&more))
            return false;
    }

    if (id == JsonKind::Missing) {
        *fault = QStringLiteral("%1.id: missing").arg(path());
        return true;
    }
    if (id != JsonKind::String) {
        *fault = QStringLiteral("%1.id: expected a string, got %2").arg(path(), describeKind(id));
        return true;
    }
    if (change.id.size() == 0) {
        *fault = QStringLiteral("%1.id: is empty").arg(path());
        return true;
    }
    if (longerThan(change.id, detail::MaxIdLength)) {
        *fault = QStringLiteral("%1.id: is %2 characters long; at most %3 are supported")
                     .arg(path())
                     .arg(change.id.decode().size())
                     .arg(detail::MaxIdLength);
        return true;
    }
    const auto printableId = [&change] { return Identifier::printable(change.id.decode()); };

    if (changedAt == JsonKind::Missing) {
        *fault = QStringLiteral("%1.changedAt: missing (change \"%2\")").arg(path(), printableId());
        return true;
    }
    if (changedAt != JsonKind::String) {
        *fault = QStringLiteral("%1.changedAt: expected a timestamp string, got %2 (change \"%3\")")
                     .arg(path(), describeKind(changedAt), printableId());
        return true;
    }
    if (!isTimestamp(change.changedAt)) {
        *fault = QStringLiteral("%1.changedAt: \"%2\" is not a timestamp of the form "
                                "YYYY-MM-DDTHH:MM:SS.mmmZ (UTC) (change \"%3\")")
                     .arg(path(), Identifier::printable(change.changedAt.decode()), printableId());
        return true;
    }
    // Protocol v1.1: the record's version after the change; absent or null from a v1 server.
    if (version != JsonKind::Missing && version != JsonKind::Null && version != JsonKind::String) {
        *fault = QStringLiteral("%1.version: expected a string, got %2 (change \"%3\")")
                     .arg(path(), describeKind(version), printableId());
        return true;
    }
    change.hasVersion = version == JsonKind::String;

    if (deleted.kind != JsonKind::Missing && deleted.kind != JsonKind::Bool) {
        *fault = QStringLiteral("%1.deleted: expected true or false, got %2 (change \"%3\")")
                     .arg(path(), describeKind(deleted.kind), printableId());
        return true;
    }
    change.deleted = deleted.boolean;
    if (change.deleted) {
        // A tombstone's data, if a server sends any, is not used.
        if (dataKind != JsonKind::Missing && dataKind != JsonKind::Null
            && dataKind != JsonKind::Object) {
            *fault = QStringLiteral("%1.data: expected an object or null, got %2 (change \"%3\")")
                         .arg(path(), describeKind(dataKind), printableId());
        }
        return true;
    }
    if (dataKind == JsonKind::Missing || dataKind == JsonKind::Null) {
        *fault = QStringLiteral("%1.data: missing (change \"%2\" is not deleted, so it needs "
                                "its data)")
                     .arg(path(), printableId());
        return true;
    }
    if (dataKind != JsonKind::Object) {
        *fault = QStringLiteral("%1.data: expected an object, got %2 (change \"%3\")")
                     .arg(path(), describeKind(dataKind), printableId());
        return true;
    }
    if (dataFault.found) {
        *fault = dataFault.problem.isEmpty()
            ? QStringLiteral("%1.data: unknown field \"%2\" (not in the schema of entity \"%3\"; "
                             "the schema must be refreshed) (change \"%4\")")
                  .arg(path(), Identifier::printable(dataFault.key), m_schema.name, printableId())
            : QStringLiteral("%1.data.%2: %3 (change \"%4\")")
                  .arg(path(), dataFault.key, dataFault.problem, printableId());
    }
    return true;
}

// The change read last, which has no fault, onto the page.
void ChangesParser::addChange(ChangeList *list)
{
    if (m_packed) {
        addPackedChange(&list->packed);
        return;
    }
    Change &change = list->changes.emplace_back();
    change.id = m_change.id.decode();
    change.changedAt = m_change.changedAt.decode();
    if (m_change.hasVersion)
        change.version = m_change.version.decode();
    change.deleted = m_change.deleted;
    if (change.deleted)
        return;
    change.values.reserve(m_values.size());
    for (const Value &value : std::as_const(m_values)) {
        switch (value.kind) {
        case Value::Kind::Null:
            change.values.emplaceBack();
            break;
        case Value::Kind::Text:
            // Moved in rather than copied (QVariant has no QString&& constructor).
            *static_cast<QString *>(
                change.values.emplaceBack(QMetaType::fromType<QString>()).data())
                = value.text.decode();
            break;
        case Value::Kind::Integer:
            change.values.emplaceBack(qlonglong(value.integer));
            break;
        case Value::Kind::Real:
            change.values.emplaceBack(value.real);
            break;
        case Value::Kind::Bool:
            change.values.emplaceBack(value.integer != 0);
            break;
        }
    }
}

void ChangesParser::addPackedChange(PackedChanges *packed)
{
    PackedChanges::Cell *cells = packed->appendChange();
    setText(packed, &cells[0], m_change.id);
    cells[0].deleted = m_change.deleted;
    setText(packed, &cells[1], m_change.changedAt);
    if (m_change.hasVersion)
        setText(packed, &cells[2], m_change.version);
    if (m_change.deleted)
        return;
    PackedChanges::Cell *cell = cells + 3;
    for (const Value &value : std::as_const(m_values)) {
        switch (value.kind) {
        case Value::Kind::Null:
            break;
        case Value::Kind::Text:
            setText(packed, cell, value.text);
            break;
        case Value::Kind::Integer:
            cell->kind = PackedChanges::Kind::Integer;
            cell->integer = value.integer;
            break;
        case Value::Kind::Real:
            cell->kind = PackedChanges::Kind::Real;
            cell->real = value.real;
            break;
        case Value::Kind::Bool:
            cell->kind = PackedChanges::Kind::Bool;
            cell->integer = value.integer;
            break;
        }
        ++cell;
    }
}

void ChangesParser::setText(PackedChanges *packed, PackedChanges::Cell *cell,
                            const JsonString &text)
{
    // UTF-8 that the scanner checked, as it stands; escaped, the decoded text as the store
    // would encode it.
    if (!text.escaped) {
        packed->setText(cell, text.begin, text.size());
        return;
    }
    const QString decoded = text.decode();
    QVarLengthArray<char, 256> utf8(m_encoder.requiredSpace(decoded.size()));
    const char *end = m_encoder.appendToBuffer(utf8.data(), decoded);
    packed->setText(cell, utf8.constData(), end - utf8.constData());
}

const ChangesParser::Field *ChangesParser::findField(const JsonString &key)
{
    const qsizetype count = m_fields.size();
    if (!key.escaped && key.ascii) {
        // Servers usually write the fields in schema order: try the one after the last first.
        for (qsizetype n = 0, i = m_nextField; n < count; ++n, i = i + 1 == count ? 0 : i + 1) {
            const Field &field = m_fields.at(i);
            if (field.ascii && key.is(field.name.constData(), field.name.size())) {
                m_nextField = i + 1 == count ? 0 : i + 1;
                return &field;
            }
        }
        return nullptr;
    }
    if (m_byName.isEmpty()) {
        for (qsizetype i = 0; i < count; ++i)
            m_byName.insert(nameOf(m_fields.at(i)), int(i));
    }
    const auto it = m_byName.constFind(key.decode());
    return it == m_byName.constEnd() ? nullptr : &m_fields.at(it.value());
}

bool ChangesParser::readData(DataFault *fault)
{
    for (Value &value : m_values)
        value.kind = Value::Kind::Null;
    if (!m_faulty.isEmpty()) {
        for (const int faulty : std::as_const(m_faulty))
            m_problems[faulty].text.clear();
        m_faulty.clear();
    }
    DataFault unknown; // the least key not in the schema
    bool more = false;
    if (!m_json.enter() || !m_json.firstMember(&more))
        return false;
    while (more) {
        const Field *field = nullptr;
        bool escaped = false;
        if (!m_fields.isEmpty() && m_json.consumeKey(m_fields.at(m_nextField).quoted)) {
            field = &m_fields.at(m_nextField);
            m_nextField = m_nextField + 1 == m_fields.size() ? 0 : m_nextField + 1;
            if (!m_json.afterKey())
                return false;
        } else {
            JsonString key;
            if (!m_json.readKey(&key))
                return false;
            field = findField(key);
            escaped = key.escaped;
            if (!field) {
                const QString text = key.decode();
                if (!unknown.found || keyLess(text, escaped, unknown.key, unknown.escaped))
                    unknown = DataFault { true, text, escaped, QString() };
                JsonValue skipped;
                if (!m_json.readValue(&skipped) || !m_json.nextMember(&more))
                    return false;
                continue;
            }
        }
        QString problem;
        if (!readFieldValue(*field, &problem))
            return false;
        if (!problem.isEmpty() || !m_faulty.isEmpty())
            noteProblem(int(field - m_fields.constData()), escaped, problem);
        if (!m_json.nextMember(&more))
            return false;
    }
    // The fault of the least key, as the oracle's walk over the sorted keys meets it.
    if (unknown.found)
        *fault = unknown;
    for (const int faulty : std::as_const(m_faulty)) {
        const QString &name = nameOf(m_fields.at(faulty));
        const Problem &problem = m_problems.at(faulty);
        if (!problem.text.isEmpty()
            && (!fault->found || keyLess(name, problem.escaped, fault->key, fault->escaped))) {
            *fault = DataFault { true, name, problem.escaped, problem.text };
        }
    }
    return true;
}

// The last value of a key counts: a later one clears or sets its problem.
void ChangesParser::noteProblem(int field, bool escaped, const QString &problem)
{
    if (m_problems.isEmpty())
        m_problems.resize(m_fields.size()); // only for a page with a fault
    if (!problem.isEmpty() && m_problems.at(field).text.isEmpty())
        m_faulty.append(field);
    m_problems[field] = Problem { problem, escaped };
}

bool ChangesParser::readFieldValue(const Field &field, QString *problem)
{
    Value &slot = m_values[field.index];
    // The types servers send first; anything else through readValue and its kind.
    switch (field.type) {
    case FieldType::String:
    case FieldType::DateTime:
    case FieldType::Decimal:
        if (m_json.peek() == '"') {
            JsonString string;
            if (!m_json.readString(&string))
                return false;
            if ((field.type == FieldType::DateTime && !isTimestamp(string))
                || (field.type == FieldType::Decimal && !isDecimal(string))) {
                JsonValue value;
                value.kind = JsonKind::String;
                *problem = valueProblem(nameOf(field), field.type, value, string.decode());
                return true;
            }
            slot.kind = Value::Kind::Text;
            slot.text = string;
            return true;
        }
        break;
    case FieldType::Int:
    case FieldType::Real:
        if (m_json.atNumber()) {
            JsonNumber number;
            if (!m_json.readNumber(&number))
                return false;
            if (field.type == FieldType::Real) {
                slot.kind = Value::Kind::Real;
                slot.real = number.isInteger ? double(number.integer) : number.real;
            } else if (number.isInteger) {
                slot.kind = Value::Kind::Integer;
                slot.integer = number.integer;
            } else {
                JsonValue value;
                value.kind = JsonKind::Number;
                value.number = number;
                *problem = valueProblem(nameOf(field), field.type, value, QString());
            }
            return true;
        }
        break;
    case FieldType::Bool: {
        bool b = false;
        if (m_json.readBool(&b)) {
            slot.kind = Value::Kind::Bool;
            slot.integer = b ? 1 : 0;
            return true;
        }
        break;
    }
    }
    JsonValue value;
    if (!m_json.readValue(&value))
        return false;
    if (value.kind == JsonKind::Null) {
        slot.kind = Value::Kind::Null;
        return true;
    }
    // readValue met what readBool refuses, e.g. "true" that ends the document: no value.
    if (field.type == FieldType::Bool && value.kind == JsonKind::Bool) {
        slot.kind = Value::Kind::Bool;
        slot.integer = value.boolean ? 1 : 0;
        return true;
    }
    *problem = valueProblem(nameOf(field), field.type, value, QString());
    return true;
}

} // namespace

namespace detail {

bool isValidTimestamp(QStringView text)
{
    return isTimestampText(text.utf16(), text.size());
}

} // namespace detail

bool parseChanges(const QByteArray &body, const EntitySchema &schema, int limit, PagingMode mode,
                  ChangePage *page, QString *error, ChangeForm form)
{
    if (body.trimmed().isEmpty()) {
        *error = QStringLiteral("the response body is empty (expected a JSON object)");
        return false;
    }
    ChangesParser parser(body, schema, qBound(1, limit, MaxLimit), form == ChangeForm::Packed);
    return parser.parse(mode, page, error);
}

} // namespace BatchSync::Protocol
