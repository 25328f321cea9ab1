// A changes page through simdjson On-Demand, with Protocol::parseChanges's checks, for
// parse-bench. The hot path (a valid page as the server writes it) does exactly the work of
// the product's parser: each id, changedAt and version a QString, each value a QVariant in
// its field's slot, every check on the way. The fault paths say what is wrong in fewer
// words than the product does; they are there so that the work is the same, not to be read.
#include "simdjsonchanges.h"

#ifndef BATCHSYNC_SIMDJSON_NS
#define BATCHSYNC_SIMDJSON_NS Generic
#endif

#include "common/decimal.h"
#include "sources/protocol/jsonscanner.h"
#include "sources/protocol/protocolparser.h"
#include "sources/protocol/protocolparser_p.h"

#include <QHash>
#include <QList>
#include <QVariant>
#include <cmath>
#include <cstring>
#include <memory>
#include <simdjson.h>

namespace BatchSync::Bench::BATCHSYNC_SIMDJSON_NS {

namespace {

namespace od = simdjson::ondemand;
using Protocol::detail::describeKind;
using Protocol::detail::JsonKind;
using simdjson::error_code;

/*! The body with simdjson's padding after it, in a buffer kept per thread. */
simdjson::padded_string_view padded(const QByteArray &body)
{
    thread_local std::unique_ptr<char[]> buffer;
    thread_local size_t capacity = 0;
    const size_t size = size_t(body.size());
    if (capacity < size + simdjson::SIMDJSON_PADDING) {
        capacity = (size + simdjson::SIMDJSON_PADDING) * 5 / 4;
        buffer.reset(new char[capacity]);
    }
    std::memcpy(buffer.get(), body.constData(), size);
    std::memset(buffer.get() + size, 0, simdjson::SIMDJSON_PADDING);
    return simdjson::padded_string_view(buffer.get(), size, capacity);
}

od::parser &threadParser()
{
    thread_local od::parser parser;
    return parser;
}

JsonKind kindOf(od::json_type type)
{
    switch (type) {
    case od::json_type::array:
        return JsonKind::Array;
    case od::json_type::object:
        return JsonKind::Object;
    case od::json_type::number:
        return JsonKind::Number;
    case od::json_type::string:
        return JsonKind::String;
    case od::json_type::boolean:
        return JsonKind::Bool;
    case od::json_type::null:
        return JsonKind::Null;
    }
    return JsonKind::Missing;
}

/*! Reads a value whose content is not used, so that it is checked to be JSON all the same. */
error_code skip(od::value value, JsonKind *kind)
{
    od::json_type type;
    if (const error_code e = value.type().get(type))
        return e;
    *kind = kindOf(type);
    switch (type) {
    case od::json_type::array: {
        od::array array;
        if (const error_code e = value.get_array().get(array))
            return e;
        for (auto element : array) {
            od::value inner;
            JsonKind ignored;
            error_code e = std::move(element).get(inner);
            if (e || (e = skip(inner, &ignored)))
                return e;
        }
        return simdjson::SUCCESS;
    }
    case od::json_type::object: {
        od::object object;
        if (const error_code e = value.get_object().get(object))
            return e;
        for (auto field : object) {
            od::value inner;
            JsonKind ignored;
            error_code e = field.value().get(inner);
            if (e || (e = skip(inner, &ignored)))
                return e;
        }
        return simdjson::SUCCESS;
    }
    case od::json_type::number:
        return value.get_double().error();
    case od::json_type::string:
        return value.get_string().error();
    case od::json_type::boolean:
        return value.get_bool().error();
    case od::json_type::null: {
        bool null = false;
        if (const error_code e = value.is_null().get(null))
            return e;
        return null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
    }
    return simdjson::INCORRECT_TYPE;
}

/*!
    The text of the string value at hand: straight from the document's bytes when it holds no
    escape (simdjson checked the whole document's UTF-8 up front), else unescaped by simdjson.
*/
error_code stringOf(od::value value, QString *text)
{
    // (A result in some of simdjson's kernels, a plain string_view in others.)
    simdjson::simdjson_result<std::string_view> raw = value.raw_json_token();
    std::string_view token;
    if (const error_code e = std::move(raw).get(token))
        return e;
    const size_t close = token.rfind('"'); // the token may end in white space
    if (close > 0 && close != std::string_view::npos
        && std::memchr(token.data() + 1, '\\', close - 1) == nullptr) {
        *text = QString::fromUtf8(token.data() + 1, qsizetype(close - 1));
        return simdjson::SUCCESS;
    }
    std::string_view view;
    if (const error_code e = value.get_string().get(view))
        return e;
    *text = QString::fromUtf8(view.data(), qsizetype(view.size()));
    return simdjson::SUCCESS;
}

/*! A string value's text, or its kind when it is not a string. */
error_code readText(od::value value, JsonKind *kind, QString *text)
{
    od::json_type type;
    if (const error_code e = value.type().get(type))
        return e;
    if (type != od::json_type::string)
        return skip(value, kind);
    *kind = JsonKind::String;
    return stringOf(value, text);
}

/*! A number as an exact qint64, as QJsonDocument keeps it: also an integral double. */
error_code readInteger(od::value value, bool *isInteger, qint64 *integer, double *real)
{
    int64_t i = 0;
    error_code e = value.get_int64().get(i);
    if (!e) {
        *isInteger = true;
        *integer = i;
        return e;
    }
    if (e != simdjson::INCORRECT_TYPE && e != simdjson::NUMBER_OUT_OF_RANGE)
        return e;
    if ((e = value.get_double().get(*real)))
        return e;
    *isInteger = std::floor(*real) == *real && *real >= -9223372036854775808.0
        && *real < 9223372036854775808.0;
    *integer = *isInteger ? qint64(*real) : 0;
    return simdjson::SUCCESS;
}

bool rawIs(const od::raw_json_string &key, std::string_view name)
{
    return key.unsafe_is_equal(name);
}

bool hasEscape(const od::raw_json_string &key)
{
    for (const char *p = key.raw(); *p != '"'; ++p) {
        if (*p == '\\')
            return true;
    }
    return false;
}

class Parser
{
public:
    Parser(const EntitySchema &schema, int maxChanges)
        : m_schema(schema)
        , m_maxChanges(maxChanges)
    {
        for (int i = 0; i < schema.fields.size(); ++i)
            m_byName.insert(schema.fields.at(i).name, i); // the last field of a name counts
        for (int i = 0; i < schema.fields.size(); ++i) {
            const QString &name = schema.fields.at(i).name;
            const QByteArray utf8 = name.toUtf8();
            const bool plain
                = !utf8.contains('\\') && !utf8.contains('"') && m_byName.value(name) == i;
            m_plain.append(plain ? utf8 : QByteArray());
        }
    }

    /*! \a begin: the first byte of the document, for the offsets of syntax errors. */
    bool parse(od::document &doc, const char *begin, PagingMode mode, ChangePage *page,
               QString *error);

private:
    error_code readChange(od::value value, qsizetype index, Change *change, QString *fault);
    error_code readData(od::object data, QVariantList *values, QString *fault);
    error_code readField(int index, od::value value, QVariantList *values, QString *problem);
    /*! The field's index, -1 if none (\a name: the key), -2 on an error. */
    int findField(od::field &field, bool *escaped, QString *name);

    const EntitySchema &m_schema;
    const int m_maxChanges;
    QList<QByteArray> m_plain; // per field: its name in UTF-8 when it needs no escape and
                               // no later field has it
    QHash<QString, int> m_byName;
    int m_next = 0;
};

int Parser::findField(od::field &field, bool *escaped, QString *name)
{
    const od::raw_json_string key = field.key();
    const int count = int(m_plain.size());
    for (int n = 0, i = m_next; n < count; ++n, i = i + 1 == count ? 0 : i + 1) {
        const QByteArray &name = m_plain.at(i);
        if (!name.isEmpty() && rawIs(key, std::string_view(name.constData(), name.size()))) {
            m_next = i + 1 == count ? 0 : i + 1;
            return i;
        }
    }
    *escaped = hasEscape(key);
    std::string_view text; // (simdjson unescapes a key once only)
    if (field.unescaped_key().get(text))
        return -2;
    *name = QString::fromUtf8(text.data(), qsizetype(text.size()));
    return m_byName.value(*name, -1);
}

bool Parser::parse(od::document &doc, const char *begin, PagingMode mode, ChangePage *page,
                   QString *error)
{
    const auto syntax = [&](error_code e) {
        const char *at = nullptr;
        *error = QStringLiteral("the response is not valid JSON: %1")
                     .arg(QString::fromUtf8(simdjson::error_message(e)));
        if (!doc.current_location().get(at))
            *error += QStringLiteral(" near byte %1").arg(at - begin);
        return false;
    };
    od::json_type type;
    if (const error_code e = doc.type().get(type))
        return syntax(e);
    if (type != od::json_type::object) {
        *error = QStringLiteral("expected a JSON object at the top level, got %1")
                     .arg(describeKind(kindOf(type)));
        return false;
    }
    od::object top;
    if (const error_code e = doc.get_object().get(top))
        return syntax(e);
    JsonKind listKind = JsonKind::Missing, hasMoreKind = JsonKind::Missing,
             cursorKind = JsonKind::Missing;
    QList<Change> changes;
    qsizetype count = 0;
    QString fault;
    bool hasMore = false;
    QString cursor;
    qint64 cursorNumber = 0;
    bool cursorInteger = false;
    double cursorReal = 0;
    for (auto member : top) {
        od::field field;
        if (const error_code e = std::move(member).get(field))
            return syntax(e);
        const od::raw_json_string key = field.key();
        od::value value = field.value();
        error_code e = simdjson::SUCCESS;
        if (rawIs(key, "changes")) {
            od::array array;
            changes.clear();
            count = 0;
            fault.clear();
            e = value.get_array().get(array);
            if (e == simdjson::INCORRECT_TYPE) {
                e = skip(value, &listKind);
            } else if (!e) {
                listKind = JsonKind::Array;
                for (auto element : array) {
                    od::value change;
                    if ((e = std::move(element).get(change)))
                        break;
                    if (count < m_maxChanges && fault.isEmpty()) {
                        if (changes.isEmpty())
                            changes.reserve(m_maxChanges);
                        e = readChange(change, count, &changes.emplace_back(), &fault);
                    } else {
                        JsonKind ignored;
                        e = skip(change, &ignored);
                    }
                    if (e)
                        break;
                    ++count;
                }
            }
        } else if (rawIs(key, "hasMore")) {
            e = value.get_bool().get(hasMore);
            hasMoreKind = JsonKind::Bool;
            if (e == simdjson::INCORRECT_TYPE)
                e = skip(value, &hasMoreKind);
        } else if (rawIs(key, "cursor")) {
            od::json_type cursorType;
            e = value.type().get(cursorType);
            cursor.clear();
            if (!e && cursorType == od::json_type::number) {
                cursorKind = JsonKind::Number;
                e = readInteger(value, &cursorInteger, &cursorNumber, &cursorReal);
            } else if (!e) {
                e = readText(value, &cursorKind, &cursor);
            }
        } else {
            JsonKind ignored;
            e = skip(value, &ignored);
        }
        if (e)
            return syntax(e);
    }
    // Only white space may follow the object: then the location is out of bounds.
    const char *rest = nullptr;
    if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS)
        return syntax(simdjson::TRAILING_CONTENT);

    if (listKind != JsonKind::Array) {
        *error = QStringLiteral("changes: expected an array, got %1").arg(describeKind(listKind));
        return false;
    }
    if (count > m_maxChanges) {
        *error = QStringLiteral("changes: %1 changes, more than the limit of %2")
                     .arg(count)
                     .arg(m_maxChanges);
        return false;
    }
    if (!fault.isEmpty()) {
        *error = fault;
        return false;
    }
    if (hasMoreKind != JsonKind::Bool) {
        *error = QStringLiteral("hasMore: expected true or false, got %1")
                     .arg(describeKind(hasMoreKind));
        return false;
    }
    if (cursorKind == JsonKind::Number) {
        if (!cursorInteger) {
            *error = QStringLiteral("cursor: expected a string or an integer, got %1")
                         .arg(cursorReal, 0, 'g', 17);
            return false;
        }
        cursor = QString::number(cursorNumber);
    } else if (cursorKind != JsonKind::String && cursorKind != JsonKind::Missing
               && cursorKind != JsonKind::Null) {
        *error = QStringLiteral("cursor: expected a string, got %1").arg(describeKind(cursorKind));
        return false;
    }
    if (cursor.size() > Protocol::detail::MaxCursorLength) {
        *error = QStringLiteral("cursor: is %1 characters long").arg(cursor.size());
        return false;
    }
    if (mode == PagingMode::Cursor && cursor.isEmpty()) {
        *error = QStringLiteral("cursor: missing or empty");
        return false;
    }
    page->changes = std::move(changes);
    page->cursor = std::move(cursor);
    page->hasMore = hasMore;
    return true;
}

error_code Parser::readChange(od::value value, qsizetype index, Change *change, QString *fault)
{
    const auto path = [index] { return QStringLiteral("changes[%1]").arg(index); };
    od::object object;
    error_code e = value.get_object().get(object);
    if (e == simdjson::INCORRECT_TYPE) {
        JsonKind kind;
        if (!(e = skip(value, &kind)))
            *fault = QStringLiteral("%1: expected a change object, got %2")
                         .arg(path(), describeKind(kind));
        return e;
    }
    if (e)
        return e;
    JsonKind id = JsonKind::Missing, changedAt = JsonKind::Missing, version = JsonKind::Missing,
             deleted = JsonKind::Missing, dataKind = JsonKind::Missing;
    QVariantList values;
    QString dataFault;
    for (auto member : object) {
        od::field field;
        if ((e = std::move(member).get(field)))
            return e;
        const od::raw_json_string key = field.key();
        od::value v = field.value();
        if (rawIs(key, "id")) {
            e = readText(v, &id, &change->id);
        } else if (rawIs(key, "changedAt")) {
            e = readText(v, &changedAt, &change->changedAt);
        } else if (rawIs(key, "version")) {
            e = readText(v, &version, &change->version);
        } else if (rawIs(key, "deleted")) {
            deleted = JsonKind::Bool;
            e = v.get_bool().get(change->deleted);
            if (e == simdjson::INCORRECT_TYPE)
                e = skip(v, &deleted);
        } else if (rawIs(key, "data")) {
            od::object data;
            dataFault.clear();
            e = v.get_object().get(data);
            if (e == simdjson::INCORRECT_TYPE) {
                e = skip(v, &dataKind);
            } else if (!e) {
                dataKind = JsonKind::Object;
                e = readData(data, &values, &dataFault);
            }
        } else {
            JsonKind ignored;
            e = skip(v, &ignored);
        }
        if (e)
            return e;
    }
    if (id != JsonKind::String || change->id.isEmpty()
        || change->id.size() > Protocol::detail::MaxIdLength) {
        *fault = QStringLiteral("%1.id: expected a string of 1 to %2 characters, got %3")
                     .arg(path())
                     .arg(Protocol::detail::MaxIdLength)
                     .arg(describeKind(id));
        return e;
    }
    if (changedAt != JsonKind::String || !Protocol::detail::isValidTimestamp(change->changedAt)) {
        *fault = QStringLiteral("%1.changedAt: expected a timestamp").arg(path());
        return e;
    }
    if (version != JsonKind::Missing && version != JsonKind::Null && version != JsonKind::String) {
        *fault = QStringLiteral("%1.version: expected a string").arg(path());
        return e;
    }
    if (version != JsonKind::String)
        change->version.clear();
    if (deleted != JsonKind::Missing && deleted != JsonKind::Bool) {
        *fault = QStringLiteral("%1.deleted: expected true or false").arg(path());
        return e;
    }
    if (change->deleted) {
        if (dataKind != JsonKind::Missing && dataKind != JsonKind::Null
            && dataKind != JsonKind::Object) {
            *fault = QStringLiteral("%1.data: expected an object or null").arg(path());
        }
        return e;
    }
    if (dataKind != JsonKind::Object) {
        *fault = QStringLiteral("%1.data: expected an object, got %2")
                     .arg(path(), describeKind(dataKind));
        return e;
    }
    if (!dataFault.isEmpty()) {
        *fault = QStringLiteral("%1.data: %2").arg(path(), dataFault);
        return e;
    }
    change->values = std::move(values);
    return e;
}

error_code Parser::readData(od::object data, QVariantList *values, QString *fault)
{
    // Every slot null first; a value (the last of its key) fills its field's.
    *values = QVariantList(m_schema.fields.size());
    QList<QString> problems; // per field, only once one has a problem
    QString unknown;
    bool unknownEscaped = false;
    for (auto member : data) {
        od::field field;
        if (const error_code e = std::move(member).get(field))
            return e;
        bool escaped = false;
        QString key;
        const int index = findField(field, &escaped, &key);
        if (index == -2)
            return simdjson::STRING_ERROR;
        od::value value = field.value();
        error_code e = simdjson::SUCCESS;
        if (index < 0) {
            if (unknown.isNull()
                || (escaped && unknownEscaped ? key < unknown : key.toUcs4() < unknown.toUcs4())) {
                unknown = key;
                unknownEscaped = escaped;
            }
            JsonKind ignored;
            e = skip(value, &ignored);
        } else {
            QString problem;
            e = readField(index, value, values, &problem);
            if (!problem.isEmpty() || !problems.isEmpty()) {
                problems.resize(m_schema.fields.size());
                problems[index] = problem;
            }
        }
        if (e)
            return e;
    }
    // The fault of the least key (escape-aware ordering is left to the product's parser).
    for (int i = 0; i < problems.size(); ++i) {
        if (!problems.at(i).isEmpty()) {
            *fault = problems.at(i);
            return simdjson::SUCCESS;
        }
    }
    if (!unknown.isNull())
        *fault = QStringLiteral("unknown field \"%1\"").arg(unknown);
    return simdjson::SUCCESS;
}

error_code Parser::readField(int index, od::value value, QVariantList *values, QString *problem)
{
    const FieldSpec &spec = m_schema.fields.at(index);
    const auto expected = [&](JsonKind kind) {
        *problem = QStringLiteral("%1: expected %2, got %3")
                       .arg(spec.name, fieldTypeName(spec.type), describeKind(kind));
    };
    od::json_type type;
    if (const error_code e = value.type().get(type))
        return e;
    error_code e = simdjson::SUCCESS;
    QVariant &slot = (*values)[index];
    if (type == od::json_type::null) {
        JsonKind ignored;
        slot = QVariant();
        return skip(value, &ignored);
    }
    switch (spec.type) {
    case FieldType::String:
    case FieldType::DateTime:
    case FieldType::Decimal: {
        if (type != od::json_type::string)
            break;
        QString text;
        if ((e = stringOf(value, &text)))
            return e;
        if ((spec.type == FieldType::DateTime && !Protocol::detail::isValidTimestamp(text))
            || (spec.type == FieldType::Decimal && !Decimal::isValid(text))) {
            *problem = QStringLiteral("%1: \"%2\" is not a %3")
                           .arg(spec.name, text, fieldTypeName(spec.type));
            return e;
        }
        slot = QVariant(QMetaType::fromType<QString>());
        *static_cast<QString *>(slot.data()) = std::move(text);
        return e;
    }
    case FieldType::Int: {
        if (type != od::json_type::number)
            break;
        bool isInteger = false;
        qint64 integer = 0;
        double real = 0;
        if ((e = readInteger(value, &isInteger, &integer, &real)))
            return e;
        if (isInteger)
            slot = qlonglong(integer);
        else
            *problem = QStringLiteral("%1: %2 is not a 64-bit integer").arg(spec.name).arg(real);
        return e;
    }
    case FieldType::Real: {
        if (type != od::json_type::number)
            break;
        double real = 0;
        if (!(e = value.get_double().get(real)))
            slot = real;
        return e;
    }
    case FieldType::Bool: {
        bool b = false;
        if (type != od::json_type::boolean)
            break;
        if (!(e = value.get_bool().get(b)))
            slot = b;
        return e;
    }
    }
    JsonKind kind;
    if (!(e = skip(value, &kind)))
        expected(kind);
    return e;
}

} // namespace

bool parseChangesSimdjson(const QByteArray &body, const EntitySchema &schema, int limit,
                          PagingMode mode, ChangePage *page, QString *error)
{
    if (body.trimmed().isEmpty()) {
        *error = QStringLiteral("the response body is empty (expected a JSON object)");
        return false;
    }
    const simdjson::padded_string_view json = padded(body);
    od::document doc;
    if (const error_code e = threadParser().iterate(json).get(doc)) {
        *error = QStringLiteral("the response is not valid JSON: %1")
                     .arg(QString::fromUtf8(simdjson::error_message(e)));
        return false;
    }
    Parser parser(schema, qBound(1, limit, Protocol::MaxLimit));
    return parser.parse(doc, json.data(), mode, page, error);
}

qint64 walkChangesSimdjson(const QByteArray &body)
{
    od::document doc;
    if (threadParser().iterate(padded(body)).get(doc))
        return -1;
    od::object top;
    if (doc.get_object().get(top))
        return -1;
    qint64 changes = 0;
    quint64 sink = 0; // what was read, so that nothing is optimised away
    for (auto member : top) {
        od::field field;
        if (std::move(member).get(field))
            return -1;
        od::value value = field.value();
        if (!field.key().unsafe_is_equal("changes")) {
            JsonKind ignored;
            if (skip(value, &ignored))
                return -1;
            continue;
        }
        od::array array;
        if (value.get_array().get(array))
            return -1;
        for (auto element : array) {
            od::object change;
            if (element.get_object().get(change))
                return -1;
            for (auto changeMember : change) {
                od::field f;
                if (std::move(changeMember).get(f))
                    return -1;
                od::value v = f.value();
                od::object data;
                if (!f.key().unsafe_is_equal("data")) {
                    JsonKind ignored;
                    if (skip(v, &ignored))
                        return -1;
                    continue;
                }
                if (v.get_object().get(data))
                    return -1;
                for (auto dataMember : data) {
                    od::field d;
                    od::json_type type;
                    if (std::move(dataMember).get(d) || d.value().type().get(type))
                        return -1;
                    std::string_view text;
                    if (type == od::json_type::string && !d.value().get_string().get(text))
                        sink += text.size();
                    else if (JsonKind ignored; skip(d.value(), &ignored))
                        return -1;
                }
            }
            ++changes;
        }
    }
    return sink == 0 && changes > 0 ? -1 : changes;
}

} // namespace BatchSync::Bench::BATCHSYNC_SIMDJSON_NS
