#pragma once
// The version of the wire protocol: every message type, field and handler
// signature in protocol/ as this build encodes and expects them.
//
// Contract:
// - Nodes talk only to nodes of the same wire version. A node's CAF
//   application identifier is "<cluster.app_id>/wire-<version>"
//   (wire_identifier), so the BASP handshake refuses a peer of another
//   version before a single recd message is decoded: no node ever reads a
//   message laid out by another version.
// - Bump the version with every change a node of the previous version would
//   decode or handle differently: an atom, a field, a type, a handler's
//   signature, or a message's meaning. tests/protocol_test.cpp pins a
//   fingerprint of protocol/ per version and fails until the version is
//   bumped and the new fingerprint recorded.
// - A release that changes the wire version cannot roll node by node: see
//   docs/cluster.md, "Upgrades".

#include <cstdint>
#include <string>

namespace recd {

// This build's wire version.
std::uint32_t wire_version();

// CAF's application identifier for `app_id` at this build's wire version.
std::string wire_identifier(const std::string& app_id);

} // namespace recd
