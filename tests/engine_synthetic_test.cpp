// The synthetic shop generator (determinism, shape of the data) and the
// timestamp parser it shares with the importers.

#include "engine/synthetic.hpp"
#include "engine/timestamp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace {

using recd::behavior_kind;
using recd::engine::check_options;
using recd::engine::generate_shop;
using recd::engine::parse_timestamp;
using recd::engine::synthetic_options;
using recd::engine::synthetic_shop;

constexpr std::int64_t now = 1'714'564'800; // 2024-05-01T12:00:00Z

synthetic_options small_options(std::uint64_t seed = 7) {
  synthetic_options opt;
  opt.users = 800;
  opt.items = 300;
  opt.events = 30000;
  opt.categories = 12;
  opt.brands = 40;
  opt.seed = seed;
  opt.now = now;
  opt.days = 30;
  return opt;
}

// Shared across tests: the defaults are generated once.
const synthetic_shop& default_shop() {
  static const synthetic_shop shop = [] {
    synthetic_options opt;
    opt.now = now;
    return generate_shop(opt);
  }();
  return shop;
}

bool same_events(const synthetic_shop& a, const synthetic_shop& b) {
  return std::equal(a.events.begin(), a.events.end(), b.events.begin(), b.events.end(),
                    [](const auto& x, const auto& y) {
                      return x.user == y.user && x.item == y.item && x.kind == y.kind &&
                             x.ts == y.ts;
                    });
}

bool same_items(const synthetic_shop& a, const synthetic_shop& b) {
  return std::equal(a.items.begin(), a.items.end(), b.items.begin(), b.items.end(),
                    [](const auto& x, const auto& y) {
                      return x.id == y.id && x.title == y.title && x.price == y.price &&
                             x.rating == y.rating && x.category == y.category && x.brand == y.brand;
                    });
}

bool whole_cents(double x) {
  return std::abs(x * 100 - std::round(x * 100)) < 1e-6;
}

TEST(synthetic, same_seed_same_output_other_seed_differs) {
  auto a = generate_shop(small_options(7));
  auto b = generate_shop(small_options(7));
  auto c = generate_shop(small_options(8));
  EXPECT_TRUE(same_events(a, b));
  EXPECT_TRUE(same_items(a, b));
  EXPECT_FALSE(same_events(a, c));
  EXPECT_FALSE(same_items(a, c));
}

TEST(synthetic, exact_event_count) {
  for (std::int64_t n : {0, 1, 2, 17, 1000, 12345}) {
    auto opt = small_options();
    opt.events = n;
    EXPECT_EQ(static_cast<std::int64_t>(generate_shop(opt).events.size()), n) << n;
  }
  EXPECT_EQ(default_shop().events.size(), 200000u);
}

TEST(synthetic, ids_and_catalog_in_range) {
  auto opt = small_options();
  auto shop = generate_shop(opt);
  ASSERT_EQ(shop.items.size(), static_cast<std::size_t>(opt.items));
  for (std::size_t i = 0; i < shop.items.size(); ++i) {
    const auto& it = shop.items[i];
    EXPECT_EQ(it.id, static_cast<int>(i + 1));
    EXPECT_GE(it.category, 0);
    EXPECT_LT(it.category, opt.categories);
    EXPECT_GE(it.brand, 0);
    EXPECT_LT(it.brand, opt.brands);
    EXPECT_GE(it.price, 1.0);
    EXPECT_LE(it.price, 2000.0);
    EXPECT_TRUE(whole_cents(it.price)) << it.price;
    EXPECT_GE(it.rating, 1.0);
    EXPECT_LE(it.rating, 5.0);
    EXPECT_TRUE(whole_cents(it.rating)) << it.rating;
    // "<Brand> <category noun> <model>"
    EXPECT_GE(std::count(it.title.begin(), it.title.end(), ' '), 2) << it.title;
  }
  for (const auto& e : shop.events) {
    EXPECT_GE(e.user, 1);
    EXPECT_LE(e.user, opt.users);
    EXPECT_GE(e.item, 1);
    EXPECT_LE(e.item, opt.items);
  }
}

TEST(synthetic, prices_depend_on_the_category) {
  const auto& shop = default_shop();
  std::map<std::int32_t, std::vector<double>> prices;
  for (const auto& it : shop.items)
    prices[it.category].push_back(it.price);
  std::vector<double> medians;
  for (auto& [c, p] : prices) {
    if (p.size() < 10)
      continue;
    std::sort(p.begin(), p.end());
    medians.push_back(p[p.size() / 2]);
  }
  ASSERT_GT(medians.size(), 10u);
  auto [lo, hi] = std::minmax_element(medians.begin(), medians.end());
  EXPECT_GT(*hi / *lo, 5.0) << "cheap and expensive categories";
}

