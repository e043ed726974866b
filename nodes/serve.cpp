// `recd serve --role all|coordinator|shard|api`.
//   all          coordinator, shards, API actors and HTTP in one process
//   coordinator  the partition map and the jobs; actor port cluster.port; HTTP health,
//                and /admin on the admin port (admin.addr)
//   shard        one shard actor published on cluster.port, joined to the coordinator
//   api          API actors, cache, behavior writer and HTTP, following the coordinator's map
// Every role stops cleanly on SIGINT/SIGTERM, serves /healthz and /readyz, and
// an admin port (admin.addr, bearer token) with /metrics; `all` and
// `coordinator` serve the /admin endpoints there. /admin is never served on the
// public port.
#include <cstdio>
#include <cstdlib>
#include <sys/resource.h>
#include <unistd.h>

#include <optional>
#include <variant>

#include <thread>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <spdlog/spdlog.h>

#include "actors/api.hpp"
#include "actors/census.hpp"
#include "actors/behavior_writer.hpp"
#include "actors/catalog_writer.hpp"
#include "actors/cache.hpp"
#include "actors/coordinator.hpp"
#include "actors/dashboard_reader.hpp"
#include "actors/shard.hpp"
#include "actors/telemetry.hpp"
#include "nodes/local_cluster.hpp"
#include "nodes/actor_system.hpp"
#include "nodes/commands.hpp"
#include "nodes/dashboard.hpp"
#include "nodes/gateway.hpp"
#include "nodes/leadership.hpp"
#include "nodes/metrics.hpp"
#include "nodes/node_runtime.hpp"
#include "nodes/rules_admin.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"

