#pragma once
// The in-memory state of one shard and the recall work done on it. Plain C++
// (no CAF), so it is unit-testable; actors/shard.cpp wraps it in an actor.
//
// A shard owns the users and items of its partitions: their recent history,
// bought sets, similarity neighbours, embeddings (in an HNSW index) and decayed
// popularity. Everything here is touched by the owning actor only.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <memory_resource>
#include <set>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/settings.hpp"
#include "engine/score_table.hpp"
#include "actors/held_table.hpp"
#include "actors/vector_index.hpp"
#include "protocol/messages.hpp"

namespace recd {

// One item of a user's history in 12 bytes (recent_item takes 16): the
// timestamp is kept whole, split in a low 32-bit and a high 16-bit half, so
// any time in +-2^47 s fits (PostgreSQL's timestamps and parse_timestamp's
// range do).
struct history_entry {
  item_id item = 0;
  std::uint32_t ts_low = 0;
  std::int16_t ts_high = 0;
  behavior_kind kind = behavior_kind::view;

  history_entry() = default;
  history_entry(item_id i, behavior_kind k, unix_seconds t)
    : item(i), ts_low(static_cast<std::uint32_t>(t)), ts_high(static_cast<std::int16_t>(t >> 32)),
      kind(k) {}
  unix_seconds ts() const { return static_cast<unix_seconds>(ts_high) * (unix_seconds{1} << 32) + ts_low; }
  recent_item recent() const { return {item, kind, ts()}; }
};
static_assert(sizeof(history_entry) == 12);

// A user's first buy of an item: the row id of its first buy event.
struct first_buy {
  item_id item = 0;
  std::int64_t row = 0;
};

// One co-buy partner of an item and how many distinct users bought both.
struct co_buy {
  item_id item = 0;
  std::uint32_t buyers = 0;
};

// Vectors here are built at their exact size (loads shrink them), since
// spare capacity times a million users is most of a node's memory. Records
// are allocator-aware: in a held_table, a record and its vectors take their
// partition's arena (actors/held_table.hpp); alone, the default heap. A field
// added here goes into both allocator constructors too.
using record_allocator = std::pmr::polymorphic_allocator<std::byte>;

struct user_record {
  using allocator_type = record_allocator;
  std::uint64_t version = 0;                 // behaviors seen (loaded + applied)
  std::pmr::vector<history_entry> history;   // distinct items, oldest first, capped
  std::pmr::vector<item_id> bought;          // sorted
  std::pmr::vector<scored_user> similar;     // best first, capped
  std::pmr::vector<float> vec;               // unit taste vector, or empty
  // The user's newest first buys (item, row id), oldest first, at most
  // co_bought_recent + 1: what a next first buy is paired with (also-bought).
  std::pmr::vector<first_buy> first_buys;

  user_record() = default;
  explicit user_record(const allocator_type& a)
    : history(a), bought(a), similar(a), vec(a), first_buys(a) {}
  user_record(const user_record& o, const allocator_type& a)
    : version(o.version), history(o.history, a), bought(o.bought, a), similar(o.similar, a),
      vec(o.vec, a), first_buys(o.first_buys, a) {}
  user_record(user_record&& o, const allocator_type& a)
    : version(o.version), history(std::move(o.history), a), bought(std::move(o.bought), a),
      similar(std::move(o.similar), a), vec(std::move(o.vec), a),
      first_buys(std::move(o.first_buys), a) {}
  user_record(const user_record&) = default;
  user_record(user_record&&) = default;
  user_record& operator=(const user_record&) = default;
  user_record& operator=(user_record&&) = default;
};

struct item_record {
  using allocator_type = record_allocator;
  // On the default heap (a protocol type): the title and category names
  // longer than 15 characters are outside the partition's arena.
  item_details details;
  std::pmr::vector<neighbour_item> neighbours; // best first, capped
  std::pmr::vector<float> embedding;           // unit length, or empty
  // The embedding was folded from the tastes of the item's buyers and
  // viewers (fold_item), not published by a job: it serves vector search and
  // item pages but feeds no user's taste, and the next published job replaces it.
  bool folded = false;
  double popularity = 0;                  // decayed weight, scaled to popularity_epoch
  // Live buy co-occurrence: most co-bought partners first, at most
  // recommend.co_bought_partners (actors/shard_widgets.cpp).
  std::pmr::vector<co_buy> co_bought;

