// Exact set-similarity kernels over a synthetic power-law bipartite graph
// (20k items x 100k users, ~450k incidences before dedup, fixed seed), one
// thread, all rows per iteration:
//   BM_item_jaccard: rows = items, Jaccard, min_common 5
//   BM_user_cosine:  rows = users, cosine, min_common 3, min_score 0.1

#include "engine/bipartite.hpp"
#include "engine/similarity.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace {

using recd::engine::bipartite;
using recd::engine::neighbour;
using recd::engine::set_measure;
using recd::engine::similarity_kernel;
using recd::engine::similarity_options;

constexpr int items = 20'000;
constexpr int users = 100'000;
constexpr int incidences = 450'000;

// Zipf(s) sampler over [0, n) by inverse CDF; deterministic given the engine
// (std distributions are avoided because their output differs across libraries).
class zipf {
public:
  zipf(int n, double s) : cdf_(static_cast<std::size_t>(n)) {
    double sum = 0;
    for (int i = 0; i < n; ++i)
      cdf_[static_cast<std::size_t>(i)] = sum += std::pow(i + 1.0, -s);
    for (auto& x : cdf_)
      x /= sum;
  }
  int operator()(std::mt19937_64& rng) const {
    const double u = double(rng() >> 11) * 0x1.0p-53;
    const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<int>(std::min<std::ptrdiff_t>(it - cdf_.begin(), std::ssize(cdf_) - 1));
  }

private:
  std::vector<double> cdf_;
};

// Item popularity and user activity both follow power laws; ids are permuted
// so that popularity is not correlated with the dense index.
const bipartite& items_by_users() {
  static const bipartite g = [] {
    std::mt19937_64 rng(20240601);
    const zipf item_rank(items, 0.9);
    const zipf user_rank(users, 0.7);
    std::vector<std::int32_t> item_perm(items), user_perm(users);
    for (int i = 0; i < items; ++i)
      item_perm[static_cast<std::size_t>(i)] = i;
    for (int i = 0; i < users; ++i)
      user_perm[static_cast<std::size_t>(i)] = i;
    std::shuffle(item_perm.begin(), item_perm.end(), rng);
    std::shuffle(user_perm.begin(), user_perm.end(), rng);
    std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
    pairs.reserve(incidences);
    for (int i = 0; i < incidences; ++i)
      pairs.emplace_back(item_perm[static_cast<std::size_t>(item_rank(rng))],
                         user_perm[static_cast<std::size_t>(user_rank(rng))]);
    return recd::engine::bipartite_from_pairs(std::move(pairs));
  }();
  return g;
}

void run_all_rows(benchmark::State& state, const bipartite& g, similarity_options opt) {
  const bipartite gt = recd::engine::transpose(g);
  similarity_kernel kernel(g, gt, opt);
  std::vector<neighbour> out;
  std::uint64_t produced = 0, work = 0;
  for (std::size_t r = 0; r < g.rows(); ++r)
    for (const auto c : g.row(r))
      work += gt.degree(c);
  for (auto _ : state) {
    produced = 0;
    for (std::size_t r = 0; r < g.rows(); ++r) {
      kernel.neighbours(r, out);
      produced += out.size();
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g.rows()));
  state.counters["rows"] = static_cast<double>(g.rows());
  state.counters["nnz"] = static_cast<double>(g.nnz());
  state.counters["pairs_out"] = static_cast<double>(produced);
  // Counter increments per pass: the kernel's inner-loop trip count.
  state.counters["increments"] = static_cast<double>(work);
  state.counters["incr_per_s"] =
      benchmark::Counter(static_cast<double>(work), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_item_jaccard(benchmark::State& state) {
  run_all_rows(state, items_by_users(), {set_measure::jaccard, 5, 0.0, 0});
}

void BM_user_cosine(benchmark::State& state) {
  static const bipartite users_by_items = recd::engine::transpose(items_by_users());
  run_all_rows(state, users_by_items, {set_measure::cosine, 3, 0.1, 0});
}

void BM_item_jaccard_top50(benchmark::State& state) {
  run_all_rows(state, items_by_users(), {set_measure::jaccard, 5, 0.0, 50});
}

} // namespace

BENCHMARK(BM_item_jaccard)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_item_jaccard_top50)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_user_cosine)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
