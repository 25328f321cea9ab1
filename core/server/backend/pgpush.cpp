// PgServerStore's pushes (POST .../changes): the request, and its changes one at a time. A
// change decided alone runs under a savepoint: a value the table refuses (a constraint, a type
// its column cannot take) rejects that change only. The live row is locked while its base is
// compared, so that servers sharing the database decide one change of a record at a time; the
// triggers stamp every write as a change, as any other. Most changes are decided many at once
// (pgpushbatch.cpp); the way here is the one every change can take.
//
// Before anything else, a request takes a lock per record it changes, in one order for every
// server: requests that share records wait for each other instead of deadlocking on rows they
// would lock in their own orders. Then it takes its client's lock for the entity: a request
// sent again (a client's retry, on this server or another) while the first is still open
// waits for the first to end, then reads its results. Should PostgreSQL still abort a request
// to end a deadlock (with other writers), it runs again.

#include "common/identifier.h"
#include "common/logging.h"
#include "server/backend/pgpushrun.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlField>
#include <QSqlQuery>
#include <algorithm>
#include <cmath>
#include <memory>
#include <unordered_map>

namespace BatchSync {

namespace PgPush {

// SQLSTATE classes of errors that a change's own values cause: data exceptions (22) and
// integrity constraint violations (23). Any other failure fails the whole request.
bool isChangesFault(const QSqlError &error)
{
    const QString state = error.nativeErrorCode();
    return state.startsWith(QLatin1String("22")) || state.startsWith(QLatin1String("23"));
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

bool holdsNul(const PushChange &change)
{
    return std::any_of(change.values.cbegin(), change.values.cend(), [](const QVariant &value) {
        return value.typeId() == QMetaType::QString && value.toString().contains(QChar(0));
    });
}

QString textArray(const QStringList &items)
{
    ArrayText array;
    for (const QString &item : items)
        array.append(item);
    return array.take();
}

void ArrayText::append(const QString &text)
{
    m_text += m_text.isEmpty() ? QLatin1String("{\"") : QLatin1String(",\"");
    for (const QChar c : text) {
        if (c == QLatin1Char('"') || c == QLatin1Char('\\'))
            m_text += QLatin1Char('\\');
        m_text += c;
    }
    m_text += QLatin1Char('"');
}

bool ArrayText::append(const QVariant &value, bool isBool)
{
    if (value.isNull()) {
        m_text += m_text.isEmpty() ? QLatin1String("{NULL") : QLatin1String(",NULL");
        return true;
    }
    switch (value.typeId()) {
    case QMetaType::QString:
        append(value.toString());
        return true;
    case QMetaType::LongLong:
        // A bool field's value is 0 or 1 (ServerValues::columnValue).
        append(isBool ? QString::fromLatin1(value.toLongLong() != 0 ? "true" : "false")
                      : QString::number(value.toLongLong()));
        return true;
    case QMetaType::Bool:
        append(QString::fromLatin1(value.toBool() ? "true" : "false"));
        return true;
    case QMetaType::Double:
        if (!std::isfinite(value.toDouble()))
            return false;
        append(value.toString()); // as QPSQL writes a double, the shortest exact form
        return true;
    default:
        return false;
    }
}

QString ArrayText::take()
{
    QString text = m_text.isEmpty() ? QStringLiteral("{}") : m_text + QLatin1Char('}');
    m_text.clear();
    return text;
}

} // namespace PgPush

namespace {

// How many times a request that PostgreSQL aborted to end a deadlock (or to keep transactions
// serializable) is run; nothing of an aborted run is stored.
constexpr int PushAttempts = 8;

// The classes of the advisory locks of pushes (pg_advisory_xact_lock(int, int)): "BSpu" for a
// record, its key from recordKey(); "BSpe" for an entity, its key from recordKey(entity, {}).
constexpr int RecordLockClass = 0x42537075;
constexpr int EntityLockClass = 0x42537065;
// "BSpc": the lock of a client's pushes to an entity, its key from recordKey(entity, client).
constexpr int ClientLockClass = 0x42537063;
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

// 23505: results remembered by a request that the client's lock did not keep out (one of an
// older server, or of the same changeId for another entity); run again, the request reads them.
bool isTransient(const QString &state)
{
    return state == QLatin1String("40P01") || state == QLatin1String("40001")
        || state == QLatin1String("23505");
}

} // namespace

using PgPush::isChangesFault;
using PgPush::storedIdentifier;

PgServerStore::PushRun::PushRun(PgServerStore *store, Entity *entity, const QString &client)
    : m_store(store)
    , m_entity(entity)
    , m_client(storedIdentifier(client))
    , m_plain(store->database())
{
}

/*
    Forgets the results older than Push::RememberSeconds, a chunk at a time in the order of the
    index on their time: a plain DELETE ... WHERE at < ? reads the whole table whenever the
    planner's statistics make that look cheaper (with none, on a table of millions of results).
*/
bool PgServerStore::PushRun::prepare(QString *problem)
{
    m_now = QDateTime::currentSecsSinceEpoch();
    constexpr int Chunk = 10000;
    const QString sql = QStringLiteral("DELETE FROM %1._bs_pushes WHERE ctid = ANY(ARRAY(SELECT "
                                       "ctid FROM %1._bs_pushes WHERE at < ? ORDER BY at "
                                       "LIMIT %2))")
                            .arg(m_store->m_schema)
                            .arg(Chunk);
    do {
        if (!runInline(sql, { m_now - Push::RememberSeconds }, problem))
            return false;
    } while (m_query->numRowsAffected() == Chunk);
    return true;
}

/*
    Locks the records \a changes may change, by key in ascending order, until the transaction
    ends: after a shared lock of the entity, or instead with an exclusive one when they are too
    many. Then the client's lock for the entity, which keeps its other requests (its retries)
    out until this one has remembered its results.
*/
bool PgServerStore::PushRun::lockRecords(const QList<PushChange> &changes, QString *problem)
{
    QList<int> keys;
    keys.reserve(changes.size());
    for (const PushChange &change : changes) {
        if (change.rejection.isEmpty())
            keys.append(recordKey(m_entity->schema.name, change.id));
    }
    if (keys.isEmpty())
        return lockClient(changes, problem);
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
        return lockClient(changes, problem);
    QString array = QStringLiteral("{");
    for (int key : keys)
        array += QString::number(key) + QLatin1Char(',');
    array[array.size() - 1] = QLatin1Char('}');
    // unnest() gives the keys in the array's order, and count() locks each in turn.
    return runInline(QStringLiteral("SELECT count(pg_advisory_xact_lock(%1, k)) "
                                    "FROM unnest(CAST(? AS integer[])) AS k")
                         .arg(RecordLockClass),
                     { array }, problem)
        && lockClient(changes, problem);
}

// Taken after the records' locks, and no other lock after it but the rows': no request
// waits for a lock that one waiting for this one holds.
bool PgServerStore::PushRun::lockClient(const QList<PushChange> &changes, QString *problem)
{
    return changes.isEmpty()
        || run(QStringLiteral("SELECT pg_advisory_xact_lock(%1, %2)")
                   .arg(ClientLockClass)
                   .arg(recordKey(m_entity->schema.name, m_client)),
               {}, problem);
}

std::optional<QByteArray> PgServerStore::PushRun::decideUnderSavepoint(const PushChange &change,
                                                                       QString *problem)
{
    if (!change.rejection.isEmpty())
        return Push::rejected(change.changeId, change.rejection);
    if (PgPush::holdsNul(change))
        return Push::rejected(change.changeId, PgPush::NulRejection);
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

std::optional<QByteArray> PgServerStore::PushRun::decide(const PushChange &change, QSqlError *fault,
                                                         QString *problem)
{
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
    QString names = m_entity->idColumn;
    QString values = QStringLiteral("CAST(? AS %1)").arg(m_entity->idType);
    QString updates;
    for (const Entity::Field &field : m_entity->columns) {
        names += QLatin1String(", ") + field.column;
        values += QStringLiteral(", CAST(? AS %1)").arg(field.sqlType);
        updates += (updates.isEmpty() ? QString() : QStringLiteral(", ")) + field.column
            + QLatin1String(" = excluded.") + field.column;
    }
    if (updates.isEmpty()) // still a write: the trigger stamps it as a change
        updates = m_entity->idColumn + QLatin1String(" = excluded.") + m_entity->idColumn;
    // A create racing another server's create of the same id meets its row: the lock
    // taken by read() is not there to stop it, so the insert itself must not overwrite.
    const QString onConflict
        = change.base ? QStringLiteral("DO UPDATE SET ") + updates : QStringLiteral("DO NOTHING");
    if (!run(QStringLiteral("INSERT INTO %1(%2) VALUES(%3) ON CONFLICT (%4) %5 "
                            "RETURNING _bs_seq, _bs_changed_at")
                 .arg(m_entity->table, names, values, m_entity->idColumn, onConflict),
             rowBinds(change), problem, fault))
        return std::nullopt;
    if (!m_query->next()) {
        if (!read(change.id, &current, fault, problem))
            return std::nullopt;
        return Push::conflict(change.changeId, m_entity->schema, change.id, current);
    }
    return Push::applied(change.changeId, m_query->value(0).toString(),
                         m_query->value(1).toString());
}

// The values of a row that \a change writes: its id, then its fields in column order.
QVariantList PgServerStore::PushRun::rowBinds(const PushChange &change) const
{
    QVariantList binds { change.id };
    for (qsizetype i = 0; i < m_entity->columns.size(); ++i) {
        const QVariant &value = change.values.at(i);
        const bool isBool = m_entity->schema.fields.at(i).type == FieldType::Bool;
        binds.append(isBool && !value.isNull() ? QVariant(value.toLongLong() != 0) : value);
    }
    return binds;
}

// The live row (locked) or the tombstone of \a id.
bool PgServerStore::PushRun::read(const QString &id, StoredRecord *record, QSqlError *fault,
                                  QString *problem)
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

bool PgServerStore::PushRun::readTombstone(const QString &id, StoredRecord *record,
                                           QString *problem)
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
bool PgServerStore::PushRun::run(const QString &sql, const QVariantList &binds, QString *problem,
                                 QSqlError *fault)
{
    if (m_query)
        m_query->finish();
    m_failedState.clear();
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
    m_failedState = error.nativeErrorCode();
    *problem = m_store->errorText(error);
    if (problem->isEmpty())
        *problem = QStringLiteral("the database failed");
    if (unprepared) {
        m_query = nullptr;
        m_prepared.erase(sql);
    }
    return false;
}

/*
    Runs \a sql with \a binds written into it as literals, formatted by the driver as it formats
    them for a prepared statement: one round trip, where a statement prepared for one run takes
    three (prepare, run, deallocate). A ? inside a quoted identifier or literal stays as it is.
*/
bool PgServerStore::PushRun::runInline(const QString &sql, const QVariantList &binds,
                                       QString *problem, QSqlError *fault)
{
    const QSqlDriver *driver = m_store->database().driver();
    QString text;
    text.reserve(sql.size() + 64);
    qsizetype next = 0;
    QChar quote;
    for (const QChar c : sql) {
        if (!quote.isNull()) {
            quote = c == quote ? QChar() : quote;
        } else if (c == QLatin1Char('"') || c == QLatin1Char('\'')) {
            quote = c;
        } else if (c == QLatin1Char('?') && next < binds.size()) {
            QSqlField field(QString(), binds.at(next).metaType());
            field.setValue(binds.at(next++));
            text += driver->formatValue(field);
            continue;
        }
        text += c;
    }
    return run(text, {}, problem, fault);
}

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
                if (run.lockRecords(request.changes, problem) && run.prepare(problem))
                    objects = run.results(request.changes, problem);
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
