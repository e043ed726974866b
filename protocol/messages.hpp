#pragma once
// The message payloads of recd's actors, top to bottom in the order a request
// meets them. Every struct here is plain data with a 0.17-style `inspect`, so
// it can cross nodes (see interfaces.hpp for who accepts which, type_ids.hpp
// for the registration and tests/protocol_test.cpp for the round trips).
// Payloads that hold actor handles (partition_map, shard_join) live in
// interfaces.hpp, after the interfaces they name.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "engine/bipartite.hpp"
#include "engine/types.hpp"
#include "protocol/packed.hpp"

namespace recd {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, behavior_event& x) {
  return f(caf::meta::type_name("behavior_event"), x.user, x.item, x.kind, x.ts);
}

// ---- Serving: recommend --------------------------------------------------

// One item the user touched recently: the strongest kind seen and the latest time.
struct recent_item {
  item_id item = 0;
  behavior_kind kind = behavior_kind::view;
  unix_seconds ts = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recent_item& x) {
  return f(caf::meta::type_name("recent_item"), x.item, x.kind, x.ts);
}

struct scored_user {
  user_id user = 0;
  float score = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scored_user& x) {
  return f(caf::meta::type_name("scored_user"), x.user, x.score);
}

// What the user's shard knows about a user; step 1 of a recommendation.
struct user_context {
  user_id user = 0;
  bool known = false;                  // false: cold start, popular items only
  std::uint64_t version = 0;           // behaviors seen so far; guards cached answers
  std::vector<recent_item> recent;     // newest first, distinct items
  std::vector<item_id> bought;         // sorted; never recommended (bought items, and with
                                       // recommend.exclude_seen every remembered item)
  std::vector<scored_user> similar;    // most similar users first
  std::vector<float> vector;           // unit-length taste vector, empty if unknown
  std::uint64_t catalog_epoch = 0;     // the shard's catalog changes known; guards cached answers
  std::vector<std::string> categories; // the user's top categories, strongest first
  // What a request's exclude_seen choice needs (GET /api/recommend?exclude_seen=):
  // whether `bought` holds the remembered items too (the shard's
  // recommend.exclude_seen), the bought set alone when it does, and the
  // remembered items when it does not (both sorted; the other one empty).
  bool seen_in_bought = false;
  std::vector<item_id> purchased;
  std::vector<item_id> seen;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_context& x) {
  return f(caf::meta::type_name("user_context"), x.user, x.known, x.version, x.recent, x.bought,
           x.similar, x.vector, x.catalog_epoch, x.categories, x.seen_in_bought,
           x.purchased, x.seen);
}

// The filters of one recommend request beyond the seed's (docs/rules.md):
// GET /api/recommend/{user}?category=&exclude=&offset=&exclude_seen=.
// Bounded by limits::check_recommend_filter.
struct recommend_filter {
  std::string category;                // "" = any; else only items in this category
  std::vector<item_id> exclude;        // sorted, distinct: never proposed (e.g. the cart)
  std::int32_t offset = 0;             // the page starts after this many items
  std::int8_t exclude_seen = -1;       // -1: recommend.exclude_seen; 0 or 1: this request's
  // Whether the answer is the one of the unfiltered request (then it may be
  // served from and stored in the cache; the offset pages a cached list).
  bool narrows() const { return !category.empty() || !exclude.empty() || exclude_seen >= 0; }
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recommend_filter& x) {
  return f(caf::meta::type_name("recommend_filter"), x.category, x.exclude, x.offset,
           x.exclude_seen);
}

// The recall routes; the numeric values are part of the wire protocol.
// category: new arrivals and popular items of the user's top categories
// (candidate::because is the category's index in recall_request::categories).
enum class recall_route : std::uint8_t {
  user_cf = 0, item_cf = 1, vector = 2, popular = 3, category = 4 };
constexpr std::size_t recall_route_count = 5;
const char* to_string(recall_route r);

