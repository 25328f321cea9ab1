#pragma once

#include "common/syncsettings.h"
#include "sources/http/httpreply.h"
#include "sources/http/transport.h"
#include "sources/odata/odatametadata.h"
#include "sources/odata/odataquery.h"

#include <QHash>
#include <QNetworkRequest>
#include <functional>
#include <memory>
#include <optional>

QT_BEGIN_NAMESPACE
class QNetworkAccessManager;
QT_END_NAMESPACE

/*!
    \file odatasource.h
    The Source of an OData v4 service (Mendix published OData, SAP CAP and Gateway, Dataverse,
    ...), mapped as docs/protocol.md ("The OData v4 mapping") fixes it.
*/

namespace BatchSync {

class ODataSource;

/*!
    One question to an OData service in flight; reads the service's $metadata first when the
    source has not yet. A SourceReply (see there for ownership and the one finished()); lives in
    the thread of its ODataSource.
*/
class ODataReply final : public HttpReply
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ODataReply)

private:
    friend class ODataSource;
    ODataReply(Kind kind, ODataSource *source);

    enum class Step { Metadata, Probe, Count, Page };

    void handleBody(int status) override;
    QString errorText(const QByteArray &body) const override;
    QString authMessage(int status, const QString &serverText) const override;
    bool interceptStatus(int status) override;
    void proceed();
    /*! Where a page ends: the engine's cursor after it, and what kind of page it is. */
    struct PageEnd
    {
        QString cursor;
        bool hasMore = false;
        SyncPhase phase = SyncPhase::Changes;
        bool phaseStart = false;
        bool phaseEnd = false;
    };
    PageEnd pageEnd(qsizetype received, const QStringList &lastKey, const QString &lastTime,
                    qint64 count, const QString &nextLink) const;
    void announceEnd();
    void readPage();
    void readDeltaPage();
    /*! Fails the reply when \a link (\a which: "next link", ...) leads off the service. */
    bool refuseForeignLink(const QString &link, const QString &which);
    void startDeltaLoad();

    ODataSource *m_source;
    Step m_step = Step::Metadata;
    EntitySchema m_schema;
    QString m_since; // the engine's cursor, read once the metadata is there
    OData::RunCursor m_cursor;
    OData::KeysetPosition m_from; // Changes: the position the page was asked after
    int m_limit = 0;
    bool m_probed = false; // asked whether the service tracks the set's changes
    bool m_initialDelta = false; // the page is the first of a delta-tracked set's initial read
    std::optional<PageEnd> m_announced; // the end positionKnown() announced
};

/*!
    An OData v4 service as a source: its entity sets (from $metadata) are the entities; a
    set with a change-time property is read in keyset pages on (change time, key), each
    incremental run starting a safety window back and ending with a key scan that finds the
    records deleted on the service; a set without one is reloaded whole each run. Positions are
    RunCursor texts; the source pages in cursor mode only.

    Sends HTTP Basic credentials or a bearer token, asks for IEEE754Compatible numbers and
    reads Int64 and Decimal values from their text either way. Does not retry: the engine
    does. Lives in one thread, with a QNetworkAccessManager of that thread; not thread-safe.
*/
class ODataSource final : public Source
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ODataSource)

public:
    /*!
        A source of \a settings' service root (SyncSettings::endpoint), credentials,
        change-time properties, safety window and transfer timeout, using \a manager (which
        must live in this thread and outlive the source).
    */
    ODataSource(QNetworkAccessManager *manager, const SyncSettings &settings,
                QObject *parent = nullptr);
    ~ODataSource() override;

    /*!
        A SourceFactory for the engine: a source with a network access manager of its own,
        made by \a makeNetwork (for proxies, TLS settings or tests) or a plain one, in the
        engine's worker thread.
    */
    static SourceFactory factory(const SyncSettings &settings,
                                 std::function<QNetworkAccessManager *()> makeNetwork = {});

    /*! Cursor paging only. */
    Capabilities capabilities() const override;
    /*! GET $metadata: the sets that map, as entities (those that do not are logged, with why). */
    SourceReply *fetchEntities() override;
    /*! The records that follow \a since, by $count=true with $top=0. */
    SourceReply *fetchCount(const EntitySchema &entity, PagingMode mode,
                            const QString &since) override;
    /*! The next page after \a query.since (a RunCursor text; empty: a first run). */
    SourceReply *fetchChanges(const EntitySchema &entity, const ChangesQuery &query) override;

    /*! The service's metadata once read; nullptr before. */
    const OData::Metadata *metadata() const { return m_metadata ? &*m_metadata : nullptr; }

private:
    friend class ODataReply;

    ODataReply *start(ODataReply *reply);
    void sendMetadataRequest(ODataReply *reply);
    void sendCollectionRequest(ODataReply *reply, const OData::EntitySet &set,
                               const QList<std::pair<QString, QString>> &query);
    bool takeMetadata(const QByteArray &xml, QString *problem);
    const OData::EntitySet *set(const QString &name) const;
    QNetworkRequest request(const QUrl &url, const QByteArray &accept,
                            const QByteArray &prefer = QByteArray()) const;
    void sendProbe(ODataReply *reply, const OData::EntitySet &set);
    void sendDeltaRequest(ODataReply *reply, const QUrl &url);
    /*! Whether \a link points into the service (same scheme, host and port). */
    bool isOwnLink(const QString &link) const;

    QNetworkAccessManager *m_manager;
    std::unique_ptr<QNetworkAccessManager> m_ownedManager;
    const SyncSettings m_settings;
    QUrl m_root; // ends with '/'
    QByteArray m_authorization;
    QString m_credentialProblem;
    TransportPolicy m_transport;
    std::optional<OData::Metadata> m_metadata;
    qint64 m_maxResponseSize = 256 * 1024 * 1024;
};

} // namespace BatchSync
