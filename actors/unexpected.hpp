#pragma once
// The default handler of every recd actor: an unexpected message is logged
// and dropped. (CAF 0.17's print_and_drop answers with an error that, for a
// message that was not a request, ends the actor: one stray reply must never
// take a coordinator or an API actor down.)
#include <caf/message.hpp>
#include <caf/message_view.hpp>
#include <caf/result.hpp>
#include <caf/scheduled_actor.hpp>
#include <spdlog/spdlog.h>

namespace recd {

inline caf::result<caf::message> log_and_drop(caf::scheduled_actor* self, caf::message_view& x) {
  spdlog::warn("{} dropped an unexpected message: {}", self->name(),
               caf::to_string(x.copy_content_to_message()));
  return caf::message{};
}

} // namespace recd
