// store::conninfo (the one place connection strings are built) and the
// secret masking of config/secrets.hpp, against the test PostgreSQL.

#include <gtest/gtest.h>

#include <string>

#include <pqxx/pqxx>

#include "config/secrets.hpp"
#include "store/database.hpp"
#include "support/test_database.hpp"

namespace recd {
namespace {

postgres_settings with_url(const std::string& url) {
  postgres_settings pg;
  pg.url = url;
  return pg;
}

TEST(StoreConninfo, AUriGetsTimeoutsAndKeepalivesAsQueryParameters) {
  auto s = store::conninfo(with_url("postgresql://recd@db:5432/recd"), store::session::serving);
  EXPECT_EQ(s, "postgresql://recd@db:5432/recd?connect_timeout=5&keepalives=1&keepalives_idle=30"
               "&keepalives_interval=10&keepalives_count=3&options=-c%20statement_timeout%3D30000");
  auto job =
      store::conninfo(with_url("postgresql://recd@db/recd?sslmode=disable"), store::session::job);
  EXPECT_NE(job.find("?sslmode=disable&connect_timeout=5&"), std::string::npos) << job;
  EXPECT_NE(job.find("options=-c%20statement_timeout%3D0"), std::string::npos) << job;
}

TEST(StoreConninfo, AParameterTheUrlSetsIsLeftAsTheUrlSaysIt) {
  auto s =
      store::conninfo(with_url("postgresql://db/recd?connect_timeout=9"), store::session::serving);
  EXPECT_NE(s.find("connect_timeout=9"), std::string::npos);
  EXPECT_EQ(s.find("connect_timeout=5"), std::string::npos) << s;
  auto kv =
      store::conninfo(with_url("host=db dbname=recd keepalives_idle=99"), store::session::serving);
  EXPECT_EQ(kv, "host=db dbname=recd keepalives_idle=99 connect_timeout=5 keepalives=1 "
                "keepalives_interval=10 keepalives_count=3 options='-c statement_timeout=30000'");
}

TEST(StoreConninfo, ServingAndJobSessionsGetTheirStatementTimeouts) {
  test::test_database db{"conninfo", 4, false};
  auto pg = with_url(db.url());
  pg.statement_timeout_ms = 1234;
  pg.job_statement_timeout_ms = 0;
  auto show = [&](store::session kind) {
    auto c = store::connect(store::conninfo(pg, kind));
    EXPECT_TRUE(c) << (c ? "" : describe(c.error()));
    pqxx::nontransaction tx{**c};
    return tx.exec1("SHOW statement_timeout")[0].as<std::string>();
  };
  EXPECT_EQ(show(store::session::serving), "1234ms");
  EXPECT_EQ(show(store::session::job), "0");
}

TEST(Secrets, UrlPasswordsAreMasked) {
  EXPECT_EQ(redact_url("postgresql://recd:pw@db:5432/recd"), "postgresql://recd:****@db:5432/recd");
  EXPECT_EQ(redact_url("redis://:pw@cache:6379/1"), "redis://:****@cache:6379/1");
  EXPECT_EQ(redact_url("redis://user:p%40ss@cache"), "redis://user:****@cache");
  EXPECT_EQ(redact_url("postgresql://recd@db/recd"), "postgresql://recd@db/recd");
  EXPECT_EQ(redact_url("host=db password=pw dbname=recd"), "host=db password=**** dbname=recd");
  EXPECT_EQ(redact_url("host=db password='a b' dbname=recd"), "host=db password=**** dbname=recd");
  EXPECT_EQ(redact_url("postgresql://db/recd?user=u&password=pw&sslmode=require"),
            "postgresql://db/recd?user=u&password=****&sslmode=require");
}

TEST(Secrets, ErrorTextLosesEveryKnownSecret) {
  auto url = std::string{"postgresql://recd:hunter22@db/recd"};
  EXPECT_EQ(redact("connection to db failed for hunter22 (" + url + ")", url),
            "connection to db failed for **** (postgresql://recd:****@db/recd)");
  settings s;
  s.redis.password = "redis-secret";
  s.cluster.tls_passphrase = "tls-secret";
  EXPECT_EQ(redact("a redis-secret and a tls-secret", s), "a **** and a ****");
}

TEST(Secrets, SecretSettingsAreShownMasked) {
  EXPECT_TRUE(is_secret_setting("redis.password"));
  EXPECT_TRUE(is_secret_setting("cluster.tls_passphrase"));
  EXPECT_TRUE(is_secret_setting("admin.token"));
  EXPECT_FALSE(is_secret_setting("redis.url"));
  EXPECT_EQ(shown_value("redis.password", "x"), "****");
  EXPECT_EQ(shown_value("redis.password", ""), "") << "an unset secret shows as unset";
  EXPECT_EQ(shown_value("postgres.url", "postgresql://u:p@h/d"), "postgresql://u:****@h/d");
  EXPECT_EQ(shown_value("http.addr", "127.0.0.1:8080"), "127.0.0.1:8080");
}

} // namespace
} // namespace recd
