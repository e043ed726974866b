#include "actors/heap.hpp"

#include <dlfcn.h>
#include <malloc.h>

#include <cstddef>
#include <cstring>

namespace recd::heap {

namespace {

// jemalloc's control interface, if the process runs on it (unprefixed, as
// Debian's libjemalloc2 exports it).
using mallctl_fn = int (*)(const char*, void*, std::size_t*, void*, std::size_t);

mallctl_fn jemalloc_ctl() {
  static const auto fn = reinterpret_cast<mallctl_fn>(::dlsym(RTLD_DEFAULT, "mallctl"));
  return fn;
}

} // namespace

const char* allocator_in_use() {
  // Looked up once: the allocator cannot change while the process runs.
  static const char* const name = [] {
    if (jemalloc_ctl() != nullptr)
      return "jemalloc";
    if (::dlsym(RTLD_DEFAULT, "tc_malloc") != nullptr)
      return "tcmalloc";
    if (::dlsym(RTLD_DEFAULT, "mi_malloc") != nullptr)
      return "mimalloc";
    return "system";
  }();
  return name;
}

void release_free_memory() {
  if (auto ctl = jemalloc_ctl()) {
    // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena's unused dirty pages.
    ctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
  if (std::strcmp(allocator_in_use(), "system") == 0)
    ::malloc_trim(0);
}

} // namespace recd::heap
