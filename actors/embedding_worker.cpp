#include "actors/embedding_worker.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <unordered_set>

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

#include "actors/bulk_sender.hpp"
#include "actors/census.hpp"
#include "actors/embedding_share.hpp"
#include "actors/peer_mesh.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "engine/als.hpp"
#include "protocol/bulk.hpp"
#include "protocol/errors.hpp"
#include "protocol/limits.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/job_results.hpp"

namespace recd {

namespace {

// How long a peer may take to acknowledge a share (its chunks: bulk_sender's own).
constexpr auto share_timeout = std::chrono::seconds{120};

struct embedding_worker_state {
  static inline const char* name = "embedding_worker";
  std::string url;
  caf::node_id control;
  peer_dialer dial;
  std::int64_t run_id = 0;
  bulk_inbox inbox; // the peers' shares, per sending node
  side_rows users;
  side_rows items;
  std::vector<user_id> user_ids; // dense index -> id, per side (the whole run's)
  std::vector<item_id> item_ids;
  engine::als_options opt;
  // The own rows' factors (rows users.dense / items.dense): the items start
  // at their rows of engine::initial_factors(items, dim, 42), the users at
  // zero (empty until their first solve: conjugate-gradient solves then start
  // from zero, as in train_als).
  std::vector<float> users_now, items_now;
  // The mesh (als_mesh): every worker of the run, this one at `own`.
  bool meshed = false;
  std::uint32_t steps = 0;
  std::vector<factor_sink> workers;
  std::size_t own = 0;
  std::vector<bool> ready;                          // peer j may be sent to
  std::map<caf::node_id, std::size_t> dialing_here; // peers that dial this worker's node
  // The half-step in progress (in_step) is next_step - 1.
  std::uint32_t next_step = 0;
  bool in_step = false;
  bool broken = false; // a step failed: the driver fails the run and ends this worker
  bool staged = false;
  engine::factor_matrix fixed;  // the step's whole fixed side, being assembled
  std::vector<bool> filled;     // its rows received (or own)
  std::size_t filled_count = 0;
  std::vector<bool> got;        // peer j's share of the step arrived
  std::size_t got_count = 0;
  std::vector<std::optional<factor_block>> early; // peers' shares of step next_step
  std::vector<bool> sent;       // the own share went (or is going) to peer j
  std::size_t sends_pending = 0;
  std::shared_ptr<const bulk_payload> share; // the own share of the step
  caf::typed_response_promise<std::uint64_t> promise;
};

using worker_pointer = embedding_worker_actor::stateful_pointer<embedding_worker_state>;

// Half-step s solves the users (the items fixed) when even, the items when odd.
bool solves_users(std::uint32_t step) {
  return step % 2 == 0;
}

std::size_t fixed_rows(const embedding_worker_state& st, std::uint32_t step) {
  return solves_users(step) ? st.item_ids.size() : st.user_ids.size();
}

// Puts a peer's checked block (limits::check_factor_block) into the step's
// fixed side: an error, and nothing changed, if any of its rows is there
// already (each row comes exactly once over the peers and this worker).
caf::error apply_block(embedding_worker_state& st, const factor_block& block) {
  for (auto r : block.rows)
    if (st.filled[r])
      return make_error(ec::invalid_argument, "a factor row sent twice over the run's workers");
  const auto d = static_cast<std::size_t>(st.opt.dim);
  for (std::size_t k = 0; k < block.rows.size(); ++k) {
    st.filled[block.rows[k]] = true;
    std::copy_n(block.values.begin() + static_cast<std::ptrdiff_t>(k * d), d,
                st.fixed.values.begin() + static_cast<std::ptrdiff_t>(block.rows[k] * d));
  }
  st.filled_count += block.rows.size();
  return {};
}

// Solves the rows of `side` against the whole fixed side `other` (its Gram
// `gram`), conjugate-gradient solves starting from `now` (the own rows'
// current factors; empty: from zero).
factor_block solve(const side_rows& side, std::vector<float> other, std::vector<double> gram,
                   const engine::als_options& opt, std::vector<float> now) {
  engine::factor_matrix y;
  y.dim = opt.dim;
  y.values = std::move(other);
  engine::factor_matrix x;
  x.dim = opt.dim;
  x.values = std::move(now); // read only by conjugate-gradient solves
  engine::solve_rows(side.rows, y, gram, opt, x);
  return factor_block{side.dense, std::move(x.values)};
}

void fail_step(worker_pointer self, caf::error err) {
  auto& st = self->state;
  if (!st.in_step)
    return;
  st.in_step = false;
  st.broken = true;
  st.fixed = engine::factor_matrix{};
  st.promise.deliver(std::move(err));
}

// Solves the own rows of the step's other side once every peer's share
// arrived and every peer took this worker's, and answers the step.
void maybe_solve(worker_pointer self) {
  auto& st = self->state;
  if (!st.in_step || st.got_count + 1 != st.workers.size() || st.sends_pending != 0)
    return;
  if (st.filled_count != st.filled.size()) {
    fail_step(self, make_error(ec::invalid_argument,
                               std::to_string(st.filled.size() - st.filled_count) +
                                 " factor rows sent by no worker of the run"));
    return;
  }
  const bool users = solves_users(st.next_step - 1);
  // Every worker assembles the same whole fixed side, so gets the same Gram.
  auto gram = engine::gram(st.fixed);
  auto& now = users ? st.users_now : st.items_now;
  auto block = solve(users ? st.users : st.items, std::move(st.fixed.values), std::move(gram),
                     st.opt, st.opt.cg_steps > 0 ? std::move(now) : std::vector<float>{});
  now = std::move(block.values);
  st.fixed = engine::factor_matrix{};
  st.filled = {};
  st.share.reset();
  st.in_step = false;
  st.promise.deliver(std::uint64_t{block.rows.size()});
}

// Sends peer j this worker's share of the step: its chunks, then the share
// naming them, each acknowledged.
void send_share(worker_pointer self, std::size_t j) {
  auto& st = self->state;
  st.sent[j] = true;
  const auto step = st.next_step - 1;
  auto payload = st.share;
  auto peer = st.workers[j];
  auto current = [=] { return self->state.in_step && self->state.next_step - 1 == step; };
  auto fail = [=](caf::error& err) {
    if (current())
      fail_step(self, std::move(err));
  };
  send_chunks(self, peer, payload, [=] {
    if (!current())
      return;
    self->request(peer, share_timeout, factors_atom_v,
                  factor_share{self->state.run_id, step, payload->handle})
      .then(
        [=](bool) {
          if (!current())
            return;
          --self->state.sends_pending;
          maybe_solve(self);
        },
        fail);
  }, fail);
}

// The index of the run's worker that sent the current message, or none.
std::optional<std::size_t> sending_peer(worker_pointer self) {
  const auto& st = self->state;
  const auto& src = self->current_sender();
  if (!src || !st.meshed)
    return std::nullopt;
  for (std::size_t j = 0; j < st.workers.size(); ++j)
    if (j != st.own && st.workers[j].address() == src->address())
      return j;
  return std::nullopt;
}

// A message from peer j arrived: one that dials this worker's node is sent to
// from now on (over the connection it opened), its share of a step in
// progress at once.
void heard_from(worker_pointer self, std::size_t j) {
  auto& st = self->state;
  if (st.ready[j])
    return;
  st.ready[j] = true;
  if (st.in_step && !st.sent[j])
    send_share(self, j);
}

// Starts half-step `step`: assembles the fixed side from the own rows and
// the peers' early shares, and sends the own rows to every peer ready.
caf::error begin_step(worker_pointer self, std::uint32_t step) {
  auto& st = self->state;
  const bool users = solves_users(step);
  const auto rows = fixed_rows(st, step);
  const auto d = static_cast<std::size_t>(st.opt.dim);
  const auto& own_rows = users ? st.items.dense : st.users.dense;
  const auto& own_values = users ? st.items_now : st.users_now;
  factor_block mine{own_rows, own_values};
  if (mine.values.empty()) // the users before their first solve
    mine.values.assign(own_rows.size() * d, 0.0f);
  st.in_step = true;
  st.next_step = step + 1;
  st.fixed.dim = st.opt.dim;
  st.fixed.values.assign(rows * d, 0.0f);
  st.filled.assign(rows, false);
  st.filled_count = 0;
  st.got.assign(st.workers.size(), false);
  st.got_count = 0;
  if (auto err = apply_block(st, mine))
    return err;
  for (std::size_t j = 0; j < st.workers.size(); ++j)
    if (st.early[j]) {
      auto block = std::move(*st.early[j]);
      st.early[j].reset();
      if (auto err = apply_block(st, block))
        return err;
      st.got[j] = true;
      ++st.got_count;
    }
  auto encoded = encode_bulk(new_bulk_id(), mine);
  if (!encoded)
    return encoded.error();
  st.share = std::make_shared<const bulk_payload>(std::move(*encoded));
  st.sent.assign(st.workers.size(), false);
  st.sends_pending = st.workers.size() - 1;
  for (std::size_t j = 0; j < st.workers.size(); ++j)
    if (j != st.own && st.ready[j])
      send_share(self, j);
  return {};
}

// Connects to the run's other workers (actors/peer_mesh.hpp); the shard
// dialed for worker j must be on worker j's node.
caf::error join_mesh(worker_pointer self, als_mesh& mesh) {
  auto& st = self->state;
  std::size_t selves = 0;
  std::vector<caf::node_id> nodes;
  for (std::size_t j = 0; j < mesh.workers.size(); ++j) {
    nodes.push_back(mesh.workers[j].node());
    if (mesh.workers[j].address() == self->address()) {
      ++selves;
      st.own = j;
    }
  }
  if (selves != 1)
    return make_error(ec::invalid_argument, "the mesh does not name this worker once");
  auto links = connect_peers(self->system(), nodes, mesh.addresses, st.own, st.dial,
                             [&](std::size_t j, shard_actor& shard) -> caf::error {
                               if (shard.node() != nodes[j])
                                 return make_error(ec::shard_unavailable,
                                                   "the shard at " + mesh.addresses[j] +
                                                     " is not on the node of the run's worker");
                               return {};
                             });
  if (!links)
    return links.error();
  st.ready = std::move(links->ready);
  st.dialing_here = std::move(links->dialing_here);
  st.workers = std::move(mesh.workers);
  st.steps = mesh.steps;
  st.early.assign(st.workers.size(), std::nullopt);
  st.meshed = true;
  return {};
}

// The own users' and items' factors into the run's staging table -> rows written.
caf::expected<std::uint64_t> stage(embedding_worker_state& st) {
  auto err = store::guard([&] {
    store::staging_rows out{st.url, job_kind::embeddings, st.run_id};
    const auto d = static_cast<std::size_t>(st.opt.dim);
    for (int side = 0; side < 2; ++side) {
      const bool items = side == 1;
      const auto& dense = items ? st.items.dense : st.users.dense;
      const auto& values = items ? st.items_now : st.users_now;
      for (std::size_t k = 0; k < dense.size(); ++k)
        out.add_vector(items, items ? st.item_ids[dense[k]] : st.user_ids[dense[k]],
                       std::span<const float>{values.data() + k * d, d});
    }
    out.commit();
  });
  if (err)
    return err;
  return std::uint64_t{st.users.dense.size() + st.items.dense.size()};
}

embedding_worker_actor::behavior_type
embedding_worker(worker_pointer self, std::string url, std::vector<char> encoded,
                 std::vector<std::uint32_t> partitions, std::uint32_t count,
                 caf::node_id control, caf::strong_actor_ptr driver, peer_dialer dial) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  if (driver) {
    // A driver that went away leaves no worker holding the run's rows.
    self->monitor(driver);
    self->set_down_handler([=](caf::down_msg&) { self->quit(caf::exit_reason::user_shutdown); });
  }
  embedding_task task;
  auto err = decode_bulk(encoded, task);
  if (!err)
    err = limits::check_embedding_task(task);
  if (!err && !task.snapshot.empty())
    err = read_share(url, task, partitions, count);
  if (err) {
    spdlog::error("embedding worker: {}", describe(err));
    self->quit(err); // the job driver monitors the worker and fails the run
    using behavior = embedding_worker_actor::behavior_type;
    return behavior{behavior::unsafe_init{}, caf::behavior{}};
  }
  encoded = {};
  std::unordered_set<std::uint32_t> owned(partitions.begin(), partitions.end());
  auto& st = self->state;
  st.url = std::move(url);
  st.control = std::move(control);
  st.dial = std::move(dial);
  st.run_id = task.run_id;
  st.users = build_side(task.users, task.u, task.i, task.w, owned, count);
  st.items = build_side(task.items, task.i, task.u, task.w, owned, count);
  st.user_ids = std::move(task.users);
  st.item_ids = std::move(task.items);
  st.opt.dim = task.dim;
  st.opt.regularization = task.regularization;
  st.opt.alpha = task.alpha;
  st.opt.cg_steps = task.cg_steps;
  // Each row's initial factors depend on its dense index only
  // (engine::initial_factors), so the own rows are those of the whole matrix.
  const auto d = static_cast<std::size_t>(task.dim);
  st.items_now.reserve(st.items.dense.size() * d);
  for (auto r : st.items.dense) {
    auto row = engine::initial_factors(1, task.dim, 42, r);
    st.items_now.insert(st.items_now.end(), row.values.begin(), row.values.end());
  }
  return {
    [=](bulk_atom, bulk_chunk& chunk) -> caf::result<bool> {
      auto j = sending_peer(self);
      if (!j)
        return refuse(self, "bulk", "only a worker of the run may send chunks");
      if (auto err = self->state.inbox.add(std::move(chunk), sender_node(self)))
        return refuse(self, "bulk", describe(err));
      heard_from(self, *j);
      return true;
    },
    [=](factors_atom, const factor_share& share) -> caf::result<bool> {
      auto& st = self->state;
      auto j = sending_peer(self);
      if (!j)
        return refuse(self, "factors", "only a worker of the run may send a share");
      if (share.run_id != st.run_id)
        return refuse(self, "factors", "not the run in progress here");
      const bool current = st.in_step && share.step + 1 == st.next_step;
      const bool ahead = share.step == st.next_step && share.step < st.steps && !st.broken;
      if (!current && !ahead)
        return refuse(self, "factors", "half-step " + std::to_string(share.step) +
                                         " is neither the current nor the next one");
      if (current ? bool{st.got[*j]} : st.early[*j].has_value())
        return refuse(self, "factors", "a second share of one half-step");
      factor_block block;
      auto bytes = st.inbox.take(share.block, sender_node(self));
      caf::error err = bytes ? decode_bulk(*bytes, block) : bytes.error();
      if (!err)
        err = limits::check_factor_block(block, fixed_rows(st, share.step), st.opt.dim);
      if (!err && current)
        err = apply_block(st, block);
      if (err)
        return refuse(self, "factors", describe(err));
      heard_from(self, *j);
      if (!current) {
        st.early[*j] = std::move(block);
        return true;
      }
      st.got[*j] = true;
      ++st.got_count;
      // Answered before solving: the peer's request must not wait for it.
      auto rp = self->make_response_promise<bool>();
      rp.deliver(true);
      maybe_solve(self);
      return rp;
    },
    [=](mesh_atom, als_mesh& mesh) -> caf::result<bool> {
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "mesh"))
        return err;
      if (auto err = limits::check_als_mesh(mesh))
        return refuse(self, "mesh", describe(err));
      if (st.meshed || mesh.run_id != st.run_id)
        return refuse(self, "mesh", st.meshed ? "joined already" : "not this worker's run");
      if (auto err = join_mesh(self, mesh))
        return err;
      spdlog::info("embeddings run {}: a worker of {} solves {} users and {} items of its own",
                   st.run_id, st.workers.size(), st.users.dense.size(), st.items.dense.size());
      return true;
    },
    [=](solve_atom, std::int64_t run, std::uint32_t step) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "solve"))
        return err;
      if (!st.meshed || run != st.run_id || st.in_step || st.broken || step != st.next_step ||
          step >= st.steps)
        return refuse(self, "solve", "not the next half-step of the run in progress here");
      st.promise = self->make_response_promise<std::uint64_t>();
      auto rp = st.promise;
      if (auto err = begin_step(self, step)) {
        fail_step(self, std::move(err));
        return rp;
      }
      maybe_solve(self);
      return rp;
    },
    [=](stage_atom, std::int64_t run) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "stage"))
        return err;
      if (!st.meshed || run != st.run_id || st.in_step || st.broken || st.staged ||
          st.next_step != st.steps)
        return refuse(self, "stage", "not after the last half-step of the run in progress here");
      st.staged = true;
      auto rows = stage(st);
      if (!rows)
        return rows.error();
      // Its part of the run is done: the answer goes out, then the worker
      // ends normally (the driver takes a normal end after staging as
      // nothing wrong), so no worker of a finished run keeps its rows.
      auto rp = self->make_response_promise<std::uint64_t>();
      rp.deliver(*rows);
      self->quit();
      return rp;
    },
  };
}

} // namespace

embedding_worker_actor spawn_embedding_worker(caf::actor_system& sys, std::string postgres_url,
                                              std::vector<char> encoded_task,
                                              std::vector<std::uint32_t> partitions,
                                              std::uint32_t partition_count, caf::node_id control,
                                              caf::strong_actor_ptr driver, peer_dialer dial) {
  return sys.spawn<caf::detached>(embedding_worker, std::move(postgres_url),
                                  std::move(encoded_task), std::move(partitions), partition_count,
                                  std::move(control), std::move(driver), std::move(dial));
}

} // namespace recd
