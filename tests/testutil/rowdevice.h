#pragma once

// What tst_rows shares between its cases: a backend on either database, and a device that
// pulls an entity under a row filter, page by page, applying each page to a map as a client
// applies it to its local table.

#include "common/timestamp.h"
#include "server/access/rowaccess.h"
#include "server/access/rowfilter.h"
#include "server/backend/pgserverstore.h"
#include "server/backend/serverbackend.h"
#include "server/backend/serverstore.h"
#include "testutil/pgtest.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <memory>

namespace BatchSync::Test {

/*! Opens a backend on SQLite file \a path, or on PostgreSQL \a connection when selected. */
inline std::unique_ptr<ServerBackend>
openRowsBackend(const QString &path, const QString &connection, const QString &name, QString *error)
{
    std::unique_ptr<ServerBackend> backend;
    if (PgTest::selected())
        backend = std::make_unique<PgServerStore>(connection, name);
    else
        backend = std::make_unique<ServerStore>(path, name);
    if (!backend->open(error))
        return nullptr;
    return backend;
}

/*! A field's value as a filter compares it: the JSON form a client receives. */
inline QJsonValue jsonValue(const QVariant &value)
{
    return value.isNull() ? QJsonValue(QJsonValue::Null) : QJsonValue::fromVariant(value);
}

/*!
    A device: the records it holds (id → data as served), where it is (cursor, or changedAt and
    offset), and every change it was ever served.
*/
struct RowDevice
{
    RowFilter filter;
    PagingMode mode = PagingMode::Cursor;
    QString since; // cursor, or changedSince
    QString pageMax; // offset mode: the largest changedAt applied so far
    qint64 offset = 0;
    QHash<QString, QJsonObject> records;
    QStringList served; // "id+" or "id-", in order
    QSet<QString> servedIds;
    int pages = 0; // requests
    int fullPages = 0; // pages with changes

    /*!
        Pulls one page of at most \a limit changes and applies it; false with \a error on a
        failure. \a more says whether the page said hasMore.
    */
    bool pullPage(ServerBackend *backend, const QString &entity, int limit, bool *more,
                  QString *error)
    {
        int count = 0;
        const std::optional<QByteArray> body
            = backend->changesJson(entity, mode, since, offset, limit, filter, &count, error);
        if (!body)
            return false;
        ++pages;
        const QJsonObject page = QJsonDocument::fromJson(*body).object();
        const QJsonArray changes = page.value(QLatin1String("changes")).toArray();
        if (!changes.isEmpty())
            ++fullPages;
        if (changes.size() != count) {
            *error = QStringLiteral("a page of %1 changes says %2").arg(changes.size()).arg(count);
            return false;
        }
        for (const QJsonValue &value : changes) {
            const QJsonObject change = value.toObject();
            const QString id = change.value(QLatin1String("id")).toString();
            const bool deleted = change.value(QLatin1String("deleted")).toBool();
            served.append(id + (deleted ? u'-' : u'+'));
            servedIds.insert(id);
            if (deleted)
                records.remove(id);
            else
                records.insert(id, change.value(QLatin1String("data")).toObject());
            pageMax = qMax(pageMax, change.value(QLatin1String("changedAt")).toString());
        }
        *more = page.value(QLatin1String("hasMore")).toBool();
        if (mode == PagingMode::Cursor) {
            since = page.value(QLatin1String("cursor")).toString();
        } else if (*more) {
            offset += changes.size();
        } else {
            // Caught up: the next sync starts after the largest changedAt applied.
            since = qMax(since, pageMax);
            offset = 0;
        }
        return true;
    }

    /*!
        Pulls until caught up, in pages of \a limit; first checks that count() from here is
        exactly the number of changes the pages then serve.
    */
    bool pullAll(ServerBackend *backend, const QString &entity, int limit, QString *error)
    {
        const std::optional<qint64> expected = backend->count(entity, mode, since, filter, error);
        if (!expected)
            return false;
        const qsizetype before = served.size();
        bool more = true;
        while (more) {
            if (!pullPage(backend, entity, limit, &more, error))
                return false;
        }
        if (served.size() - before != *expected) {
            *error = QStringLiteral("count said %1 changes, the pages served %2")
                         .arg(*expected)
                         .arg(served.size() - before);
            return false;
        }
        return true;
    }

    /*! The records of \a backend's \a entity that match the filter now, as served. */
    static QHash<QString, QJsonObject> expected(ServerBackend *backend, const QString &entity,
                                                const RowFilter &filter)
    {
        const EntitySchema schema = *backend->entity(entity);
        const QHash<QString, QVariantList> live = backend->liveRecords(entity);
        QHash<QString, QJsonObject> result;
        for (auto it = live.cbegin(); it != live.cend(); ++it) {
            // The rows a push is checked against: pulls and pushes agree.
            if (!RowAccess::matches(filter, schema, it.value()))
                continue;
            QJsonObject data;
            for (qsizetype i = 0; i < schema.fields.size(); ++i)
                data.insert(schema.fields.at(i).name, jsonValue(it.value().at(i)));
            result.insert(it.key(), data);
        }
        return result;
    }
};

/*! How \a actual differs from \a expected, in words; empty when equal. */
inline QString difference(const QHash<QString, QJsonObject> &actual,
                          const QHash<QString, QJsonObject> &expected)
{
    QStringList lines;
    for (auto it = expected.cbegin(); it != expected.cend(); ++it) {
        if (!actual.contains(it.key()))
            lines.append(QStringLiteral("missing %1").arg(it.key()));
        else if (actual.value(it.key()) != it.value())
            lines.append(QStringLiteral("stale %1").arg(it.key()));
    }
    for (auto it = actual.cbegin(); it != actual.cend(); ++it) {
        if (!expected.contains(it.key()))
            lines.append(QStringLiteral("extra %1").arg(it.key()));
    }
    lines.sort();
    return lines.join(QLatin1String(", "));
}

/*! Waits (without sleeping) until the clock is past \a changedAt, for offset mode. */
inline void waitPast(const QString &changedAt)
{
    while (Timestamp::now() <= changedAt) { }
}

} // namespace BatchSync::Test
