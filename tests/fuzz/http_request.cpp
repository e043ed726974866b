// Fuzz target: bytes from a client -> recd::http::request, through the code
// the server runs (nodes/http_request.hpp): a request_parser with the
// server's limits, Beast's read_header + read, then to_request (percent-
// decoding, query splitting, headers) or the server's error reply. Requests
// follow each other on one connection as keep-alive allows, like a session.
//
// Input: byte 0 chooses how the stream is cut into reads (below 64: 1 + byte
// bytes per read; otherwise all at once, so seeds can start with '~'); the
// rest is what the client sends.

#include "nodes/http_request.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

namespace {

namespace net = boost::asio;
using boost::system::error_code;

// A SyncReadStream over the fuzz input, `piece` bytes per read_some at most.
class input_stream {
public:
  input_stream(std::string_view data, std::size_t piece) : data_(data), piece_(piece) {}

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, error_code& ec) {
    ec = {};
    if (data_.empty()) {
      ec = net::error::eof;
      return 0;
    }
    const auto n =
        net::buffer_copy(buffers, net::buffer(data_.data(), std::min(piece_, data_.size())));
    data_.remove_prefix(n);
    return n;
  }

  template <class MutableBuffers> std::size_t read_some(const MutableBuffers& buffers) {
    error_code ec;
    const auto n = read_some(buffers, ec);
    if (ec)
      throw boost::system::system_error{ec};
    return n;
  }

private:
  std::string_view data_;
  std::size_t piece_;
};

void check(bool ok) {
  if (!ok)
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace bhttp = boost::beast::http;
  if (size == 0)
    return 0;
  const std::size_t piece = data[0] < 64 ? std::size_t{data[0]} + 1 : size;
  input_stream stream{{reinterpret_cast<const char*>(data) + 1, size - 1}, piece};
  const recd::http::server_options opt; // the server's defaults (= settings' http.max_body_bytes)
  boost::beast::flat_buffer buffer;     // pipelined bytes carry over, as in a session
  for (int n = 0; n < 64; ++n) {        // bounded: a keep-alive stream of tiny requests
    recd::http::request_parser parser;
    recd::http::apply_limits(parser, opt);
    error_code ec;
    bhttp::read_header(stream, buffer, parser, ec);
    if (!ec && !parser.is_done())
      bhttp::read(stream, buffer, parser, ec);
    if (ec) {
      const auto reply = recd::http::read_error_reply(ec);
      check(!reply || (reply->status >= 400 && reply->status < 500));
      return 0; // the server closes after an error
    }
    const bool keep_alive = parser.get().keep_alive();
    auto converted = recd::http::to_request(parser.release());
    if (auto* req = std::get_if<recd::http::request>(&converted)) {
      check(!req->path.empty() && req->path.front() == '/');
      check(req->body.size() <= opt.max_body_bytes);
      for (const auto& [name, value] : req->headers)
        check(std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    } else {
      check(std::get<recd::http::response>(converted).status == 400);
    }
    if (!keep_alive)
      return 0;
  }
  return 0;
}
