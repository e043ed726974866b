#include "nodes/serving_history.hpp"

namespace recd {

namespace {

latency_histogram::counts_type minus(const latency_histogram::counts_type& now,
                                     const latency_histogram::counts_type& before) {
  latency_histogram::counts_type d{};
  for (std::size_t b = 0; b < d.size(); ++b)
    d[b] = now[b] >= before[b] ? now[b] - before[b] : 0;
  return d;
}

nlohmann::json optional_json(const std::optional<double>& x) {
  return x ? nlohmann::json(*x) : nlohmann::json(nullptr);
}

} // namespace

serving_history::serving_history(std::shared_ptr<api_metrics> metrics,
                                 std::chrono::milliseconds period, std::size_t capacity)
  : metrics_(std::move(metrics)), period_(period), capacity_(capacity) {
  last_ = read();
  sampler_ = std::thread{[this] { run(); }};
}

serving_history::~serving_history() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  sampler_.join();
}

serving_history::reading serving_history::read() const {
  const auto& m = *metrics_;
  reading r;
  r.at = std::chrono::steady_clock::now();
  r.recommend = m.recommend_requests.load(std::memory_order_relaxed);
  r.from_cache = m.recommend_from_cache.load(std::memory_order_relaxed);
  r.degraded = m.recommend_degraded.load(std::memory_order_relaxed);
  r.behavior = m.behavior_requests.load(std::memory_order_relaxed);
  r.behavior_failed = m.behavior_failed.load(std::memory_order_relaxed);
  r.client_errors = m.client_errors.load(std::memory_order_relaxed);
  r.recommend_latency = m.recommend_latency.counts();
  r.behavior_latency = m.behavior_latency.counts();
  return r;
}

void serving_history::run() {
  std::unique_lock lock{mutex_};
  while (!wake_.wait_for(lock, period_, [this] { return stopping_; }))
    sample();
}

// Called with mutex_ held.
void serving_history::sample() {
  auto now = read();
  const double secs = std::chrono::duration<double>(now.at - last_.at).count();
  if (secs <= 0)
    return;
  auto delta = [](std::uint64_t a, std::uint64_t b) { return a >= b ? double(a - b) : 0.0; };
  serving_point p;
  p.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  p.seconds = secs;
  const double answers = delta(now.recommend, last_.recommend);
  p.recommend_per_s = answers / secs;
  p.behavior_per_s = delta(now.behavior, last_.behavior) / secs;
  p.client_errors_per_s = delta(now.client_errors, last_.client_errors) / secs;
  p.behavior_failed_per_s = delta(now.behavior_failed, last_.behavior_failed) / secs;
  auto lat = minus(now.recommend_latency, last_.recommend_latency);
  p.p50_ms = latency_histogram::quantile_ms(lat, 0.50);
  p.p95_ms = latency_histogram::quantile_ms(lat, 0.95);
  p.p99_ms = latency_histogram::quantile_ms(lat, 0.99);
  p.behavior_p99_ms =
    latency_histogram::quantile_ms(minus(now.behavior_latency, last_.behavior_latency), 0.99);
  if (answers > 0) {
    p.cache_hit_ratio = delta(now.from_cache, last_.from_cache) / answers;
    p.degraded_share = delta(now.degraded, last_.degraded) / answers;
  }
  points_.push_back(p);
  while (points_.size() > capacity_)
    points_.pop_front();
  last_ = std::move(now);
}

nlohmann::json serving_history::to_json() const {
  auto points = nlohmann::json::array();
  {
    std::lock_guard lock{mutex_};
    for (const auto& p : points_)
      points.push_back({{"t", p.unix_ms},
                        {"seconds", p.seconds},
                        {"recommend_per_s", p.recommend_per_s},
                        {"behavior_per_s", p.behavior_per_s},
                        {"client_errors_per_s", p.client_errors_per_s},
                        {"behavior_failed_per_s", p.behavior_failed_per_s},
                        {"p50_ms", p.p50_ms},
                        {"p95_ms", p.p95_ms},
                        {"p99_ms", p.p99_ms},
                        {"behavior_p99_ms", p.behavior_p99_ms},
                        {"cache_hit_ratio", optional_json(p.cache_hit_ratio)},
                        {"degraded_share", optional_json(p.degraded_share)}});
  }
  const auto& m = *metrics_;
  const auto recommend = m.recommend_requests.load();
  nlohmann::json totals = {
    {"recommend", recommend},
    {"recommend_from_cache", m.recommend_from_cache.load()},
    {"recommend_degraded", m.recommend_degraded.load()},
    {"behavior", m.behavior_requests.load()},
    {"behavior_failed", m.behavior_failed.load()},
    {"client_errors", m.client_errors.load()},
    {"latency_ms", {{"recommend", m.recommend_latency.to_json()},
                    {"behavior", m.behavior_latency.to_json()}}}};
  return {{"api", true},
          {"period_seconds", std::chrono::duration<double>(period_).count()},
          {"capacity", capacity_},
          {"points", std::move(points)},
          {"totals", std::move(totals)}};
}

} // namespace recd
