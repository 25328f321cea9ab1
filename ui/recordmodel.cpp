#include "recordmodel.h"

#include <QAtomicInt>
#include <QMetaObject>

namespace BatchSync::Ui {

namespace {

QString nextConnectionName()
{
    static QAtomicInt counter;
    return QStringLiteral("batchsync-ui-data-%1").arg(counter.fetchAndAddRelaxed(1));
}

} // namespace

RecordModel::RecordModel(QObject *parent)
    : QAbstractTableModel(parent)
    , m_connectionName(nextConnectionName())
{
    m_thread.setObjectName(QStringLiteral("batchsync-ui-data"));
    m_worker = new RecordWorker(m_connectionName);
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &RecordWorker::entitiesListed, this, &RecordModel::entitiesListed);
    connect(m_worker, &RecordWorker::rowsReady, this, &RecordModel::onRows);
    connect(m_worker, &RecordWorker::countsReady, this, &RecordModel::onCounts);
    connect(m_worker, &RecordWorker::queryFailed, this, &RecordModel::onFailed);
    m_thread.start();
    post([worker = m_worker] { worker->yieldToTheWindow(); });
}

RecordModel::~RecordModel()
{
    // Whatever runs is of no use any more: interrupt it, then let the thread end.
    m_worker->supersede(nextGeneration());
    m_thread.quit();
    m_thread.wait();
}

template<typename Work> void RecordModel::post(Work &&work)
{
    QMetaObject::invokeMethod(m_worker, std::forward<Work>(work), Qt::QueuedConnection);
}

quint64 RecordModel::nextGeneration()
{
    return ++m_generation;
}

void RecordModel::setDatabasePath(const QString &path)
{
    clear();
    post([worker = m_worker, path] { worker->setDatabasePath(path); });
}

void RecordModel::setSchemas(const QList<EntitySchema> &schemas)
{
    m_schemas.clear();
    for (const EntitySchema &schema : schemas)
        m_schemas.insert(schema.name, schema);
    const RecordColumns columns = withSchemaTypes(m_shownEntity, m_columns);
    if (columns != m_columns) {
        m_columns = columns;
        if (!m_rows.isEmpty())
            Q_EMIT dataChanged(index(0, 0), index(rowCount() - 1, columnCount() - 1));
    }
}

RecordColumns RecordModel::withSchemaTypes(const QString &entity, RecordColumns columns) const
{
    const auto schema = m_schemas.constFind(entity);
    if (schema == m_schemas.cend())
        return columns;
    for (RecordColumn &column : columns) {
        if (const int i = schema->fieldIndex(column.name); i >= 0)
            column.type = schema->fields.at(i).type;
    }
    return columns;
}

void RecordModel::listEntities()
{
    post([worker = m_worker] { worker->listEntities(); });
}

void RecordModel::setQuery(const RecordQuery &query)
{
    const quint64 generation = nextGeneration();
    // Interrupt first, post after: the interruption can only hit older queries.
    m_worker->supersede(generation);
    m_query = query;
    m_active = true;
    m_atEnd = false;
    m_fetchPending = false;
    m_total = m_matching = -1;
    setLoading(true);
    Q_EMIT countsChanged();
    post(
        [worker = m_worker, generation, query] { worker->runQuery(generation, query, ChunkRows); });
}

void RecordModel::clear()
{
    m_worker->supersede(nextGeneration());
    m_query = {};
    m_active = false;
    m_atEnd = true;
    m_fetchPending = false;
    m_total = m_matching = -1;
    setLoading(false);
    beginResetModel();
    m_shownEntity.clear();
    m_columns.clear();
    m_rows.clear();
    endResetModel();
    Q_EMIT columnsChanged();
    Q_EMIT countsChanged();
}

void RecordModel::setLoading(bool loading)
{
    if (loading == m_loading)
        return;
    m_loading = loading;
    Q_EMIT loadingChanged(loading);
}

void RecordModel::onRows(quint64 generation, const RecordColumns &columns, const RecordRows &rows,
                         bool first, bool atEnd)
{
    if (generation != m_generation)
        return; // superseded while on its way
    m_fetchPending = false;
    m_atEnd = atEnd;
    m_active = !atEnd;
    if (first) {
        const RecordColumns shown = withSchemaTypes(m_query.entity, columns);
        if (shown == m_columns && m_query.entity == m_shownEntity) {
            // Same columns: the header keeps its layout; only the rows change.
            if (!m_rows.isEmpty()) {
                beginRemoveRows({}, 0, int(m_rows.size()) - 1);
                m_rows.clear();
                endRemoveRows();
            }
        } else {
            beginResetModel();
            m_shownEntity = m_query.entity;
            m_columns = shown;
            m_rows.clear();
            endResetModel();
            Q_EMIT columnsChanged();
        }
        setLoading(false);
    }
    if (!rows.isEmpty()) {
        const int start = int(m_rows.size());
        beginInsertRows({}, start, start + int(rows.size()) - 1);
        m_rows.append(rows);
        endInsertRows();
    }
    Q_EMIT rowsFetched(first);
}

void RecordModel::onCounts(quint64 generation, qint64 total, qint64 matching)
{
    if (generation != m_generation)
        return;
    m_total = total;
    m_matching = matching;
    Q_EMIT countsChanged();
}

void RecordModel::onFailed(quint64 generation, const QString &message)
{
    if (generation != m_generation)
        return;
    m_active = false;
    m_atEnd = true;
    m_fetchPending = false;
    setLoading(false);
    Q_EMIT queryFailed(message);
}

int RecordModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int RecordModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_columns.size());
}

QVariant RecordModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_rows.size() || index.column() >= m_columns.size())
        return {};
    const FieldType type = m_columns.at(index.column()).type;
    if (role == Qt::TextAlignmentRole
        && (type == FieldType::Int || type == FieldType::Real || type == FieldType::Decimal))
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole && role != Qt::EditRole)
        return {};
    const QVariant &value = m_rows.at(index.row()).value(index.column());
    if (role == Qt::DisplayRole && type == FieldType::Bool && !value.isNull())
        return value.toLongLong() != 0 ? tr("true") : tr("false");
    return value;
}

QVariant RecordModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    if (orientation == Qt::Horizontal)
        return section >= 0 && section < m_columns.size() ? m_columns.at(section).name : QString();
    return section + 1;
}

bool RecordModel::canFetchMore(const QModelIndex &parent) const
{
    return !parent.isValid() && m_active && !m_loading && !m_atEnd;
}

void RecordModel::fetchMore(const QModelIndex &parent)
{
    if (!canFetchMore(parent) || m_fetchPending)
        return;
    m_fetchPending = true;
    post([worker = m_worker, generation = m_generation] { worker->fetch(generation, ChunkRows); });
}

} // namespace BatchSync::Ui
