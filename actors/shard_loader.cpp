#include "actors/census.hpp"
#include "actors/shard_loader.hpp"

#include "actors/trust.hpp"
#include "protocol/limits.hpp"

#include <algorithm>
#include <cstdlib>

#include <sys/resource.h>
#include <unistd.h>

#include <caf/all.hpp>

#include "actors/unexpected.hpp"
#include "protocol/type_ids.hpp"
#include "store/co_bought.hpp"
#include "store/catalog.hpp"
#include "store/database.hpp"
#include "store/partition_reads.hpp"
#include "store/taste_folds.hpp"

namespace recd {

std::vector<float> parse_float_array(std::string_view text) {
  std::vector<float> out;
  if (text.size() < 2 || text.front() != '{')
    return out;
  std::string buf{text.substr(1, text.size() - 2)};
  // One allocation at the final size: vectors are held per user and item.
  out.reserve(static_cast<std::size_t>(std::count(buf.begin(), buf.end(), ',')) + 1);
  const char* p = buf.c_str();
  while (*p != '\0') {
    char* end = nullptr;
    float v = std::strtof(p, &end);
    if (end == p)
      break;
    out.push_back(v);
    p = end;
    if (*p == ',')
      ++p;
  }
  return out;
}

namespace {

// How far below a snapshot's newest id a write may still have been uncommitted
// when the snapshot was taken. A behavior write commits within the writer's
// 10 s deadline; 200,000 ids is 10 s at 20,000 writes/s.
constexpr std::int64_t snapshot_tail_ids = 200'000;

// Similar users kept per user: only the best recommend.similar_users are ever
// asked for (user CF seeds), so keeping the job's whole top_k (100 by
// default) would spend memory on the largest per-user structure for nothing.
std::size_t similar_user_cap(const recommend_settings& cfg) {
  return static_cast<std::size_t>(std::max(std::min(cfg.neighbours, cfg.similar_users), 1));
}

// The job kind whose table recall reads on one side (settings are validated;
// anything else falls back to the default).
job_kind neighbour_source(const recommend_settings& cfg, bool items) {
  auto kind = parse_job_kind(items ? cfg.item_neighbours : cfg.user_neighbours);
  if (kind && kind != job_kind::embeddings && item_side(*kind) == items)
    return *kind;
  return items ? job_kind::item_weights : job_kind::user_neighbours;
}

// Hands `row_done` each row's best `cap` of kind's published rows of the
// partitions (store::read_similarity_rows: by row id, then score desc). Rows
// are gathered in one scratch vector and copied once at their exact size:
// growing each row in place left freed blocks of every size between the rows
// kept, which malloc cannot return to the system (a quarter of a shard
// node's memory).
template <class RowDone>
void read_neighbours(pqxx::transaction_base& tx, job_kind kind,
                     const std::vector<std::uint32_t>& partitions, std::uint32_t count,
                     std::size_t cap, RowDone&& row_done) {
  std::vector<neighbour_item> row;
  std::int32_t current = 0;
  store::read_similarity_rows(tx, kind, partitions, count,
                              [&](std::int32_t id, std::int32_t other, float score) {
                                if (id != current && !row.empty()) {
                                  row_done(current, row);
                                  row.clear();
                                }
                                current = id;
                                if (row.size() < cap)
                                  row.push_back({other, score});
                              });
  if (!row.empty())
    row_done(current, row);
}

// The same rows as a map (a reload's update), each at its exact size.
std::unordered_map<std::int32_t, std::vector<neighbour_item>>
read_neighbour_rows(pqxx::transaction_base& tx, job_kind kind,
                    const std::vector<std::uint32_t>& partitions, std::uint32_t count,
                    std::size_t cap) {
  std::unordered_map<std::int32_t, std::vector<neighbour_item>> rows;
  read_neighbours(tx, kind, partitions, count, cap,
                  [&](std::int32_t id, const std::vector<neighbour_item>& row) {
                    rows[id] = row; // a copy: exact size
                  });
  return rows;
}

void read_embeddings(pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions,
                     std::uint32_t count, embedding_update& out) {
  // Unit vectors of the partitions' items, then of their users, in id order
  // (the vector index is built in this order, so the same vectors give the
  // same index in every database).
  for (auto* target : {&out.items, &out.users}) {
    const bool items = target == &out.items;
    const auto side = items ? store::catalog_side::items : store::catalog_side::users;
    store::read_published_embeddings(tx, side, partitions, count,
                                     [&](std::int32_t id, std::string_view text) {
                                       auto v = parse_float_array(text);
                                       normalize(v);
                                       if (!v.empty())
                                         (*target)[id] = std::move(v);
                                     });
  }
  std::int32_t dim = 0;
  for (const auto& [id, v] : out.items) {
    dim = static_cast<std::int32_t>(v.size());
    break;
  }
  if (dim > 0) {
    out.index = std::make_shared<vector_index>(dim, out.items.size());
    for (const auto& [id, v] : out.items)
      if (static_cast<std::int32_t>(v.size()) == dim)
        out.index->add(id, v);
  }
}

// The vectors of the partitions' items without a published embedding, as
// the live path folds them (shard_state::fold_item): the published vectors of
// the users who behaved on them, in row-id order (rows up to max_row; all if
// negative). Tastes of another dimension than `dim` (when known) are skipped.
// Users' live tastes are not in the database, so a user whose taste moved
// since its published vector (or who has none) counts here as published.
std::unordered_map<item_id, std::vector<float>>
fold_unpublished(pqxx::transaction_base& tx, const std::vector<std::uint32_t>& partitions,
                 std::uint32_t count, std::int64_t max_row, std::int32_t dim,
                 const recommend_settings& cfg) {
  std::unordered_map<item_id, std::vector<float>> out;
  std::unordered_map<user_id, std::vector<float>> tastes;
  store::read_unpublished_behaviors(
    tx, partitions, count, max_row,
    [&](item_id item, behavior_kind kind, user_id user, std::string_view embedding) {
      auto [t, fresh] = tastes.try_emplace(user);
      if (fresh) {
        t->second = parse_float_array(embedding);
        normalize(t->second);
      }
      const auto& taste = t->second;
      if (taste.empty() || (dim > 0 && taste.size() != static_cast<std::size_t>(dim)))
        return;
      fold_taste(out[item], taste, behavior_weight(cfg, kind));
    });
  return out;
}

// Adds folded vectors to an update's index (made if it has none).
void index_folded(const std::unordered_map<item_id, std::vector<float>>& folded,
                  std::shared_ptr<vector_index>& index) {
  for (const auto& [id, v] : folded) {
    if (!index)
      index = std::make_shared<vector_index>(static_cast<std::int32_t>(v.size()), folded.size());
    if (v.size() == static_cast<std::size_t>(index->dim()))
      index->add(id, v);
  }
}

// A user's first buys for also-bought pairing: each item's first buy row,
// the newest co_bought_recent + 1 of them, oldest first (see
// shard_state::apply_user with a row id).
std::vector<first_buy> newest_first_buys(std::vector<first_buy>& buys,
                                         const recommend_settings& cfg) {
  if (buys.empty())
    return {};
  std::sort(buys.begin(), buys.end(), [](const first_buy& a, const first_buy& b) {
    return a.item != b.item ? a.item < b.item : a.row < b.row;
  });
  buys.erase(std::unique(buys.begin(), buys.end(),
                         [](const first_buy& a, const first_buy& b) { return a.item == b.item; }),
             buys.end());
  std::sort(buys.begin(), buys.end(),
            [](const first_buy& a, const first_buy& b) { return a.row < b.row; });
  auto keep = std::min(buys.size(), static_cast<std::size_t>(std::max(cfg.co_bought_recent, 1)) + 1);
  return {buys.end() - static_cast<long>(keep), buys.end()};
}

caf::expected<shard_snapshot_ptr> load_all(pqxx::connection& c,
                                           const std::vector<std::uint32_t>& partitions,
                                           std::uint32_t count, const recommend_settings& cfg) {
  auto snap = std::make_shared<shard_snapshot>();
  // Each partition's users and items in their own arenas (held_table).
  snap->users = held_table<user_record>(count);
  snap->items = held_table<item_record>(count);
  auto err = store::guard([&] {
    store::read_in_one_snapshot(c, [&](pqxx::transaction_base& tx) {
      auto head = store::read_behavior_head(tx);
      snap->max_behavior_id = head.max_id;
      snap->popularity_epoch = head.now;
      // The ids near the top that this snapshot holds (see shard_snapshot::tail_floor).
      snap->tail_floor = std::max<std::int64_t>(0, snap->max_behavior_id - snapshot_tail_ids);
      store::read_tail_owners(tx, snap->tail_floor, partitions, count,
                              [&](std::int64_t id, bool user_owned, bool item_owned) {
                                if (user_owned)
                                  snap->tail_user_ids.push_back(id);
                                if (item_owned)
                                  snap->tail_item_ids.push_back(id);
                              });
      // Items: catalog details and metadata (store/catalog.hpp), and the
      // catalog epoch this snapshot holds every change up to.
      snap->catalog_epoch = store::read_catalog_epoch(tx);
      store::read_partition_items(tx, partitions, count, [&](item_details&& details) {
        snap->items[details.item].details = std::move(details);
      });
      snap->restricted = store::read_restricted(tx);
      snap->categories = store::read_item_categories(tx);
      // Item neighbours of the published run of the configured table.
      auto cap = static_cast<std::size_t>(std::max(cfg.neighbours, 1));
      read_neighbours(tx, neighbour_source(cfg, true), partitions, count, cap,
                      [&](std::int32_t id, const std::vector<neighbour_item>& row) {
                        if (auto it = snap->items.find(id); it != snap->items.end())
                          assign_exact(it->second.neighbours, row);
                      });
      // Decayed popularity at the snapshot's popularity_epoch (whole seconds,
      // exactly: partitions loaded at other times are rescaled from it, so the
      // decay must not be taken from now()'s fraction of a second), over the
      // last 90 days.
      store::read_item_popularity(tx, partitions, count, cfg, snap->popularity_epoch,
                                  [&](item_id item, double popularity) {
                                    if (auto it = snap->items.find(item); it != snap->items.end())
                                      it->second.popularity = popularity;
                                  });
      // Users: history, bought set and version, replayed in time order. Rows
      // come user by user: each user's history is replayed in one scratch
      // vector and copied once at its exact size (see read_neighbours).
      auto history_cap = static_cast<std::size_t>(std::max(cfg.history_items, 1));
      user_record* user = nullptr;
      std::vector<history_entry> history;
      std::vector<item_id> bought;
      std::vector<first_buy> buys; // every buy (item, row id) of the user
      auto user_done = [&] {
        if (user == nullptr)
          return;
        user->history.assign(history.begin(), history.end());
        std::sort(bought.begin(), bought.end());
        bought.erase(std::unique(bought.begin(), bought.end()), bought.end());
        user->bought.assign(bought.begin(), bought.end());
        assign_exact(user->first_buys, newest_first_buys(buys, cfg));
        history.clear();
        bought.clear();
        buys.clear();
      };
      user_id current = 0;
      store::read_user_histories(tx, partitions, count, snap->max_behavior_id,
                                 [&](const behavior_event& e, std::int64_t row) {
                                   if (user == nullptr || e.user != current) {
                                     user_done();
                                     user = &snap->users[e.user];
                                     current = e.user;
                                   }
                                   ++user->version;
                                   record_history(history, e, history_cap);
                                   if (e.kind == behavior_kind::buy) {
                                     bought.push_back(e.item);
                                     buys.push_back({e.item, row});
                                   }
                                 });
      user_done();
      // Also-bought: the partitions' items' co-buy counts (store/co_bought.hpp).
      store::read_co_bought(tx, partitions, count, snap->max_behavior_id, cfg.co_bought_recent,
                            cfg.co_bought_partners,
                            [&](item_id item, item_id partner, std::uint32_t buyers) {
                              if (auto it = snap->items.find(item); it != snap->items.end())
                                it->second.co_bought.push_back({partner, buyers});
                            });
      read_neighbours(tx, neighbour_source(cfg, false), partitions, count, similar_user_cap(cfg),
                      [&](std::int32_t id, const std::vector<neighbour_item>& row) {
                        assign_exact(snap->users[id].similar, similar_users(row));
                      });
      embedding_update emb;
      read_embeddings(tx, partitions, count, emb);
      for (auto& [id, v] : emb.items)
        if (auto it = snap->items.find(id); it != snap->items.end())
          assign_exact(it->second.embedding, v);
      for (auto& [id, v] : emb.users)
        if (auto it = snap->users.find(id); it != snap->users.end())
          assign_exact(it->second.vec, v);
      // Items without a published embedding: folded from their users' published
      // vectors, as the live path did (store/taste_folds.hpp).
      auto folded = fold_unpublished(tx, partitions, count, snap->max_behavior_id,
                                     emb.index ? emb.index->dim() : 0, cfg);
      index_folded(folded, emb.index);
      for (auto& [id, v] : folded)
        if (auto it = snap->items.find(id); it != snap->items.end()) {
          assign_exact(it->second.embedding, v);
          it->second.folded = true;
        }
      snap->index = std::move(emb.index);
    });
  });
  if (err)
    return err;
  return snap;
}

// A loader's reads are background work: a reload competes with the requests
// this node serves and with the job runs its workers compute, and both matter
// more than how soon a published run is served (its rows are hours old by
// design). So the loader's own thread runs at this nice value; Linux sets
// nice per thread. An idle node loads as fast as before. Its PostgreSQL
// backend keeps its own priority.
constexpr int loader_nice = 10;

void lower_own_priority() {
  thread_local bool done = false;
  if (done)
    return;
  done = true;
  // Best effort: a node that may not lower it (a seccomp profile) loads at
  // the priority it has.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), loader_nice);
}

struct shard_loader_state {
  static inline const char* name = "shard_loader";
  recommend_settings cfg;
  store::lazy_connection conn{""};
};

shard_loader_actor::behavior_type
shard_loader(shard_loader_actor::stateful_pointer<shard_loader_state> self, std::string url,
             recommend_settings cfg, caf::actor_addr parent) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->state.conn = store::lazy_connection{std::move(url)};
  self->state.cfg = std::move(cfg);
  return {
    [=](snapshot_atom, const std::vector<std::uint32_t>& partitions,
        std::uint32_t count) -> caf::result<shard_snapshot_ptr> {
      if (auto err = check_from(self, parent, "snapshot"))
        return err;
      if (auto err = limits::check_partitions(partitions, count))
        return err;
      lower_own_priority();
      auto conn = self->state.conn.get();
      if (!conn)
        return conn.error();
      auto snap = load_all(**conn, partitions, count, self->state.cfg);
      if (!snap) {
        self->state.conn.reset();
        return snap.error();
      }
      return *snap;
    },
    [=](lookup_atom, item_id i) -> caf::result<item_details, std::vector<float>> {
      if (auto err = check_from(self, parent, "lookup"))
        return err;
      lower_own_priority();
      auto conn = self->state.conn.get();
      if (!conn)
        return conn.error();
      std::optional<store::item_with_embedding> found;
      auto err = store::guard([&] { found = store::find_item_with_embedding(**conn, i); });
      if (err) {
        self->state.conn.reset();
        return err;
      }
      if (!found)
        return make_error(ec::not_found, "unknown item_id " + std::to_string(i));
      auto embedding = parse_float_array(found->embedding);
      normalize(embedding);
      return {std::move(found->details), std::move(embedding)};
    },
    [=](catalog_since_atom, std::uint64_t since)
      -> caf::result<std::vector<item_details>, std::vector<user_id>, std::uint64_t> {
      // The shard's catalog poll: the changes a push did not bring.
      using result = caf::result<std::vector<item_details>, std::vector<user_id>, std::uint64_t>;
      if (auto err = check_from(self, parent, "catalog_since"))
        return result{err};
      lower_own_priority();
      auto conn = self->state.conn.get();
      if (!conn)
        return result{conn.error()};
      store::catalog_changes changes;
      auto err = store::guard([&] { changes = store::read_changes_since(**conn, since); });
      if (err) {
        self->state.conn.reset();
        return result{err};
      }
      return result{std::move(changes.items), std::move(changes.erased), changes.epoch};
    },
    [=](tail_atom, const std::vector<std::uint32_t>& partitions, std::uint32_t count,
        std::int64_t since) -> caf::result<std::vector<std::int64_t>, std::vector<behavior_event>> {
      // Behaviors of these partitions committed after `since` (a move's snapshot).
      if (auto err = check_from(self, parent, "tail"))
        return err;
      if (auto err = limits::check_partitions(partitions, count))
        return err;
      lower_own_priority();
      auto conn = self->state.conn.get();
      if (!conn)
        return conn.error();
      store::behavior_tail tail;
      auto err = store::guard(
        [&] { tail = store::read_behaviors_after(**conn, since, partitions, count); });
      if (err) {
        self->state.conn.reset();
        return err;
      }
      return {std::move(tail.ids), std::move(tail.events)};
    },
    [=](read_run_atom, job_kind kind, const std::vector<std::uint32_t>& partitions,
        std::uint32_t count) -> caf::result<neighbour_update_ptr, embedding_update_ptr> {
      if (auto err = check_from(self, parent, "read_run"))
        return err;
      if (auto err = limits::check_partitions(partitions, count))
        return err;
      if (auto err = limits::check_job_kind(kind))
        return err;
      lower_own_priority();
      auto conn = self->state.conn.get();
      if (!conn)
        return conn.error();
      auto cap = static_cast<std::size_t>(std::max(self->state.cfg.neighbours, 1));
      neighbour_update_ptr neighbours;
      embedding_update_ptr embeddings;
      auto err = store::guard([&] {
        store::read_in_one_snapshot(**conn, [&](pqxx::transaction_base& tx) {
          if (kind == job_kind::embeddings) {
            auto update = std::make_shared<embedding_update>();
            read_embeddings(tx, partitions, count, *update);
            // The new run's vectors replace the folded ones; items it left
            // out are folded again from its users' vectors.
            update->folded = fold_unpublished(tx, partitions, count, -1,
                                              update->index ? update->index->dim() : 0,
                                              self->state.cfg);
            index_folded(update->folded, update->index);
            embeddings = std::move(update);
          } else {
            // The side's configured table, whichever kind was published (the
            // shard asks only for kinds that feed recall: feeds_recall).
            const bool items = item_side(kind);
            auto source = neighbour_source(self->state.cfg, items);
            auto update = std::make_shared<neighbour_update>();
            update->kind = source;
            update->rows = read_neighbour_rows(tx, source, partitions, count,
                                               items ? cap : similar_user_cap(self->state.cfg));
            neighbours = std::move(update);
          }
        });
      });
      if (err) {
        self->state.conn.reset();
        return err;
      }
      return {std::move(neighbours), std::move(embeddings)};
    },
  };
}

} // namespace

shard_loader_actor spawn_shard_loader(caf::actor_system& sys, std::string postgres_url,
                              recommend_settings cfg, caf::actor_addr parent) {
  return sys.spawn<caf::detached>(shard_loader, std::move(postgres_url), std::move(cfg),
                                  std::move(parent));
}

bool feeds_recall(const recommend_settings& cfg, job_kind kind) {
  if (kind == job_kind::embeddings)
    return true;
  return neighbour_source(cfg, item_side(kind)) == kind;
}

caf::expected<shard_snapshot_ptr> load_snapshot(const std::string& postgres_url,
                                                const std::vector<std::uint32_t>& partitions,
                                                std::uint32_t partition_count,
                                                const recommend_settings& cfg) {
  auto c = store::connect(postgres_url);
  if (!c)
    return c.error();
  return load_all(**c, partitions, partition_count, cfg);
}

} // namespace recd
