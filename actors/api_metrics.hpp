#pragma once
// Request counters and latency histograms of one node's API actors. Shared
// by the node's API actors (atomics, no locks); read by /api/stats.

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "protocol/messages.hpp"

namespace recd {

// Log-scale latency histogram: bucket b holds latencies below 2^(b/4) microseconds.
class latency_histogram {
public:
  static constexpr std::size_t buckets = 112; // up to ~2^28 us (4.5 minutes)

  void record(double micros) {
    auto b = micros <= 1 ? 0 : static_cast<std::size_t>(std::ceil(4 * std::log2(micros)));
    counts_[std::min(b, buckets - 1)].fetch_add(1, std::memory_order_relaxed);
  }

  using counts_type = std::array<std::uint64_t, buckets>;

  // The bucket counts now (each read atomically; the set is not a snapshot
  // of one instant, which a sampler of rates does not need).
  counts_type counts() const {
    counts_type out{};
    for (std::size_t b = 0; b < buckets; ++b)
      out[b] = counts_[b].load(std::memory_order_relaxed);
    return out;
  }

  // Upper bound of the bucket holding quantile q of `counts`, in milliseconds
  // (0 if empty). Also used on the difference of two counts() (an interval).
  static double quantile_ms(const counts_type& counts, double q) {
    std::uint64_t total = 0;
    for (auto c : counts)
      total += c;
    if (total == 0)
      return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * double(total)));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < buckets; ++b) {
      seen += counts[b];
      if (seen >= rank && seen > 0)
        return std::exp2(double(b) / 4) / 1000.0;
    }
    return std::exp2(double(buckets) / 4) / 1000.0;
  }

  // Upper bound of the bucket holding quantile q, in milliseconds (0 if empty).
  double quantile_ms(double q) const { return quantile_ms(counts(), q); }

  nlohmann::json to_json() const {
    return {{"p50", quantile_ms(0.5)}, {"p95", quantile_ms(0.95)}, {"p99", quantile_ms(0.99)}};
  }

private:
  std::array<std::atomic<std::uint64_t>, buckets> counts_{};
};

struct api_metrics {
  std::atomic<std::uint64_t> recommend_requests{0};
  std::atomic<std::uint64_t> recommend_from_cache{0};
  std::atomic<std::uint64_t> recommend_from_near_cache{0}; // of those, without asking Redis
  // Of those, answered by an HTTP thread from local_answers (no message at all).
  std::atomic<std::uint64_t> recommend_from_local_answers{0};
  std::atomic<std::uint64_t> recommend_degraded{0}; // answered with a shard missing
  std::atomic<std::uint64_t> behavior_requests{0};
  std::atomic<std::uint64_t> behavior_failed{0};
  std::atomic<std::uint64_t> client_errors{0};      // 4xx, counted by the HTTP gateway
  // Items in computed (not cached) answers, per recall route that proposed
  // them (index: recall_route); an item several routes proposed counts for each.
  std::array<std::atomic<std::uint64_t>, recall_route_count> route_items{};
  std::atomic<std::uint64_t> recommend_items{0}; // items in computed answers
  latency_histogram recommend_latency;
  latency_histogram behavior_latency;
  // The user's shard did not give their context: what they bought (and saw)
  // read from PostgreSQL instead, or neither could say in time (answered 503).
  std::atomic<std::uint64_t> recommend_history_from_database{0};
  std::atomic<std::uint64_t> recommend_history_unavailable{0};
};

} // namespace recd
