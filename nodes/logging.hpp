#pragma once
// recd's log lines (log.format, log.level): one line per event on stdout, in
// a stable format whatever the message holds (line breaks in a driver's error
// text are escaped, never split the line).
//   text  2026-11-27T04:57:14.123Z warn request 9c0d... GET /api/stats failed: 503 ...
//   json  {"ts":"2026-11-27T04:57:14.123Z","level":"warn","msg":"request 9c0d..."}
// The time is UTC with milliseconds; levels are spdlog's names (trace, debug,
// info, warn, error, critical).

#include <memory>
#include <string>

#include <spdlog/formatter.h>

#include "config/settings.hpp"

namespace recd {

// The formatter of one format ("text" or "json"); exposed for the tests.
std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& format);

// Applies log.format and log.level to spdlog's default logger.
void configure_logging(const log_settings& log);

} // namespace recd
