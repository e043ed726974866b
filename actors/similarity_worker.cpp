#include "actors/similarity_worker.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <unordered_set>
#include <utility>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/census.hpp"
#include "actors/peer_mesh.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "engine/ease.hpp"
#include "engine/similarity.hpp"
#include "protocol/errors.hpp"
#include "protocol/limits.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/job_inputs.hpp"
#include "store/job_results.hpp"

namespace recd {

namespace {

using clock = std::chrono::steady_clock;
using pair_list = std::vector<std::pair<std::int32_t, std::int32_t>>;

// How long a peer may take to acknowledge one piece.
constexpr auto piece_timeout = std::chrono::seconds{120};

struct worker_state {
  static inline const char* name = "similarity_worker";
  worker_state() = default;
  std::string url;
  peer_dialer dial;
  caf::actor_addr parent;
  caf::node_id control;
  similarity_plan plan;
  std::vector<std::uint32_t> owned;
  std::uint32_t count = 0;
  std::set<caf::node_id> peer_nodes; // nodes of the plan's shards
  std::size_t expected_peers = 0;    // the plan's shards but this worker's own
  std::size_t own_index = 0;         // this worker's shard in plan.peers
  // Where each peer's pieces go (invalid for this shard, and for a peer that
  // dials this one until its first piece arrives: then its sender).
  std::vector<pairs_sink> targets;
  std::map<caf::node_id, std::size_t> dialing_here; // peers that dial this shard, by node
  bool read = false;
  // The pairs read here, sorted and distinct, in [0, own); the peers' after them.
  pair_list pairs;
  std::size_t own = 0;
  std::uint64_t received = 0;
  struct incoming {
    std::uint32_t next = 0; // the index of the piece expected next
    bool done = false;      // its last piece arrived
  };
  std::map<caf::actor_addr, incoming> senders;
  std::size_t peers_done = 0;
  std::size_t sends_pending = 0; // peers still being sent to
  bool gathering = false;
  bool finished = false; // the gather's promise is answered (or about to be)
  part_progress_sink progress_to;
  caf::typed_response_promise<std::uint64_t, std::uint64_t> promise;
};

using worker_pointer = similarity_worker_actor::stateful_pointer<worker_state>;

// Reads the rows of the plan's partitions in the plan's snapshot; the
// distinct row count and the distinct pairs, kept sorted in st.pairs.
caf::expected<std::uint64_t> read_part(worker_state& st) {
  const auto& plan = st.plan;
  store::partition_input_spec spec;
  spec.snapshot = plan.snapshot;
  spec.item_rows = item_side(plan.kind);
  for (std::uint8_t k = 0; k < 4; ++k)
    if (plan.behaviors & (1u << k))
      spec.behaviors.push_back(static_cast<behavior_kind>(k));
  spec.windowed = plan.windowed;
  spec.window_since = plan.window_since;
  spec.active_only = plan.active_only;
  spec.active_since = plan.active_since;
  spec.partitions = plan.reads;
  spec.count = plan.partition_count;
  std::unordered_set<std::uint32_t> reads(plan.reads.begin(), plan.reads.end());
  for (auto id : plan.candidates)
    if (reads.count(partition_of(id, plan.partition_count)) != 0)
      spec.candidates.push_back(id);
  auto conn = store::connect(st.url);
  if (!conn)
    return conn.error();
  auto err = store::guard([&] {
    store::read_partition_input(**conn, spec, [&](std::int32_t row, std::int32_t col) {
      st.pairs.emplace_back(row, col);
    });
  });
  if (err)
    return err;
  std::sort(st.pairs.begin(), st.pairs.end());
  st.pairs.erase(std::unique(st.pairs.begin(), st.pairs.end()), st.pairs.end());
  st.pairs.shrink_to_fit();
  st.own = st.pairs.size();
  std::uint64_t rows = 0;
  for (std::size_t k = 0; k < st.own; ++k)
    if (k == 0 || st.pairs[k].first != st.pairs[k - 1].first)
      ++rows;
  return rows;
}

// The whole graph, the same on every shard: the rows the shard owns are
// computed and COPYed into the run's staging table -> (rows, result rows).
caf::expected<std::pair<std::uint64_t, std::uint64_t>> compute(worker_pointer self) {
  auto& st = self->state;
  const auto& plan = st.plan;
  // The pairs read here are sorted; the peers' are sorted per peer but may
  // interleave, so they are sorted (a pass if already in order) and merged
  // in, which spares bipartite_from_pairs a sort of the whole graph.
  const auto own_end = st.pairs.begin() + static_cast<std::ptrdiff_t>(st.own);
  if (!std::is_sorted(own_end, st.pairs.end()))
    std::sort(own_end, st.pairs.end());
  std::inplace_merge(st.pairs.begin(), own_end, st.pairs.end());
  const auto g = engine::bipartite_from_pairs(std::move(st.pairs));
  st.pairs = pair_list{};
  std::unordered_set<std::uint32_t> owned(st.owned.begin(), st.owned.end());
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < g.rows(); ++r)
    if (owned.count(partition_of(g.row_ids[r], st.count)) != 0)
      rows.push_back(r);
  // EASE: every shard learns the whole (bounded) weight matrix, then writes
  // the rows it owns, like the set kernels.
  std::unique_ptr<engine::ease_model> ease;
  std::unique_ptr<engine::similarity_kernel> kernel;
  auto gt = engine::transpose(g);
  if (plan.measure == ease_measure) {
    ease = std::make_unique<engine::ease_model>(g, plan.regularization);
  } else {
    engine::similarity_options opt;
    opt.measure = static_cast<engine::set_measure>(plan.measure);
    opt.min_common = plan.min_common;
    opt.min_score = plan.min_score;
    opt.top_k = plan.top_k;
    opt.max_column_rows = plan.max_column_rows;
    kernel = std::make_unique<engine::similarity_kernel>(g, gt, opt);
  }
  std::uint64_t pairs = 0, done = 0;
  auto err = store::guard([&] {
    // The run's staging table, named from checked values, never from the message.
    store::staging_rows out{st.url, plan.kind, plan.run_id};
    std::vector<engine::neighbour> found;
    auto last_report = clock::now();
    for (auto r : rows) {
      if (ease)
        ease->neighbours(r, plan.top_k, found);
      else
        kernel->neighbours(r, found);
      for (const auto& n : found)
        out.add(g.row_ids[r], n.id, n.score);
      pairs += found.size();
      ++done;
      if (st.progress_to && clock::now() - last_report > std::chrono::milliseconds{500}) {
        last_report = clock::now();
        self->send(st.progress_to, part_progress_atom_v, part_progress{plan.run_id, done, pairs});
      }
    }
    out.commit();
  });
  if (err)
    return err;
  if (st.progress_to)
    self->send(st.progress_to, part_progress_atom_v, part_progress{plan.run_id, done, pairs});
  return std::make_pair(std::uint64_t{rows.size()}, pairs);
}

// Computes once everything is sent and received, and answers the gather.
void maybe_compute(worker_pointer self) {
  auto& st = self->state;
  if (!st.gathering || st.finished || st.sends_pending != 0 ||
      st.peers_done != st.expected_peers)
    return;
  st.finished = true;
  auto result = compute(self);
  if (result)
    st.promise.deliver(result->first, result->second);
  else
    st.promise.deliver(result.error());
}

void fail_gather(worker_pointer self, caf::error err) {
  auto& st = self->state;
  if (st.finished)
    return;
  st.finished = true;
  st.promise.deliver(std::move(err));
}

// Sends piece `index` of the pairs read here to `peer`, then the next one.
void send_piece(worker_pointer self, pairs_sink peer, std::uint32_t index) {
  auto& st = self->state;
  pair_batch batch;
  batch.run_id = st.plan.run_id;
  batch.index = index;
  const auto begin = std::min(st.own, std::size_t{index} * limits::max_pair_batch);
  const auto end = std::min(st.own, begin + limits::max_pair_batch);
  batch.last = end == st.own;
  batch.rows.reserve(end - begin);
  batch.cols.reserve(end - begin);
  for (auto k = begin; k < end; ++k) {
    batch.rows.push_back(st.pairs[k].first);
    batch.cols.push_back(st.pairs[k].second);
  }
  const bool last = batch.last;
  self->request(peer, piece_timeout, pairs_atom_v, std::move(batch))
    .then(
      [=](bool) {
        if (self->state.finished)
          return;
        if (!last) {
          send_piece(self, peer, index + 1);
          return;
        }
        --self->state.sends_pending;
        maybe_compute(self);
      },
      [=](caf::error& err) { fail_gather(self, std::move(err)); });
}

// Connects to the run's peers after this one in the plan (actors/peer_mesh.hpp),
// each of which must be the very actor the plan names; the pieces for the
// peers before it that dial it go to the sender of their first piece.
caf::error join_peers(worker_pointer self) {
  auto& st = self->state;
  const auto& plan = st.plan;
  st.targets.assign(plan.peers.size(), pairs_sink{});
  std::vector<caf::node_id> nodes;
  for (const auto& peer : plan.peers)
    nodes.push_back(peer.node());
  auto links = recd::connect_peers(
    self->system(), nodes, plan.peer_addresses, st.own_index, st.dial,
    [&](std::size_t j, shard_actor& shard) -> caf::error {
      const auto& peer = plan.peers[j];
      if (shard.node() != peer.node() || shard.id() != peer.id())
        return make_error(ec::shard_unavailable, "the shard at " + plan.peer_addresses[j] +
                                                   " is not the one the run's plan names");
      st.targets[j] = caf::actor_cast<pairs_sink>(std::move(shard));
      return {};
    });
  if (!links)
    return links.error();
  for (std::size_t j = 0; j < plan.peers.size(); ++j)
    if (links->ready[j] && !st.targets[j])
      st.targets[j] = plan.peers[j];
  st.dialing_here = std::move(links->dialing_here);
  return {};
}

similarity_worker_actor::behavior_type
similarity_worker(worker_pointer self, std::string url, caf::actor_addr parent,
                  caf::node_id control, caf::strong_actor_ptr driver, similarity_plan plan,
                  std::vector<std::uint32_t> owned, std::uint32_t count, peer_dialer dial) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  if (driver) {
    self->monitor(driver);
    self->set_down_handler([=](caf::down_msg&) { self->quit(caf::exit_reason::user_shutdown); });
  }
  auto& st = self->state;
  st.url = std::move(url);
  st.dial = std::move(dial);
  st.parent = std::move(parent);
  st.control = std::move(control);
  st.owned = std::move(owned);
  st.count = count;
  std::size_t selves = 0;
  for (std::size_t j = 0; j < plan.peers.size(); ++j) {
    st.peer_nodes.insert(plan.peers[j].node());
    if (plan.peers[j].address() == st.parent) {
      ++selves;
      st.own_index = j;
    }
  }
  // The plan names this worker's shard exactly once, or nothing is accepted.
  const bool named_once = selves == 1;
  st.expected_peers = plan.peers.size() - selves;
  st.plan = std::move(plan);
  return {
    [=](work_atom) -> caf::result<std::uint64_t, std::uint64_t> {
      if (auto err = check_from(self, self->state.parent, "work"))
        return err;
      auto& st = self->state;
      if (!named_once)
        return make_error(ec::invalid_argument, "the plan does not name this shard once");
      if (st.read)
        return make_error(ec::invalid_argument, "the run's input was read already");
      auto rows = read_part(st);
      if (!rows)
        return rows.error();
      // Before answering: the driver starts the exchange once every shard
      // has answered, so every connection of the run is open by then.
      if (auto err = join_peers(self))
        return err;
      st.read = true;
      spdlog::info("similarity run {} ({}): read its share of the input: {} rows, {} pairs, {} "
                   "partitions", st.plan.run_id, to_string(st.plan.kind), *rows, st.own,
                   st.plan.reads.size());
      return {*rows, std::uint64_t{st.own}};
    },
    [=](gather_atom,
        const part_progress_sink& progress_to) -> caf::result<std::uint64_t, std::uint64_t> {
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "gather"))
        return err;
      if (!st.read || st.gathering)
        return refuse(self, "gather", st.read ? "already gathering" : "before the read");
      st.gathering = true;
      st.progress_to = progress_to;
      st.promise = self->make_response_promise<std::uint64_t, std::uint64_t>();
      // A peer that dials this shard is sent to once its first piece came.
      st.sends_pending = st.expected_peers;
      for (const auto& target : st.targets)
        if (target)
          send_piece(self, target, 0);
      maybe_compute(self);
      return st.promise;
    },
    [=](pairs_atom, pair_batch& batch) -> caf::result<bool> {
      auto& st = self->state;
      const auto& src = self->current_sender();
      if (!src || st.peer_nodes.count(src->node()) == 0)
        return refuse(self, "pairs", "only a shard node of this run may send them");
      if (batch.run_id != st.plan.run_id)
        return refuse(self, "pairs", "not the run in progress here");
      if (auto err = limits::check_pair_batch(batch))
        return refuse(self, "pairs", describe(err));
      if (!st.read || st.finished)
        return refuse(self, "pairs", st.read ? "after the exchange ended" : "before the read");
      auto it = st.senders.find(src->address());
      if (it == st.senders.end()) {
        if (st.senders.size() >= st.expected_peers)
          return refuse(self, "pairs", "more senders than the run has peers");
        it = st.senders.emplace(src->address(), worker_state::incoming{}).first;
      }
      auto& in = it->second;
      if (in.done || batch.index != in.next)
        return refuse(self, "pairs", "piece " + std::to_string(batch.index) + " out of order");
      if (auto dialer = st.dialing_here.find(src->node()); dialer != st.dialing_here.end()) {
        // The first piece of a peer that dialed this shard: its pieces go
        // back to their sender, over the connection that peer opened.
        auto& target = st.targets[dialer->second];
        if (!target) {
          target = caf::actor_cast<pairs_sink>(src);
          if (st.gathering && !st.finished)
            send_piece(self, target, 0);
        }
      }
      if (st.received + batch.rows.size() > limits::max_exchange_pairs)
        return refuse(self, "pairs", "more pairs than a run may exchange");
      st.received += batch.rows.size();
      for (std::size_t k = 0; k < batch.rows.size(); ++k)
        st.pairs.emplace_back(batch.rows[k], batch.cols[k]);
      ++in.next;
      // Answered before computing: the sender's request must not wait for it.
      auto rp = self->make_response_promise<bool>();
      rp.deliver(true);
      if (batch.last) {
        in.done = true;
        ++st.peers_done;
        maybe_compute(self);
      }
      return rp;
    },
  };
}

} // namespace

similarity_worker_actor spawn_similarity_worker(caf::actor_system& sys, std::string postgres_url,
                                                caf::actor_addr parent, caf::node_id control,
                                                caf::strong_actor_ptr driver, similarity_plan plan,
                                                std::vector<std::uint32_t> owned,
                                                std::uint32_t partition_count, peer_dialer dial) {
  return sys.spawn<caf::detached>(similarity_worker, std::move(postgres_url), std::move(parent),
                                  std::move(control), std::move(driver), std::move(plan),
                                  std::move(owned), partition_count, std::move(dial));
}

} // namespace recd
