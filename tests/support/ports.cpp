// free_port(): see the contract in support/ports.hpp.
#include "support/ports.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace recd::test {

namespace {

constexpr port_range default_range{20000, 32767};

// "LOW-HIGH" with 1 <= LOW <= HIGH <= 65535; throws otherwise.
port_range parse_range(const std::string& text) {
  auto dash = text.find('-');
  char* end = nullptr;
  port_range r;
  if (dash != std::string::npos) {
    auto low = std::strtoul(text.c_str(), &end, 10);
    bool ok = end == text.c_str() + dash;
    auto high = std::strtoul(text.c_str() + dash + 1, &end, 10);
    ok = ok && dash > 0 && end != text.c_str() + dash + 1 && *end == '\0';
    if (ok && low >= 1 && low <= high && high <= 65535)
      return {static_cast<std::uint32_t>(low), static_cast<std::uint32_t>(high)};
  }
  throw std::runtime_error("RECD_PORT_RANGE must be LOW-HIGH within 1-65535, not '" + text + "'");
}

// True if a socket can bind 127.0.0.1:port now (without SO_REUSEADDR, so a
// listener or a connection in TIME_WAIT on the port makes it fail).
bool bindable(std::uint32_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error(std::string{"socket: "} + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// The lock folder, made world-writable with the sticky bit (like /tmp) when
// this process creates it, so that other users' processes share it.
std::string lock_dir() {
  const char* env = std::getenv("RECD_PORT_LOCK_DIR");
  std::string dir = env != nullptr && *env != '\0' ? env : "/tmp/recd-ports";
  if (::mkdir(dir.c_str(), 01777) == 0)
    ::chmod(dir.c_str(), 01777); // the umask took bits away
  else if (errno != EEXIST)
    throw std::runtime_error("cannot make the port lock folder " + dir + ": " + std::strerror(errno));
  return dir;
}

class allocator {
public:
  std::uint16_t take() {
    std::lock_guard lock{mu_};
    if (dir_.empty()) {
      range_ = test_port_range();
      ephemeral_ = ephemeral_port_range();
      dir_ = lock_dir();
      cursor_ = static_cast<std::uint32_t>(::getpid()) * 101u % span();
    }
    for (std::uint32_t i = 0; i < span(); ++i) {
      const std::uint32_t port = range_.low + (cursor_ + i) % span();
      if (ephemeral_.contains(port))
        continue;
      const auto path = dir_ + "/" + std::to_string(port) + ".lock";
      // Read-only is enough for flock, and opens a file another user created.
      int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0)
        continue;
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && bindable(port)) {
        held_.push_back(fd); // held until the process exits
        cursor_ = (cursor_ + i + 1) % span();
        return static_cast<std::uint16_t>(port);
      }
      ::close(fd); // taken by another process, or in use: releases nothing of ours
    }
    throw std::runtime_error("no free port in " + std::to_string(range_.low) + "-" +
                             std::to_string(range_.high) + " outside the ephemeral range " +
                             std::to_string(ephemeral_.low) + "-" + std::to_string(ephemeral_.high) +
                             " (locks in " + dir_ + ")");
  }

private:
  std::uint32_t span() const { return range_.high - range_.low + 1; }

  std::mutex mu_;
  port_range range_, ephemeral_;
  std::string dir_;
  std::uint32_t cursor_ = 0;
  std::vector<int> held_;
};

} // namespace

port_range test_port_range() {
  const char* env = std::getenv("RECD_PORT_RANGE");
  auto r = env != nullptr && *env != '\0' ? parse_range(env) : default_range;
  // A range wholly inside the ephemeral one leaves nothing to hand out.
  const auto eph = ephemeral_port_range();
  if (eph.low <= r.low && r.high <= eph.high)
    throw std::runtime_error("the test port range " + std::to_string(r.low) + "-" +
                             std::to_string(r.high) + " lies inside the ephemeral range " +
                             std::to_string(eph.low) + "-" + std::to_string(eph.high) +
                             ": set RECD_PORT_RANGE outside it");
  return r;
}

port_range ephemeral_port_range() {
  std::ifstream in{"/proc/sys/net/ipv4/ip_local_port_range"};
  port_range r;
  if (!(in >> r.low >> r.high))
    return {1, 0};
  return r;
}

std::uint16_t free_port() {
  static allocator ports;
  return ports.take();
}

} // namespace recd::test
