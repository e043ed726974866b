// Operating recd (issue "recd operate", part A) against a real `recd serve
// --role all` on a real PostgreSQL and Redis: /metrics behind the admin token
// in the Prometheus text format with figures that follow the traffic, the
// Grafana dashboard naming only exported metrics, the operator commands
// (recd admin jobs|run-job|drain|cache flush|check) through the admin port,
// X-Request-Id on every response, and the log formats.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "protocol/version.hpp"
#include "support/exposition.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string admin_token = "operate-test-admin-token";

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 600) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

http_reply call(std::uint16_t port, const std::string& method, const std::string& target,
                const header_list& headers = {}) {
  return request(method, "127.0.0.1", port, target, "", "application/json", 10s, headers);
}

http_reply admin_call(const recd_server& s, const std::string& method, const std::string& target) {
  return call(s.admin_port(), method, target, {{"Authorization", "Bearer " + admin_token}});
}

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- the fixture ------------------------------------------------------------------

class Operate : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    db_ = std::make_unique<test_database>("operate");
    import_small_shop(*db_, 300, 60, 4000);
    redis_ = std::make_unique<redis_server>();
    // Published runs, so that the job figures have something to show.
    auto compute = run_recd({"compute"});
    ASSERT_EQ(compute.first, 0) << compute.second;
  }
  static void TearDownTestSuite() {
    redis_.reset();
    db_.reset();
  }
  // `base` with `extra` added; a variable in both takes extra's value.
  static env_list merged(env_list base, const env_list& extra) {
    for (const auto& [k, v] : extra) {
      auto it = std::find_if(base.begin(), base.end(), [&](const auto& e) { return e.first == k; });
      if (it != base.end())
        it->second = v;
      else
        base.emplace_back(k, v);
    }
    return base;
  }
  static env_list base_env() {
    return {{"RECD_POSTGRES_URL", db_->url()},
            {"RECD_REDIS_URL", redis_->url()},
            {"RECD_ADMIN_TOKEN", admin_token}};
  }
  static std::unique_ptr<recd_server> serve(const env_list& extra = {}) {
    return std::make_unique<recd_server>(db_->url(), redis_->url(), merged(base_env(), extra));
  }
  // Runs `recd ARGS...` to its end; (exit status, stdout + stderr).
  static std::pair<int, std::string> run_recd(const std::vector<std::string>& args,
                                              const env_list& extra = {}) {
    auto env = merged(base_env(), extra);
    std::vector<std::string> argv{recd_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto log = temp_path("cli.log");
    int status = -1;
    {
      child_process p{argv, env, log};
      auto st = p.wait_for(120s);
      status = st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
    }
    auto out = slurp(log);
    std::remove(log.c_str());
    return {status, out};
  }
  static std::pair<int, std::string> admin_cli(const recd_server& s, std::vector<std::string> args) {
    args.insert(args.begin(), "admin");
    args.push_back("--admin");
    args.push_back("127.0.0.1:" + std::to_string(s.admin_port()));
    return run_recd(args);
  }
  static scrape scrape_metrics(const recd_server& s) {
    auto r = admin_call(s, "GET", "/metrics");
    EXPECT_EQ(r.status, 200u) << show(r);
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    return parse_exposition(r.body);
  }
  static inline std::unique_ptr<test_database> db_;
  static inline std::unique_ptr<redis_server> redis_;
};

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

// The format reader the tests rely on is not blind: each broken scrape is caught.
TEST(ExpositionReader, FindsEveryKindOfBrokenScrape) {
  const std::string good =
    "# HELP a_total a counter\n# TYPE a_total counter\na_total{x=\"q\\\"\\n\"} 3\n"
    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n";
  auto ok = parse_exposition(good);
  EXPECT_TRUE(ok.problems.empty()) << ok.problems.front();
  EXPECT_EQ(ok.value("a_total", {{"x", "q\"\n"}}), 3);
  for (const std::string& bad : {
         std::string{"b 1\n"},                                            // no TYPE
         std::string{"# TYPE b counter\nb 1\n"},                          // counter not *_total
         std::string{"# TYPE g gauge\ng{x=\"1\"} 1\ng{x=\"1\"} 2\n"},     // duplicate series
         std::string{"# TYPE g gauge\ng{x=\"a\\q\"} 1\n"},                // bad escape
         std::string{"# TYPE g gauge\ng 1x\n"},                            // bad value
         std::string{"# TYPE g gauge\n# TYPE k gauge\ng 1\nk 1\ng{y=\"2\"} 1\n"}, // interleaved
         std::string{"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n"},
         std::string{"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 2\n"}})
    EXPECT_FALSE(parse_exposition(bad).problems.empty()) << bad;
}

