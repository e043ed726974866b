#pragma once
// The built-in dashboard on the admin port: the page (/ui) and the admin JSON
// endpoints only it needs. The gateway routes /ui* here before the token check
// and /admin/{stats,jobs,serving,quality,try,similar}* after it.
//
//   GET  /ui, /ui/dashboard.js, /ui/dashboard.css   the page (ui/, compiled in); no token:
//                                 it holds no data and asks for the token itself
//   GET  /admin/stats             the coordinator's stats (counts, last runs, epoch, ready)
//   GET  /admin/jobs              {"running": the run started through this port, with its
//                                  progress {kind, run_id, done, total, rows, progress, seconds},
//                                  or null; "runs": the newest 20 job_runs with their error text}
//   POST /admin/jobs?kind=K       run item_similarity | user_similarity | embeddings: 202 once it
//                                 started (200 if it ended first); 409 while a job runs; 503
//                                 while the shards are not ready; 400 for another kind
//   (The page relies on this JSON only: an implementation of the two endpoints
//   whose "running" comes from the job driver for every run can replace these.)
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

// The job run started through the admin port, while it runs (the job driver
// reports progress to the run's starter only). Thread-safe.
class admin_run {
public:
  // A progress report of the run of `kind` requested at `since`.
  void progress(const std::string& kind, std::chrono::steady_clock::time_point since,
                std::uint64_t done, std::uint64_t total, std::uint64_t rows);
  void ended();
  // {kind, done, total, rows, progress, seconds} or null.
  nlohmann::json to_json() const;

private:
  mutable std::mutex mutex_;
  std::string kind_; // "" = none running
  std::chrono::steady_clock::time_point started_;
  std::uint64_t done_ = 0, total_ = 0, rows_ = 0;
};

struct dashboard_deps {
  coordinator_actor coordinator;   // stats, map, jobs
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
  void run_job(const http::request& req, http::reply_fn reply);
  void quality(http::reply_fn reply) const;

  caf::actor_system& sys_;
  dashboard_deps deps_;
  std::shared_ptr<admin_run> run_ = std::make_shared<admin_run>();
  std::unique_ptr<serving_history> history_; // null without API actors
};

} // namespace recd
