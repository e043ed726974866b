// The catalog routes of `recd serve` end to end (nodes/gateway_catalog.cpp):
// a real server process, PostgreSQL holding a small synthetic shop, a
// private Redis. Every check goes through HTTP, PostgreSQL or Redis.
//   * contract: each route with good and bad input; a 4xx has a JSON body and
//     changes nothing in the database;
//   * a hidden or unavailable item leaves every answer at once, cached ones included;
//   * erasure: after DELETE /api/users/N no table, shard answer, Redis entry
//     or later job run holds N.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int shop_users = 300;  // user ids 1..300
constexpr int shop_items = 80;   // item ids 1..80
constexpr long shop_events = 6000;

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 600) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

std::int64_t count(const test_database& db, const std::string& sql) {
  auto s = db.scalar(sql);
  return s.empty() ? 0 : std::stoll(s);
}

std::vector<std::int64_t> item_ids(const http_reply& r) {
  std::vector<std::int64_t> out;
  if (r.json.is_object() && r.json.contains("recommendations"))
    for (const auto& rec : r.json["recommendations"])
      out.push_back(rec.value("item_id", std::int64_t{-1}));
  return out;
}

bool contains(const std::vector<std::int64_t>& v, std::int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

bool from_cache(const http_reply& r) {
  return r.json.is_object() && r.json.value("from_cache", false);
}

// `$RECD_BINARY compute --jobs JOBS` on `db`; throws on failure.
void run_compute(const test_database& db, const std::string& jobs) {
  auto log = temp_path("compute.log");
  auto cmd = "RECD_POSTGRES_URL=" + shell_quote(db.url()) + " " + shell_quote(recd_binary()) +
             " compute --jobs " + jobs + " >" + shell_quote(log) + " 2>&1";
  int rc = std::system(cmd.c_str());
  if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 0))
    throw std::runtime_error("recd compute failed, see " + log);
  std::remove(log.c_str());
}

// A whole item row as text: what "nothing changed" compares.
std::string item_row(const test_database& db, int item) {
  return db.scalar("SELECT row(title, price, categories, category_id, labels, hidden, "
                   "available_from, available_until, catalog_epoch)::text FROM items WHERE item_id = " +
                   std::to_string(item));
}

class Catalog : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    db_ = new test_database("catalog");
    import_small_shop(*db_, shop_users, shop_items, shop_events, 11);
    run_compute(*db_, "user_neighbours,item_weights,embeddings");
    redis_ = new redis_server();
    server_ = new recd_server(db_->url(), redis_->url());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete redis_;
    delete db_;
  }

  static http_reply call(const std::string& method, const std::string& target,
                         const std::string& body = "") {
    return request(method, server_->host(), server_->port(), target, body);
  }
  static http_reply recommend(int user, bool use_cache, int limit = 20) {
    return call("GET", "/api/recommend/" + std::to_string(user) + "?limit=" +
                         std::to_string(limit) + "&use_cache=" + (use_cache ? "true" : "false"));
  }
  // A 4xx with a JSON error body.
  static void expect_client_error(const http_reply& r, unsigned status) {
    EXPECT_EQ(r.status, status) << show(r);
    ASSERT_TRUE(r.json.is_object()) << show(r);
    EXPECT_TRUE(r.json.contains("error")) << show(r);
  }

  static test_database* db_;
  static redis_server* redis_;
  static recd_server* server_;
};

test_database* Catalog::db_ = nullptr;
redis_server* Catalog::redis_ = nullptr;
recd_server* Catalog::server_ = nullptr;

TEST_F(Catalog, put_creates_and_replaces_an_item_and_get_shows_it) {
  auto r = call("PUT", "/api/items/5001",
                R"({"title":"Trail shoe","categories":["shoes",42],"price":59.9,)"
                R"("labels":["new","outdoor"],"available_from":1000,"available_until":"2999-01-01T00:00:00Z"})");
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_EQ(r.json["title"], "Trail shoe");
  EXPECT_EQ(r.json["categories"], json::array({"shoes", "42"}));
  EXPECT_EQ(r.json["labels"], json::array({"new", "outdoor"}));
  EXPECT_EQ(r.json["available_from"], 1000);
  EXPECT_EQ(r.json["available_until"], 32472144000);
  EXPECT_FALSE(r.json["hidden"].get<bool>());
  EXPECT_GT(r.json["catalog_epoch"].get<std::int64_t>(), 0);
  // The seed's category_id follows the first numeric category.
  EXPECT_EQ(db_->scalar("SELECT category_id FROM items WHERE item_id = 5001"), "42");
  auto got = call("GET", "/api/items/5001");
  ASSERT_EQ(got.status, 200u) << show(got);
  EXPECT_EQ(got.json, r.json);
  // Replace: fields not given go back to their defaults.
  auto replaced = call("PUT", "/api/items/5001", R"({"title":"Trail shoe 2"})");
  ASSERT_EQ(replaced.status, 200u) << show(replaced);
  EXPECT_EQ(replaced.json["categories"], json::array());
  EXPECT_TRUE(replaced.json["available_from"].is_null());
  EXPECT_GT(replaced.json["catalog_epoch"].get<std::int64_t>(),
            r.json["catalog_epoch"].get<std::int64_t>());
  EXPECT_EQ(db_->scalar("SELECT coalesce(category_id::text, 'null') FROM items WHERE item_id = 5001"),
            "null");
}

