#include "protocol/version.hpp"

// RECD_WIRE_VERSION_SHIFT exists for one test build only: tests/ links a
// second `recd` (recd-wire-next) from the same sources with the shift 1, so
// that tests/cluster_upgrade_test can run two wire versions against each
// other. Never set it for a build that serves.
#ifndef RECD_WIRE_VERSION_SHIFT
#define RECD_WIRE_VERSION_SHIFT 0
#endif

namespace recd {

namespace {

// History (protocol/README.md, "Wire versions"):
//   1  2026-11-27  the first versioned protocol.
//   2  2026-11-27  embedding_task.cg_steps (ALS by conjugate gradient).
//   3  2026-11-27  similarity runs: the shards read their input under the
//                  driver's snapshot and exchange it (similarity_plan, pairs_atom).
//                  On main only between 6eed8ab and its revert 860b80b.
//   4  2026-11-28  3 with similarity_plan.peer_addresses: a shard dials each
//                  peer of a run and exchanges over direct connections.
//   5  2026-11-28  similarity_plan.max_column_rows (user_neighbours.max_item_users),
//                  and embedding_task.snapshot with the cells' weighting: each
//                  shard reads its own users' and items' cells of an ALS run.
//   6  2026-11-28  replicated partitions (cluster.replicas): partition_map.replica,
//                  and recall_request.serve / nearest_atom's serve set, naming
//                  the partitions a shard recalls for.
//   7  2026-11-28  ALS factors exchanged among the shards' workers (als_mesh,
//                  factor_share, factors_atom), no longer through the job driver;
//                  the workers stage the final vectors (stage_atom).
constexpr std::uint32_t current = 7;

} // namespace

std::uint32_t wire_version() { return current + RECD_WIRE_VERSION_SHIFT; }

std::string wire_identifier(const std::string& app_id) {
  return app_id + "/wire-" + std::to_string(wire_version());
}

} // namespace recd
