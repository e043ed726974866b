#pragma once
// The data of the cluster suites: a synthetic shop imported into a fresh
// test database (support/test_database.hpp), and the reads they compare
// between two databases (similarity rows, item vectors). Every read is one
// SQL statement on a new connection; counts come back as -1 when the
// statement returned no row.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/types.hpp"
#include "support/test_database.hpp"

namespace recd::test {

struct shop_spec {
  std::int32_t users = 3000; // ids 1..users
  std::int32_t items = 600;  // ids 1..items
  std::int64_t events = 90000;
  std::uint64_t seed = 4242;
};

// A synthetic shop with its timestamps relative to `now` (not the wall clock), so
// two databases imported with the same spec and `now` hold identical rows. Events
// within an hour of the 30-day boundary (user_similarity.active_days) are moved two
// hours newer: jobs run minutes later see the same window contents in both.
// Throws std::runtime_error if the import fails.
void import_shop(const test_database& db, const shop_spec& spec, unix_seconds now);

// The first column of the first row as a number (-1 if there is none).
std::int64_t count(const test_database& db, const std::string& sql);

// The first column of every row.
std::vector<std::int64_t> column(const test_database& db, const std::string& sql);

// (a, b) -> similarity_score of every row of `table`.
std::map<std::pair<int, int>, double> similarity_rows(const test_database& db,
                                                      const std::string& table,
                                                      const std::string& a,
                                                      const std::string& b);

// How the similarity rows of a cluster run differ from those of a one-node run.
struct rows_diff {
  std::size_t only_cluster = 0, only_single = 0, score_differs = 0;
  std::string examples;
  bool same() const { return only_cluster == 0 && only_single == 0 && score_differs == 0; }
};

// Scores differing by more than 1e-9 count as different.
rows_diff compare_rows(const std::map<std::pair<int, int>, double>& cluster_rows,
                       const std::map<std::pair<int, int>, double>& single_rows);

// item_id -> items.embedding, for every item that has one.
std::map<int, std::vector<float>> item_vectors(const test_database& db);

} // namespace recd::test
