// POST /api/behavior's guarantees, end to end through HTTP against a real
// `recd serve`, PostgreSQL and Redis: idempotent retries (event_id, the
// event_id query parameter, the Idempotency-Key header), invalid ids refused
// with nothing written, a full writer queue answered 503 + Retry-After at
// once, and a failing database write answered "database unavailable" with no
// SQL text.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

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
using steady = std::chrono::steady_clock;


std::int64_t count(const test_database& db, const std::string& sql) {
  auto s = db.scalar(sql);
  return s.empty() ? 0 : std::stoll(s);
}

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 400) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

std::int64_t behavior_id(const http_reply& r) {
  if (r.status != 200 || !r.json.is_object() || !r.json.contains("behavior_id"))
    return -1;
  return r.json["behavior_id"].get<std::int64_t>();
}

// Polls `done` every 20 ms until it holds or `limit` passes.
template <class F> bool wait_until(F done, std::chrono::milliseconds limit) {
  auto deadline = steady::now() + limit;
  while (!done()) {
    if (steady::now() >= deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class BehaviorTrust : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    try {
      db_ = std::make_unique<test_database>("behavior_trust");
      import_small_shop(*db_, 300, 60, 4000);
      redis_ = std::make_unique<redis_server>();
      server_ = std::make_unique<recd_server>(db_->url(), redis_->url());
    } catch (const std::exception& e) {
      setup_error_ = e.what();
      server_.reset();
    }
  }
  static void TearDownTestSuite() {
    server_.reset();
    redis_.reset();
    db_.reset();
  }
  void SetUp() override {
    if (!server_)
      GTEST_FAIL() << "suite setup failed: " << setup_error_;
  }

  static http_reply post(const std::string& target, const json& body,
                         const std::vector<std::pair<std::string, std::string>>& headers = {},
                         recd_server* server = nullptr) {
    auto* s = server ? server : server_.get();
    return request("POST", s->host(), s->port(), target, body.is_null() ? "" : body.dump(),
                   "application/json", 10s, headers);
  }
  static json event(std::int64_t user, std::int64_t item, const std::string& kind) {
    return json{{"user_id", user}, {"item_id", item}, {"behavior_type", kind}};
  }
  static std::int64_t rows_of_user(std::int64_t user) {
    return count(*db_,
                 "SELECT count(*) FROM user_behavior WHERE user_id = " + std::to_string(user));
  }
  static std::int64_t sales_of(std::int64_t item) {
    return count(*db_, "SELECT sales_count FROM items WHERE item_id = " + std::to_string(item));
  }

  static inline std::unique_ptr<test_database> db_;
  static inline std::unique_ptr<redis_server> redis_;
  static inline std::unique_ptr<recd_server> server_;
  static inline std::string setup_error_;
};

TEST_F(BehaviorTrust, TheSameEventIdTwiceStoresOneRowAndAnswersTheSameBehaviorId) {
  const std::int64_t user = 100001, item = 5;
  auto sales = sales_of(item);
  auto body = event(user, item, "buy");
  body["event_id"] = "order-17/line-1";
  auto first = post("/api/behavior", body);
  ASSERT_EQ(first.status, 200u) << show(first);
  auto second = post("/api/behavior", body);
  ASSERT_EQ(second.status, 200u) << show(second);
  EXPECT_EQ(first.body, second.body) << "a retry gets the first answer";
  EXPECT_EQ(rows_of_user(user), 1);
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_behavior WHERE event_id = 'order-17/line-1'"),
            1);
  EXPECT_EQ(sales_of(item), sales + 1) << "a retried buy counts one sale";
}

TEST_F(BehaviorTrust, ADifferentPayloadWithAStoredEventIdGetsTheFirstAnswerAndChangesNothing) {
  const std::int64_t user = 100002;
  auto a = event(user, 6, "view");
  a["event_id"] = "evt-payload";
  auto first = post("/api/behavior", a);
  ASSERT_EQ(first.status, 200u) << show(first);
  auto sales = sales_of(7);
  auto b = event(user + 1, 7, "buy");
  b["event_id"] = "evt-payload";
  auto second = post("/api/behavior", b);
  ASSERT_EQ(second.status, 200u) << show(second);
  EXPECT_EQ(behavior_id(second), behavior_id(first));
  EXPECT_EQ(rows_of_user(user), 1);
  EXPECT_EQ(rows_of_user(user + 1), 0);
  EXPECT_EQ(sales_of(7), sales);
  EXPECT_EQ(db_->scalar("SELECT item_id FROM user_behavior WHERE event_id = 'evt-payload'"), "6");
}

