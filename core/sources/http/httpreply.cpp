#include "httpreply.h"

#include "common/logging.h"
#include "sources/http/transport.h"

#include <QDateTime>
#include <QLocale>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTimeZone>
#include <algorithm>

namespace BatchSync {

namespace {

// Retry-After values beyond a day are treated as a day: the caller caps its delay anyway.
constexpr qint64 MaxRetryAfterSeconds = 24 * 60 * 60;
// How far the network thread reads a body ahead of the thread that takes it (see attach()).
constexpr qint64 ReadBufferBytes = 1024 * 1024;

QString durationText(int milliseconds)
{
    if (milliseconds < 1000)
        return QStringLiteral("%1 ms").arg(milliseconds);
    if (milliseconds % 1000 == 0)
        return QStringLiteral("%1 s").arg(milliseconds / 1000);
    return QStringLiteral("%1 s").arg(milliseconds / 1000.0, 0, 'f', 1);
}

} // namespace

namespace Http {

QString oneLine(const QString &text, qsizetype maxLength)
{
    QString out = text.simplified();
    for (QChar &c : out) {
        if (!c.isPrint())
            c = u' ';
    }
    if (out.size() > maxLength) {
        out.truncate(maxLength);
        out += QStringLiteral("…");
    }
    return out;
}

int parseRetryAfter(const QByteArray &header)
{
    const QByteArray value = header.trimmed();
    if (value.isEmpty())
        return -1;
    bool ok = false;
    const qint64 seconds = value.toLongLong(&ok);
    if (ok)
        return seconds < 0 ? -1 : int(qMin(seconds, MaxRetryAfterSeconds));

    // IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT" (Qt::RFC2822Date rejects "GMT").
    QDateTime date = QLocale::c().toDateTime(QString::fromLatin1(value),
                                             QStringLiteral("ddd, dd MMM yyyy HH:mm:ss 'GMT'"));
    if (!date.isValid())
        return -1;
    date.setTimeZone(QTimeZone::utc());
    const qint64 delta = QDateTime::currentDateTimeUtc().secsTo(date);
    return int(qBound<qint64>(0, delta, MaxRetryAfterSeconds));
}

QString hostPortOf(const QUrl &url)
{
    const int defaultPort = url.scheme() == QLatin1String("https") ? 443 : 80;
    QString host = url.host();
    if (host.contains(u':'))
        host = QStringLiteral("[%1]").arg(host);
    return QStringLiteral("%1:%2").arg(host).arg(url.port(defaultPort));
}

bool isHeaderSafe(const QString &token)
{
    for (QChar c : token) {
        if (c.unicode() < 0x21 || c.unicode() > 0x7e)
            return false;
    }
    return true;
}

QString encodeQueryPart(const QString &text)
{
    // Keep what RFC 3986 allows literally in a query except the separators '&', '=' and
    // '+', which some servers read as a space.
    return QString::fromLatin1(QUrl::toPercentEncoding(text, QByteArrayLiteral("!$'()*,;:@/?")));
}

QUrl join(const QUrl &base, const QString &path, const QList<std::pair<QString, QString>> &query)
{
    QUrl url = base;
    QString basePath = url.path(QUrl::FullyEncoded);
    while (basePath.endsWith(u'/'))
        basePath.chop(1);
    QString relative = path;
    if (!relative.startsWith(u'/'))
        relative.prepend(u'/');
    url.setPath(basePath + relative, QUrl::TolerantMode);

    QStringList parts;
    if (url.hasQuery())
        parts.append(url.query(QUrl::FullyEncoded));
    for (const auto &[key, value] : query)
        parts.append(encodeQueryPart(key) + u'=' + encodeQueryPart(value));
    if (!parts.isEmpty())
        url.setQuery(parts.join(u'&'), QUrl::TolerantMode);
    url.setFragment(QString());
    return url;
}

} // namespace Http

using namespace Http;

HttpReply::HttpReply(Kind kind, QObject *parent)
    : SourceReply(kind, parent)
{
}

HttpReply::~HttpReply()
{
    dropReply();
}

void HttpReply::abort()
{
    if (isFinished())
        return;
    qCDebug(lcProtocol) << m_what << "aborted";
    fail(ErrorCategory::Aborted, QStringLiteral("%1: cancelled").arg(m_what));
}

void HttpReply::attach(QNetworkReply *reply, const QString &what)
{
    dropReply();
    m_earlierBytes = m_bytesReceived;
    m_body.clear();
    m_what = what;
    m_reply = reply;
    m_elapsed.start();
    // The network thread reads ahead of this one at most this far; the rest waits in the
    // socket, not in memory, while this thread writes the page before.
    reply->setReadBufferSize(ReadBufferBytes);
    connect(reply, &QNetworkReply::metaDataChanged, this, &HttpReply::onMetaDataChanged);
    connect(reply, &QNetworkReply::readyRead, this, &HttpReply::onReadyRead);
    connect(reply, &QNetworkReply::finished, this, &HttpReply::onReplyFinished);
    // Noted for the message only: nothing ever ignores them, so the request then fails.
    m_sslErrors.clear();
    connect(reply, &QNetworkReply::sslErrors, this,
            [this](const QList<QSslError> &errors) { m_sslErrors = errors; });
    // The network thread asks this thread for each piece of a body it sends: sent() tells when
    // this thread may be busy again.
    connect(reply, &QNetworkReply::uploadProgress, this, [this](qint64 done, qint64 total) {
        if (total > 0 && done == total)
            Q_EMIT sent();
    });
    // A manager deleted under a running request takes its replies along without finished().
    connect(reply, &QObject::destroyed, this, [this] {
        fail(ErrorCategory::Aborted,
             QStringLiteral("%1: cancelled (the network access manager was deleted)").arg(m_what));
    });
    if (reply->isFinished()) {
        QMetaObject::invokeMethod(this, &HttpReply::onReplyFinished, Qt::QueuedConnection);
    }
}

void HttpReply::onMetaDataChanged()
{
    if (isFinished() || !m_reply)
        return;
    // Refuse an announced oversize body before any of it arrives.
    const QVariant length = m_reply->header(QNetworkRequest::ContentLengthHeader);
    if (length.isValid() && checkSize(length.toLongLong()) && m_body.isEmpty())
        m_body.reserve(qsizetype(length.toLongLong()));
}

void HttpReply::onReadyRead()
{
    if (isFinished() || !m_reply || !m_reply->isOpen())
        return;
    // Straight into the body, which is reserved for the announced length: a page of a few
    // hundred kilobytes is copied once, not once per chunk and again per reallocation.
    const qint64 available = m_reply->bytesAvailable();
    if (available <= 0)
        return;
    if (!checkSize(m_body.size() + available))
        return;
    const qsizetype before = m_body.size();
    m_body.resize(before + qsizetype(available));
    const qint64 read = m_reply->read(m_body.data() + before, available);
    m_body.resize(before + qsizetype(std::max<qint64>(read, 0)));
    m_bytesReceived = m_earlierBytes + m_body.size();
}

bool HttpReply::checkSize(qint64 bytes)
{
    if (bytes <= m_maxResponseSize)
        return true;
    fail(ErrorCategory::Protocol,
         QStringLiteral("%1: response larger than %2 bytes").arg(m_what).arg(m_maxResponseSize));
    return false;
}

void HttpReply::onReplyFinished()
{
    if (isFinished() || !m_reply)
        return;
    onReadyRead(); // whatever is still buffered
    if (isFinished())
        return;

    const QVariant statusAttribute = m_reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    const int status = statusAttribute.isValid() ? statusAttribute.toInt() : 0;
    qCDebug(lcProtocol) << m_what << "status" << status << "error" << m_reply->error()
                        << m_body.size() << "bytes in" << m_elapsed.elapsed() << "ms";

    if (status == 0) {
        handleNetworkError();
        return;
    }
    if (status >= 200 && status < 300) {
        if (m_reply->error() != QNetworkReply::NoError) {
            handleNetworkError(); // e.g. the connection dropped in the middle of the body
            return;
        }
        // Qt reports some early closes as success, depending on when the close is seen; a
        // body shorter than announced is cut off, and said as the close it was. (Not with a
        // Content-Encoding: the length then counts compressed bytes.)
        const QVariant length = m_reply->header(QNetworkRequest::ContentLengthHeader);
        if (length.isValid() && !m_reply->hasRawHeader("Content-Encoding")
            && m_body.size() < length.toLongLong()) {
            fail(ErrorCategory::Network,
                 QStringLiteral("%1: %2 closed the connection after %3 of %4 bytes of the "
                                "response")
                     .arg(m_what, m_hostPort)
                     .arg(m_body.size())
                     .arg(length.toLongLong()),
                 status);
            return;
        }
        handleBody(status);
        return;
    }
    handleHttpError(status);
}

void HttpReply::handleHttpError(int status)
{
    if (interceptStatus(status))
        return;
    m_error.retryAfterSeconds = parseRetryAfter(m_reply->rawHeader("Retry-After"));

    QString serverText = errorText(m_body);
    if (serverText.isEmpty()) {
        serverText
            = oneLine(m_reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString());
    }
    if (serverText.isEmpty())
        serverText = QStringLiteral("no error message");

    if (status == 401 || status == 403) {
        fail(ErrorCategory::Auth, authMessage(status, serverText), status);
        return;
    }
    if (status == 429) {
        fail(ErrorCategory::Network,
             QStringLiteral("%1: the server is busy (429): %2").arg(m_what, serverText), status);
        return;
    }
    if (status >= 500 && status < 600) {
        fail(ErrorCategory::Network,
             QStringLiteral("%1: server error (%2): %3").arg(m_what).arg(status).arg(serverText),
             status);
        return;
    }
    if (status >= 300 && status < 400) {
        const QString location = oneLine(QString::fromUtf8(m_reply->rawHeader("Location")));
        fail(ErrorCategory::Request,
             QStringLiteral("%1: the server redirects (%2) to \"%3\"; use that address as the "
                            "endpoint")
                 .arg(m_what)
                 .arg(status)
                 .arg(location),
             status);
        return;
    }
    if (status == 404) {
        fail(ErrorCategory::Request,
             QStringLiteral("%1: not found (404): %2").arg(m_what, serverText), status);
        return;
    }
    if (status >= 400 && status < 500) {
        fail(ErrorCategory::Request,
             QStringLiteral("%1: the server rejected the request (%2): %3")
                 .arg(m_what)
                 .arg(status)
                 .arg(serverText),
             status);
        return;
    }
    fail(
        ErrorCategory::Request,
        QStringLiteral("%1: unexpected HTTP status %2: %3").arg(m_what).arg(status).arg(serverText),
        status);
}

void HttpReply::handleNetworkError()
{
    const QNetworkReply::NetworkError code = m_reply->error();
    const QVariant statusAttribute = m_reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    const int status = statusAttribute.isValid() ? statusAttribute.toInt() : 0;
    const bool answered = status != 0 || !m_body.isEmpty();
    const QString detail = oneLine(m_reply->errorString());

    switch (code) {
    case QNetworkReply::NoError:
        // A finished reply without a status and without an error: nothing came back.
        fail(ErrorCategory::Network,
             QStringLiteral("%1: %2 sent no HTTP response").arg(m_what, m_hostPort));
        return;
    case QNetworkReply::ConnectionRefusedError:
        fail(ErrorCategory::Network,
             QStringLiteral("connection refused by %1 — is the server running?").arg(m_hostPort));
        return;
    case QNetworkReply::HostNotFoundError:
        fail(ErrorCategory::Network,
             QStringLiteral("host %1 not found — check the endpoint URL").arg(m_hostPort));
        return;
    case QNetworkReply::RemoteHostClosedError:
        if (answered) {
            const QVariant length = m_reply->header(QNetworkRequest::ContentLengthHeader);
            const QString received = length.isValid()
                ? QStringLiteral("%1 of %2").arg(m_body.size()).arg(length.toLongLong())
                : QString::number(m_body.size());
            fail(ErrorCategory::Network,
                 QStringLiteral("%1: %2 closed the connection after %3 bytes of the response")
                     .arg(m_what, m_hostPort, received),
                 status);
        } else {
            fail(ErrorCategory::Network,
                 QStringLiteral("%1: %2 closed the connection without answering")
                     .arg(m_what, m_hostPort));
        }
        return;
    case QNetworkReply::TimeoutError:
    case QNetworkReply::OperationCanceledError:
        // Our own abort() never gets here (it disconnects first), so a cancelled reply is
        // Qt's transfer timeout firing.
        if (answered) {
            fail(ErrorCategory::Network,
                 QStringLiteral("%1: %2 stopped sending the response for %3 (after %4 bytes)")
                     .arg(m_what, m_hostPort, durationText(m_transferTimeout))
                     .arg(m_body.size()),
                 status);
        } else if (m_transferTimeout > 0) {
            fail(ErrorCategory::Network,
                 QStringLiteral("no response from %1 within %2 (%3)")
                     .arg(m_hostPort, durationText(m_transferTimeout), m_what));
        } else {
            fail(ErrorCategory::Network,
                 QStringLiteral("no response from %1 (%2): %3").arg(m_hostPort, m_what, detail));
        }
        return;
    case QNetworkReply::SslHandshakeFailedError:
        // A refused certificate is refused at every retry: not transient. A handshake cut
        // short without one may be.
        fail(m_sslErrors.isEmpty() ? ErrorCategory::Network : ErrorCategory::Request,
             tlsFailureText(m_sslErrors, m_hostPort, detail));
        return;
    case QNetworkReply::ProtocolUnknownError:
    case QNetworkReply::ProtocolInvalidOperationError:
    case QNetworkReply::InsecureRedirectError:
    case QNetworkReply::TooManyRedirectsError:
        fail(ErrorCategory::Request, QStringLiteral("%1: %2").arg(m_what, detail), status);
        return;
    default:
        break;
    }
    if (answered) {
        fail(ErrorCategory::Network,
             QStringLiteral("%1: the response from %2 broke off after %3 bytes: %4")
                 .arg(m_what, m_hostPort)
                 .arg(m_body.size())
                 .arg(detail),
             status);
    } else {
        fail(ErrorCategory::Network,
             QStringLiteral("%1: network error talking to %2: %3").arg(m_what, m_hostPort, detail));
    }
}

void HttpReply::dropReply()
{
    if (m_reply) {
        disconnect(m_reply, nullptr, this, nullptr);
        if (!m_reply->isFinished())
            m_reply->abort();
        m_reply->deleteLater();
        m_reply = nullptr;
    }
}

void HttpReply::release()
{
    dropReply();
    m_body.clear();
    m_body.squeeze();
}

} // namespace BatchSync
