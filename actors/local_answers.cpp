#include "actors/local_answers.hpp"

namespace recd {

void local_answers::stripe::erase(std::unordered_map<user_id, entry>::iterator it) {
  bytes -= it->second.body->size();
  lru.erase(it->second.position);
  entries.erase(it);
}

void local_answers::put(user_id u, std::shared_ptr<const std::string> body, std::int32_t depth,
                        std::uint64_t rules_tag, guard g) {
  if (!body || !g.board || body->size() > stripe_bytes_)
    return;
  auto& s = stripe_of(u);
  std::lock_guard<std::mutex> lock{s.mu};
  if (auto it = s.entries.find(u); it != s.entries.end())
    s.erase(it);
  while (s.bytes + body->size() > stripe_bytes_ && !s.lru.empty())
    s.erase(s.entries.find(s.lru.back()));
  s.lru.push_front(u);
  s.bytes += body->size();
  s.entries.emplace(u, entry{std::move(body), depth, rules_tag, std::move(g), clock::now() + ttl_,
                             s.lru.begin()});
}

std::shared_ptr<const std::string> local_answers::find(user_id u, std::int32_t limit,
                                                       std::uint64_t rules_tag) {
  auto& s = stripe_of(u);
  std::lock_guard<std::mutex> lock{s.mu};
  auto it = s.entries.find(u);
  if (it == s.entries.end())
    return nullptr;
  const auto& e = it->second;
  if (e.depth != limit || e.rules_tag != rules_tag)
    return nullptr; // another request's shape: the entry stays for its own
  if (clock::now() >= e.expires || e.made_under.routing != routing() ||
      !e.made_under.board->unchanged(u, e.made_under.stamp)) {
    s.erase(it);
    return nullptr;
  }
  s.lru.splice(s.lru.begin(), s.lru, e.position);
  return e.body;
}

void local_answers::erase(user_id u) {
  auto& s = stripe_of(u);
  std::lock_guard<std::mutex> lock{s.mu};
  if (auto it = s.entries.find(u); it != s.entries.end())
    s.erase(it);
}

void local_answers::clear() {
  for (auto& s : stripes_) {
    std::lock_guard<std::mutex> lock{s.mu};
    s.entries.clear();
    s.lru.clear();
    s.bytes = 0;
  }
}

std::size_t local_answers::size() const {
  std::size_t n = 0;
  for (const auto& s : stripes_) {
    std::lock_guard<std::mutex> lock{s.mu};
    n += s.entries.size();
  }
  return n;
}

} // namespace recd
