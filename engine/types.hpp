#pragma once
// Domain vocabulary shared by every layer: ids, behavior kinds, partitions.
// Pure C++, no CAF, no database.

#include <cstdint>
#include <optional>
#include <string_view>

namespace recd {

using user_id = std::int32_t; // PostgreSQL INT, like the seed's schema
using item_id = std::int32_t;
using unix_seconds = std::int64_t;

// What a user did with an item, in funnel order. The numeric values are part
// of the wire protocol: never reorder.
enum class behavior_kind : std::uint8_t { view = 0, click = 1, cart = 2, buy = 3 };

constexpr std::string_view to_string(behavior_kind k) {
  switch (k) {
    case behavior_kind::view: return "view";
    case behavior_kind::click: return "click";
    case behavior_kind::cart: return "cart";
    case behavior_kind::buy: return "buy";
  }
  return "view";
}

// Exact, case-sensitive names as stored in user_behavior.behavior_type.
constexpr std::optional<behavior_kind> parse_behavior_kind(std::string_view s) {
  if (s == "view") return behavior_kind::view;
  if (s == "click") return behavior_kind::click;
  if (s == "cart") return behavior_kind::cart;
  if (s == "buy") return behavior_kind::buy;
  return std::nullopt;
}

// One row of user_behavior.
struct behavior_event {
  user_id user = 0;
  item_id item = 0;
  behavior_kind kind = behavior_kind::view;
  unix_seconds ts = 0;
};

// Users and items hash into a fixed number of virtual partitions, fixed at
// `recd migrate` time. The hash is `id mod partitions` (ids are non-negative)
// so that SQL can select a partition's rows with `id % P = ANY(...)`.
constexpr std::uint32_t partition_of(std::int32_t id, std::uint32_t partitions) {
  return static_cast<std::uint32_t>(id) % partitions;
}

} // namespace recd
