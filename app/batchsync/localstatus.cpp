#include "localstatus.h"

#include "common/identifier.h"
#include "common/timestamp.h"
#include "output/console.h"
#include "output/jsonevents.h"

#include <QDir>
#include <QFileInfo>
#include <QHash>
#include <QJsonArray>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QUrl>
#include <algorithm>
#include <functional>
#include <sys/stat.h>

namespace BatchSync {

namespace {

const QString connectionName = QStringLiteral("batchsync-status");

// Enough to tell that a file changed: a writer that commits grows or rewrites it, and one
// that replaces it changes its inode.
struct FileStamp
{
    bool valid = false;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec modified {};

    friend bool operator==(const FileStamp &a, const FileStamp &b)
    {
        return a.valid && b.valid && a.device == b.device && a.inode == b.inode && a.size == b.size
            && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec;
    }
};

FileStamp stampOf(const QString &path)
{
    FileStamp stamp;
    struct stat info
    {
    };
    if (::stat(QFile::encodeName(path).constData(), &info) != 0)
        return stamp;
    stamp.valid = true;
    stamp.device = info.st_dev;
    stamp.inode = info.st_ino;
    stamp.size = info.st_size;
    stamp.modified = info.st_mtim;
    return stamp;
}

std::optional<ErrorCategory> errorCategoryFromName(const QString &name)
{
    for (const ErrorCategory category :
         { ErrorCategory::None, ErrorCategory::Network, ErrorCategory::Auth, ErrorCategory::Request,
           ErrorCategory::Protocol, ErrorCategory::Storage, ErrorCategory::Aborted }) {
        if (errorCategoryName(category) == name)
            return category;
    }
    return std::nullopt;
}

// Runs \a sql, whose rows are an entity name and counts, and hands each row to \a take;
// false when it fails.
bool readCounts(QSqlQuery &query, const QString &sql,
                const std::function<void(const QString &, const QSqlQuery &)> &take)
{
    if (!query.exec(sql))
        return false;
    while (query.next())
        take(query.value(0).toString(), query);
    const bool ok = !query.lastError().isValid();
    query.finish();
    return ok;
}

// The pending local changes and the kept conflicts of each entity; a database of an older
// format has neither table, and so none of either.
bool readPushState(QSqlQuery &query, const QSet<QString> &tables, QList<EntityReport> *entities)
{
    QHash<QString, EntityReport *> byName;
    for (EntityReport &report : *entities)
        byName.insert(report.stored.schema.name, &report);
    // A deletion of a record created here and already sent is a deletion.
    if (tables.contains(QStringLiteral("_sync_pending"))
        && !readCounts(query,
                       QStringLiteral("SELECT entity, "
                                      "sum(deleted = 0 AND created <> 0), "
                                      "sum(deleted = 0 AND created = 0), "
                                      "sum(deleted <> 0) "
                                      "FROM _sync_pending GROUP BY entity"),
                       [&](const QString &entity, const QSqlQuery &row) {
                           if (EntityReport *report = byName.value(entity)) {
                               report->pendingNew = row.value(1).toLongLong();
                               report->pendingChanged = row.value(2).toLongLong();
                               report->pendingDeleted = row.value(3).toLongLong();
                           }
                       })) {
        return false;
    }
    return !tables.contains(QStringLiteral("_sync_conflicts"))
        || readCounts(query,
                      QStringLiteral("SELECT entity, sum(kind = 'conflict'), "
                                     "sum(kind = 'rejected') "
                                     "FROM _sync_conflicts GROUP BY entity"),
                      [&](const QString &entity, const QSqlQuery &row) {
                          if (EntityReport *report = byName.value(entity)) {
                              report->conflicts = row.value(1).toLongLong();
                              report->rejected = row.value(2).toLongLong();
                          }
                      });
}

std::optional<QList<EntityReport>> readEntities(const QSqlDatabase &db, const QString &path,
                                                QString *error)
{
    const QString native = QDir::toNativeSeparators(path);
    QSqlQuery query(db);
    query.setForwardOnly(true);
    if (!query.exec(QStringLiteral("SELECT name FROM sqlite_master WHERE type = 'table'"))) {
        *error = QStringLiteral("cannot read the local database %1: %2")
                     .arg(native, query.lastError().text());
        return std::nullopt;
    }
    QSet<QString> tables;
    while (query.next())
        tables.insert(query.value(0).toString().toLower());
    query.finish();
    if (!tables.contains(QStringLiteral("_sync_state"))) {
        *error = QStringLiteral("%1 is not a BatchSync local database (it has no _sync_state "
                                "table)")
                     .arg(native);
        return std::nullopt;
    }

    if (!query.exec(QStringLiteral("SELECT entity, paging, run_active, run_done, run_total, state, "
                                   "error_category, error_message, last_completed_at "
                                   "FROM _sync_state ORDER BY entity"))) {
        *error = QStringLiteral("cannot read the sync state in %1: %2")
                     .arg(native, query.lastError().text());
        return std::nullopt;
    }
    QList<EntityReport> entities;
    while (query.next()) {
        EntityReport report;
        StoredEntity &stored = report.stored;
        stored.schema.name = query.value(0).toString();
        stored.paging = pagingModeFromName(query.value(1).toString()).value_or(PagingMode::Cursor);
        stored.runActive = query.value(2).toLongLong() != 0;
        stored.runDone = std::max<qint64>(0, query.value(3).toLongLong());
        stored.runTotal = std::max<qint64>(0, query.value(4).toLongLong());
        stored.state = syncStateFromName(query.value(5).toString())
                           .value_or(stored.runActive ? SyncState::Paused : SyncState::Idle);
        if (stored.state == SyncState::Failed) {
            stored.errorCategory
                = errorCategoryFromName(query.value(6).toString()).value_or(ErrorCategory::None);
            stored.errorMessage = query.value(7).toString();
        }
        stored.lastCompletedAt = Timestamp::parse(query.value(8).toString());
        entities.append(report);
    }
    if (query.lastError().isValid()) {
        *error = QStringLiteral("cannot read the sync state in %1: %2")
                     .arg(native, query.lastError().text());
        return std::nullopt;
    }
    query.finish();

    for (EntityReport &report : entities) {
        const QString &name = report.stored.schema.name;
        // The names come from the file: only a valid one is ever put into SQL.
        if (!Identifier::check(name, u"entity").isEmpty() || !tables.contains(name.toLower()))
            continue;
        if (query.exec(QStringLiteral("SELECT count(*) FROM %1").arg(Identifier::quoted(name)))
            && query.next()) {
            report.records = query.value(0).toLongLong();
        }
        query.finish();
    }
    if (!readPushState(query, tables, &entities)) {
        *error = QStringLiteral("cannot read the local changes in %1: %2")
                     .arg(native, query.lastError().text());
        return std::nullopt;
    }
    return entities;
}

std::optional<QList<EntityReport>> readWith(const QString &databaseName, const QString &options,
                                            const QString &path, QString *error)
{
    std::optional<QList<EntityReport>> result;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connectionName);
        db.setDatabaseName(databaseName);
        db.setConnectOptions(options);
        if (db.open()) {
            result = readEntities(db, path, error);
        } else {
            *error = QStringLiteral("cannot open the local database %1: %2")
                         .arg(QDir::toNativeSeparators(path), db.lastError().text());
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(connectionName);
    return result;
}

QString percentText(qint64 done, qint64 total)
{
    if (total <= 0)
        return QStringLiteral("-");
    return QString::number(100.0 * double(done) / double(total), 'f', 1) + QLatin1Char('%');
}

QString runText(const StoredEntity &stored)
{
    if (!stored.runActive)
        return QStringLiteral("-");
    switch (stored.state) {
    case SyncState::Paused:
        return QStringLiteral("paused; the next sync resumes it");
    case SyncState::Failed:
        return QStringLiteral("stopped by the error; the next sync resumes it");
    default:
        return QStringLiteral("in progress (or stopped without pausing); the next sync "
                              "resumes it");
    }
}

// "2 new, 1 changed" of the counts that are not zero, after \a label; empty when all are.
QString countsText(const QString &label, const QList<std::pair<qint64, QString>> &counts)
{
    QStringList parts;
    for (const auto &[count, what] : counts) {
        if (count > 0)
            parts.append(QStringLiteral("%1 %2").arg(count).arg(what));
    }
    return parts.isEmpty() ? QString() : QStringLiteral("  %1: %2\n").arg(label, parts.join(u", "));
}

QString completedText(const QDateTime &at)
{
    return at.isValid()
        ? at.toUTC().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")) + QStringLiteral(" UTC")
        : QStringLiteral("never");
}

} // namespace

std::optional<QList<EntityReport>> LocalStatus::read(const QString &path, QString *error)
{
    const QFileInfo info(path);
    const QString native = QDir::toNativeSeparators(info.absoluteFilePath());
    if (!info.exists()) {
        *error = QStringLiteral("there is no local database at %1: nothing has been synced "
                                "into it yet")
                     .arg(native);
        return std::nullopt;
    }
    if (!info.isFile()) {
        *error = QStringLiteral("%1 is not a file").arg(native);
        return std::nullopt;
    }
    const QString file = info.absoluteFilePath();
    const QString wal = file + QStringLiteral("-wal");

    // Without a -wal file no connection has the database open: read it as an immutable file,
    // which creates nothing beside it, and trust the result only if nobody wrote meanwhile.
    if (!QFileInfo::exists(wal)) {
        const FileStamp before = stampOf(file);
        QUrl uri = QUrl::fromLocalFile(file);
        uri.setQuery(QStringLiteral("immutable=1"));
        QString immutableError;
        auto entities = readWith(uri.toString(QUrl::FullyEncoded),
                                 QStringLiteral("QSQLITE_OPEN_URI;QSQLITE_OPEN_READONLY"), file,
                                 &immutableError);
        if (!QFileInfo::exists(wal) && stampOf(file) == before) {
            if (!entities)
                *error = immutableError;
            return entities;
        }
    }
    // Another program has it open (or has just written it): a read-only connection sees its
    // committed transactions through the WAL.
    return readWith(file, QStringLiteral("QSQLITE_OPEN_READONLY;QSQLITE_BUSY_TIMEOUT=2000"), file,
                    error);
}

QString LocalStatus::text(const QString &path, const QList<EntityReport> &entities)
{
    QString out = QStringLiteral("Local database: %1\n").arg(QDir::toNativeSeparators(path));
    if (entities.isEmpty())
        return out + QStringLiteral("No entity has been synced into it yet.\n");

    const QStringList header { QStringLiteral("ENTITY"),         QStringLiteral("STATE"),
                               QStringLiteral("DONE/TOTAL"),     QStringLiteral("%"),
                               QStringLiteral("RECORDS"),        QStringLiteral("PAGING"),
                               QStringLiteral("LAST COMPLETED"), QStringLiteral("RUN") };
    QList<QStringList> rows { header };
    for (const EntityReport &report : entities) {
        const StoredEntity &s = report.stored;
        rows.append({ s.schema.name, syncStateName(s.state),
                      QStringLiteral("%1/%2").arg(s.runDone).arg(s.runTotal),
                      percentText(s.runDone, s.runTotal),
                      report.records >= 0 ? QString::number(report.records) : QStringLiteral("-"),
                      pagingModeName(s.paging), completedText(s.lastCompletedAt), runText(s) });
    }
    QList<int> widths(header.size(), 0);
    for (const QStringList &row : std::as_const(rows)) {
        for (int i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], int(row.at(i).size()));
    }
    // Numbers are right-aligned; the last column is free text.
    const QList<int> numeric { 2, 3, 4 };
    for (int r = 0; r < rows.size(); ++r) {
        const QStringList &row = rows.at(r);
        QStringList cells;
        for (int i = 0; i < row.size(); ++i) {
            if (i == row.size() - 1)
                cells.append(row.at(i));
            else if (numeric.contains(i))
                cells.append(row.at(i).rightJustified(widths.at(i)));
            else
                cells.append(row.at(i).leftJustified(widths.at(i)));
        }
        out += cells.join(QStringLiteral("  ")).trimmed() + QLatin1Char('\n');
        if (r == 0)
            continue;
        const EntityReport &report = entities.at(r - 1);
        const StoredEntity &s = report.stored;
        if (s.state == SyncState::Failed) {
            out += QStringLiteral("  error (%1): %2\n")
                       .arg(errorCategoryName(s.errorCategory),
                            s.errorMessage.isEmpty() ? QStringLiteral("unknown error")
                                                     : s.errorMessage);
        }
        out += countsText(QStringLiteral("local changes not pushed yet"),
                          { { report.pendingNew, QStringLiteral("new") },
                            { report.pendingChanged, QStringLiteral("changed") },
                            { report.pendingDeleted, QStringLiteral("deleted") } });
        out += countsText(
            QStringLiteral("conflicts kept in _sync_conflicts"),
            { { report.conflicts,
                report.conflicts == 1 ? QStringLiteral("conflict") : QStringLiteral("conflicts") },
              { report.rejected, QStringLiteral("rejected") } });
    }
    // Said even when there are none (or the file's format has no such tables).
    qint64 pending = 0;
    qint64 kept = 0;
    for (const EntityReport &report : entities) {
        pending += report.pending();
        kept += report.conflicts + report.rejected;
    }
    return out
        + QStringLiteral("Local changes not pushed yet: %1; conflicts kept in _sync_conflicts: "
                         "%2\n")
              .arg(pending)
              .arg(kept);
}

