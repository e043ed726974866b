#pragma once
// Secrets in settings and in the text recd prints. A setting is secret when
// its key names a token, password or passphrase (redis.password,
// cluster.tls_passphrase, ...); the password inside postgres.url and
// redis.url is secret too. Secrets are shown as "****" by `recd config` and
// must never reach a log line, an error message or an HTTP body: anything
// that prints a URL or a library's error text passes it through redact().

#include <string>
#include <string_view>

#include "config/settings.hpp"

namespace recd {

inline constexpr std::string_view secret_mask = "****";

// True for "section.key" names whose value is a secret as a whole.
bool is_secret_setting(std::string_view name);

// `url` with its password replaced by ****: "scheme://user:pw@host" ->
// "scheme://user:****@host"; in a libpq key=value string, password=... ->
// password=****. Text without a password is returned unchanged.
std::string redact_url(std::string_view url);

// `text` (an error message, a log line) with every URL-embedded password,
// every libpq password=... and every occurrence of a secret value of `s`
// replaced by ****.
std::string redact(std::string_view text, const settings& s);
// The same for callers holding only a connection string: its password and
// the URL patterns above.
std::string redact(std::string_view text, std::string_view url);

// The value to print for setting `name` (secret settings and URL passwords masked).
std::string shown_value(std::string_view name, const std::string& value);

} // namespace recd
