#pragma once

#include <QByteArray>
#include <QList>
#include <QMutex>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QString>
#include <QUrl>
#include <functional>
#include <optional>
#include <utility>

QT_BEGIN_NAMESPACE
class QJsonObject;
QT_END_NAMESPACE

/*!
    \file fakenetwork.h
    A QNetworkAccessManager for tests that makes the failures a real server cannot make on
    demand: HTTP errors with any status, headers and body, refused connections, replies that
    never come, late replies, bodies cut off in the middle. Requests no rule matches go to
    the real network (typically a TestServer), so a test can inject faults in front of a
    real server.
*/

namespace BatchSync::Test {

/*!
    What the fake network does with the requests whose URL path contains a given text.
    Build one with a static function and adjust it with the chained setters, e.g.

    \code
    fake.addRule(FakeRule::respond("/count", 503, R"({"error":"busy"})")
                         .withHeader("Retry-After", "3")
                         .once());
    fake.addRule(FakeRule::fail("/changes", QNetworkReply::ConnectionRefusedError));
    \endcode
*/
class FakeRule
{
public:
    enum class Action {
        Respond, //!< an HTTP response: status, headers, body
        Fail, //!< a network error without any HTTP response
        Hang, //!< nothing at all, until aborted or the transfer timeout fires
        PassThrough //!< the real network
    };

    using Handler = std::function<FakeRule(const QNetworkRequest &request)>;

    /*! Answers with \a status and \a body (Content-Type application/json unless set). */
    static FakeRule respond(const QString &pathContains, int status, const QByteArray &body);
    /*! Answers with \a status and \a object as JSON. */
    static FakeRule json(const QString &pathContains, int status, const QJsonObject &object);
    /*! Answers with \a status and the protocol's error body {"error": message}. */
    static FakeRule error(const QString &pathContains, int status, const QString &message);
    /*! Fails with \a error (e.g. ConnectionRefusedError); \a errorString or Qt-like text. */
    static FakeRule fail(const QString &pathContains, QNetworkReply::NetworkError error,
                         const QString &errorString = QString());
    /*! Never answers: the reply ends only with abort() or the request's transfer timeout. */
    static FakeRule hang(const QString &pathContains);
    /*! Sends matching requests to the real network (a rule that stops later rules). */
    static FakeRule passThrough(const QString &pathContains);
    /*!
        Decides per request: \a handler returns the rule to apply (its path, count and
        handler are ignored). For fault injection such as "fail every third request". The
        handler runs in the manager's thread, without the manager's lock held.
    */
    static FakeRule dynamic(const QString &pathContains, Handler handler);

    /*! Adds a response header. */
    FakeRule &withHeader(const QByteArray &name, const QByteArray &value);
    /*!
        Announces \a contentLength bytes; when that is more than the body, the body is sent
        and the connection then closes (RemoteHostClosedError), like a dropped transfer.
    */
    FakeRule &withContentLength(qint64 contentLength);
    /*! Sends no Content-Length header, as with chunked transfer encoding. */
    FakeRule &withoutContentLength();
    /*! Answers (or fails) only after \a milliseconds. */
    FakeRule &after(int milliseconds);
    /*! Sends the body in pieces of \a bytes, \a intervalMs apart (each one a readyRead()). */
    FakeRule &inChunks(int bytes, int intervalMs = 0);
    /*! Applies to the next \a count matching requests only, then is skipped. */
    FakeRule &times(int count);
    FakeRule &once() { return times(1); }

    QString pathContains() const { return m_pathContains; }
    Action action() const { return m_action; }
    int status() const { return m_status; }
    QByteArray body() const { return m_body; }
    QList<std::pair<QByteArray, QByteArray>> headers() const { return m_headers; }
    qint64 contentLength() const { return m_contentLength; }
    bool sendsContentLength() const { return m_sendContentLength; }
    QNetworkReply::NetworkError networkError() const { return m_error; }
    QString errorString() const { return m_errorString; }
    int delay() const { return m_delayMs; }
    int chunkSize() const { return m_chunkSize; }
    int chunkInterval() const { return m_chunkIntervalMs; }
    int remaining() const { return m_remaining; }
    const Handler &handler() const { return m_handler; }

private:
    FakeRule(const QString &pathContains, Action action);

    QString m_pathContains;
    Action m_action = Action::Respond;
    int m_status = 200;
    QByteArray m_body;
    QList<std::pair<QByteArray, QByteArray>> m_headers;
    qint64 m_contentLength = -1; // -1: the body's size
    bool m_sendContentLength = true;
    QNetworkReply::NetworkError m_error = QNetworkReply::NoError;
    QString m_errorString;
    int m_delayMs = 0;
    int m_chunkSize = 0; // 0: all at once
    int m_chunkIntervalMs = 0;
    int m_remaining = -1; // -1: unlimited
    Handler m_handler;
};

/*!
    A QNetworkAccessManager whose requests are answered by FakeRules, in the order they were
    added (the first rule whose text the URL path contains and that is not used up wins).
    Unmatched requests go to the real QNetworkAccessManager.

    The fake replies behave like Qt's: HttpStatusCodeAttribute and headers are set before
    metaDataChanged(), readyRead()/finished() come from the event loop, an HTTP error status
    sets the error Qt would set, abort() finishes with OperationCanceledError at once, and
    the transfer timeout of the request (or of the manager) ends a reply that has sent
    nothing for that long with OperationCanceledError, as Qt does.

    Lives in one thread like any QNetworkAccessManager; the rule and record functions are
    thread-safe, so a test can script a manager that a worker thread uses.
*/
class FakeNetworkAccessManager final : public QNetworkAccessManager
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(FakeNetworkAccessManager)

public:
    explicit FakeNetworkAccessManager(QObject *parent = nullptr);
    ~FakeNetworkAccessManager() override;

    /*! Adds \a rule after the existing ones; returns its id for hits() and removeRule(). */
    int addRule(const FakeRule &rule);
    void removeRule(int id);
    void clearRules();
    /*! How many requests rule \a id has answered. */
    int hits(int id) const;

    /*! Every request made so far, in order, matched or not. */
    QList<QNetworkRequest> requests() const;
    QList<QUrl> requestedUrls() const;
    int requestCount() const;
    /*! Forgets the recorded requests (rules and their hits stay). */
    void clearRequests();

Q_SIGNALS:
    /*! A request was made; \a ruleId is the rule it matched, -1 when none did. */
    void requestCreated(const QUrl &url, int ruleId);

protected:
    QNetworkReply *createRequest(Operation operation, const QNetworkRequest &request,
                                 QIODevice *outgoingData) override;

private:
    struct Entry
    {
        int id;
        FakeRule rule;
        int hits = 0;
    };

    mutable QMutex m_mutex;
    QList<Entry> m_rules;
    QList<QNetworkRequest> m_requests;
    int m_nextId = 1;
};

} // namespace BatchSync::Test
