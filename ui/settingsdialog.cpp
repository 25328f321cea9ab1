#include "settingsdialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
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

    m_source = new QComboBox(this);
    m_source->setObjectName(QStringLiteral("sourceCombo"));
    m_source->addItem(tr("BatchSync server"), QVariant::fromValue(SourceKind::Protocol));
    m_source->addItem(tr("OData v4 service"), QVariant::fromValue(SourceKind::OData));
    m_source->setToolTip(tr("What speaks at the endpoint: a BatchSync server (such as "
                            "batchsync-server), or an OData v4 service (Mendix, SAP CAP, ...)"));

    m_endpoint = new QLineEdit(this);
    m_endpoint->setObjectName(QStringLiteral("endpointEdit"));
    m_endpoint->setMinimumWidth(360);

    m_token = new QLineEdit(this);
    m_token->setObjectName(QStringLiteral("tokenEdit"));
    m_token->setEchoMode(QLineEdit::Password);
    m_token->setPlaceholderText(tr("None"));
    m_token->setToolTip(tr("Sent as \"Authorization: Bearer <token>\""));

    m_user = new QLineEdit(this);
    m_user->setObjectName(QStringLiteral("userEdit"));
    m_user->setPlaceholderText(tr("None"));
    m_user->setToolTip(tr("The user name for HTTP Basic authentication (what Mendix published "
                          "services use); leave it empty for a token or no authentication"));

    m_password = new QLineEdit(this);
    m_password->setObjectName(QStringLiteral("passwordEdit"));
    m_password->setEchoMode(QLineEdit::Password);
    m_password->setToolTip(tr("The user's password, kept in the OS keychain as the token is"));

    m_secretsNote = new QLabel(this);
    m_secretsNote->setObjectName(QStringLiteral("secretsNote"));
    m_secretsNote->setWordWrap(true);
    m_secretsNote->setTextFormat(Qt::PlainText);
    m_secretsNote->setVisible(false);

    m_caCertificate = new QLineEdit(this);
    m_caCertificate->setObjectName(QStringLiteral("caCertificateEdit"));
    m_caCertificate->setPlaceholderText(tr("The system's"));
    m_caCertificate->setToolTip(tr("A PEM file of the certificate authorities an https "
                                   "endpoint's certificate must come from, instead of the "
                                   "system's: for a private CA or a self-signed server"));
    auto *browse = new QPushButton(tr("Bro&wse..."), this);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString file = QFileDialog::getOpenFileName(
            this, tr("CA certificate"), m_caCertificate->text(),
            tr("PEM certificates (*.pem *.crt *.cer);;All files (*)"));
        if (!file.isEmpty())
            m_caCertificate->setText(file);
    });
    auto *caRow = new QHBoxLayout;
    caRow->addWidget(m_caCertificate, 1);
    caRow->addWidget(browse);

    m_allowInsecureHttp = new QCheckBox(tr("Allow credentials over plain HTTP"), this);
    m_allowInsecureHttp->setObjectName(QStringLiteral("allowInsecureHttpCheck"));
    m_allowInsecureHttp->setToolTip(tr("Send the token or password to an http:// endpoint that "
                                       "is not this computer, where anyone on the way can read "
                                       "them"));

    m_changeTime = new QLineEdit(this);
    m_changeTime->setObjectName(QStringLiteral("changeTimeEdit"));
    m_changeTime->setPlaceholderText(tr("Found by name (modifiedAt, changedDate, ...)"));
    m_changeTime->setToolTip(
        tr("The property holding each record's change time: one for every set (modifiedAt), "
           "one per set (Orders=changedOn), or both, separated by commas "
           "(modifiedAt, Orders=changedOn)"));

    m_safetyWindow = new QSpinBox(this);
    m_safetyWindow->setObjectName(QStringLiteral("safetyWindowSpin"));
    m_safetyWindow->setRange(0, SyncSettings::MaxSafetyWindowSeconds);
    m_safetyWindow->setGroupSeparatorShown(true);
    m_safetyWindow->setSuffix(tr(" s"));
    m_safetyWindow->setToolTip(tr("How far before its position each sync reads again, for "
                                  "records whose change was stamped before it and committed "
                                  "after it"));

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

    m_syncAtStart = new QCheckBox(tr("Sync when BatchSync &starts"), this);
    m_syncAtStart->setObjectName(QStringLiteral("syncAtStartCheck"));
    m_autoSyncMinutes = new QSpinBox(this);
    m_autoSyncMinutes->setObjectName(QStringLiteral("autoSyncSpin"));
    m_autoSyncMinutes->setRange(0, App::Profile::MaxAutoSyncMinutes);
    m_autoSyncMinutes->setSuffix(tr(" min"));
    m_autoSyncMinutes->setSpecialValueText(tr("Never"));
    m_autoSyncMinutes->setToolTip(tr("Sync every entity this often while the window is open "
                                     "(with Live on, changes arrive at once anyway)"));

    m_concurrency = new QSpinBox(this);
    m_concurrency->setObjectName(QStringLiteral("concurrencySpin"));
    m_concurrency->setRange(1, SyncSettings::MaxConcurrency);
    m_concurrency->setToolTip(tr("How many entities sync at the same time"));

    m_direction = new QComboBox(this);
    m_direction->setObjectName(QStringLiteral("directionCombo"));
    m_direction->addItem(tr("Push local changes, then pull (recommended)"),
                         QVariant::fromValue(SyncDirection::Both));
    m_direction->addItem(tr("Pull only (local changes wait)"),
                         QVariant::fromValue(SyncDirection::Pull));
    m_direction->addItem(tr("Push only"), QVariant::fromValue(SyncDirection::Push));
    m_direction->setToolTip(tr("Which way each entity syncs: its local edits are sent to the "
                               "server before its changes are read"));

    m_conflictPolicy = new QComboBox(this);
    m_conflictPolicy->setObjectName(QStringLiteral("conflictPolicyCombo"));
    m_conflictPolicy->addItem(tr("The server's record wins"),
                              QVariant::fromValue(ConflictPolicy::ServerWins));
    m_conflictPolicy->addItem(tr("My record wins (sent again on top of the server's)"),
                              QVariant::fromValue(ConflictPolicy::ClientWins));
    m_conflictPolicy->setToolTip(
        tr("What a push does when the server's record changed since the local edit; either "
           "way the conflict is kept and listed in the Conflicts view"));

    auto *form = new QFormLayout;
    form->addRow(tr("&Source:"), m_source);
    form->addRow(tr("&Endpoint URL:"), m_endpoint);
    form->addRow(tr("&Token:"), m_token);
    form->addRow(tr("&User:"), m_user);
    form->addRow(tr("Pass&word:"), m_password);
    form->addRow(QString(), m_secretsNote);
    form->addRow(tr("CA certi&ficate:"), caRow);
    form->addRow(QString(), m_allowInsecureHttp);
    form->addRow(tr("C&hange-time properties:"), m_changeTime);
    form->addRow(tr("Sa&fety window:"), m_safetyWindow);
    form->addRow(tr("&Paging:"), m_paging);
    form->addRow(tr("&Batch size:"), m_batchSize);
    form->addRow(QString(), m_adaptiveBatchSize);
    form->addRow(tr("Target batch &duration:"), m_targetBatchMs);
    form->addRow(tr("&Concurrent entities:"), m_concurrency);
    form->addRow(QString(), m_syncAtStart);
    form->addRow(tr("Sync &every:"), m_autoSyncMinutes);
    form->addRow(tr("Di&rection:"), m_direction);
    form->addRow(tr("Co&nflicts:"), m_conflictPolicy);

    m_reason = new QLabel(this);
    m_reason->setObjectName(QStringLiteral("reasonLabel"));
    m_reason->setWordWrap(true);
    m_reason->setTextFormat(Qt::PlainText);
    QPalette palette = m_reason->palette();
    palette.setColor(QPalette::WindowText, QColor(0xc0, 0x1c, 0x28));
    m_reason->setPalette(palette);
    m_reason->hide();
    m_problemPalette = palette;

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(m_buttons, &QDialogButtonBox::accepted, this, &SettingsDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &SettingsDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_reason);
    layout->addStretch(1);
    layout->addWidget(m_buttons);

    setProfile(profile);
    connect(m_source, &QComboBox::currentIndexChanged, this, [this] {
        updateSourceControls();
        revalidate();
    });
    for (QLineEdit *edit :
         { m_endpoint, m_token, m_user, m_password, m_caCertificate, m_changeTime })
        connect(edit, &QLineEdit::textChanged, this, &SettingsDialog::revalidate);
    connect(m_allowInsecureHttp, &QCheckBox::toggled, this, &SettingsDialog::revalidate);
    confirmInsecureHttp = [this](const QString &host) {
        return QMessageBox::warning(
                   this, tr("Credentials over plain HTTP"),
                   tr("With an http:// endpoint, the token or password will be sent to %1 in the "
                      "clear, where anyone on the network between can read and reuse it.\n\n"
                      "Save this setting?")
                       .arg(host),
                   QMessageBox::Save | QMessageBox::Cancel, QMessageBox::Cancel)
            == QMessageBox::Save;
    };
    connect(m_safetyWindow, &QSpinBox::valueChanged, this, &SettingsDialog::revalidate);
    connect(m_batchSize, &QSpinBox::valueChanged, this, &SettingsDialog::revalidate);
    connect(m_adaptiveBatchSize, &QCheckBox::toggled, this, [this] {
        updateAdaptiveControls();
        revalidate();
    });
    connect(m_targetBatchMs, &QSpinBox::valueChanged, this, &SettingsDialog::revalidate);
    connect(m_concurrency, &QSpinBox::valueChanged, this, &SettingsDialog::revalidate);
    connect(m_direction, &QComboBox::currentIndexChanged, this,
            &SettingsDialog::updateConflictControls);
}

