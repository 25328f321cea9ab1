#include "recordmodel.h"

#include "common/decimal.h"

#include <QAtomicInt>
#include <QLocale>
#include <QMetaObject>
#include <algorithm>
#include <cmath>

namespace BatchSync::Ui {

namespace {

QAtomicInt connectionCounter;

QString nextConnectionName()
{
    return QStringLiteral("batchsync-ui-data-%1").arg(connectionCounter.fetchAndAddRelaxed(1));
}

QString nextWriteConnectionName()
{
    return QStringLiteral("batchsync-ui-edit-%1").arg(connectionCounter.fetchAndAddRelaxed(1));
}

bool sameValue(const QVariant &a, const QVariant &b)
{
    if (a.isNull() || b.isNull())
        return a.isNull() == b.isNull();
    return a == b;
}

} // namespace

RecordModel::RecordModel(QObject *parent)
    : QAbstractTableModel(parent)
    , m_connectionName(nextConnectionName())
    , m_writeConnectionName(nextWriteConnectionName())
{
    m_thread.setObjectName(QStringLiteral("batchsync-ui-data"));
    m_worker = new RecordWorker(m_connectionName);
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &RecordWorker::entitiesListed, this, &RecordModel::entitiesListed);
    connect(m_worker, &RecordWorker::rowsReady, this, &RecordModel::onRows);
    connect(m_worker, &RecordWorker::countsReady, this, &RecordModel::onCounts);
    connect(m_worker, &RecordWorker::queryFailed, this, &RecordModel::onFailed);
    m_writer = new RecordWriter(m_writeConnectionName);
    m_writer->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_writer, &QObject::deleteLater);
    connect(m_writer, &RecordWriter::written, this, &RecordModel::onWritten);
    connect(m_writer, &RecordWriter::pendingCounted, this, &RecordModel::onPendingCounted);
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
    m_writes.clear(); // their answers are about another database
    post([worker = m_worker, path] { worker->setDatabasePath(path); });
    QMetaObject::invokeMethod(
        m_writer, [writer = m_writer, path] { writer->setDatabasePath(path); },
        Qt::QueuedConnection);
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
    if (role == FieldTypeRole)
        return int(type);
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

QString RecordModel::dateTimeText(const QDateTime &utc)
{
    return utc.toUTC().toString(QStringLiteral("yyyy-MM-dd'T'HH:mm:ss.zzz'Z'"));
}

std::optional<QVariant> RecordModel::storedValue(FieldType type, const QVariant &value,
                                                 QString *error)
{
    if (!value.isValid() || value.isNull())
        return QVariant();
    const bool isText
        = value.typeId() == QMetaType::QString || value.typeId() == QMetaType::QByteArray;
    const QString text = value.toString().trimmed();
    if (type != FieldType::String && isText && text.isEmpty())
        return QVariant();
    switch (type) {
    case FieldType::Int: {
        bool ok = false;
        qlonglong number = 0;
        if (value.typeId() == QMetaType::Double) {
            const double real = value.toDouble();
            // 2^63 is the first double beyond qint64; any integral one below it fits.
            ok = std::isfinite(real) && std::trunc(real) == real && std::fabs(real) < 9.2e18;
            number = ok ? qlonglong(real) : 0;
        } else {
            number = isText ? text.toLongLong(&ok) : value.toLongLong(&ok);
        }
        if (!ok) {
            *error = tr("%1 is not a whole number (64 bits)").arg(value.toString());
            return std::nullopt;
        }
        return number;
    }
    case FieldType::Real: {
        bool ok = false;
        const double number = isText ? QLocale::c().toDouble(text, &ok) : value.toDouble(&ok);
        if (!ok || !std::isfinite(number)) {
            *error = tr("%1 is not a number").arg(value.toString());
            return std::nullopt;
        }
        return number;
    }
    case FieldType::Bool: {
        if (value.typeId() == QMetaType::Bool)
            return qlonglong(value.toBool() ? 1 : 0);
        const QString word = text.toLower();
        if (word == u"true" || word == u"1")
            return qlonglong(1);
        if (word == u"false" || word == u"0")
            return qlonglong(0);
        *error = tr("%1 is neither true nor false").arg(value.toString());
        return std::nullopt;
    }
    case FieldType::DateTime: {
        QDateTime time = value.typeId() == QMetaType::QDateTime
            ? value.toDateTime()
            : QDateTime::fromString(text, Qt::ISODateWithMs);
        if (time.isValid() && time.timeSpec() == Qt::LocalTime)
            time.setTimeSpec(Qt::UTC); // no offset given: the database's times are UTC
        const int year = time.isValid() ? time.toUTC().date().year() : 0;
        if (year < 1 || year > 9999) {
            *error = tr("%1 is not a date and time (such as 2026-12-01T06:20:16.123Z)")
                         .arg(value.toString());
            return std::nullopt;
        }
        return dateTimeText(time);
    }
    case FieldType::Decimal:
        // Only text, kept as typed: a double would have lost the exact value already.
        if (!isText || !Decimal::isValid(text)) {
            *error
                = tr("%1 is not a decimal in plain notation (such as 12.50)").arg(value.toString());
            return std::nullopt;
        }
        return text;
    case FieldType::String:
    default: // any other type is kept as its text
        return value.toString();
    }
}

