#include "dataview.h"

#include "recorddelegate.h"
#include "uitext.h"

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QFileInfo>
#include <QFontMetrics>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QScopedValueRollback>
#include <QStyle>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <utility>

namespace BatchSync::Ui {

namespace {

constexpr int MaxInitialColumnWidth = 320;
constexpr int CellPadding = 16;

} // namespace

DataView::DataView(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("dataPanel"));

    m_entityCombo = new QComboBox(this);
    m_entityCombo->setObjectName(QStringLiteral("entityCombo"));
    m_entityCombo->setMinimumContentsLength(16);
    m_entityCombo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_entityCombo->setToolTip(tr("The entity to show"));
    auto *entityLabel = new QLabel(tr("&Entity:"), this);
    entityLabel->setBuddy(m_entityCombo);

    m_filterEdit = new QLineEdit(this);
    m_filterEdit->setObjectName(QStringLiteral("filterEdit"));
    m_filterEdit->setPlaceholderText(tr("Filter the text columns…"));
    m_filterEdit->setClearButtonEnabled(true);
    m_filterEdit->setToolTip(tr("Shows the records whose text columns contain this text"));
    auto *filterLabel = new QLabel(tr("&Filter:"), this);
    filterLabel->setBuddy(m_filterEdit);

    m_reloadButton = new QToolButton(this);
    m_reloadButton->setObjectName(QStringLiteral("reloadDataButton"));
    m_reloadButton->setIcon(style()->standardIcon(QStyle::SP_BrowserReload));
    m_reloadButton->setText(tr("Reload"));
    m_reloadButton->setToolTip(tr("Read the local database again"));
    m_reloadButton->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);

    m_countLabel = new QLabel(this);
    m_countLabel->setObjectName(QStringLiteral("rowCountLabel"));
    m_countLabel->setTextFormat(Qt::PlainText);
    m_countLabel->setAlignment(Qt::AlignRight | Qt::AlignVCenter);

    m_model = new RecordModel(this);
    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("dataView"));
    m_table->setModel(m_model);
    m_table->setItemDelegate(new RecordDelegate(m_table));
    m_table->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_table->verticalHeader()->hide();
    QHeaderView *header = m_table->horizontalHeader();
    header->setSectionsClickable(true);
    header->setSectionsMovable(true);
    header->setSortIndicatorShown(true);
    header->setSortIndicatorClearable(true);
    header->setSortIndicator(-1, Qt::AscendingOrder);
    header->setDefaultSectionSize(140);
    header->setStretchLastSection(true);

    m_addAction = new QAction(style()->standardIcon(QStyle::SP_FileDialogNewFolder),
                              tr("Add record…"), this);
    m_addAction->setObjectName(QStringLiteral("addRecordAction"));
    m_addAction->setToolTip(tr("Add a record to this entity; it is sent with the next sync"));
    m_deleteAction
        = new QAction(style()->standardIcon(QStyle::SP_TrashIcon), tr("Delete records…"), this);
    m_deleteAction->setObjectName(QStringLiteral("deleteRecordsAction"));
    // The Delete key itself is read by eventFilter(): a shortcut would take it from editors.
    m_deleteAction->setText(
        m_deleteAction->text() + QStringLiteral("\t")
        + QKeySequence(QKeySequence::Delete).toString(QKeySequence::NativeText));
    m_deleteAction->setToolTip(tr("Delete the selected records; sent with the next sync"));
    m_setNullAction = new QAction(tr("Set to null"), this);
    m_setNullAction->setObjectName(QStringLiteral("setNullAction"));
    m_table->addActions({ m_setNullAction, m_addAction, m_deleteAction });
    m_table->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_table->installEventFilter(this);

    m_addButton = new QToolButton(this);
    m_addButton->setObjectName(QStringLiteral("addRecordButton"));
    m_addButton->setText(tr("Add record"));
    m_addButton->setIcon(m_addAction->icon());
    m_addButton->setToolTip(m_addAction->toolTip());
    m_addButton->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_deleteButton = new QToolButton(this);
    m_deleteButton->setObjectName(QStringLiteral("deleteRecordsButton"));
    m_deleteButton->setText(tr("Delete"));
    m_deleteButton->setIcon(m_deleteAction->icon());
    m_deleteButton->setToolTip(m_deleteAction->toolTip());
    m_deleteButton->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);

    m_editLabel = new QLabel(this);
    m_editLabel->setObjectName(QStringLiteral("editMessageLabel"));
    m_editLabel->setTextFormat(Qt::PlainText);
    m_editLabel->setWordWrap(true);
    m_editLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QPalette errorPalette = m_editLabel->palette();
    errorPalette.setColor(QPalette::WindowText, QColor(0xc0, 0x1c, 0x28));
    m_editLabel->setPalette(errorPalette);
    m_editLabel->hide();

    auto *bar = new QHBoxLayout;
    bar->addWidget(entityLabel);
    bar->addWidget(m_entityCombo);
    bar->addSpacing(12);
    bar->addWidget(filterLabel);
    bar->addWidget(m_filterEdit, 1);
    bar->addWidget(m_reloadButton);
    bar->addWidget(m_addButton);
    bar->addWidget(m_deleteButton);
    bar->addSpacing(12);
    bar->addWidget(m_countLabel);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(bar);
    layout->addWidget(m_editLabel);
    layout->addWidget(m_table, 1);

    m_filterTimer.setSingleShot(true);
    m_filterTimer.setInterval(FilterDelayMs);
    connect(&m_filterTimer, &QTimer::timeout, this, &DataView::runQuery);
    connect(m_filterEdit, &QLineEdit::textChanged, this, [this] { m_filterTimer.start(); });
    connect(m_filterEdit, &QLineEdit::returnPressed, this, &DataView::runQuery);
    connect(m_entityCombo, &QComboBox::currentTextChanged, this, &DataView::runQuery);
    connect(m_reloadButton, &QToolButton::clicked, this, &DataView::reload);
    connect(header, &QHeaderView::sortIndicatorChanged, this, &DataView::runQuery);
    // Once the user sizes or moves a column, the layout is theirs: kept and remembered.
    connect(header, &QHeaderView::sectionResized, this, [this] {
        if (!m_fitting)
            m_userLayout = true;
    });
    connect(header, &QHeaderView::sectionMoved, this, [this] { m_userLayout = true; });

    connect(m_model, &RecordModel::entitiesListed, this, &DataView::onEntitiesListed);
    connect(m_model, &QAbstractItemModel::modelAboutToBeReset, this, &DataView::saveColumnState);
    connect(m_model, &RecordModel::columnsChanged, this, &DataView::onColumnsChanged);
    connect(m_model, &RecordModel::rowsFetched, this, &DataView::onRowsFetched);
    connect(m_model, &RecordModel::loadingChanged, this, &DataView::updateStatus);
    connect(m_model, &RecordModel::countsChanged, this, &DataView::updateStatus);
    connect(m_model, &RecordModel::queryFailed, this, [this](const QString &message) {
        m_failure = message;
        updateStatus();
    });

    connect(m_addAction, &QAction::triggered, this, &DataView::requestAddRecord);
    connect(m_addButton, &QToolButton::clicked, this, &DataView::requestAddRecord);
    connect(m_deleteAction, &QAction::triggered, this, &DataView::requestDeleteSelected);
    connect(m_deleteButton, &QToolButton::clicked, this, &DataView::requestDeleteSelected);
    connect(m_setNullAction, &QAction::triggered, this, &DataView::setCurrentToNull);
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &DataView::updateEditActions);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &DataView::updateEditActions);
    connect(m_model, &RecordModel::writeFailed, this, &DataView::setEditMessage);
    connect(m_model, &RecordModel::written, this, [this] { setEditMessage(QString()); });
    connect(m_model, &RecordModel::recordAdded, this, [this](int row) {
        const QModelIndex index = m_model->index(row, 0);
        m_table->scrollTo(index);
        m_table->setCurrentIndex(index);
    });
    connect(m_model, &RecordModel::pendingChangesCounted, this, &DataView::pendingChangesCounted);

    setStatus(tr("No local data yet"));
    updateEditActions();
}

