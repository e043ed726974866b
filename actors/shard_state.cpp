#include "actors/shard_state.hpp"
#include "actors/version_board.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <iterator>
#include <chrono>
#include <cmath>
#include <functional>

namespace recd {

// ---- helpers ---------------------------------------------------------------------

float behavior_weight(const recommend_settings& cfg, behavior_kind k) {
  switch (k) {
    case behavior_kind::view: return static_cast<float>(cfg.view_weight);
    case behavior_kind::click: return static_cast<float>(cfg.click_weight);
    case behavior_kind::cart: return static_cast<float>(cfg.cart_weight);
    case behavior_kind::buy: return static_cast<float>(cfg.buy_weight);
  }
  return 1;
}

template <class History>
void record_history(History& history, const behavior_event& e, std::size_t cap) {
  history_entry entry{e.item, e.kind, e.ts};
  auto it = std::find_if(history.begin(), history.end(),
                         [&](const history_entry& r) { return r.item == e.item; });
  if (it != history.end()) {
    entry = history_entry{e.item, std::max(it->kind, e.kind), std::max(it->ts(), e.ts)};
    history.erase(it);
  }
  // Keep the vector ordered by time: an event may arrive with an older timestamp.
  auto ts = entry.ts();
  auto pos = std::upper_bound(history.begin(), history.end(), ts,
                              [](unix_seconds t, const history_entry& r) { return t < r.ts(); });
  if (history.size() == history.capacity()) {
    // Grow by a quarter, not double: a full history needs cap + 1 at most.
    auto at = pos - history.begin();
    history.reserve(std::min(cap + 1, history.size() + history.size() / 4 + 1));
    pos = history.begin() + at;
  }
  history.insert(pos, entry);
  if (history.size() > cap)
    history.erase(history.begin(), history.begin() + static_cast<long>(history.size() - cap));
}

template void record_history(std::vector<history_entry>&, const behavior_event&, std::size_t);
template void record_history(std::pmr::vector<history_entry>&, const behavior_event&, std::size_t);

std::vector<scored_user> similar_users(const std::vector<neighbour_item>& row) {
  std::vector<scored_user> out;
  out.reserve(row.size());
  for (const auto& n : row)
    out.push_back({n.item, n.score});
  return out;
}

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

// Moves the best k positive accumulated scores into `out` as candidates of
// `route` (best by score, ties by item id), in no particular order: the API's
// merge sums and ranks them whatever their order. Non-positive ones are left
// out: the merge drops them anyway, and excluded items were blocked (score
// -infinity) before accumulating. The k-th best is bracketed by radix on the
// scores' bits (positive floats order as their bit patterns): a first visit
// of the entries counts bits 30..20, a second makes candidates of the
// entries in the bin holding the k-th and above only; among those, bits
// 19..9 of that bin find a 2^9-ulp floor, and the few at or above it are cut
// to the best k by a selection (not a sort).
template <class Servable>
void emit_top(const score_table& acc, recall_route route, std::size_t k,
              std::vector<candidate>& out, const Servable& ok) {
  // The entries in bins below the one holding the k-th best cannot be among
  // the best k, so they never become candidates (thousands of them for a
  // long history: the answer grew to hold them all). Only servable (`ok`)
  // entries are counted, so the bins from the cut up hold at least k.
  std::uint32_t low = 0;
  {
    std::array<std::uint32_t, 2048> counts{};
    std::size_t positive = 0;
    acc.for_each([&](item_id item, const score_table::entry& e) {
      if (e.score > 0 && ok(item)) {
        ++counts[std::bit_cast<std::uint32_t>(e.score) >> 20];
        ++positive;
      }
    });
    if (positive > k) {
      std::size_t cut = counts.size(), taken = 0;
      while (taken < k)
        taken += counts[--cut];
      low = static_cast<std::uint32_t>(cut << 20);
    }
  }
  const auto first = out.size();
  acc.for_each([&](item_id item, const score_table::entry& e) {
    if (e.score > 0 && std::bit_cast<std::uint32_t>(e.score) >= low && ok(item))
      out.push_back({item, route, e.score, e.because});
  });
  const auto begin = out.begin() + static_cast<long>(first);
  if (out.size() - first > k) {
    auto bits = [](const candidate& c) { return std::bit_cast<std::uint32_t>(c.score); };
    std::array<std::uint32_t, 2048> counts{};
    for (auto c = begin; c != out.end(); ++c)
      ++counts[bits(*c) >> 20]; // the sign bit is 0: bins of bits 30..20
    std::size_t cut = counts.size(), taken = 0;
    while (taken < k)
      taken += counts[--cut];
    const std::size_t above = taken - counts[cut]; // < k
    counts.fill(0);
    for (auto c = begin; c != out.end(); ++c)
      if ((bits(*c) >> 20) == cut)
        ++counts[(bits(*c) >> 9) & 2047]; // bits 19..9 within the cut bin
    std::size_t cut2 = counts.size();
    taken = above;
    while (taken < k)
      taken += counts[--cut2];
    const auto floor = static_cast<std::uint32_t>((cut << 20) | (cut2 << 9));
    out.erase(std::remove_if(begin, out.end(), [&](const candidate& c) { return bits(c) < floor; }),
              out.end());
  }
  if (out.size() - first > k) {
    auto better = [](const candidate& x, const candidate& y) {
      return x.score != y.score ? x.score > y.score : x.item < y.item;
    };
    const auto kth = out.begin() + static_cast<long>(first + k);
    std::nth_element(out.begin() + static_cast<long>(first), kth, out.end(), better);
    out.erase(kth, out.end());
  }
}

} // namespace

