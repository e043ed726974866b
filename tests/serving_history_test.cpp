// The dashboard's serving history: each point holds its own interval's rates,
// ratios and latency percentiles (not the process's lifetime figures), the
// ring keeps at most `capacity` points, and an interval without requests has
// no ratios. Real api_metrics and the real sampler thread, with a short period.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "actors/api_metrics.hpp"
#include "nodes/serving_history.hpp"

namespace recd {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// Waits (up to 10 s) until the history holds at least `n` points; its JSON.
json wait_for_points(const serving_history& h, std::size_t n) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto j = h.to_json();
    if (j["points"].size() >= n || std::chrono::steady_clock::now() > deadline)
      return j;
    std::this_thread::sleep_for(5ms);
  }
}

TEST(ServingHistory, APointHoldsItsIntervalsRatesRatiosAndPercentiles) {
  auto m = std::make_shared<api_metrics>();
  // Before the history starts: lifetime figures a point must not include.
  for (int i = 0; i < 1000; ++i)
    m->recommend_latency.record(100000); // 100 ms
  m->recommend_requests += 1000;
  serving_history h{m, 200ms, 100};
  // Within the first interval (the baseline was read at construction):
  // 40 answers of 1 ms, 10 of them from a cache, 4 degraded.
  for (int i = 0; i < 40; ++i)
    m->recommend_latency.record(1000);
  m->recommend_requests += 40;
  m->recommend_from_cache += 10;
  m->recommend_degraded += 4;
  m->behavior_requests += 8;
  // The sampler may have cut those updates into two intervals: sum over the
  // points until all 40 answers are in.
  json j;
  double answers = 0, cached = 0, degraded = 0, behaviors = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (answers < 39.5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    j = h.to_json();
    answers = cached = degraded = behaviors = 0;
    for (const auto& p : j["points"]) {
      double n = p["recommend_per_s"].get<double>() * p["seconds"].get<double>();
      answers += n;
      behaviors += p["behavior_per_s"].get<double>() * p["seconds"].get<double>();
      if (!p["cache_hit_ratio"].is_null()) {
        cached += p["cache_hit_ratio"].get<double>() * n;
        degraded += p["degraded_share"].get<double>() * n;
      }
    }
  }
  EXPECT_NEAR(answers, 40, 1e-6) << j.dump();
  EXPECT_NEAR(cached, 10, 1e-6);
  EXPECT_NEAR(degraded, 4, 1e-6);
  EXPECT_NEAR(behaviors, 8, 1e-6);
  // Each interval's percentiles: the 1 ms answers only, not the 100 ms ones before.
  latency_histogram only_interval;
  only_interval.record(1000);
  for (const auto& p : j["points"])
    if (p["recommend_per_s"].get<double>() > 0) {
      EXPECT_DOUBLE_EQ(p["p50_ms"].get<double>(), only_interval.quantile_ms(0.5));
      EXPECT_DOUBLE_EQ(p["p99_ms"].get<double>(), only_interval.quantile_ms(0.99));
    }
  // Lifetime totals next to the points.
  EXPECT_EQ(j["totals"]["recommend"], 1040u);
  EXPECT_EQ(j["period_seconds"], 0.2);
}

TEST(ServingHistory, AnIntervalWithoutRequestsHasNoRatios) {
  auto m = std::make_shared<api_metrics>();
  serving_history h{m, 20ms, 100};
  auto j = wait_for_points(h, 1);
  ASSERT_GE(j["points"].size(), 1u);
  const auto& p = j["points"][0];
  EXPECT_TRUE(p["cache_hit_ratio"].is_null());
  EXPECT_TRUE(p["degraded_share"].is_null());
  EXPECT_EQ(p["recommend_per_s"], 0.0);
  EXPECT_EQ(p["p99_ms"], 0.0);
}

TEST(ServingHistory, TheRingKeepsTheNewestCapacityPoints) {
  auto m = std::make_shared<api_metrics>();
  serving_history h{m, 5ms, 3};
  // Once 3 points are held, further samples replace the oldest: the count
  // stays 3 while the newest timestamp moves on.
  auto j = wait_for_points(h, 3);
  ASSERT_EQ(j["points"].size(), 3u);
  std::int64_t newest = j["points"][2]["t"];
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (h.to_json()["points"][2]["t"].get<std::int64_t>() == newest &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  auto later = h.to_json();
  EXPECT_EQ(later["points"].size(), 3u);
  EXPECT_GT(later["points"][2]["t"].get<std::int64_t>(), newest);
  EXPECT_EQ(later["capacity"], 3u);
}

} // namespace
} // namespace recd
