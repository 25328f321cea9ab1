#include "tlssetup.h"

#include <QFile>
#include <QFileInfo>
#include <QList>
#include <QSslCertificate>
#include <QSslKey>
#include <QSslSocket>

namespace BatchSync::Tls {

namespace {

constexpr qint64 MaxPemFileBytes = 1024 * 1024; // a certificate chain or key is a few KiB

// ---- Just enough DER to compare a private key with a certificate's public key ----------------
// Qt has no API to tell whether a private key belongs to a certificate; OpenSSL finds out only
// at the first handshake, which would leave the server listening with a pair that can never
// work. So the public parts are read from both and compared: the modulus and exponent of an
// RSA key, the public point of an EC key.

constexpr uchar TagInteger = 0x02;
constexpr uchar TagBitString = 0x03;
constexpr uchar TagOctetString = 0x04;
constexpr uchar TagOid = 0x06;
constexpr uchar TagSequence = 0x30;
constexpr uchar TagExplicit0 = 0xa0;
constexpr uchar TagExplicit1 = 0xa1;

const QByteArrayView RsaOid("\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01", 9); // 1.2.840.113549.1.1.1
const QByteArrayView EcOid("\x2a\x86\x48\xce\x3d\x02\x01", 7); // 1.2.840.10045.2.1

struct Element
{
    uchar tag = 0;
    QByteArrayView content;
};

// The elements of a DER encoding, one after the other; a malformed one ends the reading.
class DerReader
{
public:
    explicit DerReader(QByteArrayView data)
        : m_data(data)
    {
    }

    bool atEnd() const { return m_position >= m_data.size(); }

    std::optional<Element> next()
    {
        if (m_position + 2 > m_data.size())
            return std::nullopt;
        const uchar tag = uchar(m_data[m_position]);
        qsizetype length = uchar(m_data[m_position + 1]);
        m_position += 2;
        if (length & 0x80) {
            const int bytes = length & 0x7f;
            if (bytes == 0 || bytes > 4 || m_position + bytes > m_data.size())
                return std::nullopt;
            length = 0;
            for (int i = 0; i < bytes; ++i)
                length = (length << 8) | uchar(m_data[m_position++]);
        }
        if (length < 0 || length > m_data.size() - m_position)
            return std::nullopt;
        Element element { tag, m_data.sliced(m_position, length) };
        m_position += length;
        return element;
    }

