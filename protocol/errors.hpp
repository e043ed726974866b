#pragma once
// recd's error codes. Errors cross every boundary as values (caf::error with
// category "recd" and a human-readable context message), never as exceptions:
// library exceptions (libpqxx, hiredis, Beast) are converted at the call site.

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace recd {

enum class ec : std::uint8_t {
  unspecified = 1,
  invalid_argument,     // bad input: the request is refused and nothing changes
  not_found,            // unknown item (users are created on first behavior)
  database_unavailable, // cannot connect to PostgreSQL
  database_error,       // a statement or commit failed
  cache_unavailable,    // Redis down or slow (callers degrade, never fail)
  timeout,              // a request to an actor did not answer in time
  shard_unavailable,    // a shard did not answer; callers degrade
  not_ready,            // shards are still loading their state
  job_running,          // another run of the same job holds its lock
  job_failed,           // a job part failed; the run is not published
  import_failed,        // bad input file; nothing was imported
  refused,              // the sender may not send this message (actors/trust.hpp)
  overloaded,           // a bounded queue is full: refused at once, nothing stored; retry later
  history_unavailable,  // neither the user's shard nor PostgreSQL said what the user bought in
                        // time: no recommendation (it might list a bought item); retry later
};

constexpr caf::atom_value error_category = caf::atom("recd");

const char* to_string(ec x);

inline caf::error make_error(ec x, std::string context = {}) {
  return caf::error{static_cast<std::uint8_t>(x), error_category,
                    caf::make_message(std::move(context))};
}

// One line for logs, CLI messages and JSON bodies: "<code>: <context>".
std::string describe(const caf::error& err);

} // namespace recd
