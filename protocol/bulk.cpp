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

caf::error bulk_inbox::add(bulk_chunk&& chunk) {
  if (chunk.count == 0 || chunk.index >= chunk.count)
    return make_error(ec::invalid_argument, "bulk chunk " + std::to_string(chunk.index) + " of " +
                                              std::to_string(chunk.count));
  // A transfer idle this long was abandoned by its sender (a failed run).
  auto now = std::chrono::steady_clock::now();
  std::erase_if(transfers_, [&](const auto& kv) { return now - kv.second.touched > abandoned_after; });
  auto& transfer = transfers_[chunk.id];
  transfer.touched = now;
  auto& parts = transfer.chunks;
  if (!parts.empty() && parts.front().count != chunk.count)
    return make_error(ec::invalid_argument, "bulk transfer " + std::to_string(chunk.id) +
                                              " changed its chunk count");
  parts.push_back(std::move(chunk));
  return {};
}

caf::expected<std::vector<char>> bulk_inbox::take(const bulk_handle& handle) {
  auto it = transfers_.find(handle.id);
  if (it == transfers_.end())
    return make_error(ec::invalid_argument,
                      "bulk transfer " + std::to_string(handle.id) + " never arrived");
  auto parts = std::move(it->second.chunks);
  transfers_.erase(it);
  std::sort(parts.begin(), parts.end(),
            [](const bulk_chunk& a, const bulk_chunk& b) { return a.index < b.index; });
  parts.erase(std::unique(parts.begin(), parts.end(),
                          [](const bulk_chunk& a, const bulk_chunk& b) { return a.index == b.index; }),
              parts.end());
  if (parts.size() != handle.count)
    return make_error(ec::invalid_argument, "bulk transfer " + std::to_string(handle.id) + ": " +
                                              std::to_string(parts.size()) + " of " +
                                              std::to_string(handle.count) + " chunks arrived");
  // The size check comes before the allocation: handle.bytes is the sender's
  // word, and reserving it unchecked threw std::length_error (or asked for
  // terabytes) on a bad handle.
  std::uint64_t total = 0;
  for (const auto& p : parts)
    total += p.bytes.size();
  if (total != handle.bytes)
    return make_error(ec::invalid_argument, "bulk transfer " + std::to_string(handle.id) + ": " +
                                              std::to_string(total) + " bytes, expected " +
                                              std::to_string(handle.bytes));
  std::vector<char> out;
  out.reserve(total);
  for (auto& p : parts)
    out.insert(out.end(), p.bytes.begin(), p.bytes.end());
  return out;
}

} // namespace recd
