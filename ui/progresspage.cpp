#include "progresspage.h"

#include "uitext.h"

#include <QFontMetrics>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>
#include <algorithm>

namespace BatchSync::Ui {

namespace {

constexpr int OverallMaximum = 1000;
constexpr int ColumnPadding = 12;
constexpr int MaxNameWidth = 260;

int textWidth(const QFontMetrics &metrics, const QStringList &texts)
{
    int width = 0;
    for (const QString &text : texts)
        width = std::max(width, metrics.horizontalAdvance(text));
    return width + ColumnPadding;
}

} // namespace

ProgressPage::ProgressPage(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("progressPage"));

    auto *overallTitle = new QLabel(tr("Overall"), this);
    QFont bold = overallTitle->font();
    bold.setBold(true);
    overallTitle->setFont(bold);
    m_overallBar = new QProgressBar(this);
    m_overallBar->setObjectName(QStringLiteral("overallBar"));
    m_overallBar->setRange(0, OverallMaximum);
    m_overallBar->setValue(0);
    m_overallBar->setToolTip(tr("Records synced of all entities, weighted by their size"));
    m_overallLabel = new QLabel(this);
    m_overallLabel->setObjectName(QStringLiteral("overallLabel"));
    m_overallLabel->setTextFormat(Qt::PlainText);
    m_overallLabel->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    m_overallLabel->setFixedSize(
        fontMetrics().horizontalAdvance(
            tr("%1 of %2").arg(UiText::number(888888), UiText::records(888888)))
            + ColumnPadding,
        m_overallBar->sizeHint().height());

    auto *overall = new QHBoxLayout;
    overall->addWidget(overallTitle);
    overall->addWidget(m_overallBar, 1);
    overall->addWidget(m_overallLabel);

    m_message = new QLabel(this);
    m_message->setObjectName(QStringLiteral("endpointStatusLabel"));
    m_message->setWordWrap(true);
    m_message->setTextFormat(Qt::PlainText);
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_message->hide();

    auto *rowsWidget = new QWidget;
    rowsWidget->setObjectName(QStringLiteral("rows"));
    // The header scrolls with the rows, so that a vertical scroll bar shifts both alike.
    m_header = new QWidget(rowsWidget);
    auto *headerLayout = new QHBoxLayout(m_header);
    headerLayout->setContentsMargins(0, 0, 0, 0);
    const auto headerLabel
        = [this, headerLayout](const QString &text, Qt::Alignment alignment, int stretch = 0) {
              auto *label = new QLabel(text, m_header);
              label->setAlignment(alignment);
              QPalette palette = label->palette();
              palette.setColor(QPalette::WindowText,
                               palette.color(QPalette::Disabled, QPalette::WindowText));
              label->setPalette(palette);
              headerLayout->addWidget(label, stretch);
              return label;
          };
    const Qt::Alignment left = Qt::AlignLeft | Qt::AlignVCenter;
    const Qt::Alignment right = Qt::AlignRight | Qt::AlignVCenter;
    m_headerLabels << headerLabel(tr("Entity"), left);
    headerLabel(tr("Progress"), left, 1);
    m_headerLabels << headerLabel(tr("Records"), right) << headerLabel(tr("Rate"), right)
                   << headerLabel(tr("ETA"), right);
    headerLayout->addSpacing(8);
    m_headerLabels << headerLabel(tr("State"), left) << headerLabel(tr("Last sync"), left)
                   << headerLabel(tr("Local changes"), left) << headerLabel(QString(), left);

    m_rowsLayout = new QVBoxLayout(rowsWidget);
    m_rowsLayout->setContentsMargins(0, 0, 0, 0);
    m_rowsLayout->setSpacing(2);
    m_rowsLayout->addWidget(m_header);
    m_empty = new QLabel(tr("No entities yet."), rowsWidget);
    m_empty->setObjectName(QStringLiteral("emptyLabel"));
    m_empty->setAlignment(Qt::AlignCenter);
    m_empty->setEnabled(false);
    m_rowsLayout->addWidget(m_empty);
    m_rowsLayout->addStretch(1);
    m_header->hide();

    m_scroll = new QScrollArea(this);
    m_scroll->setWidget(rowsWidget);
    m_scroll->setWidgetResizable(true);
    m_scroll->setFrameShape(QFrame::NoFrame);
    m_scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(overall);
    layout->addWidget(m_message);
    layout->addSpacing(4);
    layout->addWidget(m_scroll, 1);

