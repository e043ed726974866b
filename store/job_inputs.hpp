#pragma once
// What an offline job reads from user_behavior (the job driver:
// actors/job_driver_similarity.cpp, actors/job_driver_embeddings.cpp). All
// calls BLOCK and throw on SQL errors (callers wrap them in store::guard).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "config/settings.hpp"
#include "engine/types.hpp"
#include "protocol/messages.hpp"
#include "store/database.hpp"

namespace recd::store {

// Which behaviors a similarity kind reads (its settings section, checked):
// the job driver plans a run from it.
struct similarity_input_spec {
  job_kind kind = job_kind::item_similarity;
  std::vector<behavior_kind> behaviors; // at least one
  std::int32_t window_days = 0;         // 0 = the whole history
  std::int32_t active_days = 0;         // user side: 0 = every user
  std::int32_t min_sales = 0;           // item side: candidates need sales_count above this
  std::int32_t max_items = 0;           // item side: at most this many candidates
};

// ---- A similarity run read by the shards (docs/cluster.md, "Jobs on a cluster") ----
//
// The job driver exports one snapshot and keeps its transaction open until
// every shard has imported it; each shard reads its partitions' rows in that
// snapshot, so all of them see the same data, as one reader would.

// The driver's side: a REPEATABLE READ, READ ONLY transaction on a
// connection of its own (busy until release()), its snapshot exported.
class input_snapshot {
public:
  // BEGINs and exports (pg_export_snapshot). Throws on SQL errors.
  explicit input_snapshot(connection_ptr conn);
  ~input_snapshot();
  input_snapshot(const input_snapshot&) = delete;
  input_snapshot& operator=(const input_snapshot&) = delete;

  // The id other sessions import (SET TRANSACTION SNAPSHOT).
  const std::string& id() const { return id_; }
  // now() - days, as the snapshot's transaction sees it: microseconds since
  // the Unix epoch, exact (what since() compared with in one transaction).
  std::int64_t since(std::int32_t days);
  // The item side's candidates: the best sellers with sales_count > min_sales,
  // at most max_items, ties broken by id; returned ascending.
  std::vector<item_id> candidate_items(std::int32_t min_sales, std::int32_t max_items);
  // now() as the snapshot's transaction sees it, microseconds since the Unix
  // epoch (exact: now() has microsecond precision).
  std::int64_t now_micros();
  // The distinct users and items with a behavior after window_since (0: the
  // whole history), each ascending: the embeddings run's rows. The items are
  // read at the same time on `helper` (a connection of its own, which imports
  // the snapshot): the two scans are each seconds long at 30M behaviors.
  std::pair<std::vector<user_id>, std::vector<item_id>> behavior_ids(std::int64_t window_since,
                                                                     pqxx::connection& helper);
  // Commits (nothing was written) and closes the connection; then id() is
  // no longer importable. Never throws.
  void release();

private:
  struct transaction;
  connection_ptr conn_;
  std::unique_ptr<transaction> tx_;
  std::string id_;
};

// One shard's read: what a similarity_plan names, in the store's terms.
struct partition_input_spec {
  std::string snapshot;                 // checked: [0-9A-F-] only
  bool item_rows = true;                // rows are items (else users)
  std::vector<behavior_kind> behaviors; // at least one
  bool windowed = false;
  std::int64_t window_since = 0;        // microseconds since the Unix epoch
  bool active_only = false;             // user side
  std::int64_t active_since = 0;
  std::vector<item_id> candidates;      // item side: the candidates of the read partitions
  std::vector<std::uint32_t> partitions;
  std::uint32_t count = 0;
};

// In a transaction that imports spec.snapshot, calls pair(row, column) for
// each behavior of spec.behaviors (after window_since if windowed) whose row
// is of spec.partitions: on the item side only the candidates' rows, on the
// user side only users with a behavior after active_since if active_only.
// One call per behavior row, duplicates kept, in no particular order.
// Committed before it returns.
void read_partition_input(pqxx::connection& c, const partition_input_spec& spec,
                          const std::function<void(std::int32_t, std::int32_t)>& pair);

// Creates run `run_id`'s staging table (staging_table(): like the kind's live
// table for a similarity kind; UNLOGGED (is_item, id, embedding REAL[]) keyed
// by (is_item, id) for embeddings), committed.
void create_staging_table(pqxx::connection& c, job_kind kind, std::int64_t run_id);

// One shard's share of an embeddings run: the weighted (user, item) cells
// whose user or item is in one of `partitions` (of `count`), read in the job
// driver's exported snapshot. A cell's weight is the sum of its behaviors'
// weights (`kind_weights`: view, click, cart, buy), each halved every
// half_life_days of age at `now_micros` (> 0; 0 = no decay), over the
// behaviors after window_since (0 = the whole history). The sum is exact, so
// a cell weighs the same whichever shard reads it and in whatever order
// PostgreSQL adds its behaviors: every term is an integer (summed as bigint)
// or a numeric (weights with a fraction, the decay factor), never a float.
struct embedding_input_spec {
  std::string snapshot; // checked: [0-9A-F-] only
  std::int64_t now_micros = 0;
  std::int64_t window_since = 0;
  std::vector<double> kind_weights; // 4, finite
  double half_life_days = 0;
  std::vector<std::uint32_t> partitions;
  std::uint32_t count = 1;
};

// One call per cell, ordered by user then item. Committed before it returns.
void read_embedding_share(pqxx::connection& c, const embedding_input_spec& spec,
                          const std::function<void(user_id, item_id, float)>& cell);

} // namespace recd::store