// Step 2: sent to every shard; each answers for the items and users it owns.
struct recall_request {
  user_id user = 0;
  std::vector<recent_item> recent;
  std::vector<scored_user> similar;
  std::vector<float> vector;
  std::int32_t per_route = 100;        // candidates per route per shard
  unix_seconds now = 0;
  std::vector<item_id> exclude;        // sorted; never proposed (the context's `bought`)
  std::vector<std::string> categories; // the user's top categories: the category route
  // "" = any; else the routes that propose owned items (popular, vector)
  // propose only items of this category (recommend_filter::category), so a
  // category page is filled; the API node filters the other routes' items.
  std::string only_category;
  // The partitions this shard recalls for (a bit per partition, 64 per word;
  // a missing word is all zero): only seeds, similar users and own items of
  // these. The API node names each partition once over its requests, so a
  // partition is recalled by one holder, whether its owner or (while the
  // owner is lost) a replica. Empty: the partitions the shard's last flip
  // gave it.
  std::vector<std::uint64_t> serve;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recall_request& x) {
  return f(caf::meta::type_name("recall_request"), x.user, x.recent, x.similar, x.vector,
           x.per_route, x.now, x.exclude, x.categories, x.only_category, x.serve);
}

// Whether `serve` (recall_request::serve's layout) names partition p.
inline bool serves_partition(const std::vector<std::uint64_t>& serve, std::uint32_t p) {
  const auto word = p / 64;
  return word < serve.size() && ((serve[word] >> (p % 64)) & 1U) != 0;
}

// One route's proposal of one item. `because` is the recent item (item_cf) or
// the similar user (user_cf) that contributed most; -1 when not applicable.
struct candidate {
  item_id item = 0;
  recall_route route = recall_route::popular;
  float score = 0;
  std::int32_t because = -1;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, candidate& x) {
  return f(caf::meta::type_name("candidate"), x.item, x.route, x.score, x.because);
}

// Step 3: what the response shows of an item, and the catalog metadata its
// owning shard serves it by (sql/005_catalog.sql). The seed-compatible answer
// shows the first five fields only. Bounded by limits::check_item_details.
struct item_details {
  item_id item = 0;
  std::string title;
  double price = 0;
  double rating = 0;
  std::int32_t sales = 0;
  std::vector<std::string> categories; // the shop's category names (items.categories)
  std::vector<std::string> labels;
  bool hidden = false;                 // never served while true
  unix_seconds available_from = 0;     // served from this time on; 0 = unbounded
  unix_seconds available_until = 0;    // served before this time; 0 = unbounded
  unix_seconds created = 0;            // items.created_at
  std::uint64_t epoch = 0;             // catalog epoch of its last API change (0: imported)
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_details& x) {
  return f(caf::meta::type_name("item_details"), x.item, x.title, x.price, x.rating, x.sales,
           x.categories, x.labels, x.hidden, x.available_from, x.available_until, x.created,
           x.epoch);
}

// What decides whether an item may be served, without the rest of its details
// (every shard keeps this for the items of every partition that have any
// restriction, so recall drops them wherever they are proposed).
struct serving_window {
  bool hidden = false;
  unix_seconds available_from = 0;     // 0 = unbounded
  unix_seconds available_until = 0;    // 0 = unbounded
  bool restricted() const { return hidden || available_from != 0 || available_until != 0; }
};
inline serving_window window_of(const item_details& d) {
  return {d.hidden, d.available_from, d.available_until};
}

// Whether an item may be served at `now`: not hidden and inside its
// availability window [available_from, available_until). The one place this
// is decided; every path that proposes or shows an item asks it.
inline bool servable(const serving_window& w, unix_seconds now) {
  return !w.hidden && (w.available_from == 0 || now >= w.available_from) &&
         (w.available_until == 0 || now < w.available_until);
}
inline bool servable(const item_details& d, unix_seconds now) { return servable(window_of(d), now); }

// ---- Catalog: item and user writes (PUT/PATCH/DELETE /api/items, /api/users) ----

