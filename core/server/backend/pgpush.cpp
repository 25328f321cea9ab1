// PgServerStore's pushes (POST .../changes). Each change runs under a savepoint: a value the
// table refuses (a constraint, a type its column cannot take) rejects that change only. The
// live row is locked while its base is compared, so that servers sharing the database decide
// one change of a record at a time; the triggers stamp every write as a change, as any other.
//
// A (client, changeId) is claimed before its change is decided: a request that sends it again
// while the first is still open (a client's retry, on this server or another) waits at the
// claim for the first to end, then reads its result. Before any of that, a request takes a
// lock per record it changes, in one order for every server: requests that share records wait
// for each other instead of deadlocking on rows they would lock in their own orders. Should
// PostgreSQL still abort a request to end a deadlock (with other writers), it runs again.

#include "common/identifier.h"
#include "common/logging.h"
#include "server/backend/pgentity.h"
#include "server/backend/pgserverstore.h"
#include "server/push.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QSqlError>
#include <QSqlQuery>
#include <algorithm>

namespace BatchSync {

namespace {

// SQLSTATE classes of errors that a change's own values cause: data exceptions (22) and
// integrity constraint violations (23). Any other failure fails the whole request.
bool isChangesFault(const QSqlError &error)
{
    const QString state = error.nativeErrorCode();
    return state.startsWith(QLatin1String("22")) || state.startsWith(QLatin1String("23"));
}

// How many times a request that PostgreSQL aborted to end a deadlock (or to keep transactions
// serializable) is run; nothing of an aborted run is stored.
constexpr int PushAttempts = 8;

// The classes of the advisory locks of pushes (pg_advisory_xact_lock(int, int)): "BSpu" for a
// record, its key from recordKey(); "BSpe" for an entity, its key from recordKey(entity, {}).
constexpr int RecordLockClass = 0x42537075;
constexpr int EntityLockClass = 0x42537065;
// Each advisory lock takes a place in PostgreSQL's shared lock table (64 per connection by
// default): a request with more records locks its entity instead.
constexpr qsizetype MaxRecordLocks = 64;

// A record's lock key: the same in every server process; two records may share one.
int recordKey(const QString &entity, const QString &id)
{
    const QByteArray digest
        = QCryptographicHash::hash(entity.toUtf8() + '\0' + id.toUtf8(), QCryptographicHash::Md5);
    return int(quint32(quint8(digest[0])) << 24 | quint32(quint8(digest[1])) << 16
               | quint32(quint8(digest[2])) << 8 | quint32(quint8(digest[3])));
}

bool isTransient(const QString &state)
{
    return state == QLatin1String("40P01") || state == QLatin1String("40001");
}

/*
    A client identifier or changeId as _bs_pushes holds it. PostgreSQL text cannot hold U+0000,
    so an identifier with one, or with a backslash, is written with escapes (\\ and \0);
    every other identifier has no backslash and is kept as it is: no two are stored alike.
*/
QString storedIdentifier(const QString &identifier)
{
    if (!identifier.contains(QLatin1Char('\\')) && !identifier.contains(QChar(u'\0')))
        return identifier;
    QString stored = identifier;
    return stored.replace(QLatin1Char('\\'), QLatin1String("\\\\"))
        .replace(QChar(u'\0'), QLatin1String("\\0"));
}

} // namespace

class PgServerStore::PushRun final
{
    Q_DISABLE_COPY_MOVE(PushRun)

public:
    PushRun(PgServerStore *store, Entity *entity, const QString &client)
        : m_store(store)
        , m_entity(entity)
        , m_client(storedIdentifier(client))
        , m_query(store->database())
    {
    }

    bool prepare(QString *problem)
    {
        m_now = QDateTime::currentSecsSinceEpoch();
        return run(QStringLiteral("DELETE FROM %1._bs_pushes WHERE at < ?").arg(m_store->m_schema),
                   { m_now - Push::RememberSeconds }, problem);
    }

    std::optional<QByteArray> resultOf(const PushChange &change, QString *problem)
    {
        // The claim waits for an open transaction that holds the same one, and then does
        // nothing if that transaction committed it.
        if (!run(QStringLiteral("INSERT INTO %1._bs_pushes(client, change_id, result, at) "
                                "VALUES(?, ?, '', ?) ON CONFLICT DO NOTHING")
                     .arg(m_store->m_schema),
                 { m_client, storedIdentifier(change.changeId), m_now }, problem))
            return std::nullopt;
        if (m_query.numRowsAffected() == 0) {
            if (!run(QStringLiteral("SELECT result FROM %1._bs_pushes WHERE client = ? AND "
                                    "change_id = ?")
                         .arg(m_store->m_schema),
                     { m_client, storedIdentifier(change.changeId) }, problem))
                return std::nullopt;
            if (m_query.next())
                return m_query.value(0).toString().toUtf8();
            *problem = QStringLiteral("the result of change %1 is gone").arg(change.changeId);
            return std::nullopt;
        }
        std::optional<QByteArray> result = decideUnderSavepoint(change, problem);
        if (!result
            || !run(QStringLiteral("UPDATE %1._bs_pushes SET result = ? WHERE client = ? AND "
                                   "change_id = ?")
                        .arg(m_store->m_schema),
                    { QString::fromUtf8(*result), m_client, storedIdentifier(change.changeId) },
                    problem))
            return std::nullopt;
        return result;
    }

