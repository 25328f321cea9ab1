#pragma once

#include "common/syncsettings.h"
#include "sources/source.h"

namespace BatchSync {

/*!
    The SourceFactory for \a settings: the source of settings.source, at settings.endpoint,
    with its credentials and timeouts. What an engine uses when it is given no factory.
    Any thread; the factory is called on the engine's worker thread.
*/
SourceFactory sourceFactory(const SyncSettings &settings);

} // namespace BatchSync
