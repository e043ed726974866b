#!/usr/bin/env python3
# Writes deploy/grafana/recd.json and the Helm chart's copy
# (deploy/helm/recd/dashboards/recd.json): python3 deploy/grafana/make_dashboard.py
# Every query must name metrics recd exports: tests/operate_test.cpp checks them
# against a running node.
import json, os
panels = []
pid = [0]
def panel(title, exprs, x, y, w=12, h=8, unit="short", kind="timeseries", desc=""):
    pid[0] += 1
    targets = [{"datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": e, "legendFormat": l, "refId": chr(65 + i)} for i, (e, l) in enumerate(exprs)]
    p = {"id": pid[0], "type": kind, "title": title, "description": desc,
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "gridPos": {"x": x, "y": y, "w": w, "h": h},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "options": {}, "targets": targets}
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    panels.append(p)
def row(title, y):
    pid[0] += 1
    panels.append({"id": pid[0], "type": "row", "title": title, "collapsed": False,
                   "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
J = 'job=~"$job"'
y = 0
row("Cluster", y); y += 1
panel("Ready", [(f'min(recd_cluster_ready{{{J}}})', "ready")], 0, y, 4, 4, kind="stat",
      desc="1 when every partition has a live, loaded shard (recd_cluster_ready)")
panel("Live shards", [(f'max(recd_cluster_live_shards{{{J}}})', "live shards")], 4, y, 4, 4, kind="stat")
panel("Map epoch", [(f'max(recd_cluster_epoch{{{J}}})', "epoch")], 8, y, 4, 4, kind="stat")
panel("Moves in progress", [(f'max(recd_cluster_moves_in_progress{{{J}}})', "moving")], 12, y, 4, 4, kind="stat")
panel("Database reachable", [(f'min(recd_db_up{{{J}}})', "db up")], 16, y, 4, 4, kind="stat")
panel("Redis degraded", [(f'max(recd_cache_degraded{{{J}}})', "degraded")], 20, y, 4, 4, kind="stat")
y += 4
panel("Partitions per shard node", [(f'recd_cluster_shard_partitions{{{J}}}', "{{shard}}")], 0, y, 12, 8)
panel("Users and items in the database", [(f'max(recd_db_users{{{J}}})', "users"), (f'max(recd_db_items{{{J}}})', "items"),
      (f'max(recd_db_behaviors_24h{{{J}}})', "behaviors in 24 h")], 12, y, 12, 8)
y += 8
row("Serving", y); y += 1
panel("Requests per second by endpoint", [(f'sum by (endpoint) (rate(recd_http_requests_total{{{J}}}[5m]))', "{{endpoint}}")],
      0, y, 12, 8, unit="reqps")
panel("Server errors (5xx) per second", [(f'sum by (endpoint) (rate(recd_http_requests_total{{{J},status=~"5.."}}[5m]))', "{{endpoint}}")],
      12, y, 12, 8, unit="reqps")
y += 8
panel("Recommend latency", [
    (f'histogram_quantile(0.5, sum by (le) (rate(recd_http_request_duration_seconds_bucket{{{J},endpoint="/api/recommend"}}[5m])))', "p50"),
    (f'histogram_quantile(0.99, sum by (le) (rate(recd_http_request_duration_seconds_bucket{{{J},endpoint="/api/recommend"}}[5m])))', "p99")],
    0, y, 12, 8, unit="s")
panel("Behavior latency", [
    (f'histogram_quantile(0.5, sum by (le) (rate(recd_http_request_duration_seconds_bucket{{{J},endpoint="/api/behavior"}}[5m])))', "p50"),
    (f'histogram_quantile(0.99, sum by (le) (rate(recd_http_request_duration_seconds_bucket{{{J},endpoint="/api/behavior"}}[5m])))', "p99")],
    12, y, 12, 8, unit="s")
y += 8
panel("Cache hit ratio", [
    (f'sum(rate(recd_recommend_cache_hits_total{{{J}}}[5m])) / clamp_min(sum(rate(recd_recommend_requests_total{{{J}}}[5m])), 1e-9)', "answered from a cache"),
    (f'sum(rate(recd_recommend_cache_hits_total{{{J},layer="near"}}[5m])) / clamp_min(sum(rate(recd_recommend_requests_total{{{J}}}[5m])), 1e-9)', "near cache")],
    0, y, 8, 8, unit="percentunit")
panel("Degraded answers", [
    (f'sum(rate(recd_recommend_degraded_total{{{J}}}[5m])) / clamp_min(sum(rate(recd_recommend_requests_total{{{J}}}[5m])), 1e-9)', "share degraded")],
    8, y, 8, 8, unit="percentunit")
panel("Redis errors per second", [(f'sum(rate(recd_cache_redis_errors_total{{{J}}}[5m]))', "errors"),
      (f'sum by (result) (rate(recd_cache_redis_lookups_total{{{J}}}[5m]))', "lookups {{result}}")], 16, y, 8, 8, unit="ops")
y += 8
panel("Route shares in served answers", [
    (f'sum by (route) (rate(recd_recommend_route_items_total{{{J}}}[15m])) / ignoring(route) group_left sum(rate(recd_recommend_items_total{{{J}}}[15m]))', "{{route}}")],
    0, y, 12, 8, unit="percentunit",
    desc="share of items in computed answers that each recall route proposed (an item several routes proposed counts for each)")
panel("Shard recall latency p99", [
    (f'histogram_quantile(0.99, sum by (le, instance, shard) (rate(recd_shard_recall_duration_seconds_bucket{{{J}}}[5m])))', "{{instance}} shard {{shard}}")],
    12, y, 12, 8, unit="s")
y += 8
row("Behaviors", y); y += 1
panel("Behaviors per second", [(f'sum(rate(recd_behavior_requests_total{{{J}}}[5m]))', "received"),
      (f'sum(rate(recd_behavior_failed_total{{{J}}}[5m]))', "failed")], 0, y, 8, 8, unit="ops")
panel("Writer queue", [(f'sum by (instance) (recd_behavior_queue_depth{{{J}}})', "{{instance}} queued"),
      (f'max(recd_behavior_queue_capacity{{{J}}})', "capacity")], 8, y, 8, 8)
panel("Commit latency and batch size", [
    (f'histogram_quantile(0.99, sum by (le) (rate(recd_behavior_commit_duration_seconds_bucket{{{J}}}[5m])))', "commit p99 (s)"),
    (f'sum(rate(recd_behavior_batch_size_sum{{{J}}}[5m])) / clamp_min(sum(rate(recd_behavior_batch_size_count{{{J}}}[5m])), 1e-9)', "mean events per batch")],
    16, y, 8, 8)
y += 8
row("Shards", y); y += 1
panel("Users per shard", [(f'recd_shard_users{{{J}}}', "{{instance}} {{shard}}")], 0, y, 8, 8)
panel("Items per shard", [(f'recd_shard_items{{{J}}}', "{{instance}} {{shard}}")], 8, y, 8, 8)
panel("Shard memory by structure", [(f'sum by (structure) (recd_shard_memory_bytes{{{J}}})', "{{structure}}")], 16, y, 8, 8, unit="bytes")
y += 8
panel("Process memory (RSS)", [(f'process_resident_memory_bytes{{{J}}}', "{{instance}}")], 0, y, 12, 8, unit="bytes")
panel("Process CPU", [(f'rate(process_cpu_seconds_total{{{J}}}[5m])', "{{instance}}")], 12, y, 12, 8, unit="percentunit")
y += 8
row("Jobs", y); y += 1
panel("Running job progress", [(f'max by (kind) (recd_job_progress_ratio{{{J}}}) and max by (kind) (recd_job_running{{{J}}}) == 1', "{{kind}}")],
      0, y, 8, 8, unit="percentunit")
panel("Last run duration", [(f'max by (kind) (recd_job_last_duration_seconds{{{J}}})', "{{kind}}")], 8, y, 8, 8, unit="s")
panel("Rows published by the last run", [(f'max by (kind) (recd_job_last_rows{{{J}}})', "{{kind}}")], 16, y, 8, 8)
y += 8
panel("Hours since the last run ended", [(f'(time() - max by (kind) (recd_job_last_finished_timestamp_seconds{{{J}}})) / 3600', "{{kind}}")],
      0, y, 8, 8, unit="h")
panel("Newest run failed", [(f'max by (kind) (recd_job_last_status{{{J},status="failed"}})', "{{kind}}")], 8, y, 8, 8)
panel("Runs by kind and status", [(f'max by (kind, status) (recd_job_runs{{{J}}})', "{{kind}} {{status}}")], 16, y, 8, 8)

dash = {
  "title": "recd", "uid": "recd-overview", "tags": ["recd"], "timezone": "utc",
  "schemaVersion": 38, "version": 1, "refresh": "30s", "editable": True,
  "time": {"from": "now-6h", "to": "now"},
  "description": "recd: cluster, serving, behaviors, shards and jobs. Every query uses a metric documented in docs/operations.md.",
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus", "current": {}},
    {"name": "job", "type": "query", "label": "job", "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "query": {"query": "label_values(recd_build_info, job)", "refId": "job"},
     "definition": "label_values(recd_build_info, job)", "includeAll": True, "multi": True, "allValue": ".*",
     "current": {}, "refresh": 2}]},
  "annotations": {"list": []},
  "panels": panels,
}
here = os.path.dirname(os.path.abspath(__file__))
text = json.dumps(dash, indent=2) + "\n"
for path in (os.path.join(here, "recd.json"), os.path.join(here, "..", "helm", "recd", "dashboards", "recd.json")):
    with open(path, "w") as out:
        out.write(text)
