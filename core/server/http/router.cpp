#include "router.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "server/access/rowaccess.h"
#include "server/backend/serverbackend.h"
#include "server/backend/values.h"
#include "server/pagewriter.h"
#include "server/push.h"
#include "server/syncserver.h"

#include <QElapsedTimer>
#include <QHttpServer>
#include <QHttpServerRequest>
#include <QHttpServerResponder>
#include <QHttpServerResponse>
#include <QTcpSocket>
#include <QThread>
#include <QUrlQuery>

namespace BatchSync {

// The paging parameters of /count and /changes, validated.
struct Paging
{
    PagingMode mode = PagingMode::Cursor;
    QString since; // cursor or changedSince
    qint64 offset = 0;
    int limit = 1000; // when the request gives none
    QString error; // non-empty: answer 400 with it
};

namespace {

using Status = QHttpServerResponse::StatusCode;

constexpr int MaxLimit = 10000;

QHttpServerResponse jsonResponse(QByteArray &&body, Status status = Status::Ok)
{
    return QHttpServerResponse(QByteArrayLiteral("application/json"), std::move(body), status);
}

QHttpServerResponse errorResponse(Status status, const QString &message)
{
    return jsonResponse(PageWriter::error(message), status);
}

// Cursors are the backend's to check; this only keeps junk from reaching it. SQLite's are
// numbers, PostgreSQL's "xid.seq".
bool looksLikeCursor(QStringView text)
{
    if (text.isEmpty() || text.size() > 40)
        return false;
    for (QChar c : text) {
        if ((c < u'0' || c > u'9') && c != u'.')
            return false;
    }
    return true;
}

Paging parsePaging(const QUrlQuery &query)
{
    Paging paging;
    const auto value
        = [&query](const QString &key) { return query.queryItemValue(key, QUrl::FullyDecoded); };
    const QString sinceKey = QStringLiteral("since");
    const QString changedSinceKey = QStringLiteral("changedSince");
    const QString offsetKey = QStringLiteral("offset");
    const QString limitKey = QStringLiteral("limit");
    const bool hasSince = query.hasQueryItem(sinceKey);
    const bool hasChangedSince = query.hasQueryItem(changedSinceKey);
    const bool hasOffset = query.hasQueryItem(offsetKey);

    if (hasSince && hasChangedSince) {
        paging.error = QStringLiteral("give either since (cursor mode) or changedSince (offset "
                                      "mode), not both");
        return paging;
    }
    if (hasSince && hasOffset) {
        paging.error = QStringLiteral("offset is only used with changedSince (offset mode), "
                                      "not with since");
        return paging;
    }
    if (hasChangedSince || hasOffset) {
        paging.mode = PagingMode::Offset;
        paging.since = value(changedSinceKey);
        if (!paging.since.isEmpty() && !Timestamp::isValid(paging.since)) {
            paging.error = QStringLiteral("changedSince must be a timestamp like "
                                          "2026-11-26T06:20:16.123Z");
            return paging;
        }
        if (hasOffset) {
            const std::optional<qint64> offset = ServerValues::parseCount(value(offsetKey));
            if (!offset) {
                paging.error = QStringLiteral("offset must be a non-negative integer");
                return paging;
            }
            paging.offset = *offset;
        }
    } else {
        paging.since = value(sinceKey);
        if (!paging.since.isEmpty() && !looksLikeCursor(paging.since)) {
            paging.error = QStringLiteral("invalid cursor");
            return paging;
        }
    }
    if (query.hasQueryItem(limitKey)) {
        const std::optional<qint64> limit = ServerValues::parseCount(value(limitKey));
        if (!limit || *limit < 1 || *limit > MaxLimit) {
            paging.error = QStringLiteral("limit must be an integer from 1 to %1").arg(MaxLimit);
            return paging;
        }
        paging.limit = int(*limit);
    }
    return paging;
}

QByteArray methodName(QHttpServerRequest::Method method)
{
    using Method = QHttpServerRequest::Method;
    static const std::pair<Method, const char *> names[] = {
        { Method::Get, "GET" },     { Method::Put, "PUT" },         { Method::Delete, "DELETE" },
        { Method::Post, "POST" },   { Method::Head, "HEAD" },       { Method::Options, "OPTIONS" },
        { Method::Patch, "PATCH" }, { Method::Connect, "CONNECT" }, { Method::Trace, "TRACE" },
    };
    for (const auto &[known, name] : names) {
        if (known == method)
            return QByteArray(name);
    }
    return QByteArrayLiteral("?");
}

QHttpServerResponse unknownEntity(const QString &name)
{
    return errorResponse(Status::NotFound,
                         QStringLiteral("no entity named \"%1\"").arg(Identifier::printable(name)));
}

// The status a backend's failure is answered with: its type decides, never its message.
Status statusOf(ServerError::Type type)
{
    switch (type) {
    case ServerError::Type::BadRequest:
        return Status::BadRequest;
    case ServerError::Type::NotFound:
        return Status::NotFound;
    case ServerError::Type::Conflict:
        return Status::Conflict;
    case ServerError::Type::Unavailable:
        return Status::ServiceUnavailable;
    case ServerError::Type::NotImplemented:
        return Status::NotImplemented;
    case ServerError::Type::None:
    case ServerError::Type::Internal:
        break;
    }
    return Status::InternalServerError;
}

QHttpServerResponse failure(const ServerError &error, const char *what)
{
    const Status status = statusOf(error.type);
    if (status == Status::InternalServerError || status == Status::ServiceUnavailable)
        qCWarning(lcServer).noquote() << what << "failed:" << error.message;
    return errorResponse(status, error.message);
}

} // namespace

Router::Router(SyncServer *server)
    : m_server(server)
{
}

void Router::setToken(const QString &token)
{
    m_token = token.isEmpty() ? QByteArray() : QByteArrayLiteral("Bearer ") + token.toUtf8();
}

void Router::install(QHttpServer *http)
{
    // Synchronous handlers only: Qt 6.4's QFuture responses misbehave (see DESIGN.md).
    http->route(QStringLiteral("/api/v1/entities"), [this](const QHttpServerRequest &request) {
        return respond(Route::Entities, QString(), request);
    });
    http->route(QStringLiteral("/api/v1/entities/<arg>/count"),
                [this](const QString &entity, const QHttpServerRequest &request) {
                    return respond(Route::Count, entity, request);
                });
    http->route(QStringLiteral("/api/v1/entities/<arg>/changes"),
                [this](const QString &entity, const QHttpServerRequest &request,
                       QHttpServerResponder &&responder) {
                    sendPage(respond(Route::Changes, entity, request), std::move(responder));
                });
    http->route(QStringLiteral("/api/v1/wait"),
                [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
                    wait(request, std::move(responder));
                });
    http->setMissingHandler(
        [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
            respond(Route::Missing, QString(), request).write(std::move(responder));
        });
}

void Router::setAccessRules(std::optional<AccessRules> rules)
{
    m_rules = std::move(rules);
    // Held waits were admitted by the rules before: each client asks again under these.
    if (m_waitRoom)
        m_waitRoom->releaseAll();
}

void Router::setConnectionHold(WaitRoom::Hold hold)
{
    m_waitRoom = std::make_unique<WaitRoom>([this](const Wait &wait) { return changedFor(wait); },
                                            std::move(hold));
}

void Router::watch(ServerBackend *backend)
{
    if (!m_waitRoom)
        return;
    WaitRoom *room = m_waitRoom.get();
    const bool told = backend
        && backend->observeChanges([room](const QString &entity) { room->entityChanged(entity); });
    // A backend that cannot tell of changes (several processes write): look every second.
    room->setPollInterval(told ? 0 : 1000);
}

void Router::dropWaits()
{
    if (m_waitRoom)
        m_waitRoom->dropAll();
}

Router::Caller Router::caller(const QHttpServerRequest &request) const
{
    const auto headers = request.headers();
    for (const auto &[name, value] : headers) {
        if (name.compare("authorization", Qt::CaseInsensitive) == 0)
            return caller(value);
    }
    return caller(QByteArrayView());
}

Router::Caller Router::caller(QByteArrayView authorization) const
{
    if (!m_rules && m_token.isEmpty())
        return { true, nullptr };
    QByteArrayView given = authorization.trimmed();
    // The scheme name is case-insensitive (RFC 7235); the token is not.
    if (given.size() <= 7 || given.first(7).compare("bearer ", Qt::CaseInsensitive) != 0)
        return {};
    given = given.sliced(7).trimmed();
    if (m_rules) {
        const AccessToken *token = m_rules->find(given);
        return { token != nullptr, token };
    }
    return { SyncServer::constantTimeEquals(given, QByteArrayView(m_token).sliced(7)), nullptr };
}

QHttpServerResponse Router::respond(Route route, const QString &entity,
                                    const QHttpServerRequest &request)
{
    ++m_requestsServed;
    QElapsedTimer timer;
    timer.start();
    const Caller who = caller(request);
    QHttpServerResponse response = [&] {
        if (!who.admitted) {
            QHttpServerResponse unauthorized = errorResponse(
                Status::Unauthorized, QStringLiteral("missing or invalid bearer token"));
            unauthorized.setHeader(QByteArrayLiteral("WWW-Authenticate"),
                                   QByteArrayLiteral("Bearer"));
            return unauthorized;
        }
        if (route == Route::Missing) {
            return errorResponse(Status::NotFound,
                                 QStringLiteral("no such path: %1")
                                     .arg(Identifier::printable(request.url().path())));
        }
        const bool isPush
            = route == Route::Changes && request.method() == QHttpServerRequest::Method::Post;
        if (request.method() != QHttpServerRequest::Method::Get && !isPush) {
            QHttpServerResponse notAllowed = errorResponse(
                Status::MethodNotAllowed,
                route == Route::Changes ? QStringLiteral("this path answers GET and POST")
                                        : QStringLiteral("protocol v1 only answers GET"));
            notAllowed.setHeader(QByteArrayLiteral("Allow"),
                                 route == Route::Changes ? QByteArrayLiteral("GET, POST")
                                                         : QByteArrayLiteral("GET"));
            return notAllowed;
        }
        if (!m_server->backend())
            return errorResponse(Status::ServiceUnavailable,
                                 QStringLiteral("the server has no database open"));
        switch (route) {
        case Route::Entities:
            return entities(who);
        case Route::Count:
            return count(who, entity, request);
        case Route::Changes:
            return isPush ? push(who, entity, request) : changes(who, entity, request);
        case Route::Missing:
            break;
        }
        return errorResponse(Status::NotFound, QStringLiteral("no such path"));
    }();
    // One line per request at info level: QT_LOGGING_RULES="batchsync.server.info=true"
    // (batchsync-server --verbose). It names the rules' token, never the token itself.
    if (lcServer().isInfoEnabled()) {
        QString line = QString::fromLatin1(methodName(request.method())) + u' '
            + request.url().toString(QUrl::RemoveScheme | QUrl::RemoveAuthority) + u' '
            + QString::number(int(response.statusCode())) + u' '
            + QString::number(response.data().size()) + QLatin1String(" bytes ")
            + QString::number(timer.nsecsElapsed() / 1e6, 'f', 1) + QLatin1String(" ms");
        if (m_rules)
            line += who.token ? QLatin1String(" token=") + who.token->name
                              : QStringLiteral(" token=(none)");
        qCInfo(lcServer).noquote() << line;
    }
    return response;
}

/*
    QHttpServerResponder::writeBody copies a body into the socket's write buffer: for a page,
    hundreds of kilobytes per request, the largest cost of an answer after the page itself.
    Written as a QByteArray, the socket's buffer shares it instead. The head is what
    QHttpServerResponse::write writes for a response with only a Content-Type; any other
    response goes through it.
*/
void Router::sendPage(QHttpServerResponse &&response, QHttpServerResponder &&responder)
{
    QTcpSocket *socket = responder.socket();
    if (response.statusCode() != Status::Ok || !socket) {
        response.write(std::move(responder));
        return;
    }
    const QByteArray body = response.data(); // shared, not copied
    responder.writeStatusLine(Status::Ok);
    responder.writeHeader(QByteArrayLiteral("Content-Type"), response.mimeType());
    responder.writeHeader(QByteArrayLiteral("Content-Length"), QByteArray::number(body.size()));
    responder.writeBody(QByteArray()); // the empty line that ends the head
    socket->write(body);
}

QHttpServerResponse Router::entities(const Caller &caller) const
{
    QList<EntitySchema> readable;
    QSet<QString> writable;
    const QList<EntitySchema> all = m_server->backend()->entities();
    for (const EntitySchema &schema : all) {
        if (!caller.canRead(schema.name))
            continue;
        readable.append(schema);
        if (!m_server->isReadOnly() && caller.canWrite(schema.name))
            writable.insert(schema.name);
    }
    return jsonResponse(PageWriter::entities(readable, writable));
}

std::optional<QHttpServerResponse> Router::refuse(const Caller &caller, const QString &entity,
                                                  const Paging &paging) const
{
    // An entity hidden from the caller answers as an unknown one: its name reveals nothing.
    if (!caller.canRead(entity) || !m_server->backend()->entity(entity))
        return unknownEntity(entity);
    if (!paging.error.isEmpty())
        return errorResponse(Status::BadRequest, paging.error);
    return std::nullopt;
}

QHttpServerResponse Router::count(const Caller &caller, const QString &entity,
                                  const QHttpServerRequest &request)
{
    const Paging paging = parsePaging(request.query());
    if (std::optional<QHttpServerResponse> refusal = refuse(caller, entity, paging))
        return std::move(*refusal);
    const ServerBackend &backend = *m_server->backend();
    const std::optional<qint64> count
        = backend.count(entity, paging.mode, paging.since, caller.rowsOf(entity), nullptr);
    if (!count)
        return failure(backend.lastError(), "count");
    return jsonResponse(PageWriter::count(*count));
}

QHttpServerResponse Router::changes(const Caller &caller, const QString &entity,
                                    const QHttpServerRequest &request)
{
    const Paging paging = parsePaging(request.query());
    if (std::optional<QHttpServerResponse> refusal = refuse(caller, entity, paging))
        return std::move(*refusal);
    const ServerBackend &backend = *m_server->backend();
    int records = 0;
    std::optional<QByteArray> body
        = backend.changesJson(entity, paging.mode, paging.since, paging.offset, paging.limit,
                              caller.rowsOf(entity), &records, nullptr);
    if (!body)
        return failure(backend.lastError(), "reading changes");
    m_changesServed += records;
    emit m_server->pageServed(entity, records);
    if (m_server->pageDelay() > 0)
        QThread::msleep(ulong(m_server->pageDelay()));
    return jsonResponse(std::move(*body));
}

std::optional<std::pair<int, QString>> Router::refuseLargePush(const QString &entity,
                                                               QByteArrayView authorization) const
{
    const Caller who = caller(authorization);
    if (!who.admitted)
        return std::pair(401, QStringLiteral("missing or invalid bearer token"));
    return refusePush(who, entity);
}

std::optional<std::pair<int, QString>> Router::refusePush(const Caller &caller,
                                                          const QString &entity) const
{
    const auto unknown = [&entity] {
        return std::pair(
            404, QStringLiteral("no entity named \"%1\"").arg(Identifier::printable(entity)));
    };
    if (m_server->isReadOnly())
        return std::pair(403, QStringLiteral("this server is read-only"));
    if (!caller.canRead(entity) || !m_server->backend() || !m_server->backend()->entity(entity))
        return unknown();
    if (!caller.canWrite(entity)) {
        return std::pair(403,
                         QStringLiteral("the token %1 may read %2 but not write to it")
                             .arg(caller.token->name, entity));
    }
    return std::nullopt;
}

std::optional<QStringList> Router::changedFor(const Wait &wait) const
{
    const ServerBackend *backend = m_server->backend();
    if (!backend)
        return std::nullopt;
    QStringList changed;
    for (auto it = wait.since.cbegin(); it != wait.since.cend(); ++it) {
        int records = 0;
        if (!backend->changesJson(it.key(), PagingMode::Cursor, it.value(), 0, 1,
                                  wait.rows.value(it.key()), &records, nullptr)) {
            return std::nullopt;
        }
        if (records > 0)
            changed.append(it.key());
    }
    changed.sort();
    return changed;
}

std::variant<Wait, QHttpServerResponse> Router::parseWait(const Caller &caller,
                                                          const QHttpServerRequest &request) const
{
    constexpr int MaxEntities = 1000;
    const QUrlQuery query = request.query();
    Wait wait;
    if (query.hasQueryItem(QStringLiteral("timeout"))) {
        const std::optional<qint64> seconds = ServerValues::parseCount(
            query.queryItemValue(QStringLiteral("timeout"), QUrl::FullyDecoded));
        if (!seconds || *seconds < 1 || *seconds > 60) {
            return errorResponse(Status::BadRequest,
                                 QStringLiteral("timeout must be a whole number of seconds from "
                                                "1 to 60"));
        }
        wait.timeoutMs = int(*seconds) * 1000;
    }
    const QString since = query.queryItemValue(QStringLiteral("since"), QUrl::FullyDecoded);
    const QStringList entries = since.split(u',', Qt::SkipEmptyParts);
    if (entries.isEmpty() || entries.size() > MaxEntities) {
        return errorResponse(Status::BadRequest,
                             QStringLiteral("since must name 1 to %1 entities with their "
                                            "cursors, as since=customers:8812,orders:9001")
                                 .arg(MaxEntities));
    }
    for (const QString &entry : entries) {
        const qsizetype colon = entry.lastIndexOf(u':');
        const QString entity = entry.left(colon);
        const QString cursor = colon < 0 ? QString() : entry.mid(colon + 1);
        if (colon <= 0 || (!cursor.isEmpty() && !looksLikeCursor(cursor))) {
            return errorResponse(Status::BadRequest,
                                 QStringLiteral("\"%1\" in since is not entity:cursor")
                                     .arg(Identifier::printable(entry)));
        }
        if (!caller.canRead(entity) || !m_server->backend()->entity(entity))
            return unknownEntity(entity);
        if (wait.since.contains(entity)) {
            return errorResponse(
                Status::BadRequest,
                QStringLiteral("since names %1 twice").arg(Identifier::printable(entity)));
        }
        wait.since.insert(entity, cursor);
        const RowFilter rows = caller.rowsOf(entity);
        if (!rows.isEmpty())
            wait.rows.insert(entity, rows);
    }
    if (caller.token)
        wait.caller = caller.token->name;
    return wait;
}

void Router::wait(const QHttpServerRequest &request, QHttpServerResponder &&responder)
{
    ++m_requestsServed;
    const Caller who = caller(request);
    const auto refuse
        = [&request, &who, this](QHttpServerResponse &&response, QHttpServerResponder &&responder) {
              qCInfo(lcServer).noquote()
                  << methodName(request.method())
                  << request.url().toString(QUrl::RemoveScheme | QUrl::RemoveAuthority)
                  << int(response.statusCode())
                  << (m_rules ? QStringLiteral("token=")
                              + (who.token ? who.token->name : QStringLiteral("(none)"))
                              : QString());
              response.write(std::move(responder));
          };
    if (!who.admitted) {
        QHttpServerResponse unauthorized = errorResponse(
            Status::Unauthorized, QStringLiteral("missing or invalid bearer token"));
        unauthorized.setHeader(QByteArrayLiteral("WWW-Authenticate"), QByteArrayLiteral("Bearer"));
        return refuse(std::move(unauthorized), std::move(responder));
    }
    if (request.method() != QHttpServerRequest::Method::Get) {
        QHttpServerResponse notAllowed
            = errorResponse(Status::MethodNotAllowed, QStringLiteral("this path answers GET"));
        notAllowed.setHeader(QByteArrayLiteral("Allow"), QByteArrayLiteral("GET"));
        return refuse(std::move(notAllowed), std::move(responder));
    }
    if (!m_server->backend()) {
        return refuse(errorResponse(Status::ServiceUnavailable,
                                    QStringLiteral("the server has no database open")),
                      std::move(responder));
    }
    std::variant<Wait, QHttpServerResponse> parsed = parseWait(who, request);
    if (auto *refusal = std::get_if<QHttpServerResponse>(&parsed))
        return refuse(std::move(*refusal), std::move(responder));
    const Wait &wait = std::get<Wait>(parsed);
    const std::optional<QStringList> changed = changedFor(wait);
    if (!changed)
        return refuse(failure(m_server->backend()->lastError(), "wait"), std::move(responder));
    if (!changed->isEmpty() || !m_waitRoom)
        return WaitRoom::answer(responder, *changed, wait.caller);
    if (!m_waitRoom->hold(wait, std::move(responder))) {
        QHttpServerResponse busy
            = errorResponse(Status::ServiceUnavailable,
                            QStringLiteral("too many waiting requests (%1); try again shortly")
                                .arg(m_server->limits().maxWaiting));
        busy.setHeader(QByteArrayLiteral("Retry-After"), QByteArrayLiteral("1"));
        return refuse(std::move(busy), std::move(responder));
    }
}

// Whole-request errors come in the protocol's order: 401 (respond()), 403, 404, 413, 400.
QHttpServerResponse Router::push(const Caller &caller, const QString &entity,
                                 const QHttpServerRequest &request)
{
    if (std::optional<std::pair<int, QString>> refusal = refusePush(caller, entity))
        return errorResponse(Status(refusal->first), refusal->second);
    ServerBackend &backend = *m_server->backend();
    const std::optional<EntitySchema> schema = backend.entity(entity);
    if (!schema)
        return unknownEntity(entity);
    // The request guard refuses larger bodies before they are read; this is the last word.
    if (request.body().size() > Push::MaxBodyBytes) {
        return errorResponse(
            Status::PayloadTooLarge,
            QStringLiteral("the body is larger than %1 bytes").arg(Push::MaxBodyBytes));
    }
    QString problem;
    std::optional<PushRequest> push = Push::parse(request.body(), *schema, &problem);
    if (!push)
        return errorResponse(Status::BadRequest, problem);
    const RowFilter rows = caller.rowsOf(entity);
    if (!rows.isEmpty()) {
        // Checked before the transaction; the backend's version checks turn a record that
        // moves meanwhile into a conflict, which screenResults() then answers as rejected.
        QStringList ids;
        for (const PushChange &change : std::as_const(push->changes))
            ids.append(change.id);
        const std::optional<QHash<QString, QVariantList>> current
            = backend.liveRecords(entity, ids, nullptr);
        if (!current)
            return failure(backend.lastError(), "push");
        RowAccess::screen(&*push, rows, *schema, *current);
    }
    std::optional<QByteArray> body = backend.push(entity, *push, nullptr);
    if (!body)
        return failure(backend.lastError(), "push");
    if (m_waitRoom)
        m_waitRoom->entityChanged(entity);
    if (!rows.isEmpty())
        body = RowAccess::screenResults(*body, rows, *schema);
    if (!body)
        return errorResponse(Status::InternalServerError,
                             QStringLiteral("push: unreadable results"));
    return jsonResponse(std::move(*body));
}

} // namespace BatchSync
