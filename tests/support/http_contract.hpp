#pragma once
// The HTTP contract suites' shared shop, server and helpers
// (http_contract_test.cpp: recommend, cache, freshness; http_contract_ops_test.cpp:
// durability, bad input, Redis outage, probes, a new run). Each suite binary
// builds its own shop, Redis and `recd serve` once (HttpContract::SetUpTestSuite).

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "engine/synthetic.hpp"
#include "protocol/errors.hpp"
#include "store/importer.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

// In a namespace of their own: names like count() exist in the test support
// library too (support/shop_data.hpp), with other definitions.
namespace recd::test::http_contract {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

inline constexpr int shop_users = 2000; // user ids 1..2000
inline constexpr int shop_items = 400;  // item ids 1..400
inline constexpr std::int64_t shop_events = 60000;

inline const std::set<std::string> known_routes{"user_cf", "item_cf", "vector", "popular", "category"};

// ---- setup helpers ---------------------------------------------------------------

inline void import_shop(const test_database& db) {
  engine::synthetic_options opt;
  opt.users = shop_users;
  opt.items = shop_items;
  opt.events = shop_events;
  opt.seed = 20240501;
  auto c = db.connect();
  auto report = store::import_synthetic(c, opt);
  if (!report)
    throw std::runtime_error("import_synthetic: " + describe(report.error()));
}

// `$RECD_BINARY compute` on `db`; throws with the output on failure.
inline void run_compute(const test_database& db) {
  auto log = temp_path("compute.log");
  auto cmd = "RECD_POSTGRES_URL=" + shell_quote(db.url()) + " " + shell_quote(recd_binary()) +
             " compute >" + shell_quote(log) + " 2>&1";
  int rc = std::system(cmd.c_str());
  if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 0)) {
    std::string out;
    if (auto* f = std::fopen(log.c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
        out.append(buf, n);
      std::fclose(f);
    }
    std::remove(log.c_str());
    throw std::runtime_error("recd compute failed (status " + std::to_string(rc) + "):\n" + out);
  }
  std::remove(log.c_str());
}

inline std::int64_t count(const test_database& db, const std::string& sql) {
  auto s = db.scalar(sql);
  return s.empty() ? 0 : std::stoll(s);
}

inline std::vector<std::int64_t> column(const test_database& db, const std::string& sql) {
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  std::vector<std::int64_t> out;
  for (const auto& row : tx.exec(sql))
    out.push_back(row[0].as<std::int64_t>());
  return out;
}

inline std::set<std::int64_t> column_set(const test_database& db, const std::string& sql) {
  auto v = column(db, sql);
  return {v.begin(), v.end()};
}

// ---- response helpers ------------------------------------------------------------

inline std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 600) + (r.error.empty() ? "" : " [" + r.error + "]");
}

inline bool from_cache(const http_reply& r) {
  return r.json.is_object() && r.json.contains("from_cache") && r.json["from_cache"].is_boolean() &&
         r.json["from_cache"].get<bool>();
}

inline std::vector<std::int64_t> item_ids(const http_reply& r) {
  std::vector<std::int64_t> out;
  if (r.json.is_object() && r.json.contains("recommendations") && r.json["recommendations"].is_array())
    for (const auto& rec : r.json["recommendations"])
      if (rec.is_object() && rec.contains("item_id") && rec["item_id"].is_number_integer())
        out.push_back(rec["item_id"].get<std::int64_t>());
  return out;
}

