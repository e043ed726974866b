#include "support/test_database.hpp"

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <unistd.h>

#include "engine/synthetic.hpp"
#include "store/database.hpp"
#include "store/importer.hpp"

namespace recd::test {

std::string admin_url() {
  const char* url = std::getenv("RECD_TEST_POSTGRES_ADMIN_URL");
  if (url == nullptr || *url == '\0')
    throw std::runtime_error("RECD_TEST_POSTGRES_ADMIN_URL is not set: run the tests through scripts/test");
  return url;
}

namespace {
std::atomic<int> counter{0};

// Replaces the database name (the path after the last '/') of a URL.
std::string with_database(const std::string& url, const std::string& db) {
  auto slash = url.rfind('/');
  auto query = url.find('?', slash);
  return url.substr(0, slash + 1) + db + (query == std::string::npos ? "" : url.substr(query));
}
} // namespace

test_database::test_database(const std::string& tag, unsigned partitions, bool migrate)
  : admin_url_(admin_url()) {
  name_ = "recd_test_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  url_ = with_database(admin_url_, name_);
  {
    pqxx::connection admin{admin_url_};
    pqxx::nontransaction tx{admin};
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_));
    tx.exec("CREATE DATABASE " + tx.quote_name(name_));
  }
  if (migrate) {
    pqxx::connection c{url_};
    auto report = store::migrate(c, partitions);
    if (!report)
      throw std::runtime_error("migrate failed: " + describe(report.error()));
  }
}

test_database::~test_database() {
  try {
    pqxx::connection admin{admin_url_};
    pqxx::nontransaction tx{admin};
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (...) {
    // Best effort: the whole server is thrown away after the run.
  }
}

pqxx::connection test_database::connect() const { return pqxx::connection{url_}; }

std::string test_database::scalar(const std::string& sql) const {
  pqxx::connection c{url_};
  pqxx::nontransaction tx{c};
  auto r = tx.exec(sql);
  if (r.empty() || r[0].empty() || r[0][0].is_null())
    return "";
  return r[0][0].c_str();
}

void import_small_shop(const test_database& db, int users, int items, long events,
                       unsigned long seed) {
  engine::synthetic_options opt;
  opt.users = users;
  opt.items = items;
  opt.events = events;
  opt.seed = seed;
  auto c = db.connect();
  auto report = store::import_synthetic(c, opt);
  if (!report)
    throw std::runtime_error("import_synthetic: " + describe(report.error()));
}

} // namespace recd::test
