#pragma once
// A deterministic synthetic shop: a product catalog and a behavior log with the
// shape of real e-commerce traffic, for demos, benchmarks and tests.
// Pure C++, no I/O.
//
// What it models:
//  - categories and brands; every item has one of each and a title
//    "<Brand> <category noun> <model>", a log-normal price per category and a
//    rating in 1.00..5.00;
//  - Zipf-like item popularity, overall and inside each category;
//  - users with 1-3 preferred categories (most of their events land there) and
//    power-law activity (a few heavy users, many light ones);
//  - sessions walking the funnel view -> click -> cart -> buy: about 35% of
//    views are clicked, 30% of clicks carted, 50% of carts bought, and every
//    click/cart/buy follows the same user's view of the same item in the same
//    session by a few minutes.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/types.hpp"

namespace recd::engine {

struct synthetic_options {
  std::int32_t users = 10000; // user ids 1..users
  std::int32_t items = 2000;  // item ids 1..items
  std::int64_t events = 200000;
  std::uint64_t seed = 1;
  std::int32_t categories = 40; // category ids 0..categories-1
  std::int32_t brands = 300;    // brand ids 0..brands-1
  // Newest possible timestamp. store::import_synthetic takes 0 as the start
  // of the current UTC day: the traffic shape follows the UTC hour, so a
  // `now` at a fixed time of day makes the same seed the same shop (relative
  // to `now`) whenever it is generated.
  unix_seconds now = 0;
  std::int32_t days = 90;       // timestamps lie in (now - days*86400, now]
};

struct catalog_item {
  item_id id;
  std::string title;
  double price;  // 1.00..2000.00, whole cents
  double rating; // 1.00..5.00, two decimals
  std::int32_t category;
  std::int32_t brand;
};

struct synthetic_shop {
  std::vector<catalog_item> items; // ordered by id, ids 1..items
  std::vector<behavior_event> events;
};

// Why the options cannot be generated (e.g. "users must be at least 1"), or
// std::nullopt when they are valid: users, items, categories, brands and
// days >= 1, events >= 0, and the time window within the years 0001..9999.
std::optional<std::string> check_options(const synthetic_options& opt);

// Generates the shop for valid options (invalid counts are raised to 1).
// Deterministic: the same options give identical output (only std::mt19937_64
// and hand-written distributions are used). Exactly opt.events events, sorted
// by timestamp; timestamps are whole seconds in the window, and a click, cart
// or buy is always strictly later than the view (and earlier steps) it
// follows; the last session is cut to a time prefix, so no step loses its view.
synthetic_shop generate_shop(const synthetic_options& opt);

} // namespace recd::engine
