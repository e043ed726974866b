#pragma once
// What the admin dashboard (/ui) reads from PostgreSQL beyond /api/stats:
// the recent job runs with their full error text (the admin port is for
// operators; /api/stats shows only the error code) and an item's published
// neighbours. Blocking: called from actors/dashboard_reader only.

#include <cstdint>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace recd::store {

// The newest `limit` rows of job_runs, newest first:
// [{run_id, kind, status, started_at, finished_at, seconds, rows, error}]
// (seconds: up to now for a running run; timestamps as ISO 8601 UTC text).
nlohmann::json job_runs_json(pqxx::connection& c, std::int32_t limit);

// {item: {item_id, title} or null, neighbours: [{item_id, title, score}]}: the
// item's rows of the published item_similarity table (what item CF serves),
// best first, at most `limit`.
nlohmann::json item_neighbours(pqxx::connection& c, std::int64_t item_id, std::int32_t limit);

} // namespace recd::store
