#include "common/identifier.h"
#include "store/localstore_p.h"

#include <QSqlQuery>
#include <QUuid>

/*
    The capture of local edits: the triggers that record any program's INSERT, UPDATE and
    DELETE on an entity's table in _sync_pending, the _version column they read the base
    from, and the switch (_sync_meta 'capture') that the store's own writes turn off inside
    their transaction.
*/

namespace BatchSync {

using namespace StorePrivate;

const QString StorePrivate::versionColumn = QStringLiteral("_version");

QString StorePrivate::sqlLiteral(const QString &text)
{
    QString escaped = text;
    escaped.replace(QLatin1Char('\''), QStringLiteral("''"));
    return QLatin1Char('\'') + escaped + QLatin1Char('\'');
}

QString StorePrivate::pendingIdsSql(const QString &entity)
{
    return QStringLiteral("SELECT id FROM _sync_pending WHERE entity = %1").arg(sqlLiteral(entity));
}

bool StorePrivate::createCaptureTables(QSqlQuery &query)
{
    // 'capture' is 1 except inside the store's own write transactions, which no other
    // connection ever sees; open() sets it again in case a file was edited by hand.
    for (const QString &sql :
         { QStringLiteral("CREATE TABLE IF NOT EXISTS _sync_meta (key TEXT PRIMARY KEY NOT NULL, "
                          "value) WITHOUT ROWID"),
           QStringLiteral("CREATE TABLE IF NOT EXISTS _sync_pending ("
                          "entity TEXT NOT NULL, "
                          "id TEXT NOT NULL, "
                          "base TEXT, "
                          "deleted INTEGER NOT NULL DEFAULT 0, "
                          "created INTEGER NOT NULL DEFAULT 0, "
                          "change_seq INTEGER NOT NULL, "
                          "sent_seq INTEGER, "
                          "PRIMARY KEY (entity, id)) WITHOUT ROWID"),
           QStringLiteral("INSERT OR IGNORE INTO _sync_meta (key, value) VALUES ('client_id', %1), "
                          "('change_seq', 0)")
               .arg(sqlLiteral(QUuid::createUuid().toString(QUuid::WithoutBraces))),
           QStringLiteral("INSERT INTO _sync_meta (key, value) VALUES ('capture', 1) "
                          "ON CONFLICT (key) DO UPDATE SET value = 1"),
           QStringLiteral("CREATE TABLE IF NOT EXISTS _sync_conflicts ("
                          "seq INTEGER PRIMARY KEY, "
                          "entity TEXT NOT NULL, "
                          "id TEXT NOT NULL, "
                          "kind TEXT NOT NULL, "
                          "local TEXT, "
                          "server TEXT, "
                          "error TEXT, "
                          "at TEXT NOT NULL, "
                          "base TEXT, "
                          "server_version TEXT, "
                          "resolution TEXT NOT NULL)"),
           QStringLiteral("CREATE INDEX IF NOT EXISTS _sync_conflicts_entity "
                          "ON _sync_conflicts (entity, id)") }) {
        if (!query.exec(sql))
            return false;
    }
    // Format 3 -> 4: the record as it was before its first local edit, and whether a
    // conflict already had the change sent again.
    if (!query.exec(QStringLiteral("SELECT name FROM pragma_table_info('_sync_pending')")))
        return false;
    QStringList columns;
    while (query.next())
        columns.append(query.value(0).toString());
    query.finish();
    if (!columns.contains(QStringLiteral("before"))
        && !query.exec(QStringLiteral("ALTER TABLE _sync_pending ADD COLUMN before TEXT")))
        return false;
    if (!columns.contains(QStringLiteral("resent"))
        && !query.exec(QStringLiteral(
            "ALTER TABLE _sync_pending ADD COLUMN resent INTEGER NOT NULL DEFAULT 0")))
        return false;
    return true;
}

QString StorePrivate::recordJsonSql(const QStringList &columns, const QString &row)
{
    // json_object() takes at most 127 arguments: wide records are built in parts.
    constexpr int PairsPerCall = 60;
    QStringList parts;
    for (int i = 0; i < columns.size(); i += PairsPerCall) {
        QStringList pairs;
        for (const QString &column : columns.mid(i, PairsPerCall)) {
            pairs.append(QStringLiteral("%1, %2.%3")
                             .arg(sqlLiteral(column), row, Identifier::quoted(column)));
        }
        parts.append(QStringLiteral("json_object(%1)").arg(pairs.join(QStringLiteral(", "))));
    }
    if (parts.isEmpty())
        return QStringLiteral("json_object()");
    QString json = parts.takeFirst();
    for (const QString &part : std::as_const(parts))
        json = QStringLiteral("json_patch(%1, %2)").arg(json, part);
    return json;
}

bool StorePrivate::prepareCapture(QSqlQuery &query, const QString &entity)
{
    const QString table = Identifier::quoted(entity);
    const QString name = sqlLiteral(entity);
    if (!query.exec(QStringLiteral("SELECT name FROM pragma_table_info(%1)").arg(name)))
        return false;
    bool hasVersion = false;
    QStringList fields; // the record's own columns: neither id nor bookkeeping
    while (query.next()) {
        const QString column = query.value(0).toString();
        if (column == versionColumn)
            hasVersion = true;
        else if (!column.startsWith(QLatin1Char('_')) && column.compare(u"id", Qt::CaseInsensitive))
            fields.append(column);
    }
    query.finish();
    if (!hasVersion
        && !query.exec(
            QStringLiteral("ALTER TABLE %1 ADD COLUMN \"%2\" TEXT").arg(table, versionColumn)))
        return false;

    const QString when
        = QStringLiteral("WHEN (SELECT value FROM _sync_meta WHERE key = 'capture') = 1");
    const QString nextSeq
        = QStringLiteral("UPDATE _sync_meta SET value = value + 1 WHERE key = 'change_seq'; ");
    const QString seq = QStringLiteral("(SELECT value FROM _sync_meta WHERE key = 'change_seq')");
    // A write of the record \a id: the first one gives the base and the record as it was
    // before (NULL for a new one), later ones only the sequence.
    const auto write = [&](const QString &id, const QString &base, const QString &before,
                           const QString &created, const QString &condition) {
        return QStringLiteral("INSERT INTO _sync_pending (entity, id, base, deleted, created, "
                              "change_seq, before) SELECT %1, %2, %3, 0, %4, %5, %6 WHERE %7 "
                              "ON CONFLICT (entity, id) DO UPDATE SET deleted = 0, "
                              "change_seq = excluded.change_seq; ")
            .arg(name, id, base, created, seq, before, condition);
    };
    const QString oldRecord = recordJsonSql(fields, QStringLiteral("OLD"));
    // A deletion of the record \a id; that of a record created here and not sent cancels out.
    const auto deletion = [&](const QString &condition) {
        return QStringLiteral("INSERT INTO _sync_pending (entity, id, base, deleted, created, "
                              "change_seq, before) SELECT %1, OLD.\"id\", OLD.\"%2\", 1, 0, %3, "
                              "%5 WHERE %4 "
                              "ON CONFLICT (entity, id) DO UPDATE SET deleted = 1, "
                              "change_seq = excluded.change_seq; "
                              "DELETE FROM _sync_pending WHERE entity = %1 AND id = OLD.\"id\" "
                              "AND created = 1 AND sent_seq IS NULL AND %4; ")
            .arg(name, versionColumn, seq, condition, oldRecord);
    };
    const auto trigger = [&](const QString &kind) {
        return Identifier::quoted(QStringLiteral("_sync_%1_%2").arg(entity, kind));
    };
    const QString existing = QStringLiteral("(SELECT %1 FROM %2 AS r WHERE r.\"id\" = NEW.\"id\")")
                                 .arg(recordJsonSql(fields, QStringLiteral("r")), table);
    // BEFORE INSERT: an INSERT OR REPLACE removes the old row without a DELETE trigger, so its
    // version is read while it is still there.
    const QList<std::pair<QString, QString>> triggers = {
        { QStringLiteral("_sync_%1_insert").arg(entity),
          QStringLiteral("CREATE TRIGGER %1 BEFORE INSERT ON %2 %3 BEGIN %4%5END")
              .arg(trigger(QStringLiteral("insert")), table, when, nextSeq,
                   write(QStringLiteral("NEW.\"id\""),
                         QStringLiteral("(SELECT \"%1\" FROM %2 WHERE \"id\" = NEW.\"id\")")
                             .arg(versionColumn, table),
                         existing,
                         QStringLiteral("NOT EXISTS (SELECT 1 FROM %1 WHERE \"id\" = NEW.\"id\")")
                             .arg(table),
                         QStringLiteral("true"))) },
        // A change of id is the deletion of the old id and the creation of the new one.
        // Each gets its own number: a change's number names it when it is pushed.
        { QStringLiteral("_sync_%1_update").arg(entity),
          QStringLiteral("CREATE TRIGGER %1 AFTER UPDATE ON %2 %3 BEGIN %4%5%6%7END")
              .arg(trigger(QStringLiteral("update")), table, when, nextSeq,
                   deletion(QStringLiteral("OLD.\"id\" IS NOT NEW.\"id\"")),
                   QStringLiteral("UPDATE _sync_meta SET value = value + 1 WHERE key = "
                                  "'change_seq' AND OLD.\"id\" IS NOT NEW.\"id\"; "),
                   write(QStringLiteral("NEW.\"id\""),
                         QStringLiteral("CASE WHEN OLD.\"id\" IS NEW.\"id\" THEN OLD.\"%1\" END")
                             .arg(versionColumn),
                         QStringLiteral("CASE WHEN OLD.\"id\" IS NEW.\"id\" THEN %1 END")
                             .arg(oldRecord),
                         QStringLiteral("OLD.\"id\" IS NOT NEW.\"id\""), QStringLiteral("true"))) },
        { QStringLiteral("_sync_%1_delete").arg(entity),
          QStringLiteral("CREATE TRIGGER %1 AFTER DELETE ON %2 %3 BEGIN %4%5END")
              .arg(trigger(QStringLiteral("delete")), table, when, nextSeq,
                   deletion(QStringLiteral("true"))) },
    };
    // A trigger names the record's columns: one made for fewer columns is made again.
    for (const auto &[triggerName, sql] : triggers) {
        if (!query.exec(QStringLiteral("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                                       "AND name = %1")
                            .arg(sqlLiteral(triggerName))))
            return false;
        const bool exists = query.next();
        const bool same = exists && query.value(0).toString() == sql;
        query.finish();
        if (same)
            continue;
        if (exists
            && !query.exec(QStringLiteral("DROP TRIGGER %1").arg(Identifier::quoted(triggerName))))
            return false;
        if (!query.exec(sql))
            return false;
    }
    return true;
}

} // namespace BatchSync
