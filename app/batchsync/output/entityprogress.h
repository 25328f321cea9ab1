#pragma once

#include "common/types.h"

#include <QElapsedTimer>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

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
    qint64 lastDone = -1; //!< -1: the run's starting point is not known yet
    qint64 synced = 0; //!< records this process brought in
    QElapsedTimer clock; //!< from the first counting/running state
    qint64 elapsedMs = -1; //!< set when the run stops
    QElapsedTimer lastLine; //!< plain mode: the last line printed for this row

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

} // namespace BatchSync::Output
