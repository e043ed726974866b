// POST /api/behaviors end to end through HTTP against a real `recd serve`,
// PostgreSQL and Redis: JSON and msgpack batches stored as the committed rows
// they answer, one bad event (a bad field, an unknown item) storing nothing
// and named by its index (also in a batch large enough for COPY), a retried
// batch storing nothing twice, new and stored event ids mixed, oversize
// batches refused, and a batch's events in the users' very next recommend
// answers (cached ones included). Also the body decoder alone
// (nodes/http_batch.hpp) on inputs HTTP clients rarely send.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "nodes/http_batch.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int max_events = 50;         // RECD_HTTP_MAX_BATCH_EVENTS of the server
constexpr int max_bytes = 200000;      // RECD_HTTP_MAX_BATCH_BYTES (> http.max_body_bytes)

std::int64_t count(const test_database& db, const std::string& sql) {
  auto s = db.scalar(sql);
  return s.empty() ? 0 : std::stoll(s);
}

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 400) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

json event(std::int64_t user, std::int64_t item, const std::string& kind) {
  return json{{"user_id", user}, {"item_id", item}, {"behavior_type", kind}};
}

// A msgpack array of event maps, encoded with msgpack-c's packer.
struct mp_event {
  std::int64_t user;
  std::int64_t item;
  std::string kind;
  std::string event_id; // "" = none
};
std::string to_msgpack(const std::vector<mp_event>& events) {
  msgpack::sbuffer out;
  msgpack::packer<msgpack::sbuffer> pk(&out);
  pk.pack_array(static_cast<std::uint32_t>(events.size()));
  for (const auto& e : events) {
    pk.pack_map(e.event_id.empty() ? 3 : 4);
    pk.pack(std::string{"user_id"});
    pk.pack(e.user);
    pk.pack(std::string{"item_id"});
    pk.pack(e.item);
    pk.pack(std::string{"behavior_type"});
    pk.pack(e.kind);
    if (!e.event_id.empty()) {
      pk.pack(std::string{"event_id"});
      pk.pack(e.event_id);
    }
  }
  return {out.data(), out.size()};
}

std::vector<std::int64_t> ids_of(const http_reply& r) {
  std::vector<std::int64_t> out;
  if (r.json.is_object() && r.json.contains("behavior_ids") && r.json["behavior_ids"].is_array())
    for (const auto& id : r.json["behavior_ids"])
      out.push_back(id.get<std::int64_t>());
  return out;
}

std::vector<std::int64_t> recommended(const http_reply& r) {
  std::vector<std::int64_t> out;
  if (r.json.is_object() && r.json.contains("recommendations"))
    for (const auto& rec : r.json["recommendations"])
      out.push_back(rec["item_id"].get<std::int64_t>());
  return out;
}

class BehaviorBatch : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    try {
      db_ = std::make_unique<test_database>("behavior_batch");
      import_small_shop(*db_, 300, 60, 4000);
      redis_ = std::make_unique<redis_server>();
      server_ = std::make_unique<recd_server>(
        db_->url(), redis_->url(),
        env_list{{"RECD_HTTP_MAX_BATCH_EVENTS", std::to_string(max_events)},
                 {"RECD_HTTP_MAX_BATCH_BYTES", std::to_string(max_bytes)}});
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

