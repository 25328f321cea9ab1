#include "pginstall.h"

#include <QFile>

// Resources of a static library are registered only when their object file is linked:
// referring to their initializer here links it with the code that reads them.
static void initSqlResources()
{
    Q_INIT_RESOURCE(batchsync_server_sql);
}

namespace BatchSync::PgInstall {

namespace {

// Run in this order: the functions name the tables, batchsync_track() names the functions.
constexpr const char *Scripts[] = { "catalogue.sql", "triggers.sql", "track.sql" };

} // namespace

QStringList statements(const QString &schema, qint64 catalogueLock, const QString &version,
                       QString *error)
{
    initSqlResources();
    QStringList result;
    for (const char *name : Scripts) {
        QFile file(QStringLiteral(":/batchsync/server/sql/") + QLatin1String(name));
        if (!file.open(QIODevice::ReadOnly)) {
            *error = QStringLiteral("the SQL resource %1 is missing").arg(file.fileName());
            return {};
        }
        QString script = QString::fromUtf8(file.readAll());
        script.replace(QLatin1String("@schema@"), schema);
        script.replace(QLatin1String("@catalogue_lock@"), QString::number(catalogueLock));
        script.replace(QLatin1String("@version@"), version);
        result += splitStatements(script);
    }
    return result;
}

QStringList splitStatements(const QString &script)
{
    QStringList statements;
    QString current;
    bool inQuote = false; // '...'
    bool inIdentifier = false; // "..."
    bool inBody = false; // $$...$$
    const auto flush = [&] {
        const QString statement = current.trimmed();
        if (!statement.isEmpty())
            statements.append(statement);
        current.clear();
    };
    for (qsizetype i = 0; i < script.size(); ++i) {
        const QChar c = script.at(i);
        const bool plain = !inQuote && !inIdentifier && !inBody;
        if (plain && c == u'-' && script.mid(i, 2) == QLatin1String("--")) {
            while (i + 1 < script.size() && script.at(i + 1) != u'\n')
                ++i;
            continue;
        }
        if (!inQuote && !inIdentifier && c == u'$' && script.mid(i, 2) == QLatin1String("$$")) {
            inBody = !inBody;
            current += QLatin1String("$$");
            ++i;
            continue;
        }
        if (!inBody && !inIdentifier && c == u'\'')
            inQuote = !inQuote;
        else if (!inBody && !inQuote && c == u'"')
            inIdentifier = !inIdentifier;
        else if (plain && c == u';') {
            flush();
            continue;
        }
        current += c;
    }
    flush();
    return statements;
}

} // namespace BatchSync::PgInstall
