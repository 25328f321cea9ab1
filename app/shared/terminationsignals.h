#pragma once

#include <QObject>
#include <QString>
#include <initializer_list>

QT_BEGIN_NAMESPACE
class QSocketNotifier;
QT_END_NAMESPACE

namespace BatchSync::App {

/*!
    SIGINT and SIGTERM as a Qt signal: the handler only writes the signal number to a socket
    pair, and a QSocketNotifier turns that into received() in the event loop; SIGHUP, when
    watched, into hangup(). One instance per process.
*/
class TerminationSignals final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TerminationSignals)

public:
    explicit TerminationSignals(QObject *parent = nullptr);
    /*! Restores the default handlers. */
    ~TerminationSignals() override;

    /*! Installs the handlers; false with \a error set on failure. */
    bool install(QString *error);
    /*! After install(): SIGHUP emits hangup() instead of ending the process. */
    bool watchHangup(QString *error);

Q_SIGNALS:
    void received(int signalNumber);
    void hangup();

private:
    void onActivated();
    bool handle(std::initializer_list<int> signalNumbers, QString *error);

    QSocketNotifier *m_notifier = nullptr;
    bool m_installed = false;
    bool m_hangup = false;
};

} // namespace BatchSync::App