  static http_reply post(const std::string& body,
                         const std::string& content_type = "application/json") {
    return request("POST", server_->host(), server_->port(), "/api/behaviors", body, content_type,
                   10s);
  }
  static std::int64_t rows_of_users(std::int64_t from, std::int64_t to) {
    return count(*db_, "SELECT count(*) FROM user_behavior WHERE user_id BETWEEN " +
                         std::to_string(from) + " AND " + std::to_string(to));
  }
  static std::int64_t sales_of(std::int64_t item) {
    return count(*db_, "SELECT sales_count FROM items WHERE item_id = " + std::to_string(item));
  }
  // The answer's ids are the committed rows of these events, in order.
  static void expect_rows(const http_reply& r, const std::vector<mp_event>& events) {
    auto ids = ids_of(r);
    ASSERT_EQ(ids.size(), events.size()) << show(r);
    for (std::size_t k = 0; k < ids.size(); ++k)
      EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_behavior WHERE id = " +
                              std::to_string(ids[k]) + " AND user_id = " +
                              std::to_string(events[k].user) + " AND item_id = " +
                              std::to_string(events[k].item) + " AND behavior_type = '" +
                              events[k].kind + "'"),
                1)
        << "events[" << k << "] is not row " << ids[k];
  }

  static inline std::unique_ptr<test_database> db_;
  static inline std::unique_ptr<redis_server> redis_;
  static inline std::unique_ptr<recd_server> server_;
  static inline std::string setup_error_;
};

TEST_F(BehaviorBatch, AJsonArrayIsStoredAndAnsweredWithEachEventsRowId) {
  std::vector<mp_event> events{{200001, 3, "view", ""}, {200001, 4, "buy", ""},
                               {200002, 3, "cart", ""}};
  json body = json::array();
  for (const auto& e : events)
    body.push_back(event(e.user, e.item, e.kind));
  auto sales = sales_of(3);
  auto r = post(body.dump());
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_EQ(r.json["success"], true);
  EXPECT_EQ(r.json["count"], 3);
  EXPECT_EQ(r.json["stored"], 3);
  EXPECT_EQ(r.json["duplicates"], 0);
  expect_rows(r, events);
  EXPECT_EQ(rows_of_users(200001, 200002), 3);
  EXPECT_EQ(sales_of(3), sales + 1) << "a cart counts as a sale, like a single event";
}

TEST_F(BehaviorBatch, AMsgpackArrayIsStoredLikeJson) {
  std::vector<mp_event> events{{200011, 5, "click", ""}, {200012, 6, "buy", "mp-1"},
                               {200011, 7, "view", ""}};
  auto r = post(to_msgpack(events), "application/x-msgpack");
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_EQ(r.json["stored"], 3);
  expect_rows(r, events);
  EXPECT_EQ(count(*db_, "SELECT count(*) FROM user_behavior WHERE event_id = 'mp-1' AND "
                        "user_id = 200012"),
            1);
}

TEST_F(BehaviorBatch, OneBadFieldStoresNothingAndTheAnswerNamesTheEvent) {
  json body = json::array({event(200021, 3, "view"), event(200021, 4, "view"),
                           event(200021, 5, "like"), event(200022, 6, "buy")});
  auto r = post(body.dump());
  EXPECT_EQ(r.status, 422u) << show(r);
  ASSERT_TRUE(r.json.is_object()) << show(r);
  EXPECT_EQ(r.json["index"], 2) << show(r);
  EXPECT_NE(r.json["error"].get<std::string>().find("events[2]: behavior_type"),
            std::string::npos)
    << show(r);
  EXPECT_EQ(rows_of_users(200021, 200022), 0);

  auto mp = post(to_msgpack({{200023, 3, "view", ""}, {200023, -4, "view", ""}}),
                 "application/x-msgpack");
  EXPECT_EQ(mp.status, 422u) << show(mp);
  EXPECT_EQ(mp.json["index"], 1) << show(mp);
  EXPECT_NE(mp.json["error"].get<std::string>().find("events[1]: item_id"), std::string::npos);
  EXPECT_EQ(rows_of_users(200023, 200023), 0);

  auto bad_id = json::array({event(200024, 3, "view"), event(200024, 4, "view")});
  bad_id[1]["event_id"] = 17;
  auto id = post(bad_id.dump());
  EXPECT_EQ(id.status, 400u) << show(id);
  EXPECT_EQ(id.json["index"], 1) << show(id);
  EXPECT_EQ(rows_of_users(200024, 200024), 0);
}

