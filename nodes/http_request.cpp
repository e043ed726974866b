// From bytes to a request: the parser setup and conversion of
// http_request.hpp, which the server and the HTTP fuzzer share (the
// message-level helpers they use live in http_message.cpp).

#include "nodes/http_request.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace recd::http {

namespace bhttp = boost::beast::http;
using boost::system::error_code;

// ---------------------------------------------------------------------------
// From bytes to a request (http_request.hpp)

void apply_limits(request_parser& parser, const server_options& opt) {
  // The batch routes' larger limit; the session lowers it again for any
  // other request once its header is read (http_session.hpp).
  parser.body_limit(std::max(opt.max_body_bytes, opt.max_batch_body_bytes));
  parser.header_limit(
    static_cast<std::uint32_t>(std::min<std::size_t>(opt.max_header_bytes, UINT32_MAX)));
}

std::optional<response> read_error_reply(const error_code& ec) {
  if (ec == bhttp::error::body_limit)
    return response{413, json_error(413, "request body too large")};
  if (ec == bhttp::error::header_limit)
    return response{431, json_error(431, "request header too large")};
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message)
    return std::nullopt; // the client went away (between or during requests)
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category())
    return response{400, json_error(400, "malformed HTTP request")};
  return std::nullopt; // timeout (Beast already closed the socket), reset, aborted, ...
}

std::variant<request, response> to_request(request_message&& msg) {
  request req;
  req.method = std::string{msg.method_string()};
  const std::string_view target{msg.target().data(), msg.target().size()};
  if (target.empty() || target.front() != '/')
    return response{400, json_error(400, "invalid request target")};
  const auto qmark = target.find('?');
  auto path = percent_decode(target.substr(0, qmark), false);
  if (!path)
    return response{400, json_error(400, "invalid percent-encoding in path")};
  auto query =
      parse_query(qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1));
  if (!query)
    return response{400, json_error(400, "invalid percent-encoding in query")};
  req.path = std::move(*path);
  req.query = std::move(*query);
  req.content_type = std::string{msg[bhttp::field::content_type]};
  for (const auto& field : msg) {
    std::string name{field.name_string()};
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace_back(std::move(name), std::string{field.value()});
  }
  req.body = std::move(msg.body());
  return req;
}

} // namespace recd::http
