#include "profile.h"

#include <QCryptographicHash>
#include <QDir>
#include <QSettings>
#include <QStandardPaths>

namespace BatchSync::App {

namespace {

// The keys of earlier versions: saved profiles load unchanged.
const QString sourceKey = QStringLiteral("connection/source");
const QString endpointKey = QStringLiteral("connection/endpoint");
const QString tokenKey = QStringLiteral("connection/token");
const QString pagingKey = QStringLiteral("connection/paging");
const QString batchSizeKey = QStringLiteral("connection/batchSize");
const QString adaptiveBatchSizeKey = QStringLiteral("connection/adaptiveBatchSize");
const QString targetBatchMsKey = QStringLiteral("connection/targetBatchMs");
const QString concurrencyKey = QStringLiteral("connection/concurrency");

const QString demoDatabaseName = QStringLiteral("demo.sqlite");
const QString demoServerName = QStringLiteral("demo-server.sqlite");

int readInt(const QSettings &settings, const QString &key, int fallback)
{
    bool ok = false;
    const int value = settings.value(key).toInt(&ok);
    return ok ? value : fallback;
}

bool readBool(const QSettings &settings, const QString &key, bool fallback)
{
    const QString text = settings.value(key).toString().trimmed().toLower();
    if (text == QLatin1String("true") || text == QLatin1String("1"))
        return true;
    if (text == QLatin1String("false") || text == QLatin1String("0"))
        return false;
    return fallback;
}

// What the engine says of \a profile; the embedded server's URL is known only once it
// listens, so an empty endpoint stands for any valid one here.
QString engineProblem(const Profile &profile)
{
    const QUrl url = profile.isEmbeddedDemo() ? QUrl(QStringLiteral("http://127.0.0.1/api/v1"))
                                              : profile.endpoint;
    return profile.syncSettings(url, QStringLiteral("checked")).validate();
}

} // namespace

bool Profile::sameEndpoint(const Profile &other) const
{
    return normalizedEndpoint(endpoint) == normalizedEndpoint(other.endpoint);
}

bool Profile::operator==(const Profile &other) const
{
    return source == other.source && sameEndpoint(other) && token == other.token
        && paging == other.paging && batchSize == other.batchSize
        && adaptiveBatchSize == other.adaptiveBatchSize && targetBatchMs == other.targetBatchMs
        && concurrency == other.concurrency;
}

QString Profile::validate() const
{
    if (!endpoint.isEmpty()) {
        const QString text = endpoint.toString();
        if (!endpoint.isValid() || endpoint.isRelative())
            return tr("The endpoint \"%1\" is not a URL. Enter one such as "
                      "http://127.0.0.1:8080/api/v1, or leave it empty for the embedded demo.")
                .arg(text);
        const QString scheme = endpoint.scheme().toLower();
        if (scheme != QLatin1String("http") && scheme != QLatin1String("https"))
            return tr("The endpoint must start with http:// or https://, not \"%1:\".")
                .arg(endpoint.scheme());
        if (endpoint.host().isEmpty())
            return tr("The endpoint \"%1\" names no host.").arg(text);
        if (!endpoint.query().isEmpty() || !endpoint.fragment().isEmpty())
            return tr("The endpoint is a base URL: remove the \"?...\" or \"#...\" part.");
    }
    for (const QChar c : token) {
        if (c.isSpace() || c.category() == QChar::Other_Control || c.unicode() > 0x7e)
            return tr("The token may only contain printable ASCII characters without spaces.");
    }
    if (batchSize < SyncSettings::MinBatchSize || batchSize > SyncSettings::MaxBatchSize)
        return tr("The batch size must be between %1 and %2 records.")
            .arg(SyncSettings::MinBatchSize)
            .arg(SyncSettings::MaxBatchSize);
    if (targetBatchMs < SyncSettings::MinTargetBatchMs
        || targetBatchMs > SyncSettings::MaxTargetBatchMs)
        return tr("The target batch duration must be between %1 and %2 ms.")
            .arg(SyncSettings::MinTargetBatchMs)
            .arg(SyncSettings::MaxTargetBatchMs);
    if (concurrency < 1 || concurrency > SyncSettings::MaxConcurrency)
        return tr("The number of entities syncing at once must be between 1 and %1.")
            .arg(SyncSettings::MaxConcurrency);
    return QString();
}

SyncSettings Profile::syncSettings(const QUrl &baseUrl, const QString &databasePath,
                                   SyncSettings tuning) const
{
    tuning.source = source;
    tuning.endpoint = baseUrl;
    tuning.databasePath = databasePath;
    tuning.token = token;
    tuning.paging = paging;
    tuning.batchSize = batchSize;
    tuning.adaptiveBatchSize = adaptiveBatchSize;
    tuning.targetBatchMs = targetBatchMs;
    tuning.concurrency = concurrency;
    return tuning;
}

QString Profile::databaseFileName() const
{
    if (isEmbeddedDemo())
        return demoDatabaseName;
    const QByteArray hash = QCryptographicHash::hash(normalizedEndpoint(endpoint).toUtf8(),
                                                     QCryptographicHash::Sha256)
                                .toHex()
                                .left(16);
    return QStringLiteral("endpoint-%1.sqlite").arg(QString::fromLatin1(hash));
}

QString Profile::databasePath(const QString &directory) const
{
    return QDir(dataDirectory(directory)).filePath(databaseFileName());
}

Profile Profile::load(const QSettings &settings, QString *problem)
{
    Profile p;
    const QString source = settings.value(sourceKey).toString();
    if (const auto kind = sourceKindFromName(source.trimmed().toLower())) {
        p.source = *kind;
    } else if (!source.isEmpty() && problem) {
        *problem = QStringLiteral("the source \"%1\" is not one this version knows (\"%2\")")
                       .arg(source, sourceKindName(SourceKind::Protocol));
    }
    const QString url = settings.value(endpointKey).toString().trimmed();
    if (!url.isEmpty())
        p.endpoint = QUrl(url, QUrl::StrictMode);
    p.token = settings.value(tokenKey).toString();
    if (const auto mode = pagingModeFromName(settings.value(pagingKey).toString()))
        p.paging = *mode;
    p.batchSize = readInt(settings, batchSizeKey, p.batchSize);
    p.adaptiveBatchSize = readBool(settings, adaptiveBatchSizeKey, p.adaptiveBatchSize);
    p.targetBatchMs = readInt(settings, targetBatchMsKey, p.targetBatchMs);
    p.concurrency = readInt(settings, concurrencyKey, p.concurrency);
    return p;
}

Profile Profile::load(QString *problem)
{
    const QSettings settings;
    return load(settings, problem);
}

void Profile::save(QSettings &settings) const
{
    settings.setValue(sourceKey, sourceKindName(source));
    settings.setValue(endpointKey, endpoint.toString());
    settings.setValue(tokenKey, token);
    settings.setValue(pagingKey, pagingModeName(paging));
    settings.setValue(batchSizeKey, batchSize);
    settings.setValue(adaptiveBatchSizeKey, adaptiveBatchSize);
    settings.setValue(targetBatchMsKey, targetBatchMs);
    settings.setValue(concurrencyKey, concurrency);
    settings.sync();
}

void Profile::save() const
{
    QSettings settings;
    save(settings);
}

QString Profile::settingsFile()
{
    return QDir::toNativeSeparators(QSettings().fileName());
}

QString Profile::inSavedSettings(const QString &problem, const QString &settingsFile,
                                 bool overridable)
{
    return QStringLiteral("%1, in the settings saved by the window (%2): change them there%3")
        .arg(problem, settingsFile,
             overridable ? QStringLiteral(", or override them with a flag") : QString());
}

QString Profile::dataDirectory(const QString &directory)
{
    const QString path = directory.isEmpty()
        ? QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)
        : directory;
    if (!path.isEmpty())
        QDir().mkpath(path);
    return path;
}

