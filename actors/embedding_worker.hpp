#pragma once
// embedding_worker: a detached actor a shard spawns for one ALS run. It keeps
// the interaction rows of the shard's users and items and solves them on
// request, while the job driver gathers the factors between half-steps.
//
// Its messages: embedding_worker_actor in protocol/interfaces.hpp.
//
// Factors travel as row-major float vectors over the run's dense indices, in
// chunks both ways (protocol/bulk.hpp): the fixed side's factors are named by
// a bulk_handle, and the solved factor_block is sent back to the requester in
// chunks before the handle that names it.
//
// Only `control` (the job driver's node: the coordinator's, or the shard's own)
// may send to it; the task, factors and Gram matrices are checked for their
// sizes before use (protocol/limits.hpp).

#include <cstdint>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/node_id.hpp>

#include "protocol/interfaces.hpp"

namespace recd {

// `encoded_task`: an embedding_task encoded with encode_bulk; decoded on the
// worker's own thread. A task with a snapshot names the run's rows only: the
// worker reads the cells of its shard's users and items in that snapshot
// from `postgres_url` (store::read_embedding_share) on its own thread, before
// it takes its first message.
embedding_worker_actor spawn_embedding_worker(caf::actor_system& sys, std::string postgres_url,
                                              std::vector<char> encoded_task,
                                              std::vector<std::uint32_t> partitions,
                                              std::uint32_t partition_count,
                                              caf::node_id control);

} // namespace recd
