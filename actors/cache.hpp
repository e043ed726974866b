#pragma once
// cache: a detached actor (hiredis' blocking API on its own thread) holding
// the per-user recommendation cache in Redis under "recommend:<user_id>".
//
//   (cache_get_atom, user_id)               -> string   "" on a miss or when Redis is down
//   (cache_put_atom, user_id, string)       -> void     SETEX with the configured TTL
//   (cache_del_atom, user_id)               -> bool     false if Redis could not be told
//   (cache_del_atom)                        -> uint64   delete every cached answer (SCAN + DEL;
//                                                       this node only); reply: keys deleted
//   (stats_atom)                            -> string   JSON: hits, misses, errors, degraded
//
// The cache never fails a request: every Redis error or timeout counts as a
// miss, is logged, and marks the cache degraded; Redis is then skipped for
// redis.retry_ms before the next connection attempt. Every (re)connect sends
// AUTH (redis.url's [user]:password, else redis.password) and SELECT db; a
// refused AUTH is logged once ("AUTH failed ...", never the password) and
// degrades the cache like any other failure.

#include <caf/fwd.hpp>

#include "config/settings.hpp"

namespace recd {

caf::actor spawn_cache(caf::actor_system& sys, redis_settings cfg);

} // namespace recd
