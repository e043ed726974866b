#pragma once
// The direct connections between the shards of one job run (docs/cluster.md,
// "Jobs on a cluster"), shared by the similarity workers (input pieces) and
// the embedding workers (ALS factor shares): whatever a run's shards send
// each other goes over a connection between their two nodes, never routed
// through a third node such as a coordinator that has since died.
//
// Of each two peers on different nodes that both have an address, exactly
// one dials: the one earlier in the run's list dials the later one's node.
// Two connections opened at once between two CAF nodes can leave each node
// routing over a different one, and a message arriving on a connection its
// receiver does not route by has no sender. The later peer sends to the
// earlier one only once the earlier one's first message has arrived, over
// the connection it opened (peer_links::dialing_here).

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/node_id.hpp>

#include "actors/shard.hpp"

namespace recd {

// Whether peers i < j talk over a connection i opens to j's node: both have
// an address and they are on different nodes.
bool dialed_pair(const std::vector<std::string>& addresses, const std::vector<caf::node_id>& nodes,
                 std::size_t i, std::size_t j);

// How a peer reaches each other peer of its run.
struct peer_links {
  // ready[j]: peer j may be sent to from now on (false for the peer itself
  // and for those in dialing_here).
  std::vector<bool> ready;
  // The peers before this one that dial it, by node: each is sent to once
  // its first message has arrived, at that message's sender.
  std::map<caf::node_id, std::size_t> dialing_here;
};

// Called with each peer j that `dial` reached and the shard published at
// its address: an error if that is not the shard the run names for j.
using dialed_check = std::function<caf::error(std::size_t j, shard_actor& shard)>;

// Dials, in turn, the peers after `own` (peers `nodes` at `addresses`, ""
// for a shard of the driver's own node) whose pair dialed_pair says. BLOCKS
// (a detached actor's call). Without `dial` (no network) every peer is ready
// at once. A peer that cannot be reached is ec::shard_unavailable (the
// coordinator redoes the run); two peers before `own` on one node is
// ec::invalid_argument.
caf::expected<peer_links> connect_peers(caf::actor_system& sys,
                                        const std::vector<caf::node_id>& nodes,
                                        const std::vector<std::string>& addresses,
                                        std::size_t own, const peer_dialer& dial,
                                        const dialed_check& check);

} // namespace recd
