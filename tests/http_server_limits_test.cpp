// The HTTP server's bounds (nodes/http_server.hpp, "Bounds"): header and body
// size limits, header/body/idle timeouts, the connection cap with eviction of
// idle connections, and Retry-After on every 503. Real loopback sockets; a
// raw POSIX client so that a test can send byte by byte and see exactly when
// the server closes. Every wait is on a condition with a generous deadline;
// nothing asserts how long anything took.

#include "nodes/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using recd::http::reply_fn;
using recd::http::request;
using recd::http::response;
using recd::http::server;
using recd::http::server_options;

// One response as read off the wire.
struct wire_response {
  unsigned status = 0; // 0: none arrived (closed or timed out)
  std::vector<std::pair<std::string, std::string>> headers; // names lower-cased
  std::string body;
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k == name)
        return v;
    return {};
  }
};

// A blocking loopback connection; every wait has a deadline.
class raw_client {
public:
  explicit raw_client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~raw_client() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // True if the server closed the connection (EOF or reset) within `within`;
  // bytes that arrive meanwhile are kept for read_response().
  bool closed_by_peer(std::chrono::milliseconds within = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return false;
      char buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        return true;
      pending_.append(buf, static_cast<std::size_t>(n));
    }
  }

  // Reads one response (Content-Length framed) within `within`.
  wire_response read_response(std::chrono::milliseconds within = 5000ms) {
    wire_response out;
    const auto deadline = std::chrono::steady_clock::now() + within;
    auto fill = [&] {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return false;
      char buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        return false;
      pending_.append(buf, static_cast<std::size_t>(n));
      return true;
    };
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos)
      if (!fill())
        return out;
    const std::string head = pending_.substr(0, end);
    pending_.erase(0, end + 4);
    std::size_t pos = head.find("\r\n");
    const std::string status_line = head.substr(0, pos);
    if (status_line.size() < 12)
      return out;
    std::size_t length = 0;
    while (pos != std::string::npos && pos < head.size()) {
      const auto next = head.find("\r\n", pos + 2);
      const auto line = head.substr(pos + 2, next == std::string::npos ? std::string::npos
                                                                       : next - pos - 2);
      pos = next;
      const auto colon = line.find(':');
      if (colon == std::string::npos)
        continue;
      std::string name = line.substr(0, colon);
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "content-length")
        length = std::strtoul(value.c_str(), nullptr, 10);
      out.headers.emplace_back(std::move(name), std::move(value));
    }
    while (pending_.size() < length)
      if (!fill())
        return out;
    out.body = pending_.substr(0, length);
    pending_.erase(0, length);
    out.status = static_cast<unsigned>(std::atoi(status_line.c_str() + 9));
    return out;
  }

  wire_response get(const std::string& target) {
    send("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n");
    return read_response();
  }

private:
  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

void ok(request&& r, reply_fn reply) {
  reply({200, json{{"path", r.path}}.dump()});
}

server_options test_options() {
  server_options opt;
  opt.host = "127.0.0.1";
  opt.port = 0;
  opt.threads = 2;
  return opt;
}

std::unique_ptr<server> start_server(server_options opt, recd::http::handler_fn handler) {
  auto s = std::make_unique<server>(std::move(opt), std::move(handler));
  const auto error = s->start();
  EXPECT_FALSE(error.has_value()) << *error;
  return s;
}

