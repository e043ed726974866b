#pragma once
// run_watcher: a detached actor with its own PostgreSQL connection that
// answers the coordinator's questions about the database.
//
// Its messages: run_watcher_actor in protocol/interfaces.hpp.

#include <string>

#include <caf/fwd.hpp>

#include "protocol/interfaces.hpp"

namespace recd {

run_watcher_actor spawn_run_watcher(caf::actor_system& sys, std::string postgres_url);

} // namespace recd
