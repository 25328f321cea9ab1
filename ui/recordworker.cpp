#include "recordworker.h"

#include "common/identifier.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMetaObject>
#include <QMutexLocker>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlRecord>
#include <limits>
#include <sqlite3.h>

#ifdef Q_OS_LINUX
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace BatchSync::Ui {

namespace {

// LIKE's own wildcards in the user's text match themselves.
QString likePattern(const QString &text)
{
    QString escaped = text;
    escaped.replace(QLatin1Char('\\'), QStringLiteral("\\\\"));
    escaped.replace(QLatin1Char('%'), QStringLiteral("\\%"));
    escaped.replace(QLatin1Char('_'), QStringLiteral("\\_"));
    return QLatin1Char('%') + escaped + QLatin1Char('%');
}

// Columns the search matches as text; a decimal is shown, and searched, as it is stored.
bool isTextType(FieldType type)
{
    return type == FieldType::String || type == FieldType::DateTime || type == FieldType::Decimal;
}

bool wasInterrupted(const QSqlQuery &query)
{
    return query.lastError().nativeErrorCode() == QString::number(SQLITE_INTERRUPT);
}

// The field types the engine stored with the entity (_sync_state.fields): the declared
// column types cannot tell a bool from an int.
QHash<QString, FieldType> storedFieldTypes(const QSqlDatabase &db, const QString &entity)
{
    QHash<QString, FieldType> types;
    QSqlQuery query(db);
    query.setForwardOnly(true);
    if (!query.prepare(QStringLiteral("SELECT fields FROM _sync_state WHERE entity = ?")))
        return types; // not a table of ours: the declared types will do
    query.addBindValue(entity);
    if (!query.exec() || !query.next())
        return types;
    const QJsonArray fields = QJsonDocument::fromJson(query.value(0).toString().toUtf8()).array();
    for (const QJsonValue &field : fields) {
        const QJsonObject object = field.toObject();
        const auto type = fieldTypeFromName(object.value(QStringLiteral("type")).toString());
        if (type)
            types.insert(object.value(QStringLiteral("name")).toString(), *type);
    }
    return types;
}

// Whether \a entity is a table with rowids (not a view, not WITHOUT ROWID).
bool hasRowids(const QSqlDatabase &db, const QString &entity)
{
    QSqlQuery query(db);
    query.setForwardOnly(true);
    query.prepare(QStringLiteral("SELECT 1 FROM pragma_table_list WHERE schema = 'main' AND "
                                 "type = 'table' AND wr = 0 AND name = ?"));
    query.addBindValue(entity);
    return query.exec() && query.next();
}

} // namespace

bool openDataConnection(const QString &connectionName, const QString &path, const QString &options,
                        QString *error)
{
    // Opening never creates the file: until the engine made it there is nothing to show.
    if (path.isEmpty() || !QFileInfo::exists(path)) {
        *error = RecordWorker::tr("No local data yet");
        return false;
    }
    QSqlDatabase db = QSqlDatabase::contains(connectionName)
        ? QSqlDatabase::database(connectionName, false)
        : QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connectionName);
    db.setDatabaseName(path);
    db.setConnectOptions(options);
    if (!db.open()) {
        *error = RecordWorker::tr("Cannot open %1: %2").arg(path, db.lastError().text());
        return false;
    }
    return true;
}

RecordWorker::RecordWorker(const QString &connectionName, QObject *parent)
    : QObject(parent)
    , m_connectionName(connectionName)
{
}

RecordWorker::~RecordWorker()
{
    close();
}

void RecordWorker::supersede(quint64 generation)
{
    m_latest.storeRelease(generation);
    const QMutexLocker locker(&m_handleMutex);
    if (m_handle)
        sqlite3_interrupt(m_handle);
}

void RecordWorker::yieldToTheWindow()
{
#ifdef Q_OS_LINUX
    // A sort of a million rows takes seconds of CPU; on a busy machine it must not take the
    // window's turn. Linux gives each thread a nice value of its own (Qt's thread priorities
    // do nothing for ordinary threads there).
    const auto thread = id_t(syscall(SYS_gettid));
    setpriority(PRIO_PROCESS, thread, getpriority(PRIO_PROCESS, thread) + 5);
#endif
}

