// A push request's changes decided a few statements at a time, not one change at a time: the
// remembered results of its changeIds read at once, then runs of changes of distinct records (a
// record that comes again starts the next run, which sees what the one before wrote) read, locked
// and written together, and every result remembered at once.
//
// A run is written under a savepoint. When PostgreSQL refuses one of its values (a constraint,
// a type its column cannot take), or when its ids are not each a record of their own as the
// database compares them (an integer id written "07", a collation that folds case), the run is
// rolled back and its changes are decided again one at a time (pgpush.cpp), where such a
// change is rejected alone.

#include "server/backend/pgpushrun.h"

#include <QSet>
#include <algorithm>
#include <numeric>

namespace BatchSync {

namespace {

using PgPush::storedIdentifier;
using PgPush::textArray;

// An id as the database reads it back, for the column's type: the form write() answers with.
QString asText(const QString &expression)
{
    return QStringLiteral("CAST(%1 AS text)").arg(expression);
}

} // namespace

std::optional<QList<QByteArray>> PgServerStore::PushRun::results(const QList<PushChange> &changes,
                                                                 QString *problem)
{
    QHash<QString, QByteArray> remembered; // by changeId: the results of earlier requests
    if (!readRemembered(changes, &remembered, problem))
        return std::nullopt;
    QHash<QString, const PushChange *> firsts; // by changeId: the change decided for it
    QHash<const PushChange *, QByteArray> decided;
    QList<const PushChange *> segment;
    QSet<QString> segmentIds;
    const auto decideSegmentSoFar = [&] {
        const bool ok = segment.isEmpty() || decideSegment(segment, &decided, problem);
        segment.clear();
        segmentIds.clear();
        return ok;
    };
    for (const PushChange &change : changes) {
        if (remembered.contains(change.changeId) || firsts.contains(change.changeId))
            continue; // a changeId seen earlier in the request gets the same result
        firsts.insert(change.changeId, &change);
        if (!change.rejection.isEmpty()) {
            decided.insert(&change, Push::rejected(change.changeId, change.rejection));
        } else if (PgPush::holdsNul(change)) {
            decided.insert(&change, Push::rejected(change.changeId, PgPush::NulRejection));
        } else {
            if (segmentIds.contains(change.id) && !decideSegmentSoFar())
                return std::nullopt;
            segment.append(&change);
            segmentIds.insert(change.id);
        }
    }
    if (!decideSegmentSoFar())
        return std::nullopt;

    QHash<QString, QByteArray> results = remembered;
    for (auto it = firsts.cbegin(); it != firsts.cend(); ++it)
        results.insert(it.key(), decided.value(it.value()));
    if (!remember(results, remembered, problem))
        return std::nullopt;
    QList<QByteArray> objects;
    objects.reserve(changes.size());
    for (const PushChange &change : changes)
        objects.append(results.value(change.changeId));
    return objects;
}

/*
    The results that earlier requests remembered for the changeIds of \a changes, into
    \a remembered. The caller holds the lock of the client's pushes to this entity
    (lockRecords()): a request with the same changeIds (a client's retry, on this server or
    another) has ended, or waits for this one to end and then reads its results.
*/
bool PgServerStore::PushRun::readRemembered(const QList<PushChange> &changes,
                                            QHash<QString, QByteArray> *remembered,
                                            QString *problem)
{
    QHash<QString, QString> changeIds; // by stored form
    QStringList stored;
    for (const PushChange &change : changes) {
        const QString id = storedIdentifier(change.changeId);
        if (!changeIds.contains(id)) {
            changeIds.insert(id, change.changeId);
            stored.append(id);
        }
    }
    if (stored.isEmpty())
        return true;
    // Each changeId looked up by the primary key: OFFSET 0 keeps the planner from making the
    // lookups a join, which reads the whole table.
    if (!runInline(QStringLiteral("SELECT u.c, p.result FROM unnest(CAST(? AS text[])) AS u(c) "
                                  "CROSS JOIN LATERAL (SELECT result FROM %1._bs_pushes p WHERE "
                                  "p.client = CAST(? AS text) AND p.change_id = u.c OFFSET 0) AS p")
                       .arg(m_store->m_schema),
                   { textArray(stored), m_client }, problem))
        return false;
    while (m_query->next()) {
        remembered->insert(changeIds.value(m_query->value(0).toString()),
                           m_query->value(1).toString().toUtf8());
    }
    return true;
}

// Decides \a segment, changes of distinct records, together, or else one at a time.
bool PgServerStore::PushRun::decideSegment(const QList<const PushChange *> &segment,
                                           QHash<const PushChange *, QByteArray> *results,
                                           QString *problem)
{
    if (!run(QStringLiteral("SAVEPOINT bs_segment"), {}, problem))
        return false;
    QSqlError fault;
    QHash<const PushChange *, QByteArray> together;
    const SetOutcome outcome = decideSet(segment, &together, &fault, problem);
    if (outcome == SetOutcome::Decided) {
        results->insert(together);
        return run(QStringLiteral("RELEASE SAVEPOINT bs_segment"), {}, problem);
    }
    // 21000: a statement met one row twice (ids the database takes for one record).
    if (outcome == SetOutcome::Failed && !PgPush::isChangesFault(fault)
        && fault.nativeErrorCode() != QLatin1String("21000"))
        return false;
    problem->clear();
    if (!run(QStringLiteral("ROLLBACK TO SAVEPOINT bs_segment"), {}, problem))
        return false;
    for (const PushChange *change : segment) {
        std::optional<QByteArray> result = decideUnderSavepoint(*change, problem);
        if (!result)
            return false;
        results->insert(change, std::move(*result));
    }
    return run(QStringLiteral("RELEASE SAVEPOINT bs_segment"), {}, problem);
}

PgServerStore::PushRun::SetOutcome
PgServerStore::PushRun::decideSet(const QList<const PushChange *> &segment,
                                  QHash<const PushChange *, QByteArray> *results, QSqlError *fault,
                                  QString *problem)
{
    QStringList canonical;
    QList<StoredRecord> current;
    const SetOutcome outcome = readCurrent(segment, &canonical, &current, fault, problem);
    if (outcome != SetOutcome::Decided)
        return outcome;
    QList<const PushChange *> writes; // in request order, so that versions grow in it
    QStringList writeIds;
    for (qsizetype i = 0; i < segment.size(); ++i) {
        const PushChange &change = *segment.at(i);
        const StoredRecord &record = current.at(i);
        const bool live = record.exists && !record.deleted;
        if (change.base ? !live || record.version != *change.base : live) {
            results->insert(&change,
                            Push::conflict(change.changeId, m_entity->schema, change.id, record));
        } else if (change.deleted && !change.base) {
            results->insert(&change, Push::appliedUnchanged(change.changeId, record));
        } else {
            writes.append(&change);
            writeIds.append(canonical.at(i));
        }
    }
    QHash<QString, std::pair<QString, QString>> written; // by id: version, changedAt
    QList<const PushChange *> deletes;
    for (qsizetype next = 0; next < writes.size();) {
        if (writes.at(next)->deleted) {
            deletes.append(writes.at(next));
            if (!runInline(QStringLiteral("DELETE FROM %1 WHERE %2 = CAST(? AS %3)")
                               .arg(m_entity->table, m_entity->idColumn, m_entity->idType),
                           { writes.at(next)->id }, problem, fault))
                return SetOutcome::Failed;
            ++next;
            continue;
        }
        qsizetype end = next;
        while (end < writes.size() && !writes.at(end)->deleted)
            ++end;
        const SetOutcome outcome = write(writes.mid(next, end - next),
                                         writeIds.mid(next, end - next), &written, fault, problem);
        if (outcome != SetOutcome::Decided)
            return outcome;
        next = end;
    }
    if (!readTombstones(deletes, results, fault, problem))
        return SetOutcome::Failed;
    for (qsizetype i = 0; i < writes.size(); ++i) {
        const PushChange &change = *writes.at(i);
        if (change.deleted)
            continue;
        const auto row = written.constFind(writeIds.at(i));
        if (row != written.cend()) {
            results->insert(&change, Push::applied(change.changeId, row->first, row->second));
            continue;
        }
        // Not written: a create that met a row another writer inserted meanwhile.
        StoredRecord record;
        if (!read(change.id, &record, fault, problem))
            return SetOutcome::Failed;
        results->insert(&change,
                        Push::conflict(change.changeId, m_entity->schema, change.id, record));
    }
    return SetOutcome::Decided;
}

/*
    The current record of each change of \a segment (its live row, locked, or its tombstone),
    read in one statement in the order of their ids, and each id as the database reads it back
    for the column's type. OneByOne when two changes name one record in the database's eyes, or
    a live row's id reads back otherwise than its change's id does.
*/
PgServerStore::PushRun::SetOutcome
PgServerStore::PushRun::readCurrent(const QList<const PushChange *> &segment,
                                    QStringList *canonical, QList<StoredRecord> *current,
                                    QSqlError *fault, QString *problem)
{
    QStringList ids;
    ids.reserve(segment.size());
    for (const PushChange *change : segment)
        ids.append(change->id);
    // Each id looked up by the indexes, its row locked, in the ids' order (the same in every
    // server). OFFSET 0 (and FOR UPDATE) keep the planner from making the lookups joins, which
    // read whole tables.
    QList<qsizetype> order(segment.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](qsizetype a, qsizetype b) { return ids.at(a) < ids.at(b); });
    QStringList sortedIds;
    sortedIds.reserve(order.size());
    for (qsizetype index : std::as_const(order))
        sortedIds.append(ids.at(index));
    const QString cast = QStringLiteral("CAST(u.x AS %1)").arg(m_entity->idType);
    QString live = QStringLiteral("SELECT %1, t._bs_seq, t._bs_changed_at")
                       .arg(asText(QLatin1String("t.") + m_entity->idColumn));
    for (const Entity::Field &field : m_entity->columns)
        live += QLatin1String(", ")
            + PgSql::selectExpression(QLatin1String("t.") + field.column, field.sqlType);
    live += QStringLiteral(" FROM %1 t WHERE t.%2 = %3 FOR UPDATE")
                .arg(m_entity->table, m_entity->idColumn, cast);
    const QString sql
        = QStringLiteral(
              "SELECT u.n, %1, b.seq, b.changed_at, r.* FROM unnest(CAST(? AS text[])) "
              "WITH ORDINALITY AS u(x, n) LEFT JOIN LATERAL (SELECT b.seq, "
              "b.changed_at FROM %2._bs_tombstones b WHERE b.entity = CAST(? AS text) "
              "AND b.id = u.x OFFSET 0) AS b ON true LEFT JOIN LATERAL (%3) AS r ON true")
              .arg(asText(cast), m_store->m_schema, live);
    if (!runInline(sql, { textArray(sortedIds), m_entity->schema.name }, problem, fault))
        return SetOutcome::Failed;
    *canonical = QStringList(segment.size());
    *current = QList<StoredRecord>(segment.size());
    QSet<QString> distinct, liveIds;
    while (m_query->next()) {
        const qsizetype index = order.at(m_query->value(0).toLongLong() - 1);
        (*canonical)[index] = m_query->value(1).toString();
        distinct.insert(canonical->at(index));
        StoredRecord &record = (*current)[index];
        if (!m_query->value(4).isNull()) {
            const QString id = m_query->value(4).toString();
            if (id != canonical->at(index) || liveIds.contains(id))
                return SetOutcome::OneByOne;
            liveIds.insert(id);
            record.exists = true;
            record.version = m_query->value(5).toString();
            record.changedAt = m_query->value(6).toString();
            for (qsizetype i = 0; i < m_entity->columns.size(); ++i)
                record.values.append(m_query->value(int(7 + i)));
        } else if (!m_query->value(2).isNull()) {
            record.exists = true;
            record.deleted = true;
            record.version = m_query->value(2).toString();
            record.changedAt = m_query->value(3).toString();
        }
    }
    if (distinct.size() != segment.size())
        return SetOutcome::OneByOne;
    return SetOutcome::Decided;
}

