#pragma once

#include "common/types.h"

#include <QByteArrayView>
#include <QHostAddress>
#include <QObject>
#include <QUrl>
#include <memory>

QT_BEGIN_NAMESPACE
class QHttpServer;
class QSslConfiguration;
QT_END_NAMESPACE

namespace BatchSync {

class AccessRules;
class Router;
class ServerBackend;
class ServerStore;
struct ServerScreen;

/*!
    The reference server: protocol v1 under /api/v1 on Qt HttpServer, from a ServerBackend:
    a ServerStore (SQLite, open()), a PgServerStore (PostgreSQL, openPostgres()) or any
    backend handed over with setBackend().

    Answers GET /api/v1/entities, /entities/{name}/count and /entities/{name}/changes in both
    paging modes, POST /entities/{name}/changes (a push, protocol v1.1) unless read-only
    (Router), and GET /wait (live sync, protocol v1.1: held without blocking the thread until
    a change or the timeout, WaitRoom); every error is 4xx/5xx with {"error": "..."}, the status
   following the type of the backend's ServerError. With a token set, every request must carry
   "Authorization: Bearer <token>" (compared in constant time) or gets 401. limit outside 1..10000
   is a 400, an unknown entity a 404.

    Handlers are synchronous (see the QHttpServer notes in DESIGN.md). The server, its
    QHttpServer and its store live in the thread that created it; run it on a thread of its
    own (EmbeddedServer) when that thread has other work, such as a GUI.

    Qt HttpServer 6.4 reads every request whole, with no limit on its size and no timeout,
    so every connection's bytes pass a screen before Qt parses them (see Limits and
    requestguard.h): requests
    too big, too slow, malformed or carrying a body are refused there, with a JSON error and
    "Connection: close", and never reach Qt's parser.
*/
class SyncServer final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SyncServer)

