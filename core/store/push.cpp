#include "common/decimal.h"
#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "store/localstore_p.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocale>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <limits>

/*
    The push of local edits: the pending changes read and frozen for sending, and the
    server's results applied to _sync_pending, the entity's table and _sync_conflicts, each
    batch in one transaction. A change's number (sent_seq) names it on the wire, so a batch
    sent again after a crash carries the same changeIds and the server applies nothing twice.
*/

namespace BatchSync {

using namespace StorePrivate;

namespace {

// What a batch of changes to push may cost in memory, about: its values here, its request
// body, the server's answer and its results. Large batches of large records are cut short
// so that the client's memory stays bounded whatever the batch size.
constexpr qint64 PushBatchBudgetBytes = 4 * 1024 * 1024;
constexpr qint64 PushChangeOverheadBytes = 512; // strings, variants, list and result per change
constexpr qint64 PushBytesPerDataByte = 4; // UTF-16 values, the UTF-8 body and its answer

// A value of a column read back as the push sends it: by its SQLite storage class, so that a
// value another program stored in a column of another type reaches the server as it is (and
// is rejected there in words, not silently converted here).
QVariant columnValue(sqlite3_stmt *statement, int column, FieldType type)
{
    switch (sqlite3_column_type(statement, column)) {
    case SQLITE_NULL:
        return QVariant();
    case SQLITE_INTEGER: {
        const qint64 value = sqlite3_column_int64(statement, column);
        if (type == FieldType::Decimal)
            return QString::number(value);
        if (type == FieldType::Bool && (value == 0 || value == 1))
            return QVariant(value == 1);
        if (type == FieldType::Real)
            return QVariant(double(value));
        return QVariant(value);
    }
    case SQLITE_FLOAT: {
        const double value = sqlite3_column_double(statement, column);
        if (type != FieldType::Decimal)
            return QVariant(value);
        // A decimal a program stored as a number (or a column made REAL by an older version):
        // its shortest exact text, in plain notation.
        const QString text = QString::number(value, 'g', QLocale::FloatingPointShortest);
        return Decimal::fromJsonNumber(text).value_or(text);
    }
    default: {
        const auto *text = static_cast<const QChar *>(sqlite3_column_text16(statement, column));
        const QString value(text, sqlite3_column_bytes16(statement, column) / 2);
        // SQLite's own text of a large number has an exponent ("1.0e+25").
        if (type == FieldType::Decimal && !Decimal::isValid(value))
            return Decimal::fromJsonNumber(value).value_or(value);
        return value;
    }
    }
}

// A JSON value of a record kept as JSON (a before image, a conflict) as a value to bind.
QVariant boundValue(const QJsonValue &value)
{
    switch (value.type()) {
    case QJsonValue::Bool:
        return QVariant(value.toBool());
    case QJsonValue::Double: {
        const qint64 integer = value.toInteger(std::numeric_limits<qint64>::min());
        if (integer != std::numeric_limits<qint64>::min() || value.toDouble() == double(integer))
            return QVariant(integer);
        return QVariant(value.toDouble());
    }
    case QJsonValue::String:
        return QVariant(value.toString());
    default:
        return QVariant();
    }
}

} // namespace

QString StorePrivate::recordJson(const EntitySchema &schema, const QVariantList &values)
{
    QJsonObject object;
    for (qsizetype i = 0; i < schema.fields.size(); ++i)
        object.insert(schema.fields.at(i).name, QJsonValue::fromVariant(values.value(i)));
    return QString::fromUtf8(QJsonDocument(object).toJson(QJsonDocument::Compact));
}

qint64 LocalStore::pendingCount(const QString &entity, SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return -1;
    QSqlQuery query(connection(m_connectionName));
    if (!execPrepared(query, QStringLiteral("SELECT count(*) FROM _sync_pending WHERE entity = ?"),
                      { entity })
        || !query.next()) {
        storageFailure(error,
                       QStringLiteral("Could not read the local changes of \"%1\"").arg(entity),
                       query.lastError());
        return -1;
    }
    return query.value(0).toLongLong();
}

QString LocalStore::clientId(SyncError *error)
{
    clearError(error);
    if (!checkUsable(error))
        return QString();
    QSqlQuery query(connection(m_connectionName));
    if (!query.exec(QStringLiteral("SELECT value FROM _sync_meta WHERE key = 'client_id'"))
        || !query.next()) {
        storageFailure(error, QStringLiteral("Could not read the local database's client id"),
                       query.lastError());
        return QString();
    }
    return query.value(0).toString();
}

bool LocalStore::takePushBatch(const EntitySchema &schema, int limit, QList<LocalChange> *changes,
                               SyncError *error, const QString &after)
{
    changes->clear();
    clearError(error);
    if (!checkUsable(error))
        return false;
    const QString problem = schemaProblem(schema);
    if (!problem.isEmpty())
        return fail(error, ErrorCategory::Protocol, problem);
    const QString what
        = QStringLiteral("Could not read the local changes of \"%1\"").arg(schema.name);
    const QString id = clientId(error);
    if (id.isEmpty())
        return false;

    QString columns;
    for (const FieldSpec &field : schema.fields)
        columns += QStringLiteral(", t.") + Identifier::quoted(field.name);
    // In id order, which the primary key gives without sorting; a change sent before and
    // not answered keeps its number.
    Sqlite::Statement select;
    Sqlite::Statement freeze;
    sqlite3 *db = m_statements->db;
    Write write(*this, what, error);
    if (!write.begin())
        return false;
    if (!select.prepare(db,
                        QStringLiteral("SELECT p.id, p.base, p.deleted, "
                                       "coalesce(p.sent_seq, p.change_seq), t.\"id\" IS NULL%1 "
                                       "FROM _sync_pending AS p LEFT JOIN %2 AS t "
                                       "ON t.\"id\" = p.id WHERE p.entity = ?1 AND p.id > ?3 "
                                       "ORDER BY p.id LIMIT ?2")
                            .arg(columns, Identifier::quoted(schema.name)))
        || !freeze.prepare(db,
                           QStringLiteral("UPDATE _sync_pending SET sent_seq = change_seq "
                                          "WHERE entity = ?1 AND id > ?2 AND id <= ?3 "
                                          "AND sent_seq IS NULL"))) {
        const Sqlite::Statement &failed = select.isPrepared() ? freeze : select;
        return storageFailure(error, what, failed.errorCode(), failed.errorText());
    }
    // A table in its first sync has no index on id yet, and may hold superseded versions:
    // its changes wait for the sync to complete.
    bool bulk = false;
    if (!bulkLoadState(schema.name, &bulk, what, error))
        return false;
    if (bulk) {
        qCInfo(lcStore) << "the local changes of" << schema.name
                        << "wait for its first sync to complete";
        return write.commit();
    }
    if (!select.bindText(1, schema.name) || !select.bindInt(2, std::max(1, limit))
        || !select.bindText(3, QStringView(after), false)) // "" sorts before every id
        return storageFailure(error, what, select.errorCode(), select.errorText());
    const int fieldCount = int(schema.fields.size());
    qint64 cost = 0;
    Sqlite::Step step = Sqlite::Step::Done;
    while (cost < PushBatchBudgetBytes && (step = select.step()) == Sqlite::Step::Row) {
        sqlite3_stmt *row = select.handle();
        qint64 dataBytes = sqlite3_column_bytes(row, 0);
        // A number counts as 8 bytes: its byte count would have SQLite write it as text.
        for (int i = 0; i < fieldCount; ++i) {
            const int type = sqlite3_column_type(row, 5 + i);
            dataBytes += type == SQLITE_TEXT || type == SQLITE_BLOB
                ? sqlite3_column_bytes(row, 5 + i)
                : 8;
        }
        cost += PushChangeOverheadBytes + PushBytesPerDataByte * dataBytes;
        LocalChange change;
        change.id = select.textValue(0);
        change.base = select.isNull(1) ? QString() : select.textValue(1);
        // A record gone without a deletion recorded (someone wrote with triggers off) is
        // sent as deleted: the local table has nothing else to say of it.
        change.deleted = select.intValue(2) != 0 || select.intValue(4) != 0;
        change.changeId = id + QLatin1Char(':') + QString::number(select.intValue(3));
        if (!change.deleted) {
            change.values.reserve(fieldCount);
            for (int i = 0; i < fieldCount; ++i)
                change.values.append(columnValue(row, 5 + i, schema.fields.at(i).type));
        }
        changes->append(std::move(change));
    }
    if (step == Sqlite::Step::Failed)
        return storageFailure(error, what, select.errorCode(), select.errorText());
    select.reset();
    // Frozen once the reading is over: a table is not written under a statement reading it.
    // The batch is every change after \a after up to its last id, so one statement freezes it.
    if (!changes->isEmpty()
        && (!freeze.bindText(1, schema.name) || !freeze.bindText(2, QStringView(after), false)
            || !freeze.bindText(3, changes->constLast().id) || !freeze.exec()))
        return storageFailure(error, what, freeze.errorCode(), freeze.errorText());
    return write.commit();
}

bool LocalStore::applyPushResults(const EntitySchema &schema, ConflictPolicy policy,
                                  const QList<LocalChange> &sent, const QList<PushResult> &results,
                                  PushOutcome *outcome, SyncError *error)
{
    *outcome = PushOutcome();
    clearError(error);
    if (!checkUsable(error))
        return false;
    const QString what
        = QStringLiteral("Could not save the push results of \"%1\"").arg(schema.name);
    if (results.size() != sent.size()) {
        return fail(error, ErrorCategory::Protocol,
                    QStringLiteral("%1: the server answered %2 results for %3 changes")
                        .arg(what)
                        .arg(results.size())
                        .arg(sent.size()));
    }
    for (qsizetype i = 0; i < sent.size(); ++i) {
        if (results.at(i).changeId != sent.at(i).changeId) {
            return fail(error, ErrorCategory::Protocol,
                        QStringLiteral("%1: result %2 is for change \"%3\", not \"%4\"")
                            .arg(what)
                            .arg(i + 1)
                            .arg(Identifier::printable(results.at(i).changeId),
                                 Identifier::printable(sent.at(i).changeId)));
        }
        const PushResult &result = results.at(i);
        if (result.status == PushResult::Status::Conflict && !result.current.deleted
            && result.current.values.size() != schema.fields.size()) {
            return fail(error, ErrorCategory::Protocol,
                        QStringLiteral("%1: the server's record \"%2\" has %3 values but the "
                                       "entity has %4 fields")
                            .arg(what, Identifier::printable(sent.at(i).id))
                            .arg(result.current.values.size())
                            .arg(schema.fields.size()));
        }
    }
    EntityStatements *statements = entityStatements(schema, error);
    if (!statements)
        return false;

    sqlite3 *db = m_statements->db;
    Write write(*this, what, error);
    if (!write.beginUncaptured(schema.name))
        return false;
    bool bulk = false;
    if (!bulkLoadState(schema.name, &bulk, what, error))
        return false;
    if (bulk) {
        return fail(error, ErrorCategory::Storage,
                    QStringLiteral("%1: the entity's first sync is not complete").arg(what));
    }

    const QString table = Identifier::quoted(schema.name);
    Sqlite::Statement pendingRow;
    Sqlite::Statement forget;
    Sqlite::Statement settle;
    Sqlite::Statement rebase;
    Sqlite::Statement resend;
    Sqlite::Statement stamp;
    Sqlite::Statement conflict;
    const struct
    {
        Sqlite::Statement *statement;
        QString sql;
    } prepared[] = {
        { &pendingRow,
          QStringLiteral("SELECT change_seq, sent_seq, resent, before FROM _sync_pending "
                         "WHERE entity = ?1 AND id = ?2") },
        { &forget, QStringLiteral("DELETE FROM _sync_pending WHERE entity = ?1 AND id = ?2") },
        // Applied and not written since: the common case, settled in one statement.
        { &settle,
          QStringLiteral("DELETE FROM _sync_pending WHERE entity = ?1 AND id = ?2 "
                         "AND sent_seq = change_seq") },
        // Applied, but written again meanwhile: the new write goes on top of the new version.
        { &rebase,
          QStringLiteral("UPDATE _sync_pending SET base = ?3, sent_seq = NULL, created = ?4, "
                         "before = ?5 WHERE entity = ?1 AND id = ?2") },
        // Client wins: the same record once more, under a new number, on the server's version.
        { &resend,
          QStringLiteral("UPDATE _sync_pending SET base = ?3, sent_seq = NULL, created = ?4, "
                         "before = ?5, resent = 1, change_seq = (SELECT value FROM _sync_meta "
                         "WHERE key = 'change_seq') WHERE entity = ?1 AND id = ?2") },
        { &stamp,
          QStringLiteral("UPDATE %1 SET \"%2\" = ?2, \"%3\" = ?3 WHERE \"id\" = ?1")
              .arg(table, versionColumn, changedAtColumn) },
        { &conflict,
          QStringLiteral("INSERT INTO _sync_conflicts (entity, id, kind, local, server, error, "
                         "at, base, server_version, resolution) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)") },
    };
    for (const auto &[statement, sql] : prepared) {
        if (!statement->prepare(db, sql))
            return storageFailure(error, what, statement->errorCode(), statement->errorText());
    }
    Sqlite::Statement nextSeq;
    if (!nextSeq.prepare(db,
                         QStringLiteral("UPDATE _sync_meta SET value = value + 1 "
                                        "WHERE key = 'change_seq'")))
        return storageFailure(error, what, nextSeq.errorCode(), nextSeq.errorText());
    const auto failed = [&](const Sqlite::Statement &statement, const QString &id) {
        return storageFailure(
            error, QStringLiteral("%1 (record \"%2\")").arg(what, Identifier::printable(id)),
            statement.errorCode(), statement.errorText());
    };
    const auto prepare = [&](Sqlite::Statement &statement, const QString &sql) {
        return statement.isPrepared() || statement.prepare(db, sql, SQLITE_PREPARE_PERSISTENT);
    };
    // The local row becomes \a record (its values, version and changedAt), or goes.
    const auto writeRow = [&](const QString &id, bool deleted, const QVariantList &values,
                              const QString &changedAt, const QString &version) {
        if (deleted) {
            Sqlite::Statement &remove = statements->remove;
            return prepare(remove, statements->removeSql) && remove.bindText(1, id)
                && remove.exec();
        }
        Sqlite::Statement &upsert = statements->upsert;
        bool bound = prepare(upsert, statements->upsertSql) && upsert.bindText(1, id);
        for (qsizetype i = 0; bound && i < schema.fields.size(); ++i)
            bound = upsert.bindValue(int(i) + 2, values.value(i));
        const int changedAtIndex = int(schema.fields.size()) + 2;
        return bound && upsert.bindTextOrNull(changedAtIndex, changedAt)
            && upsert.bindTextOrNull(changedAtIndex + 1, version) && upsert.exec();
    };
    const QString now = Timestamp::now();

    const auto stampApplied = [&](const LocalChange &change, const PushResult &result) {
        return change.deleted
            || (stamp.bindText(1, change.id) && stamp.bindTextOrNull(2, result.version)
                && stamp.bindTextOrNull(3, result.changedAt) && stamp.exec());
    };

    for (qsizetype i = 0; i < sent.size(); ++i) {
        const LocalChange &change = sent.at(i);
        const PushResult &result = results.at(i);
        if (result.status == PushResult::Status::Applied) {
            if (!settle.bindText(1, schema.name) || !settle.bindText(2, change.id)
                || !settle.exec())
                return failed(settle, change.id);
            if (settle.changes() == 1) {
                ++outcome->applied;
                if (!stampApplied(change, result))
                    return failed(stamp, change.id);
                continue;
            }
        }
        if (!pendingRow.bindText(1, schema.name) || !pendingRow.bindText(2, change.id))
            return failed(pendingRow, change.id);
        const Sqlite::Step step = pendingRow.step();
        if (step == Sqlite::Step::Failed)
            return failed(pendingRow, change.id);
        if (step == Sqlite::Step::Done) {
            pendingRow.reset();
            continue; // answered already, by a batch of an earlier run
        }
        const qint64 changeSeq = pendingRow.intValue(0);
        const qint64 sentSeq = pendingRow.isNull(1) ? -1 : pendingRow.intValue(1);
        const bool resentOnce = pendingRow.intValue(2) != 0;
        const QString before = pendingRow.isNull(3) ? QString() : pendingRow.textValue(3);
        pendingRow.reset();
        const bool writtenSince = changeSeq != sentSeq;
        const bool bindPending = forget.bindText(1, schema.name) && forget.bindText(2, change.id);
        if (!bindPending)
            return failed(forget, change.id);

        // The local record as JSON, made only when kept (most changes are applied as sent).
        const auto local
            = [&] { return change.deleted ? QString() : recordJson(schema, change.values); };
        const auto keepConflict
            = [&](const QString &kind, const QString &server, const QString &serverVersion,
                  const QString &reason, const QString &resolution) {
                  return conflict.bindText(1, schema.name) && conflict.bindText(2, change.id)
                      && conflict.bindText(3, kind) && conflict.bindTextOrNull(4, local())
                      && conflict.bindTextOrNull(5, server) && conflict.bindTextOrNull(6, reason)
                      && conflict.bindText(7, now) && conflict.bindTextOrNull(8, change.base)
                      && conflict.bindTextOrNull(9, serverVersion)
                      && conflict.bindText(10, resolution) && conflict.exec();
              };

        switch (result.status) {
        case PushResult::Status::Applied:
            ++outcome->applied;
            if (!writtenSince) {
                if (!forget.exec())
                    return failed(forget, change.id);
            } else if (!rebase.bindText(1, schema.name) || !rebase.bindText(2, change.id)
                       || !rebase.bindTextOrNull(3, change.deleted ? QString() : result.version)
                       || !rebase.bindInt(4, change.deleted ? 1 : 0)
                       || !rebase.bindTextOrNull(5, local()) || !rebase.exec()) {
                return failed(rebase, change.id);
            }
            if (!stampApplied(change, result))
                return failed(stamp, change.id);
            break;
        case PushResult::Status::Conflict: {
            ++outcome->conflicts;
            const Change &current = result.current;
            const QString server = current.deleted ? QString() : recordJson(schema, current.values);
            if (policy == ConflictPolicy::ClientWins && !resentOnce) {
                if (!keepConflict(QStringLiteral("conflict"), server, current.version, QString(),
                                  QStringLiteral("resent")))
                    return failed(conflict, change.id);
                if (!nextSeq.exec())
                    return failed(nextSeq, change.id);
                if (!resend.bindText(1, schema.name) || !resend.bindText(2, change.id)
                    || !resend.bindTextOrNull(3, current.deleted ? QString() : current.version)
                    || !resend.bindInt(4, current.deleted ? 1 : 0)
                    || !resend.bindTextOrNull(5, server) || !resend.exec())
                    return failed(resend, change.id);
                ++outcome->resent;
                break;
            }
            if (!keepConflict(QStringLiteral("conflict"), server, current.version, QString(),
                              QStringLiteral("server")))
                return failed(conflict, change.id);
            if (!forget.exec())
                return failed(forget, change.id);
            if (!writeRow(change.id, current.deleted, current.values, current.changedAt,
                          current.version)) {
                return failed(current.deleted ? statements->remove : statements->upsert, change.id);
            }
            break;
        }
        case PushResult::Status::Rejected: {
            ++outcome->rejected;
            if (!keepConflict(QStringLiteral("rejected"), QString(), QString(), result.error,
                              QStringLiteral("restored")))
                return failed(conflict, change.id);
            if (!forget.exec())
                return failed(forget, change.id);
            // Back to the record as the server last sent it, or gone when the server never
            // had it.
            QVariantList values;
            const QJsonObject image = QJsonDocument::fromJson(before.toUtf8()).object();
            for (const FieldSpec &field : schema.fields)
                values.append(boundValue(image.value(field.name)));
            if (!writeRow(change.id, before.isEmpty(), values, QString(), change.base)) {
                return failed(before.isEmpty() ? statements->remove : statements->upsert,
                              change.id);
            }
            break;
        }
        }
    }
    if (!write.commit())
        return false;
    qCDebug(lcStore) << "pushed" << sent.size() << "changes of" << schema.name << ":"
                     << outcome->applied << "applied," << outcome->conflicts << "conflicts,"
                     << outcome->rejected << "rejected";
    return true;
}

} // namespace BatchSync
