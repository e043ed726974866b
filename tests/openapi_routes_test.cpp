// The route table (nodes/routes.hpp) against docs/openapi.yaml as compiled
// into the binary (nodes/openapi_document.hpp, the body of GET /openapi.json):
// a route the gateway serves but the document lacks fails, and so does a
// documented operation the gateway does not route. The gateway answers only
// the table's rows (404/405 otherwise), so the table is what it serves; that
// each row has a working handler is checked by running every documented
// example against a live server (tests/api/openapi_examples_test.py).

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "nodes/openapi_document.hpp"
#include "nodes/routes.hpp"

namespace recd::test {
namespace {

using json = nlohmann::json;
using routes::outcome;
using routes::port;

// The document names the ports by their default addresses (http.addr and
// admin.addr): a path item without `servers` is on the public port only.
const std::string public_url = "http://127.0.0.1:8080";
const std::string admin_url = "http://127.0.0.1:9090";

using operation = std::tuple<std::string, std::string, std::string>; // port, METHOD, path

std::string name(port p) {
  return p == port::admin ? "admin" : "public";
}

json document() {
  auto doc = json::parse(openapi_json(), nullptr, false);
  EXPECT_TRUE(doc.is_object()) << "openapi_json() is not a JSON object";
  return doc;
}

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

TEST(OpenapiRoutes, TemplatesMatchWholeSegments) {
  EXPECT_TRUE(routes::fits("/api/recommend/{user_id}", "/api/recommend/42"));
  EXPECT_TRUE(routes::fits("/api/recommend/{user_id}", "/api/recommend/")); // handler: 404
  EXPECT_FALSE(routes::fits("/api/recommend/{user_id}", "/api/recommend/1/extra"));
  EXPECT_FALSE(routes::fits("/api/recommend/{user_id}", "/api/recommend"));
  EXPECT_FALSE(routes::fits("/api/stats", "/api/stats/"));
  EXPECT_FALSE(routes::fits("/api/stats", "/api/statsx"));
  EXPECT_FALSE(routes::fits("/api/stats", "api/stats"));
  EXPECT_TRUE(routes::fits("/ui/{file}", "/ui/dashboard.js"));
  EXPECT_TRUE(routes::fits("/", "/"));
  EXPECT_FALSE(routes::fits("/healthz", ""));
}

TEST(OpenapiRoutes, LookupTellsUnknownPathsFromOtherMethods) {
  auto found = routes::find(port::public_api, "GET", "/api/recommend/7");
  ASSERT_EQ(found.result, outcome::found);
  EXPECT_EQ(found.row->path, "/api/recommend/{user_id}");
  auto other = routes::find(port::public_api, "DELETE", "/api/stats");
  EXPECT_EQ(other.result, outcome::wrong_method);
  EXPECT_EQ(other.allow, "GET");
  EXPECT_EQ(routes::find(port::admin, "PUT", "/admin/jobs").allow, "GET, POST");
  EXPECT_EQ(routes::find(port::public_api, "GET", "/admin/cluster").result, outcome::unknown);
  EXPECT_EQ(routes::find(port::admin, "GET", "/api/stats").result, outcome::unknown);
  EXPECT_EQ(routes::find(port::public_api, "get", "/api/stats").result, outcome::wrong_method)
      << "methods are case-sensitive (RFC 9110)";
}

TEST(OpenapiRoutes, TheTableHoldsEachRouteOnce) {
  std::set<operation> seen;
  for (const auto& r : routes::all()) {
    EXPECT_TRUE(seen.emplace(name(r.on), std::string{r.method}, std::string{r.path}).second)
        << r.method << " " << r.path << " twice on the " << name(r.on) << " port";
    EXPECT_EQ(upper(std::string{r.method}), r.method);
    EXPECT_EQ(r.path.substr(0, 1), "/");
  }
}

TEST(OpenapiRoutes, TheDocumentDescribesExactlyTheRoutesTheGatewayServes) {
  const auto doc = document();
  ASSERT_TRUE(doc.contains("paths") && doc["paths"].is_object());
  std::set<operation> documented;
  for (const auto& [path, item] : doc["paths"].items()) {
    std::set<std::string> ports;
    if (item.contains("servers")) {
      for (const auto& s : item["servers"]) {
        const auto url = s.value("url", "");
        if (url == public_url)
          ports.insert("public");
        else if (url == admin_url)
          ports.insert("admin");
        else
          ADD_FAILURE() << path << ": server " << url << " is neither " << public_url << " nor "
                        << admin_url;
      }
    } else {
      ports.insert("public");
    }
    for (const auto& [key, op] : item.items()) {
      static const std::set<std::string> methods{"get", "put", "post", "delete", "options",
                                                 "head", "patch", "trace"};
      if (!methods.count(key))
        continue;
      const bool tagged_admin = op.contains("tags") && std::find(op["tags"].begin(), op["tags"].end(),
                                                                 json("admin")) != op["tags"].end();
      EXPECT_EQ(tagged_admin, ports.count("admin") == 1)
          << upper(key) << " " << path << ": tag `admin` exactly on the admin port's operations";
      for (const auto& p : ports)
        documented.emplace(p, upper(key), path);
    }
  }
  std::set<operation> served;
  for (const auto& r : routes::all())
    served.emplace(name(r.on), std::string{r.method}, std::string{r.path});

  for (const auto& [p, method, path] : served)
    EXPECT_TRUE(documented.count({p, method, path}))
        << method << " " << path << " (" << p << " port) is routed by the gateway "
        << "(nodes/routes.hpp) but not described in docs/openapi.yaml";
  for (const auto& [p, method, path] : documented)
    EXPECT_TRUE(served.count({p, method, path}))
        << method << " " << path << " (" << p << " port) is described in docs/openapi.yaml "
        << "but the gateway does not route it (nodes/routes.hpp)";
  EXPECT_FALSE(served.empty());
}

} // namespace
} // namespace recd::test
