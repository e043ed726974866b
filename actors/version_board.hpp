#pragma once
// version_board: what a shard changed, readable without a message by the
// threads of its own process. A cached answer is valid while the user's
// version and the catalog epoch on their shard are unchanged (api.hpp); a
// co-located API node checks that here instead of asking the shard.
//
// The shard (its one thread) bumps the user's slot whenever the user's
// version changes, and the generation whenever many may have: its catalog
// epoch changed, partitions were installed, merged or dropped, a user was
// erased. Users share slots (a hash of the id), so a bump may invalidate
// other users' answers too: that costs a recomputation, never a stale answer.
// A retired board (its shard ended) never validates anything again.
//
// Ordering: a bump is a release store made before the shard answers the
// request that caused it, and stamps are acquire loads: whoever learns of
// the change (a behavior's 200) and then reads the board sees the bump.
//
// The boards of a process are found by their shard's control block (of):
// only shards of this process are enlisted, so a remote shard has none.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include <caf/fwd.hpp>

#include "engine/types.hpp"

namespace recd {

class version_board {
public:
  struct stamp {
    std::uint64_t slot = 0;
    std::uint64_t generation = 0;
  };

  version_board() = default;
  version_board(const version_board&) = delete;
  version_board& operator=(const version_board&) = delete;

  // ---- The shard's thread ----
  void user_changed(user_id u) {
    auto& s = slots_[slot_of(u)];
    s.store(s.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  void all_changed() {
    generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  void retire() { retired_.store(true, std::memory_order_release); }

  // ---- Any thread ----
  stamp read(user_id u) const {
    return {slots_[slot_of(u)].load(std::memory_order_acquire),
            generation_.load(std::memory_order_acquire)};
  }
  // Whether nothing that could change `u`'s answer happened since `s` was read.
  bool unchanged(user_id u, const stamp& s) const {
    if (retired_.load(std::memory_order_acquire))
      return false;
    auto now = read(u);
    return now.slot == s.slot && now.generation == s.generation;
  }

  // The board of the shard whose control block is `shard` if it runs in
  // this process (and has not ended), else null (a remote shard's proxy).
  static std::shared_ptr<version_board> of(const caf::actor_control_block* shard);
  // Enlists `board` as `shard`'s (by the shard itself, when it starts) and
  // delists it (when it ends, after retire()).
  static void enlist(const caf::actor_control_block* shard, std::shared_ptr<version_board> board);
  static void delist(const caf::actor_control_block* shard);

private:
  static constexpr std::size_t slot_count = std::size_t{1} << 15;
  static std::size_t slot_of(user_id u) {
    auto h = static_cast<std::uint32_t>(u) * 0x9E3779B1u; // Fibonacci hashing
    return h >> (32 - 15);
  }

  std::array<std::atomic<std::uint64_t>, slot_count> slots_{};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> retired_{false};
};

} // namespace recd
