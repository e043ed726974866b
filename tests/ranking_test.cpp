// The API's merge (actors/ranking) against a direct reference: per item and
// route the summed evidence, the best single candidate and its source; each
// route normalised by its best item and weighted; bought items dropped;
// ranked by score, then item id. Random candidate sets from several "shards"
// (repeated items and routes, duplicates, non-positive scores, bought items,
// ids in and beyond item_slots' direct range), with the scratch reused.
#include <algorithm>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "actors/ranking.hpp"

namespace recd {
namespace {

std::vector<merged_item> reference_merge(const std::vector<candidate>& all,
                                         const user_context& ctx, const recommend_settings& cfg,
                                         std::size_t limit) {
  std::map<item_id, merged_item> by_item;
  const std::set<item_id> bought(ctx.bought.begin(), ctx.bought.end());
  for (const auto& c : all) {
    if (c.score <= 0 || bought.count(c.item) != 0)
      continue;
    auto& m = by_item[c.item];
    m.item = c.item;
    auto& p = m.routes[static_cast<std::size_t>(c.route)];
    p.evidence += c.score;
    if (c.score > p.best) {
      p.best = c.score;
      p.because = c.because;
    }
  }
  std::array<float, recall_route_count> best{};
  for (const auto& [id, m] : by_item)
    for (std::size_t r = 0; r < recall_route_count; ++r)
      best[r] = std::max(best[r], m.routes[r].evidence);
  const std::array<double, recall_route_count> weight{cfg.weight_user_cf, cfg.weight_item_cf,
                                                      cfg.weight_vector, cfg.weight_popular,
                                                      cfg.weight_category};
  std::vector<merged_item> out;
  for (auto& [id, m] : by_item) {
    for (std::size_t r = 0; r < recall_route_count; ++r)
      if (m.routes[r].evidence > 0 && best[r] > 0) {
        m.routes[r].score = weight[r] * double(m.routes[r].evidence) / double(best[r]);
        m.score += m.routes[r].score;
      }
    out.push_back(m);
  }
  std::sort(out.begin(), out.end(), [](const merged_item& a, const merged_item& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
  });
  out.resize(std::min(limit, out.size()));
  return out;
}

TEST(Merge, MatchesTheReferenceOverRandomCandidateSets) {
  recommend_settings cfg;
  merge_scratch scratch;
  std::mt19937 rng{11};
  for (int round = 0; round < 200; ++round) {
    // Few distinct items in some rounds (many repeats per item and route),
    // many in others; ids beyond item_slots' direct range in some.
    const item_id span = round % 3 == 0 ? 50 : 5000;
    const item_id base = round % 5 == 0 ? (1 << 22) - 25 : 1;
    std::uniform_int_distribution<item_id> pick(base, base + span);
    std::uniform_int_distribution<int> route(0, recall_route_count - 1);
    // Scores on a coarse grid: ties in evidence, best and final score.
    std::uniform_int_distribution<int> grid(-2, 8);
    std::vector<candidate> all;
    const int count = round % 2 == 0 ? 40 : 2000;
    for (int n = 0; n < count; ++n)
      all.push_back({pick(rng), static_cast<recall_route>(route(rng)),
                     static_cast<float>(grid(rng)) * 0.25f, n});
    user_context ctx;
    for (int n = 0; n < (round % 4) * 30; ++n)
      ctx.bought.push_back(pick(rng));
    std::sort(ctx.bought.begin(), ctx.bought.end());
    ctx.bought.erase(std::unique(ctx.bought.begin(), ctx.bought.end()), ctx.bought.end());
    const std::size_t limit = round % 7 == 0 ? 100000 : 50;
    auto got = merge(all, ctx, cfg, limit, scratch);
    auto want = reference_merge(all, ctx, cfg, limit);
    ASSERT_EQ(got.size(), want.size()) << "round " << round;
    for (std::size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k].item, want[k].item) << "round " << round << " rank " << k;
      EXPECT_EQ(got[k].score, want[k].score);
      EXPECT_FALSE(std::binary_search(ctx.bought.begin(), ctx.bought.end(), got[k].item));
      for (std::size_t r = 0; r < recall_route_count; ++r) {
        EXPECT_EQ(got[k].routes[r].score, want[k].routes[r].score) << k << " " << r;
        EXPECT_EQ(got[k].routes[r].evidence, want[k].routes[r].evidence) << k << " " << r;
        EXPECT_EQ(got[k].routes[r].best, want[k].routes[r].best) << k << " " << r;
        EXPECT_EQ(got[k].routes[r].because, want[k].routes[r].because) << k << " " << r;
      }
    }
  }
}

TEST(Merge, DropsBoughtItemsAndNonPositiveCandidates) {
  recommend_settings cfg;
  merge_scratch scratch;
  user_context ctx;
  ctx.bought = {2, 5};
  std::vector<candidate> all{{1, recall_route::item_cf, 1.0f, 10},
                             {2, recall_route::item_cf, 9.0f, 11},
                             {3, recall_route::popular, 0.0f, -1},
                             {4, recall_route::vector, -1.0f, -1},
                             {5, recall_route::user_cf, 3.0f, 12},
                             {1, recall_route::item_cf, 2.0f, 13}};
  auto got = merge(all, ctx, cfg, 10, scratch);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].item, 1);
  const auto& p = got[0].routes[static_cast<std::size_t>(recall_route::item_cf)];
  EXPECT_FLOAT_EQ(p.evidence, 3.0f);
  EXPECT_EQ(p.because, 13);
  EXPECT_DOUBLE_EQ(got[0].score, cfg.weight_item_cf);
  for (std::size_t r = 0; r < recall_route_count; ++r)
    if (r != static_cast<std::size_t>(recall_route::item_cf)) {
      EXPECT_EQ(got[0].routes[r].score, 0.0);
      EXPECT_EQ(got[0].routes[r].because, -1);
    }
}

// A title is written as nlohmann's serializer writes it (escapes, invalid
// UTF-8 replaced), whether or not append_string takes its plain-ASCII path.
TEST(AppendString, WritesWhatTheJsonSerializerWrites) {
  const std::vector<std::string> texts{
    "", "Toy Story (1995)", "a \"quoted\" title", "back\\slash", "tab\there", "line\nbreak",
    std::string("nul\0inside", 10), "del\x7f", "caf\xc3\xa9", "\xe2\x82\xac 9", "bad \xff\xfe utf-8",
    "~!@#$%^&*()_+`-={}[]|:;'<>,.?/"};
  for (const auto& t : texts) {
    std::string out = "x";
    append_string(out, t);
    EXPECT_EQ(out, "x" + nlohmann::json(t).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      << "text of " << t.size() << " bytes";
    EXPECT_FALSE(nlohmann::json::parse(out.substr(1), nullptr, false).is_discarded());
  }
}

} // namespace
} // namespace recd
