#pragma once

#include "common/types.h"

#include <QElapsedTimer>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>
#include <utility>

namespace BatchSync::Output {

/*! The widest entity name the live display shows whole. */
constexpr int MaxNameWidth = 24;

/*! One entity's progress in a headless run, as the outputs show it. Main thread. */
struct EntityProgress
{
    QString name;
    SyncState state = SyncState::Idle;
    qint64 done = 0;
    qint64 total = 0;
    double rate = 0.0;
    qint64 eta = -1;
    ErrorCategory errorCategory = ErrorCategory::None;
    QString error;
    QString note; //!< the latest retry, until progress resumes
    SyncPhase phase = SyncPhase::Changes; //!< what done and total count
    qint64 lastDone = -1; //!< -1: the phase's starting point is not known yet
    qint64 synced = 0; //!< records this process brought in (changes and reloads)
    qint64 checked = 0; //!< ids this process read to find deletions
    qint64 pushApplied = 0; //!< pushed changes the server stored
    qint64 pushConflicts = 0; //!< pushed changes that met a newer server record
    qint64 pushRejected = 0; //!< pushed changes the server refused
    QElapsedTimer clock; //!< from the first counting/running state
    qint64 elapsedMs = -1; //!< set when the run stops
    QElapsedTimer lastLine; //!< plain mode: the last line printed for this row

    /*! \a next begins: done and total count its records from now on. */
    void enterPhase(SyncPhase next);
    /*!
        The engine's latest \a newDone of \a newTotal for the current phase: what it adds
        goes to synced (changes, reload) or checked (deletions); a push's outcome comes with
        addPushed().
    */
    void advance(qint64 newDone, qint64 newTotal);
    /*! The outcome of a push. */
    void addPushed(qint64 applied, qint64 conflicts, qint64 rejected);

    /*! How long it ran: elapsedMs once stopped, else so far (0 before it began). */
    qint64 elapsed() const
    {
        return elapsedMs >= 0 ? elapsedMs : (clock.isValid() ? clock.elapsed() : 0);
    }
};

/*! `--progress plain`: the line about \a row, a state change when \a announce, else progress. */
QString plainLine(const EntityProgress &row, bool announce);
/*!
    The live display: one line per row, names padded to \a nameWidth, each line shorter than
    \a width columns (a wrapped line would break the redraw).
*/
QStringList displayLines(const QList<EntityProgress> &rows, int nameWidth, int width);
/*! `--progress json`: the row's entry in the summary's "entities". */
QJsonObject summaryJson(const EntityProgress &row);
/*!
    `--progress json`: the event for the row's latest progress and its fields, "push" with
    {entity, done, total} while it pushes, else "progress" with \a overall (the whole sync's
    progressJson()) among the fields.
*/
std::pair<QString, QJsonObject> progressEvent(const EntityProgress &row,
                                              const QJsonObject &overall);
/*! `--progress json`: the fields of the "pushed" event. */
QJsonObject pushedJson(const QString &entity, qint64 applied, qint64 conflicts, qint64 rejected);
/*!
    The outcome of a push, e.g. "pushed 7 changes: 5 applied, 2 conflicts (kept in
    _sync_conflicts)"; empty when it sent nothing.
*/
QString pushedText(qint64 applied, qint64 conflicts, qint64 rejected);
/*! The outcome of the pushes of \a rows together. */
QString pushedText(const QList<EntityProgress> &rows);
/*!
    The closing line on the terminal, e.g. "Synced 120 records in 3.0 s (40 records/s);
    pushed 5 changes": records changed, added or deleted, never the ids a deletion check
    read (said apart when there were any).
*/
QString summaryLine(const QList<EntityProgress> &rows, qint64 elapsedMs);

} // namespace BatchSync::Output
