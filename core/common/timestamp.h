#pragma once

#include <QDateTime>
#include <QString>
#include <QStringView>

/*!
    \file timestamp.h
    Protocol v1 timestamps: UTC text in exactly the form YYYY-MM-DDTHH:MM:SS.mmmZ
    (24 characters), so that text order is time order. Pure functions; any thread.
*/

namespace BatchSync::Timestamp {

/*! Whether \a text is a valid timestamp in exactly the protocol's form. */
bool isValid(QStringView text);

/*! \a dateTime in the protocol's form (converted to UTC). */
QString format(const QDateTime &dateTime);

/*! Parses the protocol's form; an invalid QDateTime when \a text is not valid. */
QDateTime parse(QStringView text);

/*! The current time in the protocol's form. */
QString now();

/*!
    The timestamp one millisecond before \a text (which must be valid). Offset mode asks
    for changedAt > this, to see again every change that shares the last changedAt applied.
*/
QString previousMillisecond(QStringView text);

} // namespace BatchSync::Timestamp
