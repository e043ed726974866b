#pragma once
// Every HTTP route recd serves, in one table: the gateway (gateway.cpp,
// gateway_admin.cpp, dashboard.cpp) answers a request only if it matches a row
// here (404 for an unknown path, 405 with `Allow` for a known path with another
// method), and docs/openapi.yaml must describe exactly these rows
// (tests/openapi_routes_test.cpp compares this table with the document compiled
// into the binary, both ways; tests/api/openapi_examples_test.py runs every
// documented example against a live server). A new route: add its row here,
// its handler in the gateway, and its operation in docs/openapi.yaml.
//
// Paths are templates: a `{name}` segment matches any one segment (possibly
// empty: its handler validates the value), every other segment matches
// itself. The gateway's own checks before the table stay as they were: the
// probes, the API key on /api/*, the admin token on the admin port.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace recd::routes {

enum class port : std::uint8_t {
  public_api, // http.addr: probes, /openapi.json, /api/*
  admin,      // admin.addr: probes, /metrics, /admin/*, /ui
};

struct route {
  port on;
  std::string_view method; // "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"
  std::string_view path;   // "/api/recommend/{user_id}"
};

// Append new rows at the end of their port's block (several branches add routes).
inline constexpr route table[] = {
  // --- public port -----------------------------------------------------------
  {port::public_api, "GET", "/healthz"},
  {port::public_api, "HEAD", "/healthz"},
  {port::public_api, "GET", "/readyz"},
  {port::public_api, "HEAD", "/readyz"},
  {port::public_api, "GET", "/openapi.json"},
  {port::public_api, "GET", "/api/recommend/{user_id}"},
  {port::public_api, "POST", "/api/behavior"},
  {port::public_api, "GET", "/api/stats"},
  {port::public_api, "POST", "/api/recommend"},
  {port::public_api, "GET", "/api/items/{item_id}/similar"},
  {port::public_api, "GET", "/api/items/{item_id}/also-bought"},
  {port::public_api, "POST", "/api/behaviors"},
  {port::public_api, "PUT", "/api/items/{item_id}"},
  {port::public_api, "PATCH", "/api/items/{item_id}"},
  {port::public_api, "GET", "/api/items/{item_id}"},
  {port::public_api, "DELETE", "/api/items/{item_id}"},
  {port::public_api, "POST", "/api/items"},
  {port::public_api, "PUT", "/api/users/{user_id}"},
  {port::public_api, "GET", "/api/users/{user_id}"},
  {port::public_api, "DELETE", "/api/users/{user_id}"},
  {port::public_api, "GET", "/readyz/replica"},
  {port::public_api, "HEAD", "/readyz/replica"},
  // --- admin port ------------------------------------------------------------
  {port::admin, "GET", "/healthz"},
  {port::admin, "HEAD", "/healthz"},
  {port::admin, "GET", "/readyz"},
  {port::admin, "HEAD", "/readyz"},
  {port::admin, "GET", "/metrics"},
  {port::admin, "HEAD", "/metrics"},
  {port::admin, "GET", "/admin/cluster"},
  {port::admin, "POST", "/admin/rebalance"},
  {port::admin, "GET", "/admin/jobs"},
  {port::admin, "POST", "/admin/jobs"},
  {port::admin, "POST", "/admin/drain"},
  {port::admin, "POST", "/admin/cache/flush"},
  {port::admin, "GET", "/admin/check"},
  {port::admin, "GET", "/admin/stats"},
  {port::admin, "GET", "/admin/serving"},
  {port::admin, "GET", "/admin/quality"},
  {port::admin, "GET", "/admin/try/{user_id}"},
  {port::admin, "GET", "/admin/similar/{item_id}"},
  {port::admin, "GET", "/ui"},
  {port::admin, "HEAD", "/ui"},
  {port::admin, "GET", "/ui/{file}"},
  {port::admin, "HEAD", "/ui/{file}"},
  {port::admin, "GET", "/admin/rules"},
  {port::admin, "POST", "/admin/rules/reload"},
  {port::admin, "GET", "/readyz/replica"},
  {port::admin, "HEAD", "/readyz/replica"},
};

enum class outcome : std::uint8_t {
  found,        // a row has this method and path
  wrong_method, // the path is known, with other methods only (`allow` lists them)
  unknown,      // no row has this path
};

struct match {
  outcome result = outcome::unknown;
  const route* row = nullptr; // when found
  std::string allow;          // when wrong_method: "GET, HEAD"
};

// True if `path` (percent-decoded, no query) fits the template `pattern`.
bool fits(std::string_view pattern, std::string_view path);

// Looks `method` and `path` up among `on`'s rows.
match find(port on, std::string_view method, std::string_view path);

// The rows of the table (for tests and the route listing).
inline std::span<const route> all() { return table; }

} // namespace recd::routes
