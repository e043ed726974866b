#pragma once
// Internal to the shard actor (shard.cpp and the files of its handlers): its
// state and the steps its handlers are made of. Not part of the protocol;
// nothing else includes it.
//   shard.cpp             the actor: trust, serving requests, item pages
//   shard_partitions.cpp  the partition lifecycle: load, land, drop, own, flip
//   shard_events.cpp      committed events, single and batched, and folds
//   shard_jobs.cpp        published runs reloaded, job tasks run here
// (actors/shard.hpp has the contract; actors/shard_state.hpp the plain state.)

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include <caf/all.hpp>

#include "actors/embedding_worker.hpp"
#include "actors/shard.hpp"
#include "actors/shard_loader.hpp"
#include "actors/shard_state.hpp"
#include "protocol/bulk.hpp"
#include "protocol/errors.hpp"
#include "protocol/interfaces.hpp"
#include "protocol/type_ids.hpp"

namespace recd::shard_detail {

inline unix_seconds unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline constexpr auto load_timeout = std::chrono::seconds{7200};
// How often a shard reads the catalog changes a push did not bring.
inline constexpr auto catalog_poll_interval = std::chrono::seconds{2};
inline constexpr auto job_timeout = std::chrono::seconds{86400};
// Committed events held for partitions being loaded. Beyond this many, new
// ones are not held: the flip's catch-up reads them back from PostgreSQL.
inline constexpr std::size_t max_pending = 100000;

struct pending_event {
  behavior_event event;
  std::int64_t id;
  std::vector<float> item_vec; // the item's embedding; a fold's: the user's taste
  bool user_side;
  bool fold = false; // item side: fold item_vec into the item's vector
};

struct shard_actor_state {
  static inline const char* name = "shard";
  explicit shard_actor_state() : data(recommend_settings{}) {}
  std::uint32_t index = 0;
  std::string url;
  recommend_settings cfg;
  shard_state data;
  shard_loader_actor loader;
  std::uint32_t partition_count = 0;
  bool ready = false; // the first load finished
  // Held partitions (served and used by jobs), each with the epoch of the map
  // it was loaded for: a drop computed at an older epoch leaves it alone.
  std::map<std::uint32_t, std::uint64_t> held;
  // Partitions being loaded, and the committed events for them that arrived
  // meanwhile (API nodes send a moving partition's events to old and new owner).
  std::set<std::uint32_t> incoming;
  std::vector<pending_event> pending;
  // Held partitions that recall leaves out, so that each partition's items
  // are recalled by exactly one shard: loaded but not flipped to this shard
  // yet, or flipped away but not dropped yet.
  std::set<std::uint32_t> standby;
  // Since the last load and until the flip's catch-up: which partitions
  // landed, the floor of their snapshots, and the events known to be applied.
  std::vector<std::uint32_t> landed;
  std::int64_t landed_floor = -1;
  std::unordered_set<std::int64_t> known_user, known_item; // per side of an event
  bulk_inbox inbox;                                        // job inputs arriving in chunks
  // The similarity run in progress here (its worker takes the peers' pieces),
  // and the nodes of its shards: only they may send pieces.
  similarity_worker_actor job_worker;
  // The newest embedding run's worker here. It ends itself once it staged its
  // rows; one left by a failed run (the driver's exit message comes from
  // another node and is ignored) is ended when the next run's task arrives.
  embedding_worker_actor embedding_worker;
  peer_dialer dial; // how its workers reach peers on other nodes (actors/shard.hpp)
  std::int64_t job_run = 0;
  std::set<caf::node_id> job_nodes;
  bool catching_up = false;                                // the flip's read-back is running
  // The coordinator this shard follows (its node sends control messages), and
  // the newest map epoch it flipped to: older loads and flips are refused.
  caf::node_id control;
  std::uint64_t epoch = 0;
  // Nodes of the API actors that subscribed to that coordinator: serving
  // requests come from these, this node or the coordinator's.
  std::set<caf::node_id> api_nodes;

