// PgServerStore::observeChanges: LISTEN on the triggers' channel, for GET /wait.

#include "common/logging.h"
#include "pgserverstore.h"

#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>

namespace BatchSync {

bool PgServerStore::observeChanges(std::function<void(const QString &entity)> observer)
{
    QSqlDriver *driver = database().driver();
    if (!driver || !driver->hasFeature(QSqlDriver::EventNotifications))
        return false;
    const QString channel = QStringLiteral("batchsync_changes");
    QObject::disconnect(driver, &QSqlDriver::notification, nullptr, nullptr);
    if (!observer) {
        driver->unsubscribeFromNotification(channel);
        return true;
    }
    if (!driver->subscribedToNotifications().contains(channel)
        && !driver->subscribeToNotification(channel)) {
        qCWarning(lcServer) << "cannot LISTEN for changes:" << driver->lastError().text();
        return false;
    }
    QObject::connect(driver, &QSqlDriver::notification, driver,
                     [observer = std::move(observer)](const QString &name,
                                                      QSqlDriver::NotificationSource,
                                                      const QVariant &payload) {
                         if (name == QLatin1String("batchsync_changes"))
                             observer(payload.toString());
                     });
    return true;
}

} // namespace BatchSync
