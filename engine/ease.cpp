#include "engine/ease.hpp"

#include <algorithm>
#include <stdexcept>

namespace recd::engine {

ease_model::ease_model(const bipartite& items_by_user, double lambda) : ids_(items_by_user.row_ids) {
  if (!(lambda > 0))
    throw std::invalid_argument("ease: lambda must be positive");
  auto n = static_cast<Eigen::Index>(items_by_user.rows());
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(n, n);
  auto by_user = transpose(items_by_user);
  for (std::size_t u = 0; u < by_user.rows(); ++u) {
    auto row = by_user.row(u);
    for (auto a : row)
      for (auto b : row)
        gram(a, b) += 1.0;
  }
  gram.diagonal().array() += lambda;
  // X^T X + lambda I is symmetric positive definite: Cholesky, then solve for I.
  Eigen::LLT<Eigen::MatrixXd> llt{gram};
  inverse_ = llt.solve(Eigen::MatrixXd::Identity(n, n));
}

void ease_model::neighbours(std::size_t r, std::int32_t top_k, std::vector<neighbour>& out) const {
  out.clear();
  auto j = static_cast<Eigen::Index>(r);
  if (j >= inverse_.rows())
    throw std::out_of_range("ease: row out of range");
  for (Eigen::Index i = 0; i < inverse_.rows(); ++i) {
    if (i == j)
      continue;
    double w = -inverse_(j, i) / inverse_(i, i);
    if (w > 0)
      out.push_back({ids_[static_cast<std::size_t>(i)], w, 0});
  }
  auto better = [](const neighbour& a, const neighbour& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  };
  if (top_k > 0 && out.size() > static_cast<std::size_t>(top_k)) {
    std::partial_sort(out.begin(), out.begin() + top_k, out.end(), better);
    out.resize(static_cast<std::size_t>(top_k));
  } else {
    std::sort(out.begin(), out.end(), better);
  }
}

} // namespace recd::engine
