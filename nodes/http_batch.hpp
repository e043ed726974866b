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

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string_view>
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

// True when `r`'s Content-Type names msgpack (application/x-msgpack,
// application/msgpack or application/vnd.msgpack, parameters ignored).
bool is_msgpack(const request& r);

// A msgpack body that stands for a JSON array (a batch route's msgpack form,
// e.g. POST /api/items): the JSON value it stands for, so the route's JSON
// parsing reads it. Maps with string keys become objects, arrays arrays,
// strings, integers, floats, booleans and nil their JSON kin. Refused, 400:
// not an array, malformed or truncated, trailing bytes, a non-string key,
// binary or extension values, a non-finite float, nesting deeper than
// `max_depth` (the array is depth 1, its elements' fields depth 2, ...),
// strings over 64 KiB, maps over 256 keys, inner arrays over `max_elements`;
// 413 more than `max_elements` elements; 422 none. Bounds are set before
// anything is allocated.
std::variant<nlohmann::json, batch_error> msgpack_array_to_json(std::string_view body,
                                                                std::size_t max_elements,
                                                                std::size_t max_depth);

} // namespace recd::http
