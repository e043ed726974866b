// Recommend filters and business rules end to end (docs/rules.md): a real
// `recd serve` over a synthetic shop whose items have categories, labels and
// creation times in PostgreSQL, a private redis-server, and a rules file the
// tests rewrite and reload (POST /admin/rules/reload, `recd admin rules`,
// SIGHUP). Every check goes through HTTP, PostgreSQL or the recd CLI.
//
// One server for the suite; each test writes the rules it needs first, so the
// order of the tests does not matter.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/recd_cli.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int shop_users = 400;
constexpr int shop_items = 120; // ids 1..120: category "c<id % 4>"
const std::string admin_token = "rules-test-token";

using recd::test::show; // a CLI run's

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 600) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

std::vector<std::int64_t> item_ids(const http_reply& r) {
  std::vector<std::int64_t> out;
  if (r.json.is_object() && r.json.contains("recommendations"))
    for (const auto& rec : r.json["recommendations"])
      out.push_back(rec.value("item_id", std::int64_t{-1}));
  return out;
}

// The rule reasons of one recommended item: rule name -> the reason.
std::map<std::string, json> rule_reasons(const json& rec) {
  std::map<std::string, json> out;
  for (const auto& reason : rec.value("reasons", json::array()))
    if (reason.value("route", "") == "rule")
      out[reason.value("rule", "")] = reason;
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path, std::ios::trunc};
  out << text;
}

class Rules : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    try {
      db_ = std::make_unique<test_database>("rules");
      import_small_shop(*db_, shop_users, shop_items, 12000);
      auto c = db_->connect();
      pqxx::work tx{c};
      // Four categories; every tenth item is on promotion, every seventh
      // arrived three days ago (the others a hundred days ago).
      tx.exec0("UPDATE items SET categories = ARRAY['c' || (item_id % 4)::text], "
               "labels = CASE WHEN item_id % 10 = 0 THEN ARRAY['promo'] ELSE '{}'::text[] END, "
               "created_at = now() - CASE WHEN item_id % 7 = 0 THEN interval '3 days' "
               "ELSE interval '100 days' END");
      tx.commit();
      rules_file_ = temp_path("rules.txt");
      write_file(rules_file_, "# no rules yet\n");
      redis_ = std::make_unique<redis_server>();
      server_ = std::make_unique<recd_server>(
        db_->url(), redis_->url(),
        // No watch: each reload these tests see is the one they asked for.
        env_list{{"RECD_RULES_FILE", rules_file_}, {"RECD_ADMIN_TOKEN", admin_token},
                 {"RECD_RULES_WATCH_MS", "0"}});
    } catch (const std::exception& e) {
      setup_error_ = e.what();
      server_.reset();
    }
  }
  static void TearDownTestSuite() {
    server_.reset();
    redis_.reset();
    db_.reset();
    std::remove(rules_file_.c_str());
  }
  void SetUp() override {
    if (!server_)
      GTEST_FAIL() << "suite setup failed: " << setup_error_;
  }

  static http_reply get(const std::string& target) {
    return request("GET", server_->host(), server_->port(), target);
  }
  static http_reply admin(const std::string& method, const std::string& target) {
    return request(method, server_->host(), server_->admin_port(), target, "", "application/json",
                   5s, {{"Authorization", "Bearer " + admin_token}});
  }
  static http_reply recommend(std::int64_t user, const std::string& query) {
    return get("/api/recommend/" + std::to_string(user) + "?" + query);
  }
  // Writes the rules file and reloads it through the admin port.
  static void use_rules(const std::string& text) {
    write_file(rules_file_, text);
    auto r = admin("POST", "/admin/rules/reload");
    ASSERT_EQ(r.status, 200u) << show(r);
  }
  static std::set<std::int64_t> ids_where(const std::string& sql) {
    auto c = db_->connect();
    pqxx::nontransaction tx{c};
    std::set<std::int64_t> out;
    for (const auto& row : tx.exec(sql))
      out.insert(row[0].as<std::int64_t>());
    return out;
  }
  static std::set<std::int64_t> in_category(const std::string& category) {
    return ids_where("SELECT item_id FROM items WHERE '" + category + "' = ANY(categories)");
  }
  static std::int64_t category_of(std::int64_t item) { return item % 4; }
  // The answer once it is served from the cache: the cache write after a
  // computed answer is asynchronous, so this waits for it (10 s at most) and
  // returns the last answer either way.
  static http_reply cached_answer(std::int64_t user, const std::string& query) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    http_reply r;
    do {
      r = recommend(user, query);
      if (r.json.is_object() && r.json.value("from_cache", false))
        break;
      std::this_thread::sleep_for(10ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return r;
  }
  // A user with a long history (most distinct items), the n-th such.
  static std::int64_t busy_user(int n) {
    auto c = db_->connect();
    pqxx::nontransaction tx{c};
    auto rows = tx.exec("SELECT user_id FROM user_behavior GROUP BY user_id "
                        "ORDER BY count(DISTINCT item_id) DESC, user_id LIMIT 10");
    return rows[static_cast<std::size_t>(n)][0].as<std::int64_t>();
  }

  static inline std::unique_ptr<test_database> db_;
  static inline std::unique_ptr<redis_server> redis_;
  static inline std::unique_ptr<recd_server> server_;
  static inline std::string rules_file_;
  static inline std::string setup_error_;
};

