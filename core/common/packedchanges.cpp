#include "packedchanges.h"

#include "common/types.h"

namespace BatchSync {

namespace {

QVariant valueOf(const PackedChanges &changes, const PackedChanges::Cell &cell)
{
    switch (cell.kind) {
    case PackedChanges::Kind::Null:
        break;
    case PackedChanges::Kind::Integer:
        return QVariant(qlonglong(cell.integer));
    case PackedChanges::Kind::Real:
        return QVariant(cell.real);
    case PackedChanges::Kind::Bool:
        return QVariant(cell.integer != 0);
    case PackedChanges::Kind::Text:
        return QVariant(QString::fromUtf8(changes.text(cell)));
    }
    return QVariant();
}

} // namespace

Change PackedChanges::change(qsizetype change) const
{
    Change result;
    result.id = QString::fromUtf8(id(change));
    result.changedAt = QString::fromUtf8(changedAt(change));
    result.version = QString::fromUtf8(text(version(change)));
    result.deleted = isDeleted(change);
    if (!result.deleted) {
        const int fields = fieldCount();
        result.values.reserve(fields);
        for (int field = 0; field < fields; ++field)
            result.values.append(valueOf(*this, value(change, field)));
    }
    return result;
}

QList<Change> PackedChanges::toChanges() const
{
    QList<Change> changes;
    changes.reserve(size());
    for (qsizetype i = 0; i < size(); ++i)
        changes.append(change(i));
    return changes;
}

void PackedChanges::reserve(qsizetype changes, qsizetype textBytes)
{
    m_cells.reserve(changes * m_stride);
    m_text.reserve(textBytes);
}

PackedChanges::Cell *PackedChanges::appendChange()
{
    Q_ASSERT(m_stride > 0);
    const qsizetype first = m_cells.size();
    m_cells.resize(first + m_stride);
    return m_cells.data() + first;
}

void PackedChanges::setText(Cell *cell, const char *text, qsizetype size)
{
    cell->kind = Kind::Text;
    cell->offset = m_text.size();
    cell->size = quint32(size);
    m_text.append(text, size);
}

void PackedChanges::squeeze()
{
    // Large buffers are their own mappings: shrinking them moves nothing.
    if (m_cells.capacity() > m_cells.size() + m_cells.size() / 8)
        m_cells.squeeze();
    if (m_text.capacity() > m_text.size() + m_text.size() / 8)
        m_text.squeeze();
}

} // namespace BatchSync
