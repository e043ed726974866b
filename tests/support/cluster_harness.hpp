#pragma once
// A recd cluster as separate processes on 127.0.0.1, for the cluster suites:
// one coordinator node, shard nodes and API nodes (`recd serve --role
// coordinator|shard|api`) against one test database and one redis-server,
// and the partition map they publish (GET /admin/cluster), parsed and checked
// for balance.
//
// Contract of `cluster`:
// - Every node gets the cluster's environment (common_env(): PostgreSQL,
//   Redis, the coordinator's actor address, an application id unique to the
//   cluster, jobs.poll_seconds 1, cluster.rejoin_grace_ms 3000) plus what
//   set_node_env() added, plus its own ports. Every node has an admin port
//   (/metrics; the coordinator's on a fixed port, the others' on any free
//   one, logged as "admin on HOST:PORT"); the admin token reaches the nodes
//   through their environment, never argv.
// - At the end (shutdown() or the destructor) every node the test did not
//   stop or kill itself gets SIGTERM (API nodes, then shards, then the
//   coordinator) and must exit with status 0 within 10 s, else the running
//   test records a failure with the node's log tail.
// - Node logs are /tmp/recd_e2e_<pid>_<tag>_<node>.log, kept when a test
//   failed (or RECD_KEEP_LOGS is set), removed otherwise. With RECD_DEBUG_HANG
//   set, a node that does not exit on SIGTERM gets its thread stacks dumped
//   (gdb) to <log>.stacks first.
// - Start nodes from the test's main thread (support/process.hpp: children
//   die with the thread that forked them).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/http_client.hpp"
#include "support/process.hpp"

namespace recd::test {

// ---- the partition map (GET /admin/cluster) ---------------------------------------------

struct shard_entry {
  std::string name;
  bool alive = false;
  std::vector<int> partitions;
  std::vector<int> replicas; // held as a replica (cluster.replicas = 2)
};

struct cluster_map {
  std::uint64_t epoch = 0;
  int partitions = 0;
  bool ready = false;
  bool replicated = false; // every partition has an alive owner and (with 2) an alive replica
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

// The map in an /admin/cluster answer (or `recd admin cluster` output); nullopt
// if a field is missing or of another type.
std::optional<cluster_map> parse_map(const nlohmann::json& j);

// "" if every partition is owned exactly once, only by the shards named in `live`
// (each listed and alive), with sizes differing by at most one; else what is wrong.
std::string balance_problem(const cluster_map& m, const std::set<std::string>& live);

// ---- a cluster of processes --------------------------------------------------------------

// The admin token of every coordinator the tests start (passed by environment).
inline const std::string admin_token = "cluster-test-admin-token";

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
  // Picks the coordinator's actor, HTTP and admin ports; starts nothing.
  cluster(const std::string& tag, std::string postgres_url, std::string redis_url);
  ~cluster() { shutdown(); }

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  const std::string& app_id() const { return app_id_; }
  // Coordinator replicas (nodes/leadership.hpp): "coordinator" (replica 0) and
  // "coordinator-<r>". Set before starting any node: every node then lists
  // all replicas in cluster.coordinator.
  void set_coordinator_replicas(int n);
  // The replicas' actor addresses, comma-separated (cluster.coordinator).
  std::string coordinator_addr() const;
  std::uint16_t coordinator_http(int replica = 0) const { return replicas_.at(replica).http; }
  // A replica's admin port (/admin/*) and the header its requests need.
  std::uint16_t coordinator_admin(int replica = 0) const { return replicas_.at(replica).admin; }
  static header_list admin_auth() { return {{"Authorization", "Bearer " + admin_token}}; }

  // Settings every node started from now on gets (e.g. TLS); they replace
  // the harness's own defaults (common_env) of the same name.
  void set_node_env(env_list env) { node_env_ = std::move(env); }
  // The executable of every node started from now on ("": $RECD_BINARY).
  void set_binary(std::string path) { binary_ = std::move(path); }

  // What every node gets (a `recd` command joining the cluster needs the same).
  env_list common_env() const;

