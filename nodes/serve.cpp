// `recd serve --role all`: coordinator, shards, API actors and the HTTP
// gateway in one process. Stops cleanly on SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <pthread.h>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/api.hpp"
#include "actors/behavior_writer.hpp"
#include "actors/cache.hpp"
#include "actors/coordinator.hpp"
#include "actors/shard.hpp"
#include "nodes/actor_system.hpp"
#include "nodes/commands.hpp"
#include "nodes/gateway.hpp"
#include "protocol/errors.hpp"

namespace recd {

int run_serve(const settings& cfg, const std::string& role) {
  (void)role; // only "all" for now: the cluster roles come with the cluster work
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto counted = partition_count(cfg);
  if (!counted)
    return 1;
  auto partitions = *counted;
  auto colon = cfg.http.addr.rfind(':');
  http::server_options hopt;
  hopt.host = cfg.http.addr.substr(0, colon);
  hopt.port = static_cast<std::uint16_t>(std::stoi(cfg.http.addr.substr(colon + 1)));
  hopt.threads = cfg.http.threads;
  hopt.max_body_bytes = static_cast<std::size_t>(cfg.http.max_body_bytes);
  hopt.handler_timeout = std::chrono::milliseconds{cfg.http.request_timeout_ms + 500};

  caf::actor_system_config acfg;
  configure(acfg, cfg);
  caf::actor_system sys{acfg};
  auto n = static_cast<std::uint32_t>(
    std::min<std::int32_t>(cfg.cluster.shards, static_cast<std::int32_t>(partitions)));
  std::vector<caf::actor> shards;
  for (std::uint32_t i = 0; i < n; ++i)
    shards.push_back(spawn_shard(sys, i, cfg.postgres.url, cfg.recommend));
  auto coordinator = spawn_coordinator(sys, {cfg, partitions, true}, shards);
  auto cache = spawn_cache(sys, cfg.redis);
  auto writer = spawn_behavior_writer(sys, cfg.postgres.url);
  auto metrics = std::make_shared<api_metrics>();
  std::vector<caf::actor> apis;
  for (std::int32_t i = 0; i < cfg.cluster.api_actors; ++i)
    apis.push_back(spawn_api(sys, cfg, {coordinator, cache, writer, metrics}));
  gateway gw{sys, apis, coordinator, metrics, std::chrono::milliseconds{cfg.http.request_timeout_ms}};
  http::server server{hopt, [&gw](http::request&& req, http::reply_fn reply) {
                        gw.handle(std::move(req), std::move(reply));
                      }};
  int status = 0;
  if (auto err = server.start()) {
    std::fprintf(stderr, "recd: cannot listen on %s: %s\n", cfg.http.addr.c_str(), err->c_str());
    status = 1;
  } else {
    spdlog::info("recd serving on http://{}:{} with {} shards, {} partitions", hopt.host,
                 server.port(), n, partitions);
    // Wait for SIGINT/SIGTERM, or for the coordinator to die (a shard failed to load).
    caf::scoped_actor self{sys};
    self->monitor(coordinator);
    std::atomic<bool> coordinator_down{false};
    std::thread watcher{[&] {
      self->receive([&](const caf::down_msg&) {
        coordinator_down = true;
        ::kill(::getpid(), SIGTERM);
      });
    }};
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (coordinator_down) {
      std::fprintf(stderr, "recd: the coordinator stopped (a shard could not load its state)\n");
      status = 1;
    } else {
      spdlog::info("signal {}: shutting down", sig);
      caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
    }
    watcher.join();
  }
  server.stop();
  for (auto& a : apis)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  for (auto& a : shards)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(cache, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
  return status;
}

} // namespace recd
