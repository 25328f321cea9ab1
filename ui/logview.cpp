#include "logview.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QDateTime>
#include <QLocale>
#include <QStyle>
#include <algorithm>

namespace BatchSync::Ui {

LogView::LogView(QWidget *parent)
    : QListWidget(parent)
{
    setObjectName(QStringLiteral("logView"));
    setSelectionMode(QAbstractItemView::ExtendedSelection);
    setEditTriggers(QAbstractItemView::NoEditTriggers);
    setWordWrap(false);
    setAlternatingRowColors(true);
    setAccessibleName(tr("Log"));

    auto *copyAction = new QAction(tr("&Copy"), this);
    copyAction->setObjectName(QStringLiteral("copyLogAction"));
    copyAction->setShortcut(QKeySequence::Copy);
    copyAction->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    connect(copyAction, &QAction::triggered, this, &LogView::copy);
    auto *selectAllAction = new QAction(tr("Select &All"), this);
    selectAllAction->setShortcut(QKeySequence::SelectAll);
    selectAllAction->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    connect(selectAllAction, &QAction::triggered, this, &QListWidget::selectAll);
    auto *clearAction = new QAction(tr("C&lear"), this);
    connect(clearAction, &QAction::triggered, this, &QListWidget::clear);
    addActions({ copyAction, selectAllAction, clearAction });
    setContextMenuPolicy(Qt::ActionsContextMenu);
}

void LogView::addMessage(const QString &message, Severity severity)
{
    const QDateTime now = QDateTime::currentDateTime();
    auto *item = new QListWidgetItem(
        tr("%1  %2").arg(QLocale().toString(now.time(), QStringLiteral("HH:mm:ss")), message));
    item->setToolTip(QLocale().toString(now, QLocale::LongFormat));
    switch (severity) {
    case Severity::Info:
        break;
    case Severity::Warning:
        item->setIcon(style()->standardIcon(QStyle::SP_MessageBoxWarning));
        break;
    case Severity::Error:
        item->setIcon(style()->standardIcon(QStyle::SP_MessageBoxCritical));
        break;
    }
    insertItem(0, item);
    while (count() > MaxMessages)
        delete takeItem(count() - 1);
}

QStringList LogView::messages() const
{
    QStringList lines;
    lines.reserve(count());
    for (int i = 0; i < count(); ++i)
        lines.append(item(i)->text());
    return lines;
}

void LogView::copy()
{
    QList<QListWidgetItem *> items = selectedItems();
    if (items.isEmpty()) {
        for (int i = 0; i < count(); ++i)
            items.append(item(i));
    }
    // Oldest first, as a log file reads.
    std::sort(items.begin(), items.end(),
              [this](QListWidgetItem *a, QListWidgetItem *b) { return row(a) > row(b); });
    QStringList lines;
    for (const QListWidgetItem *item : std::as_const(items))
        lines.append(item->text());
    QApplication::clipboard()->setText(lines.join(QLatin1Char('\n')) + QLatin1Char('\n'));
}

} // namespace BatchSync::Ui
