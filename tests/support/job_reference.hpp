#pragma once
// A one-node run of a job kept aside as the reference a cluster run must equal
// (the cluster suites: a run redone after a shard or a leader died, a run over
// many shards).

#include <cstdint>
#include <string>
#include <vector>

#include "support/test_database.hpp"

namespace recd::test {

// Runs `recd compute --shards 1 --jobs user_neighbours` on `db` and copies the
// published table to reference_user_neighbours; its row count. Throws
// std::runtime_error (with the command's output) if the run fails.
std::int64_t keep_one_node_user_neighbours(const test_database& db);

// Rows in which user_neighbours and reference_user_neighbours differ (a pair
// in one only, or a score apart by more than 1e-9).
std::int64_t user_neighbours_differences(const test_database& db);

// The four similarity kinds' tables, in `recd compute --jobs` order.
extern const char* const similarity_kinds[4];

// Runs `recd compute --shards 1` of the four similarity kinds on `db` and
// copies each published table to reference_<table>; the rows of each, in
// similarity_kinds order. Throws std::runtime_error like the above.
std::vector<std::int64_t> keep_one_node_similarity(const test_database& db);

// Rows in which `table` and reference_<table> differ (a pair in one only, or
// a score apart by more than 1e-9).
std::int64_t similarity_differences(const test_database& db, const std::string& table);

// Runs `recd compute --shards 1 --jobs embeddings` on `db` and copies the
// published vectors of items and users to reference_item_embeddings and
// reference_user_embeddings; the number of item vectors. Throws
// std::runtime_error like the above.
std::int64_t keep_one_node_embeddings(const test_database& db);

// How the published embeddings differ from the kept reference: rows whose
// vector is in one only or of another length, and the largest difference of
// one value (items and users together).
struct embedding_difference {
  std::int64_t mismatched = 0;
  double largest = 0;
};
embedding_difference embeddings_differences(const test_database& db);

} // namespace recd::test
