#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QList>
#include <QMap>
#include <QString>
#include <QStringList>

/*!
    \file odatametadata.h
    Reading an OData v4 service's \c $metadata (CSDL XML) into what the local database holds
    of it, as docs/protocol.md ("The OData v4 mapping") fixes it. Plain functions and values;
    any thread.
*/

namespace BatchSync::OData {

/*! How an Edm type is carried into the local database. */
enum class EdmKind {
    String, //!< Edm.String: TEXT as is
    Guid, //!< Edm.Guid: TEXT, lowercase
    Boolean, //!< INTEGER 0/1
    Integer, //!< Byte, SByte, Int16, Int32, Int64: INTEGER, exact
    Double, //!< Double, Single: REAL
    Decimal, //!< TEXT, the exact decimal value
    DateTimeOffset, //!< TEXT, UTC, YYYY-MM-DDTHH:MM:SS.sssZ
    Date, //!< TEXT, YYYY-MM-DD
    TimeOfDay, //!< TEXT
    Enum, //!< TEXT, the member name
};

/*! One primitive structural property. */
struct Property
{
    QString name;
    QString edmType; //!< as declared, e.g. "Edm.Int64" or "my.Color"
    EdmKind kind = EdmKind::String;

    /*! The protocol field type that holds it locally. */
    FieldType fieldType() const;
};

/*! One entity set the client can sync. */
struct EntitySet
{
    QString name; //!< the set's name: the local table
    QString entityType; //!< its entity type, qualified by namespace
    QList<Property> keys; //!< in key order; more than one: a composite key
    /*!
        The properties that become columns, in document order (base types first): the
        primitive ones, but a property named "id" in any case (the id column holds it) and
        names starting with '_' or not matching the identifier rule.
    */
    QList<Property> columns;
    /*! The change-time property that drives keyset pages; empty: reloaded whole each sync. */
    QString changeTime;
    /*! What was left out, each "name: reason", for the log. */
    QStringList leftOut;

    /*! The entity as the engine and the local store see it: the set's name and its columns. */
    EntitySchema schema() const;
};

/*! What a service's $metadata offers. */
struct Metadata
{
    QList<EntitySet> sets; //!< the sets that map, in document order
    QStringList leftOut; //!< the sets that do not, each "name: reason"
};

/*! The change-time properties looked for, in this order, when none is configured. */
QStringList knownChangeTimeProperties();

/*!
    Reads CSDL \a xml into \a metadata. \a changeTime, if given, names the change-time
    property of every set that has one of that name (of type Edm.DateTimeOffset); otherwise
    the known names are looked for. Returns false with \a error (naming the line and column)
    when the document is not well-formed CSDL; sets that cannot map are left out, with why.
*/
bool parseMetadata(const QByteArray &xml, Metadata *metadata, QString *error,
                   const QString &changeTime = QString());
/*!
    As above, with a change-time property per set name (the entry with an empty name for
    every set not named). A set named here without such a property is left out, with why.
*/
bool parseMetadata(const QByteArray &xml, Metadata *metadata, QString *error,
                   const QMap<QString, QString> &changeTimes);

} // namespace BatchSync::OData
