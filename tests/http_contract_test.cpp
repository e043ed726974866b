// End-to-end HTTP contract of `recd serve`: a real server process, a real
// PostgreSQL database holding a synthetic shop (recd::store::import_synthetic,
// then `recd compute`), and a private redis-server the tests may stop and
// restart. Every check goes through HTTP, PostgreSQL or Redis, never through
// recd's internals.
//
// HttpContract shares one database, Redis and server across its tests (each
// test uses its own users, so the order does not matter); HttpContractNewRun
// has its own database and server.

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

namespace recd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr int shop_users = 2000; // user ids 1..2000
constexpr int shop_items = 400;  // item ids 1..400
constexpr std::int64_t shop_events = 60000;

const std::set<std::string> known_routes{"user_cf", "item_cf", "vector", "popular", "category"};

// ---- setup helpers ---------------------------------------------------------------

void import_shop(const test_database& db) {
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
void run_compute(const test_database& db) {
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

std::int64_t count(const test_database& db, const std::string& sql) {
  auto s = db.scalar(sql);
  return s.empty() ? 0 : std::stoll(s);
}

std::vector<std::int64_t> column(const test_database& db, const std::string& sql) {
  auto c = db.connect();
  pqxx::nontransaction tx{c};
  std::vector<std::int64_t> out;
  for (const auto& row : tx.exec(sql))
    out.push_back(row[0].as<std::int64_t>());
  return out;
}

std::set<std::int64_t> column_set(const test_database& db, const std::string& sql) {
  auto v = column(db, sql);
  return {v.begin(), v.end()};
}

// ---- response helpers ------------------------------------------------------------

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 600) + (r.error.empty() ? "" : " [" + r.error + "]");
}

bool from_cache(const http_reply& r) {
  return r.json.is_object() && r.json.contains("from_cache") && r.json["from_cache"].is_boolean() &&
         r.json["from_cache"].get<bool>();
}

std::vector<std::int64_t> item_ids(const http_reply& r) {
  std::vector<std::int64_t> out;
  if (r.json.is_object() && r.json.contains("recommendations") && r.json["recommendations"].is_array())
    for (const auto& rec : r.json["recommendations"])
      if (rec.is_object() && rec.contains("item_id") && rec["item_id"].is_number_integer())
        out.push_back(rec["item_id"].get<std::int64_t>());
  return out;
}

