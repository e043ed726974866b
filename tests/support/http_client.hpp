#pragma once
// A tiny blocking HTTP/1.1 client for the whole-system tests (Boost.Beast,
// one connection per request, `Connection: close`).
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace recd::test {

struct http_reply {
  unsigned status = 0;   // 0 when no response arrived (see `error`)
  std::string body;
  nlohmann::json json;   // the parsed body; discarded (is_discarded()) if it is not JSON
  std::string content_type;
  std::map<std::string, std::string> headers; // every response header, names lower-cased
  std::string error;     // transport error text, empty on success
  double elapsed_ms = 0; // connect to last byte
};

// Sends one request and reads the response; every step shares `timeout`
// (connect, write, read). Never throws for network errors: they give status 0.
// A write error (e.g. the server closed early on a too-large body) still
// tries to read the response the server may have sent. `headers` are added to
// the request (e.g. {"Authorization", "Bearer ..."}).
using header_list = std::vector<std::pair<std::string, std::string>>;
http_reply request(const std::string& method, const std::string& host, std::uint16_t port,
                   const std::string& target, const std::string& body = "",
                   const std::string& content_type = "application/json",
                   std::chrono::milliseconds timeout = std::chrono::seconds{5},
                   const header_list& headers = {});

// The value of response header `name` (lower-case), "" if absent.
std::string header_of(const http_reply& r, const std::string& name);

} // namespace recd::test
