// A rolling replacement of every node of a running cluster under load, as a
// StatefulSet or Deployment rollout does it: one node at a time gets SIGTERM,
// must exit with status 0, and a new process of the same name takes its place
// and becomes ready before the next node goes. A cluster of processes on
// 127.0.0.1 (support/cluster_harness.hpp: 2 coordinator replicas, 2 shard
// nodes, 2 API nodes), a fresh PostgreSQL database and a private redis-server.
//
//   EveryNodeReplacedOneAtATimeUnderLoadFailsNoRequest
//        the standby, the leader (its standby leads at once: the lease is
//        released), each shard (its partitions move to the other first, then
//        back), each API node (taken out of the client's endpoints first, as
//        a Service does on termination; http.drain_ms keeps it serving
//        requests already on their way): 0 failed requests, every
//        acknowledged behavior stored, the map balanced at the end. The
//        degraded answers and the time of each step are printed (figures for
//        docs/cluster.md, not asserted).
//
// Every node still running at the end must exit with status 0 within 10 s of SIGTERM.

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/api_client.hpp"
#include "support/cluster_harness.hpp"
#include "support/e2e_text.hpp"
#include "support/load_generator.hpp"
#include "support/process.hpp"
#include "support/shop_data.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;

TEST(RollingReplacement, EveryNodeReplacedOneAtATimeUnderLoadFailsNoRequest) {
  test_database db{"cluster_rolling"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"rolling", db.url(), redis.url()};
  c.set_coordinator_replicas(2);
  c.set_node_env({{"RECD_HTTP_DRAIN_MS", "1000"}});
  const auto before = start_cluster(c, 2, 2);
  c.start_coordinator(1);
  c.wait_http_ok(c["coordinator-1"], "/readyz/replica", 15s);
  const std::set<std::string> shards{"shard-0", "shard-1"};

  const auto id_before = count(db, "SELECT coalesce(max(id), 0) FROM user_behavior");
  load_generator::options opt;
  opt.ports = c.api_ports();
  opt.threads = 3;
  opt.max_duration = 150s;
  opt.max_rounds = 1000000;
  opt.seed = 23;
  load_generator load{opt};
  std::vector<std::string> steps;
  auto step = [&](const std::string& what, auto&& replace) {
    const double at = load.elapsed();
    replace();
    steps.push_back("t=" + fmt(at) + " s  " + what + ": " + fmt(load.elapsed() - at, 2) + " s");
  };
  auto stopped_cleanly = [&](node& n) {
    auto status = c.stop(n);
    EXPECT_EQ(status, std::optional<int>{0}) << n.name << ":\n" << tail(slurp(n.log));
  };
  std::this_thread::sleep_for(1s);

  step("standby coordinator-1 replaced", [&] {
    stopped_cleanly(c["coordinator-1"]);
    c.wait_http_ok(c.start_coordinator(1), "/readyz/replica", 15s);
  });
  step("leader replaced (coordinator-1 leads, coordinator back as standby)", [&] {
    stopped_cleanly(c["coordinator"]);
    c.wait_http_ok(c["coordinator-1"], "/readyz", 20s);
    c.wait_http_ok(c.start_coordinator(0), "/readyz/replica", 15s);
  });
  for (int i = 0; i < 2; ++i) {
    const auto name = "shard-" + std::to_string(i);
    step(name + " replaced", [&] {
      stopped_cleanly(c[name]);
      c.start_shard(i);
      auto w = c.wait_balanced(shards, 30s);
      EXPECT_TRUE(w.ok) << name << ": " << (w.map ? w.map->raw : "no map");
    });
  }
  for (int i = 0; i < 2; ++i) {
    const auto name = "api-" + std::to_string(i);
    step(name + " replaced", [&] {
      const auto leaving = c[name].http;
      auto others = c.api_ports();
      std::erase(others, leaving);
      load.set_ports(others); // the Service drops the terminating pod
      stopped_cleanly(c[name]);
      c.wait_http_ok(c.start_api(i), "/readyz", 20s);
      load.set_ports(c.api_ports());
    });
  }
  std::this_thread::sleep_for(1s);
  auto report = load.finish();

  for (const auto& s : steps)
    info(s);
  info("load: " + report.summary());
  if (!report.failed_behaviors.empty())
    info(committed_failures(db, report, id_before));
  EXPECT_EQ(report.recommend_failures + report.behavior_failures, 0)
    << report.summary() << "\n"
    << report.first_failures();
  EXPECT_GT(report.recommends, 100) << "hardly any load";
  expect_acked_behaviors_stored(db, report.acked);
  auto end = c.wait_balanced(shards, 10s, before.epoch);
  ASSERT_TRUE(end.map.has_value());
  EXPECT_TRUE(end.ok) << end.map->raw;
  for (auto port : c.api_ports()) {
    auto r = recommend(port, 42, 10, false);
    EXPECT_EQ(r.status, 200u) << show(r);
    EXPECT_FALSE(is_degraded(r)) << show(r);
  }
}

} // namespace
} // namespace recd::test
