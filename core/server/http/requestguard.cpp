#include "requestguard.h"

#include "common/logging.h"
#include "server/pagewriter.h"
#include "server/push.h"

#include <QSslConfiguration>
#include <QSslSocket>
#include <QTcpSocket>
#include <QTimer>
#include <QUrl>
#include <algorithm>
#include <cstring>

#ifdef Q_OS_UNIX
#include <sys/socket.h>
#endif
#ifdef Q_OS_LINUX
#include <netinet/in.h>
#include <netinet/tcp.h>
#endif

namespace BatchSync {

namespace {

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
constexpr char GuardName[] = "batchsync-connection-guard";

// Bytes written but not yet handed to the kernel, the encrypted ones of a TLS socket included.
qint64 pendingOutput(QTcpSocket *socket)
{
    qint64 bytes = socket->bytesToWrite();
    if (const auto *tls = qobject_cast<QSslSocket *>(socket))
        bytes += tls->encryptedBytesToWrite();
    return bytes;
}

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
    case 401:
        return QByteArrayLiteral("Unauthorized");
    case 403:
        return QByteArrayLiteral("Forbidden");
    case 404:
        return QByteArrayLiteral("Not Found");
    case 408:
        return QByteArrayLiteral("Request Timeout");
    case 411:
        return QByteArrayLiteral("Length Required");
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
    const QByteArray body = PageWriter::error(message);
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
    qint64 bodyBytes = 0; // accepted: the Content-Length of a push
    bool expectContinue = false; // accepted: a push whose client waits for 100 Continue
    QByteArray authorization; // the Authorization header's value, as given
};

Refusal makeRefusal(int status, const QString &message)
{
    Refusal refusal;
    refusal.status = status;
    refusal.message = message;
    return refusal;
}

// The entity a request target pushes to (POST /api/v1/entities/{name}/changes), or a null
// string when it is no push's target.
QString pushEntity(QByteArrayView target)
{
    const qsizetype query = target.indexOf('?');
    const QByteArrayView path = query < 0 ? target : target.first(query);
    const QByteArrayView prefix("/api/v1/entities/");
    const QByteArrayView suffix("/changes");
    if (!path.startsWith(prefix) || !path.endsWith(suffix)
        || path.size() <= prefix.size() + suffix.size())
        return QString();
    const QByteArrayView name
        = path.sliced(prefix.size(), path.size() - prefix.size() - suffix.size());
    if (name.contains('/'))
        return QString();
    return QUrl::fromPercentEncoding(name.toByteArray());
}

// The request line without its line end: METHOD SP /target SP HTTP/1.x, strictly. \a push
// receives the entity of a push (POST to an entity's changes), else a null string.
Refusal checkRequestLine(QByteArrayView line, QString *push)
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
    *push = method == "POST" ? pushEntity(target) : QString();
    if (method != "GET" && push->isNull()) {
        Refusal refusal = makeRefusal(405, QStringLiteral("protocol v1 only answers GET"));
        refusal.extraHeaders = QByteArrayLiteral("Allow: GET\r\n");
        refusal.headOnly = method == "HEAD";
        return refusal;
    }
    return {};
}

// The header fields, each line ending in LF or CRLF, the block ending in an empty line.
// A push's Content-Length: its value, or -1 for more than Push::MaxBodyBytes.
qint64 pushBodyBytes(QByteArrayView digits)
{
    while (digits.size() > 1 && digits.front() == '0')
        digits = digits.sliced(1);
    if (digits.size() > 12)
        return -1;
    const qint64 bytes = digits.toByteArray().toLongLong();
    return bytes > Push::MaxBodyBytes ? -1 : bytes;
}

