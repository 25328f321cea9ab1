#include "protocolclient.h"

#include "common/logging.h"
#include "sources/protocol/protocolparser.h"

#include <QFutureWatcher>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPromise>
#include <QThread>
#include <QThreadPool>
#include <algorithm>
#include <memory>

namespace BatchSync {

using namespace Http;

namespace {

// The threads that parse pages of changes, shared by every engine of the process: one fewer
// than the cores, so that parsing the next page overlaps writing the last one.
class PageParsers final : public QThreadPool
{
public:
    PageParsers()
    {
        setObjectName(QStringLiteral("BatchSync page parsers"));
        setMaxThreadCount(qMax(1, QThread::idealThreadCount() - 1));
    }
};
Q_GLOBAL_STATIC(PageParsers, pageParsers)

} // namespace

struct ProtocolRequest::ParsedPage
{
    ChangePage page;
    QString problem;
    qint64 nanoseconds = 0;
    bool ok = false;
};

// ProtocolRequest

ProtocolRequest::ProtocolRequest(Kind kind, ProtocolClient *client)
    : HttpReply(kind, client)
{
}

QString ProtocolRequest::errorText(const QByteArray &body) const
{
    return Protocol::parseErrorMessage(body);
}

QString ProtocolRequest::authMessage(int status, const QString &serverText) const
{
    return (m_hasToken ? QStringLiteral("the server refused the token (%1): %2")
                       : QStringLiteral("the server requires a token (%1): %2"))
        .arg(status)
        .arg(serverText);
}

ProtocolRequest::~ProtocolRequest()
{
    // Freeing a page's thousands of strings is the parsers' work too, not the writer's.
    if (!m_page.changes.isEmpty()) {
        auto changes = std::make_shared<QList<Change>>(std::move(m_page.changes));
        pageParsers()->start([changes]() mutable { changes.reset(); });
    }
}

void ProtocolRequest::handleBody(int)
{
    parseBody();
}

void ProtocolRequest::parseChangesAside()
{
    // The page is parsed on a thread of its own while this one goes on writing the pages
    // before it. The task holds copies of what it reads (implicitly shared, never written
    // again here); should this request go first, the watcher goes with it and the result is
    // dropped.
    auto promise = std::make_shared<QPromise<ParsedPage>>();
    m_parsing = new QFutureWatcher<ParsedPage>(this);
    connect(m_parsing, &QFutureWatcherBase::finished, this, &ProtocolRequest::onChangesParsed);
    m_parsing->setFuture(promise->future());
    pageParsers()->start([promise, body = m_body, schema = m_schema, limit = m_limit,
                          mode = m_mode] {
        promise->start();
        ParsedPage parsed;
        QElapsedTimer parsing;
        parsing.start();
        // Packed in cursor mode, where the engine needs no change's position: half the
        // memory, and text the store binds as it is.
        const Protocol::ChangeForm form = mode == PagingMode::Cursor ? Protocol::ChangeForm::Packed
                                                                     : Protocol::ChangeForm::List;
        parsed.ok = Protocol::parseChanges(body, schema, limit, mode, &parsed.page, &parsed.problem,
                                           form);
        parsed.nanoseconds = parsing.nsecsElapsed();
        promise->addResult(std::move(parsed));
        promise->finish();
    });
}

void ProtocolRequest::onChangesParsed()
{
    if (isFinished() || !m_parsing || m_parsing->future().resultCount() < 1)
        return;
    ParsedPage parsed = m_parsing->future().takeResult();
    if (!parsed.ok) {
        fail(ErrorCategory::Protocol, QStringLiteral("%1: %2").arg(m_what, parsed.problem), 200);
        return;
    }
    m_page = std::move(parsed.page);
    qCDebug(lcProtocol) << m_what << "parsed" << m_page.size() << "changes (limit" << m_limit
                        << ") in" << parsed.nanoseconds / 1000 << "us";
    finish();
}

void ProtocolRequest::release()
{
    HttpReply::release();
    // Perhaps from inside the watcher's own finished(): it goes once that has returned.
    if (m_parsing) {
        m_parsing->disconnect(this);
        m_parsing->deleteLater();
        m_parsing = nullptr;
    }
}

void ProtocolRequest::parseBody()
{
    QString problem;
    bool ok = false;
    switch (kind()) {
    case Kind::Entities:
        ok = Protocol::parseEntities(m_body, &m_entities, &problem);
        break;
    case Kind::Count:
        ok = Protocol::parseCount(m_body, &m_count, &problem);
        break;
    case Kind::Changes:
        parseChangesAside();
        return;
    case Kind::Push:
        ok = Protocol::parsePushResults(m_body, m_schema, m_sent, &m_pushResults, &problem);
        break;
    case Kind::Wait:
        ok = Protocol::parseWait(m_body, &m_changedEntities, &problem);
        break;
    }
    if (!ok) {
        fail(ErrorCategory::Protocol, QStringLiteral("%1: %2").arg(m_what, problem), 200);
        return;
    }
    finish();
}

// ProtocolClient

ProtocolClient::ProtocolClient(QNetworkAccessManager *manager, QObject *parent)
    : Source(parent)
    , m_manager(manager)
{
}

ProtocolClient::~ProtocolClient()
{
    // The requests go before the manager they hold replies of.
    qDeleteAll(findChildren<ProtocolRequest *>(QString(), Qt::FindDirectChildrenOnly));
}

SourceFactory ProtocolClient::factory(const SyncSettings &settings,
                                      std::function<QNetworkAccessManager *()> makeNetwork)
{
    return [settings, makeNetwork = std::move(makeNetwork)]() -> std::unique_ptr<Source> {
        std::unique_ptr<QNetworkAccessManager> manager(makeNetwork ? makeNetwork() : nullptr);
        if (!manager)
            manager = std::make_unique<QNetworkAccessManager>();
        auto client = std::make_unique<ProtocolClient>(manager.get());
        client->m_ownedManager = std::move(manager);
        client->setBaseUrl(settings.endpoint);
        client->setToken(settings.token);
        client->setTransport(TransportPolicy(settings));
        client->setTransferTimeout(settings.transferTimeoutMs);
        return client;
    };
}

Source::Capabilities ProtocolClient::capabilities() const
{
    // Each entity says whether it takes pushes (EntitySchema::writable).
    return Capability::CursorPaging | Capability::OffsetPaging | Capability::Push
        | Capability::Wait;
}

void ProtocolClient::setBaseUrl(const QUrl &url)
{
    m_baseUrl = url;
}

void ProtocolClient::setToken(const QString &token)
{
    m_token = token;
}

void ProtocolClient::setTransferTimeout(int milliseconds)
{
    m_transferTimeout = qMax(0, milliseconds);
}

void ProtocolClient::setMaxResponseSize(qint64 bytes)
{
    m_maxResponseSize = qMax<qint64>(0, bytes);
}

ProtocolRequest *ProtocolClient::fetchEntities()
{
    return send(new ProtocolRequest(ProtocolRequest::Kind::Entities, this),
                QStringLiteral("/entities"));
}

ProtocolRequest *ProtocolClient::fetchCount(const EntitySchema &entity, PagingMode mode,
                                            const QString &since)
{
    return fetchCount(entity.name, mode, since);
}

ProtocolRequest *ProtocolClient::fetchCount(const QString &entity, PagingMode mode,
                                            const QString &since)
{
    QList<std::pair<QString, QString>> query;
    if (!since.isEmpty()) {
        query.append(
            { mode == PagingMode::Cursor ? QStringLiteral("since") : QStringLiteral("changedSince"),
              since });
    }
    const QString path = QStringLiteral("/entities/%1/count")
                             .arg(QString::fromLatin1(QUrl::toPercentEncoding(entity)));
    return send(new ProtocolRequest(ProtocolRequest::Kind::Count, this), path, query);
}

ProtocolRequest *ProtocolClient::fetchChanges(const EntitySchema &schema, const ChangesQuery &query)
{
    auto *request = new ProtocolRequest(ProtocolRequest::Kind::Changes, this);
    request->m_schema = schema;
    request->m_limit = qBound(1, query.limit, Protocol::MaxLimit);
    request->m_mode = query.mode;

    QList<std::pair<QString, QString>> items;
    if (query.mode == PagingMode::Cursor) {
        if (!query.since.isEmpty())
            items.append({ QStringLiteral("since"), query.since });
    } else {
        if (!query.since.isEmpty())
            items.append({ QStringLiteral("changedSince"), query.since });
        items.append({ QStringLiteral("offset"), QString::number(qMax<qint64>(0, query.offset)) });
    }
    items.append({ QStringLiteral("limit"), QString::number(request->m_limit) });
    const QString path = QStringLiteral("/entities/%1/changes")
                             .arg(QString::fromLatin1(QUrl::toPercentEncoding(schema.name)));
    return send(request, path, items);
}

ProtocolRequest *ProtocolClient::pushChanges(const EntitySchema &schema, const QString &clientId,
                                             const QList<LocalChange> &changes)
{
    auto *request = new ProtocolRequest(ProtocolRequest::Kind::Push, this);
    request->m_schema = schema;
    request->m_sent = int(changes.size());
    const QString path = QStringLiteral("/entities/%1/changes")
                             .arg(QString::fromLatin1(QUrl::toPercentEncoding(schema.name)));
    return send(request, path, {}, Protocol::pushBody(schema, clientId, changes));
}

ProtocolRequest *ProtocolClient::waitForChanges(const QHash<QString, QString> &since,
                                                int timeoutSeconds)
{
    auto *request = new ProtocolRequest(ProtocolRequest::Kind::Wait, this);
    const int seconds = qBound(1, timeoutSeconds, 60);
    QStringList entries;
    for (auto it = since.cbegin(); it != since.cend(); ++it)
        entries.append(it.key() + u':' + it.value());
    entries.sort();
    return send(request, QStringLiteral("/wait"),
                { { QStringLiteral("timeout"), QString::number(seconds) },
                  { QStringLiteral("since"), entries.join(u',') } },
                QByteArray(), seconds * 1000 + qMax(m_transferTimeout, 5000));
}

QUrl ProtocolClient::urlFor(const QString &path,
                            const QList<std::pair<QString, QString>> &query) const
{
    return join(m_baseUrl, path, query);
}

ProtocolRequest *ProtocolClient::send(ProtocolRequest *request, const QString &path,
                                      const QList<std::pair<QString, QString>> &query,
                                      const QByteArray &body, int transferTimeout)
{
    const QUrl url = urlFor(path, query);
    const bool post = request->kind() == ProtocolRequest::Kind::Push;
    const QString what = QStringLiteral("%1 %2").arg(
        post ? QStringLiteral("POST") : QStringLiteral("GET"), oneLine(path, 200));
    request->m_what = what;
    request->m_hostPort = hostPortOf(url);
    request->m_maxResponseSize = m_maxResponseSize;
    request->m_transferTimeout = transferTimeout >= 0 ? transferTimeout : m_transferTimeout;
    request->m_hasToken = !m_token.isEmpty();

    const QString scheme = m_baseUrl.scheme();
    if (m_baseUrl.isEmpty()) {
        request->fail(ErrorCategory::Request, QStringLiteral("no endpoint URL is set"));
        return request;
    }
    if (!m_baseUrl.isValid() || m_baseUrl.host().isEmpty()
        || (scheme != QLatin1String("http") && scheme != QLatin1String("https"))) {
        request->fail(ErrorCategory::Request,
                      QStringLiteral("the endpoint URL \"%1\" is not an http or https URL")
                          .arg(oneLine(m_baseUrl.toDisplayString())));
        return request;
    }
    if (!isHeaderSafe(m_token)) {
        request->fail(ErrorCategory::Request,
                      QStringLiteral("the token contains spaces or characters that cannot be "
                                     "sent in an HTTP header"));
        return request;
    }

    // Before any connection: a token never travels in the clear to another host.
    if (const QString problem = m_transport.problem(url, !m_token.isEmpty()); !problem.isEmpty()) {
        request->fail(ErrorCategory::Request, problem);
        return request;
    }

    QNetworkRequest networkRequest(url);
    m_transport.apply(&networkRequest);
    networkRequest.setRawHeader("Accept", "application/json");
    networkRequest.setHeader(QNetworkRequest::UserAgentHeader, QByteArrayLiteral("BatchSync"));
    if (!m_token.isEmpty())
        networkRequest.setRawHeader("Authorization", "Bearer " + m_token.toLatin1());
    if (request->m_transferTimeout > 0)
        networkRequest.setTransferTimeout(request->m_transferTimeout);
    // Never carry the token to another origin.
    networkRequest.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                                QNetworkRequest::SameOriginRedirectPolicy);

    if (post) {
        networkRequest.setHeader(QNetworkRequest::ContentTypeHeader,
                                 QByteArrayLiteral("application/json"));
        qCDebug(lcProtocol) << "POST" << url.toDisplayString() << body.size() << "bytes";
        request->attach(m_manager->post(networkRequest, body), what);
        return request;
    }
    qCDebug(lcProtocol) << "GET" << url.toDisplayString();
    request->attach(m_manager->get(networkRequest), what);
    return request;
}

} // namespace BatchSync
