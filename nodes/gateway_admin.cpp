// The admin port's endpoints (see gateway.hpp for the list): /metrics on
// every node; the operator commands on the coordinator and --role all.
#include "nodes/gateway.hpp"
#include "nodes/gateway_detail.hpp"

#include <charconv>
#include <mutex>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/telemetry.hpp"
#include "nodes/dashboard.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/operations.hpp"

namespace recd {

using namespace gateway_detail;
using json = nlohmann::json;

struct gateway::database_link {
  std::mutex mu;
  store::lazy_connection conn;
  explicit database_link(std::string conninfo) : conn(std::move(conninfo)) {}

  // Runs `read` on the connection (blocking; one caller at a time). An error
  // resets the connection: the next use reconnects.
  template <class F>
  caf::error with(F read) {
    std::lock_guard lock{mu};
    auto c = conn.get();
    if (!c)
      return c.error();
    auto err = store::guard([&] { read(**c); });
    if (err)
      conn.reset();
    return err;
  }
};

void gateway::set_database(std::string conninfo) {
  db_ = conninfo.empty() ? nullptr : std::make_shared<database_link>(std::move(conninfo));
}

namespace {

// The runs in progress on this node, oldest first ([] when none).
json running_jobs() {
  json out = json::array();
  for (const auto& run : node_telemetry().job.running())
    out.push_back(
      {{"kind", run.kind},
       {"run_id", run.run_id},
       {"done", run.done},
       {"total", run.total},
       {"rows", run.rows},
       {"progress", run.ratio()},
       {"seconds",
        std::chrono::duration<double>(std::chrono::system_clock::now() - run.started).count()}});
  return out;
}

json run_counts(const std::vector<store::job_run_count>& counts) {
  json out = json::object();
  for (const auto& c : counts)
    out[c.kind][c.status] = c.runs;
  return out;
}

std::optional<std::int32_t> parse_user(std::string_view text) {
  std::int32_t v = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < 0)
    return std::nullopt;
  return v;
}

} // namespace

void gateway::handle_admin(http::request&& req, http::reply_fn reply) {
  if (handle_probe(req, reply))
    return;
  // A standby coordinator replica serves no admin endpoint and no dashboard:
  // the leader does (its address is in the lease, docs/cluster.md).
  const bool standby = node_.role == "standby";
  auto stands_by = [&] {
    reply(json_error_response(503, "this coordinator replica stands by: send " + req.path +
                                     " to the leading replica's admin port"));
  };
  if (standby && dashboard::is_page(req.path))
    return stands_by();
  // The page holds no data: it asks for the token and sends it with each fetch.
  if (dashboard_ && dashboard::is_page(req.path))
    return dashboard_->serve_page(req, std::move(reply));
  if (auto denied = http::check_admin_token(req, admin_token_))
    return reply(std::move(*denied));
  // Only the routes of nodes/routes.hpp (which docs/openapi.yaml describes).
  if (refuse_unrouted(routes::port::admin, req, reply))
    return;
  if (standby && req.path.rfind("/admin/", 0) == 0)
    return stands_by();
  if (dashboard_ && dashboard_->handle(req, reply))
    return;
  auto client_error = [&](unsigned status, const std::string& message) {
    reply(json_error_response(status, message));
  };
  const auto& path = req.path;
  auto only = [&](const char* method) {
    if (req.method == method)
      return true;
    client_error(405, "method " + req.method + " not allowed on " + path);
    return false;
  };
  if (path == "/metrics") {
    if (req.method != "GET" && req.method != "HEAD")
      return client_error(405, "method " + req.method + " not allowed on " + path);
    return serve_metrics(std::move(reply));
  }
  if (admin_rules(req, reply))
    return;
  const bool known = path == "/admin/cluster" || path == "/admin/rebalance" ||
                     path == "/admin/jobs" || path == "/admin/drain" ||
                     path == "/admin/cache/flush" || path == "/admin/check";
  if (known && !admin_)
    return client_error(404, "this node has no coordinator: send " + path +
                               " to the coordinator's admin port");
  if (path == "/admin/cluster") {
    if (!only("GET"))
      return;
    return ask(
      sys_, admin_, timeout_, reply,
      [reply](std::string& body) { reply(json_response(200, std::move(body))); }, cluster_atom_v);
  }
  if (path == "/admin/rebalance") {
    if (!only("POST"))
      return;
    return ask(
      sys_, admin_, timeout_, reply,
      [reply](std::uint64_t epoch) { reply(json_response(200, json{{"epoch", epoch}}.dump())); },
      rebalance_atom_v);
  }
  if (path == "/admin/jobs") {
    if (req.method != "GET" && req.method != "POST")
      return client_error(405, "method " + req.method + " not allowed on " + path);
    return admin_jobs(req, std::move(reply));
  }
  if (path == "/admin/drain")
    return only("POST") ? admin_drain(req, std::move(reply)) : void();
  if (path == "/admin/cache/flush")
    return only("POST") ? admin_flush(req, std::move(reply)) : void();
  if (path == "/admin/check")
    return only("GET") ? admin_check(std::move(reply)) : void();
  client_error(404, "no such admin endpoint: " + req.method + " " + path);
}

