#pragma once
// A shard's share of an ALS run (actors/embedding_worker.hpp): the weighted
// cells of its own users and items, read in the job driver's snapshot, as
// CSR rows of each side over the other side's dense indices. Only the
// embedding worker uses it (on its own thread: both calls block or compute).

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include <caf/error.hpp>

#include "engine/als.hpp"
#include "protocol/messages.hpp"

namespace recd {

// The owned rows of one side as weighted CSR rows over the other side.
struct side_rows {
  std::vector<std::uint32_t> dense; // dense index of each owned row
  engine::weighted_rows rows;
};

// The rows of `ids` (dense index -> id) whose partition (of `count`) is in
// `owned`, from the cells (key[k], other[k], w[k]); a row's cells keep
// their order in the cells.
side_rows build_side(const std::vector<std::int32_t>& ids, const std::vector<std::uint32_t>& key,
                     const std::vector<std::uint32_t>& other, const std::vector<float>& w,
                     const std::unordered_set<std::uint32_t>& owned, std::uint32_t count);

// The task's cells of the shard's own users and items (of `partitions` of
// `count`), read in the task's snapshot from `url` into task.u, task.i and
// task.w (dense indices into the run's users and items, in (user, item)
// order). Blocks.
caf::error read_share(const std::string& url, embedding_task& task,
                      const std::vector<std::uint32_t>& partitions, std::uint32_t count);

} // namespace recd
