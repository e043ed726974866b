// `recd serve --role coordinator`: a coordinator replica (nodes/leadership.hpp).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/coordinator.hpp"
#include "actors/dashboard_reader.hpp"
#include "nodes/actor_system.hpp"
#include "nodes/commands.hpp"
#include "nodes/leadership.hpp"
#include "nodes/node_runtime.hpp"
#include "nodes/serve_support.hpp"
#include "store/database.hpp"

namespace recd {

namespace {

// A standby replica's /readyz: never ready (so a Service routes to the leader only).
readiness_probe spawn_standby_probe(caf::actor_system& sys) {
  return sys.spawn([]() -> readiness_probe::behavior_type {
    return {[](ready_atom) { return false; }};
  });
}

} // namespace

// A coordinator replica (nodes/leadership.hpp): stands by until it holds the
// lease, then leads until a stop signal (releasing the lease) or until it
// loses the lease (the process exits).
int serve_coordinator(const settings& cfg, sigset_t& signals) {
  auto counted = partition_count(cfg);
  if (!counted)
    return 1;
  caf::actor_system_config acfg;
  configure(acfg, cfg);
  configure_network(acfg, cfg);
  caf::actor_system sys{acfg};
  const auto timeout = std::chrono::milliseconds{cfg.http.request_timeout_ms};
  // The lease names this replica's actor port before the port is bound:
  // it must be fixed.
  if (cfg.cluster.port == 0) {
    std::fprintf(stderr, "recd: a coordinator replica needs a fixed cluster.port (not 0): "
                         "the lease tells other nodes where it is before it listens\n");
    return 1;
  }
  // Process-unique, so that a restarted replica never mistakes an old lease for its own.
  const auto holder = cfg.cluster.node_name.empty()
                        ? node_name(cfg)
                        : cfg.cluster.node_name + "-" + std::to_string(::getpid());
  // The standby's HTTP servers keep running when it leads: they switch to
  // the leader's gateway, so the ports never close in between (and the log
  // line naming an admin port picked with port 0 stays true).
  auto standby = spawn_standby_probe(sys);
  auto status = std::make_shared<standby_status>();
  gateway standing{sys, {}, standby, coordinator_actor{}, std::make_shared<api_metrics>(), timeout};
  standing.set_liveness(watch_essentials(sys, {{"standby", standby.address()}}));
  standing.set_replica_readiness([status] { return status->blocker(); });
  standing.set_node({"standby", nullptr, nullptr, {}});
  auto front = start_http(cfg, standing, "coordinator", /*with_admin=*/true);
  if (!front) {
    stop_each(standby);
    return 1;
  }
  spdlog::info("coordinator replica {}: standing by for the lease", holder);
  auto term = await_lease(cfg, holder, signals, *status);
  if (!term) {
    front->stop();
    stop_each(standby);
    bound_teardown(sys);
    return 0;
  }
  spdlog::info("coordinator replica {} leads (term {})", holder, *term);
  lease_renewal lease{cfg, *term};
  end_older_terms_sessions(cfg, *term);
  coordinator_options opt{cfg, *counted, true, true, *term, orphaned_runs(cfg, *term)};
  auto coordinator = spawn_coordinator(sys, std::move(opt), {});
  auto port = publish_node(sys, coordinator, cfg);
  if (!port) {
    std::fprintf(stderr, "recd: cannot publish the coordinator on %s:%d: %s\n",
                 cfg.cluster.bind.c_str(), cfg.cluster.port, sys.render(port.error()).c_str());
    front->stop();
    stop_each(coordinator, standby);
    lease.release();
    return 1;
  }
  spdlog::info("coordinator on actor port {}:{}, {} partitions", cfg.cluster.bind, *port, *counted);
  gateway gw{sys, {}, coordinator, coordinator, std::make_shared<api_metrics>(), timeout};
  gw.set_liveness(watch_essentials(sys, {{"coordinator", coordinator.address()}}));
  gw.set_node({"coordinator", nullptr, nullptr, {}});
  gw.set_database(store::conninfo(cfg.postgres, store::session::serving));
  auto reader = spawn_dashboard_reader(sys, store::conninfo(cfg.postgres, store::session::serving));
  gw.set_dashboard(
    std::make_shared<dashboard>(sys, dashboard_options(cfg, coordinator, {}, reader, nullptr)));
  if (!front->switch_to(cfg, gw)) {
    front->stop();
    stop_each(coordinator, standby, reader);
    lease.release();
    return 1;
  }
  // The standby's gateway may still answer requests it took: it lives on,
  // its probe goes (a late /readyz on it gets a 503).
  stop_each(standby);
  // The node exits if its coordinator actor dies, so that it gets restarted.
  auto exit_status = serve_until_stop(sys, cfg, gw, *front, signals,
                                      caf::actor_cast<caf::actor>(coordinator), "coordinator");
  gw.set_dashboard(nullptr);
  stop_each(coordinator, reader);
  // After the coordinator stopped: a standby may lead at once.
  lease.release();
  bound_teardown(sys);
  return exit_status;
}

} // namespace recd