public:
    /*!
        What the server accepts from a client; each refusal is a 4xx/5xx with
        {"error": "..."} and "Connection: close", after which the connection is closed.

        - At most maxConnections connections at once; the next ones get 503 with
          "Retry-After: 1". A connection whose GET /wait request is held leaves that count
          for its own, maxWaiting; a wait beyond it gets 503 with "Retry-After: 1".
        - A request is a head only: request line and header fields. A Content-Length other
          than 0, or any Transfer-Encoding, is a 413 (protocol v1 has no request body),
          except for POST /api/v1/entities/{name}/changes (a push): its body may have up to
          16 MiB (16,777,216 bytes) given by Content-Length; larger is a 413, unless the
          request would get 401, 403 or 404 anyway; a Transfer-Encoding is a 411.
        - The request line is at most maxRequestLineBytes (else 414), the whole head at most
          maxHeadBytes and maxHeaderFields fields, each field line at most
          maxRequestLineBytes (else 431).
        - Only GET, and POST for a push (else 405), HTTP/1.0 or 1.1 (else 505), no protocol upgrade
       (400). A malformed request line or header, a control character, a request target that is not
       an absolute path of printable ASCII, or bad percent-encoding is a 400.
        - A request head must arrive whole within requestTimeoutMs of its first byte (else
          408, which ends slow "slowloris" senders); a connection with no traffic either way
          for idleTimeoutMs is closed (a stalled reader included).
        - Each connection buffers at most readBufferBytes of unread input, so memory per
          connection stays bounded whatever a client sends.
    */
    struct Limits
    {
        int maxConnections = 256;
        int maxRequestLineBytes = 8 * 1024;
        int maxHeadBytes = 32 * 1024;
        int maxHeaderFields = 100;
        int requestTimeoutMs = 30 * 1000;
        int idleTimeoutMs = 120 * 1000;
        int readBufferBytes = 64 * 1024;
        int maxWaiting = 10000;
    };

    explicit SyncServer(QObject *parent = nullptr);
    ~SyncServer() override;

    /*! Applies to connections accepted from now on. */
    void setLimits(const Limits &limits);
    Limits limits() const;

    /*!
        Whether \a given equals \a expected, in a time that depends only on their lengths,
        never on where they first differ, so that response times do not reveal a token byte
        by byte. Used for the bearer token; public so that tests can check it.
    */
    static bool constantTimeEquals(QByteArrayView given, QByteArrayView expected);

    /*! Opens (creating if needed) the SQLite database at \a databasePath (":memory:" allowed). */
    bool open(const QString &databasePath, QString *error);
    /*!
        Serves a PostgreSQL database, given as a libpq connection string or URI (see
        PgConnection); fails with a message naming the server when it cannot be reached.
    */
    bool openPostgres(const QString &connectionString, QString *error);
    /*! Serves \a backend, which must be open. Replaces any backend served before. */
    void setBackend(std::unique_ptr<ServerBackend> backend);
    /*! The data served; null before a backend is set. */
    ServerBackend *backend() const { return m_backend.get(); }
    /*! The SQLite store served, or null when the backend is another one. */
    ServerStore *store() const { return m_sqliteStore; }

    /*! Requires this bearer token from now on; empty: no authentication. */
    void setToken(const QString &token);

    /*!
        Admits the tokens of \a rules from now on (batchsync-server --auth), each to its
        entities and rows, instead of setToken()'s single token. The backend is told which
        fields the rules' rows name, so that it keeps the moves of records between rows;
        false (and the rules in force before kept) when it cannot.
    */
    bool setAccessRules(const AccessRules &rules, QString *error);

    /*!
        A read-only server answers every push with 403 and lists its entities as not
        writable. Off by default.
    */
    void setReadOnly(bool readOnly) { m_readOnly = readOnly; }
    bool isReadOnly() const { return m_readOnly; }

    /*!
        Serves HTTPS with \a configuration (its local certificate and private key, see
        Tls::serverConfiguration() in server/http/tlssetup.h) on the connections accepted from
        now on, as setLimits() applies. Every limit applies over TLS as over plain HTTP; a TLS handshake must
        end within requestTimeoutMs of the connection, else the connection is closed.
    */
    void setTlsConfiguration(const QSslConfiguration &configuration);
    /*! Whether listen() serves HTTPS. */
    bool isTls() const;

    /*! Starts listening; returns the bound port, or 0 on failure. Port 0 picks a free one. */
    quint16 listen(const QHostAddress &address = QHostAddress::LocalHost, quint16 port = 0);
    quint16 port() const { return m_port; }
    /*!
        Stops listening and drops every connection at once, held waits included (unanswered):
        what clients see when the server's host goes off the network. listen() again (on
        port()) to come back.
    */
    void closeConnections();
    /*! Why the last listen() failed (e.g. "The bound address is already in use"). */
    QString errorString() const { return m_errorString; }
    /*!
        The protocol base URL clients use, e.g. http://127.0.0.1:8080/api/v1 (https:// when
        isTls()).
    */
    QUrl baseUrl() const;

    /*!
        Holds every /changes response for \a milliseconds before sending it, so that a demo
        sync lasts long enough for a person to watch it and try pause and resume. The
        server's thread sleeps meanwhile: a demo setting, never one for production.
    */
    void setPageDelay(int milliseconds) { m_pageDelayMs = qMax(0, milliseconds); }
    int pageDelay() const { return m_pageDelayMs; }

    /*! Total number of change records sent in /changes responses so far. */
    qint64 changesServed() const;
    /*! Number of requests answered so far (errors and refusals included). */
    qint64 requestsServed() const;
    /*! Requests and connections refused by the screen (see Limits), timeouts included. */
    qint64 requestsRefused() const;
    /*!
        Connections closed for a head (or a TLS handshake) that came too slowly or for being
        idle too long.
    */
    qint64 connectionsTimedOut() const;
    /*! Connections open now (refused ones on their way out not counted, held waits neither). */
    int openConnections() const;
    /*! GET /wait requests held now, waiting for a change. */
    int waitsHeld() const;

Q_SIGNALS:
    /*!
        Emitted after a /changes page for \a entity has been built, before it is sent.
        Tests connect to it to change data between batches.
    */
    void pageServed(const QString &entity, int records);

private:
    std::unique_ptr<ServerScreen> m_screen; // outlives m_http: its connections report to it
    std::unique_ptr<Router> m_router;
    std::unique_ptr<QHttpServer> m_http;
    std::unique_ptr<ServerBackend> m_backend;
    ServerStore *m_sqliteStore = nullptr; // m_backend, when it is a ServerStore
    QString m_errorString;
    QHostAddress m_address;
    quint16 m_port = 0;
    int m_pageDelayMs = 0;
    bool m_readOnly = false;
};

} // namespace BatchSync

// For the code that includes this header for the server on a thread of its own.
#include "server/http/embeddedserver.h"