// ---- filters ------------------------------------------------------------------------

TEST_F(Rules, TheCategoryFilterAnswersOnlyItemsOfThatCategory) {
  use_rules("");
  const auto user = busy_user(0);
  const auto c1 = in_category("c1");
  ASSERT_EQ(c1.size(), static_cast<std::size_t>(shop_items / 4));
  for (const char* cache : {"false", "true", "true"}) {
    auto r = recommend(user, std::string{"limit=10&category=c1&use_cache="} + cache);
    ASSERT_EQ(r.status, 200u) << show(r);
    auto ids = item_ids(r);
    EXPECT_FALSE(ids.empty()) << show(r);
    for (auto id : ids)
      EXPECT_TRUE(c1.count(id)) << "item " << id << " is not in c1: " << show(r);
    // A filtered answer is never served from (or stored as) the user's cached list.
    EXPECT_FALSE(r.json.value("from_cache", true)) << show(r);
  }
  // The unfiltered list is not the filtered one.
  auto plain = recommend(user, "limit=10&use_cache=true");
  auto plain_ids = item_ids(plain);
  EXPECT_TRUE(std::any_of(plain_ids.begin(), plain_ids.end(),
                          [&](auto id) { return !c1.count(id); }))
    << show(plain);
  auto filtered_after = recommend(user, "limit=10&category=c1&use_cache=true");
  for (auto id : item_ids(filtered_after))
    EXPECT_TRUE(c1.count(id)) << "a cached unfiltered list served a filtered request";
}

TEST_F(Rules, AnAnswerSaysWhenFewerThanLimitItemsQualified) {
  use_rules("");
  auto r = recommend(busy_user(1), "limit=100&category=c2&use_cache=false");
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_LT(r.json["count"].get<int>(), 100);
  EXPECT_EQ(r.json["count"].get<std::size_t>(), item_ids(r).size());
  EXPECT_EQ(r.json["complete"], false) << show(r);
  auto full = recommend(busy_user(1), "limit=5&use_cache=false");
  EXPECT_EQ(full.json["count"], 5);
  EXPECT_EQ(full.json["complete"], true) << show(full);
  auto none = recommend(busy_user(1), "limit=5&category=no-such-category");
  EXPECT_EQ(none.status, 200u);
  EXPECT_EQ(none.json["count"], 0);
  EXPECT_EQ(none.json["complete"], false);
}

TEST_F(Rules, ExcludedItemsAreNeverAnswered) {
  use_rules("");
  const auto user = busy_user(2);
  auto first = item_ids(recommend(user, "limit=10&use_cache=false"));
  ASSERT_GE(first.size(), 5u);
  std::string list = std::to_string(first[0]) + "," + std::to_string(first[2]) + "," +
                     std::to_string(first[4]);
  for (const char* cache : {"false", "true"}) {
    auto r = recommend(user, "limit=10&exclude=" + list + "&use_cache=" + cache);
    ASSERT_EQ(r.status, 200u) << show(r);
    auto ids = item_ids(r);
    EXPECT_EQ(ids.size(), 10u);
    for (auto gone : {first[0], first[2], first[4]})
      EXPECT_EQ(std::count(ids.begin(), ids.end(), gone), 0) << gone << " " << show(r);
    // The rest keep their order.
    EXPECT_EQ(ids[0], first[1]);
    EXPECT_EQ(ids[1], first[3]);
  }
}

