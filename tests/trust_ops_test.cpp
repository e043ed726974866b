// Operating recd safely, end to end with the real binary: secrets masked by
// `recd config` and in error messages, Redis with a password (AUTH on every
// connect; a wrong one degrades to uncached), the least-privilege role made
// by `recd migrate --app-role`, and a PostgreSQL restart under load that
// loses no acknowledged behavior.

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "engine/synthetic.hpp"
#include "protocol/errors.hpp"
#include "store/database.hpp"
#include "store/importer.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct command_result {
  int status = -1;
  std::string output; // stdout + stderr
};

// Runs `$RECD_BINARY args` with `env` prepended (VAR=value pairs) through /bin/sh.
command_result run_recd(const std::string& args, const env_list& env = {}) {
  auto log = temp_path("cmd.log");
  std::string cmd;
  for (const auto& [k, v] : env)
    cmd += k + "=" + shell_quote(v) + " ";
  cmd += shell_quote(recd_binary()) + " " + args + " >" + shell_quote(log) + " 2>&1";
  command_result out;
  int rc = std::system(cmd.c_str());
  out.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::ifstream in{log};
  std::stringstream ss;
  ss << in.rdbuf();
  out.output = ss.str();
  std::remove(log.c_str());
  return out;
}

void import_shop(const std::string& url) {
  engine::synthetic_options opt;
  opt.users = 300;
  opt.items = 60;
  opt.events = 4000;
  opt.seed = 11;
  pqxx::connection c{url};
  auto report = store::import_synthetic(c, opt);
  if (!report)
    throw std::runtime_error("import_synthetic: " + describe(report.error()));
}

