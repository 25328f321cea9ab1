#include "dataview.h"

#include "common/identifier.h"
#include "uitext.h"

#include <QAtomicInt>
#include <QComboBox>
#include <QFileInfo>
#include <QFontMetrics>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QScopedValueRollback>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStyle>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

namespace BatchSync::Ui {

namespace {

QString nextConnectionName()
{
    static QAtomicInt counter;
    return QStringLiteral("batchsync-ui-data-%1").arg(counter.fetchAndAddRelaxed(1));
}

// LIKE's own wildcards in the user's text match themselves.
QString likePattern(const QString &text)
{
    QString escaped = text;
    escaped.replace(QLatin1Char('\\'), QStringLiteral("\\\\"));
    escaped.replace(QLatin1Char('%'), QStringLiteral("\\%"));
    escaped.replace(QLatin1Char('_'), QStringLiteral("\\_"));
    return QLatin1Char('%') + escaped + QLatin1Char('%');
}

constexpr int MaxInitialColumnWidth = 320;
constexpr int CellPadding = 16;

bool isTextType(FieldType type)
{
    return type == FieldType::String || type == FieldType::DateTime;
}

} // namespace

RecordModel::RecordModel(QObject *parent)
    : QSqlQueryModel(parent)
{
}

QVariant RecordModel::data(const QModelIndex &index, int role) const
{
    const FieldType type
        = index.column() < m_types.size() ? m_types.at(index.column()) : FieldType::String;
    if (role == Qt::TextAlignmentRole && (type == FieldType::Int || type == FieldType::Real))
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::DisplayRole && type == FieldType::Bool) {
        const QVariant value = QSqlQueryModel::data(index, role);
        if (value.isNull())
            return value;
        return value.toLongLong() != 0 ? tr("true") : tr("false");
    }
    return QSqlQueryModel::data(index, role);
}

DataView::DataView(QWidget *parent)
    : QWidget(parent)
    , m_connectionName(nextConnectionName())
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
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
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

    auto *bar = new QHBoxLayout;
    bar->addWidget(entityLabel);
    bar->addWidget(m_entityCombo);
    bar->addSpacing(12);
    bar->addWidget(filterLabel);
    bar->addWidget(m_filterEdit, 1);
    bar->addWidget(m_reloadButton);
    bar->addSpacing(12);
    bar->addWidget(m_countLabel);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(bar);
    layout->addWidget(m_table, 1);

    m_filterTimer.setSingleShot(true);
    m_filterTimer.setInterval(FilterDelayMs);
    connect(&m_filterTimer, &QTimer::timeout, this, &DataView::runQuery);
    connect(m_filterEdit, &QLineEdit::textChanged, this, [this] { m_filterTimer.start(); });
    connect(m_filterEdit, &QLineEdit::returnPressed, this, &DataView::runQuery);
    connect(m_entityCombo, &QComboBox::currentTextChanged, this, &DataView::showEntity);
    connect(m_reloadButton, &QToolButton::clicked, this, &DataView::reload);
    connect(header, &QHeaderView::sortIndicatorChanged, this, &DataView::runQuery);
    // Once the user sizes or moves a column, the layout is theirs: kept and remembered.
    connect(header, &QHeaderView::sectionResized, this, [this] {
        if (!m_fitting)
            m_userLayout = true;
    });
    connect(header, &QHeaderView::sectionMoved, this, [this] { m_userLayout = true; });

    setStatus(tr("No local data yet"));
}

DataView::~DataView()
{
    closeDatabase();
}

void DataView::setDatabasePath(const QString &path)
{
    if (path == m_path)
        return;
    saveColumnState();
    closeDatabase();
    m_path = path;
    m_shown.clear();
    {
        const QSignalBlocker blocker(m_entityCombo);
        m_entityCombo->clear();
    }
    reload();
}

void DataView::setSchemas(const QList<EntitySchema> &schemas)
{
    m_schemas.clear();
    for (const EntitySchema &schema : schemas)
        m_schemas.insert(schema.name, schema);
}

bool DataView::ensureOpen()
{
    if (m_open)
        return true;
    // Opening never creates the file: until the engine made it there is nothing to show.
    if (m_path.isEmpty() || !QFileInfo::exists(m_path))
        return false;
    QSqlDatabase db = QSqlDatabase::contains(m_connectionName)
        ? QSqlDatabase::database(m_connectionName, false)
        : QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_connectionName);
    db.setDatabaseName(m_path);
    // Read-only, and never waiting long for the engine's writer: WAL readers do not block.
    db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY;QSQLITE_BUSY_TIMEOUT=200"));
    if (!db.open()) {
        setStatus(tr("Cannot open %1: %2").arg(m_path, db.lastError().text()));
        return false;
    }
    m_open = true;
    return true;
}

