#include "syncserver.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "server/demodata.h"
#include "server/serverstore.h"

#include <QAtomicInteger>
#include <QElapsedTimer>
#include <QHttpServer>
#include <QHttpServerRequest>
#include <QHttpServerResponder>
#include <QHttpServerResponse>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSslSocket>
#include <QTcpServer>
#include <QThread>
#include <QUrlQuery>

namespace BatchSync {

namespace {

using Status = QHttpServerResponse::StatusCode;

constexpr int DefaultLimit = 1000;
constexpr int MaxLimit = 10000;
constexpr quint32 EmbeddedDemoSeed = 20261126;

QHttpServerResponse jsonResponse(QByteArray &&body, Status status = Status::Ok)
{
    return QHttpServerResponse(QByteArrayLiteral("application/json"), std::move(body), status);
}

QHttpServerResponse errorResponse(Status status, const QString &message)
{
    const QJsonObject object { { QStringLiteral("error"), message } };
    return jsonResponse(QJsonDocument(object).toJson(QJsonDocument::Compact), status);
}

// Takes time that depends only on the expected value's length, never on where the given
// value first differs, so that response times do not reveal the token byte by byte.
bool constantTimeEquals(const QByteArray &given, const QByteArray &expected)
{
    const qsizetype size = expected.size();
    const qsizetype givenSize = given.size();
    volatile unsigned difference = givenSize == size ? 0u : 1u;
    for (qsizetype i = 0; i < size; ++i) {
        const uchar g = i < givenSize ? uchar(given.at(i)) : uchar(0);
        difference = difference | unsigned(g ^ uchar(expected.at(i)));
    }
    return difference == 0;
}

// A non-negative decimal integer and nothing else (no sign, spaces or exponent).
std::optional<qint64> parseCount(QStringView text)
{
    if (text.isEmpty() || text.size() > 18)
        return std::nullopt;
    qint64 value = 0;
    for (QChar c : text) {
        if (c < u'0' || c > u'9')
            return std::nullopt;
        value = value * 10 + (c.unicode() - u'0');
    }
    return value;
}

// The paging parameters of /count and /changes, validated.
struct Paging
{
    PagingMode mode = PagingMode::Cursor;
    QString since; // cursor or changedSince
    qint64 offset = 0;
    int limit = DefaultLimit;
    QString error; // non-empty: answer 400 with it
};

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
            const std::optional<qint64> offset = parseCount(value(offsetKey));
            if (!offset) {
                paging.error = QStringLiteral("offset must be a non-negative integer");
                return paging;
            }
            paging.offset = *offset;
        }
    } else {
        paging.since = value(sinceKey);
        if (!paging.since.isEmpty() && !parseCount(paging.since)) {
            paging.error = QStringLiteral("invalid cursor");
            return paging;
        }
    }
    if (query.hasQueryItem(limitKey)) {
        const std::optional<qint64> limit = parseCount(value(limitKey));
        if (!limit || *limit < 1 || *limit > MaxLimit) {
            paging.error = QStringLiteral("limit must be an integer from 1 to %1").arg(MaxLimit);
            return paging;
        }
        paging.limit = int(*limit);
    }
    return paging;
}

QHttpServerResponse entitiesResponse(const ServerStore &store)
{
    QJsonArray entities;
    for (const EntitySchema &schema : store.entities()) {
        QJsonArray fields;
        for (const FieldSpec &field : schema.fields) {
            fields.append(QJsonObject { { QStringLiteral("name"), field.name },
                                        { QStringLiteral("type"), fieldTypeName(field.type) } });
        }
        entities.append(QJsonObject { { QStringLiteral("name"), schema.name },
                                      { QStringLiteral("fields"), fields } });
    }
    const QJsonObject body { { QStringLiteral("entities"), entities } };
    return jsonResponse(QJsonDocument(body).toJson(QJsonDocument::Compact));
}

QHttpServerResponse unknownEntity(const QString &name)
{
    return errorResponse(Status::NotFound,
                         QStringLiteral("no entity named \"%1\"").arg(Identifier::printable(name)));
}

} // namespace

SyncServer::SyncServer(QObject *parent)
    : QObject(parent)
    , m_http(std::make_unique<QHttpServer>())
{
    setupRoutes();
}