  item_record() = default;
  explicit item_record(const allocator_type& a) : neighbours(a), embedding(a), co_bought(a) {}
  item_record(const item_record& o, const allocator_type& a)
    : details(o.details), neighbours(o.neighbours, a), embedding(o.embedding, a),
      folded(o.folded), popularity(o.popularity), co_bought(o.co_bought, a) {}
  item_record(item_record&& o, const allocator_type& a)
    : details(std::move(o.details)), neighbours(std::move(o.neighbours), a),
      embedding(std::move(o.embedding), a), folded(o.folded), popularity(o.popularity),
      co_bought(std::move(o.co_bought), a) {}
  item_record(const item_record&) = default;
  item_record(item_record&&) = default;
  item_record& operator=(const item_record&) = default;
  item_record& operator=(item_record&&) = default;
};

// Replaces `dst`'s elements with `src`'s in a block of their exact size, in
// dst's arena (the block it has if it is that size: a job's install over the
// previous run's lists of the same lengths takes no new block).
template <class T, class Range>
void assign_exact(std::pmr::vector<T>& dst, const Range& src) {
  const auto n = static_cast<std::size_t>(std::size(src));
  if (dst.capacity() != n) {
    dst.clear();
    dst.shrink_to_fit(); // its block goes back to its class first
    dst.reserve(n);
  }
  dst.assign(std::begin(src), std::end(src));
}

// Everything a shard serves from, as a loader builds it in one piece.
// Its users and items are held per partition (held_table: the loader makes
// them with the cluster's partition count), so a snapshot's partitions join
// a shard's state without a copy.
struct shard_snapshot {
  held_table<user_record> users;
  held_table<item_record> items;
  std::shared_ptr<vector_index> index;    // may be null (no embeddings yet)
  std::int64_t max_behavior_id = 0;       // events with a larger id came after the snapshot
  // Behavior ids are taken at INSERT but become visible at COMMIT, so an event
  // with an id up to max_behavior_id may still be missing from the snapshot.
  // The tail lists (sorted) the ids in (tail_floor, max_behavior_id] that ARE
  // in it, per side: user side (the user's partition is in the snapshot) and
  // item side. An event at or below tail_floor is taken to be in it: no write
  // stays uncommitted that long (see shard_loader).
  std::int64_t tail_floor = 0;
  std::vector<std::int64_t> tail_user_ids, tail_item_ids;
  bool contains(std::int64_t id, bool user_side) const {
    const auto& tail = user_side ? tail_user_ids : tail_item_ids;
    return id <= tail_floor ||
           (id <= max_behavior_id && std::binary_search(tail.begin(), tail.end(), id));
  }
  unix_seconds popularity_epoch = 0;      // item_record::popularity is relative to this time
  std::uint64_t catalog_epoch = 0;        // every catalog change up to this epoch is in it
  // The serving window of every restricted item of the catalog (all
  // partitions), with the catalog epoch of the item's last change.
  std::unordered_map<item_id, std::pair<serving_window, std::uint64_t>> restricted;
  // The categories of every item of the catalog that has any (all partitions).
  std::unordered_map<item_id, std::vector<std::string>> categories;
};

// Results of a published job run, loaded for the shard's partitions.
struct neighbour_update {
  job_kind kind = job_kind::item_similarity;
  std::unordered_map<std::int32_t, std::vector<neighbour_item>> rows; // id -> best first
};
struct embedding_update {
  std::unordered_map<item_id, std::vector<float>> items;  // unit vectors
  std::unordered_map<user_id, std::vector<float>> users;  // unit vectors
  std::shared_ptr<vector_index> index;
  // Items without a published embedding, folded from the published vectors
  // of their users (shard_loader's fold_unpublished): in `index` too.
  std::unordered_map<item_id, std::vector<float>> folded;
};

// Bytes held by a shard's state, per structure: what a shard node's resident
// memory is made of (logged after each load, drop and job install). Lists and
// tables in the partitions' arenas count the bytes they asked for (spare
// capacity shows; the size classes' rounding shows in arena_blocks); titles,
// on the heap, what malloc hands out (usable size plus its header).
struct state_footprint {
  std::size_t users = 0, items = 0;
  std::size_t user_table = 0;     // the id -> record table itself
  std::size_t history = 0, bought = 0, similar = 0, user_vectors = 0;
  std::size_t item_table = 0;
  std::size_t titles = 0, neighbours = 0, item_vectors = 0;
  std::size_t vector_index = 0;
  // Pages mapped by the held partitions' arenas (users' and items' records
  // and vectors, with the pools' rounding and free blocks): what the user
  // and item structures above cost, and what a drop hands back whole.
  std::size_t arenas = 0;
  std::size_t arena_blocks = 0; // of which in blocks in use (rounded to their size class)
  std::size_t total() const;
};
std::string describe(const state_footprint& f);

// A new arrival's score in the category route lies above every popularity
// (decayed behavior weights of one item stay far below it), so new arrivals
// come first and rank among themselves by popularity.
constexpr float new_arrival_score = 1e6f;

float behavior_weight(const recommend_settings& cfg, behavior_kind k);
// Scales v to unit length (an all-zero v becomes empty).
template <class Vector>
void normalize(Vector& v) {
  double norm = 0;
  for (float x : v)
    norm += double(x) * x;
  if (norm <= 0) {
    v.clear();
    return;
  }
  auto inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v)
    x *= inv;
}
// Folds an item into a unit taste vector, as a behavior of that weight does
// on the user's shard: an exponential moving average (a = min(0.1 x weight,
// 0.8)), back to unit length; an empty or other-sized taste becomes the item's.
template <class Vector>
void fold_taste(Vector& taste, const std::vector<float>& item_vec, float weight) {
  if (item_vec.empty())
    return;
  if (taste.size() != item_vec.size()) {
    taste.assign(item_vec.begin(), item_vec.end());
    return;
  }
  float a = std::min(0.1f * weight, 0.8f);
  for (std::size_t d = 0; d < item_vec.size(); ++d)
    taste[d] = (1 - a) * taste[d] + a * item_vec[d];
  normalize(taste);
}

