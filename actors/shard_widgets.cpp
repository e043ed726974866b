// shard_state by concern: what item pages and sessions read of a shard
// (GET /api/items/{id}/similar and /also-bought, POST /api/recommend), the
// live buy co-occurrence behind also-bought, and the folds that put items
// without a published embedding into the vector index (fold_item).
//
// Also-bought counts distinct co-buyers. A user's first buy of an item (its
// row id, the first buy event's) is paired with the user's previous
// recommend.co_bought_recent first buys; both items' owners count one more
// co-buyer of the pair. The shard loader builds the same counts from
// PostgreSQL (store/co_bought.hpp), so a restart answers as before. A load
// keeps each item's recommend.co_bought_partners most co-bought partners; live
// pairs may grow a row to 1.5 times that, then a new pair (one buyer) takes
// the place of the least one only if that one also has a single buyer. So
// while an item has at most co_bought_partners partners, live counts equal
// the loaded ones exactly; beyond it the tail may differ.
#include "actors/shard_state.hpp"

#include <algorithm>

namespace recd {

namespace {

// Most buyers first, then smaller ids: the order of an item's co_bought row.
bool before(const co_buy& a, const co_buy& b) {
  return a.buyers != b.buyers ? a.buyers > b.buyers : a.item < b.item;
}

} // namespace

// New items in the embedding space: the reverse of fold_taste (actors/api_fold.cpp).
std::optional<std::vector<float>> shard_state::taste(user_id u) const {
  auto it = users_.find(u);
  if (it == users_.end())
    return std::nullopt;
  return std::vector<float>(it->second.vec.begin(), it->second.vec.end());
}

bool shard_state::fold_item(item_id i, behavior_kind kind, const std::vector<float>& taste) {
  auto it = items_.find(i);
  if (it == items_.end() || taste.empty())
    return false;
  auto& item = it->second;
  if (!item.embedding.empty() && !item.folded)
    return false; // published by a job: never touched
  if (index_ && taste.size() != static_cast<std::size_t>(index_->dim()))
    return false; // not of this shard's embedding space
  auto unit = taste;
  normalize(unit);
  if (unit.empty())
    return false;
  fold_taste(item.embedding, unit, behavior_weight(cfg_, kind));
  item.folded = true;
  if (!index_)
    index_ = std::make_shared<vector_index>(static_cast<std::int32_t>(unit.size()), 16);
  index_->add(i, item.embedding);
  return true;
}

std::uint64_t shard_state::apply_user(const behavior_event& e, const std::vector<float>& item_vec,
                                      std::int64_t row) {
  bool first = false;
  if (e.kind == behavior_kind::buy) {
    auto it = users_.find(e.user);
    first = it == users_.end() ||
            !std::binary_search(it->second.bought.begin(), it->second.bought.end(), e.item);
  }
  auto version = apply_user(e, item_vec);
  if (first) {
    auto& buys = users_[e.user].first_buys;
    auto pos = std::upper_bound(buys.begin(), buys.end(), row,
                                [](std::int64_t r, const first_buy& b) { return r < b.row; });
    buys.insert(pos, first_buy{e.item, row});
    // The newest co_bought_recent + 1: a first buy pairs with the ones before it.
    auto keep = static_cast<std::size_t>(std::max(cfg_.co_bought_recent, 1)) + 1;
    if (buys.size() > keep)
      buys.erase(buys.begin(), buys.begin() + static_cast<long>(buys.size() - keep));
  }
  return version;
}

std::vector<item_id> shard_state::partners(user_id user, item_id item, std::int64_t row) const {
  std::vector<item_id> out;
  auto it = users_.find(user);
  if (it == users_.end())
    return out;
  const auto& buys = it->second.first_buys;
  auto self = std::find_if(buys.begin(), buys.end(),
                           [&](const first_buy& b) { return b.item == item && b.row == row; });
  if (self == buys.end())
    return out; // not this user's first buy of the item (or it fell off already)
  auto recent = static_cast<std::size_t>(std::max(cfg_.co_bought_recent, 1));
  for (auto b = std::make_reverse_iterator(self); b != buys.rend() && out.size() < recent; ++b)
    out.push_back(b->item);
  return out;
}

void shard_state::count_co_buy(item_record& item, item_id partner) {
  auto& row = item.co_bought;
  auto it = std::find_if(row.begin(), row.end(), [&](const co_buy& c) { return c.item == partner; });
  if (it == row.end()) {
    // Room for half as many again as a load keeps, so that new pairs can
    // enter the row of an item whose loaded partners all have several buyers.
    auto cap = static_cast<std::size_t>(std::max(cfg_.co_bought_partners, 1));
    cap += cap / 2;
    if (row.size() >= cap) {
      if (row.back().buyers > 1)
        return; // every kept partner has more buyers than the new one
      row.pop_back();
    }
    co_buy fresh{partner, 1};
    row.insert(std::upper_bound(row.begin(), row.end(), fresh, before), fresh);
    return;
  }
  ++it->buyers;
  // Move it forward past the partners it now outranks.
  while (it != row.begin() && before(*it, *(it - 1))) {
    std::iter_swap(it, it - 1);
    --it;
  }
}

void shard_state::add_co_buys(item_id item, const std::vector<item_id>& partners) {
  auto own = items_.find(item);
  for (auto p : partners) {
    if (p == item)
      continue;
    if (own != items_.end())
      count_co_buy(own->second, p);
    if (auto other = items_.find(p); other != items_.end())
      count_co_buy(other->second, item);
  }
}

std::optional<item_relations> shard_state::relations(item_id item, std::size_t k,
                                                     unix_seconds now) const {
  auto it = items_.find(item);
  if (it == items_.end())
    return std::nullopt;
  const auto& rec = it->second;
  item_relations out;
  out.item = item;
  // Hidden and unavailable items are left out here, where every item's
  // serving window is known (shard_state::servable_item).
  for (std::size_t n = 0; n < rec.neighbours.size() && out.neighbours.size() < k; ++n)
    if (servable_item(rec.neighbours[n].item, now))
      out.neighbours.push_back({rec.neighbours[n].item, rec.neighbours[n].score});
  for (std::size_t n = 0; n < rec.co_bought.size() && out.co_bought.size() < k; ++n)
    if (servable_item(rec.co_bought[n].item, now))
      out.co_bought.push_back({rec.co_bought[n].item, static_cast<float>(rec.co_bought[n].buyers)});
  out.embedding.assign(rec.embedding.begin(), rec.embedding.end());
  return out;
}

std::vector<scored_item> shard_state::nearest(const std::vector<float>& unit_vector, std::size_t k,
                                              const std::vector<item_id>& exclude,
                                              unix_seconds now) const {
  std::vector<scored_item> out;
  if (!index_ || k == 0 || unit_vector.empty())
    return out;
  for (const auto& n : index_->nearest(unit_vector, k + exclude.size())) {
    if (out.size() >= k)
      break;
    if (!std::binary_search(exclude.begin(), exclude.end(), n.item) && items_.count(n.item) != 0 &&
        servable_item(n.item, now))
      out.push_back({n.item, n.score});
  }
  return out;
}

std::vector<item_vector> shard_state::vectors(const std::vector<item_id>& items) const {
  std::vector<item_vector> out;
  for (auto i : items)
    if (auto it = items_.find(i); it != items_.end() && !it->second.embedding.empty())
      out.push_back({i, {it->second.embedding.begin(), it->second.embedding.end()}});
  return out;
}

} // namespace recd
