#pragma once

// What the push stress suites share (tst_pushfuzz, tst_pushrace): a SyncServer on either
// backend, on the caller's thread or on a thread of its own, asynchronous pushes and pulls
// over HTTP, and the comparison of a field's value as sent with the value as served.

#include "common/types.h"
#include "server/backend/serverbackend.h"
#include "server/syncserver.h"
#include "testutil/pgtest.h"

#include <QJsonValue>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkReply>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QThread>
#include <QUrlQuery>
#include <functional>
#include <memory>

namespace BatchSync::Test {

/*!
    Where a suite's server keeps its data: "sqlite" (a file in a temporary directory) or
    "postgres" (a fresh schema of \a database on the test server, see pgtest.h).
*/
class PushBackend
{
public:
    PushBackend(const QString &kind, const QString &database)
        : m_kind(kind)
        , m_database(database)
    {
    }
    ~PushBackend()
    {
        if (!m_schema.isEmpty())
            PgTest::dropSchema(m_database, m_schema);
    }
    Q_DISABLE_COPY_MOVE(PushBackend)

    bool isPostgres() const { return m_kind == QLatin1String("postgres"); }

    /*! Whether this backend can be tested here; if not, says why (a warning under CI). */
    bool isAvailable() const
    {
        const QString reason = isPostgres() ? PgTest::unavailableReason() : QString();
        if (reason.isEmpty())
            return true;
        if (PgTest::required())
            qWarning("PostgreSQL is required under CI: %s", qPrintable(reason));
        else
            qInfo("PostgreSQL tests not run: %s", qPrintable(reason));
        return false;
    }

    /*! Makes the (empty) database; call once, before open(). */
    bool create(const QString &schema)
    {
        if (!isPostgres())
            return m_dir.isValid();
        m_schema = schema;
        m_connection = PgTest::connection(m_database, schema, true);
        return !m_connection.isEmpty();
    }

    /*! Opens \a server on it, in the calling thread. */
    bool open(SyncServer *server, QString *error) const
    {
        return isPostgres() ? server->openPostgres(m_connection, error)
                            : server->open(m_dir.filePath(QStringLiteral("server.sqlite")), error);
    }

    QString database() const { return m_database; }
    /*! PostgreSQL's schema; empty before create() and for SQLite. */
    QString schema() const { return m_schema; }

    /*!
        Runs \a sql on a connection of the test's own (not the server's), as another program
        writing to the database would; the first column of its first row, or an invalid
        QVariant with a warning when it fails.
    */
    QVariant exec(const QString &sql) const
    {
        if (isPostgres())
            return PgTest::value(m_database, m_schema, sql);
        const QString name = QStringLiteral("pushbackend-sqlite");
        QVariant value;
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
            db.setDatabaseName(m_dir.filePath(QStringLiteral("server.sqlite")));
            if (!db.open()) {
                qWarning("%s: %s", qPrintable(sql), qPrintable(db.lastError().text()));
            } else {
                QSqlQuery query(db);
                if (!query.exec(sql))
                    qWarning("%s: %s", qPrintable(sql), qPrintable(query.lastError().text()));
                else
                    value = query.next() ? query.value(0) : QVariant(0);
            }
        }
        QSqlDatabase::removeDatabase(name);
        return value;
    }

private:
    QString m_kind;
    QString m_database;
    QString m_schema;
    QString m_connection;
    QTemporaryDir m_dir;
};

/*!
    A SyncServer living on a thread of its own, so that servers sharing a database decide
    at the same time. Created, used (call()) and destroyed from one thread.
*/
class ServerThread
{
public:
    ServerThread()
        : m_context(new QObject)
    {
        m_context->moveToThread(&m_thread);
        m_thread.start();
    }
    ~ServerThread()
    {
        call([this](SyncServer *) { m_server.reset(); });
        m_thread.quit();
        m_thread.wait();
        delete m_context;
    }
    Q_DISABLE_COPY_MOVE(ServerThread)

    /*! Opens \a backend and listens, on the server's thread. */
    bool start(const PushBackend &backend, QString *error)
    {
        bool ok = false;
        QMetaObject::invokeMethod(
            m_context,
            [&] {
                m_server = std::make_unique<SyncServer>();
                ok = backend.open(m_server.get(), error) && m_server->listen() > 0;
                m_baseUrl = m_server->baseUrl();
            },
            Qt::BlockingQueuedConnection);
        return ok;
    }

    /*! Runs \a work with the server on its thread and waits for it. */
    void call(const std::function<void(SyncServer *)> &work)
    {
        QMetaObject::invokeMethod(
            m_context, [&] { work(m_server.get()); }, Qt::BlockingQueuedConnection);
    }

    QUrl baseUrl() const { return m_baseUrl; }

private:
    QThread m_thread;
    QObject *m_context;
    std::unique_ptr<SyncServer> m_server; // made, used and destroyed on m_thread
    QUrl m_baseUrl;
};

/*! A POST of \a body to \a entity's changes under \a base; the caller owns the reply. */
inline QNetworkReply *postChanges(QNetworkAccessManager &nam, const QUrl &base,
                                  const QString &entity, const QByteArray &body)
{
    QNetworkRequest request(
        QUrl(base.toString() + QStringLiteral("/entities/%1/changes").arg(entity)));
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
    request.setTransferTimeout(60000);
    return nam.post(request, body);
}

/*! A GET of \a entity's changes after \a cursor (cursor mode); the caller owns the reply. */
inline QNetworkReply *getChanges(QNetworkAccessManager &nam, const QUrl &base,
                                 const QString &entity, const QString &cursor, int limit)
{
    QUrl url(base.toString() + QStringLiteral("/entities/%1/changes").arg(entity));
    QUrlQuery query;
    query.addQueryItem(QStringLiteral("limit"), QString::number(limit));
    if (!cursor.isEmpty())
        query.addQueryItem(QStringLiteral("since"),
                           QString::fromLatin1(QUrl::toPercentEncoding(cursor)));
    url.setQuery(query);
    QNetworkRequest request(url);
    request.setTransferTimeout(60000);
    return nam.get(request);
}

/*! Waits (at most 60 s) for \a reply; its status, 0 when it never finished. */
inline int finish(QNetworkReply *reply, QByteArray *body)
{
    QSignalSpy finished(reply, &QNetworkReply::finished);
    if (!reply->isFinished() && !finished.wait(60000))
        return 0;
    *body = reply->readAll();
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

/*!
    Whether \a served (a page's, a conflict's or a table's value) is the value \a sent for a
    field of \a type: JSON null and an absent field are null.
*/
inline bool sameValue(FieldType type, const QJsonValue &sent, const QJsonValue &served)
{
    if (sent.isNull() || sent.isUndefined())
        return served.isNull() || served.isUndefined();
    if (served.isNull() || served.isUndefined())
        return false;
    switch (type) {
    case FieldType::Bool:
        return sent.toVariant().toBool() == served.toVariant().toBool();
    case FieldType::Int:
        return sent.toVariant().toLongLong() == served.toVariant().toLongLong();
    case FieldType::Real:
        return sent.toDouble() == served.toDouble();
    case FieldType::String:
    case FieldType::DateTime:
    case FieldType::Decimal:
        return sent.toString() == served.toString();
    }
    return false;
}

} // namespace BatchSync::Test