TEST_F(Rules, OffsetPagesNeitherRepeatNorSkipItems) {
  use_rules("promo: boost label promo x2\nvariety: diversity 2 per category in top 6\n");
  for (const char* cache : {"false", "true"}) {
    SCOPED_TRACE(std::string{"use_cache="} + cache);
    const auto user = busy_user(3);
    auto whole = item_ids(recommend(user, std::string{"limit=30&use_cache="} + cache));
    ASSERT_EQ(whole.size(), 30u);
    std::vector<std::int64_t> paged;
    for (int offset = 0; offset < 30; offset += 10) {
      auto page = recommend(user, "limit=10&offset=" + std::to_string(offset) + "&use_cache=" + cache);
      ASSERT_EQ(page.status, 200u) << show(page);
      auto ids = item_ids(page);
      paged.insert(paged.end(), ids.begin(), ids.end());
    }
    EXPECT_EQ(paged, whole);
    // The same through a category.
    auto whole_c3 = item_ids(recommend(user, std::string{"limit=12&category=c3"}));
    auto a = item_ids(recommend(user, "limit=6&category=c3"));
    auto b = item_ids(recommend(user, "limit=6&offset=6&category=c3"));
    a.insert(a.end(), b.begin(), b.end());
    EXPECT_EQ(a, whole_c3);
  }
}

TEST_F(Rules, ExcludeSeenOverridesTheSettingPerRequest) {
  use_rules("");
  const auto user = busy_user(0);
  const auto seen = ids_where("SELECT DISTINCT item_id FROM user_behavior WHERE user_id = " +
                              std::to_string(user));
  const auto bought = ids_where(
    "SELECT DISTINCT item_id FROM user_behavior WHERE behavior_type = 'buy' AND user_id = " +
    std::to_string(user));
  ASSERT_GT(seen.size(), bought.size());
  // The default (recommend.exclude_seen = 1) and the explicit choice: nothing seen.
  for (const char* q : {"limit=100", "limit=100&exclude_seen=true"}) {
    auto r = recommend(user, q);
    ASSERT_EQ(r.status, 200u) << show(r);
    for (auto id : item_ids(r))
      EXPECT_FALSE(seen.count(id)) << q << ": seen item " << id;
  }
  // exclude_seen=false: only bought items are left out, so with fewer unseen
  // items than the answer holds, seen items must appear.
  auto r = recommend(user, "limit=100&exclude_seen=false");
  ASSERT_EQ(r.status, 200u) << show(r);
  auto ids = item_ids(r);
  std::size_t seen_shown = 0;
  for (auto id : ids) {
    EXPECT_FALSE(bought.count(id)) << "bought item " << id;
    seen_shown += seen.count(id);
  }
  ASSERT_LT(static_cast<std::size_t>(shop_items) - seen.size(), ids.size())
    << "the user must have seen enough items for this check";
  EXPECT_GT(seen_shown, 0u) << show(r);
}

TEST_F(Rules, BadFilterValuesAre422NamingTheParameter) {
  const std::vector<std::pair<std::string, std::string>> rows = {
    {"category=" + std::string(101, 'x'), "category"},
    {"exclude=1,,2", "exclude"},
    {"exclude=-4", "exclude"},
    {"offset=901", "offset"},
    {"offset=-1", "offset"},
    {"exclude_seen=perhaps", "exclude_seen"},
  };
  for (const auto& [query, field] : rows) {
    auto r = recommend(1, query);
    EXPECT_EQ(r.status, 422u) << query << ": " << show(r);
    ASSERT_TRUE(r.json.is_object()) << show(r);
    EXPECT_EQ(r.json.value("error", "").rfind(field + ": ", 0), 0u) << show(r);
  }
}

// ---- rules --------------------------------------------------------------------------

