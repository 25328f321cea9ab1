#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QString>

/*!
    \file referenceparser.h
    The oracle of the changes parser's tests: GET /entities/{name}/changes read the obvious
    way, by building a QJsonDocument and walking it. Protocol::parseChanges must give the
    same outcome, page and message on every body (tst_protocol's parity tables, tst_fuzz's
    differential run). Pure function, any thread.
*/

namespace BatchSync::Test {

/*!
    Same contract as Protocol::parseChanges: false with \a error set, \a page untouched, when
    the body does not follow the protocol.
*/
bool parseChangesReference(const QByteArray &body, const EntitySchema &schema, int limit,
                           PagingMode mode, ChangePage *page, QString *error);

/*!
    The kind of fault a parser's message names, for comparing two parsers whose words may
    differ: "syntax" for a body that is not JSON, else the path before the first ": " (e.g.
    "changes[3].data.name"), or the whole message when it has none.
*/
QString errorCategory(const QString &message);

} // namespace BatchSync::Test