bool contains(const std::vector<std::int64_t>& v, std::int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// All reasons of all recommendations, flattened.
std::vector<json> all_reasons(const http_reply& r) {
  std::vector<json> out;
  if (r.json.is_object() && r.json.contains("recommendations") && r.json["recommendations"].is_array())
    for (const auto& rec : r.json["recommendations"])
      if (rec.is_object() && rec.contains("reasons") && rec["reasons"].is_array())
        for (const auto& reason : rec["reasons"])
          out.push_back(reason);
  return out;
}

std::size_t reasons_of_route(const http_reply& r, const std::string& route) {
  std::size_t n = 0;
  for (const auto& reason : all_reasons(r))
    n += reason.is_object() && reason.value("route", "") == route;
  return n;
}

// The shape every recommend answer has: 200, user_id, recommendations with
// item fields and reasons, count == size <= limit, scores non-increasing,
// each score the sum of its reasons' parts.
void expect_recommend_shape(const http_reply& r, std::int64_t user, std::size_t limit) {
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

void expect_json_error(const http_reply& r, unsigned status) {
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

// 1. ---------------------------------------------------------------------------------

TEST_F(HttpContract, RecommendAnswersRankedUnboughtCatalogItemsWithTheirReasons) {
  const auto user = active_[0];
  auto r = recommend(user, 10, false);
  expect_recommend_shape(r, user, 10);
  EXPECT_EQ(item_ids(r).size(), 10u) << "a 400-item shop fills a limit of 10: " << show(r);
  EXPECT_FALSE(from_cache(r));

  const auto bought = column_set(
    *db_, "SELECT DISTINCT item_id FROM user_behavior WHERE behavior_type = 'buy' AND user_id = " +
            std::to_string(user));
  ASSERT_FALSE(bought.empty());
  for (auto item : item_ids(r))
    EXPECT_FALSE(bought.count(item)) << "item " << item << " was bought by user " << user;

  // Details are the catalog's.
  auto c = db_->connect();
  pqxx::nontransaction tx{c};
  for (const auto& rec : r.json["recommendations"]) {
    auto row = tx.exec_params1("SELECT title, price::float8 FROM items WHERE item_id = $1",
                               rec["item_id"].get<std::int64_t>());
    EXPECT_EQ(rec["title"], row[0].as<std::string>());
    EXPECT_NEAR(rec["price"].get<double>(), row[1].as<double>(), 0.005);
  }
}

TEST_F(HttpContract, ReasonsNameTheHistoryItemOrSimilarUserThatLedToTheItem) {
  std::map<std::string, std::size_t> routes_seen;
  for (std::size_t i = 0; i < 8; ++i) {
    const auto user = active_[i];
    SCOPED_TRACE("user " + std::to_string(user));
    auto r = recommend(user, 50, false);
    expect_recommend_shape(r, user, 50);
    const auto history = column_set(
      *db_, "SELECT DISTINCT item_id FROM user_behavior WHERE user_id = " + std::to_string(user));
    const auto similar = column_set(
      *db_, "SELECT similar_user_id FROM user_neighbours WHERE user_id = " + std::to_string(user));
    const auto bought = column_set(
      *db_, "SELECT DISTINCT item_id FROM user_behavior WHERE behavior_type = 'buy' AND user_id = " +
              std::to_string(user));
    for (auto item : item_ids(r))
      EXPECT_FALSE(bought.count(item)) << "bought item " << item << " recommended";
    for (const auto& reason : all_reasons(r)) {
      auto route = reason.value("route", "");
      ++routes_seen[route];
      if (route == "item_cf" && reason.contains("because_item")) {
        EXPECT_TRUE(history.count(reason["because_item"].get<std::int64_t>()))
          << "because_item is not in the user's history: " << reason.dump();
      }
      if (route == "user_cf" && reason.contains("because_user")) {
        EXPECT_TRUE(similar.count(reason["because_user"].get<std::int64_t>()))
          << "because_user is not one of the user's similar users: " << reason.dump();
      }
    }
  }
  EXPECT_GT(routes_seen["item_cf"], 0u) << "no item_cf reason for 8 active users";
  EXPECT_GT(routes_seen["user_cf"], 0u) << "no user_cf reason for 8 active users";
  EXPECT_GT(routes_seen["vector"], 0u) << "no vector reason for 8 active users";
}

TEST_F(HttpContract, RecommendDefaultsToFiftyItems) {
  const auto user = active_[0];
  auto r = get("/api/recommend/" + std::to_string(user) + "?use_cache=false");
  expect_recommend_shape(r, user, 50);
  EXPECT_EQ(item_ids(r).size(), 50u) << show(r);
}

TEST_F(HttpContract, UnknownUserGetsPopularItemsNotAnError) {
  const std::int64_t user = 1999999;
  for (bool use_cache : {false, true}) {
    auto r = recommend(user, 10, use_cache);
    expect_recommend_shape(r, user, 10);
    EXPECT_EQ(item_ids(r).size(), 10u) << show(r);
    for (const auto& reason : all_reasons(r))
      EXPECT_EQ(reason.value("route", ""), "popular") << reason.dump();
  }
}

// 2. ---------------------------------------------------------------------------------

TEST_F(HttpContract, CacheServesTheSameAnswerUntilTheUserActs) {
  const auto user = active_[1];
  const auto key = cache_key(user);
  // The cache is written behind the answer (the API actor replies first):
  // wait for the entry, as for its deletion below.
  auto stored_within = [&](std::chrono::milliseconds limit) {
    std::optional<redis_reply> got;
    for (auto until = steady::now() + limit; steady::now() < until;) {
      got = redis_->command({"GET", key});
      if (got && !got->nil)
        break;
      std::this_thread::sleep_for(10ms);
    }
    return got;
  };
  auto first = recommend(user, 10, true);
  expect_recommend_shape(first, user, 10);
  EXPECT_FALSE(from_cache(first)) << show(first);
  auto stored = stored_within(1s);
  ASSERT_TRUE(stored.has_value());
  EXPECT_FALSE(stored->nil) << "the answer was not stored under " << key << " within 1 s";

  auto second = recommend(user, 10, true);
  expect_recommend_shape(second, user, 10);
  EXPECT_TRUE(from_cache(second)) << show(second);
  EXPECT_EQ(item_ids(second), item_ids(first));
  EXPECT_EQ(second.json["recommendations"], first.json["recommendations"]);

  // A smaller limit is served from the cached answer; a larger one is not.
  auto smaller = recommend(user, 5, true);
  expect_recommend_shape(smaller, user, 5);
  EXPECT_TRUE(from_cache(smaller)) << show(smaller);
  auto head = item_ids(first);
  head.resize(5);
  EXPECT_EQ(item_ids(smaller), head);
  auto larger = recommend(user, 20, true);
  expect_recommend_shape(larger, user, 20);
  EXPECT_FALSE(from_cache(larger)) << "a cached top-10 cannot answer a top-20: " << show(larger);

  // use_cache=false never answers from the cache, in any spelling.
  for (const char* no : {"false", "0", "no", "off", "FALSE"}) {
    auto r = get("/api/recommend/" + std::to_string(user) + "?limit=10&use_cache=" + no);
    expect_recommend_shape(r, user, 10);
    EXPECT_FALSE(from_cache(r)) << "use_cache=" << no << ": " << show(r);
  }

  // A behavior invalidates the entry: Redis loses it, the next answer is fresh.
  auto before = redis_->command({"GET", key});
  ASSERT_TRUE(before && !before->nil);
  const auto bought = column_set(
    *db_, "SELECT DISTINCT item_id FROM user_behavior WHERE behavior_type = 'buy' AND user_id = " +
            std::to_string(user));
  auto ack = behave(user, *bought.begin(), "view");
  ASSERT_EQ(ack.status, 200u) << show(ack);
  bool deleted = false;
  for (auto until = steady::now() + 1s; steady::now() < until && !deleted;) {
    auto now = redis_->command({"GET", key});
    deleted = now && now->nil;
    if (!deleted)
      std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(deleted) << key << " still held the old answer 1 s after the behavior was acknowledged";
  auto after = recommend(user, 10, true);
  expect_recommend_shape(after, user, 10);
  EXPECT_FALSE(from_cache(after)) << "served a cached answer older than the user's behavior";
  auto replaced = stored_within(1s);
  ASSERT_TRUE(replaced.has_value());
  EXPECT_FALSE(replaced->nil) << "the fresh answer was not cached within 1 s";
  EXPECT_NE(replaced->text, before->text) << "the cache entry was not replaced";
  auto again = recommend(user, 10, true);
  EXPECT_TRUE(from_cache(again)) << show(again);
  // The API actor keeps recent entries in process in front of Redis
  // (redis.near_cache_mb): with the Redis entry gone, the answer is still
  // served from the cache, and still only while the user has not acted.
  ASSERT_TRUE(redis_->command({"DEL", key}));
  auto near = recommend(user, 10, true);
  EXPECT_TRUE(from_cache(near)) << show(near);
  EXPECT_EQ(near.json["recommendations"], again.json["recommendations"]);
  auto ack2 = behave(user, *bought.begin(), "click");
  ASSERT_EQ(ack2.status, 200u) << show(ack2);
  auto fresh = recommend(user, 10, true);
  EXPECT_FALSE(from_cache(fresh)) << "the near cache served an answer older than a behavior";

  auto stats = get("/api/stats");
  ASSERT_EQ(stats.status, 200u) << show(stats);
  ASSERT_TRUE(stats.json.contains("cache")) << show(stats);
  EXPECT_GT(stats.json["cache"].value("hits", 0), 0) << show(stats);
  ASSERT_TRUE(stats.json.contains("cache_hit_ratio") && stats.json["cache_hit_ratio"].is_number())
    << show(stats);
  EXPECT_GT(stats.json["cache_hit_ratio"].get<double>(), 0.0);
  EXPECT_LE(stats.json["cache_hit_ratio"].get<double>(), 1.0);
  EXPECT_GT(stats.json["requests"].value("recommend_from_cache", 0), 0) << show(stats);
}

// `recd serve` runs its shards in its own process: a cached answer their
// boards vouch for is served by the HTTP thread with no message
// (actors/local_answers.hpp), and only while the user has not acted and the
// catalog has not changed, as any cached answer.
TEST_F(HttpContract, AnAnswerServedWithoutAMessageIsOneItsShardStillVouchesFor) {
  const auto user = active_[6];
  auto local_hits = [&] {
    auto stats = get("/api/stats");
    return stats.json.is_object() && stats.json.contains("requests")
             ? stats.json["requests"].value("recommend_from_local_answers", std::int64_t{-1})
             : std::int64_t{-1};
  };
  auto first = recommend(user, 10, true);
  expect_recommend_shape(first, user, 10);
  EXPECT_FALSE(from_cache(first)) << show(first);
  const auto hits0 = local_hits();
  ASSERT_GE(hits0, 0) << "/api/stats has no requests.recommend_from_local_answers";
  auto second = recommend(user, 10, true);
  expect_recommend_shape(second, user, 10);
  EXPECT_TRUE(from_cache(second)) << show(second);
  EXPECT_EQ(second.json["recommendations"], first.json["recommendations"]);
  EXPECT_EQ(local_hits(), hits0 + 1) << "the cached answer did not come from the HTTP thread";
  // Another shape of request (a smaller page) goes to the API actor, which
  // serves it from its own copy.
  auto smaller = recommend(user, 5, true);
  EXPECT_TRUE(from_cache(smaller)) << show(smaller);
  EXPECT_EQ(local_hits(), hits0 + 1);

  // The user buys the top item: the very next answer is computed, without it.
  const auto top = item_ids(first).front();
  auto ack = behave(user, top, "buy");
  ASSERT_EQ(ack.status, 200u) << show(ack);
  auto after = recommend(user, 10, true);
  expect_recommend_shape(after, user, 10);
  EXPECT_FALSE(from_cache(after)) << "served an answer older than the user's buy: " << show(after);
  EXPECT_FALSE(contains(item_ids(after), top)) << show(after);
  EXPECT_EQ(local_hits(), hits0 + 1);
  // That answer is vouched for in turn.
  auto again = recommend(user, 10, true);
  EXPECT_TRUE(from_cache(again)) << show(again);
  EXPECT_EQ(again.json["recommendations"], after.json["recommendations"]);
  EXPECT_EQ(local_hits(), hits0 + 2);

  // A catalog change (of an item in the answer): computed again, with it.
  const auto shown = item_ids(again).front();
  auto renamed = call("PATCH", "/api/items/" + std::to_string(shown), R"({"title":"Renamed for the local answers test"})");
  ASSERT_EQ(renamed.status, 200u) << show(renamed);
  auto fresh = recommend(user, 10, true);
  EXPECT_FALSE(from_cache(fresh)) << "served an answer older than a catalog change: " << show(fresh);
  bool titled = false;
  for (const auto& rec : fresh.json["recommendations"])
    titled = titled || rec.value("title", std::string{}) == "Renamed for the local answers test";
  EXPECT_TRUE(titled) << show(fresh);
  EXPECT_EQ(local_hits(), hits0 + 2);
}

// 3. ---------------------------------------------------------------------------------

TEST_F(HttpContract, BoughtItemDisappearsFromTheVeryNextRecommendation) {
  const auto user = active_[2];
  auto cached = recommend(user, 10, true); // leaves an answer in the cache
  expect_recommend_shape(cached, user, 10);
  ASSERT_FALSE(item_ids(cached).empty());
  const auto x = item_ids(cached).front();
  auto rows_before = count(*db_, "SELECT count(*) FROM user_behavior WHERE user_id = " + std::to_string(user));
  const auto sales_sql = "SELECT sales_count FROM items WHERE item_id = " + std::to_string(x);
  const auto sales_before = count(*db_, sales_sql);

  auto ack = behave(user, x, "buy");
  ASSERT_EQ(ack.status, 200u) << show(ack);
  ASSERT_TRUE(ack.json.is_object()) << show(ack);
  EXPECT_EQ(ack.json["success"], true) << show(ack);
  ASSERT_TRUE(ack.json.contains("behavior_id") && ack.json["behavior_id"].is_number_integer()) << show(ack);
  const auto id = ack.json["behavior_id"].get<std::int64_t>();
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_behavior WHERE id = " + std::to_string(id) +
                          " AND user_id = " + std::to_string(user) + " AND item_id = " +
                          std::to_string(x) + " AND behavior_type = 'buy'"),
            1)
    << "the acknowledged behavior is not the committed row " << id;
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_behavior WHERE user_id = " + std::to_string(user)),
            rows_before + 1);
  EXPECT_EQ(count(*db_, sales_sql), sales_before + 1) << "a buy did not count as a sale of " << x;

  auto with_cache = recommend(user, 10, true);
  expect_recommend_shape(with_cache, user, 10);
  EXPECT_FALSE(contains(item_ids(with_cache), x)) << "bought item " << x << " still recommended: " << show(with_cache);
  EXPECT_FALSE(from_cache(with_cache));
  auto without = recommend(user, 10, false);
  expect_recommend_shape(without, user, 10);
  EXPECT_FALSE(contains(item_ids(without), x)) << "bought item " << x << " still recommended: " << show(without);
}

TEST_F(HttpContract, ColdUserViewingAnItemGetsItsNeighboursAtOnce) {
  const std::int64_t user = 1900001; // not in the shop
  const auto y = count(*db_,
                       "SELECT item_id FROM item_weights GROUP BY item_id "
                       "ORDER BY count(*) DESC, item_id LIMIT 1");
  ASSERT_GT(y, 0);
  const auto neighbours = column_set(
    *db_, "SELECT similar_item_id FROM item_weights WHERE item_id = " + std::to_string(y));
  ASSERT_FALSE(neighbours.empty());

  auto cold = recommend(user, 10, true); // popular only, and cached
  expect_recommend_shape(cold, user, 10);
  EXPECT_EQ(reasons_of_route(cold, "item_cf"), 0u) << show(cold);

  auto ack = behave(user, y, "view");
  ASSERT_EQ(ack.status, 200u) << show(ack);

  for (bool use_cache : {true, false}) {
    SCOPED_TRACE(use_cache ? "use_cache=true" : "use_cache=false");
    auto r = recommend(user, 10, use_cache);
    expect_recommend_shape(r, user, 10);
    EXPECT_FALSE(from_cache(r)) << show(r);
    std::size_t because_y = 0;
    for (const auto& rec : r.json["recommendations"])
      for (const auto& reason : rec["reasons"])
        if (reason.value("route", "") == "item_cf") {
          EXPECT_EQ(reason.value("because_item", -1), y) << reason.dump();
          EXPECT_TRUE(neighbours.count(rec["item_id"].get<std::int64_t>()))
            << "item_cf recommended " << rec["item_id"] << ", not a neighbour of " << y;
          ++because_y;
        }
    EXPECT_GT(because_y, 0u) << "no item_cf reason with because_item " << y << ": " << show(r);
  }
}

TEST_F(HttpContract, SeedQueryParameterFormOfBehaviorStillWorks) {
  const std::int64_t user = 1900002;
  const std::int64_t item = 17;
  auto r = call("POST", "/api/behavior?user_id=" + std::to_string(user) + "&item_id=" +
                          std::to_string(item) + "&behavior_type=click",
                "", "");
  ASSERT_EQ(r.status, 200u) << show(r);
  ASSERT_TRUE(r.json.is_object()) << show(r);
  EXPECT_EQ(r.json["success"], true) << show(r);
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_behavior WHERE user_id = " + std::to_string(user) +
                          " AND item_id = " + std::to_string(item) + " AND behavior_type = 'click'"),
            1);
}

