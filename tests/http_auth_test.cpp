// Credential checks of the HTTP front door (nodes/http_auth.hpp), without I/O.

#include "nodes/http_auth.hpp"

#include <gtest/gtest.h>

namespace {

using recd::http::api_keys;
using recd::http::request;

request with_headers(std::vector<std::pair<std::string, std::string>> headers) {
  request r;
  r.headers = std::move(headers);
  return r;
}

TEST(HttpAuth, SecretEqualsOnlyTheExactSecret) {
  EXPECT_TRUE(recd::http::secret_equals("s3cret", "s3cret"));
  EXPECT_FALSE(recd::http::secret_equals("s3cre", "s3cret"));
  EXPECT_FALSE(recd::http::secret_equals("s3cretX", "s3cret"));
  EXPECT_FALSE(recd::http::secret_equals("s3cres3cret", "s3cret"));
  EXPECT_FALSE(recd::http::secret_equals("", "s3cret"));
  EXPECT_FALSE(recd::http::secret_equals("", "")) << "an empty secret never matches";
}

TEST(HttpAuth, BearerTokenNeedsTheBearerScheme) {
  EXPECT_EQ(recd::http::bearer_token(with_headers({{"authorization", "Bearer abc"}})), "abc");
  EXPECT_EQ(recd::http::bearer_token(with_headers({{"authorization", "bearer  abc "}})), "abc");
  EXPECT_FALSE(recd::http::bearer_token(with_headers({{"authorization", "Basic abc"}})));
  EXPECT_FALSE(recd::http::bearer_token(with_headers({{"authorization", "Bearer"}})));
  EXPECT_FALSE(recd::http::bearer_token(with_headers({{"authorization", "Bearerabc"}})));
  EXPECT_FALSE(recd::http::bearer_token(with_headers({})));
}

TEST(HttpAuth, AdminTokenMissingWrongRightAndUnset) {
  const auto missing = recd::http::check_admin_token(with_headers({}), "Zq9x");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401u);
  ASSERT_EQ(missing->headers.size(), 1u);
  EXPECT_EQ(missing->headers[0].first, "WWW-Authenticate");
  const auto wrong =
      recd::http::check_admin_token(with_headers({{"authorization", "Bearer Zq9y"}}), "Zq9x");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401u);
  EXPECT_EQ(wrong->body.find("Zq9"), std::string::npos);
  EXPECT_FALSE(recd::http::check_admin_token(with_headers({{"authorization", "Bearer Zq9x"}}), "Zq9x"));
  const auto unset =
      recd::http::check_admin_token(with_headers({{"authorization", "Bearer Zq9x"}}), "");
  ASSERT_TRUE(unset);
  EXPECT_EQ(unset->status, 403u);
  EXPECT_EQ(unset->body, R"({"error":"admin.token is not set","status":403})");
}

TEST(HttpAuth, ApiKeysFileErrorsNameTheLineNeverTheKey) {
  auto error_of = [](std::string_view text) {
    auto parsed = api_keys::parse(text, "keys");
    auto* e = std::get_if<std::string>(&parsed);
    return e ? *e : std::string{"(parsed)"};
  };
  EXPECT_EQ(error_of("# c\nweb key-1\n"), "keys line 2: expected name:key");
  EXPECT_EQ(error_of("web:\n"), "keys line 1: empty name or key");
  EXPECT_EQ(error_of(":k\n"), "keys line 1: empty name or key");
  EXPECT_EQ(error_of("web:a b\n"), "keys line 1: a key must not contain whitespace");
  EXPECT_EQ(error_of("web:k1\nweb:k2\n"), "keys line 2: key name 'web' given twice");
  EXPECT_EQ(error_of("# only comments\n\n"), "keys: no key (lines name:key)");
}

TEST(HttpAuth, ApiKeysAcceptBearerOrXApiKeyAndCountPerName) {
  auto parsed = api_keys::parse("# front ends\n web : k-web \nmobile:k-mob\n", "keys");
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<api_keys>>(parsed));
  auto keys = std::get<std::shared_ptr<api_keys>>(parsed);
  EXPECT_FALSE(keys->check(with_headers({{"authorization", "Bearer k-web"}})));
  EXPECT_FALSE(keys->check(with_headers({{"x-api-key", "k-web"}})));
  EXPECT_FALSE(keys->check(with_headers({{"x-api-key", "k-mob"}})));
  const auto wrong = keys->check(with_headers({{"x-api-key", "k-we"}}));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401u);
  const auto missing = keys->check(with_headers({}));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401u);
  const std::map<std::string, std::uint64_t> expected{{"mobile", 1}, {"web", 2}};
  EXPECT_EQ(keys->counts(), expected);
}

} // namespace
