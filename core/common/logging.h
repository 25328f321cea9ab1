#pragma once

#include <QLoggingCategory>

/*!
    \file logging.h
    One logging category per module; enable with QT_LOGGING_RULES, e.g.
    QT_LOGGING_RULES="batchsync.engine.debug=true".
*/

namespace BatchSync {
Q_DECLARE_LOGGING_CATEGORY(lcProtocol) // batchsync.protocol
Q_DECLARE_LOGGING_CATEGORY(lcOData) // batchsync.odata
Q_DECLARE_LOGGING_CATEGORY(lcStore) // batchsync.store
Q_DECLARE_LOGGING_CATEGORY(lcEngine) // batchsync.engine
Q_DECLARE_LOGGING_CATEGORY(lcServer) // batchsync.server
} // namespace BatchSync