App::Profile SettingsDialog::profile() const
{
    App::Profile profile = m_base;
    profile.source = m_source->currentData().value<SourceKind>();
    const QString endpoint = m_endpoint->text().trimmed();
    profile.endpoint = endpoint.isEmpty() ? QUrl() : QUrl(endpoint, QUrl::StrictMode);
    profile.token = m_token->text();
    profile.user = m_user->text().trimmed();
    profile.password = m_password->text();
    profile.caCertificateFile = m_caCertificate->text().trimmed();
    profile.allowInsecureHttp = m_allowInsecureHttp->isChecked();
    profile.changeTimeProperties = App::Profile::parseChangeTimeProperties(m_changeTime->text());
    profile.safetyWindowSeconds = m_safetyWindow->value();
    profile.paging = m_paging->currentData().value<PagingMode>();
    profile.batchSize = m_batchSize->value();
    profile.adaptiveBatchSize = m_adaptiveBatchSize->isChecked();
    profile.targetBatchMs = m_targetBatchMs->value();
    profile.concurrency = m_concurrency->value();
    profile.syncAtStart = m_syncAtStart->isChecked();
    profile.autoSyncMinutes = m_autoSyncMinutes->value();
    profile.direction = m_direction->currentData().value<SyncDirection>();
    profile.conflictPolicy = m_conflictPolicy->currentData().value<ConflictPolicy>();
    return profile;
}