TEST_F(Rules, AHideRuleReloadedTakesEffectOnTheNextAnswerCachedOrNot) {
  use_rules("");
  const auto user = busy_user(4);
  auto again = cached_answer(user, "limit=40&use_cache=true");
  ASSERT_TRUE(again.json.value("from_cache", false)) << "no cached answer: " << show(again);
  // The hidden category: the cached answer's first item's (the shop's data
  // follow the clock, so which categories a user's list holds varies).
  auto shown = item_ids(again);
  ASSERT_FALSE(shown.empty()) << show(again);
  const auto hidden = category_of(shown.front());

  use_rules("no-c: hide category c" + std::to_string(hidden) + "\n");
  for (int i = 0; i < 2; ++i) {
    // First the entry made under the old rules (never served), then the one
    // made under these rules (served once stored).
    auto r = i == 0 ? recommend(user, "limit=40&use_cache=true")
                    : cached_answer(user, "limit=40&use_cache=true");
    ASSERT_EQ(r.status, 200u) << show(r);
    if (i == 0)
      EXPECT_FALSE(r.json.value("from_cache", true)) << "made under the old rules: " << show(r);
    else
      EXPECT_TRUE(r.json.value("from_cache", false)) << "made under these rules: " << show(r);
    for (auto id : item_ids(r))
      EXPECT_NE(category_of(id), hidden) << "hidden category served: " << show(r);
    EXPECT_EQ(item_ids(r).size(), 40u);
  }
  auto fresh = recommend(user, "limit=40&use_cache=false");
  for (auto id : item_ids(fresh))
    EXPECT_NE(category_of(id), hidden);
}

TEST_F(Rules, HideByLabelBoostByLabelAndByAgeShowTheRuleThatFired) {
  use_rules("sold: hide label promo\n");
  const auto user = busy_user(5);
  for (auto id : item_ids(recommend(user, "limit=50")))
    EXPECT_NE(id % 10, 0) << "a promo item was hidden";

  use_rules("promo: boost label promo x4\nnew: boost new 14 days x3\n");
  auto r = recommend(user, "limit=50&use_cache=false");
  ASSERT_EQ(r.status, 200u) << show(r);
  std::size_t promos = 0, news = 0;
  double previous = 1e300;
  for (const auto& rec : r.json["recommendations"]) {
    auto id = rec["item_id"].get<std::int64_t>();
    auto fired = rule_reasons(rec);
    EXPECT_EQ(fired.count("promo") == 1, id % 10 == 0) << rec.dump();
    EXPECT_EQ(fired.count("new") == 1, id % 7 == 0) << rec.dump();
    if (fired.count("promo")) {
      ++promos;
      EXPECT_EQ(fired["promo"]["kind"], "boost_label");
      EXPECT_EQ(fired["promo"]["factor"], 4);
    }
    if (fired.count("new")) {
      ++news;
      EXPECT_EQ(fired["new"]["kind"], "boost_new");
    }
    auto score = rec["score"].get<double>();
    EXPECT_LE(score, previous) << "boosted scores still rank the answer";
    previous = score;
  }
  EXPECT_GT(promos, 0u) << show(r);
  EXPECT_GT(news, 0u) << show(r);
}

TEST_F(Rules, DiversityKeepsAtMostKItemsPerCategoryInTheTopN) {
  use_rules("variety: diversity 1 per category in top 4\n");
  for (int n = 0; n < 3; ++n) {
    auto r = recommend(busy_user(n), "limit=12");
    ASSERT_EQ(r.status, 200u) << show(r);
    auto ids = item_ids(r);
    ASSERT_GE(ids.size(), 4u);
    std::set<std::int64_t> categories;
    for (std::size_t k = 0; k < 4; ++k)
      categories.insert(category_of(ids[k]));
    EXPECT_EQ(categories.size(), 4u) << show(r);
  }
}

