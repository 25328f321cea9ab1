#pragma once

#include <QString>
#include <QtGlobal>

namespace BatchSync::Output {

/*! "1.5 s" */
QString seconds(qint64 milliseconds);
/*! \a records per second over \a milliseconds, rounded: "48210" */
QString ratePerSecond(qint64 records, qint64 milliseconds);
/*! "m:ss" or "h:mm:ss"; "--:--" for a negative (unknown) time. */
QString clockText(qint64 totalSeconds);
/*! "42.0%"; "--.-%" while \a total is not known. */
QString percentText(qint64 done, qint64 total);

} // namespace BatchSync::Output