TEST_F(BehaviorBatch, AnUnknownItemStoresNothingAndTheAnswerNamesTheEvent) {
  const auto sales = sales_of(4);
  json body = json::array({event(200031, 4, "buy"), event(200031, 5, "view"),
                           event(200032, 990001, "view"), event(200032, 6, "view")});
  auto r = post(body.dump());
  EXPECT_EQ(r.status, 422u) << show(r);
  ASSERT_TRUE(r.json.is_object()) << show(r);
  EXPECT_EQ(r.json["index"], 2) << show(r);
  EXPECT_NE(r.json["error"].get<std::string>().find("990001"), std::string::npos) << show(r);
  EXPECT_EQ(rows_of_users(200031, 200032), 0);
  EXPECT_EQ(sales_of(4), sales) << "the rejected batch's buy counted a sale";
}

TEST_F(BehaviorBatch, ARetriedBatchIsANoOpWithTheSameIds) {
  std::vector<mp_event> events{{200041, 8, "buy", "order-9/1"}, {200041, 9, "view", "order-9/2"},
                               {200042, 8, "buy", "order-9/3"}};
  const auto sales = sales_of(8);
  auto first = post(to_msgpack(events), "application/x-msgpack");
  ASSERT_EQ(first.status, 200u) << show(first);
  EXPECT_EQ(first.json["duplicates"], 0);
  auto again = post(to_msgpack(events), "application/x-msgpack");
  ASSERT_EQ(again.status, 200u) << show(again);
  EXPECT_EQ(ids_of(again), ids_of(first)) << "a retry answers the first rows";
  EXPECT_EQ(again.json["duplicates"], 3) << show(again);
  EXPECT_EQ(again.json["stored"], 0) << show(again);
  // The same ids sent as JSON are the same events.
  json body = json::array();
  for (const auto& e : events) {
    auto j = event(e.user, e.item, e.kind);
    j["event_id"] = e.event_id;
    body.push_back(j);
  }
  auto as_json = post(body.dump());
  ASSERT_EQ(as_json.status, 200u) << show(as_json);
  EXPECT_EQ(ids_of(as_json), ids_of(first));
  EXPECT_EQ(rows_of_users(200041, 200042), 3);
  EXPECT_EQ(sales_of(8), sales + 2) << "retried buys counted again";
}

TEST_F(BehaviorBatch, AnEventIdTwiceInOneBatchIsStoredOnce) {
  std::vector<mp_event> events{{200051, 10, "view", "dup-a"}, {200051, 11, "view", ""},
                               {200051, 10, "view", "dup-a"}};
  auto r = post(to_msgpack(events), "application/x-msgpack");
  ASSERT_EQ(r.status, 200u) << show(r);
  auto ids = ids_of(r);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[2], ids[0]);
  EXPECT_EQ(r.json["duplicates"], 1);
  EXPECT_EQ(r.json["stored"], 2);
  EXPECT_EQ(rows_of_users(200051, 200051), 2);
}

