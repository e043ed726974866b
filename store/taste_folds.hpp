#pragma once
// What a shard folds into the vectors of its items that have no published
// embedding when it loads them or installs a published embeddings run
// (actors/shard_loader.cpp): the behaviors on those items by users who have a
// published embedding, in row-id order, each with that embedding. The live
// path folds the same behaviors as they come (actors/api_fold.cpp).

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "engine/types.hpp"

namespace recd::store {

// Calls `row(item, kind, user, user_embedding)` (the embedding as PostgreSQL's
// array text) for every behavior with id <= max_row (all if max_row < 0) on an
// item of `partitions` (of `count`) whose embedding is NULL, by a user whose
// embedding is not, in row-id order.
void read_unpublished_behaviors(
  pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions, std::uint32_t count,
  std::int64_t max_row,
  const std::function<void(item_id, behavior_kind, user_id, std::string_view)>& row);

} // namespace recd::store
