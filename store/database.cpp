#include "store/database.hpp"

#include <poll.h>

#include <charconv>

#include "config/secrets.hpp"
#include "store/migrations.hpp"

namespace recd::store {

namespace {
// libpq's messages span lines ("...failed: Connection refused\n\tIs the server
// running..."): errors are one line everywhere in recd.
std::string one_line(std::string msg) {
  std::string out;
  for (char c : msg) {
    if (c == '\n' || c == '\t' || c == '\r')
      c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' '))
      continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}
} // namespace

std::string conninfo(const postgres_settings& pg, session kind, const std::string& application_name) {
  std::string out = pg.url;
  const bool uri = out.rfind("postgresql://", 0) == 0 || out.rfind("postgres://", 0) == 0;
  auto has = [&](const std::string& key) {
    auto pos = out.find(key + "=");
    while (pos != std::string::npos) {
      char before = pos == 0 ? ' ' : out[pos - 1];
      if (before == ' ' || before == '?' || before == '&')
        return true;
      pos = out.find(key + "=", pos + 1);
    }
    return false;
  };
  auto add = [&](const std::string& key, const std::string& value, const std::string& uri_value) {
    if (has(key))
      return;
    if (uri)
      out += (out.find('?') == std::string::npos ? "?" : "&") + key + "=" + uri_value;
    else
      out += (out.empty() ? "" : " ") + key + "=" + value;
  };
  auto num = [](std::int32_t v) { return std::to_string(v); };
  add("connect_timeout", num(pg.connect_timeout_s), num(pg.connect_timeout_s));
  add("keepalives", "1", "1");
  add("keepalives_idle", num(pg.keepalives_idle_s), num(pg.keepalives_idle_s));
  add("keepalives_interval", num(pg.keepalives_interval_s), num(pg.keepalives_interval_s));
  add("keepalives_count", num(pg.keepalives_count), num(pg.keepalives_count));
  auto timeout = kind == session::serving ? pg.statement_timeout_ms : pg.job_statement_timeout_ms;
  add("options", "'-c statement_timeout=" + num(timeout) + "'",
      "-c%20statement_timeout%3D" + num(timeout));
  if (!application_name.empty())
    add("application_name", application_name, application_name);
  return out;
}

caf::expected<connection_ptr> connect(const std::string& url) {
  try {
    return std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    // libpq's messages name the host, never the password; pqxx may quote
    // the whole connection string: mask it either way.
    return make_error(ec::database_unavailable, redact(one_line(e.what()), url));
  }
}

namespace {
// An idle connection has nothing to read unless the server closed it (a
// restart, an idle-session timeout) or sent a notice: reconnecting then costs
// one connect, while using a dead one fails the caller's request.
bool server_hung_up(pqxx::connection& c) {
  int fd = c.sock();
  if (fd < 0)
    return true;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}
} // namespace

caf::expected<pqxx::connection*> lazy_connection::get() {
  if (conn_ && conn_->is_open() && !server_hung_up(*conn_))
    return conn_.get();
  conn_.reset();
  auto c = connect(url_);
  if (!c)
    return c.error();
  conn_ = std::move(*c);
  return conn_.get();
}

caf::error guard(const std::function<void()>& work) {
  try {
    work();
    return caf::none;
  } catch (const pqxx::broken_connection& e) {
    return make_error(ec::database_unavailable, one_line(e.what()));
  } catch (const std::exception& e) {
    return make_error(ec::database_error, one_line(e.what()));
  }
}

namespace {
constexpr std::int64_t migrate_lock_key = 0x72656364'6d696772; // "recdmigr"
}

caf::expected<migrate_report> migrate(pqxx::connection& c, std::uint32_t partitions) {
  migrate_report report;
  auto err = guard([&] {
    // The advisory lock belongs to the session: it stays held across the
    // transactions below (libpqxx allows one open transaction at a time).
    {
      pqxx::nontransaction admin{c};
      admin.exec_params("SELECT pg_advisory_lock($1)", migrate_lock_key);
      admin.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, "
                 "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
      auto current = admin.exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
      report.from_version = current[0][0].as<int>();
      report.to_version = report.from_version;
    }
    try {
      for (const auto& m : migrations()) {
        if (m.version <= report.from_version)
          continue;
        pqxx::work tx{c};
        tx.exec(m.sql);
        tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                       m.name);
        tx.commit();
        report.to_version = m.version;
      }
      pqxx::work tx{c};
      auto row = tx.exec("SELECT value FROM recd_meta WHERE key = 'partitions'");
      if (row.empty()) {
        report.partitions = partitions == 0 ? 64 : partitions;
        tx.exec_params("INSERT INTO recd_meta (key, value) VALUES ('partitions', $1)",
                       std::to_string(report.partitions));
      } else {
        report.partitions = static_cast<std::uint32_t>(std::stoul(row[0][0].c_str()));
      }
      tx.commit();
    } catch (...) {
      pqxx::nontransaction unlock{c};
      unlock.exec_params("SELECT pg_advisory_unlock($1)", migrate_lock_key);
      throw;
    }
    pqxx::nontransaction unlock{c};
    unlock.exec_params("SELECT pg_advisory_unlock($1)", migrate_lock_key);
  });
  if (err)
    return err;
  if (partitions != 0 && partitions != report.partitions)
    return make_error(ec::invalid_argument,
                      "the schema was migrated with " + std::to_string(report.partitions) +
                        " partitions; the partition count cannot change (asked for " +
                        std::to_string(partitions) + ")");
  return report;
}

caf::expected<std::uint32_t> read_partitions(pqxx::connection& c) {
  std::uint32_t result = 0;
  bool found = false;
  auto err = guard([&] {
    pqxx::read_transaction tx{c};
    auto exists = tx.exec("SELECT to_regclass('recd_meta') IS NOT NULL");
    if (!exists[0][0].as<bool>())
      return;
    auto row = tx.exec("SELECT value FROM recd_meta WHERE key = 'partitions'");
    if (!row.empty()) {
      result = static_cast<std::uint32_t>(std::stoul(row[0][0].c_str()));
      found = true;
    }
  });
  if (err)
    return err;
  if (!found || result == 0)
    return make_error(ec::not_found, "the database has no recd schema: run `recd migrate` first");
  return result;
}

void copy_out(pqxx::transaction_base& tx, const std::string& select_sql,
              const std::function<void(std::string_view)>& on_line) {
  // libpqxx 6.4's stream_from issues `COPY <name> TO STDOUT`; a parenthesised
  // query is a valid <name> there.
  pqxx::stream_from stream{tx, "(" + select_sql + ")"};
  std::string line;
  while (stream.get_raw_line(line))
    on_line(line);
  stream.complete();
}

void split_copy_line(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  std::size_t start = 0;
  for (;;) {
    auto tab = line.find('\t', start);
    if (tab == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return;
    }
    fields.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

namespace {
template <class T>
std::string array_literal(const std::vector<T>& xs) {
  std::string out = "{";
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (i)
      out += ',';
    out += std::to_string(xs[i]);
  }
  out += '}';
  return out;
}
} // namespace

std::string int_array_literal(const std::vector<std::int32_t>& xs) { return array_literal(xs); }
std::string int_array_literal(const std::vector<std::uint32_t>& xs) { return array_literal(xs); }

} // namespace recd::store
