#include "memorysource.h"

#include "common/timestamp.h"

#include <QDateTime>
#include <QMutexLocker>
#include <QTimer>
#include <algorithm>

namespace BatchSync::Test {

// MemoryFeed

MemoryFeed::MemoryFeed()
    : m_clockMs(QDateTime(QDate(2026, 1, 1), QTime(0, 0), Qt::UTC).toMSecsSinceEpoch())
{
}

void MemoryFeed::addEntity(const EntitySchema &schema)
{
    QMutexLocker lock(&m_mutex);
    m_entities[schema.name].schema = schema;
}

QList<EntitySchema> MemoryFeed::entities() const
{
    QMutexLocker lock(&m_mutex);
    QList<EntitySchema> list;
    for (const Entity &entity : m_entities)
        list.append(entity.schema);
    return list;
}

QString MemoryFeed::stamp()
{
    if (m_writesPerMs > 0 && ++m_writesThisMs >= m_writesPerMs) {
        m_writesThisMs = 0;
        ++m_clockMs;
    }
    return Timestamp::format(QDateTime::fromMSecsSinceEpoch(m_clockMs, Qt::UTC));
}

void MemoryFeed::put(const QString &entity, const QString &id, const QVariantList &values)
{
    QMutexLocker lock(&m_mutex);
    Row &row = m_entities[entity].rows[id];
    row = Row { values, false, ++m_seq, stamp() };
}

void MemoryFeed::putStamped(const QString &entity, const QString &id, const QVariantList &values,
                            const QString &changedAt)
{
    QMutexLocker lock(&m_mutex);
    m_entities[entity].rows[id] = Row { values, false, ++m_seq, changedAt };
}

QString MemoryFeed::newestChangedAt() const
{
    QMutexLocker lock(&m_mutex);
    return Timestamp::format(QDateTime::fromMSecsSinceEpoch(m_clockMs, Qt::UTC));
}

void MemoryFeed::remove(const QString &entity, const QString &id)
{
    QMutexLocker lock(&m_mutex);
    auto &rows = m_entities[entity].rows;
    const auto it = rows.find(id);
    if (it == rows.end() || it->deleted)
        return;
    *it = Row { {}, true, ++m_seq, stamp() };
}

void MemoryFeed::setWritesPerMillisecond(int writes)
{
    QMutexLocker lock(&m_mutex);
    m_writesPerMs = writes;
    m_writesThisMs = 0;
}

QHash<QString, QVariantList> MemoryFeed::liveRecords(const QString &entity) const
{
    QMutexLocker lock(&m_mutex);
    QHash<QString, QVariantList> live;
    const auto found = m_entities.constFind(entity);
    if (found == m_entities.cend())
        return live;
    for (auto it = found->rows.cbegin(); it != found->rows.cend(); ++it) {
        if (!it->deleted)
            live.insert(it.key(), it->values);
    }
    return live;
}

void MemoryFeed::addFault(const Fault &fault)
{
    QMutexLocker lock(&m_mutex);
    m_faults.append(fault);
}

void MemoryFeed::clearFaults()
{
    QMutexLocker lock(&m_mutex);
    m_faults.clear();
}

void MemoryFeed::setBeforePage(std::function<void(MemoryFeed &, const QString &, int)> hook)
{
    QMutexLocker lock(&m_mutex);
    m_beforePage = std::move(hook);
}

void MemoryFeed::setAfterPage(
    std::function<void(MemoryFeed &, const QString &, const ChangePage &)> hook)
{
    QMutexLocker lock(&m_mutex);
    m_afterPage = std::move(hook);
}

int MemoryFeed::asked(SourceReply::Kind kind) const
{
    QMutexLocker lock(&m_mutex);
    return m_asked.value(int(kind));
}

std::optional<MemoryFeed::Fault> MemoryFeed::takeFault(SourceReply::Kind kind,
                                                       const QString &entity)
{
    QMutexLocker lock(&m_mutex);
    ++m_asked[int(kind)];
    for (auto it = m_faults.begin(); it != m_faults.end(); ++it) {
        if (it->kind != kind || (!it->entity.isEmpty() && it->entity != entity))
            continue;
        Fault fault = *it;
        if (--it->times <= 0)
            m_faults.erase(it);
        return fault;
    }
    return std::nullopt;
}

bool MemoryFeed::hasEntity(const QString &entity) const
{
    QMutexLocker lock(&m_mutex);
    return m_entities.contains(entity);
}

QList<std::pair<QString, MemoryFeed::Row>> MemoryFeed::feed(const QString &entity, PagingMode mode,
                                                            const QString &since) const
{
    QList<std::pair<QString, Row>> changes;
    const auto found = m_entities.constFind(entity);
    if (found == m_entities.cend())
        return changes;
    const qint64 after = since.isEmpty() ? 0 : since.toLongLong();
    for (auto it = found->rows.cbegin(); it != found->rows.cend(); ++it) {
        const bool follows = mode == PagingMode::Cursor ? it->seq > after
                                                        : since.isEmpty() || it->changedAt > since;
        if (follows)
            changes.append({ it.key(), *it });
    }
    std::sort(changes.begin(), changes.end(), [mode](const auto &a, const auto &b) {
        if (mode == PagingMode::Cursor)
            return a.second.seq < b.second.seq;
        return std::tie(a.second.changedAt, a.first) < std::tie(b.second.changedAt, b.first);
    });
    return changes;
}

qint64 MemoryFeed::count(const QString &entity, PagingMode mode, const QString &since) const
{
    QMutexLocker lock(&m_mutex);
    return feed(entity, mode, since).size();
}

ChangePage MemoryFeed::page(const QString &entity, const ChangesQuery &query)
{
    std::function<void(MemoryFeed &, const QString &, int)> before;
    std::function<void(MemoryFeed &, const QString &, const ChangePage &)> after;
    int index = 0;
    {
        QMutexLocker lock(&m_mutex);
        before = m_beforePage;
        after = m_afterPage;
        index = m_pages[entity]++;
    }
    if (before)
        before(*this, entity, index);
    const ChangePage made = makePage(entity, query);
    if (after)
        after(*this, entity, made);
    return made;
}

ChangePage MemoryFeed::makePage(const QString &entity, const ChangesQuery &query) const
{
    QMutexLocker lock(&m_mutex);
    const QList<std::pair<QString, Row>> changes = feed(entity, query.mode, query.since);
    const qint64 skip = query.mode == PagingMode::Offset ? query.offset : 0;
    ChangePage page;
    qint64 i = skip;
    for (; i < changes.size() && page.changes.size() < query.limit; ++i) {
        const auto &[id, row] = changes.at(i);
        page.changes.append(Change { id, row.changedAt, row.deleted, row.values });
        if (query.mode == PagingMode::Cursor)
            page.cursor = QString::number(row.seq);
    }
    if (query.mode == PagingMode::Cursor && page.cursor.isEmpty())
        page.cursor = query.since;
    page.hasMore = i < changes.size();
    return page;
}

// MemorySource

namespace {

class MemoryReply final : public SourceReply
{
public:
    MemoryReply(Kind kind, QObject *parent)
        : SourceReply(kind, parent)
    {
    }