// 4. ---------------------------------------------------------------------------------

TEST_F(HttpContract, EveryAcknowledgedBehaviorIsACommittedRow) {
  constexpr std::int64_t first_user = 1800000, users = 10;
  constexpr int threads = 6, per_thread = 50;
  const char* kinds[] = {"view", "click", "cart", "buy"};
  std::mutex mu;
  std::vector<std::int64_t> ids;
  std::vector<std::string> failures;
  std::vector<std::thread> pool;
  const auto total_sales = "SELECT sum(sales_count) FROM items";
  const auto sales_before = count(*db_, total_sales);
  auto t0 = steady::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t + 1));
      for (int i = 0; i < per_thread; ++i) {
        auto user = first_user + static_cast<std::int64_t>(rng() % users);
        auto item = 1 + static_cast<std::int64_t>(rng() % shop_items);
        auto r = behave(user, item, kinds[rng() % 4]);
        std::lock_guard lock{mu};
        if (r.status == 200 && r.json.is_object() && r.json.contains("behavior_id"))
          ids.push_back(r.json["behavior_id"].get<std::int64_t>());
        else
          failures.push_back(show(r));
      }
    });
  for (auto& th : pool)
    th.join();
  std::printf("[ info     ] %d behavior POSTs from %d threads in %.2f s\n", threads * per_thread,
              threads, std::chrono::duration<double>(steady::now() - t0).count());

  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << threads * per_thread
                                << " failed, first: " << (failures.empty() ? "" : failures[0]);
  std::set<std::int64_t> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), ids.size()) << "two acknowledgements share a behavior_id";
  const auto range = "user_id BETWEEN " + std::to_string(first_user) + " AND " +
                     std::to_string(first_user + users - 1);
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_behavior WHERE " + range),
            static_cast<std::int64_t>(ids.size()))
    << "rows for the test users != 200 answers";
  EXPECT_EQ(column_set(*db_, "SELECT id FROM user_behavior WHERE " + range), distinct)
    << "the acknowledged ids are not the committed rows";
  // The same commits registered the new users and counted buys and carts as sales.
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM users WHERE " + range),
            count(*db_, "SELECT count(DISTINCT user_id) FROM user_behavior WHERE " + range));
  EXPECT_EQ(count(*db_, total_sales) - sales_before,
            count(*db_, "SELECT count(*) FROM user_behavior WHERE behavior_type IN ('buy', 'cart') "
                        "AND " + range));
}

