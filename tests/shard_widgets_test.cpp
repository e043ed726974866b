// A shard's answers for item pages and sessions (actors/shard_widgets.cpp):
// first buys and their partners, bounded co-buy counts, nearest items, the
// taste fold and its reverse (tastes folded into new items' vectors).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "actors/shard_state.hpp"

namespace recd {
namespace {

item_details details_of(item_id i) {
  item_details d;
  d.item = i;
  d.title = "item " + std::to_string(i);
  d.price = 1.0;
  d.rating = 4.0;
  return d;
}

shard_state shop(recommend_settings cfg = {}) {
  shard_snapshot snap;
  for (item_id i = 1; i <= 8; ++i) {
    auto& item = snap.items[i];
    item.details = details_of(i);
    item.embedding = {std::cos(0.2f * float(i)), std::sin(0.2f * float(i))};
  }
  snap.items[1].neighbours = {{2, 0.9f}, {3, 0.5f}, {4, 0.1f}};
  snap.index = std::make_shared<vector_index>(2, 4); // grows beyond its first capacity
  for (item_id i = 1; i <= 8; ++i)
    snap.index->add(i, snap.items[i].embedding);
  shard_state st{cfg};
  st.install(std::move(snap));
  return st;
}

behavior_event buy(user_id u, item_id i) { return {u, i, behavior_kind::buy, 1000}; }

bool has_vector(const shard_state& st, item_id i) {
  auto rel = st.relations(i, 1, 1000);
  return rel && !rel->embedding.empty();
}

std::vector<item_id> items_of(const std::vector<scored_item>& v) {
  std::vector<item_id> out;
  for (const auto& s : v)
    out.push_back(s.item);
  return out;
}

TEST(shard_widgets, a_first_buy_pairs_with_the_users_previous_first_buys_newest_first) {
  recommend_settings cfg;
  cfg.co_bought_recent = 2;
  auto st = shop(cfg);
  st.apply_user(buy(5, 1), {}, 10);
  st.apply_user(buy(5, 2), {}, 11);
  st.apply_user({5, 3, behavior_kind::view, 1000}, {}, 12); // a view is no buy
  st.apply_user(buy(5, 3), {}, 13);
  EXPECT_EQ(st.partners(5, 3, 13), (std::vector<item_id>{2, 1}));
  EXPECT_TRUE(st.partners(5, 3, 12).empty()) << "row 12 was a view";
  st.apply_user(buy(5, 4), {}, 14);
  EXPECT_EQ(st.partners(5, 4, 14), (std::vector<item_id>{3, 2})) << "at most co_bought_recent";
  EXPECT_TRUE(st.partners(5, 1, 10).empty()) << "the oldest first buy is forgotten";
  st.apply_user(buy(5, 2), {}, 15);
  EXPECT_TRUE(st.partners(5, 2, 15).empty()) << "a repeat buy is not a first buy";
  EXPECT_TRUE(st.partners(6, 2, 11).empty()) << "an unknown user";
}

TEST(shard_widgets, co_buys_count_distinct_buyers_on_both_sides_most_first) {
  auto st = shop();
  st.add_co_buys(1, {2, 3});
  st.add_co_buys(3, {1});
  st.add_co_buys(9, {1}); // item 9 is not held: only item 1's side counts
  auto one = st.relations(1, 10, 1000);
  ASSERT_TRUE(one.has_value());
  ASSERT_EQ(one->co_bought.size(), 3u);
  EXPECT_EQ(one->co_bought[0].item, 3);
  EXPECT_EQ(one->co_bought[0].score, 2.0f);
  EXPECT_EQ(one->co_bought[1].item, 2); // ties: smaller id first
  EXPECT_EQ(one->co_bought[2].item, 9);
  EXPECT_EQ(items_of(st.relations(2, 10, 1000)->co_bought), std::vector<item_id>{1});
  EXPECT_EQ(items_of(one->neighbours), (std::vector<item_id>{2, 3, 4}));
  EXPECT_EQ(st.relations(1, 2, 1000)->neighbours.size(), 2u) << "at most k";
  EXPECT_FALSE(st.relations(42, 10, 1000).has_value());
}

TEST(shard_widgets, an_items_partners_are_bounded_and_new_ones_replace_only_single_buyers) {
  recommend_settings cfg;
  cfg.co_bought_partners = 2; // a row holds at most 3
  auto st = shop(cfg);
  st.add_co_buys(1, {2, 3, 4});
  st.add_co_buys(1, {2, 3, 4}); // each twice
  st.add_co_buys(1, {5});       // full of 2-buyer partners: not kept
  EXPECT_EQ(items_of(st.relations(1, 10, 1000)->co_bought), (std::vector<item_id>{2, 3, 4}));
  st.add_co_buys(1, {2});
  auto row = st.relations(1, 10, 1000)->co_bought;
  EXPECT_EQ(row[0].item, 2);
  EXPECT_EQ(row[0].score, 3.0f);
  // A single-buyer tail is replaced by a newer pair.
  auto other = shop(cfg);
  other.add_co_buys(1, {2, 3, 4});
  other.add_co_buys(1, {6});
  EXPECT_EQ(items_of(other.relations(1, 10, 1000)->co_bought), (std::vector<item_id>{2, 3, 6}));
}

TEST(shard_widgets, nearest_leaves_out_excluded_items_and_grows_the_index) {
  auto st = shop();
  auto near = st.nearest({std::cos(0.2f), std::sin(0.2f)}, 3, {1}, 1000);
  EXPECT_EQ(items_of(near), (std::vector<item_id>{2, 3, 4}));
  EXPECT_GT(near[0].score, near[1].score);
  st.add_item(details_of(20), {std::cos(0.21f), std::sin(0.21f)});
  EXPECT_EQ(items_of(st.nearest({std::cos(0.2f), std::sin(0.2f)}, 1, {1}, 1000)),
            std::vector<item_id>{20});
  auto vecs = st.vectors({3, 20, 77});
  ASSERT_EQ(vecs.size(), 2u);
  EXPECT_EQ(vecs[1].item, 20);
}

TEST(shard_widgets, hidden_and_unavailable_items_are_left_out_of_relations_and_nearest) {
  shard_snapshot snap;
  for (item_id i = 1; i <= 4; ++i) {
    snap.items[i].details = details_of(i);
    snap.items[i].embedding = {std::cos(0.2f * float(i)), std::sin(0.2f * float(i))};
  }
  snap.items[1].neighbours = {{2, 0.9f}, {3, 0.5f}, {4, 0.1f}};
  snap.index = std::make_shared<vector_index>(2, 4);
  for (item_id i = 1; i <= 4; ++i)
    snap.index->add(i, snap.items[i].embedding);
  snap.restricted[2] = {serving_window{true, 0, 0}, 1};   // hidden
  snap.restricted[4] = {serving_window{false, 0, 500}, 1}; // sold until t = 500
  shard_state st{recommend_settings{}};
  st.install(std::move(snap));
  st.add_co_buys(1, {2, 3, 4});
  auto rel = st.relations(1, 10, 1000);
  EXPECT_EQ(items_of(rel->neighbours), std::vector<item_id>{3});
  EXPECT_EQ(items_of(rel->co_bought), std::vector<item_id>{3});
  EXPECT_EQ(items_of(st.relations(1, 10, 400)->neighbours), (std::vector<item_id>{3, 4}));
  EXPECT_EQ(items_of(st.nearest({std::cos(0.2f), std::sin(0.2f)}, 3, {1}, 1000)),
            std::vector<item_id>{3});
}

TEST(shard_widgets, folding_an_item_moves_the_taste_towards_it_by_its_weight) {
  std::vector<float> taste;
  fold_taste(taste, {1, 0}, 1);
  EXPECT_EQ(taste, (std::vector<float>{1, 0})) << "an empty taste becomes the item's";
  fold_taste(taste, {0, 1}, 1);
  EXPECT_NEAR(taste[1] / taste[0], 0.1 / 0.9, 1e-6);
  EXPECT_NEAR(taste[0] * taste[0] + taste[1] * taste[1], 1.0, 1e-6);
  auto strong = std::vector<float>{1, 0};
  fold_taste(strong, {0, 1}, 20);
  EXPECT_NEAR(strong[1] / strong[0], 0.8 / 0.2, 1e-5) << "at most 0.8 of the item";
}


std::vector<float> at(float angle) { return {std::cos(angle), std::sin(angle)}; }

TEST(shard_widgets, a_taste_folds_into_an_item_without_a_published_embedding_and_its_index_entry) {
  recommend_settings cfg;
  auto st = shop(cfg);
  st.add_item(details_of(30), {}); // created through the catalog: no embedding
  EXPECT_FALSE(has_vector(st, 30));
  ASSERT_TRUE(st.fold_item(30, behavior_kind::buy, at(0.6f)));
  // The first taste becomes its vector: item 3's direction, so the two are
  // each other's nearest (cosine 1).
  auto near = st.nearest(at(0.6f), 2, {}, 1000);
  ASSERT_EQ(near.size(), 2u);
  EXPECT_EQ((std::set<item_id>{near[0].item, near[1].item}), (std::set<item_id>{3, 30}));
  EXPECT_NEAR(near[1].score, 1.0, 1e-5);
  auto rel = st.relations(30, 10, 1000);
  ASSERT_TRUE(rel.has_value());
  ASSERT_EQ(rel->embedding.size(), 2u);
  EXPECT_NEAR(rel->embedding[0], std::cos(0.6f), 1e-6);
  EXPECT_NEAR(rel->embedding[1], std::sin(0.6f), 1e-6);
  EXPECT_EQ(st.vectors({30}).size(), 1u) << "sessions read folded vectors too";
  ASSERT_TRUE(st.item_embedding(30).has_value());
  EXPECT_TRUE(st.item_embedding(30)->empty()) << "a folded vector feeds no user's taste";

  // A second taste moves it by the behavior's weight, as fold_taste moves a
  // taste, and moves its index entry (no second entry).
  ASSERT_TRUE(st.fold_item(30, behavior_kind::view, at(1.6f)));
  auto expect = at(0.6f);
  fold_taste(expect, at(1.6f), behavior_weight(cfg, behavior_kind::view));
  rel = st.relations(30, 10, 1000);
  EXPECT_NEAR(rel->embedding[0], expect[0], 1e-6);
  EXPECT_NEAR(rel->embedding[1], expect[1], 1e-6);
  auto all = st.nearest(expect, 50, {}, 1000);
  EXPECT_EQ(all.size(), 9u) << "8 published items and the folded one, once";
  EXPECT_EQ(all.at(0).item, 30);
  EXPECT_NEAR(all.at(0).score, 1.0, 1e-5);

  // Published embeddings are never touched; unknown items and tastes of
  // another dimension change nothing.
  EXPECT_FALSE(st.fold_item(3, behavior_kind::buy, at(1.6f)));
  EXPECT_NEAR(st.relations(3, 10, 1000)->embedding[0], std::cos(0.6f), 1e-6);
  EXPECT_FALSE(st.fold_item(99, behavior_kind::buy, at(1.6f)));
  EXPECT_FALSE(st.fold_item(30, behavior_kind::buy, {1, 0, 0}));
  EXPECT_NEAR(st.relations(30, 10, 1000)->embedding[0], expect[0], 1e-6);
}

TEST(shard_widgets, a_published_run_replaces_folded_vectors) {
  auto st = shop();
  st.add_item(details_of(30), {});
  st.add_item(details_of(31), {});
  ASSERT_TRUE(st.fold_item(30, behavior_kind::buy, at(0.6f)));
  ASSERT_TRUE(st.fold_item(31, behavior_kind::buy, at(0.6f)));
  embedding_update update;
  for (item_id i = 1; i <= 8; ++i)
    update.items[i] = at(0.2f * float(i));
  update.items[30] = at(1.0f);  // the run embedded item 30
  update.folded[31] = at(1.4f); // and left 31 out: folded from its users again
  update.index = std::make_shared<vector_index>(2, 10);
  for (const auto& [id, v] : update.items)
    update.index->add(id, v);
  update.index->add(31, update.folded[31]);
  st.install(std::move(update));
  EXPECT_NEAR(st.item_embedding(30)->at(0), std::cos(1.0f), 1e-6) << "published now";
  EXPECT_TRUE(st.item_embedding(31)->empty()) << "still folded";
  EXPECT_NEAR(st.relations(31, 10, 1000)->embedding.at(0), std::cos(1.4f), 1e-6);
  EXPECT_FALSE(st.fold_item(30, behavior_kind::buy, at(0.6f))) << "published: left alone";
  EXPECT_TRUE(st.fold_item(31, behavior_kind::buy, at(0.6f)));
}

TEST(shard_widgets, a_shard_without_embeddings_starts_an_index_for_a_folded_item) {
  shard_snapshot snap;
  snap.items[1].details = details_of(1);
  shard_state st{recommend_settings{}};
  st.install(std::move(snap));
  EXPECT_TRUE(st.nearest(at(0.3f), 5, {}, 1000).empty());
  ASSERT_TRUE(st.fold_item(1, behavior_kind::cart, at(0.3f)));
  EXPECT_EQ(items_of(st.nearest(at(0.3f), 5, {}, 1000)), std::vector<item_id>{1});
}

} // namespace
} // namespace recd
