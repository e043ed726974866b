// Coordinator replicas in a cluster of separate processes on 127.0.0.1
// (support/cluster_harness.hpp: 2 coordinator replicas, 2 shard nodes, API
// nodes), a fresh PostgreSQL database and a private redis-server per test.
//
//   AStandbyLeadsWhenTheLeaderIsKilledUnderLoad
//        kill -9 of the leading replica under a bounded load of recommends and
//        behaviors: the standby takes the lease (term + 1), the shards rejoin
//        it, API nodes follow it; 0 failed requests, every acknowledged
//        behavior stored. The seconds from the kill to the new leader's ready
//        map are printed (a figure for docs/cluster.md, not asserted).
//   ALeaderKilledMidRunIsReplacedAndTheNewLeaderRedoesTheRun
//        kill -9 of the leader while a job runs: the new leader redoes the kind
//        the old term left running, and the published table equals a one-node run.
//   ALeaderFrozenMidRunIsReplacedAndTheNewLeaderRedoesTheRun
//        the same with the leader frozen (SIGSTOP): its PostgreSQL sessions,
//        and the job's advisory lock with them, stay open; the new leader ends
//        the sessions of older terms, so its redo is not refused as "already
//        running". Resumed, the old leader exits with status 3.
//   AFrozenLeaderIsDeposedAndChangesNothingWhenItResumes
//        the leader stopped with SIGSTOP (cut off): the standby leads; resumed
//        with SIGCONT, the old leader exits (status 3) and the persisted map,
//        the new leader's map and the answers are unchanged.
//
// Every node still running at the end must exit with status 0 within 10 s of SIGTERM.

#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <thread>

#include "support/api_client.hpp"
#include "support/cluster_harness.hpp"
#include "support/e2e_text.hpp"
#include "support/job_reference.hpp"
#include "support/load_generator.hpp"
#include "support/process.hpp"
#include "support/recd_cli.hpp"
#include "support/shop_data.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;

std::string persisted_map(const test_database& db) {
  return db.scalar("SELECT string_agg(partition || ':' || shard || '@' || epoch, ',' ORDER BY "
                   "partition) FROM partition_map");
}

// Starts replica 1 beside a running cluster and checks that it stands by:
// healthy, not ready, no map on its admin port.
node& start_standby(cluster& c) {
  auto& standby = c.start_coordinator(1);
  c.wait_http_ok(standby, "/healthz", 15s);
  // It had time to see the lease: still not ready, and its admin port refuses.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(get(standby.http, "/readyz").status, 503u);
  auto r = request("GET", loopback, c.coordinator_admin(1), "/admin/cluster", "",
                   "application/json", 2s, cluster::admin_auth());
  EXPECT_EQ(r.status, 503u) << show(r);
  return standby;
}

