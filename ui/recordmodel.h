#pragma once

#include "recordworker.h"
#include "recordwriter.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QThread>
#include <optional>

namespace BatchSync::Ui {

/*!
    A model over one entity's table of the local database, for the data view. All SQL runs
    on a worker thread of its own (RecordWorker reads with its own read-only connection,
    RecordWriter writes with another): the GUI thread only posts requests and receives
    values. setQuery() starts a query and returns at once; the first rows arrive before the
    count, and more come in chunks as the view asks for them (canFetchMore/fetchMore). A new
    query supersedes the one in flight: its results are dropped, and its running statement
    is interrupted.

    Edits (setData(), addRecord(), deleteRecords()) show at once and are written in the
    worker's thread; when the write is done the record shows as the database has it (the
    old value again when the write failed, with writeFailed() saying why).
*/
class RecordModel final : public QAbstractTableModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(RecordModel)

public:
    /*! Rows read at a time. */
    static constexpr int ChunkRows = 256;
    /*! data(): the column's FieldType, as an int. */
    static constexpr int FieldTypeRole = Qt::UserRole + 1;

    explicit RecordModel(QObject *parent = nullptr);
    /*! Stops the worker's thread (quit(); wait();), which closes its connection. */
    ~RecordModel() override;

    /*! Reads the database at \a path from now on; empties the model. */
    void setDatabasePath(const QString &path);
    /*! The field types as the engine knows them: they win over what the database says. */
    void setSchemas(const QList<EntitySchema> &schemas);

    /*! Asks for the entities of the database: entitiesListed() answers. */
    void listEntities();
    /*! Starts \a query; the rows shown so far stay until its first rows arrive. */
    void setQuery(const RecordQuery &query);
    /*! Cancels the query in flight and empties the model. */
    void clear();

    RecordQuery query() const { return m_query; }
    /*! The entity whose columns and rows the model holds; empty when none. */
    QString shownEntity() const { return m_shownEntity; }
    /*! A query is running whose first rows have not arrived yet. */
    bool isLoading() const { return m_loading; }
    /*! Rows in the table and rows matching the filter; -1 until counted. */
    qint64 totalRows() const { return m_total; }
    qint64 matchingRows() const { return m_matching; }
    /*! Increases with each query; results of older ones are dropped. */
    quint64 generation() const { return m_generation; }
    /*! The worker's connection (it belongs to workerThread(), never to the GUI thread). */
    QString connectionName() const { return m_connectionName; }
    QThread *workerThread() { return &m_thread; }
    RecordColumns columns() const { return m_columns; }
    /*! The writer's connection (it belongs to workerThread() too). */
    QString writeConnectionName() const { return m_writeConnectionName; }

    /*!
        \a value as the local database stores a field of \a type (bool as 0/1, datetime as
        the 24-character UTC text); an invalid or null QVariant, or an empty text for any type
        but string, is NULL. Nothing, with \a error set, when \a value is not of that type.
    */
    static std::optional<QVariant> storedValue(FieldType type, const QVariant &value,
                                               QString *error);
    /*! Why \a id cannot be a record's id (empty, over 512 UTF-8 bytes, a NUL); empty if it can. */
    static QString idError(const QString &id);
    /*! \a utc in the local database's form, "2026-12-01T06:20:16.123Z". */
    static QString dateTimeText(const QDateTime &utc);

    /*! How long a write waits for the sync's write lock. */
    void setWriteTimeout(int milliseconds);
    /*! Adds the record \a id, every field NULL; recordAdded() or writeFailed() answers. */
    void addRecord(const QString &id);
    /*! Deletes the records \a ids; recordsDeleted() or writeFailed() answers. */
    void deleteRecords(const QStringList &ids);
    /*! The id of the record shown in \a row. */
    QString idAt(int row) const;
    /*! Writes in flight. */
    int pendingWrites() const { return int(m_writes.size()); }
    /*! Counts the local changes not pushed yet: pendingChangesCounted() answers. */
    void countPendingChanges();

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    /*! Shows \a value and writes it; false (and nothing written) when it is not valid. */
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;
    bool canFetchMore(const QModelIndex &parent) const override;
    void fetchMore(const QModelIndex &parent) override;

Q_SIGNALS:
    void entitiesListed(const QStringList &names, const QString &error);
    /*! The model was reset with other columns (another entity, or its schema changed). */
    void columnsChanged();
    /*! Rows of the current query arrived; \a first: its first ones, which replaced the old. */
    void rowsFetched(bool first);
    void loadingChanged(bool loading);
    void countsChanged();
    void queryFailed(const QString &message);
    /*! A write was committed. */
    void written();
    /*! A write was refused or failed; the model shows what the database holds. */
    void writeFailed(const QString &message);
    void recordAdded(int row);
    void recordsDeleted(int count);
    void pendingChangesCounted(const BatchSync::Ui::PendingCounts &counts);

private:
    enum class WriteKind { Value, Add, Delete };
    struct Write
    {
        WriteKind kind = WriteKind::Value;
        QString entity;
        QString shownId; // the id the row shows while the write is on its way
        int column = -1;
        QVariant before; // the value shown before a Value write
        QStringList ids; // of a Delete
    };

    void onWritten(quint64 ticket, const QString &error, const QVariantList &row);
    void onPendingCounted(const PendingCounts &counts, const QString &error);
    int rowOf(const QString &id) const;
    QStringList columnNames() const;
    void adjustCounts(qint64 delta);
    template<typename Work> void postWrite(Write write, Work &&work);

    void onRows(quint64 generation, const RecordColumns &columns, const RecordRows &rows,
                bool first, bool atEnd);
    void onCounts(quint64 generation, qint64 total, qint64 matching);
    void onFailed(quint64 generation, const QString &message);
    RecordColumns withSchemaTypes(const QString &entity, RecordColumns columns) const;
    quint64 nextGeneration();
    void setLoading(bool loading);
    template<typename Work> void post(Work &&work);

    const QString m_connectionName;
    QThread m_thread;
    RecordWorker *m_worker = nullptr; // lives in m_thread; deleted there at its end
    const QString m_writeConnectionName;
    RecordWriter *m_writer = nullptr; // lives in m_thread too
    QHash<quint64, Write> m_writes;
    quint64 m_lastTicket = 0;
    QHash<QString, EntitySchema> m_schemas;

    quint64 m_generation = 0;
    RecordQuery m_query;
    bool m_active = false; // m_query is running or has rows left to fetch
    bool m_loading = false;
    bool m_atEnd = true;
    bool m_fetchPending = false;
    qint64 m_total = -1;
    qint64 m_matching = -1;
    QString m_shownEntity;
    RecordColumns m_columns;
    RecordRows m_rows;
};

} // namespace BatchSync::Ui
