#include "entityrow.h"

#include "uitext.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <algorithm>

namespace BatchSync::Ui {

namespace {

// The bars count in thousandths: exact enough for "%p%" and safe for any qint64 total.
constexpr int BarMaximum = 1000;

} // namespace

EntityRow::EntityRow(const QString &entity, QWidget *parent)
    : QWidget(parent)
    , m_entity(entity)
{
    setObjectName(QStringLiteral("row_") + entity);

    m_name = makeLabel(QStringLiteral("name_") + entity, Qt::AlignLeft | Qt::AlignVCenter, this);
    m_name->setText(entity);
    QFont bold = m_name->font();
    bold.setBold(true);
    m_name->setFont(bold);

    m_bar = new QProgressBar(this);
    m_bar->setObjectName(QStringLiteral("bar_") + entity);
    m_bar->setRange(0, BarMaximum);
    m_bar->setValue(0);
    m_bar->setMinimumWidth(120);
    m_bar->setAccessibleName(tr("Progress of %1").arg(entity));

    m_count = makeLabel(QStringLiteral("count_") + entity, Qt::AlignRight | Qt::AlignVCenter, this);
    m_rate = makeLabel(QStringLiteral("rate_") + entity, Qt::AlignRight | Qt::AlignVCenter, this);
    m_eta = makeLabel(QStringLiteral("eta_") + entity, Qt::AlignRight | Qt::AlignVCenter, this);
    m_stateLabel
        = makeLabel(QStringLiteral("state_") + entity, Qt::AlignLeft | Qt::AlignVCenter, this);
    m_lastSync
        = makeLabel(QStringLiteral("lastSync_") + entity, Qt::AlignLeft | Qt::AlignVCenter, this);
    m_lastSync->setToolTip(tr("When %1 last finished syncing").arg(entity));
    m_pendingLabel
        = makeLabel(QStringLiteral("pending_") + entity, Qt::AlignLeft | Qt::AlignVCenter, this);
    m_pendingLabel->setToolTip(
        tr("Records of %1 changed here, for the next sync to send").arg(entity));

    m_button = new QPushButton(this);
    m_button->setObjectName(QStringLiteral("button_") + entity);
    connect(m_button, &QPushButton::clicked, this, &EntityRow::onButtonClicked);

    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 2, 0, 2);
    layout->addWidget(m_name);
    layout->addWidget(m_bar, 1);
    layout->addWidget(m_count);
    layout->addWidget(m_rate);
    layout->addWidget(m_eta);
    layout->addSpacing(8);
    layout->addWidget(m_stateLabel);
    layout->addWidget(m_lastSync);
    layout->addWidget(m_pendingLabel);
    layout->addWidget(m_button);

    setProgress(0, 0, 0, -1);
    setState(SyncState::Idle);
}

QLabel *EntityRow::makeLabel(const QString &objectName, Qt::Alignment alignment, QWidget *parent)
{
    auto *label = new QLabel(parent);
    label->setObjectName(objectName);
    label->setAlignment(alignment);
    label->setTextFormat(Qt::PlainText);
    return label;
}

void EntityRow::setColumnWidths(const ColumnWidths &widths)
{
    // A fixed size (minimum == maximum) keeps QLabel::setText from invalidating the layout:
    // progress updates then only repaint the labels.
    const int height = m_button->sizeHint().height();
    m_name->setFixedSize(widths.name, height);
    m_count->setFixedSize(widths.count, height);
    m_rate->setFixedSize(widths.rate, height);
    m_eta->setFixedSize(widths.eta, height);
    m_stateLabel->setFixedSize(widths.state, height);
    m_lastSync->setFixedSize(widths.lastSync, height);
    m_pendingLabel->setFixedSize(widths.pending, height);
    m_button->setFixedSize(widths.button, height);
    m_bar->setFixedHeight(height - 4);
}

void EntityRow::setStatus(const EntityStatus &status)
{
    m_done = status.done;
    m_total = status.total;
    m_count->setText(UiText::doneOfTotal(m_done, m_total));
    m_phase = status.phase;
    setState(status.state, status.state == SyncState::Failed ? status.errorMessage : QString());
    setLastCompleted(status.lastCompletedAt);
}

