#pragma once

#include "common/types.h"
#include "server/backend/pglink.h"
#include "server/pagewriter.h"

#include <QList>
#include <QString>

/*!
    \file pgpage.h
    How the PostgreSQL backend reads a page's rows: libpq's text of each cell written into the
    page as it is, with no QVariant per cell. Internal to core/server; the connection's thread
    only.
*/

namespace BatchSync::PgSql {

/*!
    The rows of a page query (x, s, i, a, d, f0, f1, ...) in \a result, read for
    PageWriter::write(). The cursor is the last kept row's "xid.seq", or the request's. Every
    value is written as the QPSQL driver's value of the same text would be (JsonWriter::value()),
    byte for byte.
*/
class Rows final
{
public:
    Rows(const PgResult &result, const QList<FieldSpec> &fields, const QString &since);

    bool next()
    {
        if (m_row + 1 < m_rows) {
            ++m_row;
            return true;
        }
        m_ended = true;
        return false;
    }
    void keepPosition() { m_kept = m_row; }
    void writeId(JsonWriter &json) { writeText(json, 2); }
    void writeChangedAt(JsonWriter &json) { writeText(json, 3); }
    bool isDeleted() const { return *m_result.text(m_row, 4) == 't'; }
    // The version of a record is the sequence number of its last change.
    void writeVersion(JsonWriter &json)
    {
        json.raw('"');
        json.raw(QByteArray::fromRawData(m_result.text(m_row, 1), m_result.length(m_row, 1)));
        json.raw('"');
    }
    void writeField(JsonWriter &json, int index);
    /*!
        A position ("xid.seq") the cursor may move to when the page reaches the end of the
        changes: a filtered page skips changes it does not serve, and its caller need not
        read them again.
    */
    void setEndPosition(const QString &cursor) { m_endCursor = cursor; }
    void writeCursor(JsonWriter &json);

private:
    // The kinds of cells a field is read from, by the column's type.
    enum class Cell { Text, Int8, Float8, Bool, Other };

    void writeText(JsonWriter &json, int column);
    void writeOther(JsonWriter &json, int index, int column);

    const PgResult &m_result;
    const QList<FieldSpec> &m_fields;
    QList<Cell> m_cells; // per field
    QString m_since;
    QString m_endCursor;
    int m_rows = 0;
    int m_row = -1;
    int m_kept = -1;
    bool m_ended = false;
};

} // namespace BatchSync::PgSql
