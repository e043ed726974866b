// Admin token and API key checks. See http_auth.hpp for the contract.

#include "nodes/http_auth.hpp"

#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace recd::http {

namespace {

response unauthorized(std::string_view message, bool challenge) {
  response r{401, json_error(401, message)};
  if (challenge)
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

} // namespace

bool secret_equals(std::string_view presented, std::string_view secret) {
  if (secret.empty())
    return false;
  // Every byte of `presented` is compared (against the secret repeated), and
  // the length difference is folded in last: no early exit reveals a prefix.
  unsigned char diff = 0;
  for (std::size_t i = 0; i < presented.size(); ++i)
    diff |= static_cast<unsigned char>(presented[i] ^ secret[i % secret.size()]);
  const bool same_length = presented.size() == secret.size();
  return (diff == 0) & same_length;
}

std::optional<std::string_view> bearer_token(const request& r) {
  const auto value = r.header("authorization");
  if (!value)
    return std::nullopt;
  const auto v = trim(*value);
  constexpr std::string_view scheme = "bearer";
  if (v.size() <= scheme.size() || (v[scheme.size()] != ' ' && v[scheme.size()] != '\t'))
    return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if ((v[i] | 0x20) != scheme[i])
      return std::nullopt;
  return trim(v.substr(scheme.size()));
}

std::optional<response> check_admin_token(const request& r, std::string_view token) {
  if (token.empty())
    return response{403, json_error(403, "admin.token is not set")};
  const auto presented = bearer_token(r);
  if (!presented)
    return unauthorized("admin endpoints need Authorization: Bearer <admin token>", true);
  if (!secret_equals(*presented, token))
    return unauthorized("invalid admin token", true);
  return std::nullopt;
}

std::variant<std::shared_ptr<api_keys>, std::string> api_keys::load(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return "http.api_keys_file: cannot read " + path;
  std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  return parse(text, path);
}

std::variant<std::shared_ptr<api_keys>, std::string> api_keys::parse(std::string_view text,
                                                                   const std::string& origin) {
  auto out = std::make_shared<api_keys>();
  std::set<std::string, std::less<>> names;
  std::istringstream lines{std::string{text}};
  std::string raw;
  for (int number = 1; std::getline(lines, raw); ++number) {
    const auto line = trim(raw);
    if (line.empty() || line.front() == '#')
      continue;
    const auto where = origin + " line " + std::to_string(number) + ": ";
    const auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return where + "expected name:key";
    const auto name = trim(line.substr(0, colon));
    const auto secret = trim(line.substr(colon + 1));
    if (name.empty() || secret.empty())
      return where + "empty name or key";
    if (secret.find_first_of(" \t") != std::string_view::npos)
      return where + "a key must not contain whitespace";
    if (!names.emplace(name).second)
      return where + "key name '" + std::string{name} + "' given twice";
    out->keys_.push_back(
        {std::string{name}, std::string{secret}, std::make_unique<std::atomic<std::uint64_t>>(0)});
  }
  if (out->keys_.empty())
    return origin + ": no key (lines name:key)";
  return out;
}

std::optional<response> api_keys::check(const request& r) {
  auto presented = bearer_token(r);
  if (!presented)
    presented = r.header("x-api-key");
  if (!presented)
    return unauthorized("an API key is required: Authorization: Bearer <key> or X-Api-Key: <key>",
                        true);
  const auto given = trim(*presented);
  // Every key is compared, so the time does not say which one (nearly) matched.
  key* match = nullptr;
  for (auto& k : keys_)
    if (secret_equals(given, k.secret))
      match = &k;
  if (!match)
    return unauthorized("invalid API key", true);
  match->requests->fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

std::map<std::string, std::uint64_t> api_keys::counts() const {
  std::map<std::string, std::uint64_t> out;
  for (const auto& k : keys_)
    out.emplace(k.name, k.requests->load(std::memory_order_relaxed));
  return out;
}

} // namespace recd::http
