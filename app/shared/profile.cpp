#include "profile.h"

#include "common/identifier.h"
#include "secrettext.h"
#include "sources/http/transport.h"

#include <QCryptographicHash>
#include <QDir>
#include <QSettings>
#include <QStandardPaths>
#include <algorithm>
#include <functional>

namespace BatchSync::App {

namespace {

// The keys of earlier versions: saved profiles load unchanged.
const QString sourceKey = QStringLiteral("connection/source");
const QString endpointKey = QStringLiteral("connection/endpoint");
const QString tokenKey = QStringLiteral("connection/token");
const QString userKey = QStringLiteral("connection/user");
const QString passwordKey = QStringLiteral("connection/password");
const QString changeTimeKey = QStringLiteral("connection/changeTimeProperties");
const QString caCertificateKey = QStringLiteral("connection/caCertificateFile");
const QString allowInsecureHttpKey = QStringLiteral("connection/allowInsecureHttp");
const QString liveKey = QStringLiteral("connection/live");
const QString syncAtStartKey = QStringLiteral("connection/syncAtStart");
const QString autoSyncKey = QStringLiteral("connection/autoSyncMinutes");
const QString safetyWindowKey = QStringLiteral("connection/safetyWindowSeconds");
const QString pagingKey = QStringLiteral("connection/paging");
const QString batchSizeKey = QStringLiteral("connection/batchSize");
const QString adaptiveBatchSizeKey = QStringLiteral("connection/adaptiveBatchSize");
const QString targetBatchMsKey = QStringLiteral("connection/targetBatchMs");
const QString concurrencyKey = QStringLiteral("connection/concurrency");
const QString directionKey = QStringLiteral("connection/direction");
const QString conflictPolicyKey = QStringLiteral("connection/conflictPolicy");
const QString conflictPoliciesKey = QStringLiteral("connection/conflictPolicies");

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

// What only an OData profile can get wrong, as a clause.
QString odataProblem(const Profile &profile)
{
    if (profile.source != SourceKind::OData)
        return QString();
    if (profile.isEmbeddedDemo())
        return QStringLiteral("an OData source needs the service root URL as its endpoint (the "
                              "embedded demo server speaks the BatchSync protocol)");
    if (!profile.user.isEmpty() && !profile.token.isEmpty())
        return QStringLiteral("give either a user and password or a token, not both");
    if (profile.user.contains(QLatin1Char(':')))
        return QStringLiteral("a user name for Basic authentication cannot contain ':'");
    if (profile.safetyWindowSeconds < 0
        || profile.safetyWindowSeconds > SyncSettings::MaxSafetyWindowSeconds)
        return QStringLiteral("the safety window must be between 0 and %1 s, not %2")
            .arg(SyncSettings::MaxSafetyWindowSeconds)
            .arg(profile.safetyWindowSeconds);
    // Loading is lenient: the names are checked here, as the flag's are.
    QString problem;
    Profile::parseChangeTimeProperties(
        Profile::changeTimePropertiesText(profile.changeTimeProperties), &problem);
    return problem;
}

// What parseNamedValues() reads, for its messages: e.g. "entity set", "change-time property",
// "every set".
struct NamedValues
{
    QStringView name;
    QStringView value;
    QStringView everyOther;
};

// Reads "VALUE" (for every name not given), "name=VALUE" or both, separated by commas;
// spaces around and empty items are ignored, each name must pass the identifier rule.
// \a read turns a value into a T, or says why not (nothing, or a T with a fault). Returns
// what it could read; \a problem (when given) gets the first fault.
template<typename T>
QMap<QString, T>
parseNamedValues(const QString &text, const NamedValues &names,
                 const std::function<std::optional<T>(const QString &, QString *)> &read,
                 QString *problem)
{
    QMap<QString, T> values;
    QString first;
    const auto note = [&first](const QString &fault) {
        if (first.isEmpty())
            first = fault;
    };
    const QStringList items = text.split(QLatin1Char(','));
    for (const QString &raw : items) {
        const QString item = raw.trimmed();
        if (item.isEmpty())
            continue;
        const qsizetype equals = item.indexOf(QLatin1Char('='));
        const QString name = equals < 0 ? QString() : item.left(equals).trimmed();
        if (equals >= 0 && name.isEmpty())
            note(QStringLiteral("\"%1\" names no %2 before '='")
                     .arg(Identifier::printable(item), names.name));
        else if (!name.isEmpty())
            note(Identifier::check(name, names.name));
        QString fault;
        const std::optional<T> value
            = read((equals < 0 ? item : item.mid(equals + 1)).trimmed(), &fault);
        note(fault);
        if (!value)
            continue;
        if (values.contains(name)) {
            note(name.isEmpty()
                     ? QStringLiteral("more than one %1 for %2").arg(names.value, names.everyOther)
                     : QStringLiteral("more than one %1 for \"%2\"")
                           .arg(names.value, Identifier::printable(name)));
        }
        values.insert(name, *value);
    }
    if (problem)
        *problem = first;
    return values;
}

// The CA file that cannot be read, or credentials that would go over plain http, as a clause.
QString transportProblem(const Profile &profile)
{
    if (!profile.caCertificateFile.isEmpty()) {
        QString problem;
        if (!Http::readCaCertificates(profile.caCertificateFile, &problem))
            return problem;
    }
    if (profile.token.isEmpty() && (profile.source != SourceKind::OData || profile.user.isEmpty()))
        return QString();
    return insecureCredentialsProblem(profile.endpoint, profile.allowInsecureHttp);
}

// Loading is lenient: the entity names of the conflict policies are checked here, as the
// flag's are.
QString conflictProblem(const Profile &profile)
{
    for (auto it = profile.conflictPolicies.cbegin(); it != profile.conflictPolicies.cend(); ++it) {
        if (const QString problem = Identifier::check(it.key(), u"entity"); !problem.isEmpty())
            return problem;
    }
    return QString();
}

// What the engine says of \a profile; the embedded server's URL is known only once it
// listens, so an empty endpoint stands for any valid one here.
QString engineProblem(const Profile &profile)
{
    const QUrl url = profile.isEmbeddedDemo() ? QUrl(QStringLiteral("http://127.0.0.1/api/v1"))
                                              : profile.endpoint;
    const QString problem = profile.syncSettings(url, QStringLiteral("checked")).validate();
    if (!problem.isEmpty())
        return problem;
    if (const QString conflicts = conflictProblem(profile); !conflicts.isEmpty())
        return QStringLiteral("conflict policies: %1").arg(conflicts);
    if (const QString transport = transportProblem(profile); !transport.isEmpty())
        return transport;
    return odataProblem(profile);
}

} // namespace

bool Profile::sameEndpoint(const Profile &other) const
{
    return normalizedEndpoint(endpoint) == normalizedEndpoint(other.endpoint);
}

bool Profile::operator==(const Profile &other) const
{
    return source == other.source && sameEndpoint(other) && token == other.token
        && user == other.user && password == other.password
        && changeTimeProperties == other.changeTimeProperties
        && caCertificateFile == other.caCertificateFile
        && allowInsecureHttp == other.allowInsecureHttp && live == other.live
        && syncAtStart == other.syncAtStart && autoSyncMinutes == other.autoSyncMinutes
        && safetyWindowSeconds == other.safetyWindowSeconds && paging == other.paging
        && batchSize == other.batchSize && adaptiveBatchSize == other.adaptiveBatchSize
        && targetBatchMs == other.targetBatchMs && concurrency == other.concurrency
        && direction == other.direction && conflictPolicy == other.conflictPolicy
        && conflictPolicies == other.conflictPolicies;
}

QString Profile::validate() const
{
    if (!endpoint.isEmpty()) {
        const QString text = printableUrl(endpoint);
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
        // The settings file would hold it in plain text.
        if (!endpoint.password().isEmpty())
            return tr("The endpoint holds a password (user:password@): remove it from the URL "
                      "and give it in the token or password field, which the OS keychain keeps.");
    }
    for (const QChar c : token) {
        if (c.isSpace() || c.category() == QChar::Other_Control || c.unicode() > 0x7e)
            return tr("The token may only contain printable ASCII characters without spaces.");
    }
    if (const QString problem = odataProblem(*this); !problem.isEmpty())
        return problem.at(0).toUpper() + problem.mid(1) + QLatin1Char('.');
    if (const QString problem = transportProblem(*this); !problem.isEmpty())
        return problem.at(0).toUpper() + problem.mid(1) + QLatin1Char('.');
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
    if (const QString problem = conflictProblem(*this); !problem.isEmpty())
        return tr("Conflict policies: %1.").arg(problem);
    return QString();
}

SyncSettings Profile::syncSettings(const QUrl &baseUrl, const QString &databasePath,
                                   SyncSettings tuning) const
{
    tuning.source = source;
    tuning.endpoint = baseUrl;
    tuning.databasePath = databasePath;
    tuning.token = token;
    // A BatchSync server takes a token only; the other fields are the OData source's.
    if (source == SourceKind::OData && !user.isEmpty()) {
        tuning.user = user;
        tuning.password = password;
    }
    tuning.changeTimeProperties = changeTimeProperties;
    tuning.caCertificateFile = caCertificateFile;
    tuning.allowInsecureHttp = allowInsecureHttp;
    tuning.live = live;
    tuning.syncAtStart = syncAtStart;
    tuning.autoSyncSeconds = autoSyncMinutes * 60;
    tuning.safetyWindowSeconds = safetyWindowSeconds;
    tuning.paging = paging;
    tuning.batchSize = batchSize;
    tuning.adaptiveBatchSize = adaptiveBatchSize;
    tuning.targetBatchMs = targetBatchMs;
    tuning.concurrency = concurrency;
    tuning.direction = direction;
    tuning.conflictPolicy = conflictPolicy;
    tuning.conflictPolicies = conflictPolicies;
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
        *problem = QStringLiteral("the source \"%1\" is not one this version knows (\"%2\" or "
                                  "\"%3\")")
                       .arg(source, sourceKindName(SourceKind::Protocol),
                            sourceKindName(SourceKind::OData));
    }
    const QString url = settings.value(endpointKey).toString().trimmed();
    if (!url.isEmpty())
        p.endpoint = QUrl(url, QUrl::StrictMode);
    p.token = settings.value(tokenKey).toString();
    p.user = settings.value(userKey).toString();
    p.password = settings.value(passwordKey).toString();
    // Written by hand without quotes, "a,b" reads as a list.
    const QVariant changeTime = settings.value(changeTimeKey);
    p.changeTimeProperties
        = parseChangeTimeProperties(changeTime.typeId() == QMetaType::QStringList
                                        ? changeTime.toStringList().join(QLatin1Char(','))
                                        : changeTime.toString());
    p.caCertificateFile = settings.value(caCertificateKey).toString();
    p.allowInsecureHttp = readBool(settings, allowInsecureHttpKey, p.allowInsecureHttp);
    p.live = readBool(settings, liveKey, p.live);
    p.syncAtStart = readBool(settings, syncAtStartKey, p.syncAtStart);
    p.autoSyncMinutes
        = std::clamp(readInt(settings, autoSyncKey, p.autoSyncMinutes), 0, MaxAutoSyncMinutes);
    p.safetyWindowSeconds = readInt(settings, safetyWindowKey, p.safetyWindowSeconds);
    if (const auto mode = pagingModeFromName(settings.value(pagingKey).toString()))
        p.paging = *mode;
    p.batchSize = readInt(settings, batchSizeKey, p.batchSize);
    p.adaptiveBatchSize = readBool(settings, adaptiveBatchSizeKey, p.adaptiveBatchSize);
    p.targetBatchMs = readInt(settings, targetBatchMsKey, p.targetBatchMs);
    p.concurrency = readInt(settings, concurrencyKey, p.concurrency);
    if (const auto direction
        = syncDirectionFromName(settings.value(directionKey).toString().trimmed().toLower()))
        p.direction = *direction;
    if (const auto policy
        = conflictPolicyFromName(settings.value(conflictPolicyKey).toString().trimmed().toLower()))
        p.conflictPolicy = *policy;
    const QVariant policies = settings.value(conflictPoliciesKey);
    p.conflictPolicies = parseConflictPolicies(policies.typeId() == QMetaType::QStringList
                                                   ? policies.toStringList().join(QLatin1Char(','))
                                                   : policies.toString());
    p.conflictPolicies.remove(QString()); // the default has its own key
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
    settings.setValue(endpointKey, endpoint.toString(QUrl::RemovePassword));
    // Secrets go to the keychain; an earlier version's plain one stays until it moves there.
    for (const auto &[key, value] :
         { std::pair(tokenKey, token), std::pair(passwordKey, password) }) {
        if (settings.contains(key) && settings.value(key).toString() != value)
            settings.remove(key);
    }
    settings.setValue(userKey, user);
    settings.setValue(changeTimeKey, changeTimePropertiesText(changeTimeProperties));
    settings.setValue(caCertificateKey, caCertificateFile);
    settings.setValue(allowInsecureHttpKey, allowInsecureHttp);
    settings.setValue(liveKey, live);
    settings.setValue(syncAtStartKey, syncAtStart);
    settings.setValue(autoSyncKey, autoSyncMinutes);
    settings.setValue(safetyWindowKey, safetyWindowSeconds);
    settings.setValue(pagingKey, pagingModeName(paging));
    settings.setValue(batchSizeKey, batchSize);
    settings.setValue(adaptiveBatchSizeKey, adaptiveBatchSize);
    settings.setValue(targetBatchMsKey, targetBatchMs);
    settings.setValue(concurrencyKey, concurrency);
    settings.setValue(directionKey, syncDirectionName(direction));
    settings.setValue(conflictPolicyKey, conflictPolicyName(conflictPolicy));
    settings.setValue(conflictPoliciesKey, conflictPoliciesText(conflictPolicies));
    settings.sync();
}

