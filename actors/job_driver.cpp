#include "actors/census.hpp"
#include "actors/job_driver.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>

#include "engine/als.hpp"
#include "engine/similarity.hpp"
#include "protocol/errors.hpp"
#include "actors/bulk_sender.hpp"
#include "actors/trust.hpp"
#include "actors/telemetry.hpp"
#include "actors/unexpected.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/leadership.hpp"
#include "store/job_tables.hpp"

namespace recd {

namespace {

using clock = std::chrono::steady_clock;
constexpr auto part_timeout = std::chrono::seconds{86400};

// "'buy','cart'": every name is checked against the four behavior kinds.
caf::expected<std::string> kinds_sql(const std::string& list) {
  std::string out;
  std::stringstream ss{list};
  std::string name;
  while (std::getline(ss, name, ',')) {
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!parse_behavior_kind(name))
      return make_error(ec::invalid_argument, "unknown behavior type '" + name + "' in settings");
    out += (out.empty() ? "'" : ",'") + name + "'";
  }
  if (out.empty())
    return make_error(ec::invalid_argument, "empty behavior type list in settings");
  return out;
}

std::int64_t to_i64(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

struct driver_state {
  static inline const char* name = "job_driver";
  settings cfg;
  std::int64_t term = 0; // the coordinator term that runs this driver (0: no fence)
  std::vector<shard_actor> shards;
  store::lazy_connection db{""};
  pqxx::connection* conn = nullptr; // db's connection during a run
  // The run in progress.
  job_kind kind = job_kind::item_similarity;
  std::int64_t run_id = 0;
  std::string staging;
  run_progress_sink listener;
  clock::time_point started;
  clock::time_point last_report;
  std::uint64_t total = 0;
  std::map<caf::actor_addr, part_progress> progress;
  caf::typed_response_promise<job_summary> promise;
  bool active = false; // a run is in progress (its promise is pending)
  bulk_inbox inbox;    // solved factor blocks arriving from ALS workers

  // Replies from shards that belong to an earlier, already finished run are ignored.
  bool is_current(std::int64_t run) const { return active && run == run_id; }
  // Bulk chunks and progress come from the workers of the running job: only
  // the nodes of its shards (or this node) may send them.
  bool from_a_shard_node(caf::local_actor* self) const {
    const auto& src = self->current_sender();
    if (!active || !src)
      return false;
    if (src->node() == self->node())
      return true;
    return std::any_of(shards.begin(), shards.end(),
                       [&](const shard_actor& s) { return s && s.node() == src->node(); });
  }
  // Embedding runs.
  embedding_task emb;
  std::vector<embedding_worker_actor> workers;
  engine::factor_matrix user_factors, item_factors;
  std::int32_t iteration = 0;

  std::int64_t lock_key() const { return 0x72656364'6a6f6200 + static_cast<std::int64_t>(kind); }

  void report(std::uint64_t done, std::uint64_t rows, bool force = false) {
    node_telemetry().job.progress(done, total, rows);
    if (!listener || (!force && clock::now() - last_report < std::chrono::milliseconds{500}))
      return;
    last_report = clock::now();
    caf::anon_send(listener, progress_atom_v, run_progress{kind, done, total, rows});
  }

  // Takes the lock and records the run. Blocking.
  caf::error begin() {
    started = clock::now();
    last_report = started - std::chrono::seconds{1};
    progress.clear();
    auto c = db.get();
    if (!c)
      return c.error();
    conn = *c;
    bool locked = false;
    auto err = store::guard([&] {
      pqxx::nontransaction tx{*conn};
      locked = tx.exec_params("SELECT pg_try_advisory_lock($1)", lock_key())[0][0].as<bool>();
      if (!locked)
        return;
      // Runs left 'running' by a process that died: we hold the lock, so they are dead.
      auto stale = tx.exec_params("UPDATE job_runs SET status = 'failed', finished_at = now(), "
                                  "error = 'abandoned: its process stopped' WHERE kind = $1 AND "
                                  "status = 'running' RETURNING run_id",
                                  std::string{to_string(kind)});
      if (kind != job_kind::embeddings)
        for (const auto& r : stale)
          tx.exec("DROP TABLE IF EXISTS " +
                  tx.quote_name(store::staging_table(kind, r[0].as<std::int64_t>())));
      run_id = tx.exec_params("INSERT INTO job_runs (kind, status, term) "
                              "VALUES ($1, 'running', $2) RETURNING run_id",
                              std::string{to_string(kind)}, term)[0][0]
                 .as<std::int64_t>();
    });
    if (err)
      return err;
    if (!locked)
      return make_error(ec::job_running, std::string{to_string(kind)} + " is already running");
    node_telemetry().job.begin(to_string(kind), run_id);
    return caf::none;
  }

  // Marks the run failed, drops its staging table, releases the lock.
  void fail(const caf::error& err) {
    if (!active)
      return;
    active = false;
    node_telemetry().job.end();
    store::guard([&] {
      pqxx::nontransaction tx{*conn};
      if (!staging.empty())
        tx.exec("DROP TABLE IF EXISTS " + staging);
      tx.exec_params("UPDATE job_runs SET status = 'failed', finished_at = now(), error = $2 "
                     "WHERE run_id = $1",
                     run_id, describe(err));
    });
    unlock();
    for (auto& w : workers)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
    workers.clear();
    if (err.category() == error_category && err.code() == static_cast<std::uint8_t>(ec::database_unavailable))
      db.reset();
    promise.deliver(err);
  }

  void unlock() {
    store::guard([&] {
      pqxx::nontransaction tx{*conn};
      tx.exec_params("SELECT pg_advisory_unlock($1)", lock_key());
    });
    staging.clear();
  }

  void succeed(std::uint64_t inputs, std::uint64_t rows) {
    active = false;
    unlock();
    report(total, rows, true);
    node_telemetry().job.end();
    job_summary s{kind, run_id, inputs, rows,
                  std::chrono::duration<double>(clock::now() - started).count()};
    promise.deliver(s);
  }

  // ---- similarity -------------------------------------------------------------

  // What one similarity kind reads and how it scores (the settings of its section).
  struct similarity_definition {
    const std::string* behavior_types = nullptr;
    std::int32_t window_days = 0;      // 0 = the whole history
    std::int32_t active_days = 0;      // user side: 0 = every user
    std::int32_t min_sales = 0;        // item side: candidates need sales_count above this
    std::int32_t max_items = 0;        // item side: at most this many candidates
  };

  similarity_definition definition() const {
    switch (kind) {
      case job_kind::item_similarity: {
        const auto& s = cfg.item_similarity;
        return {&s.behavior_types, s.window_days, 0, s.min_sales, s.max_items};
      }
      case job_kind::item_weights: {
        const auto& s = cfg.item_weights;
        return {&s.behavior_types, s.window_days, 0, s.min_sales, s.max_items};
      }
      case job_kind::user_neighbours: {
        const auto& s = cfg.user_neighbours;
        return {&s.behavior_types, s.window_days, s.active_days, 0, 0};
      }
      default: {
        const auto& s = cfg.user_similarity;
        return {&s.behavior_types, s.window_days, s.active_days, 0, 0};
      }
    }
  }

  // " AND timestamp > now() - N days", or nothing for the whole history.
  static std::string since(std::int32_t days) {
    return days > 0 ? " AND timestamp > now() - interval '1 day' * " + std::to_string(days) : "";
  }

  caf::expected<similarity_task> load_similarity() {
    similarity_task task;
    task.run_id = run_id;
    task.kind = kind;
    staging = store::staging_table(kind, run_id);
    const bool items = item_side(kind);
    const auto def = definition();
    auto kinds = kinds_sql(*def.behavior_types);
    if (!kinds)
      return kinds.error();
    std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
    auto err = store::guard([&] {
      pqxx::work tx{*conn};
      tx.exec("CREATE TABLE " + staging + " (LIKE " + store::similarity_table(kind) + " INCLUDING DEFAULTS)");
      std::unordered_set<std::int32_t> eligible;
      bool every_row = false;
      std::vector<std::string_view> f;
      if (items) {
        // Candidates: the best sellers, ties broken by id so runs are reproducible.
        auto rows = tx.exec_params("SELECT item_id FROM items WHERE sales_count > $1 "
                                   "ORDER BY sales_count DESC, item_id LIMIT $2",
                                   def.min_sales, def.max_items);
        for (const auto& r : rows)
          eligible.insert(r[0].as<std::int32_t>());
      } else if (def.active_days > 0) {
        store::copy_out(tx,
                        "SELECT DISTINCT user_id FROM user_behavior WHERE true" + since(def.active_days),
                        [&](std::string_view line) {
                          eligible.insert(static_cast<std::int32_t>(to_i64(line)));
                        });
      } else {
        every_row = true;
      }
      // Item side: only the candidates' events leave PostgreSQL (the same
      // ids as `eligible`, sent as an array literal built from integers): the
      // best 3,000 of 100k items would otherwise ship every event to be
      // dropped here.
      std::string only_eligible;
      if (items) {
        only_eligible = " AND item_id = ANY('{";
        bool first = true;
        for (auto id : eligible) {
          only_eligible += (first ? "" : ",") + std::to_string(id);
          first = false;
        }
        only_eligible += "}'::int[])";
      }
      store::copy_out(tx,
                      "SELECT " + std::string{items ? "item_id, user_id" : "user_id, item_id"} +
                        " FROM user_behavior WHERE behavior_type IN (" + *kinds + ")" +
                        since(def.window_days) + only_eligible,
                      [&](std::string_view line) {
                        store::split_copy_line(line, f);
                        auto row = static_cast<std::int32_t>(to_i64(f[0]));
                        if (every_row || eligible.count(row) != 0)
                          pairs.emplace_back(row, static_cast<std::int32_t>(to_i64(f[1])));
                      });
      tx.commit();
    });
    if (err)
      return err;
    task.graph = engine::bipartite_from_pairs(std::move(pairs));
    switch (kind) {
      case job_kind::item_weights:
        task.measure = ease_measure;
        task.regularization = cfg.item_weights.lambda;
        // All positive weights of a row would be about half the catalogue.
        task.top_k = cfg.item_weights.top_k > 0 ? cfg.item_weights.top_k : cfg.recommend.neighbours;
        break;
      case job_kind::item_similarity:
        task.measure = static_cast<std::uint8_t>(engine::set_measure::jaccard);
        task.min_common = cfg.item_similarity.min_common;
        task.min_score = 0;
        task.top_k = cfg.item_similarity.top_k;
        break;
      case job_kind::user_neighbours:
        task.measure = static_cast<std::uint8_t>(engine::set_measure::cosine);
        task.min_common = cfg.user_neighbours.min_common;
        task.min_score = cfg.user_neighbours.min_score;
        task.top_k = cfg.user_neighbours.top_k;
        break;
      default:
        task.measure = static_cast<std::uint8_t>(engine::set_measure::cosine);
        task.min_common = cfg.user_similarity.min_common;
        task.min_score = cfg.user_similarity.min_score;
        task.top_k = cfg.user_similarity.top_k;
    }
    total = task.graph.rows();
    return task;
  }

  // Users erased since this run read its input (DELETE /api/users/{id}) are
  // not brought back by it: the catalog epoch row is locked until the publish
  // commits (an erasure waits for it and then deletes from the published
  // table), and the rows of users erased before are dropped from `staging`
  // (a user-side similarity table; "" for none). Embeddings need no drop:
  // they only UPDATE users rows, which an erasure deleted.
  void forget_erased(pqxx::work& tx, const std::string& user_staging) {
    tx.exec("SELECT epoch FROM catalog_epoch FOR UPDATE");
    if (user_staging.empty())
      return;
    tx.exec_params("DELETE FROM " + user_staging + " s USING erased_users e WHERE e.erased_at >= "
                   "(SELECT started_at FROM job_runs WHERE run_id = $1) AND (s.user_id = e.user_id "
                   "OR s.similar_user_id = e.user_id)",
                   run_id);
  }

  // Swaps the staging table in for the live one inside one transaction.
  caf::error publish_similarity(std::uint64_t rows) {
    std::string live = store::similarity_table(kind);
    std::string key = std::string{store::similarity_id_column(kind)} + ", " +
                      store::similarity_other_column(kind);
    return store::guard([&] {
      {
        pqxx::nontransaction tx{*conn};
        tx.exec("ALTER TABLE " + staging + " ADD CONSTRAINT " + staging + "_pkey PRIMARY KEY (" +
                key + ")");
        tx.exec("ANALYZE " + staging);
      }
      pqxx::work tx{*conn};
      store::fence(tx, term); // a deposed leader publishes nothing
      forget_erased(tx, item_side(kind) ? std::string{} : staging);
      tx.exec("LOCK TABLE " + live + " IN ACCESS EXCLUSIVE MODE");
      tx.exec("ALTER TABLE " + live + " RENAME TO " + live + "_old_" + std::to_string(run_id));
      tx.exec("ALTER TABLE " + staging + " RENAME TO " + live);
      tx.exec("DROP TABLE " + live + "_old_" + std::to_string(run_id));
      tx.exec("ALTER TABLE " + live + " RENAME CONSTRAINT " + staging + "_pkey TO " + live +
              "_pkey");
      tx.exec_params("UPDATE job_runs SET status = 'published', finished_at = now(), rows = $2 "
                     "WHERE run_id = $1",
                     run_id, static_cast<std::int64_t>(rows));
      tx.commit();
      staging.clear();
    });
  }

  // ---- embeddings ---------------------------------------------------------------

  caf::error load_embeddings() {
    const auto& e = cfg.embedding;
    const auto& w = cfg.recommend;
    std::vector<std::int32_t> us, is;
    std::vector<float> ws;
    auto err = store::guard([&] {
      pqxx::work tx{*conn};
      char weights[256];
      std::snprintf(weights, sizeof weights,
                    "CASE behavior_type WHEN 'view' THEN %.6g WHEN 'click' THEN %.6g "
                    "WHEN 'cart' THEN %.6g ELSE %.6g END",
                    w.view_weight, w.click_weight, w.cart_weight, w.buy_weight);
      // Age decay: weight x 2^(-age / half_life), so years of history
      // count without the newest months being drowned. The exponent stops at
      // -1000: PostgreSQL raises an error where pow() underflows to 0.
      std::string decay;
      if (e.half_life_days > 0) {
        char buf[160];
        std::snprintf(buf, sizeof buf,
                      " * power(2.0, greatest(extract(epoch from (timestamp - now())) / %.9g, -1000))",
                      e.half_life_days * 86400.0);
        decay = buf;
      }
      std::vector<std::string_view> f;
      store::copy_out(tx,
                      std::string{"SELECT user_id, item_id, sum(("} + weights + ")" + decay +
                        ") FROM user_behavior WHERE true" + since(e.window_days) +
                        " GROUP BY user_id, item_id ORDER BY user_id, item_id",
                      [&](std::string_view line) {
                        store::split_copy_line(line, f);
                        us.push_back(static_cast<std::int32_t>(to_i64(f[0])));
                        is.push_back(static_cast<std::int32_t>(to_i64(f[1])));
                        ws.push_back(std::strtof(std::string{f[2]}.c_str(), nullptr));
                      });
      tx.commit();
    });
    if (err)
      return err;
    emb = embedding_task{};
    emb.run_id = run_id;
    emb.dim = e.dim;
    emb.regularization = e.regularization;
    emb.alpha = e.alpha;
    emb.users = us;
    emb.items = is;
    for (auto* ids : {&emb.users, &emb.items}) {
      std::sort(ids->begin(), ids->end());
      ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
    }
    auto dense = [](const std::vector<std::int32_t>& sorted, std::int32_t id) {
      return static_cast<std::uint32_t>(std::lower_bound(sorted.begin(), sorted.end(), id) -
                                        sorted.begin());
    };
    emb.u.reserve(us.size());
    emb.i.reserve(is.size());
    for (std::size_t k = 0; k < us.size(); ++k) {
      emb.u.push_back(dense(emb.users, us[k]));
      emb.i.push_back(dense(emb.items, is[k]));
    }
    emb.w = std::move(ws);
    total = static_cast<std::uint64_t>(cfg.embedding.iterations);
    return caf::none;
  }

  static std::string array_text(std::span<const float> v) {
    std::string out = "{";
    char buf[32];
    for (std::size_t d = 0; d < v.size(); ++d) {
      std::snprintf(buf, sizeof buf, "%s%.9g", d ? "," : "", static_cast<double>(v[d]));
      out += buf;
    }
    return out + "}";
  }

  caf::error publish_embeddings() {
    return store::guard([&] {
      pqxx::work tx{*conn};
      store::fence(tx, term); // a deposed leader publishes nothing
      forget_erased(tx, {});
      for (int side = 0; side < 2; ++side) {
        const bool items = side == 0;
        const auto& ids = items ? emb.items : emb.users;
        const auto& m = items ? item_factors : user_factors;
        std::string table = items ? "items" : "users";
        std::string col = items ? "item_id" : "user_id";
        tx.exec("CREATE TEMP TABLE new_" + table + "_embedding (id INT PRIMARY KEY, embedding "
                "REAL[] NOT NULL) ON COMMIT DROP");
        {
          pqxx::stream_to out{tx, "new_" + table + "_embedding",
                              std::vector<std::string>{"id", "embedding"}};
          for (std::size_t r = 0; r < ids.size(); ++r)
            out << std::make_tuple(ids[r], array_text(m.row(r)));
          out.complete();
        }
        tx.exec("UPDATE " + table + " t SET embedding = n.embedding FROM new_" + table +
                "_embedding n WHERE t." + col + " = n.id");
        // Rows that no longer have behavior in the window lose their stale vector.
        tx.exec("UPDATE " + table + " t SET embedding = NULL WHERE embedding IS NOT NULL AND NOT "
                "EXISTS (SELECT 1 FROM new_" + table + "_embedding n WHERE n.id = t." + col + ")");
      }
      tx.exec_params("UPDATE job_runs SET status = 'published', finished_at = now(), rows = $2 "
                     "WHERE run_id = $1",
                     run_id, static_cast<std::int64_t>(emb.items.size()));
      tx.commit();
    });
  }
};

using driver_actor = job_driver_actor::stateful_base<driver_state>;

void run_similarity(driver_actor* self) {
  auto& st = self->state;
  auto task = st.load_similarity();
  if (!task) {
    st.fail(task.error());
    return;
  }
  auto remaining = std::make_shared<std::size_t>(st.shards.size());
  auto rows = std::make_shared<std::uint64_t>(0);
  auto inputs = std::make_shared<std::uint64_t>(0);
  auto failed = std::make_shared<bool>(false);
  auto run = st.run_id;
  auto fail = [=](caf::error& err) {
    if (!*failed && self->state.is_current(run)) {
      *failed = true;
      self->state.fail(err);
    }
  };
  auto encoded = encode_bulk(new_bulk_id(), *task);
  task = caf::error{}; // the graph is in the chunks now
  if (!encoded) {
    st.fail(encoded.error());
    return;
  }
  auto payload = std::make_shared<const bulk_payload>(std::move(*encoded));
  for (auto& shard : st.shards)
    send_chunks(self, shard, payload, [=] {
      self->request(shard, part_timeout, similarity_atom_v, payload->handle,
                    caf::actor_cast<part_progress_sink>(self))
        .then(
          [=](std::uint64_t done, std::uint64_t pairs) {
            if (!self->state.is_current(run))
              return;
            *inputs += done;
            *rows += pairs;
            if (--*remaining == 0 && !*failed) {
              if (auto err = self->state.publish_similarity(*rows))
                self->state.fail(err);
              else
                self->state.succeed(*inputs, *rows);
            }
          },
          fail);
    }, fail);
}

void half_step(driver_actor* self, bool users_side);

void next_iteration(driver_actor* self) {
  auto& st = self->state;
  if (st.iteration >= st.cfg.embedding.iterations) {
    for (auto& w : st.workers)
      self->send_exit(w, caf::exit_reason::user_shutdown);
    st.workers.clear();
    if (auto err = st.publish_embeddings())
      st.fail(err);
    else
      st.succeed(st.emb.users.size() + st.emb.items.size(), st.emb.items.size());
    return;
  }
  half_step(self, true);
}

// Sends the fixed side's factors and gram to every worker and gathers the
// solved rows of the other side; users first, then items, then the next sweep.
void half_step(driver_actor* self, bool users_side) {
  auto& st = self->state;
  auto& fixed = users_side ? st.item_factors : st.user_factors;
  auto gram = engine::gram(fixed);
  auto remaining = std::make_shared<std::size_t>(st.workers.size());
  auto failed = std::make_shared<bool>(false);
  auto run = st.run_id;
  auto fail = [=](caf::error& err) {
    if (!*failed && self->state.is_current(run)) {
      *failed = true;
      self->state.fail(err);
    }
  };
  auto values = packed(fixed.values); // encoded as is, not copied first
  auto encoded = encode_bulk(new_bulk_id(), values);
  if (!encoded) {
    st.fail(encoded.error());
    return;
  }
  auto payload = std::make_shared<const bulk_payload>(std::move(*encoded));
  for (auto& w : st.workers)
    send_chunks(self, w, payload, [=] {
      auto solved = [=](const bulk_handle& solved) {
          auto& st = self->state;
          if (!st.is_current(run))
            return;
          factor_block block;
          auto bytes = st.inbox.take(solved, sender_node(self));
          caf::error err = bytes ? decode_bulk(*bytes, block) : bytes.error();
          if (err) {
            fail(err);
            return;
          }
          auto& target = users_side ? st.user_factors : st.item_factors;
          auto dim = static_cast<std::size_t>(target.dim);
          for (std::size_t k = 0; k < block.rows.size(); ++k)
            std::copy_n(block.values.begin() + static_cast<long>(k * dim), dim,
                        target.values.begin() + static_cast<long>(block.rows[k] * dim));
          if (--*remaining == 0 && !*failed) {
            if (users_side) {
              half_step(self, false);
            } else {
              ++st.iteration;
              st.report(static_cast<std::uint64_t>(st.iteration), 0);
              next_iteration(self);
            }
          }
      };
      if (users_side)
        self->request(w, part_timeout, solve_users_atom_v, payload->handle, gram).then(solved, fail);
      else
        self->request(w, part_timeout, solve_items_atom_v, payload->handle, gram).then(solved, fail);
    }, fail);
}

void run_embeddings(driver_actor* self) {
  auto& st = self->state;
  if (auto err = st.load_embeddings()) {
    st.fail(err);
    return;
  }
  auto dim = st.emb.dim;
  st.item_factors = engine::initial_factors(st.emb.items.size(), dim, 42);
  st.user_factors.dim = dim;
  st.user_factors.values.assign(st.emb.users.size() * static_cast<std::size_t>(dim), 0.0f);
  st.iteration = 0;
  st.workers.clear();
  auto remaining = std::make_shared<std::size_t>(st.shards.size());
  auto failed = std::make_shared<bool>(false);
  auto run = st.run_id;
  auto fail = [=](caf::error& err) {
    if (!*failed && self->state.is_current(run)) {
      *failed = true;
      self->state.fail(err);
    }
  };
  auto encoded = encode_bulk(new_bulk_id(), st.emb);
  if (!encoded) {
    st.fail(encoded.error());
    return;
  }
  auto payload = std::make_shared<const bulk_payload>(std::move(*encoded));
  for (auto& shard : st.shards)
    send_chunks(self, shard, payload, [=] {
    self->request(shard, part_timeout, embedding_atom_v, payload->handle)
      .then(
        [=](const embedding_worker_actor& worker) {
          if (!self->state.is_current(run)) {
            caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
            return;
          }
          self->state.workers.push_back(worker);
          self->monitor(worker);
          if (--*remaining == 0 && !*failed)
            next_iteration(self);
        },
        fail);
    }, fail);
}

job_driver_actor::behavior_type job_driver(driver_actor* self, std::string url, settings cfg,
                                           std::int64_t term) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (!st.active)
      return;
    auto gone = [&](const auto& a) { return a && a.address() == dm.source; };
    if (std::any_of(st.shards.begin(), st.shards.end(), gone) ||
        std::any_of(st.workers.begin(), st.workers.end(), gone))
      st.fail(dm.reason ? dm.reason : caf::error{caf::exit_reason::remote_link_unreachable});
  });
  self->state.db = store::lazy_connection{std::move(url)};
  self->state.cfg = std::move(cfg);
  self->state.term = term;
  return {
    [=](run_atom, job_kind kind, const run_progress_sink& listener,
        std::vector<shard_actor> shards) {
      auto& st = self->state;
      st.shards = std::move(shards);
      st.promise = self->make_response_promise<job_summary>();
      st.kind = kind;
      st.listener = listener;
      st.total = 0;
      if (auto err = st.begin()) {
        st.promise.deliver(err);
        return st.promise;
      }
      st.active = true;
      // A shard (or ALS worker) that dies mid-run fails the run at once; the
      // coordinator redoes it on the shards that are left.
      for (auto& shard : st.shards)
        self->monitor(shard);
      if (kind == job_kind::embeddings)
        run_embeddings(self);
      else
        run_similarity(self);
      return st.promise;
    },
    [=](bulk_atom, bulk_chunk& chunk) -> caf::result<bool> {
      // Solved factor blocks from the ALS workers, kept per sending node.
      auto& st = self->state;
      if (!st.from_a_shard_node(self))
        return refuse(self, "bulk", "not from a shard node of the running job");
      if (auto err = st.inbox.add(std::move(chunk), sender_node(self)))
        return refuse(self, "bulk", describe(err));
      return true;
    },
    [=](part_progress_atom, const part_progress& p) {
      auto& st = self->state;
      if (p.run_id != st.run_id || !st.from_a_shard_node(self))
        return;
      st.progress[caf::actor_cast<caf::actor_addr>(self->current_sender())] = p;
      std::uint64_t done = 0, rows = 0;
      for (const auto& [who, q] : st.progress) {
        done += q.done;
        rows += q.pairs;
      }
      st.report(done, rows);
    },
  };
}

} // namespace

job_driver_actor spawn_job_driver(caf::actor_system& sys, std::string postgres_url, settings cfg,
                                  std::int64_t term) {
  return sys.spawn<caf::detached>(job_driver, std::move(postgres_url), std::move(cfg), term);
}

} // namespace recd
