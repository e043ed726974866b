// The wire protocol as a whole (protocol/version.hpp): each atom names one
// message, and a fingerprint of every registered type's layout and every
// interface's signatures is pinned per wire version, so that a change to
// protocol/ cannot ship without a new wire version (nodes of two versions
// refuse each other at the handshake instead of misreading messages).
#include <gtest/gtest.h>

#include <cstdint>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <caf/binary_serializer.hpp>

#include "protocol/type_ids.hpp"
#include "protocol/version.hpp"

namespace recd {
namespace {

// The fingerprint of each wire version: its protocol/ as this test describes
// it (describe_protocol). Add a row with every new version; never change one.
const std::map<std::uint32_t, std::string> pinned_fingerprints{
  {1, "9a3e3dd9679ad746"},
  {2, "9ee0e8f90c07bd0c"}, // embedding_task.cg_steps
  {3, "7d0fe9f2e11fe1a9"}, // similarity_plan, pair_batch: the shards read and exchange
  {4, "d03d3aa72a908fc5"}, // similarity_plan.peer_addresses: shards dial their peers
  {5, "4c24d1f8d5a8d0a2"}, // similarity_plan.max_column_rows; embedding_task.snapshot (shards read ALS cells)
  {6, "c5d0cbb9dc6aff4e"}, // partition_map.replica, recall_request.serve, nearest_atom's serve set
  {7, "9ebf6d6e4b09c733"}, // ALS factors among the shards' workers: als_mesh, factor_share, stage
};

struct protocol_version_test : ::testing::Test {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  void SetUp() override {
    add_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  // Every interface of protocol/interfaces.hpp with its signatures.
  std::vector<std::pair<const char*, std::set<std::string>>> interfaces() const {
    return {
      {"run_progress_sink", sys->message_types<run_progress_sink>()},
      {"part_progress_sink", sys->message_types<part_progress_sink>()},
      {"bulk_sink", sys->message_types<bulk_sink>()},
      {"factor_sink", sys->message_types<factor_sink>()},
      {"embedding_worker_actor", sys->message_types<embedding_worker_actor>()},
      {"similarity_worker_actor", sys->message_types<similarity_worker_actor>()},
      {"shard_loader_actor", sys->message_types<shard_loader_actor>()},
      {"shard_actor", sys->message_types<shard_actor>()},
      {"map_subscriber", sys->message_types<map_subscriber>()},
      {"run_watcher_actor", sys->message_types<run_watcher_actor>()},
      {"job_driver_actor", sys->message_types<job_driver_actor>()},
      {"coordinator_actor", sys->message_types<coordinator_actor>()},
      {"api_actor", sys->message_types<api_actor>()},
      {"behavior_writer_actor", sys->message_types<behavior_writer_actor>()},
      {"cache_actor", sys->message_types<cache_actor>()},
      {"shard_dialer_actor", sys->message_types<shard_dialer_actor>()},
      {"readiness_probe", sys->message_types<readiness_probe>()},
      {"dashboard_reader_actor", sys->message_types<dashboard_reader_actor>()},
    };
  }

  // One line per registered type: its name, a default value as CAF prints
  // it (the fields and their order) and that value's size on the wire (the
  // fields' widths). A changed default value changes it too: a message
  // whose defaults change means something else to an older node.
  template <caf::type_id_t Id>
  void describe_type(std::ostringstream& out) {
    using type = typename caf::type_by_id<Id>::type;
    type value{};
    std::vector<char> buf;
    caf::binary_serializer sink{*sys, buf};
    if (auto err = sink(value))
      ADD_FAILURE() << caf::type_name_by_id<Id>::value << ": " << sys->render(err);
    out << caf::type_name_by_id<Id>::value << " = " << caf::deep_to_string(value) << " / "
        << buf.size() << " bytes\n";
  }

  template <caf::type_id_t... Is>
  void describe_types(std::ostringstream& out, std::integer_sequence<caf::type_id_t, Is...>) {
    (describe_type<static_cast<caf::type_id_t>(caf::id_block::recd::begin + Is)>(out), ...);
  }

  std::string describe_protocol() {
    std::ostringstream out;
    describe_types(out, std::make_integer_sequence<caf::type_id_t, caf::id_block::recd::end -
                                                                     caf::id_block::recd::begin>{});
    for (const auto& [name, signatures] : interfaces()) {
      out << name << ":\n";
      for (const auto& s : signatures)
        out << "  " << s << "\n";
    }
    return out.str();
  }
};

// FNV-1a, 64 bits, as 16 hex digits.
std::string fingerprint(const std::string& text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  std::ostringstream out;
  out << std::hex << std::setw(16) << std::setfill('0') << h;
  return out.str();
}

TEST_F(protocol_version_test, the_protocol_is_the_one_pinned_for_this_wire_version) {
  const auto described = describe_protocol();
  const auto print = fingerprint(described);
  auto pinned = pinned_fingerprints.find(wire_version());
  ASSERT_NE(pinned, pinned_fingerprints.end())
    << "wire version " << wire_version() << " has no pinned fingerprint: add {" << wire_version()
    << ", \"" << print << "\"} to pinned_fingerprints";
  EXPECT_EQ(print, pinned->second)
    << "protocol/ changed: nodes of this build would misread messages of nodes built before "
       "the change. Bump the wire version in protocol/version.cpp (with a line in its history) "
       "and pin {"
    << wire_version() + 1 << ", \"" << print << "\"} here. The protocol as described:\n"
    << described;
}

TEST_F(protocol_version_test, the_handshake_identifier_carries_the_deployment_and_the_version) {
  EXPECT_EQ(wire_identifier("shop-eu"), "shop-eu/wire-" + std::to_string(wire_version()));
  EXPECT_NE(wire_identifier("shop-eu"), wire_identifier("shop-us"));
}

// Each atom names one message: across every interface in
// protocol/interfaces.hpp, no atom heads two different signatures (argument
// lists or replies), so a handler's atom says what it receives.
TEST_F(protocol_version_test, each_atom_names_one_message) {
  const auto all = interfaces();
  // A signature reads "caf::replies_to<ATOM,...>::with<...>"; the atom is
  // its first input.
  std::map<std::string, std::set<std::string>> by_atom;
  std::size_t signatures = 0;
  for (const auto& [name, mpi] : all) {
    ASSERT_FALSE(mpi.empty()) << name;
    for (const auto& sig : mpi) {
      ++signatures;
      auto open = sig.find('<');
      ASSERT_NE(open, std::string::npos) << sig;
      auto end = sig.find_first_of(",>", open + 1);
      by_atom[sig.substr(open + 1, end - open - 1)].insert(sig);
      // Every type in it is registered (an unregistered one has no portable
      // name, and remote_actor could not compare interfaces); the loader's
      // snapshot pointers are local by design (never serialized).
      if (std::string{name} != "shard_loader_actor") {
        EXPECT_EQ(sig.find("invalid-type"), std::string::npos) << name << ": " << sig;
      }
    }
  }
  EXPECT_GT(signatures, 60u);
  for (const auto& [atom, sigs] : by_atom)
    EXPECT_EQ(sigs.size(), 1u) << "atom '" << atom << "' heads " << sigs.size()
                               << " signatures, e.g. " << *sigs.begin() << " and "
                               << *std::next(sigs.begin());
}

} // namespace
} // namespace recd