// 5. ---------------------------------------------------------------------------------

TEST_F(HttpContract, BadRequestsGetTheRightStatusAndChangeNothing) {
  struct bad {
    std::string method, target, body;
    unsigned status;
  };
  auto body = [](const json& j) { return j.dump(); };
  const std::string oversized =
    body({{"user_id", 1}, {"item_id", 1}, {"behavior_type", "view"}, {"pad", std::string(70 * 1024, 'x')}});
  const std::vector<bad> cases{
    {"GET", "/api/recommend/abc", "", 422},
    {"GET", "/api/recommend/-5", "", 422},
    {"GET", "/api/recommend/1.5", "", 422},
    {"GET", "/api/recommend/99999999999", "", 422},
    {"GET", "/api/recommend/1?limit=0", "", 422},
    {"GET", "/api/recommend/1?limit=101", "", 422},
    {"GET", "/api/recommend/1?limit=abc", "", 422},
    {"GET", "/api/recommend/1?limit=-1", "", 422},
    {"GET", "/api/recommend/1?use_cache=maybe", "", 422},
    {"POST", "/api/behavior", body({{"user_id", 1}, {"item_id", 1}, {"behavior_type", "like"}}), 422},
    {"POST", "/api/behavior", body({{"user_id", 1}, {"item_id", 1}, {"behavior_type", "BUY"}}), 422},
    {"POST", "/api/behavior", body({{"user_id", -1}, {"item_id", 1}, {"behavior_type", "view"}}), 422},
    {"POST", "/api/behavior", body({{"user_id", 1}, {"item_id", -3}, {"behavior_type", "view"}}), 422},
    {"POST", "/api/behavior", body({{"user_id", "abc"}, {"item_id", 1}, {"behavior_type", "view"}}), 422},
    {"POST", "/api/behavior", body({{"user_id", 1}, {"item_id", "x1"}, {"behavior_type", "view"}}), 422},
    {"POST", "/api/behavior", body({{"user_id", 1.5}, {"item_id", 1}, {"behavior_type", "view"}}), 422},
    {"POST", "/api/behavior", body({{"user_id", 1}, {"item_id", 1}}), 422},
    {"POST", "/api/behavior", body({{"item_id", 1}, {"behavior_type", "view"}}), 422},
    {"POST", "/api/behavior", body({{"user_id", 1}, {"behavior_type", "view"}}), 422},
    {"POST", "/api/behavior", "{}", 422},
    {"POST", "/api/behavior", "", 422},
    {"POST", "/api/behavior?user_id=1&item_id=1", "", 422},
    {"POST", "/api/behavior?user_id=-1&item_id=1&behavior_type=view", "", 422},
    {"POST", "/api/behavior?user_id=1&item_id=abc&behavior_type=view", "", 422},
    {"POST", "/api/behavior", "{\"user_id\": 1, \"item_id\": 1, ", 400},
    {"POST", "/api/behavior", "not json", 400},
    {"POST", "/api/behavior", "[1, 2, 3]", 400},
    {"POST", "/api/behavior", oversized, 413},
    {"POST", "/api/behavior", body({{"user_id", 1}, {"item_id", 999999}, {"behavior_type", "view"}}), 404},
    {"POST", "/api/behavior?user_id=1&item_id=999999&behavior_type=buy", "", 404},
    {"GET", "/api/nothing", "", 404},
    {"GET", "/", "", 404},
    {"GET", "/api/recommend/", "", 404},
    {"GET", "/api/recommend/1/extra", "", 404},
    {"DELETE", "/api/recommend/1", "", 405},
    {"POST", "/api/recommend/1", "", 405},
    {"GET", "/api/behavior", "", 405},
    {"PUT", "/api/behavior", body({{"user_id", 1}, {"item_id", 1}, {"behavior_type", "view"}}), 405},
    {"POST", "/api/stats", "", 405},
    {"POST", "/healthz", "", 405},
  };
  const auto rows_before = behavior_rows();
  const auto cache_before = redis_->command({"DBSIZE"});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.method + " " + c.target + " " + c.body.substr(0, 80));
    auto r = call(c.method, c.target, c.body);
    expect_json_error(r, c.status);
  }
  EXPECT_EQ(behavior_rows(), rows_before) << "a rejected request wrote a behavior";
  auto cache_after = redis_->command({"DBSIZE"});
  ASSERT_TRUE(cache_before && cache_after);
  EXPECT_EQ(cache_after->text, cache_before->text) << "a rejected request touched the cache";
  // Still serving normally.
  auto ok = recommend(1, 5, false);
  EXPECT_EQ(ok.status, 200u) << show(ok);
}

