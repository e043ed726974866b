// The cluster as separate processes: one coordinator node, shard nodes and API
// nodes (`recd serve --role coordinator|shard|api`), all on 127.0.0.1, with a
// fresh PostgreSQL database per cluster (recd::store::import_synthetic) and a
// private redis-server. Every check goes through HTTP (/admin/cluster,
// /readyz, the API), PostgreSQL, or the `recd` command line.
//
//   ThreeShardCluster    1 coordinator + 3 shards + 2 API nodes: a balanced map,
//                        `recd compute --coordinator` = a one-node run, every API
//                        node serves and sees the others' behaviors at once.
//   Resharding           shards join and leave under load: no failed request,
//                        no lost behavior (in PostgreSQL and in the shards'
//                        memory), a balanced map at a higher epoch.
//   ShardFailure         kill -9 of a shard node while serving and during a job.
//   Membership           another application id cannot join.
//   CoordinatorRestart   shards rejoin a restarted coordinator, API nodes recover,
//                        and the answers stay the same.
//   Adversary            a client that is no recd node sends hostile messages to
//                        the actor ports: all refused, nothing changes.
//
// Load is bounded: a few client threads, a few seconds, at most a few thousand
// requests each, every request with a 5 s timeout. Every node must exit with
// status 0 within 10 s of SIGTERM at the end of its test.
//
// Node logs are /tmp/recd_e2e_<pid>_<test>_<node>.log, kept when a test fails
// (or RECD_KEEP_LOGS is set). With RECD_DEBUG_HANG set, a node that does not
// exit on SIGTERM gets its thread stacks dumped (gdb) to <log>.stacks first.

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "engine/synthetic.hpp"
#include "nodes/actor_system.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"
#include "store/importer.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

void info(const std::string& text) {
  std::printf("[   info   ] %s\n", text.c_str());
  std::fflush(stdout);
}

