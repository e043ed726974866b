// The HTTP contract of recd's API (nodes/http_api.hpp): which requests become
// commands and which become 4xx errors. Table-driven; each row is one case.

#include "nodes/http_api.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace {

using namespace recd;
using namespace recd::http;
using query_list = std::vector<std::pair<std::string, std::string>>;

request make_request(std::string path, query_list query = {}, std::string body = {}) {
  request r;
  r.method = body.empty() ? "GET" : "POST";
  r.path = std::move(path);
  r.query = std::move(query);
  r.body = std::move(body);
  return r;
}

// 2024-05-01T12:00:00Z, the "now" of every behavior test.
constexpr unix_seconds now = 1714564800;

// Prints a failing row's inputs.
std::string describe(const request& r) {
  std::string s = r.path;
  for (const auto& [k, v] : r.query)
    s += " " + k + "=" + v;
  if (!r.body.empty())
    s += " body=" + r.body;
  return s;
}

// ---------------------------------------------------------------------------
// GET /api/recommend/{user_id}

struct recommend_ok {
  std::string path;
  query_list query;
  user_id user;
  std::int32_t limit;
  bool use_cache;
};

TEST(HttpApiRecommend, AcceptsValidIdsLimitsAndFastApiBooleans) {
  const std::vector<recommend_ok> rows = {
      {"/api/recommend/42", {}, 42, 50, true},
      {"/api/recommend/0", {}, 0, 50, true},
      {"/api/recommend/2147483647", {}, 2147483647, 50, true},
      {"/api/recommend/007", {}, 7, 50, true},
      {"/api/recommend/5", {{"limit", "1"}}, 5, 1, true},
      {"/api/recommend/5", {{"limit", "100"}}, 5, 100, true},
      {"/api/recommend/5", {{"limit", "10"}, {"use_cache", "false"}}, 5, 10, false},
      {"/api/recommend/5", {{"use_cache", "true"}}, 5, 50, true},
      {"/api/recommend/5", {{"use_cache", "0"}}, 5, 50, false},
      {"/api/recommend/5", {{"use_cache", "1"}}, 5, 50, true},
      {"/api/recommend/5", {{"use_cache", "no"}}, 5, 50, false},
      {"/api/recommend/5", {{"use_cache", "yes"}}, 5, 50, true},
      {"/api/recommend/5", {{"use_cache", "FALSE"}}, 5, 50, false},
      {"/api/recommend/5", {{"use_cache", "True"}}, 5, 50, true},
      {"/api/recommend/5", {{"use_cache", "No"}}, 5, 50, false},
      {"/api/recommend/5", {{"use_cache", "off"}}, 5, 50, false},
      {"/api/recommend/5", {{"use_cache", "on"}}, 5, 50, true},
      // Unknown parameters are ignored; a repeated one counts with its last value.
      {"/api/recommend/5",
       {{"foo", "bar"}, {"limit", "abc-but-ignored?"}, {"limit", "7"}},
       5,
       7,
       true},
      {"/api/recommend/5", {{"debug", "1"}}, 5, 50, true},
  };
  for (const auto& row : rows) {
    const auto req = make_request(row.path, row.query);
    const auto result = parse_recommend(req);
    ASSERT_TRUE(std::holds_alternative<recommend_query>(result)) << describe(req);
    const auto& q = std::get<recommend_query>(result);
    EXPECT_EQ(q.user, row.user) << describe(req);
    EXPECT_EQ(q.limit, row.limit) << describe(req);
    EXPECT_EQ(q.use_cache, row.use_cache) << describe(req);
  }
}

struct recommend_bad {
  std::string path;
  query_list query;
  unsigned status;
  std::string field; // the error message starts with it
};

