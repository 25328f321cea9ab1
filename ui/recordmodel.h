#pragma once

#include "recordworker.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QThread>

namespace BatchSync::Ui {

/*!
    A read-only model over one entity's table of the local database, for the data view. All
    SQL runs on a worker thread of its own (RecordWorker, with its own read-only connection):
    the GUI thread only posts requests and receives values. setQuery() starts a query and
    returns at once; the first rows arrive before the count, and more come in chunks as the
    view asks for them (canFetchMore/fetchMore). A new query supersedes the one in flight:
    its results are dropped, and its running statement is interrupted.
*/
class RecordModel final : public QAbstractTableModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(RecordModel)

public:
    /*! Rows read at a time. */
    static constexpr int ChunkRows = 256;

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

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;
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

private:
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
