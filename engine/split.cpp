#include "engine/split.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

namespace recd::engine {

namespace {

// user -> item -> latest timestamp of the pair, both in ascending id order.
using pair_times = std::map<user_id, std::map<item_id, unix_seconds>>;

pair_times pairs_of(const std::vector<behavior_event>& events) {
  pair_times out;
  for (const auto& e : events) {
    auto [it, fresh] = out[e.user].emplace(e.item, e.ts);
    if (!fresh)
      it->second = std::max(it->second, e.ts);
  }
  return out;
}

// Moves the events of test pairs out of the train log.
data_split assemble(const std::vector<behavior_event>& events,
                    std::map<user_id, std::vector<item_id>> test) {
  data_split out;
  for (auto& [user, items] : test)
    std::sort(items.begin(), items.end());
  out.train.reserve(events.size());
  for (const auto& e : events) {
    auto it = test.find(e.user);
    if (it == test.end() || !std::binary_search(it->second.begin(), it->second.end(), e.item))
      out.train.push_back(e);
  }
  std::erase_if(test, [](const auto& kv) { return kv.second.empty(); });
  out.test = std::move(test);
  return out;
}

} // namespace

data_split split_random(const std::vector<behavior_event>& events, double ratio,
                        std::uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::map<user_id, std::vector<item_id>> test;
  for (const auto& [user, items] : pairs_of(events)) {
    std::vector<item_id> order;
    order.reserve(items.size());
    for (const auto& [item, ts] : items)
      order.push_back(item);
    // Fisher-Yates with our own index draws: std::shuffle's use of the engine
    // is unspecified, this is reproducible across standard libraries.
    for (std::size_t i = order.size(); i > 1; --i)
      std::swap(order[i - 1], order[rng() % i]);
    auto keep = static_cast<std::size_t>(std::llround(ratio * double(order.size())));
    keep = std::clamp<std::size_t>(keep, 1, order.size());
    test[user].assign(order.begin() + static_cast<long>(keep), order.end());
  }
  return assemble(events, std::move(test));
}

data_split split_temporal(const std::vector<behavior_event>& events, double ratio) {
  std::map<user_id, std::vector<item_id>> test;
  for (const auto& [user, items] : pairs_of(events)) {
    std::vector<std::pair<unix_seconds, item_id>> by_time;
    for (const auto& [item, ts] : items)
      by_time.emplace_back(ts, item);
    std::sort(by_time.begin(), by_time.end());
    auto keep = static_cast<std::size_t>(std::llround(ratio * double(by_time.size())));
    keep = std::clamp<std::size_t>(keep, 1, by_time.size());
    for (std::size_t i = keep; i < by_time.size(); ++i)
      test[user].push_back(by_time[i].second);
  }
  return assemble(events, std::move(test));
}

data_split split_leave_last(const std::vector<behavior_event>& events, std::size_t n) {
  std::map<user_id, std::vector<item_id>> test;
  for (const auto& [user, items] : pairs_of(events)) {
    if (items.size() <= n)
      continue;
    std::vector<std::pair<unix_seconds, item_id>> by_time;
    for (const auto& [item, ts] : items)
      by_time.emplace_back(ts, item);
    std::sort(by_time.begin(), by_time.end(), std::greater<>{});
    for (std::size_t i = 0; i < n; ++i)
      test[user].push_back(by_time[i].second);
  }
  return assemble(events, std::move(test));
}

} // namespace recd::engine
