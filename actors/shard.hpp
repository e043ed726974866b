#pragma once
// shard: owns the users and items of some partitions and serves from memory.
// Each message is checked before it acts (actors/trust.hpp, protocol/limits.hpp):
// C = control, only from the coordinator's node or this node; D = serving,
// from an API node that subscribed to the coordinator (or those two nodes).
//
//   C (load_atom, partitions, count, epoch)       -> (users, items)   load (first) or add partitions for the map of epoch
//   C (flip_atom, epoch, owned)                   -> void             the map flipped: serve `owned`, catch up landed ones
//   C (drop_atom, partitions, epoch)              -> bool             forget partitions on standby the map of epoch gives away
//   C (map_atom)                                  -> [partition]      what this shard holds (for a restarted coordinator)
//   C (map_atom, partitions, partition_count)     -> void             own partitions, load nothing (jobs only)
//   C (subscribe_atom, api)                       -> void             api's node may send serving requests
//   C (reload_atom, job_kind)                     -> bool             serve a newly published run
//   C (bulk_atom, bulk_chunk)                     -> bool             a piece of a job's input (bounded per sender)
//   C (job_atom, similarity_task, progress_to)    -> (rows, pairs)    compute owned rows, COPY them
//   C (job_atom, embedding_task)                  -> actor            an ALS worker for owned rows
//     (join_atom, coordinator)                    -> void             only from this node: follow that coordinator
//   D (context_atom, user_id, recent, similar)    -> user_context     step 1 of a recommendation
//   D (version_atom, user_id)                     -> uint64           guards cached answers
//   D (recall_atom, recall_request)               -> [candidate]      step 2, for owned seeds/items
//   D (details_atom, [item_id])                   -> [item_details]   step 3, owned items only
//   D (item_atom, item_id)                        -> [float]          validates an item, its embedding
//   D (apply_atom, behavior_event, id, [float])   -> uint64           user side of a committed event
//   D (apply_atom, behavior_event, id)            -> bool             item side of a committed event
//     (stats_atom)                                -> (users, items)
//     (ready_atom)                                -> bool             the first load finished
//
// Loads and flips for a map older than the newest flip are refused; so is a
// drop of a partition the newest flip gives to this shard.
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
