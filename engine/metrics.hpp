#pragma once
// Top-k ranking metrics for offline evaluation (`recd eval`). Pure C++.
//
// Relevance is binary: an item is relevant to a user iff it is in the user's
// test set. For one user with ranked list R (best first, truncated to k) and
// relevant set T (|T| >= 1):
//   hits@k      = |R[0..k) ∩ T|
//   precision@k = hits@k / k                 (k, not |R|: a short list is penalised)
//   recall@k    = hits@k / |T|
//   hit_rate@k  = 1 if hits@k > 0 else 0
//   ndcg@k      = DCG / IDCG, DCG = sum over hits at rank r (1-based) of 1 / log2(r + 1),
//                 IDCG = the DCG of min(|T|, k) hits at ranks 1..min(|T|, k)
//   ap@k        = (sum over hits at rank r of precision@r) / min(|T|, k)
// The reported figure of each metric is the mean over evaluated users (users
// with an empty test set are not evaluated); map@k is the mean of ap@k.

#include <cstddef>
#include <vector>

#include "engine/types.hpp"

namespace recd::engine {

struct ranking_scores {
  double ndcg = 0;
  double precision = 0;
  double recall = 0;
  double hit_rate = 0;
  double ap = 0;
};

// Scores one user's ranking. `relevant` must be sorted ascending and distinct;
// `ranked` holds distinct items (only its first k count). k >= 1; an empty
// `relevant` gives all zeros.
ranking_scores score_ranking(const std::vector<item_id>& ranked,
                             const std::vector<item_id>& relevant, std::size_t k);

// Running means of ranking_scores over users.
class ranking_mean {
public:
  void add(const ranking_scores& s);
  std::size_t users() const { return users_; }
  ranking_scores mean() const;

private:
  ranking_scores sum_;
  std::size_t users_ = 0;
};

// Share of the catalogue that appears in at least one list's first k items:
// |union of lists[u][0..k)| / catalogue_size (0 when the catalogue is empty).
double catalogue_coverage(const std::vector<std::vector<item_id>>& lists, std::size_t k,
                          std::size_t catalogue_size);

} // namespace recd::engine
