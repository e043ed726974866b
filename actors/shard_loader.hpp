#pragma once
// shard_loader: a detached actor (own thread, own PostgreSQL connection) that
// reads a shard's partitions from the database. It BLOCKS on libpqxx, which
// is why it never runs on the cooperative scheduler.
//
//   (load_atom, partitions, partition_count)        -> shard_snapshot_ptr
//   (reload_atom, job_kind, partitions, count)      -> neighbour_update_ptr | embedding_update_ptr
//   (item_atom, item_id)                            -> (item_details, [float])  an item added later
//   (apply_atom, partitions, count, since_id)       -> ([id], [behavior_event]) behaviors after a snapshot
//
// The snapshot pointers are local-only messages: a loader always runs on the
// same node as its shard (each shard node reads its own partitions).

#include <memory>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include "actors/shard_state.hpp"

namespace recd {

using shard_snapshot_ptr = std::shared_ptr<shard_snapshot>;
using neighbour_update_ptr = std::shared_ptr<neighbour_update>;
using embedding_update_ptr = std::shared_ptr<embedding_update>;

// Only `parent` (its shard) may send to it.
caf::actor spawn_shard_loader(caf::actor_system& sys, std::string postgres_url,
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

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(recd::shard_snapshot_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(recd::neighbour_update_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(recd::embedding_update_ptr)
