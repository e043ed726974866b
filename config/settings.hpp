#pragma once
// Every setting of recd, with its default. One table (settings.cpp) maps
// "section.key" names to these fields; it drives the config file parser, the
// RECD_<SECTION>_<KEY> environment overrides, the --section.key=value flags
// and the documentation in config/README.md (`recd config --list`).
// Precedence: flags > environment > config file > defaults.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace recd {

// Applied to every connection string by store::conninfo (store/database.hpp),
// the one place recd builds them.
struct postgres_settings {
  std::string url = "postgresql://postgres@127.0.0.1:5432/recd";
  std::int32_t connect_timeout_s = 5;      // libpq connect_timeout
  std::int32_t keepalives_idle_s = 30;     // TCP keepalives: a dead server is noticed
  std::int32_t keepalives_interval_s = 10; //   after idle + interval * count seconds
  std::int32_t keepalives_count = 3;
  std::int32_t statement_timeout_ms = 30000;   // serving connections (0 = none)
  std::int32_t job_statement_timeout_ms = 0;   // migrate, import, compute jobs (0 = none)
  std::int32_t writer_queue_max = 10000;   // behaviors queued, uncommitted; beyond: 503
  std::int32_t behavior_writers = 2;       // writer connections per API node (parallel commits)
  std::int32_t history_timeout_ms = 1000;  // a user's bought items read when their shard failed
};

struct redis_settings {
  std::string url = "redis://127.0.0.1:6379/0"; // redis://[[user]:password@]host:port[/db]
  std::string password;                // AUTH password when the URL has none (the URL's wins)
  std::int32_t ttl_seconds = 300;      // recommendation cache lifetime
  std::int32_t timeout_ms = 50;        // per command; slower counts as down
  std::int32_t retry_ms = 1000;        // after a failure, Redis is skipped this long
  std::int32_t near_cache_mb = 64;     // per API actor, in front of Redis; 0 = off
};

struct http_settings {
  std::string addr = "127.0.0.1:8080";
  std::int32_t threads = 2;
  std::int32_t max_body_bytes = 65536;      // 413 above
  std::int32_t request_timeout_ms = 5000;
  // On SIGTERM an API node (or --role all) first answers /readyz 503 and
  // keeps serving this long, so that a load balancer stops sending to it
  // before its port closes (a rolling update loses no request).
  std::int32_t drain_ms = 0;
  // Bounds that keep one client from exhausting the server (nodes/http_server.hpp):
  std::int32_t max_connections = 4096;      // then the oldest idle one is closed, else 503
  std::int32_t max_header_bytes = 8192;     // request line + headers; 431 above
  std::int32_t header_timeout_ms = 10000;   // from a request's first byte to its last header byte
  std::int32_t body_timeout_ms = 30000;     // a request's whole body (and writing a reply)
  std::int32_t idle_timeout_ms = 30000;     // a connection waiting for its next request
  // "" = the public API is open. Else a file of `name:key` lines (# comments):
  // every /api/* request must present one key (nodes/api_keys.hpp).
  std::string api_keys_file;
  // Batch routes (POST /api/behaviors): their own body bound, and events per request.
  std::int32_t max_batch_bytes = 8 << 20;   // 413 above
  std::int32_t max_batch_events = 10000;    // 413 above (and at most postgres.writer_queue_max)
};

// The admin HTTP port: /admin/*, never served on http.addr. Each request
// needs `Authorization: Bearer <token>`; with no token every admin endpoint
// answers 403. The token is a secret: pass it by RECD_ADMIN_TOKEN or a file,
// never on a command line; `recd config` does not print it.
struct admin_settings {
  std::string addr = "127.0.0.1:9090";      // host:port; port 0 = any free port (logged)
  std::string token;                        // after load_settings: also what token_file held
  std::string token_file;                   // a file holding the token (trailing newline dropped)
  std::string eval_report;                  // `recd eval --json` output shown by /ui ("" = none)
};

// The log: one line per event on stdout. `text`: "<UTC time> <level> <message>";
// `json`: {"ts":..,"level":..,"msg":..} for log shippers (nodes/logging.hpp).
struct log_settings {
  std::string format = "text"; // text | json
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
};

