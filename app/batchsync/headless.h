#pragma once

#include "common/syncsettings.h"
#include "common/types.h"
#include "output/entityprogress.h"
#include "output/progressoutput.h"

#include <QElapsedTimer>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QStringList>
#include <QTimer>
#include <memory>

namespace BatchSync {

class SyncEngine;

namespace App {
class DemoEndpoint;
} // namespace App

/*! What `batchsync --headless` was asked to do, once the command line is checked. */
struct HeadlessOptions
{
    /*! The profile's engine settings; an empty endpoint means the embedded demo server. */
    SyncSettings settings;
    /*! The entities to sync; empty: every entity the endpoint reports. */
    QStringList entities;
    /*! The embedded demo server, started for an empty endpoint; not owned, outlives the run. */
    App::DemoEndpoint *demo = nullptr;
    ProgressOutput output = ProgressOutput::Plain;
    /*! --live: after the sync, stay in step (SyncEngine::setLive) until interrupt(). */
    bool liveSync = false;
};

/*!
    Runs one headless sync: starts the embedded demo server if no endpoint is given, drives a
    SyncEngine, reports progress as HeadlessOptions::output says (on standard error as a live
    display or plain lines with a summary on standard output, or as JSON lines on standard
    output, or errors only) and ends with finished(exitCode): 0 when every selected entity
    completed, 1 otherwise, 128 + signal after interrupt(). Main thread.
*/
class HeadlessRunner final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(HeadlessRunner)

public:
    explicit HeadlessRunner(const HeadlessOptions &options, QObject *parent = nullptr);
    /*! Stops the engine (nothing committed is lost). */
    ~HeadlessRunner() override;

    /*! Begins the run; returns at once. Call it from the event loop. */
    void start();
    /*!
        Pauses every entity (progress is kept and resumed at the next run) and ends with
        128 + \a signalNumber once no job is busy. A second call ends the run at once.
    */
    void interrupt(int signalNumber);

Q_SIGNALS:
    /*! Emitted once, when the run is over. */
    void finished(int exitCode);

private:
    struct Problem
    {
        QString category; // an ErrorCategory name, or "server" for the embedded server
        QString message;
    };

    using Row = Output::EntityProgress;

    void startSync();
    void onServerReady(const QUrl &baseUrl);
    void onServerFailed(const QString &message);
    void onStateChanged(const QString &entity, BatchSync::SyncState state);
    void onProgress(const QString &entity, qint64 done, qint64 total, double recordsPerSecond,
                    qint64 etaSeconds);
    void onFailed(const QString &entity, BatchSync::ErrorCategory category, const QString &message);
    void onRetrying(const QString &entity, int attempt, int delayMs, const QString &reason);
    void onPhaseChanged(const QString &entity, BatchSync::SyncPhase phase);
    void onPushed(const QString &entity, qint64 applied, qint64 conflicts, qint64 rejected);
    void onEngineFinished();
    void onLiveStateChanged(BatchSync::LiveState state, const QStringList &entities,
                            const QString &message);
    void onTick();

    Row *row(const QString &entity);
    /*! The live display's line for all the entities together. */
    Row overallRow() const;
    bool isSelected(const QString &entity) const;
    void checkIdle();
    void conclude();
    void end(int exitCode);
    void endpointProblem(const QString &category, const QString &message, const QString &text);

    bool isDemo() const { return m_options.settings.endpoint.isEmpty(); }
    bool isLive() const { return m_options.output == ProgressOutput::Live; }
    bool isPlain() const { return m_options.output == ProgressOutput::Plain; }
    bool isJson() const { return m_options.output == ProgressOutput::Json; }
    bool showsProgress() const { return isLive() || isPlain(); }

    // Output: standard error carries progress and problems, standard output the summary;
    // in JSON mode standard output carries everything.
    /*! A line on standard error, for the live and plain modes only. */
    void printLine(const QString &text);
    /*! A problem on standard error, in every mode but JSON (which has an event for it). */
    void printProblem(const QString &text);
    /*! One JSON line on standard output, "event" first; JSON mode only. */
    void emitEvent(const QString &event, const QJsonObject &fields);
    /*! Plain mode: a line about \a row; \a announce for a state change, else progress. */
    void printStatusLine(Row &row, bool announce = false);
    void redraw();
    QString endpointText() const;

    QtMessageHandler m_previousMessageHandler = nullptr;
    HeadlessOptions m_options;
    SyncSettings m_settings;
    std::unique_ptr<SyncEngine> m_engine;
    QList<Row> m_rows;
    QTimer m_tick;
    QTimer m_interruptDeadline;
    QElapsedTimer m_syncClock;
    bool m_dirty = false;
    int m_nameWidth = 8;
    bool m_endpointFailed = false;
    ErrorCategory m_endpointCategory = ErrorCategory::None;
    QStringList m_endpointErrors;
    QList<Problem> m_endpointProblems; // each distinct endpoint-level failure, in order
    int m_signal = 0;
    bool m_ended = false;
    LiveState m_liveState = LiveState::Off;
};

} // namespace BatchSync
