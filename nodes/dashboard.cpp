#include "nodes/dashboard.hpp"

#include <charconv>
#include <fstream>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/census.hpp"
#include "nodes/gateway.hpp"
#include "nodes/http_api.hpp"
#include "nodes/ui_assets.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

namespace {

using json = nlohmann::json;

// One point every 5 s for an hour.
constexpr auto history_period = std::chrono::seconds{5};
constexpr std::size_t history_points = 720;
// Bounds what the quality panel reads from disk.
constexpr std::size_t max_report_bytes = 4 << 20;

http::response json_reply(unsigned status, std::string body) {
  return http::response{status, std::move(body)};
}

http::response client_error(unsigned status, const std::string& message) {
  return json_reply(status, http::json_error(status, message));
}

// A short-lived actor's request; `on_ok` gets the reply, errors become HTTP errors.
template <class Handle, class OnOk, class... Ts>
void ask(caf::actor_system& sys, const Handle& dest, std::chrono::milliseconds timeout,
         http::reply_fn reply, OnOk on_ok, Ts... xs) {
  sys.spawn([=](caf::event_based_actor* self) {
    census_enter(self->id(), "dashboard_request");
    self->attach_functor([id = self->id()] { census_leave(id); });
    self->request(dest, timeout, xs...)
      .then(on_ok, [=](caf::error& err) { reply(error_response(err)); });
  });
}

// "/admin/similar/42" -> 42: plain digits, 0..2147483647; nullopt otherwise.
std::optional<item_id> id_segment(std::string_view path, std::string_view prefix) {
  auto text = path.substr(prefix.size());
  if (text.empty() || text.size() > 10)
    return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < 0 || v > 2147483647)
    return std::nullopt;
  return static_cast<item_id>(v);
}

// ?limit= within 1..100 (default `fallback`); nullopt if given and bad.
std::optional<std::int32_t> limit_param(const http::request& req, std::int32_t fallback) {
  auto given = req.param("limit");
  if (!given)
    return fallback;
  std::int32_t v = 0;
  auto [end, ec] = std::from_chars(given->data(), given->data() + given->size(), v);
  if (ec != std::errc{} || end != given->data() + given->size() || v < 1 || v > 100)
    return std::nullopt;
  return v;
}

} // namespace

// --- dashboard ---------------------------------------------------------------

dashboard::dashboard(caf::actor_system& sys, dashboard_deps deps)
  : sys_(sys), deps_(std::move(deps)) {
  if (!deps_.apis.empty() && deps_.metrics)
    history_ = std::make_unique<serving_history>(deps_.metrics, history_period, history_points);
}

bool dashboard::is_page(const std::string& path) {
  return path == "/ui" || path.rfind("/ui/", 0) == 0;
}

void dashboard::serve_page(const http::request& req, http::reply_fn reply) const {
  if (req.method != "GET" && req.method != "HEAD")
    return reply(client_error(405, "method " + req.method + " not allowed on " + req.path));
  std::string name = req.path == "/ui" || req.path == "/ui/" ? "index.html" : req.path.substr(4);
  const auto* file = find_ui_file(name);
  if (file == nullptr)
    return reply(client_error(404, "no such page: " + req.path));
  http::response r{200, std::string{file->content}, std::string{file->content_type}};
  // Scripts, styles and fetches from this origin only; no inline code, no
  // framing (clickjacking), nothing cached or sent on as a referrer.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; "
                         "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                         "form-action 'self'; frame-ancestors 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cache-Control", "no-store");
  reply(std::move(r));
}

bool dashboard::handle(const http::request& req, http::reply_fn reply) {
  const auto& path = req.path;
  auto only = [&](const char* method) {
    if (req.method == method)
      return true;
    reply(client_error(405, "method " + req.method + " not allowed on " + path));
    return false;
  };
  if (path == "/admin/stats") {
    if (only("GET"))
      ask(
        sys_, deps_.coordinator, deps_.timeout, reply,
        [reply](std::string& body) { reply(json_reply(200, std::move(body))); }, stats_atom_v);
    return true;
  }
  if (path == "/admin/serving") {
    if (!only("GET"))
      return true;
    if (!history_)
      // 200: the page polls it, and the node is fine; it just has nothing to show.
      reply(json_reply(200, json{{"api", false},
                                 {"reason", "this node serves no API: serving figures are on "
                                            "the API nodes (/api/stats, /metrics)"}}
                              .dump()));
    else
      reply(json_reply(200, history_->to_json().dump()));
    return true;
  }
  if (path == "/admin/quality") {
    if (only("GET"))
      quality(reply);
    return true;
  }
  if (path.rfind("/admin/try/", 0) == 0) {
    if (!only("GET"))
      return true;
    if (deps_.apis.empty()) {
      reply(client_error(404, "this node serves no API: try /api/recommend on an API node"));
      return true;
    }
    auto parsed = http::parse_recommend(req);
    if (auto* e = std::get_if<http::api_error>(&parsed)) {
      reply(client_error(e->status, e->message));
      return true;
    }
    auto q = std::get<http::recommend_query>(parsed);
    // Fresh answers: the cache would show what was served before, maybe
    // without the newest behavior's reasons.
    caf::anon_send(deps_.apis[static_cast<std::size_t>(q.user) % deps_.apis.size()],
                   recommend_local_atom_v, q.user, q.limit,
                   false, std::move(q.filter), make_local_reply<std::string>([reply](caf::expected<std::string> body) {
                     reply(body ? json_reply(200, std::move(*body)) : error_response(body.error()));
                   }));
    return true;
  }
  if (path.rfind("/admin/similar/", 0) == 0) {
    if (!only("GET"))
      return true;
    auto item = id_segment(path, "/admin/similar/");
    if (!item) {
      reply(client_error(422, "item_id must be an integer 0..2147483647"));
      return true;
    }
    auto limit = limit_param(req, 10);
    if (!limit) {
      reply(client_error(422, "limit must be an integer 1..100"));
      return true;
    }
    ask(
      sys_, deps_.reader, deps_.timeout, reply,
      [reply](std::string& body) { reply(json_reply(200, std::move(body))); }, neighbours_atom_v,
      *item, *limit);
    return true;
  }
  return false;
}

// Reads the file on the HTTP thread: a local file of at most 4 MiB, read when
// an operator opens the page (not on every refresh).
void dashboard::quality(http::reply_fn reply) const {
  json j = {{"source", deps_.eval_report}, {"report", nullptr}};
  if (deps_.eval_report.empty()) {
    j["reason"] = "admin.eval_report is not set";
    return reply(json_reply(200, j.dump()));
  }
  std::ifstream in{deps_.eval_report, std::ios::binary};
  if (!in) {
    j["reason"] = "cannot read " + deps_.eval_report;
    return reply(json_reply(200, j.dump()));
  }
  std::string text(max_report_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_report_bytes) {
    j["reason"] = deps_.eval_report + " is larger than 4 MiB";
    return reply(json_reply(200, j.dump()));
  }
  auto report = json::parse(text, nullptr, false);
  if (report.is_discarded() || !report.is_object()) {
    j["reason"] = deps_.eval_report + " is not the JSON of `recd eval --json`";
    return reply(json_reply(200, j.dump()));
  }
  j["report"] = std::move(report);
  reply(json_reply(200, j.dump()));
}

} // namespace recd