// 6. ---------------------------------------------------------------------------------

TEST_F(HttpContract, RedisOutageDegradesToUncachedAnswersAndRecovers) {
  // Whatever happens below, Redis runs again for the next test.
  struct restart_redis {
    redis_server& r;
    ~restart_redis() {
      try {
        r.start();
      } catch (...) {
      }
    }
  } guard{*redis_};

  const auto user = active_[3];
  ASSERT_EQ(recommend(user, 10, true).status, 200u);
  auto warm = recommend(user, 10, true);
  ASSERT_TRUE(from_cache(warm)) << show(warm);

  redis_->stop();
  // Every request below is answered (no timing bound here: the machine is
  // shared; the info line says how long the rounds took).
  const auto t0 = steady::now();
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE("round " + std::to_string(i));
    auto r = recommend(user, 10, true);
    expect_recommend_shape(r, user, 10);
    // The first may come from the API actor's near cache (the user has not
    // acted since it was stored); each later one follows a behavior.
    if (i > 0) {
      EXPECT_FALSE(from_cache(r)) << show(r);
    }
    auto other = recommend(active_[4], 10, true);
    EXPECT_EQ(other.status, 200u) << show(other);
    auto b = behave(user, 1 + i, "view");
    EXPECT_EQ(b.status, 200u) << show(b);
    auto s = get("/api/stats");
    EXPECT_EQ(s.status, 200u) << show(s);
  }
  std::printf("[ info     ] 6 rounds without Redis in %.2f s\n",
              std::chrono::duration<double>(steady::now() - t0).count());
  auto stats = get("/api/stats");
  ASSERT_EQ(stats.status, 200u) << show(stats);
  ASSERT_TRUE(stats.json.contains("cache")) << show(stats);
  const auto& cache = stats.json["cache"];
  EXPECT_TRUE(cache.value("degraded", false) || cache.value("errors", 0) > 0)
    << "the outage is not visible in /api/stats: " << cache.dump();

  redis_->start();
  // Answers computed during the outage live in the API actor's near cache
  // only; once Redis is back, the next computed answer (after a behavior)
  // is stored in Redis again and served from the cache.
  bool cached_again = false;
  const auto back = steady::now();
  for (int i = 0; !cached_again && steady::now() < back + 5s; ++i) {
    auto b = behave(user, 1 + i % 6, "view");
    EXPECT_EQ(b.status, 200u) << show(b);
    auto computed = recommend(user, 10, true);
    EXPECT_EQ(computed.status, 200u) << show(computed);
    auto stored = redis_->command({"EXISTS", cache_key(user)});
    auto r = recommend(user, 10, true);
    EXPECT_EQ(r.status, 200u) << show(r);
    cached_again = stored && stored->text == "1" && from_cache(r);
    if (!cached_again)
      std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(cached_again) << "no answer cached in Redis within 5 s of Redis coming back";
  auto recovered = get("/api/stats");
  ASSERT_EQ(recovered.status, 200u) << show(recovered);
  EXPECT_EQ(recovered.json["cache"].value("degraded", true), false) << recovered.json["cache"].dump();
}

