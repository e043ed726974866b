#pragma once
// shard_loader: a detached actor (own thread, own PostgreSQL connection) that
// reads a shard's partitions from the database (its messages:
// shard_loader_actor in protocol/interfaces.hpp). It BLOCKS on libpqxx, which
// is why it never runs on the cooperative scheduler.
//
// The snapshot pointers are local-only messages: a loader always runs on the
// same node as its shard (each shard node reads its own partitions).

#include <memory>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

#include "actors/shard_state.hpp"
#include "protocol/interfaces.hpp"

namespace recd {

// Only `parent` (its shard) may send to it.
shard_loader_actor spawn_shard_loader(caf::actor_system& sys, std::string postgres_url,
                              recommend_settings cfg, caf::actor_addr parent);

// The same work as the actor, callable directly (tests, tools).
caf::expected<shard_snapshot_ptr> load_snapshot(const std::string& postgres_url,
                                                const std::vector<std::uint32_t>& partitions,
                                                std::uint32_t partition_count,
                                                const recommend_settings& cfg);

// Whether a published run of `kind` changes what recall serves under `cfg`:
// embeddings always; a similarity kind when it is the table named by
// recommend.item_neighbours or recommend.user_neighbours.
bool feeds_recall(const recommend_settings& cfg, job_kind kind);

// Parses a PostgreSQL real[] text ("{1,2.5,-3e-05}") into floats.
std::vector<float> parse_float_array(std::string_view text);

} // namespace recd
