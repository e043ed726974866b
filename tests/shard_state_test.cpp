// The shard's in-memory state: history bookkeeping, real-time application of
// events, and what each recall route proposes.
#include <bit>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "actors/shard_state.hpp"

namespace recd {
namespace {

item_record item(item_id id, std::vector<neighbour_item> neighbours = {}, double popularity = 0,
                 std::vector<float> embedding = {}) {
  item_record r;
  r.details.item = id;
  r.details.title = "item " + std::to_string(id);
  r.details.price = 1.0;
  r.details.rating = 4.0;
  r.neighbours.assign(neighbours.begin(), neighbours.end());
  r.popularity = popularity;
  r.embedding.assign(embedding.begin(), embedding.end());
  return r;
}

shard_state make_state(recommend_settings cfg = {}) {
  shard_snapshot snap;
  snap.popularity_epoch = 1000;
  snap.items[1] = item(1, {{2, 0.5f}, {3, 0.25f}}, 5, {1, 0});
  snap.items[2] = item(2, {{1, 0.5f}}, 1, {0.6f, 0.8f});
  snap.items[3] = item(3, {}, 9, {0, 1});
  snap.index = std::make_shared<vector_index>(2, 8);
  for (auto id : {1, 2, 3})
    snap.index->add(id, snap.items[id].embedding);
  auto& u = snap.users[7];
  u.version = 2;
  u.history = {{3, behavior_kind::buy, 900}, {1, behavior_kind::cart, 950}};
  u.bought = {3};
  shard_state st{cfg};
  st.install(std::move(snap));
  return st;
}

// One route's candidates, best first (ties by item id): recall gives the CF
// routes' in no particular order.
std::vector<candidate> of_route(const std::vector<candidate>& all, recall_route r) {
  std::vector<candidate> out;
  for (const auto& c : all)
    if (c.route == r)
      out.push_back(c);
  std::stable_sort(out.begin(), out.end(), [](const candidate& x, const candidate& y) {
    return x.score != y.score ? x.score > y.score : x.item < y.item;
  });
  return out;
}

TEST(shard_state, history_keeps_the_strongest_kind_and_the_newest_time_per_item) {
  std::vector<history_entry> h;
  record_history(h, {1, 10, behavior_kind::buy, 100}, 3);
  record_history(h, {1, 11, behavior_kind::view, 200}, 3);
  record_history(h, {1, 10, behavior_kind::view, 300}, 3);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.back().item, 10);
  EXPECT_EQ(h.back().kind, behavior_kind::buy);
  EXPECT_EQ(h.back().ts(), 300);
  record_history(h, {1, 12, behavior_kind::view, 400}, 3);
  record_history(h, {1, 13, behavior_kind::view, 500}, 3);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h.front().item, 10); // 11 was the oldest and fell off
}

TEST(shard_state, a_history_entry_keeps_any_storable_timestamp_whole) {
  // 0001-01-01, before 1970, the 32-bit boundaries, 9999-12-31 and PostgreSQL's
  // largest timestamp (year 294276).
  for (unix_seconds ts : {unix_seconds{-62135596800}, unix_seconds{-1}, unix_seconds{0},
                          unix_seconds{2147483647}, unix_seconds{4294967296},
                          unix_seconds{1714564800}, unix_seconds{253402300799},
                          unix_seconds{9224318015999}}) {
    history_entry h{42, behavior_kind::cart, ts};
    EXPECT_EQ(h.ts(), ts);
    EXPECT_EQ(h.item, 42);
    EXPECT_EQ(h.kind, behavior_kind::cart);
    auto r = h.recent();
    EXPECT_EQ(r.ts, ts);
    EXPECT_EQ(r.item, 42);
  }
}

TEST(shard_state, a_full_history_never_holds_more_than_one_spare_entry) {
  std::vector<history_entry> h;
  for (item_id i = 0; i < 1000; ++i) {
    record_history(h, {1, i, behavior_kind::view, 100 + i}, 200);
    ASSERT_LE(h.capacity(), 201u);
  }
  ASSERT_EQ(h.size(), 200u);
  EXPECT_EQ(h.front().item, 800);
  EXPECT_EQ(h.back().item, 999);
  // An event older than every kept one falls off at once.
  record_history(h, {1, 5000, behavior_kind::buy, 1}, 200);
  EXPECT_EQ(h.front().item, 800);
  EXPECT_EQ(h.size(), 200u);
}