TEST_F(BehaviorBatch, OversizeAndMalformedBatchesAreRefusedAndStoreNothing) {
  auto many = json::array();
  for (int k = 0; k <= max_events; ++k)
    many.push_back(event(200061, 3, "view"));
  auto r = post(many.dump());
  EXPECT_EQ(r.status, 413u) << show(r);
  EXPECT_TRUE(r.json.is_object()) << show(r);
  std::vector<mp_event> mp_many(max_events + 1, mp_event{200061, 3, "view", ""});
  auto mp = post(to_msgpack(mp_many), "application/x-msgpack");
  EXPECT_EQ(mp.status, 413u) << show(mp);

  // Bodies beyond http.max_body_bytes (64 KiB) are fine on this route up to
  // http.max_batch_bytes, refused above it.
  auto padded = [](int events, std::size_t pad) {
    auto body = json::array();
    for (int k = 0; k < events; ++k) {
      auto e = event(200062, 3, "view");
      e["note"] = std::string(pad, 'x'); // unknown fields are ignored
      body.push_back(e);
    }
    return body.dump();
  };
  auto big = post(padded(40, 2500));
  EXPECT_EQ(big.status, 200u) << show(big);
  EXPECT_EQ(rows_of_users(200062, 200062), 40);
  auto too_big = post(padded(40, max_bytes / 40 + 10));
  EXPECT_EQ(too_big.status, 413u) << show(too_big);
  EXPECT_EQ(rows_of_users(200062, 200062), 40);

  for (const auto& [body, type, status] :
       std::vector<std::tuple<std::string, std::string, unsigned>>{
         {"[{\"user_id\": 1,", "application/json", 400},
         {"{\"user_id\": 200063, \"item_id\": 3, \"behavior_type\": \"view\"}", "application/json",
          400},
         {"[]", "application/json", 422},
         {"[7]", "application/json", 422},
         {"\x93\x01", "application/x-msgpack", 400},
         {"\x90", "application/x-msgpack", 422},
         {"\x81\xa1x\x01", "application/x-msgpack", 400}}) {
    auto bad = post(body, type);
    EXPECT_EQ(bad.status, status) << body << ": " << show(bad);
    EXPECT_TRUE(bad.json.is_object() && bad.json.contains("error")) << show(bad);
  }
  auto get = request("GET", server_->host(), server_->port(), "/api/behaviors");
  EXPECT_EQ(get.status, 405u) << show(get);
  EXPECT_EQ(rows_of_users(200061, 200063), 40);
}

TEST_F(BehaviorBatch, ABatchsEventsShowInTheUsersVeryNextAnswers) {
  // Two users with cached answers; one batch buys the top item of each.
  const std::int64_t a = 11, b = 12;
  auto first_a = request("GET", server_->host(), server_->port(), "/api/recommend/11?limit=10");
  auto first_b = request("GET", server_->host(), server_->port(), "/api/recommend/12?limit=10");
  ASSERT_EQ(first_a.status, 200u) << show(first_a);
  ASSERT_EQ(first_b.status, 200u) << show(first_b);
  ASSERT_FALSE(recommended(first_a).empty());
  ASSERT_FALSE(recommended(first_b).empty());
  const auto x = recommended(first_a).front(), y = recommended(first_b).front();
  auto cached = request("GET", server_->host(), server_->port(), "/api/recommend/11?limit=10");
  ASSERT_TRUE(cached.json.value("from_cache", false)) << "the answer was not cached: " << show(cached);

  auto r = post(json::array({event(a, x, "buy"), event(b, y, "buy")}).dump());
  ASSERT_EQ(r.status, 200u) << show(r);
  // Redis is told without holding up the answer (as for single events; the
  // version check keeps a late DEL harmless): its entry goes within seconds.
  auto gone = [&] {
    auto reply = redis_->command({"EXISTS", "recommend:11"});
    return reply && reply->text == "0";
  };
  for (auto until = std::chrono::steady_clock::now() + 5s;
       !gone() && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(gone()) << "the batch's user kept a cache entry in Redis";
  for (auto [user, item] : {std::pair{a, x}, std::pair{b, y}})
    for (bool use_cache : {true, false}) {
      auto next = request("GET", server_->host(), server_->port(),
                          "/api/recommend/" + std::to_string(user) +
                            "?limit=10&use_cache=" + (use_cache ? "true" : "false"));
      ASSERT_EQ(next.status, 200u) << show(next);
      EXPECT_FALSE(next.json.value("from_cache", true)) << show(next);
      auto items = recommended(next);
      EXPECT_EQ(std::count(items.begin(), items.end(), item), 0)
        << "user " << user << " still gets bought item " << item << ": " << show(next);
    }
}

// 40 events without event ids: the writer COPYs them (store/behavior_rows.hpp).
TEST_F(BehaviorBatch, ACopySizedBatchIsStoredInRequestOrder) {
  const char* kinds[] = {"view", "buy", "cart", "click"};
  std::vector<mp_event> events;
  for (int k = 0; k < 40; ++k)
    events.push_back({200101 + k % 4, 40 - k, kinds[k % 4], ""});
  auto r = post(to_msgpack(events), "application/x-msgpack");
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_EQ(r.json["stored"], 40);
  expect_rows(r, events);
  auto ids = ids_of(r);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end())) << "ids follow the request's order";
  EXPECT_EQ(rows_of_users(200101, 200104), 40);

  // The same size with one unknown item: nothing stored, the event named.
  json body = json::array();
  for (int k = 0; k < 40; ++k)
    body.push_back(event(200111, k == 33 ? 990002 : 1 + k, "buy"));
  const auto sales = sales_of(1);
  auto bad = post(body.dump());
  EXPECT_EQ(bad.status, 422u) << show(bad);
  EXPECT_EQ(bad.json["index"], 33) << show(bad);
  EXPECT_EQ(rows_of_users(200111, 200111), 0);
  EXPECT_EQ(sales_of(1), sales);
}

