// `recd compute`: an in-process coordinator and shards in jobs-only mode run
// the jobs against the database; a running `recd serve` picks the published
// runs up by polling job_runs.
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/coordinator.hpp"
#include "nodes/leadership.hpp"
#include "actors/shard.hpp"
#include "nodes/local_cluster.hpp"
#include "nodes/actor_system.hpp"
#include "nodes/commands.hpp"
#include "nodes/node_runtime.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"

namespace recd {

namespace {

using clock = std::chrono::steady_clock;

// Prints (progress_atom, run_progress) as percent, rate and ETA: in place on
// a terminal, a line every few seconds otherwise. Two kinds may report at
// once (embeddings run beside the similarity kinds): each has its own start
// and rate, and a line of another kind than the last starts a new line, at
// most every few seconds per kind.
run_progress_sink::behavior_type progress_printer(run_progress_sink::pointer self) {
  struct kind_state {
    clock::time_point start = clock::now();
    clock::time_point last_line = clock::now() - std::chrono::hours{1};
  };
  auto tty = ::isatty(STDERR_FILENO) != 0;
  auto kinds = std::make_shared<std::map<int, kind_state>>();
  auto current = std::make_shared<int>(-1); // the kind of the last line printed
  return {
    [=](progress_atom, const run_progress& p) {
      const auto& [kind, done, total, rows] = p;
      auto& ks = (*kinds)[static_cast<int>(kind)];
      auto now = clock::now();
      const bool in_place = tty && static_cast<int>(kind) == *current;
      if (!in_place && now - ks.last_line < std::chrono::seconds{5} && done < total)
        return;
      if (tty && *current >= 0 && !in_place)
        std::fputc('\n', stderr);
      *current = static_cast<int>(kind);
      ks.last_line = now;
      double secs = std::chrono::duration<double>(now - ks.start).count();
      double rate = secs > 0.2 ? double(done) / secs : 0;
      double pct = total > 0 ? 100.0 * double(done) / double(total) : 100.0;
      double eta = rate > 0 && total > done ? double(total - done) / rate : 0;
      const char* unit = kind == job_kind::embeddings ? "sweeps" : "rows";
      char speed[64] = "rate -  ETA -";
      if (rate > 0)
        std::snprintf(speed, sizeof speed, "%.1f %s/s  ETA %.0fs", rate, unit, eta);
      std::fprintf(stderr, "%s%-16s %5.1f%%  %llu/%llu %s  %s  %llu results%s", tty ? "\r" : "",
                   to_string(kind), pct, static_cast<unsigned long long>(done),
                   static_cast<unsigned long long>(total), unit, speed,
                   static_cast<unsigned long long>(rows), tty ? "   " : "\n");
      std::fflush(stderr);
      (void)self;
    },
  };
}

} // namespace

namespace {

// Sends the request to the coordinator and prints the summary table.
int request_jobs(caf::actor_system& sys, const coordinator_actor& coordinator,
                 const std::vector<job_kind>& kinds) {
  auto printer = sys.spawn(progress_printer);
  int status = 0;
  {
    caf::scoped_actor self{sys};
    // Watched while it works: a coordinator that dies (or a node cut off)
    // ends the wait with an error instead of leaving the command hanging.
    // The answer to this plain send comes back as an ordinary message.
    self->monitor(coordinator);
    self->send(coordinator, compute_atom_v, kinds, printer);
    self->receive(
        [&](caf::down_msg& down) {
          if (::isatty(STDERR_FILENO))
            std::fputc('\n', stderr);
          std::fprintf(stderr, "recd: the coordinator went away before the jobs finished (%s)\n",
                       caf::to_string(down.reason).c_str());
          status = 1;
        },
        [&](const std::vector<job_summary>& summaries) {
          if (::isatty(STDERR_FILENO))
            std::fputc('\n', stderr);
          std::printf("%-16s %8s %12s %14s %10s\n", "job", "run", "inputs", "result rows",
                      "seconds");
          for (const auto& s : summaries)
            std::printf("%-16s %8lld %12llu %14llu %10.2f\n", to_string(s.kind),
                        static_cast<long long>(s.run_id),
                        static_cast<unsigned long long>(s.inputs),
                        static_cast<unsigned long long>(s.rows), s.seconds);
        },
        [&](caf::error& err) {
          if (::isatty(STDERR_FILENO))
            std::fputc('\n', stderr);
          std::fprintf(stderr, "recd: %s\n", describe(err).c_str());
          status = 1;
        });
  }
  caf::anon_send_exit(printer, caf::exit_reason::user_shutdown);
  return status;
}

// One attempt to reach a cluster's leading coordinator (CLI commands: no
// retries): `addr` names the replicas (host:port[,host:port...]); the lease in
// PostgreSQL names the leader when there is one. nullopt with a one-line
// reason on stderr.
std::optional<coordinator_actor> reach_coordinator(caf::actor_system& sys,
                                                   const std::string& addr, const settings& cfg) {
  auto dial = coordinator_replicas(addr);
  for (const auto& a : dial)
    if (split_host_port(a).second <= 0) {
      std::fprintf(stderr,
                   "recd: the coordinator address must be host:port[,host:port...], not '%s'\n",
                   addr.c_str());
      return std::nullopt;
    }
  if (dial.empty()) {
    std::fprintf(stderr, "recd: no coordinator address given\n");
    return std::nullopt;
  }
  if (dial.size() > 1) // one address named on purpose is dialed as given
    dial = leader_candidates(cfg, dial);
  for (const auto& a : dial) {
    auto [host, port] = split_host_port(a);
    auto coordinator =
      connect_node<coordinator_actor>(sys, host, static_cast<std::uint16_t>(port), cfg);
    if (coordinator)
      return *coordinator;
    std::fprintf(stderr, "recd: cannot reach the coordinator at %s: %s\n", a.c_str(),
                 sys.render(coordinator.error()).c_str());
  }
  if (auto refusal = wire_refusal(cfg))
    std::fprintf(stderr, "recd: %s\n", refusal->c_str());
  return std::nullopt;
}

} // namespace

int run_compute(const settings& cfg, const std::vector<std::string>& jobs,
                const std::string& coordinator_addr) {
  std::vector<job_kind> kinds;
  for (const auto& j : jobs)
    if (auto kind = parse_job_kind(j))
      kinds.push_back(*kind);
    else {
      std::fprintf(stderr, "recd: compute: unknown job '%s'\n", j.c_str());
      return 2;
    }
  if (!coordinator_addr.empty()) {
    // A cluster: the coordinator runs the jobs on its shard nodes.
    caf::actor_system_config acfg;
    configure(acfg, cfg);
    configure_network(acfg, cfg);
    caf::actor_system sys{acfg};
    auto coordinator = reach_coordinator(sys, coordinator_addr, cfg);
    if (!coordinator)
      return 1;
    return request_jobs(sys, *coordinator, kinds);
  }
  auto counted = partition_count(cfg);
  if (!counted)
    return 1;
  auto partitions = *counted;
  caf::actor_system_config acfg;
  configure(acfg, cfg);
  caf::actor_system sys{acfg};
  auto local = spawn_local_cluster(sys, cfg, partitions, false);
  auto status = request_jobs(sys, local.coordinator, kinds);
  local.stop();
  return status;
}

int run_admin(const settings& cfg, const std::string& command, const std::string& coordinator_addr) {
  caf::actor_system_config acfg;
  configure(acfg, cfg);
  configure_network(acfg, cfg);
  caf::actor_system sys{acfg};
  auto coordinator =
    reach_coordinator(sys, coordinator_addr.empty() ? cfg.cluster.coordinator : coordinator_addr, cfg);
  if (!coordinator)
    return 1;
  int status = 0;
  caf::scoped_actor self{sys};
  auto fail = [&](caf::error& err) {
    std::fprintf(stderr, "recd: %s\n", describe(err).c_str());
    status = 1;
  };
  if (command == "rebalance")
    self->request(*coordinator, std::chrono::seconds{30}, rebalance_atom_v)
      .receive([&](std::uint64_t epoch) { std::printf("rebalance started at epoch %llu\n",
                                                      static_cast<unsigned long long>(epoch)); },
               fail);
  else
    self->request(*coordinator, std::chrono::seconds{30}, cluster_atom_v)
      .receive([&](const std::string& map) { std::printf("%s\n", map.c_str()); }, fail);
  return status;
}

} // namespace recd
