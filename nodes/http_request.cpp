// From bytes to a request: the helpers of http_server.hpp (percent-decoding,
// query splitting, JSON errors) and the parser setup and conversion of
// http_request.hpp, which the server and the HTTP fuzzer share.

#include "nodes/http_request.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

#include <cctype>

namespace recd::http {

namespace bhttp = boost::beast::http;
using boost::system::error_code;

// ---------------------------------------------------------------------------
// Small public helpers

std::optional<std::string_view> request::param(std::string_view key) const {
  for (const auto& [k, v] : query)
    if (k == key)
      return std::string_view{v};
  return std::nullopt;
}

std::optional<std::string_view> request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name)
      return std::string_view{v};
  return std::nullopt;
}

std::string json_error(unsigned status, std::string_view message) {
  const nlohmann::json j{{"error", std::string{message}}, {"status", status}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {
int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}
} // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (text.size() - i < 3)
        return std::nullopt;
      const int hi = hex_digit(text[i + 1]);
      const int lo = hex_digit(text[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!raw.empty()) {
    const auto amp = raw.find('&');
    const auto piece = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view{} : raw.substr(amp + 1);
    if (piece.empty())
      continue;
    const auto eq = piece.find('=');
    auto key = percent_decode(piece.substr(0, eq), true);
    auto value = percent_decode(
        eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1), true);
    if (!key || !value)
      return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

// ---------------------------------------------------------------------------
// From bytes to a request (http_request.hpp)

void apply_limits(request_parser& parser, const server_options& opt) {
  parser.body_limit(opt.max_body_bytes);
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