void RecordModel::setWriteTimeout(int milliseconds)
{
    QMetaObject::invokeMethod(
        m_writer, [writer = m_writer, milliseconds] { writer->setBusyTimeout(milliseconds); },
        Qt::QueuedConnection);
}

QStringList RecordModel::columnNames() const
{
    QStringList names;
    for (const RecordColumn &column : m_columns)
        names.append(column.name);
    return names;
}

int RecordModel::rowOf(const QString &id) const
{
    for (int row = 0; row < m_rows.size(); ++row) {
        if (m_rows.at(row).value(0).toString() == id)
            return row;
    }
    return -1;
}

template<typename Work> void RecordModel::postWrite(Write write, Work &&work)
{
    const quint64 ticket = ++m_lastTicket;
    m_writes.insert(ticket, std::move(write));
    QMetaObject::invokeMethod(
        m_writer, [writer = m_writer, ticket, work] { work(writer, ticket); },
        Qt::QueuedConnection);
}

Qt::ItemFlags RecordModel::flags(const QModelIndex &index) const
{
    Qt::ItemFlags flags = QAbstractTableModel::flags(index);
    if (index.isValid() && !m_shownEntity.isEmpty())
        flags |= Qt::ItemIsEditable;
    return flags;
}

bool RecordModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    if (role != Qt::EditRole || !index.isValid() || index.row() >= m_rows.size()
        || index.column() >= m_columns.size() || m_shownEntity.isEmpty())
        return false;
    const RecordColumn &column = m_columns.at(index.column());
    QString error;
    std::optional<QVariant> stored = storedValue(column.type, value, &error);
    if (stored && column.name == u"id") {
        error = idError(stored->toString());
        if (!error.isEmpty())
            stored.reset();
    }
    if (!stored) {
        Q_EMIT writeFailed(error);
        return false;
    }
    QVariantList &row = m_rows[index.row()];
    const QVariant before = row.value(index.column());
    if (sameValue(before, *stored))
        return false; // nothing to write
    const QString id = row.value(0).toString();
    row[index.column()] = *stored;
    Q_EMIT dataChanged(index, index);
    Write write { WriteKind::Value, m_shownEntity, row.value(0).toString(),
                  index.column(),   before,        {} };
    postWrite(std::move(write),
              [entity = m_shownEntity, columns = columnNames(), id, name = column.name,
               value = *stored](RecordWriter *writer, quint64 ticket) {
                  writer->setValue(ticket, entity, columns, id, name, value);
              });
    return true;
}