// ---- shard_state -----------------------------------------------------------------

shard_state::shard_state(recommend_settings cfg) : cfg_(std::move(cfg)) {}

void shard_state::user_changed(user_id u) {
  if (board_)
    board_->user_changed(u);
}

void shard_state::all_changed() {
  if (board_)
    board_->all_changed();
}

user_context shard_state::context(user_id u, std::size_t recent, std::size_t similar) const {
  user_context ctx;
  ctx.user = u;
  ctx.catalog_epoch = catalog_epoch();
  auto it = users_.find(u);
  if (it == users_.end())
    return ctx;
  const auto& rec = it->second;
  ctx.known = true;
  ctx.version = rec.version;
  for (auto h = rec.history.rbegin(); h != rec.history.rend() && ctx.recent.size() < recent; ++h)
    ctx.recent.push_back(h->recent());
  ctx.bought.assign(rec.bought.begin(), rec.bought.end());
  // The remembered items, sorted: folded into `bought` (recommend.exclude_seen)
  // or sent apart, so a request may choose otherwise (user_context).
  std::vector<item_id> seen;
  seen.reserve(rec.history.size());
  for (const auto& h : rec.history)
    seen.push_back(h.item);
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  if (cfg_.exclude_seen != 0) {
    ctx.seen_in_bought = true;
    ctx.purchased.assign(rec.bought.begin(), rec.bought.end());
    std::vector<item_id> both;
    both.reserve(ctx.bought.size() + seen.size());
    std::set_union(ctx.bought.begin(), ctx.bought.end(), seen.begin(), seen.end(),
                   std::back_inserter(both));
    ctx.bought = std::move(both);
  } else {
    ctx.seen = std::move(seen);
  }
  ctx.similar.assign(rec.similar.begin(),
                     rec.similar.begin() + static_cast<long>(std::min(similar, rec.similar.size())));
  ctx.vector.assign(rec.vec.begin(), rec.vec.end());
  ctx.catalog_epoch = catalog_epoch();
  ctx.categories = top_categories(rec);
  return ctx;
}

std::uint64_t shard_state::version(user_id u) const {
  auto it = users_.find(u);
  return it == users_.end() ? 0 : it->second.version;
}

double shard_state::popularity_gain(behavior_kind k, unix_seconds ts) const {
  double half_life = cfg_.popularity_half_life_days * 86400.0;
  return behavior_weight(cfg_, k) * std::exp2(double(ts - popularity_epoch_) / half_life);
}

