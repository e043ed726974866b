// The catalog in a cluster of processes (support/cluster_harness.hpp): one
// coordinator, 2 shard nodes, 2 API nodes, one PostgreSQL database holding a
// small synthetic shop and one redis-server. A change made through one API
// node holds on every node at once: a hidden item leaves the answers of both
// API nodes (their near caches and Redis included), and an item created
// through one is served with its details by the other.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/api_client.hpp"
#include "support/cluster_harness.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;

bool from_cache(const http_reply& r) {
  return r.json.is_object() && r.json.value("from_cache", false);
}

class TwoShardCatalog : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    db_ = std::make_unique<test_database>("cluster_catalog");
    import_small_shop(*db_, 300, 80, 6000, 23);
    redis_ = std::make_unique<redis_server>();
    cluster_ = std::make_unique<cluster>("catalog", db_->url(), redis_->url());
    auto& c = *cluster_;
    // One rules file for every node, as a ConfigMap mounted in every API pod
    // is; each node watches it.
    rules_file_ = temp_path("cluster_rules.txt");
    write_rules("# no rules yet\n");
    c.set_node_env({{"RECD_RULES_FILE", rules_file_}, {"RECD_RULES_WATCH_MS", "100"}});
    c.start_coordinator();
    for (int i = 0; i < 2; ++i)
      c.start_shard(i);
    for (int i = 0; i < 2; ++i)
      c.start_api(i);
    c.wait_http_ok(c["coordinator"]);
    c.wait_balanced({"shard-0", "shard-1"}, 30s);
    for (const char* api : {"api-0", "api-1"})
      c.wait_http_ok(c[api]);
  }
  static void TearDownTestSuite() {
    cluster_.reset();
    redis_.reset();
    db_.reset();
    std::remove(rules_file_.c_str());
  }
  static void write_rules(const std::string& text) {
    std::ofstream out{rules_file_, std::ios::trunc};
    out << text;
  }

  static http_reply call(std::uint16_t port, const std::string& method, const std::string& target,
                         const std::string& body = "") {
    return request(method, loopback, port, target, body);
  }

  static std::unique_ptr<test_database> db_;
  static std::unique_ptr<redis_server> redis_;
  static std::unique_ptr<cluster> cluster_;
  static inline std::string rules_file_;
};

std::unique_ptr<test_database> TwoShardCatalog::db_;
std::unique_ptr<redis_server> TwoShardCatalog::redis_;
std::unique_ptr<cluster> TwoShardCatalog::cluster_;

TEST_F(TwoShardCatalog, an_item_hidden_through_one_api_node_leaves_every_answer_of_both) {
  auto ports = cluster_->api_ports();
  ASSERT_EQ(ports.size(), 2u);
  // Users of both shards (ids of either parity land on both in a 2-shard map
  // of 16 partitions), each with a cached answer on both API nodes.
  const std::vector<int> users{5, 6, 7, 8};
  for (int user : users)
    for (auto port : ports) {
      bool cached = false;
      for (int i = 0; i < 50 && !cached; ++i) {
        cached = from_cache(recommend(port, user, 20, true));
        if (!cached)
          std::this_thread::sleep_for(20ms);
      }
      ASSERT_TRUE(cached) << "user " << user << " on port " << port;
    }
  auto before = item_ids(recommend(ports[0], users[0], 20, true));
  ASSERT_FALSE(before.empty());
  const auto target = before.front();
  auto hidden = call(ports[0], "DELETE", "/api/items/" + std::to_string(target));
  ASSERT_EQ(hidden.status, 200u) << show(hidden);
  for (int user : users)
    for (auto port : ports) {
      auto cached = recommend(port, user, 20, true);
      ASSERT_EQ(cached.status, 200u) << show(cached);
      EXPECT_FALSE(contains(item_ids(cached), target)) << "user " << user << " port " << port;
      auto fresh = recommend(port, user, 20, false);
      EXPECT_FALSE(contains(item_ids(fresh), target)) << "user " << user << " port " << port;
    }
  // Created through the other node: its details are served at once.
  auto created = call(ports[1], "PUT", "/api/items/7001",
                      R"({"title":"Made on api-1","categories":["c1"],"price":3})");
  ASSERT_EQ(created.status, 200u) << show(created);
  auto got = call(ports[0], "GET", "/api/items/7001");
  ASSERT_EQ(got.status, 200u) << show(got);
  EXPECT_EQ(got.json["title"], "Made on api-1");
  ASSERT_EQ(call(ports[1], "PATCH", "/api/items/" + std::to_string(target), R"({"hidden":false})")
              .status,
            200u);
}

// Rules reach every API node from the file they all read, with no signal and
// no reload request: each node sees the file change (rules.watch_ms).
TEST_F(TwoShardCatalog, a_rule_written_to_the_shared_rules_file_holds_on_every_api_node) {
  auto ports = cluster_->api_ports();
  ASSERT_EQ(ports.size(), 2u);
  const int user = 6;
  auto before = item_ids(recommend(ports[0], user, 20, false));
  ASSERT_FALSE(before.empty());
  const auto target = before.front();
  ASSERT_TRUE(contains(item_ids(recommend(ports[1], user, 20, false)), target));
  auto labelled = call(ports[0], "PATCH", "/api/items/" + std::to_string(target),
                       R"({"labels":["recalled"]})");
  ASSERT_EQ(labelled.status, 200u) << show(labelled);
  ASSERT_TRUE(contains(item_ids(recommend(ports[1], user, 20, false)), target))
    << "a label alone hides nothing";

  write_rules("recalled: hide label recalled\n");
  // Bounded wait for the watch (100 ms here), then both nodes, cached or not.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  auto gone_everywhere = [&] {
    for (auto port : ports)
      for (bool use_cache : {false, true})
        if (contains(item_ids(recommend(port, user, 20, use_cache)), target))
          return false;
    return true;
  };
  while (!gone_everywhere() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  for (auto port : ports) {
    auto r = recommend(port, user, 20, false);
    ASSERT_EQ(r.status, 200u) << show(r);
    EXPECT_FALSE(contains(item_ids(r), target)) << "port " << port << ": " << show(r);
    EXPECT_EQ(item_ids(r).size(), 20u) << "only the recalled item left";
  }
  write_rules("# no rules\n");
  ASSERT_EQ(call(ports[0], "PATCH", "/api/items/" + std::to_string(target), R"({"labels":[]})").status,
            200u);
}

} // namespace
} // namespace recd::test
