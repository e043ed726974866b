// Request validation for recd's HTTP API. See http_api.hpp for the contract.

#include "nodes/http_api.hpp"
#include "nodes/http_fields.hpp"

#include "engine/timestamp.hpp"
#include "protocol/limits.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>

namespace recd::http {

namespace {

using json = nlohmann::json;

constexpr unix_seconds max_future = 24 * 60 * 60; // accepted clock skew / lead

api_error invalid(std::string_view field, std::string_view what) {
  return {422, std::string{field} + ": " + std::string{what}};
}

// -- POST /api/behavior fields ------------------------------------------------

// Where a field's value came from: the JSON body (preferred) or the query.
struct field_value {
  const json* body = nullptr;
  std::optional<std::string_view> query;
  bool present() const { return body != nullptr || query.has_value(); }
};

field_value lookup(const json& body, const request& r, const std::string& name) {
  if (body.is_object()) {
    const auto it = body.find(name);
    if (it != body.end() && !it->is_null())
      return {&*it, std::nullopt};
  }
  return {nullptr, last_param(r, name)};
}

std::variant<std::int32_t, api_error> id_field(const json& body, const request& r,
                                               const std::string& name) {
  const auto f = lookup(body, r, name);
  if (!f.present())
    return invalid(name, "field required");
  const auto id = f.body ? id_json(*f.body) : id_text(*f.query);
  if (!id)
    return invalid(name, "must be an integer between 0 and 2147483647");
  return *id;
}

bool valid_event_id(std::string_view id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (char c : id)
    if (c < 0x20 || c > 0x7e)
      return false;
  return true;
}

} // namespace

response error_response(const api_error& e) {
  return {e.status, json_error(e.status, e.message)};
}

std::optional<unix_seconds> parse_timestamp(std::string_view text) {
  return engine::parse_timestamp(trim(text));
}

std::variant<recommend_query, api_error> parse_recommend(const request& r) {
  constexpr std::string_view prefix = "/api/recommend/";
  std::string_view path = r.path;
  std::string_view user_text;
  if (path.substr(0, prefix.size()) == prefix) {
    user_text = path.substr(prefix.size());
  } else {
    const auto slash = path.rfind('/');
    user_text = slash == std::string_view::npos ? path : path.substr(slash + 1);
  }
  if (user_text.empty() || user_text.find('/') != std::string_view::npos)
    return api_error{404, "not found"};

  recommend_query q;
  const auto user = id_text(user_text);
  if (!user)
    return invalid("user_id", "must be an integer between 0 and 2147483647");
  q.user = *user;

  if (const auto v = last_param(r, "limit")) {
    const auto limit = id_text(*v);
    if (!limit || *limit < 1 || *limit > 100)
      return invalid("limit", "must be an integer between 1 and 100");
    q.limit = *limit;
  }
  if (const auto v = last_param(r, "use_cache")) {
    const auto b = parse_bool(*v);
    if (!b)
      return invalid("use_cache", "must be a boolean (true/false, 1/0, yes/no)");
    q.use_cache = *b;
  }
  if (const auto v = last_param(r, "category"); v && !v->empty()) {
    bool control = false;
    for (unsigned char c : *v)
      control = control || c < 0x20 || c == 0x7f;
    if (v->size() > limits::max_category || control)
      return invalid("category", "must have 1.." + std::to_string(limits::max_category) +
                                     " bytes without control characters");
    q.filter.category = std::string{*v};
  }
  if (const auto v = last_param(r, "exclude"); v && !v->empty()) {
    std::string_view rest = *v;
    while (true) {
      const auto comma = rest.find(',');
      const auto id = id_text(rest.substr(0, comma));
      if (!id)
        return invalid("exclude", "must be item ids (integers 0..2147483647) separated by commas");
      q.filter.exclude.push_back(*id);
      if (q.filter.exclude.size() > limits::max_request_exclude)
        return invalid("exclude", "at most " + std::to_string(limits::max_request_exclude) +
                                      " item ids");
      if (comma == std::string_view::npos)
        break;
      rest.remove_prefix(comma + 1);
    }
    std::sort(q.filter.exclude.begin(), q.filter.exclude.end());
    q.filter.exclude.erase(std::unique(q.filter.exclude.begin(), q.filter.exclude.end()),
                           q.filter.exclude.end());
  }
  if (const auto v = last_param(r, "offset")) {
    const auto offset = id_text(*v);
    if (!offset || *offset > limits::max_offset)
      return invalid("offset", "must be an integer between 0 and " +
                                   std::to_string(limits::max_offset));
    q.filter.offset = *offset;
  }
  if (const auto v = last_param(r, "exclude_seen")) {
    const auto b = parse_bool(*v);
    if (!b)
      return invalid("exclude_seen", "must be a boolean (true/false, 1/0, yes/no)");
    q.filter.exclude_seen = *b ? 1 : 0;
  }
  return q;
}

namespace {
std::variant<behavior_command, api_error> behavior_fields(const json& body, const request& r,
                                                          unix_seconds now);
} // namespace

std::variant<behavior_command, api_error> parse_behavior(const request& r, unix_seconds now) {
  json body; // null unless the request has a body
  if (!trim(r.body).empty()) {
    body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object())
      return api_error{400, "malformed JSON"}; // also parse errors
  }
  return behavior_fields(body, r, now);
}

