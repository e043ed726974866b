#pragma once
// What every role of `recd serve` (nodes/serve.cpp, nodes/serve_coordinator.cpp)
// is started and stopped with: the HTTP front, the wait for a stop signal, the
// drain of an API node and the bounded teardown of the actor system.
#include <atomic>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "config/settings.hpp"
#include "nodes/dashboard.hpp"
#include "nodes/gateway.hpp"
#include "nodes/http_server.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

// Tells each actor to exit (user_shutdown); invalid handles are skipped.
template <class Handle>
void stop_all(const std::vector<Handle>& actors) {
  for (const auto& a : actors)
    if (a)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

template <class... Handles>
void stop_each(const Handles&... actors) {
  (stop_all(std::vector<Handles>{actors}), ...);
}

// A node's HTTP servers: the public one, and the admin one on nodes that have
// admin endpoints (coordinator, all). They route to one gateway at a time:
// switch_to() hands them to another without closing a port (a coordinator
// replica's standby gateway, then its leader's), so a client never meets a
// refused connection in between.
struct http_front {
  std::unique_ptr<http::server> api;
  std::unique_ptr<http::server> admin;
  std::shared_ptr<std::atomic<gateway*>> target = std::make_shared<std::atomic<gateway*>>(nullptr);
  // Routes every later request to `gw` (set up from `cfg` as start_http does);
  // false (reason on stderr) if `cfg`'s API keys cannot be loaded. A gateway
  // switched away from must outlive the servers: requests it took may still run.
  bool switch_to(const settings& cfg, gateway& gw);
  void stop() {
    if (admin)
      admin->stop();
    if (api)
      api->stop();
  }
};

// Called once a node has done its part of a shutdown (HTTP stopped, partitions
// handed over, actors told to exit): the actor system's own teardown gets 5 s,
// then the process ends with a logged error (docs/cluster.md).
void bound_teardown(caf::actor_system& sys);

// Warns when the open-file limit leaves no room for http.max_connections.
void check_fd_headroom(const settings& cfg);

// Starts the node's HTTP servers routing to `gw` (credentials set from `cfg`);
// nullopt (reason on stderr) on failure.
std::optional<http_front> start_http(const settings& cfg, gateway& gw, const char* role,
                                     bool with_admin);

dashboard_deps dashboard_options(const settings& cfg, coordinator_actor coordinator,
                                 std::vector<api_actor> apis, dashboard_reader_actor reader,
                                 std::shared_ptr<api_metrics> metrics);

// A node that serves the API, stopping: /readyz answers 503 while requests
// are still served for http.drain_ms (a second stop signal ends it early),
// so that load balancers take the node out before its port closes.
void drain(gateway& gw, const settings& cfg, sigset_t& signals);

// Serves HTTP with `gw` until a stop signal (or `watched` dies); returns the
// exit status. Role "all" drains first.
int serve_http(caf::actor_system& sys, const settings& cfg, gateway& gw, sigset_t& signals,
               const caf::actor& watched, const char* role);

// The same on servers already running (stopped when it returns).
int serve_until_stop(caf::actor_system& sys, const settings& cfg, gateway& gw, http_front& front,
                     sigset_t& signals, const caf::actor& watched, const char* role);

// cluster.node_name, else "<hostname>-<pid>".
std::string node_name(const settings& cfg);

// `recd serve --role coordinator` (nodes/serve_coordinator.cpp).
int serve_coordinator(const settings& cfg, sigset_t& signals);

} // namespace recd
