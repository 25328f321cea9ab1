#include "transport.h"

#include <QFile>
#include <QFileInfo>
#include <QNetworkRequest>
#include <QSslConfiguration>
#include <QStringList>

namespace BatchSync {

namespace {

constexpr qint64 MaxCaFileBytes = 4 * 1024 * 1024; // a CA bundle is a few hundred KiB

const QString CaHint = QStringLiteral("give the certificate of the authority that signed it with "
                                      "--ca-cert FILE (\"CA certificate\" in the window's "
                                      "settings)");

QString dateText(const QDateTime &date)
{
    return date.toUTC().toString(QStringLiteral("yyyy-MM-dd HH:mm 'UTC'"));
}

// The names a certificate is for: its DNS and IP subject alternative names, else its
// common name.
QString certificateNames(const QSslCertificate &certificate)
{
    QStringList names;
    const auto alternatives = certificate.subjectAlternativeNames();
    for (auto it = alternatives.cbegin(); it != alternatives.cend(); ++it) {
        if (!names.contains(it.value()))
            names.append(it.value());
    }
    if (names.isEmpty())
        names = certificate.subjectInfo(QSslCertificate::CommonName);
    return names.isEmpty() ? QStringLiteral("no host name") : names.join(QStringLiteral(", "));
}

QString issuerName(const QSslCertificate &certificate)
{
    const QStringList names = certificate.issuerInfo(QSslCertificate::CommonName);
    return names.isEmpty() ? certificate.issuerDisplayName() : names.join(QStringLiteral(", "));
}

QString errorText(const QSslError &error, const QString &host)
{
    const QSslCertificate certificate = error.certificate();
    switch (error.error()) {
    case QSslError::CertificateExpired:
        return QStringLiteral("the server's certificate has expired (on %1)")
            .arg(dateText(certificate.expiryDate()));
    case QSslError::CertificateNotYetValid:
        return QStringLiteral("the server's certificate is not valid yet (only from %1): check "
                              "this computer's clock")
            .arg(dateText(certificate.effectiveDate()));
    case QSslError::HostNameMismatch:
        return QStringLiteral("the server's certificate is for another host name (%1), not %2: "
                              "use a host name the certificate names in the endpoint URL")
            .arg(certificateNames(certificate), host);
    case QSslError::SelfSignedCertificate:
    case QSslError::SelfSignedCertificateInChain:
        return QStringLiteral("the server's certificate is self-signed, so nothing vouches for "
                              "it: %1")
            .arg(CaHint);
    case QSslError::UnableToGetLocalIssuerCertificate:
    case QSslError::UnableToGetIssuerCertificate:
    case QSslError::UnableToVerifyFirstCertificate:
    case QSslError::CertificateUntrusted:
        return QStringLiteral("the server's certificate comes from an unknown issuer (\"%1\"), "
                              "not an authority this computer trusts: %2")
            .arg(issuerName(certificate), CaHint);
    case QSslError::CertificateRevoked:
        return QStringLiteral("the server's certificate has been revoked");
    default:
        return error.errorString();
    }
}

} // namespace

TransportPolicy::TransportPolicy(const SyncSettings &settings)
    : m_allowInsecureHttp(settings.allowInsecureHttp)
{
    if (settings.caCertificateFile.isEmpty())
        return;
    if (auto certificates = Http::readCaCertificates(settings.caCertificateFile, &m_caProblem))
        m_caCertificates = *certificates;
}

QString TransportPolicy::problem(const QUrl &url, bool credentials) const
{
    if (!m_caProblem.isEmpty())
        return m_caProblem;
    return credentials ? insecureCredentialsProblem(url, m_allowInsecureHttp) : QString();
}

void TransportPolicy::apply(QNetworkRequest *request) const
{
    if (m_caCertificates.isEmpty())
        return;
    QSslConfiguration configuration = request->sslConfiguration();
    configuration.setCaCertificates(m_caCertificates); // instead of the system's
    request->setSslConfiguration(configuration);
}

namespace Http {

std::optional<QList<QSslCertificate>> readCaCertificates(const QString &path, QString *error)
{
    const QFileInfo info(path);
    QFile file(path);
    if (!info.exists()) {
        *error
            = QStringLiteral("cannot read the CA certificate file \"%1\": no such file").arg(path);
        return std::nullopt;
    }
    if (info.isDir() || !file.open(QIODevice::ReadOnly)) {
        *error
            = QStringLiteral("cannot read the CA certificate file \"%1\": %2")
                  .arg(path, info.isDir() ? QStringLiteral("it is a folder") : file.errorString());
        return std::nullopt;
    }
    const QByteArray data = file.read(MaxCaFileBytes + 1);
    QList<QSslCertificate> certificates;
    if (data.size() <= MaxCaFileBytes)
        certificates = QSslCertificate::fromData(data, QSsl::Pem);
    if (certificates.isEmpty()) {
        *error = QStringLiteral("the CA certificate file \"%1\" holds no PEM certificate (a "
                                "\"-----BEGIN CERTIFICATE-----\" block)")
                     .arg(path);
        return std::nullopt;
    }
    return certificates;
}

QString tlsFailureText(const QList<QSslError> &errors, const QString &hostPort,
                       const QString &detail)
{
    const QString host = hostPort.left(hostPort.lastIndexOf(u':'));
    QStringList reasons;
    for (const QSslError &error : errors) {
        const QString reason = errorText(error, host);
        if (!reasons.contains(reason))
            reasons.append(reason);
    }
    if (reasons.isEmpty())
        return QStringLiteral("secure connection to %1 failed: %2").arg(hostPort, detail);
    return QStringLiteral("secure connection to %1 refused: %2")
        .arg(hostPort, reasons.join(QStringLiteral("; ")));
}

} // namespace Http

} // namespace BatchSync