template <class F> bool wait_until(F done, std::chrono::milliseconds limit) {
  auto deadline = steady::now() + limit;
  while (!done()) {
    if (steady::now() >= deadline)
      return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 400) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

http_reply behave(const recd_server& s, std::int64_t user, std::int64_t item,
                  const std::string& id) {
  json body{{"user_id", user}, {"item_id", item}, {"behavior_type", "view"}};
  if (!id.empty())
    body["event_id"] = id;
  return request("POST", s.host(), s.port(), "/api/behavior", body.dump(), "application/json", 10s);
}

http_reply recommend(const recd_server& s, std::int64_t user) {
  return request("GET", s.host(), s.port(), "/api/recommend/" + std::to_string(user) + "?limit=5",
                 "", "application/json", 10s);
}

// ---- secrets ------------------------------------------------------------------------

TEST(TrustOps, RecdConfigMasksEverySecret) {
  auto r =
      run_recd("config", {{"RECD_POSTGRES_URL", "postgresql://recd:pg-S3cret@db.example:5432/recd"},
                          {"RECD_REDIS_URL", "redis://:redis-S3cret@cache.example:6379/2"},
                          {"RECD_REDIS_PASSWORD", "other-S3cret"},
                          {"RECD_CLUSTER_TLS_PASSPHRASE", "tls-S3cret"}});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("S3cret"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("postgresql://recd:****@db.example:5432/recd"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("redis://:****@cache.example:6379/2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tls_passphrase = ****"), std::string::npos) << r.output;
}

TEST(TrustOps, AFailedConnectionNamesNoPassword) {
  auto port = free_port(); // nothing listens there
  auto url = "postgresql://recd:pg-S3cret@127.0.0.1:" + std::to_string(port) + "/recd";
  auto r = run_recd("migrate", {{"RECD_POSTGRES_URL", url}});
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("database_unavailable"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("S3cret"), std::string::npos) << r.output;
  auto kv =
      run_recd("migrate", {{"RECD_POSTGRES_URL", "host=127.0.0.1 port=" + std::to_string(port) +
                                                     " dbname=recd password=pg-S3cret"}});
  EXPECT_NE(kv.status, 0);
  EXPECT_EQ(kv.output.find("S3cret"), std::string::npos) << kv.output;
}

// ---- Redis AUTH ---------------------------------------------------------------------

class TrustRedisAuth : public ::testing::Test {
protected:
  void SetUp() override {
    db_ = std::make_unique<test_database>("redis_auth");
    import_shop(db_->url());
    port_ = free_port();
    redis_ = std::make_unique<child_process>(
        std::vector<std::string>{"redis-server", "--port", std::to_string(port_), "--bind",
                                 "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass",
                                 password_},
        env_list{}, temp_path("redis_auth.log"));
    ASSERT_TRUE(wait_until(
        [&] {
          auto r = redis_command(port_, {"PING"});
          return r && (r->type == '+' || r->type == '-'); // -NOAUTH: up, wants a password
        },
        10s))
        << redis_->log_tail();
  }
  std::string plain_url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

  const std::string password_ = "redis-pw-0815";
  std::unique_ptr<test_database> db_;
  std::uint16_t port_ = 0;
  std::unique_ptr<child_process> redis_;
};

// With the near cache off, from_cache means a Redis hit.
void expect_cached(const recd_server& s, std::int64_t user) {
  auto first = recommend(s, user);
  ASSERT_EQ(first.status, 200u) << show(first);
  bool hit = wait_until(
      [&] {
        auto again = recommend(s, user);
        return again.status == 200 && again.json.value("from_cache", false);
      },
      10s);
  EXPECT_TRUE(hit) << "no Redis hit; log:\n" << s.log_tail();
}

TEST_F(TrustRedisAuth, ThePasswordInTheUrlOrInRedisPasswordIsSentOnConnect) {
  {
    recd_server s{db_->url(),
                  "redis://:" + password_ + "@127.0.0.1:" + std::to_string(port_) + "/0",
                  {{"RECD_REDIS_NEAR_CACHE_MB", "0"}}};
    expect_cached(s, 3);
    EXPECT_EQ(s.log_tail(100000).find(password_), std::string::npos);
  }
  {
    recd_server s{db_->url(),
                  plain_url(),
                  {{"RECD_REDIS_NEAR_CACHE_MB", "0"}, {"RECD_REDIS_PASSWORD", password_}}};
    expect_cached(s, 4);
  }
}

TEST_F(TrustRedisAuth, AWrongPasswordIsLoggedClearlyAndServesUncached) {
  recd_server s{db_->url(),
                plain_url(),
                {{"RECD_REDIS_NEAR_CACHE_MB", "0"}, {"RECD_REDIS_PASSWORD", "wrong-pw-4711"}}};
  for (int k = 0; k < 3; ++k) {
    auto r = recommend(s, 5);
    ASSERT_EQ(r.status, 200u) << show(r);
    EXPECT_FALSE(r.json.value("from_cache", true));
  }
  auto log = s.log_tail(100000);
  EXPECT_NE(log.find("AUTH failed"), std::string::npos) << log;
  EXPECT_EQ(log.find("wrong-pw-4711"), std::string::npos) << log;
  auto stats = request("GET", s.host(), s.port(), "/api/stats", "", "application/json", 10s);
  ASSERT_EQ(stats.status, 200u) << show(stats);
  EXPECT_TRUE(stats.json["cache"].value("degraded", false)) << show(stats);
}

// ---- least privilege ----------------------------------------------------------------

// `url` with its user info replaced by user:password.
std::string as_user(const std::string& url, const std::string& user, const std::string& password) {
  auto scheme = url.find("://") + 3;
  auto at = url.find('@', scheme);
  auto host = at == std::string::npos ? scheme : at + 1;
  return url.substr(0, scheme) + user + ":" + password + "@" + url.substr(host);
}

TEST(TrustOps, MigrateAppRoleMakesARoleThatRunsRecdAndNothingMore) {
  const std::string role = "recd_app_" + std::to_string(::getpid());
  const std::string password = "app-pw-2024";
  {
    test_database db{"app_role", 16, false};
    auto migrate = run_recd("migrate --app-role " + role, {{"RECD_POSTGRES_URL", db.url()},
                                                           {"RECD_APP_ROLE_PASSWORD", password}});
    ASSERT_EQ(migrate.status, 0) << migrate.output;
    EXPECT_EQ(migrate.output.find(password), std::string::npos);
    // Again: updates the role, still fine.
    ASSERT_EQ(run_recd("migrate --app-role " + role,
                       {{"RECD_POSTGRES_URL", db.url()}, {"RECD_APP_ROLE_PASSWORD", password}})
                  .status,
              0);
    EXPECT_NE(run_recd("migrate --app-role " + role, {{"RECD_POSTGRES_URL", db.url()}}).status, 0)
        << "no password, no role";

    auto app_url = as_user(db.url(), role, password);
    env_list as_app{{"RECD_POSTGRES_URL", app_url}};
    auto imported =
        run_recd("import synthetic --users 200 --items 40 --events 3000 --seed 3", as_app);
    ASSERT_EQ(imported.status, 0) << imported.output;
    auto computed = run_recd("compute", as_app);
    ASSERT_EQ(computed.status, 0) << computed.output;
    {
      redis_server redis;
      recd_server s{app_url, redis.url()};
      auto b = behave(s, 7, 3, "app-role-1");
      EXPECT_EQ(b.status, 200u) << show(b);
      auto r = recommend(s, 7);
      EXPECT_EQ(r.status, 200u) << show(r);
    }
    pqxx::connection app{app_url};
    EXPECT_THROW(
        {
          pqxx::nontransaction tx{app};
          tx.exec("CREATE DATABASE recd_app_role_must_fail");
        },
        pqxx::sql_error);
    EXPECT_THROW(
        {
          pqxx::nontransaction tx{app};
          tx.exec("SELECT rolpassword FROM pg_authid");
        },
        pqxx::sql_error);
    pqxx::nontransaction tx{app};
    auto attrs = tx.exec1(
        "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user");
    EXPECT_FALSE(attrs[0].as<bool>());
    EXPECT_FALSE(attrs[1].as<bool>());
    EXPECT_FALSE(attrs[2].as<bool>());
  } // the database is dropped: the role owns nothing any more
  pqxx::connection admin{admin_url()};
  pqxx::nontransaction tx{admin};
  tx.exec("DROP ROLE IF EXISTS " + tx.quote_name(role));
}

// ---- a PostgreSQL restart -----------------------------------------------------------

// A private PostgreSQL 15 (scripts/lib.sh start_postgres's flags), run as the
// postgres user when we are root.
class private_postgres {
public:
  private_postgres() : port_(free_port()) {
    dir_ = temp_path("pg");
    std::filesystem::create_directories(dir_);
    if (::geteuid() == 0)
      sh("chown postgres:postgres " + shell_quote(dir_) + " && chmod 700 " + shell_quote(dir_));
    sh(as_pg(bin("initdb") + " -D " + shell_quote(dir_ + "/data") +
             " -U postgres -A trust -E UTF8") +
       " >/dev/null");
    ctl("start");
  }
  ~private_postgres() {
    std::system(
        (as_pg(bin("pg_ctl") + " -D " + shell_quote(dir_ + "/data") + " -m immediate -w stop") +
         " >/dev/null 2>&1")
            .c_str());
    std::filesystem::remove_all(dir_);
  }
  // pg_ctl restart -m immediate: a crash and recovery, as far as clients can tell.
  void restart_immediate() { ctl("restart -m immediate"); }
  std::string url(const std::string& db) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }

private:
  static std::string bin(const std::string& name) { return "/usr/lib/postgresql/15/bin/" + name; }
  static std::string as_pg(const std::string& cmd) {
    return ::geteuid() == 0 ? "runuser -u postgres -- " + cmd : cmd;
  }
  static void sh(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0)
      throw std::runtime_error("failed: " + cmd);
  }
  void ctl(const std::string& what) {
    sh(as_pg(bin("pg_ctl") + " -D " + shell_quote(dir_ + "/data") + " -l " +
             shell_quote(dir_ + "/log") + " -w -t 60 -o " +
             shell_quote("-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
                         dir_ + " -c fsync=on") +
             " " + what) +
       " >/dev/null");
  }
  std::uint16_t port_;
  std::string dir_;
};

