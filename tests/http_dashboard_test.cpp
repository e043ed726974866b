// The admin dashboard's HTTP contract on a real `recd serve --role all`: the
// page is served without a token under a strict Content-Security-Policy, its
// JSON endpoints need the admin token, bad input is a 4xx JSON error that
// starts nothing, a job run from the admin port is published and listed, and
// "try it" answers from the serving path and the published neighbours.
// The page itself in a browser: tests/ui/dashboard_browser_test.py.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string admin_token = "test-dashboard-token-5b4a39";

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 400) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

header_list bearer() { return {{"Authorization", "Bearer " + admin_token}}; }

http_reply call(std::uint16_t port, const std::string& method, const std::string& target,
                const header_list& headers = {}) {
  return request(method, "127.0.0.1", port, target, "", "application/json", 10s, headers);
}

void expect_json_error(const http_reply& r, unsigned status) {
  EXPECT_EQ(r.status, status) << show(r);
  ASSERT_TRUE(r.json.is_object()) << show(r);
  EXPECT_TRUE(r.json.contains("error") && r.json["error"].is_string()) << show(r);
}

class HttpDashboard : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    db_ = std::make_unique<test_database>("http_dashboard");
    import_small_shop(*db_, 200, 60, 4000);
    redis_ = std::make_unique<redis_server>();
  }
  static void TearDownTestSuite() {
    redis_.reset();
    db_.reset();
  }
  static std::unique_ptr<recd_server> serve(env_list env = {}) {
    env.emplace_back("RECD_ADMIN_TOKEN", admin_token);
    return std::make_unique<recd_server>(db_->url(), redis_->url(), env);
  }
  static std::string runs() { return db_->scalar("SELECT count(*) FROM job_runs"); }

  // Polls /admin/jobs (up to 120 s) until a run newer than `after` of `kind`
  // is no longer running; that run.
  static json wait_for_run(std::uint16_t admin, std::int64_t after, const std::string& kind) {
    auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto jobs = call(admin, "GET", "/admin/jobs", bearer());
      if (jobs.status == 200)
        for (const auto& r : jobs.json["runs"])
          if (r["run_id"].get<std::int64_t>() > after && r["kind"] == kind && r["status"] != "running")
            return r;
      std::this_thread::sleep_for(100ms);
    }
    return nullptr;
  }

  static inline std::unique_ptr<test_database> db_;
  static inline std::unique_ptr<redis_server> redis_;
};

