#include "odatasource.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "sources/odata/odatapage.h"

#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <algorithm>

namespace BatchSync {

using namespace OData;
using Http::oneLine;

namespace {

constexpr int MaxLimit = 10000;
const QByteArray JsonAccept = "application/json;odata.metadata=minimal;IEEE754Compatible=true";

/*! The same query asking only for the count of what it selects. */
QList<std::pair<QString, QString>> countOnly(QList<std::pair<QString, QString>> query,
                                             const EntitySet &set)
{
    QStringList keys;
    for (const Property &key : set.keys)
        keys.append(key.name);
    for (auto &[name, value] : query) {
        if (name == u"$select")
            value = keys.join(u',');
        else if (name == u"$top")
            value = QStringLiteral("0");
    }
    return query;
}

} // namespace

// ODataReply

ODataReply::ODataReply(Kind kind, ODataSource *source)
    : HttpReply(kind, source)
    , m_source(source)
{
    m_maxResponseSize = source->m_maxResponseSize;
    m_transferTimeout = source->m_settings.transferTimeoutMs;
}

QString ODataReply::errorText(const QByteArray &body) const
{
    return errorMessage(body);
}

QString ODataReply::authMessage(int status, const QString &serverText) const
{
    const SyncSettings &settings = m_source->m_settings;
    if (status == 403) {
        if (settings.user.isEmpty())
            return QStringLiteral("the service denies access (403): %1").arg(serverText);
        return QStringLiteral("the service denies %1 access (403): %2")
            .arg(Identifier::quoted(settings.user), serverText);
    }
    if (!settings.user.isEmpty()) {
        return QStringLiteral("the service refused the user %1 or the password (401): %2")
            .arg(Identifier::quoted(settings.user), serverText);
    }
    if (!settings.token.isEmpty())
        return QStringLiteral("the service refused the token (401): %1").arg(serverText);
    return QStringLiteral("the service requires authentication (401): give a user (with a "
                          "password file or BATCHSYNC_PASSWORD) or a token: %1")
        .arg(serverText);
}

void ODataReply::handleBody(int)
{
    QString problem;
    if (m_step == Step::Metadata) {
        if (!m_source->takeMetadata(m_body, &problem)) {
            fail(ErrorCategory::Protocol, QStringLiteral("%1: %2").arg(m_what, problem), 200);
            return;
        }
        proceed();
        return;
    }
    const EntitySet *set = m_source->set(m_schema.name);
    if (!set) {
        fail(ErrorCategory::Request,
             QStringLiteral("the service no longer has the entity set %1")
                 .arg(Identifier::quoted(m_schema.name)));
        return;
    }
    if (m_step == Step::Probe) {
        m_probed = true;
        const QByteArray applied
            = networkReply() ? networkReply()->rawHeader("Preference-Applied") : QByteArray();
        if (applied.contains("odata.track-changes")) {
            qCInfo(lcOData) << "entity set" << m_schema.name
                            << "is change-tracked: reading it with delta links";
            startDeltaLoad();
        } else {
            proceed();
        }
        return;
    }
    if (m_step == Step::Count) {
        ResponsePage page;
        if (!parseResponse(m_body, *set, m_schema, RecordShape::Keys, &page, &problem)) {
            fail(ErrorCategory::Protocol, QStringLiteral("%1: %2").arg(m_what, problem), 200);
            return;
        }
        if (page.count < 0) {
            fail(ErrorCategory::Protocol,
                 QStringLiteral("%1: the service does not report @odata.count").arg(m_what), 200);
            return;
        }
        m_count = page.count;
        finish();
        return;
    }
    if (kind() == Kind::Changes && !m_initialDelta && !m_cursor.isDelta()) {
        announceEnd();
        // Read in full from the event loop: a next page asked for on positionKnown() goes out
        // first.
        QMetaObject::invokeMethod(
            this,
            [this] {
                if (!isFinished())
                    readPage();
            },
            Qt::QueuedConnection);
        return;
    }
    readPage();
}

void ODataReply::proceed()
{
    const EntitySet *set = m_source->set(m_schema.name);
    if (kind() == Kind::Entities) {
        for (const EntitySet &each : m_source->m_metadata->sets)
            m_entities.append(each.schema());
        finish();
        return;
    }
    if (!set) {
        fail(ErrorCategory::Request,
             QStringLiteral("the service has no entity set %1")
                 .arg(Identifier::quoted(m_schema.name)));
        return;
    }
    const std::optional<RunCursor> cursor = RunCursor::parse(m_since, int(set->keys.size()));
    if (!cursor) {
        fail(ErrorCategory::Request,
             QStringLiteral("the stored position of %1 is not one of an OData source (was this "
                            "database synced from another kind of source? use another one)")
                 .arg(Identifier::quoted(m_schema.name)));
        return;
    }
    m_cursor = *cursor;
    if (m_cursor.isDelta()) {
        if (kind() == Kind::Count) {
            m_count = 0; // a delta has no count: the total grows with what arrives
            finish();
            return;
        }
        const QUrl link = m_source->m_root.resolved(QUrl(m_cursor.link));
        if (!m_source->isOwnLink(m_cursor.link)) {
            fail(ErrorCategory::Protocol,
                 QStringLiteral("the stored delta link of %1 leads to another host (%2)")
                     .arg(Identifier::quoted(m_schema.name), oneLine(m_cursor.link, 200)));
            return;
        }
        m_step = Step::Page;
        m_source->sendDeltaRequest(this, link);
        return;
    }
    // What the cursor's phase is worth now: the set may have gained or lost its change time.
    QList<std::pair<QString, QString>> query;
    if (set->changeTime.isEmpty()) {
        if (m_cursor.phase != RunCursor::Phase::Reload || m_cursor.complete)
            m_cursor = RunCursor { RunCursor::Phase::Reload, {}, {}, false, false, {} };
        query = keyPageQuery(*set, m_cursor.key, m_limit, false);
    } else {
        if (m_cursor.phase == RunCursor::Phase::Reload)
            m_cursor = RunCursor { RunCursor::Phase::Changes, {}, {}, false, false, {} };
        if (m_cursor.phase == RunCursor::Phase::Deletions && !m_cursor.complete) {
            query = keyPageQuery(*set, m_cursor.key, m_limit, true);
        } else {
            m_from = m_cursor.complete
                ? safetyWindowStart(m_cursor.position, m_source->m_settings.safetyWindowSeconds)
                : m_cursor.position;
            query = pageQuery(*set, m_from, m_limit);
        }
    }
    // A run that reads the whole set first asks whether the service tracks its changes: then
    // delta links bring changes and deletions, and no keyset pages or key scans are needed.
    const bool wholeSet = m_cursor.phase == RunCursor::Phase::Reload
        ? m_cursor.key.isEmpty()
        : m_cursor.phase == RunCursor::Phase::Changes && m_cursor.fromStart
            && m_cursor.position.isStart() && !m_cursor.complete;
    if (kind() == Kind::Changes && wholeSet && !m_probed) {
        m_step = Step::Probe;
        m_source->sendProbe(this, *set);
        return;
    }
    if (kind() == Kind::Count) {
        m_step = Step::Count;
        query = countOnly(query, *set);
    } else {
        m_step = Step::Page;
    }
    m_source->sendCollectionRequest(this, *set, query);
}

bool ODataReply::interceptStatus(int status)
{
    if (m_step == Step::Probe && status >= 400 && status < 500 && status != 401 && status != 403) {
        // A service that refuses the question does not track changes: keyset pages then.
        m_probed = true;
        proceed();
        return true;
    }
    if (status == 410 && m_step == Step::Page && m_cursor.isDelta()) {
        qCInfo(lcOData) << "the delta link of" << m_schema.name
                        << "expired (410): reading the whole set again";
        startDeltaLoad();
        return true;
    }
    return false;
}

void ODataReply::startDeltaLoad()
{
    const EntitySet &set = *m_source->set(m_schema.name);
    m_initialDelta = true;
    m_cursor = RunCursor { RunCursor::Phase::Reload, {}, {}, false, false, {} };
    m_step = Step::Page;
    QList<std::pair<QString, QString>> query = keyPageQuery(set, {}, m_limit, false);
    query.erase(std::remove_if(query.begin(), query.end(),
                               [](const auto &item) { return item.first != u"$select"; }),
                query.end());
    m_source->sendDeltaRequest(this, Http::join(m_source->m_root, set.name, query));
}

bool ODataReply::refuseForeignLink(const QString &link, const QString &which)
{
    if (link.isEmpty() || m_source->isOwnLink(link))
        return false;
    fail(ErrorCategory::Protocol,
         QStringLiteral("%1: the service's %2 leads to another host (%3); not following it")
             .arg(m_what, which, oneLine(link, 200)));
    return true;
}

void ODataReply::readDeltaPage()
{
    const EntitySet &set = *m_source->set(m_schema.name);
    ResponsePage response;
    QString problem;
    if (!parseResponse(m_body, set, m_schema, RecordShape::Delta, &response, &problem)) {
        fail(ErrorCategory::Protocol, QStringLiteral("%1: %2").arg(m_what, problem), 200);
        return;
    }
    if (refuseForeignLink(response.nextLink, QStringLiteral("next link"))
        || refuseForeignLink(response.deltaLink, QStringLiteral("delta link"))) {
        return;
    }
    if (response.nextLink.isEmpty() && response.deltaLink.isEmpty()) {
        fail(ErrorCategory::Protocol,
             QStringLiteral("%1: the service's change-tracked response ends with neither a next "
                            "link nor a delta link")
                 .arg(m_what),
             200);
        return;
    }
    const bool load = m_cursor.phase == RunCursor::Phase::Reload;
    const bool last = response.nextLink.isEmpty();
    const auto absolute = [this](const QString &link) {
        return m_source->m_root.resolved(QUrl(link)).toString(QUrl::FullyEncoded);
    };
    m_page.changes = std::move(response.changes);
    RunCursor next;
    if (load) {
        // The initial read (or a new one after an expired delta link) replaces the table.
        m_page.phase = SyncPhase::Reload;
        m_page.phaseStart = m_initialDelta;
        m_page.phaseEnd = last;
        m_page.changes.removeIf([](const Change &change) { return change.deleted; });
        if (m_page.phaseStart)
            m_page.phaseTotal = response.count;
        next.phase = last ? RunCursor::Phase::Changes : RunCursor::Phase::Reload;
    } else {
        m_page.phase = SyncPhase::Changes;
        next.phase = RunCursor::Phase::Changes;
    }
    next.complete = last;
    next.link = absolute(last ? response.deltaLink : response.nextLink);
    m_page.hasMore = !last;
    m_page.cursor = next.toString();
    qCDebug(lcOData) << m_what << m_page.changes.size() << "delta records; more:" << !last;
    finish();
}

void ODataReply::readPage()
{
    if (m_initialDelta || m_cursor.isDelta()) {
        readDeltaPage();
        return;
    }
    const EntitySet &set = *m_source->set(m_schema.name);
    const bool changes = m_cursor.phase == RunCursor::Phase::Changes;
    const bool reload = m_cursor.phase == RunCursor::Phase::Reload;
    ResponsePage response;
    QString problem;
    if (!parseResponse(m_body, set, m_schema,
                       reload || changes ? RecordShape::Records : RecordShape::Keys, &response,
                       &problem)) {
        fail(ErrorCategory::Protocol, QStringLiteral("%1: %2").arg(m_what, problem), 200);
        return;
    }
    if (refuseForeignLink(response.nextLink, QStringLiteral("next link")))
        return;
    const qsizetype received = response.changes.size();

    // A service that ignores $filter or $orderby would make keyset pages skip or repeat
    // records: refuse its pages rather than store a partial copy.
    if (changes) {
        QString previous = m_from.changeTime;
        for (qsizetype i = 0; i < received; ++i) {
            const QString &time = response.times.at(i);
            if (!m_from.isStart()
                && (compareTimes(time, m_from.changeTime) < 0
                    || (time == m_from.changeTime && response.keys.at(i) == m_from.key))) {
                fail(ErrorCategory::Protocol,
                     QStringLiteral("%1: the service sent record %2 (changed %3), which is not "
                                    "after the position asked for (%4): it does not apply "
                                    "$filter")
                         .arg(m_what, Identifier::printable(response.changes.at(i).id), time,
                              m_from.changeTime));
                return;
            }
            if (!previous.isEmpty() && compareTimes(time, previous) < 0) {
                fail(ErrorCategory::Protocol,
                     QStringLiteral("%1: the service sent its records out of order (%2 after "
                                    "%3): it does not apply $orderby")
                         .arg(m_what, time, previous));
                return;
            }
            previous = time;
        }
    } else if (!m_cursor.key.isEmpty()) {
        for (qsizetype i = 0; i < received; ++i) {
            if (response.keys.at(i) == m_cursor.key) {
                fail(ErrorCategory::Protocol,
                     QStringLiteral("%1: the service sent record %2 again, which is not after "
                                    "the position asked for: it does not apply $filter")
                         .arg(m_what, Identifier::printable(response.changes.at(i).id)));
                return;
            }
        }
    }

    const PageEnd end
        = pageEnd(received, response.keys.isEmpty() ? QStringList() : response.keys.last(),
                  response.times.isEmpty() ? QString() : response.times.last(), response.count,
                  response.nextLink);
    m_page.changes = std::move(response.changes);
    m_page.hasMore = end.hasMore;
    m_page.phase = end.phase;
    m_page.phaseStart = end.phaseStart;
    m_page.phaseEnd = end.phaseEnd;
    if (end.phaseStart)
        m_page.phaseTotal = response.count >= 0 ? response.count : received;
    m_page.cursor = end.cursor;
    if (m_announced && m_announced->cursor != end.cursor) {
        fail(ErrorCategory::Protocol,
             QStringLiteral("%1: the page's end read differently on a second look").arg(m_what),
             200);
        return;
    }
    qCDebug(lcOData) << m_what << received << "records; more:" << m_page.hasMore;
    finish();
}

ODataReply::PageEnd ODataReply::pageEnd(qsizetype received, const QStringList &lastKey,
                                        const QString &lastTime, qint64 count,
                                        const QString &nextLink) const
{
    const bool changes = m_cursor.phase == RunCursor::Phase::Changes;
    const bool reload = m_cursor.phase == RunCursor::Phase::Reload;
    // A page the service capped (a next link before $top) goes on with our own keyset query.
    const bool more = received > 0
        && (!nextLink.isEmpty() || (count >= 0 ? count > received : received >= m_limit));
    PageEnd end;
    RunCursor next = m_cursor;
    next.complete = false;
    if (changes) {
        end.phase = SyncPhase::Changes;
        const bool firstRun = m_cursor.fromStart && !m_cursor.complete;
        next.fromStart = firstRun;
        if (received > 0)
            next.position = KeysetPosition { lastTime, lastKey };
        end.hasMore = true;
        if (!more && firstRun) {
            // Nothing was local before this run: there are no deletions to look for.
            next.complete = true;
            end.hasMore = false;
        } else if (!more) {
            next.phase = RunCursor::Phase::Deletions;
            next.key.clear();
        }
    } else {
        end.phase = reload ? SyncPhase::Reload : SyncPhase::Deletions;
        end.phaseStart = m_cursor.key.isEmpty();
        if (received > 0)
            next.key = lastKey;
        end.hasMore = more;
        if (!more) {
            end.phaseEnd = true;
            next.phase = reload ? RunCursor::Phase::Reload : RunCursor::Phase::Changes;
            next.key.clear();
            next.fromStart = false;
            next.complete = true;
        }
    }
    end.cursor = next.toString();
    return end;
}

void ODataReply::announceEnd()
{
    // The page's end from a quick look (its last record, its count and next link), so that
    // the engine can ask for the next page while this one is read in full.
    const EntitySet &set = *m_source->set(m_schema.name);
    const bool keys = m_cursor.phase == RunCursor::Phase::Deletions;
    PagePeek peek;
    if (!peekResponse(m_body, set, m_schema, keys ? RecordShape::Keys : RecordShape::Records,
                      &peek)) {
        return; // the full reading says what is wrong
    }
    m_announced = pageEnd(peek.received, peek.lastKey, peek.lastTime, peek.count, peek.nextLink);
    if (m_announced->hasMore)
        Q_EMIT positionKnown(m_announced->cursor);
}

// ODataSource

ODataSource::ODataSource(QNetworkAccessManager *manager, const SyncSettings &settings,
                         QObject *parent)
    : Source(parent)
    , m_manager(manager)
    , m_settings(settings)
    , m_root(settings.endpoint)
    , m_transport(settings)
{
    QString path = m_root.path();
    if (!path.endsWith(u'/'))
        m_root.setPath(path + u'/');
    if (!settings.user.isEmpty()) {
        m_authorization
            = "Basic " + (settings.user.toUtf8() + ':' + settings.password.toUtf8()).toBase64();
    } else if (!settings.token.isEmpty()) {
        if (!Http::isHeaderSafe(settings.token))
            m_credentialProblem = QStringLiteral("the token contains spaces or characters that "
                                                 "cannot be sent in an HTTP header");
        m_authorization = "Bearer " + settings.token.toLatin1();
    }
    // Checked before the first request, the metadata's: every other one follows it.
    if (m_credentialProblem.isEmpty())
        m_credentialProblem = m_transport.problem(m_root, !m_authorization.isEmpty());
}

ODataSource::~ODataSource()
{
    // The replies go before the manager they hold network replies of.
    qDeleteAll(findChildren<ODataReply *>(QString(), Qt::FindDirectChildrenOnly));
}

SourceFactory ODataSource::factory(const SyncSettings &settings,
                                   std::function<QNetworkAccessManager *()> makeNetwork)
{
    return [settings, makeNetwork = std::move(makeNetwork)]() -> std::unique_ptr<Source> {
        std::unique_ptr<QNetworkAccessManager> manager(makeNetwork ? makeNetwork() : nullptr);
        if (!manager)
            manager = std::make_unique<QNetworkAccessManager>();
        auto source = std::make_unique<ODataSource>(manager.get(), settings);
        source->m_ownedManager = std::move(manager);
        return source;
    };
}

Source::Capabilities ODataSource::capabilities() const
{
    return Capability::CursorPaging;
}

SourceReply *ODataSource::fetchEntities()
{
    auto *reply = new ODataReply(SourceReply::Kind::Entities, this);
    sendMetadataRequest(reply); // always anew: the engine asks when it refreshes
    return reply;
}

SourceReply *ODataSource::fetchCount(const EntitySchema &entity, PagingMode, const QString &since)
{
    auto *reply = new ODataReply(SourceReply::Kind::Count, this);
    reply->m_schema = entity;
    reply->m_since = since;
    return start(reply);
}

SourceReply *ODataSource::fetchChanges(const EntitySchema &entity, const ChangesQuery &query)
{
    auto *reply = new ODataReply(SourceReply::Kind::Changes, this);
    reply->m_schema = entity;
    reply->m_limit = qBound(1, query.limit, MaxLimit);
    reply->m_since = query.since;
    return start(reply);
}

ODataReply *ODataSource::start(ODataReply *reply)
{
    if (m_metadata)
        reply->proceed();
    else
        sendMetadataRequest(reply);
    return reply;
}

QNetworkRequest ODataSource::request(const QUrl &url, const QByteArray &accept,
                                     const QByteArray &prefer) const
{
    QNetworkRequest request(url);
    m_transport.apply(&request);
    request.setRawHeader("Accept", accept);
    if (!prefer.isEmpty())
        request.setRawHeader("Prefer", prefer);
    request.setRawHeader("OData-MaxVersion", "4.0");
    request.setHeader(QNetworkRequest::UserAgentHeader, QByteArrayLiteral("BatchSync"));
    if (!m_authorization.isEmpty())
        request.setRawHeader("Authorization", m_authorization);
    if (m_settings.transferTimeoutMs > 0)
        request.setTransferTimeout(m_settings.transferTimeoutMs);
    // Never carry the credentials to another origin.
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::SameOriginRedirectPolicy);
    return request;
}

