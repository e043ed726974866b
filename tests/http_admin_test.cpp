// The credentials and error bodies of `recd serve` over real HTTP: the admin
// port and its bearer token, /admin never on the public port, the optional
// API keys of the public API, and 5xx bodies that carry no internals (a real
// PostgreSQL failure's SQL text stays in the log). A real server process, a
// real PostgreSQL database with a small synthetic shop and a private Redis.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

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

const std::string admin_token = "test-admin-token-9f8e7d";

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 400) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

header_list bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

http_reply call(std::uint16_t port, const std::string& method, const std::string& target,
                const header_list& headers = {}, const std::string& body = "") {
  return request(method, "127.0.0.1", port, target, body, "application/json", 5s, headers);
}

void expect_json_error(const http_reply& r, unsigned status) {
  EXPECT_EQ(r.status, status) << show(r);
  ASSERT_TRUE(r.json.is_object()) << show(r);
  EXPECT_TRUE(r.json.contains("error") && r.json["error"].is_string()) << show(r);
  EXPECT_EQ(r.json.value("status", 0u), status) << show(r);
}


class HttpAdmin : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    db_ = std::make_unique<test_database>("http_admin");
    import_small_shop(*db_, 200, 50, 3000);
    redis_ = std::make_unique<redis_server>();
  }
  static void TearDownTestSuite() {
    redis_.reset();
    db_.reset();
  }
  static std::unique_ptr<recd_server> serve(const env_list& env) {
    return std::make_unique<recd_server>(db_->url(), redis_->url(), env);
  }
  static inline std::unique_ptr<test_database> db_;
  static inline std::unique_ptr<redis_server> redis_;
};

TEST_F(HttpAdmin, AdminEndpointsNeedTheBearerTokenOnTheAdminPort) {
  auto server = serve({{"RECD_ADMIN_TOKEN", admin_token}});
  const auto admin = server->admin_port();
  ASSERT_NE(admin, 0) << "no 'admin on HOST:PORT' line in the log:\n" << server->log_tail();
  ASSERT_NE(admin, server->port());

  auto missing = call(admin, "GET", "/admin/cluster");
  expect_json_error(missing, 401);
  EXPECT_EQ(missing.headers["www-authenticate"], "Bearer") << show(missing);

  auto wrong = call(admin, "GET", "/admin/cluster", bearer(admin_token + "x"));
  expect_json_error(wrong, 401);
  auto prefix = call(admin, "GET", "/admin/cluster", bearer(admin_token.substr(0, 5)));
  expect_json_error(prefix, 401);
  auto other_scheme = call(admin, "GET", "/admin/cluster", {{"Authorization", "Basic " + admin_token}});
  expect_json_error(other_scheme, 401);
  for (const auto* r : {&missing, &wrong, &prefix, &other_scheme})
    EXPECT_EQ(r->body.find(admin_token.substr(0, 8)), std::string::npos)
        << "an error body must not hint at the token: " << show(*r);
  // Rejected rebalances change nothing: the map's epoch stays.
  auto rejected = call(admin, "POST", "/admin/rebalance", bearer("nope"));
  expect_json_error(rejected, 401);

  auto map = call(admin, "GET", "/admin/cluster", bearer(admin_token));
  ASSERT_EQ(map.status, 200u) << show(map);
  EXPECT_TRUE(map.json.is_object()) << show(map);
  auto rebalance = call(admin, "POST", "/admin/rebalance", bearer(admin_token));
  ASSERT_EQ(rebalance.status, 200u) << show(rebalance);
  EXPECT_TRUE(rebalance.json.contains("epoch")) << show(rebalance);
  auto wrong_method = call(admin, "GET", "/admin/rebalance", bearer(admin_token));
  expect_json_error(wrong_method, 405);

  // Probes answer on both ports without any credential.
  for (auto port : {server->port(), admin}) {
    EXPECT_EQ(call(port, "GET", "/healthz").status, 200u);
    EXPECT_EQ(call(port, "GET", "/readyz").status, 200u);
  }
  // The public port knows no /admin, even with the right token (--role all).
  expect_json_error(call(server->port(), "GET", "/admin/cluster", bearer(admin_token)), 404);
  expect_json_error(call(server->port(), "POST", "/admin/rebalance", bearer(admin_token)), 404);
  // And the admin port serves no API.
  expect_json_error(call(admin, "GET", "/api/stats", bearer(admin_token)), 404);
}