struct cluster_settings {
  std::int32_t shards = 2;             // shard actors in `serve --role all`
  std::int32_t partitions = 64;        // fixed at `recd migrate`
  std::int32_t api_actors = 2;
  std::int32_t scheduler_threads = 0;  // 0 = number of cores
  std::int32_t shard_timeout_ms = 250; // per recall step; a late shard is skipped
  // Shards holding each partition (1 or 2): with 2, a replica applies every
  // event and answers while the owner is lost (docs/cluster.md, "Replicas").
  std::int32_t replicas = 1;
  // Separate nodes (`serve --role coordinator|shard|api`):
  std::string coordinator = "127.0.0.1:4242"; // the coordinator replicas, host:port[,host:port...]
  std::string bind = "127.0.0.1";      // address this node's actor port listens on
  std::int32_t port = 4242;            // actor port (coordinator, shard); 0 = any free port
  std::string advertise;               // host:port others use to reach this node ("" = bind:port)
  std::string node_name;               // a shard's stable name ("" = host-pid)
  std::string app_id = "recd";         // nodes of other deployments are refused
  std::int32_t heartbeat_ms = 1000;    // a silent peer is dropped after connection_timeout_ms
  std::int32_t connection_timeout_ms = 5000;
  std::int32_t rejoin_grace_ms = 10000; // a restarted coordinator waits this long for its shards
  // Coordinator replicas: the leader's lease in PostgreSQL lasts this long
  // and is renewed every third of it; a standby takes over once it expired.
  std::int32_t lease_ms = 3000;
  // TLS between nodes (caf-openssl): on when a certificate is set. Every node
  // of a deployment then needs its certificate, key and the CA that signed them.
  std::string tls_certificate;          // PEM file
  std::string tls_key;                  // PEM file
  std::string tls_passphrase;           // for an encrypted key
  std::string tls_cafile;               // peers must present a certificate signed by this CA
  // 1: allow an actor port bound beyond loopback without TLS (logged as a
  // warning). Without TLS anyone who reaches the port can command the node.
  std::int32_t insecure = 0;
};

// The seed's tables: item_similarity and user_similarity hold what the seed
// defined (exact Jaccard / cosine over buys and carts, hard windows); the
// defaults below are its definitions, and tests/jobs_test.cpp pins them.
struct item_similarity_settings {
  std::string behavior_types = "buy,cart";
  std::int32_t window_days = 90;       // 0 = the whole history
  std::int32_t min_sales = 10;         // candidates need sales_count > min_sales
  std::int32_t max_items = 10000;      // top items by sales_count
  std::int32_t min_common = 5;
  std::int32_t top_k = 0;              // 0 = keep every pair
};

struct user_similarity_settings {
  std::string behavior_types = "buy,cart";
  std::int32_t window_days = 90;       // 0 = the whole history
  std::int32_t active_days = 30;       // 0 = every user
  std::int32_t min_common = 3;
  double min_score = 0.1;
  std::int32_t top_k = 0;              // 0 = keep every pair
};

// What recall reads by default (recommend.item_neighbours / user_neighbours):
// learned from the whole history, no hard window. Defaults chosen with
// `recd eval` (docs/quality.md says from which runs).
struct item_weights_settings {
  std::string behavior_types = "view,click,cart,buy";
  std::int32_t window_days = 0;        // 0 = the whole history
  std::int32_t min_sales = 0;          // candidates need sales_count > min_sales
  std::int32_t max_items = 3000;       // EASE inverts an n x n matrix per shard: bound n
  double lambda = 500;                 // EASE L2 penalty
  std::int32_t top_k = 0;              // 0 = recommend.neighbours
};

struct user_neighbours_settings {
  std::string behavior_types = "view,click,cart,buy";
  std::int32_t window_days = 0;        // 0 = the whole history
  std::int32_t active_days = 0;        // 0 = every user
  std::int32_t min_common = 3;
  double min_score = 0.1;
  // 50 = recommend.similar_users: shards keep no more per user (shard_loader),
  // so rows past it were written and indexed for nothing (half the job's
  // PostgreSQL time at 30M events).
  std::int32_t top_k = 50;             // 0 = keep every pair
  // > 0: an item with more users counts through a deterministic sample of
  // this many of them (engine::similarity_options::max_column_rows), so the
  // most popular items stop dominating the job's CPU; 0 = exact cosine. The
  // job's cost is the sum over items of their users squared: 10,000 bounds an
  // item's share at 10^8 pairs, halves the job at 1M users / 30M events, and
  // never bites below 10,000 users (docs/benchmarks.md: the quality it costs
  // where it bites, measured at the same share of users on a 50k-user shop).
  std::int32_t max_item_users = 10000;
};

