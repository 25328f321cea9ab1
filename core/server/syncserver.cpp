#include "syncserver.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "server/demodata.h"
#include "server/pgserverstore.h"
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
#include <QTcpSocket>
#include <QThread>
#include <QTimer>
#include <QUrlQuery>
#include <algorithm>
#include <cstring>

#ifdef Q_OS_UNIX
#include <sys/socket.h>
#endif

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

bool isCursorError(const QString &error)
{
    return error == QLatin1String("invalid cursor");
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
        if (!paging.since.isEmpty() && !looksLikeCursor(paging.since)) {
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

QHttpServerResponse entitiesResponse(const ServerBackend &store)
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

QByteArray methodName(QHttpServerRequest::Method method)
{
    switch (method) {
    case QHttpServerRequest::Method::Get:
        return QByteArrayLiteral("GET");
    case QHttpServerRequest::Method::Put:
        return QByteArrayLiteral("PUT");
    case QHttpServerRequest::Method::Delete:
        return QByteArrayLiteral("DELETE");
    case QHttpServerRequest::Method::Post:
        return QByteArrayLiteral("POST");
    case QHttpServerRequest::Method::Head:
        return QByteArrayLiteral("HEAD");
    case QHttpServerRequest::Method::Options:
        return QByteArrayLiteral("OPTIONS");
    case QHttpServerRequest::Method::Patch:
        return QByteArrayLiteral("PATCH");
    case QHttpServerRequest::Method::Connect:
        return QByteArrayLiteral("CONNECT");
    case QHttpServerRequest::Method::Trace:
        return QByteArrayLiteral("TRACE");
    default:
        break;
    }
    return QByteArrayLiteral("?");
}

QHttpServerResponse unknownEntity(const QString &name)
{
    return errorResponse(Status::NotFound,
                         QStringLiteral("no entity named \"%1\"").arg(Identifier::printable(name)));
}

// ---- The screen in front of Qt's request parser -------------------------------------------
//
// Qt HttpServer 6.4 reads a request line and headers byte by byte into a buffer without a
// limit, then reads a body of any Content-Length (even 10^12) into memory, all inside a socket
// transaction that keeps every byte until the request is complete; it has no timeout. So
// each connection's socket is created here (GuardedTcpServer) and gets a ConnectionGuard
// whose readyRead slot is connected before Qt's: it sees every byte before Qt reads it, and
// refuses (answers itself, disconnects Qt's slot, closes) at the first byte that breaks a
// limit. A second slot, connected after Qt's, notes how much Qt left unread, so that the
// guard knows which bytes are new at the next readyRead.

constexpr int LingerMs = 2000; // after a refusal: time for the client to read it, then abort

bool isTokenChar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool isHexDigit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

QByteArray reasonPhrase(int status)
{
    switch (status) {
    case 400:
        return QByteArrayLiteral("Bad Request");
    case 405:
        return QByteArrayLiteral("Method Not Allowed");
    case 408:
        return QByteArrayLiteral("Request Timeout");
    case 413:
        return QByteArrayLiteral("Content Too Large");
    case 414:
        return QByteArrayLiteral("URI Too Long");
    case 431:
        return QByteArrayLiteral("Request Header Fields Too Large");
    case 503:
        return QByteArrayLiteral("Service Unavailable");
    case 505:
        return QByteArrayLiteral("HTTP Version Not Supported");
    default:
        return QByteArrayLiteral("Error");
    }
}

// A whole HTTP/1.1 response refusing a request, always closing the connection.
QByteArray refusalResponse(int status, const QString &message, bool withBody,
                           const QByteArray &extraHeaders = QByteArray())
{
    const QByteArray body = QJsonDocument(QJsonObject { { QStringLiteral("error"), message } })
                                .toJson(QJsonDocument::Compact);
    QByteArray response = "HTTP/1.1 " + QByteArray::number(status) + ' ' + reasonPhrase(status)
        + "\r\nContent-Type: application/json\r\nContent-Length: "
        + QByteArray::number(withBody ? body.size() : 0) + "\r\nConnection: close\r\n"
        + extraHeaders + "\r\n";
    if (withBody)
        response += body;
    return response;
}

struct Refusal
{
    int status = 0; // 0: accepted
    QString message;
    QByteArray extraHeaders;
    bool headOnly = false; // a HEAD request: no body in the answer
    bool close = false; // accepted, and the client asked to close after the answer
};

Refusal makeRefusal(int status, const QString &message)
{
    return { status, message, QByteArray(), false };
}

// The request line without its line end: METHOD SP /target SP HTTP/1.x, strictly.
Refusal checkRequestLine(QByteArrayView line)
{
    const qsizetype firstSpace = line.indexOf(' ');
    const qsizetype lastSpace = line.lastIndexOf(' ');
    if (firstSpace <= 0 || lastSpace == firstSpace)
        return makeRefusal(400, QStringLiteral("malformed request line"));
    const QByteArrayView method = line.first(firstSpace);
    const QByteArrayView target = line.sliced(firstSpace + 1, lastSpace - firstSpace - 1);
    const QByteArrayView version = line.sliced(lastSpace + 1);
    if (!std::all_of(method.begin(), method.end(), isTokenChar))
        return makeRefusal(400, QStringLiteral("malformed request method"));
    if (target.isEmpty() || target.front() != '/')
        return makeRefusal(400, QStringLiteral("the request target must be an absolute path"));
    for (qsizetype i = 0; i < target.size(); ++i) {
        const char c = target[i];
        if (c < 0x21 || c > 0x7e)
            return makeRefusal(400,
                               QStringLiteral("the request target must be printable ASCII; "
                                              "percent-encode the rest"));
        if (c == '%'
            && (i + 2 >= target.size() || !isHexDigit(target[i + 1])
                || !isHexDigit(target[i + 2]))) {
            return makeRefusal(400,
                               QStringLiteral("malformed percent-encoding in the request target"));
        }
    }
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        if (version.size() == 8 && version.startsWith("HTTP/") && version[6] == '.')
            return makeRefusal(505, QStringLiteral("only HTTP/1.0 and HTTP/1.1 are served"));
        return makeRefusal(400, QStringLiteral("malformed HTTP version"));
    }
    if (method != "GET") {
        Refusal refusal = makeRefusal(405, QStringLiteral("protocol v1 only answers GET"));
        refusal.extraHeaders = QByteArrayLiteral("Allow: GET\r\n");
        refusal.headOnly = method == "HEAD";
        return refusal;
    }
    return {};
}

// The header fields, each line ending in LF or CRLF, the block ending in an empty line.
Refusal checkHeaderFields(QByteArrayView block, bool http10, const SyncServer::Limits &limits)
{
    int fields = 0;
    bool contentLength = false;
    bool close = http10; // HTTP/1.0 closes unless asked to keep the connection alive
    qsizetype start = 0;
    while (start < block.size()) {
        qsizetype end = block.indexOf('\n', start);
        if (end < 0)
            end = block.size();
        QByteArrayView line = block.sliced(start, end - start);
        start = end + 1;
        if (line.endsWith('\r'))
            line.chop(1);
        if (line.isEmpty())
            break; // the end of the head
        if (line.size() > limits.maxRequestLineBytes)
            return makeRefusal(431,
                               QStringLiteral("a header field is longer than %1 bytes")
                                   .arg(limits.maxRequestLineBytes));
        if (++fields > limits.maxHeaderFields)
            return makeRefusal(
                431, QStringLiteral("more than %1 header fields").arg(limits.maxHeaderFields));
        if (line.front() == ' ' || line.front() == '\t')
            return makeRefusal(400, QStringLiteral("folded header lines are not accepted"));
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            return makeRefusal(400, QStringLiteral("malformed header field"));
        const QByteArrayView name = line.first(colon);
        if (!std::all_of(name.begin(), name.end(), isTokenChar))
            return makeRefusal(400, QStringLiteral("malformed header field name"));
        const QByteArrayView value = line.sliced(colon + 1).trimmed();
        if (value.contains('\r'))
            return makeRefusal(400, QStringLiteral("control character in a header field"));
        const auto is = [&name](const char *header) {
            return name.compare(QByteArrayView(header), Qt::CaseInsensitive) == 0;
        };
        if (is("content-length")) {
            if (contentLength || value.isEmpty()
                || !std::all_of(value.begin(), value.end(),
                                [](char c) { return c >= '0' && c <= '9'; })) {
                return makeRefusal(400, QStringLiteral("malformed Content-Length"));
            }
            contentLength = true;
            if (!std::all_of(value.begin(), value.end(), [](char c) { return c == '0'; }))
                return makeRefusal(413, QStringLiteral("protocol v1 requests carry no body"));
        } else if (is("transfer-encoding")) {
            return makeRefusal(413, QStringLiteral("protocol v1 requests carry no body"));
        } else if (is("upgrade")
                   || (is("connection")
                       && QByteArray(value.data(), value.size()).toLower().contains("upgrade"))) {
            return makeRefusal(400, QStringLiteral("protocol upgrades are not supported"));
        } else if (is("connection")) {
            const QByteArray options = QByteArray(value.data(), value.size()).toLower();
            if (options.contains("close"))
                close = true;
            else if (options.contains("keep-alive"))
                close = false;
        }
    }
    Refusal accepted;
    accepted.close = close;
    return accepted;
}

} // namespace