// The header fields of a request (of a push when \a push), each line ending in LF or CRLF,
// the block ending in an empty line.
Refusal checkHeaderFields(QByteArrayView block, bool http10, bool push,
                          const SyncServer::Limits &limits)
{
    int fields = 0;
    qint64 bodyBytes = 0;
    bool tooLarge = false;
    QByteArray authorization;
    bool hasAuthorization = false;
    bool expectContinue = false;
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
            if (push) {
                bodyBytes = pushBodyBytes(value);
                tooLarge = bodyBytes < 0; // refused once the head is read: 401 comes first
            } else if (!std::all_of(value.begin(), value.end(), [](char c) { return c == '0'; })) {
                return makeRefusal(413, QStringLiteral("protocol v1 requests carry no body"));
            }
        } else if (is("transfer-encoding")) {
            if (push)
                return makeRefusal(411, QStringLiteral("send a push's body with a Content-Length"));
            return makeRefusal(413, QStringLiteral("protocol v1 requests carry no body"));
        } else if (push && is("expect")) {
            expectContinue = value.compare("100-continue", Qt::CaseInsensitive) == 0;
        } else if (is("authorization") && !hasAuthorization) {
            hasAuthorization = true; // the first one counts, as for the router
            authorization = value.toByteArray();
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
    if (tooLarge) {
        accepted = makeRefusal(
            413, QStringLiteral("the body is larger than %1 bytes").arg(Push::MaxBodyBytes));
    }
    accepted.close = close;
    accepted.bodyBytes = qMax<qint64>(0, bodyBytes);
    accepted.expectContinue = expectContinue;
    accepted.authorization = authorization;
    return accepted;
}

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
        setObjectName(QLatin1String(GuardName));
        m_socket->setReadBufferSize(m_limits.readBufferBytes);
        m_requestTimer.setSingleShot(true);
        // Precise: a coarse timer may fire up to 5 % early, refusing a client before the
        // time it was promised.
        m_requestTimer.setTimerType(Qt::PreciseTimer);
        m_requestTimer.setInterval(m_limits.requestTimeoutMs);
        m_idleTimer.setSingleShot(true);
        m_idleTimer.setInterval(m_limits.idleTimeoutMs);
        m_lingerTimer.setSingleShot(true);
        m_lingerTimer.setInterval(LingerMs);
        connect(&m_requestTimer, &QTimer::timeout, this, [this] {
            ++m_screen->timedOut;
            if (m_handshaking) {
                // No HTTP answer is possible before the handshake: just close.
                ++m_screen->refused;
                m_refused = true;
                qCDebug(lcServer) << "closing a connection whose TLS handshake did not end within"
                                  << m_limits.requestTimeoutMs << "ms";
                m_socket->abort();
                return;
            }
            refuse(makeRefusal(408,
                               QStringLiteral("the request did not arrive whole within %1 ms")
                                   .arg(m_limits.requestTimeoutMs)));
        });
        connect(&m_idleTimer, &QTimer::timeout, this, [this] {
            ++m_screen->timedOut;
            qCDebug(lcServer) << "closing an idle connection";
            if (pendingOutput(m_socket) > 0)
                m_socket->abort(); // a reader that stopped reading
            else
                m_socket->disconnectFromHost();
        });
        connect(&m_lingerTimer, &QTimer::timeout, m_socket, &QAbstractSocket::abort);
        connect(m_socket, &QIODevice::bytesWritten, this, [this] {
            if (m_refused) {
                // Over TLS the bytes are not encrypted yet: encryptedBytesWritten() says
                // when they are on their way.
                if (!qobject_cast<QSslSocket *>(m_socket))
                    halfClose();
            } else {
                m_idleTimer.start(); // a reader that reads is not idle
            }
        });
        connect(m_socket, &QIODevice::readyRead, this, &ConnectionGuard::beforeQt);
        if (auto *tls = qobject_cast<QSslSocket *>(m_socket))
            watchHandshake(tls);
        m_idleTimer.start();
    }

    ~ConnectionGuard() override
    {
        if (m_held)
            --m_screen->waiting;
        else
            --m_screen->open;
    }

    bool hold(bool held)
    {
        if (held == m_held)
            return true;
        if (held && m_screen->waiting >= m_limits.maxWaiting)
            return false;
        m_held = held;
        m_screen->open += held ? -1 : 1;
        m_screen->waiting += held ? 1 : -1;
        return true;
    }

    // Connected once Qt has connected its own readyRead slot: runs after it.
    void watchAfterQt()
    {
        connect(m_socket, &QIODevice::readyRead, this, &ConnectionGuard::afterQt);
    }

