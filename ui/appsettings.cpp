#include "appsettings.h"

#include "common/identifier.h"

#include <QCryptographicHash>
#include <QDir>
#include <QSettings>
#include <QStandardPaths>

namespace BatchSync::Ui {

namespace {

const QString endpointKey = QStringLiteral("connection/endpoint");
const QString tokenKey = QStringLiteral("connection/token");
const QString pagingKey = QStringLiteral("connection/paging");
const QString batchSizeKey = QStringLiteral("connection/batchSize");
const QString adaptiveBatchSizeKey = QStringLiteral("connection/adaptiveBatchSize");
const QString targetBatchMsKey = QStringLiteral("connection/targetBatchMs");
const QString concurrencyKey = QStringLiteral("connection/concurrency");
const QString geometryKey = QStringLiteral("layout/geometry");
const QString windowStateKey = QStringLiteral("layout/windowState");
const QString splitterKey = QStringLiteral("layout/splitter");
const QString columnsGroup = QStringLiteral("layout/columns");

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

} // namespace

QString AppSettings::validate() const
{
    if (!m_endpoint.isEmpty()) {
        const QString text = m_endpoint.toString();
        if (!m_endpoint.isValid() || m_endpoint.isRelative())
            return tr("The endpoint \"%1\" is not a URL. Enter one such as "
                      "http://127.0.0.1:8080/api/v1, or leave it empty for the embedded demo.")
                .arg(text);
        const QString scheme = m_endpoint.scheme().toLower();
        if (scheme != QLatin1String("http") && scheme != QLatin1String("https"))
            return tr("The endpoint must start with http:// or https://, not \"%1:\".")
                .arg(m_endpoint.scheme());
        if (m_endpoint.host().isEmpty())
            return tr("The endpoint \"%1\" names no host.").arg(text);
        if (!m_endpoint.query().isEmpty() || !m_endpoint.fragment().isEmpty())
            return tr("The endpoint is a base URL: remove the \"?...\" or \"#...\" part.");
    }
    for (const QChar c : m_token) {
        if (c.isSpace() || c.category() == QChar::Other_Control || c.unicode() > 0x7e)
            return tr("The token may only contain printable ASCII characters without spaces.");
    }
    if (m_batchSize < SyncSettings::MinBatchSize || m_batchSize > SyncSettings::MaxBatchSize)
        return tr("The batch size must be between %1 and %2 records.")
            .arg(SyncSettings::MinBatchSize)
            .arg(SyncSettings::MaxBatchSize);
    if (m_targetBatchMs < SyncSettings::MinTargetBatchMs
        || m_targetBatchMs > SyncSettings::MaxTargetBatchMs)
        return tr("The target batch duration must be between %1 and %2 ms.")
            .arg(SyncSettings::MinTargetBatchMs)
            .arg(SyncSettings::MaxTargetBatchMs);
    if (m_concurrency < 1 || m_concurrency > SyncSettings::MaxConcurrency)
        return tr("The number of entities syncing at once must be between 1 and %1.")
            .arg(SyncSettings::MaxConcurrency);
    return QString();
}

void AppSettings::setConnection(const AppSettings &other)
{
    m_endpoint = other.m_endpoint;
    m_token = other.m_token;
    m_paging = other.m_paging;
    m_batchSize = other.m_batchSize;
    m_adaptiveBatchSize = other.m_adaptiveBatchSize;
    m_targetBatchMs = other.m_targetBatchMs;
    m_concurrency = other.m_concurrency;
}

bool AppSettings::sameConnection(const AppSettings &other) const
{
    return normalizedEndpoint(m_endpoint) == normalizedEndpoint(other.m_endpoint)
        && m_token == other.m_token && m_paging == other.m_paging
        && m_batchSize == other.m_batchSize && m_adaptiveBatchSize == other.m_adaptiveBatchSize
        && m_targetBatchMs == other.m_targetBatchMs && m_concurrency == other.m_concurrency;
}

AppSettings AppSettings::load(const QSettings &settings)
{
    AppSettings s;
    const QString endpoint = settings.value(endpointKey).toString().trimmed();
    if (!endpoint.isEmpty())
        s.m_endpoint = QUrl(endpoint, QUrl::StrictMode);
    s.m_token = settings.value(tokenKey).toString();
    if (const auto paging = pagingModeFromName(settings.value(pagingKey).toString()))
        s.m_paging = *paging;
    s.m_batchSize = readInt(settings, batchSizeKey, s.m_batchSize);
    s.m_adaptiveBatchSize = readBool(settings, adaptiveBatchSizeKey, s.m_adaptiveBatchSize);
    s.m_targetBatchMs = readInt(settings, targetBatchMsKey, s.m_targetBatchMs);
    s.m_concurrency = readInt(settings, concurrencyKey, s.m_concurrency);
    s.m_windowGeometry = settings.value(geometryKey).toByteArray();
    s.m_windowState = settings.value(windowStateKey).toByteArray();
    s.m_splitterState = settings.value(splitterKey).toByteArray();
    // QSettings cannot enter a group of a const object: read the keys by their full path.
    const QString prefix = columnsGroup + QLatin1Char('/');
    const QStringList keys = settings.allKeys();
    for (const QString &key : keys) {
        if (!key.startsWith(prefix))
            continue;
        const QString entity = key.mid(prefix.size());
        if (Identifier::matchesRule(entity))
            s.m_columnStates.insert(entity, settings.value(key).toByteArray());
    }
    return s;
}

AppSettings AppSettings::load()
{
    const QSettings settings;
    return load(settings);
}

void AppSettings::save(QSettings &settings) const
{
    settings.setValue(endpointKey, m_endpoint.toString());
    settings.setValue(tokenKey, m_token);
    settings.setValue(pagingKey, pagingModeName(m_paging));
    settings.setValue(batchSizeKey, m_batchSize);
    settings.setValue(adaptiveBatchSizeKey, m_adaptiveBatchSize);
    settings.setValue(targetBatchMsKey, m_targetBatchMs);
    settings.setValue(concurrencyKey, m_concurrency);
    settings.setValue(geometryKey, m_windowGeometry);
    settings.setValue(windowStateKey, m_windowState);
    settings.setValue(splitterKey, m_splitterState);
    settings.remove(columnsGroup);
    for (auto it = m_columnStates.cbegin(); it != m_columnStates.cend(); ++it) {
        if (Identifier::matchesRule(it.key()))
            settings.setValue(columnsGroup + QLatin1Char('/') + it.key(), it.value());
    }
    settings.sync();
}

void AppSettings::save() const
{
    QSettings settings;
    save(settings);
}

QString AppSettings::dataDirectory(const QString &directory)
{
    const QString path = directory.isEmpty()
        ? QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)
        : directory;
    if (!path.isEmpty())
        QDir().mkpath(path);
    return path;
}