TEST_F(Catalog, bad_item_writes_are_4xx_json_and_change_nothing) {
  ASSERT_EQ(call("PUT", "/api/items/5002", R"({"title":"Lamp","categories":["home"],"price":10})").status,
            200u);
  const auto before = item_row(*db_, 5002);
  const auto items_before = count(*db_, "SELECT count(*) FROM items");
  const std::vector<std::pair<std::string, unsigned>> bad_puts{
    {"{not json", 400},
    {R"([1,2])", 422},
    {R"({"price":3})", 422},                                    // title required
    {R"({"title":"x","colour":"red"})", 422},                   // unknown field
    {R"({"title":5})", 422},
    {R"({"title":"x","price":-1})", 422},
    {R"({"title":"x","price":"3"})", 422},
    {R"({"title":"x","categories":"home"})", 422},
    {R"({"title":"x","categories":[""]})", 422},
    {R"({"title":"x","labels":["a","a"]})", 422},
    {R"({"title":"x","labels":["tab\there"]})", 422},
    {R"({"title":"x","labels":[1]})", 422},
    {R"({"title":"x","hidden":"yes"})", 422},
    {R"({"title":"x","available_from":2000,"available_until":1000})", 422},
    {R"({"title":"x","available_from":-5})", 422},
    {R"({"title":"x","available_from":"soon"})", 422},
    {R"({"title":"x","item_id":5003})", 422},                   // differs from the path
  };
  for (const auto& [body, status] : bad_puts) {
    SCOPED_TRACE(body);
    expect_client_error(call("PUT", "/api/items/5002", body), status);
  }
  std::string many_labels = R"({"title":"x","labels":[)";
  for (int i = 0; i < 65; ++i)
    many_labels += (i ? ",\"l" : "\"l") + std::to_string(i) + "\"";
  expect_client_error(call("PUT", "/api/items/5002", many_labels + "]}"), 422);
  expect_client_error(call("PUT", "/api/items/5002", R"({"title":")" + std::string(1001, 't') + "\"}"),
                      422);
  expect_client_error(call("PUT", "/api/items/-1", R"({"title":"x"})"), 422);
  expect_client_error(call("PUT", "/api/items/99999999999", R"({"title":"x"})"), 422);
  expect_client_error(call("PUT", "/api/items/abc", R"({"title":"x"})"), 422);
  // PATCH: an empty change, a bad field, an unknown item, a window inverted
  // against the stored end.
  expect_client_error(call("PATCH", "/api/items/5002", "{}"), 422);
  expect_client_error(call("PATCH", "/api/items/5002", R"({"price":"free"})"), 422);
  expect_client_error(call("PATCH", "/api/items/777777", R"({"price":1})"), 404);
  ASSERT_EQ(call("PATCH", "/api/items/5002", R"({"available_until":5000})").status, 200u);
  const auto with_until = item_row(*db_, 5002);
  expect_client_error(call("PATCH", "/api/items/5002", R"({"available_from":6000})"), 422);
  EXPECT_EQ(item_row(*db_, 5002), with_until);
  // Unknown items and methods.
  expect_client_error(call("GET", "/api/items/777777"), 404);
  expect_client_error(call("DELETE", "/api/items/777777"), 404);
  expect_client_error(call("POST", "/api/items/5002", R"({"title":"x"})"), 405);
  expect_client_error(call("GET", "/api/items"), 405);
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM items"), items_before);
  EXPECT_NE(before, ""); // the row existed throughout
}

