#include "common/identifier.h"
#include "common/logging.h"
#include "store/localstore_p.h"

/*
    The pages of a Reload or a Deletions phase (SyncPhase): staged in a table of their own
    until the phase's last page, which then changes the entity's table in the transaction
    that commits it.
*/

namespace BatchSync {

using namespace StorePrivate;

bool LocalStore::applyPhase(const EntitySchema &schema, const ChangePage &page,
                            const SyncPosition &after, qint64 done, qint64 total, SyncError *error)
{
    clearError(error);
    if (page.phase == SyncPhase::Changes) {
        return page.packed.isEmpty() ? applyBatch(schema, page.changes, after, done, total, error)
                                     : applyBatch(schema, page.packed, after, done, total, error);
    }
    if (!page.packed.isEmpty()) {
        return fail(error, ErrorCategory::Protocol,
                    QStringLiteral("Could not save a page of entity \"%1\": its phase has packed "
                                   "changes, which only the Changes phase takes")
                        .arg(schema.name));
    }
    if (!checkUsable(error))
        return false;
    const QString problem = schemaProblem(schema);
    if (!problem.isEmpty())
        return fail(error, ErrorCategory::Protocol, problem);

    const bool reload = page.phase == SyncPhase::Reload;
    const QString what = reload
        ? QStringLiteral("Could not save a batch of the reload of entity \"%1\"").arg(schema.name)
        : QStringLiteral("Could not save the ids of entity \"%1\" found at the source")
              .arg(schema.name);
    const qsizetype fieldCount = schema.fields.size();
    for (qsizetype i = 0; i < page.changes.size(); ++i) {
        const Change &change = page.changes.at(i);
        if (change.id.isEmpty() || change.deleted
            || (reload && change.values.size() != fieldCount)) {
            return fail(error, ErrorCategory::Protocol,
                        QStringLiteral("%1: record %2 is not a whole record with an id")
                            .arg(what)
                            .arg(i + 1));
        }
    }

    const QString table = Identifier::quoted(schema.name);
    const QString staging = Identifier::quoted(
        (reload ? QStringLiteral("_sync_reload_") : QStringLiteral("_sync_seen_")) + schema.name);
    QString columns = QStringLiteral("\"id\"");
    QString placeholders = QStringLiteral("?");
    for (const FieldSpec &field : schema.fields) {
        columns += QStringLiteral(", ") + Identifier::quoted(field.name);
        placeholders += QStringLiteral(", ?");
    }
    columns += QStringLiteral(", ") + Identifier::quoted(changedAtColumn);
    placeholders += QStringLiteral(", ?");

    sqlite3 *db = m_statements->db;
    Write transaction(*this, what, error);
    if (!transaction.beginUncaptured(schema.name))
        return false;
    Sqlite::Statement statement;
    const auto run = [&](const QString &sql) {
        if (statement.prepare(db, sql) && statement.exec())
            return true;
        return storageFailure(error, what, statement.errorCode(), statement.errorText());
    };

    if (page.phaseStart) {
        // Whatever an earlier, unfinished phase staged is stale now.
        if (!run(QStringLiteral("DROP TABLE IF EXISTS %1").arg(staging)))
            return false;
        const QString create = reload
            ? QStringLiteral("CREATE TABLE %1 AS SELECT %2 FROM %3 WHERE 0")
                  .arg(staging, columns, table)
            : QStringLiteral("CREATE TABLE %1 (\"id\" TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID")
                  .arg(staging);
        if (!run(create))
            return false;
        if (reload
            && !run(QStringLiteral("CREATE UNIQUE INDEX %1 ON %2 (\"id\")")
                        .arg(Identifier::quoted(QStringLiteral("_sync_reload_id_") + schema.name),
                             staging))) {
            return false;
        }
    }

    if (!page.changes.isEmpty()) {
        // A source that pages by key sends each record once; should it send one again, the
        // later copy wins.
        const QString insert = reload
            ? QStringLiteral("INSERT OR REPLACE INTO %1 (%2) VALUES (%3)")
                  .arg(staging, columns, placeholders)
            : QStringLiteral("INSERT OR IGNORE INTO %1 (\"id\") VALUES (?)").arg(staging);
        if (!statement.prepare(db, insert)) {
            return storageFailure(
                error,
                statement.errorCode() == SQLITE_ERROR
                    ? QStringLiteral("%1 (the staged records are missing: cancel the run to "
                                     "start the phase over)")
                          .arg(what)
                    : what,
                statement.errorCode(), statement.errorText());
        }
        for (const Change &change : page.changes) {
            bool bound = statement.bindText(1, change.id);
            if (reload) {
                for (qsizetype i = 0; bound && i < fieldCount; ++i)
                    bound = statement.bindValue(int(i) + 2, change.values.at(i));
                bound = bound && statement.bindTextOrNull(int(fieldCount) + 2, change.changedAt);
            }
            if (!bound || !statement.exec()) {
                return storageFailure(error,
                                      QStringLiteral("%1 (record \"%2\")")
                                          .arg(what, Identifier::printable(change.id)),
                                      statement.errorCode(), statement.errorText());
            }
        }
    }

    qint64 removed = 0;
    qint64 kept = 0;
    if (page.phaseEnd) {
        // Records with a pending local change keep it, as in applyBatch().
        const QString pending = pendingIdsSql(schema.name);
        if (reload) {
            if (!run(QStringLiteral("DELETE FROM %1 WHERE \"id\" NOT IN (%2)").arg(table, pending)))
                return false;
            removed = statement.changes();
            if (!run(QStringLiteral("INSERT INTO %1 (%2) SELECT %2 FROM %3 WHERE \"id\" NOT IN "
                                    "(%4) ORDER BY \"id\"")
                         .arg(table, columns, staging, pending))) {
                return false;
            }
            kept = statement.changes();
        } else {
            if (!run(QStringLiteral("DELETE FROM %1 WHERE \"id\" NOT IN (SELECT \"id\" FROM %2) "
                                    "AND \"id\" NOT IN (%3)")
                         .arg(table, staging, pending))) {
                return false;
            }
            removed = statement.changes();
        }
        if (!run(QStringLiteral("DROP TABLE %1").arg(staging)))
            return false;
    }

    if (!saveRunPosition(schema.name, after, done, total, what, error))
        return false;
    if (!transaction.commit())
        return false;
    if (page.phaseEnd && reload) {
        qCInfo(lcStore) << "entity" << schema.name << "reloaded:" << kept << "records replace"
                        << removed;
    } else if (page.phaseEnd) {
        qCInfo(lcStore) << "entity" << schema.name << "deleted" << removed
                        << "records no longer at the source";
    }
    return true;
}

} // namespace BatchSync
