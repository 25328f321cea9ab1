#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QString>
#include <QStringView>
#include <QVariant>
#include <QVariantMap>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

/*!
    \file serverjson.h
    What the server backends share: the JSON page writer and the checks of schemas and written
    values.
    Internal to core/server; any thread.
*/

namespace BatchSync::ServerJson {

/*
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
    Timestamp::isValid without its QDateTime round trip: the exact protocol form and a real
    calendar date and time.
*/
bool isTimestamp(QStringView text);

/*!
    Why \a schema cannot be served (a name Identifier::check refuses, a field twice, in any
    letter case), or an empty string.
*/
QString schemaProblem(const EntitySchema &schema);

/*! \a value's type and text, shortened, for error messages. */
QString describe(const QVariant &value);

/*!
    \a value as stored in a column of \a type, or nullopt with \a what set to what the field
    expects. Values are checked here so that the server only ever serves protocol-valid data.
    Strings come back as storableText() makes them.
*/
std::optional<QVariant> columnValue(FieldType type, const QVariant &value, QString *what);

/*!
    One record of an upsert into \a schema, checked: \a values receives its values in schema
    order (columnValue; absent fields null). False with \a error set for an empty id, an id
    that is not storableText, an unknown field or a value of the wrong type.
*/
bool recordValues(const EntitySchema &schema, const QString &id, const QVariantMap &data,
                  QVariantList *values, QString *error);

/*!
    Whether \a text can be stored and served as it is: no lone surrogate (UTF-8 has no form for
    one) and no U+FFFE or U+FFFF (SQLite's UTF-16 interface takes a leading U+FFFE for a
    byte-order mark and turns the noncharacters into U+FFFD).
*/
bool isStorableText(QStringView text);

/*!
    \a text with every lone surrogate, U+FFFE and U+FFFF replaced by U+FFFD, so that both
    backends store, and serve, the same text. Returns \a text itself (no copy) when it has none.
*/
QString storableText(const QString &text);

/*! A column read back from the database, typed as Change::values are. */
QVariant typedValue(FieldType type, const QVariant &column);

} // namespace BatchSync::ServerJson
