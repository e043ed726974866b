#include "store/job_runs.hpp"

#include "store/job_tables.hpp"

namespace recd::store {

std::optional<std::int64_t> start_run(pqxx::connection& c, job_kind kind, std::int64_t term) {
  pqxx::nontransaction tx{c};
  if (!tx.exec_params("SELECT pg_try_advisory_lock($1)", job_lock_key(kind))[0][0].as<bool>())
    return std::nullopt;
  // Runs left 'running' by a process that died: we hold the lock, so they are dead.
  auto stale = tx.exec_params("UPDATE job_runs SET status = 'failed', finished_at = now(), "
                              "error = 'abandoned: its process stopped' WHERE kind = $1 AND "
                              "status = 'running' RETURNING run_id",
                              std::string{to_string(kind)});
  for (const auto& r : stale)
    tx.exec("DROP TABLE IF EXISTS " +
            tx.quote_name(staging_table(kind, r[0].as<std::int64_t>())));
  return tx
      .exec_params("INSERT INTO job_runs (kind, status, term) "
                   "VALUES ($1, 'running', $2) RETURNING run_id",
                   std::string{to_string(kind)}, term)[0][0]
      .as<std::int64_t>();
}

void record_run_failed(pqxx::connection& c, std::int64_t run_id, const std::string& error,
                       const std::string& staging) {
  pqxx::nontransaction tx{c};
  if (!staging.empty())
    tx.exec("DROP TABLE IF EXISTS " + staging);
  tx.exec_params("UPDATE job_runs SET status = 'failed', finished_at = now(), error = $2 "
                 "WHERE run_id = $1",
                 run_id, error);
}

void release_run_lock(pqxx::connection& c, job_kind kind) {
  pqxx::nontransaction tx{c};
  tx.exec_params("SELECT pg_advisory_unlock($1)", job_lock_key(kind));
}

void record_run_published(pqxx::work& tx, std::int64_t run_id, std::int64_t rows) {
  tx.exec_params("UPDATE job_runs SET status = 'published', finished_at = now(), rows = $2 "
                 "WHERE run_id = $1",
                 run_id, rows);
}

} // namespace recd::store
