#pragma once

#include "common/types.h"

#include <QElapsedTimer>
#include <QList>
#include <QString>
#include <QStringList>
#include <QTimer>
#include <algorithm>
#include <functional>
#include <optional>

namespace BatchSync::Bench {

enum class SpinMode {
    Poll, //!< processes events without ever sleeping (the --gui measurement's way)
    Sleep //!< sleeps until the next event, as a window's event loop does
};
/*! Runs the event loop until \a done or \a timeoutMs; false on timeout. */
bool spinUntil(const std::function<bool()> &done, int timeoutMs, SpinMode mode = SpinMode::Poll);

/*! The CPU time of the calling thread, in ms. */
qint64 threadCpuMs();

/*! The window's event loop, watched by a 5 ms precise timer: its longest gap is the stall. */
class StallMeter final
{
public:
    StallMeter()
    {
        m_ticker.setTimerType(Qt::PreciseTimer);
        m_ticker.setInterval(5);
        QObject::connect(&m_ticker, &QTimer::timeout, [this] {
            const qint64 now = m_clock.elapsed();
            const qint64 cpu = threadCpuMs();
            if (m_last >= 0 && now - m_last > m_longest) {
                m_longest = now - m_last;
                m_longestCpu = cpu - m_lastCpu;
            }
            if (m_last >= 0)
                m_busiest = std::max(m_busiest, cpu - m_lastCpu);
            m_last = now;
            m_lastCpu = cpu;
        });
        m_clock.start();
        m_ticker.start();
    }
    void restart()
    {
        m_last = m_clock.elapsed();
        m_lastCpu = threadCpuMs();
        m_longest = m_longestCpu = m_busiest = 0;
    }
    qint64 longest() const { return m_longest; }
    /*! How much of the longest gap the GUI thread spent running (the rest it waited). */
    qint64 longestCpu() const { return m_longestCpu; }
    /*! The most the GUI thread ran between two ticks: its own work, whatever the load. */
    qint64 busiest() const { return m_busiest; }
    qint64 now() const { return m_clock.elapsed(); }

private:
    QElapsedTimer m_clock;
    QTimer m_ticker;
    qint64 m_last = -1;
    qint64 m_longest = 0;
    qint64 m_lastCpu = 0;
    qint64 m_longestCpu = 0;
    qint64 m_busiest = 0;
};

/*! Record \a index of entity \a entity (both 0-based). */
using RecordMaker = std::function<Change(int entity, qint64 index)>;

/*!
    Makes \a path a local database holding \a schemas, entity i with \a rows[i] records, written
    by the local store as a first sync writes them (bulk load, then the index on id). A
    database that holds exactly that already is reused.
*/
bool prepareDataViewDatabase(const QString &path, const QList<EntitySchema> &schemas,
                             const QList<qint64> &rows, const RecordMaker &record, QString *error);

struct DataViewFigures
{
    double maxStallMs = 0; //!< the longest gap of a 5 ms timer in the window's event loop
    double maxBusyMs = 0; //!< the most the GUI thread ran within one such gap (its own work)
};

/*!
    --dataview: runs the desktop window on \a path in a child process of this program (with no
    server to reach), and there, in its data view, shows the first entity, types \a filter a
    key at a time, scrolls, sorts by each column, and switches entities. Returns the longest
    stall of the window's event loop, and the most the GUI thread worked within one stall (on
    a busy machine the rest is waiting for a CPU); \a report gets a line per step.
*/
std::optional<DataViewFigures> runDataViewChild(const QString &path, const QString &filter,
                                                const QString &logPrefix, QStringList *report,
                                                QString *error);

/*! The child's main(): "--dataview-child database filter". */
int dataViewChildMain(const QStringList &arguments);

} // namespace BatchSync::Bench
