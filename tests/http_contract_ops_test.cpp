// End-to-end HTTP contract of `recd serve`, continued from
// http_contract_test.cpp (sections 4-8): every acknowledged behavior is a
// committed row, bad requests change nothing, a Redis outage degrades and
// recovers, health and readiness, a published run picked up without a
// restart. Same setup (tests/support/http_contract.hpp); HttpContractNewRun
// has its own database and server.

#include <gtest/gtest.h>

#include "support/http_contract.hpp"

namespace recd::test {
namespace {

using namespace http_contract;

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