std::string fmt(double x, int decimals = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

// Exit code of a wait status; 128 + signal if killed.
int exit_code(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tail(const std::string& text, std::size_t n = 3000) {
  return text.size() > n ? "..." + text.substr(text.size() - n) : text;
}

bool keep_logs() {
  const char* keep = std::getenv("RECD_KEEP_LOGS");
  return (keep != nullptr && *keep != '\0') || ::testing::Test::HasFailure() ||
         ::testing::UnitTest::GetInstance()->failed_test_count() > 0;
}

// ---- data ----------------------------------------------------------------------------

struct shop_spec {
  std::int32_t users = 3000; // ids 1..users
  std::int32_t items = 600;  // ids 1..items
  std::int64_t events = 90000;
  std::uint64_t seed = 4242;
};

// A synthetic shop with its timestamps relative to `now` (not the wall clock), so
// two databases imported with the same spec and `now` hold identical rows. Events
// within an hour of the 30-day boundary (user_similarity.active_days) are moved two
// hours newer: jobs run minutes later see the same window contents in both.
void import_shop(const test_database& db, const shop_spec& spec, unix_seconds now) {
  engine::synthetic_options opt;
  opt.users = spec.users;
  opt.items = spec.items;
  opt.events = spec.events;
  opt.seed = spec.seed;
  opt.now = now;
  opt.days = 80;
  auto c = db.connect();
  auto report = store::import_synthetic(c, opt);
  if (!report)
    throw std::runtime_error("import_synthetic: " + describe(report.error()));
  pqxx::nontransaction tx{c};
  auto t = std::to_string(now);
  tx.exec("UPDATE user_behavior SET timestamp = timestamp + interval '2 hours' WHERE "
          "timestamp > to_timestamp(" + t + ") - interval '30 days' - interval '1 hour' AND "
          "timestamp <= to_timestamp(" + t + ") - interval '30 days' + interval '1 hour'");
  tx.exec("ANALYZE");
}

std::int64_t count(const test_database& db, const std::string& sql) {
  auto s = db.scalar(sql);
  return s.empty() ? -1 : std::stoll(s);
}

std::vector<std::int64_t> column(const test_database& db, const std::string& sql) {
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  std::vector<std::int64_t> out;
  for (const auto& row : tx.exec(sql))
    out.push_back(row[0].as<std::int64_t>());
  return out;
}

// ---- the command line ------------------------------------------------------------------

struct cli_result {
  int status = -1; // exit code, 128 + signal if killed, -1 if it timed out
  std::string output;
  std::string cmd;
};

std::string show(const cli_result& r) {
  return "command: recd" + r.cmd + "\nexit status: " + std::to_string(r.status) +
         "\noutput:\n" + tail(r.output);
}

// A `recd` command running in the background (stdout + stderr to a file).
class cli_run {
public:
  cli_run(const std::vector<std::string>& args, const env_list& env)
    : log_(temp_path("cli.log")) {
    std::vector<std::string> argv{recd_binary()};
    for (const auto& a : args) {
      argv.push_back(a);
      cmd_ += " " + a;
    }
    proc_ = std::make_unique<child_process>(argv, env, log_);
  }
  ~cli_run() {
    proc_.reset();
    std::remove(log_.c_str());
  }
  child_process& process() { return *proc_; }
  // Waits for the exit (SIGKILL after `timeout`).
  cli_result finish(std::chrono::milliseconds timeout) {
    cli_result r;
    r.cmd = cmd_;
    auto st = proc_->wait_for(timeout);
    if (!st) {
      proc_->signal(SIGKILL);
      proc_->wait_for(10s);
      r.output = "(killed: still running after " + fmt(double(timeout.count()) / 1000, 0) + " s)\n";
    } else {
      r.status = exit_code(*st);
    }
    r.output += slurp(log_);
    return r;
  }

private:
  std::string log_;
  std::string cmd_;
  std::unique_ptr<child_process> proc_;
};

cli_result run_cli(const std::vector<std::string>& args, const env_list& env,
                   std::chrono::milliseconds timeout = 120s) {
  cli_run run{args, env};
  return run.finish(timeout);
}

// ---- HTTP --------------------------------------------------------------------------

const std::string loopback = "127.0.0.1";
// The admin token of every coordinator the tests start (passed by environment).
const std::string admin_token = "cluster-test-admin-token";

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 400) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

http_reply get(std::uint16_t port, const std::string& target,
               std::chrono::milliseconds timeout = 5s) {
  return request("GET", loopback, port, target, "", "application/json", timeout);
}

http_reply recommend(std::uint16_t port, std::int64_t user, int limit, bool use_cache) {
  return get(port, "/api/recommend/" + std::to_string(user) + "?limit=" + std::to_string(limit) +
                     "&use_cache=" + (use_cache ? "true" : "false"));
}

http_reply behave(std::uint16_t port, std::int64_t user, std::int64_t item,
                  const std::string& kind) {
  return request("POST", loopback, port, "/api/behavior",
                 json{{"user_id", user}, {"item_id", item}, {"behavior_type", kind}}.dump(),
                 "application/json", 5s);
}

std::vector<std::int64_t> item_ids(const http_reply& r) {
  std::vector<std::int64_t> out;
  if (r.json.is_object() && r.json.contains("recommendations") &&
      r.json["recommendations"].is_array())
    for (const auto& rec : r.json["recommendations"])
      if (rec.is_object() && rec.contains("item_id") && rec["item_id"].is_number_integer())
        out.push_back(rec["item_id"].get<std::int64_t>());
  return out;
}

std::map<std::int64_t, double> item_scores(const http_reply& r) {
  std::map<std::int64_t, double> out;
  if (r.json.is_object() && r.json.contains("recommendations") &&
      r.json["recommendations"].is_array())
    for (const auto& rec : r.json["recommendations"])
      if (rec.is_object() && rec.contains("item_id") && rec.contains("score") &&
          rec["score"].is_number())
        out[rec["item_id"].get<std::int64_t>()] = rec["score"].get<double>();
  return out;
}

bool is_degraded(const http_reply& r) {
  return r.json.is_object() && r.json.contains("degraded") && r.json["degraded"] == true;
}

bool contains(const std::vector<std::int64_t>& v, std::int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string join(const std::vector<std::int64_t>& v) {
  std::string out;
  for (auto x : v)
    out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

// ---- the partition map (GET /admin/cluster) ---------------------------------------------

struct shard_entry {
  std::string name;
  bool alive = false;
  std::vector<int> partitions;
};

struct cluster_map {
  std::uint64_t epoch = 0;
  int partitions = 0;
  bool ready = false;
  bool moving = false;
  std::vector<shard_entry> shards;
  std::string raw;

  const shard_entry* shard(const std::string& name) const {
    for (const auto& s : shards)
      if (s.name == name)
        return &s;
    return nullptr;
  }
};

std::optional<cluster_map> parse_map(const json& j) {
  try {
    cluster_map m;
    m.raw = j.dump();
    m.epoch = j.at("epoch").get<std::uint64_t>();
    m.partitions = j.at("partitions").get<int>();
    m.ready = j.at("ready").get<bool>();
    m.moving = j.at("moving").get<bool>();
    for (const auto& s : j.at("shards"))
      m.shards.push_back({s.at("name").get<std::string>(), s.at("alive").get<bool>(),
                          s.at("partitions").get<std::vector<int>>()});
    return m;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// "" if every partition is owned exactly once, only by the shards named in `live`
// (each listed and alive), with sizes differing by at most one; else what is wrong.
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

struct node {
  std::string name;
  std::string role;
  std::uint16_t http = 0;
  std::uint16_t actor = 0;
  std::string log;
  std::unique_ptr<child_process> proc;
  bool stopped = false; // stopped or killed by the test: not checked at teardown
};

class cluster {
public:
  cluster(const std::string& tag, std::string postgres_url, std::string redis_url)
    : tag_(tag),
      postgres_(std::move(postgres_url)),
      redis_(std::move(redis_url)),
      app_id_("recd-cluster-test-" + tag + "-" + std::to_string(::getpid())),
      coordinator_actor_(free_port()),
      coordinator_http_(free_port()),
      coordinator_admin_(free_port()) {}

  ~cluster() { shutdown(); }

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  const std::string& app_id() const { return app_id_; }
  std::string coordinator_addr() const {
    return loopback + ":" + std::to_string(coordinator_actor_);
  }
  std::uint16_t coordinator_http() const { return coordinator_http_; }
  // The coordinator's admin port (/admin/*) and the header its requests need.
  std::uint16_t coordinator_admin() const { return coordinator_admin_; }
  static header_list admin_auth() { return {{"Authorization", "Bearer " + admin_token}}; }

  // Settings every node started from now on gets (e.g. TLS).
  void set_node_env(env_list env) { node_env_ = std::move(env); }

  env_list common_env() const {
    env_list out = node_env_;
    env_list base = {{"RECD_POSTGRES_URL", postgres_},
            {"RECD_REDIS_URL", redis_},
            {"RECD_CLUSTER_COORDINATOR", coordinator_addr()},
            {"RECD_CLUSTER_APP_ID", app_id_},
            {"RECD_JOBS_POLL_SECONDS", "1"},
            {"RECD_CLUSTER_REJOIN_GRACE_MS", "3000"}};
    out.insert(out.end(), base.begin(), base.end());
    return out;
  }

  // The coordinator node, always on the same actor and HTTP ports (a restart reuses them).
  node& start_coordinator() {
    // The admin token reaches the node through its environment, never argv.
    return launch("coordinator", "coordinator", coordinator_http_, coordinator_actor_,
                  {{"RECD_CLUSTER_PORT", std::to_string(coordinator_actor_)},
                   {"RECD_ADMIN_ADDR", loopback + ":" + std::to_string(coordinator_admin_)},
                   {"RECD_ADMIN_TOKEN", admin_token}});
  }

  node& start_shard(int i, const env_list& extra = {}) {
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

  node& start_api(int i) {
    return launch("api-" + std::to_string(i), "api", free_port(), 0,
                  {{"RECD_ADMIN_ADDR", loopback + ":0"}, {"RECD_ADMIN_TOKEN", admin_token}});
  }

  // The newest node of that name.
  node& operator[](const std::string& name) {
    for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
      if ((*it)->name == name)
        return **it;
    throw std::runtime_error("no node " + name);
  }

  std::vector<std::uint16_t> api_ports() const {
    std::vector<std::uint16_t> out;
    for (const auto& n : nodes_)
      if (n->role == "api" && !n->stopped)
        out.push_back(n->http);
    return out;
  }

  // Waits until GET `path` on the node answers 200; the seconds it took. Throws
  // (with the log's tail) if it does not within `timeout` or the node exits.
  double wait_http_ok(node& n, const std::string& path = "/readyz",
                      std::chrono::milliseconds timeout = 30s) {
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

  std::optional<cluster_map> map() const {
    auto r = request("GET", loopback, coordinator_admin_, "/admin/cluster", "", "application/json",
                     2s, admin_auth());
    if (r.status != 200)
      return std::nullopt;
    return parse_map(r.json);
  }

  // Polls the map until `ok` holds; (the last map seen, seconds waited, whether it held).
  struct map_wait {
    std::optional<cluster_map> map;
    double seconds = 0;
    bool ok = false;
  };
  map_wait wait_map(const std::function<bool(const cluster_map&)>& ok,
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

  // Until ready, not moving and balanced over exactly `live`.
  map_wait wait_balanced(const std::set<std::string>& live, std::chrono::milliseconds timeout,
                         std::uint64_t above_epoch = 0) const {
    return wait_map(
      [&](const cluster_map& m) {
        return m.ready && !m.moving && m.epoch > above_epoch && balance_problem(m, live).empty();
      },
      timeout);
  }

  // SIGTERM; the exit code, or nullopt if it did not exit within `timeout` (then killed).
  std::optional<int> stop(node& n, std::chrono::milliseconds timeout = 10s) {
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

  void kill9(node& n) {
    n.stopped = true;
    n.proc->signal(SIGKILL);
    n.proc->wait_for(10s);
  }

  // Every running node gets SIGTERM (API nodes, then shards, then the coordinator)
  // and must exit with status 0 within 10 s.
  void shutdown() {
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

private:
  node& launch(const std::string& name, const std::string& role, std::uint16_t http,
               std::uint16_t actor, const env_list& extra) {
    auto env = common_env();
    env.emplace_back("RECD_HTTP_ADDR", loopback + ":" + std::to_string(http));
    for (const auto& [k, v] : extra) {
      bool replaced = false;
      for (auto& [k2, v2] : env)
        if (k2 == k) {
          v2 = v;
          replaced = true;
        }
      if (!replaced)
        env.emplace_back(k, v);
    }
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
      std::vector<std::string>{recd_binary(), "serve", "--role", role}, env, n->log);
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  std::string tag_;
  std::string postgres_;
  std::string redis_;
  std::string app_id_;
  std::uint16_t coordinator_actor_;
  std::uint16_t coordinator_http_;
  std::uint16_t coordinator_admin_;
  std::vector<std::unique_ptr<node>> nodes_;
  std::set<std::string> logs_started_;
  env_list node_env_;
};

// ---- load ------------------------------------------------------------------------------

struct acked_behavior {
  std::int64_t id = 0;
  std::int64_t user = 0;
  std::int64_t item = 0;
  std::string kind;
  double at = 0;
};

struct request_failure {
  double at = 0; // seconds since the load started
  std::string what;
};

struct load_report {
  std::int64_t recommends = 0;
  std::int64_t behaviors = 0;
  std::int64_t degraded = 0;
  std::int64_t recommend_failures = 0;
  std::int64_t behavior_failures = 0;
  std::vector<request_failure> failures; // the first few
  std::vector<acked_behavior> acked;
  std::vector<acked_behavior> failed_behaviors; // id 0
  double seconds = 0;
  double max_latency_ms = 0;

  std::string summary() const {
    return std::to_string(recommends) + " recommends (" + std::to_string(degraded) +
           " degraded, " + std::to_string(recommend_failures) + " failed), " +
           std::to_string(behaviors) + " behaviors (" + std::to_string(behavior_failures) +
           " failed) in " + fmt(seconds, 1) + " s, slowest " + fmt(max_latency_ms, 0) + " ms";
  }
  std::string first_failures() const {
    std::string out;
    for (const auto& f : failures)
      out += "  t=" + fmt(f.at) + " s  " + f.what + "\n";
    return out;
  }
};

// Client threads against the API nodes: each round a recommend GET (random user,
// random node, limit 10, random use_cache) and, with probability
// `behavior_share`, a behavior POST through ANOTHER node: half of them a buy of
// the item just recommended first, the rest a view/click/cart of a random item.
// Every request has a 5 s client timeout. Stops at stop(), after `max_duration`,
// or after `max_rounds` rounds per thread.
class load_generator {
public:
  struct options {
    std::vector<std::uint16_t> ports;
    int threads = 3;
    std::chrono::milliseconds max_duration = 20s;
    int max_rounds = 3000;
    std::int32_t users = 3000;
    std::int32_t items = 600;
    double behavior_share = 0.4;
    std::uint64_t seed = 1;
  };

  explicit load_generator(options opt) : opt_(std::move(opt)), t0_(steady::now()) {
    for (int t = 0; t < opt_.threads; ++t)
      threads_.emplace_back([this, t] { run(t); });
  }
  ~load_generator() { finish(); }

  double elapsed() const { return seconds_since(t0_); }
  std::int64_t rounds() const { return rounds_.load(); }

  load_report finish() {
    stop_ = true;
    for (auto& th : threads_)
      if (th.joinable())
        th.join();
    if (!finished_) {
      finished_ = true;
      report_.seconds = elapsed();
      std::sort(report_.acked.begin(), report_.acked.end(),
                [](const acked_behavior& a, const acked_behavior& b) { return a.id < b.id; });
    }
    return report_;
  }

private:
  void failure(bool is_behavior, const std::string& what) {
    std::lock_guard lock{mutex_};
    ++(is_behavior ? report_.behavior_failures : report_.recommend_failures);
    if (report_.failures.size() < 12)
      report_.failures.push_back({elapsed(), what});
  }

  void run(int t) {
    std::mt19937_64 rng{opt_.seed * 1000 + static_cast<std::uint64_t>(t)};
    auto pick = [&](std::int64_t n) { return static_cast<std::int64_t>(rng() % std::uint64_t(n)); };
    std::uniform_real_distribution<double> coin{0, 1};
    const auto deadline = t0_ + opt_.max_duration;
    static const char* kinds[] = {"view", "click", "cart"};
    for (int round = 0; round < opt_.max_rounds && !stop_ && steady::now() < deadline; ++round) {
      ++rounds_;
      auto node = static_cast<std::size_t>(pick(static_cast<std::int64_t>(opt_.ports.size())));
      auto port = opt_.ports[node];
      auto user = 1 + pick(opt_.users);
      auto r = recommend(port, user, 10, coin(rng) < 0.5);
      bool ok = r.status == 200 && r.json.is_object() && r.json.contains("recommendations");
      {
        std::lock_guard lock{mutex_};
        ++report_.recommends;
        report_.degraded += ok && is_degraded(r);
        report_.max_latency_ms = std::max(report_.max_latency_ms, r.elapsed_ms);
      }
      if (!ok)
        failure(false, "GET /api/recommend/" + std::to_string(user) + " on :" +
                         std::to_string(port) + " -> " + show(r));
      if (coin(rng) >= opt_.behavior_share)
        continue;
      auto other = opt_.ports[(node + 1) % opt_.ports.size()];
      auto recs = item_ids(r);
      std::int64_t item = 1 + pick(opt_.items);
      std::string kind = kinds[pick(3)];
      if (!recs.empty() && coin(rng) < 0.5) {
        item = recs.front();
        kind = "buy";
      }
      auto b = behave(other, user, item, kind);
      {
        std::lock_guard lock{mutex_};
        ++report_.behaviors;
        report_.max_latency_ms = std::max(report_.max_latency_ms, b.elapsed_ms);
      }
      if (b.status == 200 && b.json.is_object() && b.json.contains("behavior_id") &&
          b.json["behavior_id"].is_number_integer()) {
        std::lock_guard lock{mutex_};
        report_.acked.push_back(
          {b.json["behavior_id"].get<std::int64_t>(), user, item, kind, elapsed()});
      } else {
        {
          std::lock_guard lock{mutex_};
          report_.failed_behaviors.push_back({0, user, item, kind, elapsed()});
        }
        failure(true, "POST /api/behavior {" + std::to_string(user) + ", " +
                        std::to_string(item) + ", " + kind + "} on :" + std::to_string(other) +
                        " -> " + show(b));
      }
    }
  }

  options opt_;
  steady::time_point t0_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> rounds_{0};
  std::mutex mutex_;
  load_report report_;
  bool finished_ = false;
  std::vector<std::thread> threads_;
};

// Every acknowledged behavior is a row of user_behavior with its id, user, item and kind.
void expect_acked_behaviors_stored(const test_database& db,
                                   const std::vector<acked_behavior>& acked) {
  if (acked.empty())
    return;
  std::map<std::int64_t, const acked_behavior*> by_id;
  std::string ids;
  for (const auto& a : acked) {
    by_id[a.id] = &a;
    ids += (ids.empty() ? "" : ",") + std::to_string(a.id);
  }
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  auto rows = tx.exec("SELECT id, user_id, item_id, behavior_type FROM user_behavior WHERE id IN (" +
                      ids + ")");
  std::set<std::int64_t> found;
  std::size_t mismatched = 0;
  for (const auto& row : rows) {
    auto id = row[0].as<std::int64_t>();
    found.insert(id);
    const auto& a = *by_id.at(id);
    if (row[1].as<std::int64_t>() != a.user || row[2].as<std::int64_t>() != a.item ||
        row[3].as<std::string>() != a.kind) {
      ++mismatched;
      ADD_FAILURE() << "behavior " << id << " is stored as (" << row[1].c_str() << ", "
                    << row[2].c_str() << ", " << row[3].c_str() << "), acknowledged as ("
                    << a.user << ", " << a.item << ", " << a.kind << ")";
    }
  }
  std::vector<std::int64_t> missing;
  for (const auto& a : acked)
    if (!found.count(a.id))
      missing.push_back(a.id);
  EXPECT_TRUE(missing.empty()) << missing.size() << " of " << acked.size()
                               << " acknowledged behaviors are not in user_behavior, e.g. ids "
                               << join(std::vector<std::int64_t>(
                                    missing.begin(),
                                    missing.begin() + std::min<long>(10, long(missing.size()))));
  EXPECT_EQ(mismatched, 0u);
}

// Whether behaviors that failed were committed anyway: a row for the same user,
// item and kind with an id above `id_before` that no acknowledgement names
// (an answer lost after the commit).
std::string committed_failures(const test_database& db, const load_report& report,
                               std::int64_t id_before) {
  if (report.failed_behaviors.empty())
    return "";
  std::string acked = "0";
  for (const auto& a : report.acked)
    acked += "," + std::to_string(a.id);
  std::size_t committed = 0;
  for (const auto& f : report.failed_behaviors)
    committed += count(db, "SELECT count(*) FROM user_behavior WHERE id > " +
                             std::to_string(id_before) + " AND id NOT IN (" + acked +
                             ") AND user_id = " + std::to_string(f.user) +
                             " AND item_id = " + std::to_string(f.item) +
                             " AND behavior_type = '" + f.kind + "'") > 0;
  return std::to_string(committed) + " of the " + std::to_string(report.failed_behaviors.size()) +
         " failed behaviors have a matching unacknowledged row in user_behavior (committed, "
         "answered as failed)";
}

// A thread noting every change of the map's epoch, moving flag and ready flag.
class map_watcher {
public:
  map_watcher(const cluster& c, std::function<double()> clock) : c_(c), clock_(std::move(clock)) {
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
  ~map_watcher() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }
  std::vector<std::string> events() {
    std::lock_guard lock{mutex_};
    return events_;
  }

private:
  const cluster& c_;
  std::function<double()> clock_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> events_;
  std::thread thread_;
};

// Read-your-writes after the dust settled: for every user whose acknowledged buys
// include an item, no answer (use_cache=false) recommends that item again.
void expect_bought_items_not_recommended(const std::vector<std::uint16_t>& ports,
                                         const std::vector<acked_behavior>& acked,
                                         std::size_t max_users, int partitions,
                                         const std::string& timeline) {
  std::map<std::int64_t, std::map<std::int64_t, double>> bought; // user -> item -> acked at
  for (const auto& a : acked)
    if (a.kind == "buy" && (bought.size() < max_users || bought.count(a.user)))
      bought[a.user].emplace(a.item, a.at);
  std::size_t offenders = 0, k = 0;
  std::string examples;
  for (const auto& [user, items] : bought) {
    auto port = ports[k++ % ports.size()];
    auto r = recommend(port, user, 10, false);
    if (r.status != 200) {
      ADD_FAILURE() << "GET /api/recommend/" << user << " after the load: " << show(r);
      continue;
    }
    for (auto item : item_ids(r))
      if (auto it = items.find(item); it != items.end()) {
        ++offenders;
        if (examples.size() < 2000)
          examples += "  user " + std::to_string(user) + " (partition " +
                      std::to_string(user % partitions) + ") bought item " +
                      std::to_string(item) + " (acknowledged at t=" + fmt(it->second) +
                      " s) and gets it recommended again on :" + std::to_string(port) + "\n";
      }
  }
  info("read-your-writes check: " + std::to_string(bought.size()) + " users with buys, " +
       std::to_string(offenders) + " see a bought item again");
  EXPECT_EQ(offenders, 0u) << "acknowledged buys missing from the serving shards' memory:\n"
                           << examples << "timeline:\n"
                           << timeline;
}

// "t=<seconds> s ..." lines from several sources, in time order, one string.
std::string timeline_text(std::vector<std::string> lines) {
  auto at = [](const std::string& l) { return std::strtod(l.c_str() + 2, nullptr); };
  std::stable_sort(lines.begin(), lines.end(),
                   [&](const std::string& a, const std::string& b) { return at(a) < at(b); });
  std::string out;
  for (const auto& l : lines)
    out += "  " + l + "\n";
  return out;
}

// ---- 1. a cluster of 3 shard nodes and 2 API nodes ---------------------------------------------

std::map<std::pair<int, int>, double> similarity_rows(const test_database& db,
                                                      const std::string& table,
                                                      const std::string& a,
                                                      const std::string& b) {
  std::map<std::pair<int, int>, double> out;
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  for (const auto& row : tx.exec("SELECT " + a + ", " + b + ", similarity_score::float8 FROM " +
                                 table))
    out[{row[0].as<int>(), row[1].as<int>()}] = row[2].as<double>();
  return out;
}

struct rows_diff {
  std::size_t only_cluster = 0, only_single = 0, score_differs = 0;
  std::string examples;
  bool same() const { return only_cluster == 0 && only_single == 0 && score_differs == 0; }
};

rows_diff compare_rows(const std::map<std::pair<int, int>, double>& cluster_rows,
                       const std::map<std::pair<int, int>, double>& single_rows) {
  rows_diff d;
  auto example = [&](const std::pair<int, int>& k, const std::string& what) {
    if (d.examples.size() < 800)
      d.examples += "  (" + std::to_string(k.first) + ", " + std::to_string(k.second) + ") " +
                    what + "\n";
  };
  for (const auto& [k, v] : cluster_rows) {
    auto it = single_rows.find(k);
    if (it == single_rows.end()) {
      ++d.only_cluster;
      example(k, "only in the cluster run");
    } else if (std::abs(it->second - v) > 1e-9) {
      ++d.score_differs;
      example(k, "cluster " + std::to_string(v) + " vs one node " + std::to_string(it->second));
    }
  }
  for (const auto& [k, v] : single_rows)
    if (!cluster_rows.count(k)) {
      ++d.only_single;
      example(k, "only in the one-node run");
    }
  return d;
}

std::map<int, std::vector<float>> item_vectors(const test_database& db) {
  std::map<int, std::vector<float>> out;
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  for (const auto& row : tx.exec("SELECT item_id, embedding FROM items WHERE embedding IS NOT NULL")) {
    std::string s = row[1].c_str();
    for (char& ch : s)
      if (ch == '{' || ch == '}' || ch == ',')
        ch = ' ';
    std::istringstream in{s};
    auto& v = out[row[0].as<int>()];
    for (std::string tok; in >> tok;)
      v.push_back(std::strtof(tok.c_str(), nullptr));
  }
  return out;
}

class ThreeShardCluster : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    try {
      auto t0 = steady::now();
      const auto now = static_cast<unix_seconds>(std::time(nullptr));
      db_ = std::make_unique<test_database>("cluster3");
      single_db_ = std::make_unique<test_database>("cluster3_single");
      import_shop(*db_, shop_, now);
      import_shop(*single_db_, shop_, now);
      redis_ = std::make_unique<redis_server>();
      info("two identical shops imported in " + fmt(seconds_since(t0), 1) + " s");
      cluster_ = std::make_unique<cluster>("three", db_->url(), redis_->url());
      auto& c = *cluster_;
      c.start_coordinator();
      for (int i = 0; i < 3; ++i)
        c.start_shard(i);
      for (int i = 0; i < 2; ++i)
        c.start_api(i);
      c.wait_http_ok(c["coordinator"]);
      for (const char* api : {"api-0", "api-1"})
        c.wait_http_ok(c[api]);
      // Ready means every partition is served: wait for the third shard too.
      auto joined = c.wait_balanced({"shard-0", "shard-1", "shard-2"}, 20s);
      map_before_jobs_ = joined.map;
      info("1 coordinator, 3 shard nodes, 2 API nodes ready and balanced after " +
           fmt(seconds_since(t0), 1) + " s");

      auto t1 = steady::now();
      cluster_compute_ = run_cli({"compute", "--coordinator", c.coordinator_addr()},
                                 c.common_env(), 120s);
      cluster_compute_seconds_ = seconds_since(t1);
      auto t2 = steady::now();
      single_compute_ = run_cli({"compute", "--shards", "1"},
                                {{"RECD_POSTGRES_URL", single_db_->url()}}, 120s);
      single_compute_seconds_ = seconds_since(t2);
      info("recd compute --coordinator: " + fmt(cluster_compute_seconds_) +
           " s; recd compute --shards 1: " + fmt(single_compute_seconds_) + " s");
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }

  static void TearDownTestSuite() {
    cluster_.reset();
    redis_.reset();
    single_db_.reset();
    db_.reset();
  }

  void SetUp() override {
    if (!setup_error_.empty())
      GTEST_FAIL() << "suite setup failed: " << setup_error_;
  }

  static inline const shop_spec shop_{};
  static inline std::unique_ptr<test_database> db_, single_db_;
  static inline std::unique_ptr<redis_server> redis_;
  static inline std::unique_ptr<cluster> cluster_;
  static inline std::optional<cluster_map> map_before_jobs_;
  static inline cli_result cluster_compute_, single_compute_;
  static inline double cluster_compute_seconds_ = 0, single_compute_seconds_ = 0;
  static inline std::string setup_error_;
};

TEST_F(ThreeShardCluster, OwnsEveryPartitionOnceInABalancedMapOfLiveShards) {
  ASSERT_TRUE(map_before_jobs_.has_value()) << "GET /admin/cluster failed";
  const auto& m = *map_before_jobs_;
  EXPECT_TRUE(m.ready) << m.raw;
  EXPECT_FALSE(m.moving) << m.raw;
  EXPECT_GE(m.epoch, 1u) << m.raw;
  EXPECT_EQ(m.partitions, 16) << "test databases are migrated with 16 partitions: " << m.raw;
  EXPECT_EQ(m.shards.size(), 3u) << m.raw;
  EXPECT_EQ(balance_problem(m, {"shard-0", "shard-1", "shard-2"}), "") << m.raw;
  for (const auto& s : m.shards)
    EXPECT_GE(s.partitions.size(), 5u) << s.name << ": " << m.raw;

  // The same map through `recd admin cluster`.
  auto admin = run_cli({"admin", "cluster", "--coordinator", cluster_->coordinator_addr()},
                       cluster_->common_env(), 30s);
  ASSERT_EQ(admin.status, 0) << show(admin);
  auto brace = admin.output.find('{');
  ASSERT_NE(brace, std::string::npos) << show(admin);
  auto j = json::parse(admin.output.substr(brace), nullptr, false);
  auto parsed = parse_map(j);
  ASSERT_TRUE(parsed.has_value()) << show(admin);
  EXPECT_EQ(balance_problem(*parsed, {"shard-0", "shard-1", "shard-2"}), "") << parsed->raw;
}

TEST_F(ThreeShardCluster, ComputeOnTheShardNodesGivesExactlyTheResultsOfAOneNodeRun) {
  ASSERT_EQ(cluster_compute_.status, 0) << show(cluster_compute_);
  ASSERT_EQ(single_compute_.status, 0) << show(single_compute_);
  for (const char* kind :
       {"item_similarity", "user_similarity", "item_weights", "user_neighbours", "embeddings"}) {
    EXPECT_EQ(count(*db_, std::string{"SELECT count(*) FROM job_runs WHERE status = 'published' "
                                      "AND kind = '"} + kind + "'"),
              1)
      << kind << " was not published once by the cluster run";
  }
  // Same pairs, same scores, in the cluster's and the one-node database.
  auto expect_same_pairs = [&](const char* table, const char* id, const char* other,
                               std::size_t at_least) {
    auto cl = similarity_rows(*db_, table, id, other);
    auto one = similarity_rows(*single_db_, table, id, other);
    info(std::string{table} + " rows: cluster " + std::to_string(cl.size()) + ", one node " +
         std::to_string(one.size()));
    EXPECT_GE(one.size(), at_least) << table << ": too few pairs to mean something";
    auto d = compare_rows(cl, one);
    EXPECT_TRUE(d.same()) << table << ": " << d.only_cluster << " only in the cluster, "
                          << d.only_single << " only in the one-node run, " << d.score_differs
                          << " scores differ by > 1e-9\n"
                          << d.examples;
  };
  expect_same_pairs("item_similarity", "item_id", "similar_item_id", 200);
  expect_same_pairs("user_similarity", "user_id", "similar_user_id", 100);
  expect_same_pairs("item_weights", "item_id", "similar_item_id", 200);
  expect_same_pairs("user_neighbours", "user_id", "similar_user_id", 300);
  {
    auto cl = item_vectors(*db_);
    auto one = item_vectors(*single_db_);
    EXPECT_GE(one.size(), 500u);
    EXPECT_EQ(cl.size(), one.size());
    double worst = 0;
    int worst_item = -1;
    std::size_t missing = 0;
    for (const auto& [id, v] : one) {
      auto it = cl.find(id);
      if (it == cl.end() || it->second.size() != v.size()) {
        ++missing;
        continue;
      }
      for (std::size_t k = 0; k < v.size(); ++k)
        if (std::abs(double(v[k]) - double(it->second[k])) > worst) {
          worst = std::abs(double(v[k]) - double(it->second[k]));
          worst_item = id;
        }
    }
    info("items.embedding: " + std::to_string(one.size()) + " vectors, largest difference " +
         std::to_string(worst));
    EXPECT_EQ(missing, 0u) << "items without a vector of the one-node run's size in the cluster";
    EXPECT_LE(worst, 1e-4) << "largest difference at item " << worst_item;
  }
}

TEST_F(ThreeShardCluster, EveryApiNodeServesAndSeesABehaviorPostedThroughAnotherAtOnce) {
  auto ports = cluster_->api_ports();
  ASSERT_EQ(ports.size(), 2u);
  // Active buyers, rich in history: the users this test acts as.
  auto users = column(*db_, "SELECT user_id FROM user_behavior WHERE behavior_type = 'buy' "
                            "GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 8");
  ASSERT_EQ(users.size(), 8u);

  // Every API node answers, with the same ranking (the map and data are shared).
  for (std::size_t k = 0; k < 4; ++k) {
    auto user = users[k];
    auto a = recommend(ports[0], user, 10, false);
    auto b = recommend(ports[1], user, 10, false);
    ASSERT_EQ(a.status, 200u) << show(a);
    ASSERT_EQ(b.status, 200u) << show(b);
    EXPECT_EQ(item_ids(a).size(), 10u) << show(a);
    EXPECT_FALSE(is_degraded(a)) << show(a);
    EXPECT_FALSE(is_degraded(b)) << show(b);
    EXPECT_EQ(item_ids(a), item_ids(b)) << "user " << user << ": api-0 and api-1 disagree";
  }

  // A buy through one node removes the item from the very next answer of the
  // other, cached or not, in both directions.
  for (std::size_t k = 4; k < 8; ++k) {
    auto user = users[k];
    auto writer = ports[k % 2], reader = ports[(k + 1) % 2];
    SCOPED_TRACE("user " + std::to_string(user) + ", behavior via :" + std::to_string(writer) +
                 ", recommend via :" + std::to_string(reader));
    auto before = recommend(reader, user, 10, true);
    ASSERT_EQ(before.status, 200u) << show(before);
    auto again = recommend(reader, user, 10, true); // now in the cache
    ASSERT_EQ(again.status, 200u) << show(again);
    auto items = item_ids(before);
    ASSERT_FALSE(items.empty()) << show(before);
    auto item = items.front();
    auto ack = behave(writer, user, item, "buy");
    ASSERT_EQ(ack.status, 200u) << show(ack);
    ASSERT_TRUE(ack.json.contains("behavior_id")) << show(ack);
    EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_behavior WHERE id = " +
                            std::to_string(ack.json["behavior_id"].get<std::int64_t>()) +
                            " AND user_id = " + std::to_string(user) +
                            " AND item_id = " + std::to_string(item) +
                            " AND behavior_type = 'buy'"),
              1);
    auto after = recommend(reader, user, 10, true);
    ASSERT_EQ(after.status, 200u) << show(after);
    EXPECT_FALSE(contains(item_ids(after), item))
      << "item " << item << " bought via :" << writer << " is still recommended via :" << reader
      << ": " << show(after);
    EXPECT_FALSE(after.json.value("from_cache", true)) << "served the stale cached answer";
    auto fresh = recommend(reader, user, 10, false);
    EXPECT_FALSE(contains(item_ids(fresh), item)) << show(fresh);
    auto other = recommend(writer, user, 10, false);
    EXPECT_FALSE(contains(item_ids(other), item)) << show(other);
  }
}

// The admin port a node logged ("admin on 127.0.0.1:PORT"), 0 if none.
std::uint16_t admin_port_of(const std::string& log_path) {
  const auto log = slurp(log_path);
  const std::string marker = "admin on " + loopback + ":";
  auto at = log.rfind(marker);
  return at == std::string::npos ? 0 : static_cast<std::uint16_t>(std::atoi(log.c_str() + at + marker.size()));
}

// The value of the sample `series` (name{labels} exactly as exported); NaN if absent.
double sample_of(const std::string& exposition, const std::string& series) {
  std::istringstream in{exposition};
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0)
      return std::stod(line.substr(series.size() + 1));
  return std::nan("");
}

TEST_F(ThreeShardCluster, EveryNodeServesItsMetricsOnItsAdminPort) {
  for (auto port : cluster_->api_ports())
    ASSERT_EQ(recommend(port, 1, 5, false).status, 200u);
  auto scrape = [&](const std::string& name) {
    auto port = admin_port_of((*cluster_)[name].log);
    EXPECT_NE(port, 0) << name << " logged no admin port";
    auto r = request("GET", loopback, port, "/metrics", "", "application/json", 10s,
                     {{"Authorization", "Bearer " + admin_token}});
    EXPECT_EQ(r.status, 200u) << name << ": " << show(r);
    EXPECT_EQ(request("GET", loopback, port, "/metrics").status, 401u) << name;
    return r.body;
  };
  auto coordinator = scrape("coordinator");
  EXPECT_EQ(sample_of(coordinator, "recd_node_info{role=\"coordinator\"}"), 1);
  EXPECT_EQ(sample_of(coordinator, "recd_cluster_live_shards"), 3);
  EXPECT_EQ(sample_of(coordinator, "recd_cluster_ready"), 1);
  double users = 0, partitions = 0;
  for (const char* shard : {"shard-0", "shard-1", "shard-2"}) {
    auto m = scrape(shard);
    EXPECT_EQ(sample_of(m, "recd_node_info{role=\"shard\"}"), 1) << shard;
    EXPECT_EQ(sample_of(m, "recd_shard_partitions{shard=\"0\"}"),
              sample_of(coordinator, "recd_cluster_shard_partitions{shard=\"" + std::string{shard} + "\"}"))
      << shard;
    users += sample_of(m, "recd_shard_users{shard=\"0\"}");
    partitions += sample_of(m, "recd_shard_partitions{shard=\"0\"}");
    // The operator commands are the coordinator's.
    auto cluster = request("GET", loopback, admin_port_of((*cluster_)[shard].log), "/admin/cluster", "",
                           "application/json", 10s, {{"Authorization", "Bearer " + admin_token}});
    EXPECT_EQ(cluster.status, 404u) << show(cluster);
  }
  EXPECT_EQ(partitions, 16);
  EXPECT_EQ(users, double(count(*db_, "SELECT count(*) FROM (SELECT user_id FROM user_behavior UNION "
                                      "SELECT user_id FROM user_similarity) u")));
  for (const char* api : {"api-0", "api-1"}) {
    auto m = scrape(api);
    EXPECT_EQ(sample_of(m, "recd_node_info{role=\"api\"}"), 1) << api;
    EXPECT_GE(sample_of(m, "recd_recommend_requests_total"), 1) << api;
    EXPECT_EQ(sample_of(m, "recd_behavior_queue_depth"), 0) << api;
    EXPECT_TRUE(std::isnan(sample_of(m, "recd_shard_users{shard=\"0\"}"))) << api << " has no shard";
  }
}

// ---- 2. resharding under load ------------------------------------------------------------------

TEST(Resharding, AddingTwoShardNodesAndStoppingOneUnderLoadFailsNoRequestAndLosesNoBehavior) {
  test_database db{"cluster_reshard"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"reshard", db.url(), redis.url()};
  c.start_coordinator();
  c.start_shard(0);
  c.start_shard(1);
  c.start_api(0);
  c.start_api(1);
  c.wait_http_ok(c["coordinator"]);
  c.wait_http_ok(c["api-0"]);
  c.wait_http_ok(c["api-1"]);
  auto initial = c.wait_balanced({"shard-0", "shard-1"}, 10s);
  ASSERT_TRUE(initial.ok) << (initial.map ? initial.map->raw : "no map");
  const auto epoch0 = initial.map->epoch;

  const auto id_before = count(db, "SELECT max(id) FROM user_behavior");
  load_generator::options opt;
  opt.ports = c.api_ports();
  opt.threads = 3;
  opt.max_duration = 25s;
  opt.max_rounds = 4000;
  opt.seed = 2;
  load_generator load{opt};
  map_watcher watcher{c, [&load] { return load.elapsed(); }};
  std::vector<std::string> timeline;
  auto mark = [&](const std::string& what) {
    timeline.push_back("t=" + fmt(load.elapsed()) + " s  " + what);
  };
  auto sleep_until = [&](double t) {
    while (load.elapsed() < t)
      std::this_thread::sleep_for(10ms);
  };
  auto owns_partitions = [&](const std::string& name) {
    return [name](const cluster_map& m) {
      auto* s = m.shard(name);
      return s != nullptr && s->alive && !s->partitions.empty() && !m.moving && m.ready;
    };
  };

  sleep_until(1.5);
  mark("start shard-2");
  c.start_shard(2);
  auto w2 = c.wait_map(owns_partitions("shard-2"), 15s);
  mark("shard-2 serves partitions (" + fmt(w2.seconds) + " s after its start)");
  EXPECT_TRUE(w2.ok) << (w2.map ? w2.map->raw : "no map");
  sleep_until(3.5);
  mark("start shard-3");
  c.start_shard(3);
  auto w3 = c.wait_map(owns_partitions("shard-3"), 15s);
  mark("shard-3 serves partitions (" + fmt(w3.seconds) + " s after its start)");
  EXPECT_TRUE(w3.ok) << (w3.map ? w3.map->raw : "no map");
  sleep_until(6);
  mark("SIGTERM shard-0");
  auto st = c.stop(c["shard-0"]);
  mark("shard-0 exited");
  EXPECT_EQ(st, std::optional<int>{0}) << "shard-0 did not stop cleanly on SIGTERM:\n"
                                       << tail(slurp(c["shard-0"].log));
  auto gone = c.wait_map(
    [](const cluster_map& m) {
      auto* s = m.shard("shard-0");
      return s != nullptr && !s->alive && s->partitions.empty() && m.ready && !m.moving;
    },
    10s);
  mark("shard-0's partitions moved (" + fmt(gone.seconds) + " s after its exit)");
  EXPECT_TRUE(gone.ok) << (gone.map ? gone.map->raw : "no map");
  sleep_until(7.5);
  auto rebalance = request("POST", loopback, c.coordinator_admin(), "/admin/rebalance", "",
                           "application/json", 5s, cluster::admin_auth());
  mark("POST /admin/rebalance -> " + show(rebalance));
  EXPECT_EQ(rebalance.status, 200u) << show(rebalance);
  EXPECT_TRUE(rebalance.json.is_object() && rebalance.json.contains("epoch")) << show(rebalance);
  sleep_until(10);
  auto report = load.finish();
  mark("load stopped");
  watcher.stop();
  auto all_events = timeline;
  for (const auto& e : watcher.events())
    all_events.push_back(e);
  const auto lines = timeline_text(all_events);
  info("load: " + report.summary() + "\ntimeline:\n" + lines);
  if (!report.failed_behaviors.empty())
    info(committed_failures(db, report, id_before));
  EXPECT_GT(report.recommends, 50) << "the load hardly ran";
  EXPECT_GT(report.acked.size(), 10u) << "the load acknowledged hardly any behavior";
  EXPECT_EQ(report.recommend_failures + report.behavior_failures, 0)
    << report.summary() << "\nfirst failures:\n"
    << report.first_failures() << "timeline:\n"
    << lines;

  auto final_map = c.wait_balanced({"shard-1", "shard-2", "shard-3"}, 15s, epoch0);
  ASSERT_TRUE(final_map.map.has_value());
  EXPECT_TRUE(final_map.ok) << "not balanced over shard-1..3 at an epoch above " << epoch0
                            << ": " << balance_problem(*final_map.map, {"shard-1", "shard-2", "shard-3"})
                            << "\n"
                            << final_map.map->raw;
  info("epochs: " + std::to_string(epoch0) + " before, " + std::to_string(final_map.map->epoch) +
       " after");
  EXPECT_GT(final_map.map->epoch, epoch0);

  expect_acked_behaviors_stored(db, report.acked);
  expect_bought_items_not_recommended(c.api_ports(), report.acked, 400,
                                      final_map.map->partitions, lines);
}

// ---- 3. failures ------------------------------------------------------------------------------

TEST(ShardFailure, AKilledShardNodesPartitionsMoveToLiveShardsWithinTenSecondsWhileRequestsKeepAnswering) {
  test_database db{"cluster_kill"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"kill", db.url(), redis.url()};
  c.start_coordinator();
  for (int i = 0; i < 3; ++i)
    c.start_shard(i);
  c.start_api(0);
  c.start_api(1);
  c.wait_http_ok(c["coordinator"]);
  c.wait_http_ok(c["api-0"]);
  c.wait_http_ok(c["api-1"]);
  auto initial = c.wait_balanced({"shard-0", "shard-1", "shard-2"}, 10s);
  ASSERT_TRUE(initial.ok) << (initial.map ? initial.map->raw : "no map");

  const auto id_before = count(db, "SELECT max(id) FROM user_behavior");
  load_generator::options opt;
  opt.ports = c.api_ports();
  opt.threads = 3;
  opt.max_duration = 20s;
  opt.seed = 3;
  load_generator load{opt};
  map_watcher watcher{c, [&load] { return load.elapsed(); }};
  while (load.elapsed() < 2)
    std::this_thread::sleep_for(10ms);
  const double killed_at = load.elapsed();
  auto t_kill = steady::now();
  c.kill9(c["shard-1"]);
  auto moved = c.wait_map(
    [](const cluster_map& m) {
      auto* dead = m.shard("shard-1");
      return dead != nullptr && !dead->alive && dead->partitions.empty() && m.ready &&
             balance_problem(m, {"shard-0", "shard-2"}).empty();
    },
    15s);
  const double failover = seconds_since(t_kill);
  info("kill -9 of shard-1 at t=" + fmt(killed_at) + " s: its partitions on live shards and ready " +
       fmt(failover, 3) + " s later");
  // Keep serving a while on the new map.
  while (load.elapsed() < killed_at + std::max(4.0, failover + 2))
    std::this_thread::sleep_for(10ms);
  auto report = load.finish();
  watcher.stop();
  auto events = watcher.events();
  events.push_back("t=" + fmt(killed_at) + " s  kill -9 shard-1");
  const auto lines = timeline_text(events);
  info("load: " + report.summary() + "\ntimeline:\n" + lines);
  if (!report.failed_behaviors.empty())
    info(committed_failures(db, report, id_before));

  ASSERT_TRUE(moved.map.has_value()) << "GET /admin/cluster failed";
  EXPECT_TRUE(moved.ok) << "the dead shard's partitions were not reassigned within 15 s: "
                        << moved.map->raw;
  EXPECT_LE(failover, 10.0) << "failover took " << failover << " s";
  EXPECT_GT(report.recommends, 50);
  EXPECT_EQ(report.recommend_failures, 0)
    << report.summary() << "\nfirst failures (kill at t=" << fmt(killed_at) << " s):\n"
    << report.first_failures();
  EXPECT_EQ(report.behavior_failures, 0)
    << report.summary() << "\nfirst failures (kill at t=" << fmt(killed_at) << " s):\n"
    << report.first_failures();
  expect_acked_behaviors_stored(db, report.acked);
  expect_bought_items_not_recommended(c.api_ports(), report.acked, 400, moved.map->partitions,
                                      lines);
}

TEST(ShardFailure, AJobFinishesWithTheFullResultWhenAShardNodeIsKilledInTheMiddle) {
  test_database db{"cluster_jobkill"};
  shop_spec spec;
  spec.users = 8000;
  spec.items = 1200;
  spec.events = 240000;
  import_shop(db, spec, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"jobkill", db.url(), redis.url()};
  c.start_coordinator();
  for (int i = 0; i < 3; ++i)
    c.start_shard(i);
  c.wait_http_ok(c["coordinator"]);
  ASSERT_TRUE(c.wait_balanced({"shard-0", "shard-1", "shard-2"}, 10s).ok);

  // The reference: a one-node run on the same data, kept aside.
  auto t0 = steady::now();
  auto single = run_cli({"compute", "--shards", "1", "--jobs", "user_neighbours"},
                        {{"RECD_POSTGRES_URL", db.url()}}, 120s);
  ASSERT_EQ(single.status, 0) << show(single);
  info("one-node user_neighbours: " + fmt(seconds_since(t0)) + " s");
  {
    auto conn = db.connect();
    pqxx::nontransaction tx{conn};
    tx.exec("CREATE TABLE reference_user_neighbours AS SELECT * FROM user_neighbours");
  }
  const auto reference_rows = count(db, "SELECT count(*) FROM reference_user_neighbours");
  ASSERT_GE(reference_rows, 300);
  const auto last_run = count(db, "SELECT coalesce(max(run_id), 0) FROM job_runs");

  auto differences = [&] {
    return count(db, "SELECT count(*) FROM user_neighbours l FULL JOIN reference_user_neighbours "
                     "r USING (user_id, similar_user_id) WHERE l.user_id IS NULL OR "
                     "r.user_id IS NULL OR abs(l.similarity_score::float8 - "
                     "r.similarity_score::float8) > 1e-9");
  };

  // The cluster run; shard-2 dies as soon as the run is recorded as running.
  cli_run job{{"compute", "--coordinator", c.coordinator_addr(), "--jobs", "user_neighbours"},
              c.common_env()};
  auto started = steady::now();
  bool seen_running = false;
  while (seconds_since(started) < 60 && job.process().running()) {
    if (count(db, "SELECT count(*) FROM job_runs WHERE kind = 'user_neighbours' AND status = "
                  "'running' AND run_id > " + std::to_string(last_run)) > 0) {
      seen_running = true;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  const double kill_after = seconds_since(started);
  c.kill9(c["shard-2"]);
  // A normal run on this data takes about a second.
  auto outcome = job.finish(20s);
  const double job_seconds = seconds_since(started);
  std::string runs;
  {
    auto conn = db.connect();
    pqxx::nontransaction tx{conn};
    for (const auto& r : tx.exec("SELECT run_id, status, coalesce(rows, -1), coalesce(error, '') "
                                 "FROM job_runs WHERE run_id > " + std::to_string(last_run) +
                                 " ORDER BY run_id"))
      runs += "  run " + std::string{r[0].c_str()} + ": " + r[1].c_str() + ", rows " +
              r[2].c_str() + (std::string{r[3].c_str()}.empty() ? "" : ", error: " + std::string{r[3].c_str()}) + "\n";
  }
  // What the live shards left in the run's staging table (if it still exists).
  for (const auto& id : column(db, "SELECT run_id FROM job_runs WHERE status = 'running' AND "
                                   "run_id > " + std::to_string(last_run))) {
    auto table = "user_neighbours_run_" + std::to_string(id);
    if (count(db, "SELECT count(*) FROM pg_class WHERE relname = '" + table + "'") == 1)
      runs += "  staging table " + table + " holds " +
              std::to_string(count(db, "SELECT count(*) FROM " + table)) + " rows (the one-node "
              "run published " + std::to_string(reference_rows) + ")\n";
  }
  info(std::string{"shard-2 killed "} + fmt(kill_after, 3) + " s after the start (run " +
       (seen_running ? "seen running" : "NOT seen running") + "); the job ended after " +
       fmt(job_seconds, 2) + " s with status " + std::to_string(outcome.status) + "\n" +
       "job_runs:\n" + runs + "output:\n" + tail(outcome.output, 1500));
  EXPECT_TRUE(seen_running) << "the job was not seen running before it ended";

  // Expected: the lost shard's part is redone on the live shards, within 20 s.
  EXPECT_EQ(outcome.status, 0) << "the job did not finish (-1: still running after 20 s) "
                                  "instead of redoing the killed shard's part\n"
                               << show(outcome) << "\njob_runs:\n"
                               << runs;
  if (outcome.status == 0) {
    EXPECT_EQ(differences(), 0) << "the published user_neighbours differs from the one-node run";
  }

  // Either way, the cluster recovers and a rerun on the two live shards is complete.
  ASSERT_TRUE(c.wait_balanced({"shard-0", "shard-1"}, 15s).ok);
  auto rerun = run_cli({"compute", "--coordinator", c.coordinator_addr(), "--jobs",
                        "user_neighbours"},
                       c.common_env(), 20s);
  ASSERT_EQ(rerun.status, 0) << show(rerun);
  EXPECT_EQ(differences(), 0) << "the rerun on the live shards differs from the one-node run";
}

// ---- 4. application ids -------------------------------------------------------------------

TEST(Membership, ANodeWithAnotherApplicationIdCannotJoin) {
  test_database db{"cluster_appid"};
  redis_server redis;
  cluster c{"appid", db.url(), redis.url()};
  c.start_coordinator();
  c.wait_http_ok(c["coordinator"], "/healthz");

  // The control: the same command with the cluster's id works.
  auto ok = run_cli({"admin", "cluster", "--coordinator", c.coordinator_addr()}, c.common_env(),
                    30s);
  ASSERT_EQ(ok.status, 0) << show(ok);
  EXPECT_NE(ok.output.find("\"epoch\""), std::string::npos) << show(ok);

  auto env = c.common_env();
  for (auto& [k, v] : env)
    if (k == "RECD_CLUSTER_APP_ID")
      v = "another-deployment";
  auto refused = run_cli({"admin", "cluster", "--coordinator", c.coordinator_addr()}, env, 30s);
  EXPECT_NE(refused.status, 0) << show(refused);
  EXPECT_NE(refused.status, -1) << "it hung: " << show(refused);
  std::string text = refused.output;
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) {
    return ch == '_' ? ' ' : static_cast<char>(std::tolower(ch));
  });
  EXPECT_NE(text.find("incompatible application ids"), std::string::npos)
    << "the error does not say why: " << show(refused);

  // A shard node with another id never joins; one with the cluster's id does.
  c.start_shard(9, {{"RECD_CLUSTER_APP_ID", "another-deployment"}});
  c.start_shard(0);
  auto joined = c.wait_map([](const cluster_map& m) { return m.shard("shard-0") != nullptr; }, 15s);
  ASSERT_TRUE(joined.ok) << "the control shard did not join";
  auto later = c.wait_map([](const cluster_map& m) { return m.shard("shard-9") != nullptr; }, 3s);
  EXPECT_FALSE(later.ok) << "a shard of another deployment joined: "
                         << (later.map ? later.map->raw : "");
  ASSERT_TRUE(later.map.has_value());
  EXPECT_EQ(later.map->shards.size(), 1u) << later.map->raw;
  EXPECT_TRUE(c["shard-9"].proc->running()) << "the refused shard node keeps retrying, not dying";
  info("refused: " + tail(refused.output, 300));
}

// ---- TLS between nodes ---------------------------------------------------------------------------

// A CA and one certificate for every node of a deployment, made with the
// openssl command line tool in a fresh folder.
struct test_pki {
  std::string dir;
  explicit test_pki(const std::string& tag) {
    char templ[] = "/tmp/recd_tls_XXXXXX";
    dir = ::mkdtemp(templ);
    auto run = [&](const std::string& cmd) {
      auto full = "cd " + dir + " && " + cmd + " >>openssl.log 2>&1";
      if (std::system(full.c_str()) != 0)
        throw std::runtime_error("openssl failed: " + cmd + "\n" + slurp(dir + "/openssl.log"));
    };
    run("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=" +
        tag + "-ca");
    run("openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj /CN=" + tag +
        "-node");
    run("openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 2");
  }
  ~test_pki() { std::system(("rm -rf " + dir).c_str()); }
  env_list env() const {
    return {{"RECD_CLUSTER_TLS_CERTIFICATE", dir + "/node.pem"},
            {"RECD_CLUSTER_TLS_KEY", dir + "/node.key"},
            {"RECD_CLUSTER_TLS_CAFILE", dir + "/ca.pem"}};
  }
};

TEST(Tls, ACertifiedClusterServesAndRefusesPlainAndForeignNodes) {
  test_database db{"cluster_tls"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  test_pki pki{"recd"};
  test_pki foreign{"other"}; // another CA: its certificates are not trusted
  cluster c{"tls", db.url(), redis.url()};
  c.set_node_env(pki.env());
  c.start_coordinator();
  c.start_shard(0);
  c.start_shard(1);
  c.start_api(0);
  c.wait_http_ok(c["coordinator"]);
  c.wait_http_ok(c["api-0"]);
  auto balanced = c.wait_balanced({"shard-0", "shard-1"}, 15s);
  ASSERT_TRUE(balanced.ok) << (balanced.map ? balanced.map->raw : "no map");

  // Jobs and serving work across the TLS connections.
  auto computed = run_cli({"compute", "--coordinator", c.coordinator_addr()}, c.common_env(), 120s);
  ASSERT_EQ(computed.status, 0) << show(computed);
  auto port = c.api_ports().at(0);
  auto users = column(db, "SELECT user_id FROM user_behavior WHERE behavior_type = 'buy' "
                          "GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 4");
  ASSERT_EQ(users.size(), 4u);
  // The shards load the published runs within jobs.poll_seconds (1 s here),
  // one run per kind, possibly in different polls; a recall step that
  // overlaps a shard's reload can miss its deadline. Settled = every user
  // answered in full for 2 s on end (two poll periods).
  const auto give_up = steady::now() + 15s;
  auto clean_since = steady::now();
  while (steady::now() < give_up && steady::now() - clean_since < 2s) {
    for (auto user : users)
      if (is_degraded(recommend(port, user, 10, false)))
        clean_since = steady::now();
    std::this_thread::sleep_for(100ms);
  }
  for (auto user : users) {
    auto before = recommend(port, user, 10, false);
    ASSERT_EQ(before.status, 200u) << show(before);
    EXPECT_FALSE(is_degraded(before)) << show(before);
    ASSERT_FALSE(item_ids(before).empty()) << show(before);
    auto item = item_ids(before).front();
    auto ack = behave(port, user, item, "buy");
    ASSERT_EQ(ack.status, 200u) << show(ack);
    auto after = recommend(port, user, 10, false);
    ASSERT_EQ(after.status, 200u) << show(after);
    EXPECT_FALSE(is_degraded(after)) << show(after);
    EXPECT_FALSE(contains(item_ids(after), item)) << show(after);
  }

  // Without TLS, or with a certificate of another CA, nothing gets in.
  auto without_tls = [&] {
    auto env = c.common_env();
    std::erase_if(env, [](const auto& kv) { return kv.first.rfind("RECD_CLUSTER_TLS_", 0) == 0; });
    return env;
  };
  auto plain = run_cli({"admin", "cluster", "--coordinator", c.coordinator_addr()}, without_tls(), 30s);
  EXPECT_NE(plain.status, 0) << "a plain-TCP client got in: " << show(plain);
  EXPECT_NE(plain.status, -1) << "it hung: " << show(plain);
  auto foreign_env = without_tls();
  for (const auto& kv : foreign.env())
    foreign_env.push_back(kv);
  auto stranger = run_cli({"admin", "cluster", "--coordinator", c.coordinator_addr()}, foreign_env, 30s);
  EXPECT_NE(stranger.status, 0) << "a node certified by another CA got in: " << show(stranger);
  EXPECT_NE(stranger.status, -1) << "it hung: " << show(stranger);
  auto trusted = run_cli({"admin", "cluster", "--coordinator", c.coordinator_addr()}, c.common_env(), 30s);
  EXPECT_EQ(trusted.status, 0) << show(trusted);
  c.set_node_env(foreign.env());
  c.start_shard(7);
  auto joined = c.wait_map([](const cluster_map& m) { return m.shard("shard-7") != nullptr; }, 3s);
  EXPECT_FALSE(joined.ok) << "a shard node certified by another CA joined: "
                          << (joined.map ? joined.map->raw : "");
  info("plain client: " + tail(plain.output, 200) + "; foreign CA: " + tail(stranger.output, 200));
}

// ---- 5. a coordinator restart -----------------------------------------------------------------

// 1 coordinator, shard-0 and shard-1, api-0 and api-1, all ready; the balanced map.
cluster_map start_two_shard_cluster(cluster& c) {
  c.start_coordinator();
  c.start_shard(0);
  c.start_shard(1);
  c.start_api(0);
  c.start_api(1);
  c.wait_http_ok(c["coordinator"]);
  c.wait_http_ok(c["api-0"]);
  c.wait_http_ok(c["api-1"]);
  auto w = c.wait_balanced({"shard-0", "shard-1"}, 10s);
  if (!w.ok)
    throw std::runtime_error("the two shards are not balanced: " + (w.map ? w.map->raw : "no map"));
  return *w.map;
}

TEST(CoordinatorRestart, ShardsRejoinAtAHigherEpochAndApiNodesAreReadyAgainWithinTenSeconds) {
  test_database db{"cluster_restart"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"restart", db.url(), redis.url()};
  const auto before = start_two_shard_cluster(c);

  const auto id_before = count(db, "SELECT max(id) FROM user_behavior");
  load_generator::options opt;
  opt.ports = c.api_ports();
  opt.threads = 3;
  opt.max_duration = 30s;
  opt.seed = 5;
  load_generator load{opt};
  std::this_thread::sleep_for(1s);
  auto& old_coordinator = c["coordinator"];
  auto t_stop = steady::now();
  auto st = c.stop(old_coordinator);
  const double stopped_at = load.elapsed();
  info("coordinator stopped by SIGTERM in " + fmt(seconds_since(t_stop), 2) + " s");
  EXPECT_EQ(st, std::optional<int>{0}) << tail(slurp(old_coordinator.log));
  std::this_thread::sleep_for(1500ms); // the API nodes serve without a coordinator
  const auto during = load.rounds();
  auto t_restart = steady::now();
  const double restarted_at = load.elapsed();
  c.start_coordinator();
  auto rejoined = c.wait_balanced({"shard-0", "shard-1"}, 15s, before.epoch);
  const double rejoin_seconds = seconds_since(t_restart);
  double ready_seconds[2] = {-1, -1};
  for (int i = 0; i < 2; ++i) {
    try {
      c.wait_http_ok(c["api-" + std::to_string(i)], "/readyz",
                     std::chrono::milliseconds{
                       std::max<long>(0, 10000 - long(seconds_since(t_restart) * 1000))});
      ready_seconds[i] = seconds_since(t_restart);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "api-" << i << " not ready within 10 s of the restart: " << e.what();
    }
  }
  std::this_thread::sleep_for(1s);
  auto report = load.finish();
  info("coordinator down from t=" + fmt(stopped_at) + " s to t=" + fmt(restarted_at) +
       " s; shards rejoined, map balanced at epoch " +
       std::to_string(rejoined.map ? rejoined.map->epoch : 0) + " (before: " +
       std::to_string(before.epoch) + ") " + fmt(rejoin_seconds, 2) +
       " s after the restart; API nodes ready after " + fmt(ready_seconds[0], 2) + " s and " +
       fmt(ready_seconds[1], 2) + " s");
  info("load: " + report.summary());
  if (!report.failed_behaviors.empty())
    info(committed_failures(db, report, id_before));

  ASSERT_TRUE(rejoined.map.has_value());
  EXPECT_TRUE(rejoined.ok) << "not balanced over both shards at an epoch above " << before.epoch
                           << ": " << rejoined.map->raw;
  EXPECT_GT(rejoined.map->epoch, before.epoch);
  EXPECT_GE(ready_seconds[0], 0.0);
  EXPECT_LE(ready_seconds[0], 10.0);
  EXPECT_GE(ready_seconds[1], 0.0);
  EXPECT_LE(ready_seconds[1], 10.0);
  EXPECT_GT(during, 20) << "hardly any request while the coordinator was down";
  EXPECT_EQ(report.recommend_failures + report.behavior_failures, 0)
    << report.summary() << "\n"
    << report.first_failures() << "(coordinator down from t=" << fmt(stopped_at)
    << " s, restarted at t=" << fmt(restarted_at) << " s)";
  expect_acked_behaviors_stored(db, report.acked);
}

TEST(CoordinatorRestart, AnswersStayTheSameWhenTheRestartedCoordinatorAssignsPartitionsDifferently) {
  test_database db{"cluster_reassign"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"reassign", db.url(), redis.url()};
  const auto before = start_two_shard_cluster(c);
  // The shard owning partition 0 rejoins late (held with SIGSTOP): the new
  // coordinator waits cluster.rejoin_grace_ms (3 s here) for it, gives the other
  // shard all partitions, and later the other half back to it.
  std::string first_owner;
  for (const auto& s : before.shards)
    if (std::find(s.partitions.begin(), s.partitions.end(), 0) != s.partitions.end())
      first_owner = s.name;
  ASSERT_FALSE(first_owner.empty());
  const std::string other = first_owner == "shard-0" ? "shard-1" : "shard-0";

  // No behaviors in this test: the data stays the same, so do the answers.
  const auto ports = c.api_ports();
  std::vector<std::int64_t> users;
  for (std::int64_t u = 7; u <= 3000 && users.size() < 12; u += 250)
    users.push_back(u);
  std::map<std::int64_t, http_reply> answers;
  for (auto u : users) {
    answers[u] = recommend(ports[0], u, 20, false);
    ASSERT_EQ(answers[u].status, 200u) << show(answers[u]);
    ASSERT_FALSE(is_degraded(answers[u])) << show(answers[u]);
  }

  auto st = c.stop(c["coordinator"]);
  EXPECT_EQ(st, std::optional<int>{0});
  c[first_owner].proc->signal(SIGSTOP);
  c.start_coordinator();
  auto alone = c.wait_map(
    [&](const cluster_map& m) {
      auto* s = m.shard(other);
      return s != nullptr && s->alive && static_cast<int>(s->partitions.size()) == m.partitions &&
             !m.moving;
    },
    10s);
  c[first_owner].proc->signal(SIGCONT);
  ASSERT_TRUE(alone.ok) << other << " did not rejoin alone: "
                        << (alone.map ? alone.map->raw : "no map");
  auto after = c.wait_balanced({"shard-0", "shard-1"}, 15s, before.epoch);
  ASSERT_TRUE(after.ok) << (after.map ? after.map->raw : "no map");
  ASSERT_NE(after.map->shard(other)->partitions, before.shard(other)->partitions)
    << "the restarted coordinator handed out the same map: " << after.map->raw;
  for (int i = 0; i < 2; ++i)
    c.wait_http_ok(c["api-" + std::to_string(i)], "/readyz", 10s);
  // Let the API nodes take the new map.
  std::this_thread::sleep_for(500ms);

  std::size_t changed = 0;
  std::string examples;
  for (auto u : users) {
    auto now = recommend(ports[1], u, 20, false);
    ASSERT_EQ(now.status, 200u) << show(now);
    EXPECT_FALSE(is_degraded(now)) << show(now);
    auto a = item_scores(answers[u]), b = item_scores(now);
    bool same = item_ids(answers[u]) == item_ids(now);
    for (const auto& [item, score] : a)
      if (b.count(item) && std::abs(b[item] - score) > 1e-6 * std::max(1.0, score))
        same = false;
    if (!same) {
      ++changed;
      if (examples.size() < 1500) {
        examples += "  user " + std::to_string(u) + ": before [" + join(item_ids(answers[u])) +
                    "]\n              after  [" + join(item_ids(now)) + "]\n";
        if (!item_ids(answers[u]).empty() && !item_ids(now).empty())
          examples += "    top score before " + std::to_string(a.begin()->second) +
                      ", item " + std::to_string(item_ids(answers[u]).front()) + " now " +
                      std::to_string(b[item_ids(answers[u]).front()]) + "\n";
      }
    }
  }
  EXPECT_EQ(changed, 0u) << changed << " of " << users.size()
                         << " users get other recommendations (items or scores) although no "
                            "data changed: a shard still serves partitions it no longer owns?\n"
                         << examples << "before: " << before.raw << "\nafter:  " << after.map->raw;
}


// ---- 6. an adversary on the actor port -----------------------------------------------------------
//
// A CAF client of this test's own (not a recd node) connects to a shard node's
// and the coordinator's actor ports with the cluster's application id, as an
// attacker on the network would without TLS, and sends every message that
// changes what a node holds or serves, plus malformed ones. Each must be
// refused with ec::refused (actors/trust.hpp), no node may crash, and the map,
// the data and the answers stay as they were. (With TLS on, such a client
// cannot connect at all: Tls.ACertifiedClusterServesAndRefusesPlainAndForeignNodes.)

namespace adversary {

struct attacker {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  explicit attacker(const std::string& app_id) {
    settings s;
    s.cluster.app_id = app_id;
    configure(cfg, s);
    configure_network(cfg, s);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
  // Connected as the typed handle a node of this deployment would use (CAF
  // refuses the connection unless the published interface is exactly that);
  // the test then sends through an untyped handle, as an attacker could.
  template <class Handle>
  caf::expected<caf::actor> connect(std::uint16_t port) {
    auto x = sys->middleman().remote_actor<Handle>(loopback, port);
    if (!x)
      return x.error();
    return caf::actor_cast<caf::actor>(*x);
  }
};

bool is_refused(const caf::error& err) {
  return err.category() == error_category && err.code() == static_cast<std::uint8_t>(ec::refused);
}

// Sends one request and returns its error; "accepted" (ec::unspecified) if it
// was answered with a value.
template <class... Rs, class... Ts>
caf::error send_hostile(caf::scoped_actor& self, const caf::actor& dest, Ts&&... xs) {
  caf::error result = make_error(ec::unspecified, "accepted");
  self->request(dest, std::chrono::seconds{5}, std::forward<Ts>(xs)...)
    .receive([&](Rs...) {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace adversary

TEST(Adversary, EveryHostileMessageOnTheActorPortIsRefusedAndChangesNothing) {
  using namespace adversary;
  test_database db{"cluster_adversary"};
  const auto now = static_cast<unix_seconds>(std::time(nullptr));
  import_shop(db, shop_spec{}, now);
  redis_server redis;
  cluster c{"adversary", db.url(), redis.url()};
  const auto initial = start_two_shard_cluster(c);
  const auto port = c.api_ports().at(0);
  auto users = column(db, "SELECT user_id FROM user_behavior GROUP BY user_id "
                          "ORDER BY count(*) DESC, user_id LIMIT 5");
  ASSERT_EQ(users.size(), 5u);
  std::map<std::int64_t, std::vector<std::int64_t>> before;
  for (auto u : users) {
    auto r = recommend(port, u, 10, false);
    ASSERT_EQ(r.status, 200u) << show(r);
    ASSERT_FALSE(is_degraded(r)) << show(r);
    before[u] = item_ids(r);
  }
  const auto behaviors = count(db, "SELECT count(*) FROM user_behavior");
  const auto runs = count(db, "SELECT count(*) FROM job_runs");
  const auto tables = count(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
  // Statements that change anything, as PostgreSQL counted them
  // (pg_stat_statements, preloaded by scripts/test): none may run because of
  // the messages below.
  db.scalar("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  auto writes = [&] {
    return count(db, "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_database d "
                     "ON d.oid = s.dbid WHERE d.datname = current_database() AND s.query ~* "
                     "'^\\s*(insert|update|delete|create|drop|copy|alter|truncate|with|select "
                     "pg_advisory)'");
  };
  const auto writes_before = writes();
  ASSERT_GE(writes_before, 0) << "pg_stat_statements is not available";

  // Another application id cannot even connect.
  {
    attacker stranger{"another-deployment"};
    EXPECT_FALSE(stranger.connect<shard_actor>(c["shard-0"].actor))
      << "a client of another app id connected";
  }

  attacker evil{c.app_id()};
  // A node expecting another interface (another protocol version) is refused.
  EXPECT_FALSE(evil.connect<coordinator_actor>(c["shard-0"].actor))
    << "a shard node was taken for a coordinator";
  auto shard = evil.connect<shard_actor>(c["shard-0"].actor);
  ASSERT_TRUE(shard) << evil.sys->render(shard.error());
  auto coordinator = evil.connect<coordinator_actor>(c["coordinator"].actor);
  ASSERT_TRUE(coordinator) << evil.sys->render(coordinator.error());
  caf::scoped_actor self{*evil.sys};
  auto me = caf::actor_cast<caf::actor>(self);
  std::vector<std::uint32_t> all(64);
  for (std::uint32_t p = 0; p < 64; ++p)
    all[p] = p;
  constexpr auto huge = std::numeric_limits<std::uint64_t>::max();
  const auto user = static_cast<user_id>(users.front());
  behavior_event fake{user, 1, behavior_kind::buy, now};
  recall_request recall;
  recall.user = user;

  std::vector<std::pair<std::string, caf::error>> answers;
  auto note = [&](std::string what, caf::error err) { answers.emplace_back(what, std::move(err)); };
  using u64 = std::uint64_t;
  // To the shard: control messages, then serving requests from a node that
  // is no API node of the cluster.
  note("shard drop", send_hostile<bool>(self, *shard, drop_atom_v, all, huge));
  note("shard load", send_hostile<u64, u64>(self, *shard, load_atom_v, all, std::uint32_t{64}, huge));
  note("shard load count 0",
       send_hostile<u64, u64>(self, *shard, load_atom_v, all, std::uint32_t{0}, huge));
  note("shard holdings", send_hostile<std::vector<std::uint32_t>>(self, *shard, held_atom_v));
  note("shard own", send_hostile<>(self, *shard, own_atom_v, std::vector<std::uint32_t>{},
                                   std::uint32_t{0}));
  note("shard flip", send_hostile<>(self, *shard, flip_atom_v, huge, std::vector<std::uint32_t>{}));
  note("shard reload", send_hostile<bool>(self, *shard, reload_atom_v, job_kind::item_similarity));
  note("shard bulk", send_hostile<bool>(self, *shard, bulk_atom_v,
                                        bulk_chunk{1, 0, 1, std::vector<char>(16, 'x')}));
  note("shard similarity job",
       send_hostile<u64, u64>(self, *shard, similarity_atom_v, bulk_handle{1, 1, 16},
                              part_progress_sink{}));
  note("shard embedding job", send_hostile<embedding_worker_actor>(self, *shard, embedding_atom_v,
                                                                   bulk_handle{1, 1, 16}));
  note("shard admit", send_hostile<>(self, *shard, admit_atom_v, self->node()));
  note("shard controller", send_hostile<>(self, *shard, controller_atom_v, self->node()));
  note("shard apply user side", send_hostile<u64>(self, *shard, apply_user_atom_v, fake,
                                                  std::int64_t{1} << 40, std::vector<float>{}));
  note("shard apply item side",
       send_hostile<bool>(self, *shard, apply_item_atom_v, fake, std::int64_t{1} << 40));
  note("shard context", send_hostile<user_context>(self, *shard, context_atom_v, user,
                                                   std::int32_t{200}, std::int32_t{50}));
  note("shard version", send_hostile<u64>(self, *shard, version_atom_v, user));
  note("shard recall", send_hostile<std::vector<candidate>>(self, *shard, recall_atom_v, recall));
  note("shard details", send_hostile<std::vector<item_details>>(self, *shard, details_atom_v,
                                                                std::vector<item_id>{1}));
  note("shard item", send_hostile<std::vector<float>>(self, *shard, item_atom_v, item_id{1}));
  // To the coordinator: take a live shard's place, make it leave, and its
  // own reminders; a malformed join and job list.
  // The shard handle of a join is whatever the sender claims: here the
  // attacker's own actor, as a shard_actor (CAF does not check it).
  auto fake_shard = caf::actor_cast<shard_actor>(me);
  note("coordinator join as shard-0",
       send_hostile<std::uint32_t>(self, *coordinator, join_atom_v,
                                   shard_join{"shard-0", fake_shard, "127.0.0.1:1"}));
  note("coordinator join with a bad name",
       send_hostile<std::uint32_t>(self, *coordinator, join_atom_v,
                                   shard_join{"x'; DROP", fake_shard, "127.0.0.1:1"}));
  note("coordinator leave", send_hostile<bool>(self, *coordinator, leave_atom_v,
                                               std::string{"shard-0"}));
  note("coordinator drop", send_hostile<>(self, *coordinator, drop_due_atom_v, u64{1}));
  note("coordinator rebalance reminder", send_hostile<>(self, *coordinator, regroup_atom_v));
  note("coordinator poll", send_hostile<>(self, *coordinator, poll_atom_v));
  note("coordinator redo", send_hostile<>(self, *coordinator, redo_atom_v));
  note("coordinator scheduled run", send_hostile<>(self, *coordinator, scheduled_atom_v));
  note("coordinator unknown job",
       send_hostile<std::vector<job_summary>>(self, *coordinator, compute_atom_v,
                                              std::vector<job_kind>{static_cast<job_kind>(9)},
                                              run_progress_sink{}));
  for (const auto& [what, err] : answers)
    EXPECT_TRUE(is_refused(err)) << what << " was not refused: " << describe(err);
  // Exit messages and bare errors (CAF ends an actor that gets either by default).
  // (Not exit_reason::kill: CAF 0.17 ends any actor on it, see docs/security.md.)
  self->send_exit(*shard, caf::exit_reason::user_shutdown);
  self->send_exit(*coordinator, caf::exit_reason::user_shutdown);
  self->send(*shard, make_error(ec::unspecified, "die"));
  self->send(*coordinator, make_error(ec::unspecified, "die"));
  // Messages of no interface (the tuples of the protocol before typed
  // interfaces, and nonsense): dropped and logged.
  self->send(*shard, caf::make_message(map_atom_v, std::vector<std::uint32_t>{}, std::uint32_t{0}));
  self->send(*shard, caf::make_message(std::string{"hello"}, u64{42}));
  self->send(*coordinator, caf::make_message(join_atom_v, std::string{"shard-0"}, me,
                                             std::string{"127.0.0.1:1"}));
  // A request after them proves they were processed (one sender, one connection: in order).
  auto still = send_hostile<std::vector<std::uint32_t>>(self, *shard, held_atom_v);
  EXPECT_TRUE(is_refused(still)) << "the shard did not answer after an exit message: "
                                 << describe(still);

  // Nothing crashed, nothing changed, no statement that writes ran.
  EXPECT_EQ(writes(), writes_before);
  for (const char* name : {"coordinator", "shard-0", "shard-1", "api-0"})
    EXPECT_TRUE(c[name].proc->running()) << name << " died, log:\n" << tail(slurp(c[name].log));
  auto after_map = c.map();
  ASSERT_TRUE(after_map.has_value());
  EXPECT_EQ(after_map->epoch, initial.epoch) << after_map->raw;
  EXPECT_EQ(balance_problem(*after_map, {"shard-0", "shard-1"}), "") << after_map->raw;
  EXPECT_EQ(after_map->shard("shard-0")->partitions, initial.shard("shard-0")->partitions);
  for (auto u : users) {
    auto r = recommend(port, u, 10, false);
    ASSERT_EQ(r.status, 200u) << show(r);
    EXPECT_FALSE(is_degraded(r)) << show(r);
    EXPECT_EQ(item_ids(r), before[u]) << "user " << u;
  }
  EXPECT_EQ(count(db, "SELECT count(*) FROM user_behavior"), behaviors);
  EXPECT_EQ(count(db, "SELECT count(*) FROM job_runs"), runs);
  EXPECT_EQ(count(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), tables);
  auto log = slurp(c["shard-0"].log);
  EXPECT_NE(log.find("refused drop"), std::string::npos) << "refusals are not logged";
  EXPECT_NE(log.find("dropped an unexpected message"), std::string::npos)
    << "messages of no interface are not logged";
  info(std::to_string(answers.size()) + " hostile messages refused; writing statements run " +
       "before them (migration, import, map): " + std::to_string(writes_before));
}

} // namespace
} // namespace recd::test
