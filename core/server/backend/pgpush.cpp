// PgServerStore's pushes (POST .../changes). Each change runs under a savepoint: a value the
// table refuses (a constraint, a type its column cannot take) rejects that change only. The
// live row is locked while its base is compared, so that servers sharing the database decide
// one change of a record at a time; the triggers stamp every write as a change, as any other.

#include "common/identifier.h"
#include "server/backend/pgentity.h"
#include "server/backend/pgserverstore.h"
#include "server/push.h"

#include <QDateTime>
#include <QSqlError>
#include <QSqlQuery>
#include <memory>
#include <unordered_map>

namespace BatchSync {

namespace {

// SQLSTATE classes of errors that a change's own values cause: data exceptions (22) and
// integrity constraint violations (23). Any other failure fails the whole request.
bool isChangesFault(const QSqlError &error)
{
    const QString state = error.nativeErrorCode();
    return state.startsWith(QLatin1String("22")) || state.startsWith(QLatin1String("23"));
}

} // namespace

class PgServerStore::PushRun final
{
    Q_DISABLE_COPY_MOVE(PushRun)

public:
    PushRun(PgServerStore *store, Entity *entity, const QString &client)
        : m_store(store)
        , m_entity(entity)
        , m_client(client)
        , m_plain(store->database())
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
        if (!run(QStringLiteral("SELECT result FROM %1._bs_pushes WHERE client = ? AND "
                                "change_id = ?")
                     .arg(m_store->m_schema),
                 { m_client, change.changeId }, problem))
            return std::nullopt;
        if (m_query->next())
            return m_query->value(0).toString().toUtf8();
        std::optional<QByteArray> result = decideUnderSavepoint(change, problem);
        if (!result
            || !run(QStringLiteral("INSERT INTO %1._bs_pushes(client, change_id, result, at) "
                                   "VALUES(?, ?, ?, ?)")
                        .arg(m_store->m_schema),
                    { m_client, change.changeId, QString::fromUtf8(*result), m_now }, problem))
            return std::nullopt;
        return result;
    }

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
        if (!m_query->next()) {
            if (!read(change.id, &current, fault, problem))
                return std::nullopt;
            return Push::conflict(change.changeId, m_entity->schema, change.id, current);
        }
        return Push::applied(change.changeId, m_query->value(0).toString(),
                             m_query->value(1).toString());
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
        if (m_query->next()) {
            record->exists = true;
            record->version = m_query->value(0).toString();
            record->changedAt = m_query->value(1).toString();
            for (qsizetype i = 0; i < m_entity->columns.size(); ++i)
                record->values.append(m_query->value(int(2 + i)));
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
        if (m_query->next()) {
            record->exists = true;
            record->deleted = true;
            record->version = m_query->value(0).toString();
            record->changedAt = m_query->value(1).toString();
        }
        return true;
    }

    // Runs \a sql; m_query is then its query. A statement with values is prepared once per
    // request: QPSQL prepares (and later deallocates) it on the server, two round trips more
    // for every change if it were prepared each time.
    bool run(const QString &sql, const QVariantList &binds, QString *problem,
             QSqlError *fault = nullptr)
    {
        if (m_query)
            m_query->finish();
        bool ok = false;
        bool unprepared = false; // a failed prepare: not kept
        if (binds.isEmpty()) { // PostgreSQL prepares no SAVEPOINT: these run as they are
            m_query = &m_plain;
            ok = m_plain.exec(sql);
        } else {
            std::unique_ptr<QSqlQuery> &prepared = m_prepared[sql];
            const bool fresh = !prepared;
            if (fresh)
                prepared = std::make_unique<QSqlQuery>(m_store->database());
            m_query = prepared.get();
            ok = !fresh || m_query->prepare(sql);
            unprepared = !ok;
            for (qsizetype i = 0; ok && i < binds.size(); ++i)
                m_query->bindValue(int(i), binds.at(i));
            ok = ok && m_query->exec();
        }
        if (ok)
            return true;
        const QSqlError error = m_query->lastError();
        if (fault)
            *fault = error;
        *problem = m_store->errorText(error);
        if (problem->isEmpty())
            *problem = QStringLiteral("the database failed");
        if (unprepared) {
            m_query = nullptr;
            m_prepared.erase(sql);
        }
        return false;
    }

    PgServerStore *m_store;
    Entity *m_entity;
    QString m_client;
    QSqlQuery m_plain;
    std::unordered_map<QString, std::unique_ptr<QSqlQuery>> m_prepared; // by statement
    QSqlQuery *m_query = nullptr; // the query of the last run()
    qint64 m_now = 0;
};

std::optional<QByteArray> PgServerStore::push(const QString &entityName, const PushRequest &request,
                                              QString *error)
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return std::nullopt;
    return pushInTransaction(
        entityName,
        [&](QString *problem) {
            PushRun run(this, entity, request.client); // its query is gone before the commit
            return Push::resultsOf(run, request.changes, problem);
        },
        error);
}

} // namespace BatchSync