QString RecordModel::idError(const QString &id)
{
    // As the protocol takes an id: the server would reject the change otherwise.
    if (id.trimmed().isEmpty())
        return tr("A record needs an id");
    if (id.toUtf8().size() > 512)
        return tr("An id has at most 512 bytes (UTF-8)");
    if (id.contains(QChar(0)))
        return tr("An id cannot contain the character U+0000");
    return QString();
}

void RecordModel::addRecord(const QString &id)
{
    if (m_shownEntity.isEmpty())
        return;
    if (const QString error = idError(id); !error.isEmpty()) {
        Q_EMIT writeFailed(error);
        return;
    }
    postWrite(Write { WriteKind::Add, m_shownEntity, id, -1, {}, {} },
              [entity = m_shownEntity, columns = columnNames(), id](RecordWriter *writer,
                                                                    quint64 ticket) {
                  writer->addRecord(ticket, entity, columns, id);
              });
}

QString RecordModel::idAt(int row) const
{
    return row >= 0 && row < m_rows.size() ? m_rows.at(row).value(0).toString() : QString();
}

void RecordModel::deleteRecords(const QStringList &ids)
{
    if (ids.isEmpty() || m_shownEntity.isEmpty())
        return;
    postWrite(Write { WriteKind::Delete, m_shownEntity, {}, -1, {}, ids },
              [entity = m_shownEntity, ids](RecordWriter *writer, quint64 ticket) {
                  writer->deleteRecords(ticket, entity, ids);
              });
}

void RecordModel::adjustCounts(qint64 delta)
{
    if (m_total >= 0)
        m_total = std::max<qint64>(0, m_total + delta);
    if (m_matching >= 0)
        m_matching = std::max<qint64>(0, m_matching + delta);
    Q_EMIT countsChanged();
}

void RecordModel::onWritten(quint64 ticket, const QString &error, const QVariantList &row)
{
    const auto found = m_writes.constFind(ticket);
    if (found == m_writes.cend())
        return; // about a database no longer shown
    const Write write = *found;
    m_writes.erase(found);
    const bool shown = write.entity == m_shownEntity;
    switch (write.kind) {
    case WriteKind::Value:
        if (const int at = shown ? rowOf(write.shownId) : -1; at >= 0) {
            // The record as the database has it now: the new value, or the old one again.
            if (row.size() == m_columns.size())
                m_rows[at] = row;
            else if (!error.isEmpty() && write.column < m_rows.at(at).size())
                m_rows[at][write.column] = write.before;
            Q_EMIT dataChanged(index(at, 0), index(at, columnCount() - 1));
        }
        break;
    case WriteKind::Add:
        if (error.isEmpty() && shown && row.size() == m_columns.size()) {
            beginInsertRows({}, 0, 0);
            m_rows.prepend(row);
            endInsertRows();
            adjustCounts(1);
            Q_EMIT recordAdded(0);
        }
        break;
    case WriteKind::Delete:
        if (error.isEmpty() && shown) {
            int removed = 0;
            for (const QString &id : write.ids) {
                if (const int at = rowOf(id); at >= 0) {
                    beginRemoveRows({}, at, at);
                    m_rows.removeAt(at);
                    endRemoveRows();
                    ++removed;
                }
            }
            adjustCounts(-qint64(write.ids.size()));
            Q_EMIT recordsDeleted(removed);
        }
        break;
    }
    if (!error.isEmpty()) {
        Q_EMIT writeFailed(error);
        return;
    }
    Q_EMIT written();
    countPendingChanges();
}

void RecordModel::countPendingChanges()
{
    QMetaObject::invokeMethod(
        m_writer, [writer = m_writer] { writer->countPending(); }, Qt::QueuedConnection);
}

void RecordModel::onPendingCounted(const PendingCounts &counts, const QString &error)
{
    // A count that could not be made leaves the shown one as it is.
    if (error.isEmpty())
        Q_EMIT pendingChangesCounted(counts);
}

} // namespace BatchSync::Ui
