// A shard node's /metrics shows what its held partitions' arenas
// (actors/partition_arena.hpp) have mapped and use: more than nothing once it
// has loaded the shop, less once a second shard node took half of its
// partitions and the drop unmapped theirs (as shard_state_arenas_test shows
// on the state alone). A cluster of processes on 127.0.0.1
// (support/cluster_harness.hpp), a fresh database and a private redis-server.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <string>
#include <thread>

#include "engine/types.hpp"
#include "support/api_client.hpp"
#include "support/cluster_harness.hpp"
#include "support/e2e_text.hpp"
#include "support/exposition.hpp"
#include "support/shop_data.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;

// shard-N's /metrics (its admin port, read from its log), parsed.
scrape shard_metrics(cluster& c, const std::string& name) {
  const auto port = admin_port_of(c[name].log);
  if (port == 0)
    throw std::runtime_error(name + " logged no admin port");
  auto r = request("GET", loopback, port, "/metrics", "", "application/json", 10s,
                   cluster::admin_auth());
  if (r.status != 200)
    throw std::runtime_error(name + " /metrics: " + show(r));
  return parse_exposition(r.body);
}

// Scrapes `name` until its shard holds `partitions` partitions (the arena
// figures are measured in the same step as that count: after the load or the
// drop that set it). The last scrape; a failure if that does not happen in 30 s.
scrape metrics_once_holding(cluster& c, const std::string& name, std::size_t partitions) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    auto m = shard_metrics(c, name);
    const auto held = m.value("recd_shard_partitions", {{"shard", "0"}});
    if (held == double(partitions))
      return m;
    if (std::chrono::steady_clock::now() >= deadline) {
      ADD_FAILURE() << name << " holds " << held << " partitions, not " << partitions
                    << ", after 30 s:\n" << tail(slurp(c[name].log));
      return m;
    }
    std::this_thread::sleep_for(50ms);
  }
}

TEST(ArenaMetrics, AShardsArenaBytesRiseWithItsLoadAndFallWhenPartitionsMoveAway) {
  test_database db{"cluster_arena_metrics"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"arenas", db.url(), redis.url()};
  const auto alone = start_cluster(c, 1, 0);
  ASSERT_GT(alone.partitions, 1) << alone.raw;

  const auto loaded = metrics_once_holding(c, "shard-0", std::size_t(alone.partitions));
  EXPECT_TRUE(loaded.problems.empty()) << loaded.problems.front();
  EXPECT_EQ(loaded.types.at("recd_shard_arena_mapped_bytes"), "gauge");
  EXPECT_EQ(loaded.types.at("recd_shard_arena_used_bytes"), "gauge");
  const auto mapped = loaded.value("recd_shard_arena_mapped_bytes", {{"shard", "0"}});
  const auto used = loaded.value("recd_shard_arena_used_bytes", {{"shard", "0"}});
  EXPECT_GT(used, 0) << "the shop's users and items are in the arenas";
  EXPECT_GE(mapped, used);

  c.start_shard(1);
  const auto moved = c.wait_balanced({"shard-0", "shard-1"}, 30s, alone.epoch);
  ASSERT_TRUE(moved.ok) << (moved.map ? moved.map->raw : "no map");
  const auto kept = moved.map->shard("shard-0")->partitions.size();
  ASSERT_LT(kept, std::size_t(alone.partitions)) << moved.map->raw;

  // The partitions moved away stand by for a grace, then are dropped.
  const auto after = metrics_once_holding(c, "shard-0", kept);
  const auto mapped_after = after.value("recd_shard_arena_mapped_bytes", {{"shard", "0"}});
  const auto used_after = after.value("recd_shard_arena_used_bytes", {{"shard", "0"}});
  info("shard-0 arenas: " + std::to_string(alone.partitions) + " partitions " + fmt(mapped / (1 << 20)) +
       " MiB mapped, " + fmt(used / (1 << 20)) + " MiB used; " + std::to_string(kept) + " partitions " +
       fmt(mapped_after / (1 << 20)) + " MiB mapped, " + fmt(used_after / (1 << 20)) + " MiB used");
  EXPECT_LT(mapped_after, mapped) << "the drop unmapped nothing";
  EXPECT_LT(used_after, used);
  EXPECT_GT(used_after, 0) << "shard-0 still holds " << kept << " partitions";
  EXPECT_GE(mapped_after, used_after);

  const auto taker = metrics_once_holding(c, "shard-1", std::size_t(alone.partitions) - kept);
  EXPECT_GT(taker.value("recd_shard_arena_used_bytes", {{"shard", "0"}}), 0)
    << "shard-1 loaded the partitions it took";
}

} // namespace
} // namespace recd::test
