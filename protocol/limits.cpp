#include "protocol/limits.hpp"

#include <cctype>

#include "protocol/errors.hpp"

namespace recd::limits {

namespace {

caf::error invalid(std::string what) { return make_error(ec::invalid_argument, std::move(what)); }

} // namespace

caf::error check_partition_count(std::uint32_t count) {
  if (count == 0 || count > max_partitions)
    return invalid("partition count " + std::to_string(count) + " is not in 1.." +
                   std::to_string(max_partitions));
  return {};
}

caf::error check_partitions(const std::vector<std::uint32_t>& partitions, std::uint32_t count) {
  if (auto err = check_partition_count(count))
    return err;
  if (partitions.size() > count)
    return invalid("more partitions listed than exist");
  for (auto p : partitions)
    if (p >= count)
      return invalid("partition " + std::to_string(p) + " of " + std::to_string(count));
  return {};
}

caf::error check_event(const behavior_event& e) {
  if (e.user < 0 || e.item < 0)
    return invalid("negative user or item id");
  if (static_cast<std::uint8_t>(e.kind) > static_cast<std::uint8_t>(behavior_kind::buy))
    return invalid("unknown behavior kind");
  return {};
}

caf::error check_applied_batch(const applied_batch& batch) {
  if (batch.events.size() > max_batch_events || batch.events.size() != batch.ids.size())
    return invalid("a batch's events and row ids differ in number or exceed " +
                   std::to_string(max_batch_events));
  if (batch.vectors.items.size() != batch.vectors.vectors.size() ||
      batch.vectors.items.size() > max_batch_events)
    return invalid("a batch's items and vectors differ in number");
  for (const auto& v : batch.vectors.vectors)
    if (v.size() > max_vector_dim)
      return invalid("vector too long");
  for (const auto& e : batch.events)
    if (auto err = check_event(e))
      return err;
  return {};
}

caf::error check_seed_counts(std::int32_t recent, std::int32_t similar) {
  if (recent < 0 || recent > max_seeds || similar < 0 || similar > max_seeds)
    return invalid("seed counts must be in 0.." + std::to_string(max_seeds));
  return {};
}

caf::error check_recall(const recall_request& req) {
  if (req.per_route < 0 || req.per_route > max_per_route)
    return invalid("per_route must be in 0.." + std::to_string(max_per_route));
  if (req.recent.size() > static_cast<std::size_t>(max_seeds) ||
      req.similar.size() > static_cast<std::size_t>(max_seeds))
    return invalid("too many seeds");
  if (req.exclude.size() > max_exclude)
    return invalid("too many excluded items");
  if (req.vector.size() > max_vector_dim)
    return invalid("vector too long");
  for (const auto& r : req.recent)
    if (static_cast<std::uint8_t>(r.kind) > static_cast<std::uint8_t>(behavior_kind::buy))
      return invalid("unknown behavior kind in a seed");
  return {};
}

caf::error check_node_name(const std::string& name) {
  if (name.empty() || name.size() > max_name)
    return invalid("a node name has 1.." + std::to_string(max_name) + " characters");
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return invalid("a node name has only letters, digits, '-', '_' and '.'");
  return {};
}

caf::error check_address(const std::string& address) {
  if (address.size() > max_address)
    return invalid("address too long");
  for (char c : address)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':' ||
          c == '[' || c == ']' || c == '_'))
      return invalid("an address is host:port");
  return {};
}

caf::error check_job_kind(job_kind kind) {
  if (static_cast<std::uint8_t>(kind) >= job_kind_count)
    return invalid("unknown job kind");
  return {};
}

caf::error check_graph(const engine::bipartite& g) {
  if (g.offsets.empty() && g.row_ids.empty() && g.cols.empty())
    return {};
  if (g.offsets.size() != g.row_ids.size() + 1 || g.offsets.front() != 0 ||
      g.offsets.back() != g.cols.size())
    return invalid("graph offsets do not match its rows");
  for (std::size_t r = 0; r + 1 < g.offsets.size(); ++r)
    if (g.offsets[r] > g.offsets[r + 1])
      return invalid("graph offsets decrease");
  for (std::size_t r = 1; r < g.row_ids.size(); ++r)
    if (g.row_ids[r - 1] >= g.row_ids[r])
      return invalid("graph row ids are not strictly ascending");
  for (std::size_t c = 1; c < g.col_ids.size(); ++c)
    if (g.col_ids[c - 1] >= g.col_ids[c])
      return invalid("graph column ids are not strictly ascending");
  for (std::size_t r = 0; r < g.row_ids.size(); ++r)
    for (auto k = g.offsets[r]; k < g.offsets[r + 1]; ++k)
      if (g.cols[k] >= g.col_ids.size() || (k > g.offsets[r] && g.cols[k - 1] >= g.cols[k]))
        return invalid("graph columns out of range or not ascending in a row");
  return {};
}

caf::error check_similarity_task(const similarity_task& task) {
  if (task.run_id <= 0)
    return invalid("run id must be positive");
  if (auto err = check_job_kind(task.kind))
    return err;
  if (task.kind == job_kind::embeddings)
    return invalid("a similarity task for the embeddings job");
  if (task.measure > ease_measure)
    return invalid("unknown similarity measure");
  if (task.min_common < 0 || task.top_k < 0 || !(task.min_score >= -1 && task.min_score <= 1))
    return invalid("similarity options out of range");
  if (task.measure == ease_measure && !(task.regularization > 0 && task.regularization < 1e12))
    return invalid("EASE needs a positive regularization");
  return check_graph(task.graph);
}

caf::error check_embedding_task(const embedding_task& task) {
  if (task.run_id <= 0)
    return invalid("run id must be positive");
  if (task.dim <= 0 || static_cast<std::size_t>(task.dim) > max_vector_dim)
    return invalid("embedding dim out of range");
  if (task.u.size() != task.i.size() || task.u.size() != task.w.size())
    return invalid("interaction arrays differ in length");
  for (std::size_t k = 0; k < task.u.size(); ++k)
    if (task.u[k] >= task.users.size() || task.i[k] >= task.items.size())
      return invalid("interaction index out of range");
  if (!(task.regularization >= 0) || !(task.alpha >= 0))
    return invalid("ALS options out of range");
  return {};
}

caf::error check_factors(std::size_t values, std::size_t gram, std::size_t rows, std::int32_t dim) {
  const auto d = static_cast<std::size_t>(dim);
  if (values != rows * d || gram != d * d)
    return invalid("factor matrix or Gram matrix of the wrong size");
  return {};
}

} // namespace recd::limits
