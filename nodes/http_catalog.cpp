// Request validation for the catalog routes. See http_catalog.hpp for the contract.

#include "nodes/http_catalog.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <set>

#include <caf/message.hpp>
#include <nlohmann/json.hpp>

#include "nodes/http_batch.hpp"
#include "nodes/http_fields.hpp"
#include "protocol/limits.hpp"

namespace recd::http {

namespace {

using json = nlohmann::json;

// The text of a limits:: error (its context's string).
std::string describe_error(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return "invalid";
}

api_error invalid(const std::string& where, std::string_view field, std::string_view what) {
  return {422, where + std::string{field} + ": " + std::string{what}};
}

// A list of tags: strings (and, for categories, integers as their decimal text).
std::variant<std::vector<std::string>, api_error> tags_from_json(const json& j, bool numbers,
                                                                 std::size_t max,
                                                                 const std::string& where,
                                                                 const char* field,
                                                                 const char* what) {
  if (!j.is_array())
    return invalid(where, field, "must be an array of strings");
  if (j.size() > max)
    return invalid(where, field, "at most " + std::to_string(max) + " entries");
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (v.is_string())
      out.push_back(v.get<std::string>());
    else if (numbers && (v.is_number_integer() || v.is_number_unsigned()))
      out.push_back(v.dump());
    else
      return invalid(where, field, numbers ? "must be an array of strings or integers"
                                           : "must be an array of strings");
  }
  if (auto err = limits::check_tags(out, max, what))
    return invalid(where, field, describe_error(err));
  return out;
}

// Unix seconds in 0..9999-12-31T23:59:59Z (0 and null: unbounded), or a timestamp text.
std::optional<unix_seconds> time_from_json(const json& j) {
  constexpr unix_seconds last = 253402300799;
  if (j.is_null())
    return 0;
  auto t = timestamp_json(j);
  if (t && *t >= 0 && *t <= last)
    return t;
  return std::nullopt;
}

std::variant<json, api_error> parse_body(const request& r) {
  auto body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded())
    return api_error{400, "malformed JSON"};
  return body;
}

} // namespace

std::variant<std::int32_t, api_error> parse_catalog_id(const request& r, std::string_view prefix,
                                                       std::string_view field) {
  std::string_view path = r.path;
  if (path.substr(0, prefix.size()) != prefix)
    return api_error{404, "not found"};
  auto text = path.substr(prefix.size());
  if (text.empty() || text.find('/') != std::string_view::npos)
    return api_error{404, "not found"};
  auto id = id_text(text);
  if (!id)
    return invalid("", field, "must be an integer between 0 and 2147483647");
  return *id;
}

std::variant<item_write, api_error> parse_item_object(const json& j, std::int32_t id,
                                                      item_write_mode mode,
                                                      const std::string& where) {
  if (!j.is_object())
    return api_error{422, where.empty() ? "the body must be a JSON object"
                                        : where.substr(0, where.size() - 1) +
                                            ": must be a JSON object"};
  item_write w;
  w.mode = mode;
  auto& d = w.item;
  d.item = id;
  for (const auto& [key, v] : j.items()) {
    if (key == "item_id") {
      auto given = id_json(v);
      if (!given)
        return invalid(where, key, "must be an integer between 0 and 2147483647");
      if (id >= 0 && *given != id)
        return invalid(where, key, "differs from the id in the path");
      d.item = *given;
    } else if (key == "title") {
      if (!v.is_string())
        return invalid(where, key, "must be a string");
      d.title = v.get<std::string>();
      if (d.title.size() > limits::max_title)
        return invalid(where, key, "at most " + std::to_string(limits::max_title) + " bytes");
      w.fields |= item_field_title;
    } else if (key == "price") {
      if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() < 1e8))
        return invalid(where, key, "must be a number in 0..99999999.99");
      d.price = v.get<double>();
      w.fields |= item_field_price;
    } else if (key == "categories") {
      auto tags = tags_from_json(v, true, limits::max_categories, where, "categories", "category");
      if (auto* e = std::get_if<api_error>(&tags))
        return std::move(*e);
      d.categories = std::move(std::get<std::vector<std::string>>(tags));
      w.fields |= item_field_categories;
    } else if (key == "labels") {
      auto tags = tags_from_json(v, false, limits::max_labels, where, "labels", "label");
      if (auto* e = std::get_if<api_error>(&tags))
        return std::move(*e);
      d.labels = std::move(std::get<std::vector<std::string>>(tags));
      w.fields |= item_field_labels;
    } else if (key == "hidden") {
      if (!v.is_boolean())
        return invalid(where, key, "must be true or false");
      d.hidden = v.get<bool>();
      w.fields |= item_field_hidden;
    } else if (key == "available_from" || key == "available_until") {
      auto t = time_from_json(v);
      if (!t)
        return invalid(where, key, "must be unix seconds, a date-time text or null");
      (key == "available_from" ? d.available_from : d.available_until) = *t;
      w.fields |= key == "available_from" ? item_field_from : item_field_until;
    } else {
      return invalid(where, key, "unknown field");
    }
  }
  if (d.item < 0)
    return invalid(where, "item_id", "field required");
  if (mode == item_write_mode::put && (w.fields & item_field_title) == 0)
    return invalid(where, "title", "field required");
  if (mode == item_write_mode::patch && w.fields == 0)
    return api_error{422, where + "body: name at least one field to change"};
  if (d.available_from != 0 && d.available_until != 0 && d.available_until <= d.available_from)
    return invalid(where, "available_until", "must be after available_from");
  return w;
}

