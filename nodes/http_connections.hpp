#pragma once
// The connection registry behind http_server.cpp: which sessions live (so
// that stop() can close them and wait for them), which of them hold one of the
// max_connections slots, and which are idle, oldest first, for eviction.
// Thread-safe (one mutex); `Session` is the server's connection type, held
// weakly so that the registry never keeps a connection alive.
//
// Contract (see "Bounds" in http_server.hpp):
//   * a new connection is admitted idle: it has sent nothing yet;
//   * at the cap, admit() takes the slot of the longest-idle connection and
//     hands that one back as the victim, which the caller closes; with none
//     idle the new connection is refused (a 503), and beyond max_refusing
//     refusals in flight it is dropped without a reply;
//   * a connection stops being idle when its first byte arrives (mark_busy),
//     and learns then whether it was evicted meanwhile.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace recd::http {

// At most this many connections at once are being answered the 503 of a
// full server; beyond that a new connection is closed without a reply, so a
// connection flood cannot grow the refusals themselves without bound.
constexpr std::size_t max_refusing = 64;

enum class admission { serve, refuse, drop };

template <class Session>
class connection_registry {
public:
  explicit connection_registry(std::size_t max_connections) : max_connections_(max_connections) {}

  // Registers a new session and decides whether it is served. At the cap the
  // longest-idle session gives its slot to the new one and is returned in
  // `victim` for the caller to close.
  admission admit(const std::shared_ptr<Session>& s, std::shared_ptr<Session>& victim) {
    std::lock_guard lock{sessions_mu};
    if (stopping)
      return admission::drop;
    if (slots_used >= max_connections_ && !idle.empty()) {
      auto oldest = idle.begin();
      auto& e = sessions.at(oldest->second);
      idle.erase(oldest);
      e.idle_key = 0;
      e.evicted = true;
      e.holds_slot = false;
      --slots_used;
      victim = e.weak.lock();
    }
    if (slots_used < max_connections_) {
      // Idle from the start (it has sent nothing yet), and so in accept
      // order: the next admission at the cap may already evict it.
      const auto key = ++idle_seq;
      sessions.emplace(s.get(), entry{s, true, false, key});
      idle.emplace(key, s.get());
      ++slots_used;
      return admission::serve;
    }
    if (refusing >= max_refusing)
      return admission::drop;
    sessions.emplace(s.get(), entry{s, false, false, 0});
    ++refusing;
    return admission::refuse;
  }

  // The session waits for the first byte of a request: it may be evicted.
  void mark_idle(const Session* s) {
    std::lock_guard lock{sessions_mu};
    auto it = sessions.find(s);
    if (it == sessions.end() || it->second.evicted || !it->second.holds_slot ||
        it->second.idle_key != 0)
      return;
    it->second.idle_key = ++idle_seq;
    idle.emplace(it->second.idle_key, s);
  }

  // The session's idle wait ended. True if it was chosen for eviction
  // meanwhile (it must then close).
  bool mark_busy(const Session* s) {
    std::lock_guard lock{sessions_mu};
    auto it = sessions.find(s);
    if (it == sessions.end())
      return true;
    if (it->second.idle_key != 0) {
      idle.erase(it->second.idle_key);
      it->second.idle_key = 0;
    }
    return it->second.evicted;
  }

  void remove(const Session* s) {
    {
      std::lock_guard lock{sessions_mu};
      auto it = sessions.find(s);
      if (it != sessions.end()) {
        if (it->second.idle_key != 0)
          idle.erase(it->second.idle_key);
        if (it->second.holds_slot)
          --slots_used;
        else if (!it->second.evicted)
          --refusing;
        sessions.erase(it);
      }
    }
    sessions_cv.notify_all();
  }

  std::size_t connections() const {
    std::lock_guard lock{sessions_mu};
    return slots_used;
  }

  // Refuses new sessions from now on and returns the live ones.
  std::vector<std::shared_ptr<Session>> begin_stop() {
    std::lock_guard lock{sessions_mu};
    stopping = true;
    std::vector<std::shared_ptr<Session>> live;
    for (auto& [_, e] : sessions)
      if (auto s = e.weak.lock())
        live.push_back(std::move(s));
    return live;
  }

  void wait_for_sessions(std::chrono::milliseconds timeout) {
    std::unique_lock lock{sessions_mu};
    sessions_cv.wait_for(lock, timeout, [&] { return sessions.empty(); });
  }

private:
  const std::size_t max_connections_;
  // All under sessions_mu.
  struct entry {
    std::weak_ptr<Session> weak;
    bool holds_slot = false;
    bool evicted = false;
    std::uint64_t idle_key = 0; // its key in `idle`, 0 if not idle
  };
  mutable std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  bool stopping = false;
  std::unordered_map<const Session*, entry> sessions;
  std::map<std::uint64_t, const Session*> idle;
  std::uint64_t idle_seq = 0;
  std::size_t slots_used = 0;
  std::size_t refusing = 0;
};

} // namespace recd::http
