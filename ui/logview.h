#pragma once

#include <QListWidget>

namespace BatchSync::Ui {

/*!
    The log panel: timestamped messages in plain language, newest first. Read-only; the
    selected lines can be copied (Ctrl+C or the context menu), oldest first like a log file.
*/
class LogView final : public QListWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(LogView)

public:
    enum class Severity { Info, Warning, Error };
    Q_ENUM(Severity)

    explicit LogView(QWidget *parent = nullptr);

    /*! Adds \a message at the top, stamped with the current local time. */
    void addMessage(const QString &message, Severity severity = Severity::Info);
    /*! Every message's text (with its time stamp), newest first. */
    QStringList messages() const;
    /*! Copies the selected lines, or every line when none is selected, to the clipboard. */
    void copy();

    /*! The oldest messages are dropped beyond this many. */
    static constexpr int MaxMessages = 2000;
};

} // namespace BatchSync::Ui