void SettingsDialog::setProfile(const App::Profile &profile)
{
    m_base = profile;
    m_source->setCurrentIndex(m_source->findData(QVariant::fromValue(profile.source)));
    m_endpoint->setText(profile.endpoint.toString());
    m_token->setText(profile.token);
    m_user->setText(profile.user);
    m_password->setText(profile.password);
    m_caCertificate->setText(profile.caCertificateFile);
    m_allowInsecureHttp->setChecked(profile.allowInsecureHttp);
    m_changeTime->setText(App::Profile::changeTimePropertiesText(profile.changeTimeProperties));
    m_safetyWindow->setValue(profile.safetyWindowSeconds);
    updateSourceControls();
    m_paging->setCurrentIndex(m_paging->findData(QVariant::fromValue(profile.paging)));
    m_batchSize->setValue(profile.batchSize);
    m_adaptiveBatchSize->setChecked(profile.adaptiveBatchSize);
    m_targetBatchMs->setValue(profile.targetBatchMs);
    updateAdaptiveControls();
    m_concurrency->setValue(profile.concurrency);
    m_syncAtStart->setChecked(profile.syncAtStart);
    m_autoSyncMinutes->setValue(profile.autoSyncMinutes);
    m_direction->setCurrentIndex(m_direction->findData(QVariant::fromValue(profile.direction)));
    m_conflictPolicy->setCurrentIndex(
        m_conflictPolicy->findData(QVariant::fromValue(profile.conflictPolicy)));
    updateConflictControls();
    revalidate();
}