TEST(CoordinatorReplicas, AStandbyLeadsWhenTheLeaderIsKilledUnderLoad) {
  test_database db{"cluster_ha"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"ha", db.url(), redis.url()};
  c.set_coordinator_replicas(2);
  const auto before = start_two_shard_cluster(c);
  auto& standby = start_standby(c);
  const auto term_before = count(db, "SELECT term FROM coordinator_lease");
  EXPECT_GE(term_before, 1);
  EXPECT_EQ(db.scalar("SELECT address FROM coordinator_lease"),
            loopback + ":" + std::to_string(c["coordinator"].actor));

  const auto id_before = count(db, "SELECT coalesce(max(id), 0) FROM user_behavior");
  load_generator::options opt;
  opt.ports = c.api_ports();
  opt.threads = 3;
  opt.max_duration = 40s;
  opt.seed = 11;
  load_generator load{opt};
  std::this_thread::sleep_for(1s);
  const double killed_at = load.elapsed();
  auto t_kill = steady::now();
  c.kill9(c["coordinator"]);
  double led_seconds = -1;
  try {
    c.wait_http_ok(standby, "/readyz", 30s);
    led_seconds = seconds_since(t_kill);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "the standby did not lead with a ready map: " << e.what();
  }
  auto rejoined = c.wait_balanced({"shard-0", "shard-1"}, 15s, before.epoch);
  for (int i = 0; i < 2; ++i)
    c.wait_http_ok(c["api-" + std::to_string(i)], "/readyz", 15s);
  const auto during = load.rounds();
  std::this_thread::sleep_for(1s);
  auto report = load.finish();
  info("leader killed at t=" + fmt(killed_at) + " s; the standby led with a ready map " +
       fmt(led_seconds, 2) + " s later; map balanced at epoch " +
       std::to_string(rejoined.map ? rejoined.map->epoch : 0) + " (before: " +
       std::to_string(before.epoch) + ")");
  info("load: " + report.summary());
  if (!report.failed_behaviors.empty())
    info(committed_failures(db, report, id_before));

  EXPECT_EQ(count(db, "SELECT term FROM coordinator_lease"), term_before + 1);
  EXPECT_EQ(db.scalar("SELECT address FROM coordinator_lease"),
            loopback + ":" + std::to_string(standby.actor));
  ASSERT_TRUE(rejoined.map.has_value()) << "no map from the new leader";
  EXPECT_TRUE(rejoined.ok) << rejoined.map->raw;
  EXPECT_GT(rejoined.map->epoch, before.epoch);
  EXPECT_EQ(db.scalar("SELECT min(epoch) FROM partition_map"),
            std::to_string(rejoined.map->epoch));
  EXPECT_GT(during, 20) << "hardly any request during the takeover";
  EXPECT_EQ(report.recommend_failures + report.behavior_failures, 0)
    << report.summary() << "\n"
    << report.first_failures() << "(leader killed at t=" << fmt(killed_at) << " s)";
  expect_acked_behaviors_stored(db, report.acked);
}

