// End-to-end HTTP contract of `recd serve`: a real server process, a real
// PostgreSQL database holding a synthetic shop (recd::store::import_synthetic,
// then `recd compute`), and a private redis-server the tests may stop and
// restart. Every check goes through HTTP, PostgreSQL or Redis, never through
// recd's internals.
//
// This file: recommend, the cache and freshness (sections 1-3);
// http_contract_ops_test.cpp the rest. HttpContract (tests/support/http_contract.hpp)
// shares one database, Redis and server across a file's tests (each test uses
// its own users, so the order does not matter).

#include <gtest/gtest.h>

#include "support/http_contract.hpp"

namespace recd::test {
namespace {

using namespace http_contract;

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

} // namespace
} // namespace recd::test
