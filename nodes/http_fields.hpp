#pragma once
// The field parsers every HTTP route shares (http_api, http_widgets,
// http_catalog), so an id, a timestamp or a boolean means the same on every
// route. Each returns nullopt for a value it refuses; the caller names the
// field in its 4xx answer.

#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "engine/types.hpp"
#include "nodes/http_server.hpp"

namespace recd::http {

// Plain decimal digits (no sign, no spaces), 0..INT32_MAX: a path segment or a
// query parameter naming a user or an item.
std::optional<std::int32_t> id_text(std::string_view s);

// A JSON id: an integral number (5.0 counts) or a string of digits, 0..INT32_MAX.
std::optional<std::int32_t> id_json(const nlohmann::json& j);

// A JSON timestamp: Unix seconds as a number (a fraction is floored), or any
// text parse_timestamp (http_api.hpp) accepts; within +-1e15 seconds, so it
// converts from double safely. Ranges (not before 1970, not a day ahead) are
// the caller's.
std::optional<unix_seconds> timestamp_json(const nlohmann::json& j);

// The last value of a query parameter (Starlette's QueryParams[key], as the seed).
std::optional<std::string_view> last_param(const request& r, std::string_view key);

// pydantic's boolean words, case-insensitively: true/1/yes/on/t/y, false/0/no/off/f/n.
std::optional<bool> parse_bool(std::string_view s);

} // namespace recd::http
