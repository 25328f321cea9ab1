#include "common/identifier.h"
#include "common/logging.h"
#include "store/localstore_p.h"

#include <QDir>
#include <QHash>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

/*
    The layout of the local database: its format (PRAGMA user_version) with the migrations
    from older formats, the _sync_state and _sync_bulk_deleted tables, and the table of each
    entity (created, or given the columns of new fields, with its capture triggers).
*/

namespace BatchSync {

using namespace StorePrivate;

namespace {

// PRAGMA user_version of the layout written here; raise it with a migration in
// createSyncState() whenever the layout changes. 2: _sync_state.bulk_load and
// _sync_bulk_deleted (a table in bulk-load state has no index on id, which format 1 refuses).
// 3: local edits are captured (_sync_meta, _sync_pending, the tables' _version column and
// triggers), which format 2 would leave unrecorded. 4: _sync_pending keeps the record before
// its first edit (before) and whether a conflict had it sent again (resent); _sync_conflicts.
constexpr int currentFormat = 4;

QString sqlType(FieldType type)
{
    switch (type) {
    case FieldType::String:
    case FieldType::DateTime:
    case FieldType::Decimal: // the exact text: a NUMERIC column would make it a double
        return QStringLiteral("TEXT");
    case FieldType::Int:
    case FieldType::Bool:
        return QStringLiteral("INTEGER");
    case FieldType::Real:
        return QStringLiteral("REAL");
    }
    return QStringLiteral("TEXT");
}

} // namespace

const QString StorePrivate::changedAtColumn = QStringLiteral("_changed_at");

QString StorePrivate::schemaProblem(const EntitySchema &schema)
{
    QString problem = Identifier::check(schema.name, u"entity");
    if (!problem.isEmpty())
        return QStringLiteral("The server sent an unusable entity: %1").arg(problem);
    const QString prefix
        = QStringLiteral("The server sent an unusable schema for entity \"%1\": ").arg(schema.name);
    QSet<QString> seen;
    for (const FieldSpec &field : schema.fields) {
        problem = Identifier::check(field.name, u"field");
        if (!problem.isEmpty())
            return prefix + problem;
        // SQLite's column names ignore letter case, so "Name" and "name" would collide.
        const QString folded = field.name.toLower();
        if (seen.contains(folded)) {
            return prefix
                + QStringLiteral("field name \"%1\" appears twice (letter case aside)")
                      .arg(Identifier::printable(field.name));
        }
        seen.insert(folded);
    }
    return QString();
}

bool LocalStore::createSyncState(SyncError *error)
{
    const QString what = QStringLiteral("Could not prepare the local database");
    Write write(*this, what, error);
    if (!write.begin())
        return false;

    QSqlQuery query(connection(m_connectionName));
    if (!query.exec(QStringLiteral("PRAGMA user_version")))
        return storageFailure(error, what, query.lastError());
    const int format = query.next() ? query.value(0).toInt() : 0;
    query.finish();
    if (format > currentFormat) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1: the local database %2 was written by a newer version of "
                                   "BatchSync (format %3; this version knows up to %4)")
                        .arg(what, QDir::toNativeSeparators(m_path))
                        .arg(format)
                        .arg(currentFormat));
    }

    if (!query.exec(QStringLiteral("CREATE TABLE IF NOT EXISTS _sync_state ("
                                   "entity TEXT PRIMARY KEY NOT NULL, "
                                   "paging TEXT NOT NULL DEFAULT 'cursor', "
                                   "cursor TEXT, "
                                   "cursor_id TEXT, "
                                   "run_active INTEGER NOT NULL DEFAULT 0, "
                                   "run_cursor TEXT, "
                                   "run_cursor_id TEXT, "
                                   "run_done INTEGER NOT NULL DEFAULT 0, "
                                   "run_total INTEGER NOT NULL DEFAULT 0, "
                                   "state TEXT NOT NULL DEFAULT 'idle', "
                                   "error_category TEXT, "
                                   "error_message TEXT, "
                                   "last_completed_at TEXT, "
                                   "fields TEXT, "
                                   "bulk_load INTEGER NOT NULL DEFAULT 0)"))) {
        return storageFailure(error, what, query.lastError());
    }

    // A _sync_state table made by someone else would fail later in confusing ways.
    if (!query.exec(QStringLiteral("SELECT name FROM pragma_table_info('_sync_state')")))
        return storageFailure(error, what, query.lastError());
    QSet<QString> present;
    while (query.next())
        present.insert(query.value(0).toString().toLower());
    query.finish();
    const QStringList columns = syncStateColumns.split(QStringLiteral(", "));
    for (const QString &column : columns.mid(0, formatOneColumnCount)) {
        if (!present.contains(column)) {
            return fail(error, ErrorCategory::Storage,
                        QStringLiteral("%1: the table _sync_state in %2 was not made by BatchSync "
                                       "(it has no column \"%3\"); use another database file")
                            .arg(what, QDir::toNativeSeparators(m_path), column));
        }
    }

    // Migrations from older formats go here, in this transaction. The format is written even
    // when it is unchanged: a read-only file would otherwise open fine and fail only at the
    // first batch, after the user has been told the sync started.
    // Format 1 -> 2: the bulk-load state and the deletions recorded during a bulk load.
    if (!present.contains(QStringLiteral("bulk_load"))
        && !query.exec(QStringLiteral("ALTER TABLE _sync_state ADD COLUMN "
                                      "bulk_load INTEGER NOT NULL DEFAULT 0"))) {
        return storageFailure(error, what, query.lastError());
    }
    if (!query.exec(QStringLiteral("CREATE TABLE IF NOT EXISTS _sync_bulk_deleted ("
                                   "entity TEXT NOT NULL, "
                                   "id TEXT NOT NULL, "
                                   "mark INTEGER NOT NULL, "
                                   "PRIMARY KEY (entity, id)) WITHOUT ROWID"))) {
        return storageFailure(error, what, query.lastError());
    }
    // Format 2 -> 3: the capture of local edits, on every entity's table. Format 3 -> 4: the
    // record before its first edit in _sync_pending, _sync_conflicts, triggers that keep it.
    if (!createCaptureTables(query))
        return storageFailure(error, what, query.lastError());
    if (format < 4) {
        if (!query.exec(QStringLiteral("SELECT s.entity FROM _sync_state AS s JOIN sqlite_master "
                                       "AS m ON m.type = 'table' AND m.name = s.entity "
                                       "COLLATE NOCASE")))
            return storageFailure(error, what, query.lastError());
        QStringList entities;
        while (query.next()) {
            const QString entity = query.value(0).toString();
            if (Identifier::check(entity, u"entity").isEmpty())
                entities.append(entity);
        }
        query.finish();
        for (const QString &entity : std::as_const(entities)) {
            if (!prepareCapture(query, entity))
                return storageFailure(error, what, query.lastError());
        }
    }
    if (!query.exec(QStringLiteral("PRAGMA user_version = %1").arg(currentFormat)))
        return storageFailure(error, what, query.lastError());
    return write.commit();
}

