#pragma once

#include "common/types.h"

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <QVariant>

namespace BatchSync::Ui {

/*! One field of a conflicting record: the local value and the server's, side by side. */
struct ConflictField
{
    QString name;
    FieldType type = FieldType::String;
    QVariant local; //!< a null QVariant for a JSON null or a field the record lacks
    QVariant server;
    bool inLocal = false; //!< the local record names the field
    bool inServer = false; //!< the server's record names the field
};

/*! One row of _sync_conflicts, with the records decoded per field. */
struct Conflict
{
    qint64 seq = 0;
    QString entity;
    QString id;
    QString kind; //!< "conflict" or "rejected"
    QString error; //!< the server's reason, for a rejected change
    QString at; //!< UTC, 24 characters
    QString base;
    QString serverVersion;
    QString resolution; //!< "server", "resent" or "restored"
    bool hasLocal = false; //!< false: the local change was a deletion
    bool hasServer = false; //!< false: the server has no record (or did not say, when rejected)
    QList<ConflictField> fields; //!< the entity's fields in schema order, then any others

    bool isRejected() const { return kind == QLatin1String("rejected"); }
};
using ConflictList = QList<Conflict>;

/*!
    Reads and resolves the conflicts of a local database (_sync_conflicts) on a thread of its
    own (worker-object pattern: ConflictsModel moves it to its QThread). Its read-write
    connection is opened, used and closed in that thread only, and waits busyTimeout for a
    lock that another connection holds.

    Resolving edits the entity's table as any program would (UPDATE, else INSERT, or
    DELETE): the capture triggers record the edit as a pending change, which the next sync
    pushes. Each resolve() is one transaction: the edits and the closing (deletion) of the
    conflicts together, or nothing.
*/
class ConflictsWorker final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ConflictsWorker)

public:
    enum class Action {
        KeepServer, //!< the server's record stays (written again if the local one was resent)
        SendMine, //!< the local record is written again, to be pushed by the next sync
        Discard //!< only closes the conflict
    };
    Q_ENUM(Action)

    explicit ConflictsWorker(const QString &connectionName, QObject *parent = nullptr);
    /*! Closes the connection; runs in the worker's thread (deleteLater at its end). */
    ~ConflictsWorker() override;

    // The worker's thread only (posted with QMetaObject::invokeMethod).
    void setDatabasePath(const QString &path);
    /*! How long a write waits for another connection's lock before it fails. */
    void setBusyTimeout(int milliseconds);
    /*! Reads every open conflict: loaded() answers. */
    void load(quint64 generation);
    /*! Applies \a action to the conflicts \a seqs in one transaction: resolved() answers. */
    void resolve(quint64 generation, BatchSync::Ui::ConflictsWorker::Action action,
                 const QList<qint64> &seqs);

Q_SIGNALS:
    /*! The open conflicts, oldest first, or an error (the list is then empty). */
    void loaded(quint64 generation, const BatchSync::Ui::ConflictList &conflicts,
                const QString &error);
    /*! \a closed conflicts were closed; on an error none was, and no record changed. */
    void resolved(quint64 generation, BatchSync::Ui::ConflictsWorker::Action action, int closed,
                  const QString &error);

private:
    bool ensureOpen(QString *error);
    void close();
    bool resolveOne(Action action, qint64 seq, bool *closed, QString *error);
    bool writeRecord(const QString &entity, const QString &id, qint64 seq, const QString &column,
                     QString *error);

    const QString m_connectionName;
    QString m_path;
    int m_busyTimeoutMs = 5000;
    bool m_open = false;
};

} // namespace BatchSync::Ui

Q_DECLARE_METATYPE(BatchSync::Ui::ConflictList)
