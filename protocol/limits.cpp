#include "protocol/limits.hpp"

#include <cmath>
#include <cctype>

#include "protocol/errors.hpp"
#include "protocol/interfaces.hpp"

namespace recd::limits {

namespace {

caf::error invalid(std::string what) { return make_error(ec::invalid_argument, std::move(what)); }

// An exported snapshot's id (pg_export_snapshot): it ends up in SQL text (SET
// TRANSACTION SNAPSHOT), so only [0-9A-F-] and a bounded length pass.
caf::error check_snapshot_id(const std::string& id) {
  if (id.empty() || id.size() > max_snapshot_id)
    return invalid("snapshot id of " + std::to_string(id.size()) + " bytes");
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || c == '-'))
      return invalid("snapshot id with a character other than [0-9A-F-]");
  return {};
}

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

caf::error check_taste_users(const std::vector<user_id>& users) {
  if (users.size() > max_batch_events)
    return invalid("more than " + std::to_string(max_batch_events) + " users");
  for (auto u : users)
    if (u < 0)
      return invalid("negative user id");
  return {};
}

caf::error check_item_folds(const item_folds& folds) {
  const auto n = folds.items.size();
  if (n > max_batch_events || folds.kinds.size() != n || folds.ids.size() != n ||
      folds.tastes.size() != n)
    return invalid("folds' items, kinds, row ids and tastes differ in number or exceed " +
                   std::to_string(max_batch_events));
  for (std::size_t k = 0; k < n; ++k) {
    if (folds.items[k] < 0)
      return invalid("negative item id");
    if (static_cast<std::uint8_t>(folds.kinds[k]) > static_cast<std::uint8_t>(behavior_kind::buy))
      return invalid("unknown behavior kind");
    const auto& t = folds.tastes[k];
    if (t.empty() || t.size() > max_vector_dim)
      return invalid("a taste vector of 1.." + std::to_string(max_vector_dim) + " values");
    for (float x : t)
      if (!std::isfinite(x))
        return invalid("a taste vector with a value that is not finite");
  }
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
  if (req.only_category.size() > max_category)
    return invalid("category too long");
  for (const auto& r : req.recent)
    if (static_cast<std::uint8_t>(r.kind) > static_cast<std::uint8_t>(behavior_kind::buy))
      return invalid("unknown behavior kind in a seed");
  if (auto err = check_tags(req.categories, max_categories, "category"))
    return err;
  return check_serve_set(req.serve);
}

caf::error check_serve_set(const std::vector<std::uint64_t>& serve) {
  if (serve.size() > (max_partitions + 63) / 64)
    return invalid("a serve set names at most " + std::to_string(max_partitions) + " partitions");
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

caf::error check_tag(const std::string& tag, const char* what) {
  if (tag.empty() || tag.size() > max_tag)
    return invalid(std::string{"a "} + what + " has 1.." + std::to_string(max_tag) + " bytes");
  // UTF-8 well-formedness (no overlong forms or surrogates) and no control characters.
  const auto* p = reinterpret_cast<const unsigned char*>(tag.data());
  const auto* end = p + tag.size();
  while (p < end) {
    unsigned c = *p;
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || static_cast<std::size_t>(end - p) < n)
      return invalid(std::string{"a "} + what + " is not valid UTF-8");
    std::uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (std::size_t k = 1; k < n; ++k) {
      if ((p[k] & 0xC0) != 0x80)
        return invalid(std::string{"a "} + what + " is not valid UTF-8");
      cp = (cp << 6) | (p[k] & 0x3F);
    }
    static constexpr std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return invalid(std::string{"a "} + what + " is not valid UTF-8");
    if (cp < 0x20 || cp == 0x7F)
      return invalid(std::string{"a "} + what + " holds a control character");
    p += n;
  }
  return {};
}

caf::error check_tags(const std::vector<std::string>& tags, std::size_t max, const char* what) {
  if (tags.size() > max)
    return invalid(std::string{"at most "} + std::to_string(max) + " " + what + "s");
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (auto err = check_tag(tags[i], what))
      return err;
    for (std::size_t j = 0; j < i; ++j)
      if (tags[j] == tags[i])
        return invalid(std::string{"a repeated "} + what + ": " + tags[i]);
  }
  return {};
}