QString SettingsDialog::validate() const
{
    const QString text = m_endpoint->text().trimmed();
    if (!text.isEmpty() && !QUrl(text, QUrl::StrictMode).isValid())
        return tr("The endpoint \"%1\" is not a valid URL.").arg(text);
    QString problem;
    App::Profile::parseChangeTimeProperties(m_changeTime->text(), &problem);
    if (!problem.isEmpty() && m_changeTime->isEnabled())
        return tr("Change-time properties: %1.").arg(problem);
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
    // Asked when the setting is turned on, not again once it is saved so.
    const App::Profile chosen = profile();
    if (chosen.allowInsecureHttp && !m_base.allowInsecureHttp && confirmInsecureHttp
        && !confirmInsecureHttp(chosen.isEmbeddedDemo() ? tr("the endpoint")
                                                        : chosen.endpoint.host())) {
        return;
    }
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

void SettingsDialog::updateConflictControls()
{
    // Only a push meets conflicts; the policy is kept for when it pushes again.
    m_conflictPolicy->setEnabled(m_direction->currentData().value<SyncDirection>()
                                 != SyncDirection::Pull);
}

void SettingsDialog::updateSourceControls()
{
    // Each kind's own fields; the other kind's keep their values for a switch back.
    const bool odata = m_source->currentData().value<SourceKind>() == SourceKind::OData;
    const QList<QWidget *> odataFields { m_user, m_password, m_changeTime, m_safetyWindow };
    for (QWidget *field : odataFields)
        field->setEnabled(odata);
    m_paging->setEnabled(!odata);
    m_endpoint->setPlaceholderText(odata ? tr("The service root URL")
                                         : tr("Empty: the embedded demo server"));
    m_endpoint->setToolTip(odata ? tr("The OData service root URL, e.g. "
                                      "http://127.0.0.1:4004/odata/v4/shop/. Each endpoint keeps "
                                      "its own local database.")
                                 : tr("The protocol v1 base URL, e.g. "
                                      "http://127.0.0.1:8080/api/v1. Each endpoint keeps its own "
                                      "local database."));
}

void SettingsDialog::revalidate()
{
    const QString reason = validate();
    m_reason->setText(reason);
    m_reason->setVisible(!reason.isEmpty());
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(reason.isEmpty());
}

void SettingsDialog::setSecretsNote(const QString &text, bool problem)
{
    m_secretsNote->setText(text);
    m_secretsNote->setVisible(!text.isEmpty());
    // A problem in the colour of the dialog's refusals.
    m_secretsNote->setPalette(problem ? m_problemPalette : palette());
}

QString SettingsDialog::secretsNote() const
{
    return m_secretsNote->text();
}

} // namespace BatchSync::Ui