    updateColumnWidths();
    updateOverall();
}

void ProgressPage::setEntities(const QList<EntityStatus> &entities)
{
    QStringList names;
    for (const EntityStatus &status : entities)
        names.append(status.name);
    for (auto it = m_rows.begin(); it != m_rows.end();) {
        if (names.contains(it.key())) {
            ++it;
            continue;
        }
        m_order.removeOne(it.value());
        delete it.value();
        it = m_rows.erase(it);
    }

    QList<EntityRow *> order;
    for (const EntityStatus &status : entities) {
        EntityRow *row = m_rows.value(status.name);
        if (!row) {
            row = new EntityRow(status.name, m_scroll->widget());
            connect(row, &EntityRow::startRequested, this, &ProgressPage::startRequested);
            connect(row, &EntityRow::pauseRequested, this, &ProgressPage::pauseRequested);
            connect(row, &EntityRow::resumeRequested, this, &ProgressPage::resumeRequested);
            m_rows.insert(status.name, row);
        }
        row->setStatus(status);
        row->setPendingChanges(m_pending.value(status.name));
        row->setLiveText(m_liveText);
        m_widestTotal = std::max(m_widestTotal, std::max(status.total, status.done));
        order.append(row);
    }
    // std::equal, not QList's operator==, which hands memcmp a null pointer for an empty list.
    if (!std::equal(order.cbegin(), order.cend(), m_order.cbegin(), m_order.cend())) {
        for (EntityRow *row : std::as_const(order))
            m_rowsLayout->removeWidget(row);
        // Rows go after the header, before the empty label and the stretch, in the engine's
        // order.
        for (int i = 0; i < order.size(); ++i)
            m_rowsLayout->insertWidget(i + 1, order.at(i));
        m_order = order;
    }
    m_empty->setVisible(m_order.isEmpty());
    m_header->setVisible(!m_order.isEmpty());
    updateColumnWidths();
    updateOverall();
}

void ProgressPage::setLiveText(const QString &text)
{
    m_liveText = text;
    for (EntityRow *row : std::as_const(m_order))
        row->setLiveText(text);
}

void ProgressPage::clear()
{
    m_overall = ProgressInfo();
    setEntities({});
}

void ProgressPage::setProgress(const QString &entity, qint64 done, qint64 total,
                               double recordsPerSecond, qint64 etaSeconds)
{
    EntityRow *row = m_rows.value(entity);
    if (!row)
        return;
    if (total > m_widestTotal) {
        const qint64 before = m_widestTotal;
        m_widestTotal = total;
        // Only a longer number needs wider columns; that happens a handful of times at most.
        if (QString::number(total).size() > QString::number(before).size())
            updateColumnWidths();
    }
    row->setProgress(done, total, recordsPerSecond, etaSeconds);
    updateOverall();
}

void ProgressPage::setState(const QString &entity, SyncState state, const QString &reason)
{
    if (EntityRow *row = m_rows.value(entity)) {
        row->setState(state, reason);
        updateOverall();
    }
}

void ProgressPage::setPhase(const QString &entity, SyncPhase phase)
{
    if (EntityRow *row = m_rows.value(entity))
        row->setPhase(phase);
}

void ProgressPage::setLastCompleted(const QString &entity, const QDateTime &utc)
{
    if (EntityRow *row = m_rows.value(entity))
        row->setLastCompleted(utc);
}

void ProgressPage::setPendingChanges(const QHash<QString, qint64> &counts)
{
    m_pending = counts;
    for (EntityRow *row : std::as_const(m_order))
        row->setPendingChanges(counts.value(row->entity()));
}

void ProgressPage::setMessage(const QString &text, bool isError)
{
    QPalette palette = this->palette();
    if (isError)
        palette.setColor(QPalette::WindowText, QColor(0xc0, 0x1c, 0x28));
    m_message->setPalette(palette);
    m_message->setText(text);
    m_message->setVisible(!text.isEmpty());
}

int ProgressPage::fittingHeight()
{
    // QScrollArea caches its widget's size hint: ask the rows themselves, and measure what
    // the rest of the page takes as it is laid out now.
    layout()->activate();
    const int rows = m_scroll->widget()->sizeHint().height() + 2 * m_scroll->frameWidth();
    return height() - m_scroll->height() + rows;
}