    // The next element, only when it has \a tag.
    std::optional<Element> next(uchar tag)
    {
        std::optional<Element> element = next();
        if (!element || element->tag != tag)
            return std::nullopt;
        return element;
    }

private:
    QByteArrayView m_data;
    qsizetype m_position = 0;
};

// What identifies a public key: the algorithm, and its public values' encoding.
struct PublicPart
{
    enum class Algorithm { Rsa, Ec } algorithm = Algorithm::Rsa;
    QByteArray values; // RSA: the modulus then the exponent; EC: the point
};

// The public part of an RSAPublicKey or the leading integers of an RSAPrivateKey.
std::optional<QByteArray> rsaValues(QByteArrayView sequence, bool privateKey)
{
    DerReader reader(sequence);
    if (privateKey && !reader.next(TagInteger))
        return std::nullopt; // the version
    const std::optional<Element> modulus = reader.next(TagInteger);
    const std::optional<Element> exponent = reader.next(TagInteger);
    if (!modulus || !exponent)
        return std::nullopt;
    return modulus->content.toByteArray() + '/' + exponent->content.toByteArray();
}

// The public key of a certificate, from its SubjectPublicKeyInfo.
std::optional<PublicPart> certificatePublicPart(const QSslCertificate &certificate)
{
    const QByteArray der = certificate.toDer();
    DerReader outer(der);
    const std::optional<Element> whole = outer.next(TagSequence);
    if (!whole)
        return std::nullopt;
    const std::optional<Element> tbs = DerReader(whole->content).next(TagSequence);
    if (!tbs)
        return std::nullopt;
    DerReader fields(tbs->content);
    std::optional<Element> field = fields.next();
    if (field && field->tag == TagExplicit0)
        field = fields.next(); // the version; then serial number
    // The signature algorithm, issuer, validity and subject come before the key.
    for (int i = 0; i < 4 && field; ++i)
        field = fields.next();
    const std::optional<Element> info = fields.next(TagSequence);
    if (!field || !info)
        return std::nullopt;
    DerReader parts(info->content);
    const std::optional<Element> algorithm = parts.next(TagSequence);
    const std::optional<Element> key = parts.next(TagBitString);
    if (!algorithm || !key || key->content.isEmpty())
        return std::nullopt;
    const std::optional<Element> oid = DerReader(algorithm->content).next(TagOid);
    if (!oid)
        return std::nullopt;
    if (oid->content == RsaOid) {
        const std::optional<Element> sequence = DerReader(key->content.sliced(1)).next(TagSequence);
        if (!sequence)
            return std::nullopt;
        const std::optional<QByteArray> values = rsaValues(sequence->content, false);
        if (!values)
            return std::nullopt;
        return PublicPart { PublicPart::Algorithm::Rsa, *values };
    }
    if (oid->content == EcOid)
        return PublicPart { PublicPart::Algorithm::Ec, key->content.toByteArray() };
    return std::nullopt;
}

// The public part an EC private key (SEC1 ECPrivateKey) carries, if it does.
std::optional<PublicPart> ecPrivatePublicPart(QByteArrayView sequence)
{
    DerReader reader(sequence);
    if (!reader.next(TagInteger) || !reader.next(TagOctetString))
        return std::nullopt;
    while (!reader.atEnd()) {
        const std::optional<Element> element = reader.next();
        if (!element)
            return std::nullopt;
        if (element->tag == TagExplicit1) {
            const std::optional<Element> point = DerReader(element->content).next(TagBitString);
            if (!point)
                return std::nullopt;
            return PublicPart { PublicPart::Algorithm::Ec, point->content.toByteArray() };
        }
    }
    return std::nullopt;
}

// The public part of a private key in DER: PKCS#8, or PKCS#1 (RSA) or SEC1 (EC) as such.
std::optional<PublicPart> privateKeyPublicPart(QByteArrayView der)
{
    const std::optional<Element> whole = DerReader(der).next(TagSequence);
    if (!whole)
        return std::nullopt;
    DerReader reader(whole->content);
    const std::optional<Element> version = reader.next(TagInteger);
    const std::optional<Element> second = reader.next();
    if (!version || !second)
        return std::nullopt;
    if (second->tag == TagSequence) { // PKCS#8: the algorithm, then the key itself
        const std::optional<Element> oid = DerReader(second->content).next(TagOid);
        const std::optional<Element> inner = reader.next(TagOctetString);
        if (!oid || !inner)
            return std::nullopt;
        const std::optional<Element> key = DerReader(inner->content).next(TagSequence);
        if (!key)
            return std::nullopt;
        if (oid->content == RsaOid) {
            const std::optional<QByteArray> values = rsaValues(key->content, true);
            if (!values)
                return std::nullopt;
            return PublicPart { PublicPart::Algorithm::Rsa, *values };
        }
        if (oid->content == EcOid)
            return ecPrivatePublicPart(key->content);
        return std::nullopt;
    }
    if (second->tag == TagInteger) { // PKCS#1 RSAPrivateKey
        const std::optional<QByteArray> values = rsaValues(whole->content, true);
        if (!values)
            return std::nullopt;
        return PublicPart { PublicPart::Algorithm::Rsa, *values };
    }
    if (second->tag == TagOctetString) // SEC1 ECPrivateKey
        return ecPrivatePublicPart(whole->content);
    return std::nullopt;
}

// ---- Files -------------------------------------------------------------------------------

// The file's bytes, or nothing with \a error saying why, naming it as \a what.
std::optional<QByteArray> readFile(const QString &path, const QString &what, QString *error)
{
    const QFileInfo info(path);
    if (!info.exists()) {
        *error = QStringLiteral("cannot read the %1 \"%2\": no such file").arg(what, path);
        return std::nullopt;
    }
    if (info.isDir()) {
        *error = QStringLiteral("cannot read the %1 \"%2\": it is a folder").arg(what, path);
        return std::nullopt;
    }
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error
            = QStringLiteral("cannot read the %1 \"%2\": %3").arg(what, path, file.errorString());
        return std::nullopt;
    }
    const QByteArray data = file.read(MaxPemFileBytes + 1);
    if (data.size() > MaxPemFileBytes) {
        *error = QStringLiteral("the %1 \"%2\" is larger than %3 bytes: not a PEM file")
                     .arg(what, path)
                     .arg(MaxPemFileBytes);
        return std::nullopt;
    }
    return data;
}

// The DER of the first PEM block labelled one of \a labels, and that label.
std::optional<std::pair<QByteArray, QByteArray>> pemBlock(const QByteArray &data,
                                                          const QList<QByteArray> &labels)
{
    for (const QByteArray &label : labels) {
        const QByteArray begin = "-----BEGIN " + label + "-----";
        const QByteArray end = "-----END " + label + "-----";
        const qsizetype start = data.indexOf(begin);
        if (start < 0)
            continue;
        const qsizetype stop = data.indexOf(end, start + begin.size());
        if (stop < 0)
            continue;
        const QByteArray body = data.sliced(start + begin.size(), stop - start - begin.size());
        if (body.contains(':'))
            return std::pair { QByteArray(), label }; // headers: an encrypted key
        return std::pair { QByteArray::fromBase64(body), label };
    }
    return std::nullopt;
}

QString notPem(const QString &what, const QString &path, const QByteArray &data,
               const char *expected)
{
    if (data.contains("-----BEGIN ")) {
        return QStringLiteral("the %1 \"%2\" is PEM but holds no \"-----BEGIN %3-----\" block")
            .arg(what, path, QLatin1String(expected));
    }
    // A DER file starts with a SEQUENCE: name the conversion.
    const bool der = !data.isEmpty() && uchar(data.front()) == TagSequence;
    return QStringLiteral("the %1 \"%2\" is not PEM (no \"-----BEGIN %3-----\" block)%4")
        .arg(what, path, QLatin1String(expected),
             der ? QStringLiteral("; it looks like DER: convert it with openssl %1 -in FILE "
                                  "-out FILE.pem")
                       .arg(QLatin1String(qstrcmp(expected, "CERTIFICATE") == 0 ? "x509" : "pkey"))
                 : QString());
}

} // namespace