TEST(HttpApiRecommend, RejectsBadIdsLimitsAndBooleansNamingTheField) {
  const std::vector<recommend_bad> rows = {
      {"/api/recommend/-1", {}, 422, "user_id"},
      {"/api/recommend/abc", {}, 422, "user_id"},
      {"/api/recommend/1.5", {}, 422, "user_id"},
      {"/api/recommend/99999999999", {}, 422, "user_id"},
      {"/api/recommend/2147483648", {}, 422, "user_id"},
      {"/api/recommend/+5", {}, 422, "user_id"},
      {"/api/recommend/ 5", {}, 422, "user_id"},
      {"/api/recommend/5 ", {}, 422, "user_id"},
      {"/api/recommend/0x10", {}, 422, "user_id"},
      {"/api/recommend/1e3", {}, 422, "user_id"},
      {"/api/recommend/5", {{"limit", "0"}}, 422, "limit"},
      {"/api/recommend/5", {{"limit", "101"}}, 422, "limit"},
      {"/api/recommend/5", {{"limit", "-1"}}, 422, "limit"},
      {"/api/recommend/5", {{"limit", "abc"}}, 422, "limit"},
      {"/api/recommend/5", {{"limit", "1.5"}}, 422, "limit"},
      {"/api/recommend/5", {{"limit", ""}}, 422, "limit"},
      {"/api/recommend/5", {{"limit", "+5"}}, 422, "limit"},
      {"/api/recommend/5", {{"limit", "99999999999"}}, 422, "limit"},
      {"/api/recommend/5", {{"use_cache", "maybe"}}, 422, "use_cache"},
      {"/api/recommend/5", {{"use_cache", ""}}, 422, "use_cache"},
      {"/api/recommend/5", {{"use_cache", "2"}}, 422, "use_cache"},
      {"/api/recommend/5", {{"use_cache", "truee"}}, 422, "use_cache"},
      // The id is checked first, like FastAPI's path-before-query order.
      {"/api/recommend/x", {{"limit", "0"}}, 422, "user_id"},
      // Not a recommend URL at all.
      {"/api/recommend/", {}, 404, ""},
      {"/api/recommend/5/extra", {}, 404, ""},
  };
  for (const auto& row : rows) {
    const auto req = make_request(row.path, row.query);
    const auto result = parse_recommend(req);
    ASSERT_TRUE(std::holds_alternative<api_error>(result)) << describe(req);
    const auto& e = std::get<api_error>(result);
    EXPECT_EQ(e.status, row.status) << describe(req);
    EXPECT_EQ(e.message.rfind(row.field, 0), 0u) << describe(req) << " -> " << e.message;
  }
}

recommend_filter filter_of(const request& req) {
  const auto result = parse_recommend(req);
  if (!std::holds_alternative<recommend_query>(result)) {
    ADD_FAILURE() << describe(req) << " -> " << std::get<api_error>(result).message;
    return {};
  }
  return std::get<recommend_query>(result).filter;
}

TEST(HttpApiRecommendFilters, WithoutFiltersTheRequestNarrowsNothing) {
  const auto f = filter_of(make_request("/api/recommend/5"));
  EXPECT_TRUE(f.category.empty());
  EXPECT_TRUE(f.exclude.empty());
  EXPECT_EQ(f.offset, 0);
  EXPECT_EQ(f.exclude_seen, -1);
  EXPECT_FALSE(f.narrows());
  // Empty values count as absent.
  EXPECT_FALSE(filter_of(make_request("/api/recommend/5", {{"category", ""}, {"exclude", ""}})).narrows());
}