std::variant<behavior_command, api_error> parse_behavior_object(const json& event,
                                                                unix_seconds now) {
  static const request no_query{};
  if (!event.is_object())
    return api_error{422, "must be an object"};
  return behavior_fields(event, no_query, now);
}

namespace {
// The fields of one event: from `body` (an object, or null), else `r`'s query.
std::variant<behavior_command, api_error> behavior_fields(const json& body, const request& r,
                                                          unix_seconds now) {
  behavior_command cmd;
  auto user = id_field(body, r, "user_id");
  if (auto* e = std::get_if<api_error>(&user))
    return std::move(*e);
  cmd.event.user = std::get<std::int32_t>(user);
  auto item = id_field(body, r, "item_id");
  if (auto* e = std::get_if<api_error>(&item))
    return std::move(*e);
  cmd.event.item = std::get<std::int32_t>(item);

  const auto kind_field = lookup(body, r, "behavior_type");
  if (!kind_field.present())
    return invalid("behavior_type", "field required");
  std::optional<behavior_kind> kind;
  if (!kind_field.body)
    kind = parse_behavior_kind(*kind_field.query);
  else if (kind_field.body->is_string())
    kind = parse_behavior_kind(kind_field.body->get_ref<const std::string&>());
  if (!kind)
    return invalid("behavior_type", "must be one of view, click, cart, buy");
  cmd.event.kind = *kind;

  const auto id_field = lookup(body, r, "event_id");
  std::optional<std::string_view> event_id;
  if (id_field.body) {
    if (!id_field.body->is_string())
      return api_error{400, "event_id: must be a string of 1 to 128 printable ASCII characters"};
    event_id = id_field.body->get_ref<const std::string&>();
  } else if (id_field.query) {
    event_id = *id_field.query;
  } else {
    event_id = r.header("idempotency-key");
  }
  if (event_id) {
    if (!valid_event_id(*event_id))
      return api_error{400, "event_id: must be a string of 1 to 128 printable ASCII characters"};
    cmd.event_id = std::string{*event_id};
  }

  const auto ts_field = lookup(body, r, "timestamp");
  if (ts_field.present()) {
    const auto ts =
        ts_field.body ? timestamp_json(*ts_field.body) : parse_timestamp(*ts_field.query);
    if (!ts)
      return invalid("timestamp", "must be Unix seconds or an ISO-8601 date-time");
    if (*ts < 0)
      return invalid("timestamp", "must not be before 1970");
    if (*ts > now + max_future)
      return invalid("timestamp", "must not be more than 1 day ahead");
    cmd.event.ts = *ts;
    cmd.has_timestamp = true;
  }
  return cmd;
}
} // namespace

std::variant<behavior_command, api_error> parse_behavior(const request& r) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return parse_behavior(r, now.count());
}

} // namespace recd::http
