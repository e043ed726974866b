#include "nodes/actor_system.hpp"

#include <thread>

#include "protocol/type_ids.hpp"

namespace recd {

void configure(caf::actor_system_config& acfg, const settings& cfg) {
  add_message_types(acfg);
  auto threads = cfg.cluster.scheduler_threads > 0
                   ? static_cast<std::size_t>(cfg.cluster.scheduler_threads)
                   : std::max<std::size_t>(2, std::thread::hardware_concurrency());
  acfg.set("scheduler.max-threads", threads);
}

} // namespace recd
