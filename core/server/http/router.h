#pragma once

#include "server/access/authrules.h"
#include "server/http/waitroom.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QString>
#include <memory>
#include <optional>
#include <utility>
#include <variant>

QT_BEGIN_NAMESPACE
class QHttpServer;
class QHttpServerRequest;
class QHttpServerResponse;
class QHttpServerResponder;
QT_END_NAMESPACE

/*!
    \file router.h
    The routes of protocol v1 and their handlers. Internal to core/server; the server's
    thread only.
*/

namespace BatchSync {

class ServerBackend;
class SyncServer;
struct Paging;

/*!
    Answers GET /api/v1/entities, /entities/{name}/count and /entities/{name}/changes and
    POST /entities/{name}/changes (a push, protocol v1.1) from the SyncServer's backend, checks the
   bearer token and the paging parameters, and logs one line per request. A backend's failure is
   answered with the status its ServerError type gives (400, 404, 409, 501, 503, else 500) and its
   message as {"error": "..."}.

    Handlers are synchronous: Qt 6.4's QFuture responses misbehave.
*/
class Router final
{
    Q_DISABLE_COPY_MOVE(Router)

public:
    /*! Serves \a server's backend; emits its pageServed() and applies its pageDelay(). */
    explicit Router(SyncServer *server);

    /*! Adds the routes and the missing-path handler to \a http. */
    void install(QHttpServer *http);

    /*!
        How GET /wait holds a connection outside the ordinary count (the request guard's);
        until it is set, /wait answers at once.
    */
    void setConnectionHold(WaitRoom::Hold hold);

    /*!
        Serves \a backend's changes to held waits: told of changes by the backend when it
        can, else by looking every second.
    */
    void watch(ServerBackend *backend);

    /*! Drops the held waits unanswered (the server is closing). */
    void dropWaits();

    /*! Requests of GET /wait held now. */
    int waitsHeld() const { return m_waitRoom ? m_waitRoom->held() : 0; }

    /*! Requires this bearer token from now on; empty: no authentication. */
    void setToken(const QString &token);

    /*!
        Admits the tokens of \a rules from now on, each to its entities and rows, instead of
        the single token; nullopt: back to setToken()'s.
    */
    void setAccessRules(std::optional<AccessRules> rules);

    /*!
        For a push whose body is too large, the answer that comes before 413: 401 (the
        \a authorization header's value is wrong), 403 (read-only) or 404 (no entity named
        \a entity); nullopt when 413 it is.
    */
    std::optional<std::pair<int, QString>> refuseLargePush(const QString &entity,
                                                           QByteArrayView authorization) const;

    qint64 requestsServed() const { return m_requestsServed; }
    qint64 changesServed() const { return m_changesServed; }

private:
    enum class Route { Entities, Count, Changes, Missing };

    /*! Who sent a request: refused, or admitted with the rules' token (null: to everything). */
    struct Caller
    {
        bool admitted = false;
        const AccessToken *token = nullptr;

        bool canRead(const QString &entity) const { return !token || token->canRead(entity); }
        bool canWrite(const QString &entity) const { return !token || token->canWrite(entity); }
        RowFilter rowsOf(const QString &entity) const
        {
            return token ? token->rowsOf(entity) : RowFilter();
        }
    };

    QHttpServerResponse respond(Route route, const QString &entity,
                                const QHttpServerRequest &request);
    /*!
        The answer when \a entity is unknown or hidden from \a caller, or \a paging malformed;
        nullopt when fine.
    */
    std::optional<QHttpServerResponse> refuse(const Caller &caller, const QString &entity,
                                              const Paging &paging) const;
    QHttpServerResponse entities(const Caller &caller) const;
    QHttpServerResponse count(const Caller &caller, const QString &entity,
                              const QHttpServerRequest &request);
    QHttpServerResponse changes(const Caller &caller, const QString &entity,
                                const QHttpServerRequest &request);
    QHttpServerResponse push(const Caller &caller, const QString &entity,
                             const QHttpServerRequest &request);
    /*! 403 or 404 when \a caller may not push to \a entity; nullopt when it may. */
    std::optional<std::pair<int, QString>> refusePush(const Caller &caller,
                                                      const QString &entity) const;
    static void sendPage(QHttpServerResponse &&response, QHttpServerResponder &&responder);
    void wait(const QHttpServerRequest &request, QHttpServerResponder &&responder);
    /*! The wait a request asks for, or the answer refusing it. */
    std::variant<Wait, QHttpServerResponse> parseWait(const Caller &caller,
                                                      const QHttpServerRequest &request) const;
    std::optional<QStringList> changedFor(const Wait &wait) const;
    Caller caller(const QHttpServerRequest &request) const;
    Caller caller(QByteArrayView authorization) const;

    SyncServer *m_server;
    QByteArray m_token; // the whole expected header value, "Bearer <token>"
    std::optional<AccessRules> m_rules;
    std::unique_ptr<WaitRoom> m_waitRoom;
    qint64 m_changesServed = 0;
    qint64 m_requestsServed = 0;
};

} // namespace BatchSync