TEST(synthetic, timestamps_in_window_and_sorted) {
  for (int days : {1, 30}) {
    auto opt = small_options();
    opt.days = days;
    auto shop = generate_shop(opt);
    const std::int64_t oldest = now - std::int64_t{days} * 86400;
    for (std::size_t i = 0; i < shop.events.size(); ++i) {
      const auto ts = shop.events[i].ts;
      ASSERT_GT(ts, oldest);
      ASSERT_LE(ts, now);
      if (i > 0) {
        ASSERT_LE(shop.events[i - 1].ts, ts) << i;
      }
    }
    // Spread over the window, not bunched at one end.
    EXPECT_LT(shop.events.front().ts, oldest + 86400 * days / 10);
    EXPECT_GT(shop.events.back().ts, now - 86400 * days / 10);
  }
}

TEST(synthetic, funnel_steps_follow_a_recent_view) {
  const auto& shop = default_shop();
  // View times per (user, item) so far, ascending.
  std::map<std::pair<int, int>, std::vector<std::int64_t>> views;
  std::int64_t counts[4] = {0, 0, 0, 0};
  for (const auto& e : shop.events) {
    ++counts[static_cast<int>(e.kind)];
    auto& seen = views[{e.user, e.item}];
    if (e.kind == behavior_kind::view) {
      seen.push_back(e.ts);
      continue;
    }
    // The latest view strictly before this step, a few minutes earlier.
    auto before = std::lower_bound(seen.begin(), seen.end(), e.ts);
    ASSERT_NE(before, seen.begin()) << "a " << to_string(e.kind) << " without an earlier view";
    EXPECT_LE(e.ts - *std::prev(before), 3600) << "the view is in the same session";
  }
  const double clicks = double(counts[1]) / double(counts[0]);
  const double carts = double(counts[2]) / double(counts[1]);
  const double buys = double(counts[3]) / double(counts[2]);
  EXPECT_NEAR(clicks, 0.35, 0.03);
  EXPECT_NEAR(carts, 0.30, 0.03);
  EXPECT_NEAR(buys, 0.50, 0.04);
}

// Share of all events that fall on the top `fraction` of keys by count.
double top_share(const std::map<int, std::int64_t>& counts, std::size_t universe, double fraction) {
  std::vector<std::int64_t> c;
  std::int64_t total = 0;
  for (const auto& [k, n] : counts) {
    c.push_back(n);
    total += n;
  }
  std::sort(c.rbegin(), c.rend());
  const auto top = static_cast<std::size_t>(double(universe) * fraction);
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < top && i < c.size(); ++i)
    sum += c[i];
  return double(sum) / double(total);
}

TEST(synthetic, popularity_and_activity_are_skewed) {
  const auto& shop = default_shop();
  std::map<int, std::int64_t> per_item, per_user;
  for (const auto& e : shop.events) {
    ++per_item[e.item];
    ++per_user[e.user];
  }
  const double items_top10 = top_share(per_item, 2000, 0.10);
  const double users_top1 = top_share(per_user, 10000, 0.01);
  EXPECT_GT(items_top10, 0.45) << items_top10;
  EXPECT_GT(users_top1, 0.05) << users_top1; // uniform would be 0.01

  // Inside the largest category too.
  std::map<int, int> category_of;
  std::map<int, int> category_size;
  for (const auto& it : shop.items) {
    category_of[it.id] = it.category;
    ++category_size[it.category];
  }
  auto largest = std::max_element(category_size.begin(), category_size.end(),
                                  [](auto& a, auto& b) { return a.second < b.second; });
  std::map<int, std::int64_t> in_category;
  for (const auto& e : shop.events)
    if (category_of[e.item] == largest->first)
      ++in_category[e.item];
  EXPECT_GT(top_share(in_category, static_cast<std::size_t>(largest->second), 0.10), 0.30);
}

TEST(synthetic, users_concentrate_on_few_categories) {
  const auto& shop = default_shop();
  std::map<int, int> category_of;
  for (const auto& it : shop.items)
    category_of[it.id] = it.category;
  std::map<int, std::map<int, int>> per_user; // user -> category -> events
  for (const auto& e : shop.events)
    ++per_user[e.user][category_of[e.item]];
  double share_sum = 0;
  int users = 0;
  for (const auto& [u, cats] : per_user) {
    std::vector<int> c;
    int total = 0;
    for (const auto& [cat, n] : cats) {
      c.push_back(n);
      total += n;
    }
    if (total < 20)
      continue;
    std::sort(c.rbegin(), c.rend());
    int top3 = 0;
    for (std::size_t i = 0; i < 3 && i < c.size(); ++i)
      top3 += c[i];
    share_sum += double(top3) / total;
    ++users;
  }
  ASSERT_GT(users, 100);
  EXPECT_GT(share_sum / users, 0.75) << share_sum / users;
}