TEST_F(Operate, MetricsNeedTheAdminTokenAndAreNeverOnThePublicPort) {
  auto server = serve();
  ASSERT_NE(server->admin_port(), 0) << server->log_tail();
  EXPECT_EQ(call(server->admin_port(), "GET", "/metrics").status, 401u);
  EXPECT_EQ(call(server->admin_port(), "GET", "/metrics", {{"Authorization", "Bearer wrong"}}).status,
            401u);
  EXPECT_EQ(call(server->port(), "GET", "/metrics").status, 404u);
  EXPECT_EQ(admin_call(*server, "POST", "/metrics").status, 405u);
}

TEST_F(Operate, MetricsFollowTheTrafficInTheTextFormat) {
  auto server = serve();
  // Traffic: recommendations (the second for user 5 from a cache), a
  // behavior, a client error.
  for (int user : {5, 5, 7, 9})
    ASSERT_EQ(call(server->port(), "GET", "/api/recommend/" + std::to_string(user) + "?limit=5").status,
              200u);
  ASSERT_EQ(call(server->port(), "POST", "/api/behavior?user_id=5&item_id=3&behavior_type=click").status,
            200u);
  ASSERT_EQ(call(server->port(), "GET", "/api/recommend/abc").status, 422u);

  auto m = scrape_metrics(*server);
  EXPECT_TRUE(m.problems.empty()) << joined(m.problems);
  EXPECT_EQ(m.value("recd_http_requests_total", {{"endpoint", "/api/recommend"}, {"status", "200"}}), 4);
  EXPECT_EQ(m.value("recd_http_requests_total", {{"endpoint", "/api/recommend"}, {"status", "422"}}), 1);
  EXPECT_EQ(m.value("recd_http_requests_total", {{"endpoint", "/api/behavior"}, {"status", "200"}}), 1);
  EXPECT_EQ(m.value("recd_http_request_duration_seconds_count", {{"endpoint", "/api/recommend"}}), 5);
  EXPECT_EQ(m.value("recd_recommend_requests_total"), 4);
  EXPECT_EQ(m.value("recd_behavior_requests_total"), 1);
  // The second answer for user 5 came from the HTTP thread (its shard runs
  // in this process and vouched for it: actors/local_answers.hpp), no other layer.
  EXPECT_EQ(m.value("recd_recommend_cache_hits_total", {{"layer", "local"}}), 1);
  EXPECT_EQ(m.value("recd_recommend_cache_hits_total", {{"layer", "near"}}) +
              m.value("recd_recommend_cache_hits_total", {{"layer", "redis"}}),
            0);
  EXPECT_GE(m.value("recd_behavior_batch_size_count"), 1);
  EXPECT_EQ(m.value("recd_behavior_queue_depth"), 0);
  EXPECT_EQ(m.value("recd_node_info", {{"role", "all"}}), 1);
  // The binary runs with the malloc its build chose (CMakeLists.txt, RECD_ALLOCATOR).
  EXPECT_EQ(m.value("recd_build_info", {{"version", RECD_VERSION_OF_BUILD},
                                        {"wire", std::to_string(wire_version())},
                                        {"allocator", RECD_ALLOCATOR_OF_BUILD}}),
            1);
  // Every served item counted once per route that proposed it.
  double routes = 0;
  for (const char* r : {"user_cf", "item_cf", "vector", "popular", "category"})
    routes += m.value("recd_recommend_route_items_total", {{"route", r}});
  EXPECT_GE(routes, m.value("recd_recommend_items_total"));
  EXPECT_GT(m.value("recd_recommend_items_total"), 0);
  // The shards hold the whole shop (2 local shards): their users add up to
  // what PostgreSQL has.
  const auto users = std::stod(db_->scalar(
    "SELECT count(*) FROM (SELECT user_id FROM user_behavior UNION SELECT user_id FROM user_similarity) u"));
  EXPECT_EQ(m.value("recd_shard_users", {{"shard", "0"}}) + m.value("recd_shard_users", {{"shard", "1"}}),
            users);
  EXPECT_GT(m.value("recd_shard_memory_bytes", {{"shard", "0"}, {"structure", "history"}}), 0);
  EXPECT_GE(m.value("recd_shard_recall_duration_seconds_count", {{"shard", "0"}}), 3);
  // The coordinator's view.
  EXPECT_EQ(m.value("recd_cluster_ready"), 1);
  EXPECT_EQ(m.value("recd_cluster_live_shards"), 2);
  EXPECT_EQ(m.value("recd_cluster_partitions"), 16);
  EXPECT_EQ(m.value("recd_db_up"), 1);
  EXPECT_EQ(m.value("recd_db_items"), std::stod(db_->scalar("SELECT count(*) FROM items")));
  EXPECT_EQ(m.value("recd_job_last_status", {{"kind", "item_similarity"}, {"status", "published"}}), 1);
  EXPECT_GE(m.value("recd_job_runs", {{"kind", "embeddings"}, {"status", "published"}}), 1);
  EXPECT_GT(m.value("recd_job_last_finished_timestamp_seconds", {{"kind", "embeddings"}}), 1.7e9);
}