    /*! Answers from the event loop: a fault, or what \a answer fills in. */
    void answer(std::optional<MemoryFeed::Fault> fault, std::function<void(MemoryReply &)> answer)
    {
        if (fault && fault->hang)
            return;
        QTimer::singleShot(0, this, [this, fault, answer = std::move(answer)] {
            if (isFinished())
                return;
            if (fault && fault->error.isError()) {
                m_error.retryAfterSeconds = fault->error.retryAfterSeconds;
                fail(fault->error.category, fault->error.message, fault->error.httpStatus);
                return;
            }
            answer(*this);
            finish();
        });
    }

    QList<EntitySchema> &entities() { return m_entities; }
    qint64 &count() { return m_count; }
    ChangePage &page() { return m_page; }
};

} // namespace

MemorySource::MemorySource(std::shared_ptr<MemoryFeed> feed, Capabilities capabilities,
                           QObject *parent)
    : Source(parent)
    , m_feed(std::move(feed))
    , m_capabilities(capabilities)
{
}

SourceFactory MemorySource::factory(std::shared_ptr<MemoryFeed> feed, Capabilities capabilities)
{
    return [feed, capabilities]() -> std::unique_ptr<Source> {
        return std::make_unique<MemorySource>(feed, capabilities);
    };
}

SourceReply *MemorySource::fetchEntities()
{
    auto *reply = new MemoryReply(SourceReply::Kind::Entities, this);
    reply->answer(m_feed->takeFault(SourceReply::Kind::Entities, QString()),
                  [feed = m_feed](MemoryReply &r) { r.entities() = feed->entities(); });
    return reply;
}

SourceReply *MemorySource::fetchCount(const EntitySchema &entity, PagingMode mode,
                                      const QString &since)
{
    auto *reply = new MemoryReply(SourceReply::Kind::Count, this);
    reply->answer(m_feed->takeFault(SourceReply::Kind::Count, entity.name),
                  [feed = m_feed, name = entity.name, mode, since](MemoryReply &r) {
                      r.count() = feed->count(name, mode, since);
                  });
    return reply;
}

SourceReply *MemorySource::fetchChanges(const EntitySchema &entity, const ChangesQuery &query)
{
    auto *reply = new MemoryReply(SourceReply::Kind::Changes, this);
    const std::optional<MemoryFeed::Fault> fault
        = m_feed->takeFault(SourceReply::Kind::Changes, entity.name);
    reply->answer(fault, [feed = m_feed, name = entity.name, query, fault](MemoryReply &r) {
        r.page() = fault && fault->page ? *fault->page : feed->page(name, query);
    });
    return reply;
}

} // namespace BatchSync::Test
