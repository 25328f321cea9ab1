#pragma once

#include "common/syncsettings.h"
#include "common/types.h"

#include <QCoreApplication>
#include <QMap>
#include <QString>
#include <QUrl>
#include <optional>

QT_BEGIN_NAMESPACE
class QSettings;
QT_END_NAMESPACE

namespace BatchSync::App {

/*!
    The user's sync profile: where to sync from and how. Defined, loaded and saved here only;
    the window, its settings dialog, `--headless` and `--status` all start from it, and it
    alone turns into the engine's SyncSettings (syncSettings()). A plain value; kept with
    QSettings under "connection/..." in the application's settings file (load()/save()).
    Any thread, but load()/save() without arguments use the application's QSettings.
*/
struct Profile
{
    Q_DECLARE_TR_FUNCTIONS(BatchSync::App::Profile)

public:
    SourceKind source = SourceKind::Protocol;
    /*! The protocol base URL, or an OData service root; empty: the embedded demo server. */
    QUrl endpoint;
    QString token; //!< bearer token; empty: none. Kept in the OS keychain (SecretStore).
    /*! OData: HTTP Basic user name; empty: none. Not used for a BatchSync server. */
    QString user;
    /*! OData: the Basic password, for user; kept in the OS keychain as the token is. */
    QString password;
    /*! OData: each set's change-time property by set name; "" names every other set. */
    QMap<QString, QString> changeTimeProperties;
    /*! A PEM file of the CAs an https endpoint's certificate must come from; empty: the system's.
     */
    QString caCertificateFile;
    /*! Whether the token or password may go over plain http to a host that is not loopback. */
    bool allowInsecureHttp = false;
    /*! Live sync: the window keeps the data in step by itself (SyncEngine::setLive). */
    bool live = false;
    /*! The window syncs every entity when it starts. */
    bool syncAtStart = false;
    /*! The window syncs every entity this often, in minutes; 0: never. */
    int autoSyncMinutes = 0;
    static constexpr int MaxAutoSyncMinutes = 7 * 24 * 60;
    /*! OData: how far before its position an incremental sync reads again, in seconds. */
    int safetyWindowSeconds = SyncSettings::DefaultSafetyWindowSeconds;
    PagingMode paging = PagingMode::Cursor;
    /*! Records per request; with adaptiveBatchSize, the first batch's size. */
    int batchSize = SyncSettings::DefaultBatchSize;
    /*! Whether each entity sizes its batches to take about targetBatchMs each. */
    bool adaptiveBatchSize = false;
    int targetBatchMs = SyncSettings::DefaultTargetBatchMs;
    int concurrency = SyncSettings().concurrency; //!< entities syncing at once
    SyncDirection direction = SyncDirection::Both; //!< push, pull or both (push first)
    /*! What a push does with a conflict, for an entity not in conflictPolicies. */
    ConflictPolicy conflictPolicy = ConflictPolicy::ServerWins;
    QMap<QString, ConflictPolicy> conflictPolicies; //!< per entity, by name

    bool isEmbeddedDemo() const { return endpoint.isEmpty(); }
    /*! Whether both name the same endpoint (normalizedEndpoint()). */
    bool sameEndpoint(const Profile &other) const;
    /*! The same settings, the endpoint compared in its normalized form. */
    bool operator==(const Profile &other) const;
    bool operator!=(const Profile &other) const { return !(*this == other); }

    /*! An empty string when the profile can be used, otherwise why not, in a sentence. */
    QString validate() const;

    /*!
        The engine's settings for this profile: its fields on top of \a tuning (retry delays,
        timeouts: what a profile does not hold), syncing from \a baseUrl (the endpoint, or
        the embedded server's URL once it listens) into \a databasePath.
    */
    SyncSettings syncSettings(const QUrl &baseUrl, const QString &databasePath,
                              SyncSettings tuning = SyncSettings()) const;

    /*!
        The local database's file name, so that two servers' data never mix: "demo.sqlite"
        for the embedded demo, otherwise "endpoint-<first 16 hex digits of SHA-256 of the
        normalized URL>.sqlite". Creates nothing.
    */
    QString databaseFileName() const;
    /*! databaseFileName() in dataDirectory(\a directory), which is created if needed. */
    QString databasePath(const QString &directory = QString()) const;