// 7. ---------------------------------------------------------------------------------

TEST_F(HttpContract, HealthReadinessAndStatsReportTheRealState) {
  auto health = get("/healthz");
  EXPECT_EQ(health.status, 200u) << show(health);
  EXPECT_EQ(health.json, json({{"status", "ok"}}));
  auto ready = get("/readyz");
  EXPECT_EQ(ready.status, 200u) << show(ready);
  EXPECT_EQ(ready.json.value("ready", false), true) << show(ready);

  ASSERT_EQ(recommend(active_[5], 10, true).status, 200u);
  ASSERT_EQ(behave(1900003, 5, "view").status, 200u);

  auto r = get("/api/stats");
  ASSERT_EQ(r.status, 200u) << show(r);
  const auto& s = r.json;
  ASSERT_TRUE(s.is_object()) << show(r);
  const std::map<std::string, std::string> sql{
    {"user_count", "SELECT count(*) FROM users"},
    {"item_count", "SELECT count(*) FROM items"},
    {"behavior_24h",
     "SELECT count(*) FROM user_behavior WHERE timestamp > CURRENT_TIMESTAMP - INTERVAL '1 day'"},
    {"item_sim_pairs", "SELECT count(*) FROM item_similarity"},
    {"user_sim_pairs", "SELECT count(*) FROM user_similarity"},
  };
  for (const auto& [key, query] : sql) {
    ASSERT_TRUE(s.contains(key) && s[key].is_number_integer()) << key << ": " << show(r);
    EXPECT_EQ(s[key].get<std::int64_t>(), count(*db_, query)) << key;
  }
  EXPECT_GT(s["user_count"].get<std::int64_t>(), shop_users / 2); // users with events only
  EXPECT_EQ(s["item_count"].get<std::int64_t>(), shop_items);
  EXPECT_GT(s["behavior_24h"].get<std::int64_t>(), 0);
  EXPECT_GT(s["item_sim_pairs"].get<std::int64_t>(), 0);
  EXPECT_GT(s["user_sim_pairs"].get<std::int64_t>(), 0);

  ASSERT_TRUE(s.contains("cache_hit_ratio") && s["cache_hit_ratio"].is_number()) << show(r);
  EXPECT_GE(s["cache_hit_ratio"].get<double>(), 0.0);
  EXPECT_LE(s["cache_hit_ratio"].get<double>(), 1.0);

  ASSERT_TRUE(s.contains("requests") && s["requests"].is_object()) << show(r);
  EXPECT_GT(s["requests"].value("recommend", 0), 0);
  EXPECT_GT(s["requests"].value("behavior", 0), 0);

  ASSERT_TRUE(s.contains("latency_ms") && s["latency_ms"].is_object()) << show(r);
  for (const char* what : {"recommend", "behavior"}) {
    SCOPED_TRACE(what);
    ASSERT_TRUE(s["latency_ms"].contains(what)) << show(r);
    const auto& l = s["latency_ms"][what];
    for (const char* p : {"p50", "p95", "p99"})
      ASSERT_TRUE(l.contains(p) && l[p].is_number()) << l.dump();
    EXPECT_GT(l["p50"].get<double>(), 0.0);
    EXPECT_LE(l["p50"].get<double>(), l["p95"].get<double>());
    EXPECT_LE(l["p95"].get<double>(), l["p99"].get<double>());
  }

  ASSERT_TRUE(s.contains("last_jobs") && s["last_jobs"].is_object()) << show(r);
  for (const char* kind :
       {"item_similarity", "user_similarity", "item_weights", "user_neighbours", "embeddings"}) {
    SCOPED_TRACE(kind);
    ASSERT_TRUE(s["last_jobs"].contains(kind)) << s["last_jobs"].dump();
    EXPECT_EQ(s["last_jobs"][kind].value("status", ""), "published") << s["last_jobs"][kind].dump();
  }
}

