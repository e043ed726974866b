// New items in the embedding space, end to end, on a real `recd serve` (one
// shard and two), a real PostgreSQL holding a synthetic shop whose jobs
// published embeddings, and a private redis-server: an item created through
// PUT /api/items/{id} has no embedding until the next embeddings run; its
// first behaviors by users with a taste vector fold their tastes into its
// vector (actors/api_fold.cpp), so it joins vector search at once:
//   GET  /api/items/{id}/similar   its vector neighbours, and it among theirs
//   GET  /api/recommend/{user}     the vector route of a user of that taste
// and after a restart its vector is folded again from the published user
// vectors (actors/shard_loader.cpp). Published embeddings never move.
// Every check goes through HTTP or PostgreSQL; no job runs after the setup.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <memory>
#include <sstream>
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

// Ids no synthetic shop uses: the new items and users of these tests.
constexpr std::int64_t new_item_base = 900000;
constexpr std::int64_t new_user_base = 800000;

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 800) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

std::vector<double> parse_array(const std::string& text) {
  std::vector<double> out;
  std::stringstream in{text.size() > 2 ? text.substr(1, text.size() - 2) : ""};
  std::string part;
  while (std::getline(in, part, ','))
    out.push_back(std::stod(part));
  return out;
}

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0, na = 0, nb = 0;
  for (std::size_t k = 0; k < a.size() && k < b.size(); ++k) {
    dot += a[k] * b[k];
    na += a[k] * a[k];
    nb += b[k] * b[k];
  }
  return dot / std::sqrt(na * nb);
}

// The evidence (cosine, for a vector reason) of `item`'s reason of `route` in a list ("items" of an item
// page, "recommendations" of a recommendation); NAN if it has none.
double evidence(const http_reply& r, const char* list, std::int64_t item, const char* route) {
  if (!r.json.is_object() || !r.json.contains(list))
    return NAN;
  for (const auto& e : r.json[list])
    if (e.value("item_id", std::int64_t{-1}) == item)
      for (const auto& reason : e["reasons"])
        if (reason.value("route", "") == route)
          // A recommendation's vector reason names its cosine "similarity".
          return reason.contains("evidence") ? reason.value("evidence", NAN)
                                             : reason.value("similarity", NAN);
  return NAN;
}

// (item, evidence) of every vector reason of an item page.
std::map<std::int64_t, double> vector_neighbours(const http_reply& r) {
  std::map<std::int64_t, double> out;
  if (r.json.is_object() && r.json.contains("items"))
    for (const auto& e : r.json["items"])
      for (const auto& reason : e["reasons"])
        if (reason.value("route", "") == "vector")
          out[e["item_id"].get<std::int64_t>()] = reason["evidence"].get<double>();
  return out;
}

class NewItems : public ::testing::TestWithParam<int> {
protected:
  static void SetUpTestSuite() {
    try {
      db_ = std::make_unique<test_database>("new_items");
      import_small_shop(*db_, 300, 100, 10000, 5);
      auto log = temp_path("compute.log");
      auto cmd = "RECD_POSTGRES_URL=" + shell_quote(db_->url()) + " " +
                 shell_quote(recd_binary()) + " compute >" + shell_quote(log) + " 2>&1";
      int rc = std::system(cmd.c_str());
      std::remove(log.c_str());
      if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 0))
        throw std::runtime_error("recd compute failed with status " + std::to_string(rc));
      if (db_->scalar("SELECT count(*) FROM items WHERE embedding IS NOT NULL") == "0" ||
          db_->scalar("SELECT count(*) FROM users WHERE embedding IS NOT NULL") == "0")
        throw std::runtime_error("recd compute published no embeddings");
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
  http_reply similar(std::int64_t item) const {
    return call("GET", "/api/items/" + std::to_string(item) + "/similar?limit=100");
  }
  void create(std::int64_t item) const {
    auto r = call("PUT", "/api/items/" + std::to_string(item),
                  R"({"title": "new arrival", "price": 12.5})");
    ASSERT_EQ(r.status, 200u) << show(r);
  }
  void buy(std::int64_t user, std::int64_t item) const {
    auto r = call("POST", "/api/behavior",
                  json{{"user_id", user}, {"item_id", item}, {"behavior_type", "buy"}}.dump());
    ASSERT_EQ(r.status, 200u) << show(r);
  }
  // The n-th embedded item of the shop (by id, from the top), per shard count.
  std::int64_t embedded_item(int n) const {
    return std::stoll(db_->scalar(
      "SELECT item_id FROM items WHERE embedding IS NOT NULL AND item_id < " +
      std::to_string(new_item_base) + " ORDER BY item_id DESC LIMIT 1 OFFSET " +
      std::to_string(10 * GetParam() + n)));
  }
  std::int64_t job_runs() const { return std::stoll(db_->scalar("SELECT count(*) FROM job_runs")); }