const std::vector<std::pair<item_id, double>>& shard_state::popular_items() {
  // Rebuilt at most once a second: popularity changes with every event, but
  // the ranking of the head moves slowly.
  auto now = now_ms();
  if (popular_dirty_ && (popular_.empty() || now - popular_built_at_ms_ >= 1000)) {
    popular_.clear();
    popular_.reserve(items_.size());
    // Items with no recent behavior still rank by their all-time sales, below
    // every recently active item: a shop whose data is old still has a head.
    for (const auto& [id, item] : items_)
      if (item.popularity > 0 || item.details.sales > 0)
        popular_.emplace_back(id, item.popularity + 1e-9 * item.details.sales);
    auto keep = std::min<std::size_t>(popular_.size(), 500);
    auto better = [](const auto& x, const auto& y) {
      return x.second != y.second ? x.second > y.second : x.first < y.first;
    };
    std::partial_sort(popular_.begin(), popular_.begin() + static_cast<long>(keep), popular_.end(),
                      better);
    popular_.resize(keep);
    popular_dirty_ = false;
    popular_built_at_ms_ = now;
  }
  return popular_;
}

float shard_state::user_cf_weight(behavior_kind k) const {
  switch (k) {
    case behavior_kind::buy: return 1.0f;
    case behavior_kind::cart: return 0.5f;
    case behavior_kind::click: return static_cast<float>(cfg_.user_cf_click_weight);
    case behavior_kind::view: return static_cast<float>(cfg_.user_cf_view_weight);
  }
  return 0;
}

namespace {
bool in_category(const item_details& d, const std::string& category) {
  return std::find(d.categories.begin(), d.categories.end(), category) != d.categories.end();
}
} // namespace