// 8. ---------------------------------------------------------------------------------

TEST(HttpContractNewRun, APublishedRunIsPickedUpWithoutRestartWithinTenSeconds) {
  test_database db{"http_contract_new_run"};
  import_shop(db);
  ASSERT_EQ(count(db, "SELECT count(*) FROM item_similarity"), 0);
  const auto user = count(db,
                          "SELECT user_id FROM user_behavior GROUP BY user_id "
                          "ORDER BY count(*) DESC, user_id LIMIT 1");
  redis_server redis;
  recd_server server{db.url(), redis.url()};
  auto rec = [&] {
    return request("GET", server.host(), server.port(),
                   "/api/recommend/" + std::to_string(user) + "?limit=20&use_cache=false");
  };

  auto before = rec();
  expect_recommend_shape(before, user, 20);
  EXPECT_EQ(reasons_of_route(before, "item_cf"), 0u) << "item_cf before any run: " << show(before);
  EXPECT_EQ(reasons_of_route(before, "user_cf"), 0u) << "user_cf before any run: " << show(before);
  auto stats = request("GET", server.host(), server.port(), "/api/stats");
  ASSERT_EQ(stats.status, 200u) << show(stats);
  EXPECT_EQ(stats.json.value("item_sim_pairs", -1), 0) << show(stats);

  auto t_compute = steady::now();
  run_compute(db);
  auto computed = steady::now();
  std::printf("[ info     ] recd compute took %.1f s\n",
              std::chrono::duration<double>(computed - t_compute).count());
  ASSERT_GT(count(db, "SELECT count(*) FROM item_similarity"), 0);

  http_reply after;
  bool picked_up = false;
  while (!picked_up && steady::now() < computed + 10s) {
    after = rec();
    ASSERT_EQ(after.status, 200u) << show(after) << "\nserver log:\n" << server.log_tail();
    picked_up = reasons_of_route(after, "item_cf") > 0;
    if (!picked_up)
      std::this_thread::sleep_for(250ms);
  }
  EXPECT_TRUE(picked_up) << "no item_cf reason 10 s after the run was published: " << show(after)
                         << "\nserver log:\n"
                         << server.log_tail();
  if (picked_up)
    std::printf("[ info     ] new run visible %.1f s after compute finished\n",
                std::chrono::duration<double>(steady::now() - computed).count());
  expect_recommend_shape(after, user, 20);
  auto stats_after = request("GET", server.host(), server.port(), "/api/stats");
  ASSERT_EQ(stats_after.status, 200u) << show(stats_after);
  EXPECT_EQ(stats_after.json.value("item_sim_pairs", -1),
            count(db, "SELECT count(*) FROM item_similarity"));
}

} // namespace
} // namespace recd::test
