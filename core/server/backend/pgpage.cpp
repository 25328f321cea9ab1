#include "pgpage.h"

#include "common/decimal.h"
#include "server/backend/pgentity.h"

#include <QVariant>
#include <charconv>
#include <cstring>
#include <utility>

namespace BatchSync::PgSql {

namespace {

// Type oids (PostgreSQL's pg_type.dat; stable across versions).
enum TypeOid : unsigned int {
    BoolOid = 16,
    Int8Oid = 20,
    Int2Oid = 21,
    Int4Oid = 23,
    TextOid = 25,
    Float4Oid = 700,
    Float8Oid = 701,
    VarcharOid = 1043,
};

bool isText(unsigned int type)
{
    return type == TextOid || type == VarcharOid;
}

/*
    Whether the text reads differently through QString::fromUtf8, which the QPSQL driver uses,
    than through JsonWriter::utf8String: a leading U+FEFF is dropped there, U+FFFE and U+FFFF
    kept (utf8String writes U+FFFD for them, as SQLite reads them). PostgreSQL's text is valid
    UTF-8, where the two agree otherwise.
*/
bool readsDifferently(const char *text, int size)
{
    const char *p = text;
    const char *const end = text + size;
    while ((p = static_cast<const char *>(std::memchr(p, '\xef', size_t(end - p))))) {
        if (end - p < 3)
            break;
        if ((p == text && p[1] == '\xbb' && p[2] == '\xbf')
            || (p[1] == '\xbf' && (p[2] == '\xbe' || p[2] == '\xbf')))
            return true;
        ++p;
    }
    return false;
}

bool readDouble(const char *text, int size, double *value)
{
    const auto [end, problem] = std::from_chars(text, text + size, *value);
    return problem == std::errc() && end == text + size;
}

} // namespace

Rows::Rows(const PgResult &result, const QList<FieldSpec> &fields, const QString &since)
    : m_result(result)
    , m_fields(fields)
    , m_since(since)
    , m_rows(result.rows())
{
    m_cells.reserve(fields.size());
    for (qsizetype i = 0; i < fields.size(); ++i) {
        const unsigned int type = result.columnType(int(5 + i));
        Cell cell = Cell::Other;
        switch (fields.at(i).type) {
        case FieldType::String:
        case FieldType::DateTime:
            cell = isText(type) ? Cell::Text : Cell::Other;
            break;
        case FieldType::Int:
            cell = type == Int8Oid ? Cell::Int8 : Cell::Other;
            break;
        case FieldType::Real:
            cell = type == Float8Oid ? Cell::Float8 : Cell::Other;
            break;
        case FieldType::Bool:
            cell = type == BoolOid ? Cell::Bool : Cell::Other;
            break;
        case FieldType::Decimal: // checked as a decimal: the general way
            break;
        }
        m_cells.append(cell);
    }
}

void Rows::writeText(JsonWriter &json, int column)
{
    const char *text = m_result.text(m_row, column);
    const int size = m_result.length(m_row, column);
    if (readsDifferently(text, size))
        json.string(QString::fromUtf8(text, size));
    else
        json.utf8String(reinterpret_cast<const unsigned char *>(text), size);
}

void Rows::writeField(JsonWriter &json, int index)
{
    const int column = 5 + index;
    if (m_result.isNull(m_row, column)) {
        json.literal("null");
        return;
    }
    switch (m_cells.at(index)) {
    case Cell::Text:
        writeText(json, column);
        return;
    case Cell::Int8: // int8's text is the number's shortest decimal form
        json.raw(
            QByteArray::fromRawData(m_result.text(m_row, column), m_result.length(m_row, column)));
        return;
    case Cell::Float8: {
        double value = 0;
        if (!readDouble(m_result.text(m_row, column), m_result.length(m_row, column), &value))
            break;
        json.real(value);
        return;
    }
    case Cell::Bool:
        json.boolean(*m_result.text(m_row, column) == 't');
        return;
    case Cell::Other:
        break;
    }
    writeOther(json, index, column);
}

void Rows::writeOther(JsonWriter &json, int index, int column)
{
    // The value the QPSQL driver reads from the same text, written as it was.
    const char *text = m_result.text(m_row, column);
    const int size = m_result.length(m_row, column);
    const unsigned int type = m_result.columnType(column);
    QVariant value;
    if (type == BoolOid) {
        value = QVariant(*text == 't');
    } else if (type == Int8Oid || type == Int4Oid || type == Int2Oid) {
        value = QVariant(QByteArray::fromRawData(text, size).toLongLong());
    } else if (type == Float8Oid || type == Float4Oid) {
        double number = 0;
        if (readDouble(text, size, &number))
            value = QVariant(number);
    } else {
        value = QVariant(QString::fromUtf8(text, size));
    }
    const FieldType fieldType = m_fields.at(index).type;
    // numeric holds what a decimal cannot (NaN, infinities, more than 38 significant
    // digits): served as null rather than as anything a client would refuse.
    if (fieldType == FieldType::Decimal && !value.isNull() && !Decimal::isValid(value.toString())) {
        json.literal("null");
        return;
    }
    json.value(fieldType, value);
}

void Rows::writeCursor(JsonWriter &json)
{
    QString last = m_since.isEmpty() ? QStringLiteral("0") : m_since;
    if (m_kept >= 0)
        last = QString::fromLatin1(m_result.text(m_kept, 0)) + u'.'
            + QString::fromLatin1(m_result.text(m_kept, 1));
    if (m_ended && !m_endCursor.isEmpty()) {
        const std::optional<Cursor> lastPosition = parseCursor(last);
        const std::optional<Cursor> end = parseCursor(m_endCursor);
        if (lastPosition && end
            && std::make_pair(end->xid.toULongLong(), end->seq)
                > std::make_pair(lastPosition->xid.toULongLong(), lastPosition->seq)) {
            json.string(m_endCursor);
            return;
        }
    }
    json.string(last);
}

} // namespace BatchSync::PgSql
