#include "pgconnection.h"

#include <QList>
#include <QStringList>
#include <libpq-fe.h>
#include <utility>

namespace BatchSync {

namespace {

void setError(QString *error, const QString &message)
{
    if (error)
        *error = message;
}

// A libpq connection string value: quoted when it needs to be.
QString conninfoValue(const QString &value)
{
    if (!value.isEmpty() && !value.contains(u' ') && !value.contains(u'\'')
        && !value.contains(u'\\'))
        return value;
    QString quoted = value;
    quoted.replace(u'\\', QLatin1String("\\\\"));
    quoted.replace(u'\'', QLatin1String("\\'"));
    return u'\'' + quoted + u'\'';
}

} // namespace

bool PgConnection::parse(const QString &text, PgConnection *connection, QString *error)
{
    // libpq's own parser: key=value pairs and URIs exactly as libpq reads them.
    char *message = nullptr;
    PQconninfoOption *parsed = PQconninfoParse(text.trimmed().toUtf8().constData(), &message);
    if (!parsed) {
        setError(error,
                 message ? QStringLiteral("malformed connection string or URI: %1")
                               .arg(QString::fromUtf8(message).trimmed())
                         : QStringLiteral("out of memory reading the connection string"));
        PQfreemem(message);
        return false;
    }
    QList<std::pair<QString, QString>> pairs;
    for (const PQconninfoOption *option = parsed; option->keyword; ++option) {
        if (option->val)
            pairs.append({ QString::fromUtf8(option->keyword), QString::fromUtf8(option->val) });
    }
    PQconninfoFree(parsed);

    PgConnection result;
    QStringList options;
    QString hostAddress;
    for (const auto &[key, value] : std::as_const(pairs)) {
        if (key == QLatin1String("host")) {
            result.host = value;
        } else if (key == QLatin1String("hostaddr")) {
            hostAddress = value;
        } else if (key == QLatin1String("port")) {
            bool ok = false;
            result.port = value.toInt(&ok);
            if (!ok || result.port < 1 || result.port > 65535) {
                setError(
                    error,
                    QStringLiteral("the port \"%1\" is not a number from 1 to 65535").arg(value));
                return false;
            }
        } else if (key == QLatin1String("dbname")) {
            result.databaseName = value;
        } else if (key == QLatin1String("user")) {
            result.userName = value;
        } else if (key == QLatin1String("password")) {
            result.password = value;
        } else {
            // QPSQL joins its connect options with ';' turned into spaces.
            if (value.contains(u';')) {
                setError(error, QStringLiteral("the value of \"%1\" cannot contain ';'").arg(key));
                return false;
            }
            options.append(key + u'=' + conninfoValue(value));
        }
    }
    // A numeric address alone is where to connect; beside a host name it passes through.
    if (result.host.isEmpty())
        result.host = hostAddress;
    else if (!hostAddress.isEmpty())
        options.append(QLatin1String("hostaddr=") + conninfoValue(hostAddress));
    if (!options.join(u' ').contains(QLatin1String("connect_timeout=")))
        options.append(QStringLiteral("connect_timeout=10"));
    result.options = options.join(u' ');
    *connection = result;
    return true;
}

QString PgConnection::describe() const
{
    QStringList parts;
    parts.append(
        QStringLiteral("host=%1").arg(host.isEmpty() ? QStringLiteral("(local socket)") : host));
    if (port > 0)
        parts.append(QStringLiteral("port=%1").arg(port));
    if (!databaseName.isEmpty())
        parts.append(QStringLiteral("dbname=%1").arg(databaseName));
    if (!userName.isEmpty())
        parts.append(QStringLiteral("user=%1").arg(userName));
    return parts.join(u' ');
}

} // namespace BatchSync
