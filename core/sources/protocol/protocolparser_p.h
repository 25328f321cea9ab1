#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QJsonObject>
#include <QJsonValue>
#include <QString>
#include <QStringView>
#include <optional>

/*!
    \file protocolparser_p.h
    Internal to BatchSync::Client, not part of its API (it may change at any time): the limits
    and QJsonValue helpers that the entity and count parsers use, exposed so that tests can
    build their own QJsonDocument reading of a changes page with the same words. Pure
    functions, any thread.
*/

namespace BatchSync::Protocol::detail {

/*!
    Beyond the protocol's own rules: bounds that keep a hostile or broken server from making
    the client build absurd keys.
*/
constexpr int MaxIdLength = 1024;
constexpr int MaxCursorLength = 4096;

/*! "null", "a bool", "a number", ..., or "nothing (missing)" for an undefined value. */
QString describe(const QJsonValue &value);

/*! A number as messages show it: the integer, or the double with 17 digits. */
QString numberText(const QJsonValue &value);

/*!
    The exact integer a JSON number holds, or nullopt when it has a fraction or does not fit
    a qint64. QJsonDocument keeps integers that fit as qint64 and everything else as double;
    an integral double (1e3, 2.0, or a value beyond 2^53 that lost precision) is accepted.
*/
std::optional<qint64> integerOf(const QJsonValue &value);

/*! Parses \a body as a JSON object with QJsonDocument; on failure \a error says why. */
std::optional<QJsonObject> parseObject(const QByteArray &body, QString *error);

/*!
    Whether \a text is a protocol timestamp: exactly the strings Timestamp::isValid accepts,
    without going through QDateTime.
*/
bool isValidTimestamp(QStringView text);

} // namespace BatchSync::Protocol::detail
