#include "odataquery.h"

#include "common/timestamp.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>

namespace BatchSync::OData {

QString KeysetPosition::toCursor() const
{
    if (isStart())
        return QString();
    QJsonArray array { changeTime };
    for (const QString &value : key)
        array.append(value);
    return QString::fromUtf8(QJsonDocument(array).toJson(QJsonDocument::Compact));
}

std::optional<KeysetPosition> KeysetPosition::fromCursor(const QString &cursor, int keyCount)
{
    if (cursor.isEmpty())
        return KeysetPosition();
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(cursor.toUtf8(), &error);
    if (error.error != QJsonParseError::NoError || !document.isArray())
        return std::nullopt;
    const QJsonArray array = document.array();
    // The change time alone is a position too: the start of a safety window.
    if (array.size() != keyCount + 1 && array.size() != 1)
        return std::nullopt;
    KeysetPosition position;
    for (qsizetype i = 0; i < array.size(); ++i) {
        if (!array.at(i).isString())
            return std::nullopt;
        if (i == 0)
            position.changeTime = array.at(i).toString();
        else
            position.key.append(array.at(i).toString());
    }
    if (!Timestamp::isValid(position.changeTime))
        return std::nullopt;
    return position;
}

QString literal(const Property &property, const QString &value)
{
    switch (property.kind) {
    case EdmKind::String:
    case EdmKind::Enum:
        return u'\'' + QString(value).replace(u'\'', QStringLiteral("''")) + u'\'';
    case EdmKind::Guid:
    case EdmKind::Boolean:
    case EdmKind::Integer:
    case EdmKind::Double:
    case EdmKind::Decimal:
    case EdmKind::DateTimeOffset:
    case EdmKind::Date:
    case EdmKind::TimeOfDay:
        break;
    }
    return value;
}

namespace {

/*! k1 gt a or (k1 eq a and (k2 gt b ...)), from key property \a from on. */
QString keyAfter(const EntitySet &set, const QStringList &values, qsizetype from)
{
    const Property &property = set.keys.at(from);
    const QString value = literal(property, values.at(from));
    const QString greater = QStringLiteral("%1 gt %2").arg(property.name, value);
    if (from + 1 == set.keys.size())
        return greater;
    return QStringLiteral("%1 or (%2 eq %3 and (%4))")
        .arg(greater, property.name, value, keyAfter(set, values, from + 1));
}

} // namespace

QString keysetFilter(const EntitySet &set, const KeysetPosition &after)
{
    if (after.isStart())
        return QString();
    const QString time = set.changeTime;
    if (after.key.size() != set.keys.size())
        return QStringLiteral("%1 ge %2").arg(time, after.changeTime);
    return QStringLiteral("%1 gt %2 or (%1 eq %2 and (%3))")
        .arg(time, after.changeTime, keyAfter(set, after.key, 0));
}

QList<std::pair<QString, QString>> pageQuery(const EntitySet &set, const KeysetPosition &after,
                                             int limit)
{
    QStringList select;
    QStringList order;
    if (!set.changeTime.isEmpty())
        order.append(set.changeTime);
    for (const Property &key : set.keys) {
        select.append(key.name);
        order.append(key.name);
    }
    for (const Property &column : set.columns) {
        if (!select.contains(column.name))
            select.append(column.name);
    }
    QList<std::pair<QString, QString>> query { { QStringLiteral("$select"), select.join(u',') } };
    const QString filter = keysetFilter(set, after);
    if (!filter.isEmpty())
        query.append({ QStringLiteral("$filter"), filter });
    query.append({ QStringLiteral("$orderby"), order.join(u',') });
    query.append({ QStringLiteral("$top"), QString::number(limit) });
    query.append({ QStringLiteral("$count"), QStringLiteral("true") });
    return query;
}

KeysetPosition safetyWindowStart(const KeysetPosition &committed, int windowSeconds)
{
    if (committed.isStart())
        return committed;
    const QDateTime at = Timestamp::parse(committed.changeTime);
    if (!at.isValid())
        return KeysetPosition();
    KeysetPosition start;
    start.changeTime = Timestamp::format(at.addSecs(-qint64(windowSeconds)));
    return start;
}

} // namespace BatchSync::OData
