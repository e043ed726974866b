#pragma once
// run_watcher: a detached actor with its own PostgreSQL connection that
// answers the coordinator's questions about the database.
//
// Its messages: run_watcher_actor in protocol/interfaces.hpp.

#include <string>

#include <caf/fwd.hpp>

#include "protocol/interfaces.hpp"

namespace recd {

// `term` > 0: the map is written only while that coordinator term leads
// (store/leadership.hpp: fence).
run_watcher_actor spawn_run_watcher(caf::actor_system& sys, std::string postgres_url,
                                    std::int64_t term = 0);

} // namespace recd