  std::vector<std::uint32_t> partitions() const {
    std::vector<std::uint32_t> out;
    for (const auto& [p, epoch] : held)
      out.push_back(p);
    return out;
  }
  // Held and not on standby: what jobs compute here.
  std::vector<std::uint32_t> owned() const {
    std::vector<std::uint32_t> out;
    for (const auto& [p, epoch] : held)
      if (standby.count(p) == 0)
        out.push_back(p);
    return out;
  }
  bool holds(std::int32_t id) const {
    return partition_count > 0 && held.count(partition_of(id, partition_count)) != 0;
  }
  bool on_standby(std::int32_t id) const {
    return !standby.empty() && standby.count(partition_of(id, partition_count)) != 0;
  }
  // Whether `id`'s partition is recalled elsewhere: outside `serve` (a
  // request's recall_request::serve), or with an empty one on standby here.
  bool recalled_elsewhere(const std::vector<std::uint64_t>& serve, std::int32_t id) const {
    if (serve.empty())
      return on_standby(id);
    return partition_count == 0 || // nothing loaded: nothing held either
           !serves_partition(serve, partition_of(id, partition_count));
  }
  bool is_incoming(std::int32_t id) const {
    return partition_count > 0 && incoming.count(partition_of(id, partition_count)) != 0;
  }
  void note_applied(std::int64_t id, bool user_side) {
    if (!landed.empty() || catching_up)
      (user_side ? known_user : known_item).insert(id);
  }
  void apply(const pending_event& p) {
    if (p.fold) {
      data.fold_item(p.event.item, p.event.kind, p.item_vec);
      return;
    }
    note_applied(p.id, p.user_side);
    if (p.user_side)
      data.apply_user(p.event, p.item_vec, p.id);
    else
      data.apply_item(p.event);
  }
  caf::error not_held(std::int32_t id, const char* what) const {
    return make_error(ec::shard_unavailable, "shard " + std::to_string(index) +
                                                 " does not hold the partition of " + what + " " +
                                                 std::to_string(id));
  }
};

using shard_actor_type = shard_actor::stateful_base<shard_actor_state>;

// Serving requests: from an API node that subscribed to the coordinator, the
// coordinator's node or this one (actors/trust.hpp).
caf::error check_data(shard_actor_type* self, const char* what);
// After a load, a drop or a job install: hands the heap's free pages back to
// the system and logs (and publishes) what the state holds.
void settle_memory(const shard_actor_state& st, const char* after);
// The counts after an event or a new item (cheap: two sizes).
void note_counts(const shard_actor_state& st);

// ---- shard_partitions.cpp: the coordinator's control of what is held ----
caf::result<std::uint64_t, std::uint64_t> load_partitions(shard_actor_type* self,
                                                          std::vector<std::uint32_t> partitions,
                                                          std::uint32_t count, std::uint64_t epoch);
caf::result<bool> drop_partitions(shard_actor_type* self,
                                  const std::vector<std::uint32_t>& partitions,
                                  std::uint64_t epoch);
caf::result<void> own_partitions(shard_actor_type* self, std::vector<std::uint32_t> partitions,
                                 std::uint32_t count);
caf::result<void> flip_map(shard_actor_type* self, std::uint64_t epoch,
                           const std::vector<std::uint32_t>& owned);

// ---- shard_events.cpp: committed events from API nodes ----
caf::result<std::uint64_t> apply_user_event(shard_actor_type* self, const behavior_event& e,
                                            std::int64_t id, std::vector<float> item_vec);
caf::result<bool> apply_item_event(shard_actor_type* self, const behavior_event& e,
                                   std::int64_t id);
caf::result<item_vectors> vectors_for_batch(shard_actor_type* self,
                                            const std::vector<item_id>& items);
caf::result<std::uint64_t> apply_user_batch(shard_actor_type* self, const applied_batch& batch);
caf::result<std::uint64_t> apply_item_batch(shard_actor_type* self, const applied_batch& batch);
caf::result<taste_vectors> tastes_of(shard_actor_type* self, const std::vector<user_id>& users);
caf::result<std::uint64_t> fold_item_tastes(shard_actor_type* self, const item_folds& folds);

// ---- shard_jobs.cpp: published runs and job tasks ----
caf::result<bool> reload_run(shard_actor_type* self, job_kind kind);
caf::result<similarity_worker_actor, std::uint64_t, std::uint64_t>
start_similarity_run(shard_actor_type* self, similarity_plan& plan);
caf::result<bool> pass_pairs(shard_actor_type* self, pair_batch& batch);
caf::result<embedding_worker_actor> start_embedding_task(shard_actor_type* self,
                                                         const bulk_handle& task);

} // namespace recd::shard_detail
