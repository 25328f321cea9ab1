#include "recordwriter.h"

#include "common/identifier.h"
#include "recordworker.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <sqlite3.h>

namespace BatchSync::Ui {

namespace {

QString selectColumns(const QStringList &columns)
{
    QStringList quoted;
    for (const QString &column : columns)
        quoted.append(Identifier::quoted(column));
    return quoted.join(QStringLiteral(", "));
}

bool wasBusy(const QSqlQuery &query)
{
    const int code = query.lastError().nativeErrorCode().toInt();
    return (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
}

} // namespace

RecordWriter::RecordWriter(const QString &connectionName, QObject *parent)
    : QObject(parent)
    , m_connectionName(connectionName)
{
}

RecordWriter::~RecordWriter()
{
    close();
}

void RecordWriter::setDatabasePath(const QString &path)
{
    close();
    m_path = path;
}

void RecordWriter::setBusyTimeout(int milliseconds)
{
    close(); // the next write opens the connection with it
    m_busyTimeoutMs = milliseconds;
}

bool RecordWriter::ensureOpen(QString *error)
{
    if (m_open)
        return true;
    // Never creates the file: the engine makes it, with its tables.
    if (!openDataConnection(m_connectionName, m_path,
                            QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(m_busyTimeoutMs), error))
        return false;
    m_open = true;
    return true;
}

void RecordWriter::close()
{
    m_open = false;
    if (QSqlDatabase::contains(m_connectionName)) {
        QSqlDatabase::database(m_connectionName, false).close();
        QSqlDatabase::removeDatabase(m_connectionName);
    }
}

QString RecordWriter::failure(const QString &entity, const QSqlQuery &query) const
{
    if (wasBusy(query)) {
        return tr("Cannot change %1: the database stayed locked for %2 ms (a sync may be "
                  "writing); try again")
            .arg(entity)
            .arg(m_busyTimeoutMs);
    }
    return tr("Cannot change %1: %2").arg(entity, query.lastError().text());
}

bool RecordWriter::begin(const QString &entity, QString *error)
{
    if (!ensureOpen(error))
        return false;
    if (!Identifier::check(entity, u"entity").isEmpty()) {
        *error = tr("%1 is not an entity").arg(entity);
        return false;
    }
    const QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    QSqlQuery query(db);
    // IMMEDIATE: the wait for the sync's lock happens here, before anything is read.
    if (!query.exec(QStringLiteral("BEGIN IMMEDIATE"))) {
        *error = failure(entity, query);
        return false;
    }
    // Without a unique index, "WHERE id = ?" could hit several versions of a record.
    query.prepare(QStringLiteral("SELECT bulk_load FROM _sync_state WHERE entity = ?"));
    query.addBindValue(entity);
    if (query.exec() && query.next() && query.value(0).toLongLong() != 0) {
        query.finish();
        rollback();
        *error = tr("%1 is still in its first sync: wait for the first sync to finish before "
                    "editing it")
                     .arg(entity);
        return false;
    }
    return true;
}

bool RecordWriter::commit(QString *error)
{
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    if (query.exec(QStringLiteral("COMMIT")))
        return true;
    *error = tr("Cannot save the change: %1").arg(query.lastError().text());
    rollback();
    return false;
}

void RecordWriter::rollback()
{
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    query.exec(QStringLiteral("ROLLBACK"));
}

bool RecordWriter::exists(const QString &entity, const QString &id, QString *error)
{
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    query.setForwardOnly(true);
    query.prepare(
        QStringLiteral("SELECT 1 FROM %1 WHERE \"id\" = ?").arg(Identifier::quoted(entity)));
    query.addBindValue(id);
    if (!query.exec()) {
        *error = failure(entity, query);
        return false;
    }
    return query.next();
}

QVariantList RecordWriter::readRow(const QString &entity, const QStringList &columns,
                                   const QString &id)
{
    QVariantList row;
    if (!m_open || columns.isEmpty())
        return row;
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    query.setForwardOnly(true);
    query.prepare(QStringLiteral("SELECT %1 FROM %2 WHERE \"id\" = ? LIMIT 1")
                      .arg(selectColumns(columns), Identifier::quoted(entity)));
    query.addBindValue(id);
    if (query.exec() && query.next()) {
        for (int i = 0; i < columns.size(); ++i)
            row.append(query.value(i));
    }
    return row;
}

void RecordWriter::setValue(quint64 ticket, const QString &entity, const QStringList &columns,
                            const QString &id, const QString &column, const QVariant &value)
{
    QString error;
    const bool idChange = column == u"id";
    const QString newId = idChange ? value.toString() : id;
    if (!Identifier::check(column, u"field").isEmpty() && !idChange) {
        error = tr("%1 is not a field").arg(column);
    } else if (idChange && newId.isEmpty()) {
        error = tr("A record's id cannot be empty");
    } else if (begin(entity, &error)) {
        bool ok = true;
        if (idChange && newId != id && exists(entity, newId, &error)) {
            error = tr("Cannot change the id: %1 has a record %2 already").arg(entity, newId);
            ok = false;
        }
        if (ok && error.isEmpty()) {
            QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
            query.prepare(QStringLiteral("UPDATE %1 SET %2 = ? WHERE \"id\" = ?")
                              .arg(Identifier::quoted(entity), Identifier::quoted(column)));
            query.addBindValue(value.isValid() ? value : QVariant());
            query.addBindValue(id);
            if (!query.exec())
                error = failure(entity, query);
            else if (query.numRowsAffected() == 0)
                error = tr("%1 has no record %2 any more").arg(entity, id);
        }
        if (error.isEmpty())
            commit(&error);
        else
            rollback();
    }
    const QString shownId = error.isEmpty() ? newId : id;
    Q_EMIT written(ticket, error, readRow(entity, columns, shownId));
}

void RecordWriter::addRecord(quint64 ticket, const QString &entity, const QStringList &columns,
                             const QString &id)
{
    QString error;
    if (id.trimmed().isEmpty()) {
        error = tr("A record needs an id");
    } else if (begin(entity, &error)) {
        if (exists(entity, id, &error)) {
            error = tr("%1 has a record %2 already").arg(entity, id);
        } else if (error.isEmpty()) {
            QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
            query.prepare(QStringLiteral("INSERT INTO %1 (\"id\") VALUES (?)")
                              .arg(Identifier::quoted(entity)));
            query.addBindValue(id);
            if (!query.exec())
                error = failure(entity, query);
        }
        if (error.isEmpty())
            commit(&error);
        else
            rollback();
    }
    Q_EMIT written(ticket, error, error.isEmpty() ? readRow(entity, columns, id) : QVariantList());
}

void RecordWriter::deleteRecords(quint64 ticket, const QString &entity, const QStringList &ids)
{
    QString error;
    if (begin(entity, &error)) {
        QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
        query.prepare(
            QStringLiteral("DELETE FROM %1 WHERE \"id\" = ?").arg(Identifier::quoted(entity)));
        for (const QString &id : ids) {
            query.addBindValue(id);
            if (!query.exec()) {
                error = failure(entity, query);
                break;
            }
        }
        query.finish();
        if (error.isEmpty())
            commit(&error);
        else
            rollback();
    }
    Q_EMIT written(ticket, error, {});
}

void RecordWriter::countPending()
{
    QString error;
    PendingCounts counts;
    if (ensureOpen(&error)) {
        QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
        query.setForwardOnly(true);
        // A database from before the capture has no such table: nothing is pending.
        if (query.exec(QStringLiteral("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                      "name = '_sync_pending'"))
            && query.next()) {
            query.finish();
            if (query.exec(
                    QStringLiteral("SELECT entity, count(*) FROM _sync_pending GROUP BY entity"))) {
                while (query.next())
                    counts.insert(query.value(0).toString(), query.value(1).toLongLong());
            }
        }
        if (query.lastError().isValid())
            error = tr("Cannot count the local changes: %1").arg(query.lastError().text());
    }
    Q_EMIT pendingCounted(counts, error);
}

} // namespace BatchSync::Ui
