#pragma once
// A CAF client of the tests' own, no recd node, for the adversary suite: it
// connects to a node's actor port as an attacker on the network would
// (without TLS, with a given application id) and sends whatever it likes.
// Its actor system is configured like a node's (nodes/actor_system.hpp), so
// only the application id decides whether the handshake succeeds.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"
#include "support/api_client.hpp"

namespace recd::test::adversary {

struct attacker {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  explicit attacker(const std::string& app_id);
  // Connected as the typed handle a node of this deployment would use (CAF
  // refuses the connection unless the published interface is exactly that);
  // the test then sends through an untyped handle, as an attacker could.
  template <class Handle>
  caf::expected<caf::actor> connect(std::uint16_t port) {
    auto x = sys->middleman().remote_actor<Handle>(loopback, port);
    if (!x)
      return x.error();
    return caf::actor_cast<caf::actor>(*x);
  }
};

// Whether `err` is recd's ec::refused (actors/trust.hpp).
bool is_refused(const caf::error& err);

// Sends one request and returns its error; "accepted" (ec::unspecified) if it
// was answered with a value (of types Rs...). Waits at most 5 s.
template <class... Rs, class... Ts>
caf::error send_hostile(caf::scoped_actor& self, const caf::actor& dest, Ts&&... xs) {
  caf::error result = make_error(ec::unspecified, "accepted");
  self->request(dest, std::chrono::seconds{5}, std::forward<Ts>(xs)...)
    .receive([&](Rs...) {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace recd::test::adversary
