#include "actors/version_board.hpp"

#include <mutex>
#include <unordered_map>


namespace recd {

namespace {

// The boards of this process's shards, by their control block (unique
// while the shard lives: it delists itself before the block can be reused).
struct board_registry {
  std::mutex mu;
  std::unordered_map<const caf::actor_control_block*, std::shared_ptr<version_board>> boards;
};

board_registry& registry() {
  static board_registry r;
  return r;
}

} // namespace

std::shared_ptr<version_board> version_board::of(const caf::actor_control_block* shard) {
  if (shard == nullptr)
    return nullptr;
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mu};
  auto it = r.boards.find(shard);
  return it == r.boards.end() ? nullptr : it->second;
}

void version_board::enlist(const caf::actor_control_block* shard,
                           std::shared_ptr<version_board> board) {
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mu};
  r.boards[shard] = std::move(board);
}

void version_board::delist(const caf::actor_control_block* shard) {
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mu};
  r.boards.erase(shard);
}

} // namespace recd
