#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "store/localstore_p.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

/*
    The _sync_state row of each entity: where its last sync ended, the run in progress, its
    state and error, its field list; read back, and written as a run begins, ends, fails or
    is cancelled (its batches: applybatch.cpp).
*/

namespace BatchSync {

using namespace StorePrivate;

const QString StorePrivate::syncStateColumns = QStringLiteral(
    "entity, paging, cursor, cursor_id, run_active, run_cursor, run_cursor_id, run_done, "
    "run_total, state, error_category, error_message, last_completed_at, fields, bulk_load");

QString StorePrivate::fieldsToJson(const QList<FieldSpec> &fields)
{
    QJsonArray array;
    for (const FieldSpec &field : fields) {
        array.append(QJsonObject { { QStringLiteral("name"), field.name },
                                   { QStringLiteral("type"), fieldTypeName(field.type) } });
    }
    return QString::fromUtf8(QJsonDocument(array).toJson(QJsonDocument::Compact));
}

namespace {

std::optional<ErrorCategory> errorCategoryFromName(QStringView name)
{
    for (ErrorCategory category :
         { ErrorCategory::None, ErrorCategory::Network, ErrorCategory::Auth, ErrorCategory::Request,
           ErrorCategory::Protocol, ErrorCategory::Storage, ErrorCategory::Aborted }) {
        if (name == errorCategoryName(category))
            return category;
    }
    return std::nullopt;
}

// Empty positions and messages are stored as NULL, which is what an outside reader expects.
QVariant textOrNull(const QString &text)
{
    return text.isEmpty() ? QVariant() : QVariant(text);
}

QList<FieldSpec> fieldsFromJson(const QString &json, const QString &entity)
{
    QList<FieldSpec> fields;
    if (json.isEmpty())
        return fields;
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(json.toUtf8(), &parseError);
    if (!document.isArray()) {
        qCWarning(lcStore) << "ignoring the unreadable field list of entity" << entity << ":"
                           << parseError.errorString();
        return fields;
    }
    QSet<QString> seen;
    const QJsonArray array = document.array();
    for (const QJsonValue &value : array) {
        const QJsonObject object = value.toObject();
        const QString name = object.value(QStringLiteral("name")).toString();
        const auto type = fieldTypeFromName(object.value(QStringLiteral("type")).toString());
        if (!Identifier::check(name, u"field").isEmpty() || !type
            || seen.contains(name.toLower())) {
            qCWarning(lcStore)
                << "ignoring an unreadable field of entity" << entity << ":"
                << QJsonDocument(QJsonArray { value }).toJson(QJsonDocument::Compact);
            continue;
        }
        seen.insert(name.toLower());
        fields.append(FieldSpec { name, *type });
    }
    return fields;
}

std::optional<StoredEntity> entityFromRow(const QSqlQuery &query)
{
    StoredEntity stored;
    stored.schema.name = query.value(ColEntity).toString();
    // Someone may have edited the file: never let a bad name reach SQL later.
    const QString problem = Identifier::check(stored.schema.name, u"entity");
    if (!problem.isEmpty()) {
        qCWarning(lcStore).noquote() << "ignoring a state row of the local database:" << problem;
        return std::nullopt;
    }
    const QString &name = stored.schema.name;
    stored.schema.fields = fieldsFromJson(query.value(ColFields).toString(), name);

    const QString paging = query.value(ColPaging).toString();
    if (const auto mode = pagingModeFromName(paging)) {
        stored.paging = *mode;
    } else {
        qCWarning(lcStore) << "entity" << name << "has an unknown paging mode" << paging
                           << "; its positions are ignored";
        // Positions of an unknown mode are meaningless; starting over is safe.
        stored.runActive = false;
        stored.state = SyncState::Idle;
        return stored;
    }
    stored.committed.cursor = query.value(ColCursor).toString();
    stored.committed.id = query.value(ColCursorId).toString();
    stored.runActive = query.value(ColRunActive).toLongLong() != 0;
    stored.run.cursor = query.value(ColRunCursor).toString();
    stored.run.id = query.value(ColRunCursorId).toString();
    stored.runDone = qMax<qint64>(0, query.value(ColRunDone).toLongLong());
    stored.runTotal = qMax<qint64>(0, query.value(ColRunTotal).toLongLong());
    stored.bulkLoad = query.value(ColBulkLoad).toLongLong() != 0;

    const QString state = query.value(ColState).toString();
    if (const auto parsed = syncStateFromName(state)) {
        stored.state = *parsed;
    } else {
        qCWarning(lcStore) << "entity" << name << "has an unknown state" << state;
        stored.state = stored.runActive ? SyncState::Paused : SyncState::Idle;
    }
    if (stored.state == SyncState::Failed) {
        const QString category = query.value(ColErrorCategory).toString();
        if (const auto parsed = errorCategoryFromName(category)) {
            stored.errorCategory = *parsed;
        } else if (!category.isEmpty()) {
            qCWarning(lcStore) << "entity" << name << "has an unknown error category" << category;
        }
        stored.errorMessage = query.value(ColErrorMessage).toString();
    }
    const QString completed = query.value(ColLastCompletedAt).toString();
    if (!completed.isEmpty()) {
        stored.lastCompletedAt = Timestamp::parse(completed);
        if (!stored.lastCompletedAt.isValid())
            qCWarning(lcStore) << "entity" << name << "has an unreadable completion time"
                               << completed;
    }
    return stored;
}

} // namespace

QList<StoredEntity> LocalStore::loadEntities(SyncError *error)
{
    clearError(error);
    QList<StoredEntity> entities;
    if (!checkUsable(error))
        return entities;
    QSqlQuery query(connection(m_connectionName));
    query.setForwardOnly(true);
    if (!query.exec(
            QStringLiteral("SELECT %1 FROM _sync_state ORDER BY entity").arg(syncStateColumns))) {
        storageFailure(error, QStringLiteral("Could not read the sync state"), query.lastError());
        return entities;
    }
    while (query.next()) {
        if (auto stored = entityFromRow(query))
            entities.append(std::move(*stored));
    }
    if (query.lastError().isValid()) {
        storageFailure(error, QStringLiteral("Could not read the sync state"), query.lastError());
        return {};
    }
    return entities;
}

std::optional<StoredEntity> LocalStore::loadEntity(const QString &entity, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return std::nullopt;
    const QString what = QStringLiteral("Could not read the sync state of entity \"%1\"")
                             .arg(Identifier::printable(entity));
    QSqlQuery query(connection(m_connectionName));
    query.setForwardOnly(true);
    if (!execPrepared(
            query,
            QStringLiteral("SELECT %1 FROM _sync_state WHERE entity = ?").arg(syncStateColumns),
            { entity })) {
        storageFailure(error, what, query.lastError());
        return std::nullopt;
    }
    if (!query.next()) {
        if (query.lastError().isValid())
            storageFailure(error, what, query.lastError());
        return std::nullopt;
    }
    return entityFromRow(query);
}

bool LocalStore::bulkLoadState(const QString &entity, bool *bulk, const QString &what,
                               SyncError *error)
{
    Sqlite::Statement &query = m_statements->bulkLoad;
    const Sqlite::Step step = query.bindText(1, entity) ? query.step() : Sqlite::Step::Failed;
    if (step == Sqlite::Step::Failed)
        return storageFailure(error, what, query.errorCode(), query.errorText());
    *bulk = step == Sqlite::Step::Row && query.intValue(0) != 0;
    query.reset();
    return step == Sqlite::Step::Row || failNoState(error, what);
}

// The last parameter of \a sql is the entity's name.
bool LocalStore::updateSyncState(const QString &entity, const QString &what, const QString &sql,
                                 const QVariantList &values, SyncError *error)
{
    Sqlite::Statement update;
    bool bound = update.prepare(m_statements->db, sql);
    for (qsizetype i = 0; bound && i < values.size(); ++i)
        bound = update.bindValue(int(i) + 1, values.at(i));
    if (!bound || !update.bindText(int(values.size()) + 1, entity) || !update.exec())
        return storageFailure(error, what, update.errorCode(), update.errorText());
    return update.changes() == 1 || failNoState(error, what);
}

bool LocalStore::beginRun(const QString &entity, PagingMode paging, const SyncPosition &from,
                          qint64 total, SyncState state, SyncError *error)
{
    const QString what = QStringLiteral("Could not start a run of entity \"%1\"")
                             .arg(Identifier::printable(entity));
    Write write(*this, what, error);
    if (!write.begin())
        return false;
    // A position only means something in its own paging mode: a change of mode forgets it.
    if (!updateSyncState(entity, what,
                         QStringLiteral("UPDATE _sync_state SET "
                                        "cursor = CASE WHEN paging = ?1 THEN cursor END, "
                                        "cursor_id = CASE WHEN paging = ?1 THEN cursor_id END, "
                                        "paging = ?1, run_active = 1, run_cursor = ?2, "
                                        "run_cursor_id = ?3, run_done = 0, run_total = ?4, "
                                        "state = ?5, error_category = NULL, "
                                        "error_message = NULL WHERE entity = ?6"),
                         { pagingModeName(paging), textOrNull(from.cursor), textOrNull(from.id),
                           total, syncStateName(state) },
                         error)) {
        return false;
    }
    bool bulk = false;
    if (from.isStart() && !enterBulkLoad(entity, &bulk, what, error))
        return false;
    if (!write.commit())
        return false;
    if (bulk) {
        // The table may have been re-created: prepare its statements afresh.
        m_statements->entities.erase(entity);
    }
    return true;
}

bool LocalStore::completeRun(const QString &entity, const SyncPosition &final, qint64 done,
                             qint64 total, const QDateTime &completedAt, SyncError *error)
{
    const QString what = QStringLiteral("Could not complete the run of entity \"%1\"")
                             .arg(Identifier::printable(entity));
    Write write(*this, what, error);
    bool bulk = false;
    if (!write.beginUncaptured(entity) || !bulkLoadState(entity, &bulk, what, error))
        return false;
    QElapsedTimer timer;
    timer.start();
    if (bulk && !finishBulkLoad(entity, what, error))
        return false;

    const QString when = completedAt.isValid() ? Timestamp::format(completedAt) : Timestamp::now();
    if (!updateSyncState(entity, what,
                         QStringLiteral("UPDATE _sync_state SET cursor = ?, cursor_id = ?, "
                                        "run_active = 0, run_cursor = NULL, "
                                        "run_cursor_id = NULL, run_done = ?, run_total = ?, "
                                        "state = ?, last_completed_at = ?, "
                                        "error_category = NULL, error_message = NULL, "
                                        "bulk_load = 0 WHERE entity = ?"),
                         { textOrNull(final.cursor), textOrNull(final.id), done, total,
                           syncStateName(SyncState::Completed), when },
                         error)
        || !write.commit()) {
        return false;
    }
    if (bulk) {
        // The upsert can be prepared now that the index exists.
        m_statements->entities.erase(entity);
        qCInfo(lcStore) << "entity" << entity << "completed its bulk load in" << timer.elapsed()
                        << "ms";
    }
    return true;
}

bool LocalStore::saveState(const QString &entity, SyncState state, qint64 done, qint64 total,
                           ErrorCategory errorCategory, const QString &errorMessage,
                           SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    const bool failed = state == SyncState::Failed;
    const QVariant category = failed && errorCategory != ErrorCategory::None
        ? QVariant(errorCategoryName(errorCategory))
        : QVariant();
    const QVariant message = failed ? textOrNull(errorMessage) : QVariant();
    return updateSyncState(
        entity,
        QStringLiteral("Could not save the state of entity \"%1\"")
            .arg(Identifier::printable(entity)),
        QStringLiteral("UPDATE _sync_state SET state = ?, run_done = ?, run_total = ?, "
                       "error_category = ?, error_message = ? WHERE entity = ?"),
        { syncStateName(state), done, total, category, message }, error);
}

bool LocalStore::cancelRun(const QString &entity, qint64 done, qint64 total, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return false;
    return updateSyncState(
        entity,
        QStringLiteral("Could not cancel the run of entity \"%1\"")
            .arg(Identifier::printable(entity)),
        QStringLiteral("UPDATE _sync_state SET state = ?, run_active = 0, run_cursor = NULL, "
                       "run_cursor_id = NULL, run_done = ?, run_total = ?, "
                       "error_category = NULL, error_message = NULL WHERE entity = ?"),
        { syncStateName(SyncState::Idle), done, total }, error);
}

} // namespace BatchSync
