#include "engine/baselines.hpp"

#include <algorithm>
#include <memory>
#include <random>

namespace recd::engine {

const char* to_string(baseline_model m) {
  switch (m) {
    case baseline_model::popular: return "popular";
    case baseline_model::item_knn_jaccard: return "item_knn_jaccard";
    case baseline_model::item_knn_cosine: return "item_knn_cosine";
    case baseline_model::user_knn_cosine: return "user_knn_cosine";
    case baseline_model::random: return "random";
  }
  return "?";
}

baseline_recommender::baseline_recommender(const std::vector<behavior_event>& train,
                                           baseline_model model, baseline_options opt)
  : model_(model), opt_(opt) {
  std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
  pairs.reserve(train.size());
  for (const auto& e : train)
    pairs.emplace_back(e.user, e.item);
  by_user_ = bipartite_from_pairs(std::move(pairs));
  by_item_ = transpose(by_user_);
  popular_.resize(by_item_.rows());
  for (std::uint32_t i = 0; i < popular_.size(); ++i)
    popular_[i] = i;
  std::stable_sort(popular_.begin(), popular_.end(), [&](std::uint32_t a, std::uint32_t b) {
    return by_item_.degree(a) > by_item_.degree(b);
  });
  scratch_.assign(by_item_.rows(), 0.0);
  if (model == baseline_model::item_knn_jaccard || model == baseline_model::item_knn_cosine) {
    similarity_options so;
    so.measure = model == baseline_model::item_knn_jaccard ? set_measure::jaccard
                                                           : set_measure::cosine;
    so.min_common = 1;
    so.top_k = opt.item_neighbours;
    similarity_kernel kernel{by_item_, by_user_, so};
    std::vector<neighbour> found;
    item_neighbours_.resize(by_item_.rows());
    for (std::size_t r = 0; r < by_item_.rows(); ++r) {
      kernel.neighbours(r, found);
      for (const auto& n : found)
        item_neighbours_[r].emplace_back(static_cast<std::uint32_t>(find_row(by_item_, n.id)),
                                         static_cast<float>(n.score));
    }
  } else if (model == baseline_model::user_knn_cosine) {
    similarity_options so;
    so.measure = set_measure::cosine;
    so.min_common = 1;
    so.top_k = opt.user_neighbours;
    user_kernel_ = std::make_unique<similarity_kernel>(by_user_, by_item_, so);
  }
}

std::vector<item_id> baseline_recommender::recommend(user_id u, std::size_t k) {
  auto row = find_row(by_user_, u);
  std::vector<std::uint32_t> seen;
  if (row >= 0) {
    auto r = by_user_.row(static_cast<std::size_t>(row));
    seen.assign(r.begin(), r.end()); // ascending
  }
  auto unseen = [&](std::uint32_t i) { return !std::binary_search(seen.begin(), seen.end(), i); };
  std::vector<std::uint32_t> touched;
  auto add = [&](std::uint32_t i, double s) {
    if (scratch_[i] == 0)
      touched.push_back(i);
    scratch_[i] += s;
  };
  if (row >= 0 && model_ == baseline_model::user_knn_cosine) {
    std::vector<neighbour> similar;
    user_kernel_->neighbours(static_cast<std::size_t>(row), similar);
    for (const auto& v : similar)
      for (auto i : by_user_.row(static_cast<std::size_t>(find_row(by_user_, v.id))))
        add(i, v.score);
  } else if (row >= 0 && !item_neighbours_.empty()) {
    for (auto j : seen)
      for (const auto& [i, s] : item_neighbours_[j])
        add(i, s);
  }
  if (model_ == baseline_model::random) {
    std::mt19937_64 rng{static_cast<std::uint64_t>(u)};
    std::uniform_real_distribution<double> draw{0.0, 1.0};
    for (std::uint32_t i = 0; i < by_item_.rows(); ++i)
      add(i, draw(rng) + 1e-9); // every item once, in a random order
  }
  std::vector<std::pair<double, std::uint32_t>> scored;
  for (auto i : touched) {
    if (unseen(i))
      scored.emplace_back(scratch_[i], i);
    scratch_[i] = 0;
  }
  auto better = [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : by_item_.row_ids[a.second] < by_item_.row_ids[b.second];
  };
  auto keep = std::min(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<long>(keep), scored.end(), better);
  std::vector<item_id> out;
  for (std::size_t r = 0; r < keep; ++r)
    out.push_back(by_item_.row_ids[scored[r].second]);
  // The popular model, or a user with too few candidates: fill by popularity.
  for (std::size_t p = 0; p < popular_.size() && out.size() < k; ++p) {
    auto i = popular_[p];
    auto id = by_item_.row_ids[i];
    if (unseen(i) && std::find(out.begin(), out.end(), id) == out.end())
      out.push_back(id);
  }
  return out;
}

} // namespace recd::engine