SyncServer::~SyncServer()
{
    // Connections first: no request may reach a store that is gone.
    m_http.reset();
    m_store.reset();
}

bool SyncServer::open(const QString &databasePath, QString *error)
{
    static QAtomicInteger<quint64> connections;
    auto store = std::make_unique<ServerStore>(
        databasePath, QStringLiteral("batchsync-server-%1").arg(connections.fetchAndAddRelaxed(1)));
    if (!store->open(error))
        return false;
    m_store = std::move(store);
    return true;
}

void SyncServer::setToken(const QString &token)
{
    m_token = token.isEmpty() ? QByteArray() : QByteArrayLiteral("Bearer ") + token.toUtf8();
}

quint16 SyncServer::listen(const QHostAddress &address, quint16 port)
{
    // Our own QTcpServer, so that a failure comes with its reason.
    auto *tcp = new QTcpServer(m_http.get());
    if (!tcp->listen(address, port)) {
        m_errorString = tcp->errorString();
        qCDebug(lcServer).noquote()
            << "cannot listen on" << address.toString() << port << ":" << m_errorString;
        delete tcp;
        return 0;
    }
    m_http->bind(tcp);
    m_errorString.clear();
    m_address = address;
    m_port = tcp->serverPort();
    qCDebug(lcServer) << "listening on" << baseUrl();
    return m_port;
}

QUrl SyncServer::baseUrl() const
{
    if (m_port == 0)
        return QUrl();
    QUrl url;
    url.setScheme(QStringLiteral("http"));
    url.setHost(m_address.toString());
    url.setPort(m_port);
    url.setPath(QStringLiteral("/api/v1"));
    return url;
}

void SyncServer::setupRoutes()
{
    // Synchronous handlers only: Qt 6.4's QFuture responses misbehave (see DESIGN.md).
    m_http->route(QStringLiteral("/api/v1/entities"), [this](const QHttpServerRequest &request) {
        return respond(Route::Entities, QString(), request);
    });
    m_http->route(QStringLiteral("/api/v1/entities/<arg>/count"),
                  [this](const QString &entity, const QHttpServerRequest &request) {
                      return respond(Route::Count, entity, request);
                  });
    m_http->route(QStringLiteral("/api/v1/entities/<arg>/changes"),
                  [this](const QString &entity, const QHttpServerRequest &request) {
                      return respond(Route::Changes, entity, request);
                  });
    m_http->setMissingHandler(
        [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
            respond(Route::Missing, QString(), request).write(std::move(responder));
        });
}

bool SyncServer::isAuthorized(const QHttpServerRequest &request) const
{
    if (m_token.isEmpty())
        return true;
    QByteArray given;
    const auto headers = request.headers();
    for (const auto &[name, value] : headers) {
        if (name.compare("authorization", Qt::CaseInsensitive) == 0) {
            given = value.trimmed();
            break;
        }
    }
    // The scheme name is case-insensitive (RFC 7235); the token is not.
    if (given.size() > 7 && given.first(7).compare("bearer ", Qt::CaseInsensitive) == 0)
        given = QByteArrayLiteral("Bearer ") + given.sliced(7).trimmed();
    return constantTimeEquals(given, m_token);
}