void DataView::closeDatabase()
{
    m_filterTimer.stop();
    // The model's query must be gone before the connection can be removed, and must not
    // point to the removed driver afterwards (QSqlQuery::clear() would use it): a null one.
    m_model->clear();
    m_model->setQuery(QSqlQuery());
    m_open = false;
    if (QSqlDatabase::contains(m_connectionName)) {
        QSqlDatabase::database(m_connectionName, false).close();
        QSqlDatabase::removeDatabase(m_connectionName);
    }
}

void DataView::reload()
{
    listEntities();
    runQuery();
}

void DataView::refreshEntityList()
{
    listEntities();
    if (m_shown.isEmpty() && !currentEntity().isEmpty())
        showEntity(currentEntity());
}

void DataView::entityUpdated(const QString &entity)
{
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
    if (m_entityCombo->findText(entity) < 0)
        listEntities();
    const int index = m_entityCombo->findText(entity);
    if (index >= 0)
        m_entityCombo->setCurrentIndex(index);
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
    if (m_userLayout && !m_shown.isEmpty() && m_model->columnCount() > 0)
        states.insert(m_shown, m_table->horizontalHeader()->saveState());
    return states;
}

void DataView::saveColumnState()
{
    if (m_userLayout && !m_shown.isEmpty() && m_model->columnCount() > 0)
        m_columnStates.insert(m_shown, m_table->horizontalHeader()->saveState());
}

void DataView::listEntities()
{
    if (!ensureOpen())
        return;
    QStringList names;
    {
        QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
        query.setForwardOnly(true);
        // Every table of the local database contract is an entity, except the bookkeeping.
        if (query.exec(QStringLiteral("SELECT name FROM sqlite_master WHERE type = 'table' "
                                      "ORDER BY name"))) {
            while (query.next()) {
                const QString name = query.value(0).toString();
                if (Identifier::check(name, u"entity").isEmpty())
                    names.append(name);
            }
        } else {
            setStatus(tr("Cannot read %1: %2").arg(m_path, query.lastError().text()));
        }
    }
    if (names == entityNames())
        return;
    const QString current = currentEntity();
    {
        const QSignalBlocker blocker(m_entityCombo);
        m_entityCombo->clear();
        m_entityCombo->addItems(names);
        const int index = m_entityCombo->findText(current);
        m_entityCombo->setCurrentIndex(index >= 0 ? index : (names.isEmpty() ? -1 : 0));
    }
    if (currentEntity() != current)
        showEntity(currentEntity());
}

QList<DataView::Column> DataView::columnsOf(const QString &entity) const
{
    QList<Column> columns;
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    query.setForwardOnly(true);
    query.prepare(QStringLiteral("SELECT name, type FROM pragma_table_info(?) ORDER BY cid"));
    query.addBindValue(entity);
    if (!query.exec())
        return columns;
    const EntitySchema schema = m_schemas.value(entity);
    columns.append({ QStringLiteral("id"), FieldType::String });
    while (query.next()) {
        const QString name = query.value(0).toString();
        // Bookkeeping columns start with '_'; "id" is first already.
        if (!Identifier::check(name, u"field").isEmpty())
            continue;
        Column column { name, FieldType::String };
        if (const int i = schema.fieldIndex(name); i >= 0) {
            column.type = schema.fields.at(i).type;
        } else {
            const QString declared = query.value(1).toString().toUpper();
            if (declared.contains(QLatin1String("INT")))
                column.type = FieldType::Int;
            else if (declared.contains(QLatin1String("REAL")))
                column.type = FieldType::Real;
        }
        columns.append(column);
    }
    return columns;
}

void DataView::showEntity(const QString &entity)
{
    saveColumnState();
    m_shown.clear();
    m_columns.clear();
    m_model->clear();
    if (entity.isEmpty() || !ensureOpen()) {
        m_matching = -1;
        setStatus(m_path.isEmpty() || !QFileInfo::exists(m_path) ? tr("No local data yet")
                                                                 : tr("No entity"));
        return;
    }
    m_columns = columnsOf(entity);
    m_shown = entity;
    m_userLayout = m_columnStates.contains(entity);
    QHeaderView *header = m_table->horizontalHeader();
    {
        // The entity's own layout, sort order included, is restored by runQuery().
        const QSignalBlocker blocker(header);
        header->setSortIndicator(-1, Qt::AscendingOrder);
    }
    runQuery();
}