TEST_F(Catalog, patch_changes_only_the_fields_given) {
  ASSERT_EQ(call("PUT", "/api/items/5004",
                 R"({"title":"Mug","categories":["kitchen"],"price":7.5,"labels":["gift"]})")
              .status,
            200u);
  auto r = call("PATCH", "/api/items/5004", R"({"price":6.25,"labels":[]})");
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_EQ(r.json["title"], "Mug");
  EXPECT_EQ(r.json["categories"], json::array({"kitchen"}));
  EXPECT_DOUBLE_EQ(r.json["price"].get<double>(), 6.25);
  EXPECT_EQ(r.json["labels"], json::array());
}

TEST_F(Catalog, a_batch_is_all_or_nothing_and_names_the_bad_element) {
  const auto items_before = count(*db_, "SELECT count(*) FROM items");
  auto bad = call("POST", "/api/items",
                  R"([{"item_id":6001,"title":"a"},{"item_id":6002,"title":"b"},)"
                  R"({"item_id":6003,"title":"c","price":-2}])");
  expect_client_error(bad, 422);
  EXPECT_NE(bad.json.value("error", "").find("items[2]"), std::string::npos) << show(bad);
  auto repeated = call("POST", "/api/items",
                       R"([{"item_id":6001,"title":"a"},{"item_id":6001,"title":"b"}])");
  expect_client_error(repeated, 422);
  EXPECT_NE(repeated.json.value("error", "").find("items[1]"), std::string::npos);
  expect_client_error(call("POST", "/api/items", R"([{"title":"no id"}])"), 422);
  expect_client_error(call("POST", "/api/items", "[]"), 422);
  expect_client_error(call("POST", "/api/items", R"({"item_id":1,"title":"x"})"), 422);
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM items"), items_before);
  auto good = call("POST", "/api/items",
                   R"([{"item_id":6001,"title":"a","categories":["x"]},{"item_id":6002,"title":"b"}])");
  ASSERT_EQ(good.status, 200u) << show(good);
  EXPECT_EQ(good.json["count"], 2);
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM items WHERE item_id IN (6001, 6002)"), 2);
}

TEST_F(Catalog, a_msgpack_batch_is_stored_like_its_json_form_and_a_bad_one_stores_nothing) {
  // Encoded with msgpack-c, as a shop's client would: an array of item maps.
  auto encode = [](const std::vector<std::pair<int, std::string>>& items, double price) {
    msgpack::sbuffer out;
    msgpack::packer<msgpack::sbuffer> pk(&out);
    pk.pack_array(static_cast<std::uint32_t>(items.size()));
    for (const auto& [id, title] : items) {
      pk.pack_map(4);
      pk.pack(std::string{"item_id"});
      pk.pack(id);
      pk.pack(std::string{"title"});
      pk.pack(title);
      pk.pack(std::string{"categories"});
      pk.pack(std::vector<std::string>{"garden"});
      pk.pack(std::string{"price"});
      pk.pack(price);
    }
    return std::string{out.data(), out.size()};
  };
  auto send = [](const std::string& body) {
    return request("POST", server_->host(), server_->port(), "/api/items", body,
                   "application/x-msgpack");
  };
  const auto items_before = count(*db_, "SELECT count(*) FROM items");
  expect_client_error(send(encode({{6101, "rake"}, {6102, "hoe"}}, -1.0)), 422);
  expect_client_error(send("\x92\x01"), 400); // an array of two, truncated
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM items"), items_before);
  auto good = send(encode({{6101, "rake"}, {6102, "hoe"}}, 12.5));
  ASSERT_EQ(good.status, 200u) << show(good);
  EXPECT_EQ(good.json["count"], 2);
  auto got = call("GET", "/api/items/6102");
  ASSERT_EQ(got.status, 200u) << show(got);
  EXPECT_EQ(got.json["title"], "hoe");
  EXPECT_EQ(got.json["categories"], json::array({"garden"}));
  EXPECT_EQ(got.json["price"], 12.5);
}

TEST_F(Catalog, user_routes_store_labels_and_refuse_bad_input) {
  auto r = call("PUT", "/api/users/9001", R"({"labels":["vip","de"]})");
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_EQ(r.json["labels"], json::array({"vip", "de"}));
  auto got = call("GET", "/api/users/9001");
  ASSERT_EQ(got.status, 200u) << show(got);
  EXPECT_EQ(got.json["labels"], json::array({"vip", "de"}));
  EXPECT_EQ(got.json["behaviors"], 0);
  const auto before = db_->scalar("SELECT labels::text FROM users WHERE user_id = 9001");
  expect_client_error(call("PUT", "/api/users/9001", R"({"labels":"vip"})"), 422);
  expect_client_error(call("PUT", "/api/users/9001", R"({"tags":["x"]})"), 422);
  expect_client_error(call("PUT", "/api/users/9001", "{}"), 422);
  expect_client_error(call("PUT", "/api/users/9001", "nope"), 400);
  expect_client_error(call("PUT", "/api/users/x1", R"({"labels":[]})"), 422);
  expect_client_error(call("GET", "/api/users/888888"), 404);
  expect_client_error(call("POST", "/api/users/9001", R"({"labels":[]})"), 405);
  EXPECT_EQ(db_->scalar("SELECT labels::text FROM users WHERE user_id = 9001"), before);
}