    /*!
        Reads \a settings; absent or unreadable values keep their defaults. A saved source
        this version does not know sets \a problem (when given) and reads as Protocol. The
        token and password are read only as an earlier version left them, in plain text.
    */
    static Profile load(const QSettings &settings, QString *problem = nullptr);
    /*! Reads the application's default QSettings. */
    static Profile load(QString *problem = nullptr);
    /*!
        Writes every field but the token and the password, which SecretStore keeps. A
        plain-text one of an earlier version stays only while it is still this profile's
        (until it moves to the keychain); any other is removed.
    */
    void save(QSettings &settings) const;
    /*! The settings keys of the plain-text token and password of earlier versions. */
    static QString tokenSettingsKey();
    static QString passwordSettingsKey();
    /*! Writes to the application's default QSettings. */
    void save() const;
    /*! The application's settings file, as shown to the user. */
    static QString settingsFile();
    /*!
        \a problem, said of the values saved in \a settingsFile rather than of a flag; with
        \a overridable, a flag may override them.
    */
    static QString inSavedSettings(const QString &problem, const QString &settingsFile,
                                   bool overridable = true);

    /*!
        Where the app keeps its data: \a directory if not empty, otherwise the writable
        AppDataLocation (created if needed).
    */
    static QString dataDirectory(const QString &directory = QString());
    /*! The embedded demo server's own database, "demo-server.sqlite" in the data directory. */
    static QString demoServerPath(const QString &directory = QString());
    /*! The form of \a endpoint used to tell endpoints apart (no trailing slash, etc.). */
    static QString normalizedEndpoint(const QUrl &endpoint);

    /*!
        Reads change-time properties written as "PROP", "set=PROP,set2=PROP2" or both mixed
        ("modifiedAt,Orders=changedOn": a bare name is for every set not named); spaces
        around names and empty items are ignored. Each name must pass the identifier rule.
        Returns what it could read; \a problem (when given) gets the first fault, or stays
        empty.
    */
    static QMap<QString, QString> parseChangeTimeProperties(const QString &text,
                                                            QString *problem = nullptr);
    /*! \a properties in the form parseChangeTimeProperties() reads, the bare one first. */
    static QString changeTimePropertiesText(const QMap<QString, QString> &properties);

    /*!
        Reads conflict policies written as "POLICY" (for every entity not named),
        "entity=POLICY,entity2=POLICY" or both mixed ("server-wins,orders=client-wins"); a
        policy is "server-wins" or "client-wins" (any case), spaces and empty items are
        ignored, and an entity name must pass the identifier rule. The bare policy is under
        the empty name. Returns what it could read; \a problem (when given) gets the first
        fault, or stays empty.
    */
    static QMap<QString, ConflictPolicy> parseConflictPolicies(const QString &text,
                                                               QString *problem = nullptr);
    /*!
        \a perEntity in the form parseConflictPolicies() reads, after \a everyOther when it
        is given.
    */
    static QString conflictPoliciesText(const QMap<QString, ConflictPolicy> &perEntity,
                                        std::optional<ConflictPolicy> everyOther = std::nullopt);
};

/*!
    What the command line changes in the profile for one run; each field is set only when
    its flag is given. Never saved.
*/
struct ProfileOverrides
{
    std::optional<SourceKind> source;
    std::optional<QUrl> endpoint;
    std::optional<QString> token;
    /*! A user other than the saved one does not get the saved password. */
    std::optional<QString> user;
    std::optional<QString> password;
    std::optional<QMap<QString, QString>> changeTimeProperties;
    std::optional<QString> caCertificateFile;
    std::optional<bool> allowInsecureHttp;
    std::optional<int> safetyWindowSeconds;
    std::optional<PagingMode> paging;
    std::optional<int> batchSize;
    std::optional<bool> adaptiveBatchSize;
    std::optional<int> targetBatchMs;
    std::optional<int> concurrency;
    std::optional<SyncDirection> direction;
    /*! For every entity: the saved per-entity policies are dropped too. */
    std::optional<ConflictPolicy> conflictPolicy;
    /*! Per entity, on top of the saved ones (or of conflictPolicy); empty: none given. */
    QMap<QString, ConflictPolicy> conflictPolicies;

    /*! \a profile with these overrides on top. */
    Profile appliedTo(Profile profile) const;

    /*!
        Why a run with appliedTo(\a saved) cannot start, as the engine would say it, or an
        empty string. When the saved values, not the overrides, are at fault, the message
        names \a settingsFile.
    */
    QString problemWith(const Profile &saved, const QString &settingsFile) const;
};

} // namespace BatchSync::App
