#include "batchsizer.h"

#include <algorithm>
#include <cmath>

namespace BatchSync {

BatchSizer::BatchSizer(int initialSize, int minimum, int maximum, int targetMs)
    : m_size(std::clamp(initialSize, minimum, maximum))
    , m_minimum(minimum)
    , m_maximum(maximum)
    , m_targetMs(std::max(targetMs, 1))
{
}

int BatchSizer::update(int asked, qint64 records, qint64 elapsedMs)
{
    if (asked <= 0 || records < asked)
        return m_size;
    const double target = m_targetMs;
    const double took = double(std::max<qint64>(elapsedMs, 1));
    if (std::abs(took - target) <= target * Tolerance) {
        m_size = std::clamp(asked, m_minimum, m_maximum);
        return m_size;
    }
    const double factor = std::clamp(target / took, 0.5, 2.0);
    int size = int(std::lround(double(asked) * factor / 100.0)) * 100;
    // Whole hundreds must not swallow a needed step: move by one hundred at least.
    if (factor < 1.0 && size >= asked)
        size = asked - 100;
    else if (factor > 1.0 && size <= asked)
        size = asked + 100;
    m_size = std::clamp(size, m_minimum, m_maximum);
    return m_size;
}

} // namespace BatchSync
