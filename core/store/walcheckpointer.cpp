#include "walcheckpointer.h"

#include "common/logging.h"

#include <QDir>
#include <QTimer>
#include <sqlite3.h>

namespace BatchSync {

class WalCheckpointer::Worker final : public QObject
{
public:
    Worker(const QString &path, int intervalMs, QAtomicInt *checkpoints)
        : m_path(path)
        , m_intervalMs(intervalMs)
        , m_checkpoints(checkpoints)
    {
    }
    ~Worker() override { closeConnection(); }

    // In the checkpointer's thread.
    bool open()
    {
        const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
        if (sqlite3_open_v2(QDir::toNativeSeparators(m_path).toUtf8().constData(), &m_db, flags,
                            nullptr)
            != SQLITE_OK) {
            qCWarning(lcStore).noquote() << "no background checkpoints for" << m_path << ":"
                                         << (m_db ? sqlite3_errmsg(m_db) : "out of memory");
            closeConnection();
            return false;
        }
        // This connection must never checkpoint on its own close, nor wait for locks.
        sqlite3_db_config(m_db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
        sqlite3_busy_timeout(m_db, 0);
        // A connection learns that the database is in WAL mode when it first reads it; until
        // then a checkpoint is a no-op.
        if (sqlite3_exec(m_db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr)
            != SQLITE_OK) {
            qCWarning(lcStore).noquote()
                << "no background checkpoints for" << m_path << ":" << sqlite3_errmsg(m_db);
            closeConnection();
            return false;
        }
        m_timer = new QTimer(this);
        m_timer->setInterval(m_intervalMs);
        QObject::connect(m_timer, &QTimer::timeout, this, [this] { checkpoint(); });
        m_timer->start();
        return true;
    }

    void checkpoint()
    {
        int logFrames = 0;
        int copied = 0;
        const int rc = sqlite3_wal_checkpoint_v2(m_db, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                                 &logFrames, &copied);
        // Busy (another checkpoint runs) or locked: the next tick tries again.
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
            qCDebug(lcStore).noquote()
                << "background checkpoint of" << m_path << "failed:" << sqlite3_errstr(rc);
            return;
        }
        // copied counts the frames of the current WAL copied so far: it moves when this
        // checkpoint copied some, and starts again when the writer restarts the WAL.
        if (copied > 0 && copied != m_lastCopied)
            m_checkpoints->fetchAndAddRelaxed(1);
        m_lastCopied = copied;
        Q_UNUSED(logFrames);
    }

    void closeConnection()
    {
        delete m_timer;
        m_timer = nullptr;
        if (m_db) {
            sqlite3_close_v2(m_db);
            m_db = nullptr;
        }
    }

private:
    QString m_path;
    int m_intervalMs;
    sqlite3 *m_db = nullptr;
    QTimer *m_timer = nullptr;
    int m_lastCopied = 0;
    QAtomicInt *m_checkpoints;
};

WalCheckpointer::WalCheckpointer(const QString &databasePath, int intervalMs)
    : m_path(databasePath)
    , m_intervalMs(intervalMs)
{
    m_thread.setObjectName(QStringLiteral("BatchSync WAL checkpointer"));
}

WalCheckpointer::~WalCheckpointer()
{
    stop();
}

bool WalCheckpointer::start()
{
    if (m_thread.isRunning())
        return true;
    m_worker = new Worker(m_path, m_intervalMs, &m_checkpoints);
    m_worker->moveToThread(&m_thread);
    QObject::connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread.start(QThread::LowPriority);
    bool opened = false;
    QMetaObject::invokeMethod(
        m_worker, [this, &opened] { opened = m_worker->open(); }, Qt::BlockingQueuedConnection);
    if (!opened)
        stop();
    return opened;
}

void WalCheckpointer::stop()
{
    if (!m_thread.isRunning())
        return;
    // The connection closes in its own thread, before the thread ends.
    QMetaObject::invokeMethod(
        m_worker, [this] { m_worker->closeConnection(); }, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
    m_worker = nullptr;
}

int WalCheckpointer::checkpoints() const
{
    return m_checkpoints.loadRelaxed();
}

} // namespace BatchSync
