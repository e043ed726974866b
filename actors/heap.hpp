#pragma once
// The process's malloc, as found at run time (the build links jemalloc into
// `recd` when it can: CMakeLists.txt, RECD_ALLOCATOR; an LD_PRELOAD shows
// here too), and handing its free pages back to the system.

namespace recd::heap {

// "jemalloc", "tcmalloc", "mimalloc" or "system" (glibc's).
const char* allocator_in_use();

// Returns the free pages the allocator holds to the system: jemalloc's arenas
// purged, glibc's malloc_trim(0). Only the allocator in use is asked: glibc's
// malloc_trim in a process whose malloc is another walks arenas glibc never
// set up (it crashed a shard node under jemalloc: a read of address 8 inside
// malloc_trim). Another allocator is left to its own policy.
void release_free_memory();

} // namespace recd::heap
