#include "entityprogress.h"

#include "jsonevents.h"
#include "text.h"

#include <algorithm>

namespace BatchSync::Output {

namespace {

constexpr int MinBarWidth = 10;
constexpr int MaxBarWidth = 30;

QString countText(const EntityProgress &r)
{
    return r.total > 0 || r.state == SyncState::Completed
        ? QStringLiteral("%1/%2").arg(r.done).arg(r.total)
        : QStringLiteral("%1/?").arg(r.done);
}

// The state, or what a running entity is doing when it pushes.
QString stateWord(const EntityProgress &r)
{
    return r.state == SyncState::Running && r.phase == SyncPhase::Push ? QStringLiteral("uploading")
                                                                       : syncStateName(r.state);
}

QString plural(qint64 count, const char *one, const char *many)
{
    return QStringLiteral("%1 %2").arg(count).arg(QLatin1String(count == 1 ? one : many));
}

QString displayLine(const EntityProgress &r, int nameWidth, int width, int countWidth)
{
    QString speed;
    QString time;
    QString tail; // free text at the end: a failure or the latest retry
    switch (r.state) {
    case SyncState::Running:
        // The rate of a push counts changes, not records.
        if (r.phase == SyncPhase::Push)
            break;
        speed = QString::number(qRound64(r.rate)) + QStringLiteral(" rec/s");
        time = QStringLiteral("ETA ") + clockText(r.eta);
        break;
    case SyncState::Completed: {
        const qint64 ms = std::max<qint64>(0, r.elapsedMs);
        speed = ratePerSecond(r.synced, ms) + QStringLiteral(" rec/s");
        time = QStringLiteral("in ") + seconds(ms);
        break;
    }
    case SyncState::Failed:
        tail = r.error;
        break;
    default:
        break;
    }
    if (tail.isEmpty() && !r.note.isEmpty())
        tail = QLatin1Char('(') + r.note + QLatin1Char(')');

    // name [bar] done/total pct state speed time tail; the bar takes what the terminal leaves
    // (the same on every line), and a line without speed and time gives their room to the tail.
    const QLatin1Char space(' ');
    const QString name = r.name.left(MaxNameWidth).leftJustified(nameWidth, space) + space;
    QString after = space + countText(r).rightJustified(countWidth, space) + space
        + percentText(r.done, r.total).rightJustified(6, space) + space
        + stateWord(r).leftJustified(9, space);
    const int speedWidth = 11;
    const int timeWidth = 10;
    const int fixedWidth
        = nameWidth + 1 + 2 + 1 + countWidth + 1 + 6 + 1 + 9 + 1 + speedWidth + 1 + timeWidth;
    const int barWidth = std::clamp(width - 1 - fixedWidth, MinBarWidth, MaxBarWidth);
    if (!speed.isEmpty() || !time.isEmpty()) {
        after += space + speed.rightJustified(speedWidth, space) + space
            + time.leftJustified(timeWidth, space);
    }
    const double fraction = r.total > 0 ? std::clamp(double(r.done) / double(r.total), 0.0, 1.0)
                                        : (r.state == SyncState::Completed ? 1.0 : 0.0);
    const int filled = int(fraction * barWidth + 0.5);
    const QString bar = QLatin1Char('[') + QString(filled, QLatin1Char('#'))
        + QString(barWidth - filled, QLatin1Char('-')) + QLatin1Char(']');

    QString line = name + bar + after;
    if (!tail.isEmpty())
        line += space + tail;
    // Never let a line wrap: the redraw moves up by line count.
    if (line.size() >= width)
        line = line.left(std::max(1, width - 1));
    return line;
}

} // namespace

QString plainLine(const EntityProgress &r, bool announce)
{
    QString text;
    switch (r.state) {
    case SyncState::Queued:
        text = QStringLiteral("queued");
        break;
    case SyncState::Counting:
        text = QStringLiteral("counting changes");
        break;
    case SyncState::Running:
        if (r.phase == SyncPhase::Push) {
            text = announce ? QStringLiteral("uploading local changes")
                            : QStringLiteral("uploading %1 of %2 (%3)")
                                  .arg(r.done)
                                  .arg(r.total)
                                  .arg(percentText(r.done, r.total));
            break;
        }
        if (announce) {
            text = QStringLiteral("running");
            break;
        }
        text = QStringLiteral("%1/%2 (%3), %4 records/s, ETA %5")
                   .arg(r.done)
                   .arg(r.total)
                   .arg(percentText(r.done, r.total))
                   .arg(qRound64(r.rate))
                   .arg(clockText(r.eta));
        break;
    case SyncState::Paused:
        text = QStringLiteral("paused at %1/%2").arg(r.done).arg(r.total);
        break;
    case SyncState::Completed:
        text = QStringLiteral("completed, %1 records in %2")
                   .arg(r.synced)
                   .arg(seconds(std::max<qint64>(0, r.elapsedMs)));
        break;
    case SyncState::Failed:
        text = QStringLiteral("failed"); // why: in the summary at the end
        break;
    case SyncState::Idle:
        text = QStringLiteral("idle");
        break;
    }
    return QStringLiteral("%1: %2").arg(r.name, text);
}

QStringList displayLines(const QList<EntityProgress> &rows, int nameWidth, int width)
{
    int countWidth = 0;
    for (const EntityProgress &r : rows)
        countWidth = std::max(countWidth, int(countText(r).size()));
    QStringList lines;
    for (const EntityProgress &r : rows)
        lines.append(displayLine(r, nameWidth, width, countWidth));
    return lines;
}

QJsonObject summaryJson(const EntityProgress &r)
{
    const qint64 ms = r.elapsed();
    return { { QStringLiteral("entity"), r.name },
             { QStringLiteral("state"), syncStateName(r.state) },
             { QStringLiteral("done"), r.done },
             { QStringLiteral("total"), r.total },
             { QStringLiteral("synced"), r.synced },
             { QStringLiteral("pushed"), r.pushApplied },
             { QStringLiteral("conflicts"), r.pushConflicts },
             { QStringLiteral("rejected"), r.pushRejected },
             { QStringLiteral("elapsedMs"), ms },
             { QStringLiteral("error"),
               r.state == SyncState::Failed ? QJsonValue(QJsonObject {
                   { QStringLiteral("category"), errorCategoryName(r.errorCategory) },
                   { QStringLiteral("message"),
                     r.error.isEmpty() ? QStringLiteral("unknown error") : r.error } })
                                            : QJsonValue(QJsonValue::Null) } };
}

void EntityProgress::enterPhase(SyncPhase next)
{
    // A change phase's first report tells where its run stands (a resumed run starts above
    // zero); the other phases count from zero.
    lastDone = next == SyncPhase::Changes ? -1 : 0;
    phase = next;
}

void EntityProgress::advance(qint64 newDone, qint64 newTotal)
{
    if (lastDone >= 0 && newDone >= lastDone) {
        const qint64 added = newDone - lastDone;
        switch (phase) {
        case SyncPhase::Changes:
        case SyncPhase::Reload:
            synced += added;
            break;
        case SyncPhase::Deletions:
            checked += added;
            break;
        case SyncPhase::Push:
            break; // addPushed() tells how it ended
        }
    }
    lastDone = newDone;
    if (newDone != done)
        note.clear();
    done = newDone;
    total = newTotal;
}

void EntityProgress::addPushed(qint64 applied, qint64 conflicts, qint64 rejected)
{
    pushApplied += applied;
    pushConflicts += conflicts;
    pushRejected += rejected;
}

std::pair<QString, QJsonObject> progressEvent(const EntityProgress &r, const QJsonObject &overall)
{
    if (r.phase == SyncPhase::Push) {
        return { QStringLiteral("push"),
                 { { QStringLiteral("entity"), r.name },
                   { QStringLiteral("done"), r.done },
                   { QStringLiteral("total"), r.total } } };
    }
    return { QStringLiteral("progress"),
             { { QStringLiteral("entity"), r.name },
               { QStringLiteral("state"), syncStateName(r.state) },
               { QStringLiteral("done"), r.done },
               { QStringLiteral("total"), r.total },
               { QStringLiteral("rate"), jsonRate(r.rate) },
               { QStringLiteral("etaSeconds"),
                 r.eta >= 0 ? QJsonValue(r.eta) : QJsonValue(QJsonValue::Null) },
               { QStringLiteral("overall"), overall } } };
}

QJsonObject pushedJson(const QString &entity, qint64 applied, qint64 conflicts, qint64 rejected)
{
    return { { QStringLiteral("entity"), entity },
             { QStringLiteral("applied"), applied },
             { QStringLiteral("conflicts"), conflicts },
             { QStringLiteral("rejected"), rejected } };
}

QString pushedText(qint64 applied, qint64 conflicts, qint64 rejected)
{
    const qint64 sent = applied + conflicts + rejected;
    if (sent == 0)
        return QString();
    QString text = QStringLiteral("pushed ") + plural(sent, "change", "changes");
    if (conflicts == 0 && rejected == 0)
        return text;
    QStringList parts { QStringLiteral("%1 applied").arg(applied) };
    if (conflicts > 0)
        parts.append(plural(conflicts, "conflict", "conflicts"));
    if (rejected > 0)
        parts.append(QStringLiteral("%1 rejected").arg(rejected));
    return text + QStringLiteral(": ") + parts.join(QStringLiteral(", "))
        + QStringLiteral(" (kept in _sync_conflicts)");
}

QString pushedText(const QList<EntityProgress> &rows)
{
    qint64 applied = 0;
    qint64 conflicts = 0;
    qint64 rejected = 0;
    for (const EntityProgress &r : rows) {
        applied += r.pushApplied;
        conflicts += r.pushConflicts;
        rejected += r.pushRejected;
    }
    return pushedText(applied, conflicts, rejected);
}

QString summaryLine(const QList<EntityProgress> &rows, qint64 elapsedMs)
{
    qint64 synced = 0;
    qint64 checked = 0;
    for (const EntityProgress &r : rows) {
        synced += r.synced;
        checked += r.checked;
    }
    QString line = QStringLiteral("Synced %1 in %2 (%3 records/s)")
                       .arg(plural(synced, "record", "records"), seconds(elapsedMs),
                            ratePerSecond(synced, elapsedMs));
    if (checked > 0)
        line += QStringLiteral("; checked %1 for deletions").arg(plural(checked, "id", "ids"));
    if (const QString pushed = pushedText(rows); !pushed.isEmpty())
        line += QStringLiteral("; ") + pushed;
    return line;
}

} // namespace BatchSync::Output
