// free_port() (support/ports.hpp) taken from several threads and several
// processes at once: no port is handed out twice while its takers live, none
// lies in the kernel's ephemeral range, each was free to bind. A port in use
// is skipped, and a range that reaches into the ephemeral range is cut there.
//
// The other processes are this binary again: with RECD_PORTS_TEST_TAKE=<n>
// set it takes n ports, writes them one a line on stdout (or "error: ..."),
// and holds them until its stdin closes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/ports.hpp"

extern char** environ;

namespace recd::test {
namespace {

void write_line(const std::string& line) {
  auto text = line + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(1, text.data() + done, text.size() - done);
    if (n <= 0)
      return;
    done += static_cast<std::size_t>(n);
  }
}

// The child's part: see the file comment.
int take_and_hold(int n) {
  try {
    for (int i = 0; i < n; ++i)
      write_line(std::to_string(free_port()));
  } catch (const std::exception& e) {
    write_line(std::string{"error: "} + e.what());
  }
  char buf[64];
  while (::read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}

// A child taking ports; its answer read line by line, each within 30 s.
class taker {
public:
  taker(int n, const std::vector<std::pair<std::string, std::string>>& env_extra) {
    std::vector<std::string> env{"RECD_PORTS_TEST_TAKE=" + std::to_string(n)};
    for (const auto& [k, v] : env_extra)
      env.push_back(k + "=" + v);
    for (char** e = environ; *e != nullptr; ++e)
      env.emplace_back(*e); // the first of a name wins (getenv scans in order)
    std::vector<char*> envp;
    for (auto& e : env)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string self = std::filesystem::read_symlink("/proc/self/exe");
    char* argv[] = {self.data(), nullptr};
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::execve(argv[0], argv, envp.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
  }
  ~taker() {
    release();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (from_child_ >= 0)
      ::close(from_child_);
  }
  taker(const taker&) = delete;
  taker& operator=(const taker&) = delete;

  // Up to n lines: the ports, then possibly one "error: ..." line.
  std::vector<std::string> lines(int n) {
    std::vector<std::string> out;
    std::string pending;
    while (static_cast<int>(out.size()) < n) {
      pollfd p{from_child_, POLLIN, 0};
      if (::poll(&p, 1, 30000) <= 0)
        throw std::runtime_error("the child said nothing for 30 s");
      char buf[4096];
      auto got = ::read(from_child_, buf, sizeof buf);
      if (got <= 0)
        break;
      pending.append(buf, static_cast<std::size_t>(got));
      for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
        out.push_back(pending.substr(0, nl));
        pending.erase(0, nl + 1);
        if (out.back().rfind("error", 0) == 0)
          return out;
      }
    }
    return out;
  }

  // Closes its stdin: it lets its ports go and exits; its exit status.
  int finish() {
    release();
    int status = -1;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

private:
  void release() {
    if (to_child_ >= 0)
      ::close(to_child_);
    to_child_ = -1;
  }
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
};

bool is_error(const std::vector<std::string>& lines) {
  return !lines.empty() && lines.back().rfind("error", 0) == 0;
}

// A listening socket on 127.0.0.1:port; -1 if the port is in use.
int listen_on(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 1) != 0) {
    if (fd >= 0)
      ::close(fd);
    return -1;
  }
  return fd;
}

TEST(FreePort, ThreadsAndProcessesTakingPortsAtOnceNeverShareOneNorUseTheEphemeralRange) {
  constexpr int processes = 4, per_process = 150, threads = 4, per_thread = 50;
  std::vector<std::unique_ptr<taker>> takers;
  for (int i = 0; i < processes; ++i)
    takers.push_back(std::make_unique<taker>(per_process, std::vector<std::pair<std::string, std::string>>{}));
  std::vector<std::vector<std::uint16_t>> mine(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&mine, t] {
      for (int i = 0; i < per_thread; ++i)
        mine[t].push_back(free_port());
    });
  for (auto& t : pool)
    t.join();

