#pragma once
// Internal to the gateway (gateway.cpp, gateway_admin.cpp): the short-lived
// actors through which HTTP handlers ask actors or run blocking reads, and
// the JSON response helpers. Nothing else includes it.

#include <chrono>
#include <functional>
#include <string>

#include <caf/all.hpp>

#include "actors/census.hpp"
#include "nodes/gateway.hpp"
#include "nodes/http_server.hpp"

namespace recd::gateway_detail {

inline http::response json_response(unsigned status, std::string body) {
  http::response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

inline http::response json_error_response(unsigned status, const std::string& message) {
  return json_response(status, http::json_error(status, message));
}

// Sends one request from a short-lived actor; `on_ok` receives the reply,
// an error becomes error_response(err).
template <class Handle, class OnOk, class... Ts>
void ask(caf::actor_system& sys, const Handle& dest, std::chrono::milliseconds timeout,
         http::reply_fn reply, OnOk on_ok, Ts... xs) {
  sys.spawn([=](caf::event_based_actor* self) {
    census_enter(self->id(), "gateway_request");
    self->attach_functor([id = self->id()] { census_leave(id); });
    self->request(dest, timeout, xs...)
      .then(on_ok, [=](caf::error& err) { reply(error_response(err)); });
  });
}

// Runs `work` (which may block: a PostgreSQL read) on a detached actor's own
// thread, never on the HTTP server's threads or CAF's cooperative ones.
inline void run_blocking(caf::actor_system& sys, std::function<void()> work) {
  sys.spawn<caf::detached>([work = std::move(work)](caf::event_based_actor* self) {
    census_enter(self->id(), "gateway_query");
    work();
    census_leave(self->id());
    self->quit();
  });
}

} // namespace recd::gateway_detail
