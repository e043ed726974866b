// shard_state's catalog part (sql/005_catalog.sql, docs/architecture.md "The
// catalog"): the catalog changes a shard knows, pushed item changes, erased
// users, and the category route's data (every item's categories, the users'
// top categories, per category the owned items by score).
#include "actors/shard_state.hpp"

#include <algorithm>
#include <chrono>

namespace recd {

namespace {

// Top categories a user's context carries, from its newest history items.
constexpr std::size_t top_category_count = 3;
constexpr std::size_t category_history = 100;
// Items kept per category for the category route.
constexpr std::size_t category_list_cap = 200;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

} // namespace

void shard_state::note_epoch(std::uint64_t epoch) {
  if (epoch <= synced_epoch_)
    return;
  all_changed(); // catalog_epoch() changes (or may)
  ahead_.insert(epoch);
  while (!ahead_.empty() && *ahead_.begin() == synced_epoch_ + 1) {
    ++synced_epoch_;
    ahead_.erase(ahead_.begin());
  }
}

void shard_state::synced_to(std::uint64_t epoch) {
  const auto before = catalog_epoch();
  synced_epoch_ = std::max(synced_epoch_, epoch);
  ahead_.erase(ahead_.begin(), ahead_.upper_bound(synced_epoch_));
  while (!ahead_.empty() && *ahead_.begin() == synced_epoch_ + 1) {
    ++synced_epoch_;
    ahead_.erase(ahead_.begin());
  }
  if (catalog_epoch() != before)
    all_changed();
}

void shard_state::erase_user(user_id u, std::uint64_t epoch) {
  note_epoch(epoch);
  all_changed(); // u's version is gone, and other users' similar lists changed
  users_.erase(u);
  for (auto& [id, user] : users_)
    if (std::any_of(user.similar.begin(), user.similar.end(),
                    [&](const scored_user& s) { return s.user == u; })) {
      std::vector<scored_user> kept;
      kept.reserve(user.similar.size() - 1);
      for (const auto& s : user.similar)
        if (s.user != u)
          kept.push_back(s);
      assign_exact(user.similar, kept);
    }
}

std::uint32_t shard_state::intern(const std::string& name) {
  auto [it, fresh] = category_ids_.try_emplace(name, static_cast<std::uint32_t>(category_names_.size()));
  if (fresh)
    category_names_.push_back(name);
  return it->second;
}

void shard_state::set_categories(item_id i, const std::vector<std::string>& names) {
  if (names.empty()) {
    item_categories_.erase(i);
    return;
  }
  std::vector<std::uint32_t> ids;
  ids.reserve(names.size());
  for (const auto& n : names)
    ids.push_back(intern(n));
  item_categories_[i] = std::move(ids);
}

std::vector<std::string> shard_state::top_categories(const user_record& rec) const {
  if (item_categories_.empty())
    return {};
  // Each of the newest items votes for its categories with its behavior weight.
  std::vector<std::pair<std::uint32_t, float>> votes;
  std::size_t seen = 0;
  for (auto h = rec.history.rbegin(); h != rec.history.rend() && seen < category_history;
       ++h, ++seen) {
    auto it = item_categories_.find(h->item);
    if (it == item_categories_.end())
      continue;
    auto w = static_cast<float>(behavior_weight(cfg_, h->kind));
    for (auto c : it->second) {
      auto v = std::find_if(votes.begin(), votes.end(), [&](const auto& x) { return x.first == c; });
      if (v == votes.end())
        votes.emplace_back(c, w);
      else
        v->second += w;
    }
  }
  auto better = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  auto keep = std::min(votes.size(), top_category_count);
  std::partial_sort(votes.begin(), votes.begin() + static_cast<long>(keep), votes.end(), better);
  std::vector<std::string> out;
  for (std::size_t k = 0; k < keep; ++k)
    out.push_back(category_names_[votes[k].first]);
  return out;
}

const std::vector<std::pair<item_id, float>>* shard_state::category_items(std::uint32_t category,
                                                                          unix_seconds now) {
  auto now_ms_value = now_ms();
  if (category_lists_dirty_ &&
      (category_lists_built_at_ms_ == 0 || now_ms_value - category_lists_built_at_ms_ >= 1000)) {
    // Rebuilt at most once a second, like the popular list.
    category_lists_.clear();
    const auto new_since = now - static_cast<unix_seconds>(cfg_.new_arrival_days * 86400.0);
    for (const auto& [id, item] : items_) {
      const auto& d = item.details;
      if (d.categories.empty())
        continue;
      // New arrivals: created through the API (an imported item's created
      // time is its import, not its arrival) within new_arrival_days.
      bool fresh = d.epoch > 0 && d.created >= new_since;
      auto score = static_cast<float>(item.popularity + 1e-9 * d.sales);
      if (fresh)
        score += new_arrival_score;
      if (score <= 0)
        continue;
      for (const auto& name : d.categories)
        category_lists_[intern(name)].emplace_back(id, score);
    }
    auto better = [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    };
    for (auto& [c, list] : category_lists_) {
      auto keep = std::min(list.size(), category_list_cap);
      std::partial_sort(list.begin(), list.begin() + static_cast<long>(keep), list.end(), better);
      list.resize(keep);
      list.shrink_to_fit();
    }
    category_lists_dirty_ = false;
    category_lists_built_at_ms_ = now_ms_value;
  }
  auto it = category_lists_.find(category);
  return it == category_lists_.end() ? nullptr : &it->second;
}

bool shard_state::servable_item(item_id i, unix_seconds now) const {
  // restricted_ holds every restricted item, owned or not (loaded and pushed).
  auto it = restricted_.find(i);
  return it == restricted_.end() || servable(it->second.first, now);
}

bool shard_state::apply_catalog(const item_details& details, std::uint64_t epoch, bool owned) {
  note_epoch(epoch);
  if (epoch <= loaded_epoch_)
    return false; // the snapshot holds this change (epochs follow commit order)
  bool changed = false;
  auto& entry = restricted_[details.item];
  if (entry.second < epoch) {
    entry = {window_of(details), epoch};
    set_categories(details.item, details.categories);
    // Rebuilt at the next recall, not a second later: a new item is
    // recommendable by its categories at once.
    category_lists_dirty_ = true;
    category_lists_built_at_ms_ = 0;
    changed = true;
  }
  if (owned && items_.count(details.item) == 0) {
    // Created after the load: recommendable at once through the routes that
    // need no history (popular, category, new arrivals).
    items_[details.item].details = details;
    items_[details.item].details.epoch = epoch;
    changed = true;
  } else if (auto it = items_.find(details.item); it != items_.end()) {
    if (it->second.details.epoch < epoch) {
      auto sales = it->second.details.sales; // counted here since the load
      it->second.details = details;
      it->second.details.sales = std::max(sales, details.sales);
      it->second.details.epoch = epoch;
      changed = true;
    }
  }
  if (changed) {
    popular_dirty_ = true;
    category_lists_dirty_ = true;
  }
  return changed;
}

} // namespace recd
