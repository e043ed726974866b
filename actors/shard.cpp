#include "actors/shard.hpp"

#include <unordered_set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/embedding_worker.hpp"
#include "actors/shard_loader.hpp"
#include "actors/similarity_worker.hpp"
#include "protocol/errors.hpp"
#include "actors/unexpected.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

namespace {

constexpr auto load_timeout = std::chrono::seconds{7200};
constexpr auto job_timeout = std::chrono::seconds{86400};

struct pending_event {
  behavior_event event;
  std::int64_t id;
  std::vector<float> item_vec;
  bool user_side;
};

struct shard_actor_state {
  static inline const char* name = "shard";
  explicit shard_actor_state() : data(recommend_settings{}) {}
  std::uint32_t index = 0;
  std::string url;
  shard_state data;
  caf::actor loader;
  std::vector<std::uint32_t> partitions;
  std::uint32_t partition_count = 0;
  bool ready = false;
  bool loading = false;
  std::vector<pending_event> pending; // applied while loading
  // A move in progress: partitions gained since the last flip, the oldest
  // snapshot they were loaded from, and the events applied here since then.
  std::vector<std::uint32_t> moved;
  std::int64_t moved_since = -1;
  std::unordered_set<std::int64_t> applied_since_move;

  void note_applied(std::int64_t id) {
    if (!moved.empty())
      applied_since_move.insert(id);
  }

