#include "fakenetwork.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QMetaEnum>
#include <QMutexLocker>
#include <QPointer>
#include <QTimer>
#include <cstring>

namespace BatchSync::Test {

namespace {

QString reasonPhrase(int status)
{
    switch (status) {
    case 200:
        return QStringLiteral("OK");
    case 204:
        return QStringLiteral("No Content");
    case 301:
        return QStringLiteral("Moved Permanently");
    case 302:
        return QStringLiteral("Found");
    case 400:
        return QStringLiteral("Bad Request");
    case 401:
        return QStringLiteral("Unauthorized");
    case 403:
        return QStringLiteral("Forbidden");
    case 404:
        return QStringLiteral("Not Found");
    case 409:
        return QStringLiteral("Conflict");
    case 429:
        return QStringLiteral("Too Many Requests");
    case 500:
        return QStringLiteral("Internal Server Error");
    case 502:
        return QStringLiteral("Bad Gateway");
    case 503:
        return QStringLiteral("Service Unavailable");
    case 504:
        return QStringLiteral("Gateway Timeout");
    default:
        return QString();
    }
}

// The error QNetworkReplyHttpImpl sets for an HTTP status.
QNetworkReply::NetworkError errorForStatus(int status)
{
    switch (status) {
    case 400:
        return QNetworkReply::ProtocolInvalidOperationError;
    case 401:
        return QNetworkReply::AuthenticationRequiredError;
    case 403:
        return QNetworkReply::ContentAccessDenied;
    case 404:
        return QNetworkReply::ContentNotFoundError;
    case 405:
        return QNetworkReply::ContentOperationNotPermittedError;
    case 407:
        return QNetworkReply::ProxyAuthenticationRequiredError;
    case 409:
        return QNetworkReply::ContentConflictError;
    case 410:
        return QNetworkReply::ContentGoneError;
    case 418:
        return QNetworkReply::ProtocolInvalidOperationError;
    case 500:
        return QNetworkReply::InternalServerError;
    case 501:
        return QNetworkReply::OperationNotImplementedError;
    case 503:
        return QNetworkReply::ServiceUnavailableError;
    default:
        if (status >= 500)
            return QNetworkReply::UnknownServerError;
        if (status >= 400)
            return QNetworkReply::UnknownContentError;
        return QNetworkReply::NoError;
    }
}

QString defaultErrorString(QNetworkReply::NetworkError error, const QUrl &url)
{
    switch (error) {
    case QNetworkReply::ConnectionRefusedError:
        return QStringLiteral("Connection refused");
    case QNetworkReply::RemoteHostClosedError:
        return QStringLiteral("Remote host closed");
    case QNetworkReply::HostNotFoundError:
        return QStringLiteral("Host %1 not found").arg(url.host());
    case QNetworkReply::TimeoutError:
        return QStringLiteral("Socket operation timed out");
    case QNetworkReply::OperationCanceledError:
        return QStringLiteral("Operation canceled");
    case QNetworkReply::SslHandshakeFailedError:
        return QStringLiteral("SSL handshake failed");
    case QNetworkReply::TemporaryNetworkFailureError:
        return QStringLiteral("Temporary network failure.");
    default:
        break;
    }
    const char *name = QMetaEnum::fromType<QNetworkReply::NetworkError>().valueToKey(error);
    return QStringLiteral("Network error (%1)").arg(QLatin1String(name ? name : "unknown"));
}

/*!
    A reply made from a FakeRule. Everything happens from timers, never inside the call
    that created it, and every step checks whether a slot it signalled has aborted it.
*/
class FakeReply final : public QNetworkReply
{
    Q_OBJECT

public:
    FakeReply(const FakeRule &rule, QNetworkAccessManager::Operation operation,
              const QNetworkRequest &request, int transferTimeoutMs, QObject *parent)
        : QNetworkReply(parent)
        , m_rule(rule)
        , m_transferTimeoutMs(transferTimeoutMs)
    {
        setRequest(request);
        setUrl(request.url());
        setOperation(operation);
        open(QIODevice::ReadOnly | QIODevice::Unbuffered);

        m_transferTimer.setSingleShot(true);
        connect(&m_transferTimer, &QTimer::timeout, this, &FakeReply::onTransferTimeout);
        restartTransferTimer();

        if (m_rule.action() == FakeRule::Action::Hang)
            return;
        m_stepTimer.setSingleShot(true);
        connect(&m_stepTimer, &QTimer::timeout, this, &FakeReply::step);
        m_stepTimer.start(qMax(0, m_rule.delay()));
    }

    void abort() override
    {
        if (isFinished())
            return;
        // Like QNetworkReplyHttpImpl: closed for reading first, then error and finished(),
        // synchronously.
        QNetworkReply::close();
        finishWithError(OperationCanceledError, QStringLiteral("Operation canceled"));
    }

    qint64 bytesAvailable() const override
    {
        return m_buffer.size() - m_readPosition + QNetworkReply::bytesAvailable();
    }

