#pragma once
// The whole cluster in one process (`serve --role all`, `recd compute`,
// `recd eval`, tests): cluster.shards shard actors (at most one per partition)
// and a coordinator that assigns them every partition at once.

#include <cstdint>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "config/settings.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

struct local_cluster {
  coordinator_actor coordinator;
  std::vector<shard_actor> shards;

  // Tells every actor of it to exit.
  void stop() const;
};

// serving = false: jobs only (shards own their partitions but load nothing).
local_cluster spawn_local_cluster(caf::actor_system& sys, const settings& cfg,
                                  std::uint32_t partitions, bool serving);

} // namespace recd
