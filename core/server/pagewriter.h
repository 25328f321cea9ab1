#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QList>
#include <QSet>
#include <QString>
#include <QStringView>
#include <QVariant>
#include <charconv>
#include <cmath>
#include <cstring>

/*!
    \file pagewriter.h
    The reference server's wire format: every JSON body it sends is written here, the pages of
    changes from the rows a backend reads.
    Internal to core/server; any thread.
*/

namespace BatchSync {

/*!
    Appends JSON to a QByteArray without a DOM: a page of 10,000 records has to be built in
    milliseconds. Writes go through a raw pointer into spare capacity (QByteArray::append is
    costly for many tiny pieces); strings go from SQLite's UTF-8 (or UTF-16) straight to
    escaped UTF-8 in one pass.
*/
class JsonWriter final
{
public:
    explicit JsonWriter(qsizetype reserve) { m_out.resize(qMax<qsizetype>(reserve, 256)); }

    template<std::size_t N> void literal(const char (&text)[N])
    {
        // A constant size: the copy compiles to a few moves.
        std::memcpy(room(qsizetype(N - 1)), text, N - 1);
        m_size += qsizetype(N - 1);
    }
    void raw(const QByteArray &bytes) { append(bytes.constData(), bytes.size()); }
    void raw(char c)
    {
        *room(1) = c;
        ++m_size;
    }

    /*! \a text quoted and escaped, in UTF-8; a lone surrogate is written as U+FFFD. */
    void string(QStringView text);
    /*!
        \a size bytes of text as SQLite stores it (UTF-8), written byte for byte as string()
        writes the same text read through SQLite's UTF-16 interface.
    */
    void utf8String(const unsigned char *text, qsizetype size);
    void integer(qint64 value)
    {
        char *out = room(24);
        m_size = std::to_chars(out, out + 24, value).ptr - m_out.constData();
    }
    void real(double value)
    {
        if (!std::isfinite(value)) {
            literal("null"); // JSON has no NaN or infinity
            return;
        }
        // Shortest text that reads back as the same double.
        char *out = room(32);
        m_size = std::to_chars(out, out + 32, value).ptr - m_out.constData();
    }
    /*!
        A field's value of \a type as read from a database: null, or converted to the JSON
        form of the type (a bool from any integer, as SQLite stores it).
    */
    void value(FieldType type, const QVariant &value);
    void boolean(bool value)
    {
        if (value)
            literal("true");
        else
            literal("false");
    }

    QByteArray take()
    {
        m_out.resize(m_size);
        return std::move(m_out);
    }

private:
    // Room for at least \a size more bytes at the write position.
    char *room(qsizetype size)
    {
        if (m_size + size > m_out.size())
            m_out.resize(qMax(m_out.size() * 2, m_size + size));
        return m_out.data() + m_size;
    }
    void append(const char *data, qsizetype size)
    {
        std::memcpy(room(size), data, size_t(size));
        m_size += size;
    }

    QByteArray m_out; // sized ahead; the first m_size bytes are written
    qsizetype m_size = 0;
};

/*!
    The bodies of protocol v1, for every backend alike. A backend reads the rows of a page its
    own way and hands them over through a row reader (see write()); the page's layout, its
    cursor and its hasMore are written here only, so that both backends send the same bytes
    for the same data.
*/
namespace PageWriter {

/*! The bytes before each field's value: "name": with a comma before all but the first. */
QList<QByteArray> fieldKeys(const EntitySchema &schema);

/*! A page's body and the number of changes in it. */
struct Page
{
    QByteArray body;
    int records = 0;
};

/*!
    The body of GET .../changes from \a rows, which reads at most \a limit + 1 rows (one more
    tells whether there are more). Rows is a reader with:
    - bool next(): moves to the next row; false at the end (or on an error, which the backend
      checks afterwards),
    - void keepPosition(): the row is in the page, its position is the cursor so far,
    - void writeId(JsonWriter &), void writeChangedAt(JsonWriter &), bool isDeleted(),
    - void writeVersion(JsonWriter &): the record's version after this change, as a JSON
      string (protocol v1.1),
    - void writeField(JsonWriter &, int index): a field's value, in schema order,
    - void writeCursor(JsonWriter &): the cursor as a JSON string (cursor mode only): the last
      kept position, or the request's when the page is empty.
    \a reserve sizes the buffer ahead.
*/
template<typename Rows>
Page write(Rows &rows, const QList<QByteArray> &fieldKeys, PagingMode mode, int limit,
           qsizetype reserve)
{
    JsonWriter json(reserve);
    json.literal("{\"changes\":[");
    const int fieldCount = int(fieldKeys.size());
    int count = 0;
    bool hasMore = false;
    while (rows.next()) {
        if (count == limit) {
            hasMore = true;
            break;
        }
        if (count > 0)
            json.raw(',');
        ++count;
        rows.keepPosition();
        json.literal("{\"id\":");
        rows.writeId(json);
        json.literal(",\"changedAt\":");
        rows.writeChangedAt(json);
        json.literal(",\"version\":");
        rows.writeVersion(json);
        if (rows.isDeleted()) {
            json.literal(",\"deleted\":true}");
            continue;
        }
        json.literal(",\"deleted\":false,\"data\":{");
        for (int i = 0; i < fieldCount; ++i) {
            json.raw(fieldKeys.at(i));
            rows.writeField(json, i);
        }
        json.literal("}}");
    }
    json.literal("],");
    // Offset mode bodies carry no cursor, like a pure offset endpoint.
    if (mode == PagingMode::Cursor) {
        json.literal("\"cursor\":");
        rows.writeCursor(json);
        json.raw(',');
    }
    if (hasMore)
        json.literal("\"hasMore\":true}");
    else
        json.literal("\"hasMore\":false}");
    return { json.take(), count };
}

/*!
    The body of GET /entities: the protocol version, then every entity with its fields' names
    and types and whether the caller may push to it (its name is in \a writable).
*/
QByteArray entities(const QList<EntitySchema> &schemas, const QSet<QString> &writable);

/*! The body of GET .../count. */
QByteArray count(qint64 changes);

/*! An error body, {"error": "..."}. */
QByteArray error(const QString &message);

} // namespace PageWriter

} // namespace BatchSync