QJsonObject LocalStatus::json(const QString &path, const QList<EntityReport> &entities)
{
    QJsonArray list;
    for (const EntityReport &report : entities) {
        const StoredEntity &s = report.stored;
        list.append(QJsonObject {
            { QStringLiteral("entity"), s.schema.name },
            { QStringLiteral("state"), syncStateName(s.state) },
            { QStringLiteral("done"), s.runDone },
            { QStringLiteral("total"), s.runTotal },
            { QStringLiteral("records"),
              report.records >= 0 ? QJsonValue(report.records) : QJsonValue(QJsonValue::Null) },
            { QStringLiteral("paging"), pagingModeName(s.paging) },
            { QStringLiteral("lastCompletedAt"),
              s.lastCompletedAt.isValid() ? QJsonValue(Timestamp::format(s.lastCompletedAt))
                                          : QJsonValue(QJsonValue::Null) },
            { QStringLiteral("runActive"), s.runActive },
            { QStringLiteral("error"),
              s.state == SyncState::Failed ? QJsonValue(
                  QJsonObject { { QStringLiteral("category"), errorCategoryName(s.errorCategory) },
                                { QStringLiteral("message"), s.errorMessage } })
                                           : QJsonValue(QJsonValue::Null) },
            { QStringLiteral("pending"),
              QJsonObject { { QStringLiteral("new"), report.pendingNew },
                            { QStringLiteral("changed"), report.pendingChanged },
                            { QStringLiteral("deleted"), report.pendingDeleted } } },
            { QStringLiteral("conflicts"),
              QJsonObject { { QStringLiteral("conflict"), report.conflicts },
                            { QStringLiteral("rejected"), report.rejected } } } });
    }
    return { { QStringLiteral("database"), QDir::toNativeSeparators(path) },
             { QStringLiteral("entities"), list } };
}

