#include "sqlitepage.h"

#include <QSqlDatabase>
#include <QSqlDriver>

namespace BatchSync::SqlitePage {

sqlite3 *nativeHandle(const QString &connection)
{
    const QSqlDatabase db = QSqlDatabase::database(connection, false);
    const QVariant handle = db.driver() ? db.driver()->handle() : QVariant();
    if (!handle.isValid() || qstrcmp(handle.typeName(), "sqlite3*") != 0)
        return nullptr;
    return *static_cast<sqlite3 *const *>(handle.constData());
}

sqlite3_stmt *prepare(Statement &slot, const QString &connection, const QString &sql,
                      QString *problem)
{
    if (slot)
        return slot.get();
    sqlite3 *db = nativeHandle(connection);
    if (!db) {
        *problem = QStringLiteral("the server database connection has no SQLite handle");
        return nullptr;
    }
    const QByteArray text = sql.toUtf8();
    sqlite3_stmt *statement = nullptr;
    if (sqlite3_prepare_v3(db, text.constData(), int(text.size()), SQLITE_PREPARE_PERSISTENT,
                           &statement, nullptr)
        != SQLITE_OK) {
        *problem = QStringLiteral("cannot prepare a query: %1").arg(sqliteError(db));
        sqlite3_finalize(statement);
        return nullptr;
    }
    slot.reset(statement);
    return statement;
}

bool storesUtf8(sqlite3 *db)
{
    sqlite3_stmt *statement = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA encoding", -1, &statement, nullptr) != SQLITE_OK) {
        sqlite3_finalize(statement);
        return false;
    }
    const Statement owner(statement);
    if (sqlite3_step(statement) != SQLITE_ROW)
        return false;
    const char *encoding = reinterpret_cast<const char *>(sqlite3_column_text(statement, 0));
    return encoding && qstrcmp(encoding, "UTF-8") == 0;
}

} // namespace BatchSync::SqlitePage
