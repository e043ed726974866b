#pragma once
// behavior_writer: a detached actor owning one PostgreSQL connection that
// makes behavior events durable. Group commit: events that queue while a
// commit is in flight go into the next transaction together, so a burst costs
// one fsync, not one per event.
//
//   (write_atom, behavior_event, check_item) -> int64   the committed row's id
//     check_item: the item's shard was unavailable; verify the item in the
//     catalog first (not_found, nothing stored, if it is missing).
//
// The reply comes only after COMMIT returned: an acknowledged event is in the
// database. On failure every event of the batch gets the error and nothing of
// the batch is stored (one transaction).

#include <string>

#include <caf/fwd.hpp>

namespace recd {

caf::actor spawn_behavior_writer(caf::actor_system& sys, std::string postgres_url);

} // namespace recd
