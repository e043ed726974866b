#pragma once
// shard: owns the users and items of some partitions and serves from memory.
//
//   (load_atom, partitions, count, epoch)         -> (users, items)   load (first) or add partitions for the map of epoch
//   (flip_atom, epoch, owned)                     -> void              the map flipped: serve `owned`, catch up landed ones
//   (drop_atom, partitions, epoch)                -> bool              forget partitions the map of epoch gives away
//   (map_atom)                                    -> [partition]       what this shard holds (for a restarted coordinator)
//   (map_atom, partitions, partition_count)       -> void              own partitions, load nothing (jobs only)
//   (context_atom, user_id, recent, similar)      -> user_context      step 1 of a recommendation
//   (version_atom, user_id)                       -> uint64            guards cached answers
//   (recall_atom, recall_request)                 -> [candidate]       step 2, for owned seeds/items
//   (details_atom, [item_id])                     -> [item_details]    step 3, owned items only
//   (item_atom, item_id)                          -> [float]           validates an item, its embedding
//   (apply_atom, behavior_event, id, [float])     -> uint64            user side of a committed event
//   (apply_atom, behavior_event, id)              -> bool              item side of a committed event
//   (reload_atom, job_kind)                       -> bool              serve a newly published run
//   (job_atom, similarity_task, progress_to)      -> (rows, pairs)     compute owned rows, COPY them
//   (job_atom, embedding_task)                    -> actor             an ALS worker for owned rows
//   (stats_atom)                                  -> (users, items)
//   (ready_atom)                                  -> bool              the first load finished
//
// Requests for a user or item of a partition this shard does not hold are
// answered with shard_unavailable (an API node with an old map degrades).
// Committed events for a partition being loaded are kept and replayed on the
// snapshot unless it already contains them (shard_snapshot::contains). A
// partition loaded but not flipped here yet, or flipped away but not dropped,
// is on standby: recall leaves it out, so each partition is recalled once.

#include <string>

#include <caf/fwd.hpp>

#include "config/settings.hpp"

namespace recd {

caf::actor spawn_shard(caf::actor_system& sys, std::uint32_t index, std::string postgres_url,
                       recommend_settings cfg);

} // namespace recd
