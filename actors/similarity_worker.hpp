#pragma once
// similarity_worker: a detached actor a shard spawns for one similarity run
// (similarity_worker_actor in protocol/interfaces.hpp). The run in three steps:
//   read    (work_atom, from its shard): imports the job driver's snapshot and
//           reads the input rows of the partitions the plan gives this shard;
//   gather  (gather_atom, from the job driver once every shard has read): dials
//           each peer on another node at its address in the plan (`dial`: a
//           direct connection, so that no piece is routed through a third
//           node, such as a coordinator that has since died), then sends
//           what it read to every other shard of the run in pieces of at most
//           limits::max_pair_batch pairs, one acknowledged request per peer at
//           a time, and takes theirs (pairs_atom, passed on by its shard);
//   compute once it has sent everything and received every peer's last piece:
//           builds the whole graph (the same on every shard), computes the
//           rows of the partitions its shard owns and COPYs them into the run's
//           staging table in one transaction (all or nothing).
// While computing it sends (part_progress_atom, part_progress) to the gather's
// progress sink (if valid) about twice a second. The job driver ends it when
// the run ends.
//
// Trust: the read only from `parent`, the gather only from `control`'s node
// (or its own), pieces only from a node of the plan's shards for the plan's
// run, from at most one sender per peer, in order, each checked
// (limits::check_pair_batch) and at most limits::max_exchange_pairs in all.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/fwd.hpp>
#include <caf/node_id.hpp>

#include "actors/shard.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

// `plan` was checked (limits::check_similarity_plan); `owned`: the partitions
// whose rows this shard computes, of `partition_count`. `driver`: the job
// driver that sent the plan; the worker ends when it goes down (a coordinator
// that died mid-run leaves no worker holding the run's input). `dial` may be
// empty (no network): peers are then sent to through the plan's handles.
similarity_worker_actor spawn_similarity_worker(caf::actor_system& sys, std::string postgres_url,
                                                caf::actor_addr parent, caf::node_id control,
                                                caf::strong_actor_ptr driver, similarity_plan plan,
                                                std::vector<std::uint32_t> owned,
                                                std::uint32_t partition_count, peer_dialer dial);

} // namespace recd
