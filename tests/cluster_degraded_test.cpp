// Answers given while a user's shard does not answer, in a cluster of
// separate processes on 127.0.0.1 (support/cluster_harness.hpp: 1 coordinator,
// 2 shard nodes, 1 API node), a fresh PostgreSQL database and a private
// redis-server.
//
//   DegradedAnswers   a user bought the live shard's most popular items and
//                     viewed another; their shard is frozen (SIGSTOP): the
//                     degraded answer (their bought and, with exclude_seen,
//                     viewed items read from PostgreSQL) never lists them;
//                     while PostgreSQL cannot answer in time either (a lock on
//                     user_behavior), the answer is 503 naming the reason, not
//                     a list; a user without history gets the popular list.
//                     The same for POST /api/recommend with the user's id.
//
// The nodes' cluster.connection_timeout_ms is long here, so the coordinator
// keeps the frozen shard in the map for the whole test (no failover moves the
// user elsewhere): every answer for the user is the degraded one.
// Every node must exit with status 0 within 10 s of SIGTERM at the end.

#include <gtest/gtest.h>

#include <signal.h>

#include <cmath>
#include <cstdint>
#include <ctime>
#include <sstream>
#include <string>
#include <vector>

#include <pqxx/pqxx>

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

// The shard of the map serving `id`'s partition ("" if none).
std::string owner_of(const cluster_map& m, std::int32_t id) {
  const auto p = static_cast<int>(partition_of(id, static_cast<std::uint32_t>(m.partitions)));
  for (const auto& s : m.shards)
    for (auto q : s.partitions)
      if (q == p)
        return s.name;
  return "";
}