DataView::~DataView() = default;

bool DataView::hasDatabase() const
{
    return !m_path.isEmpty() && QFileInfo::exists(m_path);
}

void DataView::setDatabasePath(const QString &path)
{
    if (path == m_path)
        return;
    m_filterTimer.stop();
    m_path = path;
    m_shown.clear();
    m_wanted.clear();
    m_model->setDatabasePath(path);
    {
        const QSignalBlocker blocker(m_entityCombo);
        m_entityCombo->clear();
    }
    reload();
}

void DataView::setSchemas(const QList<EntitySchema> &schemas)
{
    m_model->setSchemas(schemas);
}

void DataView::reload()
{
    m_queryAfterListing = true;
    listEntities();
    countPendingChanges();
}

void DataView::refreshEntityList()
{
    listEntities();
}

void DataView::entityUpdated(const QString &entity)
{
    countPendingChanges();
    if (m_entityCombo->findText(entity) < 0)
        listEntities();
    if (entity == currentEntity())
        runQuery();
}

QString DataView::currentEntity() const
{
    return m_entityCombo->currentText();
}

void DataView::setCurrentEntity(const QString &entity)
{
    const int index = m_entityCombo->findText(entity);
    if (index >= 0) {
        m_wanted.clear();
        m_entityCombo->setCurrentIndex(index);
        return;
    }
    // Not listed yet (the engine may have just created it): shown once it is.
    m_wanted = entity;
    listEntities();
}

