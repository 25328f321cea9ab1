#pragma once

#include "common/types.h"
#include "server/backend/pgserverstore.h"

#include <QList>
#include <QSqlQuery>
#include <QString>
#include <QVariant>
#include <memory>
#include <optional>

/*!
    \file pgentity.h
    What PgServerStore keeps of a served entity and the SQL it builds for it. Internal to
   core/server; the connection's thread only.
*/

namespace BatchSync {

namespace PgSql {

/*! Whether a column of \a type (as format_type() names it) can hold a field. */
bool isKnownSqlType(const QString &type);

/*! The column type of a field in a table this server creates. */
QString fieldSqlType(FieldType type);

/*!
    The type a field is read as (the tombstones' typed nulls): its column type, but text for a
    decimal, whose numeric is read as its exact text.
*/
QString fieldReadType(FieldType type);

/*!
    A column read as its field's JSON form; timestamps become protocol text in UTC, numeric its
    exact text.
*/
QString selectExpression(const QString &column, const QString &sqlType);

/*! A position in the changes: the writing transaction's id and the sequence number. */
struct Cursor
{
    QString xid = QStringLiteral("0");
    qint64 seq = 0;
};

/*! "" and "0" are the start; otherwise "xid.seq" as pages hand it out. */
std::optional<Cursor> parseCursor(const QString &text);

} // namespace PgSql

struct PgServerStore::Entity final : ServedEntity
{
    struct Field
    {
        QString column; // quoted
        QString sqlType;
    };

    // table: "schema"."table"
    QString idColumn; // quoted
    QString idType;
    QList<Field> columns; // in schema order
    QString definition; // what the catalogue said; a change rebuilds the entity

    // Prepared on first use and kept (ServerBackend::prepared); the reads of changes are
    // kept by the libpq connection (PgLink).
    std::unique_ptr<QSqlQuery> upsertQuery; // RowsPerStatement rows
    std::unique_ptr<QSqlQuery> removeQuery;

    void resetQueries()
    {
        upsertQuery.reset();
        removeQuery.reset();
    }

    // Live rows and tombstones as one relation c(x, s, i, a, d, f0, f1, ...).
    QString changes(const QString &schemaName) const
    {
        QString live = QStringLiteral("SELECT t._bs_xid AS x, t._bs_seq AS s, (t.%1::text) "
                                      "COLLATE \"C\" AS i, t._bs_changed_at AS a, false AS d")
                           .arg(idColumn);
        QString dead = QStringLiteral("SELECT b.xid, b.seq, b.id, b.changed_at, true");
        for (qsizetype i = 0; i < columns.size(); ++i) {
            live += QStringLiteral(", %1 AS f%2")
                        .arg(PgSql::selectExpression(QLatin1String("t.") + columns.at(i).column,
                                                     columns.at(i).sqlType))
                        .arg(i);
            dead
                += QStringLiteral(", NULL::%1").arg(PgSql::fieldReadType(schema.fields.at(i).type));
        }
        live += QLatin1String(" FROM ") + table + QLatin1String(" t");
        // Entity names are checked identifiers: nothing to escape in the literal.
        dead += QStringLiteral(" FROM %1._bs_tombstones b WHERE b.entity = '%2'")
                    .arg(schemaName, schema.name);
        return QStringLiteral("(%1 UNION ALL %2) c").arg(live, dead);
    }

    QString pageColumns() const
    {
        QString sql = QStringLiteral("SELECT c.x::text, c.s, c.i, c.a, c.d");
        for (qsizetype i = 0; i < columns.size(); ++i)
            sql += QStringLiteral(", c.f%1").arg(i);
        return sql;
    }

    QString upsertSql(int rows) const
    {
        QString names = idColumn;
        QString row = QStringLiteral("(CAST(? AS %1)").arg(idType);
        QString updates;
        for (const Field &field : columns) {
            names += QLatin1String(", ") + field.column;
            row += QStringLiteral(", CAST(? AS %1)").arg(field.sqlType);
            if (!updates.isEmpty())
                updates += QLatin1String(", ");
            updates += field.column + QLatin1String(" = excluded.") + field.column;
        }
        row += u')';
        if (updates.isEmpty()) // still a write: the trigger stamps it as a change
            updates = idColumn + QLatin1String(" = excluded.") + idColumn;
        QStringList values;
        for (int i = 0; i < rows; ++i)
            values.append(row);
        return QStringLiteral("INSERT INTO %1(%2) VALUES %3 ON CONFLICT (%4) DO UPDATE SET %5")
            .arg(table, names, values.join(QLatin1String(", ")), idColumn, updates);
    }
};

} // namespace BatchSync
