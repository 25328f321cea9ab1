#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QString>
#include <QStringView>
#include <QVariant>
#include <QVariantMap>
#include <optional>

/*!
    \file values.h
    What the server backends share about data: the checks of schemas and written values.
    Internal to core/server; any thread.
*/

namespace BatchSync::ServerValues {

/*!
    \a text as a non-negative decimal integer of at most 18 digits, and nothing else (no sign,
    spaces or exponent); nullopt otherwise, the empty text included.
*/
std::optional<qint64> parseCount(QStringView text);

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

} // namespace BatchSync::ServerValues
