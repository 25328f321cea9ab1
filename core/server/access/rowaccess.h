#pragma once

#include "common/types.h"
#include "server/access/rowfilter.h"

#include <QByteArray>
#include <QHash>
#include <QString>
#include <QVariantList>
#include <optional>

/*!
    \file rowaccess.h
    A token's rows on a push (DESIGN.md, "Access: tokens, scopes and rows"): a change that
    would create, change or move a record outside them is rejected, and a conflict never shows
    the caller a record outside them. Internal to core/server; pure functions, any thread.
*/

namespace BatchSync {

class ServerBackend;
struct PushRequest;

namespace RowAccess {

/*! The reason of every change refused for the rows; it says nothing of the record. */
QString outsideReason();

/*!
    Whether a record's \a values (schema order, typed as Change::values) hold every pair of
    \a rows: a string equals a text, datetime or decimal field's text (a decimal also as a
    number), a number an int or real field, a boolean a bool field, null a null field only.
    A field \a schema lacks matches nothing.
*/
bool matches(const RowFilter &rows, const EntitySchema &schema, const QVariantList &values);

/*!
    Rejects the changes of \a request that would leave or touch a record outside \a rows:
    new values outside them, or a record the server holds live outside them (\a current: id →
    values of the live records among the request's ids).
*/
void screen(PushRequest *request, const RowFilter &rows, const EntitySchema &schema,
            const QHash<QString, QVariantList> &current);

/*!
    The answer's \a body with every conflict whose server record lies outside \a rows turned
    into a rejection: a record that moved out between the check and the transaction, or one
    remembered from an earlier answer. nullopt when the body is not the backend's JSON.
*/
std::optional<QByteArray> screenResults(const QByteArray &body, const RowFilter &rows,
                                        const EntitySchema &schema);

} // namespace RowAccess

} // namespace BatchSync