  static inline std::unique_ptr<test_database> db_;
  static inline std::unique_ptr<redis_server> redis_;
  static inline std::string setup_error_;
  std::unique_ptr<recd_server> server_;
};

INSTANTIATE_TEST_SUITE_P(Shards, NewItems, ::testing::Values(1, 2),
                         [](const auto& info) { return std::to_string(info.param) + "_shards"; });

// A new user buys X (its taste becomes X's embedding), then the new item N:
// N's vector becomes that taste, so X and N are each other's nearest (cosine 1).
TEST_P(NewItems, ANewItemJoinsVectorSearchWithItsFirstBuyBeforeAnyJob) {
  const auto runs = job_runs();
  const auto x = embedded_item(0);
  const std::int64_t fresh = new_item_base + 10 * GetParam();
  create(fresh);
  EXPECT_TRUE(vector_neighbours(similar(fresh)).empty()) << "no vector before any behavior";
  const std::int64_t buyer = new_user_base + 10 * GetParam();
  buy(buyer, x);
  buy(buyer, fresh);

  auto page = similar(fresh);
  ASSERT_EQ(page.status, 200u) << show(page);
  EXPECT_GE(evidence(page, "items", x, "vector"), 0.999)
    << "X is the new item's nearest vector neighbour: " << show(page);
  EXPECT_GE(vector_neighbours(page).size(), 10u) << show(page);
  auto back = similar(x);
  ASSERT_EQ(back.status, 200u) << show(back);
  EXPECT_GE(evidence(back, "items", fresh, "vector"), 0.999)
    << "the new item is among X's vector neighbours: " << show(back);

  // Another user of X's taste gets the new item from the vector route.
  const std::int64_t alike = buyer + 1;
  buy(alike, x);
  auto rec = call("GET", "/api/recommend/" + std::to_string(alike) + "?limit=100&use_cache=false");
  ASSERT_EQ(rec.status, 200u) << show(rec);
  EXPECT_GE(evidence(rec, "recommendations", fresh, "vector"), 0.999) << show(rec);
  EXPECT_EQ(job_runs(), runs) << "no job ran";
}

TEST_P(NewItems, ABatchFoldsANewItemAsSingleBehaviorsDo) {
  const auto x = embedded_item(1);
  const std::int64_t fresh = new_item_base + 10 * GetParam() + 1;
  create(fresh);
  const std::int64_t buyer = new_user_base + 10 * GetParam() + 2;
  json events = json::array();
  for (auto item : {x, fresh})
    events.push_back({{"user_id", buyer}, {"item_id", item}, {"behavior_type", "buy"}});
  auto r = call("POST", "/api/behaviors", events.dump());
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_GE(evidence(similar(fresh), "items", x, "vector"), 0.999);
  auto back = similar(x);
  EXPECT_GE(evidence(back, "items", fresh, "vector"), 0.999) << show(back);
}

