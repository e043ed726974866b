// A cluster as separate processes: 1 coordinator + 3 shard nodes + 2 API nodes
// (`recd serve --role coordinator|shard|api`), all on 127.0.0.1, with a fresh
// PostgreSQL database (recd::store::import_synthetic) and a private
// redis-server, started once for the suite (support/cluster_harness.hpp).
// Every check goes through HTTP (/admin/cluster, /readyz, the API),
// PostgreSQL, or the `recd` command line.
//
//   ThreeShardCluster    a balanced map; `recd compute --coordinator` = a
//                        one-node run on an identical second database; every
//                        API node serves and sees the others' behaviors at once;
//                        every node serves its /metrics on its admin port.
//
// The other cluster suites: cluster_moves_test (resharding and shard
// failures under load), cluster_restart_test (a coordinator restart),
// cluster_trust_test (membership, TLS, an adversary on the actor port).
// Every node must exit with status 0 within 10 s of SIGTERM at the end.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/api_client.hpp"
#include "support/cluster_harness.hpp"
#include "support/e2e_text.hpp"
#include "support/process.hpp"
#include "support/recd_cli.hpp"
#include "support/shop_data.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

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
    // Bit for bit (wire version 7 on): each shard's worker solves its rows
    // from the same cells, the same whole fixed side and the same Gram as a
    // one-node run, and a row's solve depends on nothing else (engine/als.hpp).
    EXPECT_EQ(worst, 0.0) << "largest difference at item " << worst_item;
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
    // The suite's compute has ended: no worker of its runs is left on the
    // shard node (each ends itself; an exit message from the coordinator's
    // node would be ignored).
    EXPECT_EQ(sample_of(m, "recd_actors{actor=\"shard\"}"), 1) << shard;
    for (const char* worker : {"embedding_worker", "similarity_worker"})
      EXPECT_TRUE(std::isnan(sample_of(m, "recd_actors{actor=\"" + std::string{worker} + "\"}")))
        << shard << " still runs a " << worker << " of a finished run";
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

} // namespace
} // namespace recd::test
