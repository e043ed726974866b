#pragma once
// The HTTP gateway: routes requests to the API actors and turns their replies
// and errors into HTTP responses. Runs on the HTTP server's Asio threads and
// never blocks them. Recommend and behavior requests go straight to an API
// actor with a local_reply (protocol/local_reply.hpp) that calls the reply
// function (which posts back to the connection's strand); the rarer routes
// (/readyz, /api/stats, /admin) go through a short-lived actor's request.
//
// The public port (handle):
//   GET  /healthz                  200 {"status":"ok"} while every essential actor of the
//                                  node runs (nodes/liveness.hpp), else 503 naming the dead one
//   GET  /readyz                   200 once every shard holds its state, else 503 (also
//                                  while the node drains before it stops: http.drain_ms)
//   GET  /readyz/replica           a coordinator replica's readiness to lead (the chart's
//                                  probe of coordinator pods): 200 {"ready":true} while alive
//                                  and able to lead, else 503 {"ready":false,"error":why};
//                                  on other nodes the same as /healthz
//   GET  /api/recommend/{user_id}  ?limit=1..100&use_cache=true, filters category, exclude,
//                                  offset, exclude_seen (nodes/http_api.hpp, docs/rules.md)
//   POST /api/behavior             query parameters or a JSON body; optional event id
//                                  (event_id or Idempotency-Key): a retry answers the first
//                                  answer. Any 5xx: maybe committed, safe to retry with the
//                                  same event id; a full writer queue: 503 + Retry-After: 1
//   GET  /api/items/{id}/similar   ?limit=1..100&category=: item CF + vector neighbours
//   GET  /api/items/{id}/also-bought ?limit=1..100: live buy co-occurrence
//   POST /api/recommend            a visitor's session (JSON items, optional user_id)
//                                  (nodes/http_widgets.hpp; nothing stored)
//   POST /api/behaviors            a JSON array or msgpack array of events (gateway_batch.cpp),
//                                  all or nothing: {"success", "count", "stored",
//                                  "duplicates", "behavior_ids": [...]}; a bad event: 4xx
//                                  naming it ("index"); 413 beyond http.max_batch_events
//                                  or http.max_batch_bytes
//   GET  /api/stats                (+ "api_keys": {name: requests accepted by this node}
//                                  when keys are on)
//   PUT|PATCH|GET|DELETE /api/items/{id}, POST /api/items, PUT|GET|DELETE /api/users/{id}
//                                  the catalog (gateway_catalog.cpp, nodes/http_catalog.hpp)
//   GET  /openapi.json             docs/openapi.yaml as JSON (compiled in; no key needed)
//   /admin/*                       always 404 here, whatever the role
// With API keys configured, every /api/* request needs one (401 otherwise).
// The admin port (handle_admin), on every node (gateway_admin.cpp):
//   GET  /healthz, /readyz, /readyz/replica  as above, no token needed
//   GET  /metrics                  Prometheus text format (nodes/metrics.hpp)
// and on the coordinator and --role all (404 elsewhere):
//   GET  /admin/cluster            the partition map
//   POST /admin/rebalance          force a rebalance
//   GET  /admin/jobs               recent runs (job_runs) and the running one's progress
//   POST /admin/jobs?kind=K        start a run of K: 202 once accepted, 409 while one runs
//   POST /admin/drain?shard=NAME   move every partition off that shard node: 202, then
//                                  /admin/cluster shows its partitions leave
//   POST /admin/cache/flush        every API actor forgets cached answers (?user=ID: one user's)
//   GET  /admin/check              each shard's users and items in memory vs PostgreSQL
// and on every node that serves the API (404 elsewhere; nodes/gateway_rules.cpp):
//   GET  /admin/rules              the node's business rules (docs/rules.md)
//   POST /admin/rules/reload       read rules.file again: 200 with the new rules, or 422
//                                  naming the offending line (the old rules stay)
// and on the coordinator and --role all:
//   /ui, /admin/{stats,serving,quality,try,similar}  the dashboard (nodes/dashboard.hpp);
//                                  the page itself needs no token
// Every admin-port request but the probes and the page needs `Authorization: Bearer <admin.token>`
// (401 without or with a wrong one; 403 while no token is configured).
// /readyz asks `readiness` (the coordinator, or a shard on a shard node).
// Anything else: 404, or 405 (with Allow) for a known path with another method.
// Every route is a row of nodes/routes.hpp, checked before dispatch (after
// the key or token check): the table and docs/openapi.yaml are kept equal by
// tests/openapi_routes_test.cpp.
//
// Error bodies: a 4xx says what was wrong with the request; a 5xx carries a
// fixed text per error code ("database unavailable", "shard unavailable",
// "timeout", ...) and the detail (SQL, driver and actor texts) goes to the log
// only, so internals never reach a client.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actors/api_metrics.hpp"
#include "actors/local_answers.hpp"
#include "actors/rules_book.hpp"
#include "nodes/http_auth.hpp"
#include "nodes/metrics.hpp"
#include "nodes/http_server.hpp"
#include "nodes/liveness.hpp"
#include "nodes/routes.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

class dashboard;
namespace http {
struct recommend_query;
}

