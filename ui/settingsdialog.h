#pragma once

#include "shared/profile.h"

#include <QDialog>
#include <QPalette>
#include <functional>

QT_BEGIN_NAMESPACE
class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QSpinBox;
QT_END_NAMESPACE

namespace BatchSync::Ui {

/*!
    The settings dialog: the source kind (a BatchSync server or an OData v4 service), endpoint
    URL (empty: the embedded demo), token (masked), the CA certificate file of an https
    endpoint and whether credentials may go over plain http (asked before it is saved); for
    OData the Basic user and password
    (masked), the change-time properties and the safety window; for a BatchSync server the
    paging mode; batch size (fixed, or adapted to a target batch duration), concurrent
    entities, the sync direction and the default conflict policy (the per-entity policies of
    the profile are kept as they are). The fields of the other kind are disabled, and kept. It
   refuses invalid values with the reason shown in the dialog; it does not save or apply anything
   itself (MainWindow does, after accept()).
*/
class SettingsDialog final : public QDialog
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SettingsDialog)

public:
    explicit SettingsDialog(const App::Profile &profile, QWidget *parent = nullptr);

    /*! What the fields say, on top of the profile given at construction. */
    App::Profile profile() const;
    void setProfile(const App::Profile &profile);

    /*! Empty when the fields can be accepted, otherwise the reason shown in the dialog. */
    QString validate() const;
    /*! The reason currently shown; empty when there is none. */
    QString shownReason() const;

    /*!
        Says under the password where the token and password are kept, or (\a problem) why
        they cannot be kept; empty: nothing.
    */
    void setSecretsNote(const QString &text, bool problem);
    QString secretsNote() const;

    /*!
        Refuses to close while validate() finds a problem; asks for confirmation first when
        the fields allow credentials over plain http and the profile given did not.
    */
    void accept() override;

    /*!
        Asks whether to send credentials over plain http to \a host; true to go on. Tests
        replace it (a modal box would wait for a click).
    */
    std::function<bool(const QString &host)> confirmInsecureHttp;

private:
    void revalidate();
    void updateAdaptiveControls();
    void updateSourceControls();
    void updateConflictControls();

    App::Profile m_base;
    QComboBox *m_source = nullptr;
    QLineEdit *m_endpoint = nullptr;
    QLineEdit *m_token = nullptr;
    QLineEdit *m_user = nullptr;
    QLineEdit *m_password = nullptr;
    QLineEdit *m_caCertificate = nullptr;
    QCheckBox *m_allowInsecureHttp = nullptr;
    QLineEdit *m_changeTime = nullptr;
    QSpinBox *m_safetyWindow = nullptr;
    QComboBox *m_paging = nullptr;
    QSpinBox *m_batchSize = nullptr;
    QCheckBox *m_adaptiveBatchSize = nullptr;
    QSpinBox *m_targetBatchMs = nullptr;
    QSpinBox *m_concurrency = nullptr;
    QCheckBox *m_syncAtStart = nullptr;
    QSpinBox *m_autoSyncMinutes = nullptr;
    QComboBox *m_direction = nullptr;
    QComboBox *m_conflictPolicy = nullptr;
    QLabel *m_reason = nullptr;
    QLabel *m_secretsNote = nullptr;
    QPalette m_problemPalette;
    QDialogButtonBox *m_buttons = nullptr;
};

} // namespace BatchSync::Ui