// Raises this process's open-file limit to the hard limit; returns the new soft limit.
rlim_t raise_fd_limit() {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  ::getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

// Handler requests parked until the test releases them.
struct parking {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<reply_fn> parked;

  void operator()(request&&, reply_fn reply) {
    {
      std::lock_guard lock{mu};
      parked.push_back(std::move(reply));
    }
    cv.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds within = 5000ms) {
    std::unique_lock lock{mu};
    return cv.wait_for(lock, within, [&] { return parked.size() >= n; });
  }
  void release_all() {
    std::lock_guard lock{mu};
    for (auto& r : parked)
      r({200, R"({"released":true})"});
    parked.clear();
  }
};

// ---------------------------------------------------------------------------

TEST(HttpServerLimits, HeaderOverTheLimitGets431AndTheConnectionCloses) {
  auto opt = test_options();
  opt.max_header_bytes = 2048;
  auto srv = start_server(opt, ok);
  {
    raw_client c{srv->port()};
    c.send("GET /big HTTP/1.1\r\nHost: t\r\nX-Filler: " + std::string(4000, 'a') + "\r\n\r\n");
    const auto res = c.read_response();
    EXPECT_EQ(res.status, 431u);
    EXPECT_EQ(res.body, R"({"error":"request header too large","status":431})");
    EXPECT_TRUE(c.closed_by_peer());
  }
  { // Under the limit is served.
    raw_client c{srv->port()};
    c.send("GET /fits HTTP/1.1\r\nHost: t\r\nX-Filler: " + std::string(1500, 'a') + "\r\n\r\n");
    EXPECT_EQ(c.read_response().status, 200u);
  }
}

TEST(HttpServerLimits, BodyOverTheLimitGets413) {
  auto opt = test_options();
  opt.max_body_bytes = 100;
  auto srv = start_server(opt, ok);
  raw_client c{srv->port()};
  c.send("POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n" + std::string(101, 'x'));
  const auto res = c.read_response();
  EXPECT_EQ(res.status, 413u);
  EXPECT_EQ(json::parse(res.body)["status"], 413);
}

TEST(HttpServerLimits, SlowHeadersAreDroppedAfterTheHeaderTimeout) {
  auto opt = test_options();
  opt.header_timeout = 1000ms;
  opt.idle_timeout = 60s; // only the header timeout may end this connection
  auto srv = start_server(opt, ok);
  raw_client c{srv->port()};
  // 400 bytes at one per 200 ms would take 80 s: the server must drop the
  // client long before the header is complete, without a reply.
  const std::string header = "GET /slow HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(400, 's');
  std::size_t sent = 0;
  bool dropped = false;
  for (; sent < header.size() && !dropped; ++sent) {
    if (!c.send(header.substr(sent, 1))) {
      dropped = true;
      break;
    }
    dropped = c.closed_by_peer(200ms); // the pause between two bytes
  }
  EXPECT_TRUE(dropped) << "still connected after " << sent << " bytes";
  EXPECT_LT(sent, header.size());
  EXPECT_EQ(c.read_response(100ms).status, 0u) << "a dropped slow client gets no reply";
}

TEST(HttpServerLimits, BodyThatStopsArrivingIsDroppedAfterTheBodyTimeout) {
  auto opt = test_options();
  opt.body_timeout = 300ms;
  auto srv = start_server(opt, ok);
  raw_client c{srv->port()};
  c.send("POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n0123456789");
  EXPECT_TRUE(c.closed_by_peer(10s));
}

TEST(HttpServerLimits, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  auto opt = test_options();
  opt.idle_timeout = 300ms;
  auto srv = start_server(opt, ok);
  raw_client c{srv->port()};
  ASSERT_EQ(c.get("/one").status, 200u);
  EXPECT_TRUE(c.closed_by_peer(10s));
}

TEST(HttpServerLimits, IdleConnectionsAreEvictedWhileAClientKeepsBeingServed) {
  constexpr std::size_t idle_count = 2000;
  constexpr std::size_t cap = 256;
  const auto limit = raise_fd_limit();
  if (limit < idle_count + cap + 100)
    GTEST_SKIP() << "needs " << idle_count + cap + 100 << " file descriptors, the hard limit is "
                 << limit;
  auto opt = test_options();
  opt.max_connections = cap;
  auto srv = start_server(opt, ok);

  std::vector<std::unique_ptr<raw_client>> idle;
  for (std::size_t i = 0; i < idle_count; ++i) {
    idle.push_back(std::make_unique<raw_client>(srv->port()));
    ASSERT_TRUE(idle.back()->connected()) << "connection " << i;
    if (i % 100 == 99) { // a normal client, on a new connection each time, is served
      raw_client normal{srv->port()};
      const auto res = normal.get("/normal");
      ASSERT_EQ(res.status, 200u) << "after " << i + 1 << " idle connections";
      ASSERT_EQ(normal.get("/again").status, 200u) << "keep-alive after " << i + 1;
    }
  }
  // The oldest idle connection gave its slot away first.
  EXPECT_TRUE(idle.front()->closed_by_peer());
  EXPECT_LE(srv->connections(), cap);
  raw_client last{srv->port()};
  EXPECT_EQ(last.get("/last").status, 200u);
}

TEST(HttpServerLimits, AtTheCapWithNoIdleConnectionANewOneGets503WithRetryAfter) {
  auto opt = test_options();
  opt.max_connections = 4;
  opt.handler_timeout = 60s;
  auto park = std::make_shared<parking>();
  auto srv = start_server(opt, [park](request&& r, reply_fn reply) {
    if (r.path == "/busy")
      return (*park)(std::move(r), std::move(reply));
    ok(std::move(r), std::move(reply));
  });
  std::vector<std::unique_ptr<raw_client>> busy;
  for (int i = 0; i < 4; ++i) {
    busy.push_back(std::make_unique<raw_client>(srv->port()));
    busy.back()->send("GET /busy HTTP/1.1\r\nHost: t\r\n\r\n");
  }
  ASSERT_TRUE(park->wait_for(4)) << "the 4 requests did not reach the handler";

  raw_client refused{srv->port()};
  const auto res = refused.read_response();
  EXPECT_EQ(res.status, 503u);
  EXPECT_EQ(res.header("retry-after"), "1");
  EXPECT_EQ(res.header("content-type"), "application/json");
  EXPECT_EQ(json::parse(res.body, nullptr, false).value("status", 0), 503);
  EXPECT_TRUE(refused.closed_by_peer());

  park->release_all();
  for (auto& c : busy)
    EXPECT_EQ(c->read_response().status, 200u);
  // Once the four wait idle (keep-alive) a new connection evicts the oldest.
  // A connection may still be refused while the server finishes writing the
  // four replies, hence the retries (each one changes nothing).
  unsigned status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    raw_client next{srv->port()};
    status = next.get("/next").status;
  }
  EXPECT_EQ(status, 200u);
  // Which of the four went idle first depends on the order their replies were
  // written; one of them must have been evicted.
  bool one_evicted = false;
  while (!one_evicted && std::chrono::steady_clock::now() < deadline + 10s)
    for (auto& c : busy)
      if (!one_evicted && c->closed_by_peer(50ms))
        one_evicted = true;
  EXPECT_TRUE(one_evicted) << "no idle connection was evicted for the new one";
}

