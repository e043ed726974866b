#pragma once
// embedding_worker: a detached actor a shard spawns for one ALS run. It keeps
// the interaction rows of the shard's users and items and solves them on
// request, while the job driver gathers the factors between half-steps.
//
//   (solve_atom, users_atom, item_factors, item_gram) -> factor_block  (owned users)
//   (solve_atom, items_atom, user_factors, user_gram) -> factor_block  (owned items)
//
// Factors travel as row-major float vectors over the run's dense indices.

#include <cstdint>
#include <vector>

#include <caf/fwd.hpp>

#include "protocol/messages.hpp"

namespace recd {

caf::actor spawn_embedding_worker(caf::actor_system& sys, embedding_task task,
                                  std::vector<std::uint32_t> partitions,
                                  std::uint32_t partition_count);

} // namespace recd
