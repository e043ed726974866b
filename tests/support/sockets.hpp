#pragma once
// What TCP connections a process holds, read from /proc (Linux): lets a
// cluster test see which nodes talk to which directly.

#include <cstdint>
#include <sys/types.h>

namespace recd::test {

// True if process `pid` holds an established IPv4 TCP connection whose
// remote end is 127.0.0.1:`port` (its own sockets only: /proc/<pid>/fd).
bool connected_to(pid_t pid, std::uint16_t port);

} // namespace recd::test
