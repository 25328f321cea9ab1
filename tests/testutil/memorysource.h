#pragma once

#include "sources/source.h"

#include <QHash>
#include <QMap>
#include <QMutex>
#include <functional>
#include <memory>
#include <optional>

namespace BatchSync::Test {

/*!
    An in-memory change feed of several entities, with the semantics of protocol v1: every
    write gives its record a new sequence number (the cursor) and a changedAt; a deletion
    leaves a tombstone. Cursor pages follow the sequence; offset pages follow
    (changedAt, id) with changedAt strictly after changedSince. Faults and hooks script
    what a source cannot be made to do otherwise. Thread-safe: the test thread writes while
    the engine's thread reads.
*/
class MemoryFeed final
{
public:
    /*! A scripted answer instead of the real one, for the next matching question. */
    struct Fault
    {
        SourceReply::Kind kind = SourceReply::Kind::Changes;
        QString entity; //!< empty: any entity (and the entity list)
        SyncError error; //!< category None: answer normally, after delayMs
        bool hang = false; //!< never answer (until aborted)
        int times = 1; //!< how many questions it answers
        std::optional<ChangePage> page = std::nullopt; //!< Changes: answer this page instead
    };

    MemoryFeed();

    void addEntity(const EntitySchema &schema);
    QList<EntitySchema> entities() const;

    /*! Creates or replaces \a id; \a values in schema order. */
    void put(const QString &entity, const QString &id, const QVariantList &values);
    /*!
        Writes \a id stamped \a changedAt instead of now: a slow transaction, stamped when
        it started and committed later, behind changes already served.
    */
    void putStamped(const QString &entity, const QString &id, const QVariantList &values,
                    const QString &changedAt);
    /*! The changedAt of the newest write. */
    QString newestChangedAt() const;
    /*! Deletes \a id (a tombstone); nothing happens when it is not live. */
    void remove(const QString &entity, const QString &id);
    /*!
        How many writes share one changedAt before the clock moves on a millisecond (tie
        groups); 1 by default. 0 stops the clock: every write joins the newest millisecond,
        as writes do that land in the millisecond being read.
    */
    void setWritesPerMillisecond(int writes);

    /*! The live records, id → values, as the local database must end up. */
    QHash<QString, QVariantList> liveRecords(const QString &entity) const;

    void addFault(const Fault &fault);
    void clearFaults();
    /*! Called on the source's thread before each page of changes is made, with its index. */
    void setBeforePage(std::function<void(MemoryFeed &feed, const QString &entity, int page)> hook);
    /*! Called on the source's thread right after each page of changes is made. */
    void setAfterPage(
        std::function<void(MemoryFeed &feed, const QString &entity, const ChangePage &page)> hook);
    /*! Questions asked so far, of \a kind. */
    int asked(SourceReply::Kind kind) const;

    // For MemorySource.
    std::optional<Fault> takeFault(SourceReply::Kind kind, const QString &entity);
    bool hasEntity(const QString &entity) const;
    qint64 count(const QString &entity, PagingMode mode, const QString &since) const;
    ChangePage page(const QString &entity, const ChangesQuery &query);

private:
    struct Row
    {
        QVariantList values;
        bool deleted = false;
        qint64 seq = 0;
        QString changedAt;
    };
    struct Entity
    {
        EntitySchema schema;
        QMap<QString, Row> rows;
    };

    QString stamp();
    ChangePage makePage(const QString &entity, const ChangesQuery &query) const;
    QList<std::pair<QString, Row>> feed(const QString &entity, PagingMode mode,
                                        const QString &since) const;

    mutable QMutex m_mutex;
    QMap<QString, Entity> m_entities;
    qint64 m_seq = 0;
    qint64 m_clockMs;
    int m_writesPerMs = 1;
    int m_writesThisMs = 0;
    QList<Fault> m_faults;
    std::function<void(MemoryFeed &, const QString &, int)> m_beforePage;
    std::function<void(MemoryFeed &, const QString &, const ChangePage &)> m_afterPage;
    QHash<QString, int> m_pages;
    QHash<int, int> m_asked;
};

/*!
    A Source over a MemoryFeed: proves that the engine needs nothing of a BatchSync server,
    an URL or JSON. Answers from the event loop, like any source.
*/
class MemorySource final : public Source
{
    Q_OBJECT

public:
    explicit MemorySource(std::shared_ptr<MemoryFeed> feed,
                          Capabilities capabilities
                          = Capability::CursorPaging | Capability::OffsetPaging,
                          QObject *parent = nullptr);

    static SourceFactory factory(std::shared_ptr<MemoryFeed> feed,
                                 Capabilities capabilities
                                 = Capability::CursorPaging | Capability::OffsetPaging);

    Capabilities capabilities() const override { return m_capabilities; }
    SourceReply *fetchEntities() override;
    SourceReply *fetchCount(const EntitySchema &entity, PagingMode mode,
                            const QString &since) override;
    SourceReply *fetchChanges(const EntitySchema &entity, const ChangesQuery &query) override;

private:
    std::shared_ptr<MemoryFeed> m_feed;
    Capabilities m_capabilities;
};

} // namespace BatchSync::Test
