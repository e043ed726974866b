#pragma once
// The recommendation API of an API node as the cluster suites call it, on
// 127.0.0.1 with a 5 s timeout per request (support/http_client.hpp), and the
// parts of its answers they compare. The readers return empty results for an
// answer that is not the documented JSON, so a check on them fails instead
// of throwing.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "support/http_client.hpp"

namespace recd::test {

inline const std::string loopback = "127.0.0.1";

// Status, the first 400 bytes of the body and the transport error, for a failure message.
std::string show(const http_reply& r);

http_reply get(std::uint16_t port, const std::string& target,
               std::chrono::milliseconds timeout = std::chrono::seconds{5});

// GET /api/recommend/<user>?limit=<limit>&use_cache=<use_cache>.
http_reply recommend(std::uint16_t port, std::int64_t user, int limit, bool use_cache);

// POST /api/behavior {user_id, item_id, behavior_type: kind}.
http_reply behave(std::uint16_t port, std::int64_t user, std::int64_t item,
                  const std::string& kind);

// The recommended item ids, in the answer's order.
std::vector<std::int64_t> item_ids(const http_reply& r);

// The recommended items' scores.
std::map<std::int64_t, double> item_scores(const http_reply& r);

// Whether the answer says "degraded": true (some shard did not answer in time).
bool is_degraded(const http_reply& r);

bool contains(const std::vector<std::int64_t>& v, std::int64_t x);

} // namespace recd::test
