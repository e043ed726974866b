#pragma once
// similarity_worker: a detached actor a shard spawns for one similarity task.
// It computes the neighbour rows of the rows its shard owns and COPYs them
// into the run's staging table, in one transaction (all or nothing).
//
//   (job_atom, similarity_task, partitions, partition_count, progress_to) -> (rows, pairs)
//
// While working it sends (progress_atom, job_progress) to `progress_to`
// (if valid) about twice a second. Only `parent` (its shard) may send the job;
// the task is checked (protocol/limits.hpp) before anything is computed.

#include <string>

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

namespace recd {

caf::actor spawn_similarity_worker(caf::actor_system& sys, std::string postgres_url,
                                   caf::actor_addr parent);

} // namespace recd
