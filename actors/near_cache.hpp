#pragma once
// near_cache: an API actor's in-process copy of recent cache entries, in
// front of Redis. A hit spares the Redis round trip (and the cache actor's
// thread); it is served under the same rule as a Redis hit: only if the
// user's version on its shard is unchanged, and only for redis.ttl_seconds
// from when this actor stored or read it (so an entry read from Redis near its
// expiry may be served up to twice the TTL after it was computed).
// Redis stays the cache shared by every API actor and node.
//
// Bounded by bytes (least recently used out first); owned by one actor, not
// thread-safe.

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "engine/types.hpp"

namespace recd {

class near_cache {
public:
  using clock = std::chrono::steady_clock;
  using value_ptr = std::shared_ptr<const std::string>;

  near_cache(std::size_t max_bytes, std::chrono::seconds ttl) : max_bytes_(max_bytes), ttl_(ttl) {}

  // The entry for `u` ("<version>\n<limit>\n<body>", as in Redis), or null.
  value_ptr find(user_id u) {
    auto it = entries_.find(u);
    if (it == entries_.end())
      return nullptr;
    if (clock::now() >= it->second.expires) {
      erase(it);
      return nullptr;
    }
    lru_.splice(lru_.begin(), lru_, it->second.position);
    return it->second.value;
  }

  void put(user_id u, value_ptr value) {
    if (value->size() > max_bytes_)
      return;
    if (auto it = entries_.find(u); it != entries_.end())
      erase(it);
    while (bytes_ + value->size() > max_bytes_ && !lru_.empty())
      erase(entries_.find(lru_.back()));
    lru_.push_front(u);
    bytes_ += value->size();
    entries_.emplace(u, entry{std::move(value), clock::now() + ttl_, lru_.begin()});
  }

  void erase(user_id u) {
    if (auto it = entries_.find(u); it != entries_.end())
      erase(it);
  }

  void clear() {
    entries_.clear();
    lru_.clear();
    bytes_ = 0;
  }

  std::size_t size() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }

private:
  struct entry {
    value_ptr value;
    clock::time_point expires;
    std::list<user_id>::iterator position;
  };
  using map = std::unordered_map<user_id, entry>;

  void erase(map::iterator it) {
    bytes_ -= it->second.value->size();
    lru_.erase(it->second.position);
    entries_.erase(it);
  }

  std::size_t max_bytes_;
  std::chrono::seconds ttl_;
  std::size_t bytes_ = 0;
  map entries_;
  std::list<user_id> lru_; // most recently used first
};

} // namespace recd
