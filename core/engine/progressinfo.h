#pragma once

#include <QList>
#include <QMetaType>
#include <QtGlobal>

namespace BatchSync {

/*!
    The progress of one entity's run, or of all of them together: what the window, the
    terminal display and \c --progress json all show. A plain value; any thread.
*/
struct ProgressInfo
{
    qint64 done = 0; //!< records of the run applied so far
    qint64 total = 0; //!< the run's records as far as known; never below done
    qint64 bytes = 0; //!< bytes received for the run
    double rate = 0.0; //!< records per second, smoothed; 0 while unknown
    qint64 etaSeconds = -1; //!< seconds left at \c rate; -1 while unknown

    /*! done / total between 0 and 1 (1 for an empty run). */
    double fraction() const;

    /*!
        All of \a parts as one: the sums of done, total, bytes and rate, and the time left
        at that rate.
    */
    static ProgressInfo combine(const QList<ProgressInfo> &parts);

    friend bool operator==(const ProgressInfo &a, const ProgressInfo &b)
    {
        return a.done == b.done && a.total == b.total && a.bytes == b.bytes && a.rate == b.rate
            && a.etaSeconds == b.etaSeconds;
    }
    friend bool operator!=(const ProgressInfo &a, const ProgressInfo &b) { return !(a == b); }
};

/*!
    Turns a run's raw progress (done, total, bytes as they happen) into a ProgressInfo whose
    rate and ETA are smoothed: recomputed once a second by tick(), from the records of the
    last second blended with the rate before, so that the figures a person reads do not
    jump with every batch. Until the first tick the rate is the run's average so far. Not a
    QObject: its owner calls tick() from a one-second timer. Not thread-safe.
*/
class ProgressEstimator
{
public:
    /*! Forgets the last run; \a nowMs starts the new one. */
    void restart(qint64 nowMs);
    /*! The run's latest figures, at \a nowMs. */
    void update(qint64 done, qint64 total, qint64 bytes, qint64 nowMs);
    /*! Recomputes the rate and ETA; call once a second while the run is active. */
    void tick(qint64 nowMs);
    /*! The run has ended: the rate stays as it was, the ETA is 0 when done == total. */
    void finish();

    ProgressInfo info() const;

private:
    ProgressInfo m_info;
    qint64 m_startMs = 0;
    qint64 m_lastTickMs = -1;
    qint64 m_doneAtStart = -1; // done when the run (re)started: earlier work is not this pace
    qint64 m_doneAtLastTick = 0;
    bool m_ticked = false;
    bool m_finished = false;
};

} // namespace BatchSync

Q_DECLARE_METATYPE(BatchSync::ProgressInfo)