// A user with a published taste buys a new item: the item's vector is that
// taste, its nearest published item is the user's (computed here from
// PostgreSQL), and a restart folds it back the same. A buy of a published
// item by a user with a taste moves no published embedding.
TEST_P(NewItems, AFoldedVectorComesBackAfterARestartAndPublishedOnesNeverMove) {
  const auto user = std::stoll(db_->scalar(
    "SELECT user_id FROM users WHERE embedding IS NOT NULL ORDER BY user_id LIMIT 1 OFFSET " +
    std::to_string(GetParam())));
  const auto taste = parse_array(
    db_->scalar("SELECT embedding::text FROM users WHERE user_id = " + std::to_string(user)));
  std::int64_t nearest = -1;
  double best = -2;
  {
    auto c = db_->connect();
    pqxx::nontransaction tx{c};
    for (const auto& row :
         tx.exec("SELECT item_id, embedding::text FROM items WHERE embedding IS NOT NULL"))
      if (double cos = cosine(taste, parse_array(row[1].c_str())); cos > best) {
        best = cos;
        nearest = row[0].as<std::int64_t>();
      }
  }
  ASSERT_GE(nearest, 0);
  const std::int64_t fresh = new_item_base + 10 * GetParam() + 3;
  create(fresh);
  buy(user, fresh);
  auto page = similar(fresh);
  ASSERT_EQ(page.status, 200u) << show(page);
  EXPECT_NEAR(evidence(page, "items", nearest, "vector"), best, 1e-4)
    << "the item nearest to the buyer's taste, at its cosine: " << show(page);
  const auto folded = vector_neighbours(page);
  ASSERT_FALSE(folded.empty());

  // A published item bought by a user with a taste keeps its embedding.
  const auto published = embedded_item(2);
  const auto before = vector_neighbours(similar(published));
  ASSERT_FALSE(before.empty());
  const std::int64_t buyer = new_user_base + 10 * GetParam() + 4;
  buy(buyer, embedded_item(3));
  buy(buyer, published);
  const auto after = vector_neighbours(similar(published));
  std::size_t compared = 0;
  for (const auto& [item, cos] : after)
    if (auto it = before.find(item); it != before.end()) {
      EXPECT_NEAR(cos, it->second, 1e-6) << "item " << item;
      ++compared;
    }
  EXPECT_GE(2 * compared, before.size()) << "mostly the same vector neighbours";

  start(); // a restart: the item's vector is folded again from the published tastes
  const auto again = vector_neighbours(similar(fresh));
  ASSERT_EQ(again.size(), folded.size());
  for (const auto& [item, cos] : folded) {
    ASSERT_TRUE(again.count(item)) << "item " << item << " is no longer a vector neighbour";
    EXPECT_NEAR(again.at(item), cos, 1e-5) << "item " << item;
  }
}

// The shard's loader thread runs below the priority of the threads that
// serve and compute (actors/shard_loader.cpp, loader_nice): once the server
// has loaded its partitions, some thread of it has nice 10 and the others 0.
TEST_P(NewItems, TheLoaderThreadRunsAtALowerPriority) {
  std::map<int, int> threads_by_nice;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(server_->pid()) + "/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command's closing parenthesis: state is field 3, nice field 19.
    auto rest = stat.substr(stat.rfind(')') + 2);
    std::istringstream fields(rest);
    std::string field;
    for (int k = 3; k <= 19 && fields >> field; ++k)
      if (k == 19)
        ++threads_by_nice[std::stoi(field)];
  }
  EXPECT_GE(threads_by_nice[10], GetParam()) << "one loader per shard";
  EXPECT_GE(threads_by_nice[0], 4) << "the serving threads keep their priority";
  EXPECT_EQ(threads_by_nice[0] + threads_by_nice[10],
            std::accumulate(threads_by_nice.begin(), threads_by_nice.end(), 0,
                            [](int sum, const auto& kv) { return sum + kv.second; }));
}

} // namespace
} // namespace recd::test
