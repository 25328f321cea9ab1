#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>

/*!
    \file packedchanges.h
    The changes of one page in a compact form, for the pull path: what a protocol page parsed
    in cursor mode becomes (see ChangePage::packed). A plain value, safe to move between
    threads; any thread may read a PackedChanges no thread writes.
*/

namespace BatchSync {

struct Change;

/*!
    The changes of one page as cells over one buffer of UTF-8 text, rather than a QString and
    a QVariant per value: about half the memory of a QList<Change>, and text the store binds
    as it is, with no conversion.

    Each change takes 3 + fieldCount() cells: its id, its changedAt, its version, then one
    value per schema field (as Change::values). A deleted change's values are null cells.
    The text is what the page's JSON strings say, unescaped, as UTF-8: the bytes the store
    writes for the same strings in a Change (a lone surrogate of an escape becomes U+FFFD).
*/
class PackedChanges
{
public:
    enum class Kind : quint8 {
        Null, //!< no value (and a version the server did not send)
        Integer,
        Real,
        Bool, //!< in Cell::integer, 0 or 1
        Text //!< Cell::size bytes of text() from Cell::offset
    };

    struct Cell
    {
        Kind kind = Kind::Null;
        bool deleted = false; //!< on a change's first cell: the change is a deletion
        quint32 size = 0; //!< Text: its length in bytes
        union {
            qint64 integer = 0; //!< Integer, Bool
            double real; //!< Real
            qint64 offset; //!< Text: where it starts in the text
        };
    };

    PackedChanges() = default;
    /*! Empty changes of an entity with \a fieldCount fields. */
    explicit PackedChanges(int fieldCount)
        : m_stride(FixedCells + fieldCount)
    {
    }

    int fieldCount() const { return m_stride - FixedCells; }
    /*! The number of changes. */
    qsizetype size() const { return m_stride > 0 ? m_cells.size() / m_stride : 0; }
    bool isEmpty() const { return m_cells.isEmpty(); }

    bool isDeleted(qsizetype change) const { return m_cells.at(change * m_stride).deleted; }
    QByteArrayView id(qsizetype change) const { return text(m_cells.at(change * m_stride)); }
    QByteArrayView changedAt(qsizetype change) const
    {
        return text(m_cells.at(change * m_stride + 1));
    }
    /*! Null when the server sent none (protocol v1), Text otherwise. */
    const Cell &version(qsizetype change) const { return m_cells.at(change * m_stride + 2); }
    /*! The value of field \a field (an index into the schema's fields). */
    const Cell &value(qsizetype change, int field) const
    {
        return m_cells.at(change * m_stride + FixedCells + field);
    }
    /*! A Text cell's bytes; empty for any other. */
    QByteArrayView text(const Cell &cell) const
    {
        if (cell.kind != Kind::Text)
            return {};
        return QByteArrayView(m_text.constData() + cell.offset, cell.size);
    }

    /*! Change \a change as a Change, equal to what the unpacked page holds. */
    Change change(qsizetype change) const;
    /*! Every change, as a QList<Change> holds them. */
    QList<Change> toChanges() const;

    // Building, for a parser.

    /*! Room for \a changes changes and \a textBytes bytes of text. */
    void reserve(qsizetype changes, qsizetype textBytes);
    /*! Appends a change of null cells; returns its first cell. */
    Cell *appendChange();
    /*! Makes \a cell a Text cell of \a size bytes at \a text. */
    void setText(Cell *cell, const char *text, qsizetype size);
    /*! Gives back the room reserve() took and no change used. */
    void squeeze();

private:
    static constexpr int FixedCells = 3;

    int m_stride = 0; // cells per change; 0: no fields known, no changes
    QList<Cell> m_cells;
    QByteArray m_text;
};

} // namespace BatchSync
