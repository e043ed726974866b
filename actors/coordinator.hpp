#pragma once
// coordinator: owns the partition map and the offline jobs. Its messages:
// coordinator_actor in protocol/interfaces.hpp (the operator's commands,
// check and cache flush, in coordinator_operations.cpp).
//
// A join is refused unless the shard lives on the joining node and no live
// shard of another node has its name; a leave unless it comes from the
// leaving shard's node; a subscription unless the API actor lives on the
// subscribing node. Its own reminders (poll, delayed drops, redo and
// scheduled runs) are refused from anyone else (actors/trust.hpp).
//
// The map assigns each of P partitions to one live shard, balanced (sizes
// differ by at most one) and sticky (a partition moves only when needed);
// its data and rules are actors/partition_table.hpp.
// A change (join, a shard's death, rebalance) moves partitions without
// stopping service:
//  1. announce: every API actor gets (move_atom, partition_map of epoch+1) and
//     from then on applies each committed event on both the current and the
//     next owner of its partitions; the move waits for all to confirm;
//  2. load: the new owners load what they gain; their snapshots hold every
//     event that reached the old owners alone (those were committed before
//     the announcement was confirmed), later ones arrive directly;
//  3. flip: the map gets a new epoch, persisted in PostgreSQL, sent to every
//     shard (flip_atom: what it owns now) and API actor (map_atom, partition_map);
//  4. drop: once every API actor confirmed the new map, and a short grace
//     for requests still in flight, the old owners drop what moved away.
// A dead shard's partitions are reassigned the same way; until they are
// loaded, requests for them are answered degraded. Moves that nothing needs
// (a join, a forced rebalance) wait for a running job to end.
//
// A restarted coordinator resumes the persisted epoch, lets each rejoining
// shard keep the partitions it still holds, and waits up to 10 s for the
// shards of the persisted map before reassigning the partitions of those
// that did not come back.
//
// In serving mode the coordinator also polls job_runs every jobs.poll_seconds
// and tells the shards to reload a kind whose newest published run changed;
// with the same period it reconciles the map with what each shard actually
// holds: a partition a shard lost is moved (loaded) again, one it holds that
// the map gives elsewhere is dropped.

#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "config/settings.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

struct coordinator_options {
  settings cfg;
  std::uint32_t partitions = 64;
  bool serving = true;   // false: jobs only (`recd compute`), shards load nothing
  bool persist_map = false; // cluster mode: keep the map and its epoch in PostgreSQL
  // A replica that leads (nodes/leadership.hpp): its lease's term, which
  // fences its writes of the map and of job results (0: no replicas, no fence).
  std::int64_t term = 0;
  // Runs an earlier leader left running: redone once the map is ready.
  std::vector<job_kind> redo;
};

// `shards` join at once under the names local-0..N-1 (one process); a cluster
// coordinator starts with none and shard nodes join over the network.
coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_options opt,
                                    std::vector<shard_actor> shards);

} // namespace recd
