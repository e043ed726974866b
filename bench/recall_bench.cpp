// One shard's recall (shard_state::recall), the largest part of an uncached
// recommend's CPU (docs/benchmarks.md, the serving profiles), on a synthetic
// shard shaped like one of seedgen-3m's two: it owns the even items of 20,000
// (500 neighbours each, picked with a power-law skew, best first) and the
// even users of 100,000 (30 history items each, 32-dimension tastes and item
// vectors in the exact-scan index). Each iteration asks for a random user as
// the API node does with the defaults: the user's 30 items as seeds (the odd
// ones are not this shard's and are skipped), 50 similar users (half of them
// held here), the taste vector, the items as exclusions, 200 per route.
//   BM_recall:         the whole recall, every route
//   BM_recall_item_cf: the item-CF route's share alone (no similar users, no
//                      vector): the neighbour sums and their selection
// Fixed seeds; one thread. Not a test: no timing is asserted anywhere.

#include "actors/shard_state.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

namespace {

using namespace recd;

constexpr int catalog = 20'000;
constexpr int people = 100'000;
constexpr int neighbours = 500;
constexpr int history = 30;
constexpr int dim = 32;

std::vector<float> unit(std::mt19937& rng) {
  std::normal_distribution<float> g;
  std::vector<float> v(dim);
  for (auto& x : v)
    x = g(rng);
  normalize(v);
  return v;
}

// A power-law pick over [0, n): low ids are the popular ones.
int skewed(std::mt19937& rng, int n) {
  std::uniform_real_distribution<double> u(0, 1);
  return std::min(n - 1, static_cast<int>(n * std::pow(u(rng), 2.5)));
}

struct shard {
  std::unique_ptr<shard_state> state;
  std::vector<std::vector<item_id>> histories; // of every user, by id
  std::vector<std::vector<float>> tastes;
};

const shard& the_shard() {
  static const shard s = [] {
    shard out;
    std::mt19937 rng{42};
    shard_snapshot snap;
    snap.popularity_epoch = 1'700'000'000;
    snap.index = std::make_shared<vector_index>(dim, catalog / 2);
    for (item_id i = 0; i < catalog; i += 2) {
      item_record r;
      r.details.item = i;
      r.details.title = "item " + std::to_string(i);
      std::vector<item_id> seen;
      while (seen.size() < neighbours) {
        auto j = skewed(rng, catalog);
        if (j != i && std::find(seen.begin(), seen.end(), j) == seen.end())
          seen.push_back(j);
      }
      float w = 0.5f;
      for (auto j : seen) {
        r.neighbours.push_back({j, w});
        w *= 0.995f;
      }
      auto v = unit(rng);
      r.embedding.assign(v.begin(), v.end());
      r.popularity = 1.0 / (1 + i);
      snap.index->add(i, v);
      snap.items[i] = std::move(r);
    }
    out.histories.resize(people);
    out.tastes.resize(people);
    for (user_id u = 0; u < people; ++u) {
      auto& h = out.histories[static_cast<std::size_t>(u)];
      while (h.size() < history) {
        auto j = skewed(rng, catalog);
        if (std::find(h.begin(), h.end(), j) == h.end())
          h.push_back(j);
      }
      out.tastes[static_cast<std::size_t>(u)] = unit(rng);
      if (u % 2 != 0)
        continue;
      auto& rec = snap.users[u];
      rec.version = 1;
      unix_seconds ts = 1'690'000'000;
      for (auto j : h)
        rec.history.push_back({j, behavior_kind::view, ts += 3600});
      const auto& t = out.tastes[static_cast<std::size_t>(u)];
      rec.vec.assign(t.begin(), t.end());
    }
    out.state = std::make_unique<shard_state>(recommend_settings{});
    out.state->install(std::move(snap));
    return out;
  }();
  return s;
}

recall_request request_for(const shard& s, std::mt19937& rng, bool item_cf_only) {
  std::uniform_int_distribution<user_id> pick(0, people - 1);
  const auto u = pick(rng);
  recall_request req;
  req.user = u;
  req.per_route = 200;
  req.now = 1'700'000'000;
  unix_seconds ts = 1'690'000'000;
  for (auto j : s.histories[static_cast<std::size_t>(u)])
    req.recent.push_back({j, behavior_kind::view, ts += 3600});
  std::reverse(req.recent.begin(), req.recent.end()); // newest first, as a context's
  req.exclude = s.histories[static_cast<std::size_t>(u)];
  std::sort(req.exclude.begin(), req.exclude.end());
  if (item_cf_only)
    return req;
  float score = 0.9f;
  for (int k = 0; k < 50; ++k) {
    req.similar.push_back({pick(rng), score});
    score *= 0.98f;
  }
  req.vector = s.tastes[static_cast<std::size_t>(u)];
  return req;
}

void run(benchmark::State& state, bool item_cf_only) {
  const auto& s = the_shard();
  std::mt19937 rng{7};
  // The requests are made outside the timed loop: 256 of them, in turn.
  std::vector<recall_request> reqs;
  for (int k = 0; k < 256; ++k)
    reqs.push_back(request_for(s, rng, item_cf_only));
  std::size_t next = 0, candidates = 0;
  for (auto _ : state) {
    auto out = s.state->recall(reqs[next++ % reqs.size()]);
    candidates += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["candidates"] =
    benchmark::Counter(static_cast<double>(candidates), benchmark::Counter::kAvgIterations);
}

void BM_recall(benchmark::State& state) { run(state, false); }
void BM_recall_item_cf(benchmark::State& state) { run(state, true); }

} // namespace

BENCHMARK(BM_recall)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_recall_item_cf)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
