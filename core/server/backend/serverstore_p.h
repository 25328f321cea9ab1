#pragma once

#include "common/identifier.h"
#include "server/backend/serverstore.h"
#include "server/backend/sqlitepage.h"
#include "server/pagewriter.h"

#include <QSqlQuery>
#include <QStringList>
#include <map>
#include <memory>

/*
    ServerStore's entity, shared by its files (serverstore.cpp, sqlitepush.cpp). Internal.
*/

namespace BatchSync {

namespace ServerStoreDetail {

// Field columns carry a prefix so that a field may be called "seq", "deleted" or
// "changed_at" without clashing with the bookkeeping columns.
inline QString columnName(const QString &field)
{
    return Identifier::quoted(QLatin1String("f_") + field);
}

// The moves of an entity (its row filters' fields around each change, sqliterows.cpp). Entity names
// never start with '_', so "_bs_..." cannot clash with an entity's table.
inline QString movesTable(const QString &entity)
{
    return Identifier::quoted(QLatin1String("_bs_moves_") + entity);
}

} // namespace ServerStoreDetail

struct ServerStore::Entity final : ServedEntity
{
    int position = 0;
    QStringList columns; // quoted field columns, in schema order
    qint64 lastSeq = 0;
    QString lastChangedAt;

    // Prepared on first use and kept: a page must not pay for parsing SQL. All of them are
    // finalized when the schema changes and before the connection closes.
    std::unique_ptr<QSqlQuery> upsertQuery;
    std::unique_ptr<QSqlQuery> removeQuery;
    // A push's statements (sqlitepush.cpp): the remembered result of a changeId, remembering
    // one, the stored record by id, a new record, a record replaced, and its tombstone.
    SqlitePage::Statement pushRememberedStatement;
    SqlitePage::Statement pushRememberStatement;
    SqlitePage::Statement pushRecordStatement;
    SqlitePage::Statement pushInsertStatement;
    SqlitePage::Statement pushUpdateStatement;
    SqlitePage::Statement pushRemoveStatement;
    SqlitePage::Statement cursorPageStatement;
    SqlitePage::Statement offsetPageStatement;
    SqlitePage::Statement cursorCountStatement;
    SqlitePage::Statement offsetCountStatement;
    // Pages and counts under row filters, by their SQL (a filter's shape, not its values).
    std::map<QString, SqlitePage::Statement> rowStatements;
    SqlitePage::Statement lastSeqStatement; // max(seq), read before a filtered page
    bool utf8Text = true; // the database's text encoding, checked before the first page
    bool encodingChecked = false;
    qsizetype pageBytesPerRecord = 0; // of the last page, to size the next one's buffer

    void setSchema(const EntitySchema &newSchema)
    {
        schema = newSchema;
        table = Identifier::quoted(schema.name);
        columns.clear();
        for (const FieldSpec &field : std::as_const(schema.fields))
            columns.append(ServerStoreDetail::columnName(field.name));
        fieldKeys = PageWriter::fieldKeys(schema);
        resetQueries();
    }

    void resetQueries()
    {
        upsertQuery.reset();
        removeQuery.reset();
        pushRememberedStatement.reset();
        pushRememberStatement.reset();
        pushRecordStatement.reset();
        pushInsertStatement.reset();
        pushUpdateStatement.reset();
        pushRemoveStatement.reset();
        cursorPageStatement.reset();
        offsetPageStatement.reset();
        cursorCountStatement.reset();
        offsetCountStatement.reset();
        rowStatements.clear();
        lastSeqStatement.reset();
        encodingChecked = false;
    }

    QString selectColumns() const
    {
        QString sql = QStringLiteral("SELECT seq, id, changed_at, deleted");
        for (const QString &column : columns)
            sql += QLatin1String(", ") + column;
        return sql + QLatin1String(" FROM ") + table;
    }

    QString upsertSql() const
    {
        QString names = QStringLiteral("seq, id, changed_at, deleted");
        QString values = QStringLiteral(":s, :i, :c, 0");
        QString updates
            = QStringLiteral("seq = excluded.seq, changed_at = excluded.changed_at, deleted = 0");
        for (qsizetype i = 0; i < columns.size(); ++i) {
            const QString &column = columns.at(i);
            names += QLatin1String(", ") + column;
            values += QLatin1String(", :f") + QString::number(i);
            updates += QLatin1String(", ") + column + QLatin1String(" = excluded.") + column;
        }
        return QStringLiteral("INSERT INTO %1(%2) VALUES(%3) ON CONFLICT(id) DO UPDATE SET %4")
            .arg(table, names, values, updates);
    }

    // A push's new record: ?1 its seq, ?2 its id, ?3 its changedAt, ?4... its fields.
    QString insertSql() const
    {
        QString names = QStringLiteral("seq, id, changed_at, deleted");
        QString values = QStringLiteral("?1, ?2, ?3, 0");
        for (qsizetype i = 0; i < columns.size(); ++i) {
            names += QLatin1String(", ") + columns.at(i);
            values += QLatin1String(", ?") + QString::number(4 + i);
        }
        return QStringLiteral("INSERT INTO %1(%2) VALUES(%3)").arg(table, names, values);
    }

    // A push's record stored at seq ?2, replaced whole (the parameters of insertSql() but ?2):
    // by its seq, the rowid, it is found without the id's index and without the conflicting
    // insert an upsert tries first.
    QString replaceSql() const
    {
        QString sql
            = QStringLiteral("UPDATE %1 SET seq = ?1, changed_at = ?3, deleted = 0").arg(table);
        for (qsizetype i = 0; i < columns.size(); ++i)
            sql += QLatin1String(", ") + columns.at(i) + QLatin1String(" = ?")
                + QString::number(4 + i);
        return sql + QLatin1String(" WHERE seq = ?2");
    }

    QString removeSql() const
    {
        QString sql
            = QStringLiteral("UPDATE %1 SET seq = ?, changed_at = ?, deleted = 1").arg(table);
        for (const QString &column : columns)
            sql += QLatin1String(", ") + column + QLatin1String(" = NULL");
        return sql + QLatin1String(" WHERE id = ? AND deleted = 0");
    }
};

} // namespace BatchSync
