#include "actors/census.hpp"
#include "actors/shard.hpp"

#include <unordered_map>
#include <malloc.h>

#include <map>
#include <set>
#include <unordered_set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/embedding_worker.hpp"
#include "actors/shard_loader.hpp"
#include "actors/similarity_worker.hpp"
#include "actors/telemetry.hpp"
#include "protocol/bulk.hpp"
#include "protocol/errors.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "protocol/limits.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

namespace {

unix_seconds unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

constexpr auto load_timeout = std::chrono::seconds{7200};
// How often a shard reads the catalog changes a push did not bring.
constexpr auto catalog_poll_interval = std::chrono::seconds{2};
constexpr auto job_timeout = std::chrono::seconds{86400};
// Committed events held for partitions being loaded. Beyond this many, new
// ones are not held: the flip's catch-up reads them back from PostgreSQL.
constexpr std::size_t max_pending = 100000;

struct pending_event {
  behavior_event event;
  std::int64_t id;
  std::vector<float> item_vec;  // the item's embedding; a fold's: the user's taste
  bool user_side;
  bool fold = false;            // item side: fold item_vec into the item's vector
};

struct shard_actor_state {
  static inline const char* name = "shard";
  explicit shard_actor_state() : data(recommend_settings{}) {}
  std::uint32_t index = 0;
  std::string url;
  shard_state data;
  shard_loader_actor loader;
  std::uint32_t partition_count = 0;
  bool ready = false;                  // the first load finished
  // Held partitions (served and used by jobs), each with the epoch of the map
  // it was loaded for: a drop computed at an older epoch leaves it alone.
  std::map<std::uint32_t, std::uint64_t> held;
  // Partitions being loaded, and the committed events for them that arrived
  // meanwhile (API nodes send a moving partition's events to old and new owner).
  std::set<std::uint32_t> incoming;
  std::vector<pending_event> pending;
  // Held partitions that recall leaves out, so that each partition's items
  // are recalled by exactly one shard: loaded but not flipped to this shard
  // yet, or flipped away but not dropped yet.
  std::set<std::uint32_t> standby;
  // Since the last load and until the flip's catch-up: which partitions
  // landed, the floor of their snapshots, and the events known to be applied.
  std::vector<std::uint32_t> landed;
  std::int64_t landed_floor = -1;
  std::unordered_set<std::int64_t> known_user, known_item; // per side of an event
  bulk_inbox inbox;                    // job inputs arriving in chunks
  bool catching_up = false;            // the flip's read-back is running
  // The coordinator this shard follows (its node sends control messages), and
  // the newest map epoch it flipped to: older loads and flips are refused.
  caf::node_id control;
  std::uint64_t epoch = 0;
  // Nodes of the API actors that subscribed to that coordinator: serving
  // requests come from these, this node or the coordinator's.
  std::set<caf::node_id> api_nodes;

