#pragma once
// run_watcher: a detached actor with its own PostgreSQL connection that
// answers the coordinator's questions about the database.
//
//   (poll_atom)  -> [int64]  newest published run id per job_kind (0 = none)
//   (stats_atom) -> string   JSON: the seed's counts plus the last runs per kind
//   (map_atom)   -> (epoch, [shard name per partition])   the persisted partition map
//   (map_atom, epoch, [shard name per partition]) -> bool persists a new map in one transaction

#include <string>

#include <caf/fwd.hpp>

namespace recd {

caf::actor spawn_run_watcher(caf::actor_system& sys, std::string postgres_url);

} // namespace recd
