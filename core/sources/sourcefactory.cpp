#include "sourcefactory.h"

#include "sources/protocol/protocolclient.h"

namespace BatchSync {

SourceFactory sourceFactory(const SyncSettings &settings)
{
    switch (settings.source) {
    case SourceKind::Protocol:
    case SourceKind::OData:
        break;
    }
    return ProtocolClient::factory(settings);
}

} // namespace BatchSync
