#include "syncsettings.h"

namespace BatchSync {

QString SyncSettings::validate() const
{
    if (!endpoint.isValid() || endpoint.isRelative())
        return QStringLiteral("the endpoint \"%1\" is not an absolute URL")
            .arg(endpoint.toDisplayString());
    const QString scheme = endpoint.scheme().toLower();
    if (scheme != QLatin1String("http") && scheme != QLatin1String("https"))
        return QStringLiteral("the endpoint must be an http or https URL, not \"%1\"")
            .arg(endpoint.toDisplayString());
    if (databasePath.isEmpty())
        return QStringLiteral("no local database path is set");
    if (batchSize < MinBatchSize || batchSize > MaxBatchSize)
        return QStringLiteral("the batch size must be between %1 and %2, not %3")
            .arg(MinBatchSize)
            .arg(MaxBatchSize)
            .arg(batchSize);
    if (targetBatchMs < MinTargetBatchMs || targetBatchMs > MaxTargetBatchMs)
        return QStringLiteral("the target batch duration must be between %1 and %2 ms, not %3")
            .arg(MinTargetBatchMs)
            .arg(MaxTargetBatchMs)
            .arg(targetBatchMs);
    if (concurrency < 1 || concurrency > MaxConcurrency)
        return QStringLiteral("the number of entities syncing at once must be between 1 and %1, "
                              "not %2")
            .arg(MaxConcurrency)
            .arg(concurrency);
    if (transferTimeoutMs < 100)
        return QStringLiteral("the transfer timeout must be at least 100 ms");
    if (retryBaseDelayMs < 1 || retryMaxDelayMs < retryBaseDelayMs || retryGiveUpMs < 0)
        return QStringLiteral("the retry delays are inconsistent");
    if (!user.isEmpty() && !token.isEmpty())
        return QStringLiteral("give either a user and password or a token, not both");
    if (user.contains(QLatin1Char(':')))
        return QStringLiteral("a user name for Basic authentication cannot contain ':'");
    if (safetyWindowSeconds < 0 || safetyWindowSeconds > MaxSafetyWindowSeconds)
        return QStringLiteral("the safety window must be between 0 and %1 s, not %2")
            .arg(MaxSafetyWindowSeconds)
            .arg(safetyWindowSeconds);
    if (progressIntervalMs < 0)
        return QStringLiteral("the progress interval cannot be negative");
    if (liveTimerSeconds < 1 || liveTimerSeconds > 24 * 3600)
        return QStringLiteral("the live timer must be between 1 s and 24 hours, not %1 s")
            .arg(liveTimerSeconds);
    return QString();
}

} // namespace BatchSync
