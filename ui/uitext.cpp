#include "uitext.h"

#include <QLocale>

namespace BatchSync::Ui {

QString UiText::number(qint64 value)
{
    return QLocale().toString(value);
}

QString UiText::doneOfTotal(qint64 done, qint64 total)
{
    return tr("%1 / %2").arg(number(done), number(total));
}

QString UiText::rate(double recordsPerSecond)
{
    if (!(recordsPerSecond > 0))
        return QString();
    return tr("%1 rec/s").arg(number(qRound64(recordsPerSecond)));
}

QString UiText::eta(qint64 seconds)
{
    if (seconds < 0)
        return QString();
    const qint64 h = seconds / 3600;
    const qint64 m = (seconds / 60) % 60;
    const qint64 s = seconds % 60;
    const QChar zero(QLatin1Char('0'));
    if (h > 0)
        return tr("%1:%2:%3").arg(h).arg(m, 2, 10, zero).arg(s, 2, 10, zero);
    return tr("%1:%2").arg(m).arg(s, 2, 10, zero);
}

QString UiText::state(SyncState state, SyncPhase phase)
{
    if (state == SyncState::Running && phase == SyncPhase::Reload)
        return tr("Reloading");
    if (state == SyncState::Running && phase == SyncPhase::Deletions)
        return tr("Checking for deletions");
    if (state == SyncState::Running && phase == SyncPhase::Push)
        return tr("Uploading");
    return UiText::state(state);
}

QString UiText::state(SyncState state)
{
    switch (state) {
    case SyncState::Idle:
        return tr("Idle");
    case SyncState::Queued:
        return tr("Queued");
    case SyncState::Counting:
        return tr("Counting");
    case SyncState::Running:
        return tr("Running");
    case SyncState::Paused:
        return tr("Paused");
    case SyncState::Completed:
        return tr("Completed");
    case SyncState::Failed:
        return tr("Failed");
    }
    return QString();
}

QString UiText::category(ErrorCategory category)
{
    switch (category) {
    case ErrorCategory::None:
        return QString();
    case ErrorCategory::Network:
        return tr("cannot reach the server");
    case ErrorCategory::Auth:
        return tr("token refused");
    case ErrorCategory::Request:
        return tr("request refused");
    case ErrorCategory::Protocol:
        return tr("invalid answer from the server");
    case ErrorCategory::Storage:
        return tr("local database error");
    case ErrorCategory::Aborted:
        return tr("cancelled");
    }
    return QString();
}

QString UiText::localTime(const QDateTime &utc)
{
    if (!utc.isValid())
        return QString();
    return QLocale().toString(utc.toLocalTime(), QLocale::ShortFormat);
}

QString UiText::records(qint64 count)
{
    return count == 1 ? tr("1 record") : tr("%1 records").arg(number(count));
}

} // namespace BatchSync::Ui
