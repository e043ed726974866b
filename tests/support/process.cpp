#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "support/http_client.hpp"

extern char** environ;

namespace recd::test {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string{"killed by signal "} + ::strsignal(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// A connected TCP socket to 127.0.0.1:port with send/receive timeouts, or -1.
int connect_loopback(std::uint16_t port, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads a RESP reply from a socket, buffering.
class resp_reader {
public:
  explicit resp_reader(int fd) : fd_(fd) {}

  std::optional<std::string> line() {
    for (;;) {
      auto pos = buf_.find("\r\n");
      if (pos != std::string::npos) {
        auto l = buf_.substr(0, pos);
        buf_.erase(0, pos + 2);
        return l;
      }
      if (!fill())
        return std::nullopt;
    }
  }

  std::optional<std::string> bytes(std::size_t n) {
    while (buf_.size() < n + 2)
      if (!fill())
        return std::nullopt;
    auto b = buf_.substr(0, n);
    buf_.erase(0, n + 2);
    return b;
  }

  // One reply; nested arrays are flattened into `out.elements`.
  bool read(redis_reply& out, bool top = true) {
    auto l = line();
    if (!l || l->empty())
      return false;
    char type = (*l)[0];
    std::string rest = l->substr(1);
    if (top) {
      out.type = type;
      out.text.clear();
      out.nil = false;
    }
    switch (type) {
      case '+':
      case '-':
      case ':':
        if (top)
          out.text = rest;
        else
          out.elements.push_back(rest);
        return true;
      case '$': {
        long n = std::strtol(rest.c_str(), nullptr, 10);
        if (n < 0) {
          if (top)
            out.nil = true;
          return true;
        }
        auto b = bytes(static_cast<std::size_t>(n));
        if (!b)
          return false;
        if (top)
          out.text = *b;
        else
          out.elements.push_back(*b);
        return true;
      }
      case '*': {
        long n = std::strtol(rest.c_str(), nullptr, 10);
        if (n < 0) {
          if (top)
            out.nil = true;
          return true;
        }
        for (long i = 0; i < n; ++i)
          if (!read(out, false))
            return false;
        return true;
      }
      default:
        return false;
    }
  }

private:
  bool fill() {
    char tmp[4096];
    auto n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0)
      return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  std::string buf_;
};

} // namespace

// ---- child_process ----------------------------------------------------------------

child_process::child_process(std::vector<std::string> argv, const env_list& extra_env,
                             std::string log_path)
  : log_path_(std::move(log_path)) {
  if (argv.empty())
    throw std::invalid_argument("child_process: empty argv");
  // Everything the child needs is prepared before fork: after it only
  // async-signal-safe calls are made.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry{*e};
    auto eq = entry.find('=');
    auto name = entry.substr(0, eq);
    bool replaced = false;
    for (const auto& [k, v] : extra_env)
      replaced = replaced || k == name;
    if (!replaced)
      env.push_back(std::move(entry));
  }
  for (const auto& [k, v] : extra_env)
    env.push_back(k + "=" + v);
  std::vector<char*> argv_p, env_p;
  for (auto& a : argv)
    argv_p.push_back(a.data());
  argv_p.push_back(nullptr);
  for (auto& e : env)
    env_p.push_back(e.data());
  env_p.push_back(nullptr);

  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error("cannot open " + log_path_ + ": " + std::strerror(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    int err = errno;
    ::close(log_fd);
    ::close(null_fd);
    throw std::runtime_error(std::string{"fork: "} + std::strerror(err));
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(126);
    // Undo anything the test process did to signals.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    if (null_fd >= 0)
      ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // No inherited sockets or database connections in the child.
#ifdef SYS_close_range
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
#endif
    ::execvpe(argv_p[0], argv_p.data(), env_p.data());
    static const char msg[] = "child_process: exec failed\n";
    [[maybe_unused]] auto w = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0)
    ::close(null_fd);
}

child_process::~child_process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait_for(10s);
  }
}

bool child_process::running() {
  if (status_)
    return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    return false;
  }
  if (r < 0 && errno == ECHILD) {
    status_ = -1;
    return false;
  }
  return true;
}

void child_process::signal(int sig) {
  if (running())
    ::kill(pid_, sig);
}

