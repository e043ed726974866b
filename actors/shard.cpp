// The shard actor: who may send what, the serving requests (context,
// recall, details, item pages), and the behavior table that hands the
// partition lifecycle, committed events and job work to their files
// (actors/shard_actor_state.hpp lists them).
#include "actors/shard.hpp"

#include <algorithm>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/census.hpp"
#include "actors/heap.hpp"
#include "actors/shard_actor_state.hpp"
#include "actors/version_board.hpp"
#include "actors/telemetry.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "protocol/limits.hpp"

namespace recd {

namespace shard_detail {

// Serving requests: from an API node that subscribed to the coordinator, the
// coordinator's node or this one (actors/trust.hpp).
caf::error check_data(shard_actor_type* self, const char* what) {
  const auto& src = self->current_sender();
  const auto& st = self->state;
  if (src && (src->node() == self->node() || (st.control && src->node() == st.control) ||
              st.api_nodes.count(src->node()) != 0))
    return {};
  return refuse(self, what, "not from an API node of this cluster");
}

// After a load, a drop or a job install: hands the heap's free pages back to
// the system and logs what the state holds. Each of these frees much (the
// loader's transients, partitions moved away, the previous results), which
// the allocator otherwise keeps in its arenas: a node that loaded every
// partition before half of them moved away stayed at twice its share of
// memory. The footprint also goes to the node's figures (actors/telemetry.hpp).
void settle_memory(const shard_actor_state& st, const char* after) {
  heap::release_free_memory();
  auto f = st.data.footprint();
  spdlog::info("state {}: {}", after, describe(f));
  auto& out = node_telemetry().shard(st.index);
  const std::size_t sizes[] = {f.user_table,   f.history,     f.bought, f.similar,
                               f.user_vectors, f.item_table,  f.titles, f.neighbours,
                               f.item_vectors, f.vector_index};
  static_assert(std::size(sizes) == shard_figures::structures.size());
  for (std::size_t k = 0; k < std::size(sizes); ++k)
    out.bytes[k].store(sizes[k], std::memory_order_relaxed);
  out.arena_mapped_bytes.store(f.arenas, std::memory_order_relaxed);
  out.arena_used_bytes.store(f.arena_blocks, std::memory_order_relaxed);
  out.partitions.store(st.held.size(), std::memory_order_relaxed);
  out.users.store(f.users, std::memory_order_relaxed);
  out.items.store(f.items, std::memory_order_relaxed);
}

// The counts after an event or a new item (cheap: two sizes).
void note_counts(const shard_actor_state& st) {
  auto& out = node_telemetry().shard(st.index);
  out.users.store(st.data.user_count(), std::memory_order_relaxed);
  out.items.store(st.data.item_count(), std::memory_order_relaxed);
}
} // namespace shard_detail

namespace {

using namespace shard_detail;

shard_actor::behavior_type shard(shard_actor_type* self, std::uint32_t index, std::string url,
                                 recommend_settings cfg, peer_dialer dial) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  auto& st = self->state;
  st.index = index;
  st.url = url;
  st.cfg = cfg;
  st.dial = std::move(dial);
  st.data = shard_state{cfg};
  // The API actors of this process check cached answers on this board
  // instead of asking (actors/version_board.hpp); it is retired as the shard ends.
  auto board = std::make_shared<version_board>();
  st.data.report_changes_to(board);
  const caf::actor_control_block* me = self->ctrl();
  version_board::enlist(me, board);
  self->attach_functor([board, me] {
    board->retire();
    version_board::delist(me);
  });
  st.loader = spawn_shard_loader(self->system(), url, cfg, self->address());
  self->link_to(st.loader);
  self->delayed_send(self, catalog_poll_interval, catalog_poll_atom_v);
  return {
      [=](load_atom, std::vector<std::uint32_t> partitions, std::uint32_t count,
          std::uint64_t epoch) -> caf::result<std::uint64_t, std::uint64_t> {
        return load_partitions(self, std::move(partitions), count, epoch);
      },
      [=](drop_atom, const std::vector<std::uint32_t>& partitions, std::uint64_t epoch)
          -> caf::result<bool> { return drop_partitions(self, partitions, epoch); },
      [=](held_atom) -> caf::result<std::vector<std::uint32_t>> {
        // What this shard holds, for a (restarted) coordinator it joins.
        if (auto err = check_control(self, self->state.control, "held"))
          return err;
        return self->state.partitions();
      },
      [=](own_atom, std::vector<std::uint32_t> partitions, std::uint32_t count)
          -> caf::result<void> { return own_partitions(self, std::move(partitions), count); },
      [=](context_atom, user_id u, std::int32_t recent,
          std::int32_t similar) -> caf::result<user_context> {
        if (auto err = check_data(self, "context"))
          return err;
        if (auto err = limits::check_seed_counts(recent, similar))
          return refuse(self, "context", describe(err));
        // Refused for a user of a partition held elsewhere: an API node routing
        // by an old map answers degraded instead of from an empty history.
        if (!self->state.holds(u))
          return self->state.not_held(u, "user");
        return self->state.data.context(u, static_cast<std::size_t>(recent),
                                        static_cast<std::size_t>(similar));
      },
      [=](version_atom, user_id u) -> caf::result<std::uint64_t, std::uint64_t> {
        using result = caf::result<std::uint64_t, std::uint64_t>;
        if (auto err = check_data(self, "version"))
          return result{err};
        if (!self->state.holds(u))
          return result{self->state.not_held(u, "user")};
        return result{self->state.data.version(u), self->state.data.catalog_epoch()};
      },
      [=](catalog_atom, const std::vector<item_details>& items,
          std::uint64_t epoch) -> caf::result<bool> {
        // Item writes committed at `epoch` (an API node's push).
        auto& st = self->state;
        if (auto err = check_data(self, "catalog"))
          return err;
        if (items.size() > limits::max_item_batch || epoch == 0)
          return refuse(self, "catalog",
                        "1.." + std::to_string(limits::max_item_batch) +
                            " items at a positive epoch");
        for (const auto& d : items)
          if (auto err = limits::check_item_details(d))
            return refuse(self, "catalog", describe(err));
        for (const auto& d : items)
          st.data.apply_catalog(d, epoch, st.holds(d.item));
        note_counts(st);
        return true;
      },
      [=](erase_atom, user_id u, std::uint64_t epoch) -> caf::result<bool> {
        // A user erased at `epoch` (DELETE /api/users/{id}).
        auto& st = self->state;
        if (auto err = check_data(self, "erase"))
          return err;
        if (u < 0 || epoch == 0)
          return refuse(self, "erase", "a user id >= 0 at a positive epoch");
        st.data.erase_user(u, epoch);
        std::erase_if(st.pending, [&](const pending_event& p) { return p.event.user == u; });
        note_counts(st);
        return true;
      },
      [=](catalog_poll_atom) {
        // The backstop of the pushes: a shard that missed one (restarting,
        // partitioned, a push lost) reads the changes after its synced epoch.
        auto& st = self->state;
        if (check_self(self, "catalog_poll"))
          return;
        auto again = [=] { self->delayed_send(self, catalog_poll_interval, catalog_poll_atom_v); };
        if (!st.ready) {
          again();
          return;
        }
        self->request(st.loader, std::chrono::seconds{30}, catalog_since_atom_v,
                      st.data.synced_epoch())
            .then(
                [=](const std::vector<item_details>& items, const std::vector<user_id>& erased,
                    std::uint64_t epoch) {
                  auto& st = self->state;
                  for (const auto& d : items)
                    st.data.apply_catalog(d, d.epoch, st.holds(d.item));
                  for (auto u : erased)
                    st.data.erase_user(u, 0);
                  st.data.synced_to(epoch);
                  again();
                },
                [=](caf::error& err) {
                  spdlog::warn("catalog poll: {}", describe(err));
                  again();
                });
      },
      [=](ready_atom) { return self->state.ready; },
      [=](recall_atom, recall_request req) -> caf::result<std::vector<candidate>> {
        auto& st = self->state;
        if (auto err = check_data(self, "recall"))
          return err;
        if (auto err = limits::check_recall(req))
          return refuse(self, "recall", describe(err));
        const auto t0 = std::chrono::steady_clock::now();
        auto timed = [&](std::vector<candidate> out) {
          node_telemetry().shard(st.index).recall.observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          return out;
        };
        // The partitions recalled here: those the request names (the API
        // node names each partition once over its requests, to its owner or,
        // while the owner is lost, its replica), else those the flip gave.
        auto outside = [&](std::int32_t id) { return st.recalled_elsewhere(req.serve, id); };
        if (!req.serve.empty() && std::any_of(st.standby.begin(), st.standby.end(), [&](auto p) {
              return serves_partition(req.serve, p);
            }))
          ++node_telemetry().shard(st.index).standby_recalls; // a replica serves a read
        // Nothing held is left out (one holder per partition, no move under
        // way): the plain recall, without a test per item.
        const bool all_held = req.serve.empty()
                                ? st.standby.empty()
                                : std::all_of(st.held.begin(), st.held.end(), [&](const auto& h) {
                                    return serves_partition(req.serve, h.first);
                                  });
        if (all_held)
          return timed(st.data.recall(req));
        // Seeds, similar users and own items of other partitions are another
        // shard's to recall (shard_state::recall skips them; every seed still
        // sets the recency origin, as on the shard that recalls it).
        // The routes that propose this shard's own items (vector, popular,
        // category) leave out standby ones while selecting their top: their new
        // owner proposes them (a candidate proposed twice would count twice in
        // the merge), and this shard still proposes as many of its own as a
        // shard without standby partitions would.
        return timed(st.data.recall(req, outside));
      },
      [=](details_atom,
          const std::vector<item_id>& items) -> caf::result<std::vector<item_details>> {
        if (auto err = check_data(self, "details"))
          return err;
        if (items.size() > limits::max_details)
          return refuse(self, "details", "too many items");
        return self->state.data.details(items, unix_now());
      },
      [=](item_atom, item_id i) -> caf::result<std::vector<float>> {
        auto& st = self->state;
        if (auto err = check_data(self, "item"))
          return err;
        if (!st.ready)
          return make_error(ec::not_ready, "shard " + std::to_string(st.index) + " is loading");
        if (!st.holds(i))
          return st.not_held(i, "item");
        if (auto vec = st.data.item_embedding(i))
          return std::move(*vec);
        // Not in memory: the catalog may have grown since the load (an import
        // while serving). Ask the database once, through the loader.
        auto rp = self->make_response_promise<std::vector<float>>();
        self->request(st.loader, std::chrono::seconds{5}, lookup_atom_v, i)
            .then(
                [=](const item_details& details, std::vector<float> embedding) mutable {
                  self->state.data.add_item(details, embedding);
                  note_counts(self->state);
                  rp.deliver(std::move(embedding));
                },
                [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [=](apply_user_atom, const behavior_event& e, std::int64_t id,
          std::vector<float> item_vec) -> caf::result<std::uint64_t> {
        return apply_user_event(self, e, id, std::move(item_vec));
      },
      [=](apply_item_atom, const behavior_event& e, std::int64_t id) -> caf::result<bool> {
        return apply_item_event(self, e, id);
      },
      // Batch ingestion: the same work as item_atom, apply_user_atom and
      // apply_item_atom, for many events in one message.
      [=](item_vectors_atom, const std::vector<item_id>& items) -> caf::result<item_vectors> {
        return vectors_for_batch(self, items);
      },
      [=](apply_users_atom, const applied_batch& batch) -> caf::result<std::uint64_t> {
        return apply_user_batch(self, batch);
      },
      [=](apply_items_atom, const applied_batch& batch) -> caf::result<std::uint64_t> {
        return apply_item_batch(self, batch);
      },
      // New items in the embedding space (actors/api_fold.cpp).
      [=](tastes_atom, const std::vector<user_id>& users) -> caf::result<taste_vectors> {
        return tastes_of(self, users);
      },
      [=](fold_items_atom, const item_folds& folds) -> caf::result<std::uint64_t> {
        return fold_item_tastes(self, folds);
      },
      [=](flip_atom, std::uint64_t epoch, const std::vector<std::uint32_t>& owned)
          -> caf::result<void> { return flip_map(self, epoch, owned); },
      [=](reload_atom, job_kind kind) -> caf::result<bool> { return reload_run(self, kind); },
      [=](bulk_atom, bulk_chunk& chunk) -> caf::result<bool> {
        if (auto err = check_control(self, self->state.control, "bulk"))
          return err;
        if (auto err = self->state.inbox.add(std::move(chunk), sender_node(self)))
          return refuse(self, "bulk", describe(err));
        return true;
      },
      [=](similarity_atom, similarity_plan& plan)
        -> caf::result<similarity_worker_actor, std::uint64_t, std::uint64_t> {
        return start_similarity_run(self, plan);
      },
      [=](pairs_atom, pair_batch& batch) -> caf::result<bool> { return pass_pairs(self, batch); },
      [=](embedding_atom, const bulk_handle& task) -> caf::result<embedding_worker_actor> {
        return start_embedding_task(self, task);
      },
      [=](controller_atom, const caf::node_id& coordinator) -> caf::result<void> {
        // The shard node joined the coordinator of that node: it may send
        // control messages from now on. Only this node's own main thread says so.
        const auto& src = self->current_sender();
        if (!src || src->node() != self->node())
          return refuse(self, "controller", "only the shard's own node names its coordinator");
        self->state.control = coordinator;
        return caf::unit;
      },
      [=](admit_atom, const caf::node_id& api_node) -> caf::result<void> {
        // An API actor of that node subscribed to the coordinator: the node may
        // send serving requests.
        if (auto err = check_control(self, self->state.control, "admit"))
          return err;
        if (api_node && self->state.api_nodes.size() < limits::max_api_nodes)
          self->state.api_nodes.insert(api_node);
        return caf::unit;
      },
      [=](counts_atom) -> caf::result<std::uint64_t, std::uint64_t> {
        return {std::uint64_t{self->state.data.user_count()},
                std::uint64_t{self->state.data.item_count()}};
      },
      // Item pages and sessions: shard_state's answers (actors/shard_widgets.cpp).
      [=](relations_atom, item_id i, std::int32_t k) -> caf::result<item_relations> {
        auto& st = self->state;
        if (auto err = check_data(self, "relations"))
          return err;
        if (auto err = limits::check_item_count(k))
          return refuse(self, "relations", describe(err));
        if (!st.holds(i))
          return st.not_held(i, "item");
        if (auto found = st.data.relations(i, static_cast<std::size_t>(k), unix_now()))
          return std::move(*found);
        // Not in memory: maybe added to the catalog since the load (as item_atom).
        auto rp = self->make_response_promise<item_relations>();
        self->request(st.loader, std::chrono::seconds{5}, lookup_atom_v, i)
            .then(
                [=](const item_details& details, const std::vector<float>& embedding) mutable {
                  self->state.data.add_item(details, embedding);
                  note_counts(self->state);
                  rp.deliver(
                      *self->state.data.relations(i, static_cast<std::size_t>(k), unix_now()));
                },
                [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [=](nearest_atom, const std::vector<float>& vec, std::int32_t k,
          const std::vector<item_id>& exclude,
          const std::vector<std::uint64_t>& serve) -> caf::result<std::vector<scored_item>> {
        auto& st = self->state;
        if (auto err = check_data(self, "nearest"))
          return err;
        if (auto err = limits::check_nearest(vec, k, exclude))
          return refuse(self, "nearest", describe(err));
        if (auto err = limits::check_serve_set(serve))
          return refuse(self, "nearest", describe(err));
        auto outside = [&](std::int32_t id) { return st.recalled_elsewhere(serve, id); };
        // Held items of other partitions can fill the nearest list: then it
        // is asked again, wider, down to 16 times k at most.
        const auto want = static_cast<std::size_t>(k);
        for (std::size_t wider = want;; wider *= 2) {
          auto out = st.data.nearest(vec, wider, exclude, unix_now());
          const auto found = out.size();
          std::erase_if(out, [&](const scored_item& n) { return outside(n.item); });
          if (out.size() >= want || found < wider || wider >= 16 * want || want == 0) {
            if (out.size() > want)
              out.resize(want);
            return out;
          }
        }
      },
      [=](partners_atom, user_id u, item_id i,
          std::int64_t row) -> caf::result<std::vector<item_id>> {
        auto& st = self->state;
        if (auto err = check_data(self, "partners"))
          return err;
        if (!st.holds(u))
          return st.not_held(u, "user");
        return st.data.partners(u, i, row);
      },
      [=](co_bought_atom, item_id i, const std::vector<item_id>& partners) -> caf::result<bool> {
        auto& st = self->state;
        if (auto err = check_data(self, "co_bought"))
          return err;
        if (auto err = limits::check_partners(i, partners))
          return refuse(self, "co_bought", describe(err));
        // Pairs of partitions loading here are not kept: their snapshot counts
        // every buy committed before it.
        st.data.add_co_buys(i, partners);
        return true;
      },
      [=](vectors_atom,
          const std::vector<item_id>& items) -> caf::result<std::vector<item_vector>> {
        if (auto err = check_data(self, "vectors"))
          return err;
        if (items.size() > limits::max_details)
          return refuse(self, "vectors", "too many items");
        return self->state.data.vectors(items);
      },
  };
}

} // namespace

shard_actor spawn_shard(caf::actor_system& sys, std::uint32_t index, std::string postgres_url,
                        recommend_settings cfg, peer_dialer dial) {
  return sys.spawn(shard, index, std::move(postgres_url), std::move(cfg), std::move(dial));
}

} // namespace recd