TEST_F(HttpAdmin, WithoutATokenConfiguredAdminEndpointsAnswer403) {
  auto server = serve({});
  ASSERT_NE(server->admin_port(), 0) << server->log_tail();
  for (const auto& headers : {header_list{}, bearer("anything")}) {
    auto r = call(server->admin_port(), "GET", "/admin/cluster", headers);
    expect_json_error(r, 403);
    EXPECT_EQ(r.json.value("error", ""), "admin.token is not set") << show(r);
  }
  EXPECT_EQ(call(server->admin_port(), "GET", "/healthz").status, 200u);
  // API keys are off by default: the public API needs nothing.
  auto stats = call(server->port(), "GET", "/api/stats");
  ASSERT_EQ(stats.status, 200u) << show(stats);
  EXPECT_FALSE(stats.json.contains("api_keys")) << show(stats);
}

TEST_F(HttpAdmin, AdminTokenFromAFileWithATrailingNewline) {
  const auto file = temp_path("admin.token");
  {
    std::ofstream out{file};
    out << admin_token << "\n";
  }
  auto server = serve({{"RECD_ADMIN_TOKEN_FILE", file}});
  EXPECT_EQ(call(server->admin_port(), "GET", "/admin/cluster", bearer(admin_token)).status, 200u);
  expect_json_error(call(server->admin_port(), "GET", "/admin/cluster", bearer(admin_token + "x")), 401);
  std::remove(file.c_str());
}

TEST_F(HttpAdmin, ApiKeysGateThePublicApiAndAreCountedPerName) {
  const auto file = temp_path("api_keys");
  {
    std::ofstream out{file};
    out << "# shop front ends\nweb: key-web-123\n\nmobile:key-mobile-456\n";
  }
  auto server = serve({{"RECD_HTTP_API_KEYS_FILE", file}});
  const auto port = server->port();

  auto none = call(port, "GET", "/api/stats");
  expect_json_error(none, 401);
  auto wrong = call(port, "GET", "/api/recommend/1", {{"X-Api-Key", "key-web-12"}});
  expect_json_error(wrong, 401);
  EXPECT_EQ(wrong.body.find("key-web"), std::string::npos) << show(wrong);
  // A refused behavior writes nothing.
  const auto before = db_->scalar("SELECT count(*) FROM user_behavior");
  expect_json_error(call(port, "POST", "/api/behavior?user_id=1&item_id=1&behavior_type=view"), 401);
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM user_behavior"), before);

  EXPECT_EQ(call(port, "GET", "/healthz").status, 200u);
  EXPECT_EQ(call(port, "GET", "/readyz").status, 200u);

  EXPECT_EQ(call(port, "GET", "/api/recommend/1", bearer("key-web-123")).status, 200u);
  EXPECT_EQ(call(port, "GET", "/api/recommend/2", {{"X-Api-Key", "key-mobile-456"}}).status, 200u);
  auto stats = call(port, "GET", "/api/stats", bearer("key-web-123"));
  ASSERT_EQ(stats.status, 200u) << show(stats);
  ASSERT_TRUE(stats.json.contains("api_keys")) << show(stats);
  EXPECT_EQ(stats.json["api_keys"], json({{"web", 2}, {"mobile", 1}})) << show(stats);
  std::remove(file.c_str());
}

TEST_F(HttpAdmin, ADatabaseFailureAnswers503WithoutSqlText) {
  auto server = serve({});
  // A real failure of the behavior write: its table is gone for a moment.
  db_->scalar("ALTER TABLE user_behavior RENAME TO user_behavior_hidden");
  auto r = call(server->port(), "POST", "/api/behavior",
                {}, json{{"user_id", 1}, {"item_id", 1}, {"behavior_type", "view"}}.dump());
  db_->scalar("ALTER TABLE user_behavior_hidden RENAME TO user_behavior");
  expect_json_error(r, 503);
  EXPECT_EQ(r.json.value("error", ""), "database unavailable") << show(r);
  EXPECT_EQ(r.headers["retry-after"], "1") << show(r);
  for (const char* internal : {"user_behavior", "relation", "pqxx", "SQL", "ERROR", "database_error"})
    EXPECT_EQ(r.body.find(internal), std::string::npos) << internal << " in " << show(r);
  // The detail is in the log for the operator.
  EXPECT_NE(server->log_tail(1 << 20).find("user_behavior"), std::string::npos) << server->log_tail();
  // And the next write works again.
  auto ok = call(server->port(), "POST", "/api/behavior?user_id=1&item_id=1&behavior_type=view");
  EXPECT_EQ(ok.status, 200u) << show(ok);
}

} // namespace
} // namespace recd::test
