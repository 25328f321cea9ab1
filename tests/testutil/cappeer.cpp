#include "cappeer.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>
#include <QUuid>

namespace BatchSync::Test {

namespace {

const char ScriptPath[] = BATCHSYNC_CAP_SCRIPT;
constexpr int InstallTimeoutMs = 15 * 60 * 1000;
constexpr int StartTimeoutMs = 120 * 1000;

// A small JSON scanner that finds where values begin and end without converting them, so that
// numbers keep the exact text CAP sent (QJsonDocument would pass them through a double).
qsizetype skipSpace(const QByteArray &text, qsizetype i)
{
    while (i < text.size()
           && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        ++i;
    return i;
}

// Just past the string starting at text[i] == '"', or -1.
qsizetype skipString(const QByteArray &text, qsizetype i)
{
    for (++i; i < text.size(); ++i) {
        if (text[i] == '\\')
            ++i;
        else if (text[i] == '"')
            return i + 1;
    }
    return -1;
}

// Just past the value starting at text[i], or -1.
qsizetype skipValue(const QByteArray &text, qsizetype i)
{
    if (i >= text.size())
        return -1;
    const char first = text[i];
    if (first == '"')
        return skipString(text, i);
    if (first == '{' || first == '[') {
        int depth = 0;
        while (i < text.size()) {
            const char c = text[i];
            if (c == '"') {
                i = skipString(text, i);
                if (i < 0)
                    return -1;
                continue;
            }
            if (c == '{' || c == '[')
                ++depth;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            ++i;
        }
        return -1;
    }
    const qsizetype start = i;
    while (i < text.size() && !QByteArrayView(",}] \t\r\n").contains(text[i]))
        ++i;
    return i > start ? i : -1;
}

QString decodeString(QByteArrayView quoted)
{
    const QByteArray wrapped = '[' + quoted.toByteArray() + ']';
    return QJsonDocument::fromJson(wrapped).array().at(0).toString();
}

// Calls visit(text, start, end) for each element of the array or each member of the object
// (then with its name) at text[0]; false when malformed. visit returns false to stop.
template<typename Visit>
bool forEachItem(const QByteArray &text, qsizetype i, bool isObject, Visit visit)
{
    i = skipSpace(text, i);
    if (i >= text.size() || text[i] != (isObject ? '{' : '['))
        return false;
    const char close = isObject ? '}' : ']';
    i = skipSpace(text, i + 1);
    if (i < text.size() && text[i] == close)
        return true;
    while (i < text.size()) {
        QString name;
        if (isObject) {
            const qsizetype nameEnd = skipString(text, i);
            if (text[i] != '"' || nameEnd < 0)
                return false;
            name = decodeString(QByteArrayView(text).sliced(i, nameEnd - i));
            i = skipSpace(text, nameEnd);
            if (i >= text.size() || text[i] != ':')
                return false;
            i = skipSpace(text, i + 1);
        }
        const qsizetype end = skipValue(text, i);
        if (end < 0)
            return false;
        if (!visit(name, i, end))
            return true;
        i = skipSpace(text, end);
        if (i >= text.size())
            return false;
        if (text[i] == close)
            return true;
        if (text[i] != ',')
            return false;
        i = skipSpace(text, i + 1);
    }
    return false;
}

QByteArray basic(const QString &user, const QString &password)
{
    return "Basic " + (user + u':' + password).toUtf8().toBase64();
}

// Percent-encodes a query ("name=value&...") part by part; quotes and parentheses stay.
QString encodeQuery(const QString &query)
{
    QStringList parts;
    for (const QString &part : query.split(u'&', Qt::SkipEmptyParts)) {
        const qsizetype equals = part.indexOf(u'=');
        const QString name = equals < 0 ? part : part.left(equals);
        QString encoded = QString::fromLatin1(QUrl::toPercentEncoding(name, "$"));
        if (equals >= 0)
            encoded += u'='
                + QString::fromLatin1(QUrl::toPercentEncoding(part.mid(equals + 1), "$'(),:/"));
        parts.append(encoded);
    }
    return parts.join(u'&');
}

} // namespace

CapPeer::CapPeer() = default;

CapPeer::~CapPeer()
{
    stop();
}

QString CapPeer::unavailableReason()
{
    static bool done = false;
    static QString reason;
    if (done)
        return reason;
    done = true;
    for (const char *tool : { "node", "npm", "bash" }) {
        if (QStandardPaths::findExecutable(QString::fromLatin1(tool)).isEmpty()) {
            reason = QStringLiteral("'%1' not found (Debian: apt-get install nodejs npm "
                                    "libnode-dev python3 make g++)")
                         .arg(QString::fromLatin1(tool));
            return reason;
        }
    }
    // Blocking on purpose: installing is a precondition, and no event loop is nested.
    QProcess install;
    install.start(QStringLiteral("bash"),
                  { QString::fromUtf8(ScriptPath), QStringLiteral("install") });
    if (!install.waitForFinished(InstallTimeoutMs) || install.exitStatus() != QProcess::NormalExit
        || install.exitCode() != 0) {
        install.kill();
        install.waitForFinished();
        reason = QStringLiteral("%1 install failed: %2")
                     .arg(QString::fromUtf8(ScriptPath),
                          QString::fromUtf8(install.readAllStandardError().right(4000)));
        return reason;
    }
    const QByteArray log = install.readAllStandardError().trimmed();
    if (!log.isEmpty())
        qInfo("%s", log.right(2000).constData());
    return reason;
}

bool CapPeer::required()
{
    return !qEnvironmentVariableIsEmpty("CI");
}

QString CapPeer::user()
{
    return QStringLiteral("alice");
}

QString CapPeer::password()
{
    return QStringLiteral("wonderland-42");
}

bool CapPeer::start(const Options &options)
{
    stop();
    if (!m_dir.isValid()) {
        qWarning("CapPeer: no temporary folder");
        return false;
    }
    m_output.clear();
    m_port = 0;
    m_process = std::make_unique<QProcess>();
    m_process->setProcessChannelMode(QProcess::MergedChannels);
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("PORT"), QStringLiteral("0"));
    environment.insert(QStringLiteral("BATCHSYNC_CAP_PAGE_MAX"), QString::number(options.pageMax));
    environment.insert(QStringLiteral("BATCHSYNC_CAP_PRODUCTS"), QString::number(options.products));
    environment.insert(QStringLiteral("BATCHSYNC_CAP_ORDERLINES"),
                       QString::number(options.orderLines));
    environment.insert(QStringLiteral("BATCHSYNC_CAP_CURRENCIES"),
                       QString::number(options.currencies));
    environment.insert(QStringLiteral("NODE_ENV"), QStringLiteral("test"));
    environment.insert(QStringLiteral("CDS_FEATURES_IEEE754COMPATIBLE"),
                       options.bareNumbers ? QStringLiteral("false") : QStringLiteral("true"));
    m_process->setProcessEnvironment(environment);

