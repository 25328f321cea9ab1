#pragma once

#include "conflictsworker.h"

#include <QList>
#include <QWidget>

QT_BEGIN_NAMESPACE
class QLabel;
class QPushButton;
class QTableView;
class QTableWidget;
QT_END_NAMESPACE

namespace BatchSync::Ui {

class ConflictsModel;

/*!
    The conflicts of the local database: the list of conflicting and rejected pushed
    changes, the selected one's local and server values side by side (differences
    highlighted), and what to do with the selected ones: keep the server's record, send
    the local one again, or discard the conflict. Reading and resolving run on the model's
    worker thread; the view only shows what comes back, failures in words.
*/
class ConflictsView final : public QWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ConflictsView)

public:
    /*! The role of the values table's items that holds whether the two sides differ. */
    static constexpr int DiffersRole = Qt::UserRole + 1;

    explicit ConflictsView(QWidget *parent = nullptr);
    ~ConflictsView() override;

    /*! Shows the conflicts of the database at \a path (reads them at once). */
    void setDatabasePath(const QString &path);
    /*! Open conflicts as last read; -1 before the first reading. */
    int count() const;
    /*! The seqs of the selected conflicts, oldest first. */
    QList<qint64> selectedSeqs() const;

    ConflictsModel *model() const { return m_model; }
    QTableView *listView() const { return m_list; }
    QTableWidget *valuesTable() const { return m_values; }
    QLabel *messageLabel() const { return m_message; }

public Q_SLOTS:
    /*! Reads the conflicts again (the window calls it after each sync). */
    void reload();
    /*! Keeps the server's record for the selected conflicts, and closes them. */
    void keepServers();
    /*! Writes the selected conflicts' local records again, to be sent by the next sync. */
    void sendMineAgain();
    /*! Closes the selected conflicts without changing any record. */
    void discard();

Q_SIGNALS:
    /*! The number of open conflicts changed. */
    void countChanged(int count);

private:
    void act(ConflictsWorker::Action action);
    void onLoaded(const QString &error);
    void onActionFinished(ConflictsWorker::Action action, int closed, const QString &error);
    void showSelected();
    void updateButtons();
    void showMessage(const QString &text, bool error);

    ConflictsModel *m_model = nullptr;
    QTableView *m_list = nullptr;
    QLabel *m_summary = nullptr;
    QTableWidget *m_values = nullptr;
    QLabel *m_message = nullptr;
    QPushButton *m_keepServer = nullptr;
    QPushButton *m_sendMine = nullptr;
    QPushButton *m_discard = nullptr;
    QList<qint64> m_selectionBeforeReset;
};

} // namespace BatchSync::Ui