std::variant<item_write, api_error> parse_item_request(const request& r, std::int32_t id,
                                                       item_write_mode mode) {
  auto body = parse_body(r);
  if (auto* e = std::get_if<api_error>(&body))
    return std::move(*e);
  return parse_item_object(std::get<json>(body), id, mode);
}

std::variant<std::vector<item_write>, api_error> parse_item_batch(const request& r) {
  json decoded;
  if (is_msgpack(r)) {
    // The same array as msgpack (Content-Type: application/x-msgpack): an
    // item's fields are depth 2, its categories' and labels' strings depth 3.
    auto m = msgpack_array_to_json(r.body, limits::max_item_batch, 3);
    if (auto* e = std::get_if<batch_error>(&m))
      return api_error{e->status, e->message};
    decoded = std::move(std::get<json>(m));
  } else {
    auto body = parse_body(r);
    if (auto* e = std::get_if<api_error>(&body))
      return std::move(*e);
    decoded = std::move(std::get<json>(body));
  }
  const auto& j = decoded;
  if (!j.is_array())
    return api_error{422, "the body must be a JSON array of items"};
  if (j.empty() || j.size() > limits::max_item_batch)
    return api_error{422, "a batch has 1.." + std::to_string(limits::max_item_batch) + " items"};
  std::vector<item_write> out;
  out.reserve(j.size());
  std::set<item_id> seen;
  for (std::size_t k = 0; k < j.size(); ++k) {
    auto where = "items[" + std::to_string(k) + "].";
    auto w = parse_item_object(j[k], -1, item_write_mode::put, where);
    if (auto* e = std::get_if<api_error>(&w))
      return std::move(*e);
    auto& item = std::get<item_write>(w);
    if (!seen.insert(item.item.item).second)
      return invalid(where, "item_id", "repeats an earlier item of the batch");
    out.push_back(std::move(item));
  }
  return out;
}

std::variant<std::vector<std::string>, api_error> parse_user_labels(const request& r) {
  auto body = parse_body(r);
  if (auto* e = std::get_if<api_error>(&body))
    return std::move(*e);
  const auto& j = std::get<json>(body);
  if (!j.is_object())
    return api_error{422, "the body must be a JSON object"};
  std::vector<std::string> labels;
  bool found = false;
  for (const auto& [key, v] : j.items()) {
    if (key == "labels") {
      auto tags = tags_from_json(v, false, limits::max_labels, "", "labels", "label");
      if (auto* e = std::get_if<api_error>(&tags))
        return std::move(*e);
      labels = std::move(std::get<std::vector<std::string>>(tags));
      found = true;
    } else if (key != "user_id") {
      return invalid("", key, "unknown field");
    }
  }
  if (!found)
    return invalid("", "labels", "field required");
  return labels;
}

std::string item_json(const item_details& d) {
  json j;
  j["item_id"] = d.item;
  j["title"] = d.title;
  j["price"] = d.price;
  j["rating"] = d.rating;
  j["sales"] = d.sales;
  j["categories"] = d.categories;
  j["labels"] = d.labels;
  j["hidden"] = d.hidden;
  j["available_from"] = d.available_from == 0 ? json() : json(d.available_from);
  j["available_until"] = d.available_until == 0 ? json() : json(d.available_until);
  j["created"] = d.created;
  j["catalog_epoch"] = d.epoch;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace recd::http