class version_board;

class shard_state {
public:
  explicit shard_state(recommend_settings cfg);

  // Where this state reports the changes that invalidate cached answers
  // (actors/version_board.hpp): a user's version, or many users' at once
  // (the catalog epoch, the partitions held, an erased user). Null: none.
  void report_changes_to(std::shared_ptr<version_board> board) { board_ = std::move(board); }

  void install(shard_snapshot&& snap);
  // Adds the state of partitions this shard takes over (a move): popularity is
  // rescaled to this shard's epoch and the vector index rebuilt.
  void merge(shard_snapshot&& snap);
  // Forgets the users and items of partitions that moved away: their
  // arenas are unmapped whole. Returns the bytes the arenas had mapped.
  std::size_t drop(const std::vector<std::uint32_t>& partitions, std::uint32_t partition_count);
  void install(neighbour_update&& update);
  void install(embedding_update&& update);

  std::size_t user_count() const { return users_.size(); }
  state_footprint footprint() const;
  std::size_t item_count() const { return items_.size(); }
  bool owns_item(item_id i) const { return items_.count(i) != 0; }

  user_context context(user_id u, std::size_t recent, std::size_t similar) const;
  std::uint64_t version(user_id u) const;
  // `on_standby`, if set, names the held ids (items and users) of partitions
  // another shard recalls for (a move's grace, or a replica's partitions):
  // their seeds and similar users are skipped (every seed still sets the
  // recency origin, the same on every shard), and the routes that propose
  // this shard's own items (vector, category, popular) leave them out while
  // selecting their top, so each still proposes `per_route` items that this
  // shard serves. Each route's candidates are its best `per_route` (by score,
  // ties by item id); the item-CF and user-CF ones come in no particular
  // order (the API's merge does not need one).
  std::vector<candidate> recall(const recall_request& req,
                                const std::function<bool(item_id)>& on_standby = {});
  // Details of the owned items among `items` that are servable at `now`.
  std::vector<item_details> details(const std::vector<item_id>& items, unix_seconds now) const;

