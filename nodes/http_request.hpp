#pragma once
// How the server turns bytes into a recd::http::request: the Beast parser it
// reads each request with (and its limits), the conversion of a parsed message
// (percent-decoding, query splitting, headers), and the replies for input that
// cannot be parsed. http_server.cpp and the fuzzer (tests/fuzz/http_request.cpp)
// both call these, so fuzzing covers the production path. Unlike
// http_server.hpp this header includes Beast.

#include "nodes/http_server.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <optional>
#include <variant>

namespace recd::http {

using request_message = boost::beast::http::request<boost::beast::http::string_body>;
using request_parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Sets the server's limits on a fresh parser (one parser per request): a body
// of at most opt.max_body_bytes (else error::body_limit -> 413), a header of
// at most opt.max_header_bytes (else error::header_limit -> 431).
void apply_limits(request_parser& parser, const server_options& opt);

// The reply to a failed read of a request's header or body, or nullopt when
// the connection should just close (the client went away, a timeout, a reset).
std::optional<response> read_error_reply(const boost::system::error_code& ec);

// A complete message as recd's request: method, percent-decoded path and
// query, headers with lower-cased names, Content-Type, body (moved). `peer` is
// left empty (the caller knows the socket). A 400 reply instead when the
// target does not start with '/' or its percent-encoding is bad.
std::variant<request, response> to_request(request_message&& msg);

} // namespace recd::http
