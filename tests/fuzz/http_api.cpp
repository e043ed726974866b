// Fuzz target: the API's request validation (nodes/http_api.hpp) on requests
// built the way the server builds them (to_request: percent-decoded path and
// query), then parse_recommend, parse_behavior (query and JSON body) and
// parse_timestamp. Checks the contract: errors are 400/404/422, accepted
// commands hold ids in 0..INT32_MAX, a limit in 1..100 and a timestamp in
// 1970..now + 1 day.
//
// Input: the first line is the request target ("/api/behavior?user_id=1&..."),
// the rest is the body.

#include "nodes/http_api.hpp"
#include "nodes/http_request.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

namespace {

void check(bool ok) {
  if (!ok)
    std::abort();
}

void check_error(const recd::http::api_error& e) {
  check(e.status == 400 || e.status == 404 || e.status == 422);
  check(!e.message.empty());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace bhttp = boost::beast::http;
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  const auto eol = input.find('\n');
  const auto target = input.substr(0, eol);
  const auto body = eol == std::string_view::npos ? std::string_view{} : input.substr(eol + 1);

  recd::http::request_message msg{bhttp::verb::post,
                                  boost::beast::string_view{target.data(), target.size()}, 11};
  msg.set(bhttp::field::content_type, "application/json");
  msg.body() = std::string{body};
  auto converted = recd::http::to_request(std::move(msg));
  auto* req = std::get_if<recd::http::request>(&converted);
  if (req == nullptr)
    return 0;

  constexpr recd::unix_seconds now = 1'800'000'000; // fixed, so runs reproduce
  const auto behavior = recd::http::parse_behavior(*req, now);
  if (const auto* cmd = std::get_if<recd::http::behavior_command>(&behavior)) {
    check(cmd->event.user >= 0 && cmd->event.item >= 0);
    check(!cmd->has_timestamp || (cmd->event.ts >= 0 && cmd->event.ts <= now + 24 * 60 * 60));
  } else {
    check_error(std::get<recd::http::api_error>(behavior));
  }

  const auto recommend = recd::http::parse_recommend(*req);
  if (const auto* q = std::get_if<recd::http::recommend_query>(&recommend))
    check(q->user >= 0 && q->limit >= 1 && q->limit <= 100);
  else
    check_error(std::get<recd::http::api_error>(recommend));

  if (const auto ts = recd::http::parse_timestamp(body))
    check(*ts >= -62135596800 && *ts <= 253402300799); // years 0001..9999
  return 0;
}
