#pragma once

#include "sources/odata/odatametadata.h"

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>
#include <optional>

/*!
    \file odatapage.h
    Reading an OData v4 service's JSON responses: a page of records mapped to local values
    exactly as docs/protocol.md ("The OData v4 mapping") fixes them, and error bodies. Plain
    functions and values; any thread.
*/

namespace BatchSync::OData {

/*! One response of a collection request, read. */
struct ResponsePage
{
    /*! The records as the local database takes them (values in the schema's field order). */
    QList<Change> changes;
    /*! Each record's key values as text, for the next keyset query (numbers exactly as sent). */
    QList<QStringList> keys;
    /*! Each record's change time, canonical (see canonicalTime()); empty without one. */
    QStringList times;
    qint64 count = -1; //!< \@odata.count, -1 when absent
    QString nextLink; //!< \@odata.nextLink, as sent
    QString deltaLink; //!< \@odata.deltaLink, as sent
};

/*! What a response's records hold. */
enum class RecordShape {
    Records, //!< every column of \a schema, and the change time if the set has one
    Keys, //!< the key properties only
    /*!
        A delta response: Records, and entries for removed records (\@removed with \@id,
        or OData 4.0's $deletedEntity with id), which become deletions
    */
    Delta
};

/*!
    Reads a JSON response \a body of \a set's records into \a page, values for \a schema's
    fields (the set's columns as the engine knows them). Int64 and Decimal values are taken
    from their text, as numbers or strings, never through a double. Returns false with
    \a problem when the body is not such a response or a record cannot map (no key, no change
    time, a value of the wrong type).
*/
bool parseResponse(const QByteArray &body, const EntitySet &set, const EntitySchema &schema,
                   RecordShape shape, ResponsePage *page, QString *problem);

/*! What a quick look at a response sees: its records' number, the last one's position. */
struct PagePeek
{
    qsizetype received = 0;
    QStringList lastKey; //!< as in ResponsePage::keys
    QString lastTime; //!< as in ResponsePage::times
    qint64 count = -1;
    QString nextLink;
};

/*!
    Reads only what decides where the page ends: the records are counted and skipped, the
    last one read as parseResponse() would. False when that much cannot be read; the full
    reading then says why.
*/
bool peekResponse(const QByteArray &body, const EntitySet &set, const EntitySchema &schema,
                  RecordShape shape, PagePeek *peek);

/*!
    The local id of a record with key values \a key (as in ResponsePage::keys): a single key's
    value as text, a composite key as a compact JSON array in key order.
*/
QString localId(const EntitySet &set, const QStringList &key);

/*!
    The key values of an entity id such as "Books(5)", "Books(ID=5)", "OrderItems(order='A',
    position=2)" or a URL ending in one, for \a set; nullopt when it is not one of its ids.
*/
std::optional<QStringList> keyFromEntityId(const EntitySet &set, const QString &entityId);

/*!
    The message of an OData error body ({"error": {"code", "message"}}), "message (code)";
    empty when \a body is not one.
*/
QString errorMessage(const QByteArray &body);

} // namespace BatchSync::OData