TEST(shard_state, the_footprint_counts_each_structure_of_the_state) {
  auto st = make_state();
  auto f = st.footprint();
  EXPECT_EQ(f.users, 1u);
  EXPECT_EQ(f.items, 3u);
  EXPECT_GE(f.history, 2 * sizeof(history_entry));
  EXPECT_GE(f.bought, sizeof(item_id));
  EXPECT_EQ(f.similar, 0u);
  EXPECT_GE(f.neighbours, 3 * sizeof(neighbour_item));
  EXPECT_GE(f.item_vectors, 6 * sizeof(float));
  EXPECT_GT(f.vector_index, 0u);
  EXPECT_GT(f.user_table, 0u);
  EXPECT_EQ(f.total(), f.user_table + f.history + f.bought + f.similar + f.user_vectors +
                         f.item_table + f.titles + f.neighbours + f.item_vectors + f.vector_index);
  EXPECT_NE(describe(f).find("1 users, 3 items"), std::string::npos);
}

TEST(shard_state, similar_users_of_a_published_run_are_held_at_their_exact_size) {
  auto st = make_state();
  neighbour_update up;
  up.kind = job_kind::user_similarity;
  for (user_id u = 100; u < 133; ++u)
    up.rows[7].push_back({u, 1.0f / float(u)});
  up.rows[9] = {{7, 0.5f}}; // a user with no behavior loaded
  st.install(std::move(up));
  auto ctx = st.context(7, 10, 50);
  ASSERT_EQ(ctx.similar.size(), 33u);
  EXPECT_EQ(ctx.similar[0].user, 100);
  EXPECT_FLOAT_EQ(ctx.similar[0].score, 0.01f);
  // Exact sizes: 33 for user 7, 1 for user 9 (the bytes asked of the arena).
  EXPECT_EQ(st.footprint().similar, 34 * sizeof(scored_user));
  EXPECT_EQ(st.context(9, 10, 50).similar.size(), 1u);
}

TEST(shard_state, context_lists_recent_items_newest_first_and_the_bought_set) {
  recommend_settings cfg;
  cfg.exclude_seen = 0; // the bought set alone (the default adds every remembered item)
  auto st = make_state(cfg);
  auto ctx = st.context(7, 10, 10);
  EXPECT_TRUE(ctx.known);
  EXPECT_EQ(ctx.version, 2u);
  ASSERT_EQ(ctx.recent.size(), 2u);
  EXPECT_EQ(ctx.recent[0].item, 1);
  EXPECT_EQ(ctx.bought, (std::vector<item_id>{3}));
  EXPECT_FALSE(st.context(99, 10, 10).known);
}

TEST(shard_state, item_cf_proposes_neighbours_of_recent_items_and_names_the_seed) {
  auto st = make_state();
  recall_request req;
  req.recent = {{1, behavior_kind::view, 1000}};
  req.now = 1000;
  auto cf = of_route(st.recall(req), recall_route::item_cf);
  ASSERT_EQ(cf.size(), 2u);
  EXPECT_EQ(cf[0].item, 2);
  EXPECT_EQ(cf[0].because, 1);
  EXPECT_GT(cf[0].score, cf[1].score);
}

TEST(shard_state, item_cf_weighs_seeds_by_age_from_the_users_newest_one_not_from_now) {
  // A history decades old with a 30-day half-life: decayed from now, every
  // seed would underflow to 0 and item CF would go silent.
  recommend_settings cfg;
  cfg.recency_half_life_days = 30;
  auto st = make_state(cfg);
  recall_request req;
  req.recent = {{1, behavior_kind::view, 1000}};
  req.now = 1000;
  auto fresh = of_route(st.recall(req), recall_route::item_cf);
  req.now = 1000 + std::int64_t{200} * 365 * 86400;
  auto old = of_route(st.recall(req), recall_route::item_cf);
  ASSERT_EQ(old.size(), fresh.size());
  ASSERT_FALSE(old.empty());
  for (std::size_t k = 0; k < old.size(); ++k) {
    EXPECT_EQ(old[k].item, fresh[k].item);
    EXPECT_FLOAT_EQ(old[k].score, fresh[k].score);
  }
}

