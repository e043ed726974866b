#pragma once
// Sending a bulk value (protocol/bulk.hpp) from an event-based actor: the
// chunks go one acknowledged request at a time, then `done` runs; the first
// error (receiver gone, timeout) calls `fail` instead.

#include <chrono>
#include <functional>
#include <memory>
#include <random>

#include <caf/event_based_actor.hpp>

#include "protocol/bulk.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

// Transfer ids are random, so a restarted sender never reuses a live one.
inline std::uint64_t new_bulk_id() {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen();
}

// `Dest`: any handle whose interface includes bulk_sink's.
template <class Self, class Dest>
void send_chunks(Self* self, Dest dest, std::shared_ptr<const bulk_payload> payload,
                 std::function<void()> done, std::function<void(caf::error&)> fail,
                 std::size_t next = 0) {
  if (next >= payload->chunks.size()) {
    done();
    return;
  }
  self->request(dest, std::chrono::seconds{120}, bulk_atom_v, payload->chunks[next])
    .then([=](bool) { send_chunks(self, dest, payload, done, fail, next + 1); },
          [=](caf::error& err) { fail(err); });
}

} // namespace recd
