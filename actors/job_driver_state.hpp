#pragma once
// The job driver's state and the steps it is made of, shared by its files:
//   job_driver.cpp             the actor: its messages, shards and workers going down
//   job_driver_runs.cpp        a run's bookkeeping: lock and record, progress,
//                              failure, success
//   job_driver_similarity.cpp  the similarity kinds: the plan (snapshot,
//                              candidates, options), the shards' read,
//                              exchange and work, publishing
//   job_driver_embeddings.cpp  the embeddings kind: the plan, the ALS
//                              half-steps the shards' workers run among
//                              themselves, publishing from their staging
// (actors/job_driver.hpp has the contract; the SQL is in store/job_runs.hpp,
// store/job_inputs.hpp and store/job_results.hpp.)

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/bulk_sender.hpp"
#include "config/settings.hpp"
#include "engine/als.hpp"
#include "protocol/interfaces.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/job_inputs.hpp"

namespace recd::job_driving {

using clock = std::chrono::steady_clock;
inline constexpr auto part_timeout = std::chrono::seconds{86400};

struct driver_state {
  static inline const char* name = "job_driver";
  settings cfg;
  std::int64_t term = 0; // the coordinator term that runs this driver (0: no fence)
  std::vector<shard_actor> shards;
  std::vector<std::string> shard_addresses; // shards[k]'s actor address, "" for a local shard
  std::string url;                  // postgres.url (the snapshot's own connection)
  store::lazy_connection db{""};
  pqxx::connection* conn = nullptr; // db's connection during a run
  // The run in progress.
  job_kind kind = job_kind::item_similarity;
  std::int64_t run_id = 0;
  std::string staging; // the run's staging table until published ("" = none)
  run_progress_sink listener;
  clock::time_point started;
  clock::time_point last_report;
  std::uint64_t total = 0;
  std::map<caf::actor_addr, part_progress> progress;
  caf::typed_response_promise<job_summary> promise;
  bool active = false; // a run is in progress (its promise is pending)

  // Replies from shards that belong to an earlier, already finished run are ignored.
  bool is_current(std::int64_t run) const { return active && run == run_id; }
  // Progress comes from the workers of the running job: only
  // the nodes of its shards (or this node) may send them.
  bool from_a_shard_node(caf::local_actor* self) const {
    const auto& src = self->current_sender();
    if (!active || !src)
      return false;
    if (src->node() == self->node())
      return true;
    return std::any_of(shards.begin(), shards.end(),
                       [&](const shard_actor& s) { return s && s.node() == src->node(); });
  }
  // Similarity and embeddings runs: the exported snapshot until every shard
  // imported it (embeddings: until every worker solved once), and the
  // similarity shards' workers until the run ends.
  std::unique_ptr<store::input_snapshot> snapshot;
  std::vector<similarity_worker_actor> similarity_workers;
  // Embedding runs: the plan (the run's rows; the factors stay with the
  // workers) and the workers, with their shards' addresses.
  embedding_task emb;
  std::vector<embedding_worker_actor> workers;
  std::vector<std::string> worker_addresses;
  std::int32_t iteration = 0;

  // ---- run bookkeeping (job_driver_runs.cpp) ----------------------------------

  // Progress to the telemetry, and to the listener at most twice a second
  // (always when `force`).
  void report(std::uint64_t done, std::uint64_t rows, bool force = false);

  // Takes the kind's lock and records the run (store::start_run). Blocking.
  caf::error begin();

  // Marks the run failed, drops its staging table, releases the lock, stops
  // the workers and answers the promise with `err`.
  void fail(const caf::error& err);

  // Releases the kind's lock.
  void unlock();

  // Releases the lock and answers the promise with the run's summary.
  void succeed(std::uint64_t inputs, std::uint64_t rows);
};

using driver_actor = job_driver_actor::stateful_base<driver_state>;

// The error handler of one step that asks every worker: the first error
// fails the run `run` (if it is still the current one) and sets `failed`,
// which the step's answer handlers read; later errors change nothing.
inline auto step_failure(driver_actor* self, std::shared_ptr<bool> failed, std::int64_t run) {
  return [=](caf::error& err) {
    if (!*failed && self->state.is_current(run)) {
      *failed = true;
      self->state.fail(err);
    }
  };
}

// Runs the similarity kind st.kind after begin() (job_driver_similarity.cpp).
void run_similarity(driver_actor* self);

// Runs the embeddings kind after begin() (job_driver_embeddings.cpp).
void run_embeddings(driver_actor* self);

} // namespace recd::job_driving