TEST(shard_state, user_cf_proposes_what_similar_users_bought_or_carted) {
  auto st = make_state();
  recall_request req;
  req.similar = {{7, 0.8f}};
  req.now = 1000;
  auto cf = of_route(st.recall(req), recall_route::user_cf);
  ASSERT_EQ(cf.size(), 2u);
  EXPECT_EQ(cf[0].item, 3); // bought: full weight
  EXPECT_FLOAT_EQ(cf[0].score, 0.8f);
  EXPECT_FLOAT_EQ(cf[1].score, 0.4f); // carted: half
  EXPECT_EQ(cf[0].because, 7);
}

TEST(shard_state, user_cf_counts_similar_users_clicks_and_views_as_configured) {
  recommend_settings cfg;
  cfg.user_cf_click_weight = 0.25;
  cfg.user_cf_view_weight = 0;
  auto st = make_state(cfg);
  behavior_event click{7, 2, behavior_kind::click, 990};
  behavior_event view{7, 4, behavior_kind::view, 995};
  st.apply_user(click, {});
  st.apply_user(view, {});
  recall_request req;
  req.similar = {{7, 0.8f}};
  req.now = 1000;
  auto cf = of_route(st.recall(req), recall_route::user_cf);
  ASSERT_EQ(cf.size(), 3u) << "bought 3, carted 1, clicked 2; the view counts 0";
  EXPECT_EQ(cf[2].item, 2);
  EXPECT_FLOAT_EQ(cf[2].score, 0.2f); // 0.8 x 0.25
}

TEST(shard_state, recall_never_proposes_an_excluded_item_on_any_route) {
  auto st = make_state();
  recall_request req;
  req.recent = {{1, behavior_kind::cart, 990}};
  req.similar = {{7, 0.8f}};
  req.vector = {0.6f, 0.8f};
  req.now = 1000;
  req.exclude = {2, 3};
  for (const auto& c : st.recall(req))
    EXPECT_EQ(c.item, 1) << "route " << to_string(c.route) << " proposed " << c.item;
  req.exclude.clear();
  EXPECT_FALSE(of_route(st.recall(req), recall_route::item_cf).empty());
}

TEST(shard_state, exclude_seen_puts_every_remembered_item_in_the_never_recommend_set) {
  // On by default (docs/quality.md); 0 keeps only bought items out.
  EXPECT_EQ(make_state().context(7, 10, 10).bought, (std::vector<item_id>{1, 3}));
  recommend_settings cfg;
  cfg.exclude_seen = 0;
  EXPECT_EQ(make_state(cfg).context(7, 10, 10).bought, std::vector<item_id>{3});
}

TEST(shard_state, vector_route_returns_the_nearest_items_by_cosine) {
  auto st = make_state();
  recall_request req;
  req.vector = {0, 1};
  req.now = 1000;
  auto v = of_route(st.recall(req), recall_route::vector);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v[0].item, 3);
  EXPECT_NEAR(v[0].score, 1.0, 1e-5);
}

TEST(shard_state, popular_route_ranks_by_popularity_decayed_to_the_request_time) {
  auto st = make_state();
  recall_request req;
  req.now = 1000;
  auto pop = of_route(st.recall(req), recall_route::popular);
  ASSERT_EQ(pop.size(), 3u);
  EXPECT_EQ(pop[0].item, 3);
  // A week later the same scores are halved (7-day half-life).
  req.now = 1000 + 7 * 86400;
  auto later = of_route(st.recall(req), recall_route::popular);
  EXPECT_NEAR(later[0].score, pop[0].score / 2, 1e-4);
}

TEST(shard_state, standby_items_leave_the_own_item_routes_before_their_top_is_taken) {
  // Items 1 and 3 are on standby (a move's grace): with per_route 1, the
  // vector and popular routes still propose one item this shard serves,
  // item 2, not nothing (their best items overall are 3).
  auto st = make_state();
  recall_request req;
  req.vector = {0, 1};
  req.now = 1000;
  req.per_route = 1;
  auto standby = [](item_id i) { return i == 1 || i == 3; };
  auto all = st.recall(req, standby);
  auto v = of_route(all, recall_route::vector);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].item, 2);
  auto pop = of_route(all, recall_route::popular);
  ASSERT_EQ(pop.size(), 1u);
  EXPECT_EQ(pop[0].item, 2);
  // Without standby partitions the same request proposes item 3 on both.
  auto plain = st.recall(req);
  EXPECT_EQ(of_route(plain, recall_route::vector).at(0).item, 3);
  EXPECT_EQ(of_route(plain, recall_route::popular).at(0).item, 3);
}