TEST(HttpApiRecommendFilters, AcceptsCategoryExcludeOffsetAndExcludeSeen) {
  auto f = filter_of(make_request("/api/recommend/5", {{"category", "Home & Garden"},
                                                       {"exclude", "15,4,8,4"},
                                                       {"offset", "20"},
                                                       {"exclude_seen", "false"}}));
  EXPECT_EQ(f.category, "Home & Garden");
  EXPECT_EQ(f.exclude, (std::vector<item_id>{4, 8, 15})); // sorted, distinct
  EXPECT_EQ(f.offset, 20);
  EXPECT_EQ(f.exclude_seen, 0);
  EXPECT_TRUE(f.narrows());
  EXPECT_EQ(filter_of(make_request("/api/recommend/5", {{"exclude_seen", "yes"}})).exclude_seen, 1);
  EXPECT_EQ(filter_of(make_request("/api/recommend/5", {{"offset", "900"}})).offset, 900);
  // An offset alone pages the user's own list: it stays cacheable.
  EXPECT_FALSE(filter_of(make_request("/api/recommend/5", {{"offset", "10"}})).narrows());
  std::string many;
  for (int i = 0; i < 500; ++i)
    many += (i ? "," : "") + std::to_string(i);
  EXPECT_EQ(filter_of(make_request("/api/recommend/5", {{"exclude", many}})).exclude.size(), 500u);
  EXPECT_EQ(filter_of(make_request("/api/recommend/5", {{"exclude", "2147483647"}})).exclude,
            (std::vector<item_id>{2147483647}));
}

TEST(HttpApiRecommendFilters, RejectsBadFiltersNamingTheParameter) {
  std::string too_many;
  for (int i = 0; i <= 500; ++i)
    too_many += (i ? "," : "") + std::to_string(i);
  const std::vector<recommend_bad> rows = {
      {"/api/recommend/5", {{"category", std::string(101, 'c')}}, 422, "category"},
      {"/api/recommend/5", {{"category", "a\x01b"}}, 422, "category"},
      {"/api/recommend/5", {{"category", "tab\there"}}, 422, "category"},
      {"/api/recommend/5", {{"exclude", "1,,2"}}, 422, "exclude"},
      {"/api/recommend/5", {{"exclude", "1,2,"}}, 422, "exclude"},
      {"/api/recommend/5", {{"exclude", ",1"}}, 422, "exclude"},
      {"/api/recommend/5", {{"exclude", "1;2"}}, 422, "exclude"},
      {"/api/recommend/5", {{"exclude", "-1"}}, 422, "exclude"},
      {"/api/recommend/5", {{"exclude", "1, 2"}}, 422, "exclude"},
      {"/api/recommend/5", {{"exclude", "2147483648"}}, 422, "exclude"},
      {"/api/recommend/5", {{"exclude", "abc"}}, 422, "exclude"},
      {"/api/recommend/5", {{"exclude", too_many}}, 422, "exclude"},
      {"/api/recommend/5", {{"offset", "-1"}}, 422, "offset"},
      {"/api/recommend/5", {{"offset", "901"}}, 422, "offset"},
      {"/api/recommend/5", {{"offset", "1.5"}}, 422, "offset"},
      {"/api/recommend/5", {{"offset", ""}}, 422, "offset"},
      {"/api/recommend/5", {{"offset", "ten"}}, 422, "offset"},
      {"/api/recommend/5", {{"exclude_seen", "maybe"}}, 422, "exclude_seen"},
      {"/api/recommend/5", {{"exclude_seen", ""}}, 422, "exclude_seen"},
  };
  for (const auto& row : rows) {
    const auto req = make_request(row.path, row.query);
    const auto result = parse_recommend(req);
    ASSERT_TRUE(std::holds_alternative<api_error>(result)) << describe(req);
    const auto& e = std::get<api_error>(result);
    EXPECT_EQ(e.status, row.status) << describe(req);
    EXPECT_EQ(e.message.rfind(row.field + ": ", 0), 0u) << describe(req) << " -> " << e.message;
  }
}

TEST(HttpApiRecommend, ErrorResponseIsTheJsonErrorBody) {
  const auto res = error_response({422, "limit: must be an integer between 1 and 100"});
  EXPECT_EQ(res.status, 422u);
  EXPECT_EQ(res.content_type, "application/json");
  EXPECT_EQ(res.body, R"({"error":"limit: must be an integer between 1 and 100","status":422})");
}

// ---------------------------------------------------------------------------
// POST /api/behavior

