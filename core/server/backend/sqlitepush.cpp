// ServerStore's pushes (POST .../changes): each change decided against the record as stored,
// applied like any other write (a new sequence number and changedAt, so that pulls see it),
// and its result remembered by (client, changeId), all in the request's one transaction.

#include "common/identifier.h"
#include "server/backend/serverstore.h"
#include "server/backend/serverstore_p.h"
#include "server/push.h"

#include <QDateTime>
#include <QSqlError>
#include <QSqlQuery>

namespace BatchSync {

class ServerStore::PushRun final
{
    Q_DISABLE_COPY_MOVE(PushRun)

public:
    PushRun(ServerStore *store, Entity *entity, const QString &client)
        : m_store(store)
        , m_entity(entity)
        , m_client(client)
        , m_remembered(store->database())
        , m_remember(store->database())
        , m_record(store->database())
        , m_upsert(store->database())
        , m_remove(store->database())
    {
    }

    // Prepares the queries and forgets results older than Push::RememberSeconds.
    bool prepare(QString *problem)
    {
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        QSqlQuery purge(m_store->database());
        if (!purge.prepare(QStringLiteral("DELETE FROM _bs_pushes WHERE at < ?")))
            return failed(purge, problem);
        purge.addBindValue(now - Push::RememberSeconds);
        if (!purge.exec())
            return failed(purge, problem);
        m_now = now;
        const std::pair<QSqlQuery *, QString> queries[] = {
            { &m_remembered,
              QStringLiteral("SELECT result FROM _bs_pushes WHERE client = ? AND change_id = ?") },
            { &m_remember,
              QStringLiteral("INSERT INTO _bs_pushes(client, change_id, result, at) "
                             "VALUES(?, ?, ?, ?)") },
            { &m_record, m_entity->selectColumns() + QLatin1String(" WHERE id = ?") },
            { &m_upsert, m_entity->upsertSql() },
            { &m_remove, m_entity->removeSql() },
        };
        for (const auto &[query, sql] : queries) {
            query->setForwardOnly(true);
            if (!query->prepare(sql))
                return failed(*query, problem);
        }
        return true;
    }

    // The result object of \a change, applied when it applies; nullopt when the database
    // failed.
    std::optional<QByteArray> resultOf(const PushChange &change, QString *problem)
    {
        m_remembered.bindValue(0, m_client);
        m_remembered.bindValue(1, change.changeId);
        if (!m_remembered.exec()) {
            failed(m_remembered, problem);
            return std::nullopt;
        }
        if (m_remembered.next()) {
            QByteArray result = m_remembered.value(0).toString().toUtf8();
            m_remembered.finish();
            return result;
        }
        m_remembered.finish();
        std::optional<QByteArray> result = decide(change, problem);
        if (!result)
            return std::nullopt;
        m_remember.bindValue(0, m_client);
        m_remember.bindValue(1, change.changeId);
        m_remember.bindValue(2, QString::fromUtf8(*result));
        m_remember.bindValue(3, m_now);
        if (!m_remember.exec()) {
            failed(m_remember, problem);
            return std::nullopt;
        }
        return result;
    }

private:
    std::optional<QByteArray> decide(const PushChange &change, QString *problem)
    {
        if (!change.rejection.isEmpty())
            return Push::rejected(change.changeId, change.rejection);
        StoredRecord current;
        if (!read(change.id, &current, problem))
            return std::nullopt;
        const bool live = current.exists && !current.deleted;
        const auto conflict
            = [&] { return Push::conflict(change.changeId, m_entity->schema, change.id, current); };
        if (!change.base) {
            if (live)
                return conflict();
            if (change.deleted)
                return Push::appliedUnchanged(change.changeId, current);
        } else if (!live || current.version != *change.base) {
            return conflict();
        }
        return apply(change, problem);
    }

    bool read(const QString &id, StoredRecord *record, QString *problem)
    {
        m_record.bindValue(0, id);
        if (!m_record.exec())
            return failed(m_record, problem);
        if (m_record.next()) {
            record->exists = true;
            record->version = QString::number(m_record.value(0).toLongLong());
            record->changedAt = m_record.value(2).toString();
            record->deleted = m_record.value(3).toLongLong() != 0;
            const qsizetype fields = m_entity->schema.fields.size();
            record->values.reserve(fields);
            for (qsizetype i = 0; i < fields; ++i)
                record->values.append(m_record.value(int(4 + i)));
        }
        m_record.finish();
        return true;
    }

    // Stores \a change as the entity's next change: an upsert of the whole record, or its
    // tombstone.
    std::optional<QByteArray> apply(const PushChange &change, QString *problem)
    {
        const qint64 seq = m_entity->lastSeq + 1;
        const QString changedAt = m_store->nextChangedAt(m_entity);
        QSqlQuery &query = change.deleted ? m_remove : m_upsert;
        if (change.deleted) {
            m_remove.bindValue(0, seq);
            m_remove.bindValue(1, changedAt);
            m_remove.bindValue(2, change.id);
        } else {
            m_upsert.bindValue(QStringLiteral(":s"), seq);
            m_upsert.bindValue(QStringLiteral(":i"), change.id);
            m_upsert.bindValue(QStringLiteral(":c"), changedAt);
            for (qsizetype i = 0; i < change.values.size(); ++i)
                m_upsert.bindValue(QLatin1String(":f") + QString::number(i), change.values.at(i));
        }
        if (!query.exec()) {
            failed(query, problem);
            return std::nullopt;
        }
        query.finish();
        m_entity->lastSeq = seq;
        return Push::applied(change.changeId, QString::number(seq), changedAt);
    }

    static bool failed(const QSqlQuery &query, QString *problem)
    {
        *problem = query.lastError().text();
        if (problem->isEmpty())
            *problem = QStringLiteral("the database failed");
        return false;
    }

    ServerStore *m_store;
    Entity *m_entity;
    QString m_client;
    qint64 m_now = 0;
    QSqlQuery m_remembered;
    QSqlQuery m_remember;
    QSqlQuery m_record;
    QSqlQuery m_upsert;
    QSqlQuery m_remove;
};

std::optional<QByteArray> ServerStore::push(const QString &entityName, const PushRequest &request,
                                            QString *error)
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return std::nullopt;
    const qint64 savedSeq = entity->lastSeq;
    const QString savedChangedAt = entity->lastChangedAt;
    std::optional<QByteArray> body = pushInTransaction(
        entityName,
        [&](QString *problem) {
            PushRun run(this, entity, request.client); // its queries are gone before the commit
            return Push::resultsOf(run, request.changes, problem);
        },
        error);
    if (!body)
        restoreAndFail(entity, savedSeq, savedChangedAt, error);
    return body;
}

} // namespace BatchSync
