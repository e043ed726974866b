// Item pages and sessions end to end, on a real `recd serve` (one shard and
// two), a real PostgreSQL holding a synthetic shop with published jobs, and a
// private redis-server:
//   GET  /api/items/{id}/similar      item CF (published + live co-buys) and vector neighbours
//   GET  /api/items/{id}/also-bought  live buy co-occurrence
//   POST /api/recommend               a visitor's session; nothing stored
// Every check goes through HTTP, PostgreSQL or Redis.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using json = nlohmann::json;

constexpr int shop_users = 600;   // user ids 1..600
constexpr int shop_items = 150;   // item ids 1..150
constexpr long shop_events = 20000;

// Ids no synthetic shop uses: new items and visitors of these tests.
constexpr std::int64_t new_item_base = 900000;
constexpr std::int64_t new_user_base = 800000;

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 800) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

void run_compute(const test_database& db) {
  auto log = temp_path("compute.log");
  auto cmd = "RECD_POSTGRES_URL=" + shell_quote(db.url()) + " " + shell_quote(recd_binary()) +
             " compute >" + shell_quote(log) + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::remove(log.c_str());
  if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 0))
    throw std::runtime_error("recd compute failed with status " + std::to_string(rc));
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

// The listed items of an item page ("items") or a recommendation ("recommendations").
std::vector<std::int64_t> ids(const http_reply& r, const char* list) {
  std::vector<std::int64_t> out;
  if (r.json.is_object() && r.json.contains(list) && r.json[list].is_array())
    for (const auto& e : r.json[list])
      out.push_back(e.value("item_id", std::int64_t{-1}));
  return out;
}

