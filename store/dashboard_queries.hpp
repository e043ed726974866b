#pragma once
// What the admin dashboard (/ui) reads from PostgreSQL beyond /api/stats and
// /admin/jobs: an item's published neighbours. Blocking: called from
// actors/dashboard_reader only.

#include <cstdint>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace recd::store {

// {item: {item_id, title} or null, neighbours: [{item_id, title, score}]}: the
// item's rows of the published item_similarity table (what item CF serves),
// best first, at most `limit`.
nlohmann::json item_neighbours(pqxx::connection& c, std::int64_t item_id, std::int32_t limit);

} // namespace recd::store
