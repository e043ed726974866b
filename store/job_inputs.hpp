#pragma once
// What an offline job reads from user_behavior (the job driver:
// actors/job_driver_similarity.cpp, actors/job_driver_embeddings.cpp). All
// calls BLOCK and throw on SQL errors (callers wrap them in store::guard).

#include <cstdint>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "config/settings.hpp"
#include "engine/types.hpp"
#include "protocol/messages.hpp"

namespace recd::store {

// Which behaviors a similarity kind reads (its settings section, checked).
struct similarity_input_spec {
  job_kind kind = job_kind::item_similarity;
  std::vector<behavior_kind> behaviors; // at least one
  std::int32_t window_days = 0;         // 0 = the whole history
  std::int32_t active_days = 0;         // user side: 0 = every user
  std::int32_t min_sales = 0;           // item side: candidates need sales_count above this
  std::int32_t max_items = 0;           // item side: at most this many candidates
};

// Creates run `run_id`'s staging table (staging_table(), like the kind's live
// table) and reads the run's input in the same transaction, committed before
// it returns (on a throw neither exists). The input: (row, column) pairs of
// the behaviors of spec.behaviors in the window, rows being items on the item
// side (only the candidates: the best sellers with sales_count > min_sales,
// at most max_items, ties broken by id) and users on the user side (only
// those with a behavior in the last active_days, if > 0); one pair per
// behavior row, duplicates kept, in no particular order.
std::vector<std::pair<std::int32_t, std::int32_t>>
read_similarity_input(pqxx::connection& c, const similarity_input_spec& spec, std::int64_t run_id);

// The embeddings job's input: one weighted (user, item) cell per pair with a
// behavior in the window, ordered by user then item.
struct weighted_interactions {
  std::vector<std::int32_t> users, items;
  std::vector<float> weights;
};

// The cells' weights: the sum of the behaviors' weights (recommend's
// view/click/cart/buy weights), each halved every embedding.half_life_days
// of age (> 0; 0 = no decay), over embedding.window_days (0 = the whole
// history). One transaction, committed.
weighted_interactions read_embedding_input(pqxx::connection& c, const embedding_settings& e,
                                           const recommend_settings& w);

} // namespace recd::store
