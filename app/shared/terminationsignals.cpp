#include "terminationsignals.h"

#include <QSocketNotifier>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace BatchSync::App {

namespace {

int s_signalSockets[2] = { -1, -1 };

void onTerminationSignal(int signalNumber)
{
    // Only async-signal-safe calls here; the event loop does the rest.
    const int savedErrno = errno;
    const char byte = char(signalNumber);
    [[maybe_unused]] const ssize_t written = ::write(s_signalSockets[0], &byte, 1);
    errno = savedErrno;
}

} // namespace

TerminationSignals::TerminationSignals(QObject *parent)
    : QObject(parent)
{
}

TerminationSignals::~TerminationSignals()
{
    if (!m_installed)
        return;
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (m_hangup)
        std::signal(SIGHUP, SIG_DFL);
    delete m_notifier;
    ::close(s_signalSockets[0]);
    ::close(s_signalSockets[1]);
    s_signalSockets[0] = s_signalSockets[1] = -1;
}

bool TerminationSignals::install(QString *error)
{
    if (m_installed)
        return true;
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s_signalSockets) != 0) {
        *error = QStringLiteral("cannot create the signal socket pair: %1")
                     .arg(QString::fromLocal8Bit(std::strerror(errno)));
        return false;
    }
    m_installed = true;
    // A burst of signals must never block the handler.
    ::fcntl(s_signalSockets[0], F_SETFL, ::fcntl(s_signalSockets[0], F_GETFL) | O_NONBLOCK);

    m_notifier = new QSocketNotifier(s_signalSockets[1], QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, &TerminationSignals::onActivated);

    return handle({ SIGINT, SIGTERM }, error);
}

bool TerminationSignals::watchHangup(QString *error)
{
    if (!m_installed) {
        *error = QStringLiteral("install() the signal handlers first");
        return false;
    }
    m_hangup = true;
    return handle({ SIGHUP }, error);
}

bool TerminationSignals::handle(std::initializer_list<int> signalNumbers, QString *error)
{
    struct sigaction action
    {
    };
    action.sa_handler = onTerminationSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (const int signalNumber : signalNumbers) {
        if (::sigaction(signalNumber, &action, nullptr) != 0) {
            *error = QStringLiteral("cannot install the signal handler: %1")
                         .arg(QString::fromLocal8Bit(std::strerror(errno)));
            return false;
        }
    }
    return true;
}

void TerminationSignals::onActivated()
{
    char byte = 0;
    if (::read(s_signalSockets[1], &byte, 1) != 1)
        return;
    if (int(byte) == SIGHUP)
        Q_EMIT hangup();
    else
        Q_EMIT received(int(byte));
}

} // namespace BatchSync::App
