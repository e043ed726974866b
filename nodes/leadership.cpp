#include "nodes/leadership.hpp"

#include <chrono>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "protocol/version.hpp"
#include "store/database.hpp"
#include "store/leadership.hpp"

#ifndef RECD_VERSION
#define RECD_VERSION "unknown"
#endif

namespace recd {

namespace {

using clock = std::chrono::steady_clock;

std::optional<store::connection_ptr> open(const settings& cfg) {
  auto c = store::connect(store::conninfo(cfg.postgres, store::session::serving));
  if (!c)
    return std::nullopt;
  return std::move(*c);
}

// Why a node of this build cannot follow `lease`'s leader, if it cannot.
std::optional<std::string> version_gap(const store::lease_holder& lease) {
  if (lease.wire_version == 0 || lease.wire_version == wire_version())
    return std::nullopt;
  return fmt::format("the leading coordinator {} at {} speaks wire protocol {} (recd {}); this "
                     "node speaks wire protocol {} (recd {}). Nodes of two wire versions never "
                     "talk to each other: see docs/cluster.md, \"Upgrades\"",
                     lease.holder, lease.address, lease.wire_version,
                     lease.release.empty() ? "unknown" : lease.release, wire_version(),
                     release_name());
}

} // namespace

std::string release_name() { return RECD_VERSION; }

std::optional<std::string> standby_status::blocker() const {
  std::lock_guard lock{mutex_};
  return blocker_;
}

void standby_status::set_blocker(std::optional<std::string> why) {
  std::lock_guard lock{mutex_};
  blocker_ = std::move(why);
}

std::optional<std::string> wire_refusal(const settings& cfg) {
  try {
    if (auto c = open(cfg))
      if (auto lease = store::read_lease(**c))
        return version_gap(*lease);
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::string advertised_address(const settings& cfg) {
  return !cfg.cluster.advertise.empty() ? cfg.cluster.advertise
                                        : cfg.cluster.bind + ":" + std::to_string(cfg.cluster.port);
}

std::optional<std::int64_t> await_lease(const settings& cfg, const std::string& holder,
                                        sigset_t& signals, standby_status& status) {
  const auto address = advertised_address(cfg);
  const auto pause = std::chrono::milliseconds{std::max(cfg.cluster.lease_ms / 6, 50)};
  store::connection_ptr conn;
  bool told = false;
  std::optional<std::string> gap_told;
  for (;;) {
    try {
      if (!conn) {
        if (auto c = open(cfg))
          conn = std::move(*c);
      }
      if (!conn)
        status.set_blocker("PostgreSQL is not reachable");
      if (conn) {
        if (auto term = store::acquire_lease(*conn, holder, address, cfg.cluster.lease_ms,
                                             wire_version(), release_name()))
          return *term;
        auto now = store::read_lease(*conn);
        if (now && !told) {
          spdlog::info("standing by: coordinator {} at {} leads (term {})", now->holder,
                       now->address, now->term);
          told = true;
        }
        // A leader of another wire version: this replica must not replace
        // it while it lives (it would lead nodes that cannot talk to it). If
        // the lease expires all the same, the replica takes it (above).
        auto gap = now ? version_gap(*now) : std::nullopt;
        if (gap && gap != gap_told)
          spdlog::error("standing by, not ready to replace the leader: {}", *gap);
        gap_told = gap;
        status.set_blocker(std::move(gap));
      }
    } catch (const std::exception& e) {
      spdlog::warn("standing by: the lease could not be read: {}", e.what());
      status.set_blocker(std::string{"the lease could not be read: "} + e.what());
      conn.reset();
    }
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(pause).count();
    timespec wait{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    if (sigtimedwait(&signals, nullptr, &wait) > 0)
      return std::nullopt;
  }
}

std::vector<job_kind> orphaned_runs(const settings& cfg, std::int64_t term) {
  std::vector<job_kind> out;
  try {
    if (auto c = open(cfg))
      for (const auto& name : store::orphaned_run_kinds(**c, term))
        if (auto kind = parse_job_kind(name))
          out.push_back(*kind);
  } catch (const std::exception& e) {
    spdlog::warn("runs left by an earlier leader could not be read: {}", e.what());
  }
  return out;
}

void end_older_terms_sessions(const settings& cfg, std::int64_t term) {
  try {
    if (auto c = open(cfg))
      if (auto ended = store::end_job_sessions_of_older_terms(**c, term); ended > 0)
        spdlog::warn("ended {} job session(s) of deposed leaders (their job locks with them)",
                     ended);
  } catch (const std::exception& e) {
    spdlog::warn("the job sessions of deposed leaders could not be ended: {}", e.what());
  }
}

lease_renewal::lease_renewal(const settings& cfg, std::int64_t term)
  : cfg_{cfg}, term_{term}, thread_{[this] { run(); }} {}

lease_renewal::~lease_renewal() { stop_thread(); }

void lease_renewal::stop_thread() {
  {
    std::lock_guard lock{mutex_};
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void lease_renewal::release() {
  stop_thread();
  try {
    if (auto c = open(cfg_))
      store::release_lease(**c, term_);
    spdlog::info("released the coordinator lease (term {})", term_);
  } catch (const std::exception& e) {
    spdlog::warn("releasing the lease failed (it expires by itself): {}", e.what());
  }
}

void lease_renewal::run() {
  const auto lease = std::chrono::milliseconds{cfg_.cluster.lease_ms};
  auto confirmed = clock::now(); // the lease was taken just before this thread started
  store::connection_ptr conn;
  std::unique_lock lock{mutex_};
  for (;;) {
    if (wake_.wait_for(lock, lease / 3, [this] { return stop_; }))
      return;
    lock.unlock();
    const auto asked = clock::now();
    bool lost = false;
    try {
      if (!conn)
        if (auto c = open(cfg_))
          conn = std::move(*c);
      if (conn) {
        if (store::renew_lease(*conn, term_, cfg_.cluster.lease_ms))
          confirmed = asked; // valid until `asked + lease` at the latest, by any clock
        else
          lost = true;
      }
    } catch (const std::exception& e) {
      spdlog::warn("renewing the coordinator lease failed: {}", e.what());
      conn.reset();
    }
    // Leave before a standby may lead: the lease confirmed at `confirmed`
    // lasts until confirmed + lease; a margin of a third covers this check.
    if (lost || clock::now() - confirmed > lease - lease / 3) {
      spdlog::critical("lost the coordinator lease (term {}{}): exiting so that a standby leads",
                       term_, lost ? ", another replica took it" : ", PostgreSQL did not confirm it");
      spdlog::default_logger()->flush();
      std::_Exit(3);
    }
    lock.lock();
  }
}

std::optional<std::string> leader_address(const settings& cfg) {
  try {
    if (auto c = open(cfg))
      if (auto lease = store::read_lease(**c))
        return lease->address;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::vector<std::string> leader_candidates(const settings& cfg,
                                           const std::vector<std::string>& replicas) {
  if (auto leader = leader_address(cfg))
    return {*leader};
  return replicas;
}

} // namespace recd
