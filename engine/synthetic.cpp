#include "engine/synthetic.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <random>
#include <string_view>

#include "engine/timestamp.hpp"

namespace recd::engine {

namespace {

constexpr std::int64_t day_seconds = 86400;

// Funnel conversion rates (of views, clicks and carts) and session shape.
constexpr double click_rate = 0.35;
constexpr double cart_rate = 0.30;
constexpr double buy_rate = 0.50;
constexpr double taste_session_rate = 0.85; // sessions about one preferred category
constexpr double in_category_rate = 0.85;   // views of such a session inside that category
constexpr double next_view_rate = 0.78;     // views per session are geometric, mean ~4.5
constexpr int max_views = 40;               // bounds a session to under 4 hours

// Random numbers from std::mt19937_64, whose sequence the standard fixes, with
// hand-written distributions (the std:: ones differ between libraries).
class rng {
public:
  explicit rng(std::uint64_t seed) : gen_(seed) {}

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), unbiased (rejects the short last bucket). n > 0.
  std::uint64_t below(std::uint64_t n) {
    // 2^64 - threshold values remain, a multiple of n.
    const std::uint64_t threshold = (std::uint64_t{0} - n) % n;
    for (;;) {
      const auto x = gen_();
      if (x >= threshold)
        return x % n;
    }
  }

  // Uniform integer in [lo, hi].
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }

  bool chance(double p) { return uniform() < p; }

  // Standard normal by Box-Muller (one value per call; the second is dropped).
  double normal() {
    const double u1 = 1.0 - uniform(); // (0, 1]: log stays finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
  }

  // A random permutation of 0..n-1 (Fisher-Yates).
  std::vector<std::uint32_t> permutation(std::size_t n) {
    std::vector<std::uint32_t> p(n);
    std::iota(p.begin(), p.end(), 0u);
    for (std::size_t i = n; i > 1; --i)
      std::swap(p[i - 1], p[below(i)]);
    return p;
  }

private:
  std::mt19937_64 gen_;
};

// Draws indices with probability proportional to fixed non-negative weights
// (cumulative sums and a binary search). Never returns a zero-weight index.
class picker {
public:
  void add(double weight) {
    total_ += std::max(weight, 0.0);
    if (weight > 0)
      last_positive_ = cumulative_.size();
    cumulative_.push_back(total_);
  }
  bool empty() const { return total_ <= 0; }
  std::size_t size() const { return cumulative_.size(); }
  double total() const { return total_; }

  // Precondition: !empty().
  std::size_t pick(rng& r) const {
    const double x = r.uniform() * total_;
    auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), x);
    if (it == cumulative_.end()) // x rounded up to the total
      return last_positive_;
    return static_cast<std::size_t>(it - cumulative_.begin());
  }

private:
  std::vector<double> cumulative_;
  double total_ = 0;
  std::size_t last_positive_ = 0;
};

// Zipf-like weight of the item (or category, or user) ranked `rank` (0 = top).
double zipf(std::uint32_t rank, double exponent, double offset = 1.0) {
  return 1.0 / std::pow(static_cast<double>(rank) + offset, exponent);
}

double round_cents(double x) {
  return std::round(x * 100.0) / 100.0;
}

// ---- names ------------------------------------------------------------------

constexpr std::array<std::string_view, 20> brand_stems = {
    "Acme", "Nova", "Zen",  "Apex", "Bolt",  "Luma", "Terra", "Vivo",  "Orion",  "Pixel",
    "Aero", "Echo", "Flux", "Hexa", "Kairo", "Mira", "Onyx",  "Polar", "Quanta", "Sol"};
constexpr std::array<std::string_view, 16> brand_endings = {
    "",     "tech", "ware", "works", "line", "gear", "craft", "labs",
    "home", "pro",  "max",  "one",   "wave", "core", "nest",  "form"};
