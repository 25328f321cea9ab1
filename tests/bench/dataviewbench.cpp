// batchsync-bench --dataview: the data view's longest GUI stall on a large local database.

#include "dataviewbench.h"

#include "dataview.h"
#include "mainwindow.h"
#include "store/localstore.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QRegularExpression>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <algorithm>
#include <cstdio>
#include <ctime>

namespace BatchSync::Bench {

namespace {

constexpr qint64 WriteBatch = 10000;
constexpr int StepTimeoutMs = 600000;

bool holdsAlready(const QString &path, const QList<EntitySchema> &schemas,
                  const QList<qint64> &rows)
{
    if (!QFile::exists(path))
        return false;
    LocalStore store(path, QStringLiteral("bench-dataview-check"));
    SyncError error;
    if (!store.open(&error))
        return false;
    for (qsizetype i = 0; i < schemas.size(); ++i) {
        const std::optional<StoredEntity> stored = store.loadEntity(schemas.at(i).name, &error);
        if (!stored || stored->state != SyncState::Completed
            || stored->schema.fields != schemas.at(i).fields
            || store.rowCount(schemas.at(i).name) != rows.at(i)) {
            return false;
        }
    }
    return true;
}

void typeText(QWidget *widget, QChar c)
{
    QKeyEvent press(QEvent::KeyPress, c.toUpper().unicode(), Qt::NoModifier, QString(c));
    QKeyEvent release(QEvent::KeyRelease, c.toUpper().unicode(), Qt::NoModifier, QString(c));
    QApplication::sendEvent(widget, &press);
    QApplication::sendEvent(widget, &release);
}

std::optional<DataViewFigures> measure(const QString &path, const QString &filter)
{
    QTemporaryDir dataDir;
    Ui::DesktopOptions desktop;
    // Nothing listens on the discard port: the window works offline, as it must.
    desktop.profile.endpoint = QUrl(QStringLiteral("http://127.0.0.1:9/api/v1"));
    desktop.databasePath = path;
    desktop.dataDirectory = dataDir.path();
    desktop.rememberLayout = false;
    Ui::MainWindow window(desktop);
    window.resize(1100, 700);
    window.findChild<QTabWidget *>(QStringLiteral("bottomTabs"))->setCurrentIndex(1);
    Ui::DataView *view = window.dataView();
    Ui::RecordModel *model = view->model();
    auto *table = window.findChild<QTableView *>(QStringLiteral("dataView"));
    auto *filterEdit = window.findChild<QLineEdit *>(QStringLiteral("filterEdit"));
    QHeaderView *header = table->horizontalHeader();
    const auto settled = [&] { return !model->isLoading() && model->matchingRows() >= 0; };

    StallMeter meter;
    DataViewFigures overall;
    const auto step = [&](const QString &what, const std::function<void()> &act,
                          const std::function<bool()> &done) {
        meter.restart();
        const qint64 start = meter.now();
        act();
        if (!spinUntil(done, StepTimeoutMs, SpinMode::Sleep)) {
            std::printf("DATAVIEW failed: %s did not finish\n", qPrintable(what));
            return false;
        }
        overall.maxStallMs = std::max(overall.maxStallMs, double(meter.longest()));
        overall.maxBusyMs = std::max(overall.maxBusyMs, double(meter.busiest()));
        std::printf(
            "DATAVIEW step %-30s %5lld ms, stall %3lld ms (%2lld running), busy %2lld ms, %s\n",
            qPrintable(what), meter.now() - start, meter.longest(), meter.longestCpu(),
            meter.busiest(),
            qPrintable(window.findChild<QLabel *>(QStringLiteral("rowCountLabel"))->text()));
        std::fflush(stdout);
        return true;
    };

    bool ok = step(
        QStringLiteral("open the window"), [&] { window.show(); },
        [&] { return view->entityNames().size() >= 2 && settled(); });
    const QStringList names = view->entityNames();
    ok = ok
        && step(
             QStringLiteral("type \"%1\"").arg(filter),
             [&] {
                 // At a typist's pace, each key after the filter box's pause: every query starts,
                 // and the next key interrupts it.
                 for (const QChar c : filter) {
                     typeText(filterEdit, c);
                     const qint64 until = meter.now() + Ui::DataView::FilterDelayMs + 50;
                     spinUntil([&] { return meter.now() >= until; }, StepTimeoutMs,
                               SpinMode::Sleep);
                 }
             },
             settled);
    ok = ok
        && step(
             QStringLiteral("scroll 20 chunks down"),
             [&] {
                 for (int i = 0; i < 20 && model->canFetchMore({}); ++i) {
                     const int before = model->rowCount();
                     table->scrollToBottom();
                     spinUntil([&] { return model->rowCount() > before; }, StepTimeoutMs,
                               SpinMode::Sleep);
                 }
             },
             settled);
    ok = ok
        && step(
             QStringLiteral("clear the filter"), [&] { filterEdit->clear(); },
             [&] { return settled() && model->query().filter.isEmpty(); });
    for (int column = 0; ok && column < model->columnCount(); ++column) {
        const QString name = model->headerData(column, Qt::Horizontal).toString();
        ok = step(
            QStringLiteral("sort by %1").arg(name),
            [&] { header->setSortIndicator(column, Qt::AscendingOrder); }, settled);
    }
    ok = ok
        && step(
             QStringLiteral("sort descending"),
             [&] { header->setSortIndicator(header->sortIndicatorSection(), Qt::DescendingOrder); },
             settled);
    ok = ok
        && step(
             QStringLiteral("sort by 3 columns in 100 ms"),
             [&] {
                 for (int column = 1; column <= 3; ++column) {
                     header->setSortIndicator(column, Qt::AscendingOrder);
                     const qint64 until = meter.now() + 50;
                     spinUntil([&] { return meter.now() >= until; }, StepTimeoutMs,
                               SpinMode::Sleep);
                 }
             },
             settled);
    for (int i = 1; ok && i <= names.size(); ++i) {
        const QString entity = names.at(i % names.size());
        ok = step(
            QStringLiteral("switch to %1").arg(entity), [&] { view->setCurrentEntity(entity); },
            [&] { return model->shownEntity() == entity && settled(); });
    }
    ok = ok
        && step(
             QStringLiteral("filter, then switch entities"),
             [&] {
                 view->setFilterText(filter);
                 view->setCurrentEntity(names.last());
                 view->setCurrentEntity(names.first());
             },
             [&] { return model->shownEntity() == names.first() && settled(); });
    if (!ok)
        return std::nullopt;
    return overall;
}

} // namespace

qint64 threadCpuMs()
{
    timespec now {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return qint64(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

bool spinUntil(const std::function<bool()> &done, int timeoutMs, SpinMode mode)
{
    QElapsedTimer timer;
    timer.start();
    while (!done()) {
        if (timer.elapsed() > timeoutMs)
            return false;
        if (mode == SpinMode::Sleep)
            QCoreApplication::processEvents(QEventLoop::AllEvents | QEventLoop::WaitForMoreEvents);
        else
            QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
    }
    return true;
}

bool prepareDataViewDatabase(const QString &path, const QList<EntitySchema> &schemas,
                             const QList<qint64> &rows, const RecordMaker &record, QString *error)
{
    if (holdsAlready(path, schemas, rows))
        return true;
    for (const char *suffix : { "", "-wal", "-shm" })
        QFile::remove(path + QLatin1String(suffix));
    LocalStore store(path, QStringLiteral("bench-dataview-write"));
    SyncError failure;
    bool ok = store.open(&failure);
    for (qsizetype entity = 0; ok && entity < schemas.size(); ++entity) {
        const EntitySchema &schema = schemas.at(entity);
        const qint64 total = rows.at(entity);
        ok = store.ensureEntity(schema, &failure)
            && store.beginRun(schema.name, PagingMode::Cursor, {}, total, SyncState::Running,
                              &failure);
        for (qint64 done = 0; ok && done < total;) {
            QList<Change> changes;
            const qint64 end = std::min(total, done + WriteBatch);
            changes.reserve(end - done);
            for (; done < end; ++done)
                changes.append(record(int(entity), done));
            ok = store.applyBatch(schema, changes, { QString::number(done), {} }, done, total,
                                  &failure);
        }
        ok = ok
            && store.completeRun(schema.name, { QString::number(total), {} }, total, total,
                                 QDateTime::currentDateTimeUtc(), &failure);
    }
    if (!ok)
        *error = failure.message;
    return ok;
}

std::optional<DataViewFigures> runDataViewChild(const QString &path, const QString &filter,
                                                const QString &logPrefix, QStringList *report,
                                                QString *error)
{
    QProcess child;
    child.setProgram(QCoreApplication::applicationFilePath());
    child.setArguments({ QStringLiteral("--dataview-child"), path, filter });
    child.setStandardErrorFile(logPrefix + QStringLiteral(".stderr"));
    child.start();
    if (!child.waitForStarted(10000) || !child.waitForFinished(3600 * 1000)) {
        *error = QStringLiteral("the window's process did not finish: %1").arg(child.errorString());
        child.kill();
        child.waitForFinished(5000);
        return std::nullopt;
    }
    const QString output = QString::fromUtf8(child.readAllStandardOutput());
    for (const QString &line : output.split(QLatin1Char('\n'))) {
        if (line.startsWith(QLatin1String("DATAVIEW step ")))
            report->append(line.mid(14));
    }
    static const QRegularExpression result(
        QStringLiteral("DATAVIEW max_stall_ms=(\\d+) max_busy_ms=(\\d+)"));
    const QRegularExpressionMatch match = result.match(output);
    if (child.exitStatus() != QProcess::NormalExit || child.exitCode() != 0 || !match.hasMatch()) {
        *error = QStringLiteral("the data view run failed (exit code %1): %2; see %3.stderr")
                     .arg(child.exitCode())
                     .arg(output.trimmed().section(QLatin1Char('\n'), -1), logPrefix);
        return std::nullopt;
    }
    return DataViewFigures { match.captured(1).toDouble(), match.captured(2).toDouble() };
}

int dataViewChildMain(const QStringList &arguments)
{
    if (arguments.size() != 4)
        return 2;
    const std::optional<DataViewFigures> figures = measure(arguments.at(2), arguments.at(3));
    if (!figures)
        return 1;
    std::printf("DATAVIEW max_stall_ms=%.0f max_busy_ms=%.0f\n", figures->maxStallMs,
                figures->maxBusyMs);
    return 0;
}

} // namespace BatchSync::Bench