void RecordWorker::setDatabasePath(const QString &path)
{
    close();
    m_path = path;
}

bool RecordWorker::ensureOpen(QString *error)
{
    if (m_open)
        return true;
    // Read-only, and never waiting long for the engine's writer: WAL readers do not block.
    if (!openDataConnection(m_connectionName, m_path,
                            QStringLiteral("QSQLITE_OPEN_READONLY;QSQLITE_BUSY_TIMEOUT=200"),
                            error))
        return false;
    const QVariant handle = QSqlDatabase::database(m_connectionName, false).driver()->handle();
    if (handle.isValid() && qstrcmp(handle.typeName(), "sqlite3*") == 0) {
        const QMutexLocker locker(&m_handleMutex);
        m_handle = *static_cast<sqlite3 *const *>(handle.constData());
    }
    m_open = true;
    return true;
}

void RecordWorker::close()
{
    m_cursor.reset();
    m_keysetSql.clear();
    m_open = false;
    // Under the mutex: supersede() never interrupts a connection that is closing or gone.
    const QMutexLocker locker(&m_handleMutex);
    m_handle = nullptr;
    if (QSqlDatabase::contains(m_connectionName)) {
        QSqlDatabase::database(m_connectionName, false).close();
        QSqlDatabase::removeDatabase(m_connectionName);
    }
}

void RecordWorker::dropStaleCursor()
{
    // An interrupted connection interrupts every statement it starts until none of its
    // statements is active any more: the superseded cursor must go first.
    if (isStale(m_cursorGeneration)) {
        m_cursor.reset();
        m_keysetSql.clear();
    }
}

void RecordWorker::listEntities()
{
    dropStaleCursor();
    QString error;
    if (!ensureOpen(&error)) {
        Q_EMIT entitiesListed({}, error);
        return;
    }
    // Twice at most: a newer query may interrupt the first attempt.
    for (int attempt = 0; attempt < 2; ++attempt) {
        QStringList names;
        QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
        query.setForwardOnly(true);
        // Every table of the local database contract is an entity, except the bookkeeping.
        if (query.exec(QStringLiteral("SELECT name FROM sqlite_master WHERE type = 'table' "
                                      "ORDER BY name"))) {
            while (query.next()) {
                const QString name = query.value(0).toString();
                if (Identifier::check(name, u"entity").isEmpty())
                    names.append(name);
            }
            if (!query.lastError().isValid()) {
                Q_EMIT entitiesListed(names, QString());
                return;
            }
        }
        if (!wasInterrupted(query)) {
            Q_EMIT entitiesListed({},
                                  tr("Cannot read %1: %2").arg(m_path, query.lastError().text()));
            return;
        }
        dropStaleCursor();
    }
    Q_EMIT entitiesListed({}, tr("Cannot read %1: interrupted").arg(m_path));
}

RecordColumns RecordWorker::columnsOf(const QString &entity, QString *error)
{
    RecordColumns columns;
    const QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    const QHash<QString, FieldType> stored = storedFieldTypes(db, entity);
    QSqlQuery query(db);
    query.setForwardOnly(true);
    query.prepare(QStringLiteral("SELECT name, type FROM pragma_table_info(?) ORDER BY cid"));
    query.addBindValue(entity);
    if (!query.exec()) {
        *error = query.lastError().text();
        return columns;
    }
    columns.append({ QStringLiteral("id"), FieldType::String });
    while (query.next()) {
        const QString name = query.value(0).toString();
        // Bookkeeping columns start with '_'; "id" is first already.
        if (!Identifier::check(name, u"field").isEmpty())
            continue;
        RecordColumn column { name, FieldType::String };
        if (const auto found = stored.constFind(name); found != stored.cend()) {
            column.type = *found;
        } else {
            const QString declared = query.value(1).toString().toUpper();
            if (declared.contains(QLatin1String("INT")))
                column.type = FieldType::Int;
            else if (declared.contains(QLatin1String("REAL")))
                column.type = FieldType::Real;
        }
        columns.append(column);
    }
    if (query.lastError().isValid()) {
        *error = query.lastError().text();
        return {};
    }
    if (columns.size() == 1) { // no table of that name (any more)
        *error = tr("no such table");
        return {};
    }
    return columns;
}

