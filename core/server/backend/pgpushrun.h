#pragma once

#include "server/backend/pgentity.h"
#include "server/backend/pgserverstore.h"
#include "server/push.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QSqlError>
#include <QSqlQuery>
#include <QString>
#include <QVariantList>
#include <memory>
#include <optional>
#include <unordered_map>

/*!
    \file pgpushrun.h
    One push request on PostgreSQL (PgServerStore::push). Internal to core/server; the
    connection's thread only. pgpush.cpp decides one change at a time (the way every change
    can take), pgpushbatch.cpp a request's changes a few statements at a time.
*/

namespace BatchSync {

namespace PgPush {

/*! Whether \a error is one a change's own values cause (a data or constraint fault). */
bool isChangesFault(const QSqlError &error);

/*! A client identifier or changeId as _bs_pushes holds it (text cannot hold U+0000). */
QString storedIdentifier(const QString &identifier);

/*! Whether a value of \a change is text with U+0000, which PostgreSQL text cannot hold. */
bool holdsNul(const PushChange &change);
/*! The rejection of a change that holdsNul(). */
inline const QString NulRejection = QStringLiteral("PostgreSQL text cannot hold U+0000");

/*! \a items as the text of a PostgreSQL text[] literal, for CAST(? AS text[]). */
QString textArray(const QStringList &items);

/*! A PostgreSQL text[] literal built value by value, for CAST(? AS text[]). */
class ArrayText final
{
public:
    /*! Appends \a text. */
    void append(const QString &text);
    /*!
        Appends the text form of a change's value (null, text, an integer, a double, or with
        \a isBool an integer for false or true): false for a value of another type.
    */
    bool append(const QVariant &value, bool isBool);
    /*! The literal; the array is empty again. */
    QString take();

private:
    QString m_text;
};

} // namespace PgPush

class PgServerStore::PushRun final
{
    Q_DISABLE_COPY_MOVE(PushRun)

public:
    PushRun(PgServerStore *store, Entity *entity, const QString &client);

    /*! Forgets the results older than Push::RememberSeconds. */
    bool prepare(QString *problem);
    /*!
        Locks the records \a changes may change, in one order for every server, then the
        client's pushes to the entity.
    */
    bool lockRecords(const QList<PushChange> &changes, QString *problem);
    /*! The result objects of \a changes, in request order (pgpushbatch.cpp). */
    std::optional<QList<QByteArray>> results(const QList<PushChange> &changes, QString *problem);

    /*! The SQLSTATE of the last statement that failed, if any. */
    QString failedState() const { return m_failedState; }

private:
    // How a set of changes decided together ended.
    enum class SetOutcome { Decided, OneByOne, Failed };

    bool lockClient(const QList<PushChange> &changes, QString *problem);

    // pgpush.cpp: one change at a time, under its own savepoint.
    std::optional<QByteArray> decideUnderSavepoint(const PushChange &change, QString *problem);
    std::optional<QByteArray> decide(const PushChange &change, QSqlError *fault, QString *problem);
    bool read(const QString &id, StoredRecord *record, QSqlError *fault, QString *problem);
    bool readTombstone(const QString &id, StoredRecord *record, QString *problem);
    QVariantList rowBinds(const PushChange &change) const;
    bool run(const QString &sql, const QVariantList &binds, QString *problem,
             QSqlError *fault = nullptr);
    bool runInline(const QString &sql, const QVariantList &binds, QString *problem,
                   QSqlError *fault = nullptr);

    // pgpushbatch.cpp: changes of distinct records decided together.
    bool readRemembered(const QList<PushChange> &changes, QHash<QString, QByteArray> *remembered,
                        QString *problem);
    bool decideSegment(const QList<const PushChange *> &segment,
                       QHash<const PushChange *, QByteArray> *results, QString *problem);
    SetOutcome decideSet(const QList<const PushChange *> &segment,
                         QHash<const PushChange *, QByteArray> *results, QSqlError *fault,
                         QString *problem);
    SetOutcome readCurrent(const QList<const PushChange *> &segment, QStringList *canonical,
                           QList<StoredRecord> *current, QSqlError *fault, QString *problem);
    SetOutcome write(const QList<const PushChange *> &changes, const QStringList &ids,
                     QHash<QString, std::pair<QString, QString>> *written, QSqlError *fault,
                     QString *problem);
    bool readTombstones(const QList<const PushChange *> &changes,
                        QHash<const PushChange *, QByteArray> *results, QSqlError *fault,
                        QString *problem);
    bool remember(const QHash<QString, QByteArray> &results,
                  const QHash<QString, QByteArray> &remembered, QString *problem);

    PgServerStore *m_store;
    Entity *m_entity;
    QString m_client;
    QSqlQuery m_plain;
    std::unordered_map<QString, std::unique_ptr<QSqlQuery>> m_prepared; // by statement
    QSqlQuery *m_query = nullptr; // the query of the last run()
    qint64 m_now = 0;
    QString m_failedState;
};

} // namespace BatchSync
