#include "nodes/node_runtime.hpp"
#include "nodes/leadership.hpp"

#include <atomic>
#include <set>
#include <pthread.h>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/census.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "nodes/actor_system.hpp"
#include "protocol/type_ids.hpp"
#include "protocol/version.hpp"

namespace recd {

sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  // SIGHUP too (a rules reload, nodes/rules_admin.hpp), but it is not a stop
  // signal: it stays out of the returned set.
  sigset_t blocked = signals;
  sigaddset(&blocked, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  return signals;
}

std::pair<std::string, int> split_host_port(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos)
    return {addr, -1};
  try {
    return {addr.substr(0, colon), std::stoi(addr.substr(colon + 1))};
  } catch (...) {
    return {addr, -1};
  }
}

http::server_options http_options(const settings& cfg) {
  auto [host, port] = split_host_port(cfg.http.addr);
  http::server_options opt;
  opt.host = host;
  opt.port = static_cast<std::uint16_t>(port < 0 ? 0 : port);
  opt.threads = cfg.http.threads;
  opt.max_body_bytes = static_cast<std::size_t>(cfg.http.max_body_bytes);
  opt.max_header_bytes = static_cast<std::size_t>(cfg.http.max_header_bytes);
  opt.max_connections = static_cast<std::size_t>(cfg.http.max_connections);
  opt.header_timeout = std::chrono::milliseconds{cfg.http.header_timeout_ms};
  opt.body_timeout = std::chrono::milliseconds{cfg.http.body_timeout_ms};
  opt.idle_timeout = std::chrono::milliseconds{cfg.http.idle_timeout_ms};
  opt.handler_timeout = std::chrono::milliseconds{cfg.http.request_timeout_ms + 500};
  opt.batch_paths = {"/api/behaviors", "/api/items"};
  opt.max_batch_body_bytes = static_cast<std::size_t>(cfg.http.max_batch_bytes);
  return opt;
}

http::server_options admin_http_options(const settings& cfg) {
  auto opt = http_options(cfg);
  auto [host, port] = split_host_port(cfg.admin.addr);
  opt.host = host;
  opt.port = static_cast<std::uint16_t>(port < 0 ? 0 : port);
  opt.threads = 1;
  opt.max_connections = std::min<std::size_t>(opt.max_connections, 64);
  opt.batch_paths.clear(); // no batch route on the admin port
  opt.max_batch_body_bytes = 0;
  return opt;
}

stop_reason wait_for_stop(caf::actor_system& sys, sigset_t& signals, const caf::actor& watched) {
  std::atomic<bool> down{false};
  std::thread watcher;
  caf::scoped_actor self{sys};
  if (watched) {
    self->monitor(watched);
    watcher = std::thread{[&] {
      self->receive(
        [&](const caf::down_msg&) {
          down = true;
          ::kill(::getpid(), SIGTERM);
        },
        [&](stop_atom) {});
    }};
  }
  int sig = 0;
  sigwait(&signals, &sig);
  if (watcher.joinable()) {
    if (!down) {
      // Wake the watcher thread.
      caf::anon_send(caf::actor_cast<caf::actor>(self.ptr()), stop_atom_v);
    }
    watcher.join();
  }
  if (down)
    return stop_reason::watched_down;
  // Graceful shutdown has a deadline (20 s, below Kubernetes' default
  // termination grace period): an actor stuck in a blocking call must not
  // keep the process alive forever.
  std::thread{[] {
    std::this_thread::sleep_for(std::chrono::seconds{20});
    spdlog::error("shutdown did not finish within 20 s: exiting");
    std::_Exit(1);
  }}.detach();
  return stop_reason::signal;
}

std::vector<std::string> coordinator_replicas(const std::string& list) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= list.size()) {
    auto comma = list.find(',', from);
    auto item = list.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    while (!item.empty() && item.front() == ' ')
      item.erase(item.begin());
    while (!item.empty() && item.back() == ' ')
      item.pop_back();
    if (!item.empty())
      out.push_back(item);
    if (comma == std::string::npos)
      break;
    from = comma + 1;
  }
  return out;
}

