#include "actors/telemetry.hpp"

#include <algorithm>
#include <cmath>

namespace recd {

namespace {

constexpr double micro = 1e6;

constexpr std::array<double, 16> latency_bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                1,      2.5,     5,      10};
constexpr std::array<double, 11> batch_bounds{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

} // namespace

std::span<const double> latency_buckets() { return latency_bounds; }

fixed_histogram::fixed_histogram(std::span<const double> bounds)
  : bounds_(bounds.begin(), bounds.end()),
    counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t b = 0; b <= bounds_.size(); ++b)
    counts_[b].store(0, std::memory_order_relaxed);
}

void fixed_histogram::observe(double value) {
  if (!(value >= 0)) // NaN or negative: a clock step, not a figure
    value = 0;
  auto b = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                    bounds_.begin());
  counts_[b].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::int64_t>(std::llround(value * micro)),
                        std::memory_order_relaxed);
}

fixed_histogram::snapshot fixed_histogram::read() const {
  snapshot s;
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < bounds_.size(); ++b) {
    seen += counts_[b].load(std::memory_order_relaxed);
    s.cumulative.emplace_back(bounds_[b], seen);
  }
  seen += counts_[bounds_.size()].load(std::memory_order_relaxed);
  // The buckets are read one by one while others record: the total is their
  // sum, so that +Inf equals _count as the format requires.
  s.count = seen;
  s.sum = double(sum_micros_.load(std::memory_order_relaxed)) / micro;
  return s;
}

writer_figures::writer_figures() : batch_size(batch_bounds) {}

void job_figures::begin(std::string kind, std::int64_t run_id) {
  std::lock_guard lock{mu_};
  std::erase_if(runs_, [&](const running_run& r) { return r.kind == kind; });
  runs_.push_back({std::move(kind), run_id, 0, 0, 0, std::chrono::system_clock::now()});
}

void job_figures::progress(const std::string& kind, std::uint64_t done, std::uint64_t total,
                           std::uint64_t rows) {
  std::lock_guard lock{mu_};
  for (auto& r : runs_)
    if (r.kind == kind) {
      r.done = done;
      r.total = total;
      r.rows = rows;
    }
}

void job_figures::end(const std::string& kind) {
  std::lock_guard lock{mu_};
  std::erase_if(runs_, [&](const running_run& r) { return r.kind == kind; });
}

std::vector<job_figures::running_run> job_figures::running() const {
  std::lock_guard lock{mu_};
  return runs_;
}

void http_figures::record(const std::string& endpoint, unsigned status, double seconds) {
  std::lock_guard lock{mu_};
  auto& slot = endpoints_[endpoint];
  if (!slot)
    slot = std::make_unique<endpoint_figures>();
  ++slot->by_status[status];
  slot->duration.observe(seconds);
}

std::map<std::string, http_figures::endpoint_view> http_figures::read() const {
  std::lock_guard lock{mu_};
  std::map<std::string, endpoint_view> out;
  for (const auto& [name, figures] : endpoints_)
    out[name] = {figures->by_status, figures->duration.read()};
  return out;
}

shard_figures& telemetry::shard(std::uint32_t index) {
  std::lock_guard lock{mu_};
  auto& slot = shards_[index];
  if (!slot)
    slot = std::make_unique<shard_figures>();
  return *slot;
}

std::vector<std::pair<std::uint32_t, const shard_figures*>> telemetry::shards() const {
  std::lock_guard lock{mu_};
  std::vector<std::pair<std::uint32_t, const shard_figures*>> out;
  for (const auto& [index, figures] : shards_)
    out.emplace_back(index, figures.get());
  return out;
}

telemetry& node_telemetry() {
  static telemetry instance;
  return instance;
}

} // namespace recd