bool has(const std::vector<std::int64_t>& v, std::int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

const json* entry_of(const http_reply& r, const char* list, std::int64_t item) {
  if (!r.json.is_object() || !r.json.contains(list))
    return nullptr;
  for (const auto& e : r.json[list])
    if (e.value("item_id", std::int64_t{-1}) == item)
      return &e;
  return nullptr;
}

// (item, evidence) of an also-bought answer, in order: what a restart must keep.
std::vector<std::pair<std::int64_t, double>> also_bought_pairs(const http_reply& r) {
  std::vector<std::pair<std::int64_t, double>> out;
  for (const auto& e : r.json["items"])
    out.emplace_back(e["item_id"].get<std::int64_t>(), e["reasons"][0]["evidence"].get<double>());
  return out;
}

void expect_json_error(const http_reply& r, unsigned status) {
  EXPECT_EQ(r.status, status) << show(r);
  ASSERT_TRUE(r.json.is_object()) << "error bodies are JSON: " << show(r);
  EXPECT_TRUE(r.json.contains("error") && r.json["error"].is_string()) << show(r);
  EXPECT_EQ(r.json.value("status", 0u), status) << show(r);
}

// An item page's shape: the item, at most `limit` distinct items (never the
// item itself), scores non-increasing, each the sum of its reasons, every
// reason with route, score and evidence.
void expect_page_shape(const http_reply& r, std::int64_t item, std::size_t limit,
                       const std::set<std::string>& routes) {
  ASSERT_EQ(r.status, 200u) << show(r);
  ASSERT_TRUE(r.json.is_object()) << show(r);
  EXPECT_EQ(r.json.value("item_id", std::int64_t{-1}), item);
  ASSERT_TRUE(r.json.contains("items") && r.json["items"].is_array()) << show(r);
  const auto& items = r.json["items"];
  EXPECT_EQ(r.json.value("count", std::size_t{9999}), items.size());
  EXPECT_LE(items.size(), limit);
  EXPECT_TRUE(r.json.contains("latency_ms"));
  double previous = INFINITY;
  std::set<std::int64_t> seen;
  for (const auto& e : items) {
    SCOPED_TRACE(e.dump());
    for (const char* key : {"item_id", "title", "price", "rating", "sales", "score", "reasons"})
      ASSERT_TRUE(e.contains(key)) << "missing " << key;
    auto id = e["item_id"].get<std::int64_t>();
    EXPECT_NE(id, item) << "an item is not similar to itself";
    EXPECT_TRUE(seen.insert(id).second) << "listed twice";
    double score = e["score"].get<double>();
    EXPECT_GT(score, 0.0);
    EXPECT_LE(score, previous);
    previous = score;
    ASSERT_TRUE(e["reasons"].is_array());
    ASSERT_FALSE(e["reasons"].empty());
    double sum = 0;
    for (const auto& reason : e["reasons"]) {
      EXPECT_TRUE(routes.count(reason.value("route", ""))) << reason.dump();
      EXPECT_TRUE(reason.contains("evidence") && reason["evidence"].is_number());
      EXPECT_GT(reason.value("evidence", 0.0), 0.0);
      sum += reason.value("score", 0.0);
    }
    EXPECT_NEAR(sum, score, 1e-6 * std::max(1.0, score));
  }
}

// ---- the fixture: one shop with published jobs, a server per test -----------------------

class Widgets : public ::testing::TestWithParam<int> {
protected:
  static void SetUpTestSuite() {
    try {
      db_ = std::make_unique<test_database>("widgets");
      import_small_shop(*db_, shop_users, shop_items, shop_events, 11);
      run_compute(*db_);
      if (count(*db_, "SELECT count(*) FROM item_weights") == 0)
        throw std::runtime_error("recd compute published no item_weights rows");
      redis_ = std::make_unique<redis_server>();
    } catch (const std::exception& e) {
      setup_error_ = e.what();
      db_.reset();
    }
  }
  static void TearDownTestSuite() {
    redis_.reset();
    db_.reset();
  }

  void SetUp() override {
    if (!db_)
      GTEST_FAIL() << "suite setup failed: " << setup_error_;
    start();
  }

  // `recd serve` with GetParam() shards in its one process.
  void start() {
    server_.reset();
    server_ = std::make_unique<recd_server>(
      db_->url(), redis_->url(), env_list{{"RECD_CLUSTER_SHARDS", std::to_string(GetParam())}});
  }

  http_reply call(const std::string& method, const std::string& target,
                  const std::string& body = "") const {
    return request(method, server_->host(), server_->port(), target, body);
  }
  http_reply similar(std::int64_t item, int limit) const {
    return call("GET", "/api/items/" + std::to_string(item) + "/similar?limit=" + std::to_string(limit));
  }
  http_reply also_bought(std::int64_t item, int limit) const {
    return call("GET",
                "/api/items/" + std::to_string(item) + "/also-bought?limit=" + std::to_string(limit));
  }
  http_reply session(const json& body) const { return call("POST", "/api/recommend", body.dump()); }
  http_reply buy(std::int64_t user, std::int64_t item) const {
    return call("POST", "/api/behavior",
                json{{"user_id", user}, {"item_id", item}, {"behavior_type", "buy"}}.dump());
  }
  // Rows and keys a request might have changed.
  std::vector<std::int64_t> footprint() const {
    auto keys = redis_->command({"DBSIZE"});
    return {count(*db_, "SELECT count(*) FROM user_behavior"), count(*db_, "SELECT count(*) FROM users"),
            count(*db_, "SELECT count(*) FROM items"),
            count(*db_, "SELECT coalesce(sum(sales_count), 0) FROM items"),
            keys ? std::stoll(keys->text) : -1};
  }
  // An item whose published item-CF row (item_weights) and embedding exist.
  std::int64_t item_with_neighbours() const {
    return column(*db_, "SELECT w.item_id FROM item_weights w JOIN items i USING (item_id) "
                        "WHERE i.embedding IS NOT NULL GROUP BY w.item_id "
                        "ORDER BY count(*) DESC, w.item_id LIMIT 1")
      .at(0);
  }

  static inline std::unique_ptr<test_database> db_;
  static inline std::unique_ptr<redis_server> redis_;
  static inline std::string setup_error_;
  std::unique_ptr<recd_server> server_;
};

INSTANTIATE_TEST_SUITE_P(Shards, Widgets, ::testing::Values(1, 2),
                         [](const auto& info) { return std::to_string(info.param) + "_shards"; });

// ---- similar ----------------------------------------------------------------------------

TEST_P(Widgets, SimilarListsPublishedNeighboursAndVectorNeighboursWithReasons) {
  const auto item = item_with_neighbours();
  auto r = similar(item, 20);
  expect_page_shape(r, item, 20, {"item_cf", "vector"});
  EXPECT_EQ(ids(r, "items").size(), 20u) << "a 150-item shop fills 20: " << show(r);
  auto published = column(*db_, "SELECT similar_item_id FROM item_weights WHERE item_id = " +
                                  std::to_string(item));
  std::size_t cf = 0, vector = 0;
  for (const auto& e : r.json["items"])
    for (const auto& reason : e["reasons"]) {
      if (reason["route"] == "item_cf" && reason.value("source", "") == "item_weights") {
        ++cf;
        EXPECT_TRUE(has(published, e["item_id"].get<std::int64_t>()))
          << "an item_cf reason for an item outside the published row: " << e.dump();
      }
      if (reason["route"] == "vector") {
        ++vector;
        EXPECT_LE(reason["evidence"].get<double>(), 1.0 + 1e-6) << "a cosine";
      }
    }
  EXPECT_GT(cf, 0u) << show(r);
  EXPECT_GT(vector, 0u) << show(r);
  // The strongest published neighbour leads when it has no other evidence against it.
  auto best = column(*db_, "SELECT similar_item_id FROM item_weights WHERE item_id = " +
                             std::to_string(item) + " ORDER BY similarity_score DESC, similar_item_id LIMIT 1");
  EXPECT_TRUE(has(ids(r, "items"), best.at(0))) << show(r);
}

TEST_P(Widgets, SimilarKeepsToTheAskedCategory) {
  const auto item = item_with_neighbours();
  // The category of most of its neighbours (the synthetic shop's categories are numbers).
  const auto category = db_->scalar(
    "SELECT c FROM items i, unnest(i.categories) c WHERE i.item_id IN (SELECT similar_item_id "
    "FROM item_weights WHERE item_id = " + std::to_string(item) + ") GROUP BY c "
    "ORDER BY count(*) DESC, c LIMIT 1");
  ASSERT_FALSE(category.empty());
  auto r = call("GET", "/api/items/" + std::to_string(item) + "/similar?limit=50&category=" + category);
  expect_page_shape(r, item, 50, {"item_cf", "vector"});
  ASSERT_FALSE(ids(r, "items").empty()) << show(r);
  for (auto id : ids(r, "items"))
    EXPECT_EQ(count(*db_, "SELECT count(*) FROM items WHERE item_id = " + std::to_string(id) +
                            " AND '" + category + "' = ANY(categories)"),
              1)
      << "item " << id << " is not in category " << category;
  auto none = call("GET", "/api/items/" + std::to_string(item) + "/similar?category=no-such-category");
  ASSERT_EQ(none.status, 200u) << show(none);
  EXPECT_TRUE(ids(none, "items").empty()) << show(none);
}

TEST_P(Widgets, AnItemWithoutCoOccurrenceGetsVectorNeighbours) {
  // An embedded item with no published row and no buys: only vectors relate it.
  auto c = db_->connect();
  pqxx::work tx{c};
  const std::int64_t lonely = new_item_base + 100 + GetParam();
  tx.exec_params("INSERT INTO items (item_id, title, embedding) SELECT $1, 'lonely', embedding "
                 "FROM items WHERE item_id = $2 ON CONFLICT (item_id) DO NOTHING",
                 lonely, item_with_neighbours());
  tx.commit();
  auto r = similar(lonely, 10);
  expect_page_shape(r, lonely, 10, {"vector"});
  EXPECT_EQ(ids(r, "items").size(), 10u) << show(r);
  // Its embedding is that item's: that item is its nearest neighbour.
  EXPECT_EQ(ids(r, "items").at(0), item_with_neighbours()) << show(r);
}

TEST_P(Widgets, ItemPagesRejectBadInputWithJsonAndChangeNothing) {
  const auto before = footprint();
  const auto item = std::to_string(item_with_neighbours());
  for (const char* page : {"similar", "also-bought"}) {
    SCOPED_TRACE(page);
    const std::string base = "/api/items/" + item + "/" + page;
    for (const char* limit : {"0", "101", "-1", "abc", "1.5", ""})
      expect_json_error(call("GET", base + "?limit=" + limit), 422);
    expect_json_error(call("GET", "/api/items/abc/" + std::string{page}), 422);
    expect_json_error(call("GET", "/api/items/99999999999/" + std::string{page}), 422);
    expect_json_error(call("GET", "/api/items/7777777/" + std::string{page}), 404);
    expect_json_error(call("POST", base), 405);
    expect_json_error(call("DELETE", base), 405);
  }
  expect_json_error(call("GET", "/api/items/" + item + "/similar?category="), 422);
  EXPECT_EQ(footprint(), before);
}

// ---- also-bought, live -------------------------------------------------------------------

// A new item bought together with X appears in X's also-bought and similar
// lists (and X in its own) at once, before any job; a restart, which rebuilds
// the counts from PostgreSQL, gives the same answers.
TEST_P(Widgets, ANewItemBoughtWithXShowsInXsListsBeforeAnyJobAndAfterARestart) {
  // X: a bought item with few co-buyers, so its whole partner list is compared.
  const auto x = column(*db_, "SELECT item_id FROM user_behavior WHERE behavior_type = 'buy' "
                              "GROUP BY item_id HAVING count(DISTINCT user_id) BETWEEN 1 AND 3 "
                              "ORDER BY item_id LIMIT 1")
                   .at(0);
  const std::int64_t fresh = new_item_base + GetParam();
  // Created through the catalog API, as a shop would.
  auto created = call("PUT", "/api/items/" + std::to_string(fresh),
                      R"({"title": "new arrival", "price": 9.5})");
  ASSERT_EQ(created.status, 200u) << show(created);
  const auto runs = count(*db_, "SELECT count(*) FROM job_runs");
  EXPECT_FALSE(has(ids(also_bought(x, 100), "items"), fresh));
  // Two new buyers buy X, then the new item.
  for (std::int64_t u : {new_user_base + 10 * GetParam(), new_user_base + 10 * GetParam() + 1}) {
    ASSERT_EQ(buy(u, x).status, 200u);
    ASSERT_EQ(buy(u, fresh).status, 200u);
  }
  auto page = also_bought(x, 100);
  expect_page_shape(page, x, 100, {"also_bought"});
  const auto* e = entry_of(page, "items", fresh);
  ASSERT_NE(e, nullptr) << "the new item is not in X's also-bought: " << show(page);
  EXPECT_EQ((*e)["reasons"][0]["evidence"], 2.0) << "two users bought both: " << e->dump();
  EXPECT_EQ((*e)["title"], "new arrival");
  auto back = also_bought(fresh, 100);
  expect_page_shape(back, fresh, 100, {"also_bought"});
  EXPECT_EQ(ids(back, "items"), std::vector<std::int64_t>{x}) << show(back);
  auto sim = similar(x, 100);
  expect_page_shape(sim, x, 100, {"item_cf", "vector"});
  const auto* s = entry_of(sim, "items", fresh);
  ASSERT_NE(s, nullptr) << "the new item is not in X's similar items: " << show(sim);
  bool live = false;
  for (const auto& reason : (*s)["reasons"])
    live |= reason["route"] == "item_cf" && reason["source"] == "live_co_bought";
  EXPECT_TRUE(live) << s->dump();
  EXPECT_TRUE(has(ids(similar(fresh, 10), "items"), x));
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM job_runs"), runs) << "no job ran";

  // A repeated buy by the same user is not a new co-buyer.
  ASSERT_EQ(buy(new_user_base + 10 * GetParam(), fresh).status, 200u);
  EXPECT_EQ((*entry_of(also_bought(x, 100), "items", fresh))["reasons"][0]["evidence"], 2.0);

  const auto x_pairs = also_bought_pairs(also_bought(x, 100));
  const auto fresh_pairs = also_bought_pairs(also_bought(fresh, 100));
  start(); // a restart: the shards load the counts from PostgreSQL
  EXPECT_EQ(also_bought_pairs(also_bought(x, 100)), x_pairs);
  EXPECT_EQ(also_bought_pairs(also_bought(fresh, 100)), fresh_pairs);
}

TEST_P(Widgets, ABatchsBuysTeachAlsoBoughtLiveAsSingleBuysDo) {
  const auto x = column(*db_, "SELECT item_id FROM user_behavior WHERE behavior_type = 'buy' "
                              "GROUP BY item_id HAVING count(DISTINCT user_id) BETWEEN 1 AND 3 "
                              "ORDER BY item_id DESC LIMIT 1")
                   .at(0);
  const std::int64_t fresh = new_item_base + 200 + GetParam();
  // Created through the catalog API, as a shop would: on its shard at once.
  ASSERT_EQ(call("PUT", "/api/items/" + std::to_string(fresh),
                 R"({"title": "batch arrival", "price": 3})")
              .status,
            200u);
  EXPECT_FALSE(has(ids(also_bought(x, 100), "items"), fresh));
  // Two new buyers buy X and then the new item, all in one batch.
  const auto u0 = new_user_base + 100 + 10 * GetParam();
  json events = json::array();
  for (auto u : {u0, u0 + 1})
    for (auto item : {static_cast<std::int64_t>(x), fresh})
      events.push_back({{"user_id", u}, {"item_id", item}, {"behavior_type", "buy"}});
  auto r = call("POST", "/api/behaviors", events.dump());
  ASSERT_EQ(r.status, 200u) << show(r);
  auto page = also_bought(x, 100);
  ASSERT_EQ(page.status, 200u) << show(page);
  const auto* e = entry_of(page, "items", fresh);
  ASSERT_NE(e, nullptr) << "the batch's new item is not in X's also-bought: " << show(page);
  EXPECT_EQ((*e)["reasons"][0]["evidence"], 2.0) << e->dump();
  auto back = also_bought(fresh, 100);
  ASSERT_EQ(back.status, 200u) << show(back);
  EXPECT_EQ(ids(back, "items"), std::vector<std::int64_t>{x}) << show(back);
}

// ---- hidden items --------------------------------------------------------------------------

TEST_P(Widgets, HiddenItemsAreAbsentFromItemPagesAndSessions) {
  const auto x = item_with_neighbours();
  auto sim = similar(x, 10);
  auto also = also_bought(x, 10);
  auto ses = session(json{{"items", json::array({x})}, {"limit", 10}});
  ASSERT_FALSE(ids(sim, "items").empty()) << show(sim);
  ASSERT_FALSE(ids(also, "items").empty()) << show(also);
  ASSERT_FALSE(ids(ses, "recommendations").empty()) << show(ses);
  // Hide the head of each list.
  std::set<std::int64_t> hidden{ids(sim, "items").at(0), ids(also, "items").at(0),
                                ids(ses, "recommendations").at(0)};
  std::string list;
  for (auto h : hidden)
    list += (list.empty() ? "" : ",") + std::to_string(h);
  db_->scalar("UPDATE items SET hidden = true WHERE item_id IN (" + list + ")");
  struct unhide { // the other tests use these items
    std::string list;
    ~unhide() { db_->scalar("UPDATE items SET hidden = false WHERE item_id IN (" + list + ")"); }
  } restore{list};
  start(); // the shards load the catalog's restrictions
  for (const auto& r : {similar(x, 100), also_bought(x, 100)}) {
    ASSERT_EQ(r.status, 200u) << show(r);
    for (auto h : hidden)
      EXPECT_FALSE(has(ids(r, "items"), h)) << "hidden item " << h << " listed: " << show(r);
  }
  auto after = session(json{{"items", json::array({x})}, {"limit", 100}});
  ASSERT_EQ(after.status, 200u) << show(after);
  for (auto h : hidden)
    EXPECT_FALSE(has(ids(after, "recommendations"), h)) << "hidden item " << h << ": " << show(after);
}

// Hidden through PATCH while the server runs: the next answer of every item
// page and session lacks the item, with no restart and no job.
TEST_P(Widgets, AnItemHiddenLiveLeavesItemPagesAndSessionsAtOnce) {
  const auto x = item_with_neighbours();
  auto sim = similar(x, 10);
  auto also = also_bought(x, 10);
  auto ses = session(json{{"items", json::array({x})}, {"limit", 10}});
  ASSERT_FALSE(ids(sim, "items").empty()) << show(sim);
  ASSERT_FALSE(ids(also, "items").empty()) << show(also);
  ASSERT_FALSE(ids(ses, "recommendations").empty()) << show(ses);
  std::set<std::int64_t> hidden{ids(sim, "items").at(0), ids(also, "items").at(0),
                                ids(ses, "recommendations").at(0)};
  struct on_exit { // the other tests use these items: shown again
    std::function<void()> run;
    ~on_exit() { run(); }
  } restore{[&] {
    for (auto h : hidden)
      call("PATCH", "/api/items/" + std::to_string(h), R"({"hidden": false})");
  }};
  for (auto h : hidden) {
    auto r = call("PATCH", "/api/items/" + std::to_string(h), R"({"hidden": true})");
    ASSERT_EQ(r.status, 200u) << show(r);
  }
  const auto runs = count(*db_, "SELECT count(*) FROM job_runs");
  auto sim_after = similar(x, 100);
  auto also_after = also_bought(x, 100);
  auto ses_after = session(json{{"items", json::array({x})}, {"limit", 100}});
  for (const auto& r : {sim_after, also_after})
    ASSERT_EQ(r.status, 200u) << show(r);
  ASSERT_EQ(ses_after.status, 200u) << show(ses_after);
  for (auto h : hidden) {
    EXPECT_FALSE(has(ids(sim_after, "items"), h)) << "hidden " << h << ": " << show(sim_after);
    EXPECT_FALSE(has(ids(also_after, "items"), h)) << "hidden " << h << ": " << show(also_after);
    EXPECT_FALSE(has(ids(ses_after, "recommendations"), h)) << "hidden " << h << ": " << show(ses_after);
  }
  // The hidden item's own page still answers (its history is kept), and the
  // other items stay: hiding took out only what it named.
  EXPECT_FALSE(ids(sim_after, "items").empty()) << show(sim_after);
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM job_runs"), runs) << "no job ran";
  // Shown again by PATCH, an item comes back on its page.
  const auto back = ids(also, "items").at(0);
  ASSERT_EQ(call("PATCH", "/api/items/" + std::to_string(back), R"({"hidden": false})").status, 200u);
  EXPECT_TRUE(has(ids(also_bought(x, 100), "items"), back));
}

// ---- sessions ------------------------------------------------------------------------------

TEST_P(Widgets, ASessionIsAnsweredFromTheVisitorsItemsAndStoresNothing) {
  const auto before = footprint();
  const auto a = item_with_neighbours();
  auto r = session(json{{"items", {{{"item_id", a}, {"behavior_type", "view"}}}}, {"limit", 10}});
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_TRUE(r.json["user_id"].is_null()) << show(r);
  EXPECT_EQ(r.json.value("from_cache", true), false);
  auto recs = ids(r, "recommendations");
  EXPECT_EQ(recs.size(), 10u) << show(r);
  EXPECT_EQ(r.json.value("count", 0u), recs.size());
  EXPECT_FALSE(has(recs, a)) << "a seen item is not recommended back";
  std::size_t because_a = 0, vector = 0;
  for (const auto& e : r.json["recommendations"])
    for (const auto& reason : e["reasons"]) {
      if (reason["route"] == "item_cf") {
        EXPECT_EQ(reason["because_item"], a) << reason.dump();
        because_a += reason["because_item"] == a;
      }
      vector += reason["route"] == "vector";
    }
  EXPECT_GT(because_a, 0u) << show(r);
  EXPECT_GT(vector, 0u) << "the taste vector folded from the item's embedding: " << show(r);

  // Other items, another answer, following them.
  const auto b = column(*db_, "SELECT w.item_id FROM item_weights w WHERE w.item_id <> " +
                                std::to_string(a) + " GROUP BY w.item_id ORDER BY count(*) DESC, "
                                "w.item_id LIMIT 1").at(0);
  auto other = session(json{{"items", json::array({b})}, {"limit", 10}});
  ASSERT_EQ(other.status, 200u) << show(other);
  EXPECT_NE(ids(other, "recommendations"), recs);
  for (const auto& e : other.json["recommendations"])
    for (const auto& reason : e["reasons"]) {
      if (reason["route"] == "item_cf") {
        EXPECT_EQ(reason["because_item"], b) << reason.dump();
      }
    }
  // An empty session gets the popular items.
  auto empty = session(json{{"items", json::array()}, {"limit", 5}});
  ASSERT_EQ(empty.status, 200u) << show(empty);
  EXPECT_EQ(ids(empty, "recommendations").size(), 5u);
  for (const auto& e : empty.json["recommendations"])
    for (const auto& reason : e["reasons"])
      EXPECT_EQ(reason["route"], "popular");
  EXPECT_EQ(footprint(), before) << "a session stores nothing";
}

TEST_P(Widgets, ALoggedInSessionMergesTheUsersHistoryBeforeItsNextBehaviorLands) {
  const auto user = column(*db_, "SELECT user_id FROM user_behavior WHERE behavior_type = 'buy' "
                                 "GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1").at(0);
  const auto history = column(*db_, "SELECT DISTINCT item_id FROM user_behavior WHERE user_id = " +
                                      std::to_string(user));
  // A session item the user never touched.
  const auto item = column(*db_, "SELECT w.item_id FROM item_weights w WHERE w.item_id NOT IN "
                                 "(SELECT item_id FROM user_behavior WHERE user_id = " +
                                   std::to_string(user) + ") GROUP BY w.item_id "
                                   "ORDER BY count(*) DESC, w.item_id LIMIT 1").at(0);
  const auto before = footprint();
  // Without session items, the session is the user's own recommendation.
  auto own = call("GET", "/api/recommend/" + std::to_string(user) + "?limit=30&use_cache=false");
  auto base = session(json{{"user_id", user}, {"items", json::array()}, {"limit", 30}});
  ASSERT_EQ(own.status, 200u) << show(own);
  ASSERT_EQ(base.status, 200u) << show(base);
  EXPECT_EQ(base.json["user_id"], user);
  EXPECT_EQ(ids(base, "recommendations"), ids(own, "recommendations"));
  EXPECT_EQ(ids(base, "recommendations").size(), 30u) << show(base);
  // With the item in the cart now, before any behavior: a changed answer
  // built from the history and that item, neither of them recommended.
  auto r = session(json{{"user_id", user},
                        {"items", {{{"item_id", item}, {"behavior_type", "cart"}}}},
                        {"limit", 30}});
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_EQ(r.json["user_id"], user);
  EXPECT_NE(r.json["recommendations"], base.json["recommendations"])
    << "the session's item changes the answer: " << show(r);
  std::size_t from_history = 0;
  for (const auto& e : r.json["recommendations"]) {
    auto id = e["item_id"].get<std::int64_t>();
    EXPECT_FALSE(has(history, id)) << "item " << id << " is in the user's history";
    EXPECT_NE(id, item) << "the session's item is not recommended back";
    for (const auto& reason : e["reasons"])
      if (reason["route"] == "item_cf") {
        auto because = reason["because_item"].get<std::int64_t>();
        from_history += has(history, because);
        EXPECT_TRUE(because == item || has(history, because)) << reason.dump();
      }
  }
  EXPECT_GT(from_history, 0u) << "the user's history counts: " << show(r);
  EXPECT_EQ(footprint(), before) << "a session stores nothing";
}

TEST_P(Widgets, SessionsRejectBadBodiesWithJsonAndChangeNothing) {
  const auto before = footprint();
  const auto bad = [&](const std::string& body, unsigned status, const std::string& field) {
    SCOPED_TRACE(body);
    auto r = call("POST", "/api/recommend", body);
    expect_json_error(r, status);
    if (!field.empty()) {
      EXPECT_EQ(r.json.value("error", "").rfind(field, 0), 0u) << show(r);
    }
  };
  bad("not json", 400, "");
  bad("[1,2]", 400, "");
  bad("", 400, "");
  bad("{}", 422, "items");
  bad(R"({"items": 5})", 422, "items");
  json many = json::array();
  for (int k = 0; k < 101; ++k)
    many.push_back(k + 1);
  bad(json{{"items", many}}.dump(), 422, "items");
  bad(R"({"items": [{"behavior_type": "view"}]})", 422, "items[0].item_id");
  bad(R"({"items": [1, {"item_id": -4}]})", 422, "items[1].item_id");
  bad(R"({"items": ["7"]})", 422, "items[0]");
  bad(R"({"items": [{"item_id": 1, "behavior_type": "like"}]})", 422, "items[0].behavior_type");
  bad(R"({"items": [{"item_id": 1, "timestamp": "yesterday"}]})", 422, "items[0].timestamp");
  bad(R"({"items": [{"item_id": 1, "timestamp": 99999999999}]})", 422, "items[0].timestamp");
  bad(R"({"items": [1], "user_id": "x"})", 422, "user_id");
  bad(R"({"items": [1], "limit": 0})", 422, "limit");
  bad(R"({"items": [1], "limit": 101})", 422, "limit");
  expect_json_error(call("GET", "/api/recommend"), 405);
  // Unknown items are no error: they add nothing.
  auto unknown = session(json{{"items", json::array({7777777})}, {"limit", 3}});
  EXPECT_EQ(unknown.status, 200u) << show(unknown);
  EXPECT_EQ(ids(unknown, "recommendations").size(), 3u) << show(unknown);
  EXPECT_EQ(footprint(), before);
}

} // namespace
} // namespace recd::test
