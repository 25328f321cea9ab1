#include "console.h"

#include <QMutex>
#include <QMutexLocker>
#include <sys/ioctl.h>
#include <unistd.h>

namespace BatchSync::Output {

namespace {

// The display drawn last and how many lines it took, under one lock.
class ConsoleState final
{
public:
    static ConsoleState &instance()
    {
        static ConsoleState console;
        return console;
    }

    void print(const QString &line)
    {
        const QMutexLocker lock(&m_mutex);
        QString out = eraseText() + line + QLatin1Char('\n');
        m_drawn = 0;
        out += drawText();
        writeTo(stderr, out);
    }

    void setDisplay(const QStringList &lines)
    {
        const QMutexLocker lock(&m_mutex);
        QString out = m_drawn > 0 ? QStringLiteral("\x1b[%1A").arg(m_drawn) : QString();
        m_drawn = 0;
        m_display = lines;
        out += drawText();
        writeTo(stderr, out);
    }

    /*! Leaves the display on screen as it is; what follows is printed below it. */
    void releaseDisplay()
    {
        const QMutexLocker lock(&m_mutex);
        m_display.clear();
        m_drawn = 0;
    }

private:
    QString eraseText() const
    {
        return m_drawn > 0 ? QStringLiteral("\x1b[%1A\r\x1b[J").arg(m_drawn) : QString();
    }

    QString drawText()
    {
        QString out;
        for (const QString &line : std::as_const(m_display))
            out += QLatin1Char('\r') + line + QStringLiteral("\x1b[K\n");
        m_drawn = int(m_display.size());
        return out;
    }

    QMutex m_mutex;
    QStringList m_display;
    int m_drawn = 0;
};

} // namespace

void writeTo(FILE *stream, const QString &text)
{
    const QByteArray bytes = text.toLocal8Bit();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stream);
    std::fflush(stream);
}

void printOutput(const QString &line)
{
    writeTo(stdout, line + QLatin1Char('\n'));
}

namespace Console {

void print(const QString &line)
{
    ConsoleState::instance().print(line);
}

void setDisplay(const QStringList &lines)
{
    ConsoleState::instance().setDisplay(lines);
}

void releaseDisplay()
{
    ConsoleState::instance().releaseDisplay();
}

} // namespace Console

void routeMessage(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    ConsoleState::instance().print(qFormatLogMessage(type, context, message));
}

int terminalWidth()
{
    winsize size {};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    return 80;
}

} // namespace BatchSync::Output
