#pragma once

#include <QString>
#include <QStringView>

/*!
    \file identifier.h
    The identifier rule of protocol v1 for entity and field names, and the only way
    BatchSync turns a name into SQL. Pure functions; any thread.
*/

namespace BatchSync::Identifier {

/*! Whether \a name matches [A-Za-z_][A-Za-z0-9_]{0,63}. */
bool matchesRule(QStringView name);

/*!
    Whether \a name is reserved: "id" (in any letter case, as SQLite's names are
    case-insensitive), anything starting with '_', and SQLite's own "sqlite_" prefix.
*/
bool isReserved(QStringView name);

/*!
    Checks an entity or field name received from a server. Returns an empty string when it
    may be used, otherwise a message naming the problem, e.g.
    "entity name \"x; DROP TABLE y\" is not a valid identifier". \a what is "entity" or
    "field".
*/
QString check(QStringView name, QStringView what);

/*! \a name, shortened and with control characters escaped, for use inside messages. */
QString printable(QStringView name);

/*! \a name as an SQL identifier in double quotes. Only ever call it with a checked name. */
QString quoted(QStringView name);

} // namespace BatchSync::Identifier
