// Replicated partitions (cluster.replicas = 2, docs/cluster.md "Replicas"):
// a cluster of separate processes on 127.0.0.1 (support/cluster_harness.hpp)
// where every partition is held by two shard nodes, under a bounded client
// load (support/load_generator.hpp), a fresh PostgreSQL database and a
// private redis-server.
//
//   Replicas  kill -9 of a shard node: its partitions are served by their
//             replicas at once (no degraded and no failed answer, no lost
//             behavior, no bought item recommended), promoted, and given
//             new replicas. Joins, a graceful leave and a kill in a row
//             under load: the same. A restarted coordinator gets both roles
//             back from the shards, with nothing to load. A replica of every
//             partition changes no answer (each partition is still recalled
//             once) while the reads spread over both holders.
//
// Load is bounded: 3 client threads for at most 20 s, every request with a 5 s
// timeout. Every node must exit with status 0 within 10 s of SIGTERM at the end.

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/api_client.hpp"
#include "support/cluster_harness.hpp"
#include "support/e2e_text.hpp"
#include "support/exposition.hpp"
#include "support/load_generator.hpp"
#include "support/timed_load.hpp"
#include "support/process.hpp"
#include "support/recd_cli.hpp"
#include "support/shop_data.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;

// Every partition owned once by a live shard and replicated once by another
// live one, with no move under way.
bool fully_replicated(const cluster_map& m, const std::set<std::string>& live) {
  if (!m.ready || !m.replicated || m.moving)
    return false;
  std::vector<int> owners(static_cast<std::size_t>(m.partitions), 0);
  std::vector<int> replicas(owners.size(), 0);
  for (const auto& s : m.shards) {
    if (live.count(s.name) == 0 && (!s.partitions.empty() || !s.replicas.empty()))
      return false;
    for (auto p : s.partitions)
      ++owners.at(static_cast<std::size_t>(p));
    for (auto p : s.replicas) {
      if (std::find(s.partitions.begin(), s.partitions.end(), p) != s.partitions.end())
        return false; // owner and replica on one shard
      ++replicas.at(static_cast<std::size_t>(p));
    }
  }
  return std::all_of(owners.begin(), owners.end(), [](int n) { return n == 1; }) &&
         std::all_of(replicas.begin(), replicas.end(), [](int n) { return n == 1; });
}