namespace recd {

namespace {

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

// Called once a node has done its part of a shutdown (HTTP stopped, partitions
// handed over, actors told to exit): the actor system's own teardown gets 5 s.
// A coordinator has been seen to hang there (an actor that never terminates;
// cause not found, see docs/cluster.md); nothing of the node's work is left
// then, so the process ends with a logged error instead of hanging.
void bound_teardown(caf::actor_system& sys) {
  spdlog::info("stopping the actor system: {} actors running, recd's: {}", sys.registry().running(),
               census_report().empty() ? std::string{"none"} : census_report());
  std::thread{[] {
    std::this_thread::sleep_for(std::chrono::seconds{5});
    spdlog::error("the actor system did not stop within 5 s of the shutdown: exiting; "
                  "recd actors still alive: {}",
                  census_report().empty() ? std::string{"none"} : census_report());
    // RECD_DEBUG_HANG=<file>: every thread's stack goes there first (gdb).
    if (const char* path = std::getenv("RECD_DEBUG_HANG"); path != nullptr && *path != '\0') {
      auto cmd = "gdb -p " + std::to_string(::getpid()) +
                 " -batch -ex 'thread apply all bt' >> '" + std::string{path} + "' 2>&1";
      if (std::system(cmd.c_str()) != 0)
        spdlog::warn("could not save the stacks with gdb");
    }
    std::_Exit(0);
  }}.detach();
}

// Warns when the open-file limit leaves no room for http.max_connections
// (each connection is a descriptor; the rest covers PostgreSQL, Redis, the
// actor ports and the admin port).
void check_fd_headroom(const settings& cfg) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
    return;
  constexpr rlim_t reserve = 256;
  const auto wanted = static_cast<rlim_t>(cfg.http.max_connections) + reserve;
  if (wanted > lim.rlim_cur)
    spdlog::warn("http.max_connections = {} needs about {} file descriptors, but `ulimit -n` is {} "
                 "(hard limit {}): raise it or lower http.max_connections",
                 cfg.http.max_connections, wanted, lim.rlim_cur, lim.rlim_max);
}

// A node's HTTP servers: the public one, and the admin one on nodes that have
// admin endpoints (coordinator, all).
struct http_front {
  std::unique_ptr<http::server> api;
  std::unique_ptr<http::server> admin;
  void stop() {
    if (admin)
      admin->stop();
    if (api)
      api->stop();
  }
};

// What both ports do with every finished exchange: count it for /metrics
// and log a failed request (5xx) once, with its request id and the detail the
// client never sees. The server's 503 to a connection over
// http.max_connections (no request was read) is counted, not logged: a flood
// of connections must not become a flood of log lines.
void observe(const http::exchange& e) {
  node_telemetry().http.record(metrics::endpoint_of(e.path), e.status, e.seconds);
  if (e.status >= 500 && !e.method.empty())
    spdlog::warn("request {} {} {} failed: {} in {:.1f} ms: {}", e.id,
                 e.method.empty() ? std::string_view{"-"} : e.method,
                 e.path.empty() ? std::string_view{"-"} : e.path, e.status, e.seconds * 1000,
                 e.detail.empty() ? std::string_view{"(no detail)"} : e.detail);
}

// Starts the node's HTTP servers routing to `gw` (credentials set from `cfg`);
// nullopt (reason on stderr) on failure.
std::optional<http_front> start_http(const settings& cfg, gateway& gw, const char* role,
                                     bool with_admin) {
  if (!cfg.http.api_keys_file.empty()) {
    auto keys = http::api_keys::load(cfg.http.api_keys_file);
    if (auto* err = std::get_if<std::string>(&keys)) {
      std::fprintf(stderr, "recd: %s\n", err->c_str());
      return std::nullopt;
    }
    auto& loaded = std::get<std::shared_ptr<http::api_keys>>(keys);
    spdlog::info("API keys on: {} keys from {}", loaded->counts().size(), cfg.http.api_keys_file);
    gw.set_api_keys(std::move(loaded));
  }
  gw.set_admin_token(cfg.admin.token);
  // A batch takes one writer queue slot per event: larger ones could never enter.
  gw.set_max_batch_events(static_cast<std::size_t>(
    std::min(cfg.http.max_batch_events, cfg.postgres.writer_queue_max)));
  check_fd_headroom(cfg);

  http_front front;
  auto public_opt = http_options(cfg);
  public_opt.on_exchange = observe;
  front.api = std::make_unique<http::server>(
    public_opt,
    [&gw](http::request&& req, http::reply_fn reply) { gw.handle(std::move(req), std::move(reply)); });
  auto admin_opt = admin_http_options(cfg);
  admin_opt.on_exchange = observe;
  if (with_admin)
    front.admin = std::make_unique<http::server>(admin_opt, [&gw](http::request&& req, http::reply_fn reply) {
      gw.handle_admin(std::move(req), std::move(reply));
    });
  // Set before either server runs: /metrics reads it from their threads.
  gw.set_connections([api = front.api.get(), admin = front.admin.get()] {
    return api->connections() + (admin != nullptr ? admin->connections() : 0);
  });
  if (auto err = front.api->start()) {
    std::fprintf(stderr, "recd: cannot listen on %s: %s\n", cfg.http.addr.c_str(), err->c_str());
    return std::nullopt;
  }
  spdlog::info("recd {} node: HTTP on {}:{}", role, http_options(cfg).host, front.api->port());
  if (front.admin) {
    const auto& opt = admin_opt;
    if (auto err = front.admin->start()) {
      std::fprintf(stderr, "recd: cannot listen on admin.addr %s: %s\n", cfg.admin.addr.c_str(),
                   err->c_str());
      front.stop();
      return std::nullopt;
    }
    // Tests and scripts read the bound port from this line when admin.addr has port 0.
    spdlog::info("admin on {}:{}", opt.host, front.admin->port());
    if (cfg.admin.token.empty())
      spdlog::warn("admin.token is not set: the admin endpoints answer 403 "
                   "(set RECD_ADMIN_TOKEN or admin.token_file)");
  }
  return front;
}

dashboard_deps dashboard_options(const settings& cfg, coordinator_actor coordinator,
                                 std::vector<api_actor> apis, dashboard_reader_actor reader,
                                 std::shared_ptr<api_metrics> metrics) {
  return {std::move(coordinator), std::move(apis), std::move(reader), std::move(metrics),
          cfg.admin.eval_report, std::chrono::milliseconds{cfg.http.request_timeout_ms}};
}

// A node that serves the API, stopping: /readyz answers 503 while requests
// are still served for http.drain_ms (a second stop signal ends it early),
// so that load balancers take the node out before its port closes.
void drain(gateway& gw, const settings& cfg, sigset_t& signals) {
  if (cfg.http.drain_ms <= 0)
    return;
  gw.set_draining();
  spdlog::info("stopping: /readyz answers 503, serving {} ms more (http.drain_ms)", cfg.http.drain_ms);
  timespec wait{cfg.http.drain_ms / 1000, static_cast<long>(cfg.http.drain_ms % 1000) * 1000000L};
  sigtimedwait(&signals, nullptr, &wait);
}

// Serves HTTP with `gw` until a stop signal (or `watched` dies); returns the exit status.
int serve_http(caf::actor_system& sys, const settings& cfg, gateway& gw, sigset_t& signals,
               const caf::actor& watched, const char* role) {
  auto front = start_http(cfg, gw, role, /*with_admin=*/true);
  if (!front)
    return 1;
  auto why = wait_for_stop(sys, signals, watched);
  if (why == stop_reason::signal && std::string_view{role} == "all")
    drain(gw, cfg, signals);
  front->stop();
  if (why == stop_reason::watched_down) {
    std::fprintf(stderr, "recd: the coordinator stopped; see the log above\n");
    return 1;
  }
  spdlog::info("shutting down");
  return 0;
}

int serve_all(const settings& cfg, sigset_t& signals) {
  auto rules = load_rules(cfg);
  if (!rules)
    return 1;
  auto counted = partition_count(cfg);
  if (!counted)
    return 1;
  auto partitions = *counted;
  caf::actor_system_config acfg;
  configure(acfg, cfg);
  caf::actor_system sys{acfg};
  auto local = spawn_local_cluster(sys, cfg, partitions, true);
  const auto& coordinator = local.coordinator;
  const auto& shards = local.shards;
  auto cache = spawn_cache(sys, cfg.redis);
  auto gate = std::make_shared<writer_gate>(cfg.postgres.writer_queue_max);
  auto writers = spawn_behavior_writers(sys, store::conninfo(cfg.postgres, store::session::serving),
                                        gate, cfg.postgres.behavior_writers);
  auto catalog = spawn_catalog_writer(sys, store::conninfo(cfg.postgres, store::session::serving));
  auto metrics = std::make_shared<api_metrics>();
  std::vector<api_actor> apis;
  for (std::int32_t i = 0; i < cfg.cluster.api_actors; ++i)
    apis.push_back(spawn_api(sys, cfg,
                             {coordinator, cache,
                              writers[static_cast<std::size_t>(i) % writers.size()], gate,
                              metrics, catalog, rules}));
  gateway gw{sys,     apis, coordinator, coordinator, metrics,
             std::chrono::milliseconds{cfg.http.request_timeout_ms}};
  std::vector<std::pair<std::string, caf::actor_addr>> essentials{
    {"coordinator", coordinator.address()},
    {"cache", cache.address()},
    {"catalog_writer", catalog.address()}};
  for (std::size_t i = 0; i < shards.size(); ++i)
    essentials.emplace_back("shard " + std::to_string(i), shards[i].address());
  for (std::size_t i = 0; i < apis.size(); ++i)
    essentials.emplace_back("api " + std::to_string(i), apis[i].address());
  for (std::size_t i = 0; i < writers.size(); ++i)
    essentials.emplace_back(i == 0 ? std::string{"behavior_writer"}
                                   : "behavior_writer " + std::to_string(i),
                            writers[i].address());
  gw.set_liveness(watch_essentials(sys, std::move(essentials)));
  gw.set_node({"all", metrics, gate, {}});
  gw.set_rules(rules);
  reload_rules_on_hangup(rules);
  watch_rules_file(rules, std::chrono::milliseconds{cfg.rules.watch_ms});
  gw.set_database(store::conninfo(cfg.postgres, store::session::serving));
  auto reader = spawn_dashboard_reader(sys, store::conninfo(cfg.postgres, store::session::serving));
  gw.set_dashboard(
    std::make_shared<dashboard>(sys, dashboard_options(cfg, coordinator, apis, reader, metrics)));
  auto status =
    serve_http(sys, cfg, gw, signals, caf::actor_cast<caf::actor>(coordinator), "all");
  gw.set_dashboard(nullptr);
  stop_all(apis);
  stop_all(shards);
  stop_all(writers);
  stop_each(coordinator, cache, reader);
  bound_teardown(sys);
  return status;
}

std::string node_name(const settings& cfg) {
  if (!cfg.cluster.node_name.empty())
    return cfg.cluster.node_name;
  char host[256] = "shard";
  ::gethostname(host, sizeof host - 1);
  return std::string{host} + "-" + std::to_string(::getpid());
}

// A standby replica's /readyz: never ready (so a Service routes to the leader only).
readiness_probe spawn_standby_probe(caf::actor_system& sys) {
  return sys.spawn([]() -> readiness_probe::behavior_type {
    return {[](ready_atom) { return false; }};
  });
}

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
  std::optional<std::int64_t> term;
  // The leader serves on the ports the standby bound (one log line names an
  // admin port picked with port 0, and it must stay true).
  settings leading = cfg;
  {
    auto standby = spawn_standby_probe(sys);
    auto status = std::make_shared<standby_status>();
    gateway gw{sys, {}, standby, coordinator_actor{}, std::make_shared<api_metrics>(), timeout};
    gw.set_liveness(watch_essentials(sys, {{"standby", standby.address()}}));
    gw.set_replica_readiness([status] { return status->blocker(); });
    gw.set_node({"standby", nullptr, nullptr, {}});
    auto front = start_http(cfg, gw, "coordinator", /*with_admin=*/true);
    if (!front) {
      stop_each(standby);
      return 1;
    }
    spdlog::info("coordinator replica {}: standing by for the lease", holder);
    term = await_lease(cfg, holder, signals, *status);
    auto pin = [](std::string& addr, const std::string& host, std::uint16_t port) {
      if (split_host_port(addr).second == 0 && port != 0)
        addr = host + ":" + std::to_string(port);
    };
    pin(leading.http.addr, http_options(cfg).host, front->api->port());
    if (front->admin)
      pin(leading.admin.addr, admin_http_options(cfg).host, front->admin->port());
    front->stop();
    stop_each(standby);
  }
  if (!term) {
    bound_teardown(sys);
    return 0;
  }
  spdlog::info("coordinator replica {} leads (term {})", holder, *term);
  lease_renewal lease{cfg, *term};
  coordinator_options opt{cfg, *counted, true, true, *term, orphaned_runs(cfg, *term)};
  auto coordinator = spawn_coordinator(sys, std::move(opt), {});
  auto port = publish_node(sys, coordinator, cfg);
  if (!port) {
    std::fprintf(stderr, "recd: cannot publish the coordinator on %s:%d: %s\n",
                 cfg.cluster.bind.c_str(), cfg.cluster.port, sys.render(port.error()).c_str());
    stop_each(coordinator);
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
  // The node exits if its coordinator actor dies, so that it gets restarted.
  auto status = serve_http(sys, leading, gw, signals, caf::actor_cast<caf::actor>(coordinator),
                           "coordinator");
  gw.set_dashboard(nullptr);
  stop_each(coordinator, reader);
  // After the coordinator stopped: a standby may lead at once.
  lease.release();
  bound_teardown(sys);
  return status;
}

int serve_shard(const settings& cfg, sigset_t& signals) {
  caf::actor_system_config acfg;
  configure(acfg, cfg);
  configure_network(acfg, cfg);
  caf::actor_system sys{acfg};
  auto name = node_name(cfg);
  auto shard = spawn_shard(sys, 0, store::conninfo(cfg.postgres, store::session::job), cfg.recommend);
  // Published so that API nodes connect to this node directly.
  auto port = publish_node(sys, shard, cfg);
  if (!port) {
    std::fprintf(stderr, "recd: cannot publish the shard on %s:%d: %s\n", cfg.cluster.bind.c_str(),
                 cfg.cluster.port, sys.render(port.error()).c_str());
    stop_each(shard);
    return 1;
  }
  gateway gw{sys, {}, shard, coordinator_actor{}, std::make_shared<api_metrics>(),
             std::chrono::milliseconds{cfg.http.request_timeout_ms}};
  // A shard node whose shard actor died answers /healthz 503: Kubernetes restarts it.
  gw.set_liveness(watch_essentials(sys, {{"shard", shard.address()}}));
  gw.set_node({"shard", nullptr, nullptr, {}});
  auto server = start_http(cfg, gw, "shard", /*with_admin=*/true);
  if (!server) {
    stop_each(shard);
    return 1;
  }
  // Where API nodes dial this node.
  auto address = !cfg.cluster.advertise.empty() ? cfg.cluster.advertise
                                                : cfg.cluster.bind + ":" + std::to_string(*port);
  spdlog::info("shard node {}: actor port {}:{}, reached at {}", name, cfg.cluster.bind, *port,
               address);
  // Join, serve, and rejoin whenever the coordinator goes away and comes back.
  for (;;) {
    auto coordinator = connect_coordinator(sys, cfg, signals);
    if (!coordinator)
      break;
    caf::scoped_actor self{sys};
    // The shard takes control messages from this coordinator's node from now
    // on (actors/trust.hpp). Sent first: the coordinator asks the shard what
    // it holds as soon as the join arrives.
    self->send(shard, controller_atom_v, coordinator->node());
    bool joined = false;
    // Short: a coordinator that is shutting down must not hold the rejoin up.
    self->request(*coordinator, std::chrono::seconds{2}, join_atom_v,
                  shard_join{name, shard, address})
      .receive([&](std::uint32_t partitions) {
                 joined = true;
                 spdlog::info("joined the coordinator ({} partitions)", partitions);
               },
               [&](caf::error& err) { spdlog::error("join failed: {}", sys.render(err)); });
    if (!joined) {
      timespec wait{1, 0};
      if (sigtimedwait(&signals, nullptr, &wait) > 0)
        break;
      continue;
    }
    if (wait_for_stop(sys, signals, caf::actor_cast<caf::actor>(*coordinator)) ==
        stop_reason::signal) {
      // Hand the partitions over before going: no request for them degrades.
      // Bounded well inside the node's shutdown deadline.
      spdlog::info("stopping: asking the coordinator to move this shard's partitions");
      // A coordinator that goes down meanwhile ends the wait at once.
      caf::scoped_actor leaver{sys};
      leaver->monitor(*coordinator);
      leaver->send(*coordinator, leave_atom_v, name);
      leaver->receive([](bool) { spdlog::info("partitions handed over"); },
                      [](caf::down_msg&) { spdlog::warn("the coordinator went down: leaving"); },
                      caf::after(std::chrono::seconds{12}) >>
                        [] { spdlog::warn("no handover within 12 s: leaving anyway"); });
      break;
    }
    spdlog::warn("lost the coordinator: reconnecting");
  }
  server->stop();
  spdlog::info("shutting down");
  stop_each(shard);
  bound_teardown(sys);
  return 0;
}

int serve_api(const settings& cfg, sigset_t& signals) {
  auto rules = load_rules(cfg);
  if (!rules)
    return 1;
  caf::actor_system_config acfg;
  configure(acfg, cfg);
  configure_network(acfg, cfg);
  caf::actor_system sys{acfg};
  auto coordinator = connect_coordinator(sys, cfg, signals);
  if (!coordinator)
    return 0;
  auto cache = spawn_cache(sys, cfg.redis);
  auto gate = std::make_shared<writer_gate>(cfg.postgres.writer_queue_max);
  auto writers = spawn_behavior_writers(sys, store::conninfo(cfg.postgres, store::session::serving),
                                        gate, cfg.postgres.behavior_writers);
  auto catalog = spawn_catalog_writer(sys, store::conninfo(cfg.postgres, store::session::serving));
  auto dialer = spawn_shard_dialer(sys, cfg, *coordinator);
  auto metrics = std::make_shared<api_metrics>();
  std::vector<api_actor> apis;
  for (std::int32_t i = 0; i < cfg.cluster.api_actors; ++i)
    apis.push_back(spawn_api(sys, cfg,
                             {*coordinator, cache,
                              writers[static_cast<std::size_t>(i) % writers.size()], gate,
                              metrics, catalog, rules}));
  // Ready once the map is ready and this node is connected to every shard node.
  gateway gw{sys, apis, dialer, coordinator_actor{}, metrics,
             std::chrono::milliseconds{cfg.http.request_timeout_ms}};
  std::vector<std::pair<std::string, caf::actor_addr>> essentials{
    {"cache", cache.address()},
    {"catalog_writer", catalog.address()},
    {"shard_dialer", dialer.address()}};
  for (std::size_t i = 0; i < apis.size(); ++i)
    essentials.emplace_back("api " + std::to_string(i), apis[i].address());
  for (std::size_t i = 0; i < writers.size(); ++i)
    essentials.emplace_back(i == 0 ? std::string{"behavior_writer"}
                                   : "behavior_writer " + std::to_string(i),
                            writers[i].address());
  gw.set_liveness(watch_essentials(sys, std::move(essentials)));
  gw.set_node({"api", metrics, gate, {}});
  gw.set_rules(rules);
  reload_rules_on_hangup(rules);
  watch_rules_file(rules, std::chrono::milliseconds{cfg.rules.watch_ms});
  auto server = start_http(cfg, gw, "api", /*with_admin=*/true);
  int status = 0;
  if (!server) {
    status = 1;
  } else {
    for (;;) {
      if (wait_for_stop(sys, signals, caf::actor_cast<caf::actor>(*coordinator)) ==
          stop_reason::signal) {
        drain(gw, cfg, signals);
        break;
      }
      spdlog::warn("lost the coordinator: serving with the last map while reconnecting");
      coordinator = connect_coordinator(sys, cfg, signals);
      if (!coordinator)
        break;
      // From this node's own (scoped) actor: API actors refuse anonymous joins.
      caf::scoped_actor self{sys};
      for (auto& api : apis)
        self->send(api, follow_atom_v, *coordinator);
      self->send(dialer, follow_atom_v, *coordinator);
    }
  }
  if (server)
    server->stop();
  stop_all(apis);
  stop_all(writers);
  stop_each(cache, dialer);
  bound_teardown(sys);
  return status;
}

} // namespace

int run_serve(const settings& cfg, const std::string& role) {
  auto signals = block_stop_signals();
  if (role == "coordinator")
    return serve_coordinator(cfg, signals);
  if (role == "shard")
    return serve_shard(cfg, signals);
  if (role == "api")
    return serve_api(cfg, signals);
  return serve_all(cfg, signals);
}

} // namespace recd
