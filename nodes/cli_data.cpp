// `recd migrate` and `recd import ...`: blocking database work on the main thread.
#include <cstdio>
#include <cstdlib>

#include "nodes/commands.hpp"
#include "store/app_role.hpp"
#include "store/database.hpp"
#include "store/importer.hpp"

namespace recd {

namespace {

int fail(const caf::error& err) {
  std::fprintf(stderr, "recd: %s\n", describe(err).c_str());
  return 1;
}

caf::expected<store::connection_ptr> open_migrated(const settings& cfg) {
  auto conn = store::connect(store::conninfo(cfg.postgres, store::session::job));
  if (!conn)
    return conn.error();
  auto partitions = store::read_partitions(**conn);
  if (!partitions)
    return partitions.error();
  return conn;
}

int report(const caf::expected<store::import_report>& r) {
  if (!r)
    return fail(r.error());
  std::printf("imported %lld events (%lld new users, %lld new items)\n",
              static_cast<long long>(r->events), static_cast<long long>(r->users_created),
              static_cast<long long>(r->items_created));
  return 0;
}

} // namespace

std::optional<std::uint32_t> partition_count(const settings& cfg) {
  auto conn = store::connect(store::conninfo(cfg.postgres, store::session::job));
  if (!conn) {
    fail(conn.error());
    return std::nullopt;
  }
  auto p = store::read_partitions(**conn);
  if (!p) {
    fail(p.error());
    return std::nullopt;
  }
  return *p;
}

int run_migrate(const settings& cfg, std::uint32_t partitions, const std::string& app_role) {
  auto conn = store::connect(store::conninfo(cfg.postgres, store::session::job));
  if (!conn)
    return fail(conn.error());
  auto r = store::migrate(**conn, partitions != 0 ? partitions
                                                  : static_cast<std::uint32_t>(cfg.cluster.partitions));
  if (!r)
    return fail(r.error());
  std::printf("schema at version %d (was %d), %u partitions\n", r->to_version, r->from_version,
              r->partitions);
  if (!app_role.empty()) {
    const char* password = std::getenv("RECD_APP_ROLE_PASSWORD");
    if (auto err = store::grant_app_role(**conn, app_role, password ? password : ""))
      return fail(err);
    std::printf("role %s owns recd's tables and sequences (LOGIN NOSUPERUSER NOCREATEDB "
                "NOCREATEROLE)\n", app_role.c_str());
  }
  return 0;
}

int run_import_synthetic(const settings& cfg, const engine::synthetic_options& opt) {
  auto conn = open_migrated(cfg);
  if (!conn)
    return fail(conn.error());
  return report(store::import_synthetic(**conn, opt));
}

int run_import_movielens(const settings& cfg, const std::string& dir, bool rebase_time) {
  auto conn = open_migrated(cfg);
  if (!conn)
    return fail(conn.error());
  store::movielens_options opt;
  opt.dir = dir;
  opt.rebase_time = rebase_time;
  return report(store::import_movielens(**conn, opt));
}

int run_import_csv(const settings& cfg, const std::string& file) {
  auto conn = open_migrated(cfg);
  if (!conn)
    return fail(conn.error());
  return report(store::import_csv(**conn, file));
}

} // namespace recd
