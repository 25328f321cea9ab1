#include "conflictsview.h"

#include "conflictsmodel.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>

namespace BatchSync::Ui {

namespace {

enum ValueColumn { FieldColumn, LocalColumn, ServerColumn, ValueColumnCount };

QString valueText(const QVariant &value, FieldType type)
{
    if (value.isNull())
        return ConflictsView::tr("null");
    if (type == FieldType::Bool || value.typeId() == QMetaType::Bool)
        return value.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    if (value.typeId() == QMetaType::Double)
        return QString::number(value.toDouble(), 'g', QLocale::FloatingPointShortest);
    return value.toString();
}

bool isNumber(const QVariant &value)
{
    return value.typeId() == QMetaType::LongLong || value.typeId() == QMetaType::Double;
}

bool sameValue(const QVariant &a, const QVariant &b)
{
    if (a.isNull() || b.isNull())
        return a.isNull() && b.isNull();
    if (a.typeId() == QMetaType::LongLong && b.typeId() == QMetaType::LongLong)
        return a.toLongLong() == b.toLongLong();
    if (isNumber(a) && isNumber(b))
        return a.toDouble() == b.toDouble(); // 1 and 1.0 are the same number
    if (a.typeId() == QMetaType::Bool || b.typeId() == QMetaType::Bool)
        return a.toBool() == b.toBool();
    return a.toString() == b.toString();
}

QTableWidgetItem *item(const QString &text, bool differs, bool inWords)
{
    auto *cell = new QTableWidgetItem(text);
    cell->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable);
    cell->setData(ConflictsView::DiffersRole, differs);
    QFont font = cell->font();
    font.setBold(differs);
    font.setItalic(inWords); // "deleted", "none", "null": words, not values
    cell->setFont(font);
    if (differs)
        cell->setBackground(QColor(255, 220, 120, 110));
    return cell;
}

} // namespace

ConflictsView::ConflictsView(QWidget *parent)
    : QWidget(parent)
    , m_model(new ConflictsModel(this))
{
    m_list = new QTableView(this);
    m_list->setObjectName(QStringLiteral("conflictList"));
    m_list->setModel(m_model);
    m_list->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_list->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_list->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_list->verticalHeader()->hide();
    m_list->horizontalHeader()->setStretchLastSection(true);
    m_list->setWordWrap(false);

    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("conflictSummary"));
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);

    m_values = new QTableWidget(0, ValueColumnCount, this);
    m_values->setObjectName(QStringLiteral("conflictValues"));
    m_values->setHorizontalHeaderLabels({ tr("Field"), tr("Yours"), tr("The server's") });
    m_values->verticalHeader()->hide();
    m_values->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_values->setEditTriggers(QAbstractItemView::NoEditTriggers);

    auto *details = new QWidget(this);
    auto *detailsLayout = new QVBoxLayout(details);
    detailsLayout->setContentsMargins(0, 0, 0, 0);
    detailsLayout->addWidget(m_summary);
    detailsLayout->addWidget(m_values, 1);

    auto *splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(m_list);
    splitter->addWidget(details);
    splitter->setChildrenCollapsible(false);

    m_keepServer = new QPushButton(tr("&Keep the server's"), this);
    m_keepServer->setObjectName(QStringLiteral("keepServerButton"));
    m_keepServer->setToolTip(tr("The record stays as the server has it; the conflict is closed"));
    m_sendMine = new QPushButton(tr("Send &mine again"), this);
    m_sendMine->setObjectName(QStringLiteral("sendMineButton"));
    m_sendMine->setToolTip(tr("Your record is written back; the next sync sends it"));
    m_discard = new QPushButton(tr("&Discard"), this);
    m_discard->setObjectName(QStringLiteral("discardButton"));
    m_discard->setToolTip(tr("Closes the conflict; no record changes"));
    connect(m_keepServer, &QPushButton::clicked, this, &ConflictsView::keepServers);
    connect(m_sendMine, &QPushButton::clicked, this, &ConflictsView::sendMineAgain);
    connect(m_discard, &QPushButton::clicked, this, &ConflictsView::discard);

    m_message = new QLabel(this);
    m_message->setObjectName(QStringLiteral("conflictMessage"));
    m_message->setWordWrap(true);
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto *buttons = new QHBoxLayout;
    buttons->addWidget(m_keepServer);
    buttons->addWidget(m_sendMine);
    buttons->addWidget(m_discard);
    buttons->addWidget(m_message, 1);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(splitter, 1);
    layout->addLayout(buttons);

    connect(m_model, &ConflictsModel::countChanged, this, &ConflictsView::countChanged);
    connect(m_model, &ConflictsModel::loaded, this, &ConflictsView::onLoaded);
    connect(m_model, &ConflictsModel::actionFinished, this, &ConflictsView::onActionFinished);
    connect(m_model, &ConflictsModel::busyChanged, this, &ConflictsView::updateButtons);
    connect(m_model, &QAbstractItemModel::modelAboutToBeReset, this,
            [this] { m_selectionBeforeReset = selectedSeqs(); });
    connect(m_list->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
        showSelected();
        updateButtons();
    });
    showSelected();
    updateButtons();
}

