#include "support/cluster_harness.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <gtest/gtest.h>

#include "support/api_client.hpp"
#include "support/e2e_text.hpp"
#include "support/recd_cli.hpp"

namespace recd::test {

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

bool keep_logs() {
  const char* keep = std::getenv("RECD_KEEP_LOGS");
  return (keep != nullptr && *keep != '\0') || ::testing::Test::HasFailure() ||
         ::testing::UnitTest::GetInstance()->failed_test_count() > 0;
}

} // namespace

// ---- the partition map -----------------------------------------------------------------

std::optional<cluster_map> parse_map(const json& j) {
  try {
    cluster_map m;
    m.raw = j.dump();
    m.epoch = j.at("epoch").get<std::uint64_t>();
    m.partitions = j.at("partitions").get<int>();
    m.ready = j.at("ready").get<bool>();
    m.replicated = j.at("replicated").get<bool>();
    m.moving = j.at("moving").get<bool>();
    for (const auto& s : j.at("shards"))
      m.shards.push_back({s.at("name").get<std::string>(), s.at("alive").get<bool>(),
                          s.at("partitions").get<std::vector<int>>(),
                          s.at("replicas").get<std::vector<int>>()});
    return m;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string balance_problem(const cluster_map& m, const std::set<std::string>& live) {
  if (m.partitions <= 0)
    return "no partitions in " + m.raw;
  std::vector<int> owners(static_cast<std::size_t>(m.partitions), 0);
  std::size_t smallest = SIZE_MAX, largest = 0;
  for (const auto& s : m.shards) {
    const bool expected = live.count(s.name) > 0;
    if (expected && !s.alive)
      return s.name + " is listed as dead";
    if (!expected && !s.partitions.empty())
      return s.name + " (not a live shard) still owns " + std::to_string(s.partitions.size()) +
             " partitions";
    if (expected) {
      smallest = std::min(smallest, s.partitions.size());
      largest = std::max(largest, s.partitions.size());
    }
    for (int p : s.partitions) {
      if (p < 0 || p >= m.partitions)
        return "partition " + std::to_string(p) + " out of range";
      ++owners[static_cast<std::size_t>(p)];
    }
  }
  for (const auto& name : live)
    if (m.shard(name) == nullptr)
      return name + " is not listed";
  for (std::size_t p = 0; p < owners.size(); ++p)
    if (owners[p] != 1)
      return "partition " + std::to_string(p) + " is owned " + std::to_string(owners[p]) +
             " times";
  if (largest - smallest > 1)
    return "unbalanced: shard sizes from " + std::to_string(smallest) + " to " +
           std::to_string(largest);
  return "";
}

// ---- a cluster of processes --------------------------------------------------------------

cluster::cluster(const std::string& tag, std::string postgres_url, std::string redis_url)
  : tag_(tag),
    postgres_(std::move(postgres_url)),
    redis_(std::move(redis_url)),
    app_id_("recd-cluster-test-" + tag + "-" + std::to_string(::getpid())),
    replicas_{{free_port(), free_port(), free_port()}} {}

void cluster::set_coordinator_replicas(int n) {
  while (static_cast<int>(replicas_.size()) < n)
    replicas_.push_back({free_port(), free_port(), free_port()});
}

std::string cluster::coordinator_addr() const {
  std::string out;
  for (const auto& r : replicas_)
    out += (out.empty() ? "" : ",") + loopback + ":" + std::to_string(r.actor);
  return out;
}

env_list cluster::common_env() const {
  env_list out = node_env_;
  env_list base = {{"RECD_POSTGRES_URL", postgres_},
          {"RECD_REDIS_URL", redis_},
          {"RECD_CLUSTER_COORDINATOR", coordinator_addr()},
          {"RECD_CLUSTER_APP_ID", app_id_},
          {"RECD_JOBS_POLL_SECONDS", "1"},
          {"RECD_CLUSTER_REJOIN_GRACE_MS", "3000"}};
  // set_node_env's settings win over these defaults.
  for (const auto& entry : base)
    if (std::none_of(out.begin(), out.end(),
                     [&](const auto& set) { return set.first == entry.first; }))
      out.push_back(entry);
  return out;
}

node& cluster::start_coordinator(int replica) {
  const auto& r = replicas_.at(static_cast<std::size_t>(replica));
  auto name = replica == 0 ? std::string{"coordinator"} : "coordinator-" + std::to_string(replica);
  // The admin token reaches the node through its environment, never argv.
  return launch(name, "coordinator", r.http, r.actor,
                {{"RECD_CLUSTER_PORT", std::to_string(r.actor)},
                 {"RECD_CLUSTER_NODE_NAME", name},
                 {"RECD_ADMIN_ADDR", loopback + ":" + std::to_string(r.admin)},
                 {"RECD_ADMIN_TOKEN", admin_token}});
}

node& cluster::start_shard(int i, const env_list& extra) {
  auto name = "shard-" + std::to_string(i);
  auto port = free_port();
  // Every node has an admin port (/metrics): any free one here.
  env_list env{{"RECD_CLUSTER_PORT", std::to_string(port)},
               {"RECD_CLUSTER_NODE_NAME", name},
               {"RECD_ADMIN_ADDR", loopback + ":0"},
               {"RECD_ADMIN_TOKEN", admin_token}};
  env.insert(env.end(), extra.begin(), extra.end());
  return launch(name, "shard", free_port(), port, env);
}

node& cluster::start_api(int i) {
  return launch("api-" + std::to_string(i), "api", free_port(), 0,
                {{"RECD_ADMIN_ADDR", loopback + ":0"}, {"RECD_ADMIN_TOKEN", admin_token}});
}

node& cluster::operator[](const std::string& name) {
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
    if ((*it)->name == name)
      return **it;
  throw std::runtime_error("no node " + name);
}

std::vector<std::uint16_t> cluster::api_ports() const {
  std::vector<std::uint16_t> out;
  for (const auto& n : nodes_)
    if (n->role == "api" && !n->stopped)
      out.push_back(n->http);
  return out;
}

double cluster::wait_http_ok(node& n, const std::string& path,
                             std::chrono::milliseconds timeout) {
  auto t0 = steady::now();
  for (;;) {
    if (!n.proc->running())
      throw std::runtime_error(n.name + " exited (status " +
                               std::to_string(exit_code(n.proc->status().value_or(-1))) +
                               "), log " + n.log + ":\n" + tail(slurp(n.log)));
    auto r = get(n.http, path, 1s);
    if (r.status == 200)
      return seconds_since(t0);
    if (steady::now() - t0 >= timeout)
      throw std::runtime_error(n.name + ": GET " + path + " not 200 within " +
                               fmt(double(timeout.count()) / 1000, 0) + " s (last " + show(r) +
                               "), log " + n.log + ":\n" + tail(slurp(n.log)));
    std::this_thread::sleep_for(50ms);
  }
}

double cluster::wait_leading(int replica, std::chrono::milliseconds timeout) {
  auto& n = (*this)[replica == 0 ? std::string{"coordinator"} : "coordinator-" + std::to_string(replica)];
  auto t0 = steady::now();
  for (;;) {
    if (!n.proc->running())
      throw std::runtime_error(n.name + " exited, log " + n.log + ":\n" + tail(slurp(n.log)));
    auto r = request("GET", loopback, coordinator_admin(replica), "/admin/cluster", "",
                     "application/json", 1s, admin_auth());
    if (r.status == 200)
      return seconds_since(t0);
    if (steady::now() - t0 >= timeout)
      throw std::runtime_error(n.name + " does not lead within " +
                               fmt(double(timeout.count()) / 1000, 0) + " s (last " + show(r) +
                               "), log " + n.log + ":\n" + tail(slurp(n.log)));
    std::this_thread::sleep_for(50ms);
  }
}

std::optional<cluster_map> cluster::map() const {
  for (std::size_t k = 0; k < replicas_.size(); ++k) {
    const auto i = (last_leader_ + k) % replicas_.size();
    auto r = request("GET", loopback, replicas_[i].admin, "/admin/cluster", "", "application/json",
                     2s, admin_auth());
    if (r.status == 200) {
      last_leader_ = i;
      return parse_map(r.json);
    }
  }
  return std::nullopt;
}

cluster::map_wait cluster::wait_map(const std::function<bool(const cluster_map&)>& ok,
                                    std::chrono::milliseconds timeout) const {
  auto t0 = steady::now();
  map_wait w;
  for (;;) {
    if (auto m = map()) {
      w.map = m;
      if (ok(*m)) {
        w.ok = true;
        break;
      }
    }
    if (steady::now() - t0 >= timeout)
      break;
    std::this_thread::sleep_for(25ms);
  }
  w.seconds = seconds_since(t0);
  return w;
}

cluster::map_wait cluster::wait_balanced(const std::set<std::string>& live,
                                         std::chrono::milliseconds timeout,
                                         std::uint64_t above_epoch) const {
  return wait_map(
    [&](const cluster_map& m) {
      return m.ready && !m.moving && m.epoch > above_epoch && balance_problem(m, live).empty();
    },
    timeout);
}

std::optional<int> cluster::stop(node& n, std::chrono::milliseconds timeout) {
  n.stopped = true;
  n.proc->signal(SIGTERM);
  auto st = n.proc->wait_for(timeout);
  if (!st) {
    n.proc->signal(SIGKILL);
    n.proc->wait_for(10s);
    return std::nullopt;
  }
  return exit_code(*st);
}

void cluster::kill9(node& n) {
  n.stopped = true;
  n.proc->signal(SIGKILL);
  n.proc->wait_for(10s);
}

void cluster::shutdown() {
  for (const char* role : {"api", "shard", "coordinator"}) {
    for (auto& n : nodes_)
      if (n->role == role && !n->stopped)
        n->proc->signal(SIGTERM);
    for (auto& n : nodes_) {
      if (n->role != role || n->stopped)
        continue;
      n->stopped = true;
      auto st = n->proc->wait_for(10s);
      if (!st) {
        if (std::getenv("RECD_DEBUG_HANG"))
          std::system(("gdb -p " + std::to_string(n->proc->pid()) +
                       " -batch -ex 'thread apply all bt' > " + n->log + ".stacks 2>&1").c_str());
        n->proc->signal(SIGKILL);
        n->proc->wait_for(10s);
        ADD_FAILURE() << n->name << " did not exit within 10 s of SIGTERM, log " << n->log
                      << ":\n"
                      << tail(slurp(n->log));
      } else if (exit_code(*st) != 0) {
        ADD_FAILURE() << n->name << " exited with status " << exit_code(*st)
                      << " after SIGTERM, log " << n->log << ":\n"
                      << tail(slurp(n->log));
      }
    }
  }
  std::set<std::string> logs;
  for (auto& n : nodes_)
    logs.insert(n->log);
  if (keep_logs()) {
    if (!logs.empty())
      info("node logs kept: " + *logs.begin() + " ...");
  } else {
    for (const auto& l : logs)
      std::remove(l.c_str());
  }
  nodes_.clear();
}

node& cluster::launch(const std::string& name, const std::string& role, std::uint16_t http,
                      std::uint16_t actor, const env_list& extra) {
  auto env = common_env();
  env.emplace_back("RECD_HTTP_ADDR", loopback + ":" + std::to_string(http));
  env = override_env(std::move(env), extra);
  auto n = std::make_unique<node>();
  n->name = name;
  n->role = role;
  n->http = http;
  n->actor = actor;
  // A restarted node appends to its previous log.
  n->log = "/tmp/recd_e2e_" + std::to_string(::getpid()) + "_" + tag_ + "_" + name + ".log";
  if (logs_started_.insert(n->log).second)
    std::remove(n->log.c_str());
  // A node whose teardown hangs saves its threads' stacks next to its log.
  if (std::getenv("RECD_DEBUG_HANG"))
    env.emplace_back("RECD_DEBUG_HANG", n->log + ".stacks");
  n->proc = std::make_unique<child_process>(
    std::vector<std::string>{binary_.empty() ? recd_binary() : binary_, "serve", "--role", role}, env, n->log);
  nodes_.push_back(std::move(n));
  return *nodes_.back();
}

cluster_map start_cluster(cluster& c, int shards, int apis, std::chrono::milliseconds within) {
  c.start_coordinator();
  std::set<std::string> names;
  for (int i = 0; i < shards; ++i) {
    c.start_shard(i);
    names.insert("shard-" + std::to_string(i));
  }
  for (int i = 0; i < apis; ++i)
    c.start_api(i);
  c.wait_http_ok(c["coordinator"]);
  for (int i = 0; i < apis; ++i)
    c.wait_http_ok(c["api-" + std::to_string(i)]);
  auto w = c.wait_balanced(names, within);
  if (!w.ok)
    throw std::runtime_error("the " + std::to_string(shards) + " shards are not balanced: " +
                             (w.map ? w.map->raw : "no map"));
  return *w.map;
}

cluster_map start_two_shard_cluster(cluster& c) {
  return start_cluster(c, 2, 2);
}

// ---- the map watcher -------------------------------------------------------------------

map_watcher::map_watcher(const cluster& c, std::function<double()> clock)
  : c_(c), clock_(std::move(clock)) {
  thread_ = std::thread{[this] {
    std::string last;
    while (!stop_) {
      if (auto m = c_.map()) {
        auto state = "epoch " + std::to_string(m->epoch) + (m->ready ? " ready" : " NOT ready") +
                     (m->moving ? " moving" : "");
        if (state != last) {
          std::lock_guard lock{mutex_};
          events_.push_back("t=" + fmt(clock_()) + " s  map: " + state);
          last = state;
        }
      }
      std::this_thread::sleep_for(20ms);
    }
  }};
}

void map_watcher::stop() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

std::vector<std::string> map_watcher::events() {
  std::lock_guard lock{mutex_};
  return events_;
}

std::uint16_t admin_port_of(const std::string& log_path) {
  const auto log = slurp(log_path);
  const std::string marker = "admin on " + loopback + ":";
  auto at = log.rfind(marker);
  return at == std::string::npos
           ? 0
           : static_cast<std::uint16_t>(std::atoi(log.c_str() + at + marker.size()));
}

} // namespace recd::test
