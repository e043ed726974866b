// Two wire protocol versions meet (docs/cluster.md, "Upgrades"): a cluster of
// `recd` processes on 127.0.0.1 (support/cluster_harness.hpp) and nodes of
// `recd-wire-next`, the same sources built to claim the next wire version
// (tests/CMakeLists.txt), against one fresh PostgreSQL database and a private
// redis-server.
//
//   ANodeOfTheNextWireVersionIsRefusedClearlyUntilTheClusterRestartsAtIt
//     1. A shard node, an API node and a coordinator replica of the next
//        version start beside a running cluster. Each is refused at the
//        handshake (nothing it sends is ever decoded), says why in its log
//        (the leader's wire version and its own, from the lease), and stays
//        not ready: the shard node's /readyz and the standby's
//        /readyz/replica answer 503 and the API node opens no HTTP port, so
//        a rolling update stops at the first of them. The map and the answers do not change.
//     2. The documented procedure for a release that changes the wire
//        version: every node stops, and all start again at the new version.
//        The new leader records its version in the lease, the shards load
//        their partitions from PostgreSQL and the answers are the ones served
//        before.
//
// Every node still running at the end must exit with status 0 within 10 s of SIGTERM.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "protocol/version.hpp"
#include "support/api_client.hpp"
#include "support/cluster_harness.hpp"
#include "support/e2e_text.hpp"
#include "support/process.hpp"
#include "support/shop_data.hpp"
#include "support/test_database.hpp"

namespace recd::test {
namespace {

using namespace std::chrono_literals;

std::string next_binary() {
  const char* b = std::getenv("RECD_WIRE_NEXT_BINARY");
  if (!b || !*b)
    throw std::runtime_error("RECD_WIRE_NEXT_BINARY is not set: run the tests through ctest");
  return b;
}

// Waits until `n`'s log holds `text`; false after `timeout`.
bool log_says(const node& n, const std::string& text, std::chrono::milliseconds timeout) {
  const auto until = steady::now() + timeout;
  while (steady::now() < until) {
    if (slurp(n.log).find(text) != std::string::npos)
      return true;
    std::this_thread::sleep_for(100ms);
  }
  return slurp(n.log).find(text) != std::string::npos;
}

const std::vector<std::int64_t> sample_users{3, 250, 1700, 2999};

std::vector<std::vector<std::int64_t>> answers(std::uint16_t port) {
  std::vector<std::vector<std::int64_t>> out;
  for (auto u : sample_users) {
    auto r = recommend(port, u, 10, false);
    EXPECT_EQ(r.status, 200u) << show(r);
    EXPECT_FALSE(is_degraded(r)) << show(r);
    out.push_back(item_ids(r));
  }
  return out;
}

TEST(WireVersions, ANodeOfTheNextWireVersionIsRefusedClearlyUntilTheClusterRestartsAtIt) {
  test_database db{"cluster_upgrade"};
  import_shop(db, shop_spec{}, static_cast<unix_seconds>(std::time(nullptr)));
  redis_server redis;
  cluster c{"upgrade", db.url(), redis.url()};
  c.set_coordinator_replicas(2);
  const auto before = start_cluster(c, 2, 1);
  const auto api = c["api-0"].http;
  const auto served = answers(api);
  const auto current = std::to_string(wire_version());
  const auto next = std::to_string(wire_version() + 1);
  EXPECT_EQ(db.scalar("SELECT wire_version FROM coordinator_lease"), current);
  const std::string refusal = "speaks wire protocol " + current;
  const std::string own = "this node speaks wire protocol " + next;

  // 1. Nodes of the next version beside the running cluster.
  c.set_binary(next_binary());
  auto& shard = c.start_shard(2);
  auto& node_api = c.start_api(1);
  auto& standby = c.start_coordinator(1);
  c.wait_http_ok(standby, "/healthz", 15s);
  for (auto* n : {&shard, &node_api, &standby}) {
    const auto says = n == &standby ? "not ready to replace the leader" : "cannot join the cluster";
    EXPECT_TRUE(log_says(*n, says, 15s)) << n->name << " did not say why:\n" << tail(slurp(n->log));
    const auto log = slurp(n->log);
    EXPECT_NE(log.find(refusal), std::string::npos) << n->name << ":\n" << tail(log);
    EXPECT_NE(log.find(own), std::string::npos) << n->name << ":\n" << tail(log);
  }
  EXPECT_EQ(get(shard.http, "/readyz").status, 503u);
  // An API node opens its HTTP port once it follows a coordinator: until
  // then its probes are refused, which Kubernetes counts as not ready.
  EXPECT_NE(get(node_api.http, "/readyz").status, 200u);
  auto standby_ready = get(standby.http, "/readyz/replica");
  EXPECT_EQ(standby_ready.status, 503u) << show(standby_ready);
  EXPECT_NE(standby_ready.body.find(refusal), std::string::npos) << show(standby_ready);
  // The leader of the running version is ready as a replica; the admin port
  // answers the same probe.
  EXPECT_EQ(get(c.coordinator_http(0), "/readyz/replica").status, 200u);
  auto admin_probe = request("GET", loopback, c.coordinator_admin(1), "/readyz/replica", "",
                             "application/json", 2s);
  EXPECT_EQ(admin_probe.status, 503u) << show(admin_probe);

  // Nothing changed: the same map (no shard-2), the same lease, the same answers.
  auto now = c.map();
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->epoch, before.epoch) << now->raw;
  EXPECT_EQ(now->shard("shard-2"), nullptr) << now->raw;
  EXPECT_TRUE(balance_problem(*now, {"shard-0", "shard-1"}).empty()) << now->raw;
  EXPECT_EQ(db.scalar("SELECT wire_version FROM coordinator_lease"), current);
  EXPECT_EQ(answers(api), served);

  // They stop cleanly while waiting.
  for (auto* n : {&node_api, &shard, &standby}) {
    auto status = c.stop(*n);
    EXPECT_TRUE(status.has_value()) << n->name << " did not stop on SIGTERM";
  }

  // 2. A full restart at the next version.
  for (const char* name : {"api-0", "shard-0", "shard-1", "coordinator"})
    EXPECT_EQ(c.stop(c[name]), std::optional<int>{0}) << name;
  const auto after = start_cluster(c, 2, 1);
  EXPECT_TRUE(after.ready);
  EXPECT_EQ(db.scalar("SELECT wire_version FROM coordinator_lease"), next);
  EXPECT_EQ(answers(c["api-0"].http), served);
}

} // namespace
} // namespace recd::test
