#pragma once

#include "common/types.h"
#include "server/backend/serverstore.h"
#include "server/syncserver.h"

#include <QTemporaryDir>
#include <QUrl>
#include <memory>

QT_BEGIN_NAMESPACE
class QRandomGenerator;
QT_END_NAMESPACE

namespace BatchSync::Test {

/*!
    A real SyncServer for tests: a temporary SQLite database, 127.0.0.1 on an ephemeral
    port, in the calling thread (QtTest's event loop serves it while a test waits).
*/
class TestServer
{
public:
    TestServer();
    ~TestServer();

    /*! Opens the database and listens; false (and a QWARN) on failure. */
    bool start(const QString &token = QString());

    /*!
        Serves the PostgreSQL database of libpq \a connection instead of a temporary SQLite
        one, and listens; false (and a QWARN) on failure.
    */
    bool startPostgres(const QString &connection, const QString &token = QString());

    SyncServer *server() const { return m_server.get(); }
    /*! The SQLite store, or null when the server serves PostgreSQL: see backend(). */
    ServerStore *store() const { return m_server->store(); }
    /*! The data served, on either backend. */
    ServerBackend *backend() const { return m_server->backend(); }
    QUrl baseUrl() const { return m_server->baseUrl(); }

    /*!
        Adds a "customers" entity with one field of every type and \a records records with
        random ids (seeded by \a seed). Returns the schema.
    */
    EntitySchema addCustomers(int records, quint32 seed = 1,
                              const QString &name = QStringLiteral("customers"));

    /*! A random UUID-like id (8-4-4-4-12 lower-case hex) from \a random. */
    static QString randomId(QRandomGenerator &random);

    /*! The temporary directory holding the database; removed with the TestServer. */
    QString directory() const { return m_dir.path(); }

private:
    bool listen(const QString &token);

    QTemporaryDir m_dir;
    std::unique_ptr<SyncServer> m_server;
};

} // namespace BatchSync::Test
