#include "actors/partition_arena.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <new>

namespace recd {

namespace {

std::size_t page_size() {
  static const auto bytes = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

std::size_t whole_pages(std::size_t bytes) {
  const auto page = page_size();
  return (bytes + page - 1) / page * page;
}

void* map(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    throw std::bad_alloc();
  return p;
}

} // namespace

mapped_pages::~mapped_pages() {
  release();
}

void mapped_pages::release() {
  for (const auto& c : chunks_)
    munmap(c.base, c.bytes);
  chunks_.clear();
  used_ = 0;
  // Large blocks are unmapped by their owners (the pool's release frees them).
  mapped_ = 0;
  large_count_ = 0;
}

void* mapped_pages::do_allocate(std::size_t bytes, std::size_t align) {
  if (bytes >= large_bytes || align > page_size()) {
    const auto size = whole_pages(bytes);
    void* p = map(size);
    mapped_ += size;
    ++large_count_;
    return p;
  }
  // Bump allocation in the newest chunk; a request that does not fit starts
  // a new chunk (the rest of the old one stays unused: requests here are
  // below large_bytes, a 32nd of a chunk at most).
  if (!chunks_.empty()) {
    auto start = (used_ + align - 1) / align * align;
    if (start + bytes <= chunks_.back().bytes) {
      used_ = start + bytes;
      return static_cast<char*>(chunks_.back().base) + start;
    }
  }
  const auto next = chunks_.empty() ? first_chunk_bytes
                                    : std::min(max_chunk_bytes, 2 * chunks_.back().bytes);
  const auto size = std::max(next, whole_pages(bytes));
  chunks_.reserve(chunks_.size() + 1);
  void* p = map(size);
  chunks_.push_back({p, size});
  mapped_ += size;
  used_ = bytes;
  return p;
}

void mapped_pages::do_deallocate(void* p, std::size_t bytes, std::size_t align) {
  if (bytes >= large_bytes || align > page_size()) {
    const auto size = whole_pages(bytes);
    munmap(p, size);
    mapped_ -= size;
    --large_count_;
  }
  // A chunk's blocks are returned with the whole chunk (release).
}

namespace {

std::pmr::pool_options arena_pools() {
  std::pmr::pool_options opt;
  // Blocks up to this size come from the pools (reused within the
  // partition); larger ones are mapped on their own by mapped_pages.
  opt.largest_required_pool_block = mapped_pages::large_bytes;
  opt.max_blocks_per_chunk = 1024;
  return opt;
}

} // namespace

partition_arena::partition_arena() : pool_(arena_pools(), &pages_) {}

partition_arena::~partition_arena() {
  pool_.release(); // hands the large blocks back (unmapped) before the chunks go
}

} // namespace recd