struct embedding_settings {
  std::int32_t dim = 32;
  std::int32_t iterations = 10;
  double regularization = 20;          // plain lambda; 20 chosen on validation (docs/quality.md)
  double alpha = 3;                    // confidence = 1 + alpha * weight
  std::int32_t window_days = 0;        // 0 = the whole history
  double half_life_days = 0;           // > 0: a behavior's weight halves this often (0 = none)
  // Conjugate-gradient steps per row and half-step, warm-started from the
  // row's current factors (0 = an exact Cholesky solve per row). 3: the same
  // ml-100k quality at about half the job's CPU (docs/benchmarks.md).
  std::int32_t cg_steps = 3;
};

struct recommend_settings {
  double weight_user_cf = 0.1;
  double weight_item_cf = 0.6;
  double weight_vector = 0.25;
  double weight_popular = 0.01;        // > 0: cold users get popular items, others a tie-break
  double weight_category = 0.05;       // the category route: new and popular items of the user's categories
  double new_arrival_days = 7;         // an item created through the API is a new arrival this long
  double view_weight = 1, click_weight = 1, cart_weight = 1, buy_weight = 1;
  std::int32_t recent_items = 1000;    // item-CF seeds: the user's newest distinct items
  std::int32_t similar_users = 50;     // user-CF seeds, and similar users kept per user
  std::int32_t neighbours = 500;       // item and user neighbours kept in memory
  std::int32_t per_route = 200;        // candidates per route per shard
  double recency_half_life_days = 365; // item-CF seed weight halves this often
  double popularity_half_life_days = 7;
  std::int32_t history_items = 1000;   // recent distinct items kept per user
  double user_cf_click_weight = 0.25;  // a similar user's click as user-CF evidence (buy = 1)
  double user_cf_view_weight = 0.1;    // a similar user's view as user-CF evidence
  std::int32_t exclude_seen = 1;       // 1: never recommend an item in the user's history (0: bought only)
  std::string item_neighbours = "item_weights";      // item-CF table: item_weights | item_similarity
  std::string user_neighbours = "user_neighbours";   // user-CF table: user_neighbours | user_similarity
  // Also-bought (live buy co-occurrence): a first buy of an item pairs it with
  // the buyer's previous co_bought_recent first-bought items; each item keeps
  // its co_bought_partners most co-bought partners.
  std::int32_t co_bought_recent = 16;
  std::int32_t co_bought_partners = 100;
};

struct jobs_settings {
  std::int32_t poll_seconds = 3;       // how often a server looks for newly published runs
  std::int32_t interval_seconds = 0;   // 0 = the server never starts jobs by itself
};

// Business rules (docs/rules.md): hide, boost and diversity rules applied to
// every answer of this node's API actors.
struct rules_settings {
  std::string file;                    // the rules file; "" = no rules
  // How often the node looks at the file and reloads it when its contents
  // changed (a ConfigMap update reaching every API pod); 0 = only on SIGHUP
  // or POST /admin/rules/reload.
  std::int32_t watch_ms = 2000;
};

struct settings {
  postgres_settings postgres;
  redis_settings redis;
  http_settings http;
  admin_settings admin;
  log_settings log;
  cluster_settings cluster;
  item_similarity_settings item_similarity;
  user_similarity_settings user_similarity;
  item_weights_settings item_weights;
  user_neighbours_settings user_neighbours;
  embedding_settings embedding;
  recommend_settings recommend;
  jobs_settings jobs;
  rules_settings rules;
};

// One documented setting.
struct setting_info {
  std::string name;                    // "section.key"
  std::string doc;
  std::function<std::string(const settings&)> get;
  // Parses and assigns; returns an error text for a bad value.
  std::function<std::optional<std::string>(settings&, const std::string&)> set;
  bool secret = false;                 // rendered masked ("****"), never its value
};
const std::vector<setting_info>& setting_table();

// RECD_<SECTION>_<KEY> for "section.key".
std::string env_name(const std::string& name);

// Applies the file (INI: [section] then key = value, # comments), then the
// environment, then `overrides` ("section.key=value"), then reads
// admin.token_file into admin.token, then validate(). Returns an error text
// naming the file line or variable on the first bad entry.
std::optional<std::string> load_settings(settings& s, const std::string& file,
                                         const std::vector<std::string>& overrides);

// Checks ranges (ports, positive sizes, weights); returns the first problem.
std::optional<std::string> validate(const settings& s);

// The whole table rendered as an INI file with docs (config/recd.conf.example);
// secrets are shown as **** (config/secrets.hpp).
std::string render_settings(const settings& s);

} // namespace recd
