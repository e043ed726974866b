#pragma once
// Where a job's result goes (sql/004_learned_tables.sql): the similarity and
// embedding workers write their rows into the run's staging table, and the job driver
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
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include <pqxx/pqxx>

#include "engine/als.hpp"
#include "protocol/messages.hpp"

struct pg_conn; // libpq's PGconn

namespace recd::store {

// One worker's rows for run `run_id` of `kind`, streamed by COPY
// into the run's staging table (created by create_staging_table) inside one
// transaction on a connection of its own to `url`: nothing is visible until
// commit(); destroyed without commit(), nothing is written (the connection
// closes with the transaction open).
//
// Rows go in COPY's binary format (int4, int4, float8), formatted here and
// sent in blocks: libpqxx's text COPY formatted every double with printf,
// escaped every field and sent each row in a message of its own (about 4% of
// a 30M-event job set's recd CPU), and the server then parsed the text back
// (a binary COPY of 5M rows took 0.92 s of the server against 1.48 s as
// text, docs/benchmarks.md). The score is stored bit for bit.
class staging_rows {
public:
  // Throws pqxx::broken_connection if the server cannot be reached, and
  // std::runtime_error if it refuses the COPY.
  staging_rows(const std::string& url, job_kind kind, std::int64_t run_id);

  // One row of a similarity kind: (item_id, similar_item_id,
  // similarity_score) on the item side, (user_id, similar_user_id,
  // similarity_score) on the user side.
  void add(std::int32_t id, std::int32_t other, double score);

  // One row of an embeddings run (job_kind::embeddings): the factors of item
  // (`item`) or user `id`, stored bit for bit as REAL[].
  void add_vector(bool item, std::int32_t id, std::span<const float> factors);

  // Ends the COPY and commits the transaction. Throws std::runtime_error if
  // the server refuses either (then nothing is written).
  void commit();

private:
  void send();                 // the block, as one CopyData message
  void command(const char* sql); // a statement without rows, or throws

  // The libpq connection, closed (PQfinish) with this object, which rolls
  // back a transaction still open.
  std::unique_ptr<pg_conn, void (*)(pg_conn*)> conn_;
  std::string block_;            // rows not yet sent
};

// Publishes similarity run `run_id` of `kind` with `rows` rows: gives its
// staging table a primary key and ANALYZEs it (outside the transaction), then
// in one transaction swaps it in for the live table by renames (the old table
// dropped) and marks the run published.
void publish_similarity_run(pqxx::connection& c, job_kind kind, std::int64_t run_id,
                            std::int64_t rows, std::int64_t term);

// Publishes embeddings run `run_id` from its staging table (the workers'
// rows, staging_rows::add_vector) in one transaction: every item's and
// user's `embedding` set from the staged rows, and cleared for the rows the
// run left out (no behavior in its window); the staging table is dropped and
// the run's row count is `items`, the number of items it computed.
void publish_embeddings_run(pqxx::connection& c, std::int64_t run_id, std::int64_t term,
                            std::int64_t items);

} // namespace recd::store
