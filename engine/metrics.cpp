#include "engine/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace recd::engine {

ranking_scores score_ranking(const std::vector<item_id>& ranked,
                             const std::vector<item_id>& relevant, std::size_t k) {
  ranking_scores s;
  if (relevant.empty() || k == 0)
    return s;
  std::size_t hits = 0;
  double dcg = 0, precision_sum = 0;
  for (std::size_t r = 0; r < ranked.size() && r < k; ++r) {
    if (!std::binary_search(relevant.begin(), relevant.end(), ranked[r]))
      continue;
    ++hits;
    dcg += 1.0 / std::log2(double(r) + 2.0);
    precision_sum += double(hits) / double(r + 1);
  }
  auto ideal = std::min(relevant.size(), k);
  double idcg = 0;
  for (std::size_t r = 0; r < ideal; ++r)
    idcg += 1.0 / std::log2(double(r) + 2.0);
  s.ndcg = dcg / idcg;
  s.precision = double(hits) / double(k);
  s.recall = double(hits) / double(relevant.size());
  s.hit_rate = hits > 0 ? 1.0 : 0.0;
  s.ap = precision_sum / double(ideal);
  return s;
}

void ranking_mean::add(const ranking_scores& s) {
  sum_.ndcg += s.ndcg;
  sum_.precision += s.precision;
  sum_.recall += s.recall;
  sum_.hit_rate += s.hit_rate;
  sum_.ap += s.ap;
  ++users_;
}

ranking_scores ranking_mean::mean() const {
  if (users_ == 0)
    return {};
  auto n = double(users_);
  return {sum_.ndcg / n, sum_.precision / n, sum_.recall / n, sum_.hit_rate / n, sum_.ap / n};
}

double catalogue_coverage(const std::vector<std::vector<item_id>>& lists, std::size_t k,
                          std::size_t catalogue_size) {
  if (catalogue_size == 0)
    return 0;
  std::unordered_set<item_id> seen;
  for (const auto& list : lists)
    for (std::size_t r = 0; r < list.size() && r < k; ++r)
      seen.insert(list[r]);
  return double(seen.size()) / double(catalogue_size);
}

} // namespace recd::engine
