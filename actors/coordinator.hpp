#pragma once
// coordinator: owns the partition map and the offline jobs.
//
//   (ready_atom)                          -> bool            every shard holds its state
//   (map_atom)                            -> ([actor], [u32]) shards and the owner of each partition
//   (compute_atom, [job_kind], listener)  -> [job_summary]   run jobs in order, one at a time
//   (stats_atom)                          -> string          JSON: database counts, last jobs, shards
//
// Partition p belongs to shard p mod N. In serving mode the coordinator asks
// each shard to load its partitions, then polls job_runs every
// jobs.poll_seconds and tells the shards to reload a kind whose newest
// published run changed (whoever ran it: this process or `recd compute`).

#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "config/settings.hpp"

namespace recd {

struct coordinator_options {
  settings cfg;
  std::uint32_t partitions = 64;
  bool serving = true; // false: jobs only (`recd compute`), shards load nothing
};

caf::actor spawn_coordinator(caf::actor_system& sys, coordinator_options opt,
                             std::vector<caf::actor> shards);

// Partition numbers owned by shard `index` of `shards`.
std::vector<std::uint32_t> partitions_of(std::uint32_t index, std::uint32_t shards,
                                         std::uint32_t partitions);

} // namespace recd
