#pragma once

#include <QtGlobal>

/*!
    \file batchsizer.h
    The adaptive batch size of an entity's sync.
*/

namespace BatchSync {

/*!
    Sizes batches so that each takes about a target duration. A batch costs a fixed latency
    (the round trip, the server's work) plus a time per record; scaling the size by
    target / measured converges on the size whose batches take the target, on a slow link
    (small batches) as on a fast one (large ones). Each step at most halves or doubles the
    size, so that one slow batch (a busy disk, a scheduler hiccup) cannot swing it, and a
    deviation within the tolerance is left alone. Sizes are whole hundreds within
    [minimum, maximum]. A plain value; any thread.
*/
class BatchSizer final
{
public:
    BatchSizer(int initialSize, int minimum, int maximum, int targetMs);

    int size() const { return m_size; }
    int targetMs() const { return m_targetMs; }

    /*!
        Takes the duration of a batch of \a records records that was asked for with size
        \a asked (the current size, or an earlier one when the next batch was already asked
        for), and returns the size for the next one. A short batch (fewer records than asked
        for: the end of the changes) says nothing about the size and is ignored.
    */
    int update(int asked, qint64 records, qint64 elapsedMs);

    static constexpr double Tolerance = 0.15; //!< relative deviation left alone

private:
    int m_size;
    int m_minimum;
    int m_maximum;
    int m_targetMs;
};

} // namespace BatchSync