  // Coordinator replica `replica` ("coordinator", "coordinator-1", ...), always
  // on the same actor, HTTP and admin ports (a restart reuses them).
  node& start_coordinator(int replica = 0);
  // Node "shard-<i>" on fresh ports (admin port: any free one); `extra` overrides
  // the environment.
  node& start_shard(int i, const env_list& extra = {});
  // Node "api-<i>" on a fresh HTTP port (admin port: any free one).
  node& start_api(int i);

  // The newest node of that name.
  node& operator[](const std::string& name);

  // The HTTP ports of the API nodes not stopped by the test.
  std::vector<std::uint16_t> api_ports() const;

  // Waits until GET `path` on the node answers 200; the seconds it took. Throws
  // (with the log's tail) if it does not within `timeout` or the node exits.
  double wait_http_ok(node& n, const std::string& path = "/readyz",
                      std::chrono::milliseconds timeout = std::chrono::seconds{30});

  // Waits until replica `replica` leads (its /admin/cluster answers 200, not a
  // standby's 503): a replica stands by, HTTP up, before its actor port
  // opens. The seconds it took; throws like wait_http_ok.
  double wait_leading(int replica = 0,
                      std::chrono::milliseconds timeout = std::chrono::seconds{30});

  // The leading replica's map (2 s timeout per replica asked, the one that
  // answered last first); nullopt if none answered 200 with one.
  std::optional<cluster_map> map() const;

  // Polls the map until `ok` holds; (the last map seen, seconds waited, whether it held).
  struct map_wait {
    std::optional<cluster_map> map;
    double seconds = 0;
    bool ok = false;
  };
  map_wait wait_map(const std::function<bool(const cluster_map&)>& ok,
                    std::chrono::milliseconds timeout) const;

  // Until ready, not moving and balanced over exactly `live`.
  map_wait wait_balanced(const std::set<std::string>& live, std::chrono::milliseconds timeout,
                         std::uint64_t above_epoch = 0) const;

  // SIGTERM; the exit code, or nullopt if it did not exit within `timeout` (then killed).
  std::optional<int> stop(node& n, std::chrono::milliseconds timeout = std::chrono::seconds{10});

  void kill9(node& n);

  // Every running node gets SIGTERM (API nodes, then shards, then the coordinator)
  // and must exit with status 0 within 10 s.
  void shutdown();

private:
  node& launch(const std::string& name, const std::string& role, std::uint16_t http,
               std::uint16_t actor, const env_list& extra);

  std::string tag_;
  std::string postgres_;
  std::string redis_;
  std::string app_id_;
  std::string binary_;
  struct replica_ports {
    std::uint16_t actor, http, admin;
  };
  std::vector<replica_ports> replicas_;
  mutable std::size_t last_leader_ = 0; // the replica whose admin port answered last
  std::vector<std::unique_ptr<node>> nodes_;
  std::set<std::string> logs_started_;
  env_list node_env_;
};

// 1 coordinator, shard-0..shard-<shards-1>, api-0..api-<apis-1>, all ready; the
// balanced map. Throws std::runtime_error if the shards are not balanced in `within`.
cluster_map start_cluster(cluster& c, int shards, int apis,
                          std::chrono::milliseconds within = std::chrono::seconds{10});
// start_cluster(c, 2, 2).
cluster_map start_two_shard_cluster(cluster& c);

// The admin port a node logged ("admin on 127.0.0.1:PORT"), 0 if none.
std::uint16_t admin_port_of(const std::string& log_path);

// A thread noting every change of the map's epoch, moving flag and ready flag,
// as "t=<clock()> s  map: ..." lines (see timeline_text in support/load_generator.hpp).
class map_watcher {
public:
  map_watcher(const cluster& c, std::function<double()> clock);
  ~map_watcher() { stop(); }
  map_watcher(const map_watcher&) = delete;
  map_watcher& operator=(const map_watcher&) = delete;
  void stop();
  std::vector<std::string> events();

private:
  const cluster& c_;
  std::function<double()> clock_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> events_;
  std::thread thread_;
};

} // namespace recd::test