struct behavior_ok {
  query_list query;
  std::string body;
  user_id user;
  item_id item;
  behavior_kind kind;
  std::optional<unix_seconds> ts;
};

TEST(HttpApiBehavior, AcceptsQueryFormJsonFormAndTheirMix) {
  using bk = behavior_kind;
  const std::vector<behavior_ok> rows = {
      // The old API: query parameters only.
      {{{"user_id", "1"}, {"item_id", "2"}, {"behavior_type", "view"}}, "", 1, 2, bk::view, {}},
      {{{"user_id", "1"}, {"item_id", "2"}, {"behavior_type", "click"}}, "", 1, 2, bk::click, {}},
      {{{"user_id", "1"}, {"item_id", "2"}, {"behavior_type", "cart"}}, "", 1, 2, bk::cart, {}},
      {{{"user_id", "0"}, {"item_id", "2147483647"}, {"behavior_type", "buy"}},
       "",
       0,
       2147483647,
       bk::buy,
       {}},
      {{{"behavior_type", "view"}, {"item_id", "9"}, {"user_id", "8"}, {"extra", "x"}},
       "",
       8,
       9,
       bk::view,
       {}},
      // A whitespace-only body counts as no body.
      {{{"user_id", "1"}, {"item_id", "2"}, {"behavior_type", "view"}},
       " \r\n",
       1,
       2,
       bk::view,
       {}},
      // The JSON body.
      {{}, R"({"user_id": 1, "item_id": 2, "behavior_type": "buy"})", 1, 2, bk::buy, {}},
      {{}, R"({"user_id": "12", "item_id": "34", "behavior_type": "cart"})", 12, 34, bk::cart, {}},
      {{}, R"({"user_id": 3.0, "item_id": 4, "behavior_type": "view"})", 3, 4, bk::view, {}},
      {{},
       R"({"user_id": 2147483647, "item_id": 0, "behavior_type": "view"})",
       2147483647,
       0,
       bk::view,
       {}},
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "extra": [1]})",
       1,
       2,
       bk::view,
       {}},
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": null})",
       1,
       2,
       bk::view,
       {}},
      // Both present: the body wins, field by field; a JSON null defers to the query.
      {{{"user_id", "1"}, {"item_id", "2"}, {"behavior_type", "view"}},
       R"({"user_id": 9, "behavior_type": "buy"})",
       9,
       2,
       bk::buy,
       {}},
      {{{"user_id", "1"}, {"item_id", "2"}, {"behavior_type", "view"}},
       R"({"user_id": null, "item_id": 5})",
       1,
       5,
       bk::view,
       {}},
      {{{"user_id", "abc"}, {"item_id", "-1"}, {"behavior_type", "nope"}},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "click"})",
       1,
       2,
       bk::click,
       {}},
      // Timestamps.
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": 1714564800})",
       1,
       2,
       bk::view,
       1714564800},
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": 1714564000.9})",
       1,
       2,
       bk::view,
       1714564000},
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": "1714564800"})",
       1,
       2,
       bk::view,
       1714564800},
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": "2024-05-01T12:00:00Z"})",
       1,
       2,
       bk::view,
       1714564800},
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": "2024-05-01T12:00:00+02:00"})",
       1,
       2,
       bk::view,
       1714557600},
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": "2024-05-01 12:00:00"})",
       1,
       2,
       bk::view,
       1714564800},
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": "2024-05-01T12:00:00.250Z"})",
       1,
       2,
       bk::view,
       1714564800},
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": 0})",
       1,
       2,
       bk::view,
       0},
      // Exactly one day ahead is still accepted (clock skew, time zones).
      {{},
       R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": 1714651200})",
       1,
       2,
       bk::view,
       1714651200},
      {{{"user_id", "1"},
        {"item_id", "2"},
        {"behavior_type", "view"},
        {"timestamp", "2024-05-01T12:00:00Z"}},
       "",
       1,
       2,
       bk::view,
       1714564800},
  };
  for (const auto& row : rows) {
    const auto req = make_request("/api/behavior", row.query, row.body);
    const auto result = parse_behavior(req, now);
    ASSERT_TRUE(std::holds_alternative<behavior_command>(result))
        << describe(req) << " -> " << std::get<api_error>(result).message;
    const auto& cmd = std::get<behavior_command>(result);
    EXPECT_EQ(cmd.event.user, row.user) << describe(req);
    EXPECT_EQ(cmd.event.item, row.item) << describe(req);
    EXPECT_EQ(cmd.event.kind, row.kind) << describe(req);
    EXPECT_EQ(cmd.has_timestamp, row.ts.has_value()) << describe(req);
    if (row.ts) {
      EXPECT_EQ(cmd.event.ts, *row.ts) << describe(req);
    }
  }
}

