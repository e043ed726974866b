#pragma once
// shard: owns the users and items of some partitions and serves from memory.
// Its messages and who may send each: shard_actor in protocol/interfaces.hpp.
// Each is checked before it acts (actors/trust.hpp, protocol/limits.hpp):
// control messages only from the coordinator's node or this node; serving
// requests from an API node admitted by the coordinator (or those two nodes).
//
// Loads and flips for a map older than the newest flip are refused; so is a
// drop of a partition the newest flip gives to this shard.
// Requests for a user or item of a partition this shard does not hold are
// answered with shard_unavailable (an API node with an old map degrades).
// Committed events for a partition being loaded are kept and replayed on the
// snapshot unless it already contains them (shard_snapshot::contains). A
// partition loaded but not flipped here yet, or flipped away but not dropped,
// is on standby: recall leaves it out, so each partition is recalled once.

#include <functional>
#include <string>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "config/settings.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

// Connects this node to the shard node whose actor port is at `address`
// (host:port) and returns the shard published there. Blocks: called only by
// a detached similarity worker, before it sends that peer its pieces, so that
// they travel over a direct connection (never routed through the
// coordinator's node). Empty for shards that have no network (one process).
using peer_dialer = std::function<caf::expected<shard_actor>(const std::string& address)>;

shard_actor spawn_shard(caf::actor_system& sys, std::uint32_t index, std::string postgres_url,
                        recommend_settings cfg, peer_dialer dial = {});

} // namespace recd