void gateway::serve_metrics(http::reply_fn reply) {
  auto local = std::make_shared<metrics::families>(metrics::collect_local(node_));
  if (api_keys_)
    metrics::add_api_keys(*local, api_keys_->counts());
  auto send = [reply](const metrics::families& all) {
    reply(http::response{200, metrics::render(all), metrics::content_type});
  };
  if (!admin_)
    return send(*local);
  // The coordinator's figures: its stats (database counts, last runs; they
  // fail while PostgreSQL is down, which recd_db_up shows), its map, and the
  // run counts per kind and status.
  auto db = db_;
  auto& sys = sys_;
  sys_.spawn([=, &sys, coordinator = admin_, timeout = timeout_](caf::event_based_actor* self) {
    census_enter(self->id(), "gateway_request");
    self->attach_functor([id = self->id()] { census_leave(id); });
    auto finish = [=, &sys](json stats, json map) {
      run_blocking(sys, [=] {
        json runs = json::object();
        bool db_up = !stats.is_null();
        if (db)
          if (db->with([&](pqxx::connection& c) { runs = run_counts(store::job_run_counts(c)); }))
            db_up = false;
        auto all = *local;
        metrics::add_cluster(all, stats.is_null() ? json::object() : stats, map, runs);
        all.push_back({"recd_db_up", "1 when the coordinator's last database reads succeeded",
                       prometheus::MetricType::Gauge, {}});
        all.back().metric.emplace_back();
        all.back().metric.back().gauge.value = db_up ? 1 : 0;
        send(all);
      });
    };
    self->request(coordinator, timeout, stats_atom_v)
      .then(
        [=](const std::string& body) {
          auto stats = json::parse(body, nullptr, false);
          self->request(coordinator, timeout, cluster_atom_v)
            .then([=](const std::string& map) { finish(stats, json::parse(map, nullptr, false)); },
                  [=](caf::error&) { finish(stats, json::object()); });
        },
        [=](caf::error& err) {
          spdlog::warn("metrics: the coordinator's stats failed: {}", describe(err));
          self->request(coordinator, timeout, cluster_atom_v)
            .then([=](const std::string& map) { finish(nullptr, json::parse(map, nullptr, false)); },
                  [=](caf::error&) { finish(nullptr, json::object()); });
        });
  });
}

void gateway::admin_jobs(const http::request& req, http::reply_fn reply) {
  if (req.method == "GET") {
    if (!db_)
      return reply(json_error_response(503, "database unavailable"));
    return run_blocking(sys_, [db = db_, reply] {
      std::vector<store::job_run_row> rows;
      std::vector<store::job_run_count> counts;
      if (auto err = db->with([&](pqxx::connection& c) {
            rows = store::recent_job_runs(c, 20);
            counts = store::job_run_counts(c);
          }))
        return reply(error_response(err));
      json runs = json::array();
      for (const auto& r : rows)
        runs.push_back({{"run_id", r.run_id},
                        {"kind", r.kind},
                        {"status", r.status},
                        {"started_at", r.started_at},
                        {"finished_at", r.finished_at},
                        {"rows", r.rows},
                        {"seconds", r.seconds},
                        {"error", r.error}});
      reply(json_response(200, json{{"running", running_jobs()},
                                    {"counts", run_counts(counts)},
                                    {"runs", runs}}
                                 .dump()));
    });
  }
  // POST ?kind=K: start a run. The coordinator refuses at once (409 while a
  // job runs, 503 while the shards are not ready); otherwise the run goes on
  // after the reply, and its outcome is logged and shown by GET.
  auto kind_text = req.param("kind");
  std::optional<job_kind> kind = kind_text ? parse_job_kind(*kind_text) : std::nullopt;
  if (!kind) {
    std::string names;
    for (std::uint8_t k = 0; k < job_kind_count; ++k)
      names += (k == 0 ? "" : ", ") + std::string{to_string(static_cast<job_kind>(k))};
    return reply(json_error_response(400, "kind must be one of " + names));
  }
  sys_.spawn([=, coordinator = admin_, kind = *kind](caf::event_based_actor* self) {
    // enroll: its 24 h request timeout is cancelled when it ends (see census.hpp).
    enroll(self);
    self->monitor(coordinator);
    self->set_down_handler([self](caf::down_msg&) { self->quit(); });
    // No answer within a second: accepted (refusals come at once).
    self->delayed_send(self, std::chrono::seconds{1}, caf::tick_atom_v);
    self->become(caf::keep_behavior, [=](caf::tick_atom) {
      reply(json_response(202, json{{"kind", to_string(kind)}, {"started", true}}.dump()));
    });
    self->request(coordinator, std::chrono::seconds{86400}, compute_atom_v, std::vector<job_kind>{kind},
                  run_progress_sink{})
      .then(
        [=](const std::vector<job_summary>& done) {
          for (const auto& s : done)
            spdlog::info("admin run of {} finished: run {}, {} rows in {:.1f} s", to_string(s.kind),
                         s.run_id, s.rows, s.seconds);
          reply(json_response(200, json{{"kind", to_string(kind)}, {"finished", true}}.dump()));
          self->quit();
        },
        [=](caf::error& err) {
          spdlog::warn("admin run of {}: {}", to_string(kind), describe(err));
          reply(error_response(err)); // ignored if the 202 went out already
          self->quit();
        });
  });
}