enum class item_write_mode : std::uint8_t {
  put = 0,    // create or replace: every field as given (absent ones at their defaults)
  patch = 1,  // only the fields named in `fields`
  hide = 2,   // DELETE: hidden = true, history kept
};
// Bits of item_write::fields: which fields a patch changes.
constexpr std::uint32_t item_field_title = 1u << 0;
constexpr std::uint32_t item_field_price = 1u << 1;
constexpr std::uint32_t item_field_categories = 1u << 2;
constexpr std::uint32_t item_field_labels = 1u << 3;
constexpr std::uint32_t item_field_hidden = 1u << 4;
constexpr std::uint32_t item_field_from = 1u << 5;
constexpr std::uint32_t item_field_until = 1u << 6;
constexpr std::uint32_t item_field_all = (1u << 7) - 1;

// One item write; `item` holds the id and the fields' values (rating, sales,
// created and epoch are ignored: the database keeps or sets them).
struct item_write {
  item_write_mode mode = item_write_mode::put;
  std::uint32_t fields = 0;
  item_details item;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_write& x) {
  return f(caf::meta::type_name("item_write"), x.mode, x.fields, x.item);
}

// ---- Serving: item pages and sessions ----------------------------------------
// GET /api/items/{id}/similar and /also-bought, POST /api/recommend (sessions).

// An item with a score: a neighbour, a co-bought partner, a nearest vector.
struct scored_item {
  item_id item = 0;
  float score = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scored_item& x) {
  return f(caf::meta::type_name("scored_item"), x.item, x.score);
}

// What an item's owning shard knows of the item's relations.
struct item_relations {
  item_id item = 0;
  std::vector<scored_item> neighbours; // published item CF (recommend.item_neighbours), best first
  std::vector<scored_item> co_bought;  // live: distinct users who bought both, most first
  std::vector<float> embedding;        // unit length, or empty
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_relations& x) {
  return f(caf::meta::type_name("item_relations"), x.item, x.neighbours, x.co_bought,
           x.embedding);
}

// An item's unit embedding (a session's taste vector is folded from these).
struct item_vector {
  item_id item = 0;
  std::vector<float> vec;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_vector& x) {
  return f(caf::meta::type_name("item_vector"), x.item, x.vec);
}

// An item page's question to an API actor (validated by nodes/http_widgets).
struct item_query {
  item_id item = 0;
  std::int32_t limit = 10;
  std::string category;                // "" = any
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_query& x) {
  return f(caf::meta::type_name("item_query"), x.item, x.limit, x.category);
}

// A visitor's session (POST /api/recommend): recent items, no user id
// (user < 0) or a logged-in user's id whose history is merged in.
struct session_query {
  std::int32_t user = -1;              // < 0: anonymous
  std::vector<recent_item> items;      // as sent: at most limits::max_session_items
  std::int32_t limit = 50;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_query& x) {
  return f(caf::meta::type_name("session_query"), x.user, x.items, x.limit);
}

// ---- Cluster ------------------------------------------------------------------

// In a pushed partition map, a partition no live shard serves (yet).
constexpr std::uint32_t no_shard = 0xFFFFFFFF;

// ---- Offline jobs ----------------------------------------------------------

// item_similarity and user_similarity are the seed's tables (exact Jaccard
// and cosine, its definitions); item_weights (EASE) and user_neighbours (cosine
// over every behavior of the whole history) are what recall reads by default
// (recommend.item_neighbours / user_neighbours); embeddings are ALS factors.
enum class job_kind : std::uint8_t {
  item_similarity = 0,
  user_similarity = 1,
  embeddings = 2,
  item_weights = 3,
  user_neighbours = 4,
};
constexpr std::uint8_t job_kind_count = 5;
const char* to_string(job_kind k);
std::optional<job_kind> parse_job_kind(std::string_view name);
// The item side (rows = items) of a similarity kind; false for the user side.
inline bool item_side(job_kind k) {
  return k == job_kind::item_similarity || k == job_kind::item_weights;
}

