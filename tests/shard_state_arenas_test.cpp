// A shard's users and items live per partition, each partition in its own
// arena (actors/partition_arena.hpp, actors/held_table.hpp): a drop unmaps
// the partition's pages whole (by the arenas' own accounting), and the state
// after loads, merges, drops and events answers as the state loaded in one
// piece does.
#include <algorithm>
#include <memory_resource>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "actors/partition_arena.hpp"
#include "actors/shard_state.hpp"

namespace recd {
namespace {

constexpr std::uint32_t partitions = 4;
constexpr item_id item_count = 40;
constexpr user_id user_count = 120;

// A shop of item_count items and user_count users whose histories cross
// partitions; only the partitions in `held` are in the snapshot (all if
// empty), built in id order like the loader builds them.
shard_snapshot shop(const std::vector<std::uint32_t>& held = {}) {
  auto keep = [&](std::int32_t id) {
    return held.empty() ||
           std::find(held.begin(), held.end(), partition_of(id, partitions)) != held.end();
  };
  shard_snapshot snap;
  snap.users = held_table<user_record>(partitions);
  snap.items = held_table<item_record>(partitions);
  snap.popularity_epoch = 100000;
  snap.index = std::make_shared<vector_index>(2, 64);
  for (item_id i = 0; i < item_count; ++i) {
    if (!keep(i))
      continue;
    auto& item = snap.items[i];
    item.details.item = i;
    item.details.title = "a title long enough to leave the string's inline buffer " +
                         std::to_string(i);
    item.popularity = 1 + (i * 7) % 13;
    for (item_id n = 1; n <= 5; ++n)
      item.neighbours.push_back({(i + n * 3) % item_count, 1.0f / float(n + i % 3)});
    const float angle = 0.05f * float(i);
    item.embedding = {std::cos(angle), std::sin(angle)};
    snap.index->add(i, item.embedding);
  }
  for (user_id u = 0; u < user_count; ++u) {
    if (!keep(u))
      continue;
    auto& user = snap.users[u];
    for (int k = 0; k < 6 + u % 5; ++k) {
      behavior_event e{u, (u * 5 + k * 11) % item_count,
                       k % 3 == 0 ? behavior_kind::buy : behavior_kind::view, 50000 + 10 * k};
      record_history(user.history, e, 200);
      ++user.version;
      if (e.kind == behavior_kind::buy)
        user.bought.insert(std::lower_bound(user.bought.begin(), user.bought.end(), e.item),
                           e.item);
    }
    for (user_id s = 1; s <= 4; ++s)
      user.similar.push_back({(u + s * 13) % user_count, 1.0f / float(s)});
    user.vec = {0.6f, 0.8f};
  }
  return snap;
}

// What a shard answers for a user: its context and the candidates of every route.
struct answer {
  user_context ctx;
  std::vector<candidate> recall;
};

answer ask(shard_state& st, user_id u) {
  answer a;
  a.ctx = st.context(u, 50, 50);
  recall_request req;
  req.per_route = 10;
  req.now = 100000;
  req.recent = a.ctx.recent;
  req.similar = a.ctx.similar;
  req.exclude = a.ctx.bought;
  req.vector = a.ctx.vector;
  a.recall = st.recall(req);
  return a;
}

// Recall's candidates in a fixed order: a route's are sent in no particular
// order (the API's merge ranks them), so two states holding the same data in
// other places may list them differently.
std::vector<candidate> ordered(std::vector<candidate> c) {
  std::sort(c.begin(), c.end(), [](const candidate& x, const candidate& y) {
    return std::tie(x.route, x.item) < std::tie(y.route, y.item);
  });
  return c;
}

void expect_same(const answer& a0, const answer& b0, user_id u) {
  answer a{a0.ctx, ordered(a0.recall)}, b{b0.ctx, ordered(b0.recall)};
  EXPECT_EQ(a.ctx.known, b.ctx.known) << "user " << u;
  EXPECT_EQ(a.ctx.version, b.ctx.version) << "user " << u;
  EXPECT_EQ(a.ctx.bought, b.ctx.bought) << "user " << u;
  ASSERT_EQ(a.ctx.recent.size(), b.ctx.recent.size()) << "user " << u;
  for (std::size_t k = 0; k < a.ctx.recent.size(); ++k)
    EXPECT_EQ(a.ctx.recent[k].item, b.ctx.recent[k].item) << "user " << u;
  ASSERT_EQ(a.recall.size(), b.recall.size()) << "user " << u;
  for (std::size_t k = 0; k < a.recall.size(); ++k) {
    EXPECT_EQ(a.recall[k].item, b.recall[k].item) << "user " << u << " candidate " << k;
    EXPECT_EQ(a.recall[k].route, b.recall[k].route) << "user " << u << " candidate " << k;
    EXPECT_FLOAT_EQ(a.recall[k].score, b.recall[k].score) << "user " << u << " candidate " << k;
  }
}

TEST(shard_state, a_drop_unmaps_exactly_the_arenas_of_the_dropped_partitions) {
  shard_state st{recommend_settings{}};
  st.install(shop());
  const auto whole = st.footprint();
  EXPECT_EQ(whole.users, std::size_t(user_count));
  EXPECT_GT(whole.arenas, 0u);
  // What partitions 1 and 3 alone map, built the same way.
  shard_state half{recommend_settings{}};
  half.install(shop({1, 3}));
  const auto dropped_part = half.footprint().arenas;
  ASSERT_GT(dropped_part, 0u);

  const auto unmapped = st.drop({1, 3}, partitions);
  EXPECT_EQ(unmapped, dropped_part);
  const auto after = st.footprint();
  EXPECT_EQ(after.arenas, whole.arenas - unmapped);
  EXPECT_EQ(after.users, std::size_t(user_count / 2));
  EXPECT_EQ(after.items, std::size_t(item_count / 2));
  for (user_id u = 0; u < user_count; ++u)
    EXPECT_EQ(st.context(u, 10, 10).known, partition_of(u, partitions) % 2 == 0) << u;
  // Dropping them again changes nothing.
  EXPECT_EQ(st.drop({1, 3}, partitions), 0u);
  EXPECT_EQ(st.footprint().arenas, after.arenas);
}

TEST(shard_state, a_merged_snapshot_brings_its_arenas_along_without_a_copy) {
  shard_state st{recommend_settings{}};
  st.install(shop({0, 2}));
  const auto first = st.footprint().arenas;
  auto more = shop({1, 3});
  const auto brought = more.users.mapped() + more.items.mapped();
  st.merge(std::move(more));
  EXPECT_EQ(st.footprint().arenas, first + brought);
  EXPECT_EQ(st.user_count(), std::size_t(user_count));
}

TEST(shard_state, loads_merges_drops_and_events_answer_as_a_state_loaded_in_one_piece) {
  shard_state whole{recommend_settings{}};
  whole.install(shop());
  // Loaded in two moves, one partition given away and taken back.
  shard_state moved{recommend_settings{}};
  moved.install(shop({0, 1}));
  moved.merge(shop({2, 3}));
  moved.drop({2}, partitions);
  moved.merge(shop({2}));
  // The same events on both, users and items of every partition (before
  // any recall: the popular list is rebuilt at most once a second).
  for (int k = 0; k < 200; ++k) {
    behavior_event e{(k * 37) % user_count, (k * 17) % item_count,
                     k % 4 == 0 ? behavior_kind::buy : behavior_kind::click, 60000 + k};
    const std::vector<float> item_vec{0.8f, 0.6f};
    EXPECT_EQ(whole.apply_user(e, item_vec, 1000 + k), moved.apply_user(e, item_vec, 1000 + k));
    whole.apply_item(e);
    moved.apply_item(e);
  }
  for (user_id u = 0; u < user_count; ++u)
    expect_same(ask(whole, u), ask(moved, u), u);
  // A user of a partition not held yet is made in that partition's arena.
  behavior_event fresh{user_count + 2, 3, behavior_kind::buy, 70000};
  moved.drop({partition_of(fresh.user, partitions)}, partitions);
  const auto before = moved.footprint().arenas;
  moved.apply_user(fresh, {}, 5000);
  EXPECT_GT(moved.footprint().arenas, before);
  const auto grown = moved.footprint().arenas - before;
  EXPECT_EQ(moved.drop({partition_of(fresh.user, partitions)}, partitions), grown);
  EXPECT_FALSE(moved.context(fresh.user, 10, 10).known);
}

TEST(shard_state, a_job_installed_again_over_its_own_lists_takes_no_more_memory) {
  shard_state st{recommend_settings{}};
  st.install(shop());
  auto run = [] {
    neighbour_update up;
    up.kind = job_kind::item_similarity;
    for (item_id i = 0; i < item_count; ++i)
      for (item_id n = 1; n <= 3 + i % 7; ++n)
        up.rows[i].push_back({(i + n) % item_count, 1.0f / float(n)});
    return up;
  };
  st.install(run());
  const auto first = st.footprint();
  st.install(run());
  const auto again = st.footprint();
  EXPECT_EQ(again.arenas, first.arenas);
  EXPECT_EQ(again.arena_blocks, first.arena_blocks);
  EXPECT_EQ(again.neighbours, first.neighbours);
}

TEST(shard_state, a_held_table_visits_every_record_of_every_partition_once) {
  held_table<user_record> table(8);
  for (user_id u = 0; u < 100; u += 3)
    table[u].version = static_cast<std::uint64_t>(u);
  std::vector<user_id> seen;
  for (const auto& [id, rec] : table) {
    EXPECT_EQ(rec.version, static_cast<std::uint64_t>(id));
    seen.push_back(id);
  }
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), 34u);
  for (std::size_t k = 0; k < seen.size(); ++k)
    EXPECT_EQ(seen[k], static_cast<user_id>(3 * k));
  EXPECT_EQ(table.find(4), table.end());
  ASSERT_NE(table.find(9), table.end());
  EXPECT_EQ(table.find(9)->second.version, 9u);
  EXPECT_EQ(erase_if(table, [](const auto& kv) { return kv.first % 2 == 0; }), 17u);
  EXPECT_EQ(table.size(), 17u);
  // A record's vectors take its partition's arena.
  auto& rec = table[11];
  rec.history.resize(10);
  EXPECT_EQ(rec.history.get_allocator().resource(),
            table.find(11)->second.bought.get_allocator().resource());
  EXPECT_NE(rec.history.get_allocator().resource(), std::pmr::get_default_resource());
  EXPECT_NE(rec.history.get_allocator().resource(),
            table[12].history.get_allocator().resource());
}