    /*!
        Locks the records \a changes may change, by key in ascending order, until the
        transaction ends: after a shared lock of the entity, or instead with an exclusive one
        when they are too many.
    */
    bool lockRecords(const QList<PushChange> &changes, QString *problem)
    {
        QList<int> keys;
        keys.reserve(changes.size());
        for (const PushChange &change : changes) {
            if (change.rejection.isEmpty())
                keys.append(recordKey(m_entity->schema.name, change.id));
        }
        if (keys.isEmpty())
            return true;
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        const bool many = keys.size() > MaxRecordLocks;
        const QString entityLock = QStringLiteral("SELECT pg_advisory_xact_lock%1(%2, %3)")
                                       .arg(many ? QString() : QStringLiteral("_shared"))
                                       .arg(EntityLockClass)
                                       .arg(recordKey(m_entity->schema.name, QString()));
        if (!run(entityLock, {}, problem))
            return false;
        if (many)
            return true;
        QString array = QStringLiteral("{");
        for (int key : keys)
            array += QString::number(key) + QLatin1Char(',');
        array[array.size() - 1] = QLatin1Char('}');
        // unnest() gives the keys in the array's order, and count() locks each in turn.
        return run(QStringLiteral("SELECT count(pg_advisory_xact_lock(%1, k)) "
                                  "FROM unnest(CAST(? AS integer[])) AS k")
                       .arg(RecordLockClass),
                   { array }, problem);
    }

    /*! The SQLSTATE of the last statement that failed, if any. */
    QString failedState() const { return m_failedState; }

private:
    std::optional<QByteArray> decideUnderSavepoint(const PushChange &change, QString *problem)
    {
        if (!change.rejection.isEmpty())
            return Push::rejected(change.changeId, change.rejection);
        if (!run(QStringLiteral("SAVEPOINT bs_change"), {}, problem))
            return std::nullopt;
        QSqlError fault;
        std::optional<QByteArray> result = decide(change, &fault, problem);
        if (result)
            return run(QStringLiteral("RELEASE SAVEPOINT bs_change"), {}, problem) ? result
                                                                                   : std::nullopt;
        if (!isChangesFault(fault))
            return std::nullopt;
        problem->clear();
        if (!run(QStringLiteral("ROLLBACK TO SAVEPOINT bs_change"), {}, problem))
            return std::nullopt;
        return Push::rejected(
            change.changeId,
            QStringLiteral("the database refused the record: %1").arg(m_store->errorText(fault)));
    }

    std::optional<QByteArray> decide(const PushChange &change, QSqlError *fault, QString *problem)
    {
        for (const QVariant &value : change.values) {
            if (value.typeId() == QMetaType::QString && value.toString().contains(QChar(0))) {
                problem->clear();
                return Push::rejected(change.changeId,
                                      QStringLiteral("PostgreSQL text cannot hold U+0000"));
            }
        }
        StoredRecord current;
        if (!read(change.id, &current, fault, problem))
            return std::nullopt;
        const bool live = current.exists && !current.deleted;
        if (!change.base) {
            if (live)
                return Push::conflict(change.changeId, m_entity->schema, change.id, current);
            if (change.deleted)
                return Push::appliedUnchanged(change.changeId, current);
        } else if (!live || current.version != *change.base) {
            return Push::conflict(change.changeId, m_entity->schema, change.id, current);
        }
        if (change.deleted) {
            if (!run(QStringLiteral("DELETE FROM %1 WHERE %2 = CAST(? AS %3)")
                         .arg(m_entity->table, m_entity->idColumn, m_entity->idType),
                     { change.id }, problem, fault)
                || !readTombstone(change.id, &current, problem))
                return std::nullopt;
            return Push::applied(change.changeId, current.version, current.changedAt);
        }
        QVariantList binds { change.id };
        QString names = m_entity->idColumn;
        QString values = QStringLiteral("CAST(? AS %1)").arg(m_entity->idType);
        QString updates;
        for (qsizetype i = 0; i < m_entity->columns.size(); ++i) {
            const Entity::Field &field = m_entity->columns.at(i);
            names += QLatin1String(", ") + field.column;
            values += QStringLiteral(", CAST(? AS %1)").arg(field.sqlType);
            updates += (updates.isEmpty() ? QString() : QStringLiteral(", ")) + field.column
                + QLatin1String(" = excluded.") + field.column;
            const QVariant &value = change.values.at(i);
            const bool isBool = m_entity->schema.fields.at(i).type == FieldType::Bool;
            binds.append(isBool && !value.isNull() ? QVariant(value.toLongLong() != 0) : value);
        }
        if (updates.isEmpty()) // still a write: the trigger stamps it as a change
            updates = m_entity->idColumn + QLatin1String(" = excluded.") + m_entity->idColumn;
        // A create racing another server's create of the same id meets its row: the lock
        // taken by read() is not there to stop it, so the insert itself must not overwrite.
        const QString onConflict = change.base ? QStringLiteral("DO UPDATE SET ") + updates
                                               : QStringLiteral("DO NOTHING");
        if (!run(QStringLiteral("INSERT INTO %1(%2) VALUES(%3) ON CONFLICT (%4) %5 "
                                "RETURNING _bs_seq, _bs_changed_at")
                     .arg(m_entity->table, names, values, m_entity->idColumn, onConflict),
                 binds, problem, fault))
            return std::nullopt;
        if (!m_query.next()) {
            if (!read(change.id, &current, fault, problem))
                return std::nullopt;
            return Push::conflict(change.changeId, m_entity->schema, change.id, current);
        }
        return Push::applied(change.changeId, m_query.value(0).toString(),
                             m_query.value(1).toString());
    }

