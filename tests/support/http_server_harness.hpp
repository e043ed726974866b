#pragma once
// The harness of the HTTP server's tests (http_server_test,
// http_server_threads_test): a small blocking Beast client whose every
// operation has a 5 s deadline, so a misbehaving server fails a test instead
// of hanging it; an echo handler; a server on a free loopback port; threads
// that reply from outside the server.

#include "nodes/http_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace recd::test_http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;
using recd::http::handler_fn;
using recd::http::reply_fn;
using recd::http::request;
using recd::http::response;
using recd::http::server;
using recd::http::server_options;

using http_response = bhttp::response<bhttp::string_body>;
using steady = std::chrono::steady_clock;

// A blocking client on top of async operations with a 5 s deadline each.
class client {
public:
  explicit client(std::uint16_t port) {
    stream_.expires_after(5s);
    stream_.async_connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port},
                          [this](beast::error_code ec) { ec_ = ec; });
    run();
    EXPECT_FALSE(ec_) << "connect: " << ec_.message();
  }

  beast::error_code send(std::string_view raw) {
    stream_.expires_after(5s);
    net::async_write(stream_, net::buffer(raw.data(), raw.size()),
                     [this](beast::error_code ec, std::size_t) { ec_ = ec; });
    run();
    return ec_;
  }

  // Reads one response; an error yields status 0 (and a test failure).
  http_response read(bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    parser.skip(head);
    stream_.expires_after(5s);
    bhttp::async_read(stream_, buffer_, parser,
                      [this](beast::error_code ec, std::size_t) { ec_ = ec; });
    run();
    EXPECT_FALSE(ec_) << "read: " << ec_.message();
    if (!ec_)
      return parser.release();
    http_response failed;
    failed.result(0u);
    return failed;
  }

  http_response get(std::string_view target) {
    send("GET " + std::string{target} + " HTTP/1.1\r\nHost: test\r\n\r\n");
    return read();
  }

  // True if the server closes the connection (EOF or reset) within `within`.
  bool closed_by_peer(std::chrono::milliseconds within = 3000ms) {
    stream_.expires_after(within);
    char byte = 0;
    stream_.async_read_some(net::buffer(&byte, 1),
                            [this](beast::error_code ec, std::size_t) { ec_ = ec; });
    run();
    return ec_ == net::error::eof || ec_ == net::error::connection_reset;
  }

private:
  void run() {
    ec_ = net::error::would_block;
    ioc_.restart();
    ioc_.run();
  }

  net::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
  beast::error_code ec_;
};

// Replies with what it received, as JSON.
inline void echo(request&& r, reply_fn reply) {
  json query = json::array();
  for (const auto& [k, v] : r.query)
    query.push_back({k, v});
  const json body = {{"method", r.method},
                     {"path", r.path},
                     {"query", query},
                     {"body", r.body},
                     {"content_type", r.content_type},
                     {"first_x", r.param("x") ? json(*r.param("x")) : json(nullptr)}};
  reply({200, body.dump()});
}

inline server_options test_options() {
  server_options opt;
  opt.host = "127.0.0.1";
  opt.port = 0;
  opt.threads = 2;
  return opt;
}

inline std::unique_ptr<server> start_server(server_options opt, handler_fn handler) {
  auto s = std::make_unique<server>(std::move(opt), std::move(handler));
  const auto error = s->start();
  EXPECT_FALSE(error.has_value()) << *error;
  EXPECT_NE(s->port(), 0);
  return s;
}

// Threads that reply from outside the server; joined at the end of a test.
struct foreign_threads {
  std::mutex mu;
  std::vector<std::thread> threads;
  void spawn(std::function<void()> f) {
    std::lock_guard lock{mu};
    threads.emplace_back(std::move(f));
  }
  ~foreign_threads() {
    std::lock_guard lock{mu};
    for (auto& t : threads)
      t.join();
  }
};

} // namespace recd::test_http
