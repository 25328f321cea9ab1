#pragma once

#include <QtGlobal>

namespace BatchSync {

/*!
    \internal
    The bytes of the pages that the jobs of one worker asked for and have not written yet:
    pages on their way, and pages parsed and waiting for the writes before them. With several
    entities at once and pages of thousands of records, those add up; a page may be asked for
    ahead of its turn (before the page before it is written) only while they stay within the
    limit, or when no other job has a page in memory. A job's page asked for in its turn is
    counted, never refused. Lives in the engine's worker thread.
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

    /*! Counts \a bytes more of pages in memory (negative: fewer). */
    void add(qint64 bytes)
    {
        m_held += bytes;
        Q_ASSERT(m_held >= 0);
    }
    /*!
        Whether a job that holds \a own of the bytes may ask for a page of about \a bytes
        ahead of its turn.
    */
    bool mayAskAhead(qint64 own, qint64 bytes) const
    {
        return m_held == own || m_held + bytes <= m_limit;
    }
    qint64 held() const { return m_held; }

    /*! Notes a page of \a bytes received: the guess for a job that has received none yet. */
    void notePage(qint64 bytes) { m_lastPage = bytes; }
    /*! The bytes to expect of a job's next page, whose last was \a own bytes (0: none yet). */
    qint64 guess(qint64 own) const { return own > 0 ? own : m_lastPage; }
    qint64 limit() const { return m_limit; }

private:
    qint64 m_limit;
    qint64 m_held = 0;
    qint64 m_lastPage = 0;
};

} // namespace BatchSync