inline bool contains(const std::vector<std::int64_t>& v, std::int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// All reasons of all recommendations, flattened.
inline std::vector<json> all_reasons(const http_reply& r) {
  std::vector<json> out;
  if (r.json.is_object() && r.json.contains("recommendations") && r.json["recommendations"].is_array())
    for (const auto& rec : r.json["recommendations"])
      if (rec.is_object() && rec.contains("reasons") && rec["reasons"].is_array())
        for (const auto& reason : rec["reasons"])
          out.push_back(reason);
  return out;
}

inline std::size_t reasons_of_route(const http_reply& r, const std::string& route) {
  std::size_t n = 0;
  for (const auto& reason : all_reasons(r))
    n += reason.is_object() && reason.value("route", "") == route;
  return n;
}

// The shape every recommend answer has: 200, user_id, recommendations with
// item fields and reasons, count == size <= limit, scores non-increasing,
// each score the sum of its reasons' parts.
inline void expect_recommend_shape(const http_reply& r, std::int64_t user, std::size_t limit) {
  ASSERT_EQ(r.status, 200u) << show(r);
  ASSERT_TRUE(r.json.is_object()) << show(r);
  const auto& j = r.json;
  for (const char* key : {"user_id", "recommendations", "count", "from_cache", "latency_ms"})
    ASSERT_TRUE(j.contains(key)) << "missing " << key << ": " << show(r);
  EXPECT_EQ(j["user_id"], user);
  ASSERT_TRUE(j["recommendations"].is_array());
  ASSERT_TRUE(j["count"].is_number_integer());
  EXPECT_TRUE(j["from_cache"].is_boolean());
  EXPECT_TRUE(j["latency_ms"].is_number());
  EXPECT_GE(j["latency_ms"].get<double>(), 0.0);
  const auto& recs = j["recommendations"];
  EXPECT_EQ(j["count"].get<std::size_t>(), recs.size());
  EXPECT_LE(recs.size(), limit);
  double previous = INFINITY;
  std::set<std::int64_t> seen;
  for (const auto& rec : recs) {
    SCOPED_TRACE(rec.dump());
    ASSERT_TRUE(rec.is_object());
    for (const char* key : {"item_id", "title", "price", "rating", "sales", "score", "reasons"})
      ASSERT_TRUE(rec.contains(key)) << "missing " << key;
    EXPECT_TRUE(rec["item_id"].is_number_integer());
    EXPECT_TRUE(seen.insert(rec["item_id"].get<std::int64_t>()).second) << "item listed twice";
    EXPECT_TRUE(rec["title"].is_string());
    EXPECT_TRUE(rec["price"].is_number());
    EXPECT_TRUE(rec["rating"].is_number());
    EXPECT_TRUE(rec["sales"].is_number_integer());
    ASSERT_TRUE(rec["score"].is_number());
    double score = rec["score"].get<double>();
    EXPECT_GT(score, 0.0);
    EXPECT_LE(score, previous) << "scores must not increase";
    previous = score;
    ASSERT_TRUE(rec["reasons"].is_array());
    EXPECT_FALSE(rec["reasons"].empty()) << "every recommendation has a reason";
    double sum = 0;
    for (const auto& reason : rec["reasons"]) {
      ASSERT_TRUE(reason.is_object());
      ASSERT_TRUE(reason.contains("route"));
      auto route = reason["route"].get<std::string>();
      EXPECT_TRUE(known_routes.count(route)) << "unknown route " << route;
      if (route == "item_cf") {
        EXPECT_TRUE(reason.contains("because_item") && reason["because_item"].is_number_integer());
      }
      if (route == "user_cf") {
        EXPECT_TRUE(reason.contains("because_user") && reason["because_user"].is_number_integer());
      }
      if (reason.contains("score") && reason["score"].is_number())
        sum += reason["score"].get<double>();
    }
    EXPECT_NEAR(sum, score, 1e-6 * std::max(1.0, score)) << "score = sum of the reasons' parts";
  }
}

inline void expect_json_error(const http_reply& r, unsigned status) {
  EXPECT_EQ(r.status, status) << show(r);
  ASSERT_TRUE(r.json.is_object()) << "error bodies are JSON: " << show(r);
  EXPECT_TRUE(r.json.contains("error") && r.json["error"].is_string()) << show(r);
  EXPECT_TRUE(r.json.contains("status") && r.json["status"] == status) << show(r);
}

// ---- the shared fixture ------------------------------------------------------------

class HttpContract : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    try {
      auto t0 = steady::now();
      db_ = std::make_unique<test_database>("http_contract");
      import_shop(*db_);
      run_compute(*db_);
      // The seed's table and the one item CF reads by default (recommend.item_neighbours).
      for (const char* table : {"item_similarity", "item_weights"})
        if (count(*db_, std::string{"SELECT count(*) FROM "} + table) == 0)
          throw std::runtime_error(std::string{"recd compute published no "} + table + " rows");
      // Active buyers that have similar users (in user_neighbours, which user CF
      // reads by default): rich enough for every route.
      active_ = column(*db_,
                       "SELECT b.user_id FROM user_behavior b WHERE b.behavior_type = 'buy' "
                       "AND EXISTS (SELECT 1 FROM user_neighbours s WHERE s.user_id = b.user_id) "
                       "GROUP BY b.user_id ORDER BY count(*) DESC, b.user_id LIMIT 12");
      if (active_.size() < 12)
        throw std::runtime_error("the synthetic shop has too few active users with neighbours");
      redis_ = std::make_unique<redis_server>();
      server_ = std::make_unique<recd_server>(db_->url(), redis_->url());
      std::printf("[ setup    ] shop, compute, redis and recd ready in %.1f s\n",
                  std::chrono::duration<double>(steady::now() - t0).count());
    } catch (const std::exception& e) {
      setup_error_ = e.what();
      server_.reset();
    }
  }

  static void TearDownTestSuite() {
    server_.reset(); // SIGTERM, expects a clean exit within 10 s
    redis_.reset();
    db_.reset();
  }

  void SetUp() override {
    if (!server_)
      GTEST_FAIL() << "suite setup failed: " << setup_error_;
  }

  static http_reply call(const std::string& method, const std::string& target,
                         const std::string& body = "",
                         const std::string& content_type = "application/json") {
    return request(method, server_->host(), server_->port(), target, body, content_type);
  }
  static http_reply get(const std::string& target) { return call("GET", target); }
  static http_reply recommend(std::int64_t user, int limit, bool use_cache) {
    return get("/api/recommend/" + std::to_string(user) + "?limit=" + std::to_string(limit) +
               "&use_cache=" + (use_cache ? "true" : "false"));
  }
  static http_reply behave(std::int64_t user, std::int64_t item, const std::string& kind) {
    return call("POST", "/api/behavior",
                json{{"user_id", user}, {"item_id", item}, {"behavior_type", kind}}.dump());
  }
  static std::int64_t behavior_rows() { return count(*db_, "SELECT count(*) FROM user_behavior"); }
  static std::string cache_key(std::int64_t user) { return "recommend:" + std::to_string(user); }

  static inline std::unique_ptr<test_database> db_;
  static inline std::unique_ptr<redis_server> redis_;
  static inline std::unique_ptr<recd_server> server_;
  static inline std::string setup_error_;
  static inline std::vector<std::int64_t> active_; // see SetUpTestSuite; one per test
};

} // namespace recd::test::http_contract