TEST(Replicas, AKilledShardNodeUnderLoadCostsNoDegradedNoFailedAnswerAndNoBehavior) {
  test_database db{"cluster_replicas"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"replicas", db.url(), redis.url()};
  c.set_node_env({{"RECD_CLUSTER_REPLICAS", "2"}});
  start_cluster(c, 3, 2);
  auto settled = c.wait_map(
    [](const cluster_map& m) { return fully_replicated(m, {"shard-0", "shard-1", "shard-2"}); },
    30s);
  ASSERT_TRUE(settled.ok) << "no replicated map within 30 s: "
                          << (settled.map ? settled.map->raw : "no map");
  const auto* victim = settled.map->shard("shard-1");
  ASSERT_NE(victim, nullptr);
  ASSERT_FALSE(victim->partitions.empty());
  ASSERT_FALSE(victim->replicas.empty());

  const auto id_before = count(db, "SELECT max(id) FROM user_behavior");
  load_generator::options opt;
  opt.threads = 3;
  opt.max_duration = 20s;
  opt.seed = 5;
  timed_load load{c, opt};
  load.sleep_until(2);
  const double killed_at = load.elapsed();
  auto t_kill = steady::now();
  c.kill9(c["shard-1"]);
  auto healed = c.wait_map(
    [](const cluster_map& m) {
      auto* dead = m.shard("shard-1");
      return dead != nullptr && !dead->alive && fully_replicated(m, {"shard-0", "shard-2"});
    },
    20s);
  const double heal = seconds_since(t_kill);
  info("kill -9 of shard-1 at t=" + fmt(killed_at) + " s: every partition owned and replicated " +
       "by the two live shards " + fmt(heal, 3) + " s later");
  load.sleep_until(killed_at + std::max(4.0, heal + 2));
  load.mark_at(killed_at, "kill -9 shard-1");
  auto [report, lines] = load.finish(db, id_before);

  ASSERT_TRUE(healed.map.has_value()) << "GET /admin/cluster failed";
  EXPECT_TRUE(healed.ok) << "the dead shard's partitions were not owned and replicated by the "
                            "live shards within 20 s: "
                         << healed.map->raw;
  EXPECT_GT(report.recommends, 50);
  EXPECT_EQ(report.degraded, 0) << report.summary() << "\ntimeline:\n" << lines;
  EXPECT_EQ(report.recommend_failures, 0)
    << report.summary() << "\nfirst failures (kill at t=" << fmt(killed_at) << " s):\n"
    << report.first_failures();
  EXPECT_EQ(report.behavior_failures, 0)
    << report.summary() << "\nfirst failures (kill at t=" << fmt(killed_at) << " s):\n"
    << report.first_failures();
  expect_acked_behaviors_stored(db, report.acked);
  expect_bought_items_not_recommended(c.api_ports(), report.acked, 400, healed.map->partitions,
                                      lines);
  // The coordinator's /metrics tells an operator the same.
  auto r = request("GET", loopback, c.coordinator_admin(), "/metrics", "", "text/plain", 10s,
                   cluster::admin_auth());
  ASSERT_EQ(r.status, 200u) << show(r);
  auto m = parse_exposition(r.body);
  EXPECT_TRUE(m.problems.empty()) << m.problems.front();
  EXPECT_EQ(m.value("recd_cluster_replicated"), 1);
  double replicas = 0;
  for (const char* shard : {"shard-0", "shard-2"})
    replicas += m.value("recd_cluster_shard_replicas", {{"shard", shard}});
  EXPECT_EQ(replicas, healed.map->partitions) << "each partition replicated once";
  EXPECT_EQ(m.value("recd_cluster_shard_replicas", {{"shard", "shard-1"}}), 0);
}

TEST(Replicas, JoinsALeaveAndAKillUnderLoadCostNoDegradedNoFailedAnswerAndNoBehavior) {
  test_database db{"cluster_replicas_moves"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"repmoves", db.url(), redis.url()};
  c.set_node_env({{"RECD_CLUSTER_REPLICAS", "2"}});
  start_cluster(c, 2, 2);
  auto replicated_over = [](std::set<std::string> live) {
    return [live](const cluster_map& m) { return fully_replicated(m, live); };
  };
  auto first = c.wait_map(replicated_over({"shard-0", "shard-1"}), 30s);
  ASSERT_TRUE(first.ok) << (first.map ? first.map->raw : "no map");

  const auto id_before = count(db, "SELECT max(id) FROM user_behavior");
  load_generator::options opt;
  opt.threads = 3;
  opt.max_duration = 25s;
  opt.seed = 6;
  timed_load load{c, opt};
  auto mark = [&](const std::string& what) { load.mark(what); };
  auto sleep_until = [&](double t) { load.sleep_until(t); };
  auto step = [&](const std::string& what, std::set<std::string> live) {
    auto w = c.wait_map(replicated_over(live), 20s);
    mark(what + ": replicated over the live shards (" + fmt(w.seconds) + " s)");
    EXPECT_TRUE(w.ok) << what << ": " << (w.map ? w.map->raw : "no map");
  };
  sleep_until(1.5);
  mark("start shard-2");
  c.start_shard(2);
  step("shard-2 joined", {"shard-0", "shard-1", "shard-2"});
  sleep_until(3.5);
  mark("SIGTERM shard-0");
  EXPECT_EQ(c.stop(c["shard-0"]), std::optional<int>{0}) << tail(slurp(c["shard-0"].log));
  step("shard-0 left", {"shard-1", "shard-2"});
  sleep_until(5);
  mark("start shard-3");
  c.start_shard(3);
  step("shard-3 joined", {"shard-1", "shard-2", "shard-3"});
  sleep_until(7);
  mark("kill -9 shard-1");
  c.kill9(c["shard-1"]);
  step("shard-1 killed", {"shard-2", "shard-3"});
  sleep_until(10);
  auto [report, lines] = load.finish(db, id_before);
  EXPECT_GT(report.recommends, 50) << "the load hardly ran";
  EXPECT_EQ(report.degraded, 0) << report.summary() << "\ntimeline:\n" << lines;
  EXPECT_EQ(report.recommend_failures + report.behavior_failures, 0)
    << report.summary() << "\nfirst failures:\n"
    << report.first_failures() << "timeline:\n"
    << lines;
  auto last = c.map();
  ASSERT_TRUE(last.has_value());
  expect_acked_behaviors_stored(db, report.acked);
  expect_bought_items_not_recommended(c.api_ports(), report.acked, 400, last->partitions, lines);
}

