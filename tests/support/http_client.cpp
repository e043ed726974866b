#include "support/http_client.hpp"

#include <cctype>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>

namespace recd::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

http_reply request(const std::string& method, const std::string& host, std::uint16_t port,
                   const std::string& target, const std::string& body,
                   const std::string& content_type, std::chrono::milliseconds timeout,
                   const header_list& headers) {
  http_reply out;
  auto t0 = std::chrono::steady_clock::now();
  auto finish = [&] {
    out.elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    out.json = nlohmann::json::parse(out.body, nullptr, false);
    return out;
  };
  // Beast's timeouts apply to asynchronous operations only: run them on a
  // private io_context until each completes.
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::error_code ec;
  auto run = [&] {
    ioc.restart();
    ioc.run();
  };

  tcp::resolver resolver{ioc};
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) {
    out.error = "resolve: " + ec.message();
    return finish();
  }
  stream.expires_after(timeout);
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
  run();
  if (ec) {
    out.error = "connect: " + ec.message();
    return finish();
  }

  bhttp::request<bhttp::string_body> req;
  req.version(11);
  req.target(target);
  if (auto verb = bhttp::string_to_verb(method); verb != bhttp::verb::unknown)
    req.method(verb);
  else
    req.method_string(method);
  req.set(bhttp::field::host, host + ":" + std::to_string(port));
  req.set(bhttp::field::user_agent, "recd-contract-test");
  req.set(bhttp::field::connection, "close");
  for (const auto& [name, value] : headers)
    req.set(name, value);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    if (!content_type.empty())
      req.set(bhttp::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
  }
  stream.expires_after(timeout);
  beast::error_code write_ec;
  bhttp::async_write(stream, req, [&](beast::error_code e, std::size_t) { write_ec = e; });
  run();

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  parser.skip(method == "HEAD");
  stream.expires_after(timeout);
  bhttp::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
  run();
  if (ec && !(ec == bhttp::error::end_of_stream && parser.is_header_done())) {
    out.error = "read: " + ec.message();
    if (write_ec)
      out.error += " (write: " + write_ec.message() + ")";
    return finish();
  }
  auto res = parser.release();
  out.status = res.result_int();
  out.body = std::move(res.body());
  out.content_type = std::string{res[bhttp::field::content_type]};
  for (const auto& field : res) {
    std::string name{field.name_string()};
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string{field.value()};
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return finish();
}

std::string header_of(const http_reply& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string{} : it->second;
}

} // namespace recd::test
