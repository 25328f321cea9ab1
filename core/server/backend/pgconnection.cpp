#include "pgconnection.h"

#include <QStringList>
#include <QUrl>
#include <QUrlQuery>

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
    PgConnection result;
    QList<std::pair<QString, QString>> pairs;
    const QString trimmed = text.trimmed();
    if (trimmed.startsWith(QLatin1String("postgresql://"))
        || trimmed.startsWith(QLatin1String("postgres://"))) {
        const QUrl url(trimmed, QUrl::StrictMode);
        if (!url.isValid()) {
            setError(error,
                     QStringLiteral("not a valid PostgreSQL URI: %1").arg(url.errorString()));
            return false;
        }
        if (!url.host().isEmpty())
            pairs.append({ QStringLiteral("host"), url.host() });
        if (url.port() > 0)
            pairs.append({ QStringLiteral("port"), QString::number(url.port()) });
        const QString path = url.path().mid(1);
        if (!path.isEmpty())
            pairs.append({ QStringLiteral("dbname"), path });
        if (!url.userName().isEmpty())
            pairs.append({ QStringLiteral("user"), url.userName() });
        if (!url.password().isEmpty())
            pairs.append({ QStringLiteral("password"), url.password() });
        const QUrlQuery query(url);
        for (const auto &[key, value] : query.queryItems(QUrl::FullyDecoded))
            pairs.append({ key, value });
    } else {
        qsizetype i = 0;
        const qsizetype n = trimmed.size();
        while (i < n) {
            while (i < n && trimmed.at(i).isSpace())
                ++i;
            if (i == n)
                break;
            const qsizetype keyStart = i;
            while (i < n && trimmed.at(i) != u'=' && !trimmed.at(i).isSpace())
                ++i;
            const QString key = trimmed.mid(keyStart, i - keyStart);
            while (i < n && trimmed.at(i).isSpace())
                ++i;
            if (key.isEmpty() || i == n || trimmed.at(i) != u'=') {
                setError(error,
                         QStringLiteral("expected key=value in the connection string, at \"%1\"")
                             .arg(trimmed.mid(keyStart, 20)));
                return false;
            }
            ++i;
            while (i < n && trimmed.at(i).isSpace())
                ++i;
            QString value;
            if (i < n && trimmed.at(i) == u'\'') {
                ++i;
                bool closed = false;
                while (i < n) {
                    const QChar c = trimmed.at(i++);
                    if (c == u'\\' && i < n) {
                        value += trimmed.at(i++);
                    } else if (c == u'\'') {
                        closed = true;
                        break;
                    } else {
                        value += c;
                    }
                }
                if (!closed) {
                    setError(error,
                             QStringLiteral("unterminated quoted value for \"%1\" in the "
                                            "connection string")
                                 .arg(key));
                    return false;
                }
            } else {
                while (i < n && !trimmed.at(i).isSpace()) {
                    const QChar c = trimmed.at(i++);
                    if (c == u'\\' && i < n)
                        value += trimmed.at(i++);
                    else
                        value += c;
                }
            }
            pairs.append({ key, value });
        }
    }

    QStringList options;
    for (const auto &[key, value] : std::as_const(pairs)) {
        if (key == QLatin1String("host") || key == QLatin1String("hostaddr")) {
            result.host = value;
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
