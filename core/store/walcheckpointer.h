#pragma once

#include <QAtomicInt>
#include <QObject>
#include <QString>
#include <QThread>
#include <memory>

/*!
    \file walcheckpointer.h
    Copies a WAL database's committed pages back into the database file on a thread of its
    own, so that the writer never stops for it.
*/

namespace BatchSync {

/*!
    A background WAL checkpointer for one database file. It opens a connection of its own
    (the sqlite3 C API) in a QThread it owns and, every few hundred milliseconds, runs a
    passive checkpoint: it copies what the writer committed into the database file without
    ever blocking the writer or a reader. The writer's own automatic checkpoint is then only
    a bound on the WAL's size (see LocalStore): without this, a commit that crosses it copies
    and syncs tens of megabytes before the writer may go on, and closing the database copies
    the rest.

    Created, started and stopped from one thread (the store's); its work runs in its own
    thread and never touches the writer's connection.
*/
class WalCheckpointer final
{
    Q_DISABLE_COPY_MOVE(WalCheckpointer)

public:
    /*! Does nothing until start(). */
    explicit WalCheckpointer(const QString &databasePath, int intervalMs = 200);
    /*! Stops the thread (see stop()). */
    ~WalCheckpointer();

    /*! Opens its connection and starts checkpointing; false (and a warning) if it cannot. */
    bool start();
    /*! Stops checkpointing, closes its connection and waits for its thread to end. */
    void stop();
    bool isRunning() const { return m_thread.isRunning(); }

    /*! Checkpoints that moved pages so far (for tests and the debug log). */
    int checkpoints() const;

private:
    class Worker;

    QString m_path;
    int m_intervalMs;
    QThread m_thread;
    Worker *m_worker = nullptr; // lives in m_thread, deleted when it finishes
    QAtomicInt m_checkpoints;
};

} // namespace BatchSync
