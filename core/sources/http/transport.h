#pragma once

#include "common/syncsettings.h"

#include <QList>
#include <QSslCertificate>
#include <QSslError>
#include <QString>
#include <QUrl>
#include <optional>

QT_BEGIN_NAMESPACE
class QNetworkRequest;
QT_END_NAMESPACE

/*!
    \file transport.h
    How the HTTP sources reach their endpoint safely: which certificate authorities an https
    endpoint is checked against, whether credentials may go over plain http, and TLS failures
    in words. Internal to BatchSync::Client; plain values and functions, any thread.
*/

namespace BatchSync {

/*!
    \internal
    What an HTTP source applies to every request: the CA certificates an https endpoint's
    certificate must come from (the system's, or those of SyncSettings::caCertificateFile),
    and the rule that credentials never go over plain http to a host that is not loopback
    (unless SyncSettings::allowInsecureHttp). Certificate errors are never ignored.
*/
class TransportPolicy final
{
public:
    /*! The system's CAs; credentials over plain http to loopback only. */
    TransportPolicy() = default;
    /*! The policy of \a settings; reads its CA file now (see problem()). */
    explicit TransportPolicy(const SyncSettings &settings);

    /*!
        Why nothing may be sent to \a url (with credentials when \a credentials): the CA file
        could not be read, or the credentials would go over plain http to another host.
        Empty when the request may go.
    */
    QString problem(const QUrl &url, bool credentials) const;
    /*! Sets \a request's TLS configuration to trust the CA file's certificates, if any. */
    void apply(QNetworkRequest *request) const;

    bool allowsInsecureHttp() const { return m_allowInsecureHttp; }
    void setAllowInsecureHttp(bool allow) { m_allowInsecureHttp = allow; }

private:
    QList<QSslCertificate> m_caCertificates; // empty: the system's
    QString m_caProblem;
    bool m_allowInsecureHttp = false;
};

namespace Http {

/*!
    The CA certificates in the PEM file at \a path. Nothing, with \a error naming the file
    and the problem, when it is missing, unreadable or holds no PEM certificate.
*/
std::optional<QList<QSslCertificate>> readCaCertificates(const QString &path, QString *error);

/*!
    Why the TLS handshake with \a hostPort failed, in words: the certificate expired, is for
    another host name, comes from an unknown issuer or is self-signed (each with what to do),
    from \a errors (QNetworkReply::sslErrors()); \a detail (Qt's error string) when there are
    none.
*/
QString tlsFailureText(const QList<QSslError> &errors, const QString &hostPort,
                       const QString &detail);

} // namespace Http

} // namespace BatchSync
