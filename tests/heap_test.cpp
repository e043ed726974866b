// actors/heap: the allocator found at run time, and free memory handed back.
// Linked with the allocator `recd` links (CMakeLists.txt, RECD_ALLOCATOR),
// so this runs what a shard node runs after each load, drop and install.
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "actors/heap.hpp"

namespace recd {
namespace {

std::int64_t resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  std::int64_t total = 0, resident = 0;
  statm >> total >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

TEST(Heap, TheAllocatorInUseIsTheOneTheBuildChose) {
  EXPECT_STREQ(heap::allocator_in_use(), RECD_ALLOCATOR_OF_BUILD);
}

// 256 MiB in 4 KiB blocks, touched, then freed: the allocator keeps those
// pages (jemalloc as dirty pages until they decay, glibc in its arenas) until
// it is asked to hand them back.
TEST(Heap, FreedMemoryGoesBackToTheSystem) {
  constexpr std::size_t block = 4096, blocks = 64 * 1024;
  const auto base = resident_bytes();
  {
    std::vector<std::unique_ptr<char[]>> held;
    held.reserve(blocks);
    for (std::size_t k = 0; k < blocks; ++k) {
      held.emplace_back(new char[block]);
      for (std::size_t b = 0; b < block; b += 512)
        held.back()[b] = static_cast<char>(k);
    }
    ASSERT_GT(resident_bytes() - base, std::int64_t{200} << 20);
  }
  heap::release_free_memory();
  EXPECT_LT(resident_bytes() - base, std::int64_t{64} << 20)
    << "resident after the release: " << (resident_bytes() >> 20) << " MiB, before the blocks: "
    << (base >> 20) << " MiB";
}

// Shard actors settle their memory on their own threads at once (two shards
// loading side by side): the release is safe from many threads.
TEST(Heap, ManyThreadsReleaseAtOnce) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([] {
      for (int round = 0; round < 50; ++round) {
        std::vector<std::unique_ptr<char[]>> some;
        for (int k = 0; k < 200; ++k)
          some.emplace_back(new char[1024 + 512 * k]);
        some.clear();
        heap::release_free_memory();
      }
    });
  for (auto& t : threads)
    t.join();
  SUCCEED();
}

} // namespace
} // namespace recd
