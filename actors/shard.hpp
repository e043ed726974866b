#pragma once
// shard: owns the users and items of some partitions and serves from memory.
//
//   (load_atom, partitions, partition_count)     -> (users, items)   load (first) or add partitions
//   (drop_atom, partitions)                      -> bool              forget partitions moved away
//   (apply_atom, partitions)                     -> void              the map flipped: catch up moved ones
//   (map_atom, partitions, partition_count)      -> void              own partitions, load nothing (jobs only)
//   (context_atom, user_id, recent, similar)     -> user_context      step 1 of a recommendation
//   (version_atom, user_id)                      -> uint64            guards cached answers
//   (recall_atom, recall_request)                -> [candidate]       step 2, for owned seeds/items
//   (details_atom, [item_id])                    -> [item_details]    step 3, owned items only
//   (item_atom, item_id)                         -> [float]           validates an item, its embedding
//   (apply_atom, behavior_event, id, [float])    -> uint64            user side of a committed event
//   (apply_atom, behavior_event, id)             -> bool              item side of a committed event
//   (reload_atom, job_kind)                      -> bool              serve a newly published run
//   (job_atom, similarity_task, progress_to)     -> (rows, pairs)     compute owned rows, COPY them
//   (job_atom, embedding_task)                   -> actor             an ALS worker for owned rows
//   (stats_atom)                                 -> (users, items)
//   (ready_atom)                                 -> bool              the first load finished
//
// Events that arrive while the shard is loading are kept and replayed on the
// snapshot if their behavior id is newer than the snapshot's.

#include <string>

#include <caf/fwd.hpp>

#include "config/settings.hpp"

namespace recd {

caf::actor spawn_shard(caf::actor_system& sys, std::uint32_t index, std::string postgres_url,
                       recommend_settings cfg);

} // namespace recd
