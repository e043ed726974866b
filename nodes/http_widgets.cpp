// Request validation for item pages and sessions. See http_widgets.hpp.
#include "nodes/http_widgets.hpp"

#include "nodes/http_fields.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace recd::http {

namespace {

using json = nlohmann::json;

constexpr unix_seconds max_future = 24 * 60 * 60; // as POST /api/behavior
constexpr std::size_t max_category = 200;

api_error invalid(const std::string& field, const std::string& what) {
  return {422, field + ": " + what};
}

std::optional<api_error> limit_param(std::optional<std::string_view> text, std::int32_t& limit) {
  if (!text)
    return std::nullopt;
  auto v = id_text(*text);
  if (!v || *v < 1 || *v > 100)
    return invalid("limit", "must be an integer between 1 and 100");
  limit = *v;
  return std::nullopt;
}

std::variant<session_item, api_error> session_entry(const json& j, const std::string& at,
                                                    unix_seconds now) {
  session_item out;
  out.ts = now;
  if (!j.is_object()) {
    auto id = id_json(j);
    if (!id || j.is_string())
      return invalid(at, "must be an object with item_id, or an item id");
    out.item = *id;
    return out;
  }
  auto field = [&](const char* name) -> const json* {
    auto it = j.find(name);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  const json* item = field("item_id");
  if (item == nullptr)
    return invalid(at + ".item_id", "field required");
  auto id = id_json(*item);
  if (!id)
    return invalid(at + ".item_id", "must be an integer between 0 and 2147483647");
  out.item = *id;
  if (const json* kind = field("behavior_type")) {
    auto parsed = kind->is_string() ? parse_behavior_kind(kind->get_ref<const std::string&>())
                                    : std::nullopt;
    if (!parsed)
      return invalid(at + ".behavior_type", "must be one of view, click, cart, buy");
    out.kind = *parsed;
  }
  if (const json* ts = field("timestamp")) {
    auto parsed = timestamp_json(*ts);
    if (!parsed)
      return invalid(at + ".timestamp", "must be Unix seconds or an ISO-8601 date-time");
    if (*parsed < 0)
      return invalid(at + ".timestamp", "must not be before 1970");
    if (*parsed > now + max_future)
      return invalid(at + ".timestamp", "must not be more than 1 day ahead");
    out.ts = *parsed;
  }
  return out;
}

} // namespace

std::optional<std::variant<item_page_query, api_error>> parse_item_page(const request& r) {
  constexpr std::string_view prefix = "/api/items/";
  std::string_view path = r.path;
  if (path.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  auto rest = path.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  auto id = rest.substr(0, slash);
  auto what = rest.substr(slash + 1);
  item_page_query q;
  if (what == "similar")
    q.page = item_page::similar;
  else if (what == "also-bought")
    q.page = item_page::also_bought;
  else
    return std::nullopt;
  if (r.method != "GET")
    return api_error{405, "method " + r.method + " not allowed on " + r.path};
  auto item = id_text(id);
  if (!item)
    return invalid("item_id", "must be an integer between 0 and 2147483647");
  q.item = *item;
  if (auto err = limit_param(last_param(r, "limit"), q.limit))
    return *err;
  if (auto category = last_param(r, "category"); category && q.page == item_page::similar) {
    if (category->empty() || category->size() > max_category)
      return invalid("category", "must be 1 to 200 bytes");
    q.category = std::string{*category};
  }
  return q;
}

std::variant<session_request, api_error> parse_session(const request& r, unix_seconds now) {
  auto body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object())
    return api_error{400, "malformed JSON: the body must be a JSON object"};
  session_request out;
  auto items = body.find("items");
  if (items == body.end() || items->is_null())
    return invalid("items", "field required");
  if (!items->is_array())
    return invalid("items", "must be an array");
  if (items->size() > max_session_items)
    return invalid("items", "at most " + std::to_string(max_session_items) + " items");
  for (std::size_t k = 0; k < items->size(); ++k) {
    auto entry = session_entry((*items)[k], "items[" + std::to_string(k) + "]", now);
    if (auto* e = std::get_if<api_error>(&entry))
      return std::move(*e);
    out.items.push_back(std::get<session_item>(entry));
  }
  if (auto user = body.find("user_id"); user != body.end() && !user->is_null()) {
    auto id = id_json(*user);
    if (!id)
      return invalid("user_id", "must be an integer between 0 and 2147483647");
    out.user = *id;
  }
  if (auto limit = body.find("limit"); limit != body.end() && !limit->is_null()) {
    auto v = id_json(*limit);
    if (!v || *v < 1 || *v > 100 || limit->is_string())
      return invalid("limit", "must be an integer between 1 and 100");
    out.limit = *v;
  } else if (auto err = limit_param(last_param(r, "limit"), out.limit)) {
    return *err;
  }
  return out;
}

} // namespace recd::http
