#pragma once
// The memory of one held partition's users or items (actors/held_table.hpp):
// a std::pmr memory resource over chunks mapped from the system for this partition only,
// so that dropping the partition (a move) unmaps every page it used, whatever
// the order its records were allocated in. On the global heap, partitions
// interleave (ids are `id mod P`), and a node that gave half of its
// partitions away kept most of their pages (docs/cluster.md, "Capacity model").
//
// Not thread-safe: one owner at a time (the loader builds a snapshot, then
// hands it to the shard actor in a message).

#include <cstddef>
#include <memory_resource>
#include <vector>

namespace recd {

// The pages behind one partition arena: small requests (the arena's blocks)
// are cut in turn from mapped chunks (64 KiB first, each next one twice as
// large, up to 1 MiB: a small partition maps little) and never given back one
// by one (a freed block waits on the arena's free lists); a large request (at
// least large_bytes) is mapped on its own and unmapped when freed, so a
// rehash's old bucket array or a grown block does not stay.
class mapped_pages : public std::pmr::memory_resource {
public:
  static constexpr std::size_t first_chunk_bytes = std::size_t{64} << 10;
  static constexpr std::size_t max_chunk_bytes = std::size_t{1} << 20;
  static constexpr std::size_t large_bytes = std::size_t{32} << 10;
  mapped_pages() = default;
  mapped_pages(const mapped_pages&) = delete;
  mapped_pages& operator=(const mapped_pages&) = delete;
  ~mapped_pages() override;
  // Unmaps every chunk (large blocks are unmapped when their owners free
  // them: the held_table's maps are destroyed before their arena).
  void release();
  // Bytes mapped now (chunks and large blocks, whole pages).
  std::size_t mapped() const { return mapped_; }

private:
  void* do_allocate(std::size_t bytes, std::size_t align) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t align) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
  struct region {
    void* base;
    std::size_t bytes;
  };
  std::vector<region> chunks_;  // bump-allocated, newest last
  std::size_t used_ = 0;        // bytes used in the newest chunk
  std::size_t mapped_ = 0;
  std::size_t large_count_ = 0; // large blocks mapped on their own
};

// One partition's allocator: blocks rounded up to a size class (16-byte steps
// up to 1 KiB, 128-byte steps up to 8 KiB, 1 KiB steps below large_bytes),
// cut in turn from the current chunk of mapped_pages whatever their class (no
// per-class chunk left half-used, no block header); a freed block waits on
// its class's free list for the next block of that class. Blocks of
// large_bytes or more are mapped on their own. Everything is unmapped at once
// when the arena is destroyed.
class partition_arena : public std::pmr::memory_resource {
public:
  static constexpr std::size_t classes = 64 + 56 + 24;
  partition_arena() = default;
  partition_arena(const partition_arena&) = delete;
  partition_arena& operator=(const partition_arena&) = delete;
  ~partition_arena() override = default;
  // Bytes mapped for this partition (what its drop hands back).
  std::size_t mapped() const { return pages_.mapped(); }
  // Bytes of the blocks in use (rounded to their class; large blocks whole).
  std::size_t in_use() const { return in_use_; }

private:
  void* do_allocate(std::size_t bytes, std::size_t align) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t align) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
  mapped_pages pages_;
  std::size_t in_use_ = 0;
  void* free_[classes] = {}; // a freed block holds the next one of its class
};

} // namespace recd
