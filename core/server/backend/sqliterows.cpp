// ServerStore's row filters: the registered fields, the moves that record their values,
// and the pages and counts of a filtered caller (see ServerBackend::changesJson()).

#include "common/identifier.h"
#include "server/backend/serverstore_p.h"
#include "server/backend/sqlitepage.h"
#include "serverstore.h"

#include <QSet>
#include <QSqlError>
#include <QSqlQuery>
#include <limits>

namespace BatchSync {

namespace {

using ServerStoreDetail::columnName;
using ServerStoreDetail::movesTable;

QString sqlType(FieldType type)
{
    if (type == FieldType::Int || type == FieldType::Bool)
        return QStringLiteral("INTEGER");
    return type == FieldType::Real ? QStringLiteral("REAL") : QStringLiteral("TEXT");
}

// Each move lists the fields it knows (",a,b,"): a field registered later is unknown to the
// moves recorded before, and a null there must not read as "null then".
QString knownFields(const QStringList &fields)
{
    return u',' + fields.join(u',') + u',';
}

// A move is a transaction's change of a record that was live before it: the values of the
// registered fields before the transaction (f_...) and after it (n_..., gone when deleted), at
// the position of the record's last change in it (later changes in the transaction move it
// along). A record created or brought back in a transaction was nobody's to see before it: no
// move.
QString newColumn(const QString &field)
{
    return Identifier::quoted(QLatin1String("n_") + field);
}

QStringList triggerSql(const QString &entity, const QString &table, const QStringList &fields)
{
    const QString floor = QStringLiteral("_bs_txn_floor('%1')").arg(entity);
    QString names = QStringLiteral("seq, id, changed_at, known, gone");
    QString values = QStringLiteral("NEW.seq, OLD.id, NEW.changed_at, '%1', NEW.deleted")
                         .arg(knownFields(fields));
    QString follow = QStringLiteral("seq = NEW.seq, changed_at = NEW.changed_at, "
                                    "gone = NEW.deleted");
    for (const QString &field : fields) {
        const QString column = columnName(field);
        names += QStringLiteral(", %1, %2").arg(column, newColumn(field));
        values += QStringLiteral(", OLD.%1, NEW.%1").arg(column);
        follow += QStringLiteral(", %1 = NEW.%2").arg(newColumn(field), column);
    }
    const QString moves = movesTable(entity);
    return {
        QStringLiteral("CREATE TRIGGER %1 AFTER UPDATE ON %2 FOR EACH ROW "
                       "WHEN OLD.deleted = 0 AND OLD.seq <= %3 BEGIN "
                       "INSERT OR REPLACE INTO %4(%5) VALUES(%6); END")
            .arg(Identifier::quoted(QLatin1String("_bs_move_") + entity), table, floor, moves,
                 names, values),
        QStringLiteral("CREATE TRIGGER %1 AFTER UPDATE ON %2 FOR EACH ROW "
                       "WHEN OLD.seq > %3 BEGIN "
                       "UPDATE %4 SET %5 WHERE id = OLD.id AND seq > %3; END")
            .arg(Identifier::quoted(QLatin1String("_bs_follow_") + entity), table, floor, moves,
                 follow),
    };
}

// _bs_txn_floor(entity): see ServerStore::addTransactionFloor(). Outside a transaction begun
// by the store, every change is a first change.
void transactionFloor(sqlite3_context *context, int, sqlite3_value **arguments)
{
    const auto *floors = static_cast<const QHash<QString, qint64> *>(sqlite3_user_data(context));
    const auto *text = reinterpret_cast<const char *>(sqlite3_value_text(arguments[0]));
    const qint64 floor = floors->value(QString::fromUtf8(text), std::numeric_limits<qint64>::max());
    sqlite3_result_int64(context, floor);
}

} // namespace

bool ServerStore::registerRowFields(ServedEntity *served, const QStringList &fields, QString *error)
{
    auto *entity = static_cast<Entity *>(served);
    const QString &name = entity->schema.name;
    entity->resetQueries(); // no statement outlives the new trigger
    if (!beginTransaction(error))
        return false;
    QString problem;
    const auto abandon = [&] {
        return rollbackAndFail(
            QStringLiteral("cannot register the row filter fields of entity %1: %2")
                .arg(name, problem),
            error);
    };
    QSqlQuery query(database());
    query.prepare(QStringLiteral("INSERT OR IGNORE INTO _bs_row_fields(entity, field) "
                                 "VALUES(?, ?)"));
    for (const QString &field : fields) {
        query.addBindValue(name);
        query.addBindValue(field);
        if (!query.exec()) {
            problem = query.lastError().text();
            return abandon();
        }
    }
    // Every registered field, this call's and earlier ones', in schema order.
    QSet<QString> registered(fields.cbegin(), fields.cend());
    query.prepare(QStringLiteral("SELECT field FROM _bs_row_fields WHERE entity = ?"));
    query.addBindValue(name);
    if (!query.exec()) {
        problem = query.lastError().text();
        return abandon();
    }
    while (query.next())
        registered.insert(query.value(0).toString());
    QStringList all;
    for (const FieldSpec &field : std::as_const(entity->schema.fields)) {
        if (registered.contains(field.name))
            all.append(field.name);
    }

    const QString moves = movesTable(name);
    if (!exec(QStringLiteral("CREATE TABLE IF NOT EXISTS %1(seq INTEGER PRIMARY KEY, "
                             "id TEXT NOT NULL, changed_at TEXT NOT NULL, known TEXT NOT NULL, "
                             "gone INTEGER NOT NULL)")
                  .arg(moves),
              &problem)
        || !exec(QStringLiteral("CREATE INDEX IF NOT EXISTS %1 ON %2(id, seq)")
                     .arg(Identifier::quoted(QLatin1String("_bs_moves_id_") + name), moves),
                 &problem)
        || !exec(QStringLiteral("CREATE INDEX IF NOT EXISTS %1 ON %2(changed_at, id)")
                     .arg(Identifier::quoted(QLatin1String("_bs_moves_changed_") + name), moves),
                 &problem))
        return abandon();
    QSet<QString> columns;
    if (!query.exec(QStringLiteral("PRAGMA table_info(%1)").arg(moves))) {
        problem = query.lastError().text();
        return abandon();
    }
    while (query.next())
        columns.insert(query.value(1).toString());
    query.finish();
    for (const QString &field : std::as_const(all)) {
        if (columns.contains(QLatin1String("f_") + field))
            continue;
        const FieldType type = entity->schema.fields.at(entity->schema.fieldIndex(field)).type;
        for (const QString &column : { columnName(field), newColumn(field) }) {
            if (!exec(QStringLiteral("ALTER TABLE %1 ADD COLUMN %2 %3")
                          .arg(moves, column, sqlType(type)),
                      &problem))
                return abandon();
        }
    }
    for (const char *prefix : { "_bs_move_", "_bs_follow_" }) {
        if (!exec(QStringLiteral("DROP TRIGGER IF EXISTS %1")
                      .arg(Identifier::quoted(QLatin1String(prefix) + name)),
                  &problem))
            return abandon();
    }
    for (const QString &sql : triggerSql(name, entity->table, all)) {
        if (!exec(sql, &problem))
            return abandon();
    }
    return commitTransaction(error);
}

bool ServerStore::addTransactionFloor(QString *error)
{
    sqlite3 *db = SqlitePage::nativeHandle(connectionName());
    if (!db
        || sqlite3_create_function_v2(db, "_bs_txn_floor", 1, SQLITE_UTF8, &m_transactionFloor,
                                      &transactionFloor, nullptr, nullptr, nullptr)
            != SQLITE_OK) {
        *error = QStringLiteral("cannot add the function _bs_txn_floor");
        return false;
    }
    return true;
}

void ServerStore::transactionBegun()
{
    m_transactionFloor.clear();
    for (const auto &served : servedEntities()) {
        if (served)
            m_transactionFloor.insert(served->schema.name,
                                      static_cast<const Entity *>(served.get())->lastSeq);
    }
}

void ServerStore::transactionEnded()
{
    m_transactionFloor.clear();
}

sqlite3_stmt *ServerStore::rowsStatement(Entity *entity, PagingMode mode, bool count,
                                         const RowConditions &rows, QString *problem) const
{
    // A caller is served the changes of the records that match its rows now (their last
    // change, as everyone), and a deletion at each move that took a record out of them: a
    // transaction that began with it matching and left it not matching, or deleted. Moves
    // keep their positions, so a page that ends anywhere loses none.
    // t: the entity's rows; m: its moves. Filter values are ?4, ?5, ... in rows' order.
    QString live = QStringLiteral("t.deleted = 0");
    QString before;
    QString after = QStringLiteral("m.gone = 0");
    for (qsizetype i = 0; i < rows.size(); ++i) {
        const RowCondition &condition = rows.at(i);
        const QString &field = entity->schema.fields.at(condition.field).name;
        const QString column = entity->columns.at(condition.field);
        const QString newValue = newColumn(field);
        if (!before.isEmpty())
            before += QLatin1String(" AND ");
        if (condition.value.isNull()) {
            // A move made before the field was registered does not know its values.
            const QString known = QStringLiteral("instr(m.known, ',%1,') > 0").arg(field);
            live += QStringLiteral(" AND t.%1 IS NULL").arg(column);
            before += QStringLiteral("m.%1 IS NULL AND %2").arg(column, known);
            after += QStringLiteral(" AND m.%1 IS NULL AND %2").arg(newValue, known);
        } else {
            // A decimal (text) equals a number as the double it reads as.
            const QString value = QStringLiteral("?%1").arg(4 + i);
            const bool asReal = entity->schema.fields.at(condition.field).type == FieldType::Decimal
                && condition.value.typeId() == QMetaType::Double;
            const QLatin1String compare(asReal ? "CAST(%1.%2 AS REAL) = %3" : "%1.%2 = %3");
            live += QLatin1String(" AND ")
                + QString(compare).arg(QLatin1String("t")).arg(column, value);
            before += QString(compare).arg(QLatin1String("m")).arg(column, value);
            after += QLatin1String(" AND ")
                + QString(compare).arg(QLatin1String("m")).arg(newValue, value);
        }
    }
    const QLatin1String position(mode == PagingMode::Cursor ? "seq" : "changed_at");
    const QString liveWhere = QStringLiteral(" WHERE t.%1 > ?1 AND %2").arg(position, live);
    const QString movesWhere = QStringLiteral(" WHERE m.%1 > ?1 AND %2 AND NOT coalesce(%3, 0)")
                                   .arg(position, before, after);
    const QString moves = movesTable(entity->schema.name);
    QString sql;
    if (count) {
        sql = QStringLiteral("SELECT (SELECT count(*) FROM %1 AS t%2) + "
                             "(SELECT count(*) FROM %3 AS m%4)")
                  .arg(entity->table, liveWhere, moves, movesWhere);
    } else {
        const QString order = mode == PagingMode::Cursor ? QStringLiteral("seq")
                                                         : QStringLiteral("changed_at, id, seq");
        QString liveColumns = QStringLiteral("t.seq AS seq, t.id AS id, t.changed_at AS "
                                             "changed_at, 0 AS deleted");
        QString movesColumns = QStringLiteral("m.seq, m.id, m.changed_at, 1");
        for (const QString &column : entity->columns) {
            liveColumns += QLatin1String(", t.") + column;
            movesColumns += QLatin1String(", NULL");
        }
        // Each side sorted and cut first: a page reads no more than it needs of either.
        sql = QStringLiteral("SELECT * FROM (SELECT * FROM (SELECT %1 FROM %2 AS t%3 ORDER BY %7 "
                             "LIMIT ?2 + ?3) UNION ALL SELECT * FROM (SELECT %4 FROM %5 AS m%6 "
                             "ORDER BY %7 LIMIT ?2 + ?3)) ORDER BY %7 LIMIT ?2 OFFSET ?3")
                  .arg(liveColumns, entity->table, liveWhere, movesColumns, moves, movesWhere,
                       order);
    }
    // Few shapes per entity (one per filter of the auth file); a bound keeps odd callers from
    // growing the cache.
    if (entity->rowStatements.size() > 64)
        entity->rowStatements.clear();
    sqlite3_stmt *statement
        = SqlitePage::prepare(entity->rowStatements[sql], connectionName(), sql, problem);
    if (!statement)
        return nullptr;
    if (!count)
        sqlite3_bind_int64(statement, 3, 0); // the offset, which offset mode binds again
    for (qsizetype i = 0; i < rows.size(); ++i) {
        const QVariant &value = rows.at(i).value;
        const int index = int(4 + i);
        switch (value.typeId()) {
        case QMetaType::Bool:
            sqlite3_bind_int64(statement, index, value.toBool() ? 1 : 0);
            break;
        case QMetaType::LongLong:
            sqlite3_bind_int64(statement, index, value.toLongLong());
            break;
        case QMetaType::Double:
            sqlite3_bind_double(statement, index, value.toDouble());
            break;
        default:
            if (!value.isNull()) {
                const QByteArray text = value.toString().toUtf8();
                sqlite3_bind_text(statement, index, text.constData(), int(text.size()),
                                  SQLITE_TRANSIENT);
            }
            break;
        }
    }
    return statement;
}

std::optional<qint64> ServerStore::lastSeq(Entity *entity, QString *problem) const
{
    sqlite3_stmt *statement = SqlitePage::prepare(
        entity->lastSeqStatement, connectionName(),
        QStringLiteral("SELECT coalesce(max(seq), 0) FROM %1").arg(entity->table), problem);
    if (!statement)
        return std::nullopt;
    const SqlitePage::StatementReset reset(statement);
    if (sqlite3_step(statement) != SQLITE_ROW) {
        *problem
            = QStringLiteral("cannot read the last change of entity %1: %2")
                  .arg(entity->schema.name, SqlitePage::sqliteError(sqlite3_db_handle(statement)));
        return std::nullopt;
    }
    return qint64(sqlite3_column_int64(statement, 0));
}

} // namespace BatchSync
