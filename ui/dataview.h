#pragma once

#include "common/types.h"

#include <QHash>
#include <QSqlQueryModel>
#include <QTimer>
#include <QWidget>

QT_BEGIN_NAMESPACE
class QComboBox;
class QLabel;
class QLineEdit;
class QTableView;
class QToolButton;
QT_END_NAMESPACE

namespace BatchSync::Ui {

/*!
    A read-only, lazily fetched model over one entity's table: QSqlQueryModel fetches rows in
    chunks as the view scrolls. It shows booleans as words and right-aligns numbers.
*/
class RecordModel final : public QSqlQueryModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(RecordModel)

public:
    explicit RecordModel(QObject *parent = nullptr);

    /*! The type of each column, in order, for display. */
    void setColumnTypes(const QList<FieldType> &types) { m_types = types; }
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;

private:
    QList<FieldType> m_types;
};

/*!
    The data view: pick an entity and see its synced records, straight from the local
    database through a read-only connection of its own on the GUI thread. It never needs the
    server. Rows are fetched lazily (never the whole table at once); the filter box matches
    the text columns with LIKE, parameter-bound and debounced; the label shows the row count.
*/
class DataView final : public QWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(DataView)

public:
    explicit DataView(QWidget *parent = nullptr);
    /*! Closes the connection and removes it from QSqlDatabase's registry. */
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
    void setCurrentEntity(const QString &entity);
    QStringList entityNames() const;

    QString filterText() const;
    /*! Sets the filter and applies it at once (the filter box itself waits for a pause). */
    void setFilterText(const QString &text);

    /*! Rows matching the filter in the shown entity; -1 when nothing is shown. */
    qint64 matchingRows() const { return m_matching; }
    RecordModel *model() const { return m_model; }

    /*! Column layouts by entity (QHeaderView::saveState()). */
    QHash<QString, QByteArray> columnStates() const;
    void setColumnStates(const QHash<QString, QByteArray> &states) { m_columnStates = states; }

    /*! Milliseconds the filter box waits after the last key before it filters. */
    static constexpr int FilterDelayMs = 250;

private:
    struct Column
    {
        QString name;
        FieldType type = FieldType::String;
    };

    bool ensureOpen();
    void closeDatabase();
    void listEntities();
    void showEntity(const QString &entity);
    void runQuery();
    void saveColumnState();
    void fitColumns();
    QList<Column> columnsOf(const QString &entity) const;
    void setStatus(const QString &text);

    QString m_path;
    QString m_connectionName;
    bool m_open = false;
    QHash<QString, EntitySchema> m_schemas;
    QHash<QString, QByteArray> m_columnStates;
    QString m_shown; // the entity whose rows the model holds
    QList<Column> m_columns;
    bool m_userLayout = false; // the shown entity's column layout is the user's (or saved)
    bool m_fitting = false;
    qint64 m_matching = -1;

    QComboBox *m_entityCombo = nullptr;
    QLineEdit *m_filterEdit = nullptr;
    QToolButton *m_reloadButton = nullptr;
    QLabel *m_countLabel = nullptr;
    QTableView *m_table = nullptr;
    RecordModel *m_model = nullptr;
    QTimer m_filterTimer;
};

} // namespace BatchSync::Ui
