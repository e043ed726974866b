#pragma once
// The figures this process's actors record for the node's /metrics
// (nodes/metrics.hpp renders them): one process is one node, so the figures
// are process-wide, reached through node_telemetry(). Writers are actors and
// the HTTP threads; the only reader is a scrape. Everything is an atomic or
// held under a short lock: recording never blocks an actor for long and never
// sends a message. The API actors' own counters stay in api_metrics (passed
// to them explicitly); this holds what would otherwise need new plumbing
// through every spawn: the shards', the behavior writer's, the cache's, the
// running job's and the HTTP servers' figures.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace recd {

// A Prometheus histogram with fixed upper bounds (plus +Inf), lock-free.
// `sum` is kept in integer micro-units (microseconds for seconds, 1e-6 for
// counts), so adding is one atomic add.
class fixed_histogram {
public:
  explicit fixed_histogram(std::span<const double> bounds);
  void observe(double value);

  struct snapshot {
    std::vector<std::pair<double, std::uint64_t>> cumulative; // (upper bound, count <= it)
    std::uint64_t count = 0;
    double sum = 0;
  };
  snapshot read() const;

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_; // bounds_.size() + 1 (the +Inf bucket)
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::int64_t> sum_micros_{0};
};

// Bucket bounds in seconds for request and step latencies: 100 us to 10 s.
std::span<const double> latency_buckets();

// One shard actor's state. Sizes are measured after each load, drop and job
// install (shard_state::footprint walks every user and item); the counts
// follow every change.
struct shard_figures {
  std::atomic<std::uint64_t> partitions{0}; // held (serving or on standby)
  std::atomic<std::uint64_t> users{0};
  std::atomic<std::uint64_t> items{0};
  // Heap bytes per structure, names as in state_footprint (actors/shard_state.hpp).
  static constexpr std::array<const char*, 10> structures{
    "user_table", "history", "bought", "similar_users", "user_vectors",
    "item_table", "titles",  "neighbours", "item_vectors", "vector_index"};
  std::array<std::atomic<std::uint64_t>, structures.size()> bytes{};
  // Pages the held partitions' arenas mapped (actors/partition_arena.hpp),
  // and of them the bytes in blocks in use (rounded to their size class):
  // state_footprint's arenas and arena_blocks, measured with `bytes`.
  std::atomic<std::uint64_t> arena_mapped_bytes{0};
  std::atomic<std::uint64_t> arena_used_bytes{0};
  fixed_histogram recall{latency_buckets()}; // one recall request, on this shard
  // Recall requests that named a partition held here on standby: reads a
  // replica served (cluster.replicas = 2), or a move's new holder early.
  std::atomic<std::uint64_t> standby_recalls{0};
};

// The behavior writer of this node.
struct writer_figures {
  writer_figures();
  fixed_histogram batch_size;                 // events per committed statement
  fixed_histogram commit{latency_buckets()};  // seconds per batch statement (commit included)
  std::atomic<std::uint64_t> failed_batches{0};
};

// The Redis cache actor of this node (its own counters, mirrored here).
struct cache_figures {
  std::atomic<std::uint64_t> hits{0}, misses{0}, errors{0};
  std::atomic<bool> degraded{false};
};

// The job runs in progress on this node's job drivers (the coordinator's).
struct job_figures {
  struct running_run {
    std::string kind;
    std::int64_t run_id = 0;
    std::uint64_t done = 0, total = 0, rows = 0;
    std::chrono::system_clock::time_point started{};
    // The share of its work done, 0 to 1.
    double ratio() const { return total > 0 ? std::min(1.0, double(done) / double(total)) : 0.0; }
  };
  // Runs of different kinds may be in progress at once (the coordinator runs
  // embeddings beside the similarity kinds); each is known by its kind.
  void begin(std::string kind, std::int64_t run_id);
  void progress(const std::string& kind, std::uint64_t done, std::uint64_t total,
                std::uint64_t rows);
  void end(const std::string& kind);
  std::vector<running_run> running() const; // oldest first

private:
  mutable std::mutex mu_;
  std::vector<running_run> runs_;
};

// HTTP exchanges of this node's servers, by endpoint (a bounded set of
// labels, see nodes/metrics.hpp) and status.
class http_figures {
public:
  void record(const std::string& endpoint, unsigned status, double seconds);
  struct endpoint_view {
    std::map<unsigned, std::uint64_t> by_status;
    fixed_histogram::snapshot duration;
  };
  std::map<std::string, endpoint_view> read() const;

private:
  struct endpoint_figures {
    std::map<unsigned, std::uint64_t> by_status;
    fixed_histogram duration{latency_buckets()};
  };
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<endpoint_figures>> endpoints_;
};

class telemetry {
public:
  // The figures of shard actor `index` of this process (created on first use;
  // the reference stays valid for the process's life).
  shard_figures& shard(std::uint32_t index);
  // Every shard actor's figures, by index.
  std::vector<std::pair<std::uint32_t, const shard_figures*>> shards() const;

  writer_figures writer;
  cache_figures cache;
  job_figures job;
  http_figures http;
  const std::chrono::system_clock::time_point started = std::chrono::system_clock::now();

private:
  mutable std::mutex mu_;
  std::map<std::uint32_t, std::unique_ptr<shard_figures>> shards_;
};

telemetry& node_telemetry();

} // namespace recd