  // ---- Catalog ----
  // How many catalog changes this shard knows (epochs are consecutive: all
  // up to synced_epoch() and those pushed beyond it). It changes with every
  // change the shard learns, so cached answers are guarded by it.
  std::uint64_t catalog_epoch() const { return synced_epoch_ + ahead_.size(); }
  // Every catalog change up to this epoch is known here (the catalog poll
  // reads the changes after it).
  std::uint64_t synced_epoch() const { return synced_epoch_; }
  // The poll read every change up to `epoch` (and applied them).
  void synced_to(std::uint64_t epoch);
  // Forgets an erased user: its record and every mention as a similar user.
  void erase_user(user_id u, std::uint64_t epoch);
  // Whether an item of any partition may be served at `now`, as far as this
  // shard knows (its own items' details; other items' restrictions).
  bool servable_item(item_id i, unix_seconds now) const;
  // A catalog change committed at `epoch`: the item's new details (applied
  // if the shard owns it and holds an older version) and its serving window
  // (kept for every item); an owned item created after the load is added.
  // Returns false if it was already known.
  bool apply_catalog(const item_details& details, std::uint64_t epoch, bool owned);

  // The item's published unit embedding (empty if none, or if its vector
  // was folded: a folded vector feeds no taste); nullptr if the item is unknown.
  std::optional<std::vector<float>> item_embedding(item_id i) const;
  // The user's unit taste vector (empty if none); nullptr if the user is unknown.
  std::optional<std::vector<float>> taste(user_id u) const;
  // A committed behavior of `kind` on a held item without a published
  // embedding, by a user of unit taste `taste`: the taste is folded into the
  // item's vector as fold_taste folds an item into a taste (the first one
  // becomes it), and the item is added to or moved in the vector index.
  // False (nothing changed) for an item not held, one with a published
  // embedding, or a taste of another dimension than the index's.
  bool fold_item(item_id i, behavior_kind kind, const std::vector<float>& taste);
  // User side of a committed behavior: history, bought set, taste vector.
  std::uint64_t apply_user(const behavior_event& e, const std::vector<float>& item_vec);
  // Item side of a committed behavior: popularity and sales.
  void apply_item(const behavior_event& e);
  // Adds an item created after the snapshot (e.g. by an import while serving).
  void add_item(const item_details& details, const std::vector<float>& unit_embedding);

  // User side of a committed behavior with its row id: as above, and a first
  // buy of the item is remembered for also-bought pairing (first_buys).
  std::uint64_t apply_user(const behavior_event& e, const std::vector<float>& item_vec,
                           std::int64_t row);

  // Item pages and sessions (actors/shard_widgets.cpp).
  // The item's published neighbours and live co-buy partners (at most k
  // each, servable at `now`) and embedding; nullopt for an item not held here.
  std::optional<item_relations> relations(item_id item, std::size_t k, unix_seconds now) const;
  // At most k held items servable at `now` nearest to `unit_vector`, best
  // first, none in `exclude` (sorted).
  std::vector<scored_item> nearest(const std::vector<float>& unit_vector, std::size_t k,
                                   const std::vector<item_id>& exclude, unix_seconds now) const;
  // The items `user` first bought just before row `row`, newest first, if
  // `row` is the user's remembered first buy of `item`; else empty.
  std::vector<item_id> partners(user_id user, item_id item, std::int64_t row) const;
  // One more co-buyer of (item, p) and (p, item) for every partner p, on the
  // sides held here.
  void add_co_buys(item_id item, const std::vector<item_id>& partners);
  // The unit embeddings of the held items among `items` that have one.
  std::vector<item_vector> vectors(const std::vector<item_id>& items) const;

