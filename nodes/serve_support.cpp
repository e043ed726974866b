#include "nodes/serve_support.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <variant>

#include <spdlog/spdlog.h>

#include "actors/census.hpp"
#include "actors/telemetry.hpp"
#include "nodes/metrics.hpp"
#include "nodes/node_runtime.hpp"

namespace recd {

namespace {

// What both ports do with every finished exchange: count it for /metrics
// and log a failed request (5xx) once, with its request id and the detail the
// client never sees. The server's 503 to a connection over
// http.max_connections (no request was read) is counted, not logged: a flood
// of connections must not become a flood of log lines. Neither is a probe's
// 503: not ready (loading, a standby, draining) is a state the probe reports,
// not a failure, and the kubelet asks every few seconds.
bool is_probe(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/readyz/replica";
}

void observe(const http::exchange& e) {
  node_telemetry().http.record(metrics::endpoint_of(e.path), e.status, e.seconds);
  if (e.status >= 500 && !e.method.empty() && !(e.status == 503 && is_probe(e.path)))
    spdlog::warn("request {} {} {} failed: {} in {:.1f} ms: {}", e.id,
                 e.method.empty() ? std::string_view{"-"} : e.method,
                 e.path.empty() ? std::string_view{"-"} : e.path, e.status, e.seconds * 1000,
                 e.detail.empty() ? std::string_view{"(no detail)"} : e.detail);
}

} // namespace

// Called once a node has done its part of a shutdown (HTTP stopped, partitions
// handed over, actors told to exit): the actor system's own teardown gets 5 s.
// Shard nodes waited there for the ALS workers of finished runs, which never
// ended (fixed: a worker ends itself once it staged its rows). A coordinator
// was also seen to wait with none of recd's actors alive, in tests whose links
// had dropped; not seen since that fix, cause not proven. Nothing of the
// node's work is left then, so the process ends with a logged error instead
// of hanging.
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



bool http_front::switch_to(const settings& cfg, gateway& gw) {
  if (!cfg.http.api_keys_file.empty()) {
    auto keys = http::api_keys::load(cfg.http.api_keys_file);
    if (auto* err = std::get_if<std::string>(&keys)) {
      std::fprintf(stderr, "recd: %s\n", err->c_str());
      return false;
    }
    auto& loaded = std::get<std::shared_ptr<http::api_keys>>(keys);
    spdlog::info("API keys on: {} keys from {}", loaded->counts().size(), cfg.http.api_keys_file);
    gw.set_api_keys(std::move(loaded));
  }
  gw.set_admin_token(cfg.admin.token);
  // A batch takes one writer queue slot per event: larger ones could never enter.
  gw.set_max_batch_events(static_cast<std::size_t>(
    std::min(cfg.http.max_batch_events, cfg.postgres.writer_queue_max)));
  // /metrics reads it from the servers' threads.
  gw.set_connections([api = api.get(), admin = admin.get()] {
    return (api != nullptr ? api->connections() : 0) + (admin != nullptr ? admin->connections() : 0);
  });
  target->store(&gw, std::memory_order_release);
  return true;
}

std::optional<http_front> start_http(const settings& cfg, gateway& gw, const char* role,
                                     bool with_admin) {
  check_fd_headroom(cfg);

  http_front front;
  auto public_opt = http_options(cfg);
  public_opt.on_exchange = observe;
  front.api = std::make_unique<http::server>(
    public_opt, [target = front.target](http::request&& req, http::reply_fn reply) {
      target->load(std::memory_order_acquire)->handle(std::move(req), std::move(reply));
    });
  auto admin_opt = admin_http_options(cfg);
  admin_opt.on_exchange = observe;
  if (with_admin)
    front.admin = std::make_unique<http::server>(
      admin_opt, [target = front.target](http::request&& req, http::reply_fn reply) {
        target->load(std::memory_order_acquire)->handle_admin(std::move(req), std::move(reply));
      });
  // Before either server runs: every request finds a gateway.
  if (!front.switch_to(cfg, gw))
    return std::nullopt;
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

void drain(gateway& gw, const settings& cfg, sigset_t& signals) {
  if (cfg.http.drain_ms <= 0)
    return;
  gw.set_draining();
  spdlog::info("stopping: /readyz answers 503, serving {} ms more (http.drain_ms)", cfg.http.drain_ms);
  timespec wait{cfg.http.drain_ms / 1000, static_cast<long>(cfg.http.drain_ms % 1000) * 1000000L};
  sigtimedwait(&signals, nullptr, &wait);
}

int serve_http(caf::actor_system& sys, const settings& cfg, gateway& gw, sigset_t& signals,
               const caf::actor& watched, const char* role) {
  auto front = start_http(cfg, gw, role, /*with_admin=*/true);
  if (!front)
    return 1;
  return serve_until_stop(sys, cfg, gw, *front, signals, watched, role);
}

int serve_until_stop(caf::actor_system& sys, const settings& cfg, gateway& gw, http_front& front,
                     sigset_t& signals, const caf::actor& watched, const char* role) {
  auto why = wait_for_stop(sys, signals, watched);
  if (why == stop_reason::signal && std::string_view{role} == "all")
    drain(gw, cfg, signals);
  front.stop();
  if (why == stop_reason::watched_down) {
    std::fprintf(stderr, "recd: the coordinator stopped; see the log above\n");
    return 1;
  }
  spdlog::info("shutting down");
  return 0;
}

std::string node_name(const settings& cfg) {
  if (!cfg.cluster.node_name.empty())
    return cfg.cluster.node_name;
  char host[256] = "shard";
  ::gethostname(host, sizeof host - 1);
  return std::string{host} + "-" + std::to_string(::getpid());
}

} // namespace recd