TEST(shard_state, a_standby_seed_is_skipped_but_still_sets_the_recency_origin) {
  // Seeds 1 (old) and 2 (new): on a shard where 2 is on standby, item CF
  // counts seed 1 only, weighed by its age from seed 2, exactly as on a
  // shard that does not hold item 2 at all, so that the shards' partial
  // sums add up to the one-shard score.
  recommend_settings cfg;
  cfg.recency_half_life_days = 1;
  auto st = make_state(cfg);
  recall_request req;
  req.recent = {{1, behavior_kind::view, 1000}, {2, behavior_kind::view, 1000 + 86400}};
  req.now = 1000 + 86400;
  auto standby = [](item_id i) { return i == 2; };
  auto skipped = of_route(st.recall(req, standby), recall_route::item_cf);
  // The same seeds on a state without item 2: its seed is simply not held.
  shard_snapshot snap;
  snap.items[1] = item(1, {{2, 0.5f}, {3, 0.25f}});
  shard_state without{cfg};
  without.install(std::move(snap));
  auto reference = of_route(without.recall(req), recall_route::item_cf);
  ASSERT_EQ(skipped.size(), reference.size());
  ASSERT_FALSE(skipped.empty());
  for (std::size_t k = 0; k < skipped.size(); ++k) {
    EXPECT_EQ(skipped[k].item, reference[k].item);
    EXPECT_FLOAT_EQ(skipped[k].score, reference[k].score) << "item " << skipped[k].item;
  }
  // One half-life old: seed 1 counts half (its neighbour 3 scores 0.25 / 2).
  bool saw_3 = false;
  for (const auto& c : skipped)
    if (c.item == 3) {
      saw_3 = true;
      EXPECT_NEAR(c.score, 0.125f * behavior_weight(cfg, behavior_kind::view), 1e-6);
    }
  EXPECT_TRUE(saw_3);
}

TEST(shard_state, items_without_recent_behavior_still_rank_as_popular_by_sales) {
  shard_snapshot snap;
  snap.popularity_epoch = 1000;
  snap.items[1] = item(1);
  snap.items[1].details.sales = 5;
  snap.items[2] = item(2);
  snap.items[2].details.sales = 50;
  snap.items[3] = item(3); // never sold, never seen: not popular
  shard_state st{recommend_settings{}};
  st.install(std::move(snap));
  recall_request req;
  req.now = 1000;
  auto pop = of_route(st.recall(req), recall_route::popular);
  ASSERT_EQ(pop.size(), 2u);
  EXPECT_EQ(pop[0].item, 2);
  EXPECT_GT(pop[1].score, 0);
}

TEST(shard_state, applying_a_buy_updates_history_bought_set_version_and_taste_vector) {
  recommend_settings cfg;
  cfg.exclude_seen = 0; // the bought set alone
  auto st = make_state(cfg);
  auto v = st.apply_user({7, 2, behavior_kind::buy, 1100}, {0.6f, 0.8f});
  EXPECT_EQ(v, 3u);
  auto ctx = st.context(7, 10, 10);
  EXPECT_EQ(ctx.recent[0].item, 2);
  EXPECT_EQ(ctx.bought, (std::vector<item_id>{2, 3}));
  ASSERT_EQ(ctx.vector.size(), 2u); // first vector: the item's own
  EXPECT_FLOAT_EQ(ctx.vector[1], 0.8f);
  // A new user is created by its first event.
  EXPECT_EQ(st.apply_user({8, 1, behavior_kind::view, 1100}, {}), 1u);
  EXPECT_TRUE(st.context(8, 10, 10).known);
}

TEST(shard_state, a_newly_published_neighbour_run_replaces_the_old_lists) {
  auto st = make_state();
  neighbour_update up;
  up.kind = job_kind::item_similarity;
  up.rows[1] = {{3, 0.9f}};
  st.install(std::move(up));
  recall_request req;
  req.recent = {{1, behavior_kind::view, 1000}};
  req.now = 1000;
  auto cf = of_route(st.recall(req), recall_route::item_cf);
  ASSERT_EQ(cf.size(), 1u);
  EXPECT_EQ(cf[0].item, 3);
}

} // namespace
} // namespace recd

