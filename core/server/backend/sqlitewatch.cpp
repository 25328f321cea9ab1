// ServerStore::observeChanges: the rows the server's own connection writes, for GET /wait.

#include "serverstore.h"
#include "sqlitepage.h"

#include <cstring>

namespace BatchSync {

bool ServerStore::observeChanges(std::function<void(const QString &entity)> observer)
{
    sqlite3 *db = SqlitePage::nativeHandle(connectionName());
    if (!db)
        return false;
    m_observer = std::move(observer);
    sqlite3_update_hook(db, m_observer ? &ServerStore::onRowWritten : nullptr, this);
    return true;
}

void ServerStore::onRowWritten(void *store, int, const char *, const char *table, qint64)
{
    // The bookkeeping tables start with "_bs_"; entity names never start with '_'.
    if (table[0] == '_' || std::strncmp(table, "sqlite_", 7) == 0)
        return;
    static_cast<ServerStore *>(store)->m_observer(QString::fromUtf8(table));
}

} // namespace BatchSync
