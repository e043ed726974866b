#pragma once
// The HTTP contract of item pages and sessions: pure functions (no I/O) that
// turn a parsed request into a typed query or a 4xx error, by the rules of
// http_api.hpp (ids are plain digits 0..2147483647, a repeated query
// parameter counts with its last value, unknown parameters and fields are
// ignored, 422 messages start with the field's name).
//
//   GET  /api/items/{item_id}/similar?limit=1..100 (10)&category=NAME
//   GET  /api/items/{item_id}/also-bought?limit=1..100 (10)
//   POST /api/recommend   JSON body:
//        {"items": [{"item_id": 7, "behavior_type": "view", "timestamp": ...}, 12, ...],
//         "user_id": 42, "limit": 1..100 (50)}
//        items: 0..100 entries, each an object (behavior_type view|click|cart|buy,
//        default view; timestamp as POST /api/behavior's, default now) or a bare
//        item id (a view now); user_id optional (absent or null: anonymous).

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/types.hpp"
#include "nodes/http_api.hpp"
#include "nodes/http_server.hpp"

namespace recd::http {

enum class item_page { similar, also_bought };

struct item_page_query {
  item_page page = item_page::similar;
  item_id item = 0;
  std::int32_t limit = 10;
  std::string category; // "" = any (similar only)
};

// nullopt if `r.path` is not /api/items/{x}/similar or /also-bought (another
// route's path). A method other than GET is 405; a bad item id, limit or
// category (empty, or longer than 200 bytes) is 422.
std::optional<std::variant<item_page_query, api_error>> parse_item_page(const request& r);

constexpr std::size_t max_session_items = 100;

struct session_item {
  item_id item = 0;
  behavior_kind kind = behavior_kind::view;
  unix_seconds ts = 0;
};

struct session_request {
  std::int32_t user = -1; // < 0: anonymous
  std::vector<session_item> items;
  std::int32_t limit = 50;
};

// POST /api/recommend. A body that is not a JSON object is 400 "malformed
// JSON"; missing or non-array items, more than max_session_items, or a bad
// field is 422. Timestamps default to `now`.
std::variant<session_request, api_error> parse_session(const request& r, unix_seconds now);

} // namespace recd::http
