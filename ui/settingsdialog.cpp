#include "settingsdialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace BatchSync::Ui {

SettingsDialog::SettingsDialog(const App::Profile &profile, QWidget *parent)
    : QDialog(parent)
    , m_base(profile)
{
    setObjectName(QStringLiteral("settingsDialog"));
    setWindowTitle(tr("BatchSync Settings"));

    m_endpoint = new QLineEdit(this);
    m_endpoint->setObjectName(QStringLiteral("endpointEdit"));
    m_endpoint->setPlaceholderText(tr("Empty: the embedded demo server"));
    m_endpoint->setToolTip(tr("The protocol v1 base URL, e.g. http://127.0.0.1:8080/api/v1. "
                              "Each endpoint keeps its own local database."));
    m_endpoint->setMinimumWidth(360);

    m_token = new QLineEdit(this);
    m_token->setObjectName(QStringLiteral("tokenEdit"));
    m_token->setEchoMode(QLineEdit::Password);
    m_token->setPlaceholderText(tr("None"));
    m_token->setToolTip(tr("Sent as \"Authorization: Bearer <token>\""));

    m_paging = new QComboBox(this);
    m_paging->setObjectName(QStringLiteral("pagingCombo"));
    m_paging->addItem(tr("Cursor (recommended: never misses a change)"),
                      QVariant::fromValue(PagingMode::Cursor));
    m_paging->addItem(tr("Offset (for endpoints that only page by offset)"),
                      QVariant::fromValue(PagingMode::Offset));

    m_batchSize = new QSpinBox(this);
    m_batchSize->setObjectName(QStringLiteral("batchSizeSpin"));
    m_batchSize->setRange(SyncSettings::MinBatchSize, SyncSettings::MaxBatchSize);
    m_batchSize->setSingleStep(100);
    m_batchSize->setGroupSeparatorShown(true);
    m_batchSize->setSuffix(tr(" records"));

    m_adaptiveBatchSize = new QCheckBox(tr("&Adapt batch size"), this);
    m_adaptiveBatchSize->setObjectName(QStringLiteral("adaptiveBatchCheck"));
    m_adaptiveBatchSize->setToolTip(
        tr("Start with the batch size above, then size each batch between %1 and %2 records "
           "so that it takes about the target duration")
            .arg(SyncSettings::MinBatchSize)
            .arg(SyncSettings::MaxBatchSize));

    m_targetBatchMs = new QSpinBox(this);
    m_targetBatchMs->setObjectName(QStringLiteral("targetBatchSpin"));
    m_targetBatchMs->setRange(SyncSettings::MinTargetBatchMs, SyncSettings::MaxTargetBatchMs);
    m_targetBatchMs->setSingleStep(50);
    m_targetBatchMs->setGroupSeparatorShown(true);
    m_targetBatchMs->setSuffix(tr(" ms"));
    m_targetBatchMs->setToolTip(tr("How long one batch (request, reading and storing) should "
                                   "take, %1 to %2 ms")
                                    .arg(SyncSettings::MinTargetBatchMs)
                                    .arg(SyncSettings::MaxTargetBatchMs));

    m_concurrency = new QSpinBox(this);
    m_concurrency->setObjectName(QStringLiteral("concurrencySpin"));
    m_concurrency->setRange(1, SyncSettings::MaxConcurrency);
    m_concurrency->setToolTip(tr("How many entities sync at the same time"));

    auto *form = new QFormLayout;
    form->addRow(tr("&Endpoint URL:"), m_endpoint);
    form->addRow(tr("&Token:"), m_token);
    form->addRow(tr("&Paging:"), m_paging);
    form->addRow(tr("&Batch size:"), m_batchSize);
    form->addRow(QString(), m_adaptiveBatchSize);
    form->addRow(tr("Target batch &duration:"), m_targetBatchMs);
    form->addRow(tr("&Concurrent entities:"), m_concurrency);

    m_reason = new QLabel(this);
    m_reason->setObjectName(QStringLiteral("reasonLabel"));
    m_reason->setWordWrap(true);
    m_reason->setTextFormat(Qt::PlainText);
    QPalette palette = m_reason->palette();
    palette.setColor(QPalette::WindowText, QColor(0xc0, 0x1c, 0x28));
    m_reason->setPalette(palette);
    m_reason->hide();

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(m_buttons, &QDialogButtonBox::accepted, this, &SettingsDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &SettingsDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_reason);
    layout->addStretch(1);
    layout->addWidget(m_buttons);

    setProfile(profile);
    connect(m_endpoint, &QLineEdit::textChanged, this, &SettingsDialog::revalidate);
    connect(m_token, &QLineEdit::textChanged, this, &SettingsDialog::revalidate);
    connect(m_batchSize, &QSpinBox::valueChanged, this, &SettingsDialog::revalidate);
    connect(m_adaptiveBatchSize, &QCheckBox::toggled, this, [this] {
        updateAdaptiveControls();
        revalidate();
    });
    connect(m_targetBatchMs, &QSpinBox::valueChanged, this, &SettingsDialog::revalidate);
    connect(m_concurrency, &QSpinBox::valueChanged, this, &SettingsDialog::revalidate);
}