  void apply(const pending_event& p) {
    if (p.user_side)
      data.apply_user(p.event, p.item_vec);
    else
      data.apply_item(p.event);
  }
};

caf::behavior shard_actor(caf::stateful_actor<shard_actor_state>* self, std::uint32_t index,
                          std::string url, recommend_settings cfg) {
  self->set_default_handler(log_and_drop);
  auto& st = self->state;
  st.index = index;
  st.url = url;
  st.data = shard_state{cfg};
  st.loader = spawn_shard_loader(self->system(), url, cfg);
  self->link_to(st.loader);
  return {
    [=](load_atom, std::vector<std::uint32_t> partitions, std::uint32_t count) {
      // The first load installs the shard's state; later ones add partitions
      // moved to this shard (the coordinator flips the map once they are in).
      auto rp = self->make_response_promise<std::uint64_t, std::uint64_t>();
      auto& st = self->state;
      const bool first = !st.ready;
      st.partition_count = count;
      if (first) {
        st.partitions = partitions;
        st.loading = true;
      }
      self->request(st.loader, load_timeout, load_atom_v, partitions, count)
        .then(
          [=](const shard_snapshot_ptr& snap) mutable {
            auto& st = self->state;
            if (first) {
              auto max_id = snap->max_behavior_id;
              st.data.install(std::move(*snap));
              for (const auto& p : st.pending)
                if (p.id > max_id)
                  st.apply(p);
              st.pending.clear();
              st.loading = false;
              st.ready = true;
            } else {
              auto since = snap->max_behavior_id;
              st.data.merge(std::move(*snap));
              st.moved.insert(st.moved.end(), partitions.begin(), partitions.end());
              st.moved_since = st.moved_since < 0 ? since : std::min(st.moved_since, since);
              for (auto p : partitions)
                if (std::find(st.partitions.begin(), st.partitions.end(), p) == st.partitions.end())
                  st.partitions.push_back(p);
            }
            rp.deliver(std::uint64_t{st.data.user_count()}, std::uint64_t{st.data.item_count()});
          },
          [=](caf::error& err) mutable {
            if (first)
              self->state.loading = false;
            rp.deliver(std::move(err));
          });
      return rp;
    },
    [=](drop_atom, const std::vector<std::uint32_t>& partitions) {
      auto& st = self->state;
      st.data.drop(partitions, st.partition_count);
      std::erase_if(st.partitions, [&](std::uint32_t p) {
        return std::find(partitions.begin(), partitions.end(), p) != partitions.end();
      });
      return true;
    },
    [=](map_atom, std::vector<std::uint32_t> partitions, std::uint32_t count) {
      // Jobs-only mode (`recd compute`): own the partitions without loading them.
      self->state.partitions = std::move(partitions);
      self->state.partition_count = count;
    },
    [=](context_atom, user_id u, std::int32_t recent, std::int32_t similar) -> user_context {
      return self->state.data.context(u, static_cast<std::size_t>(recent),
                                      static_cast<std::size_t>(similar));
    },
    [=](version_atom, user_id u) -> std::uint64_t { return self->state.data.version(u); },
    [=](ready_atom) { return self->state.ready; },
    [=](recall_atom, const recall_request& req) -> std::vector<candidate> {
      return self->state.data.recall(req);
    },
    [=](details_atom, const std::vector<item_id>& items) -> std::vector<item_details> {
      return self->state.data.details(items);
    },
    [=](item_atom, item_id i) -> caf::result<std::vector<float>> {
      if (!self->state.ready)
        return make_error(ec::not_ready, "shard " + std::to_string(self->state.index) + " is loading");
      if (auto* vec = self->state.data.item_embedding(i))
        return *vec;
      // Not in memory: the catalog may have grown since the load (an import
      // while serving). Ask the database once, through the loader.
      auto rp = self->make_response_promise<std::vector<float>>();
      self->request(self->state.loader, std::chrono::seconds{5}, item_atom_v, i)
        .then(
          [=](const item_details& details, std::vector<float> embedding) mutable {
            self->state.data.add_item(details, embedding);
            rp.deliver(std::move(embedding));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](apply_atom, const behavior_event& e, std::int64_t id,
        std::vector<float> item_vec) -> std::uint64_t {
      auto& st = self->state;
      if (st.loading) {
        st.pending.push_back({e, id, std::move(item_vec), true});
        return 0;
      }
      st.note_applied(id);
      return st.data.apply_user(e, item_vec);
    },
    [=](apply_atom, const behavior_event& e, std::int64_t id) -> bool {
      auto& st = self->state;
      if (st.loading) {
        st.pending.push_back({e, id, {}, false});
        return true;
      }
      st.note_applied(id);
      st.data.apply_item(e);
      return true;
    },
    [=](apply_atom, std::vector<std::uint32_t> flipped) {
      // The map flipped: behaviors that reached the old owners between this
      // shard's snapshot and the flip are read back and applied here.
      auto& st = self->state;
      if (st.moved.empty())
        return;
      auto partitions = std::exchange(st.moved, {});
      auto since = std::exchange(st.moved_since, -1);
      auto seen = std::exchange(st.applied_since_move, {});
      (void)flipped;
      self->request(st.loader, std::chrono::seconds{300}, apply_atom_v, partitions,
                    st.partition_count, since)
        .then(
          [=](const std::vector<std::int64_t>& ids, const std::vector<behavior_event>& events) {
            auto& st = self->state;
            auto in_moved = [&](std::int32_t id) {
              return std::find(partitions.begin(), partitions.end(),
                               partition_of(id, st.partition_count)) != partitions.end();
            };
            for (std::size_t k = 0; k < events.size(); ++k) {
              if (seen.count(ids[k]) != 0)
                continue;
              const auto& e = events[k];
              if (in_moved(e.user)) {
                auto* vec = st.data.item_embedding(e.item);
                st.data.apply_user(e, vec != nullptr ? *vec : std::vector<float>{});
              }
              if (in_moved(e.item))
                st.data.apply_item(e);
            }
          },
          [=](caf::error& err) {
            spdlog::warn("catching up moved partitions failed: {}", describe(err));
          });
    },
    [=](reload_atom, job_kind kind) {
      auto rp = self->make_response_promise<bool>();
      auto& st = self->state;
      if (!st.ready) {
        rp.deliver(false); // the initial load reads the newest runs anyway
        return rp;
      }
      // The loader answers with an embedding_update_ptr for embeddings and a
      // neighbour_update_ptr for the similarity kinds.
      auto req = self->request(st.loader, load_timeout, reload_atom_v, kind, st.partitions,
                               st.partition_count);
      auto failed = [=](caf::error& err) mutable { rp.deliver(std::move(err)); };
      if (kind == job_kind::embeddings)
        req.then(
          [=](const embedding_update_ptr& update) mutable {
            self->state.data.install(std::move(*update));
            rp.deliver(true);
          },
          failed);
      else
        req.then(
          [=](const neighbour_update_ptr& update) mutable {
            self->state.data.install(std::move(*update));
            rp.deliver(true);
          },
          failed);
      return rp;
    },
    [=](job_atom, similarity_task& task, const caf::actor& progress_to) {
      auto rp = self->make_response_promise<std::uint64_t, std::uint64_t>();
      auto& st = self->state;
      auto worker = spawn_similarity_worker(self->system(), st.url);
      self->request(worker, job_timeout, job_atom_v, std::move(task), st.partitions,
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
      return rp;
    },
    [=](job_atom, embedding_task& task) -> caf::result<caf::actor> {
      auto& st = self->state;
      return spawn_embedding_worker(self->system(), std::move(task), st.partitions,
                                    st.partition_count);
    },
    [=](stats_atom) -> caf::result<std::uint64_t, std::uint64_t> {
      return {std::uint64_t{self->state.data.user_count()},
              std::uint64_t{self->state.data.item_count()}};
    },
  };
}

} // namespace

caf::actor spawn_shard(caf::actor_system& sys, std::uint32_t index, std::string postgres_url,
                       recommend_settings cfg) {
  return sys.spawn(shard_actor, index, std::move(postgres_url), std::move(cfg));
}

} // namespace recd
