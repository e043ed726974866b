#pragma once
// EASE item-item weights (Steck, "Embarrassingly Shallow Autoencoders for
// Sparse Data", WWW 2019): B = argmin ||X - X B||^2 + lambda ||B||^2 with
// diag(B) = 0, X the binary user x item matrix. Closed form:
//   P = (X^T X + lambda I)^-1,   B[j][i] = -P[j][i] / P[i][i]  (i != j).
// A user's score of item i is sum over j in the user's items of B[j][i], so
// row j of B is what item j "votes" for: recd serves it as item j's
// neighbour list in the item-CF route. Pure C++ (Eigen).
//
// Cost: O(sum of user degree^2) for the Gram matrix, O(n^3) time and 8 n^2
// bytes for the inverse (n = items): callers bound n (item_weights.max_items).

#include <cstddef>
#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "engine/bipartite.hpp"
#include "engine/similarity.hpp"

namespace recd::engine {

class ease_model {
public:
  // items_by_user: rows = items, columns = users (binary incidence).
  // lambda > 0 (the L2 penalty; larger = smoother weights).
  ease_model(const bipartite& items_by_user, double lambda);

  std::size_t items() const { return ids_.size(); }

  // Row r of B restricted to positive weights: the top_k largest (0 = all),
  // best first, ties by id; `common` is unused (0). Clears and fills out.
  void neighbours(std::size_t r, std::int32_t top_k, std::vector<neighbour>& out) const;

private:
  std::vector<std::int32_t> ids_;
  Eigen::MatrixXd inverse_; // P
};

} // namespace recd::engine
