// The catalog routes of the public port (items and users managed live):
//   PUT    /api/items/{id}   create or replace          -> 200 the stored item
//   PATCH  /api/items/{id}   change the fields given    -> 200 the stored item; 404 unknown
//   GET    /api/items/{id}                              -> 200 the stored item; 404 unknown
//   DELETE /api/items/{id}   hide it (history kept)     -> 200 the stored item; 404 unknown
//   POST   /api/items        a JSON array, all or nothing -> 200 {"success","count","catalog_epoch"}
//   PUT    /api/users/{id}   {"labels": [...]}          -> 200 the stored user
//   GET    /api/users/{id}                              -> 200 the stored user; 404 unknown
//   DELETE /api/users/{id}   erase it everywhere        -> 200 what was erased (idempotent)
// Validation: nodes/http_catalog.hpp. Every write is committed before the
// answer and pushed to every shard (actors/api_catalog.cpp).
#include "nodes/gateway.hpp"
#include "nodes/gateway_detail.hpp"

#include <nlohmann/json.hpp>

#include "nodes/http_catalog.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

using namespace gateway_detail;

namespace {

constexpr std::string_view items_prefix = "/api/items/";
constexpr std::string_view users_prefix = "/api/users/";

// "/api/items/{id}" itself: longer paths below it (/similar, /also-bought)
// are other handlers' to route.
bool one_segment_below(const std::string& path, std::string_view prefix) {
  return path.rfind(prefix, 0) == 0 && path.find('/', prefix.size()) == std::string::npos;
}

} // namespace

bool gateway::handle_catalog(const http::request& req, http::reply_fn& reply) {
  const auto& path = req.path;
  auto client_error = [&](unsigned status, const std::string& message) {
    ++metrics_->client_errors;
    reply(json_response(status, http::json_error(status, message)));
  };
  // Catalog writes wait for PostgreSQL and every shard: a longer limit than
  // a recommendation's, still within the HTTP server's own deadline.
  auto timeout = timeout_;
  auto item_reply = [reply](item_details& d) { reply(json_response(200, http::item_json(d))); };
  if (path == "/api/items") {
    if (req.method != "POST")
      return client_error(405, "method " + req.method + " not allowed on " + path), true;
    auto parsed = http::parse_item_batch(req);
    if (auto* e = std::get_if<http::api_error>(&parsed))
      return client_error(e->status, e->message), true;
    auto writes = std::move(std::get<std::vector<item_write>>(parsed));
    ask(
      sys_, next_api(), timeout, reply,
      [reply](std::vector<item_details>& stored) {
        nlohmann::json j{{"success", true},
                         {"count", stored.size()},
                         {"catalog_epoch", stored.empty() ? 0 : stored.front().epoch}};
        reply(json_response(200, j.dump()));
      },
      items_write_atom_v, std::move(writes));
    return true;
  }
  if (one_segment_below(path, items_prefix)) {
    auto id = http::parse_catalog_id(req, items_prefix, "item_id");
    if (auto* e = std::get_if<http::api_error>(&id))
      return client_error(e->status, e->message), true;
    auto item = std::get<std::int32_t>(id);
    if (req.method == "GET") {
      ask(sys_, next_api(), timeout, reply, item_reply, item_get_atom_v, item);
      return true;
    }
    item_write write;
    if (req.method == "PUT" || req.method == "PATCH") {
      auto parsed = http::parse_item_request(
        req, item, req.method == "PUT" ? item_write_mode::put : item_write_mode::patch);
      if (auto* e = std::get_if<http::api_error>(&parsed))
        return client_error(e->status, e->message), true;
      write = std::move(std::get<item_write>(parsed));
    } else if (req.method == "DELETE") {
      write.mode = item_write_mode::hide;
      write.item.item = item;
    } else {
      return client_error(405, "method " + req.method + " not allowed on " + path), true;
    }
    ask(
      sys_, next_api(), timeout, reply,
      [reply](std::vector<item_details>& stored) {
        if (stored.empty())
          return reply(json_error_response(500, "internal error"));
        reply(json_response(200, http::item_json(stored.front())));
      },
      items_write_atom_v, std::vector<item_write>{std::move(write)});
    return true;
  }
  if (one_segment_below(path, users_prefix)) {
    auto id = http::parse_catalog_id(req, users_prefix, "user_id");
    if (auto* e = std::get_if<http::api_error>(&id))
      return client_error(e->status, e->message), true;
    auto user = std::get<std::int32_t>(id);
    auto text_reply = [reply](std::string& body) { reply(json_response(200, std::move(body))); };
    if (req.method == "GET") {
      ask(sys_, next_api(), timeout, reply, text_reply, user_get_atom_v, user);
    } else if (req.method == "PUT") {
      auto parsed = http::parse_user_labels(req);
      if (auto* e = std::get_if<http::api_error>(&parsed))
        return client_error(e->status, e->message), true;
      ask(sys_, next_api(), timeout, reply, text_reply, user_put_atom_v, user,
          std::move(std::get<std::vector<std::string>>(parsed)));
    } else if (req.method == "DELETE") {
      ask(sys_, next_api(), timeout, reply, text_reply, user_erase_atom_v, user);
    } else {
      client_error(405, "method " + req.method + " not allowed on " + path);
    }
    return true;
  }
  return false;
}

} // namespace recd
