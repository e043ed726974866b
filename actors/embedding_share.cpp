#include "actors/embedding_share.hpp"

#include <algorithm>

#include "engine/types.hpp"
#include "protocol/errors.hpp"
#include "store/database.hpp"
#include "store/job_inputs.hpp"

namespace recd {

side_rows build_side(const std::vector<std::int32_t>& ids, const std::vector<std::uint32_t>& key,
                     const std::vector<std::uint32_t>& other, const std::vector<float>& w,
                     const std::unordered_set<std::uint32_t>& owned, std::uint32_t count) {
  side_rows out;
  std::vector<std::int64_t> slot(ids.size(), -1);
  for (std::size_t d = 0; d < ids.size(); ++d)
    if (owned.count(partition_of(ids[d], count)) != 0) {
      slot[d] = static_cast<std::int64_t>(out.dense.size());
      out.dense.push_back(static_cast<std::uint32_t>(d));
    }
  std::vector<std::uint64_t> sizes(out.dense.size() + 1, 0);
  for (std::size_t k = 0; k < key.size(); ++k)
    if (slot[key[k]] >= 0)
      ++sizes[static_cast<std::size_t>(slot[key[k]]) + 1];
  for (std::size_t r = 1; r < sizes.size(); ++r)
    sizes[r] += sizes[r - 1];
  out.rows.offsets = sizes;
  out.rows.cols.resize(sizes.back());
  out.rows.weights.resize(sizes.back());
  auto fill = sizes;
  for (std::size_t k = 0; k < key.size(); ++k)
    if (auto s = slot[key[k]]; s >= 0) {
      auto pos = fill[static_cast<std::size_t>(s)]++;
      out.rows.cols[pos] = other[k];
      out.rows.weights[pos] = w[k];
    }
  return out;
}

// The task's cells of the shard's own users and items, read in the task's
// snapshot into u, i and w (dense indices into the run's users and items).
caf::error read_share(const std::string& url, embedding_task& task,
                      const std::vector<std::uint32_t>& partitions, std::uint32_t count) {
  store::embedding_input_spec spec;
  spec.snapshot = task.snapshot;
  spec.now_micros = task.input_now;
  spec.window_since = task.window_since;
  spec.kind_weights = task.kind_weights;
  spec.half_life_days = task.half_life_days;
  spec.partitions = partitions;
  spec.count = count;
  auto conn = store::connect(url);
  if (!conn)
    return conn.error();
  bool unknown = false;
  auto dense = [](const auto& sorted, std::int32_t id, bool& missing) {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), id);
    missing = missing || it == sorted.end() || *it != id;
    return static_cast<std::uint32_t>(it - sorted.begin());
  };
  auto err = store::guard([&] {
    store::read_embedding_share(**conn, spec, [&](user_id u, item_id i, float w) {
      bool missing = false;
      auto du = dense(task.users, u, missing);
      auto di = dense(task.items, i, missing);
      if (missing) {
        unknown = true;
        return;
      }
      task.u.push_back(du);
      task.i.push_back(di);
      task.w.push_back(w);
    });
  });
  if (err)
    return err;
  if (unknown) // the same snapshot cannot hold a cell of a row it does not
    return make_error(ec::invalid_argument, "a cell of a user or item not in the run's rows");
  return {};
}

} // namespace recd
