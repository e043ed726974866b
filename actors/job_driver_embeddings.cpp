#include "actors/job_driver_state.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <tuple>

#include "actors/trust.hpp"
#include "protocol/errors.hpp"
#include "store/job_inputs.hpp"
#include "store/job_results.hpp"
#include "store/job_tables.hpp"

namespace recd::job_driving {

namespace {

// Plans the run: creates its staging table, exports the snapshot every
// shard reads its cells in (kept in st.snapshot until every worker is
// meshed, i.e. has read), and reads in it the run's rows: the distinct users
// and items, ascending, whose dense indices the factor matrices use. Neither
// the cells nor the factors ever pass through here (embedding_task::snapshot,
// actors/embedding_worker.hpp).
caf::error load_embeddings(driver_state& st) {
  const auto& e = st.cfg.embedding;
  const auto& w = st.cfg.recommend;
  auto conn = store::connect(st.url);
  if (!conn)
    return conn.error();
  auto helper = store::connect(st.url);
  if (!helper)
    return helper.error();
  auto& emb = st.emb;
  emb = embedding_task{};
  auto err = store::guard([&] {
    store::create_staging_table(*st.conn, job_kind::embeddings, st.run_id);
    st.staging = store::staging_table(job_kind::embeddings, st.run_id);
    st.snapshot = std::make_unique<store::input_snapshot>(std::move(*conn));
    emb.snapshot = st.snapshot->id();
    emb.input_now = st.snapshot->now_micros();
    if (e.window_days > 0)
      emb.window_since = st.snapshot->since(e.window_days);
    std::tie(emb.users, emb.items) = st.snapshot->behavior_ids(emb.window_since, **helper);
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

// Publishes the staged vectors as the items' and users' embeddings
// (store::publish_embeddings_run), which drops the staging table.
caf::error publish_embeddings(driver_state& st) {
  auto err = store::guard([&] {
    store::publish_embeddings_run(*st.conn, st.run_id, st.term,
                                  static_cast<std::int64_t>(st.emb.items.size()));
  });
  if (!err)
    st.staging.clear();
  return err;
}

// Asks every worker `ask(worker)` (a request returning a count) and calls
// `then(sum of the counts)` once all answered; the first error fails the run.
template <class Ask, class Then>
void ask_workers(driver_actor* self, Ask ask, Then then) {
  auto& st = self->state;
  auto remaining = std::make_shared<std::size_t>(st.workers.size());
  auto sum = std::make_shared<std::uint64_t>(0);
  auto failed = std::make_shared<bool>(false);
  auto run = st.run_id;
  auto fail = step_failure(self, failed, run);
  for (auto& w : st.workers)
    ask(w).then(
      [=](std::uint64_t n) {
        if (!self->state.is_current(run))
          return;
        *sum += n;
        if (--*remaining == 0 && !*failed)
          then(*sum);
      },
      fail);
}

// The last half-step is done: every worker stages its rows, then the run is
// published from the staging table.
void stage(driver_actor* self) {
  auto run = self->state.run_id;
  ask_workers(
    self,
    [=](embedding_worker_actor& w) {
      return self->request(w, part_timeout, stage_atom_v, run);
    },
    [=](std::uint64_t rows) {
      auto& st = self->state;
      const auto expected = st.emb.users.size() + st.emb.items.size();
      for (auto& w : st.workers)
        self->send_exit(w, caf::exit_reason::user_shutdown);
      st.workers.clear();
      if (rows != expected) {
        st.fail(make_error(ec::invalid_argument,
                           "the workers staged " + std::to_string(rows) + " rows of " +
                             std::to_string(expected)));
        return;
      }
      if (auto err = publish_embeddings(st))
        st.fail(err);
      else
        st.succeed(expected, st.emb.items.size());
    });
}

// Half-step `step` (users when even, items when odd): a small command to
// every worker; they exchange the fixed side among themselves.
void half_step(driver_actor* self, std::uint32_t step) {
  auto& st = self->state;
  const auto steps = static_cast<std::uint32_t>(2 * st.cfg.embedding.iterations);
  if (step == steps) {
    stage(self);
    return;
  }
  auto run = st.run_id;
  ask_workers(
    self,
    [=](embedding_worker_actor& w) {
      return self->request(w, part_timeout, solve_atom_v, run, step);
    },
    [=](std::uint64_t) {
      if (step % 2 == 1) {
        ++self->state.iteration;
        self->state.report(static_cast<std::uint64_t>(self->state.iteration), 0);
      }
      half_step(self, step + 1);
    });
}

// Every worker is spawned (and has read its cells): each gets the mesh and
// connects to the others, then the sweeps start.
void mesh(driver_actor* self) {
  auto& st = self->state;
  als_mesh m;
  m.run_id = st.run_id;
  m.steps = static_cast<std::uint32_t>(2 * st.cfg.embedding.iterations);
  for (std::size_t k = 0; k < st.workers.size(); ++k) {
    m.workers.push_back(caf::actor_cast<factor_sink>(st.workers[k]));
    m.addresses.push_back(st.worker_addresses[k]);
  }
  auto remaining = std::make_shared<std::size_t>(st.workers.size());
  auto failed = std::make_shared<bool>(false);
  auto run = st.run_id;
  auto fail = step_failure(self, failed, run);
  for (auto& w : st.workers)
    self->request(w, part_timeout, mesh_atom_v, m)
      .then(
        [=](bool) {
          auto& st = self->state;
          if (!st.is_current(run) || --*remaining != 0 || *failed)
            return;
          // Every worker read its cells before it took the mesh: the
          // snapshot may end.
          if (st.snapshot) {
            st.snapshot->release();
            st.snapshot.reset();
          }
          half_step(self, 0);
        },
        fail);
}

} // namespace

void run_embeddings(driver_actor* self) {
  auto& st = self->state;
  if (auto err = load_embeddings(st)) {
    st.fail(err);
    return;
  }
  st.iteration = 0;
  st.workers.clear();
  st.worker_addresses.clear();
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
  for (std::size_t k = 0; k < st.shards.size(); ++k) {
    auto shard = st.shards[k];
    send_chunks(self, shard, payload, [=] {
    self->request(shard, part_timeout, embedding_atom_v, payload->handle)
      .then(
        [=](const embedding_worker_actor& worker) {
          if (!self->state.is_current(run)) {
            caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
            return;
          }
          self->state.workers.push_back(worker);
          self->state.worker_addresses.push_back(self->state.shard_addresses[k]);
          self->monitor(worker);
          if (--*remaining == 0 && !*failed)
            mesh(self);
        },
        fail);
    }, fail);
  }
}

} // namespace recd::job_driving
