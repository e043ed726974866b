#include "nodes/gateway.hpp"
#include "nodes/gateway_detail.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/ranking.hpp"
#include "nodes/http_api.hpp"
#include "nodes/openapi_document.hpp"
#include "nodes/routes.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

using namespace gateway_detail;

// The client's fault is 4xx with the error's own text; ours or a dependency's
// is 5xx with a fixed text per code, the detail going to the log instead
// (response::detail, logged once with the request id by serve.cpp). On POST
// /api/behavior every 5xx means: the event may have been committed; retrying
// with the same event_id is safe.
http::response error_response(const caf::error& err) {
  unsigned status = 500;
  const char* text = "internal error";
  if (err.category() == error_category) {
    switch (static_cast<ec>(err.code())) {
      case ec::invalid_argument:
        return json_response(422, http::json_error(422, describe(err)));
      case ec::not_found:
        return json_response(404, http::json_error(404, describe(err)));
      case ec::not_ready: status = 503; text = "not ready"; break;
      case ec::database_unavailable:
      case ec::database_error: status = 503; text = "database unavailable"; break;
      case ec::shard_unavailable: status = 503; text = "shard unavailable"; break;
      case ec::timeout: status = 503; text = "timeout"; break;
      case ec::overloaded: status = 503; text = "overloaded: retry later"; break;
      case ec::cache_unavailable: status = 503; text = "cache unavailable"; break;
      case ec::history_unavailable:
        status = 503;
        text = "the user's history is unavailable (neither their shard nor the database answered "
               "in time), so no list that might hold an item they bought is served: retry later";
        break;
      case ec::job_running:
        return json_response(409, http::json_error(409, describe(err)));
      default: break;
    }
  } else if (err == caf::sec::request_timeout) {
    status = 503;
    text = "timeout";
  }
  // Logged once, with the request id, by the server's on_exchange (serve.cpp).
  auto r = json_response(status, http::json_error(status, text));
  r.detail = describe(err);
  return r;
}

gateway::gateway(caf::actor_system& sys, std::vector<api_actor> apis, readiness_probe readiness,
                 coordinator_actor admin, std::shared_ptr<api_metrics> metrics,
                 std::chrono::milliseconds timeout)
  : sys_(sys),
    apis_(std::move(apis)),
    readiness_(std::move(readiness)),
    admin_(std::move(admin)),
    metrics_(std::move(metrics)),
    timeout_(timeout) {}

const api_actor& gateway::next_api() {
  return apis_[round_robin_.fetch_add(1, std::memory_order_relaxed) % apis_.size()];
}

bool gateway::handle_probe(const http::request& req, http::reply_fn& reply) {
  const auto& path = req.path;
  if (path != "/healthz" && path != "/readyz" && path != "/readyz/replica")
    return false;
  if (req.method != "GET" && req.method != "HEAD") {
    ++metrics_->client_errors;
    auto r = json_response(405, http::json_error(405, "method " + req.method + " not allowed on " + path));
    r.headers.emplace_back("Allow", "GET, HEAD");
    reply(std::move(r));
    return true;
  }
  if (path == "/healthz") {
    if (liveness_ && !liveness_->alive())
      reply(json_response(503, nlohmann::json{{"status", "dead"}, {"error", liveness_->cause()}}.dump()));
    else
      reply(json_response(200, R"({"status":"ok"})"));
    return true;
  }
  if (path == "/readyz/replica") {
    auto blocker = liveness_ && !liveness_->alive() ? std::optional<std::string>{liveness_->cause()}
                   : replica_readiness_          ? replica_readiness_()
                                                 : std::nullopt;
    reply(blocker ? json_response(503, nlohmann::json{{"ready", false}, {"error", *blocker}}.dump())
                  : json_response(200, R"({"ready":true})"));
    return true;
  }
  if (draining_.load(std::memory_order_acquire)) {
    reply(json_response(503, R"({"ready":false,"error":"shutting down"})"));
    return true;
  }
  ask(
    sys_, readiness_, timeout_, reply,
    [reply](bool ready) {
      reply(ready ? json_response(200, R"({"ready":true})")
                  : json_response(503, R"({"ready":false})"));
    },
    ready_atom_v);
  return true;
}

bool gateway::answer_locally(const http::recommend_query& q, http::reply_fn& reply) {
  // Only what the API actor would answer from the same entry as is: the
  // whole cached list, no filter (api_recommend.cpp, serve_cached).
  if (!answers_ || !q.use_cache || q.filter.narrows() || q.filter.offset != 0)
    return false;
  const auto t0 = std::chrono::steady_clock::now();
  const auto tag = rules_ ? rules_->current()->tag : rules::rule_set{}.tag;
  auto cached = answers_->find(q.user, q.limit, tag);
  if (!cached)
    return false;
  std::string body;
  body.reserve(cached->size() + 48);
  body += *cached;
  body += ",\"from_cache\":true,\"latency_ms\":";
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  append_number(body, ms);
  body += '}';
  auto& m = *metrics_;
  ++m.recommend_requests;
  ++m.recommend_from_cache;
  ++m.recommend_from_local_answers;
  m.recommend_latency.record(ms * 1000);
  reply(json_response(200, std::move(body)));
  return true;
}

