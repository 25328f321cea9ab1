#pragma once

#include "common/types.h"

#include <QWidget>

QT_BEGIN_NAMESPACE
class QLabel;
class QProgressBar;
class QPushButton;
QT_END_NAMESPACE

namespace BatchSync::Ui {

/*!
    Fixed widths of the progress page's columns, shared by the header and every row so that
    the columns line up, and fixed so that a new number never makes the page lay out again.
*/
struct ColumnWidths
{
    int name = 0;
    int count = 0;
    int rate = 0;
    int eta = 0;
    int state = 0;
    int lastSync = 0;
    int pending = 0;
    int button = 0;
};

/*!
    One entity on the progress page: its name, a progress bar, done / total, rate, ETA, state
    in words (with the failure reason on hover), the last completed sync, the local changes
    waiting to be sent, and one button
    reading Start, Pause or Resume as the state requires. It shows what it is told and asks
    for actions through its signals; it never talks to the engine itself.
*/
class EntityRow final : public QWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(EntityRow)

public:
    explicit EntityRow(const QString &entity, QWidget *parent = nullptr);

    QString entity() const { return m_entity; }
    SyncState state() const { return m_state; }
    qint64 done() const { return m_done; }
    qint64 total() const { return m_total; }

    void setColumnWidths(const ColumnWidths &widths);
    /*! Everything at once, e.g. from SyncEngine::entities(). */
    void setStatus(const EntityStatus &status);
    void setProgress(qint64 done, qint64 total, double recordsPerSecond, qint64 etaSeconds);
    /*! \a reason is shown on hover when \a state is Failed. */
    void setState(SyncState state, const QString &reason = QString());
    /*! What the run does now; the state's words say it while it runs. */
    void setPhase(SyncPhase phase);
    void setLastCompleted(const QDateTime &utc);
    /*! Local changes the next sync sends; none shows nothing. */
    void setPendingChanges(qint64 count);
    /*!
        What live sync says of this entity while it is not syncing ("Up to date · live",
        "Waiting for the network"); empty: the state's own words.
    */
    void setLiveText(const QString &text);
    qint64 pendingChanges() const { return m_pending; }

    /*! "3 local changes to send"; empty for none. */
    static QString pendingText(qint64 count);

    /*! The button's text for \a state: Start, Pause or Resume. */
    static QString buttonText(SyncState state);

Q_SIGNALS:
    void startRequested(const QString &entity);
    void pauseRequested(const QString &entity);
    void resumeRequested(const QString &entity);

private:
    void onButtonClicked();
    void updateBar();
    static QLabel *makeLabel(const QString &objectName, Qt::Alignment alignment, QWidget *parent);

    QString m_entity;
    SyncState m_state = SyncState::Idle;
    SyncPhase m_phase = SyncPhase::Changes;
    qint64 m_done = 0;
    qint64 m_total = 0;
    qint64 m_pending = 0;
    QLabel *m_name = nullptr;
    QProgressBar *m_bar = nullptr;
    QLabel *m_count = nullptr;
    QLabel *m_rate = nullptr;
    QLabel *m_eta = nullptr;
    QLabel *m_stateLabel = nullptr;
    QLabel *m_lastSync = nullptr;
    QLabel *m_pendingLabel = nullptr;
    QString m_liveText;
    QPushButton *m_button = nullptr;
};

} // namespace BatchSync::Ui
