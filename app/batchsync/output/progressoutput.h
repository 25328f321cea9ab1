#pragma once

namespace BatchSync {

/*! How `batchsync --headless` (and `--status`) report what they do. */
enum class ProgressOutput {
    Live, //!< a per-entity display redrawn in place on standard error (a terminal)
    Plain, //!< state changes and periodic progress lines on standard error
    Json, //!< one JSON object per line on standard output, nothing on standard error
    Quiet //!< errors only, on standard error
};

} // namespace BatchSync
