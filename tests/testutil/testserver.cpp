#include "testserver.h"

#include "common/timestamp.h"

#include <QDateTime>
#include <QRandomGenerator>
#include <QtTest>
#include <cmath>

namespace BatchSync::Test {

TestServer::TestServer()
    : m_server(std::make_unique<SyncServer>())
{
}

TestServer::~TestServer() = default;

bool TestServer::start(const QString &token)
{
    if (!m_dir.isValid()) {
        qWarning("TestServer: cannot create a temporary directory: %s",
                 qPrintable(m_dir.errorString()));
        return false;
    }
    QString error;
    if (!m_server->store()
        && !m_server->open(m_dir.filePath(QStringLiteral("server.sqlite")), &error)) {
        qWarning("TestServer: %s", qPrintable(error));
        return false;
    }
    return listen(token);
}

bool TestServer::startPostgres(const QString &connection, const QString &token)
{
    QString error;
    if (!m_server->backend() && !m_server->openPostgres(connection, &error)) {
        qWarning("TestServer: %s", qPrintable(error));
        return false;
    }
    return listen(token);
}

bool TestServer::listen(const QString &token)
{
    m_server->setToken(token);
    if (m_server->port() == 0 && m_server->listen(QHostAddress::LocalHost, 0) == 0) {
        qWarning("TestServer: cannot listen: %s", qPrintable(m_server->errorString()));
        return false;
    }
    return true;
}

QString TestServer::randomId(QRandomGenerator &random)
{
    return QStringLiteral("%1-%2-%3-%4-%5")
        .arg(random.generate(), 8, 16, QLatin1Char('0'))
        .arg(random.bounded(0x10000u), 4, 16, QLatin1Char('0'))
        .arg(random.bounded(0x10000u), 4, 16, QLatin1Char('0'))
        .arg(random.bounded(0x10000u), 4, 16, QLatin1Char('0'))
        .arg(random.generate64() & 0xffffffffffffULL, 12, 16, QLatin1Char('0'));
}

EntitySchema TestServer::addCustomers(int records, quint32 seed, const QString &name)
{
    const EntitySchema schema { name,
                                { { QStringLiteral("name"), FieldType::String },
                                  { QStringLiteral("balance"), FieldType::Real },
                                  { QStringLiteral("active"), FieldType::Bool },
                                  { QStringLiteral("visits"), FieldType::Int },
                                  { QStringLiteral("since"), FieldType::DateTime } } };
    QString error;
    if (!backend() || !backend()->addEntity(schema, &error)) {
        qWarning("TestServer::addCustomers: %s", backend() ? qPrintable(error) : "not started");
        return schema;
    }
    QRandomGenerator random(seed);
    QList<std::pair<QString, QVariantMap>> batch;
    batch.reserve(records);
    const qint64 start = QDateTime(QDate(2020, 1, 1), QTime(0, 0), Qt::UTC).toMSecsSinceEpoch();
    for (int i = 0; i < records; ++i) {
        const QVariantMap data {
            { QStringLiteral("name"), QStringLiteral("Customer %1").arg(i) },
            { QStringLiteral("balance"), std::round(random.bounded(10000.0) * 100.0) / 100.0 },
            { QStringLiteral("active"), random.bounded(2) == 1 },
            { QStringLiteral("visits"), qint64(random.bounded(1000)) },
            { QStringLiteral("since"),
              Timestamp::format(QDateTime::fromMSecsSinceEpoch(
                  start + qint64(random.bounded(1.0e11)), Qt::UTC)) },
        };
        batch.append({ randomId(random), data });
    }
    if (!backend()->upsert(name, batch, &error))
        qWarning("TestServer::addCustomers: %s", qPrintable(error));
    return schema;
}

} // namespace BatchSync::Test
