#pragma once
// PostgreSQL access shared by every blocking component (CLI commands and the
// detached actors that own a connection). All calls here BLOCK: never call
// them from an actor on CAF's cooperative scheduler.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <pqxx/pqxx>

#include "config/settings.hpp"
#include "protocol/errors.hpp"

namespace recd::store {

using connection_ptr = std::unique_ptr<pqxx::connection>;

// What a connection is for; decides its statement_timeout.
enum class session {
  serving, // behavior writer, shard loader, run watcher: postgres.statement_timeout_ms
  job,     // migrate, import, compute jobs (job driver, similarity workers), eval:
           // postgres.job_statement_timeout_ms (default none: they legitimately run long)
};

// THE place recd builds connection strings: postgres.url plus libpq's
// connect_timeout, TCP keepalives (keepalives_idle/interval/count) and
// `options=-c statement_timeout=...` for `kind`. A parameter the URL already
// sets is left as the URL says (including its own `options`). Works for
// URIs (postgresql://...) and key=value strings. A non-empty
// `application_name` ([a-z0-9-] only) names the session in pg_stat_activity.
std::string conninfo(const postgres_settings& pg, session kind,
                     const std::string& application_name = "");

// Opens a connection (a string from conninfo(), or any libpq URL or key=value
// string). Errors become ec::database_unavailable with libpq's message, any
// password in it masked.
caf::expected<connection_ptr> connect(const std::string& url);

// The connection of a long-lived blocking component: opened on first use and
// reopened after reset() (call it after any failure: the server may have
// restarted, and libpqxx leaves a broken connection unusable). get() also
// reopens a connection the server has hung up on while it was idle, so the
// first use after a server restart usually succeeds.
class lazy_connection {
public:
  explicit lazy_connection(std::string url) : url_(std::move(url)) {}
  // The open connection, or ec::database_unavailable.
  caf::expected<pqxx::connection*> get();
  void reset() { conn_.reset(); }

private:
  std::string url_;
  connection_ptr conn_;
};

struct migrate_report {
  int from_version = 0;
  int to_version = 0;
  std::uint32_t partitions = 0;
};

// Applies the missing migrations, each in its own transaction, and records
// the partition count the first time (later runs must pass the same value or
// 0 = keep). Safe to run concurrently: serialised by an advisory lock.
caf::expected<migrate_report> migrate(pqxx::connection& c, std::uint32_t partitions);

// The partition count fixed at migrate time; ec::not_found before migrate.
caf::expected<std::uint32_t> read_partitions(pqxx::connection& c);

// Runs `work` and converts libpqxx exceptions into ec::database_error values
// (ec::database_unavailable for a broken connection).
caf::error guard(const std::function<void()>& work);

// Streams `COPY (<select_sql>) TO STDOUT` (text format) line by line.
// COPY cannot take bind parameters: select_sql must be built only from
// integers the program computed itself, never from request data.
void copy_out(pqxx::transaction_base& tx, const std::string& select_sql,
              const std::function<void(std::string_view line)>& on_line);

// Splits one COPY text line into its tab-separated fields (no unescaping:
// recd's COPY columns are numbers, timestamps as epoch and plain words).
void split_copy_line(std::string_view line, std::vector<std::string_view>& fields);

// SQL array literal for bind parameters, e.g. "{1,2,3}".
std::string int_array_literal(const std::vector<std::int32_t>& xs);
std::string int_array_literal(const std::vector<std::uint32_t>& xs);

} // namespace recd::store
