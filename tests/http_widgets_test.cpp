// The HTTP contract of item pages and sessions (nodes/http_widgets.hpp):
// what is accepted, and which 4xx names which field.
#include <gtest/gtest.h>

#include "nodes/http_widgets.hpp"

namespace recd::http {
namespace {

request get(std::string path, std::vector<std::pair<std::string, std::string>> query = {}) {
  request r;
  r.method = "GET";
  r.path = std::move(path);
  r.query = std::move(query);
  return r;
}

request post(std::string body) {
  request r;
  r.method = "POST";
  r.path = "/api/recommend";
  r.body = std::move(body);
  return r;
}

api_error error_of(const std::optional<std::variant<item_page_query, api_error>>& p) {
  EXPECT_TRUE(p.has_value());
  EXPECT_TRUE(std::holds_alternative<api_error>(*p));
  return std::get<api_error>(*p);
}

api_error error_of(const std::variant<session_request, api_error>& p) {
  EXPECT_TRUE(std::holds_alternative<api_error>(p));
  return std::get<api_error>(p);
}

TEST(http_widgets, item_pages_take_an_id_a_limit_and_a_category) {
  auto p = parse_item_page(get("/api/items/42/similar", {{"limit", "5"}, {"limit", "7"},
                                                          {"category", "shoes"}}));
  ASSERT_TRUE(p && std::holds_alternative<item_page_query>(*p));
  const auto& q = std::get<item_page_query>(*p);
  EXPECT_EQ(q.page, item_page::similar);
  EXPECT_EQ(q.item, 42);
  EXPECT_EQ(q.limit, 7) << "the last value counts";
  EXPECT_EQ(q.category, "shoes");
  auto a = parse_item_page(get("/api/items/0/also-bought"));
  ASSERT_TRUE(a && std::holds_alternative<item_page_query>(*a));
  EXPECT_EQ(std::get<item_page_query>(*a).page, item_page::also_bought);
  EXPECT_EQ(std::get<item_page_query>(*a).limit, 10);
}

TEST(http_widgets, other_item_paths_are_left_to_their_routes) {
  EXPECT_FALSE(parse_item_page(get("/api/items/42")).has_value());
  EXPECT_FALSE(parse_item_page(get("/api/items/42/other")).has_value());
  EXPECT_FALSE(parse_item_page(get("/api/recommend/42")).has_value());
}

TEST(http_widgets, bad_item_page_requests_name_the_field) {
  EXPECT_EQ(error_of(parse_item_page(get("/api/items/x/similar"))).status, 422u);
  EXPECT_EQ(error_of(parse_item_page(get("/api/items/2147483648/similar"))).status, 422u);
  for (const char* limit : {"0", "101", "", "-3", "2.0"}) {
    auto e = error_of(parse_item_page(get("/api/items/1/also-bought", {{"limit", limit}})));
    EXPECT_EQ(e.status, 422u);
    EXPECT_EQ(e.message.rfind("limit:", 0), 0u) << e.message;
  }
  EXPECT_EQ(error_of(parse_item_page(get("/api/items/1/similar", {{"category", ""}}))).status,
            422u);
  auto post_page = get("/api/items/1/similar");
  post_page.method = "POST";
  EXPECT_EQ(error_of(parse_item_page(post_page)).status, 405u);
}

TEST(http_widgets, a_session_lists_items_with_kinds_and_times_or_bare_ids) {
  auto p = parse_session(post(R"({"items": [{"item_id": 3, "behavior_type": "cart",
                                    "timestamp": "2024-05-01T12:00:00Z"}, 9, {"item_id": "4"}],
                                  "user_id": 12, "limit": 20})"),
                         2000000000);
  ASSERT_TRUE(std::holds_alternative<session_request>(p));
  const auto& s = std::get<session_request>(p);
  EXPECT_EQ(s.user, 12);
  EXPECT_EQ(s.limit, 20);
  ASSERT_EQ(s.items.size(), 3u);
  EXPECT_EQ(s.items[0].item, 3);
  EXPECT_EQ(s.items[0].kind, behavior_kind::cart);
  EXPECT_EQ(s.items[0].ts, 1714564800);
  EXPECT_EQ(s.items[1].item, 9);
  EXPECT_EQ(s.items[1].kind, behavior_kind::view);
  EXPECT_EQ(s.items[1].ts, 2000000000) << "now by default";
  EXPECT_EQ(s.items[2].item, 4);
  auto anonymous = parse_session(post(R"({"items": [], "user_id": null})"), 0);
  ASSERT_TRUE(std::holds_alternative<session_request>(anonymous));
  EXPECT_LT(std::get<session_request>(anonymous).user, 0);
  EXPECT_EQ(std::get<session_request>(anonymous).limit, 50);
}

TEST(http_widgets, bad_sessions_name_the_field) {
  EXPECT_EQ(error_of(parse_session(post("nope"), 0)).status, 400u);
  EXPECT_EQ(error_of(parse_session(post("[]"), 0)).status, 400u);
  std::string many = R"({"items": [)";
  for (int k = 0; k < 101; ++k)
    many += (k ? "," : "") + std::to_string(k);
  many += "]}";
  for (auto [body, field] : std::vector<std::pair<std::string, std::string>>{
         {"{}", "items:"},
         {R"({"items": {}})", "items:"},
         {many, "items:"},
         {R"({"items": [true]})", "items[0]:"},
         {R"({"items": [1, {"item_id": 1.5}]})", "items[1].item_id:"},
         {R"({"items": [{"item_id": 1, "behavior_type": 3}]})", "items[0].behavior_type:"},
         {R"({"items": [{"item_id": 1, "timestamp": -5}]})", "items[0].timestamp:"},
         {R"({"items": [], "user_id": -1})", "user_id:"},
         {R"({"items": [], "limit": "5"})", "limit:"},
       }) {
    auto e = error_of(parse_session(post(body), 1700000000));
    EXPECT_EQ(e.status, 422u) << body;
    EXPECT_EQ(e.message.rfind(field, 0), 0u) << body << " -> " << e.message;
  }
}

} // namespace
} // namespace recd::http
