#include "conflictsworker.h"

#include "common/identifier.h"

#include <QFileInfo>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStringList>
#include <algorithm>
#include <sqlite3.h>
#include <utility>

namespace BatchSync::Ui {

namespace {

using FieldList = QList<std::pair<QString, FieldType>>;
using Values = QList<std::pair<QString, QVariant>>; // a record's fields in JSON order

bool isBusy(const QSqlError &error)
{
    const QString code = error.nativeErrorCode();
    return code == QString::number(SQLITE_BUSY) || code == QString::number(SQLITE_LOCKED);
}

QString describe(const QSqlError &error)
{
    if (isBusy(error))
        return ConflictsWorker::tr("the local database is in use by another program or by the "
                                   "sync (%1); try again in a moment")
            .arg(error.text());
    return error.text();
}

// The fields of every entity as the engine stored them (_sync_state.fields), in order.
QHash<QString, FieldList> storedFields(const QSqlDatabase &db)
{
    QHash<QString, FieldList> result;
    QSqlQuery query(db);
    query.setForwardOnly(true);
    if (!query.exec(QStringLiteral("SELECT entity, fields FROM _sync_state")))
        return result; // no state yet: the records' own keys will do
    while (query.next()) {
        FieldList fields;
        const QJsonArray array
            = QJsonDocument::fromJson(query.value(1).toString().toUtf8()).array();
        for (const QJsonValue &value : array) {
            const QJsonObject object = value.toObject();
            const auto type = fieldTypeFromName(object.value(QStringLiteral("type")).toString());
            fields.append({ object.value(QStringLiteral("name")).toString(),
                            type.value_or(FieldType::String) });
        }
        result.insert(query.value(0).toString(), fields);
    }
    return result;
}

// A value of json_each() as a QVariant: SQLite keeps 64-bit integers exact.
QVariant jsonValue(const QVariant &value, const QString &type)
{
    if (type == QLatin1String("true"))
        return true;
    if (type == QLatin1String("false"))
        return false;
    if (type == QLatin1String("null"))
        return QVariant();
    return value;
}

// The fields of the records in column \a column ("local" or "server") of every conflict.
bool readValues(const QSqlDatabase &db, const QString &column, QHash<qint64, Values> *values,
                QString *error)
{
    QSqlQuery query(db);
    query.setForwardOnly(true);
    if (!query.exec(QStringLiteral("SELECT c.seq, j.key, j.value, j.type FROM _sync_conflicts "
                                   "AS c, json_each(c.%1) AS j WHERE json_valid(c.%1) "
                                   "ORDER BY c.seq, j.id")
                        .arg(column))) {
        *error = query.lastError().text();
        return false;
    }
    while (query.next()) {
        (*values)[query.value(0).toLongLong()].append(
            { query.value(1).toString(), jsonValue(query.value(2), query.value(3).toString()) });
    }
    return true;
}

QVariant asType(const QVariant &value, FieldType type)
{
    // A bool may come as 0/1.
    if (type == FieldType::Bool && value.typeId() == QMetaType::LongLong)
        return value.toLongLong() != 0;
    return value;
}

QList<ConflictField> mergeFields(const FieldList &schema, const Values &local, const Values &server)
{
    QList<ConflictField> fields;
    QHash<QString, qsizetype> index;
    const auto field = [&](const QString &name) -> ConflictField & {
        const auto found = index.constFind(name);
        if (found != index.cend())
            return fields[*found];
        index.insert(name, fields.size());
        fields.append(ConflictField { name, FieldType::String, {}, {}, false, false });
        return fields.last();
    };
    for (const auto &[name, type] : schema)
        field(name).type = type;
    for (const auto &[name, value] : local) {
        if (name == QLatin1String("id"))
            continue; // shown with the conflict
        ConflictField &f = field(name);
        f.local = asType(value, f.type);
        f.inLocal = true;
    }
    for (const auto &[name, value] : server) {
        if (name == QLatin1String("id"))
            continue;
        ConflictField &f = field(name);
        f.server = asType(value, f.type);
        f.inServer = true;
    }
    return fields;
}

bool readConflicts(const QSqlDatabase &db, ConflictList *conflicts, QString *error)
{
    QSqlQuery query(db);
    query.setForwardOnly(true);
    if (!query.exec(QStringLiteral("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                                   "'_sync_conflicts'"))) {
        *error = query.lastError().text();
        return false;
    }
    if (!query.next())
        return true; // a database from before conflicts were kept: none
    query.finish();
    if (!query.exec(QStringLiteral(
            "SELECT seq, entity, id, kind, error, at, base, server_version, resolution, "
            "local IS NOT NULL, server IS NOT NULL FROM _sync_conflicts ORDER BY seq"))) {
        *error = query.lastError().text();
        return false;
    }
    while (query.next()) {
        Conflict conflict;
        conflict.seq = query.value(0).toLongLong();
        conflict.entity = query.value(1).toString();
        conflict.id = query.value(2).toString();
        conflict.kind = query.value(3).toString();
        conflict.error = query.value(4).toString();
        conflict.at = query.value(5).toString();
        conflict.base = query.value(6).toString();
        conflict.serverVersion = query.value(7).toString();
        conflict.resolution = query.value(8).toString();
        conflict.hasLocal = query.value(9).toBool();
        conflict.hasServer = query.value(10).toBool();
        conflicts->append(conflict);
    }
    if (query.lastError().isValid()) {
        *error = query.lastError().text();
        return false;
    }
    query.finish();
    QHash<qint64, Values> local;
    QHash<qint64, Values> server;
    if (!readValues(db, QStringLiteral("local"), &local, error)
        || !readValues(db, QStringLiteral("server"), &server, error))
        return false;
    const QHash<QString, FieldList> schemas = storedFields(db);
    for (Conflict &conflict : *conflicts) {
        conflict.fields = mergeFields(schemas.value(conflict.entity), local.value(conflict.seq),
                                      server.value(conflict.seq));
    }
    return true;
}

// The record's own columns of an entity's table: neither id nor bookkeeping.
bool recordColumns(const QSqlDatabase &db, const QString &entity, QStringList *columns,
                   QString *error)
{
    QSqlQuery query(db);
    query.setForwardOnly(true);
    query.prepare(QStringLiteral("SELECT name FROM pragma_table_info(?) ORDER BY cid"));
    query.addBindValue(entity);
    if (!query.exec()) {
        *error = describe(query.lastError());
        return false;
    }
    bool hasId = false;
    while (query.next()) {
        const QString name = query.value(0).toString();
        if (name.compare(u"id", Qt::CaseInsensitive) == 0)
            hasId = true;
        else if (Identifier::check(name, u"field").isEmpty())
            columns->append(name);
    }
    if (!hasId) {
        *error = ConflictsWorker::tr("the local database has no table %1").arg(entity);
        return false;
    }
    return true;
}

QString jsonField(const QString &column)
{
    // A checked field name needs no escaping inside the path.
    return QStringLiteral("json_extract(?, '$.\"%1\"')").arg(column);
}

} // namespace

ConflictsWorker::ConflictsWorker(const QString &connectionName, QObject *parent)
    : QObject(parent)
    , m_connectionName(connectionName)
{
}

ConflictsWorker::~ConflictsWorker()
{
    close();
}

void ConflictsWorker::setDatabasePath(const QString &path)
{
    close();
    m_path = path;
}

void ConflictsWorker::setBusyTimeout(int milliseconds)
{
    close();
    m_busyTimeoutMs = milliseconds;
}

bool ConflictsWorker::ensureOpen(QString *error)
{
    if (m_open)
        return true;
    // Never creates the file (load() checks first): the engine makes it.
    if (!QFileInfo::exists(m_path)) {
        *error = tr("There is no local database at %1 yet").arg(m_path);
        return false;
    }
    // close() removed any earlier connection of this name.
    QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_connectionName);
    db.setDatabaseName(m_path);
    db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(m_busyTimeoutMs));
    m_open = db.open();
    if (!m_open)
        *error = tr("Cannot open %1: %2").arg(m_path, db.lastError().text());
    return m_open;
}

void ConflictsWorker::close()
{
    m_open = false;
    if (QSqlDatabase::contains(m_connectionName)) {
        QSqlDatabase::database(m_connectionName, false).close();
        QSqlDatabase::removeDatabase(m_connectionName);
    }
}

void ConflictsWorker::load(quint64 generation)
{
    if (m_path.isEmpty() || !QFileInfo::exists(m_path)) {
        Q_EMIT loaded(generation, {}, QString()); // no database yet: no conflicts
        return;
    }
    QString error;
    if (!ensureOpen(&error)) {
        Q_EMIT loaded(generation, {}, error);
        return;
    }
    const QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    ConflictList conflicts;
    // One read transaction: the rows and their values from the same moment.
    QSqlQuery transaction(db);
    transaction.exec(QStringLiteral("BEGIN"));
    const bool ok = readConflicts(db, &conflicts, &error);
    transaction.exec(QStringLiteral("COMMIT"));
    if (!ok) {
        Q_EMIT loaded(generation, {}, tr("Cannot read the conflicts in %1: %2").arg(m_path, error));
        return;
    }
    Q_EMIT loaded(generation, conflicts, QString());
}

void ConflictsWorker::resolve(quint64 generation, Action action, const QList<qint64> &seqs)
{
    QString error;
    if (!ensureOpen(&error)) {
        Q_EMIT resolved(generation, action, 0, error);
        return;
    }
    QSqlQuery transaction(QSqlDatabase::database(m_connectionName, false));
    // IMMEDIATE: the write lock from the start, so that a busy database fails before any edit.
    if (!transaction.exec(QStringLiteral("BEGIN IMMEDIATE"))) {
        Q_EMIT resolved(generation, action, 0,
                        tr("Nothing was changed: %1").arg(describe(transaction.lastError())));
        return;
    }
    QList<qint64> ordered = seqs;
    std::sort(ordered.begin(), ordered.end()); // the oldest first, as they happened
    int closed = 0;
    bool ok = true;
    for (const qint64 seq : std::as_const(ordered)) {
        bool one = false;
        if (!resolveOne(action, seq, &one, &error)) {
            ok = false;
            break;
        }
        closed += one ? 1 : 0;
    }
    if (ok && !transaction.exec(QStringLiteral("COMMIT"))) {
        ok = false;
        error = describe(transaction.lastError());
    }
    if (!ok) {
        transaction.exec(QStringLiteral("ROLLBACK"));
        Q_EMIT resolved(generation, action, 0, tr("Nothing was changed: %1").arg(error));
        return;
    }
    Q_EMIT resolved(generation, action, closed, QString());
}

bool ConflictsWorker::resolveOne(Action action, qint64 seq, bool *closed, QString *error)
{
    const QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    QSqlQuery query(db);
    query.setForwardOnly(true);
    query.prepare(QStringLiteral("SELECT entity, id, resolution FROM _sync_conflicts "
                                 "WHERE seq = ?"));
    query.addBindValue(seq);
    if (!query.exec()) {
        *error = describe(query.lastError());
        return false;
    }
    if (!query.next())
        return true; // closed meanwhile: nothing to do
    const QString entity = query.value(0).toString();
    const QString id = query.value(1).toString();
    const QString resolution = query.value(2).toString();
    query.finish();

    QString record; // the record to write as a local edit; none to only close
    if (action == Action::SendMine)
        record = QStringLiteral("local");
    else if (action == Action::KeepServer && resolution == QLatin1String("resent"))
        record = QStringLiteral("server"); // the local one is in the table: put the server's back
    if (!record.isEmpty() && !writeRecord(entity, id, seq, record, error))
        return false;

    query.prepare(QStringLiteral("DELETE FROM _sync_conflicts WHERE seq = ?"));
    query.addBindValue(seq);
    if (!query.exec()) {
        *error = describe(query.lastError());
        return false;
    }
    *closed = query.numRowsAffected() == 1;
    return true;
}

bool ConflictsWorker::writeRecord(const QString &entity, const QString &id, qint64 seq,
                                  const QString &column, QString *error)
{
    if (const QString problem = Identifier::check(entity, u"entity"); !problem.isEmpty()) {
        *error = problem;
        return false;
    }
    const QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    QSqlQuery query(db);
    query.setForwardOnly(true);
    // A table being bulk-loaded has no index on id yet and may hold several versions of a record.
    query.prepare(QStringLiteral("SELECT bulk_load FROM _sync_state WHERE entity = ?"));
    query.addBindValue(entity);
    if (query.exec() && query.next() && query.value(0).toInt() == 1) {
        *error = tr("%1 is loading its first sync; try again once it is complete").arg(entity);
        return false;
    }
    query.finish();

    query.prepare(QStringLiteral("SELECT %1 FROM _sync_conflicts WHERE seq = ?").arg(column));
    query.addBindValue(seq);
    if (!query.exec() || !query.next()) {
        *error = describe(query.lastError());
        return false;
    }
    const QVariant json = query.value(0);
    query.finish();

    const QString table = Identifier::quoted(entity);
    QStringList columns;
    if (!recordColumns(db, entity, &columns, error))
        return false;
    if (json.isNull()) { // a deletion
        query.prepare(QStringLiteral("DELETE FROM %1 WHERE \"id\" = ?").arg(table));
        query.addBindValue(id);
        if (!query.exec()) {
            *error = describe(query.lastError());
            return false;
        }
        return true;
    }
    // A plain edit, never INSERT OR REPLACE: the capture triggers see an UPDATE or an INSERT.
    QStringList assignments;
    for (const QString &name : std::as_const(columns))
        assignments.append(Identifier::quoted(name) + QStringLiteral(" = ") + jsonField(name));
    if (assignments.isEmpty())
        assignments.append(QStringLiteral("\"id\" = \"id\""));
    query.prepare(QStringLiteral("UPDATE %1 SET %2 WHERE \"id\" = ?")
                      .arg(table, assignments.join(QStringLiteral(", "))));
    for (qsizetype i = 0; i < columns.size(); ++i)
        query.addBindValue(json);
    query.addBindValue(id);
    if (!query.exec()) {
        *error = describe(query.lastError());
        return false;
    }
    if (query.numRowsAffected() > 0)
        return true;

    QStringList names { QStringLiteral("\"id\"") };
    QStringList values { QStringLiteral("?") };
    for (const QString &name : std::as_const(columns)) {
        names.append(Identifier::quoted(name));
        values.append(jsonField(name));
    }
    query.prepare(
        QStringLiteral("INSERT INTO %1 (%2) VALUES (%3)")
            .arg(table, names.join(QStringLiteral(", ")), values.join(QStringLiteral(", "))));
    query.addBindValue(id);
    for (qsizetype i = 0; i < columns.size(); ++i)
        query.addBindValue(json);
    if (!query.exec()) {
        *error = describe(query.lastError());
        return false;
    }
    return true;
}

} // namespace BatchSync::Ui