TEST_F(Operate, WithApiKeysTheRequestsOfEachKeyAreCountedByName) {
  auto keys = temp_path("api-keys");
  {
    std::ofstream out{keys};
    out << "shop-web:key-one-4f1d9a\npartner:key-two-77b0c2\n";
  }
  auto server = serve({{"RECD_HTTP_API_KEYS_FILE", keys}});
  for (const char* key : {"key-one-4f1d9a", "key-one-4f1d9a", "key-two-77b0c2"})
    ASSERT_EQ(call(server->port(), "GET", "/api/recommend/8", {{"X-Api-Key", key}}).status, 200u);
  EXPECT_EQ(call(server->port(), "GET", "/api/recommend/8").status, 401u);
  auto r = admin_call(*server, "GET", "/metrics");
  auto m = parse_exposition(r.body);
  EXPECT_TRUE(m.problems.empty()) << joined(m.problems);
  EXPECT_EQ(m.value("recd_api_key_requests_total", {{"key", "shop-web"}}), 2);
  EXPECT_EQ(m.value("recd_api_key_requests_total", {{"key", "partner"}}), 1);
  EXPECT_EQ(r.body.find("key-one-4f1d9a"), std::string::npos) << "a key in /metrics";
  EXPECT_EQ(m.value("recd_http_requests_total", {{"endpoint", "/api/recommend"}, {"status", "401"}}), 1);
  std::remove(keys.c_str());
}

TEST_F(Operate, TheGrafanaDashboardUsesOnlyMetricsTheNodeExports) {
  const char* root = std::getenv("RECD_SOURCE_DIR");
  ASSERT_NE(root, nullptr);
  auto dashboard = json::parse(slurp(std::string{root} + "/deploy/grafana/recd.json"), nullptr, false);
  ASSERT_TRUE(dashboard.is_object()) << "deploy/grafana/recd.json is not JSON";
  auto server = serve();
  ASSERT_EQ(call(server->port(), "GET", "/api/recommend/1").status, 200u);
  auto m = scrape_metrics(*server);
  ASSERT_TRUE(m.problems.empty()) << joined(m.problems);

  std::vector<std::string> exprs;
  std::function<void(const json&)> walk = [&](const json& j) {
    if (j.is_object()) {
      for (const auto& [k, v] : j.items()) {
        if (k == "expr" && v.is_string())
          exprs.push_back(v.get<std::string>());
        else
          walk(v);
      }
    } else if (j.is_array()) {
      for (const auto& v : j)
        walk(v);
    }
  };
  walk(dashboard);
  ASSERT_GE(exprs.size(), 10u) << "the dashboard lost its queries";
  static const std::regex metric{"\\b(?:recd|process)_[a-z0-9_]+"};
  std::set<std::string> named;
  for (const auto& e : exprs) {
    std::size_t found = 0;
    for (std::sregex_iterator it{e.begin(), e.end(), metric}, end; it != end; ++it, ++found)
      named.insert(it->str());
    EXPECT_GT(found, 0u) << "a query that names no recd metric: " << e;
  }
  for (const auto& name : named)
    EXPECT_TRUE(m.has_family(family_of(name, m.types)))
      << "the dashboard queries " << name << ", which the node does not export";
}

