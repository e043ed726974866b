#pragma once
// Actor-system configuration shared by every node role.
#include <caf/actor_system_config.hpp>

#include "config/settings.hpp"

namespace recd {

// Registers recd's messages and sets the scheduler size from cluster.scheduler_threads.
void configure(caf::actor_system_config& acfg, const settings& cfg);

// For nodes of a cluster: loads the middleman with heartbeats, direct
// connections between nodes, and the deployment's app identifier.
void configure_network(caf::actor_system_config& acfg, const settings& cfg);

} // namespace recd
