#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QString>
#include <QStringView>

/*!
    \file protocolparser_p.h
    Internal to BatchSync::Core, not part of its API (it may change at any time): the two
    implementations behind Protocol::parseChanges, exposed so that tests can compare them.
    Pure functions, any thread.
*/

namespace BatchSync::Protocol::detail {

/*!
    The reference parser of GET /entities/{name}/changes: builds a QJsonDocument and walks
    it. Same contract and messages as Protocol::parseChanges, which falls back to it for
    every body the fast parser does not take.
*/
bool parseChangesReference(const QByteArray &body, const EntitySchema &schema, int limit,
                           PagingMode mode, ChangePage *page, QString *error);

/*!
    The single-pass parser of GET /entities/{name}/changes, working on the UTF-8 bytes. It
    returns true and sets \a page only for a body that parseChangesReference accepts, with
    the same result. It returns false, leaving \a page untouched, for every body it does not
    take: anything invalid, and the rare valid forms it leaves to the reference (duplicate or
    escaped keys, lenient number forms such as "1." or ".5", escapes other than JSON's own,
    raw control characters in strings, schemas with non-ASCII field names).
*/
bool parseChangesFast(const QByteArray &body, const EntitySchema &schema, int limit,
                      PagingMode mode, ChangePage *page);

/*!
    Whether \a text is a protocol timestamp: exactly the strings Timestamp::isValid accepts,
    without going through QDateTime.
*/
bool isValidTimestamp(QStringView text);

} // namespace BatchSync::Protocol::detail