std::vector<candidate> shard_state::recall(const recall_request& req,
                                           const std::function<bool(item_id)>& on_standby) {
  std::vector<candidate> out;
  auto k = static_cast<std::size_t>(std::max(req.per_route, 1));
  // Hidden and unavailable items are never proposed, whichever shard owns them.
  // A category page (req.only_category) gets owned items of that category
  // only; others' items are kept for the API node to decide.
  auto ok = [&](item_id i) {
    if (!restricted_.empty() && !servable_item(i, req.now))
      return false;
    if (req.only_category.empty())
      return true;
    auto it = items_.find(i);
    return it == items_.end() || in_category(it->second.details, req.only_category);
  };
  // This shard's own items that it proposes itself (vector, category, popular).
  auto own = [&](item_id i) { return ok(i) && !(on_standby && on_standby(i)); };
  double recency_half_life = cfg_.recency_half_life_days * 86400.0;
  // Item CF: neighbours of the user's recent items, weighted by kind and recency.
  auto& acc = scratch_;
  auto start = [&] {
    acc.clear();
    for (auto item : req.exclude)
      acc.block(item);
  };
  start();
  // Ages count from the user's newest seed, not from now: the merge divides
  // each route by its best evidence, so a factor common to all seeds changes
  // no ranking, and a user whose history is years old is not decayed to zero
  // (a float underflows after about 126 half-lives). Every shard sees the
  // same seeds, so every shard uses the same origin.
  unix_seconds newest = 0;
  for (const auto& r : req.recent)
    newest = std::max(newest, r.ts);
  // The held seeds are all looked up first, then summed: lookups that do not
  // wait on one another's sums overlap their cache misses.
  seeds_.clear();
  for (const auto& r : req.recent) {
    // A seed of a partition recalled elsewhere counts there only; it still
    // set the origin above, which must be the same on every shard.
    if (on_standby && on_standby(r.item))
      continue;
    auto it = items_.find(r.item);
    if (it == items_.end())
      continue;
    double age = std::max<double>(0, double(newest - r.ts));
    auto w = static_cast<float>(behavior_weight(cfg_, r.kind) * std::exp2(-age / recency_half_life));
    __builtin_prefetch(it->second.neighbours.data());
    seeds_.push_back({&it->second, w, r.item});
  }
  for (const auto& seed : seeds_)
    acc.add_all(seed.record->neighbours, seed.item, [w = seed.weight](const neighbour_item& n) {
      return std::pair{n.item, n.score * w};
    });
  emit_top(acc, recall_route::item_cf, k, out, ok);
  // User CF: what the most similar users bought (full weight), carted (half),
  // clicked or viewed (recommend.user_cf_click_weight, user_cf_view_weight).
  start();
  // Each kind's weight once per request, not a switch per history entry.
  const std::array<float, 4> kind_weight{
    user_cf_weight(behavior_kind::view), user_cf_weight(behavior_kind::click),
    user_cf_weight(behavior_kind::cart), user_cf_weight(behavior_kind::buy)};
  similar_.clear();
  for (const auto& s : req.similar) {
    if (on_standby && on_standby(s.user))
      continue; // recalled where its partition is
    auto it = users_.find(s.user);
    if (it == users_.end())
      continue;
    __builtin_prefetch(it->second.history.data());
    similar_.push_back({&it->second, s.score, s.user});
  }
  for (const auto& s : similar_)
    acc.add_all<true>(s.record->history, s.user, [&, score = s.score](const history_entry& h) {
      const auto kind = static_cast<std::size_t>(h.kind);
      return std::pair{h.item, score * (kind < kind_weight.size() ? kind_weight[kind] : 0.0f)};
    });
  emit_top(acc, recall_route::user_cf, k, out, ok);
  // The other routes ask the table which items are excluded (still blocked).
  auto excluded = [&](item_id item) { return acc.blocked(item); };
  // Vector: nearest items to the user's taste vector.
  if (index_ && !req.vector.empty()) {
    // Standby items can fill the nearest list: then it is asked again,
    // wider, down to 16 times k + the excluded items at most.
    const auto first = out.size();
    const auto deepest = 16 * (k + req.exclude.size());
    for (std::size_t wanted = k;; wanted *= 2) {
      out.resize(first);
      std::size_t taken = 0;
      // In any order when every item is this shard's to propose (no
      // standby ones to skip): all of them are taken.
      auto nearest = index_->nearest(req.vector, wanted, req.exclude, static_cast<bool>(on_standby));
      for (const auto& n : nearest)
        if (own(n.item) && taken++ < k)
          out.push_back({n.item, recall_route::vector, n.score, -1});
      if (!on_standby || taken >= k || nearest.size() < wanted || wanted >= deepest)
        break;
    }
  }
  // Category: the owned items of the user's top categories, new arrivals
  // first (scores above new_arrival_score), then by popularity at the
  // request's time; `because` is the category's index in the request.
  {
    double half_life = cfg_.popularity_half_life_days * 86400.0;
    double to_now = std::exp2(double(popularity_epoch_ - req.now) / half_life);
    std::unordered_map<item_id, candidate> best;
    for (std::size_t c = 0; c < req.categories.size(); ++c) {
      auto id = category_ids_.find(req.categories[c]);
      if (id == category_ids_.end())
        continue;
      const auto* list = category_items(id->second, req.now);
      if (list == nullptr)
        continue;
      std::size_t taken = 0;
      for (const auto& [item, score] : *list) {
        if (taken >= k)
          break;
        if (excluded(item) || !own(item))
          continue;
        ++taken;
        float s = score >= new_arrival_score
                    ? new_arrival_score + static_cast<float>((score - new_arrival_score) * to_now)
                    : static_cast<float>(score * to_now);
        auto [it, fresh] = best.try_emplace(item, candidate{item, recall_route::category, s,
                                                           static_cast<std::int32_t>(c)});
        if (!fresh && s > it->second.score)
          it->second = candidate{item, recall_route::category, s, static_cast<std::int32_t>(c)};
      }
    }
    for (const auto& [item, c] : best)
      out.push_back(c);
  }
  // Popular: decayed popularity, rescaled to the request's time so shards agree.
  double half_life = cfg_.popularity_half_life_days * 86400.0;
  double to_now = std::exp2(double(popularity_epoch_ - req.now) / half_life);
  if (!req.only_category.empty()) {
    // Every owned item of the category, not only the head of the shop: a
    // category page lists its items by popularity, new ones (no sales yet) last.
    std::vector<std::pair<item_id, double>> in_cat;
    for (const auto& [id, item] : items_)
      if (in_category(item.details, req.only_category) && !excluded(id) && own(id))
        in_cat.emplace_back(id, item.popularity + 1e-9 * item.details.sales + 1e-12);
    auto top = std::min(k, in_cat.size());
    std::partial_sort(in_cat.begin(), in_cat.begin() + static_cast<long>(top), in_cat.end(),
                      [](const auto& x, const auto& y) {
                        return x.second != y.second ? x.second > y.second : x.first < y.first;
                      });
    for (std::size_t i = 0; i < top; ++i)
      out.push_back({in_cat[i].first, recall_route::popular,
                     static_cast<float>(in_cat[i].second * to_now), -1});
    return out;
  }
  const auto& popular = popular_items();
  std::size_t taken = 0;
  for (std::size_t i = 0; i < popular.size() && taken < k; ++i)
    if (!excluded(popular[i].first) && own(popular[i].first)) {
      out.push_back({popular[i].first, recall_route::popular,
                     static_cast<float>(popular[i].second * to_now), -1});
      ++taken;
    }
  return out;
}

