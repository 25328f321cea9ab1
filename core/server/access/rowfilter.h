#pragma once

#include <QJsonValue>
#include <QList>
#include <QString>
#include <utility>

/*!
    \file rowfilter.h
    The rows of an entity a caller may see and write (DESIGN.md, "Access: tokens, scopes and
    rows"). Internal to core/server; plain data, usable from any thread.
*/

namespace BatchSync {

/*!
    Restricts an entity to the records whose fields equal given values: every pair must hold
    (AND). A value is a JSON string, number, boolean or null, compared with the field's typed
    value (a text field equals a string, an int field an integral number, and so on; null
    equals a null field only). Empty: every record.
*/
struct RowFilter
{
    QList<std::pair<QString, QJsonValue>> equals; //!< field name → value, in the file's order

    bool isEmpty() const { return equals.isEmpty(); }
    friend bool operator==(const RowFilter &a, const RowFilter &b) { return a.equals == b.equals; }
    friend bool operator!=(const RowFilter &a, const RowFilter &b) { return !(a == b); }
};

} // namespace BatchSync
