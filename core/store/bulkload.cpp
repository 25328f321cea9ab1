#include "common/identifier.h"
#include "common/logging.h"
#include "store/localstore_p.h"

#include <QScopeGuard>
#include <QSet>
#include <QStringList>

/*
    The bulk load of an entity's first sync (see LocalStore): entering the state (a table
    without an index on id), the page cache while it lasts, and finishing it when the run
    completes (the newest version of each id, the recorded deletions, the unique index).
*/

namespace BatchSync {

using namespace StorePrivate;

namespace {

// SQL text for an identifier that was not checked by Identifier::check (names read back from
// the database's own schema).
QString quotedAny(const QString &name)
{
    QString escaped = name;
    escaped.replace(QLatin1Char('"'), QStringLiteral("\"\""));
    return QLatin1Char('"') + escaped + QLatin1Char('"');
}

// The name of the unique index on id that completeRun() creates after a bulk load. Entity
// names never start with '_', so it cannot clash with an entity's table.
QString idIndexName(const QString &entity)
{
    return QLatin1Char('_') + entity + QStringLiteral("_id");
}

// Prepares \a sql, binding the entity's name to ?1 when it has a parameter.
bool prepareForEntity(Sqlite::Statement &statement, sqlite3 *db, const QString &sql,
                      const QString &entity)
{
    return statement.prepare(db, sql)
        && (sqlite3_bind_parameter_count(statement.handle()) == 0 || statement.bindText(1, entity));
}

} // namespace

void LocalStore::Statements::setCacheKiB(int kib)
{
    if (kib == cacheKiB)
        return;
    const QByteArray pragma = "PRAGMA cache_size = -" + QByteArray::number(kib);
    const int rc = sqlite3_exec(db, pragma.constData(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        qCWarning(lcStore) << "could not set the page cache to" << kib
                           << "KiB:" << sqlite3_errstr(rc);
        return;
    }
    cacheKiB = kib;
}

void LocalStore::Statements::setBatchCache(bool bulk)
{
    // Once an upsert has run, its cache stays: shrinking it for another entity's bulk load
    // would drop the index pages that the next upsert reads.
    if (!bulk)
        upserted = true;
    setCacheKiB(upserted ? CacheKiB : BulkLoadCacheKiB);
}

bool LocalStore::Statements::setTriggersEnabled(bool enabled)
{
    if (enabled == triggersEnabled)
        return true;
    int now = -1;
    if (sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, enabled ? 1 : 0, &now) != SQLITE_OK
        || (now != 0) != enabled) {
        return false;
    }
    triggersEnabled = enabled;
    return true;
}

bool LocalStore::enterBulkLoad(const QString &entity, bool *entered, const QString &what,
                               SyncError *error)
{
    *entered = false;
    if (!Identifier::check(entity, u"entity").isEmpty())
        return true; // a name nobody may use in SQL; the normal path refuses it later
    bool bulk = false;
    if (!bulkLoadState(entity, &bulk, what, error))
        return false;
    if (bulk) {
        // A first sync started over: the versions already appended are superseded in turn.
        *entered = true;
        qCInfo(lcStore) << "entity" << entity << "starts its first sync again, in bulk load";
        return true;
    }

    sqlite3 *db = m_statements->db;
    Sqlite::Statement query;
    const auto failed
        = [&] { return storageFailure(error, what, query.errorCode(), query.errorText()); };
    const QString table = Identifier::quoted(entity);

    // Only a rowid table whose only unique constraint is on id, and that holds no rows.
    if (!prepareForEntity(query, db,
                          QStringLiteral("SELECT wr FROM pragma_table_list WHERE schema = 'main' "
                                         "AND type = 'table' AND name = ?1 COLLATE NOCASE"),
                          entity)) {
        return failed();
    }
    Sqlite::Step step = query.step();
    if (step == Sqlite::Step::Failed)
        return failed();
    if (step != Sqlite::Step::Row || query.intValue(0) != 0)
        return true;
    if (!query.prepare(db, QStringLiteral("SELECT EXISTS (SELECT 1 FROM %1)").arg(table))
        || query.step() == Sqlite::Step::Failed) {
        return failed();
    }
    if (query.intValue(0) != 0)
        return true;

    if (!prepareForEntity(query, db,
                          QStringLiteral("SELECT il.name, il.\"unique\", il.origin, il.partial, "
                                         "(SELECT count(*) FROM pragma_index_info(il.name)), "
                                         "(SELECT name FROM pragma_index_info(il.name)) "
                                         "FROM pragma_index_list(?1) AS il"),
                          entity)) {
        return failed();
    }
    QStringList dropIndexes;
    QSet<QString> idIndexes;
    bool recreate = false;
    while ((step = query.step()) == Sqlite::Step::Row) {
        if (query.intValue(1) == 0)
            continue;
        const bool onId = query.intValue(3) == 0 && query.intValue(4) == 1
            && query.textValue(5).compare(u"id", Qt::CaseInsensitive) == 0;
        if (!onId) {
            qCInfo(lcStore) << "entity" << entity
                            << "has another unique index: its first sync upserts by id";
            return true;
        }
        const QString name = query.textValue(0);
        idIndexes.insert(name.toLower());
        if (query.textValue(2) == u"c")
            dropIndexes.append(name);
        else
            recreate = true; // the primary key or a UNIQUE constraint of the table itself
    }
    if (step == Sqlite::Step::Failed)
        return failed();

    QStringList statements;
    for (const QString &name : std::as_const(dropIndexes))
        statements.append(QStringLiteral("DROP INDEX %1").arg(quotedAny(name)));
    if (recreate) {
        // The table is empty: re-create it with the same columns and no constraint on id, and
        // with its other indexes and triggers.
        QStringList definitions;
        if (!prepareForEntity(query, db,
                              QStringLiteral("SELECT name, type, \"notnull\", dflt_value "
                                             "FROM pragma_table_info(?1) ORDER BY cid"),
                              entity)) {
            return failed();
        }
        while ((step = query.step()) == Sqlite::Step::Row) {
            const QString type = query.textValue(1);
            for (const QChar c : type) {
                if (!c.isLetterOrNumber() && !QStringView(u" _(),.+-").contains(c))
                    return true; // a declared type too odd to repeat safely
            }
            QString definition = quotedAny(query.textValue(0));
            if (!type.isEmpty())
                definition += QLatin1Char(' ') + type;
            if (query.intValue(2) != 0)
                definition += QStringLiteral(" NOT NULL");
            if (!query.isNull(3))
                definition += QStringLiteral(" DEFAULT (%1)").arg(query.textValue(3));
            definitions.append(definition);
        }
        if (step == Sqlite::Step::Failed)
            return failed();
        QStringList others;
        if (!prepareForEntity(query, db,
                              QStringLiteral("SELECT name, sql FROM sqlite_master WHERE "
                                             "tbl_name = ?1 COLLATE NOCASE AND type IN "
                                             "('index', 'trigger') AND sql IS NOT NULL "
                                             "ORDER BY type, name"),
                              entity)) {
            return failed();
        }
        while ((step = query.step()) == Sqlite::Step::Row) {
            if (!idIndexes.contains(query.textValue(0).toLower()))
                others.append(query.textValue(1));
        }
        if (step == Sqlite::Step::Failed)
            return failed();
        statements = { QStringLiteral("DROP TABLE %1").arg(table),
                       QStringLiteral("CREATE TABLE %1 (%2)")
                           .arg(table, definitions.join(QStringLiteral(", "))) };
        statements += others;
    }
    statements.append(QStringLiteral("DELETE FROM _sync_bulk_deleted WHERE entity = ?1"));
    statements.append(QStringLiteral("UPDATE _sync_state SET bulk_load = 1 WHERE entity = ?1"));
    // Statements prepared on the old table would hold it.
    m_statements->entities.erase(entity);
    for (const QString &sql : std::as_const(statements)) {
        if (!prepareForEntity(query, db, sql, entity) || !query.exec())
            return failed();
    }
    *entered = true;
    qCInfo(lcStore) << "entity" << entity
                    << "starts its first sync in bulk load (no index on id until it completes)";
    return true;
}

bool LocalStore::finishBulkLoad(const QString &entity, const QString &what, SyncError *error)
{
    const QString problem = Identifier::check(entity, u"entity");
    if (!problem.isEmpty())
        return fail(error, ErrorCategory::Storage, QStringLiteral("%1: %2").arg(what, problem));
    sqlite3 *db = m_statements->db;
    const QString table = Identifier::quoted(entity);
    const QString createIndex
        = QStringLiteral("CREATE UNIQUE INDEX IF NOT EXISTS %1 ON %2 (\"id\")")
              .arg(Identifier::quoted(idIndexName(entity)), table);
    Sqlite::Statement statement;
    const auto run = [&](const QString &sql) {
        return prepareForEntity(statement, db, sql, entity) && statement.exec();
    };
    const auto failed
        = [&] { return storageFailure(error, what, statement.errorCode(), statement.errorText()); };

    // The sorter's runs spill to a temporary file beyond the cache size, so that the peak
    // memory of the build does not grow with the entity.
    const int cacheKiB = m_statements->cacheKiB;
    m_statements->setCacheKiB(IndexBuildCacheKiB);
    const auto restoreCache
        = qScopeGuard([this, cacheKiB] { m_statements->setCacheKiB(cacheKiB); });

    // An id that arrived more than once makes the unique index fail (after its sort): then keep
    // only the newest version of each id, the largest rowid, and build it again. Versions of
    // an id received before its deletion go below, whichever version was kept here.
    if (!run(createIndex)) {
        if ((statement.errorCode() & 0xff) != SQLITE_CONSTRAINT)
            return failed();
        qCInfo(lcStore) << "entity" << entity
                        << "received records more than once; keeping the newest version of each";
        if (!run(QStringLiteral("DELETE FROM %1 WHERE rowid IN (SELECT r FROM (SELECT rowid AS "
                                "r, row_number() OVER (PARTITION BY \"id\" ORDER BY rowid "
                                "DESC) AS n FROM %1) WHERE n > 1)")
                     .arg(table))
            || !run(createIndex)) {
            return failed();
        }
    }
    if (!run(QStringLiteral("DELETE FROM %1 WHERE rowid IN (SELECT t.rowid FROM "
                            "_sync_bulk_deleted AS d JOIN %1 AS t ON t.\"id\" = d.id "
                            "WHERE d.entity = ?1 AND t.rowid <= d.mark)")
                 .arg(table))
        || !run(QStringLiteral("DELETE FROM _sync_bulk_deleted WHERE entity = ?1"))) {
        return failed();
    }
    return true;
}

} // namespace BatchSync