    bool isSequential() const override { return true; }

protected:
    qint64 readData(char *data, qint64 maxSize) override
    {
        const qint64 count = qMin<qint64>(maxSize, m_buffer.size() - m_readPosition);
        if (count <= 0)
            return isFinished() ? -1 : 0;
        std::memcpy(data, m_buffer.constData() + m_readPosition, size_t(count));
        m_readPosition += count;
        if (m_readPosition == m_buffer.size()) {
            m_buffer.clear();
            m_readPosition = 0;
        }
        return count;
    }

private:
    void step()
    {
        if (isFinished())
            return;
        switch (m_state) {
        case State::Waiting:
            if (m_rule.action() == FakeRule::Action::Fail) {
                finishWithError(m_rule.networkError(),
                                m_rule.errorString().isEmpty()
                                    ? defaultErrorString(m_rule.networkError(), url())
                                    : m_rule.errorString());
                return;
            }
            sendHeaders();
            return;
        case State::Body:
            sendChunk();
            return;
        }
    }

    void sendHeaders()
    {
        const int status = m_rule.status();
        setAttribute(QNetworkRequest::HttpStatusCodeAttribute, status);
        setAttribute(QNetworkRequest::HttpReasonPhraseAttribute, reasonPhrase(status).toLatin1());
        bool hasContentType = false;
        for (const auto &[name, value] : m_rule.headers()) {
            setRawHeader(name, value);
            hasContentType
                = hasContentType || name.compare("Content-Type", Qt::CaseInsensitive) == 0;
        }
        if (!hasContentType && !m_rule.body().isEmpty())
            setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
        m_total = m_rule.contentLength() >= 0 ? m_rule.contentLength() : m_rule.body().size();
        if (m_rule.sendsContentLength())
            setHeader(QNetworkRequest::ContentLengthHeader, m_total);
        m_state = State::Body;
        restartTransferTimer();

        QPointer<FakeReply> self(this);
        Q_EMIT metaDataChanged();
        if (!self || isFinished())
            return;
        sendChunk();
    }

    void sendChunk()
    {
        const QByteArray &body = m_rule.body();
        const qint64 left = body.size() - m_sent;
        if (left > 0) {
            const qint64 size
                = m_rule.chunkSize() > 0 ? qMin<qint64>(m_rule.chunkSize(), left) : left;
            m_buffer.append(body.constData() + m_sent, size);
            m_sent += size;
            restartTransferTimer();

            QPointer<FakeReply> self(this);
            Q_EMIT downloadProgress(m_sent, m_rule.sendsContentLength() ? m_total : -1);
            if (!self || isFinished())
                return;
            Q_EMIT readyRead();
            if (!self || isFinished())
                return;
            if (m_sent < body.size()) {
                m_stepTimer.start(qMax(0, m_rule.chunkInterval()));
                return;
            }
        }
        complete();
    }

    void complete()
    {
        if (m_sent < m_total) {
            // The server announced more than it sent and closed the connection.
            finishWithError(RemoteHostClosedError, QStringLiteral("Remote host closed"));
            return;
        }
        const NetworkError error = errorForStatus(m_rule.status());
        if (error != NoError) {
            finishWithError(error,
                            QStringLiteral("Error transferring %1 - server replied: %2")
                                .arg(url().toDisplayString(), reasonPhrase(m_rule.status())));
            return;
        }
        m_transferTimer.stop();
        setFinished(true);
        Q_EMIT finished();
    }

    void finishWithError(NetworkError error, const QString &text)
    {
        m_stepTimer.stop();
        m_transferTimer.stop();
        setError(error, text);
        setFinished(true);
        QPointer<FakeReply> self(this);
        Q_EMIT errorOccurred(error);
        if (!self)
            return;
        Q_EMIT finished();
    }

    void restartTransferTimer()
    {
        if (m_transferTimeoutMs > 0)
            m_transferTimer.start(m_transferTimeoutMs);
    }

    void onTransferTimeout()
    {
        // What Qt's own HTTP reply does when its transfer timeout fires: abort().
        abort();
    }

    enum class State { Waiting, Body };

