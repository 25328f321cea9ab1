#pragma once

#include <QString>
#include <QStringList>
#include <QtGlobal>
#include <cstdio>

namespace BatchSync::Output {

/*! Writes \a text to \a stream at once. Any thread. */
void writeTo(FILE *stream, const QString &text);
/*! \a line and a newline on standard output. */
void printOutput(const QString &line);

/*!
    Standard error, shared by the live display and every other line, including Qt messages
    from the engine's and the server's threads: a line printed while the display is up goes
    above it, and the display is drawn again below. Any thread.
*/
namespace Console {
/*! \a line on standard error, above the display if one is up. */
void print(const QString &line);
/*! Draws \a lines as the display, in place of the one drawn before. */
void setDisplay(const QStringList &lines);
/*! Leaves the display on screen as it is; what follows is printed below it. */
void releaseDisplay();
} // namespace Console

/*! A Qt message handler that prints through Console::print(). */
void routeMessage(QtMsgType type, const QMessageLogContext &context, const QString &message);
/*! The width of the terminal on standard error, 80 when it is not known. */
int terminalWidth();

} // namespace BatchSync::Output
