#include "nodes/actor_system.hpp"

#include <thread>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>

#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"
#include "protocol/version.hpp"
#include "nodes/tls_error_queue.hpp"

#include <spdlog/spdlog.h>

namespace recd {

void configure(caf::actor_system_config& acfg, const settings& cfg) {
  add_message_types(acfg);
  auto threads = cfg.cluster.scheduler_threads > 0
                   ? static_cast<std::size_t>(cfg.cluster.scheduler_threads)
                   : std::max<std::size_t>(2, std::thread::hardware_concurrency());
  acfg.set("scheduler.max-threads", threads);
}

void configure_network(caf::actor_system_config& acfg, const settings& cfg) {
  acfg.load<caf::io::middleman>();
  // The deployment and the wire version (protocol/version.hpp): the handshake
  // refuses a node of another deployment or of another wire version.
  acfg.set("middleman.app-identifiers", std::vector<std::string>{wire_identifier(cfg.cluster.app_id)});
  // CAF 0.17's automatic connections open an extra plain-TCP port on every
  // interface and advertise every non-loopback address; recd turns them off
  // and API nodes dial shard nodes at their advertised addresses instead
  // (nodes/node_runtime: spawn_shard_dialer), over TLS when it is on.
  acfg.set("middleman.enable-automatic-connections", false);
  acfg.set("middleman.heartbeat-interval",
           caf::timespan{std::chrono::milliseconds{cfg.cluster.heartbeat_ms}});
  acfg.set("middleman.connection-timeout",
           caf::timespan{std::chrono::milliseconds{cfg.cluster.connection_timeout_ms}});
  if (tls_enabled(cfg)) {
    acfg.load<caf::openssl::manager>();
    acfg.openssl_certificate = cfg.cluster.tls_certificate;
    acfg.openssl_key = cfg.cluster.tls_key;
    acfg.openssl_passphrase = cfg.cluster.tls_passphrase;
    acfg.openssl_cafile = cfg.cluster.tls_cafile;
    if (!tls_error_queue_guarded())
      spdlog::error("this build's OpenSSL error-queue guard is not in effect: one refused TLS "
                    "peer can cut every connection of this node (nodes/tls_error_queue.cpp)");
  }
}

bool tls_enabled(const settings& cfg) { return !cfg.cluster.tls_certificate.empty(); }

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

template <class Handle>
caf::expected<std::uint16_t> publish_node(caf::actor_system& sys, const Handle& whom,
                                          const settings& cfg) {
  auto port = static_cast<std::uint16_t>(cfg.cluster.port);
  // The actor port commands the node (docs/security.md): beyond loopback only
  // peers that prove with TLS that they belong to the deployment may reach it.
  if (!tls_enabled(cfg) && !is_loopback(cfg.cluster.bind)) {
    if (cfg.cluster.insecure == 0)
      return make_error(ec::invalid_argument,
                        "cluster.bind '" + cfg.cluster.bind +
                          "' is not a loopback address and TLS is off: set cluster.tls_certificate, "
                          "tls_key and tls_cafile, or cluster.insecure = 1 to accept that anyone "
                          "who reaches the port can command this node");
    spdlog::warn("cluster.insecure = 1: the actor port {}:{} takes plain TCP beyond loopback; "
                 "anyone who reaches it can command this node",
                 cfg.cluster.bind, cfg.cluster.port);
  }
  if (tls_enabled(cfg))
    return caf::openssl::publish(whom, port, cfg.cluster.bind.c_str(), true);
  return sys.middleman().publish(whom, port, cfg.cluster.bind.c_str(), true);
}

template <class Handle>
caf::expected<Handle> connect_node(caf::actor_system& sys, const std::string& host,
                                   std::uint16_t port, const settings& cfg) {
  if (tls_enabled(cfg))
    return caf::openssl::remote_actor<Handle>(sys, host, port);
  return sys.middleman().remote_actor<Handle>(host, port);
}

template caf::expected<std::uint16_t> publish_node(caf::actor_system&, const coordinator_actor&,
                                                   const settings&);
template caf::expected<std::uint16_t> publish_node(caf::actor_system&, const shard_actor&,
                                                   const settings&);
template caf::expected<coordinator_actor> connect_node(caf::actor_system&, const std::string&,
                                                       std::uint16_t, const settings&);
template caf::expected<shard_actor> connect_node(caf::actor_system&, const std::string&,
                                                 std::uint16_t, const settings&);

} // namespace recd
