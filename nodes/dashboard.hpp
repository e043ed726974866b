#pragma once
// The built-in dashboard on the admin port: the page (/ui) and the admin JSON
// endpoints only it needs. The gateway routes /ui* here before the token check
// and /admin/{stats,serving,quality,try,similar}* after it.
//
//   GET  /ui, /ui/dashboard.js, /ui/dashboard.css   the page (ui/, compiled in); no token:
//                                 it holds no data and asks for the token itself
//   GET  /admin/stats             the coordinator's stats (counts, last runs, epoch, ready)
//   (/admin/jobs, which the jobs panel reads and its Run button posts to, is the
//   gateway's own: gateway_admin.cpp.)
//   GET  /admin/serving           serving_history: the last hour of rates and latencies;
//                                 {"api": false, "reason"} on a node without API actors
//   GET  /admin/quality           {"report": the admin.eval_report JSON or null, "source", "reason"}
//   GET  /admin/try/{user_id}     ?limit=1..100: the user's recommendations (API actor, cache
//                                 off), with their reasons (404 on a node without API actors)
//   GET  /admin/similar/{item_id} ?limit=1..100: the item's published item_similarity rows
//
// Browser authentication: the page's script asks for the admin token once,
// keeps it in the tab's sessionStorage and sends it as `Authorization:
// Bearer` with each fetch; never in a URL, never in a cookie (so no request
// can be forged from another site: a cross-site page cannot set that header).
// The page is served with a strict Content-Security-Policy (scripts and styles
// from this origin only, no inline code) and renders data as text only.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <nlohmann/json.hpp>

#include "actors/api_metrics.hpp"
#include "nodes/http_server.hpp"
#include "nodes/serving_history.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

struct dashboard_deps {
  coordinator_actor coordinator;   // stats
  std::vector<api_actor> apis;     // empty on a coordinator-only node
  dashboard_reader_actor reader;   // actors/dashboard_reader
  std::shared_ptr<api_metrics> metrics;
  std::string eval_report;       // admin.eval_report
  std::chrono::milliseconds timeout{5000};
};

class dashboard {
public:
  dashboard(caf::actor_system& sys, dashboard_deps deps);

  // True for the page's own paths (served without a token).
  static bool is_page(const std::string& path);
  void serve_page(const http::request& req, http::reply_fn reply) const;

  // Handles an authenticated admin request if it is one of the dashboard's
  // endpoints; false otherwise (the gateway goes on routing).
  bool handle(const http::request& req, http::reply_fn reply);

private:
  void quality(http::reply_fn reply) const;

  caf::actor_system& sys_;
  dashboard_deps deps_;
  std::unique_ptr<serving_history> history_; // null without API actors
};

} // namespace recd
