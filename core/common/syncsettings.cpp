#include "syncsettings.h"

namespace BatchSync {

bool isLoopbackHost(const QString &host)
{
    QString name = host.toLower();
    if (name.endsWith(u'.'))
        name.chop(1);
    if (name == QLatin1String("localhost") || name == QLatin1String("::1")
        || name == QLatin1String("0:0:0:0:0:0:0:1"))
        return true;
    if (name.startsWith(QLatin1String("::ffff:")))
        name = name.mid(7); // an IPv4 address mapped into IPv6
    const QStringList parts = name.split(u'.');
    if (parts.size() != 4)
        return false;
    for (const QString &part : parts) {
        bool ok = false;
        const int value = part.toInt(&ok, 10);
        if (!ok || value < 0 || value > 255 || part.isEmpty() || part.size() > 3)
            return false;
    }
    return parts.constFirst().toInt() == 127;
}

QString insecureCredentialsProblem(const QUrl &url, bool allowInsecureHttp)
{
    if (allowInsecureHttp || url.scheme().toLower() != QLatin1String("http")
        || isLoopbackHost(url.host()))
        return QString();
    return QStringLiteral("refusing to send the token or password over plain http to %1, where "
                          "anyone on the way can read it: use an https endpoint, or allow it "
                          "with --allow-insecure-http (\"Allow credentials over plain HTTP\" "
                          "in the window's settings)")
        .arg(url.host());
}

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
    if (hasCredentials()) {
        if (const QString problem = insecureCredentialsProblem(endpoint, allowInsecureHttp);
            !problem.isEmpty())
            return problem;
    }
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
    if (autoSyncSeconds < 0 || autoSyncSeconds > 7 * 24 * 3600)
        return QStringLiteral("the automatic sync interval must be between 0 (off) and a week, "
                              "not %1 s")
            .arg(autoSyncSeconds);
    return QString();
}

} // namespace BatchSync