QString AppSettings::normalizedEndpoint(const QUrl &endpoint)
{
    if (endpoint.isEmpty())
        return QString();
    QUrl url = endpoint.adjusted(QUrl::NormalizePathSegments | QUrl::StripTrailingSlash
                                 | QUrl::RemoveFragment);
    url.setScheme(url.scheme().toLower());
    url.setHost(url.host().toLower());
    return url.toString(QUrl::FullyEncoded);
}

QString AppSettings::databasePathFor(const QUrl &endpoint, const QString &directory)
{
    return QDir(dataDirectory(directory)).filePath(databaseFileNameFor(endpoint));
}

QString AppSettings::databaseFileNameFor(const QUrl &endpoint)
{
    if (endpoint.isEmpty())
        return QStringLiteral("demo.sqlite");
    const QByteArray hash = QCryptographicHash::hash(normalizedEndpoint(endpoint).toUtf8(),
                                                     QCryptographicHash::Sha256)
                                .toHex()
                                .left(16);
    return QStringLiteral("endpoint-%1.sqlite").arg(QString::fromLatin1(hash));
}

QString AppSettings::demoServerPathFor(const QString &directory)
{
    return QDir(dataDirectory(directory)).filePath(QStringLiteral("demo-server.sqlite"));
}

} // namespace BatchSync::Ui