// Shared by a SyncServer's listening socket and all its connections.
struct ServerScreen
{
    SyncServer::Limits limits;
    QObject *http = nullptr; // the QHttpServer: the receiver of Qt's readyRead connections
    qint64 refused = 0;
    qint64 timedOut = 0;
    int open = 0;
};

namespace {

class ConnectionGuard final : public QObject
{
public:
    ConnectionGuard(QTcpSocket *socket, ServerScreen *screen)
        : QObject(socket)
        , m_socket(socket)
        , m_screen(screen)
        , m_limits(screen->limits)
    {
        ++m_screen->open;
        m_socket->setReadBufferSize(m_limits.readBufferBytes);
        m_requestTimer.setSingleShot(true);
        m_requestTimer.setInterval(m_limits.requestTimeoutMs);
        m_idleTimer.setSingleShot(true);
        m_idleTimer.setInterval(m_limits.idleTimeoutMs);
        m_lingerTimer.setSingleShot(true);
        m_lingerTimer.setInterval(LingerMs);
        connect(&m_requestTimer, &QTimer::timeout, this, [this] {
            ++m_screen->timedOut;
            refuse({ 408,
                     QStringLiteral("the request did not arrive whole within %1 ms")
                         .arg(m_limits.requestTimeoutMs),
                     QByteArray(), false });
        });
        connect(&m_idleTimer, &QTimer::timeout, this, [this] {
            ++m_screen->timedOut;
            qCDebug(lcServer) << "closing an idle connection";
            if (m_socket->bytesToWrite() > 0)
                m_socket->abort(); // a reader that stopped reading
            else
                m_socket->disconnectFromHost();
        });
        connect(&m_lingerTimer, &QTimer::timeout, m_socket, &QAbstractSocket::abort);
        connect(m_socket, &QIODevice::bytesWritten, this, [this] {
            if (m_refused) {
                halfClose();
            } else {
                m_idleTimer.start(); // a reader that reads is not idle
            }
        });
        connect(m_socket, &QIODevice::readyRead, this, &ConnectionGuard::beforeQt);
        m_idleTimer.start();
    }

