#include "nodes/actor_system.hpp"

#include <thread>

#include <caf/io/middleman.hpp>

#include "protocol/type_ids.hpp"

namespace recd {

void configure(caf::actor_system_config& acfg, const settings& cfg) {
  add_message_types(acfg);
  auto threads = cfg.cluster.scheduler_threads > 0
                   ? static_cast<std::size_t>(cfg.cluster.scheduler_threads)
                   : std::max<std::size_t>(2, std::thread::hardware_concurrency());
  acfg.set("scheduler.max-threads", threads);
}

void configure_network(caf::actor_system_config& acfg, const settings& cfg) {
  acfg.load<caf::io::middleman>();
  acfg.set("middleman.app-identifiers", std::vector<std::string>{cfg.cluster.app_id});
  acfg.set("middleman.enable-automatic-connections", true);
  acfg.set("middleman.heartbeat-interval",
           caf::timespan{std::chrono::milliseconds{cfg.cluster.heartbeat_ms}});
  acfg.set("middleman.connection-timeout",
           caf::timespan{std::chrono::milliseconds{cfg.cluster.connection_timeout_ms}});
}

} // namespace recd
