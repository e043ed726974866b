#include "protocol/bulk.hpp"

#include <algorithm>

namespace recd {

std::vector<bulk_chunk> cut_into_chunks(std::uint64_t id, const std::vector<char>& bytes,
                                        std::size_t chunk_bytes) {
  chunk_bytes = std::max<std::size_t>(chunk_bytes, 1);
  auto count = std::max<std::size_t>(1, (bytes.size() + chunk_bytes - 1) / chunk_bytes);
  std::vector<bulk_chunk> out(count);
  for (std::size_t k = 0; k < count; ++k) {
    auto begin = std::min(bytes.size(), k * chunk_bytes);
    auto end = std::min(bytes.size(), begin + chunk_bytes);
    out[k] = {id, static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(count),
              std::vector<char>(bytes.begin() + static_cast<long>(begin),
                                bytes.begin() + static_cast<long>(end))};
  }
  return out;
}

void bulk_inbox::forget(std::map<std::pair<std::string, std::uint64_t>, transfer>::iterator it) {
  auto held = held_.find(it->first.first);
  if (held != held_.end()) {
    held->second -= std::min(held->second, it->second.bytes);
    if (held->second == 0)
      held_.erase(held);
  }
  transfers_.erase(it);
}

void bulk_inbox::expire(std::chrono::steady_clock::time_point now) {
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    auto next = std::next(it);
    if (now - it->second.touched > abandoned_after)
      forget(it);
    it = next;
  }
}

std::uint64_t bulk_inbox::held_bytes(const std::string& from) const {
  auto it = held_.find(from);
  return it == held_.end() ? 0 : it->second;
}

caf::error bulk_inbox::add(bulk_chunk&& chunk, const std::string& from) {
  auto invalid = [&](const std::string& why) {
    return make_error(ec::invalid_argument,
                      "bulk transfer " + std::to_string(chunk.id) + ": " + why);
  };
  if (chunk.count == 0 || chunk.index >= chunk.count)
    return invalid("chunk " + std::to_string(chunk.index) + " of " + std::to_string(chunk.count));
  if (chunk.bytes.size() > bulk_chunk_bytes)
    return invalid("a chunk of " + std::to_string(chunk.bytes.size()) + " bytes");
  if (chunk.count > limits::max_bulk_bytes / bulk_chunk_bytes + 1)
    return invalid(std::to_string(chunk.count) + " chunks is over the size limit");
  // A transfer idle this long was abandoned by its sender (a failed run).
  auto now = std::chrono::steady_clock::now();
  expire(now);
  auto key = std::make_pair(from, chunk.id);
  auto it = transfers_.find(key);
  if (it != transfers_.end() && it->second.count != chunk.count)
    return invalid("changed its chunk count");
  std::uint64_t replaced = 0;
  if (it != transfers_.end())
    if (auto old = it->second.chunks.find(chunk.index); old != it->second.chunks.end())
      replaced = old->second.size();
  const auto held = held_bytes(from);
  if (held - replaced + chunk.bytes.size() > limits::max_bulk_in_flight)
    return invalid("the sender has too many bytes in flight");
  if (it == transfers_.end())
    it = transfers_.emplace(key, transfer{now, chunk.count, 0, {}}).first;
  auto& t = it->second;
  t.touched = now;
  t.bytes = t.bytes - replaced + chunk.bytes.size();
  held_[from] = held - replaced + chunk.bytes.size();
  t.chunks[chunk.index] = std::move(chunk.bytes);
  return {};
}

caf::expected<std::vector<char>> bulk_inbox::take(const bulk_handle& handle,
                                                  const std::string& from) {
  auto it = transfers_.find(std::make_pair(from, handle.id));
  if (it == transfers_.end())
    return make_error(ec::invalid_argument,
                      "bulk transfer " + std::to_string(handle.id) + " never arrived");
  auto t = std::move(it->second);
  forget(it);
  if (t.chunks.size() != handle.count || t.count != handle.count)
    return make_error(ec::invalid_argument, "bulk transfer " + std::to_string(handle.id) + ": " +
                                              std::to_string(t.chunks.size()) + " of " +
                                              std::to_string(handle.count) + " chunks arrived");
  // Sizes are compared before anything is allocated: the handle's declared
  // size is the sender's word, the chunks' sizes are what actually arrived.
  if (t.bytes != handle.bytes || handle.bytes > limits::max_bulk_bytes)
    return make_error(ec::invalid_argument, "bulk transfer " + std::to_string(handle.id) + ": " +
                                              std::to_string(t.bytes) + " bytes, declared " +
                                              std::to_string(handle.bytes));
  std::vector<char> out;
  out.reserve(t.bytes);
  for (auto& [index, bytes] : t.chunks)
    out.insert(out.end(), bytes.begin(), bytes.end());
  return out;
}

} // namespace recd
