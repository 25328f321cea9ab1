#pragma once

#include "common/types.h"

#include <QFlags>
#include <QHash>
#include <QObject>
#include <QStringList>
#include <functional>
#include <memory>

/*!
    \file source.h
    The seam between the sync engine and the wire: a Source answers the engine's questions
    about one endpoint (which entities, how many changes, the next page of changes) with
    SourceReply objects. The engine knows no URL, no JSON and no query syntax; each Source
    does. See docs/architecture.md.
*/

namespace BatchSync {

/*! Which page of changes the engine asks a Source for. */
struct ChangesQuery
{
    PagingMode mode = PagingMode::Cursor;
    /*!
        Cursor mode: the source's opaque cursor after the last change applied. Offset mode:
        changes with changedAt strictly after this timestamp. Empty: from the beginning.
    */
    QString since;
    qint64 offset = 0; //!< offset mode only: changes to skip after \c since
    int limit = 1000; //!< the most changes wanted, 1 to 10,000
};

/*!
    One question to a Source in flight: the entity list, a count or a page of changes.

    Created by its Source and owned by it until finished(); the receiver of finished()
    deletes it with deleteLater(). finished() is emitted exactly once, always from the
    event loop (never from inside the call that created the reply), also after abort().
    Lives in the thread of its Source.
*/
class SourceReply : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SourceReply)

public:
    enum class Kind { Entities, Count, Changes, Push, Wait };
    Q_ENUM(Kind)

    ~SourceReply() override;

    Kind kind() const { return m_kind; }
    bool isFinished() const { return m_finished; }

    /*!
        Cancels the question. finished() follows with an error of category Aborted, unless
        the reply had already finished.
    */
    virtual void abort();

    /*! The error, if any; category None on success. */
    const SyncError &error() const { return m_error; }

    /*! Valid after a successful Entities reply. */
    const QList<EntitySchema> &entities() const { return m_entities; }
    /*! Valid after a successful Count reply. */
    qint64 count() const { return m_count; }
    /*! Valid after a successful Changes reply: the changes and the position after them. */
    const ChangePage &page() const { return m_page; }
    /*! Valid after a successful Push reply: one result per change sent, in order. */
    const QList<PushResult> &pushResults() const { return m_pushResults; }
    /*!
        Valid after a successful Wait reply: the entities with changes after their cursors
        (empty: the wait timed out with nothing new).
    */
    const QStringList &changedEntities() const { return m_changedEntities; }
    /*! Bytes received from the wire for this reply, where the source knows. */
    qint64 bytesReceived() const { return m_bytesReceived; }

Q_SIGNALS:
    void finished();
    /*!
        A Changes reply: the position after the page (\a cursor, as ChangePage::cursor), known
        before the page is read in full, when more changes follow. Emitted at most once,
        before finished(), by sources that can; a receiver may ask for the next page then, so
        that reading this one overlaps the wait for the next. Should finished() report an
        error, that position means nothing.
    */
    void positionKnown(const QString &cursor);
    /*!
        A request with a body (a push): the body is all on its way, the answer not yet come.
        Emitted before finished() by sources that can (perhaps more than once): a receiver may
        do its own work then without holding up the sending.
    */
    void sent();

protected:
    SourceReply(Kind kind, QObject *parent);

    /*! Ends the reply with \a category and \a message (once; later calls do nothing). */
    void fail(ErrorCategory category, const QString &message, int httpStatus = 0);
    /*!
        Marks the reply finished and queues finished(); later calls do nothing. Calls
        release() first, for an implementation to drop what it holds.
    */
    void finish();
    /*! Called once by finish(), before finished() is queued. */
    virtual void release() { }

    // Results, filled in by the implementation before finish().
    SyncError m_error;
    QList<EntitySchema> m_entities;
    qint64 m_count = 0;
    ChangePage m_page;
    QList<PushResult> m_pushResults;
    QStringList m_changedEntities;
    qint64 m_bytesReceived = 0;

private:
    Kind m_kind;
    bool m_finished = false;
};

/*!
    Where an engine's changes come from: one endpoint, reached in the engine's worker thread.

    Every function returns at once with a SourceReply whose finished() reports the outcome
    from the event loop; errors come as a SyncError (ErrorCategory::Network is transient and
    retried by the engine, everything else stops the entity with its message). A source
    does not retry by itself. Lives in one thread (the engine's worker thread, where the
    engine's SourceFactory makes it); not thread-safe.
*/
class Source : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Source)

public:
    /*! What a source can do. */
    enum class Capability {
        CursorPaging = 0x1, //!< pages after an opaque cursor (PagingMode::Cursor)
        OffsetPaging = 0x2, //!< pages by changedAt and offset (PagingMode::Offset)
        Push = 0x4, //!< accepts local changes (pushChanges)
        Wait = 0x8, //!< tells of new changes as they come (waitForChanges, live sync)
    };
    Q_DECLARE_FLAGS(Capabilities, Capability)
    Q_FLAG(Capabilities)

    ~Source() override;

    virtual Capabilities capabilities() const = 0;
    /*! Whether the source can page in \a mode. */
    bool supports(PagingMode mode) const;

    /*! The entities and their fields. */
    virtual SourceReply *fetchEntities() = 0;
    /*!
        How many changes of \a entity follow \a since (see ChangesQuery::since), deletions
        included: the progress total. It may grow while a sync runs.
    */
    virtual SourceReply *fetchCount(const EntitySchema &entity, PagingMode mode,
                                    const QString &since)
        = 0;
    /*!
        The next page of \a entity's changes for \a query, with the position after it
        (ChangePage::cursor, cursor mode) and whether more follow. Values are checked
        against \a entity's fields.
    */
    virtual SourceReply *fetchChanges(const EntitySchema &entity, const ChangesQuery &query) = 0;
    /*!
        Sends \a changes of \a entity, made by the local database \a clientId, for a source
        with Capability::Push; the reply's pushResults() hold one result per change, in order.
        The default
        answers with an error of category Request: the source does not accept writes.
    */
    virtual SourceReply *pushChanges(const EntitySchema &entity, const QString &clientId,
                                     const QList<LocalChange> &changes);

    /*!
        Waits until one of the entities of \a since (entity → the cursor of its last completed
        sync) has a change after its cursor, or \a timeoutSeconds (1 to 60) pass; the reply's
        changedEntities() name those with news (none after the timeout). For a source with
        Capability::Wait; the default answers with an error of category Request. A source
        whose endpoint turns out not to know the question (a v1 server) answers with an error
        of category Request and HTTP status 404.
    */
    virtual SourceReply *waitForChanges(const QHash<QString, QString> &since, int timeoutSeconds);

protected:
    explicit Source(QObject *parent = nullptr);
};

Q_DECLARE_OPERATORS_FOR_FLAGS(Source::Capabilities)

/*!
    Makes the engine's Source. Called once, on the engine's worker thread, which then owns
    the source (and everything the source makes, such as its network access manager).
*/
using SourceFactory = std::function<std::unique_ptr<Source>()>;

} // namespace BatchSync
