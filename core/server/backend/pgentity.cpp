#include "pgentity.h"

#include "server/backend/values.h"

#include <QSet>
#include <utility>

namespace BatchSync::PgSql {

bool isKnownSqlType(const QString &type)
{
    static const QSet<QString> known {
        QStringLiteral("text"),
        QStringLiteral("character varying"),
        QStringLiteral("character"),
        QStringLiteral("uuid"),
        QStringLiteral("bigint"),
        QStringLiteral("integer"),
        QStringLiteral("smallint"),
        QStringLiteral("double precision"),
        QStringLiteral("real"),
        QStringLiteral("numeric"),
        QStringLiteral("boolean"),
        QStringLiteral("timestamp with time zone"),
        QStringLiteral("timestamp without time zone"),
    };
    return known.contains(type);
}

QString fieldSqlType(FieldType type)
{
    switch (type) {
    case FieldType::Int:
        return QStringLiteral("bigint");
    case FieldType::Real:
        return QStringLiteral("double precision");
    case FieldType::Bool:
        return QStringLiteral("boolean");
    case FieldType::Decimal:
        return QStringLiteral("numeric");
    case FieldType::String:
    case FieldType::DateTime:
        break;
    }
    return QStringLiteral("text");
}

QString fieldReadType(FieldType type)
{
    return type == FieldType::Decimal ? QStringLiteral("text") : fieldSqlType(type);
}

QString selectExpression(const QString &column, const QString &sqlType)
{
    if (sqlType == QLatin1String("timestamp with time zone"))
        return QStringLiteral("to_char(%1 AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
            .arg(column);
    if (sqlType == QLatin1String("timestamp without time zone"))
        return QStringLiteral("to_char(%1, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')").arg(column);
    // numeric's text is exact and in plain notation: never through a double.
    if (sqlType == QLatin1String("numeric"))
        return column + QLatin1String("::text");
    if (sqlType == QLatin1String("real"))
        return column + QLatin1String("::double precision");
    if (sqlType == QLatin1String("integer") || sqlType == QLatin1String("smallint"))
        return column + QLatin1String("::bigint");
    if (sqlType == QLatin1String("character varying") || sqlType == QLatin1String("character")
        || sqlType == QLatin1String("uuid"))
        return column + QLatin1String("::text");
    return column;
}

std::optional<Cursor> parseCursor(const QString &text)
{
    if (text.isEmpty() || text == QLatin1String("0"))
        return Cursor();
    const qsizetype dot = text.indexOf(u'.');
    if (dot < 0)
        return std::nullopt;
    const QStringView xid = QStringView(text).left(dot);
    const QStringView seq = QStringView(text).mid(dot + 1);
    if (!ServerValues::parseCount(xid) || !ServerValues::parseCount(seq))
        return std::nullopt;
    return Cursor { xid.toString(), seq.toLongLong() };
}

} // namespace BatchSync::PgSql