constexpr std::array<std::string_view, 40> category_nouns = {
    "Headphones", "Blender", "Backpack",   "Sneakers", "Desk Lamp",    "Coffee Maker", "Smartwatch",
    "Keyboard",   "Monitor", "Tent",       "Yoga Mat", "Water Bottle", "Jacket",       "Camera",
    "Drone",      "Speaker", "Toaster",    "Vacuum",   "Router",       "Charger",      "Sunglasses",
    "Wallet",     "Novel",   "Board Game", "Skillet",  "Knife Set",    "Pillow",       "Blanket",
    "Drill",      "Bicycle", "Helmet",     "Guitar",   "Perfume",      "Shampoo",      "Toothbrush",
    "Dog Bed",    "Puzzle",  "Notebook",   "Printer",  "Tablet"};
constexpr std::array<std::string_view, 6> category_adjectives = {"",        "Smart ",   "Mini ",
                                                                 "Travel ", "Classic ", "Pro "};
constexpr std::string_view model_letters = "ABCDEFGHKLMNPRSTVXZ";

// Distinct names for the first 320 brands, then numbered.
std::string brand_name(std::int32_t b) {
  const auto n_stems = static_cast<std::int32_t>(brand_stems.size());
  const auto n_endings = static_cast<std::int32_t>(brand_endings.size());
  std::string name{brand_stems[static_cast<std::size_t>(b % n_stems)]};
  name += brand_endings[static_cast<std::size_t>((b / n_stems) % n_endings)];
  if (b >= n_stems * n_endings)
    name += " " + std::to_string(b / (n_stems * n_endings) + 1);
  return name;
}

// Distinct nouns for the first 240 categories, then numbered.
std::string category_noun(std::int32_t c) {
  const auto n_nouns = static_cast<std::int32_t>(category_nouns.size());
  const auto n_adj = static_cast<std::int32_t>(category_adjectives.size());
  std::string noun{category_adjectives[static_cast<std::size_t>((c / n_nouns) % n_adj)]};
  noun += category_nouns[static_cast<std::size_t>(c % n_nouns)];
  if (c >= n_nouns * n_adj)
    noun += " " + std::to_string(c / (n_nouns * n_adj) + 1);
  return noun;
}

// ---- the generator ----------------------------------------------------------

// A user's preferred categories and how their taste sessions split among them.
struct taste {
  std::array<std::int32_t, 3> categories{};
  std::array<double, 3> cumulative{}; // cumulative share, last one = 1
  int count = 0;
};

// UTC hour-of-day traffic shape (peak in the evening, quiet at night); used
// to thin session start times by rejection.
constexpr std::array<double, 24> hourly_traffic = {0.30, 0.20, 0.15, 0.10, 0.10, 0.15, 0.30, 0.50,
                                                   0.70, 0.80, 0.85, 0.90, 0.95, 0.90, 0.85, 0.85,
                                                   0.90, 1.00, 1.00, 1.00, 0.95, 0.85, 0.65, 0.45};

class generator {
public:
  explicit generator(const synthetic_options& opt) : opt_(opt), r_(opt.seed) {
    opt_.users = std::max(opt_.users, 1);
    opt_.items = std::max(opt_.items, 1);
    opt_.categories = std::max(opt_.categories, 1);
    opt_.brands = std::max(opt_.brands, 1);
    opt_.days = std::max(opt_.days, 1);
    opt_.events = std::max<std::int64_t>(opt_.events, 0);
  }

  synthetic_shop run() {
    make_categories();
    make_brands();
    make_items();
    make_users();
    make_events();
    return std::move(shop_);
  }

private:
  void make_categories() {
    const auto n = static_cast<std::size_t>(opt_.categories);
    auto rank = r_.permutation(n);
    for (std::size_t c = 0; c < n; ++c) {
      category_size_.add(zipf(rank[c], 0.8)); // some categories are much larger
      // Median price between 8 and 400, log-uniform.
      category_price_.push_back(std::exp(std::log(8.0) + r_.uniform() * std::log(400.0 / 8.0)));
    }
  }

