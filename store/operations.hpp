#pragma once
// The reads behind the admin port's operator commands (recd admin jobs,
// recd admin check), /api/stats (the run watcher) and recd eval's check of
// an empty database. Blocking: call them from a detached actor or a CLI.

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace recd::store {

// One row of job_runs, newest first. `error` is the full text (the admin port
// is for operators; /api/stats shows the code only).
struct job_run_row {
  std::int64_t run_id = 0;
  std::string kind, status, started_at, finished_at; // timestamps as PostgreSQL prints them
  std::int64_t rows = 0;
  double seconds = 0; // finished - started (or now - started while running)
  std::string error;
};

// The newest `limit` runs of every kind.
std::vector<job_run_row> recent_job_runs(pqxx::connection& c, int limit);

// Runs per (kind, status) over the whole table.
struct job_run_count {
  std::string kind, status;
  std::int64_t runs = 0;
};
std::vector<job_run_count> job_run_counts(pqxx::connection& c);

// What the shards should hold, per partition (index = partition, `partitions`
// entries): users as a shard loads them (every user with a behavior or a row
// in user_similarity) and items (rows of items).
struct partition_counts {
  std::vector<std::uint64_t> users, items;
};
partition_counts count_by_partition(pqxx::connection& c, std::uint32_t partitions);

// The figures of /api/stats (the seed's names), in one read-only transaction.
struct shop_stats {
  std::int64_t users = 0, items = 0;
  std::int64_t behaviors_24h = 0;            // behaviors with a timestamp in the last day
  std::int64_t item_pairs = 0, user_pairs = 0; // rows of item_similarity, user_similarity
  struct last_run {
    job_run_row run;
    double finished_unix = 0; // 0 while running
  };
  std::vector<last_run> last_runs; // the newest run of every kind, by kind
};
shop_stats read_shop_stats(pqxx::connection& c);

// The rows of user_behavior; 0 when the table does not exist yet (before migrate).
std::int64_t stored_behaviors(pqxx::connection& c);

} // namespace recd::store