TEST_F(BehaviorTrust, TheQueryParameterAndTheIdempotencyKeyHeaderAreEventIdsToo) {
  const std::int64_t user = 100004;
  auto q1 = post("/api/behavior?event_id=from-query", event(user, 8, "click"));
  auto q2 = post("/api/behavior?event_id=from-query", event(user, 8, "click"));
  ASSERT_EQ(q1.status, 200u) << show(q1);
  EXPECT_EQ(behavior_id(q2), behavior_id(q1));
  auto h1 = post("/api/behavior", event(user, 9, "cart"), {{"Idempotency-Key", "from-header"}});
  auto h2 = post("/api/behavior", event(user, 9, "cart"), {{"Idempotency-Key", "from-header"}});
  ASSERT_EQ(h1.status, 200u) << show(h1);
  EXPECT_EQ(behavior_id(h2), behavior_id(h1));
  EXPECT_NE(behavior_id(h1), behavior_id(q1));
  EXPECT_EQ(rows_of_user(user), 2);
  EXPECT_EQ(db_->scalar("SELECT event_id FROM user_behavior WHERE user_id = " +
                        std::to_string(user) + " AND item_id = 9"),
            "from-header");
}

TEST_F(BehaviorTrust, ConcurrentRetriesOfOneEventCollapseIntoOneRow) {
  const std::int64_t user = 100005, item = 10;
  auto sales = sales_of(item);
  auto body = event(user, item, "buy");
  body["event_id"] = "burst-1";
  std::vector<std::future<http_reply>> replies;
  for (int k = 0; k < 12; ++k)
    replies.push_back(std::async(std::launch::async, [&] { return post("/api/behavior", body); }));
  std::set<std::int64_t> ids;
  for (auto& f : replies) {
    auto r = f.get();
    ASSERT_EQ(r.status, 200u) << show(r);
    ids.insert(behavior_id(r));
  }
  EXPECT_EQ(ids.size(), 1u) << "every retry answers the same behavior id";
  EXPECT_EQ(rows_of_user(user), 1);
  EXPECT_EQ(sales_of(item), sales + 1);
}

TEST_F(BehaviorTrust, InvalidEventIdsAre400AndWriteNothing) {
  const std::int64_t user = 100006;
  std::vector<json> bodies;
  for (json id : {json(""), json(std::string(129, 'x')), json("tab\there"), json("caf\xc3\xa9"),
                  json(42), json::array({"a"})}) {
    auto b = event(user, 11, "view");
    b["event_id"] = id;
    bodies.push_back(b);
  }
  for (const auto& b : bodies) {
    auto r = post("/api/behavior", b);
    EXPECT_EQ(r.status, 400u) << b.dump() << " -> " << show(r);
    EXPECT_TRUE(r.json.is_object() &&
                r.json.value("error", "").find("event_id") != std::string::npos)
        << show(r);
  }
  auto q = post("/api/behavior?event_id=", event(user, 11, "view"));
  EXPECT_EQ(q.status, 400u) << show(q);
  auto h =
      post("/api/behavior", event(user, 11, "view"), {{"Idempotency-Key", std::string(200, 'k')}});
  EXPECT_EQ(h.status, 400u) << show(h);
  auto longest = event(user, 11, "view");
  longest["event_id"] = std::string(128, '~');
  EXPECT_EQ(post("/api/behavior", longest).status, 200u) << "128 printable characters are fine";
  EXPECT_EQ(rows_of_user(user), 1);
}

