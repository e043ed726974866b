// The shared field parsers. See http_fields.hpp.
#include "nodes/http_fields.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "nodes/http_api.hpp"

namespace recd::http {

namespace {

using json = nlohmann::json;

constexpr std::int32_t max_id = std::numeric_limits<std::int32_t>::max();

} // namespace

std::optional<std::int32_t> id_text(std::string_view s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  std::int32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size())
    return std::nullopt;
  return v;
}

std::optional<std::int32_t> id_json(const json& j) {
  if (j.is_number_unsigned()) {
    auto v = j.get<std::uint64_t>();
    if (v <= static_cast<std::uint64_t>(max_id))
      return static_cast<std::int32_t>(v);
  } else if (j.is_number_integer()) {
    auto v = j.get<std::int64_t>();
    if (v >= 0 && v <= max_id)
      return static_cast<std::int32_t>(v);
  } else if (j.is_number_float()) {
    auto d = j.get<double>();
    if (std::isfinite(d) && d >= 0 && d <= max_id && std::floor(d) == d)
      return static_cast<std::int32_t>(d);
  } else if (j.is_string()) {
    return id_text(j.get_ref<const std::string&>());
  }
  return std::nullopt;
}

std::optional<unix_seconds> timestamp_json(const json& j) {
  constexpr double bound = 1e15;
  if (j.is_number_unsigned()) {
    auto v = j.get<std::uint64_t>();
    if (v <= static_cast<std::uint64_t>(bound))
      return static_cast<unix_seconds>(v);
  } else if (j.is_number_integer()) {
    auto v = j.get<std::int64_t>();
    if (v >= -static_cast<std::int64_t>(bound) && v <= static_cast<std::int64_t>(bound))
      return v;
  } else if (j.is_number_float()) {
    auto d = j.get<double>();
    if (std::isfinite(d) && std::fabs(d) <= bound)
      return static_cast<unix_seconds>(std::floor(d));
  } else if (j.is_string()) {
    return parse_timestamp(j.get_ref<const std::string&>());
  }
  return std::nullopt;
}

std::optional<std::string_view> last_param(const request& r, std::string_view key) {
  std::optional<std::string_view> found;
  for (const auto& [k, v] : r.query)
    if (k == key)
      found = v;
  return found;
}

std::optional<bool> parse_bool(std::string_view s) {
  std::string lower{s};
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  for (std::string_view t : {"true", "1", "yes", "on", "t", "y"})
    if (lower == t)
      return true;
  for (std::string_view f : {"false", "0", "no", "off", "f", "n"})
    if (lower == f)
      return false;
  return std::nullopt;
}

} // namespace recd::http
