#include "reachability.h"

#include "common/logging.h"

#include <QNetworkInformation>

namespace BatchSync {

NetworkReachability::NetworkReachability(QObject *parent)
    : QObject(parent)
{
    using Reachability = QNetworkInformation::Reachability;
    if (!QNetworkInformation::instance()
        && !QNetworkInformation::loadBackendByFeatures(QNetworkInformation::Feature::Reachability))
        return;
    QNetworkInformation *information = QNetworkInformation::instance();
    m_available = true;
    m_online = information->reachability() != Reachability::Disconnected;
    connect(information, &QNetworkInformation::reachabilityChanged, this,
            [this](Reachability reachability) {
                const bool online = reachability != Reachability::Disconnected;
                if (online == m_online)
                    return;
                m_online = online;
                qCInfo(lcEngine) << "the network is" << (online ? "back" : "gone");
                if (online)
                    Q_EMIT networkBack();
            });
}

NetworkReachability::~NetworkReachability() = default;

} // namespace BatchSync