QStringList DataView::entityNames() const
{
    QStringList names;
    for (int i = 0; i < m_entityCombo->count(); ++i)
        names.append(m_entityCombo->itemText(i));
    return names;
}

QString DataView::filterText() const
{
    return m_filterEdit->text();
}

void DataView::setFilterText(const QString &text)
{
    m_filterEdit->setText(text);
    m_filterTimer.stop();
    runQuery();
}

QHash<QString, QByteArray> DataView::columnStates() const
{
    QHash<QString, QByteArray> states = m_columnStates;
    const QString shown = m_model->shownEntity();
    if (m_userLayout && !shown.isEmpty() && m_model->columnCount() > 0)
        states.insert(shown, m_table->horizontalHeader()->saveState());
    return states;
}

void DataView::saveColumnState()
{
    // The header still shows the columns of the model's entity, which may not be m_shown.
    const QString shown = m_model->shownEntity();
    if (m_userLayout && !shown.isEmpty() && m_model->columnCount() > 0)
        m_columnStates.insert(shown, m_table->horizontalHeader()->saveState());
}

void DataView::listEntities()
{
    if (!hasDatabase()) {
        m_queryAfterListing = false;
        updateStatus();
        return;
    }
    m_model->listEntities();
}

void DataView::onEntitiesListed(const QStringList &names, const QString &error)
{
    const bool query = std::exchange(m_queryAfterListing, false);
    if (!error.isEmpty()) {
        if (hasDatabase())
            setStatus(error);
        return;
    }
    const QString wanted
        = names.contains(m_wanted) ? std::exchange(m_wanted, QString()) : QString();
    if (names != entityNames() || !wanted.isEmpty()) {
        const QString current = wanted.isEmpty() ? currentEntity() : wanted;
        const QSignalBlocker blocker(m_entityCombo);
        if (names != entityNames()) {
            m_entityCombo->clear();
            m_entityCombo->addItems(names);
        }
        const int index = m_entityCombo->findText(current);
        m_entityCombo->setCurrentIndex(index >= 0 ? index : (names.isEmpty() ? -1 : 0));
    }
    if (query || currentEntity() != m_shown)
        runQuery();
}

void DataView::runQuery()
{
    m_filterTimer.stop();
    m_failure.clear();
    m_shown = currentEntity();
    if (m_shown.isEmpty() || !hasDatabase()) {
        m_model->clear();
        updateStatus();
        return;
    }
    RecordQuery query { m_shown, m_filterEdit->text().trimmed(), QString(), Qt::AscendingOrder };
    // The header sorts what it shows: another entity's columns say nothing about this one's.
    const QHeaderView *header = m_table->horizontalHeader();
    const int section = header->sortIndicatorSection();
    if (m_model->shownEntity() == m_shown && section >= 0 && section < m_model->columnCount()) {
        query.sortField = m_model->columns().at(section).name;
        query.order = header->sortIndicatorOrder();
    }
    m_model->setQuery(query);
    updateStatus();
}

void DataView::onColumnsChanged()
{
    updateEditActions();
    const QString entity = m_model->shownEntity();
    m_userLayout = m_columnStates.contains(entity);
    if (entity.isEmpty())
        return;
    const RecordQuery query = m_model->query();
    const RecordColumns columns = m_model->columns();
    QHeaderView *header = m_table->horizontalHeader();
    {
        const QSignalBlocker blocker(header);
        if (m_userLayout) {
            header->restoreState(m_columnStates.value(entity));
        } else {
            int section = -1;
            for (int i = 0; i < columns.size(); ++i) {
                if (columns.at(i).name == query.sortField)
                    section = i;
            }
            header->setSortIndicator(section, query.order);
        }
    }
    // A saved layout may sort differently from what was just read: read it that way.
    const int section = header->sortIndicatorSection();
    const QString sortField
        = section >= 0 && section < columns.size() ? columns.at(section).name : QString();
    if (sortField != query.sortField
        || (!sortField.isEmpty() && header->sortIndicatorOrder() != query.order)) {
        runQuery();
    }
}

void DataView::onRowsFetched(bool first)
{
    if (first && !m_userLayout)
        fitColumns();
}

void DataView::updateStatus()
{
    if (!m_failure.isEmpty()) {
        setStatus(m_failure);
    } else if (!hasDatabase()) {
        setStatus(tr("No local data yet"));
    } else if (currentEntity().isEmpty()) {
        setStatus(tr("No entity"));
    } else if (m_model->isLoading()) {
        setStatus(m_model->query().sortField.isEmpty() ? tr("Loading…") : tr("Sorting…"));
    } else if (m_model->matchingRows() < 0) {
        setStatus(tr("Counting…"));
    } else if (m_model->query().filter.isEmpty()) {
        setStatus(UiText::records(m_model->totalRows()));
    } else {
        setStatus(tr("%1 of %2 match")
                      .arg(UiText::number(m_model->matchingRows()),
                           UiText::records(m_model->totalRows())));
    }
}