void EntityRow::setProgress(qint64 done, qint64 total, double recordsPerSecond, qint64 etaSeconds)
{
    m_done = done;
    m_total = total;
    m_count->setText(UiText::doneOfTotal(done, total));
    const bool running = m_state == SyncState::Running;
    m_rate->setText(running ? UiText::rate(recordsPerSecond) : QString());
    m_eta->setText(running ? UiText::eta(etaSeconds) : QString());
    updateBar();
}

void EntityRow::setPhase(SyncPhase phase)
{
    m_phase = phase;
    m_stateLabel->setText(UiText::state(m_state, m_phase));
}

void EntityRow::setState(SyncState state, const QString &reason)
{
    m_state = state;
    const bool resting = state == SyncState::Completed || state == SyncState::Idle;
    m_stateLabel->setText(resting && !m_liveText.isEmpty() ? m_liveText
                                                           : UiText::state(state, m_phase));
    m_button->setText(buttonText(state));
    switch (state) {
    case SyncState::Idle:
    case SyncState::Completed:
    case SyncState::Failed:
        m_button->setToolTip(tr("Sync %1 now").arg(m_entity));
        break;
    case SyncState::Queued:
    case SyncState::Counting:
    case SyncState::Running:
        m_button->setToolTip(tr("Pause %1; it resumes where it stopped").arg(m_entity));
        break;
    case SyncState::Paused:
        m_button->setToolTip(tr("Resume %1 from its last saved batch").arg(m_entity));
        break;
    }

    QPalette palette = this->palette();
    if (state == SyncState::Failed)
        palette.setColor(QPalette::WindowText, QColor(0xc0, 0x1c, 0x28));
    else if (state == SyncState::Completed)
        palette.setColor(QPalette::WindowText, QColor(0x1a, 0x7f, 0x37));
    else if (state == SyncState::Paused)
        palette.setColor(QPalette::WindowText, QColor(0x9a, 0x67, 0x00));
    m_stateLabel->setPalette(palette);

    const QString tip = state == SyncState::Failed && !reason.isEmpty()
        ? tr("%1 failed: %2").arg(m_entity, reason)
        : QString();
    setToolTip(tip);
    m_stateLabel->setToolTip(tip);
    m_bar->setToolTip(tip);

    if (state != SyncState::Running) {
        m_rate->clear();
        m_eta->clear();
    }
    updateBar();
}

void EntityRow::setLastCompleted(const QDateTime &utc)
{
    m_lastSync->setText(utc.isValid() ? UiText::localTime(utc) : tr("never"));
}

void EntityRow::setLiveText(const QString &text)
{
    m_liveText = text;
    setState(m_state);
}

void EntityRow::setPendingChanges(qint64 count)
{
    m_pending = count;
    m_pendingLabel->setText(pendingText(count));
}

QString EntityRow::pendingText(qint64 count)
{
    if (count <= 0)
        return QString();
    return count == 1 ? tr("1 local change to send")
                      : tr("%1 local changes to send").arg(UiText::number(count));
}

QString EntityRow::buttonText(SyncState state)
{
    switch (state) {
    case SyncState::Queued:
    case SyncState::Counting:
    case SyncState::Running:
        return tr("Pause");
    case SyncState::Paused:
        return tr("Resume");
    case SyncState::Idle:
    case SyncState::Completed:
    case SyncState::Failed:
        break;
    }
    return tr("Start");
}

void EntityRow::onButtonClicked()
{
    switch (m_state) {
    case SyncState::Queued:
    case SyncState::Counting:
    case SyncState::Running:
        Q_EMIT pauseRequested(m_entity);
        break;
    case SyncState::Paused:
        Q_EMIT resumeRequested(m_entity);
        break;
    case SyncState::Idle:
    case SyncState::Completed:
    case SyncState::Failed:
        Q_EMIT startRequested(m_entity);
        break;
    }
}

void EntityRow::updateBar()
{
    int value = 0;
    if (m_state == SyncState::Completed && m_done >= m_total)
        value = BarMaximum;
    else if (m_total > 0)
        value = int(std::clamp<qint64>(m_done * BarMaximum / m_total, 0, BarMaximum));
    // Completed is 100 % even when there was nothing to fetch.
    m_bar->setValue(value);
}

} // namespace BatchSync::Ui
