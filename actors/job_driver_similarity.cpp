#include "actors/job_driver_state.hpp"

#include <memory>
#include <sstream>

#include "engine/similarity.hpp"
#include "protocol/errors.hpp"
#include "store/job_inputs.hpp"
#include "store/job_results.hpp"
#include "store/job_tables.hpp"

namespace recd::job_driving {

namespace {

// The behavior kinds of a setting's list ("buy, cart"): every name must be
// one of the four behavior kinds.
caf::expected<std::vector<behavior_kind>> behavior_kinds(const std::string& list) {
  std::vector<behavior_kind> out;
  std::stringstream ss{list};
  std::string name;
  while (std::getline(ss, name, ',')) {
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    auto kind = parse_behavior_kind(name);
    if (!kind)
      return make_error(ec::invalid_argument, "unknown behavior type '" + name + "' in settings");
    out.push_back(*kind);
  }
  if (out.empty())
    return make_error(ec::invalid_argument, "empty behavior type list in settings");
  return out;
}

// What one similarity kind reads (the settings of its section).
caf::expected<store::similarity_input_spec> input_spec(const settings& cfg, job_kind kind) {
  store::similarity_input_spec spec;
  spec.kind = kind;
  const std::string* behavior_types = nullptr;
  // The item kinds' sections share these fields, and so do the user kinds'.
  auto item_section = [&](const auto& s) {
    behavior_types = &s.behavior_types;
    spec.window_days = s.window_days;
    spec.min_sales = s.min_sales;
    spec.max_items = s.max_items;
  };
  auto user_section = [&](const auto& s) {
    behavior_types = &s.behavior_types;
    spec.window_days = s.window_days;
    spec.active_days = s.active_days;
  };
  switch (kind) {
    case job_kind::item_similarity: item_section(cfg.item_similarity); break;
    case job_kind::item_weights: item_section(cfg.item_weights); break;
    case job_kind::user_neighbours: user_section(cfg.user_neighbours); break;
    default: user_section(cfg.user_similarity);
  }
  auto kinds = behavior_kinds(*behavior_types);
  if (!kinds)
    return kinds.error();
  spec.behaviors = std::move(*kinds);
  return spec;
}

// Creates the run's staging table, exports the snapshot every shard reads
// in (kept in st.snapshot until all have imported it), and plans the run by
// the settings of its kind: what each shard reads and how rows are scored.
// The plan's `reads` and `peers` are filled per shard by the caller.
caf::expected<similarity_plan> plan_similarity(driver_state& st) {
  const auto& cfg = st.cfg;
  similarity_plan plan;
  plan.run_id = st.run_id;
  plan.kind = st.kind;
  auto spec = input_spec(cfg, st.kind);
  if (!spec)
    return spec.error();
  for (auto k : spec->behaviors)
    plan.behaviors |= static_cast<std::uint8_t>(1u << static_cast<unsigned>(k));
  auto partitions = store::read_partitions(*st.conn);
  if (!partitions)
    return partitions.error();
  plan.partition_count = *partitions;
  auto conn = store::connect(st.url);
  if (!conn)
    return conn.error();
  auto err = store::guard([&] {
    store::create_staging_table(*st.conn, st.kind, st.run_id);
    st.staging = store::staging_table(st.kind, st.run_id);
    st.snapshot = std::make_unique<store::input_snapshot>(std::move(*conn));
    plan.snapshot = st.snapshot->id();
    if (spec->window_days > 0) {
      plan.windowed = true;
      plan.window_since = st.snapshot->since(spec->window_days);
    }
    if (item_side(st.kind)) {
      plan.candidates = st.snapshot->candidate_items(spec->min_sales, spec->max_items);
    } else if (spec->active_days > 0) {
      plan.active_only = true;
      plan.active_since = st.snapshot->since(spec->active_days);
    }
  });
  if (err)
    return err;
  switch (st.kind) {
    case job_kind::item_weights:
      plan.measure = ease_measure;
      plan.regularization = cfg.item_weights.lambda;
      // All positive weights of a row would be about half the catalogue.
      plan.top_k = cfg.item_weights.top_k > 0 ? cfg.item_weights.top_k : cfg.recommend.neighbours;
      break;
    case job_kind::item_similarity:
      plan.measure = static_cast<std::uint8_t>(engine::set_measure::jaccard);
      plan.min_common = cfg.item_similarity.min_common;
      plan.min_score = 0;
      plan.top_k = cfg.item_similarity.top_k;
      break;
    case job_kind::user_neighbours:
      plan.measure = static_cast<std::uint8_t>(engine::set_measure::cosine);
      plan.min_common = cfg.user_neighbours.min_common;
      plan.min_score = cfg.user_neighbours.min_score;
      plan.top_k = cfg.user_neighbours.top_k;
      plan.max_column_rows = cfg.user_neighbours.max_item_users;
      break;
    default:
      plan.measure = static_cast<std::uint8_t>(engine::set_measure::cosine);
      plan.min_common = cfg.user_similarity.min_common;
      plan.min_score = cfg.user_similarity.min_score;
      plan.top_k = cfg.user_similarity.top_k;
  }
  return plan;
}

// Swaps the staging table in for the live one (store::publish_similarity_run).
caf::error publish_similarity(driver_state& st, std::uint64_t rows) {
  auto err = store::guard([&] {
    store::publish_similarity_run(*st.conn, st.kind, st.run_id, static_cast<std::int64_t>(rows),
                                  st.term);
  });
  if (!err)
    st.staging.clear();
  return err;
}

// Step 2, once every shard has read its part: each worker sends what it read
// to the others, takes theirs, computes the rows its shard owns and writes
// them; the last answer publishes.
void gather(driver_actor* self) {
  auto& st = self->state;
  auto remaining = std::make_shared<std::size_t>(st.similarity_workers.size());
  auto rows = std::make_shared<std::uint64_t>(0);
  auto inputs = std::make_shared<std::uint64_t>(0);
  auto failed = std::make_shared<bool>(false);
  auto run = st.run_id;
  auto fail = step_failure(self, failed, run);
  for (auto& worker : st.similarity_workers)
    self->request(worker, part_timeout, gather_atom_v, caf::actor_cast<part_progress_sink>(self))
      .then(
        [=](std::uint64_t done, std::uint64_t pairs) {
          if (!self->state.is_current(run))
            return;
          *inputs += done;
          *rows += pairs;
          if (--*remaining == 0 && !*failed) {
            if (auto err = publish_similarity(self->state, *rows))
              self->state.fail(err);
            else
              self->state.succeed(*inputs, *rows);
          }
        },
        fail);
}

} // namespace

void run_similarity(driver_actor* self) {
  auto& st = self->state;
  auto plan = plan_similarity(st);
  if (!plan) {
    st.fail(plan.error());
    return;
  }
  // Step 1: every shard reads the rows of its share of the partitions (p mod
  // n = its index: each partition read once, whatever the map is doing) in
  // the exported snapshot; its answer says it imported the snapshot.
  const auto n = st.shards.size();
  plan->peers.assign(st.shards.begin(), st.shards.end());
  plan->peer_addresses = st.shard_addresses;
  st.similarity_workers.assign(n, similarity_worker_actor{});
  auto remaining = std::make_shared<std::size_t>(n);
  auto failed = std::make_shared<bool>(false);
  auto run = st.run_id;
  auto fail = step_failure(self, failed, run);
  for (std::size_t k = 0; k < n; ++k) {
    auto part = *plan;
    for (std::uint32_t p = static_cast<std::uint32_t>(k); p < part.partition_count;
         p += static_cast<std::uint32_t>(n))
      part.reads.push_back(p);
    self->request(st.shards[k], part_timeout, similarity_atom_v, std::move(part))
      .then(
        [=](similarity_worker_actor& worker, std::uint64_t rows, std::uint64_t) {
          auto& st = self->state;
          if (!st.is_current(run))
            return;
          st.similarity_workers[k] = worker;
          self->monitor(worker);
          st.total += rows;
          if (--*remaining == 0 && !*failed) {
            // Every shard imported the snapshot: the transaction may end.
            st.snapshot->release();
            st.snapshot.reset();
            gather(self);
          }
        },
        fail);
  }
}

} // namespace recd::job_driving
