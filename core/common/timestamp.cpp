#include "timestamp.h"

#include <QTimeZone>

namespace BatchSync::Timestamp {

namespace {

bool digitsAt(QStringView text, qsizetype from, qsizetype count)
{
    for (qsizetype i = from; i < from + count; ++i) {
        if (text.at(i) < u'0' || text.at(i) > u'9')
            return false;
    }
    return true;
}

} // namespace

bool isValid(QStringView text)
{
    // YYYY-MM-DDTHH:MM:SS.mmmZ
    if (text.size() != 24)
        return false;
    if (!digitsAt(text, 0, 4) || text.at(4) != u'-' || !digitsAt(text, 5, 2) || text.at(7) != u'-'
        || !digitsAt(text, 8, 2) || text.at(10) != u'T' || !digitsAt(text, 11, 2)
        || text.at(13) != u':' || !digitsAt(text, 14, 2) || text.at(16) != u':'
        || !digitsAt(text, 17, 2) || text.at(19) != u'.' || !digitsAt(text, 20, 3)
        || text.at(23) != u'Z') {
        return false;
    }
    return parse(text).isValid();
}

QDateTime parse(QStringView text)
{
    if (text.size() != 24)
        return QDateTime();
    QDateTime dt = QDateTime::fromString(text.toString(), Qt::ISODateWithMs);
    if (!dt.isValid())
        return QDateTime();
    dt = dt.toUTC();
    // Reject values Qt silently normalises (e.g. 24:00:00.000) by formatting them back.
    if (format(dt) != text)
        return QDateTime();
    return dt;
}

QString format(const QDateTime &dateTime)
{
    return dateTime.toUTC().toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss.zzzZ"));
}

QString now()
{
    return format(QDateTime::currentDateTimeUtc());
}

QString previousMillisecond(QStringView text)
{
    const QDateTime dt = parse(text);
    if (!dt.isValid())
        return QString();
    return format(dt.addMSecs(-1));
}

} // namespace BatchSync::Timestamp
