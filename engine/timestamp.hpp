#pragma once
// Parsing of the timestamps users hand to recd (import files, HTTP bodies).
// Pure C++, no I/O.

#include <optional>
#include <string_view>

#include "engine/types.hpp"

namespace recd::engine {

// Accepted forms (the whole string must match; callers trim whitespace):
//   Unix seconds:  "1714564800", "-86400", "1714564800.75" (a fraction is
//                  truncated toward the earlier second);
//   ISO-8601:      "2024-05-01T12:00:00Z", "2024-05-01T12:00:00+02:00",
//                  "2024-05-01T12:00:00.250-0530", "2024-05-01 12:00:00"
//                  (no zone = UTC), "2024-05-01T12:00" (no seconds),
//                  "2024-05-01" (midnight UTC). 'T' may be a space or 't',
//                  'Z' may be 'z'; the zone is Z, +HH, +HHMM or +HH:MM.
// Results are limited to years 0001..9999 (what PostgreSQL and ISO-8601's
// four-digit years can represent) and fields must be in range (no 24:00 or
// leap seconds, no 2023-02-29). Anything else gives std::nullopt.
std::optional<unix_seconds> parse_timestamp(std::string_view text);

// The range parse_timestamp returns: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
inline constexpr unix_seconds min_timestamp = -62135596800;
inline constexpr unix_seconds max_timestamp = 253402300799;

} // namespace recd::engine
