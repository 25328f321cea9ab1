#pragma once

#include <QtGlobal>

namespace BatchSync {

/*!
    \internal
    The bytes of the pages that the jobs of one worker asked for ahead of their turn (before
    the page before them was written). Such a page waits in memory, parsed, while the writes
    before it go on; with several entities at once and pages of thousands of records, those
    would add up. One page ahead is always allowed; more only while their bytes, guessed
    from each job's last page, stay within the limit. Lives in the engine's worker thread.
*/
class PrefetchBudget final
{
    Q_DISABLE_COPY_MOVE(PrefetchBudget)

public:
    /*! 4 MiB: ten pages of 1,000 records of ~400 bytes, one page of 10,000. */
    static constexpr qint64 DefaultLimit = 4 * 1024 * 1024;

    explicit PrefetchBudget(qint64 limit = DefaultLimit)
        : m_limit(limit)
    {
    }

    /*! Takes \a bytes for a page asked for ahead; false when they do not fit. */
    bool reserve(qint64 bytes)
    {
        if (m_pages > 0 && m_held + bytes > m_limit)
            return false;
        m_held += bytes;
        ++m_pages;
        return true;
    }
    /*! Gives back what reserve(\a bytes) took. */
    void release(qint64 bytes)
    {
        m_held -= bytes;
        --m_pages;
        Q_ASSERT(m_held >= 0 && m_pages >= 0);
    }
    qint64 held() const { return m_held; }

private:
    qint64 m_limit;
    qint64 m_held = 0;
    int m_pages = 0;
};

} // namespace BatchSync