TEST_F(Operate, EveryResponseCarriesARequestIdAndAFailureIsLoggedOnceWithIt) {
  auto server = serve();
  auto fresh = call(server->port(), "GET", "/healthz");
  EXPECT_EQ(header_of(fresh, "x-request-id").size(), 16u) << show(fresh);
  auto other = call(server->port(), "GET", "/healthz");
  EXPECT_NE(header_of(other, "x-request-id"), header_of(fresh, "x-request-id"));
  // A client's own id is kept if it is plain, replaced if not.
  auto kept = call(server->port(), "GET", "/api/recommend/2", {{"X-Request-Id", "shop-7f3a.9_x"}});
  EXPECT_EQ(header_of(kept, "x-request-id"), "shop-7f3a.9_x");
  auto replaced = call(server->port(), "GET", "/healthz", {{"X-Request-Id", "a b;c"}});
  EXPECT_EQ(header_of(replaced, "x-request-id").size(), 16u);
  EXPECT_EQ(header_of(call(server->admin_port(), "GET", "/metrics"), "x-request-id").size(), 16u);

  // A server-side failure: the behavior's table is gone for a moment.
  db_->scalar("ALTER TABLE user_behavior RENAME TO user_behavior_hidden");
  auto failed = call(server->port(), "POST", "/api/behavior?user_id=1&item_id=1&behavior_type=view",
                     {{"X-Request-Id", "failing-request-1"}});
  db_->scalar("ALTER TABLE user_behavior_hidden RENAME TO user_behavior");
  EXPECT_EQ(failed.status, 503u) << show(failed);
  EXPECT_EQ(header_of(failed, "x-request-id"), "failing-request-1");
  auto log = server->log_tail(1 << 20);
  std::size_t lines = 0;
  std::istringstream in{log};
  for (std::string line; std::getline(in, line);)
    if (line.find("failing-request-1") != std::string::npos) {
      ++lines;
      EXPECT_NE(line.find("POST /api/behavior failed: 503"), std::string::npos) << line;
      EXPECT_NE(line.find("database"), std::string::npos) << line;
    }
  EXPECT_EQ(lines, 1u) << log;
  // Every line of the (text) log is one event: "<UTC time> <level> <message>".
  static const std::regex event{
    "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z (trace|debug|info|warning|error|critical) .+"};
  std::istringstream all{log};
  for (std::string line; std::getline(all, line);)
    EXPECT_TRUE(std::regex_match(line, event)) << "not one event per line: " << line;
  auto m = scrape_metrics(*server);
  EXPECT_EQ(m.value("recd_http_requests_total", {{"endpoint", "/api/behavior"}, {"status", "503"}}), 1);
  EXPECT_EQ(m.value("recd_behavior_failed_batches_total"), 1);
}

TEST_F(Operate, JsonLogsAreOneObjectPerLine) {
  auto server = serve({{"RECD_LOG_FORMAT", "json"}});
  ASSERT_NE(server->admin_port(), 0) << server->log_tail();
  ASSERT_EQ(call(server->port(), "GET", "/api/recommend/3").status, 200u);
  server->stop();
  std::istringstream in{slurp(server->log_path())};
  std::size_t objects = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not a JSON object: " << line;
    EXPECT_TRUE(j["ts"].is_string() && j["level"].is_string() && j["msg"].is_string()) << line;
    EXPECT_EQ(j["ts"].get<std::string>().size(), 24u) << line; // 2026-11-27T05:20:01.666Z
    ++objects;
  }
  EXPECT_GE(objects, 3u);
  // A bad log.format is refused with the setting named.
  auto bad = run_recd({"config"}, {{"RECD_LOG_FORMAT", "xml"}});
  EXPECT_NE(bad.first, 0);
  EXPECT_NE(bad.second.find("log.format"), std::string::npos) << bad.second;
}