void DataView::fitColumns()
{
    // No layout of the user's yet: fit the columns to the first rows, within reason. From the
    // model, not the view, which may be hidden in its tab and then measures nothing.
    QHeaderView *header = m_table->horizontalHeader();
    const QFontMetrics metrics = m_table->fontMetrics();
    const QFontMetrics headerMetrics = header->fontMetrics();
    const int rows = std::min(m_model->rowCount(), 50);
    const QScopedValueRollback fitting(m_fitting, true);
    for (int column = 0; column < m_model->columnCount(); ++column) {
        int width = headerMetrics.horizontalAdvance(
                        m_model->headerData(column, Qt::Horizontal).toString())
            + 2 * CellPadding;
        for (int row = 0; row < rows; ++row) {
            const QString text = m_model->index(row, column).data().toString();
            width = std::max(width, metrics.horizontalAdvance(text) + CellPadding);
        }
        header->resizeSection(column, std::min(width, MaxInitialColumnWidth));
    }
}

void DataView::setStatus(const QString &text)
{
    m_countLabel->setText(text);
}

bool DataView::eventFilter(QObject *watched, QEvent *event)
{
    // Only the table's own keys: one an open editor passes on is not for deleting records.
    const QWidget *focus = QApplication::focusWidget();
    const bool inEditor = focus && focus != m_table && m_table->isAncestorOf(focus);
    if (watched == m_table && event->type() == QEvent::KeyPress && !inEditor
        && static_cast<QKeyEvent *>(event)->matches(QKeySequence::Delete)) {
        requestDeleteSelected();
        return true;
    }
    return QWidget::eventFilter(watched, event);
}

void DataView::countPendingChanges()
{
    if (hasDatabase())
        m_model->countPendingChanges();
}

QString DataView::editMessage() const
{
    return m_editLabel->text();
}

void DataView::setEditMessage(const QString &text)
{
    m_editLabel->setText(text);
    m_editLabel->setVisible(!text.isEmpty());
}

QList<int> DataView::selectedRows() const
{
    QList<int> rows;
    for (const QModelIndex &index : m_table->selectionModel()->selectedRows())
        rows.append(index.row());
    std::sort(rows.begin(), rows.end());
    return rows;
}

void DataView::updateEditActions()
{
    const bool shown = !m_model->shownEntity().isEmpty();
    m_addAction->setEnabled(shown);
    m_addButton->setEnabled(shown);
    const bool selected = shown && m_table->selectionModel()->hasSelection();
    m_deleteAction->setEnabled(selected);
    m_deleteButton->setEnabled(selected);
    m_setNullAction->setEnabled(shown && m_table->currentIndex().isValid());
}

void DataView::requestAddRecord()
{
    const QString entity = m_model->shownEntity();
    if (entity.isEmpty())
        return;
    // open(), not exec(): the window goes on while the dialog waits.
    auto *dialog = new QInputDialog(this);
    dialog->setObjectName(QStringLiteral("addRecordDialog"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(tr("Add record"));
    dialog->setLabelText(tr("Id of the new %1 record:").arg(entity));
    dialog->setInputMode(QInputDialog::TextInput);
    connect(dialog, &QInputDialog::textValueSelected, this, [this, entity](const QString &id) {
        if (m_model->shownEntity() == entity)
            addRecord(id);
    });
    dialog->open();
}

void DataView::addRecord(const QString &id)
{
    m_model->addRecord(id); // refuses an empty one at once
}

void DataView::requestDeleteSelected()
{
    const QList<int> rows = selectedRows();
    const QString entity = m_model->shownEntity();
    if (rows.isEmpty() || entity.isEmpty())
        return;
    auto *box = new QMessageBox(
        QMessageBox::Question, tr("Delete records"),
        tr("Delete %1 from %2? The deletion is sent to the server with the next sync.")
            .arg(UiText::records(rows.size()), entity),
        QMessageBox::Yes | QMessageBox::Cancel, this);
    box->setObjectName(QStringLiteral("deleteConfirmation"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setDefaultButton(QMessageBox::Cancel);
    QAbstractButton *yes = box->button(QMessageBox::Yes);
    yes->setText(tr("Delete"));
    QStringList ids;
    for (int row : rows)
        ids.append(m_model->idAt(row));
    connect(yes, &QAbstractButton::clicked, this, [this, ids, entity] {
        if (m_model->shownEntity() == entity)
            m_model->deleteRecords(ids);
    });
    box->open();
}

void DataView::setCurrentToNull()
{
    const QModelIndex index = m_table->currentIndex();
    if (index.isValid())
        m_model->setData(index, QVariant());
}

} // namespace BatchSync::Ui
