#include "config/settings.hpp"

#include "config/secrets.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

namespace recd {

namespace {

std::optional<std::string> parse_value(const std::string& text, std::string& out) {
  out = text;
  return std::nullopt;
}

std::optional<std::string> parse_value(const std::string& text, std::int32_t& out) {
  std::int32_t v = 0;
  auto [ptr, err] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (err != std::errc{} || ptr != text.data() + text.size())
    return "'" + text + "' is not an integer";
  out = v;
  return std::nullopt;
}

std::optional<std::string> parse_value(const std::string& text, double& out) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size())
    return "'" + text + "' is not a number";
  out = v;
  return std::nullopt;
}

std::string show(const std::string& x) { return x; }
std::string show(std::int32_t x) { return std::to_string(x); }
std::string show(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

#define RECD_SETTING(section, key, doc)                                                       \
  setting_info {                                                                              \
    #section "." #key, doc, [](const settings& s) { return show(s.section.key); },            \
      [](settings& s, const std::string& v) { return parse_value(v, s.section.key); }       \
  }

// A setting whose value must never be printed (tokens, passphrases): `get`
// gives the value (config/secrets.cpp needs it to redact error texts);
// render_settings and `recd config` show it masked (shown_value).
#define RECD_SECRET(section, key, doc)                                                        \
  setting_info {                                                                              \
    #section "." #key, doc, [](const settings& s) { return show(s.section.key); },            \
      [](settings& s, const std::string& v) { return parse_value(v, s.section.key); }, true   \
  }

} // namespace