TEST_F(Operate, AdminJobsListsRunsAndRunJobStartsOne) {
  auto server = serve();
  auto before = std::stoll(db_->scalar("SELECT count(*) FROM job_runs WHERE kind = 'user_similarity'"));
  auto run = admin_cli(*server, {"run-job", "user_similarity"});
  ASSERT_EQ(run.first, 0) << run.second;
  EXPECT_NE(run.second.find("user_similarity run"), std::string::npos) << run.second;
  // It ran (or runs): job_runs has it, and `recd admin jobs` shows it once published.
  for (int i = 0; i < 600; ++i) {
    if (db_->scalar("SELECT count(*) FROM job_runs WHERE kind = 'user_similarity' AND status = "
                    "'published'") == std::to_string(before + 1))
      break;
    std::this_thread::sleep_for(50ms);
  }
  auto jobs = admin_cli(*server, {"jobs", "--json"});
  ASSERT_EQ(jobs.first, 0) << jobs.second;
  auto j = json::parse(jobs.second, nullptr, false);
  ASSERT_TRUE(j.is_object()) << jobs.second;
  ASSERT_FALSE(j["runs"].empty());
  EXPECT_EQ(j["runs"][0]["kind"], "user_similarity") << jobs.second;
  EXPECT_EQ(j["runs"][0]["status"], "published") << jobs.second;
  EXPECT_EQ(j["counts"]["user_similarity"]["published"], before + 1) << jobs.second;
  auto table = admin_cli(*server, {"jobs"});
  EXPECT_EQ(table.first, 0);
  EXPECT_NE(table.second.find("running: none"), std::string::npos) << table.second;
  // Bad input: a kind the CLI does not know, an unknown one over HTTP.
  EXPECT_NE(admin_cli(*server, {"run-job", "everything"}).first, 0);
  auto bad = admin_call(*server, "POST", "/admin/jobs?kind=everything");
  EXPECT_EQ(bad.status, 400u) << show(bad);
  // Without the token the CLI says so and fails.
  auto untokened = run_recd({"admin", "jobs", "--admin", "127.0.0.1:" + std::to_string(server->admin_port())},
                            {{"RECD_ADMIN_TOKEN", ""}});
  EXPECT_NE(untokened.first, 0);
}