void ODataSource::sendMetadataRequest(ODataReply *reply)
{
    reply->m_step = ODataReply::Step::Metadata;
    reply->m_hostPort = Http::hostPortOf(m_root);
    const QString what = QStringLiteral("GET $metadata");
    reply->m_what = what;
    const QString scheme = m_root.scheme();
    if (!m_root.isValid() || m_root.host().isEmpty()
        || (scheme != QLatin1String("http") && scheme != QLatin1String("https"))) {
        reply->fail(ErrorCategory::Request,
                    QStringLiteral("the service root \"%1\" is not an http or https URL")
                        .arg(oneLine(m_root.toDisplayString())));
        return;
    }
    if (!m_credentialProblem.isEmpty()) {
        reply->fail(ErrorCategory::Request, m_credentialProblem);
        return;
    }
    const QUrl url = Http::join(m_root, QStringLiteral("$metadata"), {});
    qCDebug(lcOData) << "GET" << url.toDisplayString();
    reply->attach(m_manager->get(request(url, "application/xml")), what);
}

void ODataSource::sendCollectionRequest(ODataReply *reply, const EntitySet &set,
                                        const QList<std::pair<QString, QString>> &query)
{
    const QUrl url = Http::join(m_root, set.name, query);
    const QString what = QStringLiteral("GET %1").arg(set.name);
    qCDebug(lcOData) << "GET" << url.toDisplayString();
    reply->attach(m_manager->get(request(url, JsonAccept)), what);
}

