#include "sourcefactory.h"

#include "sources/odata/odatasource.h"
#include "sources/protocol/protocolclient.h"

namespace BatchSync {

SourceFactory sourceFactory(const SyncSettings &settings)
{
    switch (settings.source) {
    case SourceKind::OData:
        return ODataSource::factory(settings);
    case SourceKind::Protocol:
        break;
    }
    return ProtocolClient::factory(settings);
}

} // namespace BatchSync
