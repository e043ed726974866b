#pragma once
// Credentials on recd's HTTP ports: the admin bearer token and the optional
// API keys of the public API. No I/O beyond reading the keys file once.
//
// Contract:
//   * secrets are compared in time that depends only on the length of what the
//     client sent, never on where it first differs from a secret;
//   * a credential is taken from `Authorization: Bearer <secret>` (scheme
//     case-insensitive), or for API keys also from `X-Api-Key: <secret>`;
//   * error texts never contain any part of a secret.

#include "nodes/http_server.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace recd::http {

// True if `presented` equals `secret`. Runs over every byte of `presented`
// whatever the answer (an empty secret never matches).
bool secret_equals(std::string_view presented, std::string_view secret);

// The token of `Authorization: Bearer <token>`, if the header has that form.
std::optional<std::string_view> bearer_token(const request& r);

// The admin port's gate for one request: nullopt lets it through, else the
// reply: 403 when no token is configured, 401 (with WWW-Authenticate: Bearer)
// when the header is missing or the token wrong.
std::optional<response> check_admin_token(const request& r, std::string_view token);

// The public API's keys, loaded once at start; counts accepted requests per key name.
class api_keys {
public:
  // Parses a file of `name:key` lines; blank lines and lines starting with '#'
  // are skipped, surrounding whitespace is trimmed. Errors name the line (never
  // the key): a line without ':', an empty name or key, a repeated name, a key
  // with whitespace, or a file with no key at all.
  static std::variant<std::shared_ptr<api_keys>, std::string> load(const std::string& path);
  static std::variant<std::shared_ptr<api_keys>, std::string> parse(std::string_view text,
                                                                   const std::string& origin);

  // The gate for one /api request: nullopt (and the key's counter + 1) if it
  // presents a known key, else a 401 reply.
  std::optional<response> check(const request& r);

  // Accepted requests so far per key name (every configured name, 0 included).
  std::map<std::string, std::uint64_t> counts() const;

private:
  struct key {
    std::string name;
    std::string secret;
    std::unique_ptr<std::atomic<std::uint64_t>> requests;
  };
  std::vector<key> keys_;
};

} // namespace recd::http
