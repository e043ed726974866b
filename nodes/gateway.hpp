#pragma once
// The HTTP gateway: routes requests to the API actors and turns their replies
// and errors into HTTP responses. Runs on the HTTP server's Asio threads and
// never blocks them. Recommend and behavior requests go straight to an API
// actor with a local_reply (protocol/local_reply.hpp) that calls the reply
// function (which posts back to the connection's strand); the rarer routes
// (/readyz, /api/stats, /admin) go through a short-lived actor's request.
//
//   GET  /healthz                  200 {"status":"ok"}
//   GET  /readyz                   200 once every shard holds its state, else 503
//   GET  /api/recommend/{user_id}  ?limit=1..100&use_cache=true
//   POST /api/behavior             query parameters or a JSON body; optional event id
//                                  (event_id or Idempotency-Key): a retry answers the first
//                                  answer. Any 5xx: maybe committed, safe to retry with the
//                                  same event id; a full writer queue: 503 + Retry-After: 1
//   GET  /api/stats
//   GET  /admin/cluster            the partition map (coordinator nodes and --role all)
//   POST /admin/rebalance          force a rebalance (same)
// /readyz asks `readiness` (the coordinator, or a shard on a shard node).
// Anything else: 404, or 405 for a known path with another method.

#include <atomic>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actors/api_metrics.hpp"
#include "nodes/http_server.hpp"

namespace recd {

class gateway {
public:
  // `admin`: the coordinator if this node may serve /admin routes, else invalid.
  gateway(caf::actor_system& sys, std::vector<caf::actor> apis, caf::actor readiness,
          caf::actor admin, std::shared_ptr<api_metrics> metrics,
          std::chrono::milliseconds timeout);

  void handle(http::request&& req, http::reply_fn reply);

private:
  const caf::actor& next_api();

  caf::actor_system& sys_;
  std::vector<caf::actor> apis_;
  caf::actor readiness_;
  caf::actor admin_;
  std::shared_ptr<api_metrics> metrics_;
  std::chrono::milliseconds timeout_;
  std::atomic<std::size_t> round_robin_{0};
};

} // namespace recd
