#include "nodes/metrics.hpp"
#include "nodes/routes.hpp"
#include "protocol/messages.hpp"
#include "protocol/version.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "actors/census.hpp"
#include "actors/heap.hpp"
#include "actors/telemetry.hpp"

#ifndef RECD_VERSION
#define RECD_VERSION "unknown"
#endif

namespace recd::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using labels = std::vector<ClientMetric::Label>;

// Adds a family and returns it for its samples.
MetricFamily& family(families& out, std::string name, std::string help, MetricType type) {
  out.push_back({std::move(name), std::move(help), type, {}});
  return out.back();
}

void sample(MetricFamily& f, double value, labels l = {}) {
  ClientMetric m;
  m.label = std::move(l);
  if (f.type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

void gauge(families& out, std::string name, std::string help, double value, labels l = {}) {
  sample(family(out, std::move(name), std::move(help), MetricType::Gauge), value, std::move(l));
}

void counter(families& out, std::string name, std::string help, double value, labels l = {}) {
  sample(family(out, std::move(name), std::move(help), MetricType::Counter), value, std::move(l));
}

void histogram(MetricFamily& f, const fixed_histogram::snapshot& s, labels l = {}) {
  ClientMetric m;
  m.label = std::move(l);
  m.histogram.sample_count = s.count;
  m.histogram.sample_sum = s.sum;
  for (const auto& [bound, count] : s.cumulative)
    m.histogram.bucket.push_back({count, bound});
  // The +Inf bucket is written by the serializer from sample_count.
  f.metric.push_back(std::move(m));
}

std::uint64_t load(const std::atomic<std::uint64_t>& x) { return x.load(std::memory_order_relaxed); }

void add_process(families& out, const node_view& node) {
  gauge(out, "recd_build_info", "recd's version, wire protocol and malloc (always 1)", 1,
        {{"version", RECD_VERSION},
         {"wire", std::to_string(wire_version())},
         {"allocator", heap::allocator_in_use()}});
  gauge(out, "recd_node_info", "this node's role (always 1)", 1, {{"role", node.role}});
  const auto started = std::chrono::duration<double>(node_telemetry().started.time_since_epoch());
  gauge(out, "process_start_time_seconds", "start time of the process since the Unix epoch",
        started.count());
  rusage use{};
  if (::getrusage(RUSAGE_SELF, &use) == 0) {
    auto secs = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
    counter(out, "process_cpu_seconds_total", "user and system CPU time spent",
            secs(use.ru_utime) + secs(use.ru_stime));
  }
  std::ifstream statm{"/proc/self/statm"};
  std::uint64_t pages_total = 0, pages_resident = 0;
  if (statm >> pages_total >> pages_resident)
    gauge(out, "process_resident_memory_bytes", "resident memory size",
          double(pages_resident) * double(::sysconf(_SC_PAGESIZE)));
  if (DIR* fds = ::opendir("/proc/self/fd")) {
    std::size_t open = 0;
    while (::readdir(fds) != nullptr)
      ++open;
    ::closedir(fds);
    gauge(out, "process_open_fds", "open file descriptors", double(open > 3 ? open - 3 : 0));
  }
  if (node.connections)
    gauge(out, "recd_http_connections", "HTTP connections open on this node's ports",
          double(node.connections()));
  auto& actors = family(out, "recd_actors", "recd's actors alive in this process, by name",
                        MetricType::Gauge);
  for (const auto& [name, n] : census_counts())
    sample(actors, double(n), {{"actor", name}});
}

void add_http(families& out) {
  auto figures = node_telemetry().http.read();
  auto& requests = family(out, "recd_http_requests_total",
                          "HTTP requests answered, by endpoint and status code", MetricType::Counter);
  auto& durations = family(out, "recd_http_request_duration_seconds",
                           "time from a complete request to its response, by endpoint",
                           MetricType::Histogram);
  for (const auto& [endpoint, view] : figures) {
    for (const auto& [status, n] : view.by_status)
      sample(requests, double(n), {{"endpoint", endpoint}, {"status", std::to_string(status)}});
    histogram(durations, view.duration, {{"endpoint", endpoint}});
  }
}

void add_api(families& out, const api_metrics& m) {
  counter(out, "recd_recommend_requests_total", "recommendation requests received by the API actors",
          double(load(m.recommend_requests)));
  auto& hits = family(out, "recd_recommend_cache_hits_total",
                      "recommendations answered from a cache, by layer (local: by an HTTP thread, "
                      "vouched for by a shard of this process without a message; near: by an API "
                      "actor from its own copy; redis)",
                      MetricType::Counter);
  const auto from_cache = load(m.recommend_from_cache), near = load(m.recommend_from_near_cache),
             local = load(m.recommend_from_local_answers);
  sample(hits, double(local), {{"layer", "local"}});
  sample(hits, double(near), {{"layer", "near"}});
  sample(hits, double(from_cache >= near + local ? from_cache - near - local : 0),
         {{"layer", "redis"}});
  counter(out, "recd_recommend_degraded_total",
          "recommendations answered without a shard that missed its deadline",
          double(load(m.recommend_degraded)));
  counter(out, "recd_recommend_history_from_database_total",
          "recommendations whose user's shard did not answer: what the user bought read from "
          "PostgreSQL instead",
          double(load(m.recommend_history_from_database)));
  counter(out, "recd_recommend_history_unavailable_total",
          "recommendations refused (503): neither the user's shard nor PostgreSQL said in time "
          "what the user bought",
          double(load(m.recommend_history_unavailable)));
  counter(out, "recd_recommend_items_total", "items in computed (not cached) recommendations",
          double(load(m.recommend_items)));
  auto& routes = family(out, "recd_recommend_route_items_total",
                        "items in computed recommendations, per recall route that proposed them",
                        MetricType::Counter);
  static constexpr std::array<const char*, recall_route_count> names{"user_cf", "item_cf", "vector",
                                                                    "popular", "category"};
  for (std::size_t r = 0; r < names.size(); ++r)
    sample(routes, double(load(m.route_items[r])), {{"route", names[r]}});
  counter(out, "recd_behavior_requests_total", "behavior events received by the API actors",
          double(load(m.behavior_requests)));
  counter(out, "recd_behavior_failed_total", "behavior events answered with an error",
          double(load(m.behavior_failed)));

  const auto& cache = node_telemetry().cache;
  auto& lookups = family(out, "recd_cache_redis_lookups_total",
                         "Redis lookups of cached answers, by result", MetricType::Counter);
  sample(lookups, double(load(cache.hits)), {{"result", "hit"}});
  sample(lookups, double(load(cache.misses)), {{"result", "miss"}});
  counter(out, "recd_cache_redis_errors_total", "failed or skipped Redis commands",
          double(load(cache.errors)));
  gauge(out, "recd_cache_degraded", "1 while Redis is unavailable (answers are computed uncached)",
        cache.degraded.load() ? 1 : 0);
}

void add_writer(families& out, const writer_gate& gate) {
  gauge(out, "recd_behavior_queue_depth", "behavior events waiting to be committed on this node",
        double(gate.queued()));
  gauge(out, "recd_behavior_queue_capacity", "the most events that may wait (postgres.writer_queue_max)",
        double(gate.max()));
  const auto& w = node_telemetry().writer;
  histogram(family(out, "recd_behavior_batch_size", "behavior events per committed batch (statement)",
                   MetricType::Histogram),
            w.batch_size.read());
  histogram(family(out, "recd_behavior_commit_duration_seconds",
                   "time to write and commit one batch of behavior events", MetricType::Histogram),
            w.commit.read());
  counter(out, "recd_behavior_failed_batches_total", "batches the database refused or lost",
          double(load(w.failed_batches)));
}

void add_shards(families& out) {
  auto shards = node_telemetry().shards();
  if (shards.empty())
    return;
  auto& partitions = family(out, "recd_shard_partitions",
                            "partitions a shard holds (serving or on standby during a move)",
                            MetricType::Gauge);
  auto& users = family(out, "recd_shard_users", "users held in memory", MetricType::Gauge);
  auto& items = family(out, "recd_shard_items", "items held in memory", MetricType::Gauge);
  auto& bytes = family(out, "recd_shard_memory_bytes",
                       "heap bytes per structure, measured after each load, drop and job install",
                       MetricType::Gauge);
  auto& arena_mapped = family(out, "recd_shard_arena_mapped_bytes",
                              "bytes the held partitions' arenas have mapped (what dropping them "
                              "hands back), measured after each load, drop and job install",
                              MetricType::Gauge);
  auto& arena_used = family(out, "recd_shard_arena_used_bytes",
                            "bytes of the arenas' blocks in use (rounded to their size class), "
                            "measured with recd_shard_arena_mapped_bytes",
                            MetricType::Gauge);
  auto& recall = family(out, "recd_shard_recall_duration_seconds",
                        "time a shard spends on one recall request", MetricType::Histogram);
  auto& standby_recalls = family(out, "recd_shard_standby_recalls_total",
                                 "recall requests that named a partition this shard holds on "
                                 "standby: the reads its replicas served",
                                 MetricType::Counter);
  for (const auto& [index, f] : shards) {
    labels shard{{"shard", std::to_string(index)}};
    sample(partitions, double(load(f->partitions)), shard);
    sample(standby_recalls, double(load(f->standby_recalls)), shard);
    sample(users, double(load(f->users)), shard);
    sample(items, double(load(f->items)), shard);
    for (std::size_t k = 0; k < shard_figures::structures.size(); ++k)
      sample(bytes, double(load(f->bytes[k])),
             {{"shard", std::to_string(index)}, {"structure", shard_figures::structures[k]}});
    sample(arena_mapped, double(load(f->arena_mapped_bytes)), shard);
    sample(arena_used, double(load(f->arena_used_bytes)), shard);
    histogram(recall, f->recall.read(), shard);
  }
}

void add_running_job(families& out) {
  const auto runs = node_telemetry().job.running();
  auto& running = family(out, "recd_job_running", "1 while a run of this kind is in progress",
                         MetricType::Gauge);
  auto& progress = family(out, "recd_job_progress_ratio",
                          "share of the running run's work done (0 to 1)", MetricType::Gauge);
  auto& rows = family(out, "recd_job_progress_rows", "result rows the running run wrote so far",
                      MetricType::Gauge);
  for (std::uint8_t k = 0; k < job_kind_count; ++k) {
    const std::string kind = to_string(static_cast<job_kind>(k));
    auto run = std::find_if(runs.begin(), runs.end(), [&](const auto& r) { return r.kind == kind; });
    const bool now = run != runs.end();
    sample(running, now ? 1 : 0, {{"kind", kind}});
    sample(progress, now ? run->ratio() : 0, {{"kind", kind}});
    sample(rows, now ? double(run->rows) : 0, {{"kind", kind}});
  }
}

double number(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}

} // namespace

std::string endpoint_of(std::string_view path) {
  // Recommend keeps its old label (dashboards and alerts use it).
  if (path.rfind("/api/recommend/", 0) == 0)
    return "/api/recommend";
  // A route's template: a bounded label set that follows nodes/routes.hpp.
  for (const auto& r : routes::all())
    if (routes::fits(r.path, path))
      return std::string{r.path};
  for (std::string_view k : {"/", "/favicon.ico"}) // browsers' probes
    if (path == k)
      return std::string{k};
  return "other";
}

families collect_local(const node_view& node) {
  families out;
  add_process(out, node);
  add_http(out);
  if (node.api)
    add_api(out, *node.api);
  if (node.gate)
    add_writer(out, *node.gate);
  add_shards(out);
  if (node.role == "all" || node.role == "coordinator")
    add_running_job(out);
  return out;
}

void add_cluster(families& out, const nlohmann::json& stats, const nlohmann::json& map,
                 const nlohmann::json& runs) {
  gauge(out, "recd_cluster_ready", "1 when every partition has a live, loaded shard",
        stats.value("ready", false) ? 1 : 0);
  gauge(out, "recd_cluster_epoch", "epoch of the partition map (grows with every change)",
        number(map, "epoch"));
  gauge(out, "recd_cluster_partitions", "virtual partitions (fixed at migrate time)",
        number(map, "partitions"));
  gauge(out, "recd_cluster_moves_in_progress", "1 while partitions are being moved (a rebalance)",
        map.value("moving", false) ? 1 : 0);
  gauge(out, "recd_cluster_replicated",
        "1 when every partition has a live owner and, with cluster.replicas 2, a live replica",
        map.value("replicated", false) ? 1 : 0);
  double live = 0;
  auto& owned = family(out, "recd_cluster_shard_partitions",
                       "partitions the map gives each shard node", MetricType::Gauge);
  auto& replicas = family(out, "recd_cluster_shard_replicas",
                          "partitions each shard node holds as a replica (cluster.replicas 2)",
                          MetricType::Gauge);
  auto& alive = family(out, "recd_cluster_shard_up", "1 while the shard node is a live member",
                       MetricType::Gauge);
  for (const auto& s : map.value("shards", nlohmann::json::array())) {
    auto name = s.value("name", std::string{});
    sample(owned, double(s.value("partitions", nlohmann::json::array()).size()), {{"shard", name}});
    sample(replicas, double(s.value("replicas", nlohmann::json::array()).size()),
           {{"shard", name}});
    const bool up = s.value("alive", false);
    sample(alive, up ? 1 : 0, {{"shard", name}});
    live += up ? 1 : 0;
  }
  if (owned.metric.empty()) {
    out.pop_back();
    out.pop_back();
    out.pop_back();
  }
  gauge(out, "recd_cluster_live_shards", "shard nodes (or local shards) alive", live);
  gauge(out, "recd_cluster_job_running", "1 while the coordinator runs a job",
        stats.value("job_running", false) ? 1 : 0);

  gauge(out, "recd_db_users", "rows in users", number(stats, "user_count"));
  gauge(out, "recd_db_items", "rows in items", number(stats, "item_count"));
  gauge(out, "recd_db_behaviors_24h", "behaviors stored in the last 24 hours",
        number(stats, "behavior_24h"));
  gauge(out, "recd_db_item_similarity_pairs", "rows in the published item_similarity",
        number(stats, "item_sim_pairs"));
  gauge(out, "recd_db_user_similarity_pairs", "rows in the published user_similarity",
        number(stats, "user_sim_pairs"));

  auto jobs = stats.value("last_jobs", nlohmann::json::object());
  if (!jobs.empty()) {
    auto& duration = family(out, "recd_job_last_duration_seconds",
                            "duration of the newest run of each kind (so far, if it runs)",
                            MetricType::Gauge);
    auto& rows = family(out, "recd_job_last_rows", "rows the newest run of each kind published",
                        MetricType::Gauge);
    auto& status = family(out, "recd_job_last_status",
                          "status of the newest run of each kind (1 for its status)",
                          MetricType::Gauge);
    auto& finished = family(out, "recd_job_last_finished_timestamp_seconds",
                            "when the newest run of each kind ended (Unix time; 0 while running)",
                            MetricType::Gauge);
    for (const auto& [kind, run] : jobs.items()) {
      sample(duration, number(run, "seconds"), {{"kind", kind}});
      sample(rows, number(run, "rows"), {{"kind", kind}});
      const auto current = run.value("status", std::string{});
      for (const char* s : {"running", "published", "failed"})
        sample(status, current == s ? 1 : 0, {{"kind", kind}, {"status", s}});
      sample(finished, number(run, "finished_unix"), {{"kind", kind}});
    }
  }
  if (runs.is_object() && !runs.empty()) {
    auto& counts = family(out, "recd_job_runs", "runs recorded in job_runs, by kind and status",
                          MetricType::Gauge);
    for (const auto& [kind, by_status] : runs.items())
      for (const auto& [status, n] : by_status.items())
        sample(counts, n.get<double>(), {{"kind", kind}, {"status", status}});
  }
}

void add_api_keys(families& out, const std::map<std::string, std::uint64_t>& counts) {
  auto& f = family(out, "recd_api_key_requests_total",
                   "/api/* requests accepted with each API key, by the key's name", MetricType::Counter);
  for (const auto& [name, n] : counts)
    sample(f, double(n), {{"key", name}});
}

std::string render(const families& all) {
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, std::vector<MetricFamily>(all.begin(), all.end()));
  return out.str();
}

} // namespace recd::metrics
