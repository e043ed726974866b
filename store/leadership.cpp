#include "store/leadership.hpp"

namespace recd::store {

std::optional<std::int64_t> acquire_lease(pqxx::connection& c, const std::string& holder,
                                          const std::string& address, std::int32_t lease_ms,
                                          std::uint32_t wire_version, const std::string& release) {
  pqxx::work tx{c};
  // clock_timestamp(), not now(): the transaction's start time could lie.
  auto r = tx.exec_params(
    "INSERT INTO coordinator_lease AS l (id, holder, address, term, expires_at, wire_version, release) "
    "VALUES (1, $1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond', $4, $5) "
    "ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, address = excluded.address, "
    "term = l.term + 1, expires_at = excluded.expires_at, wire_version = excluded.wire_version, "
    "release = excluded.release "
    "WHERE l.expires_at < clock_timestamp() RETURNING l.term",
    holder, address, lease_ms, static_cast<std::int64_t>(wire_version), release);
  tx.commit();
  if (r.empty())
    return std::nullopt;
  return r[0][0].as<std::int64_t>();
}

bool renew_lease(pqxx::connection& c, std::int64_t term, std::int32_t lease_ms) {
  pqxx::work tx{c};
  auto r = tx.exec_params("UPDATE coordinator_lease SET expires_at = clock_timestamp() + "
                          "$2 * interval '1 millisecond' WHERE id = 1 AND term = $1",
                          term, lease_ms);
  tx.commit();
  return r.affected_rows() == 1;
}

void release_lease(pqxx::connection& c, std::int64_t term) {
  pqxx::work tx{c};
  tx.exec_params("UPDATE coordinator_lease SET expires_at = clock_timestamp() "
                 "WHERE id = 1 AND term = $1",
                 term);
  tx.commit();
}

std::optional<lease_holder> read_lease(pqxx::connection& c) {
  pqxx::read_transaction tx{c};
  auto r = tx.exec("SELECT holder, address, term, expires_at < clock_timestamp(), wire_version, "
                   "release FROM coordinator_lease WHERE id = 1");
  if (r.empty())
    return std::nullopt;
  return lease_holder{r[0][0].as<std::string>(), r[0][1].as<std::string>(),
                      r[0][2].as<std::int64_t>(), r[0][3].as<bool>(),
                      static_cast<std::uint32_t>(r[0][4].as<std::int64_t>()),
                      r[0][5].as<std::string>()};
}

std::string job_session_name(std::int64_t term) {
  return "recd-coordinator-term-" + std::to_string(term);
}

std::int64_t end_job_sessions_of_older_terms(pqxx::connection& c, std::int64_t term) {
  pqxx::nontransaction tx{c};
  auto r = tx.exec_params(
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND application_name ~ '^recd-coordinator-term-[0-9]{1,18}$' "
    "AND substring(application_name from '[0-9]+$')::bigint < $1",
    term);
  return r[0][0].as<std::int64_t>();
}

std::vector<std::string> orphaned_run_kinds(pqxx::connection& c, std::int64_t term) {
  pqxx::read_transaction tx{c};
  std::vector<std::string> out;
  for (const auto& r : tx.exec_params("SELECT DISTINCT kind FROM job_runs WHERE status = 'running' "
                                      "AND term > 0 AND term < $1 ORDER BY kind",
                                      term))
    out.push_back(r[0].as<std::string>());
  return out;
}

void fence(pqxx::work& tx, std::int64_t term) {
  if (term == 0)
    return;
  auto r = tx.exec("SELECT term FROM coordinator_lease WHERE id = 1 FOR SHARE");
  const auto now = r.empty() ? std::int64_t{0} : r[0][0].as<std::int64_t>();
  if (now != term)
    throw fenced{"this coordinator's term " + std::to_string(term) +
                 " no longer leads (term " + std::to_string(now) + " does)"};
}

} // namespace recd::store