struct behavior_bad {
  query_list query;
  std::string body;
  unsigned status;
  std::string message_prefix;
};

TEST(HttpApiBehavior, RejectsMissingOrInvalidFieldsAndMalformedJson) {
  const query_list ok_query = {{"user_id", "1"}, {"item_id", "2"}, {"behavior_type", "view"}};
  auto with = [&](std::string key, std::string value) {
    query_list q;
    for (const auto& kv : ok_query)
      if (kv.first != key)
        q.push_back(kv);
    q.emplace_back(std::move(key), std::move(value));
    return q;
  };
  auto without = [&](const std::string& key) {
    query_list q;
    for (const auto& kv : ok_query)
      if (kv.first != key)
        q.push_back(kv);
    return q;
  };
  auto json_ts = [](const std::string& ts) {
    return R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": )" + ts + "}";
  };

  const std::vector<behavior_bad> rows = {
      // Missing fields, in either form.
      {{}, "", 422, "user_id: field required"},
      {without("user_id"), "", 422, "user_id: field required"},
      {without("item_id"), "", 422, "item_id: field required"},
      {without("behavior_type"), "", 422, "behavior_type: field required"},
      {{}, R"({"item_id": 2, "behavior_type": "view"})", 422, "user_id: field required"},
      {{}, R"({"user_id": 1, "behavior_type": "view"})", 422, "item_id: field required"},
      {{}, R"({"user_id": 1, "item_id": 2})", 422, "behavior_type: field required"},
      {{},
       R"({"user_id": null, "item_id": 2, "behavior_type": "view"})",
       422,
       "user_id: field required"},
      // Bad ids in the query.
      {with("user_id", "-1"), "", 422, "user_id:"},
      {with("user_id", "abc"), "", 422, "user_id:"},
      {with("user_id", "1.5"), "", 422, "user_id:"},
      {with("user_id", "2147483648"), "", 422, "user_id:"},
      {with("user_id", "99999999999"), "", 422, "user_id:"},
      {with("user_id", ""), "", 422, "user_id:"},
      {with("user_id", "+1"), "", 422, "user_id:"},
      {with("item_id", "-5"), "", 422, "item_id:"},
      {with("item_id", " 5"), "", 422, "item_id:"},
      // Bad ids in the body.
      {{}, R"({"user_id": -1, "item_id": 2, "behavior_type": "view"})", 422, "user_id:"},
      {{}, R"({"user_id": 1.5, "item_id": 2, "behavior_type": "view"})", 422, "user_id:"},
      {{}, R"({"user_id": 2147483648, "item_id": 2, "behavior_type": "view"})", 422, "user_id:"},
      {{}, R"({"user_id": 1e20, "item_id": 2, "behavior_type": "view"})", 422, "user_id:"},
      {{},
       R"({"user_id": 99999999999999999999, "item_id": 2, "behavior_type": "view"})",
       422,
       "user_id:"},
      {{}, R"({"user_id": true, "item_id": 2, "behavior_type": "view"})", 422, "user_id:"},
      {{}, R"({"user_id": "1a", "item_id": 2, "behavior_type": "view"})", 422, "user_id:"},
      {{}, R"({"user_id": "-1", "item_id": 2, "behavior_type": "view"})", 422, "user_id:"},
      {{}, R"({"user_id": [1], "item_id": 2, "behavior_type": "view"})", 422, "user_id:"},
      {{}, R"({"user_id": {}, "item_id": 2, "behavior_type": "view"})", 422, "user_id:"},
      {{}, R"({"user_id": 1, "item_id": -2, "behavior_type": "view"})", 422, "item_id:"},
      {{}, R"({"user_id": 1, "item_id": 2.25, "behavior_type": "view"})", 422, "item_id:"},
      // The body wins even when its value is the invalid one.
      {ok_query, R"({"user_id": -1})", 422, "user_id:"},
      // Unknown behavior types (exact, lowercase names only).
      {with("behavior_type", "purchase"), "", 422, "behavior_type:"},
      {with("behavior_type", "VIEW"), "", 422, "behavior_type:"},
      {with("behavior_type", ""), "", 422, "behavior_type:"},
      {with("behavior_type", "view "), "", 422, "behavior_type:"},
      {{}, R"({"user_id": 1, "item_id": 2, "behavior_type": "like"})", 422, "behavior_type:"},
      {{}, R"({"user_id": 1, "item_id": 2, "behavior_type": 0})", 422, "behavior_type:"},
      {{}, R"({"user_id": 1, "item_id": 2, "behavior_type": ["view"]})", 422, "behavior_type:"},
      // Malformed JSON: not JSON, or JSON that is not an object.
      {ok_query, "{", 400, "malformed JSON"},
      {ok_query, "user_id=1", 400, "malformed JSON"},
      {ok_query, R"({"user_id": 1,})", 400, "malformed JSON"},
      {ok_query, "[1, 2]", 400, "malformed JSON"},
      {ok_query, R"("view")", 400, "malformed JSON"},
      {ok_query, "42", 400, "malformed JSON"},
      {ok_query, "null", 400, "malformed JSON"},
      {ok_query, R"({"user_id": 1} trailing)", 400, "malformed JSON"},
      {ok_query, "{\"user_id\": \"\xff\"}", 400, "malformed JSON"},
      // Timestamps: unparsable, before 1970, more than a day ahead.
      {{}, json_ts(R"("yesterday")"), 422, "timestamp:"},
      {{}, json_ts(R"("")"), 422, "timestamp:"},
      {{}, json_ts(R"("2024-13-01T00:00:00Z")"), 422, "timestamp:"},
      {{}, json_ts(R"("2024-05-01T12:00:00+25:00")"), 422, "timestamp:"},
      {{}, json_ts("true"), 422, "timestamp:"},
      {{}, json_ts("{}"), 422, "timestamp:"},
      {{}, json_ts("-1"), 422, "timestamp: must not be before 1970"},
      {{}, json_ts("-0.5"), 422, "timestamp: must not be before 1970"},
      {{}, json_ts(R"("1969-12-31T23:59:59Z")"), 422, "timestamp: must not be before 1970"},
      {{}, json_ts("1714651201"), 422, "timestamp: must not be more than 1 day ahead"},
      {{}, json_ts("1714651200.5e3"), 422, "timestamp: must not be more than 1 day ahead"},
      {{}, json_ts("1e300"), 422, "timestamp:"},
      {{}, json_ts("17146512000000"), 422, "timestamp: must not be more than 1 day ahead"},
      {{}, json_ts("18446744073709551615"), 422, "timestamp:"},
      {{},
       json_ts(R"("2030-01-01T00:00:00Z")"),
       422,
       "timestamp: must not be more than 1 day ahead"},
      {with("timestamp", "soon"), "", 422, "timestamp:"},
  };
  for (const auto& row : rows) {
    const auto req = make_request("/api/behavior", row.query, row.body);
    const auto result = parse_behavior(req, now);
    ASSERT_TRUE(std::holds_alternative<api_error>(result)) << describe(req);
    const auto& e = std::get<api_error>(result);
    EXPECT_EQ(e.status, row.status) << describe(req) << " -> " << e.message;
    EXPECT_EQ(e.message.rfind(row.message_prefix, 0), 0u) << describe(req) << " -> " << e.message;
  }
}

