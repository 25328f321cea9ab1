// PgServerStore's row filters: the registered fields, and the pages and counts of a filtered
// caller (see ServerBackend::changesJson()). The moves themselves are recorded by the
// tombstone trigger (sql/triggers.sql), so that plain SQL writes and every server process
// record them alike.

#include "common/identifier.h"
#include "pgserverstore.h"
#include "server/backend/pgentity.h"

#include <QLocale>
#include <QSqlError>
#include <QSqlQuery>

namespace BatchSync {

namespace {

using namespace PgSql;

bool isTextType(const QString &sqlType)
{
    return sqlType == QLatin1String("text") || sqlType == QLatin1String("character varying")
        || sqlType == QLatin1String("character") || sqlType == QLatin1String("uuid");
}

// The type a field's column and a filter's value are compared as: what the field is served
// as, so that a filter matches exactly the values a client sees.
QString compareType(const QString &sqlType)
{
    if (sqlType == QLatin1String("integer") || sqlType == QLatin1String("smallint"))
        return QStringLiteral("bigint");
    if (sqlType == QLatin1String("real"))
        return QStringLiteral("double precision");
    return sqlType;
}

// A filter's value as the text of its parameter (cast in the SQL to the field's type).
QByteArray parameterText(const QVariant &value)
{
    switch (value.typeId()) {
    case QMetaType::Bool:
        return value.toBool() ? QByteArrayLiteral("true") : QByteArrayLiteral("false");
    case QMetaType::Double:
        return QByteArray::number(value.toDouble(), 'g', QLocale::FloatingPointShortest);
    case QMetaType::LongLong:
    case QMetaType::Int:
        return QByteArray::number(value.toLongLong());
    default:
        return value.toString().toUtf8();
    }
}

QString unquoted(const QString &column)
{
    return column.mid(1, column.size() - 2); // checked identifiers: no inner quotes
}

} // namespace

bool PgServerStore::registerRowFields(ServedEntity *served, const QStringList &fields,
                                      QString *error)
{
    auto *entity = static_cast<Entity *>(served);
    if (!beginTransaction(error))
        return false;
    QSqlQuery query(database());
    query.prepare(QStringLiteral("INSERT INTO %1._bs_row_fields(entity, field, column_name) "
                                 "VALUES (?, ?, ?) ON CONFLICT (entity, field) DO NOTHING")
                      .arg(m_schema));
    for (const QString &field : fields) {
        query.addBindValue(entity->schema.name);
        query.addBindValue(field);
        query.addBindValue(unquoted(entity->columns.at(entity->schema.fieldIndex(field)).column));
        if (!query.exec()) {
            const QString message
                = QStringLiteral("cannot register the row filter fields of entity %1: %2")
                      .arg(entity->schema.name, errorText(query.lastError()));
            query.finish();
            return rollbackAndFail(message, error);
        }
    }
    query.finish();
    return commitTransaction(error);
}

void PgServerStore::rowsQuery(Entity *entity, PagingMode mode, bool count, const QString &since,
                              const RowConditions &rows, qint64 offset, int limit, QString *sql,
                              QList<QByteArray> *parameters) const
{
    // A caller is served the changes of the records that match its rows now (their last
    // change, as everyone), and a deletion at each move that took a record out of them: a
    // transaction that began with it matching (m.old) and left it not matching or deleted
    // (m.new, null when deleted). Moves keep their positions, so a page that ends anywhere
    // loses none. t: the entity's table; m: the moves, jsonb by column name.
    QString live = QStringLiteral("true");
    QString before = QStringLiteral("true");
    QString after = QStringLiteral("true");
    for (const RowCondition &condition : rows) {
        const Entity::Field &field = entity->columns.at(condition.field);
        const QString key = unquoted(field.column);
        if (condition.value.isNull()) {
            live += QStringLiteral(" AND t.%1 IS NULL").arg(field.column);
            // A move made before the field was registered lacks it: no match.
            before += QStringLiteral(" AND jsonb_typeof(m.old -> '%1') = 'null'").arg(key);
            after += QStringLiteral(" AND jsonb_typeof(m.new -> '%1') = 'null'").arg(key);
            continue;
        }
        // A decimal equals a string as its exact text, a number as the double it reads as.
        const bool decimal = entity->schema.fields.at(condition.field).type == FieldType::Decimal;
        const bool asText = isTextType(field.sqlType)
            || (decimal && condition.value.typeId() == QMetaType::QString);
        const QString type = asText
            ? QStringLiteral("text")
            : (decimal ? QStringLiteral("double precision") : compareType(field.sqlType));
        const auto moved = [&](const QLatin1String &side) {
            // character(n) pads; its text does not.
            if (field.sqlType == QLatin1String("character"))
                return QStringLiteral("rtrim(m.%1 ->> '%2', ' ')").arg(side, key);
            if (asText)
                return QStringLiteral("(m.%1 ->> '%2')").arg(side, key);
            return QStringLiteral("CAST(CAST(m.%1 ->> '%2' AS %3) AS %4)")
                .arg(side, key, field.sqlType, type);
        };
        const QString value = QStringLiteral(" = CAST(? AS %1)").arg(type);
        live += QStringLiteral(" AND CAST(t.%1 AS %2)").arg(field.column, type) + value;
        before += QLatin1String(" AND ") + moved(QLatin1String("old")) + value;
        after += QLatin1String(" AND ") + moved(QLatin1String("new")) + value;
    }

    QString liveColumns = QStringLiteral("SELECT t._bs_xid AS x, t._bs_seq AS s, (t.%1::text) "
                                         "COLLATE \"C\" AS i, t._bs_changed_at AS a, false AS d")
                              .arg(entity->idColumn);
    QString movesColumns = QStringLiteral("SELECT m.xid, m.seq, m.id, m.changed_at, true");
    QString columns = QStringLiteral("SELECT c.x::text, c.s, c.i, c.a, c.d");
    for (qsizetype i = 0; i < entity->columns.size(); ++i) {
        liveColumns += QStringLiteral(", %1 AS f%2")
                           .arg(selectExpression(QLatin1String("t.") + entity->columns.at(i).column,
                                                 entity->columns.at(i).sqlType))
                           .arg(i);
        movesColumns
            += QStringLiteral(", NULL::%1").arg(fieldReadType(entity->schema.fields.at(i).type));
        columns += QStringLiteral(", c.f%1").arg(i);
    }
    const bool cursorMode = mode == PagingMode::Cursor;
    // Entity names are checked identifiers: nothing to escape in the literal.
    *sql = QStringLiteral(" FROM (%1 FROM %2 t WHERE %3 UNION ALL %4 FROM %5._bs_moves m "
                          "WHERE m.entity = '%6' AND %7 AND NOT coalesce(%8, false)) c "
                          "WHERE c.x < pg_snapshot_xmin(pg_current_snapshot()) AND %9")
               .arg(liveColumns, entity->table, live, movesColumns, m_schema, entity->schema.name,
                    before, after,
                    cursorMode ? QStringLiteral("(c.x, c.s) > (CAST(? AS xid8), CAST(? AS bigint))")
                               : QStringLiteral("c.a > CAST(? AS text)"));
    if (count) {
        *sql = QLatin1String("SELECT count(*)") + *sql;
    } else {
        *sql = columns + *sql
            + (cursorMode ? QLatin1String(" ORDER BY c.x, c.s LIMIT CAST(? AS bigint)")
                          : QLatin1String(" ORDER BY c.a, c.i, c.x, c.s LIMIT CAST(? AS bigint) "
                                          "OFFSET CAST(? AS bigint)"));
    }

    // In the order of the placeholders: the live match, the moves' old and new values, the
    // position, the paging.
    parameters->clear();
    for (int side = 0; side < 3; ++side) {
        for (const RowCondition &condition : rows) {
            if (!condition.value.isNull())
                parameters->append(parameterText(condition.value));
        }
    }
    if (cursorMode) {
        const Cursor cursor = parseCursor(since).value_or(Cursor());
        parameters->append(cursor.xid.toLatin1());
        parameters->append(QByteArray::number(cursor.seq));
    } else {
        parameters->append(since.toUtf8());
    }
    if (!count) {
        // One more tells whether there are more.
        parameters->append(QByteArray::number(qint64(limit) + 1));
        if (!cursorMode)
            parameters->append(QByteArray::number(offset));
    }
}

std::optional<QString> PgServerStore::lastPosition(Entity *entity, QString *error) const
{
    // Every move lies at or before its record's row or tombstone: those two tell the last.
    const QString sql
        = QStringLiteral("SELECT p.x::text || '.' || p.s FROM ("
                         "(SELECT t._bs_xid AS x, t._bs_seq AS s FROM %1 t WHERE t._bs_xid < %2 "
                         "ORDER BY t._bs_xid DESC, t._bs_seq DESC LIMIT 1) UNION ALL "
                         "(SELECT b.xid, b.seq FROM %3._bs_tombstones b WHERE b.entity = '%4' "
                         "AND b.xid < %2 ORDER BY b.xid DESC, b.seq DESC LIMIT 1)) p "
                         "ORDER BY p.x DESC, p.s DESC LIMIT 1")
              .arg(entity->table, QStringLiteral("pg_snapshot_xmin(pg_current_snapshot())"),
                   m_schema, entity->schema.name);
    const PgResult result = readChanges(entity, sql, {}, QStringLiteral("read"), error);
    if (!result)
        return std::nullopt;
    return result.rows() > 0 ? QString::fromLatin1(result.text(0, 0)) : QString();
}

} // namespace BatchSync
