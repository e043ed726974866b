#include "config/secrets.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace recd {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  if (what.empty())
    return;
  for (auto pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + with.size()))
    text.replace(pos, what.size(), with);
}

// Masks "scheme://user:password@" everywhere in `text`.
void mask_uri_passwords(std::string& text) {
  for (std::size_t pos = text.find("://"); pos != std::string::npos;
       pos = text.find("://", pos + 3)) {
    auto start = pos + 3;
    // The authority ends at the first '/', '?', '#' or blank.
    auto end = text.find_first_of("/?# \t\n'\"", start);
    if (end == std::string::npos)
      end = text.size();
    auto at = text.rfind('@', end);
    if (at == std::string::npos || at < start)
      continue;
    auto colon = text.find(':', start);
    if (colon == std::string::npos || colon > at)
      continue;
    text.replace(colon + 1, at - colon - 1, secret_mask);
  }
}

// Masks libpq's password=value (value plain or single-quoted), and
// ?password=/&password= URI parameters.
void mask_keyword_passwords(std::string& text) {
  auto lowered = lower(text);
  for (std::size_t pos = lowered.find("password="); pos != std::string::npos;
       pos = lowered.find("password=", pos + 1)) {
    if (pos > 0 &&
        (std::isalnum(static_cast<unsigned char>(lowered[pos - 1])) || lowered[pos - 1] == '_'))
      continue; // e.g. "nopassword="
    auto start = pos + 9;
    auto end = start;
    if (end < text.size() && text[end] == '\'') {
      ++end;
      while (end < text.size() && text[end] != '\'') {
        if (text[end] == '\\')
          ++end;
        ++end;
      }
      end = std::min(end + 1, text.size());
    } else {
      while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) &&
             text[end] != '&' && text[end] != '"')
        ++end;
    }
    text.replace(start, end - start, secret_mask);
    lowered = lower(text);
  }
}

// The password a URL or key=value string carries, "" if none.
std::string password_of(std::string_view url) {
  std::string text{url};
  auto masked = text;
  mask_uri_passwords(masked);
  mask_keyword_passwords(masked);
  if (masked == text)
    return {};
  // The first differing stretch of the original is the password.
  std::size_t i = 0;
  while (i < masked.size() && i < text.size() && masked[i] == text[i])
    ++i;
  std::size_t tail = 0;
  while (tail < masked.size() - i && tail < text.size() - i &&
         masked[masked.size() - 1 - tail] == text[text.size() - 1 - tail])
    ++tail;
  return text.substr(i, text.size() - i - tail);
}

std::string redact_known(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out{text};
  mask_uri_passwords(out);
  mask_keyword_passwords(out);
  for (const auto& s : secrets)
    if (s.size() >= 3) // a one- or two-letter "secret" would mask unrelated text
      replace_all(out, s, secret_mask);
  return out;
}

} // namespace

bool is_secret_setting(std::string_view name) {
  auto key = lower(name);
  for (std::string_view word : {"token", "password", "passphrase", "secret"})
    if (key.find(word) != std::string::npos)
      return true;
  return false;
}

std::string redact_url(std::string_view url) {
  std::string out{url};
  mask_uri_passwords(out);
  mask_keyword_passwords(out);
  return out;
}

std::string redact(std::string_view text, std::string_view url) {
  auto pw = password_of(url);
  // A percent-encoded password may appear decoded in a library's message.
  return redact_known(text, {pw});
}

std::string redact(std::string_view text, const settings& s) {
  std::vector<std::string> secrets;
  for (const auto& info : setting_table()) {
    auto value = info.get(s);
    if (is_secret_setting(info.name))
      secrets.push_back(value);
    else if (info.name.size() > 4 && info.name.ends_with(".url"))
      secrets.push_back(password_of(value));
  }
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return redact_known(text, secrets);
}

std::string shown_value(std::string_view name, const std::string& value) {
  if (is_secret_setting(name))
    return value.empty() ? value : std::string{secret_mask};
  return redact_url(value);
}

} // namespace recd