TEST(DegradedAnswers, NeverListABoughtItemAndAre503WhenNeitherShardNorPostgresCanSay) {
  test_database db{"cluster_degraded"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"degraded", db.url(), redis.url()};
  // A frozen shard stays in the map: no failover during the test.
  c.set_node_env({{"RECD_CLUSTER_CONNECTION_TIMEOUT_MS", "600000"}});
  c.start_coordinator();
  c.start_shard(0);
  c.start_shard(1);
  c.wait_http_ok(c["coordinator"]);
  auto balanced = c.wait_balanced({"shard-0", "shard-1"}, 15s);
  ASSERT_TRUE(balanced.ok) << (balanced.map ? balanced.map->raw : "no map");
  // The API node starts once the map is final, so the map it routes by from
  // its first request on is this one (a node started earlier may still
  // route by the map of a move's start for a moment).
  auto& api = c.start_api(0);
  c.wait_http_ok(api);
  const auto& map = *balanced.map;
  const auto port = api.http;

  // Two users without any history (the shop's users are 1..3000), both on
  // shard-0, which will be frozen; the items they see come from shard-1.
  std::vector<std::int32_t> fresh;
  for (std::int32_t u = 5001; fresh.size() < 2 && u < 6000; ++u)
    if (owner_of(map, u) == "shard-0")
      fresh.push_back(u);
  ASSERT_EQ(fresh.size(), 2u);
  const auto buyer = fresh[0], newcomer = fresh[1];
  auto cold = recommend(port, buyer, 50, false);
  ASSERT_EQ(cold.status, 200u) << show(cold);
  ASSERT_FALSE(is_degraded(cold)) << show(cold);
  std::vector<std::int64_t> live_items; // shard-1's items, most popular first
  for (auto item : item_ids(cold))
    if (owner_of(map, static_cast<std::int32_t>(item)) == "shard-1")
      live_items.push_back(item);
  ASSERT_GE(live_items.size(), 8u) << show(cold);
  // The buyer buys shard-1's five most popular items and views the sixth.
  const std::vector<std::int64_t> bought(live_items.begin(), live_items.begin() + 5);
  const auto viewed = live_items[5];
  for (auto item : bought) {
    auto ack = behave(port, buyer, item, "buy");
    ASSERT_EQ(ack.status, 200u) << show(ack);
  }
  auto ack = behave(port, buyer, viewed, "view");
  ASSERT_EQ(ack.status, 200u) << show(ack);
  auto healthy = recommend(port, buyer, 20, false);
  ASSERT_EQ(healthy.status, 200u) << show(healthy);
  EXPECT_FALSE(is_degraded(healthy)) << show(healthy);
  for (auto item : bought)
    EXPECT_FALSE(contains(item_ids(healthy), item)) << item << ": " << show(healthy);

  // Resumed however the test ends, so that it can exit on SIGTERM at teardown.
  struct resume {
    node* n = nullptr;
    ~resume() {
      if (n != nullptr)
        n->proc->signal(SIGCONT);
    }
  } resume_at_end;
  auto session = [&] {
    return request("POST", loopback, port, "/api/recommend",
                   "{\"user_id\":" + std::to_string(buyer) + ",\"items\":[],\"limit\":20}",
                   "application/json", 5s);
  };

  // The buyer's shard is frozen while PostgreSQL cannot answer either (a
  // migration's lock on user_behavior): 503 naming the reason, never a list
  // that might hold a bought item. The lock is taken before the freeze: a
  // shard frozen inside a transaction that read user_behavior would keep
  // the lock from ever being granted.
  {
    pqxx::connection locker{db.url()};
    pqxx::work tx{locker};
    tx.exec("SET LOCAL lock_timeout = '20s'");
    tx.exec("LOCK TABLE user_behavior IN ACCESS EXCLUSIVE MODE");
    c["shard-0"].proc->signal(SIGSTOP);
    resume_at_end.n = &c["shard-0"];
    auto refused = recommend(port, buyer, 20, false);
    EXPECT_EQ(refused.status, 503u) << show(refused);
    ASSERT_TRUE(refused.json.is_object()) << show(refused);
    EXPECT_EQ(refused.json.value("status", 0), 503) << show(refused);
    EXPECT_NE(refused.json.value("error", "").find("history"), std::string::npos) << show(refused);
    EXPECT_TRUE(item_ids(refused).empty()) << show(refused);
    auto refused_visit = session();
    EXPECT_EQ(refused_visit.status, 503u) << show(refused_visit);
    EXPECT_TRUE(item_ids(refused_visit).empty()) << show(refused_visit);
    tx.abort();
  }

  // PostgreSQL answers again, the shard stays frozen: the buyer's bought and
  // viewed items come from PostgreSQL (recommend.exclude_seen is 1 by
  // default), through the same reader. Cached or not.
  for (bool use_cache : {false, true}) {
    auto r = recommend(port, buyer, 20, use_cache);
    ASSERT_EQ(r.status, 200u) << show(r);
    EXPECT_TRUE(is_degraded(r)) << show(r);
    EXPECT_FALSE(item_ids(r).empty()) << show(r);
    for (auto item : bought)
      EXPECT_FALSE(contains(item_ids(r), item)) << "bought item " << item << ": " << show(r);
    EXPECT_FALSE(contains(item_ids(r), viewed)) << "viewed item " << viewed << ": " << show(r);
  }
  // exclude_seen=false: only the bought items are left out; the viewed one
  // (shard-1's most popular after them) is proposed again.
  auto seen_ok = get(port, "/api/recommend/" + std::to_string(buyer) + "?limit=20&exclude_seen=false");
  ASSERT_EQ(seen_ok.status, 200u) << show(seen_ok);
  EXPECT_TRUE(is_degraded(seen_ok)) << show(seen_ok);
  for (auto item : bought)
    EXPECT_FALSE(contains(item_ids(seen_ok), item)) << "bought item " << item << ": " << show(seen_ok);
  EXPECT_TRUE(contains(item_ids(seen_ok), viewed)) << "viewed item " << viewed << ": " << show(seen_ok);
  // POST /api/recommend for the logged-in buyer (an empty session) likewise.
  auto visit = session();
  ASSERT_EQ(visit.status, 200u) << show(visit);
  EXPECT_TRUE(is_degraded(visit)) << show(visit);
  EXPECT_FALSE(item_ids(visit).empty()) << show(visit);
  for (auto item : bought)
    EXPECT_FALSE(contains(item_ids(visit), item)) << "bought item " << item << ": " << show(visit);
  EXPECT_FALSE(contains(item_ids(visit), viewed)) << "viewed item " << viewed << ": " << show(visit);
  // A user without any history still gets the popular list, degraded.
  auto newbie = recommend(port, newcomer, 20, false);
  ASSERT_EQ(newbie.status, 200u) << show(newbie);
  EXPECT_TRUE(is_degraded(newbie)) << show(newbie);
  EXPECT_TRUE(contains(item_ids(newbie), bought.front())) << show(newbie);

  // The node counted each way of answering.
  auto admin = admin_port_of(api.log);
  ASSERT_NE(admin, 0) << "api-0 logged no admin port";
  auto metrics = request("GET", loopback, admin, "/metrics", "", "application/json", 10s,
                         {{"Authorization", "Bearer " + admin_token}});
  ASSERT_EQ(metrics.status, 200u) << show(metrics);
  const auto scraped = parse_exposition(metrics.body);
  EXPECT_EQ(scraped.value("recd_recommend_history_unavailable_total"), 2) << metrics.body;
  // buyer: 2 + exclude_seen=false + session; the newcomer: 1.
  EXPECT_EQ(scraped.value("recd_recommend_history_from_database_total"), 5)
    << metrics.body;
}

} // namespace
} // namespace recd::test
