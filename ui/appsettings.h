#pragma once

#include "common/types.h"
#include "common/syncsettings.h"

#include <QByteArray>
#include <QCoreApplication>
#include <QHash>
#include <QString>
#include <QUrl>

QT_BEGIN_NAMESPACE
class QSettings;
QT_END_NAMESPACE

namespace BatchSync::Ui {

/*!
    What the desktop app remembers between launches: the connection settings the user chose
    in the settings dialog and the window's layout. A plain value, kept with QSettings
    (load()/save()); GUI thread.
*/
class AppSettings final
{
    Q_DECLARE_TR_FUNCTIONS(BatchSync::Ui::AppSettings)

public:
    AppSettings() = default;

    /*! The endpoint's base URL; empty means the embedded demo server. */
    QUrl endpoint() const { return m_endpoint; }
    void setEndpoint(const QUrl &endpoint) { m_endpoint = endpoint; }
    bool isEmbeddedDemo() const { return m_endpoint.isEmpty(); }

    QString token() const { return m_token; }
    void setToken(const QString &token) { m_token = token; }

    PagingMode paging() const { return m_paging; }
    void setPaging(PagingMode paging) { m_paging = paging; }

    /*! Records per request; with adaptiveBatchSize(), the first batch's size. */
    int batchSize() const { return m_batchSize; }
    void setBatchSize(int batchSize) { m_batchSize = batchSize; }

    /*! Whether each entity sizes its batches to take about targetBatchMs() each. */
    bool adaptiveBatchSize() const { return m_adaptiveBatchSize; }
    void setAdaptiveBatchSize(bool adaptive) { m_adaptiveBatchSize = adaptive; }

    /*! The duration an adaptive batch aims for, in milliseconds. */
    int targetBatchMs() const { return m_targetBatchMs; }
    void setTargetBatchMs(int milliseconds) { m_targetBatchMs = milliseconds; }

    int concurrency() const { return m_concurrency; }
    void setConcurrency(int concurrency) { m_concurrency = concurrency; }

    QByteArray windowGeometry() const { return m_windowGeometry; }
    void setWindowGeometry(const QByteArray &geometry) { m_windowGeometry = geometry; }
    QByteArray windowState() const { return m_windowState; }
    void setWindowState(const QByteArray &state) { m_windowState = state; }
    QByteArray splitterState() const { return m_splitterState; }
    void setSplitterState(const QByteArray &state) { m_splitterState = state; }
    /*! The data view's column layout, per entity (QHeaderView::saveState()). */
    QHash<QString, QByteArray> columnStates() const { return m_columnStates; }
    void setColumnStates(const QHash<QString, QByteArray> &states) { m_columnStates = states; }

    /*! An empty string when the settings can be used, otherwise why not, in words. */
    QString validate() const;

    /*! Takes the connection settings (not the layout) of \a other. */
    void setConnection(const AppSettings &other);
    /*! Whether the connection settings (not the layout) are the same. */
    bool sameConnection(const AppSettings &other) const;

    /*! Reads from \a settings; absent or unreadable values keep their defaults. */
    static AppSettings load(const QSettings &settings);
    /*! Reads from the application's default QSettings. */
    static AppSettings load();
    void save(QSettings &settings) const;
    /*! Writes to the application's default QSettings. */
    void save() const;

    /*!
        Where the app keeps its data: \a directory if not empty, otherwise the writable
        AppDataLocation (created if needed).
    */
    static QString dataDirectory(const QString &directory = QString());
    /*!
        The local database for \a endpoint, so that two servers' data never mix:
        "demo.sqlite" for the embedded demo (empty \a endpoint), otherwise
        "endpoint-<first 16 hex digits of SHA-256 of the normalized URL>.sqlite", in
        dataDirectory(\a directory).
    */
    static QString databasePathFor(const QUrl &endpoint, const QString &directory = QString());
    /*!
        The file name databasePathFor() uses for \a endpoint, without creating any folder:
        for readers that must not change anything on disk.
    */
    static QString databaseFileNameFor(const QUrl &endpoint);
    /*! The embedded demo server's own database, "demo-server.sqlite" in the data directory. */
    static QString demoServerPathFor(const QString &directory = QString());
    /*! The form of \a endpoint used to tell endpoints apart (no trailing slash, etc.). */
    static QString normalizedEndpoint(const QUrl &endpoint);

private:
    QUrl m_endpoint;
    QString m_token;
    PagingMode m_paging = PagingMode::Cursor;
    int m_batchSize = SyncSettings::DefaultBatchSize;
    bool m_adaptiveBatchSize = false;
    int m_targetBatchMs = SyncSettings::DefaultTargetBatchMs;
    int m_concurrency = SyncSettings().concurrency;
    QByteArray m_windowGeometry;
    QByteArray m_windowState;
    QByteArray m_splitterState;
    QHash<QString, QByteArray> m_columnStates;
};

} // namespace BatchSync::Ui
