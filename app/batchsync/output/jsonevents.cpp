#include "jsonevents.h"

#include "engine/progressinfo.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <cmath>

namespace BatchSync::Output {

QByteArray jsonEventLine(const QString &event, const QJsonObject &fields)
{
    // QJsonObject sorts its keys: "event" is put first by hand, so that a person reading the
    // stream sees at once what each line is.
    const QByteArray rest = QJsonDocument(fields).toJson(QJsonDocument::Compact);
    QByteArray line = "{\"event\":"
        + QJsonDocument(QJsonArray { event }).toJson(QJsonDocument::Compact).chopped(1).mid(1);
    line += rest.size() > 2 ? ',' + rest.mid(1) : QByteArray("}");
    return line + '\n';
}

double jsonRate(double rate)
{
    return std::isfinite(rate) && rate > 0.0 ? std::round(rate * 10.0) / 10.0 : 0.0;
}

QJsonObject progressJson(const ProgressInfo &progress)
{
    return { { QStringLiteral("done"), progress.done },
             { QStringLiteral("total"), progress.total },
             { QStringLiteral("rate"), jsonRate(progress.rate) },
             { QStringLiteral("etaSeconds"),
               progress.etaSeconds >= 0 ? QJsonValue(progress.etaSeconds)
                                        : QJsonValue(QJsonValue::Null) } };
}

QJsonValue jsonOrNull(const QString &text)
{
    return text.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(text);
}

} // namespace BatchSync::Output
