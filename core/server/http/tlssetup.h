#pragma once

#include <QByteArrayView>
#include <QSslConfiguration>
#include <QString>
#include <optional>

QT_BEGIN_NAMESPACE
class QSslCertificate;
QT_END_NAMESPACE

/*!
    \file tlssetup.h
    The server's HTTPS setup: its certificate and private key read from PEM files and checked
    before it listens. Any thread (plain functions, no shared state).
*/

namespace BatchSync::Tls {

/*!
    The TLS configuration of a server from \a certificateFile (PEM: the server's certificate,
    then any intermediate certificates) and \a keyFile (its PEM private key, RSA or EC,
    without a passphrase). Nothing, with \a error set to one line naming the file and the
    problem, when a file is missing, unreadable, not PEM, or the key is not the one of the
    certificate.
*/
std::optional<QSslConfiguration> serverConfiguration(const QString &certificateFile,
                                                     const QString &keyFile, QString *error);

/*!
    Whether the private key \a keyDer (PKCS#8, PKCS#1 RSA or SEC1 EC, in DER) is the one
    whose public key \a certificate carries. Nothing when that cannot be told from the key
    (another algorithm, or an EC key saved without its public point).
*/
std::optional<bool> keyMatchesCertificate(QByteArrayView keyDer,
                                          const QSslCertificate &certificate);

} // namespace BatchSync::Tls