App::Profile SettingsDialog::profile() const
{
    App::Profile profile = m_base;
    const QString endpoint = m_endpoint->text().trimmed();
    profile.endpoint = endpoint.isEmpty() ? QUrl() : QUrl(endpoint, QUrl::StrictMode);
    profile.token = m_token->text();
    profile.paging = m_paging->currentData().value<PagingMode>();
    profile.batchSize = m_batchSize->value();
    profile.adaptiveBatchSize = m_adaptiveBatchSize->isChecked();
    profile.targetBatchMs = m_targetBatchMs->value();
    profile.concurrency = m_concurrency->value();
    return profile;
}

void SettingsDialog::setProfile(const App::Profile &profile)
{
    m_base = profile;
    m_endpoint->setText(profile.endpoint.toString());
    m_token->setText(profile.token);
    m_paging->setCurrentIndex(m_paging->findData(QVariant::fromValue(profile.paging)));
    m_batchSize->setValue(profile.batchSize);
    m_adaptiveBatchSize->setChecked(profile.adaptiveBatchSize);
    m_targetBatchMs->setValue(profile.targetBatchMs);
    updateAdaptiveControls();
    m_concurrency->setValue(profile.concurrency);
    revalidate();
}

QString SettingsDialog::validate() const
{
    const QString text = m_endpoint->text().trimmed();
    if (!text.isEmpty() && !QUrl(text, QUrl::StrictMode).isValid())
        return tr("The endpoint \"%1\" is not a valid URL.").arg(text);
    return profile().validate();
}

QString SettingsDialog::shownReason() const
{
    return m_reason->isHidden() ? QString() : m_reason->text();
}

void SettingsDialog::accept()
{
    revalidate();
    if (!validate().isEmpty())
        return;
    QDialog::accept();
}

void SettingsDialog::updateAdaptiveControls()
{
    // The target only matters when the size adapts; the size is then where it starts.
    const bool adaptive = m_adaptiveBatchSize->isChecked();
    m_targetBatchMs->setEnabled(adaptive);
    m_batchSize->setToolTip(adaptive ? tr("Records in the first request; the next ones adapt "
                                          "to the target duration")
                                     : tr("Records per request, %1 to %2")
                                           .arg(SyncSettings::MinBatchSize)
                                           .arg(SyncSettings::MaxBatchSize));
}

void SettingsDialog::revalidate()
{
    const QString reason = validate();
    m_reason->setText(reason);
    m_reason->setVisible(!reason.isEmpty());
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(reason.isEmpty());
}

} // namespace BatchSync::Ui