    static const QRegularExpression listening(
        QStringLiteral("batchsync-cap listening on http://127\\.0\\.0\\.1:(\\d+)/"));
    QObject::connect(m_process.get(), &QProcess::readyRead, m_process.get(), [this] {
        m_output += m_process->readAll();
        if (m_port == 0) {
            const QRegularExpressionMatch match = listening.match(QString::fromUtf8(m_output));
            if (match.hasMatch())
                m_port = match.captured(1).toInt();
        }
    });
    const QString work = m_dir.filePath(QStringLiteral("run-%1").arg(++m_starts));
    m_process->start(QStringLiteral("bash"),
                     { QString::fromUtf8(ScriptPath), QStringLiteral("run"), work });
    const bool listened = QTest::qWaitFor(
        [this] { return m_port != 0 || m_process->state() == QProcess::NotRunning; },
        StartTimeoutMs);
    if (!listened || m_port == 0) {
        qWarning("CapPeer: CAP did not start:\n%s", m_output.constData());
        stop();
        return false;
    }
    // Listening is not serving yet in every case: wait for $metadata to answer.
    Response metadata;
    for (int attempt = 0; attempt < 50 && metadata.status != 200; ++attempt) {
        metadata = request("GET", QStringLiteral("$metadata"));
        if (metadata.status != 200)
            QTest::qWait(100);
    }
    if (metadata.status != 200) {
        qWarning("CapPeer: $metadata answered %d %s:\n%s", metadata.status,
                 qPrintable(metadata.error), m_output.constData());
        stop();
        return false;
    }
    return true;
}

void CapPeer::stop()
{
    if (!m_process)
        return;
    if (m_process->state() != QProcess::NotRunning) {
        m_process->terminate();
        if (!m_process->waitForFinished(10000)) {
            m_process->kill();
            m_process->waitForFinished(10000);
        }
    }
    m_output += m_process->readAll();
    m_process.reset();
    m_port = 0;
}

bool CapPeer::isRunning() const
{
    return m_process && m_process->state() == QProcess::Running && m_port != 0;
}

QUrl CapPeer::serviceRoot() const
{
    return QUrl(QStringLiteral("http://127.0.0.1:%1/odata/v4/shop/").arg(m_port));
}

QString CapPeer::output() const
{
    return QString::fromUtf8(m_output);
}

QUrl CapPeer::resolve(const QString &pathAndQuery) const
{
    // Concatenated rather than QUrl::resolved(): a key such as 'a:b' must not read as a scheme.
    if (pathAndQuery.contains(QLatin1String("://")))
        return QUrl::fromEncoded(pathAndQuery.toUtf8());
    return QUrl::fromEncoded(serviceRoot().toEncoded() + pathAndQuery.toUtf8());
}

QNetworkReply *CapPeer::startRequest(const QByteArray &verb, const QString &pathAndQuery,
                                     const QByteArray &body, const QString &user,
                                     const QString &password)
{
    QNetworkRequest request(resolve(pathAndQuery));
    request.setRawHeader("Authorization", basic(user, password));
    // $metadata answers CSDL JSON to a JSON Accept header: ask for the XML a client reads.
    request.setRawHeader("Accept",
                         pathAndQuery.startsWith(QLatin1String("$metadata"))
                             ? QByteArray("application/xml")
                             : QByteArray("application/json;IEEE754Compatible=true"));
    if (!body.isEmpty())
        request.setRawHeader("Content-Type", "application/json;IEEE754Compatible=true");
    request.setTransferTimeout(60000);
    return m_network.sendCustomRequest(request, verb, body);
}

CapPeer::Response CapPeer::request(const QByteArray &verb, const QString &pathAndQuery,
                                   const QByteArray &body, const QString &user,
                                   const QString &password)
{
    return finish(startRequest(verb, pathAndQuery, body, user, password));
}

CapPeer::Response CapPeer::finish(QNetworkReply *reply, int timeoutMs)
{
    Response response;
    if (!reply->isFinished()) {
        QSignalSpy finished(reply, &QNetworkReply::finished);
        if (!finished.wait(timeoutMs)) {
            reply->abort();
            response.error = QStringLiteral("no answer in %1 ms").arg(timeoutMs);
            reply->deleteLater();
            return response;
        }
    }
    response.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    response.body = reply->readAll();
    if (reply->error() != QNetworkReply::NoError)
        response.error = reply->errorString();
    reply->deleteLater();
    return response;
}

QByteArray CapPeer::create(const QString &set, const QByteArray &json)
{
    const Response response = request("POST", set, json);
    if (response.status != 201) {
        qWarning("CapPeer: POST %s answered %d: %s %s", qPrintable(set), response.status,
                 response.body.constData(), qPrintable(response.error));
        return QByteArray();
    }
    return response.body;
}

bool CapPeer::patch(const QString &set, const QString &key, const QByteArray &json)
{
    const Response response = request("PATCH", set + key, json);
    if (!response.isSuccess())
        qWarning("CapPeer: PATCH %s%s answered %d: %s", qPrintable(set), qPrintable(key),
                 response.status, response.body.constData());
    return response.isSuccess();
}

bool CapPeer::remove(const QString &set, const QString &key)
{
    const Response response = request("DELETE", set + key);
    if (response.status != 204)
        qWarning("CapPeer: DELETE %s%s answered %d: %s", qPrintable(set), qPrintable(key),
                 response.status, response.body.constData());
    return response.status == 204;
}

QList<QByteArray> CapPeer::readAll(const QString &set, const QString &query, bool *ok)
{
    QList<QByteArray> records;
    QString next = query.isEmpty() ? set : set + u'?' + encodeQuery(query);
    bool complete = false;
    for (int page = 0; page < 100000 && !next.isEmpty(); ++page) {
        const Response response = request("GET", next);
        QList<QByteArray> pageRecords;
        if (response.status != 200 || !splitCollection(response.body, &pageRecords, &next)) {
            qWarning("CapPeer: GET %s answered %d: %s", qPrintable(next), response.status,
                     response.body.left(2000).constData());
            break;
        }
        records += pageRecords;
        complete = next.isEmpty();
    }
    if (ok)
        *ok = complete;
    return records;
}

QList<QByteArray> CapPeer::collectionAction(const QString &action, const QJsonObject &parameters)
{
    const Response response
        = request("POST", action, QJsonDocument(parameters).toJson(QJsonDocument::Compact));
    QList<QByteArray> records;
    QString next;
    if (response.status != 200 || !splitCollection(response.body, &records, &next)) {
        qWarning("CapPeer: %s answered %d: %s", qPrintable(action), response.status,
                 response.body.left(2000).constData());
        return {};
    }
    return records;
}

QList<QByteArray> CapPeer::insertProducts(int count, const QString &namePrefix)
{
    return collectionAction(
        QStringLiteral("insertProducts"),
        { { QStringLiteral("count"), count }, { QStringLiteral("namePrefix"), namePrefix } });
}

QList<QByteArray> CapPeer::updateProducts(const QStringList &ids, const QString &name)
{
    return collectionAction(QStringLiteral("updateProducts"),
                            { { QStringLiteral("IDs"), QJsonArray::fromStringList(ids) },
                              { QStringLiteral("name"), name } });
}

QNetworkReply *CapPeer::startSlowUpsertProduct(const QString &id, const QString &name, int delayMs)
{
    const QByteArray body = QJsonDocument(QJsonObject { { QStringLiteral("ID"), id },
                                                        { QStringLiteral("name"), name },
                                                        { QStringLiteral("delayMs"), delayMs } })
                                .toJson(QJsonDocument::Compact);
    return startRequest("POST", QStringLiteral("slowUpsertProduct"), body);
}

QString CapPeer::literal(const QVariant &value)
{
    switch (value.metaType().id()) {
    case QMetaType::QUuid:
        return value.toUuid().toString(QUuid::WithoutBraces);
    case QMetaType::QString: {
        QString text = value.toString();
        return u'\'' + text.replace(u'\'', QLatin1String("''")) + u'\'';
    }
    case QMetaType::Bool:
        return value.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    default:
        return value.toString();
    }
}

QString CapPeer::keyPredicate(const QVariantList &values, const QStringList &names)
{
    QStringList parts;
    for (qsizetype i = 0; i < values.size(); ++i) {
        const QString encoded
            = QString::fromLatin1(QUrl::toPercentEncoding(literal(values[i]), "'"));
        parts.append(names.isEmpty() ? encoded : names.value(i) + u'=' + encoded);
    }
    return u'(' + parts.join(u',') + u')';
}

QByteArray CapPeer::rawMember(const QByteArray &object, const QString &name)
{
    QByteArray found;
    forEachItem(object, 0, true, [&](const QString &member, qsizetype start, qsizetype end) {
        if (member != name)
            return true;
        found = object.mid(start, end - start);
        return false;
    });
    return found;
}

bool CapPeer::splitCollection(const QByteArray &body, QList<QByteArray> *records, QString *nextLink)
{
    bool hasValue = false;
    bool valueOk = true;
    nextLink->clear();
    const bool ok
        = forEachItem(body, 0, true, [&](const QString &member, qsizetype start, qsizetype end) {
              if (member == QLatin1String("value")) {
                  hasValue = true;
                  valueOk = forEachItem(body, start, false,
                                        [&](const QString &, qsizetype s, qsizetype e) {
                                            records->append(body.mid(s, e - s));
                                            return true;
                                        });
              } else if (member == QLatin1String("@odata.nextLink")) {
                  *nextLink = decodeString(QByteArrayView(body).sliced(start, end - start));
              }
              return true;
          });
    return ok && hasValue && valueOk;
}

} // namespace BatchSync::Test
