// Partitions moving between shard nodes while API nodes serve a bounded
// client load (support/load_generator.hpp): a cluster of separate processes
// on 127.0.0.1 (support/cluster_harness.hpp), a fresh PostgreSQL database and
// a private redis-server per test.
//
//   Resharding           shards join and leave under load: no failed request,
//                        no lost behavior (in PostgreSQL and in the shards'
//                        memory), a balanced map at a higher epoch.
//   ShardFailure         kill -9 of a shard node while serving and during a job.
//
// Load is bounded: a few client threads, a few seconds, at most a few thousand
// requests each, every request with a 5 s timeout. Every node must exit with
// status 0 within 10 s of SIGTERM at the end of its test.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "support/api_client.hpp"
#include "support/cluster_harness.hpp"
#include "support/e2e_text.hpp"
#include "support/job_reference.hpp"
#include "support/load_generator.hpp"
#include "support/timed_load.hpp"
#include "support/process.hpp"
#include "support/recd_cli.hpp"
#include "support/shop_data.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;

// ---- resharding under load ---------------------------------------------------------------------

TEST(Resharding, AddingTwoShardNodesAndStoppingOneUnderLoadFailsNoRequestAndLosesNoBehavior) {
  test_database db{"cluster_reshard"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"reshard", db.url(), redis.url()};
  const auto epoch0 = start_two_shard_cluster(c).epoch;

  const auto id_before = count(db, "SELECT max(id) FROM user_behavior");
  load_generator::options opt;
  opt.threads = 3;
  opt.max_duration = 25s;
  opt.max_rounds = 4000;
  opt.seed = 2;
  timed_load load{c, opt};
  auto mark = [&](const std::string& what) { load.mark(what); };
  auto sleep_until = [&](double t) { load.sleep_until(t); };
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
  auto [report, lines] = load.finish(db, id_before);
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

// ---- failures ---------------------------------------------------------------------------------

TEST(ShardFailure, AKilledShardNodesPartitionsMoveToLiveShardsWithinTenSecondsWhileRequestsKeepAnswering) {
  test_database db{"cluster_kill"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"kill", db.url(), redis.url()};
  start_cluster(c, 3, 2);

  const auto id_before = count(db, "SELECT max(id) FROM user_behavior");
  load_generator::options opt;
  opt.threads = 3;
  opt.max_duration = 20s;
  opt.seed = 3;
  timed_load load{c, opt};
  load.sleep_until(2);
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
  load.sleep_until(killed_at + std::max(4.0, failover + 2));
  load.mark_at(killed_at, "kill -9 shard-1");
  auto [report, lines] = load.finish(db, id_before);

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
  const auto reference_rows = keep_one_node_user_neighbours(db);
  info("one-node user_neighbours: " + fmt(seconds_since(t0)) + " s");
  ASSERT_GE(reference_rows, 300);
  const auto last_run = count(db, "SELECT coalesce(max(run_id), 0) FROM job_runs");

  auto differences = [&] { return user_neighbours_differences(db); };

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

} // namespace
} // namespace recd::test