/*
    Writes the rows of \a changes in their order, in one statement: the creates, and the
    updates, whose ids are \a ids. A create does not overwrite a row another writer inserted
    meanwhile. \a written receives the version and time of each row written, by its id as the
    database reads it back. The values go as one text array per column, each cast to its
    column's type as the one-change statement casts its values: OneByOne when a value has no
    text form here.
*/
PgServerStore::PushRun::SetOutcome
PgServerStore::PushRun::write(const QList<const PushChange *> &changes, const QStringList &ids,
                              QHash<QString, std::pair<QString, QString>> *written,
                              QSqlError *fault, QString *problem)
{
    const qsizetype columns = m_entity->columns.size();
    QList<PgPush::ArrayText> arrays(1 + columns);
    QStringList updated;
    for (qsizetype i = 0; i < changes.size(); ++i) {
        const PushChange &change = *changes.at(i);
        arrays[0].append(change.id);
        for (qsizetype c = 0; c < columns; ++c) {
            const bool isBool = m_entity->schema.fields.at(c).type == FieldType::Bool;
            if (!arrays[1 + c].append(change.values.at(c), isBool))
                return SetOutcome::OneByOne;
        }
        if (change.base)
            updated.append(ids.at(i));
    }
    QString names = m_entity->idColumn;
    QString casts = QStringLiteral("CAST(u.c0 AS %1)").arg(m_entity->idType);
    QString unnest = QStringLiteral("CAST(? AS text[])");
    QString aliases = QStringLiteral("c0");
    QString updates;
    for (qsizetype c = 0; c < columns; ++c) {
        const Entity::Field &field = m_entity->columns.at(c);
        names += QLatin1String(", ") + field.column;
        casts += QStringLiteral(", CAST(u.c%1 AS %2)").arg(c + 1).arg(field.sqlType);
        unnest += QLatin1String(", CAST(? AS text[])");
        aliases += QStringLiteral(", c%1").arg(c + 1);
        updates += (updates.isEmpty() ? QString() : QStringLiteral(", ")) + field.column
            + QLatin1String(" = excluded.") + field.column;
    }
    if (updates.isEmpty()) // still a write: the trigger stamps it as a change
        updates = m_entity->idColumn + QLatin1String(" = excluded.") + m_entity->idColumn;
    QVariantList binds;
    for (PgPush::ArrayText &array : arrays)
        binds.append(array.take());
    binds.append(textArray(updated));
    // ORDER BY: rows written, and so versions taken, in request order.
    if (!runInline(
            QStringLiteral("INSERT INTO %1 AS t(%2) SELECT %3 FROM unnest(%4) WITH ORDINALITY "
                           "AS u(%5, n) ORDER BY u.n ON CONFLICT (%6) DO UPDATE SET %7 "
                           "WHERE %8 = ANY(CAST(? AS text[])) RETURNING %8, t._bs_seq, "
                           "t._bs_changed_at")
                .arg(m_entity->table, names, casts, unnest, aliases, m_entity->idColumn, updates,
                     asText(QLatin1String("t.") + m_entity->idColumn)),
            binds, problem, fault))
        return SetOutcome::Failed;
    while (m_query->next()) {
        written->insert(m_query->value(0).toString(),
                        { m_query->value(1).toString(), m_query->value(2).toString() });
    }
    return SetOutcome::Decided;
}

