#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QList>
#include <QString>
#include <QVariantList>
#include <optional>

/*!
    \file push.h
    POST /entities/{name}/changes of protocol v1.1, the part every backend shares: the request
    read and checked against the entity's schema, and the JSON of the results. Internal to
    core/server; any thread.
*/

namespace BatchSync {

/*! One change of a push request, checked against its entity's schema. */
struct PushChange
{
    QString changeId;
    QString id;
    std::optional<QString> base; //!< the version the client had; nullopt for JSON null
    bool deleted = false;
    QVariantList values; //!< a live record's values in schema order, as columns hold them
    QString rejection; //!< non-empty: why the change can never apply (its result is rejected)
};

/*! A push request whose shape is right (its changes may still be rejected one by one). */
struct PushRequest
{
    QString client;
    QList<PushChange> changes;
};

/*! A record as a backend has it, for a conflict's "current". */
struct StoredRecord
{
    bool exists = false; //!< a row, live or a tombstone
    bool deleted = false;
    QString version;
    QString changedAt;
    QVariantList values; //!< schema order; read back from the database
};

namespace Push {

constexpr qint64 MaxBodyBytes = 16 * 1024 * 1024; // 16,777,216 bytes pass
constexpr int MaxChanges = 10000;
constexpr int MaxChangeIdLength = 128; // characters, for the client's identifier too
constexpr int MaxIdBytes = 512;
/*! How long a (client, changeId) result is remembered, in seconds. */
constexpr qint64 RememberSeconds = 7 * 24 * 3600;

/*!
    Reads a request body for \a schema. A wrong shape (not JSON, no "changes" array or more
    than MaxChanges, a "client" or "changeId" missing, empty or too long, a change that is not
    an object; {"changes": []} needs no client) gives nullopt with \a error set: a 400. A change
   whose own fields are wrong gets its rejection, naming the field.
*/
std::optional<PushRequest> parse(const QByteArray &body, const EntitySchema &schema,
                                 QString *error);

/*! A result object: applied with the record's new version and changedAt. */
QByteArray applied(const QString &changeId, const QString &version, const QString &changedAt);
/*! A result object: an applied change that changed nothing (a deletion of nothing live). */
QByteArray appliedUnchanged(const QString &changeId, const StoredRecord &record);
/*! A result object: conflict, with the server's \a current record of \a id. */
QByteArray conflict(const QString &changeId, const EntitySchema &schema, const QString &id,
                    const StoredRecord &current);
/*! A result object: rejected for \a reason. */
QByteArray rejected(const QString &changeId, const QString &reason);
/*! The answer's body: {"results": [...]} from result objects, in request order. */
QByteArray results(const QList<QByteArray> &objects);

/*!
    The result objects of \a changes from a backend's \a run, which has bool
    prepare(QString *problem) and std::optional<QByteArray> resultOf(const PushChange &,
    QString *problem); nullopt with \a problem set as soon as one fails.
*/
template<typename Run>
std::optional<QList<QByteArray>> resultsOf(Run &run, const QList<PushChange> &changes,
                                           QString *problem)
{
    if (!run.prepare(problem))
        return std::nullopt;
    QList<QByteArray> objects;
    objects.reserve(changes.size());
    for (const PushChange &change : changes) {
        std::optional<QByteArray> object = run.resultOf(change, problem);
        if (!object)
            return std::nullopt;
        objects.append(std::move(*object));
    }
    return objects;
}

} // namespace Push

} // namespace BatchSync
