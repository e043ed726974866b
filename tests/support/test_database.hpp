#pragma once
// A fresh, migrated PostgreSQL database per test, on the server scripts/test
// started (RECD_TEST_POSTGRES_ADMIN_URL). Dropped when the object dies.
#include <string>

#include <pqxx/pqxx>

namespace recd::test {

class test_database {
public:
  // Creates database recd_test_<tag>_<pid>_<n> and migrates it with `partitions`.
  explicit test_database(const std::string& tag, unsigned partitions = 16, bool migrate = true);
  ~test_database();
  test_database(const test_database&) = delete;
  test_database& operator=(const test_database&) = delete;

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  // A new connection to this database.
  pqxx::connection connect() const;
  // Runs one statement and returns the first column of the first row as text ("" if none).
  std::string scalar(const std::string& sql) const;

private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// A small synthetic shop (store::import_synthetic with these sizes and seed,
// timestamps up to now); throws std::runtime_error if the import fails.
void import_small_shop(const test_database& db, int users, int items, long events,
                       unsigned long seed = 7);

// RECD_TEST_POSTGRES_ADMIN_URL, or skips the calling test with GTEST_SKIP-like failure.
std::string admin_url();

} // namespace recd::test
