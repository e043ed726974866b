// POST /api/behaviors: the batch route of the public port (gateway.hpp).
// The body is decoded and every event validated here (nodes/http_batch.hpp);
// the API actor checks the items, commits all events in one transaction and
// applies them (actors/api_batch.cpp).
#include "nodes/gateway.hpp"
#include "nodes/gateway_detail.hpp"

#include <chrono>

#include <caf/all.hpp>

#include "nodes/http_batch.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

using namespace gateway_detail;

namespace {

// "events[i]: ..." errors from the API actor (an unknown item) name the event.
http::response batch_failure(const caf::error& err) {
  if (err.category() != error_category ||
      err.code() != static_cast<std::uint8_t>(ec::invalid_argument))
    return error_response(err);
  auto text = describe(err);
  std::optional<std::size_t> index;
  auto at = text.find("events[");
  if (at != std::string::npos) {
    std::size_t k = 0;
    auto p = at + 7;
    bool digits = false;
    while (p < text.size() && text[p] >= '0' && text[p] <= '9' && k < (std::size_t{1} << 40)) {
      k = k * 10 + static_cast<std::size_t>(text[p++] - '0');
      digits = true;
    }
    if (digits && p < text.size() && text[p] == ']') {
      index = k;
      text = text.substr(at);
    }
  }
  return json_response(422, http::batch_error_json({422, text, index}));
}

} // namespace

bool gateway::handle_batch(const http::request& req, http::reply_fn& reply) {
  if (req.path != "/api/behaviors")
    return false;
  if (req.method != "POST") {
    ++metrics_->client_errors;
    reply(json_error_response(405, "method " + req.method + " not allowed on " + req.path));
    return true;
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  auto parsed = http::parse_behavior_batch(req, now, max_batch_events_);
  if (auto* e = std::get_if<http::batch_error>(&parsed)) {
    ++metrics_->client_errors;
    reply(json_response(e->status, http::batch_error_json(*e)));
    return true;
  }
  auto& batch = std::get<http::behavior_batch>(parsed);
  caf::anon_send(next_api(), behaviors_local_atom_v, std::move(batch.events),
                 std::move(batch.event_ids),
                 make_local_reply<std::string>([reply](caf::expected<std::string> body) {
                   reply(body ? json_response(200, std::move(*body))
                              : batch_failure(body.error()));
                 }));
  return true;
}

} // namespace recd
