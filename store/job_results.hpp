#pragma once
// Where a job's result goes (sql/004_learned_tables.sql): the similarity
// workers write their rows into the run's staging table, and the job driver
// publishes the run in one transaction (actors/job_driver_similarity.cpp,
// actors/job_driver_embeddings.cpp). All calls BLOCK and throw on SQL errors
// (callers wrap them in store::guard).
//
// Contract of both publishes:
// - They commit only while coordinator term `term` leads (store::fence; 0 =
//   no replicas, no fence): a deposed leader publishes nothing.
// - Users erased since the run read its input (DELETE /api/users/{id}) are
//   not brought back by it: the catalog epoch row is locked until the publish
//   commits (an erasure waits for it and then deletes from the published
//   table), and a user-side similarity run drops the rows of users erased
//   after it started. Embeddings need no drop: they only UPDATE users rows,
//   which an erasure deleted.
// - The run is marked 'published' (store/job_runs.hpp) in the same transaction.

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <pqxx/pqxx>

#include "engine/als.hpp"
#include "protocol/messages.hpp"

namespace recd::store {

// One similarity worker's rows for run `run_id` of `kind`, streamed by COPY
// into the run's staging table (created by read_similarity_input) inside one
// transaction on `c`: nothing is visible until commit(); destroyed without
// commit(), nothing is written.
class staging_rows {
public:
  staging_rows(pqxx::connection& c, job_kind kind, std::int64_t run_id);

  // One row: (item_id, similar_item_id, similarity_score) on the item side,
  // (user_id, similar_user_id, similarity_score) on the user side.
  void add(std::int32_t id, std::int32_t other, double score) {
    // libpqxx writes doubles with enough digits to round-trip exactly.
    out_ << std::make_tuple(id, other, score);
  }

  // Ends the COPY and commits the transaction.
  void commit();

private:
  pqxx::work tx_;
  pqxx::stream_to out_;
};

// Publishes similarity run `run_id` of `kind` with `rows` rows: gives its
// staging table a primary key and ANALYZEs it (outside the transaction), then
// in one transaction swaps it in for the live table by renames (the old table
// dropped) and marks the run published.
void publish_similarity_run(pqxx::connection& c, job_kind kind, std::int64_t run_id,
                            std::int64_t rows, std::int64_t term);

// The factors of an embeddings run: row r of `factors` is the vector of ids[r].
struct embedding_factors {
  const std::vector<std::int32_t>& ids;
  const engine::factor_matrix& factors;
};

// Publishes embeddings run `run_id` in one transaction: every item's and
// user's `embedding` set from the factors, and cleared for the rows the run
// left out (no behavior in its window); the run's row count is the number of
// items.
void publish_embeddings_run(pqxx::connection& c, std::int64_t run_id, std::int64_t term,
                            embedding_factors items, embedding_factors users);

} // namespace recd::store