QString RecordWorker::filterCondition(const RecordQuery &query) const
{
    QStringList conditions;
    for (const RecordColumn &column : m_textColumns)
        conditions.append(Identifier::quoted(column.name) + QStringLiteral(" LIKE ? ESCAPE '\\'"));
    if (query.filter.isEmpty() || conditions.isEmpty())
        return QString();
    return conditions.join(QStringLiteral(" OR "));
}

QString RecordWorker::whereClause(const RecordQuery &query) const
{
    const QString condition = filterCondition(query);
    return condition.isEmpty() ? QString() : QStringLiteral(" WHERE ") + condition;
}

void RecordWorker::bindFilter(QSqlQuery &query, const RecordQuery &request) const
{
    const QString pattern = likePattern(request.filter);
    for (qsizetype i = 0; i < m_textColumns.size(); ++i)
        query.addBindValue(pattern);
}

void RecordWorker::failed(quint64 generation, const QString &what, const QSqlQuery &query)
{
    // An interrupted statement belongs to a superseded query: nobody waits for it.
    if (!isStale(generation) && !wasInterrupted(query))
        Q_EMIT queryFailed(generation, tr("%1: %2").arg(what, query.lastError().text()));
}

void RecordWorker::runQuery(quint64 generation, const RecordQuery &query, int chunk)
{
    m_cursor.reset();
    m_keysetSql.clear();
    if (isStale(generation))
        return; // a newer one is queued behind this one
    QString error;
    if (!ensureOpen(&error)) {
        Q_EMIT queryFailed(generation, error);
        return;
    }
    if (!Identifier::check(query.entity, u"entity").isEmpty()) {
        Q_EMIT queryFailed(generation, tr("%1 is not an entity").arg(query.entity));
        return;
    }
    const RecordColumns columns = columnsOf(query.entity, &error);
    if (columns.isEmpty()) {
        if (!isStale(generation))
            Q_EMIT queryFailed(generation, tr("Cannot read %1: %2").arg(query.entity, error));
        return;
    }
    QStringList select;
    QString order;
    m_textColumns.clear();
    for (const RecordColumn &column : columns) {
        select.append(Identifier::quoted(column.name));
        if (isTextType(column.type))
            m_textColumns.append(column);
        if (column.name == query.sortField) {
            // A decimal's text sorts by its value ("9" before "10"), not by its characters.
            const QString key = column.type == FieldType::Decimal
                ? QStringLiteral("CAST(%1 AS REAL)").arg(Identifier::quoted(column.name))
                : Identifier::quoted(column.name);
            order = QStringLiteral(" ORDER BY %1 %2")
                        .arg(key,
                             query.order == Qt::DescendingOrder ? QStringLiteral("DESC")
                                                                : QStringLiteral("ASC"));
        }
    }
    m_columnCount = int(columns.size());
    m_cursorGeneration = generation;
    if (query.sortField.isEmpty()) {
        // In the table's own order: a chunk at a time by rowid, each chunk a statement of its
        // own. A cursor kept open between chunks would hold a read transaction for as long as
        // the table is partly read, and while it does no checkpoint can complete: during a
        // sync the WAL would grow by every page written (hundreds of MB for a million records).
        const QString condition = filterCondition(query);
        const QString sql
            = QStringLiteral("SELECT %1, _rowid_ FROM %2 WHERE %3_rowid_ > ? ORDER BY _rowid_ "
                             "LIMIT ?")
                  .arg(select.join(QStringLiteral(", ")), Identifier::quoted(query.entity),
                       condition.isEmpty() ? QString()
                                           : QStringLiteral("(%1) AND ").arg(condition));
        // A view, or a table without rowids, reads through a cursor.
        if (hasRowids(QSqlDatabase::database(m_connectionName, false), query.entity)) {
            m_keysetSql = sql;
            m_keysetQuery = query;
            m_lastRowid = std::numeric_limits<qint64>::min();
            sendChunk(generation, columns, chunk, true);
            if (!isStale(generation))
                queueCount(generation, query);
            return;
        }
    }
    const QString where = whereClause(query);
    auto cursor = std::make_unique<QSqlQuery>(QSqlDatabase::database(m_connectionName, false));
    cursor->setForwardOnly(true);
    cursor->prepare(QStringLiteral("SELECT %1 FROM %2%3%4")
                        .arg(select.join(QStringLiteral(", ")), Identifier::quoted(query.entity),
                             where, order));
    if (!where.isEmpty())
        bindFilter(*cursor, query);
    // Sorting by a column without an index sorts the whole table here, before the first row.
    if (!cursor->exec()) {
        failed(generation, tr("Cannot read %1").arg(query.entity), *cursor);
        return;
    }
    m_cursor = std::move(cursor);
    sendRows(generation, columns, chunk, true);
    if (!isStale(generation))
        queueCount(generation, query);
}

