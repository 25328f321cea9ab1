#include "secretstore.h"

#include <QCoreApplication>
#include <QSettings>
#include <qt6keychain/keychain.h>

namespace BatchSync::App {

SecretStore::SecretStore(const QString &settingsFile, const QString &service, QObject *parent)
    : QObject(parent)
    , m_settingsFile(settingsFile)
    , m_service(service.isEmpty() ? QCoreApplication::applicationName() : service)
{
}

// A job still running is no child of ours: it finishes and deletes itself (the keychain's
// callback still finds it), its signal going nowhere.
SecretStore::~SecretStore() = default;

std::unique_ptr<QSettings> SecretStore::openSettings() const
{
    if (m_settingsFile.isEmpty())
        return std::make_unique<QSettings>();
    return std::make_unique<QSettings>(m_settingsFile, QSettings::IniFormat);
}

void SecretStore::load(bool migrate)
{
    m_token.clear();
    m_password.clear();
    readOrMigrate(Profile::tokenSettingsKey(), &m_token, migrate);
    readOrMigrate(Profile::passwordSettingsKey(), &m_password, migrate);
    enqueue({ Step::Kind::Finish, QString(), QString(), [this, migrate](QKeychain::Job *) {
                 const std::unique_ptr<QSettings> settings = openSettings();
                 const bool leftInFile
                     = !settings->value(Profile::tokenSettingsKey()).toString().isEmpty()
                     || !settings->value(Profile::passwordSettingsKey()).toString().isEmpty();
                 if (migrate && leftInFile && m_availability == Availability::Unavailable) {
                     m_problem += QLatin1Char(' ')
                         + tr("The token or password an earlier version saved in the settings "
                              "file stays there until the keychain can take it.");
                 }
                 Q_EMIT loaded(m_token, m_password);
             } });
}

void SecretStore::readOrMigrate(const QString &key, QString *value, bool migrate)
{
    const std::unique_ptr<QSettings> settings = openSettings();
    const QString plain = settings->value(key).toString();
    if (plain.isEmpty()) {
        // Earlier versions wrote the key even for no secret: nothing to move.
        if (migrate && settings->contains(key))
            settings->remove(key);
        // A headless run asks the keychain only for what the window put there.
        if (!migrate && !settings->value(keptKey(key)).toBool())
            return;
        enqueue({ Step::Kind::Read, key, QString(), [value](QKeychain::Job *job) {
                     if (job->error() == QKeychain::NoError)
                         *value = static_cast<QKeychain::ReadPasswordJob *>(job)->textData();
                 } });
        return;
    }
    *value = plain;
    if (!migrate)
        return;
    enqueue({ Step::Kind::Write, key, plain, [this, key, plain](QKeychain::Job *job) {
                 // Out of the file only once the keychain holds it.
                 if (job->error() == QKeychain::NoError)
                     markKept(key, true, plain);
             } });
}

void SecretStore::save(const Profile &profile)
{
    {
        const std::unique_ptr<QSettings> settings = openSettings();
        profile.save(*settings);
    }
    store(Profile::tokenSettingsKey(), profile.token);
    store(Profile::passwordSettingsKey(), profile.password);
    enqueue(
        { Step::Kind::Finish, QString(), QString(), [this](QKeychain::Job *) { Q_EMIT saved(); } });
}

void SecretStore::store(const QString &key, const QString &value)
{
    const Step::Kind kind = value.isEmpty() ? Step::Kind::Delete : Step::Kind::Write;
    enqueue({ kind, key, value, [this, key, value](QKeychain::Job *job) {
                 // The keychain has the new value: no plain-text one of before may stay. If
                 // it failed, Profile::save() kept only a plain one still equal to it.
                 if (job->error() == QKeychain::NoError || job->error() == QKeychain::EntryNotFound)
                     markKept(key, job->error() == QKeychain::NoError && !value.isEmpty());
             } });
}

QString SecretStore::keptKey(const QString &key)
{
    return key + QStringLiteral("InKeychain");
}

bool SecretStore::keepsSecrets() const
{
    const std::unique_ptr<QSettings> settings = openSettings();
    return settings->value(keptKey(Profile::tokenSettingsKey())).toBool()
        || settings->value(keptKey(Profile::passwordSettingsKey())).toBool();
}

void SecretStore::markKept(const QString &key, bool kept, const QString &onlyIfValue)
{
    const std::unique_ptr<QSettings> settings = openSettings();
    if (settings->contains(key)
        && (onlyIfValue.isEmpty() || settings->value(key).toString() == onlyIfValue))
        settings->remove(key);
    if (kept)
        settings->setValue(keptKey(key), true);
    else
        settings->remove(keptKey(key));
    settings->sync();
}

void SecretStore::enqueue(Step step)
{
    m_steps.push_back(std::move(step));
    if (!m_running && m_steps.size() == 1) {
        // Even with nothing to ask the keychain, the signal comes from the event loop.
        QMetaObject::invokeMethod(this, &SecretStore::runNext, Qt::QueuedConnection);
    }
}

void SecretStore::runNext()
{
    if (m_running || m_steps.empty())
        return;
    Step &step = m_steps.front();
    QKeychain::Job *job = nullptr;
    switch (step.kind) {
    case Step::Kind::Read:
        job = new QKeychain::ReadPasswordJob(m_service);
        break;
    case Step::Kind::Write: {
        auto *write = new QKeychain::WritePasswordJob(m_service);
        write->setTextData(step.value);
        job = write;
        break;
    }
    case Step::Kind::Delete:
        job = new QKeychain::DeletePasswordJob(m_service);
        break;
    case Step::Kind::Finish: {
        const Step finish = std::move(step);
        m_steps.pop_front();
        finish.finished(nullptr);
        runNext();
        return;
    }
    }
    // Never the plain-text fallback in a file of QtKeychain's own: nothing on disk.
    job->setInsecureFallback(false);
    job->setKey(step.key);
    m_running = job;
    connect(job, &QKeychain::Job::finished, this, &SecretStore::onJobFinished);
    job->start();
}

void SecretStore::onJobFinished(QKeychain::Job *job)
{
    if (job != m_running || m_steps.empty())
        return;
    m_running = nullptr;
    const Step step = std::move(m_steps.front());
    m_steps.pop_front();
    noteResult(job);
    step.finished(job);
    runNext();
}

void SecretStore::noteResult(QKeychain::Job *job)
{
    const QKeychain::Error error = job->error();
    Availability now = Availability::Available;
    if (error == QKeychain::NoError || error == QKeychain::EntryNotFound) {
        m_problem.clear();
    } else {
        now = Availability::Unavailable;
        const QString reason = job->errorString().trimmed();
        m_problem = tr("The OS keychain cannot be used (%1): tokens and passwords are kept for "
                       "this session only, never in the settings file.")
                        .arg(reason.isEmpty() ? tr("no keychain service answers") : reason);
    }
    if (now != m_availability) {
        m_availability = now;
        Q_EMIT availabilityChanged(now);
    }
}

} // namespace BatchSync::App