    ~ConnectionGuard() override { --m_screen->open; }

    // Connected once Qt has connected its own readyRead slot: runs after it.
    void watchAfterQt()
    {
        connect(m_socket, &QIODevice::readyRead, this, &ConnectionGuard::afterQt);
    }

private:
    void beforeQt()
    {
        if (m_refused) {
            // Lingering after a refusal: drop what still comes, so that closing does not
            // reset the connection before the client has read the answer.
            if (m_socket->isTransactionStarted())
                m_socket->commitTransaction();
            m_socket->skip(m_socket->bytesAvailable());
            return;
        }
        m_idleTimer.start();
        const qint64 available = m_socket->bytesAvailable();
        const qint64 fresh = available - m_unreadByQt;
        if (fresh <= 0)
            return;
        const QByteArray unread = m_socket->peek(available);
        const QByteArrayView bytes
            = QByteArrayView(unread).last(qMin<qsizetype>(fresh, unread.size()));
        const Refusal refusal = scan(bytes);
        if (refusal.status != 0)
            refuse(refusal);
    }

    void afterQt()
    {
        if (m_refused)
            return;
        m_unreadByQt = m_socket->bytesAvailable();
        qCDebug(lcServer) << "after Qt:" << m_unreadByQt << "unread," << m_headBytes
                          << "bytes of the next head, close requested:" << m_closeRequested
                          << m_socket->state();
        // Qt 6.4 ignores "Connection: close"; once it has answered everything, close here.
        if (m_closeRequested && m_unreadByQt == 0 && m_headBytes == 0
            && m_socket->state() == QAbstractSocket::ConnectedState) {
            m_socket->disconnectFromHost();
        }
    }

