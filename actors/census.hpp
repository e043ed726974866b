#pragma once
// Which of recd's long-lived actors are alive in this process, by name, and
// what every one of them does first (enroll). A
// node whose actor system does not stop after its shutdown work logs this
// list (nodes/serve.cpp), so a teardown that hangs names the actor that
// keeps it alive.

#include <caf/scheduled_actor.hpp>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <map>
#include <string>

#include "protocol/errors.hpp"

namespace recd {

void census_enter(caf::actor_id id, const char* name);
void census_leave(caf::actor_id id);
// "coordinator#12, job_driver#14" (empty if none).
std::string census_report();
// How many of each are alive, by name (/metrics: recd_actors).
std::map<std::string, std::size_t> census_counts();

// Call first thing in an actor's behavior function: counts the actor in the
// census, and makes an error that arrives as a message (an answer to a
// message that was not a request, or one a peer sends on purpose) a logged
// warning instead of CAF 0.17's default, which ends the receiving actor; and
// an exit message from another node is ignored.
inline void enroll(caf::scheduled_actor* self) {
  census_enter(self->id(), self->name());
  // When it ends: out of the census, and its pending request timeouts are
  // cancelled. CAF 0.17's clock keeps a strong reference to the requester of
  // every timeout until it is due, even after the answer came (a job driver's
  // 24 h part timeout, a chunk's 120 s): a detached actor whose object is not
  // destroyed keeps its thread, and actor_system's destructor waits for that
  // thread (await_detached_threads). That was the coordinator's teardown hang.
  self->attach_functor([self, id = self->id()] {
    census_leave(id);
    self->home_system().clock().cancel_timeouts(self);
  });
  self->set_error_handler([self](caf::error& err) {
    spdlog::warn("{} ignored an error message: {}", self->name(), describe(err));
  });
  // An exit message ends the actor only if it comes from this node (a linked
  // actor's end, or the node's own shutdown): a peer on the actor port cannot
  // stop a shard or a coordinator by sending one (docs/security.md).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (msg.reason == caf::exit_reason::normal)
      return;
    const auto& src = self->current_sender();
    if ((src && src->node() != self->node()) || (msg.source && msg.source.node() != self->node())) {
      spdlog::warn("{} ignored an exit message from another node ({})", self->name(),
                   caf::to_string(msg.reason));
      return;
    }
    self->quit(msg.reason);
  });
}

} // namespace recd
