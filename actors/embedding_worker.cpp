#include "actors/embedding_worker.hpp"

#include <algorithm>
#include <unordered_set>

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

#include "actors/bulk_sender.hpp"
#include "actors/census.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "engine/als.hpp"
#include "protocol/bulk.hpp"
#include "protocol/errors.hpp"
#include "protocol/limits.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/job_inputs.hpp"

namespace recd {

namespace {

// The owned rows of one side as weighted CSR rows over the other side.
struct side_rows {
  std::vector<std::uint32_t> dense; // dense index of each owned row
  engine::weighted_rows rows;
};

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

struct embedding_worker_state {
  bulk_inbox inbox; // the other side's factors, per half-step
  static inline const char* name = "embedding_worker";
  side_rows users;
  side_rows items;
  std::size_t users_count = 0; // dense indices of the whole run, per side
  std::size_t items_count = 0;
  engine::als_options opt;
  // Conjugate-gradient solves start from each own row's current factors:
  // the own rows of the last full matrix of that side received as fixed
  // factors (empty before the first: users start at zero, as in train_als).
  std::vector<float> users_now, items_now;
};

// The rows `dense` of a row-major matrix of `dim` columns.
std::vector<float> gather_rows(const std::vector<float>& all, const std::vector<std::uint32_t>& dense,
                               std::int32_t dim) {
  const auto d = static_cast<std::size_t>(dim);
  std::vector<float> out;
  out.reserve(dense.size() * d);
  for (auto r : dense)
    out.insert(out.end(), all.begin() + static_cast<std::ptrdiff_t>(r * d),
               all.begin() + static_cast<std::ptrdiff_t>((r + 1) * d));
  return out;
}

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

embedding_worker_actor::behavior_type
embedding_worker(embedding_worker_actor::stateful_pointer<embedding_worker_state> self,
                 std::string url, std::vector<char> encoded,
                 std::vector<std::uint32_t> partitions, std::uint32_t count,
                 caf::node_id control) {
  enroll(self);
  self->set_default_handler(log_and_drop);
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
  st.users = build_side(task.users, task.u, task.i, task.w, owned, count);
  st.items = build_side(task.items, task.i, task.u, task.w, owned, count);
  st.users_count = task.users.size();
  st.items_count = task.items.size();
  st.opt.dim = task.dim;
  st.opt.regularization = task.regularization;
  st.opt.alpha = task.alpha;
  st.opt.cg_steps = task.cg_steps;
  // Solves one side against the other side's factors (arrived in chunks) and
  // sends the solved rows back in chunks too.
  auto solve_side = [=](bool users, const bulk_handle& fixed, std::vector<double>& gram) {
    // Before make_response_promise, which takes the sender out of the request.
    auto driver = caf::actor_cast<bulk_sink>(self->current_sender());
    auto from = sender_node(self);
    auto refused = check_control(self, control, "solve");
    auto rp = self->make_response_promise<bulk_handle>();
    if (refused) {
      rp.deliver(std::move(refused));
      return rp;
    }
    auto& st = self->state;
    std::vector<float> factors;
    auto bytes = st.inbox.take(fixed, from);
    auto packed_factors = packed(factors); // as job_driver's half_step encodes them
    caf::error err = bytes ? decode_bulk(*bytes, packed_factors) : bytes.error();
    if (!err)
      err = limits::check_factors(factors.size(), gram.size(),
                                  users ? st.items_count : st.users_count, st.opt.dim);
    if (err) {
      rp.deliver(std::move(err));
      return rp;
    }
    std::vector<float> now;
    if (st.opt.cg_steps > 0) {
      // The fixed side's own rows are its current factors for its next solve.
      (users ? st.items_now : st.users_now) =
          gather_rows(factors, users ? st.items.dense : st.users.dense, st.opt.dim);
      now = std::move(users ? st.users_now : st.items_now);
    }
    auto block =
        solve(users ? st.users : st.items, std::move(factors), std::move(gram), st.opt, std::move(now));
    auto encoded = encode_bulk(new_bulk_id(), block);
    if (!encoded) {
      rp.deliver(encoded.error());
      return rp;
    }
    auto payload = std::make_shared<const bulk_payload>(std::move(*encoded));
    send_chunks(self, driver, payload, [=]() mutable { rp.deliver(payload->handle); },
                [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  };
  return {
    [=](bulk_atom, bulk_chunk& chunk) -> caf::result<bool> {
      if (auto err = check_control(self, control, "bulk"))
        return err;
      if (auto err = self->state.inbox.add(std::move(chunk), sender_node(self)))
        return err;
      return true;
    },
    [=](solve_users_atom, const bulk_handle& item_factors, std::vector<double>& gram) {
      return solve_side(true, item_factors, gram);
    },
    [=](solve_items_atom, const bulk_handle& user_factors, std::vector<double>& gram) {
      return solve_side(false, user_factors, gram);
    },
  };
}

} // namespace

embedding_worker_actor spawn_embedding_worker(caf::actor_system& sys, std::string postgres_url,
                                              std::vector<char> encoded_task,
                                              std::vector<std::uint32_t> partitions,
                                              std::uint32_t partition_count, caf::node_id control) {
  return sys.spawn<caf::detached>(embedding_worker, std::move(postgres_url),
                                  std::move(encoded_task), std::move(partitions), partition_count,
                                  std::move(control));
}

} // namespace recd
