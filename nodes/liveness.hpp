#pragma once
// A node's liveness, as /healthz reports it: alive while every actor the node
// cannot work without is running. A watcher actor monitors them and flips the
// flag when one terminates, so a probe costs one atomic load and no message.
// Kubernetes restarts a pod whose /healthz fails: a shard node whose shard
// actor died must not keep answering 200.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace recd {

class liveness {
public:
  bool alive() const { return !dead_.load(std::memory_order_acquire); }
  // The first essential actor that terminated, and why ("" while alive).
  std::string cause() const;
  void mark_dead(std::string cause);

private:
  std::atomic<bool> dead_{false};
  mutable std::mutex mutex_;
  std::string cause_;
};

// Watches `essentials` (name, actor) until the system stops.
std::shared_ptr<liveness> watch_essentials(caf::actor_system& sys,
                                           std::vector<std::pair<std::string, caf::actor_addr>> essentials);

} // namespace recd
