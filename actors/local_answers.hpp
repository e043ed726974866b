#pragma once
// local_answers: the cached answers that a shard of this process can vouch
// for without a message, shared by the node's API actors (which store them)
// and its HTTP threads (which serve them: nodes/gateway.cpp). A hit answers
// a recommend request on the HTTP thread that read it, with no actor hop.
//
// An entry is served under the rule of every cached answer (api.hpp): only
// while the user's version and the catalog epoch on their shard are
// unchanged, which its shard's version_board tells; and only while
//   - the node's routing is unchanged (routing(): an API actor's map changed
//     or it lost a shard, so the user may be served by another shard now),
//   - the rules are those it was made under (their tag),
//   - the request asks for exactly the entry's depth at offset 0 and no
//     narrowing filter (anything else goes to the API actor as before),
//   - it is younger than redis.ttl_seconds.
// An entry is stored only with a stamp read before the user's context was
// asked for: a change made after that stamp fails the check.
//
// Thread-safe: striped by user, each stripe under its own mutex and bounded
// by bytes (least recently used out first).

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "actors/version_board.hpp"
#include "engine/types.hpp"

namespace recd {

class local_answers {
public:
  using clock = std::chrono::steady_clock;

  // What an entry was made under.
  struct guard {
    std::shared_ptr<version_board> board; // of the user's shard
    version_board::stamp stamp;           // read before the user's context was asked for
    std::uint64_t routing = 0;            // routing() at the same time
  };

  local_answers(std::size_t max_bytes, std::chrono::seconds ttl)
    : stripe_bytes_(max_bytes / stripe_count), ttl_(ttl) {}

  // The node's routing generation: changed by an API actor whose map changed
  // or which lost a shard (acquire/release, as the boards).
  std::uint64_t routing() const { return routing_.load(std::memory_order_acquire); }
  void routing_changed() { routing_.fetch_add(1, std::memory_order_acq_rel); }

  // Stores `body` (an answer of `depth` items up to, without, its closing
  // '}') for `u`, made under `g` and the rules of `rules_tag`.
  void put(user_id u, std::shared_ptr<const std::string> body, std::int32_t depth,
           std::uint64_t rules_tag, guard g);

  // The body for a request of `limit` items at offset 0 under the rules of
  // `rules_tag`, if an entry is still valid; else null (and an invalid entry
  // is dropped).
  std::shared_ptr<const std::string> find(user_id u, std::int32_t limit, std::uint64_t rules_tag);

  // Forgets `u`'s entry, or every entry (recd admin cache flush).
  void erase(user_id u);
  void clear();

  std::size_t size() const;

private:
  static constexpr std::size_t stripe_count = 16;
  struct entry {
    std::shared_ptr<const std::string> body;
    std::int32_t depth;
    std::uint64_t rules_tag;
    guard made_under;
    clock::time_point expires;
    std::list<user_id>::iterator position;
  };
  struct stripe {
    mutable std::mutex mu;
    std::unordered_map<user_id, entry> entries;
    std::list<user_id> lru; // most recently used first
    std::size_t bytes = 0;
    void erase(std::unordered_map<user_id, entry>::iterator it);
  };
  stripe& stripe_of(user_id u) {
    return stripes_[static_cast<std::uint32_t>(u) % stripe_count];
  }

  std::size_t stripe_bytes_;
  std::chrono::seconds ttl_;
  std::atomic<std::uint64_t> routing_{0};
  std::array<stripe, stripe_count> stripes_;
};

} // namespace recd