// `similarity_task::measure` beyond engine::set_measure: EASE item-item
// weights (engine/ease.hpp) with L2 penalty `regularization`.
constexpr std::uint8_t ease_measure = 2;

// Similarity task for one shard: compute the rows of `graph` whose external id
// falls in a partition the shard owns, and COPY them into the run's staging
// table (store/job_tables.hpp: named by kind and run id, created by the job
// driver; no table name travels in a message).
struct similarity_task {
  std::int64_t run_id = 0;
  job_kind kind = job_kind::item_similarity;
  engine::bipartite graph;             // rows = items (or users), columns = users (or items)
  std::uint8_t measure = 0;            // engine::set_measure, or ease_measure
  std::int32_t min_common = 0;
  double min_score = 0;
  std::int32_t top_k = 0;
  double regularization = 0;           // EASE's lambda (ease_measure only)
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, similarity_task& x) {
  return f(caf::meta::type_name("similarity_task"), x.run_id, x.kind, x.graph, x.measure,
           x.min_common, x.min_score, x.top_k, x.regularization);
}

// Interaction data of an embedding run: dense user/item indices and weights.
struct embedding_task {
  std::int64_t run_id = 0;
  std::vector<user_id> users;          // dense index -> id, ascending
  std::vector<item_id> items;          // dense index -> id, ascending
  std::vector<std::uint32_t> u;        // triplets (u[k], i[k], w[k])
  std::vector<std::uint32_t> i;
  std::vector<float> w;
  std::int32_t dim = 32;
  double regularization = 0.05;
  double alpha = 10;
  std::int32_t cg_steps = 0; // 0: exact solves; > 0: CG steps per row (engine::als_options)
  // The shard reads its own cells (those of its users and of its items) in
  // the job driver's exported snapshot when `snapshot` is set; u, i and w are
  // then empty. The cells' weights as store::embedding_input_spec says.
  std::string snapshot;
  std::int64_t input_now = 0;          // the snapshot's now(), microseconds since the epoch
  std::int64_t window_since = 0;       // microseconds since the epoch; 0 = the whole history
  std::vector<double> kind_weights;    // view, click, cart, buy
  double half_life_days = 0;           // 0 = no decay
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, embedding_task& x) {
  return f(caf::meta::type_name("embedding_task"), x.run_id, packed(x.users), packed(x.items),
           packed(x.u), packed(x.i), packed(x.w),
           x.dim, x.regularization, x.alpha, x.cg_steps, x.snapshot, x.input_now, x.window_since,
           x.kind_weights, x.half_life_days);
}

// A block of factor rows: dense indices and row-major values (rows x dim).
struct factor_block {
  std::vector<std::uint32_t> rows;
  std::vector<float> values;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, factor_block& x) {
  return f(caf::meta::type_name("factor_block"), packed(x.rows), packed(x.values));
}

// Progress of a job part, sent by similarity workers to the job driver.
struct part_progress {
  std::int64_t run_id = 0;
  std::uint64_t done = 0;              // rows finished so far by this worker
  std::uint64_t pairs = 0;             // result rows written so far
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, part_progress& x) {
  return f(caf::meta::type_name("part_progress"), x.run_id, x.done, x.pairs);
}

// A piece of one shard's input rows in a similarity run's exchange
// (protocol/interfaces.hpp: pairs_sink): (row id, column id) pairs of the
// rows the sending shard read, at most limits::max_pair_batch of them. A
// shard's pieces go to each peer in order, one acknowledged request at a
// time (index 0, 1, ...), the last one marked `last`.
struct pair_batch {
  std::int64_t run_id = 0;
  std::uint32_t index = 0;
  bool last = false;
  std::vector<std::int32_t> rows;      // rows[k], cols[k] is one pair
  std::vector<std::int32_t> cols;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pair_batch& x) {
  return f(caf::meta::type_name("pair_batch"), x.run_id, x.index, x.last, packed(x.rows),
           packed(x.cols));
}