void gateway::admin_drain(const http::request& req, http::reply_fn reply) {
  auto name = req.param("shard");
  if (!name || name->empty())
    return reply(json_error_response(400, "name the shard node: ?shard=NAME"));
  sys_.spawn([=, coordinator = admin_, timeout = timeout_,
              shard = std::string{*name}](caf::event_based_actor* self) {
    census_enter(self->id(), "gateway_request");
    self->attach_functor([id = self->id()] { census_leave(id); });
    self->request(coordinator, timeout, cluster_atom_v)
      .then(
        [=](const std::string& body) {
          auto map = json::parse(body, nullptr, false);
          std::size_t others = 0, partitions = 0;
          bool found = false;
          for (const auto& s : map.value("shards", json::array())) {
            const bool alive = s.value("alive", false);
            if (s.value("name", "") == shard && alive) {
              found = true;
              partitions = s.value("partitions", json::array()).size();
            } else if (alive && !s.value("leaving", false)) {
              ++others;
            }
          }
          if (!found)
            return reply(json_error_response(404, "no live shard node named " + shard));
          if (others == 0)
            return reply(json_error_response(409, "no other shard node can take its partitions"));
          // Sent as this actor (the coordinator takes a leave from its own
          // node); it answers once the shard owns nothing, which the client
          // does not wait for: /admin/cluster shows the partitions leave.
          self->send(coordinator, leave_atom_v, shard);
          spdlog::info("admin: draining shard {} ({} partitions)", shard, partitions);
          reply(json_response(
            202, json{{"shard", shard}, {"draining", true}, {"partitions", partitions}}.dump()));
        },
        [=](caf::error& err) { reply(error_response(err)); });
  });
}

void gateway::admin_flush(const http::request& req, http::reply_fn reply) {
  std::int32_t user = -1;
  if (auto text = req.param("user")) {
    auto parsed = parse_user(*text);
    if (!parsed)
      return reply(json_error_response(400, "user must be a non-negative 32-bit integer"));
    user = *parsed;
  }
  ask(
    sys_, admin_, std::chrono::milliseconds{std::max<long>(timeout_.count(), 1000)}, reply,
    [reply](std::string& body) { reply(json_response(200, std::move(body))); }, cache_flush_atom_v, user);
}

void gateway::admin_check(http::reply_fn reply) {
  if (!db_)
    return reply(json_error_response(503, "database unavailable"));
  ask(
    sys_, admin_, timeout_, reply,
    [=, &sys = sys_, db = db_](std::string& body) {
      auto held = json::parse(body, nullptr, false);
      run_blocking(sys, [=]() mutable {
        const auto partitions = held.value("partitions", 0u);
        store::partition_counts counts;
        if (auto err = db->with([&](pqxx::connection& c) {
              counts = store::count_by_partition(c, partitions);
            }))
          return reply(error_response(err));
        bool ok = true;
        json shards = json::array();
        for (auto s : held.value("shards", json::array())) {
          if (s.contains("error")) {
            ok = false;
            shards.push_back(s);
            continue;
          }
          std::uint64_t users = 0, items = 0;
          for (auto p : s.value("partitions", std::vector<std::uint32_t>{}))
            if (p < partitions) {
              users += counts.users[p];
              items += counts.items[p];
            }
          s["database"] = {{"users", users}, {"items", items}};
          json differences = json::array();
          if (s.value("users", std::uint64_t{0}) != users)
            differences.push_back("users: " + std::to_string(s.value("users", 0ull)) +
                                  " in memory, " + std::to_string(users) + " in PostgreSQL");
          if (s.value("items", std::uint64_t{0}) != items)
            differences.push_back("items: " + std::to_string(s.value("items", 0ull)) +
                                  " in memory, " + std::to_string(items) + " in PostgreSQL");
          ok = ok && differences.empty();
          s["differences"] = differences;
          shards.push_back(s);
        }
        reply(json_response(200, json{{"ok", ok},
                                      {"epoch", held.value("epoch", 0)},
                                      {"moving", held.value("moving", false)},
                                      {"shards", shards}}
                                   .dump()));
      });
    },
    check_atom_v);
}

} // namespace recd
