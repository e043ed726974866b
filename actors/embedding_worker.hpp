#pragma once
// embedding_worker: a detached actor a shard spawns for one ALS run
// (embedding_worker_actor in protocol/interfaces.hpp; docs/cluster.md, "Jobs
// on a cluster"). It keeps the interaction rows of the shard's own users and
// items and their factors only; the job driver just sequences it:
//   mesh    connect to the run's other workers (actors/peer_mesh.hpp: one
//           side of each pair dials the other's shard node);
//   solve   half-step s (users when s is even, items when odd): send the own
//           rows of the fixed side to every other worker (a factor_block in
//           bulk chunks, then a factor_share naming it), take theirs,
//           assemble the whole fixed side, compute its Gram matrix (the same
//           on every worker) and solve the own rows of the other side;
//   stage   after the last half-step, COPY the own users' and items' factors
//           into the run's staging table; the driver publishes from there.
// Memory: the own rows' factors, one whole fixed side during a step, and the
// peers' shares of at most the next step that arrive before its command.
//
// Trust: commands only from `control`'s node (or its own) and in order;
// chunks and shares only from another worker of the mesh, for its run, for
// the current or next half-step, one share per peer and step, each checked
// (limits::check_factor_block) and every row of the fixed side received
// exactly once over all workers, or the step fails.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_control_block.hpp>
#include <caf/fwd.hpp>
#include <caf/node_id.hpp>

#include "actors/shard.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

// `encoded_task`: an embedding_task encoded with encode_bulk; decoded on the
// worker's own thread. A task with a snapshot names the run's rows only: the
// worker reads the cells of its shard's users and items in that snapshot
// from `postgres_url` (store::read_embedding_share) on its own thread, before
// it takes its first message. `driver`: the job driver; the worker ends when
// it goes down. `dial` may be empty (no network): peers are then sent to
// through the mesh's handles.
embedding_worker_actor spawn_embedding_worker(caf::actor_system& sys, std::string postgres_url,
                                              std::vector<char> encoded_task,
                                              std::vector<std::uint32_t> partitions,
                                              std::uint32_t partition_count,
                                              caf::node_id control, caf::strong_actor_ptr driver,
                                              peer_dialer dial);

} // namespace recd