TEST_F(BehaviorTrust, AFailingDatabaseWriteIsA503SayingDatabaseUnavailableWithoutSqlText) {
  const std::int64_t user = 100007;
  {
    auto c = db_->connect();
    pqxx::nontransaction tx{c};
    tx.exec("ALTER TABLE user_behavior ADD CONSTRAINT recd_test_refuse_all CHECK (user_id < 0) NOT "
            "VALID");
  }
  auto body = event(user, 12, "view");
  body["event_id"] = "fails-then-works";
  auto failed = post("/api/behavior", body);
  {
    auto c = db_->connect();
    pqxx::nontransaction tx{c};
    tx.exec("ALTER TABLE user_behavior DROP CONSTRAINT recd_test_refuse_all");
  }
  EXPECT_EQ(failed.status, 503u) << show(failed);
  EXPECT_EQ(failed.json.value("error", ""), "database unavailable") << show(failed);
  for (const char* sql : {"user_behavior", "constraint", "INSERT", "recd_test_refuse_all", "SQL"})
    EXPECT_EQ(failed.body.find(sql), std::string::npos)
        << "body leaks '" << sql << "': " << failed.body;
  EXPECT_EQ(rows_of_user(user), 0);
  // 503 means "maybe committed": the retry with the same event id is safe.
  auto retried = post("/api/behavior", body);
  EXPECT_EQ(retried.status, 200u) << show(retried);
  EXPECT_EQ(rows_of_user(user), 1);
  EXPECT_NE(server_->log_tail(20000).find("recd_test_refuse_all"), std::string::npos)
      << "the details are in the log";
}

TEST_F(BehaviorTrust, AFullWriterQueueIsRefusedAtOnceWith503AndRetryAfter) {
  // One event in flight fills a queue of 1; the database holds it by a lock.
  recd_server small{db_->url(), redis_->url(), {{"RECD_POSTGRES_WRITER_QUEUE_MAX", "1"}}};
  const std::int64_t user = 100008;
  auto locker = db_->connect();
  pqxx::work lock{locker};
  lock.exec("LOCK TABLE user_behavior IN EXCLUSIVE MODE");
  auto held = std::async(std::launch::async, [&] {
    return post("/api/behavior", event(user, 13, "view"), {}, &small);
  });
  bool waiting = wait_until(
      [&] {
        return count(*db_, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND query LIKE '%user_behavior%' AND datname = current_database()") > 0;
      },
      5s);
  http_reply refused;
  if (waiting)
    refused = post("/api/behavior", event(user + 1, 13, "view"), {}, &small);
  lock.abort();
  ASSERT_TRUE(waiting) << "the writer never waited on the lock";
  EXPECT_EQ(refused.status, 503u) << show(refused);
  EXPECT_EQ(header_of(refused, "retry-after"), "1") << show(refused);
  EXPECT_TRUE(refused.json.is_object() && refused.json.contains("error")) << show(refused);
  auto first = held.get();
  EXPECT_EQ(first.status, 200u) << show(first);
  EXPECT_EQ(rows_of_user(user + 1), 0) << "a refused event writes nothing";
  auto after = post("/api/behavior", event(user + 1, 13, "view"), {}, &small);
  EXPECT_EQ(after.status, 200u) << "the queue frees once the commit is done: " << show(after);
}

TEST_F(BehaviorTrust, AnEventWhoseRequestTimedOutWhileQueuedIsNeverWritten) {
  // One writer connection: B must queue behind A's batch (with several, the
  // API actors' writers would each send theirs at once).
  recd_server quick{db_->url(), redis_->url(),
                    {{"RECD_HTTP_REQUEST_TIMEOUT_MS", "1000"},
                     {"RECD_POSTGRES_BEHAVIOR_WRITERS", "1"}}};
  const std::int64_t user = 100010;
  auto locker = db_->connect();
  pqxx::work lock{locker};
  lock.exec("LOCK TABLE user_behavior IN EXCLUSIVE MODE");
  // A's batch is sent and waits on the lock; B queues behind it.
  auto a = std::async(std::launch::async,
                      [&] { return post("/api/behavior", event(user, 14, "view"), {}, &quick); });
  auto lock_waits = [&] {
    return count(*db_, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND query LIKE '%user_behavior%' AND datname = current_database()") > 0;
  };
  bool waiting = wait_until(lock_waits, 5s);
  http_reply b;
  if (waiting)
    b = post("/api/behavior", event(user + 1, 14, "view"), {}, &quick); // times out: 503
  lock.abort();
  ASSERT_TRUE(waiting) << "the writer never waited on the lock";
  EXPECT_EQ(b.status, 503u) << show(b);
  a.get(); // 503 too, "maybe committed": its batch was in flight
  // The writer answers in order: once C is acknowledged, B's batch is done.
  auto c = post("/api/behavior", event(user + 2, 14, "view"), {}, &quick);
  ASSERT_EQ(c.status, 200u) << show(c);
  EXPECT_EQ(rows_of_user(user + 1), 0) << "B's client got 503 and B was still queued: not written";
}

} // namespace
} // namespace recd::test
