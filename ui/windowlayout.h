#pragma once

#include <QByteArray>
#include <QHash>
#include <QString>

QT_BEGIN_NAMESPACE
class QSettings;
QT_END_NAMESPACE

namespace BatchSync::Ui {

/*!
    What the window remembers of its layout between launches (the connection settings are
    the profile's, App::Profile). A plain value, kept with QSettings under "layout/...";
    GUI thread.
*/
struct WindowLayout
{
    QByteArray geometry; //!< QWidget::saveGeometry()
    QByteArray windowState; //!< QMainWindow::saveState()
    QByteArray splitterState; //!< QSplitter::saveState()
    /*! The data view's column layout, per entity (QHeaderView::saveState()). */
    QHash<QString, QByteArray> columnStates;

    /*! Reads from \a settings; absent values stay empty. */
    static WindowLayout load(const QSettings &settings);
    /*! Reads from the application's default QSettings. */
    static WindowLayout load();
    void save(QSettings &settings) const;
    /*! Writes to the application's default QSettings. */
    void save() const;
};

} // namespace BatchSync::Ui