  std::vector<std::uint32_t> partitions() const {
    std::vector<std::uint32_t> out;
    for (const auto& [p, epoch] : held)
      out.push_back(p);
    return out;
  }
  // Held and not on standby: what jobs compute here.
  std::vector<std::uint32_t> owned() const {
    std::vector<std::uint32_t> out;
    for (const auto& [p, epoch] : held)
      if (standby.count(p) == 0)
        out.push_back(p);
    return out;
  }
  bool holds(std::int32_t id) const {
    return partition_count > 0 && held.count(partition_of(id, partition_count)) != 0;
  }
  bool on_standby(std::int32_t id) const {
    return !standby.empty() && standby.count(partition_of(id, partition_count)) != 0;
  }
  bool is_incoming(std::int32_t id) const {
    return partition_count > 0 && incoming.count(partition_of(id, partition_count)) != 0;
  }
  void note_applied(std::int64_t id, bool user_side) {
    if (!landed.empty() || catching_up)
      (user_side ? known_user : known_item).insert(id);
  }
  void apply(const pending_event& p) {
    if (p.fold) {
      data.fold_item(p.event.item, p.event.kind, p.item_vec);
      return;
    }
    note_applied(p.id, p.user_side);
    if (p.user_side)
      data.apply_user(p.event, p.item_vec, p.id);
    else
      data.apply_item(p.event);
  }
  caf::error not_held(std::int32_t id, const char* what) const {
    return make_error(ec::shard_unavailable,
                      "shard " + std::to_string(index) + " does not hold the partition of " + what +
                        " " + std::to_string(id));
  }
};

using shard_actor_type = shard_actor::stateful_base<shard_actor_state>;

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
// glibc otherwise keeps in its arenas: a node that loaded every partition
// before half of them moved away stayed at twice its share of memory.
// The footprint also goes to the node's figures (actors/telemetry.hpp).
void settle_memory(const shard_actor_state& st, const char* after) {
  malloc_trim(0);
  auto f = st.data.footprint();
  spdlog::info("state {}: {}", after, describe(f));
  auto& out = node_telemetry().shard(st.index);
  const std::size_t sizes[] = {f.user_table, f.history,    f.bought,     f.similar,
                               f.user_vectors, f.item_table, f.titles,   f.neighbours,
                               f.item_vectors, f.vector_index};
  static_assert(std::size(sizes) == shard_figures::structures.size());
  for (std::size_t k = 0; k < std::size(sizes); ++k)
    out.bytes[k].store(sizes[k], std::memory_order_relaxed);
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

// A snapshot of `partitions` arrived: install it (first load) or merge it,
// then replay the events that came in meanwhile and are not in it.
void land(shard_actor_type* self, shard_snapshot&& snap, const std::vector<std::uint32_t>& partitions,
          std::uint64_t epoch, bool first) {
  auto& st = self->state;
  std::vector<pending_event> replay;
  std::vector<pending_event> keep;
  std::set<std::uint32_t> these(partitions.begin(), partitions.end());
  for (auto& p : st.pending) {
    auto key = p.user_side ? p.event.user : p.event.item;
    (these.count(partition_of(key, st.partition_count)) != 0 ? replay : keep).push_back(std::move(p));
  }
  st.pending = std::move(keep);
  for (auto p : partitions) {
    st.incoming.erase(p);
    st.held[p] = epoch;
    st.standby.insert(p); // until the flip
  }
  const auto floor = snap.tail_floor;
  auto tail_user = snap.tail_user_ids;
  auto tail_item = snap.tail_item_ids;
  std::vector<bool> wanted(replay.size());
  for (std::size_t k = 0; k < replay.size(); ++k)
    wanted[k] = !snap.contains(replay[k].id, replay[k].user_side);
  if (first)
    st.data.install(std::move(snap));
  else
    st.data.merge(std::move(snap));
  st.landed.insert(st.landed.end(), partitions.begin(), partitions.end());
  st.landed_floor = st.landed_floor < 0 ? floor : std::min(st.landed_floor, floor);
  st.known_user.insert(tail_user.begin(), tail_user.end());
  st.known_item.insert(tail_item.begin(), tail_item.end());
  for (std::size_t k = 0; k < replay.size(); ++k)
    if (wanted[k])
      st.apply(replay[k]);
  settle_memory(st, "loaded");
}

shard_actor::behavior_type shard(shard_actor_type* self, std::uint32_t index, std::string url,
                                 recommend_settings cfg) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  auto& st = self->state;
  st.index = index;
  st.url = url;
  st.data = shard_state{cfg};
  st.loader = spawn_shard_loader(self->system(), url, cfg, self->address());
  self->link_to(st.loader);
  self->delayed_send(self, catalog_poll_interval, catalog_poll_atom_v);
  return {
    [=](load_atom, std::vector<std::uint32_t> partitions, std::uint32_t count,
        std::uint64_t epoch) -> caf::result<std::uint64_t, std::uint64_t> {
      // The first load installs the shard's state; later ones add partitions
      // moved to this shard (the coordinator flips the map once they are in).
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "load"))
        return caf::result<std::uint64_t, std::uint64_t>{err};
      if (auto err = limits::check_partitions(partitions, count))
        return caf::result<std::uint64_t, std::uint64_t>{refuse(self, "load", describe(err))};
      if (st.partition_count != 0 && count != st.partition_count)
        return caf::result<std::uint64_t, std::uint64_t>{
          refuse(self, "load", "the partition count is " + std::to_string(st.partition_count))};
      if (epoch < st.epoch)
        return caf::result<std::uint64_t, std::uint64_t>{
          refuse(self, "load", "for map epoch " + std::to_string(epoch) + ", older than " +
                                 std::to_string(st.epoch))};
      auto rp = self->make_response_promise<std::uint64_t, std::uint64_t>();
      const bool first = !st.ready && st.held.empty();
      st.partition_count = count;
      st.incoming.insert(partitions.begin(), partitions.end());
      self->request(st.loader, load_timeout, snapshot_atom_v, partitions, count)
        .then(
          [=](const shard_snapshot_ptr& snap) mutable {
            land(self, std::move(*snap), partitions, epoch, first);
            self->state.ready = true;
            rp.deliver(std::uint64_t{self->state.data.user_count()},
                       std::uint64_t{self->state.data.item_count()});
          },
          [=](caf::error& err) mutable {
            auto& st = self->state;
            for (auto p : partitions)
              st.incoming.erase(p);
            std::erase_if(st.pending, [&](const pending_event& p) {
              return !st.is_incoming(p.user_side ? p.event.user : p.event.item);
            });
            rp.deliver(std::move(err));
          });
      return caf::result<std::uint64_t, std::uint64_t>{rp};
    },
    [=](drop_atom, const std::vector<std::uint32_t>& partitions,
        std::uint64_t epoch) -> caf::result<bool> {
      // The map of `epoch` gives these partitions to other shards. One loaded
      // for a later map, or loading now, stays; so does one the newest flip
      // gives to this shard (only partitions on standby are ever dropped).
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "drop"))
        return err;
      if (st.partition_count == 0)
        return true; // nothing loaded, nothing to drop
      if (auto err = limits::check_partitions(partitions, st.partition_count))
        return refuse(self, "drop", describe(err));
      std::vector<std::uint32_t> gone;
      for (auto p : partitions)
        if (auto it = st.held.find(p);
            it != st.held.end() && it->second <= epoch && st.standby.count(p) != 0) {
          gone.push_back(p);
          st.held.erase(it);
          st.standby.erase(p);
        }
      if (!gone.empty()) {
        st.data.drop(gone, st.partition_count);
        spdlog::info("dropped {} partitions moved away (map epoch {})", gone.size(), epoch);
        settle_memory(st, "after the drop");
      }
      return true;
    },
    [=](held_atom) -> caf::result<std::vector<std::uint32_t>> {
      // What this shard holds, for a (restarted) coordinator it joins.
      if (auto err = check_control(self, self->state.control, "held"))
        return err;
      return self->state.partitions();
    },
    [=](own_atom, std::vector<std::uint32_t> partitions, std::uint32_t count) -> caf::result<void> {
      // Jobs-only mode (`recd compute`): own the partitions without loading them.
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "own"))
        return err;
      if (auto err = limits::check_partitions(partitions, count))
        return refuse(self, "own", describe(err));
      if (st.ready || !st.incoming.empty())
        return refuse(self, "own", "a serving shard's partitions change by load and drop only");
      st.held.clear();
      for (auto p : partitions)
        st.held[p] = 0;
      st.partition_count = count;
      return caf::unit;
    },
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
        return refuse(self, "catalog", "1.." + std::to_string(limits::max_item_batch) +
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
      if (st.standby.empty())
        return timed(st.data.recall(req));
      // Seeds and owned items of standby partitions are another shard's to recall.
      std::erase_if(req.recent, [&](const recent_item& r) { return st.on_standby(r.item); });
      std::erase_if(req.similar, [&](const scored_user& u) { return st.on_standby(u.user); });
      // The routes that propose this shard's own items (vector, popular,
      // category) leave out standby ones while selecting their top: their new
      // owner proposes them (a candidate proposed twice would count twice in
      // the merge), and this shard still proposes as many of its own as a
      // shard without standby partitions would.
      return timed(st.data.recall(req, [&](item_id i) { return st.on_standby(i); }));
    },
    [=](details_atom, const std::vector<item_id>& items) -> caf::result<std::vector<item_details>> {
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
      if (auto* vec = st.data.item_embedding(i))
        return *vec;
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
      // User side of a committed event: kept for later if the user's
      // partition is loading here, refused if it is held elsewhere.
      auto& st = self->state;
      if (auto err = check_data(self, "apply"))
        return err;
      if (auto err = limits::check_event(e))
        return refuse(self, "apply", describe(err));
      if (item_vec.size() > limits::max_vector_dim)
        return refuse(self, "apply", "vector too long");
      if (st.is_incoming(e.user)) {
        if (st.pending.size() < max_pending)
          st.pending.push_back({e, id, std::move(item_vec), true});
        return std::uint64_t{0};
      }
      if (!st.holds(e.user))
        return st.not_held(e.user, "user");
      st.note_applied(id, true);
      auto version = st.data.apply_user(e, item_vec, id);
      if (version == 1)
        note_counts(st); // a new user
      return version;
    },
    [=](apply_item_atom, const behavior_event& e, std::int64_t id) -> caf::result<bool> {
      auto& st = self->state;
      if (auto err = check_data(self, "apply"))
        return err;
      if (auto err = limits::check_event(e))
        return refuse(self, "apply", describe(err));
      if (st.is_incoming(e.item)) {
        if (st.pending.size() < max_pending)
          st.pending.push_back({e, id, {}, false});
        return true;
      }
      if (!st.holds(e.item))
        return st.not_held(e.item, "item");
      st.note_applied(id, false);
      st.data.apply_item(e);
      return true;
    },
    // Batch ingestion: the same work as item_atom, apply_user_atom and
    // apply_item_atom, for many events in one message.
    [=](item_vectors_atom, const std::vector<item_id>& items) -> caf::result<item_vectors> {
      auto& st = self->state;
      if (auto err = check_data(self, "item_vecs"))
        return err;
      if (items.size() > limits::max_batch_events)
        return refuse(self, "item_vecs", "too many items");
      if (!st.ready)
        return make_error(ec::not_ready, "shard " + std::to_string(st.index) + " is loading");
      item_vectors out;
      for (auto i : items)
        if (st.holds(i))
          if (auto* vec = st.data.item_embedding(i)) {
            out.items.push_back(i);
            out.vectors.push_back(*vec);
          }
      return out;
    },
    [=](apply_users_atom, const applied_batch& batch) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      if (auto err = check_data(self, "apply_usrs"))
        return err;
      if (auto err = limits::check_applied_batch(batch))
        return refuse(self, "apply_usrs", describe(err));
      static const std::vector<float> no_vector;
      std::unordered_map<item_id, const std::vector<float>*> vector_of;
      for (std::size_t k = 0; k < batch.vectors.items.size(); ++k)
        vector_of.emplace(batch.vectors.items[k], &batch.vectors.vectors[k]);
      std::uint64_t applied = 0;
      bool new_user = false;
      for (std::size_t k = 0; k < batch.events.size(); ++k) {
        const auto& e = batch.events[k];
        auto found = vector_of.find(e.item);
        const auto& vec = found == vector_of.end() ? no_vector : *found->second;
        if (st.is_incoming(e.user)) {
          if (st.pending.size() < max_pending)
            st.pending.push_back({e, batch.ids[k], vec, true});
          ++applied;
        } else if (st.holds(e.user)) {
          st.note_applied(batch.ids[k], true);
          // With the row id, as single events: a first buy is remembered for
          // the co-buy pairs (also-bought) the API asks about next.
          new_user = st.data.apply_user(e, vec, batch.ids[k]) == 1 || new_user;
          ++applied;
        }
      }
      if (new_user)
        note_counts(st);
      return applied;
    },
    [=](apply_items_atom, const applied_batch& batch) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      if (auto err = check_data(self, "apply_itms"))
        return err;
      if (auto err = limits::check_applied_batch(batch))
        return refuse(self, "apply_itms", describe(err));
      std::uint64_t applied = 0;
      for (std::size_t k = 0; k < batch.events.size(); ++k) {
        const auto& e = batch.events[k];
        if (st.is_incoming(e.item)) {
          if (st.pending.size() < max_pending)
            st.pending.push_back({e, batch.ids[k], {}, false});
          ++applied;
        } else if (st.holds(e.item)) {
          st.note_applied(batch.ids[k], false);
          st.data.apply_item(e);
          ++applied;
        }
      }
      return applied;
    },
    // New items in the embedding space (actors/api_fold.cpp).
    [=](tastes_atom, const std::vector<user_id>& users) -> caf::result<taste_vectors> {
      auto& st = self->state;
      if (auto err = check_data(self, "tastes"))
        return err;
      if (auto err = limits::check_taste_users(users))
        return refuse(self, "tastes", describe(err));
      taste_vectors out;
      for (auto u : users)
        if (st.holds(u))
          if (const auto* taste = st.data.taste(u); taste != nullptr && !taste->empty()) {
            out.users.push_back(u);
            out.vectors.push_back(*taste);
          }
      return out;
    },
    [=](fold_items_atom, const item_folds& folds) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      if (auto err = check_data(self, "fold_items"))
        return err;
      if (auto err = limits::check_item_folds(folds))
        return refuse(self, "fold_items", describe(err));
      std::uint64_t folded = 0;
      for (std::size_t k = 0; k < folds.items.size(); ++k) {
        const auto i = folds.items[k];
        if (st.is_incoming(i)) {
          // Replayed after the load unless the snapshot holds the behavior
          // (its loader folded it then).
          if (st.pending.size() < max_pending) {
            behavior_event e{-1, i, folds.kinds[k], 0}; // no user: erasures skip it
            st.pending.push_back({e, folds.ids[k], folds.tastes[k], false, true});
            ++folded;
          }
        } else if (st.holds(i) && st.data.fold_item(i, folds.kinds[k], folds.tastes[k])) {
          ++folded;
        }
      }
      return folded;
    },
    [=](flip_atom, std::uint64_t epoch,
        const std::vector<std::uint32_t>& owned) -> caf::result<void> {
      // The map flipped to `epoch`, giving this shard `owned`: those are
      // recalled here from now on, other held ones only until their drop.
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "flip"))
        return err;
      if (!owned.empty() || st.partition_count != 0)
        if (auto err = limits::check_partitions(owned, st.partition_count))
          return refuse(self, "flip", describe(err));
      if (epoch < st.epoch)
        return refuse(self, "flip", "to epoch " + std::to_string(epoch) + ", older than " +
                                      std::to_string(st.epoch));
      st.epoch = epoch;
      std::set<std::uint32_t> mine(owned.begin(), owned.end());
      st.standby.clear();
      for (const auto& [p, loaded_for] : st.held)
        if (mine.count(p) == 0)
          st.standby.insert(p);
      // Every API node sent this shard the events of its new partitions since
      // before their snapshot was taken, so normally there is nothing more to
      // do; but an API node that missed the move announcement sent them to the
      // old owner only. Read back what landed partitions received since their
      // snapshots and apply what is not known here yet.
      if (st.landed.empty())
        return caf::unit;
      auto partitions = std::exchange(st.landed, {});
      auto since = std::exchange(st.landed_floor, -1);
      st.catching_up = true;
      self->request(st.loader, std::chrono::seconds{300}, tail_atom_v, partitions,
                    st.partition_count, since)
        .then(
          [=](const std::vector<std::int64_t>& ids, const std::vector<behavior_event>& events) {
            auto& st = self->state;
            st.catching_up = false;
            auto known_user = std::exchange(st.known_user, {});
            auto known_item = std::exchange(st.known_item, {});
            std::set<std::uint32_t> landed(partitions.begin(), partitions.end());
            auto in_landed = [&](std::int32_t id) {
              return landed.count(partition_of(id, st.partition_count)) != 0;
            };
            std::size_t late = 0;
            for (std::size_t k = 0; k < events.size(); ++k) {
              const auto& e = events[k];
              if (in_landed(e.user) && st.holds(e.user) && known_user.count(ids[k]) == 0) {
                auto* vec = st.data.item_embedding(e.item);
                st.data.apply_user(e, vec != nullptr ? *vec : std::vector<float>{}, ids[k]);
                ++late;
              }
              if (in_landed(e.item) && st.holds(e.item) && known_item.count(ids[k]) == 0) {
                st.data.apply_item(e);
                ++late;
              }
            }
            if (late > 0)
              spdlog::warn("applied {} event sides that reached only the old owner of a moved "
                           "partition", late);
          },
          [=](caf::error& err) {
            auto& st = self->state;
            st.catching_up = false;
            st.known_user.clear();
            st.known_item.clear();
            spdlog::warn("catching up moved partitions failed: {}", describe(err));
          });
      return caf::unit;
    },
    [=](reload_atom, job_kind kind) -> caf::result<bool> {
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "reload"))
        return err;
      if (auto err = limits::check_job_kind(kind))
        return refuse(self, "reload", describe(err));
      auto rp = self->make_response_promise<bool>();
      if (!st.ready) {
        rp.deliver(false); // the initial load reads the newest runs anyway
        return rp;
      }
      if (!feeds_recall(cfg, kind)) {
        rp.deliver(true); // a table recall does not read (recommend.*_neighbours)
        return rp;
      }
      // The loader answers with embeddings for embeddings and neighbours for
      // the similarity kinds (the other pointer is null).
      self->request(st.loader, load_timeout, read_run_atom_v, kind, st.partitions(),
                    st.partition_count)
        .then(
          [=](const neighbour_update_ptr& neighbours,
              const embedding_update_ptr& embeddings) mutable {
            auto& data = self->state.data;
            if (embeddings) {
              data.install(std::move(*embeddings));
              settle_memory(self->state, "embeddings installed");
            } else if (neighbours) {
              data.install(std::move(*neighbours));
              settle_memory(self->state, "neighbours installed");
            }
            rp.deliver(embeddings || neighbours);
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](bulk_atom, bulk_chunk& chunk) -> caf::result<bool> {
      if (auto err = check_control(self, self->state.control, "bulk"))
        return err;
      if (auto err = self->state.inbox.add(std::move(chunk), sender_node(self)))
        return refuse(self, "bulk", describe(err));
      return true;
    },
    [=](similarity_atom, const bulk_handle& task,
        const part_progress_sink& progress_to) -> caf::result<std::uint64_t, std::uint64_t> {
      // A similarity job: the task (graph and options) arrived in chunks.
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "similarity"))
        return caf::result<std::uint64_t, std::uint64_t>{err};
      // Before make_response_promise, which takes the sender out of the request.
      auto bytes = st.inbox.take(task, sender_node(self));
      auto rp = self->make_response_promise<std::uint64_t, std::uint64_t>();
      if (!bytes) {
        rp.deliver(bytes.error());
        return rp;
      }
      auto worker = spawn_similarity_worker(self->system(), st.url, self->address());
      self->request(worker, job_timeout, work_atom_v, std::move(*bytes), st.owned(),
                    st.partition_count, progress_to)
        .then(
          [=](std::uint64_t rows, std::uint64_t pairs) mutable {
            rp.deliver(rows, pairs);
            self->send_exit(worker, caf::exit_reason::user_shutdown);
          },
          [=](caf::error& err) mutable {
            rp.deliver(std::move(err));
            self->send_exit(worker, caf::exit_reason::user_shutdown);
          });
      return caf::result<std::uint64_t, std::uint64_t>{rp};
    },
    [=](embedding_atom, const bulk_handle& task) -> caf::result<embedding_worker_actor> {
      // An embedding run: the interactions arrived in chunks; a worker
      // decodes them and solves this shard's rows on request.
      auto& st = self->state;
      if (auto err = check_control(self, st.control, "embedding"))
        return err;
      auto bytes = st.inbox.take(task, sender_node(self));
      if (!bytes)
        return bytes.error();
      return spawn_embedding_worker(self->system(), std::move(*bytes), st.owned(),
                                    st.partition_count, st.control);
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
            rp.deliver(*self->state.data.relations(i, static_cast<std::size_t>(k), unix_now()));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](nearest_atom, const std::vector<float>& vec, std::int32_t k,
        const std::vector<item_id>& exclude) -> caf::result<std::vector<scored_item>> {
      auto& st = self->state;
      if (auto err = check_data(self, "nearest"))
        return err;
      if (auto err = limits::check_nearest(vec, k, exclude))
        return refuse(self, "nearest", describe(err));
      auto out = st.data.nearest(vec, static_cast<std::size_t>(k), exclude, unix_now());
      std::erase_if(out, [&](const scored_item& n) { return st.on_standby(n.item); });
      return out;
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
    [=](vectors_atom, const std::vector<item_id>& items) -> caf::result<std::vector<item_vector>> {
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
                        recommend_settings cfg) {
  return sys.spawn(shard, index, std::move(postgres_url), std::move(cfg));
}

} // namespace recd