QString ProgressPage::message() const
{
    return m_message->text();
}

QStringList ProgressPage::entityNames() const
{
    QStringList names;
    for (const EntityRow *row : m_order)
        names.append(row->entity());
    return names;
}

void ProgressPage::setOverallProgress(const ProgressInfo &progress)
{
    m_overall = progress;
    updateOverall();
}

void ProgressPage::updateOverall()
{
    const qint64 done = overallDone();
    const qint64 total = overallTotal();
    bool allCompleted = !m_order.isEmpty();
    for (const EntityRow *row : std::as_const(m_order))
        allCompleted = allCompleted && row->state() == SyncState::Completed;
    int value = 0;
    if (allCompleted)
        value = OverallMaximum;
    else if (total > 0)
        value = int(std::clamp<qint64>(done * OverallMaximum / total, 0, OverallMaximum));
    m_overallBar->setValue(value);
    QString text = tr("%1 of %2").arg(UiText::number(done), UiText::records(total));
    if (m_overall.rate > 0.0 && !allCompleted && done < total) {
        text += QStringLiteral(" · ") + UiText::rate(m_overall.rate);
        if (m_overall.etaSeconds >= 0)
            text += QStringLiteral(" · ") + tr("%1 left").arg(UiText::eta(m_overall.etaSeconds));
    }
    // A fixed size (see EntityRow), widened only when a longer number needs it.
    const int width = fontMetrics().horizontalAdvance(text) + ColumnPadding;
    if (width > m_overallLabel->minimumWidth())
        m_overallLabel->setFixedSize(width, m_overallBar->sizeHint().height());
    m_overallLabel->setText(text);
}

QString ProgressPage::countSample() const
{
    // As wide as the widest total seen, and never narrower than "888,888 / 888,888".
    qint64 sample = 888888;
    while (sample < m_widestTotal)
        sample = sample * 10 + 8;
    return UiText::doneOfTotal(sample, sample);
}

void ProgressPage::updateColumnWidths()
{
    const QFontMetrics metrics(font());
    QFont bold = font();
    bold.setBold(true);
    const QFontMetrics boldMetrics(bold);

    QStringList names { m_headerLabels.at(0)->text() };
    for (const EntityRow *row : std::as_const(m_order))
        names.append(row->entity());
    ColumnWidths widths;
    widths.name = std::min(MaxNameWidth, textWidth(boldMetrics, names));
    widths.count = textWidth(metrics, { countSample(), m_headerLabels.at(1)->text() });
    widths.rate = textWidth(metrics, { UiText::rate(888888), m_headerLabels.at(2)->text() });
    widths.eta = textWidth(metrics,
                           { UiText::eta(88 * 3600 + 59 * 60 + 59), m_headerLabels.at(3)->text() });
    QStringList states { m_headerLabels.at(4)->text() };
    for (SyncState state :
         { SyncState::Idle, SyncState::Queued, SyncState::Counting, SyncState::Running,
           SyncState::Paused, SyncState::Completed, SyncState::Failed }) {
        states.append(UiText::state(state));
    }
    widths.state = textWidth(metrics, states);
    widths.lastSync
        = textWidth(metrics,
                    { UiText::localTime(QDateTime(QDate(2028, 12, 28), QTime(22, 58, 58), Qt::UTC)),
                      m_headerLabels.at(5)->text(), tr("never") });
    widths.pending
        = textWidth(metrics, { EntityRow::pendingText(888888), m_headerLabels.at(6)->text() });
    QPushButton probe;
    probe.setFont(font());
    for (SyncState state : { SyncState::Idle, SyncState::Running, SyncState::Paused }) {
        probe.setText(EntityRow::buttonText(state));
        widths.button = std::max(widths.button, probe.sizeHint().width());
    }

    m_widths = widths;
    const int columns[] = { widths.name,  widths.count,    widths.rate,    widths.eta,
                            widths.state, widths.lastSync, widths.pending, widths.button };
    for (int i = 0; i < m_headerLabels.size(); ++i)
        m_headerLabels.at(i)->setFixedWidth(columns[i]);
    for (EntityRow *row : std::as_const(m_order))
        row->setColumnWidths(widths);
}

} // namespace BatchSync::Ui
