#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QUrl>

QT_BEGIN_NAMESPACE
class QNetworkAccessManager;
class QNetworkReply;
QT_END_NAMESPACE

namespace BatchSync {

class ProtocolClient;

/*!
    One protocol v1 request in flight: GET /entities, .../count or .../changes.

    Created by ProtocolClient and owned by it until finished(); the receiver of finished()
    deletes it with deleteLater(). finished() is emitted exactly once, always from the event
    loop (never from inside the call that created the request), also after abort().
    Lives in the thread of its ProtocolClient.
*/
class ProtocolRequest final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ProtocolRequest)

public:
    enum class Kind { Entities, Count, Changes };
    Q_ENUM(Kind)

    ~ProtocolRequest() override;

    Kind kind() const { return m_kind; }
    bool isFinished() const { return m_finished; }

    /*!
        Cancels the request. finished() follows with an error of category Aborted,
        unless the request had already finished.
    */
    void abort();

    /*! The error, if any; category None on success. */
    const SyncError &error() const { return m_error; }

    /*! Valid after a successful Entities request. */
    const QList<EntitySchema> &entities() const { return m_entities; }
    /*! Valid after a successful Count request. */
    qint64 count() const { return m_count; }
    /*! Valid after a successful Changes request. */
    const ChangePage &page() const { return m_page; }
    /*! Size in bytes of the response body received. */
    qint64 bytesReceived() const { return m_bytesReceived; }

Q_SIGNALS:
    void finished();

private:
    friend class ProtocolClient;
    ProtocolRequest(Kind kind, ProtocolClient *client);

    void attach(QNetworkReply *reply);
    void onReplyFinished();
    void onMetaDataChanged();
    void onReadyRead();
    void fail(ErrorCategory category, const QString &message, int httpStatus = 0);
    void finish();
    void handleHttpError(int status);
    void handleNetworkError();
    void parseBody();
    bool checkSize(qint64 bytes);

    Kind m_kind;
    bool m_finished = false;
    QPointer<QNetworkReply> m_reply;
    SyncError m_error;
    QList<EntitySchema> m_entities;
    qint64 m_count = 0;
    ChangePage m_page;
    qint64 m_bytesReceived = 0;
    // What is needed to validate a Changes response.
    EntitySchema m_schema;
    int m_limit = 0;
    PagingMode m_mode = PagingMode::Cursor;
    // Copied from the client when the request is sent.
    QString m_what; // "GET /entities/customers/changes", for messages
    QString m_hostPort; // "127.0.0.1:8080", for messages
    qint64 m_maxResponseSize = 0;
    int m_transferTimeout = 0;
    bool m_hasToken = false;
    QByteArray m_body;
    QElapsedTimer m_elapsed;
};

/*! The parameters of one GET .../changes request. */
struct ChangesQuery
{
    PagingMode mode = PagingMode::Cursor;
    QString since; //!< cursor (cursor mode) or changedSince (offset mode); empty: from the start
    qint64 offset = 0; //!< offset mode only
    int limit = 1000; //!< 1 to Protocol::MaxLimit
};

/*!
    The protocol v1 client: builds requests against a base URL such as
    http://127.0.0.1:8080/api/v1, adds the bearer token, sets a transfer timeout, and turns
    every response into parsed, validated values or an error with a category and a message a
    person can act on (HTTP status, the server's "error" text, the network error).

    It does not retry: the caller decides (SyncError::isTransient, retryAfterSeconds).
    Lives in one thread, with a QNetworkAccessManager of that thread; not thread-safe.
*/
class ProtocolClient final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ProtocolClient)

public:
    /*! Uses \a manager (which must live in this thread and outlive the client). */
    explicit ProtocolClient(QNetworkAccessManager *manager, QObject *parent = nullptr);
    ~ProtocolClient() override;

    void setBaseUrl(const QUrl &url);
    QUrl baseUrl() const { return m_baseUrl; }

    /*! Bearer token sent with every request; empty: no Authorization header. */
    void setToken(const QString &token);
    QString token() const { return m_token; }

    /*! Transfer timeout per request in ms: a request with no data for this long fails. */
    void setTransferTimeout(int milliseconds);
    int transferTimeout() const { return m_transferTimeout; }

    /*! Largest response body accepted, in bytes; a larger one is a protocol error. */
    void setMaxResponseSize(qint64 bytes);
    qint64 maxResponseSize() const { return m_maxResponseSize; }

    ProtocolRequest *fetchEntities();
    ProtocolRequest *fetchCount(const QString &entity, PagingMode mode, const QString &since);
    /*! GET .../changes; query.limit is clamped to 1..Protocol::MaxLimit. */
    ProtocolRequest *fetchChanges(const EntitySchema &schema, const ChangesQuery &query);

    /*!
        The URL a request for \a path (relative to the base URL; percent-encoded where
        needed) and \a query goes to. Query values are percent-encoded here.
    */
    QUrl urlFor(const QString &path, const QList<std::pair<QString, QString>> &query = {}) const;

private:
    ProtocolRequest *send(ProtocolRequest *request, const QString &path,
                          const QList<std::pair<QString, QString>> &query = {});

    QNetworkAccessManager *m_manager;
    QUrl m_baseUrl;
    QString m_token;
    int m_transferTimeout = 30000;
    qint64 m_maxResponseSize = 256 * 1024 * 1024;
};

} // namespace BatchSync
