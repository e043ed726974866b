#pragma once
// Child processes for the whole-system tests: a generic fork/exec wrapper
// (extra environment, stdout+stderr captured to a file, signals, waiting with
// a timeout), a private redis-server, and a running `recd serve`.
//
// Children get PR_SET_PDEATHSIG(SIGKILL): if the test binary dies, they die
// with it (the signal is tied to the thread that forked, so start children
// from the test's main thread).
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/ports.hpp"

namespace recd::test {

using env_list = std::vector<std::pair<std::string, std::string>>;

// `base` with each variable of `overrides` replacing the one of the same name,
// or appended if `base` has none.
env_list override_env(env_list base, const env_list& overrides);

class child_process {
public:
  // Starts argv[0] (searched in PATH when it has no '/') with the current
  // environment plus `extra_env` (which replaces variables of the same name);
  // stdout and stderr are appended to `log_path`. Throws std::runtime_error if
  // fork fails; an exec failure makes the child exit with status 127.
  child_process(std::vector<std::string> argv, const env_list& extra_env, std::string log_path);
  // SIGKILLs the child if it still runs, and reaps it.
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  // True while the child has not exited (reaps it if it just did).
  bool running();
  // Sends `sig` if the child still runs.
  void signal(int sig);
  // Waits up to `timeout` for the child to exit; its wait status, or nullopt.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  // The wait status once the child has been reaped.
  std::optional<int> status() const { return status_; }
  // The last `max_bytes` of the log file.
  std::string log_tail(std::size_t max_bytes = 4000) const;

private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> status_;
};

// free_port(): a loopback port reserved for this process (support/ports.hpp).

// A scratch file path unique to this process: /tmp/recd_e2e_<pid>_<n>_<name>.
std::string temp_path(const std::string& name);

// `text` quoted for /bin/sh (single quotes).
std::string shell_quote(const std::string& text);

// One RESP reply: type is '+', '-', ':', '$' or '*' (arrays are flattened
// into `elements`); nil is true for a null bulk string or array.
struct redis_reply {
  char type = 0;
  std::string text;
  bool nil = false;
  std::vector<std::string> elements;
};

// Sends one command over a fresh connection to 127.0.0.1:port (2 s timeout).
// nullopt if Redis did not answer.
std::optional<redis_reply> redis_command(std::uint16_t port, const std::vector<std::string>& args);

// A private redis-server on 127.0.0.1 that lives in the foreground as our
// child: --save '' --appendonly no, so stopping it loses everything.
class redis_server {
public:
  // Picks a free port and starts the server (see start()).
  redis_server();
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  bool running() const { return proc_ != nullptr; }

  // Starts redis-server on port() and waits (up to 10 s) until PING answers
  // PONG; throws std::runtime_error otherwise. No-op if already running.
  void start();
  // SIGKILLs the server (as if it crashed) and waits until the port refuses connections.
  void stop();

  // A command to this server (see redis_command).
  std::optional<redis_reply> command(const std::vector<std::string>& args) const {
    return redis_command(port_, args);
  }

private:
  std::uint16_t port_;
  std::string log_path_;
  std::unique_ptr<child_process> proc_;
};

// `$RECD_BINARY serve` on 127.0.0.1:<free port> against the given database and
// Redis, with RECD_JOBS_POLL_SECONDS=1 and `extra_env`, and its admin port on
// 127.0.0.1:0 (the bound port is read from the log line "admin on HOST:PORT").
// Secrets such as RECD_ADMIN_TOKEN go in `extra_env`, never in argv. The
// constructor waits until GET /readyz answers 200 (30 s) and throws
// std::runtime_error (with the log's tail) if it does not. The destructor sends SIGTERM and records a
// GoogleTest failure unless the server exits with status 0 within 10 s.
class recd_server {
public:
  recd_server(const std::string& postgres_url, const std::string& redis_url,
              const env_list& extra_env = {});
  ~recd_server();
  recd_server(const recd_server&) = delete;
  recd_server& operator=(const recd_server&) = delete;

  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  // The admin port (0 if the log did not name one).
  std::uint16_t admin_port() const { return admin_port_; }
  const std::string& log_path() const { return proc_->log_path(); }
  pid_t pid() const { return proc_->pid(); }
  std::string log_tail(std::size_t max_bytes = 4000) const { return proc_->log_tail(max_bytes); }

  // SIGTERM, then waits up to `timeout`; true if it exited cleanly (status 0)
  // in time. Kills it otherwise. Idempotent (later calls return the first result).
  bool stop(std::chrono::milliseconds timeout = std::chrono::seconds{10});

private:
  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  std::uint16_t admin_port_ = 0;
  std::unique_ptr<child_process> proc_;
  std::optional<bool> stopped_ok_;
};

// $RECD_BINARY (throws std::runtime_error if unset).
std::string recd_binary();

// A field of /proc/<pid>/status in MiB ("VmRSS", "VmHWM"), -1 if unreadable.
double status_mib(pid_t pid, const std::string& field);

} // namespace recd::test
