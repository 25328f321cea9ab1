#pragma once

#include "profile.h"

#include <QObject>
#include <QPointer>
#include <QString>
#include <deque>
#include <functional>
#include <memory>

QT_BEGIN_NAMESPACE
class QSettings;
QT_END_NAMESPACE

namespace QKeychain {
class Job;
} // namespace QKeychain

namespace BatchSync::App {

/*!
    Where the profile's secrets (the bearer token, the OData password) are kept: the OS
    keychain, through QtKeychain (on Linux a Secret Service over D-Bus), never the settings
    file. The other fields stay in the settings file (Profile::save()).

    Every operation is asynchronous and ends with one signal, emitted from the event loop:
    the GUI thread never waits for the keychain. Operations queue and run one at a time.
    Where no keychain service answers, they still end, problem() says why in a sentence, and
    nothing is written to disk in its place. Main thread.
*/
class SecretStore final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SecretStore)

public:
    enum class Availability {
        Unknown, //!< no answer from the keychain yet
        Available,
        Unavailable, //!< no keychain service, or it refused: see problem()
    };
    Q_ENUM(Availability)

    /*!
        Keeps the secrets of the profile saved in \a settingsFile (INI; empty: the
        application's QSettings), in the keychain under \a service (empty: the application's
        name).
    */
    explicit SecretStore(const QString &settingsFile = QString(),
                         const QString &service = QString(), QObject *parent = nullptr);
    ~SecretStore() override;

    QString service() const { return m_service; }
    Availability availability() const { return m_availability; }
    /*! Why the keychain cannot be used, in a sentence (never quoting a secret); or empty. */
    QString problem() const { return m_problem; }

    /*!
        Reads the token and the password, then emits loaded(). A secret an earlier version
        left in plain text in the settings file is used as it is; with \a migrate it moves to
        the keychain: written there, and removed from the file only once written. Without
        \a migrate (a headless run), the file is left alone and the keychain is asked only
        for what the settings file says it keeps (keepsSecrets()).
    */
    void load(bool migrate = true);
    /*!
        Whether the settings file says the keychain keeps a token or a password
        ("connection/tokenInKeychain", "connection/passwordInKeychain": no secret, only a
        flag set once the keychain took one).
    */
    bool keepsSecrets() const;
    /*!
        Saves \a profile: its other fields in the settings file, its token and password in
        the keychain (an empty one is deleted there), then emits saved(). A plain-text
        secret of an earlier version leaves the file once the keychain holds the new value.
    */
    void save(const Profile &profile);

Q_SIGNALS:
    /*! The end of load(): the secrets found (empty: none). */
    void loaded(const QString &token, const QString &password);
    /*! The end of save(); problem() tells whether the keychain kept the secrets. */
    void saved();
    void availabilityChanged(BatchSync::App::SecretStore::Availability availability);

private:
    // One keychain job, or (without a key) the signal that ends an operation.
    struct Step
    {
        enum class Kind { Read, Write, Delete, Finish };
        Kind kind = Kind::Finish;
        QString key;
        QString value; // what Write writes
        std::function<void(QKeychain::Job *)> finished; // the job is null for Finish
    };

    std::unique_ptr<QSettings> openSettings() const;
    void readOrMigrate(const QString &key, QString *value, bool migrate);
    void store(const QString &key, const QString &value);
    void enqueue(Step step);
    void runNext();
    void onJobFinished(QKeychain::Job *job);
    void noteResult(QKeychain::Job *job);
    // Out of the file goes the plain-text secret under key (if it still is onlyIfValue,
    // when given); in goes whether the keychain keeps it.
    void markKept(const QString &key, bool kept, const QString &onlyIfValue = QString());
    static QString keptKey(const QString &key);

    QString m_settingsFile;
    QString m_service;
    Availability m_availability = Availability::Unknown;
    QString m_problem;
    QString m_token;
    QString m_password;
    std::deque<Step> m_steps;
    QPointer<QKeychain::Job> m_running;
};

} // namespace BatchSync::App
