#pragma once
// What every serving role shares: stop signals, the HTTP front door, and
// connecting to the coordinator node.
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "config/settings.hpp"
#include "protocol/interfaces.hpp"
#include "nodes/http_server.hpp"

namespace recd {

// Blocks SIGINT/SIGTERM in this and every thread started later; wait_for_stop
// receives them. Blocks SIGHUP as well (not in the returned set): an API
// node's rules reloader receives it (nodes/rules_admin.hpp), elsewhere it is ignored.
sigset_t block_stop_signals();

http::server_options http_options(const settings& cfg);
// The admin port's server options: admin.addr with http.*'s limits (at most
// 64 connections: operators and scrapers, not the public).
http::server_options admin_http_options(const settings& cfg);

enum class stop_reason { signal, watched_down };

// Waits for SIGINT/SIGTERM, or for `watched` (if valid) to terminate.
stop_reason wait_for_stop(caf::actor_system& sys, sigset_t& signals, const caf::actor& watched);

// The replicas named by cluster.coordinator ("host:port[,host:port...]").
std::vector<std::string> coordinator_replicas(const std::string& list);

// Connects to the leading coordinator replica (the lease in PostgreSQL names
// it; without a lease, each of cluster.coordinator in turn), retrying every
// second until one answers or a stop signal arrives (nullopt). Blocking: main
// thread only.
std::optional<coordinator_actor> connect_coordinator(caf::actor_system& sys, const settings& cfg,
                                                     sigset_t& signals);

// An API node's dialer: a detached actor that asks the coordinator every
// second for the live shard nodes' addresses and connects to each one it is
// not connected to (TLS when on), so recommend and behavior requests go to
// shard nodes directly instead of through the coordinator node.
// Its messages: shard_dialer_actor in protocol/interfaces.hpp.
shard_dialer_actor spawn_shard_dialer(caf::actor_system& sys, const settings& cfg,
                                      coordinator_actor coordinator);

// "host:port" -> (host, port); port -1 if malformed.
std::pair<std::string, int> split_host_port(const std::string& addr);

} // namespace recd
