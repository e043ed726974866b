#pragma once
// cache: a detached actor (hiredis' blocking API on its own thread) holding
// the per-user recommendation cache in Redis under "recommend:<user_id>".
//
// Its messages: cache_actor in protocol/interfaces.hpp.
//
// The cache never fails a request: every Redis error or timeout counts as a
// miss, is logged, and marks the cache degraded; Redis is then skipped for
// redis.retry_ms before the next connection attempt. Every (re)connect sends
// AUTH (redis.url's [user]:password, else redis.password) and SELECT db; a
// refused AUTH is logged once ("AUTH failed ...", never the password) and
// degrades the cache like any other failure.

#include <caf/fwd.hpp>

#include "protocol/interfaces.hpp"

#include "config/settings.hpp"

namespace recd {

cache_actor spawn_cache(caf::actor_system& sys, redis_settings cfg);

} // namespace recd
