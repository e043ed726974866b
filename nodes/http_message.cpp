// The message-level helpers of http_server.hpp: request accessors, JSON
// error bodies, percent-decoding and query parsing (no I/O).

#include "nodes/http_server.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

namespace recd::http {

std::string new_request_id() {
  // A random 32-bit prefix per process and a counter: unique within the
  // process, and two processes collide only if their prefixes do.
  static const std::uint32_t prefix = [] {
    std::random_device entropy;
    return entropy() ^ static_cast<std::uint32_t>(
                         std::chrono::steady_clock::now().time_since_epoch().count());
  }();
  static std::atomic<std::uint32_t> counter{0};
  char out[17];
  std::snprintf(out, sizeof out, "%08x%08x", prefix, counter.fetch_add(1, std::memory_order_relaxed));
  return out;
}

std::string request_id_for(std::optional<std::string_view> header) {
  if (header && !header->empty() && header->size() <= 64) {
    bool plain = true;
    for (char c : *header)
      plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
    if (plain)
      return std::string{*header};
  }
  return new_request_id();
}

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

std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n\f\v";
  const auto first = s.find_first_not_of(ws);
  if (first == std::string_view::npos)
    return {};
  return s.substr(first, s.find_last_not_of(ws) - first + 1);
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

} // namespace recd::http
