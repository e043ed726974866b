// Fuzz target: POST /api/behaviors body decoding (nodes/http_batch.hpp), the
// msgpack decoder (msgpack-cxx with recd's limits) and the JSON one. Checks
// the contract: errors are 400/413/422 with a message (an event's error names
// an index below the event count), accepted batches hold 1..max events with
// ids in 0..INT32_MAX, timestamps in 1970..now + 1 day and one event id each.
//
// Input: byte 0 picks the Content-Type (even: application/x-msgpack, odd:
// application/json), the rest is the body.

#include "nodes/http_batch.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

namespace {

void check(bool ok) {
  if (!ok)
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  constexpr recd::unix_seconds now = 1'800'000'000; // fixed, so runs reproduce
  constexpr std::size_t max_events = 64;
  recd::http::request r;
  r.method = "POST";
  r.path = "/api/behaviors";
  r.content_type = data[0] % 2 == 0 ? "application/x-msgpack" : "application/json";
  r.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto parsed = recd::http::parse_behavior_batch(r, now, max_events);
  if (auto* e = std::get_if<recd::http::batch_error>(&parsed)) {
    check(e->status == 400 || e->status == 413 || e->status == 422);
    check(!e->message.empty());
    check(!e->index || *e->index < max_events);
    check(!recd::http::batch_error_json(*e).empty());
    return 0;
  }
  const auto& batch = std::get<recd::http::behavior_batch>(parsed);
  check(!batch.events.empty() && batch.events.size() <= max_events);
  check(batch.event_ids.size() == batch.events.size());
  for (std::size_t k = 0; k < batch.events.size(); ++k) {
    const auto& e = batch.events[k];
    check(e.user >= 0 && e.item >= 0);
    check(e.ts >= 0 && e.ts <= now + 24 * 60 * 60);
    check(batch.event_ids[k].size() <= 128);
  }
  return 0;
}