caf::error check_item_details(const item_details& d) {
  if (d.item < 0)
    return invalid("negative item id");
  if (d.title.size() > max_title)
    return invalid("a title has at most " + std::to_string(max_title) + " bytes");
  if (!(d.price >= 0 && d.price < 1e8))
    return invalid("price must be in 0..99999999.99");
  if (auto err = check_tags(d.categories, max_categories, "category"))
    return err;
  if (auto err = check_tags(d.labels, max_labels, "label"))
    return err;
  if (d.available_from < 0 || d.available_until < 0)
    return invalid("availability times are unix seconds >= 0 (0: unbounded)");
  if (d.available_from != 0 && d.available_until != 0 && d.available_until <= d.available_from)
    return invalid("available_until must be after available_from");
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

caf::error check_similarity_plan(const similarity_plan& plan) {
  if (plan.run_id <= 0)
    return invalid("run id must be positive");
  if (auto err = check_job_kind(plan.kind))
    return err;
  if (plan.kind == job_kind::embeddings)
    return invalid("a similarity plan for the embeddings job");
  if (plan.measure > ease_measure)
    return invalid("unknown similarity measure");
  if (plan.min_common < 0 || plan.top_k < 0 || plan.max_column_rows < 0 ||
      !(plan.min_score >= -1 && plan.min_score <= 1))
    return invalid("similarity options out of range");
  if (plan.measure == ease_measure && !(plan.regularization > 0 && plan.regularization < 1e12))
    return invalid("EASE needs a positive regularization");
  if (auto err = check_snapshot_id(plan.snapshot))
    return err;
  if (plan.behaviors == 0 || plan.behaviors > 15)
    return invalid("behavior kinds out of range");
  if (plan.candidates.size() > max_candidates)
    return invalid(std::to_string(plan.candidates.size()) + " candidate items");
  for (std::size_t k = 0; k < plan.candidates.size(); ++k)
    if (plan.candidates[k] < 0 || (k > 0 && plan.candidates[k] <= plan.candidates[k - 1]))
      return invalid("candidate items not ascending non-negative ids");
  if (auto err = check_partitions(plan.reads, plan.partition_count))
    return err;
  if (plan.peers.empty() || plan.peers.size() > max_run_shards)
    return invalid(std::to_string(plan.peers.size()) + " shards in a run");
  for (const auto& peer : plan.peers)
    if (!peer)
      return invalid("an invalid peer handle");
  if (plan.peer_addresses.size() != plan.peers.size())
    return invalid(std::to_string(plan.peer_addresses.size()) + " peer addresses for " +
                   std::to_string(plan.peers.size()) + " peers");
  for (const auto& address : plan.peer_addresses)
    if (address.size() > max_address)
      return invalid("a peer address of " + std::to_string(address.size()) + " bytes");
  return {};
}

caf::error check_pair_batch(const pair_batch& batch) {
  if (batch.run_id <= 0)
    return invalid("run id must be positive");
  if (batch.rows.size() != batch.cols.size())
    return invalid("pair arrays differ in length");
  if (batch.rows.size() > max_pair_batch)
    return invalid(std::to_string(batch.rows.size()) + " pairs in one piece (at most " +
                   std::to_string(max_pair_batch) + ")");
  for (std::size_t k = 0; k < batch.rows.size(); ++k)
    if (batch.rows[k] < 0 || batch.cols[k] < 0)
      return invalid("a negative id in a pair");
  return {};
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
  if (!(task.regularization >= 0) || !(task.alpha >= 0) || task.cg_steps < 0 ||
      task.cg_steps > max_cg_steps)
    return invalid("ALS options out of range");
  for (std::size_t k = 1; k < task.users.size(); ++k)
    if (task.users[k] <= task.users[k - 1])
      return invalid("the run's users are not ascending");
  for (std::size_t k = 1; k < task.items.size(); ++k)
    if (task.items[k] <= task.items[k - 1])
      return invalid("the run's items are not ascending");
  if (task.snapshot.empty())
    return {};
  // The shard reads its cells itself.
  if (auto err = check_snapshot_id(task.snapshot))
    return err;
  if (!task.u.empty())
    return invalid("cells sent with a snapshot to read them in");
  if (task.kind_weights.size() != 4)
    return invalid("the behavior kinds' weights are not four");
  for (auto w : task.kind_weights)
    if (!std::isfinite(w))
      return invalid("a behavior kind's weight is not finite");
  if (!(task.half_life_days >= 0 && task.half_life_days < 1e9) || task.window_since < 0 ||
      task.input_now <= 0)
    return invalid("the cells' decay or window out of range");
  return {};
}

caf::error check_als_mesh(const als_mesh& mesh) {
  if (mesh.run_id <= 0)
    return invalid("run id must be positive");
  if (mesh.steps == 0 || mesh.steps > max_als_steps)
    return invalid(std::to_string(mesh.steps) + " half-steps in a run");
  if (mesh.workers.empty() || mesh.workers.size() > max_run_shards)
    return invalid(std::to_string(mesh.workers.size()) + " workers in a run");
  for (const auto& w : mesh.workers)
    if (!w)
      return invalid("an invalid worker handle");
  if (mesh.addresses.size() != mesh.workers.size())
    return invalid(std::to_string(mesh.addresses.size()) + " addresses for " +
                   std::to_string(mesh.workers.size()) + " workers");
  for (const auto& address : mesh.addresses)
    if (address.size() > max_address)
      return invalid("a worker address of " + std::to_string(address.size()) + " bytes");
  return {};
}

caf::error check_factor_block(const factor_block& block, std::size_t rows, std::int32_t dim) {
  if (dim <= 0 || static_cast<std::size_t>(dim) > max_vector_dim)
    return invalid("embedding dim out of range");
  if (block.rows.size() > rows || block.values.size() != block.rows.size() * static_cast<std::size_t>(dim))
    return invalid("a factor block of the wrong size");
  std::vector<bool> seen(rows, false);
  for (auto r : block.rows) {
    if (r >= rows)
      return invalid("a factor row out of range");
    if (seen[r])
      return invalid("a factor row twice in one block");
    seen[r] = true;
  }
  return {};
}

caf::error check_item_count(std::int32_t k) {
  if (k < 0 || k > max_per_route)
    return invalid("item count must be in 0.." + std::to_string(max_per_route));
  return {};
}

caf::error check_nearest(const std::vector<float>& vec, std::int32_t k,
                         const std::vector<item_id>& exclude) {
  if (auto err = check_item_count(k))
    return err;
  if (vec.size() > max_vector_dim)
    return invalid("vector too long");
  if (exclude.size() > max_exclude)
    return invalid("too many excluded items");
  return {};
}

caf::error check_partners(item_id item, const std::vector<item_id>& partners) {
  if (item < 0)
    return invalid("negative item id");
  if (partners.size() > max_partners)
    return invalid("too many co-buy partners");
  for (auto p : partners)
    if (p < 0 || p == item)
      return invalid("a co-buy partner is negative or the item itself");
  return {};
}

caf::error check_recommend_filter(const recommend_filter& f) {
  if (f.category.size() > max_category)
    return invalid("category: at most " + std::to_string(max_category) + " bytes");
  for (unsigned char c : f.category)
    if (c < 0x20 || c == 0x7f)
      return invalid("category: no control characters");
  if (f.exclude.size() > max_request_exclude)
    return invalid("exclude: at most " + std::to_string(max_request_exclude) + " item ids");
  for (std::size_t k = 0; k < f.exclude.size(); ++k)
    if (f.exclude[k] < 0 || (k > 0 && f.exclude[k] <= f.exclude[k - 1]))
      return invalid("exclude: item ids must be non-negative, sorted and distinct");
  if (f.offset < 0 || f.offset > max_offset)
    return invalid("offset: must be in 0.." + std::to_string(max_offset));
  if (f.exclude_seen < -1 || f.exclude_seen > 1)
    return invalid("exclude_seen: -1, 0 or 1");
  return {};
}

} // namespace recd::limits