std::vector<item_details> shard_state::details(const std::vector<item_id>& items,
                                               unix_seconds now) const {
  std::vector<item_details> out;
  for (auto i : items)
    if (auto it = items_.find(i); it != items_.end() && servable(it->second.details, now))
      out.push_back(it->second.details);
  return out;
}

std::optional<std::vector<float>> shard_state::item_embedding(item_id i) const {
  auto it = items_.find(i);
  if (it == items_.end())
    return std::nullopt;
  if (it->second.folded)
    return std::vector<float>{};
  return std::vector<float>(it->second.embedding.begin(), it->second.embedding.end());
}

std::uint64_t shard_state::apply_user(const behavior_event& e, const std::vector<float>& item_vec) {
  auto& rec = users_[e.user];
  ++rec.version;
  user_changed(e.user);
  record_history(rec.history, e, static_cast<std::size_t>(std::max(cfg_.history_items, 1)));
  if (e.kind == behavior_kind::buy) {
    auto pos = std::lower_bound(rec.bought.begin(), rec.bought.end(), e.item);
    if (pos == rec.bought.end() || *pos != e.item)
      rec.bought.insert(pos, e.item);
  }
  // Fold the item into the taste vector at once: an exponential moving
  // average, stronger for stronger behaviors, then back to unit length.
  fold_taste(rec.vec, item_vec, behavior_weight(cfg_, e.kind));
  return rec.version;
}

// The items or partitions held changed (a load, a move, a drop): the popular
// and category lists are rebuilt at the next recall, not up to a second
// later, so no answer ranks from a list of items the shard no longer holds
// (or lacks those it just took over).
void shard_state::holdings_changed() {
  all_changed(); // users may have come or gone: their versions with them
  popular_dirty_ = true;
  category_lists_dirty_ = true;
  popular_built_at_ms_ = 0;
  category_lists_built_at_ms_ = 0;
}

void shard_state::apply_item(const behavior_event& e) {
  auto it = items_.find(e.item);
  if (it == items_.end())
    return;
  it->second.popularity += popularity_gain(e.kind, e.ts);
  if (e.kind == behavior_kind::buy || e.kind == behavior_kind::cart)
    ++it->second.details.sales;
  popular_dirty_ = true;
  category_lists_dirty_ = true;
}

void shard_state::add_item(const item_details& details, const std::vector<float>& unit_embedding) {
  auto& item = items_[details.item];
  item.details = details;
  auto window = window_of(details);
  if (auto it = restricted_.find(details.item); it == restricted_.end()) {
    if (window.restricted())
      restricted_[details.item] = {window, details.epoch};
  } else if (it->second.second <= details.epoch) {
    it->second = {window, details.epoch};
  }
  // A published embedding (from the database) replaces a folded vector; none
  // leaves a folded one in place.
  if (!unit_embedding.empty() || !item.folded) {
    assign_exact(item.embedding, unit_embedding);
    item.folded = false;
  }
  if (index_ && !unit_embedding.empty() &&
      unit_embedding.size() == static_cast<std::size_t>(index_->dim()))
    index_->add(details.item, unit_embedding);
}

} // namespace recd