namespace recd {
namespace {

bool proposes(const std::vector<candidate>& all, item_id item) {
  for (const auto& c : all)
    if (c.item == item)
      return true;
  return false;
}

TEST(shard_state, a_hidden_or_unavailable_item_is_proposed_by_no_route_and_shown_by_no_details) {
  auto st = make_state();
  recall_request req;
  req.user = 7;
  req.recent = {{1, behavior_kind::cart, 950}};
  req.vector = {1, 0};
  req.per_route = 10;
  req.now = 1000;
  ASSERT_TRUE(proposes(st.recall(req), 2));
  ASSERT_EQ(st.details({2}, 1000).size(), 1u);
  // Item 2 is hidden at catalog epoch 1: no route proposes it, no details show it.
  auto hidden = st.details({2}, 1000)[0];
  hidden.hidden = true;
  EXPECT_TRUE(st.apply_catalog(hidden, 1, true));
  EXPECT_FALSE(proposes(st.recall(req), 2));
  EXPECT_TRUE(st.details({2}, 1000).empty());
  EXPECT_EQ(st.catalog_epoch(), 1u);
  // A late push of an older change does not undo it.
  auto older = hidden;
  older.hidden = false;
  EXPECT_FALSE(st.apply_catalog(older, 1, true));
  EXPECT_FALSE(proposes(st.recall(req), 2));
  // Shown again, but only from time 2000 on: not at 1000, yes at 2000.
  auto later = hidden;
  later.hidden = false;
  later.available_from = 2000;
  EXPECT_TRUE(st.apply_catalog(later, 2, true));
  EXPECT_FALSE(proposes(st.recall(req), 2));
  req.now = 2000;
  EXPECT_TRUE(proposes(st.recall(req), 2));
  EXPECT_EQ(st.details({2}, 2000).size(), 1u);
  // An item another shard owns (99) is known as unservable here too, so
  // item CF and user CF (which propose other shards' items) drop it.
  item_details foreign;
  foreign.item = 99;
  foreign.hidden = true;
  EXPECT_TRUE(st.servable_item(99, 2000));
  EXPECT_TRUE(st.apply_catalog(foreign, 3, false));
  EXPECT_FALSE(st.servable_item(99, 2000));
  EXPECT_TRUE(st.details({99}, 2000).empty());
  EXPECT_EQ(st.catalog_epoch(), 3u);
}

TEST(shard_state, an_owned_item_created_after_the_load_is_added) {
  auto st = make_state();
  item_details fresh{42, "new", 3.5, 0, 0, {"shoes"}, {}, false, 0, 0, 1000, 0};
  EXPECT_TRUE(st.apply_catalog(fresh, 1, true));
  ASSERT_EQ(st.details({42}, 1000).size(), 1u);
  EXPECT_EQ(st.details({42}, 1000)[0].categories, (std::vector<std::string>{"shoes"}));
  item_details elsewhere{43, "other", 1, 0, 0, {}, {}, false, 0, 0, 1000, 0};
  st.apply_catalog(elsewhere, 2, false);
  EXPECT_TRUE(st.details({43}, 1000).empty()); // another shard's item
}

TEST(shard_state, the_context_tells_the_bought_set_and_the_seen_items_apart_for_a_request) {
  // exclude_seen on (the default): bought holds both, purchased the bought items alone.
  auto on = make_state().context(7, 10, 10);
  EXPECT_TRUE(on.seen_in_bought);
  EXPECT_EQ(on.bought, (std::vector<item_id>{1, 3}));
  EXPECT_EQ(on.purchased, std::vector<item_id>{3});
  EXPECT_TRUE(on.seen.empty());
  // Off: bought is the bought set, seen every remembered item.
  recommend_settings cfg;
  cfg.exclude_seen = 0;
  auto off = make_state(cfg).context(7, 10, 10);
  EXPECT_FALSE(off.seen_in_bought);
  EXPECT_EQ(off.bought, std::vector<item_id>{3});
  EXPECT_EQ(off.seen, (std::vector<item_id>{1, 3}));
  EXPECT_TRUE(off.purchased.empty());
}

TEST(shard_state, a_category_page_gets_every_owned_item_of_the_category_and_no_other_owned_item) {
  shard_snapshot snap;
  snap.popularity_epoch = 1000;
  for (item_id id = 1; id <= 6; ++id) {
    snap.items[id] = item(id, {}, id <= 3 ? 10.0 * id : 0);
    snap.items[id].details.categories = {id % 2 == 0 ? "even" : "odd"};
  }
  // Item 1's neighbours: an owned "even" item and another shard's item 99.
  snap.items[1].neighbours = {{2, 0.9f}, {3, 0.8f}, {99, 0.7f}};
  shard_state st{recommend_settings{}};
  st.install(std::move(snap));
  recall_request req;
  req.now = 1000;
  req.recent = {{1, behavior_kind::view, 990}};
  req.only_category = "even";
  auto all = st.recall(req);
  auto popular = of_route(all, recall_route::popular);
  // 2, 4 and 6, new items without popularity or sales last.
  ASSERT_EQ(popular.size(), 3u);
  EXPECT_EQ(popular[0].item, 2);
  for (const auto& c : popular)
    EXPECT_EQ(c.item % 2, 0) << c.item;
  std::vector<item_id> cf;
  for (const auto& c : of_route(all, recall_route::item_cf))
    cf.push_back(c.item);
  // Owned items of another category are left out; another shard's item is the API's to judge.
  EXPECT_EQ(cf, (std::vector<item_id>{2, 99}));
  req.only_category.clear();
  EXPECT_EQ(of_route(st.recall(req), recall_route::item_cf).size(), 3u);
}

} // namespace
} // namespace recd