// An answer another node cached in Redis is served by an API actor once its
// version is checked with the user's shard; from then on this node's HTTP
// threads serve it without a message (actors/local_answers.hpp).
TEST_F(Operate, AnAnswerCachedByAnotherNodeIsServedLocallyOnceChecked) {
  const int user = 21;
  const std::string key = "recommend:" + std::to_string(user);
  ASSERT_TRUE(redis_->command({"DEL", key}));
  std::string first_items;
  {
    auto other = serve();
    auto first = call(other->port(), "GET", "/api/recommend/" + std::to_string(user));
    ASSERT_EQ(first.status, 200u) << show(first);
    EXPECT_EQ(first.json.value("from_cache", true), false) << show(first);
    first_items = first.json["recommendations"].dump();
    bool stored = false; // the Redis write follows the answer
    for (int i = 0; i < 100 && !stored; ++i) {
      auto r = redis_->command({"EXISTS", key});
      stored = r && r->text == "1";
      if (!stored)
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    ASSERT_TRUE(stored) << key << " was not written within 1 s";
  }
  auto server = serve();
  auto from_redis = call(server->port(), "GET", "/api/recommend/" + std::to_string(user));
  EXPECT_EQ(from_redis.json.value("from_cache", false), true) << show(from_redis);
  auto again = call(server->port(), "GET", "/api/recommend/" + std::to_string(user));
  EXPECT_EQ(again.json.value("from_cache", false), true) << show(again);
  EXPECT_EQ(again.json["recommendations"].dump(), first_items);
  auto m = scrape_metrics(*server);
  EXPECT_EQ(m.value("recd_recommend_cache_hits_total", {{"layer", "redis"}}), 1);
  EXPECT_EQ(m.value("recd_recommend_cache_hits_total", {{"layer", "local"}}), 1);
}

TEST_F(Operate, CacheFlushForgetsCachedAnswersInRedis) {
  auto server = serve();
  for (int user : {11, 12})
    ASSERT_EQ(call(server->port(), "GET", "/api/recommend/" + std::to_string(user)).status, 200u);
  auto exists = [&](int user) {
    auto r = redis_->command({"EXISTS", "recommend:" + std::to_string(user)});
    return r && r->text == "1";
  };
  ASSERT_TRUE(exists(11) && exists(12));
  auto one = admin_cli(*server, {"cache", "flush", "11"});
  ASSERT_EQ(one.first, 0) << one.second;
  EXPECT_FALSE(exists(11));
  EXPECT_TRUE(exists(12));
  // The next answer for 11 is computed again, not served from the near cache.
  auto again = call(server->port(), "GET", "/api/recommend/11");
  EXPECT_EQ(again.json.value("from_cache", true), false) << show(again);
  auto all = admin_cli(*server, {"cache", "flush"});
  ASSERT_EQ(all.first, 0) << all.second;
  EXPECT_FALSE(exists(11));
  EXPECT_FALSE(exists(12));
  EXPECT_NE(all.second.find("Redis keys deleted"), std::string::npos) << all.second;
  // Nor is 12's (which no shard change invalidated): every in-process copy went too.
  auto after_all = call(server->port(), "GET", "/api/recommend/12");
  EXPECT_EQ(after_all.json.value("from_cache", true), false) << show(after_all);
  EXPECT_EQ(admin_call(*server, "POST", "/admin/cache/flush?user=-3").status, 400u);
  EXPECT_EQ(admin_call(*server, "POST", "/admin/cache/flush?user=x").status, 400u);
}

TEST_F(Operate, CheckComparesTheShardsWithPostgresAndDrainEmptiesAShard) {
  auto server = serve();
  auto same = admin_cli(*server, {"check"});
  EXPECT_EQ(same.first, 0) << same.second;
  EXPECT_NE(same.second.find("shard local-0: 8 partitions"), std::string::npos) << same.second;
  EXPECT_NE(same.second.find("matches PostgreSQL"), std::string::npos) << same.second;
  // A row written behind recd's back (not through the API): the shard that
  // should hold that user does not, and check says so.
  db_->scalar("INSERT INTO users (user_id) VALUES (900001) ON CONFLICT DO NOTHING");
  db_->scalar("INSERT INTO user_behavior (user_id, item_id, behavior_type) "
              "SELECT 900001, min(item_id), 'view' FROM items");
  auto differs = admin_cli(*server, {"check"});
  EXPECT_EQ(differs.first, 1) << differs.second;
  EXPECT_NE(differs.second.find("DIFFERS"), std::string::npos) << differs.second;
  EXPECT_NE(differs.second.find("in memory"), std::string::npos) << differs.second;
  db_->scalar("DELETE FROM user_behavior WHERE user_id = 900001");
  db_->scalar("DELETE FROM users WHERE user_id = 900001");

  // Drain: local-1's partitions move to local-0; answers keep coming.
  auto drained = admin_cli(*server, {"drain", "local-1", "--wait", "60"});
  ASSERT_EQ(drained.first, 0) << drained.second << server->log_tail();
  auto map = admin_call(*server, "GET", "/admin/cluster");
  ASSERT_EQ(map.status, 200u) << show(map);
  for (const auto& s : map.json["shards"])
    if (s["name"] == "local-1") {
      EXPECT_TRUE(s["partitions"].empty()) << map.body;
      EXPECT_TRUE(s["leaving"].get<bool>()) << map.body;
    } else {
      EXPECT_EQ(s["partitions"].size(), 16u) << map.body;
    }
  EXPECT_EQ(call(server->port(), "GET", "/api/recommend/4").status, 200u);
  auto after = admin_cli(*server, {"check"});
  EXPECT_EQ(after.first, 0) << after.second;
  EXPECT_NE(after.second.find("shard local-0: 16 partitions"), std::string::npos) << after.second;
  // Nothing left to take a last shard's partitions; unknown names.
  EXPECT_EQ(admin_call(*server, "POST", "/admin/drain?shard=local-0").status, 409u);
  EXPECT_EQ(admin_call(*server, "POST", "/admin/drain?shard=nobody").status, 404u);
  EXPECT_EQ(admin_call(*server, "POST", "/admin/drain").status, 400u);
}

} // namespace
} // namespace recd::test
