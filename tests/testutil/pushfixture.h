#pragma once

// What the push suites share (tst_push, tst_pushhttp, tst_pushsync): a server with five
// customers (SQLite, or PostgreSQL when m_postgres is set), an HTTP client for it, and the
// bodies of push requests.

#include "common/types.h"
#include "server/backend/serverstore.h"
#include "server/push.h"
#include "server/syncserver.h"
#include "testutil/pgtest.h"
#include "testutil/testserver.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTest>
#include <memory>

namespace BatchSync::Test {

struct Reply
{
    int status = 0;
    QByteArray body;
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
};

inline QJsonObject change(const QString &changeId, const QString &id, const QJsonValue &base,
                          bool deleted, const QJsonObject &data = QJsonObject())
{
    QJsonObject object { { QStringLiteral("changeId"), changeId },
                         { QStringLiteral("id"), id },
                         { QStringLiteral("base"), base },
                         { QStringLiteral("deleted"), deleted } };
    if (!deleted)
        object.insert(QStringLiteral("data"), data);
    return object;
}

inline QByteArray request(const QJsonArray &changes,
                          const QString &client = QStringLiteral("client-1"))
{
    return QJsonDocument(QJsonObject { { QStringLiteral("client"), client },
                                       { QStringLiteral("changes"), changes } })
        .toJson(QJsonDocument::Compact);
}

inline QJsonObject fullData(const QString &name, qint64 visits)
{
    return { { QStringLiteral("name"), name },
             { QStringLiteral("balance"), 12.5 },
             { QStringLiteral("active"), true },
             { QStringLiteral("visits"), visits },
             { QStringLiteral("since"), QStringLiteral("2026-12-02T08:00:00.000Z") } };
}

/*! The fixture: call setUp() in init() and tearDown() in cleanup(). */
class PushFixture
{
protected:
    std::unique_ptr<Test::TestServer> m_server;
    std::unique_ptr<QNetworkAccessManager> m_nam;
    QStringList m_ids; // the customers' ids, all live at version = position + 1
    QString m_postgres; // set: the server serves this PostgreSQL database, not SQLite

    // \a path may end with a query ("/entities/customers/count?since=0").
    QUrl url(const QString &path) const
    {
        QUrl url = m_server->baseUrl();
        const qsizetype query = path.indexOf(u'?');
        url.setPath(url.path() + path.left(query));
        if (query >= 0)
            url.setQuery(path.mid(query + 1));
        return url;
    }

    Reply send(const QByteArray &verb, const QString &path, const QByteArray &body = QByteArray(),
               const QByteArray &authorization = QByteArray())
    {
        QNetworkRequest request(url(path));
        request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
        if (!authorization.isEmpty())
            request.setRawHeader("Authorization", authorization);
        std::unique_ptr<QNetworkReply> reply(
            verb == "GET" ? m_nam->get(request) : m_nam->sendCustomRequest(request, verb, body));
        QSignalSpy finished(reply.get(), &QNetworkReply::finished);
        Reply result;
        if (!reply->isFinished() && !finished.wait(60000))
            return result;
        result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        result.body = reply->readAll();
        return result;
    }

    Reply push(const QByteArray &body, const QString &entity = QStringLiteral("customers"),
               const QByteArray &authorization = QByteArray())
    {
        return send("POST", QStringLiteral("/entities/%1/changes").arg(entity), body,
                    authorization);
    }

    // The results of a push that must answer 200.
    QJsonArray results(const QJsonArray &changes, const QString &client = QStringLiteral("c"))
    {
        const Reply reply = push(request(changes, client));
        if (reply.status != 200)
            qWarning("push answered %d: %s", reply.status, reply.body.constData());
        return reply.json().value(QStringLiteral("results")).toArray();
    }

    // A raw request, answered with whatever the server sends until it closes or 10 s pass.
    QByteArray raw(const QByteArray &bytes)
    {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, m_server->server()->port());
        if (!socket.waitForConnected(5000))
            return QByteArray();
        socket.write(bytes);
        QByteArray answer;
        QElapsedTimer timer;
        timer.start();
        while (socket.state() == QAbstractSocket::ConnectedState && timer.elapsed() < 10000) {
            QSignalSpy ready(&socket, &QTcpSocket::readyRead);
            ready.wait(200);
            answer += socket.readAll();
        }
        return answer + socket.readAll();
    }

    QJsonObject liveRecord(const QString &id)
    {
        const QList<QVariant> values
            = m_server->backend()->liveRecords(QStringLiteral("customers")).value(id);
        if (values.isEmpty())
            return QJsonObject();
        QJsonObject object;
        const QStringList names { "name", "balance", "active", "visits", "since" };
        for (int i = 0; i < names.size(); ++i)
            object.insert(names.at(i), QJsonValue::fromVariant(values.at(i)));
        return object;
    }

    // The changes in the pages after \a cursor (empty: from the beginning).
    QJsonArray pageChanges(const QString &cursor = QString())
    {
        int records = 0;
        QString error;
        const std::optional<QByteArray> body = m_server->backend()->changesJson(
            QStringLiteral("customers"), PagingMode::Cursor, cursor, 0, 10000, &records, &error);
        if (!body)
            qWarning("changes: %s", qPrintable(error));
        return QJsonDocument::fromJson(body.value_or(QByteArray()))
            .object()
            .value("changes")
            .toArray();
    }

    // The change of \a id in the pages after \a cursor, or an empty object.
    QJsonObject pulled(const QString &id, const QString &cursor = QString())
    {
        for (const QJsonValue &value : pageChanges(cursor)) {
            if (value.toObject().value("id").toString() == id)
                return value.toObject();
        }
        return QJsonObject();
    }

    // The number of changes of the entity stored so far (SQLite: the version of its last
    // change; PostgreSQL, whose numbers have gaps: the writes the table's trigger counted).
    qint64 changeCount()
    {
        if (!m_postgres.isEmpty())
            return PgTest::writes(m_postgres);
        qint64 last = 0;
        for (const QJsonValue &value : pageChanges())
            last = qMax(last, value.toObject().value("version").toString().toLongLong());
        return last;
    }

    bool setUp()
    {
        m_server = std::make_unique<Test::TestServer>();
        if (!(m_postgres.isEmpty() ? m_server->start() : m_server->startPostgres(m_postgres)))
            return false;
        m_nam = std::make_unique<QNetworkAccessManager>();
        m_server->addCustomers(5);
        if (!m_postgres.isEmpty() && !PgTest::countWrites(m_postgres, QStringLiteral("customers")))
            return false;
        m_ids.clear();
        const Reply page = send("GET", QStringLiteral("/entities/customers/changes"));
        for (const QJsonValue &change : page.json().value("changes").toArray())
            m_ids.append(change.toObject().value("id").toString());
        return m_ids.size() == 5;
    }

    void tearDown()
    {
        m_nam.reset();
        m_server.reset();
    }
};

} // namespace BatchSync::Test
