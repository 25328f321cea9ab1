#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QJsonValue>
#include <QString>

namespace BatchSync {
struct ProgressInfo;
}

namespace BatchSync::Output {

/*!
    One line of `--progress json`: {"event": \a event, ...\a fields} in compact JSON, with
    "event" first, and a newline.
*/
QByteArray jsonEventLine(const QString &event, const QJsonObject &fields);
/*! A rate for JSON, which has no NaN or infinity: to 0.1 record/s, 0 when unknown. */
double jsonRate(double rate);
/*! {done, total, rate, etaSeconds} of \a progress (etaSeconds null while unknown). */
QJsonObject progressJson(const ProgressInfo &progress);
/*! \a text, or null when it is empty. */
QJsonValue jsonOrNull(const QString &text);

} // namespace BatchSync::Output