TEST(synthetic, defaults_give_item_similarity_work) {
  const auto& shop = default_shop();
  std::map<int, std::int64_t> sales; // buy + cart, as items.sales_count
  std::map<int, std::set<int>> buyers;
  for (const auto& e : shop.events)
    if (e.kind == behavior_kind::buy || e.kind == behavior_kind::cart) {
      ++sales[e.item];
      buyers[e.user].insert(e.item);
    }
  int hot = 0;
  for (const auto& [item, n] : sales)
    hot += n > 10;
  EXPECT_GE(hot, 24) << "dozens of items with sales_count > 10";

  // Co-occurrence over users (each user contributes each of their item pairs once).
  std::map<std::pair<int, int>, int> common;
  for (const auto& [u, items] : buyers)
    for (auto a = items.begin(); a != items.end(); ++a)
      for (auto b = std::next(a); b != items.end(); ++b)
        ++common[{*a, *b}];
  int pairs = 0;
  for (const auto& [p, n] : common)
    pairs += n >= 5;
  EXPECT_GE(pairs, 100) << "item pairs sharing >= 5 users";
}

TEST(synthetic, check_options) {
  EXPECT_FALSE(check_options(synthetic_options{}));
  auto bad = [](auto mutate) {
    synthetic_options opt;
    mutate(opt);
    return check_options(opt).has_value();
  };
  EXPECT_TRUE(bad([](auto& o) { o.users = 0; }));
  EXPECT_TRUE(bad([](auto& o) { o.items = -1; }));
  EXPECT_TRUE(bad([](auto& o) { o.events = -1; }));
  EXPECT_TRUE(bad([](auto& o) { o.categories = 0; }));
  EXPECT_TRUE(bad([](auto& o) { o.brands = 0; }));
  EXPECT_TRUE(bad([](auto& o) { o.days = 0; }));
  EXPECT_TRUE(bad([](auto& o) { o.now = 300'000'000'000; }));
  // Tiny shops work too.
  synthetic_options tiny;
  tiny.users = tiny.items = tiny.categories = tiny.brands = tiny.days = 1;
  tiny.events = 50;
  tiny.now = now;
  auto shop = generate_shop(tiny);
  EXPECT_EQ(shop.events.size(), 50u);
  EXPECT_EQ(shop.items.size(), 1u);
}

// ---- parse_timestamp -------------------------------------------------------

TEST(parse_timestamp, unix_seconds) {
  EXPECT_EQ(parse_timestamp("0"), 0);
  EXPECT_EQ(parse_timestamp("1714564800"), 1714564800);
  EXPECT_EQ(parse_timestamp("+1714564800"), 1714564800);
  EXPECT_EQ(parse_timestamp("1714564800.75"), 1714564800);
  EXPECT_EQ(parse_timestamp("1714564800.0"), 1714564800);
  EXPECT_EQ(parse_timestamp("-86400"), -86400);
  EXPECT_EQ(parse_timestamp("-1.5"), -2); // the second it lies in
  EXPECT_EQ(parse_timestamp("00042"), 42);
  EXPECT_EQ(parse_timestamp("253402300799"), 253402300799);
}

TEST(parse_timestamp, iso8601) {
  EXPECT_EQ(parse_timestamp("2024-05-01T12:00:00Z"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01t12:00:00z"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01 12:00:00"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:00:00"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01T14:00:00+02:00"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01T14:00:00+0200"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01T14:00:00+02"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01T06:30:00-05:30"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:00:00.999Z"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:00:00,5"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:00Z"), 1714564800);
  EXPECT_EQ(parse_timestamp("2024-05-01"), 1714521600);
  EXPECT_EQ(parse_timestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_timestamp("1969-12-31T23:59:59Z"), -1);
  EXPECT_EQ(parse_timestamp("2024-02-29T00:00:00Z"), 1709164800);
  EXPECT_EQ(parse_timestamp("2000-01-01T00:00:00+00:00"), 946684800);
  EXPECT_EQ(parse_timestamp("9999-12-31T23:59:59Z"), 253402300799);
  EXPECT_EQ(parse_timestamp("0001-01-01T00:00:00Z"), -62135596800);
}

TEST(parse_timestamp, invalid) {
  for (const char* s : {"",
                        " ",
                        "abc",
                        "12a",
                        "1.",
                        ".5",
                        "1.5.2",
                        "1e9",
                        "--1",
                        "+-1",
                        " 1714564800",
                        "1714564800 ",
                        "253402300800",
                        "99999999999999999999999",
                        "2024-13-01T00:00:00Z",
                        "2024-00-10",
                        "2023-02-29",
                        "2024-04-31",
                        "2024-05-01T24:00:00Z",
                        "2024-05-01T12:60:00Z",
                        "2024-05-01T12:00:60Z",
                        "2024-05-01T12",
                        "2024-05-01T12:00:00.Z",
                        "2024-05-01T12:00:00+2",
                        "2024-05-01T12:00:00+02:",
                        "2024-05-01T12:00:00+24:00",
                        "2024-05-01T12:00:00 UTC",
                        "2024-05-01X12:00:00",
                        "2024-5-1",
                        "24-05-01",
                        "0000-01-01",
                        "2024-05-01T12:00:00ZZ",
                        "9999-12-31T23:59:59-01:00"})
    EXPECT_FALSE(parse_timestamp(s).has_value()) << '"' << s << '"';
}

} // namespace
