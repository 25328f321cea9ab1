#pragma once

#include "common/types.h"
#include "recordmodel.h"

#include <QHash>
#include <QTimer>
#include <QWidget>

QT_BEGIN_NAMESPACE
class QAction;
class QComboBox;
class QLabel;
class QLineEdit;
class QTableView;
class QToolButton;
QT_END_NAMESPACE

namespace BatchSync::Ui {

/*!
    The data view: pick an entity and see its synced records, straight from the local
    database. It never needs the server. Its model reads on a worker thread (RecordModel), so
    that no query, however long, holds up the window: rows are fetched lazily (never the whole
    table at once), the first ones before the count; the filter box matches the text columns
    with LIKE, parameter-bound and debounced; a click on a header sorts; the label shows the
    row count once known ("Loading…" or "Sorting…" until then). Each new request cancels the
    one in flight.

    Records can be edited in place (double-click or F2, an editor for each field type),
    added ("Add record") and deleted (Delete, after a confirmation); "Set to null" clears a
    field. The model writes on its worker thread; the capture triggers record each change
    for the next sync, and a write that fails is shown above the table.
*/
class DataView final : public QWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(DataView)

public:
    explicit DataView(QWidget *parent = nullptr);
    ~DataView() override;

    /*! Shows the database at \a path; it is opened when there is something to read. */
    void setDatabasePath(const QString &path);
    QString databasePath() const { return m_path; }

    /*! The field types of the entities, as the engine knows them (for display only). */
    void setSchemas(const QList<EntitySchema> &schemas);

    /*! Lists the entities again and re-reads the one shown. */
    void reload();
    /*! Lists the entities again (tables may have appeared); re-reads nothing else. */
    void refreshEntityList();
    /*! Re-reads \a entity if it is the one shown (e.g. after its sync completed). */
    void entityUpdated(const QString &entity);

    QString currentEntity() const;
    /*! Shows \a entity; one not listed yet is shown as soon as the listing finds it. */
    void setCurrentEntity(const QString &entity);
    QStringList entityNames() const;

    QString filterText() const;
    /*! Sets the filter and applies it at once (the filter box itself waits for a pause). */
    void setFilterText(const QString &text);

    /*! Rows matching the filter in the shown entity; -1 while unknown or nothing is shown. */
    qint64 matchingRows() const { return m_model->matchingRows(); }
    RecordModel *model() const { return m_model; }

    /*! Column layouts by entity (QHeaderView::saveState()). */
    QHash<QString, QByteArray> columnStates() const;
    void setColumnStates(const QHash<QString, QByteArray> &states) { m_columnStates = states; }

    /*! Asks for the id of a new record of the shown entity (a dialog, not modal to the app). */
    void requestAddRecord();
    /*! Adds the record \a id to the shown entity; an empty id is refused. */
    void addRecord(const QString &id);
    /*! Asks to confirm, then deletes the selected records. */
    void requestDeleteSelected();
    /*! Sets the current cell to NULL. */
    void setCurrentToNull();
    /*! Why the last edit failed; empty after one that worked. */
    QString editMessage() const;
    /*! Counts each entity's local changes not sent yet: pendingChangesCounted() answers. */
    void countPendingChanges();

    /*! Milliseconds the filter box waits after the last key before it filters. */
    static constexpr int FilterDelayMs = 250;

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

Q_SIGNALS:
    void pendingChangesCounted(const BatchSync::Ui::PendingCounts &counts);

private:
    bool hasDatabase() const;
    void setEditMessage(const QString &text);
    void updateEditActions();
    QList<int> selectedRows() const;
    void listEntities();
    void onEntitiesListed(const QStringList &names, const QString &error);
    void runQuery();
    void onColumnsChanged();
    void onRowsFetched(bool first);
    void updateStatus();
    void saveColumnState();
    void fitColumns();
    void setStatus(const QString &text);

    QString m_path;
    QHash<QString, QByteArray> m_columnStates;
    QString m_shown; // the entity shown (its columns may still be on their way)
    QString m_wanted; // setCurrentEntity() before the entity was listed
    bool m_queryAfterListing = false;
    bool m_userLayout = false; // the shown entity's column layout is the user's (or saved)
    bool m_fitting = false;
    QString m_failure; // why the last query failed

    QComboBox *m_entityCombo = nullptr;
    QLineEdit *m_filterEdit = nullptr;
    QToolButton *m_reloadButton = nullptr;
    QLabel *m_countLabel = nullptr;
    QToolButton *m_addButton = nullptr;
    QToolButton *m_deleteButton = nullptr;
    QAction *m_addAction = nullptr;
    QAction *m_deleteAction = nullptr;
    QAction *m_setNullAction = nullptr;
    QLabel *m_editLabel = nullptr;
    QTableView *m_table = nullptr;
    RecordModel *m_model = nullptr;
    QTimer m_filterTimer;
};

} // namespace BatchSync::Ui
