#pragma once

#include <QByteArrayView>
#include <QList>
#include <QString>
#include <optional>
#include <utility>

/*!
    \file jsontree.h
    A strict JSON reader that remembers the line of every value, so that a configuration file's
    errors can name the line at fault (QJsonDocument only gives an offset, and nothing once
    parsed). Internal to core/server; pure functions, any thread.
*/

namespace BatchSync {

/*! One JSON value and the line (1-based) where it starts. */
struct JsonNode
{
    enum class Kind { Null, Bool, Number, String, Array, Object };

    Kind kind = Kind::Null;
    int line = 1;
    bool boolean = false;
    double number = 0;
    QString string;
    QList<JsonNode> items; //!< an array's values
    QList<std::pair<QString, JsonNode>> members; //!< an object's, in the text's order

    /*! The member named \a key, or null. */
    const JsonNode *member(QStringView key) const;
    /*! "a string", "an object", ...: for messages. */
    static QString kindName(Kind kind);
};

namespace JsonTree {

/*! The most nested arrays and objects a document may have. */
constexpr int MaxDepth = 64;

/*!
    Parses \a text: exactly one JSON value (RFC 8259) surrounded by whitespace, valid UTF-8,
    no duplicate keys in an object, at most MaxDepth levels. On failure nullopt, with
    \a error saying what ("line 3: expected ',' or '}' after a member") and \a errorLine the
    line.
*/
std::optional<JsonNode> parse(QByteArrayView text, QString *error, int *errorLine = nullptr);

} // namespace JsonTree

} // namespace BatchSync