bool LocalStore::ensureEntity(const EntitySchema &schema, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    const QString problem = schemaProblem(schema);
    if (!problem.isEmpty())
        return fail(error, ErrorCategory::Protocol, problem);

    const QString what
        = QStringLiteral("Could not prepare the table of entity \"%1\"").arg(schema.name);
    const QString path = QDir::toNativeSeparators(m_path);
    const QString table = Identifier::quoted(schema.name);
    Write write(*this, what, error);
    if (!write.begin())
        return false;
    QSqlQuery query(connection(m_connectionName));
    query.setForwardOnly(true);

    // Table names ignore letter case; two entities differing only in case would share one.
    if (!execPrepared(query,
                      QStringLiteral("SELECT entity FROM _sync_state "
                                     "WHERE entity = ? COLLATE NOCASE AND entity <> ?"),
                      { schema.name, schema.name }))
        return storageFailure(error, what, query.lastError());
    if (query.next()) {
        return fail(error, ErrorCategory::Protocol,
                    QStringLiteral("%1: it differs only in letter case from the entity \"%2\"")
                        .arg(what, Identifier::printable(query.value(0).toString())));
    }

    if (!execPrepared(query,
                      QStringLiteral("SELECT type FROM sqlite_master WHERE name = ? COLLATE "
                                     "NOCASE AND type IN ('table', 'view', 'index')"),
                      { schema.name }))
        return storageFailure(error, what, query.lastError());
    const QString existingType = query.next() ? query.value(0).toString() : QString();
    query.finish();

    if (existingType.isEmpty()) {
        QString sql
            = QStringLiteral("CREATE TABLE %1 (\"id\" TEXT PRIMARY KEY NOT NULL").arg(table);
        for (const FieldSpec &field : schema.fields)
            sql += QStringLiteral(", %1 %2").arg(Identifier::quoted(field.name),
                                                 sqlType(field.type));
        sql += QStringLiteral(", %1 TEXT, %2 TEXT)")
                   .arg(Identifier::quoted(changedAtColumn), Identifier::quoted(versionColumn));
        if (!query.exec(sql))
            return storageFailure(error, what, query.lastError());
        qCInfo(lcStore) << "created the table of entity" << schema.name << "with"
                        << schema.fields.size() << "fields";
    } else if (existingType != u"table") {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1: %2 already holds a %3 of that name, not a table; rename "
                                   "or remove it")
                        .arg(what, path, existingType));
    } else {
        if (!execPrepared(query, QStringLiteral("SELECT name, type FROM pragma_table_info(?)"),
                          { schema.name }))
            return storageFailure(error, what, query.lastError());
        QHash<QString, QString> columnTypes; // lower-case name -> declared type
        while (query.next())
            columnTypes.insert(query.value(0).toString().toLower(), query.value(1).toString());
        query.finish();

        if (!columnTypes.contains(QStringLiteral("id"))) {
            return fail(error, ErrorCategory::Storage,
                        QStringLiteral("%1: the table \"%2\" in %3 was not made by BatchSync (it "
                                       "has no id column); rename or remove it")
                            .arg(what, schema.name, path));
        }
        // In bulk-load state the table has no index on id until the run completes.
        if (!execPrepared(query,
                          QStringLiteral("SELECT bulk_load FROM _sync_state WHERE entity = ?"),
                          { schema.name }))
            return storageFailure(error, what, query.lastError());
        const bool bulkLoad = query.next() && query.value(0).toLongLong() != 0;
        query.finish();
        // Upserts need a unique index on exactly "id" (a text primary key makes one).
        if (!bulkLoad
            && !execPrepared(
                query,
                QStringLiteral("SELECT count(*) FROM pragma_index_list(?) AS il WHERE "
                               "il.\"unique\" = 1 AND il.partial = 0 "
                               "AND (SELECT count(*) FROM pragma_index_info(il.name)) = 1 "
                               "AND (SELECT name FROM pragma_index_info(il.name)) = 'id' "
                               "COLLATE NOCASE"),
                { schema.name }))
            return storageFailure(error, what, query.lastError());
        const bool uniqueId = bulkLoad || (query.next() && query.value(0).toLongLong() > 0);
        query.finish();
        if (!uniqueId) {
            return fail(error, ErrorCategory::Storage,
                        QStringLiteral("%1: the table \"%2\" in %3 was not made by BatchSync (its "
                                       "id column is neither a text primary key nor unique); "
                                       "rename or remove it")
                            .arg(what, schema.name, path));
        }

        for (const FieldSpec &field : schema.fields) {
            const QString wanted = sqlType(field.type);
            const auto existing = columnTypes.constFind(field.name.toLower());
            if (existing == columnTypes.constEnd()) {
                if (!query.exec(QStringLiteral("ALTER TABLE %1 ADD COLUMN %2 %3")
                                    .arg(table, Identifier::quoted(field.name), wanted))) {
                    return storageFailure(error, what, query.lastError());
                }
                qCInfo(lcStore) << "added field" << field.name << "to entity" << schema.name;
            } else if (existing->compare(wanted, Qt::CaseInsensitive) != 0) {
                // SQLite keeps any value in any column, so the old column still serves.
                qCInfo(lcStore) << "field" << field.name << "of entity" << schema.name
                                << "is now of type" << fieldTypeName(field.type)
                                << "; its column keeps the declared type" << *existing;
            }
        }
        if (!columnTypes.contains(changedAtColumn)
            && !query.exec(QStringLiteral("ALTER TABLE %1 ADD COLUMN %2 TEXT")
                               .arg(table, Identifier::quoted(changedAtColumn)))) {
            return storageFailure(error, what, query.lastError());
        }
    }

    // The version column and the triggers, on a table of an older format too.
    if (!prepareCapture(query, schema.name))
        return storageFailure(error, what, query.lastError());
    query.finish();

    if (!execPrepared(query,
                      QStringLiteral("INSERT INTO _sync_state (entity, paging, fields) "
                                     "VALUES (?, 'cursor', ?) "
                                     "ON CONFLICT (entity) DO UPDATE SET fields = excluded.fields"),
                      { schema.name, fieldsToJson(schema.fields) }))
        return storageFailure(error, what, query.lastError());
    query.finish();

    if (!write.commit())
        return false;
    // The table may have new columns: prepare the entity's statements afresh.
    m_statements->entities.erase(schema.name);
    return true;
}

} // namespace BatchSync