  // Raw popularity at `epoch`-relative scale for an event at ts.
  double popularity_gain(behavior_kind k, unix_seconds ts) const;

private:
  const std::vector<std::pair<item_id, double>>& popular_items();
  // A similar user's behavior as user-CF evidence: buy 1, cart 0.5, click and
  // view as configured (0 = ignored).
  float user_cf_weight(behavior_kind k) const;
  void rebuild_index();
  void holdings_changed();
  template <class Record>
  static void take(held_table<Record>& into, held_table<Record>&& from);
  // One more co-buyer of `partner` in `item`'s row (bounded: see shard_widgets.cpp).
  void count_co_buy(item_record& item, item_id partner);

  recommend_settings cfg_;
  score_table scratch_; // recall's accumulator, reused across requests
  // Recall's seeds (item CF) and similar users (user CF) held here, looked up
  // before any is summed, reused across requests.
  struct found_seed {
    const item_record* record;
    float weight;
    item_id item;
  };
  struct found_user {
    const user_record* record;
    float score;
    user_id user;
  };
  std::vector<found_seed> seeds_;
  std::vector<found_user> similar_;
  held_table<user_record> users_;
  held_table<item_record> items_;
  std::shared_ptr<vector_index> index_;
  std::shared_ptr<version_board> board_;
  void user_changed(user_id u);
  void all_changed();
  unix_seconds popularity_epoch_ = 0;
  // Catalog (sql/005_catalog.sql): the newest catalog epoch seen (loaded or
  // pushed), the newest loaded one (a push at or below it is in the
  // snapshot already), and the windows of restricted items of every partition.
  void note_epoch(std::uint64_t epoch);
  std::uint64_t synced_epoch_ = 0;
  std::set<std::uint64_t> ahead_;       // pushed epochs above synced_epoch_
  std::uint64_t loaded_epoch_ = 0;
  std::unordered_map<item_id, std::pair<serving_window, std::uint64_t>> restricted_;
  // The category route: category names interned per shard, every item's
  // categories (all partitions: a user's top categories come from its
  // history, whichever shard owns the items), and per category the owned
  // items by score (new arrivals first, then popularity), rebuilt like popular_.
  std::uint32_t intern(const std::string& name);
  void set_categories(item_id i, const std::vector<std::string>& names);
  std::vector<std::string> top_categories(const user_record& rec) const;
  const std::vector<std::pair<item_id, float>>* category_items(std::uint32_t category,
                                                                unix_seconds now);
  std::unordered_map<std::string, std::uint32_t> category_ids_;
  std::vector<std::string> category_names_;
  std::unordered_map<item_id, std::vector<std::uint32_t>> item_categories_;
  std::unordered_map<std::uint32_t, std::vector<std::pair<item_id, float>>> category_lists_;
  std::int64_t category_lists_built_at_ms_ = 0;
  bool category_lists_dirty_ = true;
  std::vector<std::pair<item_id, double>> popular_;   // cached, best first
  bool popular_dirty_ = true;
  std::int64_t popular_built_at_ms_ = 0;
};

// Updates a user's history with one event: the item moves to the newest end,
// keeping its strongest kind; the oldest items fall off beyond `cap`. The
// vector grows by a quarter at a time, never beyond cap + 1.
// (std::vector for the loader's scratch, std::pmr::vector in a record.)
template <class History>
void record_history(History& history, const behavior_event& e, std::size_t cap);

// A similarity row as a user's similar users, allocated at its exact size.
std::vector<scored_user> similar_users(const std::vector<neighbour_item>& row);

} // namespace recd
