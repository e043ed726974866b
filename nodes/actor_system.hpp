#pragma once
// Actor-system configuration shared by every node role.
#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include "config/settings.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

// Registers recd's messages and sets the scheduler size from cluster.scheduler_threads.
void configure(caf::actor_system_config& acfg, const settings& cfg);

// For nodes of a cluster: loads the middleman with heartbeats, direct
// connections between nodes, and the deployment's app identifier at this
// build's wire version (protocol/version.hpp); and
// caf-openssl when cluster.tls_certificate is set.
void configure_network(caf::actor_system_config& acfg, const settings& cfg);

bool tls_enabled(const settings& cfg);

// "127.0.0.1", "localhost", "::1": an address only this machine reaches.
bool is_loopback(const std::string& host);

// Publishes `whom` (a coordinator_actor or a shard_actor) on
// cluster.bind:cluster.port (TLS if enabled); the port. Refused
// (ec::invalid_argument) for a bind beyond loopback without TLS, unless
// cluster.insecure = 1.
template <class Handle>
caf::expected<std::uint16_t> publish_node(caf::actor_system& sys, const Handle& whom,
                                          const settings& cfg);

// The actor another node published at host:port (TLS if enabled), as a
// coordinator_actor or a shard_actor. Blocks. Refused by CAF
// (sec::unexpected_actor_messaging_interface) unless the published actor's
// interface is exactly `Handle`'s: a node of another protocol version.
template <class Handle>
caf::expected<Handle> connect_node(caf::actor_system& sys, const std::string& host,
                                   std::uint16_t port, const settings& cfg);

} // namespace recd