QString Profile::demoServerPath(const QString &directory)
{
    return QDir(dataDirectory(directory)).filePath(demoServerName);
}

QString Profile::normalizedEndpoint(const QUrl &endpoint)
{
    if (endpoint.isEmpty())
        return QString();
    QUrl url = endpoint.adjusted(QUrl::NormalizePathSegments | QUrl::StripTrailingSlash
                                 | QUrl::RemoveFragment);
    url.setScheme(url.scheme().toLower());
    url.setHost(url.host().toLower());
    return url.toString(QUrl::FullyEncoded);
}

Profile ProfileOverrides::appliedTo(Profile profile) const
{
    profile.endpoint = endpoint.value_or(profile.endpoint);
    profile.token = token.value_or(profile.token);
    profile.paging = paging.value_or(profile.paging);
    profile.batchSize = batchSize.value_or(profile.batchSize);
    profile.adaptiveBatchSize = adaptiveBatchSize.value_or(profile.adaptiveBatchSize);
    profile.targetBatchMs = targetBatchMs.value_or(profile.targetBatchMs);
    profile.concurrency = concurrency.value_or(profile.concurrency);
    return profile;
}

QString ProfileOverrides::problemWith(const Profile &saved, const QString &settingsFile) const
{
    const QString problem = engineProblem(appliedTo(saved));
    if (problem.isEmpty())
        return problem;
    // Name the settings file when its values, not the flags, are what is wrong.
    if (engineProblem(appliedTo(Profile())).isEmpty())
        return Profile::inSavedSettings(problem, settingsFile);
    return problem;
}

} // namespace BatchSync::App