    FakeRule m_rule;
    int m_transferTimeoutMs;
    State m_state = State::Waiting;
    QTimer m_stepTimer;
    QTimer m_transferTimer;
    QByteArray m_buffer;
    qint64 m_readPosition = 0;
    qint64 m_sent = 0;
    qint64 m_total = 0;
};

} // namespace

// FakeRule

FakeRule::FakeRule(const QString &pathContains, Action action)
    : m_pathContains(pathContains)
    , m_action(action)
{
}

FakeRule FakeRule::respond(const QString &pathContains, int status, const QByteArray &body)
{
    FakeRule rule(pathContains, Action::Respond);
    rule.m_status = status;
    rule.m_body = body;
    return rule;
}

FakeRule FakeRule::json(const QString &pathContains, int status, const QJsonObject &object)
{
    return respond(pathContains, status, QJsonDocument(object).toJson(QJsonDocument::Compact));
}

FakeRule FakeRule::error(const QString &pathContains, int status, const QString &message)
{
    return json(pathContains, status, QJsonObject { { QStringLiteral("error"), message } });
}

FakeRule FakeRule::fail(const QString &pathContains, QNetworkReply::NetworkError error,
                        const QString &errorString)
{
    FakeRule rule(pathContains, Action::Fail);
    rule.m_error = error;
    rule.m_errorString = errorString;
    return rule;
}

FakeRule FakeRule::hang(const QString &pathContains)
{
    return FakeRule(pathContains, Action::Hang);
}

FakeRule FakeRule::passThrough(const QString &pathContains)
{
    return FakeRule(pathContains, Action::PassThrough);
}

FakeRule FakeRule::dynamic(const QString &pathContains, Handler handler)
{
    FakeRule rule(pathContains, Action::Respond);
    rule.m_handler = std::move(handler);
    return rule;
}

FakeRule &FakeRule::withHeader(const QByteArray &name, const QByteArray &value)
{
    m_headers.append({ name, value });
    return *this;
}

FakeRule &FakeRule::withContentLength(qint64 contentLength)
{
    m_contentLength = contentLength;
    return *this;
}

FakeRule &FakeRule::withoutContentLength()
{
    m_sendContentLength = false;
    return *this;
}

FakeRule &FakeRule::after(int milliseconds)
{
    m_delayMs = milliseconds;
    return *this;
}

FakeRule &FakeRule::inChunks(int bytes, int intervalMs)
{
    m_chunkSize = bytes;
    m_chunkIntervalMs = intervalMs;
    return *this;
}

FakeRule &FakeRule::times(int count)
{
    m_remaining = count;
    return *this;
}

// FakeNetworkAccessManager

FakeNetworkAccessManager::FakeNetworkAccessManager(QObject *parent)
    : QNetworkAccessManager(parent)
{
}

FakeNetworkAccessManager::~FakeNetworkAccessManager() = default;

int FakeNetworkAccessManager::addRule(const FakeRule &rule)
{
    QMutexLocker locker(&m_mutex);
    const int id = m_nextId++;
    m_rules.append(Entry { id, rule, 0 });
    return id;
}

void FakeNetworkAccessManager::removeRule(int id)
{
    QMutexLocker locker(&m_mutex);
    m_rules.removeIf([id](const Entry &entry) { return entry.id == id; });
}

void FakeNetworkAccessManager::clearRules()
{
    QMutexLocker locker(&m_mutex);
    m_rules.clear();
}

int FakeNetworkAccessManager::hits(int id) const
{
    QMutexLocker locker(&m_mutex);
    for (const Entry &entry : m_rules) {
        if (entry.id == id)
            return entry.hits;
    }
    return 0;
}

QList<QNetworkRequest> FakeNetworkAccessManager::requests() const
{
    QMutexLocker locker(&m_mutex);
    return m_requests;
}

QList<QUrl> FakeNetworkAccessManager::requestedUrls() const
{
    QMutexLocker locker(&m_mutex);
    QList<QUrl> urls;
    urls.reserve(m_requests.size());
    for (const QNetworkRequest &request : m_requests)
        urls.append(request.url());
    return urls;
}

int FakeNetworkAccessManager::requestCount() const
{
    QMutexLocker locker(&m_mutex);
    return int(m_requests.size());
}

void FakeNetworkAccessManager::clearRequests()
{
    QMutexLocker locker(&m_mutex);
    m_requests.clear();
}

QNetworkReply *FakeNetworkAccessManager::createRequest(Operation operation,
                                                       const QNetworkRequest &request,
                                                       QIODevice *outgoingData)
{
    const QString path = request.url().path();
    int ruleId = -1;
    std::optional<FakeRule> rule;
    {
        QMutexLocker locker(&m_mutex);
        m_requests.append(request);
        for (Entry &entry : m_rules) {
            if (entry.rule.remaining() == 0 || !path.contains(entry.rule.pathContains()))
                continue;
            if (entry.rule.remaining() > 0)
                entry.rule.times(entry.rule.remaining() - 1);
            ++entry.hits;
            ruleId = entry.id;
            rule = entry.rule;
            break;
        }
    }
    // Outside the lock: a handler may add rules.
    if (rule && rule->handler())
        rule = rule->handler()(request);

    Q_EMIT requestCreated(request.url(), ruleId);
    if (!rule || rule->action() == FakeRule::Action::PassThrough)
        return QNetworkAccessManager::createRequest(operation, request, outgoingData);

    // Qt applies the manager's timeout when the request has none.
    const int timeout
        = request.transferTimeout() > 0 ? request.transferTimeout() : transferTimeout();
    return new FakeReply(*rule, operation, request, timeout, this);
}

} // namespace BatchSync::Test

#include "fakenetwork.moc"