// Selection: what recall and the vector index keep must be exactly the best
// by score, then by item id, whatever shortcut finds them.
namespace recd {
namespace {

std::vector<float> unit_vector(std::mt19937& rng, std::size_t dim) {
  std::normal_distribution<float> normal;
  std::vector<float> v(dim);
  for (auto& x : v)
    x = normal(rng);
  normalize(v);
  return v;
}

TEST(shard_state, the_vector_index_answers_the_exact_nearest_items_best_first) {
  // Dimensions that do and do not fill the scan's 16-component steps.
  for (std::size_t dim : {32u, 21u, 7u}) {
  SCOPED_TRACE("dimension " + std::to_string(dim));
  std::mt19937 rng{5};
  constexpr std::size_t count = 3000;
  std::vector<std::vector<float>> vectors;
  vector_index index{static_cast<std::int32_t>(dim), count};
  for (std::size_t i = 0; i < count; ++i) {
    vectors.push_back(unit_vector(rng, dim));
    index.add(static_cast<item_id>(i + 1), vectors.back());
  }
  // A duplicate: two items at the same cosine rank by item id.
  index.add(static_cast<item_id>(count + 1), vectors[0]);
  vectors.push_back(vectors[0]);
  for (int q = 0; q < 5; ++q) {
    auto query = q == 0 ? vectors[0] : unit_vector(rng, dim);
    std::vector<neighbour_item> all;
    for (std::size_t i = 0; i < vectors.size(); ++i) {
      double dot = 0;
      for (std::size_t d = 0; d < dim; ++d)
        dot += double(query[d]) * vectors[i][d];
      all.push_back({static_cast<item_id>(i + 1), static_cast<float>(dot)});
    }
    std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) {
      return x.score != y.score ? x.score > y.score : x.item < y.item;
    });
    for (std::size_t k : {1u, 10u, 250u}) {
      auto found = index.nearest(query, k);
      ASSERT_EQ(found.size(), k);
      for (std::size_t i = 0; i < k; ++i) {
        EXPECT_NEAR(found[i].score, all[i].score, 1e-5);
        // Cosines this close may come out in either order from float sums.
        if (i + 1 < k && std::abs(all[i].score - all[i + 1].score) > 1e-5 &&
            (i == 0 || std::abs(all[i].score - all[i - 1].score) > 1e-5)) {
          EXPECT_EQ(found[i].item, all[i].item) << "query " << q << ", rank " << i;
        }
      }
    }
    if (q == 0) { // the query itself and its duplicate, in item order
      auto top = index.nearest(query, 2);
      EXPECT_EQ(top[0].item, 1);
      EXPECT_EQ(top[1].item, static_cast<item_id>(count + 1));
    }
  }
  EXPECT_EQ(index.nearest(vectors[1], count + 10).size(), count + 1);
  }
}