    // Follows the request heads in the byte stream, as Qt's parser will read them.
    Refusal scan(QByteArrayView bytes)
    {
        for (const char c : bytes) {
            if (m_headBytes++ == 0)
                m_requestTimer.start();
            if (m_head.isEmpty() && (c == '\r' || c == '\n' || c == ' ' || c == '\t' || c == '\v'))
                continue; // Qt skips blank space between requests; so do we, within the caps
            if (m_headBytes > m_limits.maxHeadBytes) {
                return m_requestLineEnd < 0
                    ? makeRefusal(414,
                                  QStringLiteral("the request line is longer than %1 bytes")
                                      .arg(m_limits.maxRequestLineBytes))
                    : makeRefusal(431,
                                  QStringLiteral("the request head is larger than %1 bytes")
                                      .arg(m_limits.maxHeadBytes));
            }
            if ((uchar(c) < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f)
                return makeRefusal(400, QStringLiteral("control character in the request head"));
            m_head.append(c);
            if (m_requestLineEnd < 0) {
                if (m_head.size() > m_limits.maxRequestLineBytes + 2)
                    return makeRefusal(414,
                                       QStringLiteral("the request line is longer than %1 bytes")
                                           .arg(m_limits.maxRequestLineBytes));
                if (c != '\n')
                    continue;
                QByteArrayView line = QByteArrayView(m_head).chopped(1);
                if (line.endsWith('\r'))
                    line.chop(1);
                if (line.size() > m_limits.maxRequestLineBytes)
                    return makeRefusal(414,
                                       QStringLiteral("the request line is longer than %1 bytes")
                                           .arg(m_limits.maxRequestLineBytes));
                if (line.contains('\r') || line.contains('\t'))
                    return makeRefusal(400, QStringLiteral("malformed request line"));
                const Refusal refusal = checkRequestLine(line);
                if (refusal.status != 0)
                    return refusal;
                m_requestLineEnd = m_head.size();
                continue;
            }
            if (c != '\n')
                continue;
            // The end of the head, exactly where Qt's parser sees it: an empty line.
            const QByteArrayView fields = QByteArrayView(m_head).sliced(m_requestLineEnd);
            if (fields == "\n" || fields == "\r\n" || fields.endsWith("\n\n")
                || fields.endsWith("\n\r\n")) {
                const qsizetype lineEnd = m_head.indexOf('\n');
                const bool http10
                    = QByteArrayView(m_head).first(lineEnd).trimmed().endsWith("HTTP/1.0");
                const Refusal refusal = checkHeaderFields(fields, http10, m_limits);
                if (refusal.status != 0)
                    return refusal;
                m_closeRequested = m_closeRequested || refusal.close;
                m_head.clear();
                m_headBytes = 0;
                m_requestLineEnd = -1;
                m_requestTimer.stop();
            }
        }
        return {};
    }

    void refuse(const Refusal &refusal)
    {
        if (m_refused)
            return;
        m_refused = true;
        ++m_screen->refused;
        m_requestTimer.stop();
        m_idleTimer.stop();
        qCDebug(lcServer).noquote() << "refusing a request:" << refusal.status << refusal.message;
        // Qt never sees this connection's bytes again; it still deletes the socket (and its
        // request object) once the connection is closed.
        if (!QObject::disconnect(m_socket, &QIODevice::readyRead, m_screen->http, nullptr)) {
            qCWarning(lcServer) << "cannot detach a refused connection from QHttpServer; "
                                   "aborting it";
            m_socket->abort();
            return;
        }
        if (m_socket->isTransactionStarted())
            m_socket->commitTransaction();
        m_socket->skip(m_socket->bytesAvailable());
        m_socket->write(refusalResponse(refusal.status, refusal.message, !refusal.headOnly,
                                        refusal.extraHeaders));
        m_lingerTimer.start();
    }

    // Once the refusal is sent: end our side, keep reading (and dropping) until the client
    // closes or the linger time is over.
    void halfClose()
    {
        if (m_halfClosed || m_socket->bytesToWrite() > 0)
            return;
        m_halfClosed = true;
#ifdef Q_OS_UNIX
        if (m_socket->state() == QAbstractSocket::ConnectedState)
            ::shutdown(int(m_socket->socketDescriptor()), SHUT_WR);
#else
        m_socket->disconnectFromHost();
#endif
    }

    QTcpSocket *m_socket;
    ServerScreen *m_screen;
    const SyncServer::Limits m_limits;
    QTimer m_requestTimer;
    QTimer m_idleTimer;
    QTimer m_lingerTimer;
    qint64 m_unreadByQt = 0; // bytes Qt left unread after its last readyRead
    QByteArray m_head; // the current request head so far, at most maxHeadBytes
    qint64 m_headBytes = 0; // bytes of it, blank space before it included
    qsizetype m_requestLineEnd = -1; // where the request line ends in m_head, once it has
    bool m_refused = false;
    bool m_halfClosed = false;
    bool m_closeRequested = false;
};

// Creates each connection's socket, so that its guard sees its bytes before Qt does.
class GuardedTcpServer final : public QTcpServer
{
public:
    GuardedTcpServer(ServerScreen *screen, QObject *parent)
        : QTcpServer(parent)
        , m_screen(screen)
    {
    }

protected:
    void incomingConnection(qintptr descriptor) override
    {
        auto *socket = new QTcpSocket(this);
        if (!socket->setSocketDescriptor(descriptor)) {
            delete socket;
            return;
        }
        if (m_screen->open >= m_screen->limits.maxConnections) {
            // Not handed to Qt: answered here, closed, deleted.
            ++m_screen->refused;
            qCDebug(lcServer) << "refusing a connection: already" << m_screen->open;
            connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
            QTimer::singleShot(LingerMs, socket, [socket] {
                socket->abort();
                socket->deleteLater();
            });
            socket->write(
                refusalResponse(503,
                                QStringLiteral("too many connections (%1); try again shortly")
                                    .arg(m_screen->limits.maxConnections),
                                true, QByteArrayLiteral("Retry-After: 1\r\n")));
            socket->disconnectFromHost();
            return;
        }
        auto *guard = new ConnectionGuard(socket, m_screen);
        addPendingConnection(socket); // QHttpServer takes it now and connects its slots
        if (hasPendingConnections()) {
            // Not expected with Qt 6.4; without this the guard would not know what Qt read.
            qCWarning(lcServer) << "QHttpServer did not take a connection at once; closing it";
            socket->abort();
            return;
        }
        guard->watchAfterQt();
    }

private:
    ServerScreen *m_screen;
};

} // namespace

bool SyncServer::constantTimeEquals(QByteArrayView given, QByteArrayView expected)
{
    // Takes time that depends only on the lengths, never on where the values first differ.
    const qsizetype size = expected.size();
    const qsizetype givenSize = given.size();
    volatile unsigned difference = givenSize == size ? 0u : 1u;
    for (qsizetype i = 0; i < size; ++i) {
        const uchar g = i < givenSize ? uchar(given[i]) : uchar(0);
        difference = difference | unsigned(g ^ uchar(expected[i]));
    }
    return difference == 0;
}

SyncServer::SyncServer(QObject *parent)
    : QObject(parent)
    , m_screen(std::make_unique<ServerScreen>())
    , m_http(std::make_unique<QHttpServer>())
{
    m_screen->http = m_http.get();
    setupRoutes();
}

void SyncServer::setLimits(const Limits &limits)
{
    Limits checked = limits;
    checked.maxConnections = qMax(1, checked.maxConnections);
    checked.maxRequestLineBytes = qMax(64, checked.maxRequestLineBytes);
    checked.maxHeadBytes = qMax(checked.maxRequestLineBytes, checked.maxHeadBytes);
    checked.maxHeaderFields = qMax(1, checked.maxHeaderFields);
    checked.requestTimeoutMs = qMax(1, checked.requestTimeoutMs);
    checked.idleTimeoutMs = qMax(1, checked.idleTimeoutMs);
    // Qt keeps a request's bytes in the socket's buffer until the request is whole.
    checked.readBufferBytes = qMax(2 * checked.maxHeadBytes, checked.readBufferBytes);
    m_screen->limits = checked;
}

SyncServer::Limits SyncServer::limits() const
{
    return m_screen->limits;
}

qint64 SyncServer::requestsServed() const
{
    return m_requestsServed + m_screen->refused;
}

qint64 SyncServer::requestsRefused() const
{
    return m_screen->refused;
}

qint64 SyncServer::connectionsTimedOut() const
{
    return m_screen->timedOut;
}

int SyncServer::openConnections() const
{
    return m_screen->open;
}

SyncServer::~SyncServer()
{
    // Connections first: no request may reach a store that is gone.
    m_http.reset();
    m_sqliteStore = nullptr;
    m_backend.reset();
    m_screen.reset();
}

bool SyncServer::open(const QString &databasePath, QString *error)
{
    static QAtomicInteger<quint64> connections;
    auto store = std::make_unique<ServerStore>(
        databasePath, QStringLiteral("batchsync-server-%1").arg(connections.fetchAndAddRelaxed(1)));
    if (!store->open(error))
        return false;
    ServerStore *sqlite = store.get();
    setBackend(std::move(store));
    m_sqliteStore = sqlite;
    return true;
}

bool SyncServer::openPostgres(const QString &connectionString, QString *error)
{
    static QAtomicInteger<quint64> connections;
    auto store = std::make_unique<PgServerStore>(
        connectionString,
        QStringLiteral("batchsync-server-pg-%1").arg(connections.fetchAndAddRelaxed(1)));
    if (!store->open(error))
        return false;
    setBackend(std::move(store));
    return true;
}

void SyncServer::setBackend(std::unique_ptr<ServerBackend> backend)
{
    m_sqliteStore = nullptr;
    m_backend = std::move(backend);
}

void SyncServer::setToken(const QString &token)
{
    m_token = token.isEmpty() ? QByteArray() : QByteArrayLiteral("Bearer ") + token.toUtf8();
}

quint16 SyncServer::listen(const QHostAddress &address, quint16 port)
{
    // Our own QTcpServer, so that a failure comes with its reason.
    auto *tcp = new GuardedTcpServer(m_screen.get(), m_http.get());
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
                  [this](const QString &entity, const QHttpServerRequest &request,
                         QHttpServerResponder &&responder) {
                      sendPage(respond(Route::Changes, entity, request), std::move(responder));
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
    QElapsedTimer timer;
    timer.start();
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
        if (!m_backend)
            return errorResponse(Status::ServiceUnavailable,
                                 QStringLiteral("the server has no database open"));
        switch (route) {
        case Route::Entities:
            return entitiesResponse(*m_backend);
        case Route::Count:
            return count(entity, request);
        case Route::Changes:
            return changes(entity, request);
        case Route::Missing:
            break;
        }
        return errorResponse(Status::NotFound, QStringLiteral("no such path"));
    }();
    // One line per request at info level: QT_LOGGING_RULES="batchsync.server.info=true"
    // (batchsync-server --verbose).
    qCInfo(lcServer).noquote() << methodName(request.method())
                               << request.url().toString(QUrl::RemoveScheme | QUrl::RemoveAuthority)
                               << int(response.statusCode()) << response.data().size() << "bytes"
                               << QString::number(timer.nsecsElapsed() / 1e6, 'f', 1)
            + QLatin1String(" ms");
    return response;
}

/*
    QHttpServerResponder::writeBody copies a body into the socket's write buffer: for a page,
    hundreds of kilobytes per request, the largest cost of an answer after the page itself.
    Written as a QByteArray, the socket's buffer shares it instead. The head is what
    QHttpServerResponse::write writes for a response with only a Content-Type; any other
    response goes through it.
*/
void SyncServer::sendPage(QHttpServerResponse &&response, QHttpServerResponder &&responder)
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

QHttpServerResponse SyncServer::count(const QString &entity, const QHttpServerRequest &request)
{
    if (!m_backend->entity(entity))
        return unknownEntity(entity);
    const Paging paging = parsePaging(request.query());
    if (!paging.error.isEmpty())
        return errorResponse(Status::BadRequest, paging.error);
    QString error;
    const std::optional<qint64> count = m_backend->count(entity, paging.mode, paging.since, &error);
    if (!count && isCursorError(error))
        return errorResponse(Status::BadRequest, error);
    if (!count) {
        qCWarning(lcServer) << "count failed:" << error;
        return errorResponse(Status::InternalServerError, error);
    }
    QByteArray body = QByteArrayLiteral("{\"count\":") + QByteArray::number(*count) + '}';
    return jsonResponse(std::move(body));
}

QHttpServerResponse SyncServer::changes(const QString &entity, const QHttpServerRequest &request)
{
    if (!m_backend->entity(entity))
        return unknownEntity(entity);
    const Paging paging = parsePaging(request.query());
    if (!paging.error.isEmpty())
        return errorResponse(Status::BadRequest, paging.error);
    QString error;
    int records = 0;
    std::optional<QByteArray> body = m_backend->changesJson(
        entity, paging.mode, paging.since, paging.offset, paging.limit, &records, &error);
    if (!body && isCursorError(error))
        return errorResponse(Status::BadRequest, error);
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
    // OpenSSL's per-thread state there is often still held when LeakSanitizer looks at exit;
    // set up here, in the owner's thread, much less often (tests/lsan.supp covers the rest).
    QSslSocket::supportsSsl();
    m_context = new QObject;
    m_context->moveToThread(m_thread.get());
    m_thread->start();

    QMetaObject::invokeMethod(
        m_context, [this, databasePath, demo, token, pageDelay = m_pageDelayMs] {
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
            if (demo && server->backend()->entities().isEmpty()) {
                QElapsedTimer timer;
                timer.start();
                if (!DemoData::populate(server->backend(), 1.0, EmbeddedDemoSeed, &error))
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
