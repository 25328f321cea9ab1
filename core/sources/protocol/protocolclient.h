#pragma once

#include "common/syncsettings.h"
#include "sources/http/httpreply.h"
#include "sources/http/transport.h"

#include <QByteArray>
#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QPointer>
#include <QUrl>
#include <functional>
#include <memory>

QT_BEGIN_NAMESPACE
class QNetworkAccessManager;
class QNetworkReply;
QT_END_NAMESPACE

namespace BatchSync {

class ProtocolClient;

/*!
    One protocol v1 request in flight: GET /entities, .../count or .../changes. A SourceReply
    (see there for ownership and the one finished() signal); lives in the thread of its
    ProtocolClient.
*/
class ProtocolRequest final : public HttpReply
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ProtocolRequest)

public:
    ~ProtocolRequest() override;

private:
    friend class ProtocolClient;
    struct ParsedPage;
    ProtocolRequest(Kind kind, ProtocolClient *client);

    void handleBody(int status) override;
    QString errorText(const QByteArray &body) const override;
    QString authMessage(int status, const QString &serverText) const override;
    void release() override;
    void parseBody();
    // A page of changes is parsed on a pool thread; onChangesParsed() takes it back here.
    void parseChangesAside();
    void onChangesParsed();

    EntitySchema m_schema;
    int m_sent = 0; // push: the changes sent
    int m_limit = 0;
    PagingMode m_mode = PagingMode::Cursor;
    bool m_hasToken = false;
    QFutureWatcher<ParsedPage> *m_parsing = nullptr; // child, while a page of changes is parsed
};

/*!
    The protocol v1 client, the Source of a BatchSync server: builds requests against a base
    URL such as http://127.0.0.1:8080/api/v1, adds the bearer token, sets a transfer timeout,
    and turns every response into parsed, validated values or an error with a category and a
    message a person can act on (HTTP status, the server's "error" text, the network error).

    It does not retry: the caller decides (SyncError::isTransient, retryAfterSeconds).
    Lives in one thread, with a QNetworkAccessManager of that thread; not thread-safe.
*/
class ProtocolClient final : public Source
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ProtocolClient)

public:
    /*! Uses \a manager (which must live in this thread and outlive the client). */
    explicit ProtocolClient(QNetworkAccessManager *manager, QObject *parent = nullptr);
    ~ProtocolClient() override;

    /*!
        A SourceFactory for the engine: a client of \a settings' endpoint, token and
        transfer timeout, with a network access manager of its own, made by \a makeNetwork
        (for proxies, TLS settings or tests) or a plain one. Both are made where the factory
        is called, in the engine's worker thread, and the client owns the manager.
    */
    static SourceFactory factory(const SyncSettings &settings,
                                 std::function<QNetworkAccessManager *()> makeNetwork = {});

    void setBaseUrl(const QUrl &url);
    QUrl baseUrl() const { return m_baseUrl; }

    /*! Bearer token sent with every request; empty: no Authorization header. */
    void setToken(const QString &token);
    QString token() const { return m_token; }

    /*!
        The CA certificates https requests trust, and whether the token may go over plain
        http to a host that is not loopback (by default it may not: such a request fails
        before any connection). The default: the system's CAs.
    */
    void setTransport(const TransportPolicy &transport) { m_transport = transport; }
    const TransportPolicy &transport() const { return m_transport; }

    /*! Transfer timeout per request in ms: a request with no data for this long fails. */
    void setTransferTimeout(int milliseconds);
    int transferTimeout() const { return m_transferTimeout; }

    /*! Largest response body accepted, in bytes; a larger one is a protocol error. */
    void setMaxResponseSize(qint64 bytes);
    qint64 maxResponseSize() const { return m_maxResponseSize; }

    /*! Cursor and offset paging, push and wait (protocol v1.1; a v1 server refuses the last two).
     */
    Capabilities capabilities() const override;

    /*! GET /entities. */
    ProtocolRequest *fetchEntities() override;
    /*!
        GET /wait?timeout=S&since=entity:cursor,... (protocol v1.1), with a transfer timeout
        of S plus the client's own, so that a held request is never cut short.
    */
    ProtocolRequest *waitForChanges(const QHash<QString, QString> &since,
                                    int timeoutSeconds) override;
    /*! GET .../count of \a entity's name. */
    ProtocolRequest *fetchCount(const EntitySchema &entity, PagingMode mode,
                                const QString &since) override;
    /*! GET /entities/{entity}/count. */
    ProtocolRequest *fetchCount(const QString &entity, PagingMode mode, const QString &since);
    /*! GET .../changes; query.limit is clamped to 1..Protocol::MaxLimit. */
    ProtocolRequest *fetchChanges(const EntitySchema &schema, const ChangesQuery &query) override;
    /*! POST /entities/{name}/changes (protocol v1.1). */
    ProtocolRequest *pushChanges(const EntitySchema &schema, const QString &clientId,
                                 const QList<LocalChange> &changes) override;

    /*!
        The URL a request for \a path (relative to the base URL; percent-encoded where
        needed) and \a query goes to. Query values are percent-encoded here.
    */
    QUrl urlFor(const QString &path, const QList<std::pair<QString, QString>> &query = {}) const;

private:
    // A GET, or for a Push request a POST of \a body; \a transferTimeout replaces the
    // client's when not negative.
    ProtocolRequest *send(ProtocolRequest *request, const QString &path,
                          const QList<std::pair<QString, QString>> &query = {},
                          const QByteArray &body = {}, int transferTimeout = -1);

    QNetworkAccessManager *m_manager;
    std::unique_ptr<QNetworkAccessManager> m_ownedManager; // m_manager, when factory() made it
    QUrl m_baseUrl;
    QString m_token;
    TransportPolicy m_transport;
    int m_transferTimeout = 30000;
    qint64 m_maxResponseSize = 256 * 1024 * 1024;
};

} // namespace BatchSync
