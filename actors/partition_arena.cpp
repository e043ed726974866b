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
  // Large blocks are unmapped by their owners when they free them.
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
  // below large_bytes: half of the first chunk, a 32nd of a 1 MiB one).
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
  if (chunks_.size() == chunks_.capacity())
    chunks_.reserve(2 * chunks_.size() + 4); // before mapping: the push cannot throw then
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
  // A chunk's blocks go back with the whole chunk (release).
}

namespace {

constexpr std::size_t block_align = 16;

// The size class of a request below large_bytes and the bytes of its blocks.
struct size_class {
  std::size_t index, bytes;
};
size_class class_of(std::size_t bytes) {
  if (bytes <= 1024) {
    const auto steps = (std::max<std::size_t>(bytes, 1) + 15) / 16; // 1..64
    return {steps - 1, steps * 16};
  }
  if (bytes <= 8192) {
    const auto steps = (bytes - 1024 + 127) / 128; // 1..56
    return {64 + steps - 1, 1024 + steps * 128};
  }
  const auto steps = (bytes - 8192 + 1023) / 1024; // 1..24 (below 32 KiB)
  return {120 + steps - 1, 8192 + steps * 1024};
}

} // namespace

void* partition_arena::do_allocate(std::size_t bytes, std::size_t align) {
  if (bytes >= mapped_pages::large_bytes || align > block_align) {
    void* p = pages_.allocate(std::max(bytes, mapped_pages::large_bytes), align);
    in_use_ += std::max(bytes, mapped_pages::large_bytes);
    return p;
  }
  const auto c = class_of(bytes);
  in_use_ += c.bytes;
  if (void* p = free_[c.index]) {
    free_[c.index] = *static_cast<void**>(p);
    return p;
  }
  return pages_.allocate(c.bytes, block_align);
}

void partition_arena::do_deallocate(void* p, std::size_t bytes, std::size_t align) {
  if (bytes >= mapped_pages::large_bytes || align > block_align) {
    pages_.deallocate(p, std::max(bytes, mapped_pages::large_bytes), align);
    in_use_ -= std::max(bytes, mapped_pages::large_bytes);
    return;
  }
  const auto c = class_of(bytes);
  in_use_ -= c.bytes;
  *static_cast<void**>(p) = free_[c.index];
  free_[c.index] = p;
}

} // namespace recd