TEST_F(Rules, ABadRulesFileIsRefusedNamingTheLineAndTheOldRulesStay) {
  use_rules("no-c0: hide category c0\n");
  auto before = admin("GET", "/admin/rules");
  ASSERT_EQ(before.status, 200u) << show(before);
  write_file(rules_file_, "ok: hide label x\nbroken line\n");
  auto r = admin("POST", "/admin/rules/reload");
  EXPECT_EQ(r.status, 422u) << show(r);
  EXPECT_NE(r.json.value("error", "").find("line 2"), std::string::npos) << show(r);
  auto after = admin("GET", "/admin/rules");
  EXPECT_EQ(after.json["tag"], before.json["tag"]);
  EXPECT_EQ(after.json["rules"].size(), 1u);
  for (auto id : item_ids(recommend(busy_user(6), "limit=30")))
    EXPECT_NE(category_of(id), 0);
  // The CLI says the same.
  auto env = env_list{{"RECD_ADMIN_TOKEN", admin_token}};
  auto addr = "127.0.0.1:" + std::to_string(server_->admin_port());
  auto refused = run_cli({"admin", "rules", "reload", "--admin", addr}, env);
  EXPECT_EQ(refused.status, 1) << show(refused);
  EXPECT_NE(refused.output.find("line 2"), std::string::npos) << show(refused);
  write_file(rules_file_, "no-c1: hide category c1\n");
  auto reloaded = run_cli({"admin", "rules", "reload", "--admin", addr}, env);
  EXPECT_EQ(reloaded.status, 0) << show(reloaded);
  EXPECT_NE(reloaded.output.find("no-c1: hide category c1"), std::string::npos) << show(reloaded);
  auto shown = run_cli({"admin", "rules", "show", "--admin", addr}, env);
  EXPECT_EQ(shown.status, 0) << show(shown);
  EXPECT_NE(shown.output.find("1 rules from " + rules_file_), std::string::npos) << show(shown);
}