TEST(TrustOps, APostgresRestartLosesNoAcknowledgedBehaviorAndWritesResume) {
  private_postgres pg;
  {
    pqxx::connection admin{pg.url("postgres")};
    pqxx::nontransaction tx{admin};
    tx.exec("CREATE DATABASE recd");
  }
  auto url = pg.url("recd");
  ASSERT_EQ(run_recd("migrate --partitions 16", {{"RECD_POSTGRES_URL", url}}).status, 0);
  import_shop(url);
  redis_server redis;
  recd_server s{url, redis.url()};

  std::mutex m;
  std::map<std::string, std::int64_t> acked; // event id -> behavior id
  std::atomic<int> acked_count{0}, failed_count{0};
  std::atomic<bool> stop{false};
  std::thread poster{[&] {
    // Each event is retried with its id until acknowledged (or the test ends).
    for (int n = 0; !stop; ++n) {
      auto id = "restart-" + std::to_string(n);
      while (!stop) {
        auto r = behave(s, 1 + n % 200, 1 + n % 60, id);
        if (r.status == 200) {
          std::lock_guard lock{m};
          acked[id] = r.json["behavior_id"].get<std::int64_t>();
          ++acked_count;
          break;
        }
        ++failed_count;
        std::this_thread::sleep_for(100ms); // as a client honouring Retry-After would
      }
    }
  }};
  bool before = wait_until([&] { return acked_count >= 20; }, 30s);
  int at_restart = acked_count;
  if (before)
    pg.restart_immediate();
  bool resumed = before && wait_until([&] { return acked_count >= at_restart + 20; }, 60s);
  stop = true;
  poster.join();
  ASSERT_TRUE(before) << "no behaviors before the restart; log:\n" << s.log_tail();
  std::printf("[ restart  ] %d acknowledged before, %d after, %d refused while down\n", at_restart,
              acked_count.load() - at_restart, failed_count.load());
  ASSERT_TRUE(resumed) << "writes did not resume within 60 s of the restart (" << failed_count
                       << " failures); log:\n"
                       << s.log_tail();

  pqxx::connection c{url};
  pqxx::nontransaction tx{c};
  std::map<std::string, std::int64_t> stored;
  for (const auto& row :
       tx.exec("SELECT event_id, id FROM user_behavior WHERE event_id LIKE 'restart-%'"))
    stored[row[0].c_str()] = row[1].as<std::int64_t>();
  for (const auto& [id, behavior] : acked) {
    auto it = stored.find(id);
    ASSERT_NE(it, stored.end()) << "acknowledged event " << id << " is lost";
    EXPECT_EQ(it->second, behavior) << id;
  }
  // Items created after the restart are looked up by the shards' loaders
  // (whose connections broke) or, while a loader fails, by the writer: every
  // one is accepted within a bounded wait, and none is ever called unknown.
  for (int item = 1001; item <= 1008; ++item)
    tx.exec("INSERT INTO items (item_id, title) VALUES (" + std::to_string(item) + ", 'new')");
  for (int item = 1001; item <= 1008; ++item) {
    http_reply last;
    bool accepted = wait_until(
        [&] {
          last = behave(s, 42, item, "new-item-" + std::to_string(item));
          return last.status == 200 || last.status == 404;
        },
        30s);
    EXPECT_TRUE(accepted && last.status == 200) << "item " << item << ": " << show(last);
  }
  // Recommendations work after the restart too.
  auto r = recommend(s, 3);
  EXPECT_EQ(r.status, 200u) << show(r);
}

} // namespace
} // namespace recd::test