TEST(shard_state, an_arena_unmaps_a_large_block_when_it_is_freed) {
  partition_arena arena;
  EXPECT_EQ(arena.mapped(), 0u);
  std::pmr::vector<char> small(100, 'x', &arena);
  const auto with_small = arena.mapped();
  EXPECT_EQ(with_small, mapped_pages::first_chunk_bytes);
  EXPECT_EQ(arena.in_use(), 112u); // 16-byte steps, no header
  {
    std::pmr::vector<char> large(mapped_pages::large_bytes * 3, 'y', &arena);
    EXPECT_GE(arena.mapped(), with_small + mapped_pages::large_bytes * 3);
  }
  EXPECT_EQ(arena.mapped(), with_small);
  EXPECT_EQ(arena.in_use(), 112u);
}

TEST(shard_state, an_arena_reuses_a_freed_block_for_the_next_block_of_its_class) {
  partition_arena arena;
  void* a = arena.allocate(200, 8);
  void* b = arena.allocate(300, 8);
  EXPECT_NE(a, b);
  arena.deallocate(a, 200, 8);
  EXPECT_EQ(arena.in_use(), 304u);
  EXPECT_EQ(arena.allocate(199, 8), a) << "the same class (208 bytes)";
  EXPECT_NE(arena.allocate(300, 8), a);
  EXPECT_EQ(arena.mapped(), mapped_pages::first_chunk_bytes);
}

} // namespace
} // namespace recd