TEST_F(Catalog, a_hidden_item_leaves_every_answer_cached_or_not_at_once) {
  // Two users whose cached answers hold the same item.
  const int a = 3, b = 4;
  auto first = recommend(a, true);
  ASSERT_EQ(first.status, 200u) << show(first);
  auto ids_b = item_ids(recommend(b, true));
  std::int64_t target = -1;
  for (auto id : item_ids(first))
    if (contains(ids_b, id)) {
      target = id;
      break;
    }
  ASSERT_GE(target, 0) << "users 3 and 4 share no recommended item";
  // Both answers are cached now (the cache write follows the answer).
  bool cached = false;
  for (int i = 0; i < 50 && !cached; ++i) {
    cached = from_cache(recommend(a, true)) && from_cache(recommend(b, true));
    if (!cached)
      std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(cached);
  auto hidden = call("DELETE", "/api/items/" + std::to_string(target));
  ASSERT_EQ(hidden.status, 200u) << show(hidden);
  EXPECT_TRUE(hidden.json["hidden"].get<bool>());
  for (int user : {a, b}) {
    auto again = recommend(user, true);
    ASSERT_EQ(again.status, 200u) << show(again);
    EXPECT_FALSE(contains(item_ids(again), target)) << "user " << user << ": " << show(again);
    EXPECT_FALSE(from_cache(again)) << "an answer cached before the change was served";
    EXPECT_FALSE(contains(item_ids(recommend(user, false)), target));
    EXPECT_FALSE(contains(item_ids(recommend(user, true)), target)); // the new cached answer
  }
  // Its history is kept.
  EXPECT_GT(count(*db_, "SELECT count(*) FROM user_behavior WHERE item_id = " + std::to_string(target)),
            0);
  // An availability window that ended hides an item as well.
  auto next = item_ids(recommend(a, true));
  ASSERT_FALSE(next.empty());
  auto expired = call("PATCH", "/api/items/" + std::to_string(next.front()),
                      R"({"available_until":"2001-01-01T00:00:00Z"})");
  ASSERT_EQ(expired.status, 200u) << show(expired);
  EXPECT_FALSE(contains(item_ids(recommend(a, true)), next.front()));
  // Shown again once it is servable.
  ASSERT_EQ(call("PATCH", "/api/items/" + std::to_string(target), R"({"hidden":false})").status, 200u);
  ASSERT_EQ(call("PATCH", "/api/items/" + std::to_string(next.front()), R"({"available_until":null})")
              .status,
            200u);
}

TEST_F(Catalog, a_new_item_is_recommended_to_a_user_of_its_category_within_one_request) {
  // A user with under 100 distinct items (the shard's top categories count
  // the newest 100) and its strongest category.
  // Its strongest category must be strictly ahead of its second (no tie to break).
  auto row = db_->scalar(
    "WITH per AS (SELECT b.user_id, c, count(DISTINCT b.item_id) AS n FROM user_behavior b "
    "JOIN items i ON i.item_id = b.item_id CROSS JOIN LATERAL unnest(i.categories) c "
    "WHERE b.user_id IN (SELECT user_id FROM user_behavior GROUP BY user_id "
    "HAVING count(DISTINCT item_id) BETWEEN 5 AND 60) GROUP BY b.user_id, c), "
    "ranked AS (SELECT user_id, c, n, rank() OVER (PARTITION BY user_id ORDER BY n DESC) AS rk, "
    "count(*) OVER (PARTITION BY user_id, n) AS ties FROM per) "
    "SELECT user_id || ' ' || c FROM ranked WHERE rk = 1 AND ties = 1 ORDER BY n DESC, user_id LIMIT 1");
  ASSERT_FALSE(row.empty());
  const int user = std::stoi(row.substr(0, row.find(' ')));
  const auto category = row.substr(row.find(' ') + 1);
  // A cached answer exists before the item does.
  ASSERT_EQ(recommend(user, true, 100).status, 200u);
  auto put = call("PUT", "/api/items/8001",
                  R"({"title":"Brand new","categories":[")" + category + R"("],"price":12})");
  ASSERT_EQ(put.status, 200u) << show(put);
  auto r = recommend(user, true, 100);
  ASSERT_EQ(r.status, 200u) << show(r);
  ASSERT_TRUE(contains(item_ids(r), 8001)) << "category " << category << ": " << show(r);
  for (const auto& rec : r.json["recommendations"])
    if (rec["item_id"] == 8001) {
      EXPECT_EQ(rec["title"], "Brand new");
      ASSERT_FALSE(rec["reasons"].empty());
      EXPECT_EQ(rec["reasons"][0]["route"], "category") << rec.dump();
      EXPECT_EQ(rec["reasons"][0]["category"], category) << rec.dump();
    }
  // Hidden again: gone from the next answer.
  ASSERT_EQ(call("DELETE", "/api/items/8001").status, 200u);
  EXPECT_FALSE(contains(item_ids(recommend(user, true, 100)), 8001));
}

TEST_F(Catalog, an_erased_user_is_in_no_table_shard_cache_or_later_job) {
  // A user with behaviors and neighbour rows on both sides.
  const auto n = count(*db_, "SELECT user_id FROM user_neighbours GROUP BY user_id "
                             "ORDER BY count(*) DESC, user_id LIMIT 1");
  ASSERT_GT(n, 0);
  const auto N = std::to_string(n);
  ASSERT_GT(count(*db_, "SELECT count(*) FROM user_neighbours WHERE similar_user_id = " + N), 0);
  ASSERT_GT(count(*db_, "SELECT count(*) FROM user_behavior WHERE user_id = " + N), 0);
  // A user who has N as a similar user; its cached answer may name N.
  const auto m = count(*db_, "SELECT user_id FROM user_neighbours WHERE similar_user_id = " + N +
                               " ORDER BY similarity_score DESC LIMIT 1");
  ASSERT_EQ(recommend(static_cast<int>(n), true).status, 200u);
  ASSERT_EQ(recommend(static_cast<int>(m), true).status, 200u);
  auto erased = call("DELETE", "/api/users/" + N);
  ASSERT_EQ(erased.status, 200u) << show(erased);
  EXPECT_TRUE(erased.json["erased"].get<bool>());
  // Tables.
  for (const char* sql :
       {"SELECT count(*) FROM user_behavior WHERE user_id = ",
        "SELECT count(*) FROM user_neighbours WHERE user_id = ",
        "SELECT count(*) FROM user_neighbours WHERE similar_user_id = ",
        "SELECT count(*) FROM user_similarity WHERE user_id = ",
        "SELECT count(*) FROM user_similarity WHERE similar_user_id = ",
        "SELECT count(*) FROM users WHERE user_id = "})
    EXPECT_EQ(count(*db_, sql + N), 0) << sql << N;
  // Redis: no entry of N, no entry naming N.
  auto keys = redis_->command({"KEYS", "*"});
  ASSERT_TRUE(keys);
  for (const auto& key : keys->elements) {
    EXPECT_NE(key, "recommend:" + N);
    auto value = redis_->command({"GET", key});
    if (value && !value->nil) {
      EXPECT_EQ(value->text.find("\"because_user\":" + N + ","), std::string::npos) << key;
    }
  }
  EXPECT_FALSE(redis_->command({"EXISTS", "recommend:" + N})->text == "1");
  // Shards: N is a stranger (popular items only), and no answer names it.
  auto fresh = recommend(static_cast<int>(n), false);
  ASSERT_EQ(fresh.status, 200u) << show(fresh);
  for (const auto& rec : fresh.json["recommendations"])
    for (const auto& reason : rec["reasons"])
      EXPECT_EQ(reason["route"], "popular") << show(fresh);
  for (bool use_cache : {true, false}) {
    auto other = recommend(static_cast<int>(m), use_cache);
    ASSERT_EQ(other.status, 200u);
    EXPECT_EQ(other.body.find("\"because_user\":" + N + ","), std::string::npos) << show(other);
  }
  expect_client_error(call("GET", "/api/users/" + N), 404);
  // A later job run does not bring N back.
  run_compute(*db_, "user_neighbours,user_similarity,embeddings");
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_neighbours WHERE user_id = " + N +
                          " OR similar_user_id = " + N),
            0);
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM users WHERE user_id = " + N), 0);
  // Erasing again is idempotent.
  EXPECT_EQ(call("DELETE", "/api/users/" + N).status, 200u);
  expect_client_error(call("DELETE", "/api/users/-3"), 422);
}

} // namespace
} // namespace recd::test