TEST_F(HttpDashboard, ThePageNeedsNoTokenAndForbidsInlineCodeAndFraming) {
  auto server = serve();
  const auto admin = server->admin_port();
  ASSERT_NE(admin, 0) << server->log_tail();
  for (const char* path : {"/ui", "/ui/"}) {
    auto page = call(admin, "GET", path);
    ASSERT_EQ(page.status, 200u) << show(page);
    EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
    EXPECT_NE(page.body.find("/ui/dashboard.js"), std::string::npos);
    const auto& csp = page.headers["content-security-policy"];
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_EQ(page.headers["x-frame-options"], "DENY");
    EXPECT_EQ(page.headers["x-content-type-options"], "nosniff");
    EXPECT_EQ(page.headers["cache-control"], "no-store");
    // No inline script or handler: everything is in dashboard.js.
    EXPECT_EQ(page.body.find("<script>"), std::string::npos);
    EXPECT_EQ(page.body.find("onclick"), std::string::npos);
  }
  auto script = call(admin, "GET", "/ui/dashboard.js");
  ASSERT_EQ(script.status, 200u);
  EXPECT_EQ(script.content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(script.body.find("Authorization"), std::string::npos);
  EXPECT_EQ(script.body.find("innerHTML"), std::string::npos) << "data is rendered as text only";
  EXPECT_EQ(call(admin, "GET", "/ui/dashboard.css").status, 200u);
  expect_json_error(call(admin, "GET", "/ui/secrets.txt"), 404);
  expect_json_error(call(admin, "GET", "/ui/../admin/cluster"), 404);
  expect_json_error(call(admin, "POST", "/ui"), 405);
  // Not on the public port.
  expect_json_error(call(server->port(), "GET", "/ui"), 404);
}

TEST_F(HttpDashboard, ItsEndpointsNeedTheAdminTokenAndARefusedRunStartsNothing) {
  auto server = serve();
  const auto admin = server->admin_port();
  const auto before = runs();
  for (const char* path : {"/admin/stats", "/admin/jobs", "/admin/serving", "/admin/quality",
                           "/admin/try/1", "/admin/similar/1"}) {
    expect_json_error(call(admin, "GET", path), 401);
    expect_json_error(call(admin, "GET", path, {{"Authorization", "Bearer wrong"}}), 401);
  }
  expect_json_error(call(admin, "POST", "/admin/jobs?kind=item_similarity"), 401);
  expect_json_error(call(admin, "POST", "/admin/jobs?kind=embeddings", {{"Authorization", "Bearer x"}}), 401);
  // Bad input: 4xx with a JSON body, nothing started.
  expect_json_error(call(admin, "POST", "/admin/jobs?kind=bogus", bearer()), 400);
  expect_json_error(call(admin, "POST", "/admin/jobs?kind=", bearer()), 400);
  expect_json_error(call(admin, "POST", "/admin/jobs", bearer()), 400);
  expect_json_error(call(admin, "POST", "/admin/jobs/item_similarity", bearer()), 404);
  expect_json_error(call(admin, "PUT", "/admin/jobs?kind=embeddings", bearer()), 405);
  expect_json_error(call(admin, "POST", "/admin/serving", bearer()), 405);
  for (const char* path : {"/admin/similar/abc", "/admin/similar/-1", "/admin/similar/2147483648",
                           "/admin/similar/1?limit=0", "/admin/similar/1?limit=101",
                           "/admin/similar/1?limit=x", "/admin/try/abc", "/admin/try/1?limit=500"})
    expect_json_error(call(admin, "GET", path, bearer()), 422);
  EXPECT_EQ(runs(), before);
}

TEST_F(HttpDashboard, AJobRunFromTheAdminPortIsPublishedAndListed) {
  auto server = serve();
  const auto admin = server->admin_port();
  auto jobs = call(admin, "GET", "/admin/jobs", bearer());
  ASSERT_EQ(jobs.status, 200u) << show(jobs);
  std::int64_t newest = 0;
  for (const auto& r : jobs.json["runs"])
    newest = std::max(newest, r["run_id"].get<std::int64_t>());
  auto started = call(admin, "POST", "/admin/jobs?kind=item_similarity", bearer());
  ASSERT_TRUE(started.status == 202u || started.status == 200u) << show(started);
  auto run = wait_for_run(admin, newest, "item_similarity");
  ASSERT_TRUE(run.is_object()) << "no finished run after " << newest << "\n" << server->log_tail();
  EXPECT_EQ(run["status"], "published") << run.dump();
  EXPECT_EQ(run["error"], "");
  EXPECT_GT(run["rows"].get<std::int64_t>(), 0);
  EXPECT_EQ(std::to_string(run["rows"].get<std::int64_t>()),
            db_->scalar("SELECT rows FROM job_runs WHERE run_id = " + run["run_id"].dump()));
  // Once its starter heard the end, nothing is shown as running.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  do
    jobs = call(admin, "GET", "/admin/jobs", bearer());
  while (!jobs.json["running"].empty() && std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(jobs.json["running"].empty()) << jobs.body;

  // Its neighbours, as the published table holds them, best first.
  const auto item = db_->scalar("SELECT item_id FROM item_similarity ORDER BY item_id LIMIT 1");
  auto similar = call(admin, "GET", "/admin/similar/" + item + "?limit=5", bearer());
  ASSERT_EQ(similar.status, 200u) << show(similar);
  EXPECT_EQ(similar.json["item"]["item_id"].dump(), item);
  std::string ids;
  for (const auto& n : similar.json["neighbours"])
    ids += (ids.empty() ? "" : ",") + n["item_id"].dump();
  EXPECT_EQ(ids, db_->scalar("SELECT string_agg(similar_item_id::text, ',' ORDER BY "
                             "similarity_score DESC, similar_item_id) FROM (SELECT * FROM "
                             "item_similarity WHERE item_id = " + item + " ORDER BY "
                             "similarity_score DESC, similar_item_id LIMIT 5) s"));
  auto unknown = call(admin, "GET", "/admin/similar/2000000000", bearer());
  ASSERT_EQ(unknown.status, 200u);
  EXPECT_TRUE(unknown.json["item"].is_null());
  EXPECT_TRUE(unknown.json["neighbours"].empty());

  // Try it: the serving path's answer, with reasons, never from the cache.
  auto tried = call(admin, "GET", "/admin/try/1?limit=5", bearer());
  ASSERT_EQ(tried.status, 200u) << show(tried);
  EXPECT_EQ(tried.json["user_id"], 1);
  EXPECT_EQ(tried.json["from_cache"], false);
  ASSERT_FALSE(tried.json["recommendations"].empty()) << show(tried);
  for (const auto& r : tried.json["recommendations"])
    EXPECT_FALSE(r["reasons"].empty()) << r.dump();

  // Serving: the history of this node, with its lifetime totals.
  auto serving = call(admin, "GET", "/admin/serving", bearer());
  ASSERT_EQ(serving.status, 200u) << show(serving);
  EXPECT_EQ(serving.json["period_seconds"], 5.0);
  EXPECT_EQ(serving.json["capacity"], 720);
  EXPECT_GE(serving.json["totals"]["recommend"].get<std::int64_t>(), 1);
  // Stats: the coordinator's, as /api/stats shows them.
  auto stats = call(admin, "GET", "/admin/stats", bearer());
  ASSERT_EQ(stats.status, 200u) << show(stats);
  EXPECT_EQ(stats.json["item_count"].dump(), db_->scalar("SELECT count(*) FROM items"));
}

TEST_F(HttpDashboard, QualityShowsTheEvalReportOrSaysWhyNot) {
  {
    auto server = serve();
    auto q = call(server->admin_port(), "GET", "/admin/quality", bearer());
    ASSERT_EQ(q.status, 200u) << show(q);
    EXPECT_TRUE(q.json["report"].is_null());
    EXPECT_EQ(q.json["reason"], "admin.eval_report is not set");
  }
  const auto file = temp_path("eval.json");
  {
    std::ofstream out{file};
    out << R"({"dataset": "synthetic", "split": "random", "models": [{"name": "recd", "at": {"10": {"ndcg": 0.5}}}]})";
  }
  {
    auto server = serve({{"RECD_ADMIN_EVAL_REPORT", file}});
    auto q = call(server->admin_port(), "GET", "/admin/quality", bearer());
    ASSERT_EQ(q.status, 200u) << show(q);
    EXPECT_EQ(q.json["source"], file);
    EXPECT_EQ(q.json["report"]["models"][0]["at"]["10"]["ndcg"], 0.5) << show(q);
    // The file changes: the next request shows the new one (read per request).
    {
      std::ofstream out{file};
      out << "not json";
    }
    q = call(server->admin_port(), "GET", "/admin/quality", bearer());
    EXPECT_TRUE(q.json["report"].is_null());
    EXPECT_EQ(q.json["reason"], file + " is not the JSON of `recd eval --json`");
    std::remove(file.c_str());
    q = call(server->admin_port(), "GET", "/admin/quality", bearer());
    EXPECT_EQ(q.json["reason"], "cannot read " + file);
  }
}

TEST_F(HttpDashboard, ACoordinatorWithoutShardsShowsNoServingAndRefusesARun) {
  // A cluster's coordinator node: admin port, no API actors, no shard joined yet.
  const auto http_port = free_port();
  child_process coordinator{{recd_binary(), "serve", "--role", "coordinator"},
                            {{"RECD_POSTGRES_URL", db_->url()},
                             {"RECD_REDIS_URL", redis_->url()},
                             {"RECD_HTTP_ADDR", "127.0.0.1:" + std::to_string(http_port)},
                             {"RECD_ADMIN_ADDR", "127.0.0.1:0"},
                             {"RECD_ADMIN_TOKEN", admin_token},
                             {"RECD_CLUSTER_PORT", std::to_string(free_port())},
                             {"RECD_CLUSTER_APP_ID", "dashboard-test"}},
                            temp_path("coordinator.log")};
  std::uint16_t admin = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (admin == 0 && coordinator.running() && std::chrono::steady_clock::now() < deadline) {
    const auto log = coordinator.log_tail(1 << 20);
    if (auto at = log.find("admin on 127.0.0.1:"); at != std::string::npos)
      admin = static_cast<std::uint16_t>(std::stoi(log.substr(at + 19)));
    else
      std::this_thread::sleep_for(50ms);
  }
  ASSERT_NE(admin, 0) << coordinator.log_tail();
  // The replica stands by (503) until it holds the lease; alone, it takes it at once.
  auto leads = call(admin, "GET", "/admin/cluster", bearer());
  while (leads.status == 503 && coordinator.running() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    leads = call(admin, "GET", "/admin/cluster", bearer());
  }
  ASSERT_EQ(leads.status, 200u) << show(leads) << "\n" << coordinator.log_tail();
  EXPECT_EQ(call(admin, "GET", "/ui").status, 200u);
  // The page polls /admin/serving: a 200 that says why there is nothing.
  auto serving = call(admin, "GET", "/admin/serving", bearer());
  ASSERT_EQ(serving.status, 200u) << show(serving);
  EXPECT_EQ(serving.json["api"], false) << show(serving);
  EXPECT_TRUE(serving.json["reason"].is_string()) << show(serving);
  expect_json_error(call(admin, "GET", "/admin/try/1", bearer()), 404);
  auto map = call(admin, "GET", "/admin/cluster", bearer());
  ASSERT_EQ(map.status, 200u) << show(map);
  EXPECT_EQ(map.json["ready"], false);
  EXPECT_TRUE(map.json["shards"].empty());
  // No shard: the run is refused at once and nothing is recorded.
  const auto before = runs();
  auto refused = call(admin, "POST", "/admin/jobs?kind=user_similarity", bearer());
  expect_json_error(refused, 503);
  EXPECT_FALSE(refused.headers["retry-after"].empty()) << show(refused);
  EXPECT_EQ(runs(), before);
  auto jobs = call(admin, "GET", "/admin/jobs", bearer());
  ASSERT_EQ(jobs.status, 200u) << show(jobs);
  EXPECT_TRUE(jobs.json["running"].empty()) << show(jobs);
}

} // namespace
} // namespace recd::test