const std::vector<setting_info>& setting_table() {
  static const std::vector<setting_info> table = {
    RECD_SETTING(postgres, url, "PostgreSQL connection (libpq URI or key=value string); a password in it is a secret"),
    RECD_SETTING(postgres, connect_timeout_s, "give up connecting to PostgreSQL after this many seconds"),
    RECD_SETTING(postgres, keepalives_idle_s, "TCP keepalive probes start after this many idle seconds"),
    RECD_SETTING(postgres, keepalives_interval_s, "seconds between TCP keepalive probes"),
    RECD_SETTING(postgres, keepalives_count, "unanswered keepalive probes before the connection counts as broken"),
    RECD_SETTING(postgres, statement_timeout_ms,
                 "statement_timeout of serving connections (behavior writer, shard loads, run watcher; 0 = none)"),
    RECD_SETTING(postgres, job_statement_timeout_ms,
                 "statement_timeout of migrate, import and the compute jobs, which legitimately run long (0 = none)"),
    RECD_SETTING(postgres, writer_queue_max,
                 "behaviors queued and not yet committed per node; beyond it POST /api/behavior answers 503 at once"),
    RECD_SETTING(postgres, behavior_writers,
                 "behavior writer connections per API node; API actor i commits through writer i mod this, so batches of different requests commit in parallel"),
    RECD_SETTING(postgres, history_timeout_ms,
                 "deadline of reading a user's bought (and seen) items from PostgreSQL when their shard does not answer a recommendation; missed: 503"),
    RECD_SETTING(redis, url, "Redis for the recommendation cache: redis://[[user]:password@]host:port[/db]"),
    RECD_SETTING(redis, password, "Redis AUTH password if redis.url has none (the URL's wins); a secret"),
    RECD_SETTING(redis, ttl_seconds, "lifetime of a cached recommendation"),
    RECD_SETTING(redis, timeout_ms, "per-command Redis timeout; a slower Redis counts as down"),
    RECD_SETTING(redis, retry_ms, "after a Redis failure, the cache is bypassed this long"),
    RECD_SETTING(redis, near_cache_mb,
                 "per API actor: MiB of recent cache entries kept in process in front of Redis (0 = off)"),
    RECD_SETTING(http, addr, "HTTP listen address host:port"),
    RECD_SETTING(http, threads, "HTTP I/O threads"),
    RECD_SETTING(http, max_body_bytes, "largest accepted request body (413 above)"),
    RECD_SETTING(http, request_timeout_ms, "a request not answered in time gets 503"),
    RECD_SETTING(http, drain_ms,
                 "on SIGTERM an API node answers /readyz 503 and keeps serving this long before it stops"),
    RECD_SETTING(http, max_batch_bytes,
                 "largest accepted body of a batch route, POST /api/behaviors (413 above)"),
    RECD_SETTING(http, max_batch_events,
                 "events per POST /api/behaviors request at most (413 above; also capped by postgres.writer_queue_max)"),
    RECD_SETTING(http, max_connections,
                 "open connections at most; at the cap the oldest idle one is closed, else a new one gets 503"),
    RECD_SETTING(http, max_header_bytes, "largest accepted request line + headers (431 above)"),
    RECD_SETTING(http, header_timeout_ms,
                 "a request's header must be complete this long after its first byte (else the connection is dropped)"),
    RECD_SETTING(http, body_timeout_ms,
                 "a request's body must arrive, and a reply be taken by the client, within this (else dropped)"),
    RECD_SETTING(http, idle_timeout_ms, "a connection waiting for its next request is closed after this"),
    RECD_SETTING(http, api_keys_file,
                 "file of name:key lines (# comments); when set, /api/* needs Authorization: Bearer KEY or X-Api-Key: KEY"),
    RECD_SETTING(admin, addr,
                 "admin HTTP listen address host:port (/admin/*, with /healthz and /readyz); port 0 = any free port"),
    RECD_SECRET(admin, token,
                "bearer token every admin request needs (unset: admin endpoints answer 403); prefer the env variable"),
    RECD_SETTING(admin, token_file, "file holding admin.token (a trailing newline is dropped)"),
    RECD_SETTING(admin, eval_report,
                 "JSON file written by `recd eval --json FILE`; the dashboard (/ui) shows it as its quality panel"),
    RECD_SETTING(log, format, "log lines: text (\"<UTC time> <level> <message>\") or json (one object per line, for log shippers)"),
    RECD_SETTING(log, level, "least severe level logged: trace, debug, info, warn, error, critical or off"),
    RECD_SETTING(cluster, shards, "shard actors started by `serve --role all` and `compute`"),
    RECD_SETTING(cluster, partitions, "virtual partitions; fixed by the first `recd migrate`"),
    RECD_SETTING(cluster, api_actors, "API actors serving HTTP requests"),
    RECD_SETTING(cluster, scheduler_threads, "CAF scheduler threads (0 = cores)"),
    RECD_SETTING(cluster, shard_timeout_ms, "deadline of one shard step of a recommendation"),
    RECD_SETTING(cluster, replicas, "shard nodes holding each partition: 1, or 2 so that a lost shard's partitions are served by their replica at once"),
    RECD_SETTING(cluster, coordinator, "host:port of each coordinator replica, comma-separated (shard and API nodes; the leader is found in PostgreSQL)"),
    RECD_SETTING(cluster, bind, "address this node's actor port listens on"),
    RECD_SETTING(cluster, port, "actor port of a coordinator or shard node (0 = any free port)"),
    RECD_SETTING(cluster, advertise, "host:port other nodes use to reach this node (\"\" = bind:port)"),
    RECD_SETTING(cluster, node_name, "a shard node's stable name (\"\" = hostname-pid)"),
    RECD_SETTING(cluster, app_id, "deployment id: nodes with another id are refused"),
    RECD_SETTING(cluster, heartbeat_ms, "heartbeat interval between nodes"),
    RECD_SETTING(cluster, connection_timeout_ms, "a peer silent this long is considered dead"),
    RECD_SETTING(cluster, tls_certificate, "this node's PEM certificate: TLS between nodes is on when set"),
    RECD_SETTING(cluster, tls_key, "the PEM private key of tls_certificate"),
    RECD_SECRET(cluster, tls_passphrase, "passphrase of an encrypted tls_key"),
    RECD_SETTING(cluster, tls_cafile, "PEM CA file: peers must present a certificate it signed"),
    RECD_SETTING(cluster, insecure, "1 = allow an actor port bound beyond loopback without TLS (unsafe: anyone reaching it commands the node)"),
    RECD_SETTING(cluster, rejoin_grace_ms, "a restarted coordinator waits this long for the shards of its last map"),
    RECD_SETTING(cluster, lease_ms, "coordinator replicas: the leader's lease (renewed every third of it; a standby leads once it expired)"),
    RECD_SETTING(item_similarity, behavior_types, "the seed's item Jaccard: behaviors that count (comma-separated)"),
    RECD_SETTING(item_similarity, window_days, "only behaviors this recent count (0 = all)"),
    RECD_SETTING(item_similarity, min_sales, "candidate items need sales_count above this"),
    RECD_SETTING(item_similarity, max_items, "at most this many candidates, by sales_count"),
    RECD_SETTING(item_similarity, min_common, "pairs need this many common users"),
    RECD_SETTING(item_similarity, top_k, "neighbours kept per item (0 = all)"),
    RECD_SETTING(user_similarity, behavior_types, "the seed's user cosine: behaviors that count (comma-separated)"),
    RECD_SETTING(user_similarity, window_days, "only behaviors this recent count (0 = all)"),
    RECD_SETTING(user_similarity, active_days, "users need a behavior this recent (0 = every user)"),
    RECD_SETTING(user_similarity, min_common, "pairs need this many common items"),
    RECD_SETTING(user_similarity, min_score, "pairs need a cosine above this"),
    RECD_SETTING(user_similarity, top_k, "neighbours kept per user (0 = all)"),
    RECD_SETTING(item_weights, behavior_types, "EASE item-item weights: behaviors that count"),
    RECD_SETTING(item_weights, window_days, "only behaviors this recent count (0 = the whole history)"),
    RECD_SETTING(item_weights, min_sales, "candidate items need sales_count above this"),
    RECD_SETTING(item_weights, max_items, "weights for at most this many best sellers (an n x n inverse per shard)"),
    RECD_SETTING(item_weights, lambda, "EASE L2 penalty (larger = smoother weights)"),
    RECD_SETTING(item_weights, top_k, "weights kept per item (0 = recommend.neighbours)"),
    RECD_SETTING(user_neighbours, behavior_types, "user cosine for user CF: behaviors that count"),
    RECD_SETTING(user_neighbours, window_days, "only behaviors this recent count (0 = the whole history)"),
    RECD_SETTING(user_neighbours, active_days, "users need a behavior this recent (0 = every user)"),
    RECD_SETTING(user_neighbours, min_common, "pairs need this many common items"),
    RECD_SETTING(user_neighbours, min_score, "pairs need a cosine above this"),
    RECD_SETTING(user_neighbours, top_k, "neighbours kept per user (0 = all)"),
    RECD_SETTING(user_neighbours, max_item_users, "an item with more users counts through a fixed sample of this many (0 = all users, exact)"),
    RECD_SETTING(embedding, dim, "embedding dimension"),
    RECD_SETTING(embedding, iterations, "ALS sweeps"),
    RECD_SETTING(embedding, regularization, "ALS L2 regularization"),
    RECD_SETTING(embedding, alpha, "implicit-feedback confidence slope"),
    RECD_SETTING(embedding, window_days, "only behaviors this recent are learned from (0 = the whole history)"),
    RECD_SETTING(embedding, half_life_days, "a behavior's ALS weight halves with this age (0 = no decay)"),
    RECD_SETTING(embedding, cg_steps, "ALS conjugate-gradient steps per row and half-step (0 = exact solves)"),
    RECD_SETTING(recommend, weight_user_cf, "weight of the user-CF route"),
    RECD_SETTING(recommend, weight_item_cf, "weight of the item-CF route"),
    RECD_SETTING(recommend, weight_vector, "weight of the vector route"),
    RECD_SETTING(recommend, weight_popular, "weight of the popular route"),
    RECD_SETTING(recommend, weight_category, "weight of the category route (new arrivals and popular items of the user's top categories)"),
    RECD_SETTING(recommend, new_arrival_days, "an item created through the API counts as a new arrival for this many days"),
    RECD_SETTING(recommend, view_weight, "behavior weight of a view"),
    RECD_SETTING(recommend, click_weight, "behavior weight of a click"),
    RECD_SETTING(recommend, cart_weight, "behavior weight of a cart"),
    RECD_SETTING(recommend, buy_weight, "behavior weight of a buy"),
    RECD_SETTING(recommend, recent_items, "newest distinct items used as item-CF seeds"),
    RECD_SETTING(recommend, similar_users, "most similar users used as user-CF seeds (and kept per user on its shard)"),
    RECD_SETTING(recommend, neighbours, "item and user neighbours held in memory"),
    RECD_SETTING(recommend, per_route, "candidates per route per shard"),
    RECD_SETTING(recommend, recency_half_life_days, "item-CF seed weight halves this often"),
    RECD_SETTING(recommend, popularity_half_life_days, "popularity decays by half this often"),
    RECD_SETTING(recommend, history_items, "recent distinct items remembered per user"),
    RECD_SETTING(recommend, user_cf_click_weight, "a similar user's click as user-CF evidence (buy 1, cart 0.5)"),
    RECD_SETTING(recommend, user_cf_view_weight, "a similar user's view as user-CF evidence (buy 1, cart 0.5)"),
    RECD_SETTING(recommend, exclude_seen, "1: never recommend an item the user already touched (0: bought only)"),
    RECD_SETTING(recommend, item_neighbours, "item-CF reads this table: item_weights (EASE) or item_similarity (the seed's Jaccard)"),
    RECD_SETTING(recommend, user_neighbours, "user-CF reads this table: user_neighbours or user_similarity (the seed's cosine)"),
    RECD_SETTING(recommend, co_bought_recent, "also-bought: a first buy pairs with the buyer's previous N first-bought items (1..1000)"),
    RECD_SETTING(recommend, co_bought_partners, "also-bought: most co-bought partners kept per item (1..10000)"),
    RECD_SETTING(jobs, poll_seconds, "how often a server looks for newly published runs"),
    RECD_SETTING(jobs, interval_seconds, "the server runs all jobs this often (0 = never)"),
    RECD_SETTING(rules, file,
                 "business rules file (docs/rules.md), read at start and on SIGHUP or POST /admin/rules/reload; empty = no rules"),
    RECD_SETTING(rules, watch_ms,
                 "reload the rules file this often when its contents changed (0 = only on SIGHUP or reload; else 100..3600000)"),
  };
  return table;
}