TEST_F(BehaviorBatch, ABatchMixingNewAndStoredEventIdsStoresOnlyTheNew) {
  auto first = post(to_msgpack({{200121, 12, "buy", "mix-1"}, {200121, 13, "view", "mix-2"}}),
                    "application/x-msgpack");
  ASSERT_EQ(first.status, 200u) << show(first);
  const auto sales = sales_of(12);
  std::vector<mp_event> events{{200122, 14, "view", "mix-3"},
                               {200121, 12, "buy", "mix-1"},
                               {200122, 15, "click", ""},
                               {200121, 13, "view", "mix-2"}};
  auto r = post(to_msgpack(events), "application/x-msgpack");
  ASSERT_EQ(r.status, 200u) << show(r);
  EXPECT_EQ(r.json["stored"], 2) << show(r);
  EXPECT_EQ(r.json["duplicates"], 2) << show(r);
  auto ids = ids_of(r);
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[1], ids_of(first)[0]);
  EXPECT_EQ(ids[3], ids_of(first)[1]);
  expect_rows(r, events);
  EXPECT_EQ(rows_of_users(200121, 200122), 4);
  EXPECT_EQ(sales_of(12), sales) << "a stored buy counted again";
}

// ---- the decoder alone -----------------------------------------------------------------

http::request batch_request(std::string body, std::string type) {
  http::request r;
  r.method = "POST";
  r.path = "/api/behaviors";
  r.body = std::move(body);
  r.content_type = std::move(type);
  return r;
}

TEST(BehaviorBatchDecoder, MsgpackFieldsFollowTheJsonRules) {
  constexpr std::int64_t now = 1'800'000'000;
  msgpack::sbuffer out;
  msgpack::packer<msgpack::sbuffer> pk(&out);
  pk.pack_array(2);
  pk.pack_map(5);
  pk.pack(std::string{"user_id"});
  pk.pack(std::string{"42"}); // digits as a string, as in JSON
  pk.pack(std::string{"item_id"});
  pk.pack(7.0); // an integral float
  pk.pack(std::string{"behavior_type"});
  pk.pack(std::string{"buy"});
  pk.pack(std::string{"timestamp"});
  pk.pack(std::string{"2024-05-01T12:00:00Z"});
  pk.pack(std::string{"extra"});
  pk.pack(true); // unknown keys are ignored (nested values are refused: see below)
  pk.pack_map(3);
  pk.pack(std::string{"user_id"});
  pk.pack(1);
  pk.pack(std::string{"item_id"});
  pk.pack(2);
  pk.pack(std::string{"behavior_type"});
  pk.pack(std::string{"view"});
  auto parsed = http::parse_behavior_batch(
    batch_request({out.data(), out.size()}, "application/x-msgpack; charset=binary"), now, 10);
  ASSERT_TRUE(std::holds_alternative<http::behavior_batch>(parsed))
    << std::get<http::batch_error>(parsed).message;
  const auto& batch = std::get<http::behavior_batch>(parsed);
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].user, 42);
  EXPECT_EQ(batch.events[0].item, 7);
  EXPECT_EQ(batch.events[0].kind, behavior_kind::buy);
  EXPECT_EQ(batch.events[0].ts, 1714564800);
  EXPECT_EQ(batch.events[1].ts, now) << "a missing timestamp is now";
}

