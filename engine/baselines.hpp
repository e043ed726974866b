#pragma once
// Reference recommenders for `recd eval`, computed in-process from a train
// log with the engine's kernels. Every interaction counts as positive and
// binary; a user's train items are never recommended. Pure C++.
//
//   popular           items by number of distinct train users
//   item_knn_jaccard  score(u, i) = sum over j in train(u) of J(j, i) over the
//                     neighbours of j (SAR with Jaccard similarity)
//   item_knn_cosine   the same with set cosine
//   user_knn_cosine   score(u, i) = sum over the user_neighbours most similar
//                     users v (set cosine) with i in train(v) of C(u, v)
//   random            a uniformly random order of the unseen items (seeded by
//                     the user id): what a recommender ignoring the data gets
// Ties rank by item id, so results are deterministic.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/bipartite.hpp"
#include "engine/similarity.hpp"
#include "engine/types.hpp"

namespace recd::engine {

enum class baseline_model { popular, item_knn_jaccard, item_knn_cosine, user_knn_cosine, random };
inline constexpr baseline_model all_baselines[] = {
  baseline_model::popular, baseline_model::item_knn_jaccard, baseline_model::item_knn_cosine,
  baseline_model::user_knn_cosine, baseline_model::random};
const char* to_string(baseline_model m);

struct baseline_options {
  std::int32_t item_neighbours = 0;  // per item; 0 = all (SAR's full similarity matrix)
  std::int32_t user_neighbours = 50; // per user
};

class baseline_recommender {
public:
  // Builds the model from the (user, item) pairs of `train`.
  baseline_recommender(const std::vector<behavior_event>& train, baseline_model model,
                       baseline_options opt = {});

  // The user's best k items outside its train items; when the model scores
  // fewer than k (or does not know the user), the rest are the most popular.
  // Not thread-safe (user-kNN uses scratch space).
  std::vector<item_id> recommend(user_id u, std::size_t k);

private:
  baseline_model model_;
  baseline_options opt_;
  bipartite by_user_;  // rows = users, columns = items
  bipartite by_item_;  // rows = items, columns = users (dense item index = by_user_ column)
  std::vector<std::uint32_t> popular_; // dense item indices, best first
  std::vector<std::vector<std::pair<std::uint32_t, float>>> item_neighbours_;
  std::unique_ptr<similarity_kernel> user_kernel_;
  std::vector<double> scratch_;
};

} // namespace recd::engine