void RecordWorker::queueCount(quint64 generation, const RecordQuery &query)
{
    // Counted after the first rows are on screen, and after any fetch already asked for.
    QMetaObject::invokeMethod(
        this, [this, generation, query] { count(generation, query); }, Qt::QueuedConnection);
}

void RecordWorker::fetch(quint64 generation, int chunk)
{
    dropStaleCursor();
    if (m_cursorGeneration != generation)
        return;
    if (!m_keysetSql.isEmpty())
        sendChunk(generation, {}, chunk, false);
    else if (m_cursor)
        sendRows(generation, {}, chunk, false);
}

void RecordWorker::sendChunk(quint64 generation, const RecordColumns &columns, int chunk,
                             bool first)
{
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    query.setForwardOnly(true);
    query.prepare(m_keysetSql);
    if (!filterCondition(m_keysetQuery).isEmpty())
        bindFilter(query, m_keysetQuery);
    query.addBindValue(m_lastRowid);
    query.addBindValue(chunk);
    RecordRows rows;
    if (query.exec()) {
        rows.reserve(chunk);
        while (query.next()) {
            QVariantList row;
            row.reserve(m_columnCount);
            for (int i = 0; i < m_columnCount; ++i)
                row.append(query.value(i));
            m_lastRowid = query.value(m_columnCount).toLongLong();
            rows.append(std::move(row));
        }
    }
    if (query.lastError().isValid()) {
        failed(generation, tr("Cannot read the rows"), query);
        m_keysetSql.clear();
        return;
    }
    const bool atEnd = rows.size() < chunk;
    if (atEnd)
        m_keysetSql.clear();
    if (!isStale(generation))
        Q_EMIT rowsReady(generation, columns, rows, first, atEnd);
}

void RecordWorker::sendRows(quint64 generation, const RecordColumns &columns, int chunk, bool first)
{
    RecordRows rows;
    rows.reserve(chunk);
    bool atEnd = false;
    while (rows.size() < chunk) {
        if (!m_cursor->next()) {
            atEnd = true;
            break;
        }
        QVariantList row;
        row.reserve(m_columnCount);
        for (int i = 0; i < m_columnCount; ++i)
            row.append(m_cursor->value(i));
        rows.append(std::move(row));
    }
    if (atEnd) {
        const bool error = m_cursor->lastError().isValid();
        if (error) {
            failed(generation, tr("Cannot read the rows"), *m_cursor);
            m_cursor.reset();
            return;
        }
        // Done: let go of the read snapshot, so that the next query sees the latest commits.
        m_cursor.reset();
    }
    if (!isStale(generation))
        Q_EMIT rowsReady(generation, columns, rows, first, atEnd);
}

void RecordWorker::count(quint64 generation, const RecordQuery &request)
{
    dropStaleCursor();
    if (isStale(generation))
        return;
    const QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    const QString table = Identifier::quoted(request.entity);
    QSqlQuery query(db);
    query.setForwardOnly(true);
    if (!query.exec(QStringLiteral("SELECT count(*) FROM %1").arg(table)) || !query.next()) {
        failed(generation, tr("Cannot count %1").arg(request.entity), query);
        return;
    }
    const qint64 total = query.value(0).toLongLong();
    qint64 matching = total;
    const QString where = whereClause(request);
    if (!where.isEmpty()) {
        query.finish();
        query.prepare(QStringLiteral("SELECT count(*) FROM %1%2").arg(table, where));
        bindFilter(query, request);
        if (!query.exec() || !query.next()) {
            failed(generation, tr("Cannot count %1").arg(request.entity), query);
            return;
        }
        matching = query.value(0).toLongLong();
    }
    if (!isStale(generation))
        Q_EMIT countsReady(generation, total, matching);
}

} // namespace BatchSync::Ui