// The JSON reply for an error value; 5xx bodies are fixed texts (see above).
http::response error_response(const caf::error& err);

class gateway {
public:
  // `admin`: the coordinator if this node serves the admin port, else invalid.
  gateway(caf::actor_system& sys, std::vector<api_actor> apis, readiness_probe readiness,
          coordinator_actor admin, std::shared_ptr<api_metrics> metrics,
          std::chrono::milliseconds timeout);

  // Turns credentials on; call before serving. An empty token keeps the
  // admin endpoints at 403; null `keys` leaves the public API open.
  void set_admin_token(std::string token) { admin_token_ = std::move(token); }
  void set_api_keys(std::shared_ptr<http::api_keys> keys) { api_keys_ = std::move(keys); }
  // /healthz answers from it (null: always alive).
  void set_liveness(std::shared_ptr<liveness> alive) { liveness_ = std::move(alive); }
  // /readyz/replica: nullopt while this coordinator replica could lead, else
  // why not (unset: it could, while alive).
  void set_replica_readiness(std::function<std::optional<std::string>()> f) {
    replica_readiness_ = std::move(f);
  }
  // A stopping node: /readyz answers 503 {"ready":false,"error":"shutting
  // down"} from now on while every other route still serves (http.drain_ms).
  void set_draining() { draining_.store(true, std::memory_order_release); }
  // What /metrics shows of this node (its role, API actors, writer queue).
  void set_node(metrics::node_view node) { node_ = std::move(node); }
  // Open connections of this node's HTTP servers, once they run.
  void set_connections(std::function<std::size_t()> count) { node_.connections = std::move(count); }
  // The PostgreSQL connection string for the admin port's reads (jobs,
  // check, job counts in /metrics); "" leaves them out.
  void set_database(std::string conninfo);
  // The admin port's dashboard (/ui and its endpoints); null: none.
  void set_dashboard(std::shared_ptr<dashboard> ui) { dashboard_ = std::move(ui); }
  // The node's business rules (/admin/rules); null: the node serves no API.
  void set_rules(std::shared_ptr<rules_book> rules) { rules_ = std::move(rules); }
  // The answers a shard of this process vouches for (actors/local_answers.hpp):
  // a recommend request one of them answers is served on the HTTP thread.
  void set_local_answers(std::shared_ptr<local_answers> answers) { answers_ = std::move(answers); }
  // Events per POST /api/behaviors request at most (413 above).
  void set_max_batch_events(std::size_t n) { max_batch_events_ = n; }

  // The public port.
  void handle(http::request&& req, http::reply_fn reply);
  // The admin port.
  void handle_admin(http::request&& req, http::reply_fn reply);

  // One blocking database session shared by the admin port's reads (few and
  // rare: one at a time is enough).
  struct database_link;

private:
  const api_actor& next_api();
  // Answers 404 (unknown path) or 405 (+ Allow) unless nodes/routes.hpp has
  // a row for this port, method and path; true if it answered.
  bool refuse_unrouted(routes::port on, const http::request& req, http::reply_fn& reply);
  // /healthz, /readyz and /readyz/replica; false if `req` is none of them.
  bool handle_probe(const http::request& req, http::reply_fn& reply);
  // /api/items, /api/items/{id}, /api/users/{id} (gateway_catalog.cpp); false if none.
  bool handle_catalog(const http::request& req, http::reply_fn& reply);
  // Item pages and sessions (gateway_widgets.cpp): GET /api/items/{id}/similar,
  // /also-bought, POST /api/recommend; false if `req` is none of them.
  bool handle_widgets(const http::request& req, http::reply_fn& reply);
  // POST /api/behaviors (gateway_batch.cpp); false if `req` is not for it.
  bool handle_batch(const http::request& req, http::reply_fn& reply);
  // The admin endpoints (gateway_admin.cpp).
  void serve_metrics(http::reply_fn reply);
  void admin_jobs(const http::request& req, http::reply_fn reply);
  void admin_drain(const http::request& req, http::reply_fn reply);
  void admin_flush(const http::request& req, http::reply_fn reply);
  void admin_check(http::reply_fn reply);
  // /admin/rules and /admin/rules/reload (gateway_rules.cpp); false: another path.
  bool admin_rules(const http::request& req, http::reply_fn& reply);

  caf::actor_system& sys_;
  std::vector<api_actor> apis_;
  readiness_probe readiness_;
  coordinator_actor admin_;
  std::shared_ptr<api_metrics> metrics_;
  std::chrono::milliseconds timeout_;
  std::atomic<std::size_t> round_robin_{0};
  std::atomic<bool> draining_{false};
  std::string admin_token_;
  std::shared_ptr<http::api_keys> api_keys_;
  std::shared_ptr<liveness> liveness_;
  std::function<std::optional<std::string>()> replica_readiness_;
  metrics::node_view node_;
  std::shared_ptr<database_link> db_;
  std::shared_ptr<dashboard> dashboard_;
  std::shared_ptr<rules_book> rules_;
  std::shared_ptr<local_answers> answers_;
  // Answers a recommend request from answers_ if one is valid for it.
  bool answer_locally(const http::recommend_query& q, http::reply_fn& reply);
  std::size_t max_batch_events_ = 10000;
};

} // namespace recd