TEST(shard_state, a_route_keeps_its_best_k_items_by_score_then_item_id) {
  // One seed with 400 neighbours whose weights repeat (ties at every cut):
  // item 1000 + j weighs (j % 37) + 1.
  shard_snapshot snap;
  std::vector<neighbour_item> row;
  for (int j = 0; j < 400; ++j)
    row.push_back({1000 + j, static_cast<float>(j % 37 + 1)});
  std::sort(row.begin(), row.end(), [](const auto& x, const auto& y) {
    return x.score != y.score ? x.score > y.score : x.item < y.item;
  });
  snap.items[1] = item(1, row);
  shard_state st{recommend_settings{}};
  st.install(std::move(snap));
  for (int k : {1, 5, 11, 12, 50, 399, 400, 500}) {
    recall_request req;
    req.recent = {{1, behavior_kind::view, 1000}};
    req.per_route = k;
    req.now = 1000;
    req.exclude = {1003, 1040}; // both weigh 4
    auto cf = of_route(st.recall(req), recall_route::item_cf);
    std::vector<neighbour_item> want;
    for (const auto& n : row)
      if (n.item != 1003 && n.item != 1040)
        want.push_back(n);
    want.resize(std::min<std::size_t>(want.size(), static_cast<std::size_t>(k)));
    ASSERT_EQ(cf.size(), want.size()) << "k " << k;
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(cf[i].item, want[i].item) << "k " << k << ", rank " << i;
      EXPECT_FLOAT_EQ(cf[i].score, want[i].score);
    }
  }
}

TEST(shard_state, the_vector_index_leaves_excluded_items_out_before_selecting) {
  // k nearest among the items not excluded, against brute force; the
  // excluded set holds near and far items, ids the index does not hold and
  // an item moved after it was added. Up to exact_scan_max (the scan) and
  // beyond is not tested here (HNSW is approximate).
  std::mt19937 rng{9};
  constexpr std::size_t count = 2000, dim = 32;
  std::vector<std::vector<float>> vectors;
  vector_index index{dim, count};
  for (std::size_t i = 0; i < count; ++i) {
    vectors.push_back(unit_vector(rng, dim));
    index.add(static_cast<item_id>(i + 1), vectors.back());
  }
  vectors[6] = unit_vector(rng, dim); // item 7 moves
  index.add(7, vectors[6]);
  for (int q = 0; q < 4; ++q) {
    auto query = unit_vector(rng, dim);
    std::vector<neighbour_item> all;
    for (std::size_t i = 0; i < vectors.size(); ++i) {
      double dot = 0;
      for (std::size_t d = 0; d < dim; ++d)
        dot += double(query[d]) * vectors[i][d];
      all.push_back({static_cast<item_id>(i + 1), static_cast<float>(dot)});
    }
    std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) {
      return x.score != y.score ? x.score > y.score : x.item < y.item;
    });
    // Every third of the 300 nearest, 7, and ids not held.
    std::vector<item_id> exclude{7, -5, static_cast<item_id>(count + 50)};
    for (std::size_t i = 0; i < 300; i += 3)
      exclude.push_back(all[i].item);
    std::sort(exclude.begin(), exclude.end());
    std::vector<neighbour_item> want;
    for (const auto& a : all)
      if (!std::binary_search(exclude.begin(), exclude.end(), a.item))
        want.push_back(a);
    for (std::size_t k : {std::size_t{1}, std::size_t{50}, std::size_t{200}, count}) {
      auto found = index.nearest(query, k, exclude);
      ASSERT_EQ(found.size(), std::min(k, want.size())) << "k " << k;
      // Unordered (as recall asks): the same items and scores.
      auto any = index.nearest(query, k, exclude, false);
      std::sort(any.begin(), any.end(), [](const auto& x, const auto& y) {
        return x.score != y.score ? x.score > y.score : x.item < y.item;
      });
      ASSERT_EQ(any.size(), found.size()) << "k " << k;
      for (std::size_t i = 0; i < any.size(); ++i) {
        EXPECT_EQ(any[i].item, found[i].item) << "k " << k << ", rank " << i;
        EXPECT_EQ(any[i].score, found[i].score) << "k " << k << ", rank " << i;
      }
      for (std::size_t i = 0; i < found.size(); ++i) {
        EXPECT_FALSE(std::binary_search(exclude.begin(), exclude.end(), found[i].item));
        EXPECT_NEAR(found[i].score, want[i].score, 1e-5) << "query " << q << ", rank " << i;
        if (i + 1 < found.size() && std::abs(want[i].score - want[i + 1].score) > 1e-5 &&
            (i == 0 || std::abs(want[i].score - want[i - 1].score) > 1e-5)) {
          EXPECT_EQ(found[i].item, want[i].item) << "query " << q << ", rank " << i;
        }
      }
    }
  }
}