ConflictsView::~ConflictsView() = default;

void ConflictsView::setDatabasePath(const QString &path)
{
    showMessage(QString(), false);
    m_model->setDatabasePath(path);
}

int ConflictsView::count() const
{
    return m_model->count();
}

void ConflictsView::reload()
{
    m_model->reload();
}

QList<qint64> ConflictsView::selectedSeqs() const
{
    QList<qint64> seqs;
    for (const QModelIndex &index : m_list->selectionModel()->selectedRows())
        seqs.append(m_model->conflict(index.row()).seq);
    std::sort(seqs.begin(), seqs.end());
    return seqs;
}

void ConflictsView::keepServers()
{
    act(ConflictsWorker::Action::KeepServer);
}

void ConflictsView::sendMineAgain()
{
    act(ConflictsWorker::Action::SendMine);
}

void ConflictsView::discard()
{
    act(ConflictsWorker::Action::Discard);
}

void ConflictsView::act(ConflictsWorker::Action action)
{
    const QList<qint64> seqs = selectedSeqs();
    if (seqs.isEmpty())
        return;
    if (m_model->resolve(action, seqs))
        showMessage(tr("Working…"), false);
}

void ConflictsView::onLoaded(const QString &error)
{
    // The same conflicts stay selected across a reload, as far as they are still open.
    QItemSelection selection;
    for (const qint64 seq : std::as_const(m_selectionBeforeReset)) {
        if (const int row = m_model->rowOf(seq); row >= 0)
            selection.select(m_model->index(row, 0),
                             m_model->index(row, ConflictsModel::ColumnCount - 1));
    }
    m_selectionBeforeReset.clear();
    if (!selection.isEmpty())
        m_list->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect);
    // Measuring every row costs time in a long list: a short one is fitted to its contents.
    if (m_model->rowCount() <= 500) {
        for (int column = 0; column < ConflictsModel::OutcomeColumn; ++column)
            m_list->resizeColumnToContents(column);
    }
    if (!error.isEmpty())
        showMessage(error, true);
    showSelected();
    updateButtons();
}

void ConflictsView::onActionFinished(ConflictsWorker::Action action, int closed,
                                     const QString &error)
{
    if (!error.isEmpty()) {
        showMessage(error, true);
        return;
    }
    QString text = closed == 1 ? tr("1 conflict closed") : tr("%1 conflicts closed").arg(closed);
    if (action == ConflictsWorker::Action::SendMine)
        text += tr("; the next sync sends your records");
    showMessage(text, false);
}

void ConflictsView::showSelected()
{
    const QModelIndexList rows = m_list->selectionModel()->selectedRows();
    m_values->setRowCount(0);
    if (rows.size() != 1) {
        m_summary->setText(rows.isEmpty() ? tr("Select a conflict to see both records.")
                                          : tr("%1 conflicts selected.").arg(rows.size()));
        return;
    }
    const Conflict &c = m_model->conflict(rows.first().row());
    QString yours;
    if (!c.hasLocal)
        yours = tr("you deleted it (at version %1)").arg(c.base);
    else if (c.base.isEmpty())
        yours = tr("you created it");
    else
        yours = tr("you edited version %1").arg(c.base);
    QString server;
    if (c.isRejected())
        server = tr("the server refused the change");
    else if (!c.hasServer)
        server = tr("the server has no such record");
    else if (c.serverVersion.isEmpty())
        server = tr("the server has another record");
    else
        server = tr("the server has version %1").arg(c.serverVersion);
    m_summary->setText(
        tr("%1 %2: %3; %4. %5").arg(c.entity, c.id, yours, server, ConflictsModel::outcome(c)));

    // The whole record in words where a side has none.
    const QString noLocal = tr("deleted");
    const QString noServer = c.isRejected() ? tr("not given") : tr("none");
    m_values->setRowCount(int(c.fields.size()));
    for (qsizetype row = 0; row < c.fields.size(); ++row) {
        const ConflictField &f = c.fields.at(row);
        const bool differs = !c.hasLocal || !c.hasServer || f.inLocal != f.inServer
            || !sameValue(f.local, f.server);
        const int r = int(row);
        m_values->setItem(r, FieldColumn, item(f.name, differs, false));
        m_values->setItem(r, LocalColumn,
                          c.hasLocal ? item(valueText(f.local, f.type), differs, f.local.isNull())
                                     : item(noLocal, differs, true));
        m_values->setItem(r, ServerColumn,
                          c.hasServer
                              ? item(valueText(f.server, f.type), differs, f.server.isNull())
                              : item(noServer, differs, true));
    }
}

void ConflictsView::updateButtons()
{
    const bool enabled = !m_model->isBusy() && m_list->selectionModel()->hasSelection();
    m_keepServer->setEnabled(enabled);
    m_sendMine->setEnabled(enabled);
    m_discard->setEnabled(enabled);
}

void ConflictsView::showMessage(const QString &text, bool error)
{
    m_message->setText(text);
    m_message->setStyleSheet(error ? QStringLiteral("color: #c62828;") : QString());
    m_message->setProperty("error", error);
}

} // namespace BatchSync::Ui
