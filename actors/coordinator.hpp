#pragma once
// coordinator: owns the partition map and the offline jobs.
//
//   (join_atom, name, shard)              -> uint32          a shard node joins; reply: partition count
//   (subscribe_atom, api)                 -> void            api gets (map_atom, epoch, shards, owner) now and on change
//   (ready_atom)                          -> bool            every partition is served by a loaded shard
//   (map_atom)                            -> string          JSON of the map (recd admin cluster)
//   (rebalance_atom)                      -> uint64          force a rebalance; reply: the new epoch
//   (compute_atom, [job_kind], listener)  -> [job_summary]   run jobs in order on the current shards
//   (stats_atom)                          -> string          JSON: database counts, last jobs, map
//
// The map assigns each of P partitions to one live shard, balanced (sizes
// differ by at most one) and sticky (a partition moves only when needed).
// A change (join, a shard's death, rebalance) moves partitions without
// stopping service: the new owners load them, then the map flips at a new
// epoch (persisted in PostgreSQL and pushed to every subscribed API actor),
// then the old owners drop them. A dead shard's partitions are reassigned the
// same way; until they are loaded, requests for them are answered degraded.
//
// In serving mode the coordinator also polls job_runs every jobs.poll_seconds
// and tells the shards to reload a kind whose newest published run changed.

#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "config/settings.hpp"

namespace recd {

struct coordinator_options {
  settings cfg;
  std::uint32_t partitions = 64;
  bool serving = true;   // false: jobs only (`recd compute`), shards load nothing
  bool persist_map = false; // cluster mode: keep the map and its epoch in PostgreSQL
};

// `shards` join at once under the names local-0..N-1 (one process); a cluster
// coordinator starts with none and shard nodes join over the network.
caf::actor spawn_coordinator(caf::actor_system& sys, coordinator_options opt,
                             std::vector<caf::actor> shards);

// Balanced, sticky assignment: `current[p]` is the member index owning p or -1;
// members listed in `alive`. Returns the new owner of every partition (-1 if
// no member is alive).
std::vector<std::int32_t> rebalance(const std::vector<std::int32_t>& current,
                                    const std::vector<std::int32_t>& alive);

} // namespace recd