  std::vector<std::uint32_t> all;
  for (const auto& ports : mine)
    all.insert(all.end(), ports.begin(), ports.end());
  for (auto& t : takers) {
    auto lines = t->lines(per_process);
    ASSERT_EQ(lines.size(), std::size_t{per_process}) << (lines.empty() ? "" : lines.back());
    ASSERT_FALSE(is_error(lines)) << lines.back();
    for (const auto& l : lines)
      all.push_back(static_cast<std::uint32_t>(std::stoul(l)));
  }
  // Every child still holds its ports: together they were all taken at once.
  const std::set<std::uint32_t> distinct(all.begin(), all.end());
  EXPECT_EQ(distinct.size(), all.size()) << "a port was handed out twice";
  const auto range = test_port_range();
  const auto ephemeral = ephemeral_port_range();
  for (auto port : distinct) {
    EXPECT_TRUE(range.contains(port)) << port;
    EXPECT_FALSE(ephemeral.contains(port)) << port << " is in the ephemeral range";
  }
  for (auto& t : takers)
    EXPECT_EQ(t->finish(), 0);
}

TEST(FreePort, APortSomethingListensOnIsSkipped) {
  // The port is ours (locked by this process); a child with a lock folder of
  // its own sees no lock on it, so only the bind check can refuse it.
  const auto port = free_port();
  const auto own_dir = std::filesystem::temp_directory_path() /
                       ("recd_ports_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(own_dir);
  const std::vector<std::pair<std::string, std::string>> env{
    {"RECD_PORT_RANGE", std::to_string(port) + "-" + std::to_string(port)},
    {"RECD_PORT_LOCK_DIR", own_dir.string()}};
  int listener = listen_on(port);
  ASSERT_GE(listener, 0) << "nothing of ours listened on " << port;
  {
    taker t{1, env};
    auto lines = t.lines(1);
    EXPECT_TRUE(is_error(lines)) << "handed out " << port << " while something listens on it";
    EXPECT_EQ(t.finish(), 0);
  }
  ::close(listener);
  {
    taker t{1, env};
    EXPECT_EQ(t.lines(1), std::vector<std::string>{std::to_string(port)}) << "once nothing listens";
    EXPECT_EQ(t.finish(), 0);
  }
  std::filesystem::remove_all(own_dir);
}

TEST(FreePort, ARangeReachingIntoTheEphemeralRangeIsCutThere) {
  const auto ephemeral = ephemeral_port_range();
  if (ephemeral.low > ephemeral.high || ephemeral.low < 1030)
    GTEST_SKIP() << "no ephemeral range in /proc, or one starting below 1030";
  const auto low = ephemeral.low - 4, high = ephemeral.low + 4;
  taker t{9, {{"RECD_PORT_RANGE", std::to_string(low) + "-" + std::to_string(high)}}};
  auto lines = t.lines(9);
  ASSERT_TRUE(is_error(lines)) << "took 9 ports from a range with 4 outside the ephemeral range";
  EXPECT_NE(lines.back().find("no free port"), std::string::npos) << lines.back();
  lines.pop_back();
  EXPECT_LE(lines.size(), 4u);
  for (const auto& l : lines) {
    const auto port = std::stoul(l);
    EXPECT_GE(port, low);
    EXPECT_LT(port, ephemeral.low) << "a port of the ephemeral range";
  }
  EXPECT_EQ(t.finish(), 0);
}

TEST(FreePort, ARangeInsideTheEphemeralRangeOrMalformedIsRefused) {
  const auto ephemeral = ephemeral_port_range();
  if (ephemeral.low > ephemeral.high || ephemeral.high - ephemeral.low < 10)
    GTEST_SKIP() << "no ephemeral range in /proc";
  const auto inside = std::to_string(ephemeral.low + 1) + "-" + std::to_string(ephemeral.low + 9);
  for (const std::string& range : {inside, std::string{"20000"}, std::string{"30000-20000"},
                                  std::string{"0-100"}, std::string{"20000-70000"},
                                  std::string{"20000-x"}}) {
    taker t{1, {{"RECD_PORT_RANGE", range}}};
    auto lines = t.lines(1);
    EXPECT_TRUE(is_error(lines)) << range << " gave " << (lines.empty() ? "nothing" : lines[0]);
    if (is_error(lines)) {
      EXPECT_NE(lines.back().find("RECD_PORT_RANGE"), std::string::npos) << lines.back();
    }
    EXPECT_EQ(t.finish(), 0);
  }
}

} // namespace
} // namespace recd::test

int main(int argc, char** argv) {
  if (const char* n = std::getenv("RECD_PORTS_TEST_TAKE"))
    return recd::test::take_and_hold(std::atoi(n));
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