// What each shard holds in either role, by name.
std::map<std::string, std::set<int>> holdings(const cluster_map& m) {
  std::map<std::string, std::set<int>> out;
  for (const auto& s : m.shards) {
    out[s.name].insert(s.partitions.begin(), s.partitions.end());
    out[s.name].insert(s.replicas.begin(), s.replicas.end());
  }
  return out;
}

TEST(Replicas, ARestartedCoordinatorGetsBothRolesBackFromTheShardsWithNothingToLoad) {
  // Only the owners are persisted: the replicas come back from what each
  // rejoining shard says it holds (partition_table::claim), so every shard
  // ends up holding exactly what it held before, in one role or the other.
  test_database db{"cluster_replicas_restart"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"represtart", db.url(), redis.url()};
  // The default rejoin grace (the harness's 3 s can pass before shards
  // retrying with backoff find the new coordinator; then the first one back
  // takes and loads everything, a restart test of its own).
  c.set_node_env({{"RECD_CLUSTER_REPLICAS", "2"}, {"RECD_CLUSTER_REJOIN_GRACE_MS", "10000"}});
  start_cluster(c, 3, 1);
  const std::set<std::string> live{"shard-0", "shard-1", "shard-2"};
  auto before = c.wait_map([&](const cluster_map& m) { return fully_replicated(m, live); }, 30s);
  ASSERT_TRUE(before.ok) << (before.map ? before.map->raw : "no map");
  // Until the shards hold what the map gives them (the drops after the last
  // flip come 0.5 s after it): what a shard still holds of a partition
  // moved away would be claimed too.
  const auto wanted = holdings(*before.map);
  std::map<std::string, std::set<int>> held;
  for (auto deadline = steady::now() + 10s; steady::now() < deadline;
       std::this_thread::sleep_for(100ms)) {
    auto r = request("GET", loopback, c.coordinator_admin(), "/admin/check", "",
                     "application/json", 5s, cluster::admin_auth());
    held.clear();
    if (r.status == 200 && r.json.is_object())
      for (const auto& s : r.json.value("shards", nlohmann::json::array()))
        for (int p : s.value("partitions", std::vector<int>{}))
          held[s.value("name", std::string{})].insert(p);
    if (held == wanted)
      break;
  }
  ASSERT_EQ(held, wanted) << "the shards did not drop what moved away within 10 s";
  EXPECT_EQ(c.stop(c["coordinator"]), std::optional<int>{0}) << tail(slurp(c["coordinator"].log));
  c.start_coordinator();
  const auto epoch = before.map->epoch;
  auto after = c.wait_map(
    [&](const cluster_map& m) { return m.epoch > epoch && fully_replicated(m, live); }, 20s);
  ASSERT_TRUE(after.ok) << "not replicated again within 20 s of the restart: "
                        << (after.map ? after.map->raw : "no map");
  info("replicated again at epoch " + std::to_string(after.map->epoch) + " (before: " +
       std::to_string(epoch) + "), " + fmt(after.seconds, 2) + " s after the restart");
  EXPECT_EQ(holdings(*after.map), holdings(*before.map))
    << "a shard holds other partitions than before the restart (it loaded or dropped some)\n"
    << before.map->raw << "\n"
    << after.map->raw;
  for (std::int64_t user = 1; user <= 20; ++user) {
    auto r = recommend(c.api_ports().front(), user, 10, false);
    EXPECT_EQ(r.status, 200u) << show(r);
    EXPECT_FALSE(is_degraded(r)) << show(r);
  }
}

