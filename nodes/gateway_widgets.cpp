// The gateway's item pages and sessions (nodes/http_widgets.hpp for the
// contract): validated here, answered by an API actor through a local_reply
// (actors/api_widgets.cpp), like GET /api/recommend.
#include "nodes/gateway.hpp"
#include "nodes/gateway_detail.hpp"

#include <caf/all.hpp>

#include "nodes/http_widgets.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

using namespace gateway_detail;

namespace {

local_reply<std::string> json_reply(http::reply_fn reply) {
  return make_local_reply<std::string>([reply](caf::expected<std::string> body) {
    reply(body ? json_response(200, std::move(*body)) : error_response(body.error()));
  });
}

} // namespace

bool gateway::handle_widgets(const http::request& req, http::reply_fn& reply) {
  auto client_error = [&](const http::api_error& e) {
    ++metrics_->client_errors;
    reply(json_response(e.status, http::json_error(e.status, e.message)));
  };
  if (req.path == "/api/recommend") {
    if (req.method != "POST") {
      client_error({405, "method " + req.method + " not allowed on " + req.path});
      return true;
    }
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
    auto parsed = http::parse_session(req, now);
    if (auto* e = std::get_if<http::api_error>(&parsed)) {
      client_error(*e);
      return true;
    }
    auto& s = std::get<http::session_request>(parsed);
    session_query q;
    q.user = s.user;
    q.limit = s.limit;
    for (const auto& i : s.items)
      q.items.push_back({i.item, i.kind, i.ts});
    caf::anon_send(next_api(), session_local_atom_v, std::move(q), json_reply(reply));
    return true;
  }
  auto page = http::parse_item_page(req);
  if (!page)
    return false;
  if (auto* e = std::get_if<http::api_error>(&*page)) {
    client_error(*e);
    return true;
  }
  const auto& p = std::get<http::item_page_query>(*page);
  item_query q{p.item, p.limit, p.category};
  if (p.page == http::item_page::similar)
    caf::anon_send(next_api(), similar_local_atom_v, std::move(q), json_reply(reply));
  else
    caf::anon_send(next_api(), also_bought_local_atom_v, std::move(q), json_reply(reply));
  return true;
}

} // namespace recd
