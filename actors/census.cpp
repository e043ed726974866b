#include "actors/census.hpp"

#include <map>
#include <mutex>

namespace recd {

namespace {

std::mutex census_mutex;
std::map<caf::actor_id, const char*>& census() {
  static std::map<caf::actor_id, const char*> alive;
  return alive;
}

} // namespace

void census_enter(caf::actor_id id, const char* name) {
  std::lock_guard<std::mutex> lock{census_mutex};
  census()[id] = name;
}

void census_leave(caf::actor_id id) {
  std::lock_guard<std::mutex> lock{census_mutex};
  census().erase(id);
}

std::map<std::string, std::size_t> census_counts() {
  std::lock_guard<std::mutex> lock{census_mutex};
  std::map<std::string, std::size_t> out;
  for (const auto& [id, name] : census())
    ++out[name];
  return out;
}

std::string census_report() {
  std::lock_guard<std::mutex> lock{census_mutex};
  std::string out;
  for (const auto& [id, name] : census())
    out += (out.empty() ? "" : ", ") + std::string{name} + "#" + std::to_string(id);
  return out;
}

} // namespace recd