TEST(BehaviorBatchDecoder, NestingTrailingBytesAndBoundsAreRefused) {
  constexpr std::int64_t now = 1'800'000'000;
  auto status_of = [&](std::string body, std::size_t max) {
    auto parsed = http::parse_behavior_batch(batch_request(std::move(body), "application/msgpack"),
                                             now, max);
    auto* e = std::get_if<http::batch_error>(&parsed);
    return e ? e->status : 200u;
  };
  msgpack::sbuffer nested;
  msgpack::packer<msgpack::sbuffer> pk(&nested);
  pk.pack_array(1);
  pk.pack_map(1);
  pk.pack(std::string{"user_id"});
  pk.pack_array(1);
  pk.pack_array(0);
  EXPECT_EQ(status_of({nested.data(), nested.size()}, 10), 400u) << "nested below the fields";
  msgpack::sbuffer ok;
  msgpack::packer<msgpack::sbuffer> pk2(&ok);
  pk2.pack_array(1);
  pk2.pack_map(3);
  pk2.pack(std::string{"user_id"});
  pk2.pack(1);
  pk2.pack(std::string{"item_id"});
  pk2.pack(1);
  pk2.pack(std::string{"behavior_type"});
  pk2.pack(std::string{"view"});
  std::string good{ok.data(), ok.size()};
  EXPECT_EQ(status_of(good, 10), 200u);
  EXPECT_EQ(status_of(good + "\xc0", 10), 400u) << "bytes after the array";
  EXPECT_EQ(status_of(good, 0), 413u);
  // An array header claiming 2^32-1 events, with nothing behind it.
  EXPECT_EQ(status_of(std::string{"\xdd\xff\xff\xff\xff", 5}, 10), 413u);
  EXPECT_EQ(status_of(std::string{"\xdd\x00\x00\x00\x02\x80", 6}, 10), 400u) << "truncated";
}

// The msgpack form of other batch routes (POST /api/items): the JSON the
// route's own parser reads.
TEST(BehaviorBatchDecoder, AMsgpackArrayBecomesTheJsonItStandsFor) {
  msgpack::sbuffer out;
  msgpack::packer<msgpack::sbuffer> pk(&out);
  pk.pack_array(1);
  pk.pack_map(4);
  pk.pack(std::string{"item_id"});
  pk.pack(7);
  pk.pack(std::string{"categories"});
  pk.pack(std::vector<std::string>{"shoes", "sale"});
  pk.pack(std::string{"price"});
  pk.pack(19.5);
  pk.pack(std::string{"hidden"});
  pk.pack_nil();
  auto parsed = http::msgpack_array_to_json({out.data(), out.size()}, 10, 3);
  ASSERT_TRUE(std::holds_alternative<json>(parsed)) << std::get<http::batch_error>(parsed).message;
  EXPECT_EQ(std::get<json>(parsed),
            json::parse(R"([{"item_id":7,"categories":["shoes","sale"],"price":19.5,"hidden":null}])"));
  auto status_of = [](std::string body, std::size_t max, std::size_t depth) {
    auto p = http::msgpack_array_to_json(body, max, depth);
    auto* e = std::get_if<http::batch_error>(&p);
    return e ? e->status : 200u;
  };
  std::string body{out.data(), out.size()};
  EXPECT_EQ(status_of(body, 10, 2), 400u) << "the categories array is at depth 3";
  EXPECT_EQ(status_of(body, 0, 3), 413u);
  EXPECT_EQ(status_of(std::string{"\x91\xc4\x01x", 4}, 10, 3), 400u) << "binary";
  EXPECT_EQ(status_of(std::string{"\x91\x81\x01\x02", 4}, 10, 3), 400u) << "an integer key";
  EXPECT_EQ(status_of(std::string{"\x91\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00", 10}, 10, 3), 400u)
    << "infinity";
  EXPECT_EQ(status_of("\x90", 10, 3), 422u);
}

} // namespace
} // namespace recd::test
