// `recd eval` end to end: the real binary imports a generated shop's train
// split into a fresh PostgreSQL database, runs the jobs, asks the serving
// actors, and reports. The generated shop has planted structure (users buy
// mostly in their 1-3 preferred categories), so a recommender that ignores
// the data (random) or only follows the crowd (popular) must lose clearly.

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using recd::test::test_database;

struct outcome {
  int status = -1;
  std::string out, err, cmd;
};

std::string show(const outcome& o) {
  return "command: " + o.cmd + "\nexit status: " + std::to_string(o.status) + "\nstderr:\n" +
         o.err + "\nstdout:\n" + o.out;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return q + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string scratch(const std::string& name) {
  static std::atomic<int> n{0};
  return (fs::temp_directory_path() /
          ("recd_eval_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + "_" + name))
    .string();
}

// Runs `recd <args...>` against `url`; captures stdout and stderr.
outcome run_recd(const std::string& url, const std::vector<std::string>& args) {
  const char* binary = std::getenv("RECD_BINARY");
  if (binary == nullptr || *binary == '\0')
    throw std::runtime_error("RECD_BINARY is not set: run the tests through ctest or scripts/test");
  auto out_file = scratch("out"), err_file = scratch("err");
  outcome o;
  o.cmd = "RECD_POSTGRES_URL=" + quote(url) + " " + quote(binary);
  for (const auto& a : args)
    o.cmd += " " + quote(a);
  int st = std::system((o.cmd + " </dev/null >" + quote(out_file) + " 2>" + quote(err_file)).c_str());
  if (st != -1 && WIFEXITED(st))
    o.status = WEXITSTATUS(st);
  o.out = slurp(out_file);
  o.err = slurp(err_file);
  fs::remove(out_file);
  fs::remove(err_file);
  return o;
}

// A shop small enough for a test, with enough events per user to split.
// The eval runs the settings as given; the one set here (a recall deadline no
// busy test machine misses, so no answer is degraded) must show in the report.
const std::string deadline = "cluster.shard_timeout_ms=10000";
const std::vector<std::string> shop_args{"eval", "synthetic", "--users", "400", "--items", "300",
                                         "--events", "40000", "--shop-seed", "5", "--set", deadline};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

const json& model(const json& report, const std::string& name) {
  for (const auto& m : report["models"])
    if (m["name"] == name)
      return m;
  throw std::runtime_error("no model " + name + " in the report");
}

double figure(const json& report, const std::string& name, const std::string& metric, int k = 10) {
  return model(report, name)["at"][std::to_string(k)][metric].get<double>();
}

TEST(EvalCommand, OnAPlantedShopRecdBeatsPopularAndRandomByAClearMargin) {
  test_database db{"eval_planted"};
  auto json_file = scratch("report.json"), html_file = scratch("report.html"),
       recs_file = scratch("recs.txt");
  auto o = run_recd(db.url(), with(shop_args, {"--seed", "1", "--json", json_file, "--report",
                                               html_file, "--export-recs", recs_file}));
  ASSERT_EQ(o.status, 0) << show(o);
  auto report = json::parse(slurp(json_file));
  EXPECT_EQ(report["degraded"].get<int>(), 0) << show(o);
  EXPECT_EQ(report["changed_settings"], json::array({deadline})) << show(o);
  EXPECT_NE(o.out.find("settings: the defaults except " + deadline), std::string::npos) << show(o);
  auto recd = figure(report, "recd", "ndcg"), popular = figure(report, "popular", "ndcg"),
       random = figure(report, "random", "ndcg");
  EXPECT_GT(recd, 1.2 * popular) << show(o);
  EXPECT_GT(recd, 3 * random) << show(o);
  EXPECT_GT(figure(report, "recd", "precision"), 1.2 * figure(report, "popular", "precision"))
    << show(o);
  // The terminal table shows every model at both cutoffs.
  for (const auto* name : {"recd", "popular", "item_knn_jaccard", "item_knn_cosine",
                           "user_knn_cosine", "random", "(k = 10)", "(k = 20)"})
    EXPECT_NE(o.out.find(name), std::string::npos) << name << "\n" << show(o);
  // Route shares of the served lists add up to one.
  double share = 0;
  for (const auto& [route, s] : model(report, "recd")["at"]["10"]["route_share"].items())
    share += s.get<double>();
  EXPECT_NEAR(share, 1.0, 1e-9);
  // The export: "user item rank" lines, ranks 1..20 per user, no train item twice.
  std::ifstream recs{recs_file};
  std::set<std::pair<int, int>> seen;
  int user = 0, item = 0, rank = 0, lines = 0;
  while (recs >> user >> item >> rank) {
    ++lines;
    EXPECT_GE(rank, 1);
    EXPECT_LE(rank, 20);
    EXPECT_TRUE(seen.emplace(user, item).second) << user << " " << item;
  }
  EXPECT_GT(lines, report["test_users"].get<int>() * 10);
  // The HTML page draws inline SVG and fetches nothing.
  auto html = slurp(html_file);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  for (const auto& f : {json_file, html_file, recs_file})
    fs::remove(f);
}

TEST(EvalCommand, BaselineFiguresAreIdenticalAcrossRunsWithTheSameSeed) {
  // The first run writes a file, the second JSON alone on stdout.
  json reports[2];
  for (int run : {0, 1}) {
    test_database db{"eval_stable"};
    auto json_file = scratch("stable.json");
    auto o = run_recd(db.url(), with(shop_args, {"--seed", "7", "--split", "temporal",
                                                 "--leave-last", "2", "--json",
                                                 run == 0 ? json_file : "-"}));
    ASSERT_EQ(o.status, 0) << show(o);
    reports[run] = json::parse(run == 0 ? slurp(json_file) : o.out);
    fs::remove(json_file);
  }
  for (const auto* name : {"popular", "item_knn_jaccard", "item_knn_cosine", "user_knn_cosine", "random"})
    EXPECT_EQ(model(reports[0], name)["at"], model(reports[1], name)["at"]) << name;
  EXPECT_EQ(reports[0]["test_users"], reports[1]["test_users"]);
}

// "user item rank" lines -> user -> items in rank order.
std::map<int, std::vector<int>> read_lists(const std::string& path) {
  std::map<int, std::vector<int>> lists;
  std::ifstream in{path};
  int user = 0, item = 0, rank = 0;
  while (in >> user >> item >> rank)
    lists[user].push_back(item);
  return lists;
}

TEST(EvalCommand, APlainImportComputeServeOfItsTrainPartServesTheListsItScored) {
  // What the eval scores is what a user of the same settings gets: its train
  // part, imported again with `recd import csv` into another database,
  // computed with plain `recd compute` and served by `recd serve`, gives
  // through GET /api/recommend?limit=50 (train items dropped) the same lists.
  test_database eval_db{"eval_same_a"}, plain_db{"eval_same_b"};
  auto train_file = scratch("train.csv"), recs_file = scratch("recs.txt");
  auto o = run_recd(eval_db.url(), with(shop_args, {"--seed", "2", "--no-baselines",
                                                    "--export-train", train_file,
                                                    "--export-recs", recs_file}));
  ASSERT_EQ(o.status, 0) << show(o);
  auto eval_lists = read_lists(recs_file);
  ASSERT_GE(eval_lists.size(), 300u) << show(o);
  std::map<int, std::set<int>> train;
  {
    std::ifstream in{train_file};
    std::string line;
    while (std::getline(in, line)) {
      std::stringstream ss{line};
      std::string user, item;
      std::getline(ss, user, ',');
      std::getline(ss, item, ',');
      train[std::stoi(user)].insert(std::stoi(item));
    }
  }
  // test_database hands out migrated databases (the eval's too, with the same
  // partition count), so the plain flow starts at the import.
  for (const auto& args : std::vector<std::vector<std::string>>{
         {"import", "csv", train_file}, {"compute"}}) {
    auto step = run_recd(plain_db.url(), args);
    ASSERT_EQ(step.status, 0) << show(step);
  }
  recd::test::redis_server redis;
  recd::test::recd_server server{plain_db.url(), redis.url(),
                                 {{"RECD_CLUSTER_SHARD_TIMEOUT_MS", "10000"}}};
  std::size_t same = 0;
  for (const auto& [user, expected] : eval_lists) {
    auto r = recd::test::request("GET", server.host(), server.port(),
                                 "/api/recommend/" + std::to_string(user) +
                                   "?limit=50&use_cache=false",
                                 "", "application/json", std::chrono::seconds{30});
    ASSERT_EQ(r.status, 200u) << r.body;
    std::vector<int> served;
    for (const auto& rec : r.json["recommendations"]) {
      auto item = rec["item_id"].get<int>();
      if (served.size() < 20 && train[user].count(item) == 0)
        served.push_back(item);
    }
    EXPECT_EQ(served, expected) << "user " << user;
    same += served == expected;
  }
  std::printf("[   info   ] %zu of %zu users got the eval's list\n", same, eval_lists.size());
  for (const auto& f : {train_file, recs_file})
    fs::remove(f);
}

// user -> item -> the pair's behaviors ("kind" per event, sorted), from a
// file --export-train wrote.
std::map<int, std::map<int, std::vector<std::string>>> read_pairs(const std::string& path) {
  std::map<int, std::map<int, std::vector<std::string>>> pairs;
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream ss{line};
    std::string user, item, kind;
    std::getline(ss, user, ',');
    std::getline(ss, item, ',');
    std::getline(ss, kind, ',');
    pairs[std::stoi(user)][std::stoi(item)].push_back(kind);
  }
  for (auto& [user, items] : pairs)
    for (auto& [item, kinds] : items)
      std::sort(kinds.begin(), kinds.end());
  return pairs;
}

TEST(EvalCommand, AValidationRunLearnsOnPartOfTheTrainPartAndScoresTheRestOfIt) {
  // --validation S splits the train part of the same split again (random,
  // seed S): the jobs learn on the inner part only, the held-out train pairs
  // are the scored ones, and no test pair of the outer split is read.
  test_database outer_db{"eval_outer"}, inner_db{"eval_inner"};
  auto outer_file = scratch("outer.csv"), inner_file = scratch("inner.csv"),
       recs_file = scratch("inner_recs.txt"), json_file = scratch("inner.json");
  auto o = run_recd(outer_db.url(), with(shop_args, {"--seed", "3", "--no-baselines",
                                                     "--export-train", outer_file}));
  ASSERT_EQ(o.status, 0) << show(o);
  o = run_recd(inner_db.url(), with(shop_args, {"--seed", "3", "--validation", "11", "--no-baselines",
                                                "--export-train", inner_file, "--export-recs", recs_file,
                                                "--json", json_file}));
  ASSERT_EQ(o.status, 0) << show(o);
  auto outer = read_pairs(outer_file), inner = read_pairs(inner_file);
  auto report = json::parse(slurp(json_file));
  EXPECT_NE(report["split"].get<std::string>().find("validation"), std::string::npos) << report["split"];
  // Every inner pair is an outer train pair with all of its events; per user
  // the inner part keeps round(0.75 n) of the n outer pairs (at least one).
  std::size_t held_out_users = 0, outer_pairs = 0, inner_pairs = 0;
  for (const auto& [user, items] : outer) {
    auto n = items.size();
    auto keep = std::clamp<std::size_t>(static_cast<std::size_t>(std::llround(0.75 * double(n))), 1, n);
    auto it = inner.find(user);
    ASSERT_NE(it, inner.end()) << "user " << user << " lost every train pair";
    EXPECT_EQ(it->second.size(), keep) << "user " << user;
    for (const auto& [item, kinds] : it->second) {
      auto same = items.find(item);
      ASSERT_NE(same, items.end()) << "user " << user << " item " << item << " is not an outer train pair";
      EXPECT_EQ(kinds, same->second) << "user " << user << " item " << item;
    }
    held_out_users += keep < n;
    outer_pairs += n;
    inner_pairs += it->second.size();
  }
  EXPECT_EQ(inner.size(), outer.size());
  EXPECT_EQ(report["test_users"].get<std::size_t>(), held_out_users);
  EXPECT_LT(inner_pairs, outer_pairs);
  // The scored lists never hold an inner train item.
  auto lists = read_lists(recs_file);
  EXPECT_EQ(lists.size(), held_out_users);
  for (const auto& [user, list] : lists)
    for (auto item : list)
      EXPECT_EQ(inner[user].count(item), 0u) << "user " << user << " item " << item;
  for (const auto& f : {outer_file, inner_file, recs_file, json_file})
    fs::remove(f);
}

TEST(EvalCommand, RefusesADatabaseThatAlreadyHoldsBehaviors) {
  test_database db{"eval_busy"};
  auto o = run_recd(db.url(), {"import", "synthetic", "--users", "20", "--items", "10", "--events", "100"});
  ASSERT_EQ(o.status, 0) << show(o);
  o = run_recd(db.url(), shop_args);
  EXPECT_NE(o.status, 0) << show(o);
  EXPECT_NE(o.err.find("empty database"), std::string::npos) << show(o);
}

TEST(EvalCommand, BadInputGetsAOneLineReasonAndANonZeroExit) {
  test_database db{"eval_bad"};
  for (const auto& args : std::vector<std::vector<std::string>>{
         with(shop_args, {"--ratio", "1.5"}),
         with(shop_args, {"--split", "sideways"}),
         with(shop_args, {"--validation", "0"}),
         {"eval", "movielens", "/nonexistent/dir"},
         {"eval"}}) {
    auto o = run_recd(db.url(), args);
    EXPECT_NE(o.status, 0) << show(o);
    EXPECT_EQ(o.err.rfind("recd: ", 0), 0u) << show(o);
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << show(o);
  }
}

} // namespace
