#include "actors/peer_mesh.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>

#include "protocol/errors.hpp"

namespace recd {

bool dialed_pair(const std::vector<std::string>& addresses, const std::vector<caf::node_id>& nodes,
                 std::size_t i, std::size_t j) {
  return !addresses[i].empty() && !addresses[j].empty() && nodes[i] != nodes[j];
}

caf::expected<peer_links> connect_peers(caf::actor_system& sys,
                                        const std::vector<caf::node_id>& nodes,
                                        const std::vector<std::string>& addresses,
                                        std::size_t own, const peer_dialer& dial,
                                        const dialed_check& check) {
  peer_links links;
  links.ready.assign(nodes.size(), false);
  for (std::size_t j = 0; j < nodes.size(); ++j) {
    if (j == own)
      continue;
    if (!dialed_pair(addresses, nodes, std::min(j, own), std::max(j, own)) || (j > own && !dial)) {
      links.ready[j] = true;
      continue;
    }
    if (j < own) {
      if (!links.dialing_here.emplace(nodes[j], j).second)
        return make_error(ec::invalid_argument, "two shards of the run on one node");
      continue;
    }
    const auto& address = addresses[j];
    auto shard = dial(address);
    if (!shard)
      return make_error(ec::shard_unavailable, "cannot reach the run's shard at " + address +
                                                 ": " + sys.render(shard.error()));
    if (auto err = check(j, *shard))
      return err;
    links.ready[j] = true;
  }
  return links;
}

} // namespace recd
