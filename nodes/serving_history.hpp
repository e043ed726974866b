#pragma once
// The serving figures of the last hour for the admin dashboard: a thread
// samples the node's api_metrics every `period` and keeps one point per
// interval in a ring buffer (`capacity` points; 5 s x 720 = one hour). Each
// point holds the interval's rates and its own latency percentiles (from the
// difference of the histograms), not the process's lifetime figures.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/api_metrics.hpp"

namespace recd {

struct serving_point {
  std::int64_t unix_ms = 0;     // end of the interval
  double seconds = 0;           // its length
  double recommend_per_s = 0;
  double behavior_per_s = 0;
  double client_errors_per_s = 0;
  double behavior_failed_per_s = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0; // recommend latency within the interval
  double behavior_p99_ms = 0;
  std::optional<double> cache_hit_ratio; // answers from a cache / answers; none without requests
  std::optional<double> degraded_share;  // degraded answers / answers
};

class serving_history {
public:
  serving_history(std::shared_ptr<api_metrics> metrics, std::chrono::milliseconds period,
                  std::size_t capacity);
  ~serving_history(); // stops and joins the sampler
  serving_history(const serving_history&) = delete;
  serving_history& operator=(const serving_history&) = delete;

  // {"period_seconds", "points": [...oldest first], "totals": lifetime counters
  // and percentiles now}. Thread-safe.
  nlohmann::json to_json() const;

private:
  struct reading {
    std::chrono::steady_clock::time_point at;
    std::uint64_t recommend = 0, from_cache = 0, degraded = 0, behavior = 0, behavior_failed = 0,
                  client_errors = 0;
    latency_histogram::counts_type recommend_latency{}, behavior_latency{};
  };
  reading read() const;
  void sample();
  void run();

  std::shared_ptr<api_metrics> metrics_;
  std::chrono::milliseconds period_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  reading last_;
  std::deque<serving_point> points_;
  std::thread sampler_;
};

} // namespace recd
