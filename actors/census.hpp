#pragma once
// Which of recd's long-lived actors are alive in this process, by name, and
// what every one of them does first (enroll). A
// node whose actor system does not stop after its shutdown work logs this
// list (nodes/serve.cpp), so a teardown that hangs names the actor that
// keeps it alive.

#include <caf/scheduled_actor.hpp>
#include <spdlog/spdlog.h>

#include <string>

#include "protocol/errors.hpp"

namespace recd {

void census_enter(caf::actor_id id, const char* name);
void census_leave(caf::actor_id id);
// "coordinator#12, job_driver#14" (empty if none).
std::string census_report();

// Call first thing in an actor's behavior function: counts the actor in the
// census, and makes an error that arrives as a message (an answer to a
// message that was not a request, or one a peer sends on purpose) a logged
// warning instead of CAF 0.17's default, which ends the receiving actor.
inline void enroll(caf::scheduled_actor* self) {
  census_enter(self->id(), self->name());
  self->attach_functor([id = self->id()] { census_leave(id); });
  self->set_error_handler([self](caf::error& err) {
    spdlog::warn("{} ignored an error message: {}", self->name(), describe(err));
  });
}

} // namespace recd