private:
    // The handshake must end within the time a request head has: a client that never
    // finishes it (or trickles it) is closed as a slow head would be.
    void watchHandshake(QSslSocket *tls)
    {
        m_handshaking = true;
        m_requestTimer.start();
        connect(tls, &QSslSocket::encrypted, this, [this] {
            m_handshaking = false;
            m_requestTimer.stop();
            m_idleTimer.start();
        });
        connect(tls, &QSslSocket::encryptedBytesWritten, this, [this] {
            if (m_refused)
                halfClose();
        });
        connect(tls, &QAbstractSocket::errorOccurred, this,
                [this, tls](QAbstractSocket::SocketError error) {
                    if (!m_handshaking || error == QAbstractSocket::RemoteHostClosedError)
                        return;
                    qCDebug(lcServer).noquote()
                        << "closing a connection whose TLS handshake failed:" << tls->errorString();
                    m_handshaking = false;
                    m_requestTimer.stop();
                    m_refused = true; // nothing of it reaches Qt
                    tls->abort();
                });
    }

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
        else if (m_bodyRemaining > 0)
            acknowledgeNow();
    }

    // A client that writes a body in pieces with Nagle's algorithm on (Qt's own, 16 KiB at a
    // time) holds its last piece until the ones before are acknowledged: a delayed
    // acknowledgement would add 40 ms to every push. Linux only; elsewhere a no-op.
    void acknowledgeNow()
    {
#ifdef Q_OS_LINUX
        const int quick = 1;
        setsockopt(int(m_socket->socketDescriptor()), IPPROTO_TCP, TCP_QUICKACK, &quick,
                   sizeof quick);
#endif
    }

    void afterQt()
    {
        if (m_refused)
            return;
        m_unreadByQt = m_socket->bytesAvailable();
        if (m_bodyRemaining == 0 && m_unreadByQt == 0
            && m_socket->readBufferSize() != m_limits.readBufferBytes) {
            m_socket->setReadBufferSize(m_limits.readBufferBytes); // the body has been read
        }
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
        for (qsizetype i = 0; i < bytes.size();) {
            if (m_bodyRemaining > 0) {
                // A push's body: Qt's to read; the next head starts after it.
                const qint64 skipped = qMin<qint64>(m_bodyRemaining, bytes.size() - i);
                m_bodyRemaining -= skipped;
                i += skipped;
                continue;
            }
            const char c = bytes[i++];
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
                const Refusal refusal = checkRequestLine(line, &m_pushEntity);
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
                const Refusal refusal
                    = checkHeaderFields(fields, http10, !m_pushEntity.isNull(), m_limits);
                if (refusal.status == 413 && !m_pushEntity.isNull() && m_screen->refuseLargePush) {
                    if (const auto first
                        = m_screen->refuseLargePush(m_pushEntity, refusal.authorization))
                        return makeRefusal(first->first, first->second);
                }
                if (refusal.status != 0)
                    return refusal;
                m_closeRequested = m_closeRequested || refusal.close;
                if (refusal.bodyBytes > 0) {
                    // Qt keeps the whole request in the socket's buffer until it is complete.
                    m_bodyRemaining = refusal.bodyBytes;
                    m_socket->setReadBufferSize(m_limits.readBufferBytes + refusal.bodyBytes);
                    // Qt 6.4 does not answer "Expect: 100-continue"; curl would wait a second.
                    if (refusal.expectContinue)
                        m_socket->write("HTTP/1.1 100 Continue\r\n\r\n");
                }
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
        if (m_halfClosed || pendingOutput(m_socket) > 0)
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
    QString m_pushEntity; // the entity the current request pushes to, or null
    qint64 m_bodyRemaining = 0; // bytes of a push's body still to come
    bool m_refused = false;
    bool m_held = false; // a GET /wait request is held on it
    bool m_handshaking = false; // a TLS connection before its handshake ended
    bool m_halfClosed = false;
    bool m_closeRequested = false;
};

} // namespace

bool ServerScreen::holdConnection(QObject *socket, bool hold)
{
    auto *guard = socket
        ? socket->findChild<QObject *>(QLatin1String(GuardName), Qt::FindDirectChildrenOnly)
        : nullptr;
    return guard && static_cast<ConnectionGuard *>(guard)->hold(hold);
}

GuardedTcpServer::GuardedTcpServer(ServerScreen *screen, QObject *parent)
    : QTcpServer(parent)
    , m_screen(screen)
{
}

void GuardedTcpServer::incomingConnection(qintptr descriptor)
{
    QSslSocket *tls = m_screen->tls ? new QSslSocket(this) : nullptr;
    QTcpSocket *socket = tls ? tls : new QTcpSocket(this);
    if (tls)
        tls->setSslConfiguration(*m_screen->tls);
    if (!socket->setSocketDescriptor(descriptor)) {
        delete socket;
        return;
    }
    if (tls)
        tls->startServerEncryption();
    if (m_screen->open >= m_screen->limits.maxConnections) {
        // Not handed to Qt: answered here (over TLS once the handshake is done), closed,
        // deleted.
        ++m_screen->refused;
        qCDebug(lcServer) << "refusing a connection: already" << m_screen->open;
        connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
        QTimer::singleShot(LingerMs, socket, [socket] {
            socket->abort();
            socket->deleteLater();
        });
        const auto answer = [socket, limit = m_screen->limits.maxConnections] {
            socket->write(refusalResponse(
                503, QStringLiteral("too many connections (%1); try again shortly").arg(limit),
                true, QByteArrayLiteral("Retry-After: 1\r\n")));
            socket->disconnectFromHost();
        };
        if (tls)
            connect(tls, &QSslSocket::encrypted, socket, answer);
        else
            answer();
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

} // namespace BatchSync
