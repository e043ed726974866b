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
#include "actors/history_reader.hpp"
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
#include "nodes/serve_support.hpp"

namespace recd {

namespace {

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
  auto history = spawn_history_reader(sys, store::conninfo(cfg.postgres, store::session::serving));
  auto metrics = std::make_shared<api_metrics>();
  // The shards run here: the answers they vouch for are served by the HTTP
  // threads (actors/local_answers.hpp), in as much memory as one near cache.
  std::shared_ptr<local_answers> answers;
  if (cfg.redis.near_cache_mb > 0)
    answers = std::make_shared<local_answers>(static_cast<std::size_t>(cfg.redis.near_cache_mb) << 20,
                                              std::chrono::seconds{cfg.redis.ttl_seconds});
  std::vector<api_actor> apis;
  for (std::int32_t i = 0; i < cfg.cluster.api_actors; ++i)
    apis.push_back(spawn_api(sys, cfg,
                             {coordinator, cache,
                              writers[static_cast<std::size_t>(i) % writers.size()], gate,
                              metrics, catalog, rules, history, answers}));
  gateway gw{sys,     apis, coordinator, coordinator, metrics,
             std::chrono::milliseconds{cfg.http.request_timeout_ms}};
  gw.set_local_answers(answers);
  std::vector<std::pair<std::string, caf::actor_addr>> essentials{
    {"coordinator", coordinator.address()},
    {"cache", cache.address()},
    {"catalog_writer", catalog.address()},
    {"history_reader", history.address()}};
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

int serve_shard(const settings& cfg, sigset_t& signals) {
  caf::actor_system_config acfg;
  configure(acfg, cfg);
  configure_network(acfg, cfg);
  caf::actor_system sys{acfg};
  auto name = node_name(cfg);
  // A similarity run's peers on other shard nodes are dialed directly (TLS
  // when on), like API nodes dial shard nodes.
  auto dial_peer = [&sys, cfg](const std::string& address) -> caf::expected<shard_actor> {
    auto [host, port] = split_host_port(address);
    if (port <= 0 || port > 65535)
      return make_error(ec::invalid_argument, "not a host:port: '" + address + "'");
    return connect_node<shard_actor>(sys, host, static_cast<std::uint16_t>(port), cfg);
  };
  auto shard = spawn_shard(sys, 0, store::conninfo(cfg.postgres, store::session::job), cfg.recommend,
                           dial_peer);
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
  auto history = spawn_history_reader(sys, store::conninfo(cfg.postgres, store::session::serving));
  auto dialer = spawn_shard_dialer(sys, cfg, *coordinator);
  auto metrics = std::make_shared<api_metrics>();
  std::vector<api_actor> apis;
  for (std::int32_t i = 0; i < cfg.cluster.api_actors; ++i)
    apis.push_back(spawn_api(sys, cfg,
                             {*coordinator, cache,
                              writers[static_cast<std::size_t>(i) % writers.size()], gate,
                              metrics, catalog, rules, history,
                              nullptr})); // the shards run elsewhere: none vouches locally
  // Ready once the map is ready and this node is connected to every shard node.
  gateway gw{sys, apis, dialer, coordinator_actor{}, metrics,
             std::chrono::milliseconds{cfg.http.request_timeout_ms}};
  std::vector<std::pair<std::string, caf::actor_addr>> essentials{
    {"cache", cache.address()},
    {"catalog_writer", catalog.address()},
    {"history_reader", history.address()},
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