    // The live row (locked) or the tombstone of \a id.
    bool read(const QString &id, StoredRecord *record, QSqlError *fault, QString *problem)
    {
        QString sql = QStringLiteral("SELECT _bs_seq, _bs_changed_at");
        for (const Entity::Field &field : m_entity->columns)
            sql += QLatin1String(", ") + PgSql::selectExpression(field.column, field.sqlType);
        sql += QStringLiteral(" FROM %1 WHERE %2 = CAST(? AS %3) FOR UPDATE")
                   .arg(m_entity->table, m_entity->idColumn, m_entity->idType);
        if (!run(sql, { id }, problem, fault))
            return false;
        *record = StoredRecord();
        if (m_query.next()) {
            record->exists = true;
            record->version = m_query.value(0).toString();
            record->changedAt = m_query.value(1).toString();
            for (qsizetype i = 0; i < m_entity->columns.size(); ++i)
                record->values.append(m_query.value(int(2 + i)));
            return true;
        }
        return readTombstone(id, record, problem);
    }

    bool readTombstone(const QString &id, StoredRecord *record, QString *problem)
    {
        if (!run(QStringLiteral("SELECT seq, changed_at FROM %1._bs_tombstones WHERE entity = ? "
                                "AND id = ?")
                     .arg(m_store->m_schema),
                 { m_entity->schema.name, id }, problem))
            return false;
        *record = StoredRecord();
        if (m_query.next()) {
            record->exists = true;
            record->deleted = true;
            record->version = m_query.value(0).toString();
            record->changedAt = m_query.value(1).toString();
        }
        return true;
    }

    bool run(const QString &sql, const QVariantList &binds, QString *problem,
             QSqlError *fault = nullptr)
    {
        m_query.finish();
        m_failedState.clear();
        // PostgreSQL prepares no SAVEPOINT: statements without values run as they are.
        if (binds.isEmpty() ? m_query.exec(sql) : m_query.prepare(sql)) {
            for (qsizetype i = 0; i < binds.size(); ++i)
                m_query.bindValue(int(i), binds.at(i));
            if (binds.isEmpty() || m_query.exec())
                return true;
        }
        if (fault)
            *fault = m_query.lastError();
        m_failedState = m_query.lastError().nativeErrorCode();
        *problem = m_store->errorText(m_query.lastError());
        if (problem->isEmpty())
            *problem = QStringLiteral("the database failed");
        return false;
    }

    PgServerStore *m_store;
    Entity *m_entity;
    QString m_client;
    QSqlQuery m_query;
    qint64 m_now = 0;
    QString m_failedState;
};

std::optional<QByteArray> PgServerStore::push(const QString &entityName, const PushRequest &request,
                                              QString *error)
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return std::nullopt;
    for (int attempt = 1;; ++attempt) {
        QString failedState;
        std::optional<QByteArray> body = pushInTransaction(
            entityName,
            [&](QString *problem) {
                PushRun run(this, entity, request.client); // its query is gone before the commit
                std::optional<QList<QByteArray>> objects = std::nullopt;
                if (run.lockRecords(request.changes, problem))
                    objects = Push::resultsOf(run, request.changes, problem);
                failedState = run.failedState();
                return objects;
            },
            error);
        if (body || !isTransient(failedState) || attempt == PushAttempts)
            return body;
        qCInfo(lcServer).noquote() << "push to" << entityName << "run again (attempt" << attempt + 1
                                   << "of" << PushAttempts << "):" << lastError().message;
    }
}

} // namespace BatchSync
