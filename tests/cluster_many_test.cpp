// Sixteen shard processes on 127.0.0.1 (support/cluster_harness.hpp: 1
// coordinator, shard-0..shard-15, 1 API node; a small shop in 64 partitions),
// end to end:
//   - shards join one at a time, and after each join the map is balanced over
//     all of them (the seconds each join's move took are printed);
//   - kill -9 of one shard: its partitions move to the 15 others, answers stay 200;
//   - it restarts under its name and the map balances over 16 again (rejoin);
//   - `recd compute --coordinator` of the four similarity kinds over the 16
//     equals a one-node run.
// The coordinator's resident memory after each step is printed: figures for
// docs/cluster.md, never asserted.

#include <gtest/gtest.h>

#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "support/api_client.hpp"
#include "support/cluster_harness.hpp"
#include "support/e2e_text.hpp"
#include "support/job_reference.hpp"
#include "support/process.hpp"
#include "support/recd_cli.hpp"
#include "support/shop_data.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;

// VmRSS of a process in MiB (-1 if unreadable).

TEST(SixteenShards, JoinsAKillARejoinAndAJobEndToEnd) {
  test_database db{"cluster_many", 64};
  shop_spec spec;
  spec.users = 4000;
  spec.items = 800;
  spec.events = 60000;
  import_shop(db, spec, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"many", db.url(), redis.url()};
  auto& coordinator = c.start_coordinator();
  c.wait_leading();
  const double rss_empty = status_mib(coordinator.proc->pid(), "VmRSS");

  std::set<std::string> live;
  std::string joins;
  std::uint64_t epoch = 0;
  for (int i = 0; i < 16; ++i) {
    auto t0 = steady::now();
    c.start_shard(i);
    live.insert("shard-" + std::to_string(i));
    auto w = c.wait_balanced(live, 30s, epoch);
    ASSERT_TRUE(w.ok) << "not balanced over " << live.size() << " shards: "
                      << (w.map ? w.map->raw : "no map");
    epoch = w.map->epoch;
    const double took = seconds_since(t0);
    // By the map's stickiness only the newcomer gains: what it owns moved.
    const auto* joined = w.map->shard("shard-" + std::to_string(i));
    const auto moved = joined ? joined->partitions.size() : 0;
    joins += "\n  " + std::to_string(i + 1) + " shards: balanced " + fmt(took, 2) + " s after the start, " +
             std::to_string(moved) + " partitions moved (" +
             fmt(moved ? took * 1000 / static_cast<double>(moved) : 0, 1) +
             " ms each), coordinator RSS " +
             fmt(status_mib(coordinator.proc->pid(), "VmRSS"), 1) + " MiB";
  }
  const double rss_16 = status_mib(coordinator.proc->pid(), "VmRSS");
  info("joins, one at a time:" + joins);

  auto& api = c.start_api(0);
  c.wait_http_ok(api, "/readyz", 30s);
  auto serves = [&](const std::string& when) {
    for (std::int64_t u : {1, 777, 2500, 3999}) {
      auto r = recommend(api.http, u, 10, false);
      EXPECT_EQ(r.status, 200u) << when << ": " << show(r);
    }
  };
  serves("16 shards");

  // kill -9 of one shard: the 15 others take its partitions.
  live.erase("shard-5");
  auto t_kill = steady::now();
  c.kill9(c["shard-5"]);
  auto after_kill = c.wait_balanced(live, 30s, epoch);
  ASSERT_TRUE(after_kill.ok) << (after_kill.map ? after_kill.map->raw : "no map");
  const double kill_seconds = seconds_since(t_kill);
  epoch = after_kill.map->epoch;
  c.wait_http_ok(api, "/readyz", 15s);
  serves("after the kill");

  // It restarts under its name: rejoined, balanced over 16 again.
  auto t_rejoin = steady::now();
  c.start_shard(5);
  live.insert("shard-5");
  auto rejoined = c.wait_balanced(live, 30s, epoch);
  ASSERT_TRUE(rejoined.ok) << (rejoined.map ? rejoined.map->raw : "no map");
  const double rejoin_seconds = seconds_since(t_rejoin);
  c.wait_http_ok(api, "/readyz", 15s);
  serves("after the rejoin");

  // The four similarity kinds over the 16 (each shard reads its share of the
  // input and exchanges it with the 15 others) equal a one-node run.
  const auto reference = keep_one_node_similarity(db);
  for (std::size_t k = 0; k < reference.size(); ++k)
    ASSERT_GT(reference[k], 0) << similarity_kinds[k] << ": the one-node run found nothing";
  ASSERT_GE(reference[3], 100);
  auto t_job = steady::now();
  auto job = run_cli({"compute", "--coordinator", c.coordinator_addr(), "--jobs",
                      "item_similarity,user_similarity,item_weights,user_neighbours"},
                     c.common_env(), 240s);
  ASSERT_EQ(job.status, 0) << show(job);
  const double job_seconds = seconds_since(t_job);
  for (const char* table : similarity_kinds)
    EXPECT_EQ(similarity_differences(db, table), 0)
      << table << " over 16 shards differs from the one-node run";
  info("kill -9 to a balanced map over 15: " + fmt(kill_seconds, 2) + " s; rejoin to 16: " +
       fmt(rejoin_seconds, 2) + " s; the four similarity kinds over 16 shards: " + fmt(job_seconds, 2) +
       " s; coordinator RSS " + fmt(rss_empty, 1) + " MiB with no shard, " + fmt(rss_16, 1) +
       " MiB with 16, " + fmt(status_mib(coordinator.proc->pid(), "VmRSS"), 1) +
       " MiB after the job");
}

} // namespace
} // namespace recd::test
