#include "logging.h"

namespace BatchSync {
Q_LOGGING_CATEGORY(lcProtocol, "batchsync.protocol", QtWarningMsg)
Q_LOGGING_CATEGORY(lcOData, "batchsync.odata", QtWarningMsg)
Q_LOGGING_CATEGORY(lcStore, "batchsync.store", QtWarningMsg)
Q_LOGGING_CATEGORY(lcEngine, "batchsync.engine", QtWarningMsg)
Q_LOGGING_CATEGORY(lcServer, "batchsync.server", QtWarningMsg)
} // namespace BatchSync