std::optional<bool> keyMatchesCertificate(QByteArrayView keyDer, const QSslCertificate &certificate)
{
    const std::optional<PublicPart> key = privateKeyPublicPart(keyDer);
    const std::optional<PublicPart> certified = certificatePublicPart(certificate);
    if (!key || !certified)
        return std::nullopt;
    return key->algorithm == certified->algorithm && key->values == certified->values;
}

std::optional<QSslConfiguration> serverConfiguration(const QString &certificateFile,
                                                     const QString &keyFile, QString *error)
{
    if (!QSslSocket::supportsSsl()) {
        *error = QStringLiteral("HTTPS is not available: Qt found no TLS backend (%1)")
                     .arg(QSslSocket::sslLibraryVersionString());
        return std::nullopt;
    }
    const QString certificateWhat = QStringLiteral("TLS certificate file");
    const QString keyWhat = QStringLiteral("TLS key file");
    const std::optional<QByteArray> certificateData
        = readFile(certificateFile, certificateWhat, error);
    if (!certificateData)
        return std::nullopt;
    const QList<QSslCertificate> chain = QSslCertificate::fromData(*certificateData, QSsl::Pem);
    if (chain.isEmpty() || chain.constFirst().isNull()) {
        *error = notPem(certificateWhat, certificateFile, *certificateData, "CERTIFICATE");
        return std::nullopt;
    }

    const std::optional<QByteArray> keyData = readFile(keyFile, keyWhat, error);
    if (!keyData)
        return std::nullopt;
    if (keyData->contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
        *error = QStringLiteral("the %1 \"%2\" holds an encrypted key: give one without a "
                                "passphrase (openssl pkey -in FILE -out FILE.plain)")
                     .arg(keyWhat, keyFile);
        return std::nullopt;
    }
    const auto block
        = pemBlock(*keyData,
                   { QByteArrayLiteral("PRIVATE KEY"), QByteArrayLiteral("RSA PRIVATE KEY"),
                     QByteArrayLiteral("EC PRIVATE KEY") });
    if (!block) {
        *error = notPem(keyWhat, keyFile, *keyData, "PRIVATE KEY");
        return std::nullopt;
    }
    if (block->first.isEmpty()) {
        *error = QStringLiteral("the %1 \"%2\" holds an encrypted or malformed key: give one "
                                "without a passphrase (openssl pkey -in FILE -out FILE.plain)")
                     .arg(keyWhat, keyFile);
        return std::nullopt;
    }
    QSslKey key;
    for (const QSsl::KeyAlgorithm algorithm : { QSsl::Rsa, QSsl::Ec }) {
        key = QSslKey(*keyData, algorithm, QSsl::Pem, QSsl::PrivateKey);
        if (!key.isNull())
            break;
    }
    if (key.isNull()) {
        *error = QStringLiteral("the %1 \"%2\" holds no RSA or EC private key that can be read")
                     .arg(keyWhat, keyFile);
        return std::nullopt;
    }
    const std::optional<bool> matches = keyMatchesCertificate(block->first, chain.constFirst());
    if (!matches) {
        *error = QStringLiteral("cannot tell whether the %1 \"%2\" belongs to the certificate in "
                                "\"%3\": give an RSA key, or an EC key with its public point")
                     .arg(keyWhat, keyFile, certificateFile);
        return std::nullopt;
    }
    if (!*matches) {
        *error = QStringLiteral("the %1 \"%2\" does not match the certificate in \"%3\": the "
                                "certificate's public key is not this key's")
                     .arg(keyWhat, keyFile, certificateFile);
        return std::nullopt;
    }

    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setLocalCertificateChain(chain);
    configuration.setPrivateKey(key);
    configuration.setProtocol(QSsl::TlsV1_2OrLater);
    configuration.setPeerVerifyMode(
        QSslSocket::VerifyNone); // clients show tokens, not certificates
    return configuration;
}

} // namespace BatchSync::Tls
