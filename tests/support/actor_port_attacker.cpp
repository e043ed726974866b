#include "support/actor_port_attacker.hpp"

#include "config/settings.hpp"
#include "nodes/actor_system.hpp"

namespace recd::test::adversary {

attacker::attacker(const std::string& app_id) {
  settings s;
  s.cluster.app_id = app_id;
  configure(cfg, s);
  configure_network(cfg, s);
  sys = std::make_unique<caf::actor_system>(cfg);
}

bool is_refused(const caf::error& err) {
  return err.category() == error_category && err.code() == static_cast<std::uint8_t>(ec::refused);
}

} // namespace recd::test::adversary