QHttpServerResponse SyncServer::respond(Route route, const QString &entity,
                                        const QHttpServerRequest &request)
{
    ++m_requestsServed;
    QHttpServerResponse response = [&] {
        if (!isAuthorized(request)) {
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
        if (request.method() != QHttpServerRequest::Method::Get) {
            QHttpServerResponse notAllowed = errorResponse(
                Status::MethodNotAllowed, QStringLiteral("protocol v1 only answers GET"));
            notAllowed.setHeader(QByteArrayLiteral("Allow"), QByteArrayLiteral("GET"));
            return notAllowed;
        }
        if (!m_store)
            return errorResponse(Status::ServiceUnavailable,
                                 QStringLiteral("the server has no database open"));
        switch (route) {
        case Route::Entities:
            return entitiesResponse(*m_store);
        case Route::Count:
            return count(entity, request);
        case Route::Changes:
            return changes(entity, request);
        case Route::Missing:
            break;
        }
        return errorResponse(Status::NotFound, QStringLiteral("no such path"));
    }();
    qCDebug(lcServer).noquote() << request.method() << request.url().toString() << "->"
                                << int(response.statusCode()) << response.data().size() << "bytes";
    return response;
}

QHttpServerResponse SyncServer::count(const QString &entity, const QHttpServerRequest &request)
{
    if (!m_store->entity(entity))
        return unknownEntity(entity);
    const Paging paging = parsePaging(request.query());
    if (!paging.error.isEmpty())
        return errorResponse(Status::BadRequest, paging.error);
    QString error;
    const std::optional<qint64> count = m_store->count(entity, paging.mode, paging.since, &error);
    if (!count) {
        qCWarning(lcServer) << "count failed:" << error;
        return errorResponse(Status::InternalServerError, error);
    }
    QByteArray body = QByteArrayLiteral("{\"count\":") + QByteArray::number(*count) + '}';
    return jsonResponse(std::move(body));
}

QHttpServerResponse SyncServer::changes(const QString &entity, const QHttpServerRequest &request)
{
    if (!m_store->entity(entity))
        return unknownEntity(entity);
    const Paging paging = parsePaging(request.query());
    if (!paging.error.isEmpty())
        return errorResponse(Status::BadRequest, paging.error);
    QString error;
    int records = 0;
    std::optional<QByteArray> body = m_store->changesJson(
        entity, paging.mode, paging.since, paging.offset, paging.limit, &records, &error);
    if (!body) {
        qCWarning(lcServer) << "reading changes failed:" << error;
        return errorResponse(Status::InternalServerError, error);
    }
    m_changesServed += records;
    emit pageServed(entity, records);
    if (m_pageDelayMs > 0)
        QThread::msleep(ulong(m_pageDelayMs));
    return jsonResponse(std::move(*body));
}

EmbeddedServer::EmbeddedServer(QObject *parent)
    : QObject(parent)
    , m_thread(std::make_unique<QThread>())
{
    m_thread->setObjectName(QStringLiteral("BatchSync server"));
}

EmbeddedServer::~EmbeddedServer()
{
    // The server is deleted in its own thread when the thread finishes (see start()).
    m_thread->quit();
    m_thread->wait();
    delete m_context;
}

void EmbeddedServer::start(const QString &databasePath, bool demo, const QString &token)
{
    if (m_context) {
        qCWarning(lcServer) << "EmbeddedServer::start() called twice; ignored";
        return;
    }
    // QHttpServer sets up OpenSSL in its constructor. Set up first on the server thread,
    // OpenSSL's per-thread state there leaks at exit (LeakSanitizer sees it in about 4 runs in
    // 10); set up here, in the owner's thread, it does not.
    QSslSocket::supportsSsl();
    m_context = new QObject;
    m_context->moveToThread(m_thread.get());
    m_thread->start();

    QMetaObject::invokeMethod(m_context, [this, databasePath, demo, token,
                                          pageDelay = m_pageDelayMs] {
        // Here in the server thread: everything created now lives in it.
        auto *server = new SyncServer;
        m_server = server;
        connect(m_thread.get(), &QThread::finished, server, &QObject::deleteLater);
        const auto fail = [this](const QString &message) {
            qCWarning(lcServer).noquote() << "embedded server failed:" << message;
            QMetaObject::invokeMethod(
                this, [this, message] { emit failed(message); }, Qt::QueuedConnection);
        };

        QString error;
        if (!server->open(databasePath, &error))
            return fail(error);
        if (demo && server->store()->entities().isEmpty()) {
            QElapsedTimer timer;
            timer.start();
            if (!DemoData::populate(server->store(), 1.0, EmbeddedDemoSeed, &error))
                return fail(QStringLiteral("cannot create the demo data: %1").arg(error));
            qCInfo(lcServer) << "created" << DemoData::recordCount(1.0) << "demo records in"
                             << timer.elapsed() << "ms";
        }
        server->setToken(token);
        server->setPageDelay(pageDelay);
        if (server->listen(QHostAddress::LocalHost, 0) == 0)
            return fail(
                QStringLiteral("cannot listen on 127.0.0.1: %1").arg(server->errorString()));
        const QUrl url = server->baseUrl();
        QMetaObject::invokeMethod(
            this,
            [this, url] {
                m_baseUrl = url;
                emit ready(url);
            },
            Qt::QueuedConnection);
    });
}

} // namespace BatchSync
