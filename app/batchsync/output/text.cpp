#include "text.h"

namespace BatchSync::Output {

QString seconds(qint64 milliseconds)
{
    return QString::number(double(milliseconds) / 1000.0, 'f', 1) + QStringLiteral(" s");
}

QString ratePerSecond(qint64 records, qint64 milliseconds)
{
    const double rate
        = milliseconds > 0 ? double(records) * 1000.0 / double(milliseconds) : double(records);
    return QString::number(qRound64(rate));
}

QString clockText(qint64 totalSeconds)
{
    if (totalSeconds < 0)
        return QStringLiteral("--:--");
    const qint64 h = totalSeconds / 3600;
    const qint64 m = (totalSeconds / 60) % 60;
    const qint64 s = totalSeconds % 60;
    if (h > 0)
        return QStringLiteral("%1:%2:%3")
            .arg(h)
            .arg(m, 2, 10, QLatin1Char('0'))
            .arg(s, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1:%2").arg(m).arg(s, 2, 10, QLatin1Char('0'));
}

QString percentText(qint64 done, qint64 total)
{
    if (total <= 0)
        return QStringLiteral("--.-%");
    return QString::number(100.0 * double(done) / double(total), 'f', 1) + QLatin1Char('%');
}

} // namespace BatchSync::Output