std::optional<int> child_process::wait_for(std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  while (running()) {
    if (steady::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
  return status_;
}

std::string child_process::log_tail(std::size_t max_bytes) const {
  std::ifstream in{log_path_, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  auto s = ss.str();
  if (s.size() > max_bytes)
    s = "..." + s.substr(s.size() - max_bytes);
  return s;
}

// ---- helpers -----------------------------------------------------------------------

std::string temp_path(const std::string& name) {
  static std::atomic<int> n{0};
  return "/tmp/recd_e2e_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + "_" + name;
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::optional<redis_reply> redis_command(std::uint16_t port, const std::vector<std::string>& args) {
  int fd = connect_loopback(port, 2s);
  if (fd < 0)
    return std::nullopt;
  std::string req = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args)
    req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  std::size_t sent = 0;
  while (sent < req.size()) {
    auto n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return std::nullopt;
    }
    sent += static_cast<std::size_t>(n);
  }
  redis_reply reply;
  resp_reader reader{fd};
  bool ok = reader.read(reply);
  ::close(fd);
  if (!ok)
    return std::nullopt;
  return reply;
}

std::string recd_binary() {
  const char* b = std::getenv("RECD_BINARY");
  if (b == nullptr || *b == '\0')
    throw std::runtime_error("RECD_BINARY is not set: run the tests through ctest or scripts/test");
  return b;
}

// ---- redis_server ------------------------------------------------------------------

redis_server::redis_server() : port_(free_port()), log_path_(temp_path("redis.log")) { start(); }

redis_server::~redis_server() {
  if (proc_) {
    proc_->signal(SIGKILL);
    proc_->wait_for(10s);
  }
  std::remove(log_path_.c_str());
}

void redis_server::start() {
  if (proc_)
    return;
  proc_ = std::make_unique<child_process>(
    std::vector<std::string>{"redis-server", "--port", std::to_string(port_), "--bind",
                             "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"},
    env_list{}, log_path_);
  auto deadline = steady::now() + 10s;
  while (steady::now() < deadline) {
    if (!proc_->running()) {
      auto tail = proc_->log_tail();
      proc_.reset();
      throw std::runtime_error("redis-server on port " + std::to_string(port_) +
                               " exited at start:\n" + tail);
    }
    auto r = redis_command(port_, {"PING"});
    if (r && r->type == '+' && r->text == "PONG")
      return;
    std::this_thread::sleep_for(20ms);
  }
  auto tail = proc_->log_tail();
  proc_.reset(); // SIGKILL
  throw std::runtime_error("redis-server on port " + std::to_string(port_) +
                           " did not answer PING within 10 s:\n" + tail);
}

void redis_server::stop() {
  if (!proc_)
    return;
  proc_->signal(SIGKILL);
  if (!proc_->wait_for(10s))
    throw std::runtime_error("redis-server did not die after SIGKILL");
  proc_.reset();
  // The listening socket closes with the process; make sure of it.
  auto deadline = steady::now() + 5s;
  while (steady::now() < deadline) {
    int fd = connect_loopback(port_, 200ms);
    if (fd < 0)
      return;
    ::close(fd);
    std::this_thread::sleep_for(10ms);
  }
  throw std::runtime_error("port " + std::to_string(port_) + " still accepts after stopping redis");
}

env_list override_env(env_list base, const env_list& overrides) {
  for (const auto& [k, v] : overrides) {
    bool replaced = false;
    for (auto& [k2, v2] : base)
      if (k2 == k) {
        v2 = v;
        replaced = true;
      }
    if (!replaced)
      base.emplace_back(k, v);
  }
  return base;
}

// ---- recd_server -------------------------------------------------------------------

recd_server::recd_server(const std::string& postgres_url, const std::string& redis_url,
                         const env_list& extra_env)
  : port_(free_port()) {
  env_list env{{"RECD_POSTGRES_URL", postgres_url},
               {"RECD_REDIS_URL", redis_url},
               {"RECD_HTTP_ADDR", host_ + ":" + std::to_string(port_)},
               {"RECD_ADMIN_ADDR", host_ + ":0"},
               {"RECD_JOBS_POLL_SECONDS", "1"}};
  env = override_env(std::move(env), extra_env);
  proc_ = std::make_unique<child_process>(std::vector<std::string>{recd_binary(), "serve"}, env,
                                          temp_path("recd.log"));
  auto deadline = steady::now() + 30s;
  for (;;) {
    if (!proc_->running())
      throw std::runtime_error("recd serve exited before it was ready (" +
                               describe_status(proc_->status().value_or(-1)) + "), log " +
                               proc_->log_path() + ":\n" + proc_->log_tail());
    auto r = request("GET", host_, port_, "/readyz", "", "application/json",
                     std::chrono::milliseconds{1000});
    if (r.status == 200) {
      // The admin server starts before the node can be ready, so its line is logged.
      const auto log = proc_->log_tail(1 << 20);
      const std::string marker = "admin on " + host_ + ":";
      if (auto at = log.find(marker); at != std::string::npos)
        admin_port_ = static_cast<std::uint16_t>(std::atoi(log.c_str() + at + marker.size()));
      return;
    }
    if (steady::now() >= deadline) {
      auto tail = proc_->log_tail();
      stop(2s);
      throw std::runtime_error("recd serve was not ready within 30 s (last /readyz: " +
                               std::to_string(r.status) + " " + r.body + r.error + "), log " +
                               proc_->log_path() + ":\n" + tail);
    }
    std::this_thread::sleep_for(100ms);
  }
}

bool recd_server::stop(std::chrono::milliseconds timeout) {
  if (stopped_ok_)
    return *stopped_ok_;
  proc_->signal(SIGTERM);
  auto st = proc_->wait_for(timeout);
  if (!st) {
    proc_->signal(SIGKILL);
    proc_->wait_for(10s);
    stopped_ok_ = false;
  } else {
    stopped_ok_ = WIFEXITED(*st) && WEXITSTATUS(*st) == 0;
  }
  return *stopped_ok_;
}

recd_server::~recd_server() {
  bool already = stopped_ok_.has_value();
  bool ok = stop();
  if (!already && !ok)
    ADD_FAILURE() << "recd serve did not exit cleanly within 10 s of SIGTERM ("
                  << describe_status(proc_->status().value_or(-1)) << "), log "
                  << proc_->log_path() << ":\n"
                  << proc_->log_tail();
  else if (ok && !::testing::Test::HasFailure())
    std::remove(proc_->log_path().c_str()); // kept for failed tests only
}

double status_mib(pid_t pid, const std::string& field) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string key;
  while (in >> key) {
    if (key == field + ":") {
      double kib = 0;
      in >> kib;
      return kib / 1024;
    }
    std::getline(in, key);
  }
  return -1;
}

} // namespace recd::test