// The item-CF route's best k for a user whose one recent item, `seed`, was
// bought just now (weight: one buy, age 0).
std::vector<candidate> item_cf_of_one_buy(shard_state& st, item_id seed, std::size_t k) {
  recall_request req;
  req.recent = {{seed, behavior_kind::buy, 1000}};
  req.per_route = static_cast<std::int32_t>(k);
  req.now = 1000;
  return of_route(st.recall(req), recall_route::item_cf);
}

TEST(shard_state, a_route_keeps_its_best_k_when_scores_crowd_around_the_cut) {
  // Scores spread over many binary exponents, and hundreds of them within a
  // few ulps of one another (the selection's finest bins are 2^9 ulps wide),
  // with exact ties: the route's k best must still be exactly the best by
  // score, then by item id.
  std::mt19937 rng{21};
  std::vector<neighbour_item> row;
  std::uniform_real_distribution<float> wide(-20.0f, 10.0f);
  for (int j = 0; j < 1500; ++j)
    row.push_back({10000 + j, std::exp2(wide(rng))});
  std::uniform_int_distribution<std::uint32_t> ulps(0, 700);
  for (int j = 0; j < 1500; ++j)
    row.push_back({20000 + j, std::bit_cast<float>(std::bit_cast<std::uint32_t>(1.5f) + ulps(rng))});
  std::sort(row.begin(), row.end(), [](const auto& x, const auto& y) {
    return x.score != y.score ? x.score > y.score : x.item < y.item;
  });
  shard_snapshot snap;
  snap.items[1] = item(1, row);
  shard_state st{recommend_settings{}};
  st.install(std::move(snap));
  // What recall scores: each neighbour times the seed's weight (one buy, age
  // 0), ranked by that product, then item id (products of close scores may tie).
  const auto w = static_cast<float>(recommend_settings{}.buy_weight);
  std::vector<neighbour_item> want;
  for (const auto& n : row)
    want.push_back({n.item, n.score * w});
  std::sort(want.begin(), want.end(), [](const auto& x, const auto& y) {
    return x.score != y.score ? x.score > y.score : x.item < y.item;
  });
  std::size_t above = 0; // neighbours above the crowd
  while (row[above].score > 1.6f)
    ++above;
  for (std::size_t k : {above + 1, above + 100, above + 777, above + 1499, row.size() - 1}) {
    auto cf = item_cf_of_one_buy(st, 1, k);
    ASSERT_EQ(cf.size(), k);
    for (std::size_t i = 0; i < k; ++i) {
      ASSERT_EQ(cf[i].item, want[i].item) << "k " << k << ", rank " << i;
      EXPECT_EQ(cf[i].score, want[i].score);
    }
  }
}

TEST(shard_state, a_route_keeps_k_servable_items_when_its_best_ones_are_hidden) {
  // The 300 best neighbours of the seed are hidden: the route still proposes
  // exactly the best k of the servable ones (the selection counts only those).
  std::vector<neighbour_item> row;
  for (int j = 0; j < 1000; ++j)
    row.push_back({10000 + j, 1.0f - 0.0005f * static_cast<float>(j)});
  shard_snapshot snap;
  snap.items[1] = item(1, row);
  shard_state st{recommend_settings{}};
  st.install(std::move(snap));
  std::uint64_t epoch = 0;
  for (int j = 0; j < 300; ++j) {
    item_details hidden;
    hidden.item = 10000 + j;
    hidden.hidden = true;
    ASSERT_TRUE(st.apply_catalog(hidden, ++epoch, false));
  }
  for (std::size_t k : {1, 50, 100, 699}) {
    auto cf = item_cf_of_one_buy(st, 1, k);
    ASSERT_EQ(cf.size(), k);
    for (std::size_t i = 0; i < k; ++i)
      ASSERT_EQ(cf[i].item, static_cast<item_id>(10300 + i)) << "k " << k << ", rank " << i;
  }
}

} // namespace
} // namespace recd
