#pragma once

#include "conflictsworker.h"

#include <QAbstractTableModel>
#include <QThread>

namespace BatchSync::Ui {

/*!
    The open conflicts of a local database (_sync_conflicts), one row each, for the
    conflicts view. All SQL runs on a worker thread of its own (ConflictsWorker, with its own
    connection): the GUI thread only posts requests and receives values. reload() and
    resolve() return at once; the model is reset when the conflicts arrive, and reloads
    after each action.
*/
class ConflictsModel final : public QAbstractTableModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ConflictsModel)

public:
    enum Column { EntityColumn, RecordColumn, KindColumn, TimeColumn, OutcomeColumn, ColumnCount };
    Q_ENUM(Column)

    explicit ConflictsModel(QObject *parent = nullptr);
    /*! Stops the worker's thread (quit(); wait();), which closes its connection. */
    ~ConflictsModel() override;

    /*! Reads the database at \a path from now on, and reloads. */
    void setDatabasePath(const QString &path);
    /*! How long an action waits for the database lock held by another connection. */
    void setBusyTimeout(int milliseconds);
    /*! Reads the conflicts again; loaded() follows. */
    void reload();
    /*!
        Applies \a action to the conflicts \a seqs in one transaction; actionFinished() follows,
        then a reload. Ignored (returns false) while another action is in flight.
    */
    bool resolve(ConflictsWorker::Action action, const QList<qint64> &seqs);

    /*! The conflicts as last loaded, oldest first. */
    const ConflictList &conflicts() const { return m_conflicts; }
    const Conflict &conflict(int row) const { return m_conflicts.at(row); }
    /*! The row of the conflict \a seq; -1 when it is not (any more) in the model. */
    int rowOf(qint64 seq) const;
    /*! Open conflicts as last loaded; -1 before the first load. */
    int count() const { return m_count; }
    /*! An action is in flight. */
    bool isBusy() const { return m_busy; }
    /*! The worker's connection (it belongs to workerThread(), never to the GUI thread). */
    QString connectionName() const { return m_connectionName; }
    QThread *workerThread() { return &m_thread; }
    /*! The worker, which lives in workerThread(). */
    ConflictsWorker *worker() const { return m_worker; }

    /*! What happened to a conflict, in words: "Rejected: ...; back to the server's version". */
    static QString outcome(const Conflict &conflict);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

Q_SIGNALS:
    /*! The number of open conflicts changed (also at the first load). */
    void countChanged(int count);
    /*! The conflicts were read (again); \a error says why not, the list is then empty. */
    void loaded(const QString &error);
    void busyChanged(bool busy);
    /*! An action ended: \a closed conflicts closed, or \a error (then nothing changed). */
    void actionFinished(BatchSync::Ui::ConflictsWorker::Action action, int closed,
                        const QString &error);

private:
    void onLoaded(quint64 generation, const ConflictList &conflicts, const QString &error);
    void onResolved(quint64 generation, ConflictsWorker::Action action, int closed,
                    const QString &error);
    void setBusy(bool busy);
    template<typename Work> void post(Work &&work);

    const QString m_connectionName;
    QThread m_thread;
    ConflictsWorker *m_worker = nullptr; // lives in m_thread; deleted there at its end
    quint64 m_generation = 0; // of the database path: answers about an older one are dropped
    ConflictList m_conflicts;
    int m_count = -1;
    bool m_busy = false;
};

} // namespace BatchSync::Ui
