#pragma once
// Loopback ports for the servers the tests start (recd nodes, redis-server,
// PostgreSQL), handed out so that a port given to a server is not taken by
// anything else before the server binds it.
//
// Why: binding port 0, reading the port and closing the socket gives a port
// of the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999
// by default), the range every outgoing connection (to PostgreSQL, Redis,
// between nodes) takes its source port from, and that another test process
// may be handed as well: between the pick and the server's bind, the port
// could go ("Address already in use").
//
// Contract of free_port(), shared by scripts/lib.sh (take_port) and
// bench/faults/deployment.py (free_port), which follow the same rules:
// - The port is in RECD_PORT_RANGE ("LOW-HIGH", default 20000-32767) and
//   outside the kernel's ephemeral range (read from
//   /proc/sys/net/ipv4/ip_local_port_range at first use): the kernel never
//   picks it as the source port of a connection nor for a bind to port 0.
// - It is exclusive among our processes: a port is taken by holding an
//   exclusive flock on <RECD_PORT_LOCK_DIR, default /tmp/recd-ports>/<port>.lock,
//   and this process holds it until it exits (the descriptor is
//   close-on-exec: the children do not hold it, the test process does). A
//   port is therefore never handed out twice while its taker lives, and a
//   node restarted on its port by the same test keeps it.
// - It was free when handed out: bind(127.0.0.1:port) without SO_REUSEADDR
//   succeeded (nothing listens there, no connection of a former taker lingers
//   in TIME_WAIT), then the socket was closed.
// - Each process starts looking at an offset derived from its pid and goes on
//   from the last port it took, wrapping around.
// Thread-safe. Throws std::runtime_error if the lock folder cannot be made,
// if the range has no port outside the ephemeral range, or if every port of
// it is taken. The lock files stay (one empty file per port ever used).
#include <cstdint>
#include <string>

namespace recd::test {

struct port_range {
  std::uint32_t low = 0, high = 0; // inclusive; empty when low > high
  bool contains(std::uint32_t port) const { return port >= low && port <= high; }
};

std::uint16_t free_port();

// The range free_port() draws from (RECD_PORT_RANGE or 20000-32767).
port_range test_port_range();
// The kernel's ephemeral range; empty if /proc does not say.
port_range ephemeral_port_range();

} // namespace recd::test
