#pragma once
// Request validation for the catalog routes (nodes/gateway_catalog.cpp): pure
// functions (no I/O) that turn a request into typed writes or a 4xx error.
//
//   PUT    /api/items/{id}   create or replace: {"title" (required), "categories",
//                            "price", "labels", "hidden", "available_from",
//                            "available_until"}; absent optional fields take their
//                            defaults ([], 0, [], false, unbounded)
//   PATCH  /api/items/{id}   the same fields, each optional (at least one): only
//                            those given change
//   POST   /api/items        a JSON array of PUT objects, each with its "item_id":
//                            all or nothing; an error names the element's index
//   PUT    /api/users/{id}   {"labels": [...]}
// Fields: title a string of at most limits::max_title bytes; categories and
// labels arrays of strings (categories may also be integers, kept as their
// decimal text), each 1..limits::max_tag bytes, no control characters, no
// repeats, at most limits::max_categories / max_labels; price a number in
// 0..99999999.99; hidden a boolean; available_from / available_until unix
// seconds (a number) or a timestamp text parse_timestamp() accepts, null or
// 0 = unbounded, until after from. "item_id" in a PUT or PATCH body must
// equal the path's. Any other field is refused (422), so a misspelt field
// never silently does nothing. A body that is not JSON is 400.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "nodes/http_api.hpp"
#include "nodes/http_server.hpp"
#include "protocol/messages.hpp"

namespace recd::http {

// The id in "/api/items/{id}" or "/api/users/{id}" after `prefix`; 404 for a
// missing id or extra segments, 422 for an id that is not 0..2147483647.
std::variant<std::int32_t, api_error> parse_catalog_id(const request& r, std::string_view prefix,
                                                       std::string_view field);

// One item object (a parsed JSON value) as a write of `mode`. `id`: the
// path's id, or -1 when the object must carry its own "item_id" (a batch
// element). Error messages start with the field name; `where` prefixes them
// (e.g. "items[3]."). Reusable by other body encodings (msgpack decodes to
// the same JSON value).
std::variant<item_write, api_error> parse_item_object(const nlohmann::json& j, std::int32_t id,
                                                      item_write_mode mode,
                                                      const std::string& where = "");

// PUT or PATCH /api/items/{id} (mode put or patch).
std::variant<item_write, api_error> parse_item_request(const request& r, std::int32_t id,
                                                       item_write_mode mode);

// POST /api/items with a JSON array body (1..limits::max_item_batch objects;
// an item id at most once).
std::variant<std::vector<item_write>, api_error> parse_item_batch(const request& r);

// PUT /api/users/{id}: {"labels": [...]} (labels required).
std::variant<std::vector<std::string>, api_error> parse_user_labels(const request& r);

// The JSON of an item as GET /api/items/{id} shows it (times as unix seconds,
// null when unbounded).
std::string item_json(const item_details& d);

} // namespace recd::http
