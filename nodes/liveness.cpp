#include "nodes/liveness.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace recd {

std::string liveness::cause() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return cause_;
}

void liveness::mark_dead(std::string cause) {
  {
    std::lock_guard<std::mutex> lock{mutex_};
    if (!cause_.empty())
      return;
    cause_ = std::move(cause);
  }
  dead_.store(true, std::memory_order_release);
}

std::shared_ptr<liveness> watch_essentials(caf::actor_system& sys,
                                           std::vector<std::pair<std::string, caf::actor_addr>> essentials) {
  auto state = std::make_shared<liveness>();
  // Hidden: the actor system does not wait for it when it stops. It keeps
  // only the essentials' addresses (weak): a strong handle would keep a dead
  // detached actor's object, and so its thread, alive, and actor_system's
  // destructor waits for every detached actor's thread.
  std::vector<std::pair<std::string, caf::actor_addr>> watched;
  for (auto& [name, addr] : essentials)
    if (addr)
      watched.emplace_back(std::move(name), std::move(addr));
  sys.spawn<caf::hidden>([state, watched](caf::event_based_actor* self) -> caf::behavior {
    for (const auto& [name, addr] : watched)
      if (auto actor = caf::actor_cast<caf::actor>(addr)) // strong only for this call
        self->monitor(actor);
    self->set_down_handler([=](caf::down_msg& dm) {
      for (const auto& [name, addr] : watched)
        if (addr == dm.source) {
          auto why = name + " terminated (" + caf::to_string(dm.reason) + ")";
          spdlog::error("essential actor {}: /healthz fails from now on", why);
          state->mark_dead(why);
        }
    });
    return {[](caf::unit_t) {}}; // nothing to receive: it only watches
  });
  return state;
}

} // namespace recd