  void make_brands() {
    const auto n = static_cast<std::size_t>(opt_.brands);
    for (std::size_t b = 0; b < n; ++b) {
      brand_quality_.push_back(0.25 * r_.normal());
      brand_premium_.push_back(std::exp(0.25 * r_.normal()));
    }
    // Each category is served by a pool of brands, a few of them dominant.
    const auto pool = static_cast<std::size_t>(std::min<std::int64_t>(
        std::max<std::int64_t>(std::int64_t{opt_.brands} * 3 / opt_.categories, 3), opt_.brands));
    brand_pools_.resize(static_cast<std::size_t>(opt_.categories));
    for (auto& p : brand_pools_)
      for (std::size_t j = 0; j < pool; ++j)
        p.push_back(static_cast<std::int32_t>(r_.below(n)));
    for (std::size_t j = 0; j < pool; ++j)
      brand_share_.add(zipf(static_cast<std::uint32_t>(j), 1.0));
  }

  void make_items() {
    const auto n = static_cast<std::size_t>(opt_.items);
    auto rank = r_.permutation(n); // popularity rank, independent of the id
    category_items_.resize(static_cast<std::size_t>(opt_.categories));
    category_pick_.resize(static_cast<std::size_t>(opt_.categories));
    shop_.items.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      catalog_item it;
      it.id = static_cast<item_id>(i + 1);
      it.category = static_cast<std::int32_t>(category_size_.pick(r_));
      const auto c = static_cast<std::size_t>(it.category);
      it.brand = brand_pools_[c][brand_share_.pick(r_)];
      const auto b = static_cast<std::size_t>(it.brand);
      const double price = category_price_[c] * brand_premium_[b] * std::exp(0.5 * r_.normal());
      it.price = round_cents(std::clamp(price, 1.0, 2000.0));
      const double rating = 3.9 + brand_quality_[b] + 0.45 * r_.normal();
      it.rating = round_cents(std::clamp(rating, 1.0, 5.0));
      it.title = brand_name(it.brand) + " " + category_noun(it.category) + " " +
                 model_letters[r_.below(model_letters.size())] +
                 std::to_string(r_.between(10, 999));
      // Zipf over all items; restricted to a category it stays Zipf-like.
      const double weight = zipf(rank[i], 0.85);
      item_pick_.add(weight);
      category_items_[c].push_back(it.id);
      category_pick_[c].add(weight);
      shop_.items.push_back(std::move(it));
    }
  }

  void make_users() {
    const auto n = static_cast<std::size_t>(opt_.users);
    auto rank = r_.permutation(n);
    // Fans follow category traffic: popular categories have more of them.
    picker category_traffic;
    for (const auto& p : category_pick_)
      category_traffic.add(p.total());
    constexpr std::array<double, 3> shares = {0.6, 0.3, 0.1};
    tastes_.resize(n);
    for (std::size_t u = 0; u < n; ++u) {
      // Activity ~ (rank+20)^-0.75: with the defaults the top 1% of users make
      // ~15% of the events, and a fifth of the users none (one-off sessions are
      // the common case).
      activity_.add(zipf(rank[u], 0.75, 20.0));
      auto& t = tastes_[u];
      const int wanted = 1 + static_cast<int>(r_.below(3));
      for (int tries = 0; t.count < wanted && tries < 10; ++tries) {
        auto c = static_cast<std::int32_t>(category_traffic.pick(r_));
        if (std::find(t.categories.begin(), t.categories.begin() + t.count, c) ==
            t.categories.begin() + t.count)
          t.categories[static_cast<std::size_t>(t.count++)] = c;
      }
      double sum = 0, acc = 0;
      for (int k = 0; k < t.count; ++k)
        sum += shares[static_cast<std::size_t>(k)];
      for (int k = 0; k < t.count; ++k)
        t.cumulative[static_cast<std::size_t>(k)] =
            (acc += shares[static_cast<std::size_t>(k)] / sum);
      t.cumulative[static_cast<std::size_t>(t.count - 1)] = 1.0;
    }
  }

  // A session start in the window, thinned by the hour-of-day traffic shape.
  unix_seconds session_start() {
    const std::int64_t window = std::int64_t{opt_.days} * day_seconds;
    for (;;) {
      const unix_seconds t =
          opt_.now - window + 1 +
          static_cast<std::int64_t>(r_.below(static_cast<std::uint64_t>(window)));
      const auto hour =
          static_cast<std::size_t>(((t % day_seconds) + day_seconds) % day_seconds / 3600);
      if (r_.chance(hourly_traffic[hour]))
        return t;
    }
  }

  item_id pick_item(std::int32_t category) {
    if (category >= 0 && r_.chance(in_category_rate)) {
      const auto c = static_cast<std::size_t>(category);
      return category_items_[c][category_pick_[c].pick(r_)];
    }
    return static_cast<item_id>(item_pick_.pick(r_) + 1);
  }

  void make_events() {
    auto& events = shop_.events;
    events.reserve(static_cast<std::size_t>(opt_.events));
    std::vector<behavior_event> session;
    while (static_cast<std::int64_t>(events.size()) < opt_.events) {
      const auto u = activity_.pick(r_);
      const auto user = static_cast<user_id>(u + 1);
      const auto& t = tastes_[u];
      std::int32_t category = -1; // -1: a browsing session across the shop
      if (r_.chance(taste_session_rate)) {
        const double x = r_.uniform();
        int k = 0;
        while (k + 1 < t.count && x >= t.cumulative[static_cast<std::size_t>(k)])
          ++k;
        category = t.categories[static_cast<std::size_t>(k)];
      }
      // Offsets from the session start; every funnel step is strictly later
      // than the step before it.
      session.clear();
      unix_seconds at = 0;
      for (int v = 0; v == 0 || (v < max_views && r_.chance(next_view_rate)); ++v) {
        const item_id item = pick_item(category);
        session.push_back({user, item, behavior_kind::view, at});
        unix_seconds step = at;
        if (r_.chance(click_rate)) {
          step += r_.between(20, 240);
          session.push_back({user, item, behavior_kind::click, step});
          if (r_.chance(cart_rate)) {
            step += r_.between(30, 600);
            session.push_back({user, item, behavior_kind::cart, step});
            if (r_.chance(buy_rate)) {
              step += r_.between(60, 900);
              session.push_back({user, item, behavior_kind::buy, step});
            }
          }
        }
        at += r_.between(15, 300);
      }
      std::stable_sort(session.begin(), session.end(),
                       [](const auto& a, const auto& b) { return a.ts < b.ts; });
      // Place the session; one ending after `now` is moved back to end there
      // (sessions last < 4 h, far less than the >= 1 day window).
      unix_seconds start = session_start();
      start -= std::max<unix_seconds>(0, start + session.back().ts - opt_.now);
      const auto room =
          static_cast<std::size_t>(opt_.events - static_cast<std::int64_t>(events.size()));
      const auto take = std::min(room, session.size()); // a time prefix keeps the funnel whole
      for (std::size_t k = 0; k < take; ++k) {
        session[k].ts += start;
        events.push_back(session[k]);
      }
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const auto& a, const auto& b) { return a.ts < b.ts; });
  }

  synthetic_options opt_;
  rng r_;
  synthetic_shop shop_;
  picker category_size_;
  std::vector<double> category_price_;
  std::vector<double> brand_quality_, brand_premium_;
  std::vector<std::vector<std::int32_t>> brand_pools_;
  picker brand_share_;
  picker item_pick_;
  std::vector<std::vector<item_id>> category_items_;
  std::vector<picker> category_pick_;
  picker activity_;
  std::vector<taste> tastes_;
};

} // namespace

std::optional<std::string> check_options(const synthetic_options& opt) {
  if (opt.users < 1)
    return "users must be at least 1";
  if (opt.items < 1)
    return "items must be at least 1";
  if (opt.events < 0)
    return "events must not be negative";
  if (opt.categories < 1)
    return "categories must be at least 1";
  if (opt.brands < 1)
    return "brands must be at least 1";
  if (opt.days < 1)
    return "days must be at least 1";
  if (opt.now > max_timestamp || opt.now - std::int64_t{opt.days} * day_seconds < min_timestamp)
    return "the time window must lie within the years 0001..9999";
  return std::nullopt;
}

synthetic_shop generate_shop(const synthetic_options& opt) {
  return generator{opt}.run();
}

} // namespace recd::engine
