#pragma once
// Actor-system configuration shared by every node role.
#include <caf/actor_system_config.hpp>

#include "config/settings.hpp"

namespace recd {

// Registers recd's messages and sets the scheduler size from cluster.scheduler_threads.
void configure(caf::actor_system_config& acfg, const settings& cfg);

} // namespace recd
