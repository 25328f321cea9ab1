#include "progressinfo.h"

#include <algorithm>
#include <cmath>

namespace BatchSync {

namespace {

// Weight of the last second against the rate before it: quick enough to follow a change
// of pace within a few seconds, calm enough not to jump with every batch.
constexpr double Smoothing = 0.3;

qint64 etaFor(qint64 remaining, double rate)
{
    if (remaining <= 0)
        return 0;
    if (rate <= 0.0)
        return -1;
    return qint64(std::ceil(double(remaining) / rate));
}

} // namespace

double ProgressInfo::fraction() const
{
    if (total <= 0)
        return 1.0;
    return std::clamp(double(done) / double(total), 0.0, 1.0);
}

ProgressInfo ProgressInfo::combine(const QList<ProgressInfo> &parts)
{
    ProgressInfo all;
    all.etaSeconds = 0;
    for (const ProgressInfo &part : parts) {
        all.done += part.done;
        all.total += part.total;
        all.bytes += part.bytes;
        all.rate += part.rate;
    }
    all.etaSeconds = etaFor(all.total - all.done, all.rate);
    return all;
}

void ProgressEstimator::restart(qint64 nowMs)
{
    const ProgressInfo last = m_info;
    *this = ProgressEstimator();
    m_info.done = last.done; // shown until the run's first figures arrive
    m_info.total = last.total;
    m_startMs = nowMs;
    m_lastTickMs = nowMs;
}

void ProgressEstimator::update(qint64 done, qint64 total, qint64 bytes, qint64 nowMs)
{
    m_finished = false;
    if (m_doneAtStart < 0) {
        m_doneAtStart = done;
        m_doneAtLastTick = done;
    }
    m_info.done = done;
    m_info.total = std::max(total, done);
    m_info.bytes = bytes;
    if (!m_ticked) {
        // No second has passed yet: the average of the run so far.
        const qint64 elapsed = nowMs - m_startMs;
        m_info.rate
            = elapsed >= 100 ? double(done - m_doneAtStart) * 1000.0 / double(elapsed) : 0.0;
    }
    m_info.etaSeconds = etaFor(m_info.total - m_info.done, m_info.rate);
}

void ProgressEstimator::tick(qint64 nowMs)
{
    if (m_finished || m_doneAtStart < 0 || nowMs <= m_lastTickMs)
        return;
    const double lastSecond
        = double(m_info.done - m_doneAtLastTick) * 1000.0 / double(nowMs - m_lastTickMs);
    m_info.rate = m_ticked ? Smoothing * lastSecond + (1.0 - Smoothing) * m_info.rate
                           : (m_info.rate > 0.0 ? m_info.rate : lastSecond);
    m_ticked = true;
    m_lastTickMs = nowMs;
    m_doneAtLastTick = m_info.done;
    m_info.etaSeconds = etaFor(m_info.total - m_info.done, m_info.rate);
}

void ProgressEstimator::finish()
{
    m_finished = true;
    m_info.etaSeconds = m_info.done >= m_info.total ? 0 : -1;
}

ProgressInfo ProgressEstimator::info() const
{
    return m_info;
}

} // namespace BatchSync
