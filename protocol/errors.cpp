#include "protocol/errors.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace recd {

const char* to_string(ec x) {
  switch (x) {
    case ec::unspecified: return "unspecified";
    case ec::invalid_argument: return "invalid_argument";
    case ec::not_found: return "not_found";
    case ec::database_unavailable: return "database_unavailable";
    case ec::database_error: return "database_error";
    case ec::cache_unavailable: return "cache_unavailable";
    case ec::timeout: return "timeout";
    case ec::shard_unavailable: return "shard_unavailable";
    case ec::not_ready: return "not_ready";
    case ec::job_running: return "job_running";
    case ec::job_failed: return "job_failed";
    case ec::import_failed: return "import_failed";
    case ec::refused: return "refused";
    case ec::overloaded: return "overloaded";
    case ec::history_unavailable: return "history_unavailable";
  }
  return "unknown";
}

std::string describe(const caf::error& err) {
  if (!err)
    return "ok";
  std::string context;
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    context = ctx.get_as<std::string>(0);
  std::string code;
  if (err.category() == error_category)
    code = to_string(static_cast<ec>(err.code()));
  else if (err.category() == caf::atom("system"))
    code = caf::to_string(static_cast<caf::sec>(err.code()));
  else
    code = caf::to_string(err);
  return context.empty() ? code : code + ": " + context;
}

} // namespace recd
