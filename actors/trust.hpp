#pragma once
// Who may send what. What an actor accepts at all is its typed interface
// (protocol/interfaces.hpp; anything else is dropped and logged); within it,
// each message is one of
//   control: change what it holds or serves, start work, read its state
//            (load, drop, flip, jobs, map pushes): only from the node of the
//            coordinator it follows, or from its own node;
//   internal: reminders an actor sends itself (ticks, redo, delayed drops):
//            only from itself;
//   data:    serving requests (context, recall, apply, ...): a shard takes
//            them only from API nodes the coordinator admitted (and the
//            coordinator's node and its own), after their contents are
//            checked (protocol/limits.hpp).
// A refused message is answered with ec::refused, logged, and changes nothing.
//
// What this is worth depends on the transport (docs/security.md). With mutual
// TLS (cluster.tls_*, on by default in the Helm chart) only nodes holding a
// certificate of the deployment's CA connect at all, and these checks keep a
// misrouted or misconfigured member from acting outside its role. Without TLS
// a peer's node id is whatever it claims (CAF's routed messages name their own
// source), so a hostile peer could pass them: that is why a node refuses to
// bind its actor port beyond loopback without TLS unless cluster.insecure = 1.

#include <string>

#include <caf/actor_control_block.hpp>
#include <caf/local_actor.hpp>
#include <caf/node_id.hpp>
#include <spdlog/spdlog.h>

#include "protocol/errors.hpp"

namespace recd {

// The current message's sender, for logs: "actor 12 on node <id>" or "anonymous".
inline std::string describe_sender(caf::local_actor* self) {
  const auto& src = self->current_sender();
  if (!src)
    return "an anonymous sender";
  return "actor " + std::to_string(src->id()) + " on node " + caf::to_string(src->node());
}

// The sending node as a key (bulk transfers are kept per sending node).
inline std::string sender_node(caf::local_actor* self) {
  const auto& src = self->current_sender();
  return src ? caf::to_string(src->node()) : std::string{"anonymous"};
}

inline caf::error refuse(caf::local_actor* self, const char* what, const std::string& why) {
  spdlog::warn("{} refused {} from {}: {}", self->name(), what, describe_sender(self), why);
  return make_error(ec::refused, std::string{what} + ": " + why);
}

// Control messages: from `control` (the coordinator's node; none yet = own
// node only) or from this actor's own node.
inline caf::error check_control(caf::local_actor* self, const caf::node_id& control,
                                const char* what) {
  const auto& src = self->current_sender();
  if (src && (src->node() == self->node() || (control && src->node() == control)))
    return {};
  return refuse(self, what, "only the coordinator may send it");
}

// Internal messages: only from the actor itself.
inline caf::error check_self(caf::local_actor* self, const char* what) {
  const auto& src = self->current_sender();
  if (src && src->id() == self->id() && src->node() == self->node())
    return {};
  return refuse(self, what, "an actor's own reminder");
}

// From one given actor (a worker's parent).
inline caf::error check_from(caf::local_actor* self, const caf::actor_addr& parent,
                             const char* what) {
  const auto& src = self->current_sender();
  if (src && src->address() == parent)
    return {};
  return refuse(self, what, "only its parent may send it");
}

} // namespace recd