TEST(HttpServerLimits, Every503CarriesRetryAfterAndHandlerHeadersAreSent) {
  auto opt = test_options();
  opt.handler_timeout = 200ms;
  auto srv = start_server(opt, [](request&& r, reply_fn reply) {
    if (r.path == "/never")
      return; // the server's own 503 "timeout"
    response res{503, R"({"error":"busy","status":503})"};
    if (r.path == "/custom")
      res.headers.emplace_back("Retry-After", "7");
    res.headers.emplace_back("X-Injected", "a\r\nX-Evil: 1");
    res.headers.emplace_back("WWW-Authenticate", "Bearer");
    reply(std::move(res));
  });
  raw_client c{srv->port()};
  auto timeout = c.get("/never");
  EXPECT_EQ(timeout.status, 503u);
  EXPECT_EQ(timeout.header("retry-after"), "1");
  auto plain = c.get("/plain");
  EXPECT_EQ(plain.status, 503u);
  EXPECT_EQ(plain.header("retry-after"), "1");
  EXPECT_EQ(plain.header("www-authenticate"), "Bearer");
  EXPECT_EQ(plain.header("x-injected"), "");
  EXPECT_EQ(plain.header("x-evil"), "");
  auto custom = c.get("/custom");
  EXPECT_EQ(custom.header("retry-after"), "7");
}

} // namespace
