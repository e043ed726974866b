#pragma once
// api: serves recommend and behavior requests by talking to the shards.
//
//   (recommend_atom, user_id, limit, use_cache) -> string   the JSON response body
//   (behavior_atom, behavior_event)             -> int64    committed row id
//   (behavior_atom, behavior_event, event_id)   -> int64    same, idempotent on a non-empty
//                                                           event_id: a repeat answers the first
//                                                           row id and changes nothing
//   (stats_atom)                                -> string   the JSON of /api/stats
//   (map_atom, epoch, shards, owner)            -> bool     the coordinator's newest partition map
//   (move_atom, epoch, shards, owner)           -> bool     a move starts: the map that will hold at epoch
//   (join_atom, coordinator)                    -> void     follow a (restarted) coordinator
//   (flush_atom, user)                          -> uint64   forget the cached answers of `user`
//                                                           (all when < 0) here and in Redis;
//                                                           reply: Redis keys deleted (1 for a user)
//
// A recommendation: cache lookup (valid only if the user's version on its
// shard is unchanged) -> user context from the user's shard -> recall on every
// shard (item CF, user CF, vector, popular) -> merge, exclude bought, rank ->
// item details from the owning shards -> cache store. A shard that misses its
// deadline is skipped (the answer is degraded, not failed).
//
// A behavior: the item's shard validates the item -> the behavior_writer
// commits the row -> the user's and item's shards apply it (during a move,
// the next owners as well) -> the user's cache entry is deleted -> reply.
// Nothing is applied in memory unless committed.

#include <memory>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actors/api_metrics.hpp"
#include "actors/behavior_writer.hpp"
#include "config/settings.hpp"

namespace recd {

struct api_deps {
  caf::actor coordinator;
  caf::actor cache;
  caf::actor writer;
  std::shared_ptr<writer_gate> gate; // shared with `writer`: bounds its queue
  std::shared_ptr<api_metrics> metrics;
};

caf::actor spawn_api(caf::actor_system& sys, settings cfg, api_deps deps);

} // namespace recd