QString Profile::tokenSettingsKey()
{
    return tokenKey;
}

QString Profile::passwordSettingsKey()
{
    return passwordKey;
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

QMap<QString, QString> Profile::parseChangeTimeProperties(const QString &text, QString *problem)
{
    const NamedValues names { u"entity set", u"change-time property", u"every set" };
    return parseNamedValues<QString>(
        text, names,
        [](const QString &property, QString *fault) -> std::optional<QString> {
            *fault = Identifier::check(property, u"change-time property");
            return property;
        },
        problem);
}

QString Profile::changeTimePropertiesText(const QMap<QString, QString> &properties)
{
    QStringList items;
    for (auto it = properties.cbegin(); it != properties.cend(); ++it)
        items.append(it.key().isEmpty() ? it.value() : it.key() + QLatin1Char('=') + it.value());
    return items.join(QLatin1Char(','));
}

QMap<QString, ConflictPolicy> Profile::parseConflictPolicies(const QString &text, QString *problem)
{
    const NamedValues names { u"entity", u"conflict policy", u"every entity" };
    return parseNamedValues<ConflictPolicy>(
        text, names,
        [](const QString &name, QString *fault) {
            const std::optional<ConflictPolicy> policy = conflictPolicyFromName(name.toLower());
            if (!policy) {
                *fault = QStringLiteral("the conflict policy must be \"%1\" or \"%2\", not \"%3\"")
                             .arg(conflictPolicyName(ConflictPolicy::ServerWins),
                                  conflictPolicyName(ConflictPolicy::ClientWins),
                                  Identifier::printable(name));
            }
            return policy;
        },
        problem);
}

QString Profile::conflictPoliciesText(const QMap<QString, ConflictPolicy> &perEntity,
                                      std::optional<ConflictPolicy> everyOther)
{
    QStringList items;
    if (everyOther)
        items.append(conflictPolicyName(*everyOther));
    for (auto it = perEntity.cbegin(); it != perEntity.cend(); ++it) {
        if (!it.key().isEmpty())
            items.append(it.key() + QLatin1Char('=') + conflictPolicyName(it.value()));
    }
    return items.join(QLatin1Char(','));
}

Profile ProfileOverrides::appliedTo(Profile profile) const
{
    // The saved password belongs to the saved user.
    if (user && !password && *user != profile.user)
        profile.password.clear();
    profile.source = source.value_or(profile.source);
    profile.endpoint = endpoint.value_or(profile.endpoint);
    profile.token = token.value_or(profile.token);
    profile.user = user.value_or(profile.user);
    profile.password = password.value_or(profile.password);
    profile.changeTimeProperties = changeTimeProperties.value_or(profile.changeTimeProperties);
    profile.caCertificateFile = caCertificateFile.value_or(profile.caCertificateFile);
    profile.allowInsecureHttp = allowInsecureHttp.value_or(profile.allowInsecureHttp);
    profile.safetyWindowSeconds = safetyWindowSeconds.value_or(profile.safetyWindowSeconds);
    profile.paging = paging.value_or(profile.paging);
    profile.batchSize = batchSize.value_or(profile.batchSize);
    profile.adaptiveBatchSize = adaptiveBatchSize.value_or(profile.adaptiveBatchSize);
    profile.targetBatchMs = targetBatchMs.value_or(profile.targetBatchMs);
    profile.concurrency = concurrency.value_or(profile.concurrency);
    profile.direction = direction.value_or(profile.direction);
    if (conflictPolicy) {
        // A policy for every entity means every entity: the saved exceptions go.
        profile.conflictPolicy = *conflictPolicy;
        profile.conflictPolicies.clear();
    }
    profile.conflictPolicies.insert(conflictPolicies);
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
