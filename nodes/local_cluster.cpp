#include "nodes/local_cluster.hpp"

#include <algorithm>

#include <caf/all.hpp>

#include "actors/coordinator.hpp"
#include "actors/shard.hpp"
#include "store/database.hpp"

namespace recd {

void local_cluster::stop() const {
  for (const auto& shard : shards)
    caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
  if (coordinator)
    caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
}

local_cluster spawn_local_cluster(caf::actor_system& sys, const settings& cfg,
                                  std::uint32_t partitions, bool serving) {
  local_cluster out;
  auto n = static_cast<std::uint32_t>(
    std::min<std::int32_t>(cfg.cluster.shards, static_cast<std::int32_t>(partitions)));
  for (std::uint32_t i = 0; i < n; ++i)
    out.shards.push_back(
      spawn_shard(sys, i, store::conninfo(cfg.postgres, store::session::job), cfg.recommend));
  out.coordinator = spawn_coordinator(sys, {cfg, partitions, serving, false, 0, {}}, out.shards);
  return out;
}

} // namespace recd