int LocalStatus::print(const QString &databasePath, const QStringList &entities,
                       ProgressOutput output)
{
    QString error;
    const std::optional<QList<EntityReport>> stored = read(databasePath, &error);
    if (!stored) {
        if (output == ProgressOutput::Json) {
            const QByteArray line = Output::jsonEventLine(
                QStringLiteral("error"),
                { { QStringLiteral("entity"), QJsonValue::Null },
                  { QStringLiteral("category"), errorCategoryName(ErrorCategory::Storage) },
                  { QStringLiteral("message"), error } });
            std::fwrite(line.constData(), 1, size_t(line.size()), stdout);
            std::fflush(stdout);
        } else {
            Output::writeTo(stderr, QStringLiteral("batchsync: %1\n").arg(error));
        }
        return 1;
    }
    QList<EntityReport> shown;
    QStringList missing;
    for (const EntityReport &report : *stored) {
        if (entities.isEmpty() || entities.contains(report.stored.schema.name))
            shown.append(report);
    }
    for (const QString &name : entities) {
        const bool found = std::any_of(shown.cbegin(), shown.cend(), [&](const EntityReport &r) {
            return r.stored.schema.name == name;
        });
        if (!found)
            missing.append(name);
    }
    switch (output) {
    case ProgressOutput::Json: {
        QJsonObject fields = json(databasePath, shown);
        fields.insert(QStringLiteral("missing"), QJsonArray::fromStringList(missing));
        const QByteArray line = Output::jsonEventLine(QStringLiteral("status"), fields);
        std::fwrite(line.constData(), 1, size_t(line.size()), stdout);
        std::fflush(stdout);
        break;
    }
    case ProgressOutput::Quiet:
        break;
    case ProgressOutput::Live:
    case ProgressOutput::Plain: {
        QString lines = text(databasePath, shown);
        if (!missing.isEmpty()) {
            lines += QStringLiteral("Never synced into this database: %1\n")
                         .arg(missing.join(QStringLiteral(", ")));
        }
        Output::writeTo(stdout, lines);
        break;
    }
    }
    return 0;
}

} // namespace BatchSync
