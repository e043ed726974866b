#include "actors/job_driver_state.hpp"

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

// Creates the run's staging table, reads its input and plans the shards'
// work by the settings of its kind.
caf::expected<similarity_task> load_similarity(driver_state& st) {
  const auto& cfg = st.cfg;
  similarity_task task;
  task.run_id = st.run_id;
  task.kind = st.kind;
  st.staging = store::staging_table(st.kind, st.run_id);
  auto spec = input_spec(cfg, st.kind);
  if (!spec)
    return spec.error();
  std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
  auto err =
    store::guard([&] { pairs = store::read_similarity_input(*st.conn, *spec, st.run_id); });
  if (err)
    return err;
  task.graph = engine::bipartite_from_pairs(std::move(pairs));
  switch (st.kind) {
    case job_kind::item_weights:
      task.measure = ease_measure;
      task.regularization = cfg.item_weights.lambda;
      // All positive weights of a row would be about half the catalogue.
      task.top_k = cfg.item_weights.top_k > 0 ? cfg.item_weights.top_k : cfg.recommend.neighbours;
      break;
    case job_kind::item_similarity:
      task.measure = static_cast<std::uint8_t>(engine::set_measure::jaccard);
      task.min_common = cfg.item_similarity.min_common;
      task.min_score = 0;
      task.top_k = cfg.item_similarity.top_k;
      break;
    case job_kind::user_neighbours:
      task.measure = static_cast<std::uint8_t>(engine::set_measure::cosine);
      task.min_common = cfg.user_neighbours.min_common;
      task.min_score = cfg.user_neighbours.min_score;
      task.top_k = cfg.user_neighbours.top_k;
      task.max_column_rows = cfg.user_neighbours.max_item_users;
      break;
    default:
      task.measure = static_cast<std::uint8_t>(engine::set_measure::cosine);
      task.min_common = cfg.user_similarity.min_common;
      task.min_score = cfg.user_similarity.min_score;
      task.top_k = cfg.user_similarity.top_k;
  }
  st.total = task.graph.rows();
  return task;
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

} // namespace

void run_similarity(driver_actor* self) {
  auto& st = self->state;
  auto task = load_similarity(st);
  if (!task) {
    st.fail(task.error());
    return;
  }
  auto remaining = std::make_shared<std::size_t>(st.shards.size());
  auto rows = std::make_shared<std::uint64_t>(0);
  auto inputs = std::make_shared<std::uint64_t>(0);
  auto failed = std::make_shared<bool>(false);
  auto run = st.run_id;
  auto fail = step_failure(self, failed, run);
  auto encoded = encode_bulk(new_bulk_id(), *task);
  task = caf::error{}; // the graph is in the chunks now
  if (!encoded) {
    st.fail(encoded.error());
    return;
  }
  auto payload = std::make_shared<const bulk_payload>(std::move(*encoded));
  for (auto& shard : st.shards)
    send_chunks(self, shard, payload, [=] {
      self->request(shard, part_timeout, similarity_atom_v, payload->handle,
                    caf::actor_cast<part_progress_sink>(self))
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
    }, fail);
}

} // namespace recd::job_driving
