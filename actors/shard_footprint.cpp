// shard_state::footprint(): counts the bytes of each structure of a shard's
// state, so that what dominates a shard node's memory is measured, not
// guessed. The users' and items' records and vectors live in the partitions'
// arenas (actors/partition_arena.hpp): they count the bytes asked for
// (capacity, nodes, buckets); `arenas` is what the arenas mapped for them and
// `arena_blocks` their blocks in use (with the size classes' rounding).
// Titles are on the default heap: malloc_usable_size (the allocator in use
// answers it, jemalloc too) plus glibc's 8-byte chunk header, exact under
// glibc's malloc, 8 bytes a title over under jemalloc (no header).
// vector_index::bytes() is in vector_index.cpp: hnswlib's headers may be
// included by one translation unit only.
#include "actors/shard_state.hpp"

#include <malloc.h>

#include <cstdio>

namespace recd {

namespace {

// What one heap block costs: its usable size plus malloc's chunk header.
std::size_t block(const void* p) {
  return p == nullptr ? 0 : malloc_usable_size(const_cast<void*>(p)) + sizeof(std::size_t);
}

// A vector in an arena: the block it asked for.
template <class T>
std::size_t heap(const std::pmr::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

std::size_t heap(const std::string& s) {
  return s.capacity() > 15 ? block(s.data()) : 0; // libstdc++ keeps up to 15 chars inline
}

// A node-based hash map of integer keys (libstdc++ caches no hash for them),
// one per held partition: one node per entry (a next pointer and the value)
// plus the bucket arrays.
template <class Table>
std::size_t table(const Table& t) {
  const std::size_t node = sizeof(void*) + sizeof(typename Table::value_type);
  return t.size() * node + t.bucket_count() * sizeof(void*);
}

} // namespace

std::size_t state_footprint::total() const {
  return user_table + history + bought + similar + user_vectors + item_table + titles +
         neighbours + item_vectors + vector_index;
}

std::string describe(const state_footprint& f) {
  auto mib = [](std::size_t b) { return double(b) / (1 << 20); };
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%zu users, %zu items, %.1f MiB: user table %.1f, history %.1f, bought %.1f, "
                "similar users %.1f, user vectors %.1f; item table %.1f, titles %.1f, "
                "neighbours %.1f, item vectors %.1f, vector index %.1f; partition arenas "
                "%.1f mapped, %.1f in blocks",
                f.users, f.items, mib(f.total()), mib(f.user_table), mib(f.history),
                mib(f.bought), mib(f.similar), mib(f.user_vectors), mib(f.item_table),
                mib(f.titles), mib(f.neighbours), mib(f.item_vectors), mib(f.vector_index),
                mib(f.arenas), mib(f.arena_blocks));
  return buf;
}

state_footprint shard_state::footprint() const {
  state_footprint f;
  f.users = users_.size();
  f.items = items_.size();
  f.user_table = table(users_);
  for (const auto& [id, u] : users_) {
    f.history += heap(u.history);
    f.bought += heap(u.bought) + heap(u.first_buys);
    f.similar += heap(u.similar);
    f.user_vectors += heap(u.vec);
  }
  f.item_table = table(items_);
  for (const auto& [id, i] : items_) {
    f.titles += heap(i.details.title);
    f.neighbours += heap(i.neighbours) + heap(i.co_bought);
    f.item_vectors += heap(i.embedding);
  }
  if (index_)
    f.vector_index = index_->bytes();
  f.arenas = users_.mapped() + items_.mapped();
  f.arena_blocks = users_.in_use() + items_.in_use();
  return f;
}

} // namespace recd