TEST(Replicas, AReplicaOfEveryPartitionServesReadsAndChangesNoAnswer) {
  // One process with two local shards puts partition p on shard p mod 2 with
  // or without replicas; with them each shard also holds the other's
  // partitions, and the answers must stay the same (a partition recalled by
  // both holders would count its candidates twice). The two servers run side
  // by side on one database and are asked in turn, so both answer at the
  // same request times.
  test_database db{"replicas_same"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  auto job = run_cli({"compute", "--shards", "2"}, {{"RECD_POSTGRES_URL", db.url()}}, 180s);
  ASSERT_EQ(job.status, 0) << show(job);
  const std::string token = "replicas-same-admin-token";
  recd_server one{db.url(), redis.url(), {{"RECD_CLUSTER_REPLICAS", "1"}, {"RECD_ADMIN_TOKEN", token}}};
  recd_server two{db.url(), redis.url(), {{"RECD_CLUSTER_REPLICAS", "2"}, {"RECD_ADMIN_TOKEN", token}}};
  int compared = 0, differ = 0, filled = 0;
  std::string examples;
  for (std::int64_t user = 1; user <= 200; ++user) {
    auto a = recommend(one.port(), user, 20, false);
    auto b = recommend(two.port(), user, 20, false);
    ASSERT_EQ(a.status, 200) << show(a);
    ASSERT_EQ(b.status, 200) << show(b);
    ASSERT_FALSE(is_degraded(a) || is_degraded(b)) << show(a) << "\n" << show(b);
    ++compared;
    filled += item_ids(a).size() == 20;
    if (item_ids(a) != item_ids(b)) {
      ++differ;
      if (examples.size() < 600)
        examples += "user " + std::to_string(user) + ": " + show(a).substr(0, 120) + " / " +
                    show(b).substr(0, 120) + "\n";
    }
  }
  info(std::to_string(compared) + " users compared, " + std::to_string(differ) +
       " answers differ with a replica of every partition");
  EXPECT_GT(filled, 150) << "too few full answers for the comparison to mean anything";
  EXPECT_EQ(differ, 0) << examples;
  // The reads were spread over both holders: each shard answered recalls for
  // partitions it holds as a replica, and without replicas none did.
  auto standby_recalls = [&](const recd_server& server, const char* shard) {
    auto r = request("GET", loopback, server.admin_port(), "/metrics", "", "text/plain", 10s,
                     {{"Authorization", "Bearer " + token}});
    EXPECT_EQ(r.status, 200u) << show(r);
    return parse_exposition(r.body).value("recd_shard_standby_recalls_total", {{"shard", shard}});
  };
  for (const char* shard : {"0", "1"}) {
    EXPECT_EQ(standby_recalls(one, shard), 0) << "shard " << shard << " without replicas";
    const auto served = standby_recalls(two, shard);
    info("shard " + std::string{shard} + " served " + std::to_string(int(served)) +
         " of 200 users' recalls as a replica");
    EXPECT_GT(served, 20) << "shard " << shard << " served (almost) no read as a replica";
  }
}

} // namespace
} // namespace recd::test