// The results of \a changes, deletions done: each gives its tombstone's version and time.
bool PgServerStore::PushRun::readTombstones(const QList<const PushChange *> &changes,
                                            QHash<const PushChange *, QByteArray> *results,
                                            QSqlError *fault, QString *problem)
{
    if (changes.isEmpty())
        return true;
    QStringList ids;
    for (const PushChange *change : changes)
        ids.append(change->id);
    if (!runInline(
            QStringLiteral("SELECT id, seq, changed_at FROM %1._bs_tombstones WHERE entity = "
                           "CAST(? AS text) AND id = ANY(CAST(? AS text[]))")
                .arg(m_store->m_schema),
            { m_entity->schema.name, textArray(ids) }, problem, fault))
        return false;
    QHash<QString, std::pair<QString, QString>> tombstones;
    while (m_query->next()) {
        tombstones.insert(m_query->value(0).toString(),
                          { m_query->value(1).toString(), m_query->value(2).toString() });
    }
    for (const PushChange *change : changes) {
        const std::pair<QString, QString> tombstone = tombstones.value(change->id);
        results->insert(change, Push::applied(change->changeId, tombstone.first, tombstone.second));
    }
    return true;
}

// Remembers the results of the changeIds this request decided (not those in \a remembered).
bool PgServerStore::PushRun::remember(const QHash<QString, QByteArray> &results,
                                      const QHash<QString, QByteArray> &remembered,
                                      QString *problem)
{
    QStringList ids, objects;
    for (auto it = results.cbegin(); it != results.cend(); ++it) {
        if (remembered.contains(it.key()))
            continue;
        ids.append(storedIdentifier(it.key()));
        objects.append(QString::fromUtf8(it.value()));
    }
    if (ids.isEmpty())
        return true;
    return runInline(QStringLiteral("INSERT INTO %1._bs_pushes(client, change_id, result, at) "
                                    "SELECT CAST(? AS text), u.c, u.r, CAST(? AS bigint) "
                                    "FROM unnest(CAST(? AS text[]), CAST(? AS text[])) AS u(c, r)")
                         .arg(m_store->m_schema),
                     { m_client, m_now, textArray(ids), textArray(objects) }, problem);
}

} // namespace BatchSync
