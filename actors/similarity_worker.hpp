#pragma once
// similarity_worker: a detached actor a shard spawns for one similarity task
// (similarity_worker_actor in protocol/interfaces.hpp). It computes the
// neighbour rows of the rows its shard owns and COPYs them into the run's
// staging table, in one transaction (all or nothing).
//
// While working it sends (part_progress_atom, part_progress) to the progress
// sink (if valid) about twice a second. Only `parent` (its shard) may send
// the work; the task is checked (protocol/limits.hpp) before anything is
// computed.

#include <string>

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

#include "protocol/interfaces.hpp"

namespace recd {

similarity_worker_actor spawn_similarity_worker(caf::actor_system& sys, std::string postgres_url,
                                                caf::actor_addr parent);

} // namespace recd
