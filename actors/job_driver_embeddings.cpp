#include "actors/job_driver_state.hpp"

#include <algorithm>
#include <tuple>

#include "actors/trust.hpp"
#include "protocol/errors.hpp"
#include "store/job_inputs.hpp"
#include "store/job_results.hpp"

namespace recd::job_driving {

namespace {

// Plans the run: exports the snapshot every shard reads its cells in (kept
// in st.snapshot until every worker has solved once, i.e. has read), and
// reads in it the run's rows: the distinct users and items, ascending, whose
// dense indices the factor matrices use. The cells themselves never pass
// through here (embedding_task::snapshot).
caf::error load_embeddings(driver_state& st) {
  const auto& e = st.cfg.embedding;
  const auto& w = st.cfg.recommend;
  auto conn = store::connect(st.url);
  if (!conn)
    return conn.error();
  auto& emb = st.emb;
  emb = embedding_task{};
  auto err = store::guard([&] {
    st.snapshot = std::make_unique<store::input_snapshot>(std::move(*conn));
    emb.snapshot = st.snapshot->id();
    emb.input_now = st.snapshot->now_micros();
    if (e.window_days > 0)
      emb.window_since = st.snapshot->since(e.window_days);
    std::tie(emb.users, emb.items) = st.snapshot->behavior_ids(emb.window_since);
  });
  if (err)
    return err;
  emb.run_id = st.run_id;
  emb.dim = e.dim;
  emb.regularization = e.regularization;
  emb.alpha = e.alpha;
  emb.cg_steps = e.cg_steps;
  emb.kind_weights = {w.view_weight, w.click_weight, w.cart_weight, w.buy_weight};
  emb.half_life_days = e.half_life_days;
  st.total = static_cast<std::uint64_t>(st.cfg.embedding.iterations);
  return caf::none;
}

// Writes the factors as the items' and users' embeddings (store::publish_embeddings_run).
caf::error publish_embeddings(driver_state& st) {
  return store::guard([&] {
    store::publish_embeddings_run(*st.conn, st.run_id, st.term, {st.emb.items, st.item_factors},
                                  {st.emb.users, st.user_factors});
  });
}

void half_step(driver_actor* self, bool users_side);

void next_iteration(driver_actor* self) {
  auto& st = self->state;
  if (st.iteration >= st.cfg.embedding.iterations) {
    for (auto& w : st.workers)
      self->send_exit(w, caf::exit_reason::user_shutdown);
    st.workers.clear();
    if (auto err = publish_embeddings(st))
      st.fail(err);
    else
      st.succeed(st.emb.users.size() + st.emb.items.size(), st.emb.items.size());
    return;
  }
  half_step(self, true);
}

// Sends the fixed side's factors and gram to every worker and gathers the
// solved rows of the other side; users first, then items, then the next sweep.
void half_step(driver_actor* self, bool users_side) {
  auto& st = self->state;
  auto& fixed = users_side ? st.item_factors : st.user_factors;
  auto gram = engine::gram(fixed);
  auto remaining = std::make_shared<std::size_t>(st.workers.size());
  auto failed = std::make_shared<bool>(false);
  auto run = st.run_id;
  auto fail = step_failure(self, failed, run);
  auto values = packed(fixed.values); // encoded as is, not copied first
  auto encoded = encode_bulk(new_bulk_id(), values);
  if (!encoded) {
    st.fail(encoded.error());
    return;
  }
  auto payload = std::make_shared<const bulk_payload>(std::move(*encoded));
  for (auto& w : st.workers)
    send_chunks(self, w, payload, [=] {
      auto solved = [=](const bulk_handle& solved) {
          auto& st = self->state;
          if (!st.is_current(run))
            return;
          factor_block block;
          auto bytes = st.inbox.take(solved, sender_node(self));
          caf::error err = bytes ? decode_bulk(*bytes, block) : bytes.error();
          if (err) {
            fail(err);
            return;
          }
          auto& target = users_side ? st.user_factors : st.item_factors;
          auto dim = static_cast<std::size_t>(target.dim);
          for (std::size_t k = 0; k < block.rows.size(); ++k)
            std::copy_n(block.values.begin() + static_cast<long>(k * dim), dim,
                        target.values.begin() + static_cast<long>(block.rows[k] * dim));
          if (--*remaining == 0 && !*failed) {
            // Every worker has solved, so has read its cells: the snapshot
            // may end.
            if (st.snapshot) {
              st.snapshot->release();
              st.snapshot.reset();
            }
            if (users_side) {
              half_step(self, false);
            } else {
              ++st.iteration;
              st.report(static_cast<std::uint64_t>(st.iteration), 0);
              next_iteration(self);
            }
          }
      };
      if (users_side)
        self->request(w, part_timeout, solve_users_atom_v, payload->handle, gram).then(solved, fail);
      else
        self->request(w, part_timeout, solve_items_atom_v, payload->handle, gram).then(solved, fail);
    }, fail);
}

} // namespace

void run_embeddings(driver_actor* self) {
  auto& st = self->state;
  if (auto err = load_embeddings(st)) {
    st.fail(err);
    return;
  }
  auto dim = st.emb.dim;
  st.item_factors = engine::initial_factors(st.emb.items.size(), dim, 42);
  st.user_factors.dim = dim;
  st.user_factors.values.assign(st.emb.users.size() * static_cast<std::size_t>(dim), 0.0f);
  st.iteration = 0;
  st.workers.clear();
  auto remaining = std::make_shared<std::size_t>(st.shards.size());
  auto failed = std::make_shared<bool>(false);
  auto run = st.run_id;
  auto fail = step_failure(self, failed, run);
  auto encoded = encode_bulk(new_bulk_id(), st.emb);
  if (!encoded) {
    st.fail(encoded.error());
    return;
  }
  auto payload = std::make_shared<const bulk_payload>(std::move(*encoded));
  for (auto& shard : st.shards)
    send_chunks(self, shard, payload, [=] {
    self->request(shard, part_timeout, embedding_atom_v, payload->handle)
      .then(
        [=](const embedding_worker_actor& worker) {
          if (!self->state.is_current(run)) {
            caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
            return;
          }
          self->state.workers.push_back(worker);
          self->monitor(worker);
          if (--*remaining == 0 && !*failed)
            next_iteration(self);
        },
        fail);
    }, fail);
}

} // namespace recd::job_driving