std::string env_name(const std::string& name) {
  std::string out = "RECD_";
  for (char c : name)
    out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

namespace {
std::optional<std::string> assign(settings& s, const std::string& name, const std::string& value,
                                  const std::string& where) {
  for (const auto& info : setting_table())
    if (info.name == name) {
      if (auto err = info.set(s, value))
        return where + ": " + name + ": " + *err;
      return std::nullopt;
    }
  return where + ": unknown setting '" + name + "'";
}
} // namespace

std::optional<std::string> load_settings(settings& s, const std::string& file,
                                         const std::vector<std::string>& overrides) {
  if (!file.empty()) {
    std::ifstream in{file};
    if (!in)
      return "cannot read config file " + file;
    std::string line, section;
    for (int number = 1; std::getline(in, line); ++number) {
      auto hash = line.find('#');
      line = trim(hash == std::string::npos ? line : line.substr(0, hash));
      if (line.empty())
        continue;
      auto where = file + " line " + std::to_string(number);
      if (line.front() == '[') {
        if (line.back() != ']')
          return where + ": malformed section header";
        section = trim(line.substr(1, line.size() - 2));
        continue;
      }
      auto eq = line.find('=');
      if (eq == std::string::npos)
        return where + ": expected key = value";
      auto key = trim(line.substr(0, eq));
      auto value = trim(line.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      if (auto err = assign(s, section.empty() ? key : section + "." + key, value, where))
        return err;
    }
  }
  for (const auto& info : setting_table())
    if (const char* v = std::getenv(env_name(info.name).c_str()); v != nullptr && *v != '\0')
      if (auto err = info.set(s, v))
        return env_name(info.name) + ": " + *err;
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos)
      return "--set " + o + ": expected section.key=value";
    if (auto err = assign(s, trim(o.substr(0, eq)), trim(o.substr(eq + 1)), "--set"))
      return err;
  }
  if (!s.admin.token_file.empty()) {
    if (!s.admin.token.empty())
      return std::string{"set admin.token or admin.token_file, not both"};
    std::ifstream in{s.admin.token_file, std::ios::binary};
    if (!in)
      return "admin.token_file: cannot read " + s.admin.token_file;
    std::string token{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r'))
      token.pop_back();
    if (token.empty())
      return "admin.token_file: " + s.admin.token_file + " is empty";
    s.admin.token = std::move(token);
  }
  return validate(s);
}

std::optional<std::string> validate(const settings& s) {
  auto positive = [](std::int32_t v, const char* name) -> std::optional<std::string> {
    if (v <= 0)
      return std::string{name} + " must be positive";
    return std::nullopt;
  };
  if (s.log.format != "text" && s.log.format != "json")
    return "log.format must be text or json, not '" + s.log.format + "'";
  {
    static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (std::none_of(std::begin(levels), std::end(levels),
                     [&](const char* l) { return s.log.level == l; }))
      return "log.level must be trace, debug, info, warn, error, critical or off, not '" +
             s.log.level + "'";
  }
  if (auto e = positive(s.http.threads, "http.threads")) return e;
  if (auto e = positive(s.http.max_body_bytes, "http.max_body_bytes")) return e;
  if (auto e = positive(s.http.max_connections, "http.max_connections")) return e;
  if (auto e = positive(s.http.max_batch_bytes, "http.max_batch_bytes")) return e;
  if (auto e = positive(s.http.max_batch_events, "http.max_batch_events")) return e;
  if (s.http.max_batch_events > 100000) // protocol/limits.hpp: max_batch_events
    return std::string{"http.max_batch_events must be at most 100000"};
  if (auto e = positive(s.http.header_timeout_ms, "http.header_timeout_ms")) return e;
  if (auto e = positive(s.http.body_timeout_ms, "http.body_timeout_ms")) return e;
  if (auto e = positive(s.http.idle_timeout_ms, "http.idle_timeout_ms")) return e;
  // Below ~1 KiB not even a browser's ordinary request line and headers fit.
  if (s.http.max_header_bytes < 1024)
    return std::string{"http.max_header_bytes must be at least 1024"};
  if (auto e = positive(s.cluster.shards, "cluster.shards")) return e;
  if (auto e = positive(s.cluster.partitions, "cluster.partitions")) return e;
  if (auto e = positive(s.cluster.api_actors, "cluster.api_actors")) return e;
  if (s.http.drain_ms < 0 || s.http.drain_ms > 60000)
    return std::string{"http.drain_ms must be within 0..60000"};
  if (s.cluster.lease_ms < 500 || s.cluster.lease_ms > 600000)
    return std::string{"cluster.lease_ms must be within 500..600000"};
  if (auto e = positive(s.embedding.dim, "embedding.dim")) return e;
  if (auto e = positive(s.embedding.iterations, "embedding.iterations")) return e;
  if (s.embedding.cg_steps < 0 || s.embedding.cg_steps > 64) // protocol/limits.hpp: max_cg_steps
    return std::string{"embedding.cg_steps must be within 0..64"};
  if (auto e = positive(s.redis.ttl_seconds, "redis.ttl_seconds")) return e;
  if (auto e = positive(s.postgres.connect_timeout_s, "postgres.connect_timeout_s")) return e;
  if (auto e = positive(s.postgres.keepalives_idle_s, "postgres.keepalives_idle_s")) return e;
  if (auto e = positive(s.postgres.keepalives_interval_s, "postgres.keepalives_interval_s")) return e;
  if (auto e = positive(s.postgres.keepalives_count, "postgres.keepalives_count")) return e;
  if (auto e = positive(s.postgres.writer_queue_max, "postgres.writer_queue_max")) return e;
  if (auto e = positive(s.postgres.behavior_writers, "postgres.behavior_writers")) return e;
  if (auto e = positive(s.postgres.history_timeout_ms, "postgres.history_timeout_ms")) return e;
  if (s.postgres.statement_timeout_ms < 0 || s.postgres.job_statement_timeout_ms < 0)
    return std::string{"postgres statement timeouts must be >= 0"};
  if (s.redis.near_cache_mb < 0 || s.redis.near_cache_mb > 1 << 20)
    return std::string{"redis.near_cache_mb must be 0..1048576"};
  if (s.cluster.shards > s.cluster.partitions)
    return std::string{"cluster.shards must not exceed cluster.partitions"};
  if (s.cluster.replicas < 1 || s.cluster.replicas > 2)
    return std::string{"cluster.replicas must be 1 or 2"};
  for (const auto& [name, addr] : {std::pair{"http.addr", &s.http.addr},
                                    std::pair{"admin.addr", &s.admin.addr}}) {
    const auto colon = addr->rfind(':');
    std::int32_t port = -1;
    if (colon != std::string::npos)
      parse_value(addr->substr(colon + 1), port);
    if (port < 0 || port > 65535)
      return std::string{name} + " must be host:port with a port 0..65535";
  }
  // Whitespace or control bytes cannot be sent in an Authorization header.
  for (unsigned char c : s.admin.token)
    if (c <= ' ' || c == 0x7f)
      return std::string{"admin.token must not contain spaces or control characters"};
  for (const auto* list : {&s.item_similarity.behavior_types, &s.user_similarity.behavior_types,
                           &s.item_weights.behavior_types, &s.user_neighbours.behavior_types}) {
    std::stringstream ss{*list};
    std::string name;
    bool any = false;
    while (std::getline(ss, name, ',')) {
      name = trim(name);
      if (name != "view" && name != "click" && name != "cart" && name != "buy")
        return "behavior_types: '" + name + "' is not one of view, click, cart, buy";
      any = true;
    }
    if (!any)
      return std::string{"behavior_types must name at least one behavior"};
  }
  if (!(s.item_weights.lambda > 0))
    return std::string{"item_weights.lambda must be positive"};
  if (auto e = positive(s.item_weights.max_items, "item_weights.max_items")) return e;
  if (s.recommend.item_neighbours != "item_weights" && s.recommend.item_neighbours != "item_similarity")
    return "recommend.item_neighbours: '" + s.recommend.item_neighbours +
           "' is not one of item_weights, item_similarity";
  if (s.recommend.user_neighbours != "user_neighbours" && s.recommend.user_neighbours != "user_similarity")
    return "recommend.user_neighbours: '" + s.recommend.user_neighbours +
           "' is not one of user_neighbours, user_similarity";
  for (auto days : {s.item_similarity.window_days, s.user_similarity.window_days,
                    s.user_similarity.active_days, s.item_weights.window_days,
                    s.user_neighbours.window_days, s.user_neighbours.active_days,
                    s.embedding.window_days})
    if (days < 0)
      return std::string{"window_days and active_days must be >= 0 (0 = the whole history)"};
  if (!(s.embedding.half_life_days >= 0))
    return std::string{"embedding.half_life_days must be >= 0 (0 = no decay)"};
  if (s.cluster.insecure != 0 && s.cluster.insecure != 1)
    return std::string{"cluster.insecure must be 0 or 1"};
  if (!(s.recommend.weight_category >= 0))
    return std::string{"recommend.weight_category must be >= 0"};
  if (!(s.recommend.new_arrival_days >= 0 && s.recommend.new_arrival_days <= 3650))
    return std::string{"recommend.new_arrival_days must be in 0..3650"};
  if (s.recommend.exclude_seen != 0 && s.recommend.exclude_seen != 1)
    return std::string{"recommend.exclude_seen must be 0 or 1"};
  if (s.recommend.co_bought_recent < 1 || s.recommend.co_bought_recent > 1000)
    return std::string{"recommend.co_bought_recent must be in 1..1000"};
  if (s.recommend.co_bought_partners < 1 || s.recommend.co_bought_partners > 10000)
    return std::string{"recommend.co_bought_partners must be in 1..10000"};
  if (s.rules.watch_ms != 0 && (s.rules.watch_ms < 100 || s.rules.watch_ms > 3600000))
    return std::string{"rules.watch_ms must be 0 or in 100..3600000"};
  if (s.item_similarity.top_k < 0 || s.user_similarity.top_k < 0 || s.item_weights.top_k < 0 ||
      s.user_neighbours.top_k < 0)
    return std::string{"top_k must be >= 0"};
  if (s.user_neighbours.max_item_users < 0)
    return std::string{"user_neighbours.max_item_users must be >= 0"};
  return std::nullopt;
}

std::string render_settings(const settings& s) {
  std::string out, section;
  for (const auto& info : setting_table()) {
    auto dot = info.name.find('.');
    auto sec = info.name.substr(0, dot);
    if (sec != section) {
      out += (section.empty() ? "[" : "\n[") + sec + "]\n";
      section = sec;
    }
    out += "# " + info.doc + " (env " + env_name(info.name) + ")\n";
    out += info.name.substr(dot + 1) + " = " + shown_value(info.name, info.get(s)) + "\n";
  }
  return out;
}

} // namespace recd
