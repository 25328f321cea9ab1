#include "logging.h"

namespace BatchSync {
Q_LOGGING_CATEGORY(lcProtocol, "batchsync.protocol", QtInfoMsg)
Q_LOGGING_CATEGORY(lcStore, "batchsync.store", QtInfoMsg)
Q_LOGGING_CATEGORY(lcEngine, "batchsync.engine", QtInfoMsg)
Q_LOGGING_CATEGORY(lcServer, "batchsync.server", QtInfoMsg)
} // namespace BatchSync