TEST_F(Rules, SighupReloadsTheRules) {
  use_rules("");
  auto before = admin("GET", "/admin/rules");
  write_file(rules_file_, "no-c3: hide category c3\n");
  ::kill(server_->pid(), SIGHUP);
  // Waits on the condition (the reload is asynchronous), bounded.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  http_reply now;
  do {
    now = admin("GET", "/admin/rules");
    if (now.json.is_object() && now.json["tag"] != before.json["tag"])
      break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_NE(now.json["tag"], before.json["tag"]) << show(now);
  for (auto id : item_ids(recommend(busy_user(7), "limit=30")))
    EXPECT_NE(category_of(id), 3);
}

// ---- rules on item pages and sessions ------------------------------------------------

// The three answers that are not a user's list: an item's similar items and
// also-bought, and an anonymous session of that item. Item ids of each.
struct item_paths {
  http_reply similar, also_bought, session;
};

std::vector<std::int64_t> listed(const http_reply& r) {
  std::vector<std::int64_t> out;
  for (const char* list : {"items", "recommendations"})
    if (r.json.is_object() && r.json.contains(list))
      for (const auto& e : r.json[list])
        out.push_back(e.value("item_id", std::int64_t{-1}));
  return out;
}

const json& entries(const http_reply& r) {
  static const json none = json::array();
  for (const char* list : {"items", "recommendations"})
    if (r.json.is_object() && r.json.contains(list))
      return r.json[list];
  return none;
}

TEST_F(Rules, HideRulesHoldOnSimilarAlsoBoughtAndSessions) {
  use_rules("");
  // The item with the most buyers: every path has a list for it.
  const auto x = *ids_where("SELECT item_id FROM user_behavior WHERE behavior_type = 'buy' "
                            "GROUP BY item_id ORDER BY count(DISTINCT user_id) DESC, item_id LIMIT 1")
                    .begin();
  auto paths = [&](int limit) {
    auto n = std::to_string(limit);
    return item_paths{get("/api/items/" + std::to_string(x) + "/similar?limit=" + n),
                      get("/api/items/" + std::to_string(x) + "/also-bought?limit=" + n),
                      request("POST", server_->host(), server_->port(), "/api/recommend",
                              json{{"items", json::array({x})}, {"limit", limit}}.dump())};
  };
  auto before = paths(50);
  // The category of also-bought's head, and whether each list holds one of
  // its items and a promo item: what the rules below must take out.
  ASSERT_FALSE(listed(before.also_bought).empty()) << show(before.also_bought);
  const auto hidden_category = category_of(listed(before.also_bought).at(0));
  std::size_t hit_category = 0, hit_promo = 0;
  for (const auto* r : {&before.similar, &before.also_bought, &before.session}) {
    ASSERT_EQ(r->status, 200u) << show(*r);
    auto ids = listed(*r);
    hit_category += std::any_of(ids.begin(), ids.end(),
                                [&](auto id) { return category_of(id) == hidden_category; });
    hit_promo += std::any_of(ids.begin(), ids.end(), [](auto id) { return id % 10 == 0; });
  }
  ASSERT_EQ(hit_category, 3u) << "every list holds an item of c" << hidden_category;
  ASSERT_GT(hit_promo, 0u) << "some list holds a promo item";

  use_rules("no-c: hide category c" + std::to_string(hidden_category) +
            "\nsold: hide label promo\n");
  auto after = paths(50);
  for (const auto* r : {&after.similar, &after.also_bought, &after.session}) {
    SCOPED_TRACE(show(*r));
    ASSERT_EQ(r->status, 200u);
    EXPECT_FALSE(listed(*r).empty()) << "only the named items leave";
    for (auto id : listed(*r)) {
      EXPECT_NE(category_of(id), hidden_category) << "hidden category listed: " << id;
      EXPECT_NE(id % 10, 0) << "hidden label listed: " << id;
    }
  }
}

TEST_F(Rules, BoostAndDiversityRulesHoldOnSimilarAlsoBoughtAndSessions) {
  const auto heads = ids_where("SELECT item_id FROM user_behavior WHERE behavior_type = 'buy' "
                               "GROUP BY item_id ORDER BY count(DISTINCT user_id) DESC, item_id "
                               "LIMIT 3");
  auto paths = [&](std::int64_t x) {
    return std::vector<http_reply>{
      get("/api/items/" + std::to_string(x) + "/similar?limit=20"),
      get("/api/items/" + std::to_string(x) + "/also-bought?limit=20"),
      request("POST", server_->host(), server_->port(), "/api/recommend",
              json{{"items", json::array({x})}, {"limit", 20}}.dump())};
  };
  // Each listed promo item says the boost fired and carries the boosted
  // score (its routes' sum times the factor); the list ranks by that score.
  use_rules("promo: boost label promo x100\n");
  std::size_t boosted = 0;
  for (auto x : heads)
    for (const auto& r : paths(x)) {
      SCOPED_TRACE(show(r));
      ASSERT_EQ(r.status, 200u);
      double previous = 1e300;
      for (const auto& e : entries(r)) {
        auto id = e["item_id"].get<std::int64_t>();
        auto fired = rule_reasons(e);
        EXPECT_EQ(fired.count("promo") == 1, id % 10 == 0) << e.dump();
        double routes = 0;
        for (const auto& reason : e["reasons"])
          if (reason.value("route", "") != "rule")
            routes += reason.value("score", 0.0);
        const double factor = id % 10 == 0 ? 100 : 1;
        EXPECT_NEAR(e["score"].get<double>(), factor * routes, 1e-6 * factor * routes) << e.dump();
        EXPECT_LE(e["score"].get<double>(), previous) << "ranked by the boosted score";
        previous = e["score"].get<double>();
        if (id % 10 == 0) {
          ++boosted;
          EXPECT_EQ(fired["promo"]["kind"], "boost_label");
          EXPECT_EQ(fired["promo"]["factor"], 100);
        }
      }
    }
  EXPECT_GT(boosted, 0u) << "no promo item was among the candidates of any path";

  use_rules("variety: diversity 1 per category in top 4\n");
  std::size_t moved_somewhere = 0;
  for (auto x : heads)
    for (const auto& r : paths(x)) {
      SCOPED_TRACE(show(r));
      ASSERT_EQ(r.status, 200u);
      // In the top 4 a category repeats only on an item the rule moved down
      // (it says so in its reasons) because too few other items qualified.
      const auto& list = entries(r);
      std::set<std::int64_t> seen;
      for (std::size_t k = 0; k < std::min<std::size_t>(4, list.size()); ++k) {
        auto id = list[k]["item_id"].get<std::int64_t>();
        bool moved = rule_reasons(list[k]).count("variety") == 1;
        if (!seen.insert(category_of(id)).second) {
          EXPECT_TRUE(moved) << "category c" << category_of(id) << " twice in the top 4 at " << id;
        } else {
          EXPECT_FALSE(moved) << "an item moved down needlessly: " << id;
        }
      }
      for (std::size_t k = 4; k < list.size(); ++k) {
        if (rule_reasons(list[k]).count("variety") == 0) {
          EXPECT_EQ(seen.count(category_of(list[k]["item_id"].get<std::int64_t>())), 1u)
            << "an item of a new category left below the top 4: " << list[k].dump();
        }
      }
      moved_somewhere += std::any_of(list.begin(), list.end(),
                                     [](const json& e) { return rule_reasons(e).count("variety"); });
    }
  EXPECT_GT(moved_somewhere, 0u) << "the rule moved no item on any path";
}

// rules.watch_ms: a node that watches its file picks up a rewrite without a
// signal or a request; a bad rewrite is refused once and the rules stay.
TEST_F(Rules, AWatchingNodeReloadsAChangedFileAndRefusesABadOneOnce) {
  const auto file = temp_path("watched_rules.txt");
  write_file(file, "# none yet\n");
  recd_server watching{db_->url(), redis_->url(),
                       env_list{{"RECD_RULES_FILE", file}, {"RECD_ADMIN_TOKEN", admin_token},
                                {"RECD_RULES_WATCH_MS", "100"}}};
  auto rules_of = [&] {
    return request("GET", watching.host(), watching.admin_port(), "/admin/rules", "",
                   "application/json", 5s, {{"Authorization", "Bearer " + admin_token}});
  };
  // Waits (10 s at most) until `done(GET /admin/rules)`; the last answer.
  auto wait_rules = [&](auto done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    http_reply r;
    do {
      r = rules_of();
      if (r.json.is_object() && done(r.json))
        break;
      std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return r;
  };
  const auto first = rules_of();
  ASSERT_EQ(first.status, 200u) << show(first);
  ASSERT_EQ(first.json["rules"].size(), 0u);

  write_file(file, "no-c1: hide category c1\n");
  auto loaded = wait_rules([](const json& j) { return j["rules"].size() == 1; });
  ASSERT_EQ(loaded.json["rules"].size(), 1u) << "not reloaded: " << show(loaded);
  EXPECT_EQ(loaded.json["loads"], first.json["loads"].get<int>() + 1);
  const auto user = busy_user(8);
  auto r = request("GET", watching.host(), watching.port(),
                   "/api/recommend/" + std::to_string(user) + "?limit=30");
  ASSERT_EQ(r.status, 200u) << show(r);
  ASSERT_FALSE(item_ids(r).empty());
  for (auto id : item_ids(r))
    EXPECT_NE(category_of(id), 1) << show(r);

  write_file(file, "no-c1: hide category c1\nbroken line\n");
  auto refused = wait_rules([](const json& j) { return j["refusals"].get<int>() > 0; });
  EXPECT_EQ(refused.json["refusals"], 1) << show(refused);
  std::this_thread::sleep_for(500ms); // five more looks at the same bad file
  auto later = rules_of();
  EXPECT_EQ(later.json["refusals"], 1) << "a bad file is refused once: " << show(later);
  EXPECT_EQ(later.json["tag"], loaded.json["tag"]) << "the old rules stay";

  write_file(file, "no-c2: hide category c2\n");
  auto fixed = wait_rules([](const json& j) {
    return j["rules"].size() == 1 && j["rules"][0]["name"] == "no-c2";
  });
  EXPECT_EQ(fixed.json["rules"][0]["name"], "no-c2") << show(fixed);
  std::remove(file.c_str());
}

TEST_F(Rules, RulesAndReloadNeedTheAdminToken) {
  auto r = request("GET", server_->host(), server_->admin_port(), "/admin/rules");
  EXPECT_EQ(r.status, 401u) << show(r);
  r = request("POST", server_->host(), server_->admin_port(), "/admin/rules/reload");
  EXPECT_EQ(r.status, 401u) << show(r);
  EXPECT_EQ(admin("POST", "/admin/rules").status, 405u);
  EXPECT_EQ(get("/admin/rules").status, 404u) << "never on the public port";
}

} // namespace
} // namespace recd::test
