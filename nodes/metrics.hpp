#pragma once
// A node's Prometheus metrics (GET /metrics on the admin port), in the text
// exposition format 0.0.4, serialized by prometheus-cpp's TextSerializer
// (Debian's prometheus-cpp-dev; only its data model and serializer are used:
// the figures stay where the actors keep them and are read at scrape time).
//
// Every name is listed and explained in docs/operations.md; the Grafana
// dashboard (deploy/grafana/recd.json) uses only these, which
// tests/operate_test.cpp checks against a running node.
//
// What a node exports depends on what it runs:
//   every node     recd_build_info, recd_node_info{role}, process_*, recd_http_*
//   API actors     recd_recommend_*, recd_cache_*, recd_behavior_*
//   shard actors   recd_shard_*{shard}
//   coordinator    recd_cluster_*, recd_job_*, recd_db_* (from its stats and map)

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "actors/api_metrics.hpp"
#include "actors/behavior_writer.hpp"

#include <prometheus/metric_family.h>

namespace recd::metrics {

// A deque: a family being filled stays put while others are added.
using families = std::deque<prometheus::MetricFamily>;

// The endpoint label of a request path: the template of its route in
// nodes/routes.hpp ("/metrics", "/admin/cluster", "/ui/{file}", ...; but
// "/api/recommend" for every user, as before), "/" or "/favicon.ico", and
// "other" for the rest, so that no client can grow the number of series.
std::string endpoint_of(std::string_view path);

// What a node runs, beyond the process-wide telemetry.
struct node_view {
  std::string role;                        // all, coordinator, shard, api
  std::shared_ptr<api_metrics> api;        // null: no API actors here
  std::shared_ptr<writer_gate> gate;       // null: no behavior writer here
  std::function<std::size_t()> connections; // open HTTP connections (both ports); may be empty
};

// The figures of this process: build, process, HTTP, and whatever of API
// actors, behavior writer, cache, shards and running job lives here.
families collect_local(const node_view& node);

// The coordinator's figures from its stats JSON (actors/coordinator.hpp:
// database counts, last run per kind) and its map JSON (epoch, moves, shards).
// `runs`: job_runs counts per kind and status ({kind: {status: n}}), may be null.
void add_cluster(families& out, const nlohmann::json& stats, const nlohmann::json& map,
                 const nlohmann::json& runs);

// Accepted /api/* requests per API key name (http.api_keys_file), when keys are on.
void add_api_keys(families& out, const std::map<std::string, std::uint64_t>& counts);

// The text exposition format (Content-Type: text/plain; version=0.0.4).
std::string render(const families& all);

inline constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

} // namespace recd::metrics
