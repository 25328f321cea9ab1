#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QList>
#include <QString>

/*!
    \file protocolparser.h
    Parsing and validation of protocol v1 response bodies. Pure functions, any thread.
    Each returns false and sets \a error to a message a person can act on (naming the
    entity, field, index or value that is wrong) when the body does not follow the protocol;
    outputs are only written on success.
*/

namespace BatchSync::Protocol {

/*! The most changes one page may hold (and the largest limit a client may ask for). */
constexpr int MaxLimit = 10000;

/*!
    Parses GET /entities. Every entity and field name must pass Identifier::check, names
    must be unique (case-insensitively, as SQLite's are), and every type must be one of
    string, int, real, bool, datetime.
*/
bool parseEntities(const QByteArray &body, QList<EntitySchema> *entities, QString *error);

/*! Parses GET /entities/{name}/count: a non-negative integer "count". */
bool parseCount(const QByteArray &body, qint64 *count, QString *error);

/*! Where parseChanges puts a page's changes. */
enum class ChangeForm {
    List, //!< ChangePage::changes
    Packed //!< ChangePage::packed: less memory, text the store binds as it is
};

/*!
    Parses GET /entities/{name}/changes for \a schema. Checks that there are at most
    \a limit changes; every id is a non-empty string; changedAt is a protocol timestamp;
    deleted is a bool (absent means false); data is an object whose values have the type
    of their field (null allowed; datetime values are protocol timestamps); data fields not
    in \a schema are an error (the schema must be refreshed first). In cursor mode the
    cursor must be a non-empty string (a number is accepted and kept as text); in offset
    mode it may be absent.

    The body is read in a single pass over its bytes, with QJsonDocument's idea of JSON: a
    syntax error is reported with QJsonParseError's words and byte offset, and of several
    faults the one met first in the order above (changes, each change's id, changedAt,
    deleted, data and its fields by key, then hasMore and cursor).
*/
bool parseChanges(const QByteArray &body, const EntitySchema &schema, int limit, PagingMode mode,
                  ChangePage *page, QString *error, ChangeForm form = ChangeForm::List);

/*!
    The body of POST /entities/{name}/changes (protocol v1.1): \a changes of \a schema's
    entity, made by the local database \a clientId; compact JSON in UTF-8.
*/
QByteArray pushBody(const EntitySchema &schema, const QString &clientId,
                    const QList<LocalChange> &changes);

/*!
    Parses the answer to a push of \a sent changes: exactly \a sent results, each with a
    changeId and a status; applied with a version and a changedAt; conflict with the current
    record (its data checked against \a schema's types; deleted without version when the
    server has none); rejected with its error.
*/
bool parsePushResults(const QByteArray &body, const EntitySchema &schema, int sent,
                      QList<PushResult> *results, QString *error);

/*!
    Parses the answer to GET /wait (protocol v1.1): {"changed": [entity names]}, each a valid
    entity name, none twice.
*/
bool parseWait(const QByteArray &body, QStringList *changed, QString *error);

/*! The "error" text of a 4xx/5xx JSON body, or an empty string when there is none. */
QString parseErrorMessage(const QByteArray &body);

} // namespace BatchSync::Protocol
