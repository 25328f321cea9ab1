#pragma once

#include "common/types.h"
#include "engine/progressinfo.h"
#include "entityrow.h"

#include <QHash>
#include <QList>
#include <QWidget>

QT_BEGIN_NAMESPACE
class QLabel;
class QProgressBar;
class QScrollArea;
class QVBoxLayout;
QT_END_NAMESPACE

namespace BatchSync::Ui {

/*!
    The per-entity progress page: an overall bar weighted by records, a message line for the
    endpoint (starting, unreachable, ...), and one EntityRow per entity, with aligned columns.
*/
class ProgressPage final : public QWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ProgressPage)

public:
    explicit ProgressPage(QWidget *parent = nullptr);

    /*! Adds, updates and removes rows to match \a entities, in their order. */
    void setEntities(const QList<EntityStatus> &entities);
    /*! Removes every row. */
    void clear();

    void setProgress(const QString &entity, qint64 done, qint64 total, double recordsPerSecond,
                     qint64 etaSeconds);
    void setState(const QString &entity, SyncState state, const QString &reason = QString());
    void setPhase(const QString &entity, SyncPhase phase);
    void setLastCompleted(const QString &entity, const QDateTime &utc);

    /*!
        Each entity's local changes not sent yet (an entity missing from \a counts has
        none); rows added later show theirs from these counts too.
    */
    void setPendingChanges(const QHash<QString, qint64> &counts);

    /*! A line above the rows about the endpoint; empty hides it. */
    void setMessage(const QString &text, bool isError = false);
    QString message() const;

    /*! The height that shows the overall bar and every row without scrolling. */
    int fittingHeight();

    EntityRow *row(const QString &entity) const { return m_rows.value(entity); }
    /*! What live sync says of every entity at rest (see EntityRow::setLiveText). */
    void setLiveText(const QString &text);
    QStringList entityNames() const;
    /*! The overall progress across entities, as the engine computes it. */
    void setOverallProgress(const BatchSync::ProgressInfo &progress);
    qint64 overallDone() const { return m_overall.done; }
    qint64 overallTotal() const { return m_overall.total; }

Q_SIGNALS:
    void startRequested(const QString &entity);
    void pauseRequested(const QString &entity);
    void resumeRequested(const QString &entity);

private:
    void updateOverall();
    void updateColumnWidths();
    QString countSample() const;

    QProgressBar *m_overallBar = nullptr;
    QLabel *m_overallLabel = nullptr;
    QLabel *m_message = nullptr;
    QWidget *m_header = nullptr;
    QList<QLabel *> m_headerLabels; // name, count, rate, eta, state, last sync, pending, button
    QScrollArea *m_scroll = nullptr;
    QVBoxLayout *m_rowsLayout = nullptr;
    QLabel *m_empty = nullptr;
    QHash<QString, EntityRow *> m_rows;
    QList<EntityRow *> m_order;
    QString m_liveText;
    ColumnWidths m_widths;
    qint64 m_widestTotal = 0;
    QHash<QString, qint64> m_pending;
    BatchSync::ProgressInfo m_overall;
};

} // namespace BatchSync::Ui