// Progress of a job run, sent by the job driver to whoever follows the run
// (`recd compute`, possibly on another node).
struct run_progress {
  job_kind kind = job_kind::item_similarity;
  std::uint64_t done = 0;              // input rows finished (or ALS half-steps)
  std::uint64_t total = 0;             // of this many
  std::uint64_t rows = 0;              // result rows written so far
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_progress& x) {
  return f(caf::meta::type_name("run_progress"), x.kind, x.done, x.total, x.rows);
}

// The outcome of one job run, as `recd compute` prints it.
struct job_summary {
  job_kind kind = job_kind::item_similarity;
  std::int64_t run_id = 0;
  std::uint64_t inputs = 0;            // rows computed (items, users or factors)
  std::uint64_t rows = 0;              // result rows published
  double seconds = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_summary& x) {
  return f(caf::meta::type_name("job_summary"), x.kind, x.run_id, x.inputs, x.rows, x.seconds);
}

// ---- Batch ingestion (POST /api/behaviors) ---------------------------------------

// Item embeddings an item's shard vouches for: `items[k]` is in its catalog
// with unit embedding `vectors[k]` (empty when it has none yet).
struct item_vectors {
  std::vector<item_id> items;
  std::vector<std::vector<float>> vectors;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_vectors& x) {
  return f(caf::meta::type_name("item_vectors"), x.items, x.vectors);
}

// One request's events on their way to the behavior writer. [local]
struct event_batch {
  std::vector<behavior_event> events;
  std::vector<std::string> event_ids;  // per event; "" = none
  std::vector<item_id> check_items;    // items no shard vouched for: the writer checks them
  std::int64_t deadline_ns = 0;        // steady_clock; still queued then: dropped unwritten
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_batch& x) {
  return f(caf::meta::type_name("event_batch"), x.events, x.event_ids, x.check_items,
           x.deadline_ns);
}

// The writer's answer: per event its row id (a repeat: the first row's) and
// whether this request stored it (1) or it was stored before (0).
struct batch_receipt {
  std::vector<std::int64_t> ids;
  std::vector<std::uint8_t> fresh;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_receipt& x) {
  return f(caf::meta::type_name("batch_receipt"), x.ids, x.fresh);
}

// Committed events for one shard to apply (user or item side): `ids[k]` is
// the row of `events[k]`; `vectors` holds the embeddings of the items of the
// user side (an item missing there folds nothing into the taste vector).
struct applied_batch {
  std::vector<behavior_event> events;
  std::vector<std::int64_t> ids;
  item_vectors vectors;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, applied_batch& x) {
  return f(caf::meta::type_name("applied_batch"), x.events, x.ids, x.vectors);
}

// ---- New items in the embedding space (actors/api_fold.cpp) ----------------------

// Users' unit taste vectors, as their shard holds them: `vectors[k]` is
// `users[k]`'s (users without one are left out).
struct taste_vectors {
  std::vector<user_id> users;
  std::vector<std::vector<float>> vectors;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, taste_vectors& x) {
  return f(caf::meta::type_name("taste_vectors"), x.users, x.vectors);
}

// Committed behaviors on items without a published embedding, each with its
// user's taste vector: the items' shards fold the tastes into the items'
// vectors, in order (ascending row ids), weighted by kind.
struct item_folds {
  std::vector<item_id> items;
  std::vector<behavior_kind> kinds;
  std::vector<std::int64_t> ids;            // behavior row ids
  std::vector<std::vector<float>> tastes;   // unit vectors
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_folds& x) {
  return f(caf::meta::type_name("item_folds"), x.items, x.kinds, x.ids, x.tastes);
}

} // namespace recd

namespace recd::engine {
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bipartite& x) {
  return f(caf::meta::type_name("bipartite"), packed(x.row_ids), packed(x.col_ids),
           packed(x.offsets), packed(x.cols));
}
} // namespace recd::engine