std::optional<coordinator_actor> connect_coordinator(caf::actor_system& sys, const settings& cfg,
                                                     sigset_t& signals) {
  auto replicas = coordinator_replicas(cfg.cluster.coordinator);
  for (const auto& r : replicas)
    if (split_host_port(r).second <= 0) {
      spdlog::critical("cluster.coordinator must be host:port[,host:port...], not '{}'",
                       cfg.cluster.coordinator);
      return std::nullopt;
    }
  if (replicas.empty()) {
    spdlog::critical("cluster.coordinator is empty");
    return std::nullopt;
  }
  for (int attempt = 0;; ++attempt) {
    auto dial = leader_candidates(cfg, replicas);
    caf::error last;
    for (const auto& address : dial) {
      auto [host, port] = split_host_port(address);
      if (port <= 0)
        continue;
      auto coordinator =
        connect_node<coordinator_actor>(sys, host, static_cast<std::uint16_t>(port), cfg);
      if (coordinator)
        return *coordinator;
      last = coordinator.error();
    }
    if (attempt % 10 == 0) {
      std::string names;
      for (const auto& d : dial)
        names += (names.empty() ? "" : ",") + d;
      // The handshake refuses a coordinator of another wire version without
      // saying why (protocol/version.hpp); the lease says it.
      if (auto refusal = wire_refusal(cfg))
        spdlog::error("cannot join the cluster: {}; waiting for a leader of wire protocol {}",
                      *refusal, wire_version());
      else
        spdlog::warn("coordinator {} not reachable yet: {}", names, sys.render(last));
    }
    // Sleep a second unless a stop signal arrives.
    timespec wait{1, 0};
    if (sigtimedwait(&signals, nullptr, &wait) > 0)
      return std::nullopt;
  }
}

namespace {

struct dialer_state {
  static inline const char* name = "shard_dialer";
  // Not an aggregate: CAF would construct it from the actor pointer.
  dialer_state() = default;
  coordinator_actor coordinator;
  std::set<std::string> connected; // addresses dialed successfully
  bool ready = false;              // the map is ready and every live shard node dialed
};

shard_dialer_actor::behavior_type
shard_dialer(shard_dialer_actor::stateful_pointer<dialer_state> self, settings cfg,
             coordinator_actor coordinator) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->state.coordinator = std::move(coordinator);
  self->send(self, poll_atom_v);
  return {
    [=](follow_atom, const coordinator_actor& coordinator) {
      const auto& src = self->current_sender();
      if (!src || src->node() != self->node()) {
        refuse(self, "follow", "only the API node itself names its coordinator");
        return;
      }
      self->state.coordinator = coordinator;
    },
    [=](ready_atom) { return self->state.ready; },
    [=](poll_atom) {
      if (check_self(self, "poll"))
        return;
      self->delayed_send(self, std::chrono::seconds{1}, poll_atom_v);
      self->request(self->state.coordinator, std::chrono::seconds{2}, cluster_atom_v)
        .then(
          [=](const std::string& map) {
            auto j = nlohmann::json::parse(map, nullptr, false);
            if (!j.is_object() || !j.contains("shards"))
              return;
            std::set<std::string> alive;
            for (const auto& s : j["shards"])
              if (s.value("alive", false) && !s.value("address", std::string{}).empty())
                alive.insert(s["address"].get<std::string>());
            auto& connected = self->state.connected;
            bool all = j.value("ready", false);
            // A shard node that left (or restarted) is dialed again when it is back.
            std::erase_if(connected, [&](const std::string& a) { return alive.count(a) == 0; });
            for (const auto& addr : alive) {
              if (connected.count(addr) != 0)
                continue;
              auto [host, port] = split_host_port(addr);
              if (port <= 0)
                continue;
              // Blocking: this actor has its own thread.
              auto shard = connect_node<shard_actor>(self->system(), host,
                                                     static_cast<std::uint16_t>(port), cfg);
              if (shard) {
                connected.insert(addr);
                spdlog::info("connected to shard node {}", addr);
              } else {
                all = false;
                spdlog::warn("cannot reach shard node {}: {}", addr,
                             self->system().render(shard.error()));
              }
            }
            self->state.ready = all;
          },
          [=](caf::error&) {
            // The coordinator is away: keep serving by the last map (and stay
            // ready if we were); try again next second.
          });
    },
  };
}

} // namespace

shard_dialer_actor spawn_shard_dialer(caf::actor_system& sys, const settings& cfg,
                                      coordinator_actor coordinator) {
  return sys.spawn<caf::detached>(shard_dialer, cfg, std::move(coordinator));
}

} // namespace recd