// The leader is lost while a user_neighbours run is running: killed (kill -9)
// or frozen (SIGSTOP: its sessions, and the job's advisory lock, stay open in
// PostgreSQL). The new leader redoes the run and publishes what a one-node
// run publishes.
void leader_lost_mid_run(bool freeze) {
  test_database db{"cluster_ha_job"};
  shop_spec spec;
  spec.users = 8000;
  spec.items = 1200;
  spec.events = 240000;
  import_shop(db, spec, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"ha_job", db.url(), redis.url()};
  c.set_coordinator_replicas(2);
  c.start_coordinator();
  for (int i = 0; i < 2; ++i)
    c.start_shard(i);
  c.wait_http_ok(c["coordinator"]);
  ASSERT_TRUE(c.wait_balanced({"shard-0", "shard-1"}, 10s).ok);
  auto& standby = start_standby(c);

  // The reference: a one-node run on the same data, kept aside.
  ASSERT_GE(keep_one_node_user_neighbours(db), 300);
  const auto last_run = count(db, "SELECT coalesce(max(run_id), 0) FROM job_runs");
  const auto term = count(db, "SELECT term FROM coordinator_lease");

  // The cluster run, through the replicas' list; the leader dies as soon as
  // the run is recorded as running.
  cli_run job{{"compute", "--coordinator", c.coordinator_addr(), "--jobs", "user_neighbours"},
              c.common_env()};
  auto started = steady::now();
  bool seen_running = false;
  while (seconds_since(started) < 60 && job.process().running()) {
    if (count(db, "SELECT count(*) FROM job_runs WHERE kind = 'user_neighbours' AND status = "
                  "'running' AND term = " + std::to_string(term) + " AND run_id > " +
                  std::to_string(last_run)) > 0) {
      seen_running = true;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(seen_running) << "the run was not seen running";
  auto& old = c["coordinator"];
  if (freeze) {
    old.stopped = true; // this test ends it itself
    old.proc->signal(SIGSTOP);
  } else {
    c.kill9(old);
  }
  auto outcome = job.finish(20s);
  info(std::string{"the client of the "} + (freeze ? "frozen" : "killed") + " leader ended with status " + std::to_string(outcome.status));
  c.wait_http_ok(standby, "/readyz", 30s);

  // The new leader's run of the same kind, published.
  auto redone = [&] {
    return count(db, "SELECT count(*) FROM job_runs WHERE kind = 'user_neighbours' AND status = "
                     "'published' AND term = " + std::to_string(term + 1) + " AND run_id > " +
                     std::to_string(last_run));
  };
  auto t0 = steady::now();
  while (redone() == 0 && seconds_since(t0) < 60)
    std::this_thread::sleep_for(100ms);
  ASSERT_EQ(redone(), 1) << "no run redone by the new leader; log:\n" << tail(slurp(standby.log));
  info("the new leader published the redone run " + fmt(seconds_since(t0), 2) +
       " s after it was ready");
  EXPECT_EQ(count(db, "SELECT count(*) FROM job_runs WHERE kind = 'user_neighbours' AND "
                      "status = 'running'"),
            0);
  EXPECT_EQ(user_neighbours_differences(db), 0)
    << "the redone user_neighbours differs from the one-node run";
  if (freeze) {
    old.proc->signal(SIGCONT);
    auto st = old.proc->wait_for(15s);
    ASSERT_TRUE(st.has_value()) << "the deposed leader did not exit:\n" << tail(slurp(old.log));
    EXPECT_EQ(exit_code(*st), 3) << tail(slurp(old.log));
  }
}

TEST(CoordinatorReplicas, ALeaderKilledMidRunIsReplacedAndTheNewLeaderRedoesTheRun) {
  leader_lost_mid_run(/*freeze=*/false);
}

TEST(CoordinatorReplicas, ALeaderFrozenMidRunIsReplacedAndTheNewLeaderRedoesTheRun) {
  leader_lost_mid_run(/*freeze=*/true);
}

TEST(CoordinatorReplicas, AFrozenLeaderIsDeposedAndChangesNothingWhenItResumes) {
  test_database db{"cluster_ha_frozen"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"ha_frozen", db.url(), redis.url()};
  c.set_coordinator_replicas(2);
  const auto before = start_cluster(c, 2, 1);
  auto& standby = start_standby(c);
  const auto port = c.api_ports().at(0);
  std::vector<http_reply> answers;
  for (std::int64_t u : {3, 250, 1700}) {
    answers.push_back(recommend(port, u, 10, false));
    ASSERT_EQ(answers.back().status, 200u) << show(answers.back());
  }

  auto& old = c["coordinator"];
  old.stopped = true; // this test ends it itself
  old.proc->signal(SIGSTOP);
  c.wait_http_ok(standby, "/readyz", 30s);
  auto led = c.wait_balanced({"shard-0", "shard-1"}, 20s, before.epoch);
  ASSERT_TRUE(led.ok) << (led.map ? led.map->raw : "no map from the new leader");
  c.wait_http_ok(c["api-0"], "/readyz", 15s);
  const auto map_before = persisted_map(db);
  ASSERT_NE(map_before.find("@" + std::to_string(led.map->epoch)), std::string::npos)
    << map_before;
  const auto term = db.scalar("SELECT term FROM coordinator_lease");

  // Resumed, the old leader still believes it leads (its shards look dead to
  // it): whatever it tries must change nothing, and it leaves.
  old.proc->signal(SIGCONT);
  auto st = old.proc->wait_for(15s);
  ASSERT_TRUE(st.has_value()) << "the deposed leader did not exit, log " << old.log << ":\n"
                              << tail(slurp(old.log));
  EXPECT_EQ(exit_code(*st), 3) << tail(slurp(old.log));
  EXPECT_NE(slurp(old.log).find("lost the coordinator lease"), std::string::npos)
    << tail(slurp(old.log));
  std::this_thread::sleep_for(1s);

  EXPECT_EQ(persisted_map(db), map_before);
  EXPECT_EQ(db.scalar("SELECT term FROM coordinator_lease"), term);
  auto now = c.map();
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->epoch, led.map->epoch) << now->raw;
  EXPECT_TRUE(now->ready && balance_problem(*now, {"shard-0", "shard-1"}).empty()) << now->raw;
  c.wait_http_ok(c["api-0"], "/readyz", 5s);
  for (std::size_t k = 0; k < answers.size(); ++k) {
    auto again = recommend(port, std::int64_t{k == 0 ? 3 : k == 1 ? 250 : 1700}, 10, false);
    ASSERT_EQ(again.status, 200u) << show(again);
    EXPECT_FALSE(is_degraded(again)) << show(again);
    EXPECT_EQ(item_ids(again), item_ids(answers[k]));
  }
}

} // namespace
} // namespace recd::test