void DataView::runQuery()
{
    m_filterTimer.stop();
    const QString entity = currentEntity();
    if (entity != m_shown) {
        showEntity(entity);
        return;
    }
    if (entity.isEmpty() || !ensureOpen() || m_columns.isEmpty())
        return;
    if (!Identifier::check(entity, u"entity").isEmpty())
        return;

    QStringList select;
    QStringList conditions;
    QList<FieldType> types;
    for (const Column &column : std::as_const(m_columns)) {
        select.append(Identifier::quoted(column.name));
        types.append(column.type);
        if (isTextType(column.type))
            conditions.append(Identifier::quoted(column.name)
                              + QStringLiteral(" LIKE ? ESCAPE '\\'"));
    }
    // The header's layout survives the model's reset; a newly shown entity gets its saved one.
    QHeaderView *header = m_table->horizontalHeader();
    const QByteArray headerState
        = m_model->columnCount() > 0 ? header->saveState() : m_columnStates.value(entity);
    const int sortSection = header->sortIndicatorSection();
    const Qt::SortOrder sortOrder = header->sortIndicatorOrder();
    // An unfinished query keeps its read transaction, and with it an old snapshot of the
    // database: let it go so that the counts and rows below see the latest commits.
    m_model->clear();

    const QString table = Identifier::quoted(entity);
    const QString filter = m_filterEdit->text().trimmed();
    const QString where = filter.isEmpty() || conditions.isEmpty()
        ? QString()
        : QStringLiteral(" WHERE ") + conditions.join(QStringLiteral(" OR "));
    const QString pattern = likePattern(filter);
    const auto bindFilter = [&](QSqlQuery &query) {
        if (where.isEmpty())
            return;
        for (int i = 0; i < conditions.size(); ++i)
            query.addBindValue(pattern);
    };

    QString order;
    if (sortSection >= 0 && sortSection < m_columns.size()) {
        order = QStringLiteral(" ORDER BY %1 %2")
                    .arg(Identifier::quoted(m_columns.at(sortSection).name),
                         sortOrder == Qt::DescendingOrder ? QStringLiteral("DESC")
                                                          : QStringLiteral("ASC"));
    }

    const QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    // The count is one aggregate over the table: cheap next to fetching the rows.
    qint64 total = -1;
    qint64 matching = -1;
    {
        QSqlQuery count(db);
        count.setForwardOnly(true);
        if (count.exec(QStringLiteral("SELECT count(*) FROM %1").arg(table)) && count.next())
            total = count.value(0).toLongLong();
        if (where.isEmpty()) {
            matching = total;
        } else {
            count.prepare(QStringLiteral("SELECT count(*) FROM %1%2").arg(table, where));
            bindFilter(count);
            if (count.exec() && count.next())
                matching = count.value(0).toLongLong();
        }
    }

    // QSqlQueryModel fetches from it lazily, a chunk at a time, as the view scrolls.
    QSqlQuery rows(db);
    rows.prepare(QStringLiteral("SELECT %1 FROM %2%3%4")
                     .arg(select.join(QStringLiteral(", ")), table, where, order));
    bindFilter(rows);
    if (!rows.exec()) {
        m_model->clear();
        m_matching = -1;
        setStatus(tr("Cannot read %1: %2").arg(entity, rows.lastError().text()));
        return;
    }
    m_model->setColumnTypes(types);
    m_model->setQuery(std::move(rows));
    m_matching = matching;
    if (where.isEmpty())
        setStatus(UiText::records(total));
    else
        setStatus(tr("%1 of %2 match").arg(UiText::number(matching), UiText::records(total)));

    if (!headerState.isEmpty()) {
        const QSignalBlocker blocker(header);
        header->restoreState(headerState);
    }
    if (!m_userLayout)
        fitColumns();
    // A saved layout may sort differently from what was just read: read it that way.
    if (header->sortIndicatorSection() != sortSection
        || (sortSection >= 0 && header->sortIndicatorOrder() != sortOrder)) {
        runQuery();
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

} // namespace BatchSync::Ui
