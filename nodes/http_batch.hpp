#pragma once
// POST /api/behaviors bodies: many events of POST /api/behavior in one
// request. Pure functions (no I/O), like http_api.hpp, and fuzzed
// (tests/fuzz/http_batch.cpp).
//
// The body is, by Content-Type:
//   * application/json (or none): a JSON array of event objects;
//   * application/x-msgpack (or application/msgpack): a msgpack array of maps
//     with string keys, decoded with msgpack-cxx.
// Each event has POST /api/behavior's body fields and rules (user_id, item_id,
// behavior_type, timestamp?, event_id?; http_api.hpp): msgpack integers,
// floats, strings and nil stand for the JSON ones; unknown keys are ignored.
// A missing timestamp is `now`.
//
// Errors (nothing is stored for any of them):
//   400 malformed JSON / msgpack (also trailing bytes, non-array top level,
//       nesting deeper than an event's fields);
//   413 more than `max_events` events;
//   415 another Content-Type;
//   422 no events; an event that is not an object (map);
//   4xx of the first bad event (400 event_id, 422 the other fields), its
//       message prefixed "events[i]: " and `index` = i.

#include "engine/types.hpp"
#include "nodes/http_server.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace recd::http {

struct behavior_batch {
  std::vector<behavior_event> events;
  std::vector<std::string> event_ids; // per event, "" = none
};

struct batch_error {
  unsigned status;
  std::string message;
  std::optional<std::size_t> index; // the offending event, if one is to blame
};

// {"error": message, "status": status, "index": i (if any)}.
std::string batch_error_json(const batch_error& e);

std::variant<behavior_batch, batch_error> parse_behavior_batch(const request& r, unix_seconds now,
                                                               std::size_t max_events);

} // namespace recd::http
