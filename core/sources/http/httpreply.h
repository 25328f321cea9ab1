#pragma once

#include "sources/source.h"

#include <QByteArray>
#include <QElapsedTimer>
#include <QNetworkReply>
#include <QPointer>
#include <QSslError>
#include <QString>
#include <QUrl>

/*!
    \file httpreply.h
    Internal to BatchSync::Client: what every HTTP source's reply does alike. Lives in the
    thread of its source.
*/

namespace BatchSync {

/*!
    \internal
    A SourceReply carried by HTTP GET requests: collects the body (refusing one larger than
    its limit), and turns a network failure or an error status into a SyncError with a
    category and a message a person can act on. A subclass reads 2xx bodies in handleBody()
    and may attach() a further request from there (one at a time).
*/
class HttpReply : public SourceReply
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(HttpReply)

public:
    ~HttpReply() override;
    void abort() override;

protected:
    HttpReply(Kind kind, QObject *parent);

    /*! Follows \a reply, described as \a what ("GET /entities") in messages. */
    void attach(QNetworkReply *reply, const QString &what);
    void release() override;

    /*! A 2xx response, its whole body in m_body. finish(), fail() or attach() again. */
    virtual void handleBody(int status) = 0;
    /*! The service's own error message in an error response's body; empty when none. */
    virtual QString errorText(const QByteArray &body) const = 0;
    /*! The message for a 401 or 403, with the service's \a serverText. */
    virtual QString authMessage(int status, const QString &serverText) const = 0;
    /*! An error status before the generic handling: true when the subclass took it. */
    virtual bool interceptStatus(int status) { return status < 0; }

    QNetworkReply *networkReply() const { return m_reply; }

    QString m_what; //!< the request in flight, for messages
    QString m_hostPort; //!< "127.0.0.1:8080", for messages
    qint64 m_maxResponseSize = 256 * 1024 * 1024;
    int m_transferTimeout = 0;
    QByteArray m_body;

private:
    void onReplyFinished();
    void onMetaDataChanged();
    void onReadyRead();
    void handleHttpError(int status);
    void handleNetworkError();
    bool checkSize(qint64 bytes);
    void dropReply();

    QPointer<QNetworkReply> m_reply;
    QElapsedTimer m_elapsed;
    qint64 m_earlierBytes = 0; // bytes of the requests attached before this one
    QList<QSslError> m_sslErrors; // why the certificate was refused, if it was
};

namespace Http {

/*! Untrusted text (a reason phrase, a Qt error string) made safe to show on one line. */
QString oneLine(const QString &text, qsizetype maxLength = 300);
/*! "host:port" of \a url, with the scheme's default port. */
QString hostPortOf(const QUrl &url);
/*! Whether \a value can be sent in an HTTP header as it is (visible ASCII only). */
bool isHeaderSafe(const QString &value);
/*! A query key or value percent-encoded, keeping what RFC 3986 allows but '&', '=' and '+'. */
QString encodeQueryPart(const QString &text);
/*! \a base's path joined with \a path, and \a query percent-encoded after \a base's own. */
QUrl join(const QUrl &base, const QString &path, const QList<std::pair<QString, QString>> &query);
/*! Seconds from a Retry-After header: delta-seconds or an HTTP-date; -1 when absent or bad. */
int parseRetryAfter(const QByteArray &header);

} // namespace Http

} // namespace BatchSync
