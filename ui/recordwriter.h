#pragma once

#include <QHash>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QVariantList>

QT_BEGIN_NAMESPACE
class QSqlQuery;
QT_END_NAMESPACE

namespace BatchSync::Ui {

/*! Local changes not pushed yet, by entity. */
using PendingCounts = QHash<QString, qint64>;

/*!
    Writes the data view's edits to the local database, on the data view's worker thread
    (RecordModel moves it there, next to its RecordWorker), through a read-write connection
    of its own, opened, used and closed in that thread. Each write is one transaction with a
    busy timeout: the sync may hold the write lock for a moment. Plain SQL on the entity's
    table (UPDATE ... WHERE id = ?, INSERT of the id alone, DELETE): the capture triggers
    record the change for the next push. An entity whose first sync is still a bulk load (no
    unique index on id yet) is refused.
*/
class RecordWriter final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(RecordWriter)

public:
    /*! How long a write waits for the sync's write lock by default, in milliseconds. */
    static constexpr int DefaultBusyTimeoutMs = 3000;

    explicit RecordWriter(const QString &connectionName, QObject *parent = nullptr);
    /*! Closes the connection; runs in the writer's thread (deleteLater at its end). */
    ~RecordWriter() override;

    // The writer's thread only (posted with QMetaObject::invokeMethod).
    void setDatabasePath(const QString &path);
    void setBusyTimeout(int milliseconds);
    /*!
        Sets \a column of the record \a id to \a value (an invalid QVariant: NULL). Answers
        with written(), carrying the record as the database has it afterwards, read in the
        order of \a columns (under its new id when the id was changed and the write went
        through).
    */
    void setValue(quint64 ticket, const QString &entity, const QStringList &columns,
                  const QString &id, const QString &column, const QVariant &value);
    /*! Inserts the record \a id with every field NULL; refuses an id that exists. */
    void addRecord(quint64 ticket, const QString &entity, const QStringList &columns,
                   const QString &id);
    /*! Deletes the records \a ids, all or none. */
    void deleteRecords(quint64 ticket, const QString &entity, const QStringList &ids);
    /*! Counts the local changes not pushed yet, per entity: pendingCounted() answers. */
    void countPending();

Q_SIGNALS:
    /*! The outcome of write \a ticket: \a error is empty when it was committed. */
    void written(quint64 ticket, const QString &error, const QVariantList &row);
    void pendingCounted(const BatchSync::Ui::PendingCounts &counts, const QString &error);

private:
    bool ensureOpen(QString *error);
    void close();
    /*! BEGIN IMMEDIATE, and the refusal of a bulk-loading entity. */
    bool begin(const QString &entity, QString *error);
    bool commit(QString *error);
    void rollback();
    bool exists(const QString &entity, const QString &id, QString *error);
    QVariantList readRow(const QString &entity, const QStringList &columns, const QString &id);
    QString failure(const QString &entity, const QSqlQuery &query) const;

    const QString m_connectionName;
    QString m_path;
    int m_busyTimeoutMs = DefaultBusyTimeoutMs;
    bool m_open = false;
};

} // namespace BatchSync::Ui
