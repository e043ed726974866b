#include "engine/timestamp.hpp"

#include <chrono>
#include <cstdint>

namespace recd::engine {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A small cursor over the input; every reader consumes only on success.
struct cursor {
  std::string_view s;
  std::size_t pos = 0;

  bool done() const { return pos == s.size(); }
  char peek() const { return done() ? '\0' : s[pos]; }
  bool eat(char c) {
    if (peek() != c)
      return false;
    ++pos;
    return true;
  }
  // Exactly n decimal digits.
  std::optional<int> fixed(std::size_t n) {
    if (s.size() - pos < n)
      return std::nullopt;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!is_digit(s[pos + i]))
        return std::nullopt;
      v = v * 10 + (s[pos + i] - '0');
    }
    pos += n;
    return v;
  }
  // One or more digits (a fraction whose value is ignored).
  bool skip_digits() {
    auto start = pos;
    while (!done() && is_digit(s[pos]))
      ++pos;
    return pos > start;
  }
};

// "[+-]digits[.digits]", the integer part within the representable range.
std::optional<unix_seconds> parse_unix(std::string_view s) {
  cursor in{s};
  bool negative = in.eat('-');
  if (!negative)
    in.eat('+');
  std::int64_t whole = 0;
  bool any = false;
  while (!in.done() && is_digit(in.peek())) {
    whole = whole * 10 + (in.peek() - '0');
    ++in.pos;
    any = true;
    if (whole > max_timestamp + 1) // keeps the accumulator far from overflow
      return std::nullopt;
  }
  if (!any)
    return std::nullopt;
  bool fraction_nonzero = false;
  if (in.eat('.')) {
    auto start = in.pos;
    if (!in.skip_digits())
      return std::nullopt;
    for (auto i = start; i < in.pos; ++i)
      fraction_nonzero |= s[i] != '0';
  }
  if (!in.done())
    return std::nullopt;
  // Truncate toward the earlier second: -1.5 is in second -2.
  unix_seconds v = negative ? -whole - (fraction_nonzero ? 1 : 0) : whole;
  if (v < min_timestamp || v > max_timestamp)
    return std::nullopt;
  return v;
}

std::optional<unix_seconds> parse_iso(std::string_view s) {
  using namespace std::chrono;
  cursor in{s};
  auto y = in.fixed(4);
  if (!y || !in.eat('-'))
    return std::nullopt;
  auto mo = in.fixed(2);
  if (!mo || !in.eat('-'))
    return std::nullopt;
  auto d = in.fixed(2);
  if (!d)
    return std::nullopt;
  year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (*y < 1 || !date.ok())
    return std::nullopt;
  std::int64_t seconds = 0; // of the day
  std::int64_t offset = 0;  // zone offset east of UTC, in seconds
  if (!in.done()) {
    if (!(in.eat('T') || in.eat('t') || in.eat(' ')))
      return std::nullopt;
    auto h = in.fixed(2);
    if (!h || !in.eat(':'))
      return std::nullopt;
    auto mi = in.fixed(2);
    if (!mi)
      return std::nullopt;
    int sec = 0;
    if (in.eat(':')) {
      auto sv = in.fixed(2);
      if (!sv)
        return std::nullopt;
      sec = *sv;
      if ((in.eat('.') || in.eat(',')) && !in.skip_digits())
        return std::nullopt;
    }
    if (*h > 23 || *mi > 59 || sec > 59)
      return std::nullopt;
    seconds = *h * 3600 + *mi * 60 + sec;
    if (in.eat('Z') || in.eat('z')) {
      // UTC
    } else if (in.peek() == '+' || in.peek() == '-') {
      int sign = in.peek() == '-' ? -1 : 1;
      ++in.pos;
      auto oh = in.fixed(2);
      if (!oh)
        return std::nullopt;
      int om = 0;
      if (!in.done()) {
        in.eat(':'); // +HH:MM or +HHMM
        auto omv = in.fixed(2);
        if (!omv)
          return std::nullopt;
        om = *omv;
      }
      if (*oh > 23 || om > 59)
        return std::nullopt;
      offset = sign * (*oh * 3600 + om * 60);
    }
  }
  if (!in.done())
    return std::nullopt;
  auto days = sys_days{date}.time_since_epoch().count();
  unix_seconds v = static_cast<std::int64_t>(days) * 86400 + seconds - offset;
  if (v < min_timestamp || v > max_timestamp)
    return std::nullopt;
  return v;
}

} // namespace

std::optional<unix_seconds> parse_timestamp(std::string_view text) {
  // ISO dates are the only accepted form with a '-' after the first character.
  if (text.size() >= 5 && is_digit(text[0]) && text[4] == '-')
    return parse_iso(text);
  return parse_unix(text);
}

} // namespace recd::engine
