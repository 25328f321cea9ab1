#include "odataquery.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <algorithm>

namespace BatchSync::OData {

namespace {

const char *phaseName(RunCursor::Phase phase)
{
    switch (phase) {
    case RunCursor::Phase::Deletions:
        return "deletions";
    case RunCursor::Phase::Reload:
        return "reload";
    case RunCursor::Phase::Changes:
        break;
    }
    return "changes";
}

QJsonArray toArray(const QStringList &values)
{
    QJsonArray array;
    for (const QString &value : values)
        array.append(value);
    return array;
}

bool fromArray(const QJsonValue &value, QStringList *out)
{
    if (value.isUndefined())
        return true;
    if (!value.isArray())
        return false;
    for (const QJsonValue &item : value.toArray()) {
        if (!item.isString())
            return false;
        out->append(item.toString());
    }
    return true;
}

bool isDigit(QChar c)
{
    return c >= u'0' && c <= u'9';
}

bool isDigits(QStringView text)
{
    return !text.isEmpty() && std::all_of(text.begin(), text.end(), isDigit);
}

int number(QStringView text)
{
    return text.toInt();
}

} // namespace

QString RunCursor::toString() const
{
    QJsonObject object { { QStringLiteral("phase"), QLatin1String(phaseName(phase)) } };
    if (!position.isStart()) {
        object.insert(QStringLiteral("at"), position.changeTime);
        if (!position.key.isEmpty())
            object.insert(QStringLiteral("after"), toArray(position.key));
    }
    if (!key.isEmpty())
        object.insert(QStringLiteral("key"), toArray(key));
    if (fromStart)
        object.insert(QStringLiteral("first"), true);
    if (complete)
        object.insert(QStringLiteral("complete"), true);
    if (!link.isEmpty())
        object.insert(QStringLiteral("link"), link);
    return QString::fromUtf8(QJsonDocument(object).toJson(QJsonDocument::Compact));
}

std::optional<RunCursor> RunCursor::parse(const QString &text, int keyCount)
{
    RunCursor cursor;
    if (text.isEmpty()) {
        cursor.fromStart = true;
        return cursor;
    }
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(text.toUtf8(), &error);
    if (error.error != QJsonParseError::NoError || !document.isObject())
        return std::nullopt;
    const QJsonObject object = document.object();
    const QString phase = object.value(QStringLiteral("phase")).toString();
    if (phase == QLatin1String("changes"))
        cursor.phase = Phase::Changes;
    else if (phase == QLatin1String("deletions"))
        cursor.phase = Phase::Deletions;
    else if (phase == QLatin1String("reload"))
        cursor.phase = Phase::Reload;
    else
        return std::nullopt;
    const QJsonValue at = object.value(QStringLiteral("at"));
    if (!at.isUndefined()) {
        const std::optional<QString> time = canonicalTime(at.toString());
        if (!time || *time != at.toString())
            return std::nullopt;
        cursor.position.changeTime = *time;
    }
    if (!fromArray(object.value(QStringLiteral("after")), &cursor.position.key)
        || !fromArray(object.value(QStringLiteral("key")), &cursor.key)) {
        return std::nullopt;
    }
    if ((!cursor.position.key.isEmpty() && cursor.position.key.size() != keyCount)
        || (!cursor.key.isEmpty() && cursor.key.size() != keyCount)
        || (cursor.position.isStart() && !cursor.position.key.isEmpty())) {
        return std::nullopt;
    }
    cursor.fromStart = object.value(QStringLiteral("first")).toBool();
    cursor.complete = object.value(QStringLiteral("complete")).toBool();
    const QJsonValue link = object.value(QStringLiteral("link"));
    if (!link.isUndefined() && (!link.isString() || link.toString().isEmpty()))
        return std::nullopt;
    cursor.link = link.toString();
    return cursor;
}

namespace {

int twoDigits(QStringView text, qsizetype at)
{
    return (text.at(at).unicode() - u'0') * 10 + (text.at(at + 1).unicode() - u'0');
}

/*!
    The common case, a time already in UTC with seconds ("...:SS[.f]Z"), checked without
    building a QDateTime: nullopt when \a text is not of that form (the full reading decides).
*/
std::optional<QString> canonicalUtc(QStringView text)
{
    const qsizetype size = text.size();
    if (size < 20 || size > 33 || text.at(size - 1) != u'Z' || text.at(4) != u'-'
        || text.at(7) != u'-' || text.at(10) != u'T' || text.at(13) != u':'
        || text.at(16) != u':') {
        return std::nullopt;
    }
    for (qsizetype i : { 0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18 }) {
        if (!isDigit(text.at(i)))
            return std::nullopt;
    }
    if (size > 20) {
        if (text.at(19) != u'.' || size == 21)
            return std::nullopt;
        for (qsizetype i = 20; i < size - 1; ++i) {
            if (!isDigit(text.at(i)))
                return std::nullopt;
        }
    }
    const int year = twoDigits(text, 0) * 100 + twoDigits(text, 2);
    if (!QDate::isValid(year, twoDigits(text, 5), twoDigits(text, 8)) || twoDigits(text, 11) > 23
        || twoDigits(text, 14) > 59 || twoDigits(text, 17) > 59) {
        return std::nullopt;
    }
    return text.toString();
}

} // namespace

std::optional<QString> canonicalTime(QStringView text)
{
    if (std::optional<QString> utc = canonicalUtc(text))
        return utc;
    // YYYY-MM-DDTHH:MM[:SS[.f+]](Z|+HH:MM|-HH:MM), as OData's DateTimeOffset.
    if (text.size() < 17 || text.size() > 64 || text.at(4) != u'-' || text.at(7) != u'-'
        || (text.at(10) != u'T' && text.at(10) != u't') || text.at(13) != u':') {
        return std::nullopt;
    }
    if (!isDigits(text.mid(0, 4)) || !isDigits(text.mid(5, 2)) || !isDigits(text.mid(8, 2))
        || !isDigits(text.mid(11, 2)) || !isDigits(text.mid(14, 2))) {
        return std::nullopt;
    }
    qsizetype p = 16;
    int second = 0;
    QStringView fraction;
    if (p < text.size() && text.at(p) == u':') {
        if (!isDigits(text.mid(p + 1, 2)))
            return std::nullopt;
        second = number(text.mid(p + 1, 2));
        p += 3;
        if (p < text.size() && text.at(p) == u'.') {
            const qsizetype begin = ++p;
            while (p < text.size() && isDigit(text.at(p)))
                ++p;
            fraction = text.mid(begin, p - begin);
            if (fraction.isEmpty() || fraction.size() > 12)
                return std::nullopt;
        }
    }
    int offsetMinutes = 0;
    const QStringView zone = text.mid(p);
    if (zone == u"Z" || zone == u"z") {
    } else if (zone.size() == 6 && (zone.at(0) == u'+' || zone.at(0) == u'-') && zone.at(3) == u':'
               && isDigits(zone.mid(1, 2)) && isDigits(zone.mid(4, 2))) {
        offsetMinutes = number(zone.mid(1, 2)) * 60 + number(zone.mid(4, 2));
        if (number(zone.mid(1, 2)) > 23 || number(zone.mid(4, 2)) > 59)
            return std::nullopt;
        if (zone.at(0) == u'-')
            offsetMinutes = -offsetMinutes;
    } else {
        return std::nullopt;
    }
    const QDate date(number(text.mid(0, 4)), number(text.mid(5, 2)), number(text.mid(8, 2)));
    const QTime time(number(text.mid(11, 2)), number(text.mid(14, 2)), second);
    if (!date.isValid() || !time.isValid())
        return std::nullopt;
    const QDateTime utc = QDateTime(date, time, Qt::UTC).addSecs(-qint64(offsetMinutes) * 60);
    QString out = utc.toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss"));
    if (!fraction.isEmpty())
        out += u'.' + fraction.toString();
    return out + u'Z';
}

QString localTime(const QString &canonical)
{
    // Truncated, not rounded: rounding could carry into the next second.
    if (canonical.size() == 24)
        return canonical; // milliseconds already
    QString local(24, Qt::Uninitialized);
    QChar *out = local.data();
    std::copy_n(canonical.constData(), 19, out);
    out[19] = u'.';
    const qsizetype digits = canonical.size() > 21 ? canonical.size() - 21 : 0;
    for (qsizetype i = 0; i < 3; ++i)
        out[20 + i] = i < digits ? canonical.at(20 + i) : QChar(u'0');
    out[23] = u'Z';
    return local;
}

int compareTimes(const QString &a, const QString &b)
{
    if (const int c = QStringView(a).left(19).compare(QStringView(b).left(19)))
        return c;
    const auto fractionOf = [](const QString &t) {
        QString f = t.size() > 21 ? t.mid(20, t.size() - 21) : QString();
        return f.leftJustified(12, u'0');
    };
    return fractionOf(a).compare(fractionOf(b));
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

QString keyFilter(const EntitySet &set, const QStringList &after)
{
    if (after.size() != set.keys.size() || after.isEmpty())
        return QString();
    return keyAfter(set, after, 0);
}

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

QList<std::pair<QString, QString>> keyPageQuery(const EntitySet &set, const QStringList &after,
                                                int limit, bool keysOnly)
{
    QStringList select;
    for (const Property &key : set.keys)
        select.append(key.name);
    const QString order = select.join(u',');
    if (!keysOnly) {
        for (const Property &column : set.columns) {
            if (!select.contains(column.name))
                select.append(column.name);
        }
    }
    QList<std::pair<QString, QString>> query { { QStringLiteral("$select"), select.join(u',') } };
    const QString filter = keyFilter(set, after);
    if (!filter.isEmpty())
        query.append({ QStringLiteral("$filter"), filter });
    query.append({ QStringLiteral("$orderby"), order });
    query.append({ QStringLiteral("$top"), QString::number(limit) });
    query.append({ QStringLiteral("$count"), QStringLiteral("true") });
    return query;
}

KeysetPosition safetyWindowStart(const KeysetPosition &committed, int windowSeconds)
{
    if (committed.isStart())
        return committed;
    const QDateTime at = QDateTime::fromString(committed.changeTime.left(19) + u'Z', Qt::ISODate);
    if (!at.isValid())
        return KeysetPosition();
    KeysetPosition start;
    start.changeTime
        = at.addSecs(-qint64(windowSeconds)).toUTC().toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss"))
        + committed.changeTime.mid(19);
    return start;
}

} // namespace BatchSync::OData
