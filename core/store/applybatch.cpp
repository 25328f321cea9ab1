#include "common/identifier.h"
#include "common/logging.h"
#include "store/localstore_p.h"

/*
    Writing a batch of changes: the entity's statements (upsert, delete, and the append and
    recorded deletion of the bulk load), prepared once and reused, and applyBatch(), which
    commits the batch with the run position that follows it.
*/

namespace BatchSync {

using namespace StorePrivate;

LocalStore::EntityStatements *LocalStore::entityStatements(const EntitySchema &schema,
                                                           SyncError *error)
{
    const auto found = m_statements->entities.find(schema.name);
    if (found != m_statements->entities.end() && found->second->fields == schema.fields)
        return found->second.get();

    const QString problem = schemaProblem(schema);
    if (!problem.isEmpty()) {
        fail(error, ErrorCategory::Protocol, problem);
        return nullptr;
    }

    QString columns = QStringLiteral("\"id\"");
    QString placeholders = QStringLiteral("?");
    QString updates;
    QString assignments; // of the UPDATE, to the same parameters as the INSERT's
    int parameter = 1;
    const auto addColumn = [&](const QString &column) {
        columns += QStringLiteral(", ") + column;
        placeholders += QStringLiteral(", ?");
        if (!updates.isEmpty()) {
            updates += QStringLiteral(", ");
            assignments += QStringLiteral(", ");
        }
        updates += QStringLiteral("%1 = excluded.%1").arg(column);
        assignments += QStringLiteral("%1 = ?%2").arg(column).arg(++parameter);
    };
    for (const FieldSpec &field : schema.fields)
        addColumn(Identifier::quoted(field.name));
    addColumn(Identifier::quoted(changedAtColumn));
    addColumn(Identifier::quoted(versionColumn));
    const QString table = Identifier::quoted(schema.name);

    auto statements = std::make_unique<EntityStatements>();
    statements->fields = schema.fields;
    statements->appendSql
        = QStringLiteral("INSERT INTO %1 (%2) VALUES (%3)").arg(table, columns, placeholders);
    statements->upsertSql = statements->appendSql
        + QStringLiteral(" ON CONFLICT (\"id\") DO UPDATE SET %1").arg(updates);
    statements->updateSql
        = QStringLiteral("UPDATE %1 SET %2 WHERE \"id\" = ?1").arg(table, assignments);
    statements->removeSql = QStringLiteral("DELETE FROM %1 WHERE \"id\" = ?").arg(table);
    // The mark is the newest row of the table: the deletion covers every version up to it.
    // ("WHERE true" keeps ON CONFLICT from being read as a join constraint.)
    statements->recordDeletionSql
        = QStringLiteral("INSERT INTO _sync_bulk_deleted (entity, id, mark) "
                         "SELECT ?1, ?2, coalesce(max(rowid), 0) FROM %1 WHERE true "
                         "ON CONFLICT (entity, id) DO UPDATE SET mark = excluded.mark")
              .arg(table);
    EntityStatements *result = statements.get();
    m_statements->entities[schema.name] = std::move(statements);
    return result;
}

bool LocalStore::BatchRows::bindRecord(Sqlite::Statement &statement, qsizetype row,
                                       int fieldCount) const
{
    const int changedAtIndex = fieldCount + 2;
    if (m_packed) {
        const PackedChanges &packed = *m_packed;
        bool bound = statement.bindUtf8(1, packed.id(row));
        for (int i = 0; bound && i < fieldCount; ++i) {
            const PackedChanges::Cell &cell = packed.value(row, i);
            switch (cell.kind) {
            case PackedChanges::Kind::Null:
                bound = statement.bindNull(i + 2);
                break;
            case PackedChanges::Kind::Integer:
            case PackedChanges::Kind::Bool:
                bound = statement.bindInt(i + 2, cell.integer);
                break;
            case PackedChanges::Kind::Real:
                bound = statement.bindDouble(i + 2, cell.real);
                break;
            case PackedChanges::Kind::Text:
                bound = statement.bindUtf8(i + 2, packed.text(cell));
                break;
            }
        }
        if (!bound || !statement.bindUtf8(changedAtIndex, packed.changedAt(row)))
            return false;
        const QByteArrayView version = packed.text(packed.version(row));
        return version.isEmpty() ? statement.bindNull(changedAtIndex + 1)
                                 : statement.bindUtf8(changedAtIndex + 1, version);
    }
    const Change &change = m_changes->at(row);
    bool bound = statement.bindText(1, change.id);
    for (int i = 0; bound && i < fieldCount; ++i)
        bound = statement.bindValue(i + 2, change.values.at(i));
    return bound && statement.bindText(changedAtIndex, change.changedAt)
        && statement.bindTextOrNull(changedAtIndex + 1, change.version);
}

QString LocalStore::BatchRows::problem(const QString &what, int fieldCount) const
{
    if (m_packed) {
        // The parser checked every id; only the entity's fields may have changed since.
        if (!m_packed->isEmpty() && m_packed->fieldCount() != fieldCount) {
            return QStringLiteral("%1: the changes have %2 values but the entity has %3 fields")
                .arg(what)
                .arg(m_packed->fieldCount())
                .arg(fieldCount);
        }
        return QString();
    }
    for (qsizetype i = 0; i < m_changes->size(); ++i) {
        const Change &change = m_changes->at(i);
        if (change.id.isEmpty())
            return QStringLiteral("%1: change %2 has no id").arg(what).arg(i + 1);
        if (!change.deleted && change.values.size() != fieldCount) {
            return QStringLiteral("%1: change %2 (id \"%3\") has %4 values but the entity "
                                  "has %5 fields")
                .arg(what)
                .arg(i + 1)
                .arg(Identifier::printable(change.id))
                .arg(change.values.size())
                .arg(fieldCount);
        }
    }
    return QString();
}

bool LocalStore::applyBatch(const EntitySchema &schema, const QList<Change> &changes,
                            const SyncPosition &after, qint64 done, qint64 total, SyncError *error)
{
    return applyRows(schema, BatchRows(changes), after, done, total, error);
}

bool LocalStore::applyBatch(const EntitySchema &schema, const PackedChanges &changes,
                            const SyncPosition &after, qint64 done, qint64 total, SyncError *error)
{
    return applyRows(schema, BatchRows(changes), after, done, total, error);
}

bool LocalStore::applyRows(const EntitySchema &schema, const BatchRows &rows,
                           const SyncPosition &after, qint64 done, qint64 total, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    EntityStatements *statements = entityStatements(schema, error);
    if (!statements)
        return false;

    const QString what = QStringLiteral("Could not save a batch of entity \"%1\"").arg(schema.name);
    const int fieldCount = int(schema.fields.size());
    // Check everything first, so that a bad change costs no transaction.
    if (const QString problem = rows.problem(what, fieldCount); !problem.isEmpty())
        return fail(error, ErrorCategory::Protocol, problem);

    sqlite3 *db = m_statements->db;
    Write transaction(*this, what, error);
    if (!transaction.beginUncaptured(schema.name))
        return false;
    // Read in the transaction: another store on the same file may have completed the run.
    bool bulk = false;
    if (!bulkLoadState(schema.name, &bulk, what, error))
        return false;
    // A record with a pending local change keeps it: the push decides. Asked per change only
    // when the entity has any (the write lock keeps others from adding some meanwhile).
    bool anyPending = false;
    if (!pendingState(schema.name, QString(), &anyPending, what, error))
        return false;
    qint64 skipped = 0;

    const auto ready = [&](Sqlite::Statement &statement, const QString &sql) {
        if (statement.isPrepared())
            return true;
        if (statement.prepare(db, sql, SQLITE_PREPARE_PERSISTENT))
            return true;
        storageFailure(error,
                       QStringLiteral("Could not prepare writing entity \"%1\"").arg(schema.name),
                       statement.errorCode(), statement.errorText());
        return false;
    };
    m_statements->setBatchCache(bulk);

    // Updates of existing records, the bulk of an incremental sync: an UPDATE by id does less
    // than an upsert (no new rowid, no record built for the insert that conflicts), and a
    // record it misses is inserted. With triggers of the table's own on, the upsert stays,
    // so that they see the statements they always saw.
    const bool updateFirst = !bulk && statements->updateFirst && !m_statements->triggersEnabled;
    Sqlite::Statement &write = bulk || updateFirst ? statements->append : statements->upsert;
    Sqlite::Statement &remove = bulk ? statements->recordDeletion : statements->remove;
    if (updateFirst && !ready(statements->update, statements->updateSql))
        return false;
    bool haveWrite = false;
    bool haveRemove = false;
    qint64 writes = 0;
    qint64 updated = 0;
    const auto failed = [&](Sqlite::Statement &statement, qsizetype row) {
        return storageFailure(
            error,
            QStringLiteral("%1 (record \"%2\")").arg(what, Identifier::printable(rows.id(row))),
            statement.errorCode(), statement.errorText());
    };
    const qsizetype count = rows.size();
    for (qsizetype row = 0; row < count; ++row) {
        if (anyPending) {
            bool pending = false;
            if (!pendingState(schema.name, rows.id(row), &pending, what, error))
                return false;
            if (pending) {
                ++skipped;
                continue;
            }
        }
        Sqlite::Statement *statement = nullptr;
        bool bound = true;
        if (rows.isDeleted(row)) {
            if (!haveRemove
                && !(haveRemove
                     = ready(remove, bulk ? statements->recordDeletionSql : statements->removeSql)))
                return false;
            statement = &remove;
            if (bulk)
                bound = remove.bindText(1, schema.name) && rows.bindId(remove, 2, row);
            else
                bound = rows.bindId(remove, 1, row);
        } else {
            ++writes;
            if (updateFirst) {
                Sqlite::Statement &update = statements->update;
                if (!rows.bindRecord(update, row, fieldCount) || !update.exec())
                    return failed(update, row);
                if (update.changes() > 0) {
                    ++updated;
                    continue;
                }
            }
            if (!haveWrite
                && !(haveWrite
                     = ready(write,
                             bulk || updateFirst ? statements->appendSql : statements->upsertSql)))
                return false;
            statement = &write;
            bound = rows.bindRecord(write, row, fieldCount);
        }
        // An upsert that updates leaves the last inserted rowid as it was.
        const sqlite3_int64 lastRowid = sqlite3_last_insert_rowid(db);
        if (!bound || !statement->exec())
            return failed(*statement, row);
        if (statement == &statements->upsert && sqlite3_last_insert_rowid(db) == lastRowid)
            ++updated;
    }

    if (!saveRunPosition(schema.name, after, done, total, what, error))
        return false;
    if (!transaction.commit())
        return false;
    // A batch of mostly new records inserts them at once next time: missing by UPDATE first
    // costs a lookup and a second binding per record.
    if (!bulk && writes > 0)
        statements->updateFirst = updated * 2 >= writes;
    qCDebug(lcStore) << "saved" << count - skipped << "changes of" << schema.name << "at" << done
                     << "of" << total << (bulk ? "(bulk load)" : "");
    if (skipped > 0) {
        qCInfo(lcStore) << "kept" << skipped << "records of" << schema.name
                        << "that have pending local changes";
    }
    return true;
}

bool LocalStore::pendingState(const QString &entity, const QString &id, bool *pending,
                              const QString &what, SyncError *error)
{
    Sqlite::Statement &query = id.isNull() ? m_statements->anyPending : m_statements->isPending;
    const bool bound = query.bindText(1, entity) && (id.isNull() || query.bindText(2, id));
    const Sqlite::Step step = bound ? query.step() : Sqlite::Step::Failed;
    if (step == Sqlite::Step::Failed)
        return storageFailure(error, what, query.errorCode(), query.errorText());
    *pending = step == Sqlite::Step::Row;
    query.reset();
    return true;
}

bool LocalStore::saveRunPosition(const QString &entity, const SyncPosition &after, qint64 done,
                                 qint64 total, const QString &what, SyncError *error)
{
    Sqlite::Statement &saveRun = m_statements->saveRun;
    if (!saveRun.bindTextOrNull(1, after.cursor) || !saveRun.bindTextOrNull(2, after.id)
        || !saveRun.bindInt(3, done) || !saveRun.bindInt(4, total) || !saveRun.bindText(5, entity)
        || !saveRun.exec()) {
        return storageFailure(error, what, saveRun.errorCode(), saveRun.errorText());
    }
    return true;
}

} // namespace BatchSync
