#include "support/api_client.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace recd::test {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string show(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 400) +
         (r.error.empty() ? "" : " [" + r.error + "]");
}

http_reply get(std::uint16_t port, const std::string& target,
               std::chrono::milliseconds timeout) {
  return request("GET", loopback, port, target, "", "application/json", timeout);
}

http_reply recommend(std::uint16_t port, std::int64_t user, int limit, bool use_cache) {
  return get(port, "/api/recommend/" + std::to_string(user) + "?limit=" + std::to_string(limit) +
                     "&use_cache=" + (use_cache ? "true" : "false"));
}

http_reply behave(std::uint16_t port, std::int64_t user, std::int64_t item,
                  const std::string& kind) {
  return request("POST", loopback, port, "/api/behavior",
                 json{{"user_id", user}, {"item_id", item}, {"behavior_type", kind}}.dump(),
                 "application/json", 5s);
}

std::vector<std::int64_t> item_ids(const http_reply& r) {
  std::vector<std::int64_t> out;
  if (r.json.is_object() && r.json.contains("recommendations") &&
      r.json["recommendations"].is_array())
    for (const auto& rec : r.json["recommendations"])
      if (rec.is_object() && rec.contains("item_id") && rec["item_id"].is_number_integer())
        out.push_back(rec["item_id"].get<std::int64_t>());
  return out;
}

std::map<std::int64_t, double> item_scores(const http_reply& r) {
  std::map<std::int64_t, double> out;
  if (r.json.is_object() && r.json.contains("recommendations") &&
      r.json["recommendations"].is_array())
    for (const auto& rec : r.json["recommendations"])
      if (rec.is_object() && rec.contains("item_id") && rec.contains("score") &&
          rec["score"].is_number())
        out[rec["item_id"].get<std::int64_t>()] = rec["score"].get<double>();
  return out;
}

bool is_degraded(const http_reply& r) {
  return r.json.is_object() && r.json.contains("degraded") && r.json["degraded"] == true;
}

bool contains(const std::vector<std::int64_t>& v, std::int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

} // namespace recd::test