TEST(HttpApiBehavior, WithoutAnExplicitNowUsesTheSystemClock) {
  const auto ok = make_request(
      "/api/behavior", {},
      R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": 1714564800})");
  EXPECT_TRUE(std::holds_alternative<behavior_command>(parse_behavior(ok)));
  const auto future = make_request(
      "/api/behavior", {},
      R"({"user_id": 1, "item_id": 2, "behavior_type": "view", "timestamp": "2999-01-01T00:00:00Z"})");
  EXPECT_TRUE(std::holds_alternative<api_error>(parse_behavior(future)));
}

// ---------------------------------------------------------------------------
// parse_timestamp (the CSV importer's parser, plus trimming)

TEST(HttpApiTimestamp, ParsesUnixSecondsAndIso8601) {
  const std::vector<std::pair<std::string, unix_seconds>> rows = {
      {"0", 0},
      {"1714564800", 1714564800},
      {" 1714564800\n", 1714564800},
      {"1714564800.75", 1714564800},
      {"1714564800.0", 1714564800},
      {"-1", -1},
      {"-1.5", -2},
      {"+1714564800", 1714564800},
      {"2024-05-01T12:00:00Z", 1714564800},
      {"2024-05-01t12:00:00z", 1714564800},
      {"2024-05-01T12:00:00+00:00", 1714564800},
      {"2024-05-01T12:00:00+02:00", 1714557600},
      {"2024-05-01T12:00:00+0200", 1714557600},
      {"2024-05-01T12:00:00+02", 1714557600},
      {"2024-05-01T12:00:00-05:30", 1714584600},
      {"2024-05-01 12:00:00", 1714564800},
      {"2024-05-01T12:00:00", 1714564800},
      {"2024-05-01T12:00", 1714564800},
      {"2024-05-01T12:00:00.123456Z", 1714564800},
      {"2024-05-01T12:00:00.999999999+02:00", 1714557600},
      {"2024-05-01 12:00:00,5", 1714564800},
      {"2024-05-01", 1714521600},
      {"2024-02-29T00:00:00Z", 1709164800},
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59Z", -1},
  };
  for (const auto& [text, expected] : rows) {
    const auto ts = parse_timestamp(text);
    ASSERT_TRUE(ts.has_value()) << text;
    EXPECT_EQ(*ts, expected) << text;
  }
}

TEST(HttpApiTimestamp, RejectsEverythingElse) {
  const std::vector<std::string> rows = {
      "",
      "   ",
      "abc",
      "now",
      "1.",
      ".5",
      "1e9",
      "0000-12-31T00:00:00Z",
      "+-1",
      "0x10",
      "99999999999999999999",
      "2023-02-29T00:00:00Z",
      "2024-04-31",
      "2024-00-10",
      "2024-05-01T24:00:00Z",
      "2024-05-01T12:60:00Z",
      "2024-05-01T12:00:60Z",
      "2024-5-1T12:00:00Z",
      "2024-05-01T1:00:00Z",
      "2024-05-01X12:00:00",
      "2024-05-01T12",
      "2024-05-01T12:00:00.",
      "2024-05-01T12:00:00.Z",
      "2024-05-01T12:00:00Zjunk",
      "2024-05-01T12:00:00+2",
      "2024-05-01T12:00:00+02:0",
      "2024-05-01T12:00:00+0200junk",
      "2024-05-01T12:00:00 +02:00",
      "12:00:00",
      "01/05/2024",
  };
  for (const auto& text : rows)
    EXPECT_FALSE(parse_timestamp(text).has_value()) << '"' << text << '"';
}

} // namespace
