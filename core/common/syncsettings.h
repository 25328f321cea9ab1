#pragma once

#include "common/types.h"

#include <QMap>
#include <QString>
#include <QUrl>

namespace BatchSync {

/*!
    Everything a SyncEngine needs to know: where to sync from, into which local database,
    and how. A plain value; any thread.
*/
struct SyncSettings
{
    static constexpr int MinBatchSize = 100;
    static constexpr int MaxBatchSize = 10000;
    static constexpr int DefaultBatchSize = 1000;
    static constexpr int MaxConcurrency = 16;
    static constexpr int DefaultTargetBatchMs = 250;
    static constexpr int MinTargetBatchMs = 20;
    static constexpr int MaxTargetBatchMs = 10000;

    static constexpr int DefaultSafetyWindowSeconds = 10;
    static constexpr int MaxSafetyWindowSeconds = 86400;

    SourceKind source = SourceKind::Protocol; //!< what speaks at the endpoint
    /*!
        The protocol base URL (e.g. http://127.0.0.1:8080/api/v1), or an OData service root
        (e.g. http://127.0.0.1:4004/odata/v4/shop/).
    */
    QUrl endpoint;
    QString token; //!< bearer token; empty: none
    /*! HTTP Basic user name (OData services); empty: no Basic authentication. */
    QString user;
    QString password; //!< HTTP Basic password, with user
    /*!
        A PEM file of the certificate authorities an https endpoint's certificate must come
        from, instead of the system's; empty: the system's.
    */
    QString caCertificateFile;
    /*!
        Whether a token or password may be sent over plain http to a host that is not this
        machine's loopback, where anyone on the way can read it. Off by default: such a sync
        is refused before any connection (see insecureCredentialsProblem()).
    */
    bool allowInsecureHttp = false;
    /*!
        OData: the change-time property of each entity set, by set name; the entry with an
        empty name applies to every set not named. Sets without one are looked up in the
        known names (docs/protocol.md, "The OData v4 mapping").
    */
    QMap<QString, QString> changeTimeProperties;
    /*!
        OData: how far before its committed position an incremental sync starts reading
        again, for records stamped before it and committed after it (slow transactions).
    */
    int safetyWindowSeconds = DefaultSafetyWindowSeconds;
    QString databasePath; //!< the local SQLite file
    PagingMode paging = PagingMode::Cursor;
    int batchSize = DefaultBatchSize; //!< records per request, MinBatchSize..MaxBatchSize
    /*!
        When true, batchSize is only the first batch's size: each entity then sizes its
        batches within MinBatchSize..MaxBatchSize so that one batch (request, parse and
        store) takes about targetBatchMs.
    */
    bool adaptiveBatchSize = false;
    int targetBatchMs = DefaultTargetBatchMs; //!< MinTargetBatchMs..MaxTargetBatchMs
    int concurrency = 2; //!< entities syncing at once, 1..MaxConcurrency
    SyncDirection direction = SyncDirection::Both; //!< push, pull or both (push first)
    /*! What a push does with a conflict, for an entity not in conflictPolicies. */
    ConflictPolicy conflictPolicy = ConflictPolicy::ServerWins;
    QMap<QString, ConflictPolicy> conflictPolicies; //!< per entity, by name
    /*! The policy for \a entity. */
    ConflictPolicy conflictPolicyFor(const QString &entity) const
    {
        return conflictPolicies.value(entity, conflictPolicy);
    }
    int transferTimeoutMs = 30000; //!< a request with no data for this long fails
    int retryBaseDelayMs = 500; //!< first retry delay; doubles per attempt, with jitter
    int retryMaxDelayMs = 30000; //!< cap of one retry delay (Retry-After included)
    int retryGiveUpMs = 120000; //!< a failing batch is given up after this long
    int progressIntervalMs = 50; //!< at most one progress signal per entity per interval
    /*!
        Live sync: after each sync a wait request stays open and news starts the entities
        it names (see SyncEngine::setLive).
    */
    bool live = false;
    /*! Live sync with a source that cannot tell of news: a sync this often, in seconds. */
    int liveTimerSeconds = 60;
    /*! Sync every entity as soon as the engine starts. */
    bool syncAtStart = false;
    /*! Sync every entity this often, in seconds, while the engine runs; 0: never. */
    int autoSyncSeconds = 0;

    /*! Whether a token or a password is set. */
    bool hasCredentials() const { return !token.isEmpty() || !user.isEmpty(); }

    /*! An empty string when the settings can be used, otherwise why not. */
    QString validate() const;
};

/*!
    Whether \a host (as QUrl::host() gives it) is this machine's loopback: "localhost",
    127.0.0.0/8 or ::1. Literal names and addresses only; nothing is looked up.
*/
bool isLoopbackHost(const QString &host);

/*!
    Why credentials may not be sent to \a url: it is plain http to a host that is not
    loopback and \a allowInsecureHttp is false. The sentence names --allow-insecure-http.
    Empty when they may be sent.
*/
QString insecureCredentialsProblem(const QUrl &url, bool allowInsecureHttp);

} // namespace BatchSync