bool gateway::refuse_unrouted(routes::port on, const http::request& req, http::reply_fn& reply) {
  auto m = routes::find(on, req.method, req.path);
  if (m.result == routes::outcome::found)
    return false;
  if (on == routes::port::public_api)
    ++metrics_->client_errors;
  if (m.result == routes::outcome::unknown) {
    const char* what = on == routes::port::admin ? "no such admin endpoint: " : "no such endpoint: ";
    reply(json_response(404, http::json_error(404, what + req.method + " " + req.path)));
    return true;
  }
  auto r = json_response(405, http::json_error(405, "method " + req.method + " not allowed on " + req.path));
  r.headers.emplace_back("Allow", std::move(m.allow));
  reply(std::move(r));
  return true;
}

void gateway::handle(http::request&& req, http::reply_fn reply) {
  auto client_error = [&](unsigned status, const std::string& message) {
    ++metrics_->client_errors;
    reply(json_response(status, http::json_error(status, message)));
  };
  auto method_is = [&](const char* m) { return req.method == m; };
  if (handle_probe(req, reply))
    return;
  const auto& path = req.path;
  if (path.rfind("/api/", 0) != 0) {
    if (refuse_unrouted(routes::port::public_api, req, reply))
      return;
    if (path == "/openapi.json") // the API's description needs no key
      return reply(http::response{200, std::string{openapi_json()}});
    return client_error(404, "no such endpoint: " + req.method + " " + path);
  }
  if (api_keys_) {
    if (auto denied = api_keys_->check(req)) {
      ++metrics_->client_errors;
      return reply(std::move(*denied));
    }
  }
  // Only the routes of nodes/routes.hpp (which docs/openapi.yaml describes).
  if (refuse_unrouted(routes::port::public_api, req, reply))
    return;
  if (apis_.empty())
    return client_error(404, "this node serves no API: send " + path + " to an API node");
  if (handle_widgets(req, reply))
    return;
  if (path.rfind("/api/recommend/", 0) == 0) {
    if (!method_is("GET"))
      return client_error(405, "method " + req.method + " not allowed on " + path);
    auto parsed = http::parse_recommend(req);
    if (auto* e = std::get_if<http::api_error>(&parsed))
      return client_error(e->status, e->message);
    auto q = std::get<http::recommend_query>(parsed);
    if (answer_locally(q, reply))
      return;
    // Straight to the API actor, which answers through `reply` (no actor or
    // CAF timer per request; the HTTP server's deadline covers a lost answer).
    caf::anon_send(next_api(), recommend_local_atom_v, q.user, q.limit, q.use_cache,
                   std::move(q.filter), make_local_reply<std::string>([reply](caf::expected<std::string> body) {
                     reply(body ? json_response(200, std::move(*body))
                                : error_response(body.error()));
                   }));
    return;
  }
  if (path == "/api/behavior") {
    if (!method_is("POST"))
      return client_error(405, "method " + req.method + " not allowed on " + path);
    auto parsed = http::parse_behavior(req);
    if (auto* e = std::get_if<http::api_error>(&parsed))
      return client_error(e->status, e->message);
    auto cmd = std::get<http::behavior_command>(parsed);
    if (!cmd.has_timestamp)
      cmd.event.ts = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    caf::anon_send(next_api(), behavior_local_atom_v, cmd.event, std::move(cmd.event_id),
                   make_local_reply<std::int64_t>([reply](caf::expected<std::int64_t> id) {
                     reply(id ? json_response(200, R"({"success":true,"behavior_id":)" +
                                                     std::to_string(*id) + "}")
                              : error_response(id.error()));
                   }));
    return;
  }
  if (handle_batch(req, reply))
    return;
  if (handle_catalog(req, reply))
    return;
  if (path == "/api/stats") {
    if (!method_is("GET"))
      return client_error(405, "method " + req.method + " not allowed on " + path);
    return ask(
      sys_, next_api(), timeout_, reply,
      [reply, keys = api_keys_](std::string& body) {
        if (!keys)
          return reply(json_response(200, std::move(body)));
        // This node's requests per key name, next to the API actors' stats.
        auto j = nlohmann::json::parse(body, nullptr, false);
        if (j.is_object())
          j["api_keys"] = keys->counts();
        reply(json_response(200, j.is_discarded() ? std::move(body) : j.dump()));
      },
      stats_atom_v);
  }
  client_error(404, "no such endpoint: " + req.method + " " + path);
}

} // namespace recd
