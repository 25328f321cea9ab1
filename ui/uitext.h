#pragma once

#include "common/types.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QString>

namespace BatchSync::Ui {

/*! The words and numbers the window shows, in one place so that they read the same everywhere. */
class UiText final
{
    Q_DECLARE_TR_FUNCTIONS(BatchSync::Ui::UiText)

public:
    UiText() = delete;

    /*! "12,345" in the user's locale. */
    static QString number(qint64 value);
    /*! "12,345 / 50,000". */
    static QString doneOfTotal(qint64 done, qint64 total);
    /*! "1,234 rec/s"; empty when \a recordsPerSecond is not positive. */
    static QString rate(double recordsPerSecond);
    /*! "0:42", "12:05" or "1:02:03"; empty when unknown (negative). */
    static QString eta(qint64 seconds);
    /*!
        The state in words: "Idle", "Running", ...; a running phase other than the changes
        says what it does: "Reloading", "Checking for deletions", "Uploading" (local changes).
    */
    static QString state(SyncState state, SyncPhase phase);
    /*! The state in words: "Idle", "Running", ... */
    static QString state(SyncState state);
    /*! What went wrong, in a few words: "cannot reach the server", "token refused", ... */
    static QString category(ErrorCategory category);
    /*! \a utc in local time, short format; empty for an invalid time. */
    static QString localTime(const QDateTime &utc);
    /*! "1 record" / "12,345 records". */
    static QString records(qint64 count);
};

} // namespace BatchSync::Ui
