#pragma once
// The `recd` subcommands. Each returns the process exit status and prints a
// one-line reason on stderr when it fails.
#include <optional>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "engine/synthetic.hpp"

namespace recd {

// The partition count fixed at migrate time, or a one-line reason on stderr.
std::optional<std::uint32_t> partition_count(const settings& cfg);

// app_role: "" or a role to create/update and hand recd's tables to
// (store/app_role.hpp); its password is read from RECD_APP_ROLE_PASSWORD.
int run_migrate(const settings& cfg, std::uint32_t partitions, const std::string& app_role);
int run_import_synthetic(const settings& cfg, const engine::synthetic_options& opt);
int run_import_movielens(const settings& cfg, const std::string& dir, bool rebase_time);
int run_import_csv(const settings& cfg, const std::string& file);
// coordinator_addr "" = in-process shards; else a cluster's coordinator host:port.
int run_compute(const settings& cfg, const std::vector<std::string>& jobs,
                const std::string& coordinator_addr);
// `recd admin cluster|rebalance --coordinator HOST:PORT`: asks a cluster's
// coordinator over the actor port.
int run_admin(const settings& cfg, const std::string& command, const std::string& coordinator_addr);

// An operator command for a node's admin port (nodes/cli_admin.cpp).
struct admin_command {
  std::string name;        // cluster, rebalance, jobs, run-job, drain, cache-flush, check
  std::string argument;    // run-job: the kind; drain: the shard; cache-flush: a user or ""
  std::string admin_addr;  // host:port; "" = admin.addr
  bool json = false;       // jobs, check: print the JSON as it came
  int wait_seconds = 120;  // drain: wait this long for the partitions to move (0: don't)
};
// Sends it with admin.token (RECD_ADMIN_TOKEN or admin.token_file).
int run_admin_http(const settings& cfg, const admin_command& cmd);
int run_serve(const settings& cfg, const std::string& role);

} // namespace recd
