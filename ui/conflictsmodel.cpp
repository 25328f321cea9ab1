#include "conflictsmodel.h"

#include "uitext.h"

#include <QDateTime>
#include <QMetaObject>

namespace BatchSync::Ui {

ConflictsModel::ConflictsModel(QObject *parent)
    : QAbstractTableModel(parent)
    // Unique among the live models: the worker removes its connection before the model goes.
    , m_connectionName(QStringLiteral("batchsync-ui-conflicts-%1").arg(quintptr(this), 0, 16))
    , m_worker(new ConflictsWorker(m_connectionName))
{
    qRegisterMetaType<ConflictList>();
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &ConflictsWorker::loaded, this, &ConflictsModel::onLoaded);
    connect(m_worker, &ConflictsWorker::resolved, this, &ConflictsModel::onResolved);
    m_thread.setObjectName(QStringLiteral("batchsync-ui-conflicts"));
    m_thread.start();
}

ConflictsModel::~ConflictsModel()
{
    m_thread.quit();
    m_thread.wait();
}

template<typename Work> void ConflictsModel::post(Work &&work)
{
    QMetaObject::invokeMethod(m_worker, std::forward<Work>(work), Qt::QueuedConnection);
}

void ConflictsModel::setDatabasePath(const QString &path)
{
    ++m_generation;
    setBusy(false); // an action on the old database answers into the void
    post([worker = m_worker, path] { worker->setDatabasePath(path); });
    reload();
}

void ConflictsModel::setBusyTimeout(int milliseconds)
{
    post([worker = m_worker, milliseconds] { worker->setBusyTimeout(milliseconds); });
}

void ConflictsModel::reload()
{
    post([worker = m_worker, generation = m_generation] { worker->load(generation); });
}

bool ConflictsModel::resolve(ConflictsWorker::Action action, const QList<qint64> &seqs)
{
    if (m_busy || seqs.isEmpty())
        return false;
    setBusy(true);
    post([worker = m_worker, generation = m_generation, action, seqs] {
        worker->resolve(generation, action, seqs);
    });
    return true;
}

void ConflictsModel::onLoaded(quint64 generation, const ConflictList &conflicts,
                              const QString &error)
{
    if (generation != m_generation)
        return;
    beginResetModel();
    m_conflicts = conflicts;
    endResetModel();
    const int count = int(m_conflicts.size());
    if (count != m_count) {
        m_count = count;
        Q_EMIT countChanged(count);
    }
    Q_EMIT loaded(error);
}

void ConflictsModel::onResolved(quint64 generation, ConflictsWorker::Action action, int closed,
                                const QString &error)
{
    if (generation != m_generation)
        return;
    setBusy(false);
    Q_EMIT actionFinished(action, closed, error);
    reload();
}

void ConflictsModel::setBusy(bool busy)
{
    if (m_busy == busy)
        return;
    m_busy = busy;
    Q_EMIT busyChanged(busy);
}

int ConflictsModel::rowOf(qint64 seq) const
{
    for (qsizetype row = 0; row < m_conflicts.size(); ++row) {
        if (m_conflicts.at(row).seq == seq)
            return int(row);
    }
    return -1;
}

QString ConflictsModel::outcome(const Conflict &conflict)
{
    const QString &resolution = conflict.resolution;
    if (conflict.isRejected()) {
        const QString reason = conflict.error.isEmpty() ? tr("no reason given") : conflict.error;
        if (resolution == QLatin1String("restored")) {
            return tr("Rejected by the server (%1); your edit was undone: the record is as "
                      "the server has it")
                .arg(reason);
        }
        return tr("Rejected by the server (%1)").arg(reason);
    }
    if (resolution == QLatin1String("server"))
        return tr("Changed on the server too: the server's record replaced yours");
    if (resolution == QLatin1String("resent"))
        return tr("Changed on the server too: yours was sent again over the server's");
    return tr("Changed on the server too (%1)").arg(resolution);
}

int ConflictsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_conflicts.size());
}

int ConflictsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ConflictsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_conflicts.size())
        return {};
    const Conflict &c = m_conflicts.at(index.row());
    if (role == Qt::UserRole)
        return c.seq;
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole)
        return {};
    switch (Column(index.column())) {
    case EntityColumn:
        return c.entity;
    case RecordColumn:
        return c.id;
    case KindColumn:
        return c.isRejected() ? tr("Rejected") : tr("Conflict");
    case TimeColumn:
        return role == Qt::ToolTipRole
            ? c.at
            : UiText::localTime(QDateTime::fromString(c.at, Qt::ISODateWithMs));
    case OutcomeColumn:
        return outcome(c);
    case ColumnCount:
        break;
    }
    return {};
}

QVariant ConflictsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (Column(section)) {
    case EntityColumn:
        return tr("Entity");
    case RecordColumn:
        return tr("Record");
    case KindColumn:
        return tr("Kind");
    case TimeColumn:
        return tr("When");
    case OutcomeColumn:
        return tr("What happened");
    case ColumnCount:
        break;
    }
    return {};
}

} // namespace BatchSync::Ui
