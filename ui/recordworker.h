#pragma once

#include "common/types.h"

#include <QAtomicInteger>
#include <QList>
#include <QMetaType>
#include <QMutex>
#include <QObject>
#include <QSqlQuery>
#include <QString>
#include <QStringList>
#include <QVariantList>
#include <memory>

struct sqlite3;

namespace BatchSync::Ui {

/*!
    Opens the connection \a connectionName (made in the calling thread, which then owns it)
    on the existing local database \a path with the QSQLITE \a options; never creates the
    file. False, with \a error set, otherwise.
*/
bool openDataConnection(const QString &connectionName, const QString &path, const QString &options,
                        QString *error);

/*! One column of an entity's table as the data view shows it. */
struct RecordColumn
{
    QString name;
    FieldType type = FieldType::String;

    friend bool operator==(const RecordColumn &a, const RecordColumn &b)
    {
        return a.name == b.name && a.type == b.type;
    }
    friend bool operator!=(const RecordColumn &a, const RecordColumn &b) { return !(a == b); }
};
using RecordColumns = QList<RecordColumn>;
using RecordRows = QList<QVariantList>;

/*! What the data view asks for: one entity's rows, filtered and sorted. */
struct RecordQuery
{
    QString entity;
    QString filter; //!< matched with LIKE in the text columns; empty: every row
    QString sortField; //!< empty: the table's own order
    Qt::SortOrder order = Qt::AscendingOrder;
};

/*!
    Reads the local database for the data view, on a thread of its own (worker-object
    pattern: RecordModel moves it to its QThread). Its read-only connection is opened, used
    and closed in that thread only. Queries carry a generation: a newer one supersedes the
    older ones, whose results are never sent and whose running statement is interrupted.
*/
class RecordWorker final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(RecordWorker)

public:
    explicit RecordWorker(const QString &connectionName, QObject *parent = nullptr);
    /*! Closes the connection; runs in the worker's thread (deleteLater at its end). */
    ~RecordWorker() override;

    /*!
        Any thread: every query older than \a generation is stale from now on. Interrupts
        the statement running on the connection, if any, so that the next query starts at
        once. Call it before posting the query of \a generation.
    */
    void supersede(quint64 generation);

    // The worker's thread only (posted with QMetaObject::invokeMethod).
    /*! Lets the window's thread go first whenever both want the CPU (Linux; elsewhere none). */
    void yieldToTheWindow();
    void setDatabasePath(const QString &path);
    void listEntities();
    /*! Reads the columns and the first \a chunk rows, sends them, then counts. */
    void runQuery(quint64 generation, const RecordQuery &query, int chunk);
    /*! Sends up to \a chunk more rows of the query of \a generation. */
    void fetch(quint64 generation, int chunk);

Q_SIGNALS:
    /*! The entities of the database, or an error (the list is then empty). */
    void entitiesListed(const QStringList &names, const QString &error);
    /*! The columns (with the first rows only), and rows in order; \a atEnd: there are no more. */
    void rowsReady(quint64 generation, const BatchSync::Ui::RecordColumns &columns,
                   const BatchSync::Ui::RecordRows &rows, bool first, bool atEnd);
    /*! Rows in the table, and those the filter matches. */
    void countsReady(quint64 generation, qint64 total, qint64 matching);
    void queryFailed(quint64 generation, const QString &message);

private:
    bool ensureOpen(QString *error);
    void close();
    bool isStale(quint64 generation) const { return generation != m_latest.loadAcquire(); }
    void dropStaleCursor();
    RecordColumns columnsOf(const QString &entity, QString *error);
    QString filterCondition(const RecordQuery &query) const;
    QString whereClause(const RecordQuery &query) const;
    void bindFilter(QSqlQuery &query, const RecordQuery &request) const;
    void sendRows(quint64 generation, const RecordColumns &columns, int chunk, bool first);
    void sendChunk(quint64 generation, const RecordColumns &columns, int chunk, bool first);
    void queueCount(quint64 generation, const RecordQuery &query);
    void count(quint64 generation, const RecordQuery &query);
    void failed(quint64 generation, const QString &what, const QSqlQuery &query);

    const QString m_connectionName;
    QString m_path;
    bool m_open = false;
    QAtomicInteger<quint64> m_latest = 0;
    QMutex m_handleMutex; // guards m_handle against the connection closing
    sqlite3 *m_handle = nullptr;

    // The rows of the current query, read a chunk at a time as the view asks for them: by
    // rowid with a statement per chunk (m_keysetSql), or, when sorted, through a cursor.
    QString m_keysetSql;
    RecordQuery m_keysetQuery;
    qint64 m_lastRowid = 0;
    std::unique_ptr<QSqlQuery> m_cursor;
    quint64 m_cursorGeneration = 0;
    int m_columnCount = 0;
    RecordColumns m_textColumns; // the columns the filter matches, of the current query
};

} // namespace BatchSync::Ui

Q_DECLARE_METATYPE(BatchSync::Ui::RecordColumns)
Q_DECLARE_METATYPE(BatchSync::Ui::RecordRows)