void ODataSource::sendProbe(ODataReply *reply, const EntitySet &set)
{
    QStringList keys;
    for (const Property &key : set.keys)
        keys.append(key.name);
    const QUrl url = Http::join(m_root, set.name,
                                { { QStringLiteral("$select"), keys.join(u',') },
                                  { QStringLiteral("$top"), QStringLiteral("1") } });
    qCDebug(lcOData) << "GET" << url.toDisplayString() << "(does it track changes?)";
    reply->attach(m_manager->get(request(url, JsonAccept, "odata.track-changes")),
                  QStringLiteral("GET %1").arg(set.name));
}

void ODataSource::sendDeltaRequest(ODataReply *reply, const QUrl &url)
{
    const QByteArray prefer
        = "odata.track-changes, odata.maxpagesize=" + QByteArray::number(reply->m_limit);
    qCDebug(lcOData) << "GET" << url.toDisplayString();
    reply->attach(m_manager->get(request(url, JsonAccept, prefer)),
                  QStringLiteral("GET %1 (changes)").arg(reply->m_schema.name));
}

bool ODataSource::takeMetadata(const QByteArray &xml, QString *problem)
{
    Metadata metadata;
    if (!parseMetadata(xml, &metadata, problem, m_settings.changeTimeProperties))
        return false;
    for (const QString &line : std::as_const(metadata.leftOut))
        qCWarning(lcOData) << "entity set left out:" << line;
    for (const EntitySet &set : std::as_const(metadata.sets)) {
        for (const QString &line : set.leftOut)
            qCInfo(lcOData) << "entity set" << set.name << "leaves out" << line;
        if (set.changeTime.isEmpty())
            qCInfo(lcOData) << "entity set" << set.name
                            << "has no change-time property: reloaded whole each sync";
    }
    m_metadata = std::move(metadata);
    return true;
}

const EntitySet *ODataSource::set(const QString &name) const
{
    if (!m_metadata)
        return nullptr;
    for (const EntitySet &set : m_metadata->sets) {
        if (set.name == name)
            return &set;
    }
    return nullptr;
}

bool ODataSource::isOwnLink(const QString &link) const
{
    const QUrl url = m_root.resolved(QUrl(link));
    return url.scheme() == m_root.scheme() && url.host() == m_root.host()
        && url.port(url.scheme() == QLatin1String("https") ? 443 : 80)
        == m_root.port(m_root.scheme() == QLatin1String("https") ? 443 : 80);
}

} // namespace BatchSync
