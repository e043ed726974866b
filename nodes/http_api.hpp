#pragma once
// recd's HTTP contract: pure functions (no I/O) that turn a parsed request
// into a typed command or a 4xx error. The rules follow the FastAPI app recd
// replaces, so its clients keep working:
//   * ids are base-10 integers 0..2147483647 written as plain digits;
//   * a query parameter given twice counts with its LAST value (Starlette);
//   * booleans accept pydantic's words, case-insensitively:
//     true/false, 1/0, yes/no, on/off, t/f, y/n;
//   * unknown query parameters are ignored;
//   * validation failures are 422 with a message that starts with the field name.

#include "engine/types.hpp"
#include "nodes/http_server.hpp"
#include "protocol/messages.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace recd::http {

struct api_error {
  unsigned status;
  std::string message;
};

// The JSON error reply for `e`: {"error": message, "status": status}.
response error_response(const api_error& e);

// GET /api/recommend/{user_id}?limit=&use_cache=&category=&exclude=&offset=&exclude_seen=
struct recommend_query {
  user_id user = 0;
  std::int32_t limit = 50;
  bool use_cache = true;
  recommend_filter filter;  // docs/rules.md
};

// `r.path` is e.g. "/api/recommend/42"; the caller routes by the prefix
// "/api/recommend/" (a path without it is read from its last '/'). An empty
// id or extra segments are 404; a bad user_id, limit (1..100) or use_cache is 422.
// The filters (422 naming the parameter when bad):
//   category      1..limits::max_category bytes, no control characters;
//                 only items in this category (exact match);
//   exclude       item ids separated by commas ("4,8,15"), at most
//                 limits::max_request_exclude, repeats allowed; never shown;
//   offset        0..limits::max_offset: the page starts after this many items;
//   exclude_seen  a boolean: overrides recommend.exclude_seen for this request.
// An empty category or exclude counts as absent.
std::variant<recommend_query, api_error> parse_recommend(const request& r);

// POST /api/behavior
struct behavior_command {
  behavior_event event;
  bool has_timestamp = false; // event.ts is valid only if set
  std::string event_id;       // the client's idempotency key, "" = none
};

// Accepts the old form (query params user_id, item_id, behavior_type) and the
// JSON body {"user_id", "item_id", "behavior_type", "timestamp"?}; a field in
// the body wins over the same query param (a JSON null counts as absent).
// A body that is not only whitespace must be a JSON object, else 400
// "malformed JSON". Ids: non-negative, fit int32; JSON numbers must be
// integral (5.0 is fine, 5.5 is not), a string of digits is also accepted.
// behavior_type: exactly view/click/cart/buy. timestamp (body or query):
// a JSON number or any text parse_timestamp() accepts; rejected (422) when
// before 1970 or more than one day after `now`.
// event_id (optional idempotency key): the JSON field "event_id", else the
// query parameter event_id, else the Idempotency-Key header; 1..128 printable
// ASCII characters (0x20..0x7E), a JSON string; anything else is 400.
std::variant<behavior_command, api_error> parse_behavior(const request& r, unix_seconds now);
std::variant<behavior_command, api_error> parse_behavior(const request& r); // now = system clock

// One event of a batch (POST /api/behaviors): a JSON object with the body
// fields above, the same rules and messages; no query parameters, no header.
// Anything but an object is 422 "must be an object".
std::variant<behavior_command, api_error> parse_behavior_object(const nlohmann::json& event,
                                                                unix_seconds now);

// engine::parse_timestamp (the parser the CSV importer uses, so both accept
// the same text) after trimming surrounding whitespace:
//   * Unix seconds: "1714564800", "1714564800.75" (fractions are floored),
//     optionally signed;
//   * ISO-8601 date and time: "2024-05-01T12:00:00Z", "2024-05-01T12:00:00+02:00",
//     "2024-05-01 12:00:00" (no zone = UTC), seconds and fractions optional
//     ("2024-05-01T12:00", "2024-05-01T12:00:00.123456"), zones Z, ±HH:MM,
//     ±HHMM or ±HH; 'T' or ' ' between date and time;
//   * a bare date "2024-05-01" (midnight UTC).
// Returns nullopt for anything else, including impossible dates and times and
// years outside 0001..9999.
std::optional<unix_seconds> parse_timestamp(std::string_view text);

} // namespace recd::http
