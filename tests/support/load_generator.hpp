#pragma once
// Bounded client load against a cluster's API nodes, and the checks of what
// it leaves behind: every acknowledged behavior stored as acknowledged, no
// bought item recommended again, and a readable timeline of the run.
//
// The load is bounded on purpose (suites must take seconds): a few client
// threads, stopped by finish(), after max_duration or after max_rounds rounds
// per thread, whichever comes first; every request has a 5 s client timeout
// (support/api_client.hpp). The threads only make HTTP requests: start and
// stop nodes from the test's main thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e_text.hpp"
#include "support/test_database.hpp"

namespace recd::test {

struct acked_behavior {
  std::int64_t id = 0;
  std::int64_t user = 0;
  std::int64_t item = 0;
  std::string kind;
  double at = 0;
};

struct request_failure {
  double at = 0; // seconds since the load started
  std::string what;
};

struct load_report {
  std::int64_t recommends = 0;
  std::int64_t behaviors = 0;
  std::int64_t degraded = 0;
  std::int64_t recommend_failures = 0;
  std::int64_t behavior_failures = 0;
  std::vector<request_failure> failures; // the first few
  std::vector<acked_behavior> acked;
  std::vector<acked_behavior> failed_behaviors; // id 0
  double seconds = 0;
  double max_latency_ms = 0;

  std::string summary() const;
  std::string first_failures() const;
};

// Client threads against the API nodes: each round a recommend GET (random user,
// random node, limit 10, random use_cache) and, with probability
// `behavior_share`, a behavior POST through ANOTHER node: half of them a buy of
// the item just recommended first, the rest a view/click/cart of a random item.
// Every request has a 5 s client timeout. Stops at stop(), after `max_duration`,
// or after `max_rounds` rounds per thread.
class load_generator {
public:
  struct options {
    std::vector<std::uint16_t> ports;
    int threads = 3;
    std::chrono::milliseconds max_duration = std::chrono::seconds{20};
    int max_rounds = 3000;
    std::int32_t users = 3000;
    std::int32_t items = 600;
    double behavior_share = 0.4;
    std::uint64_t seed = 1;
  };

  explicit load_generator(options opt);
  ~load_generator() { finish(); }
  load_generator(const load_generator&) = delete;
  load_generator& operator=(const load_generator&) = delete;

  // Seconds since the load started (the clock of its report and timelines).
  double elapsed() const { return seconds_since(t0_); }
  // The API nodes' ports from the next round on (a load balancer's
  // endpoints: a test takes a node out before stopping it). Not empty.
  void set_ports(std::vector<std::uint16_t> ports);
  std::int64_t rounds() const { return rounds_.load(); }

  // Stops the threads (idempotent); the report, acknowledged behaviors sorted by id.
  load_report finish();

private:
  void failure(bool is_behavior, const std::string& what);
  void run(int t);

  options opt_;
  steady::time_point t0_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> rounds_{0};
  std::mutex mutex_;
  load_report report_;
  bool finished_ = false;
  std::vector<std::thread> threads_;
};

// Every acknowledged behavior is a row of user_behavior with its id, user, item and kind
// (GoogleTest failures otherwise).
void expect_acked_behaviors_stored(const test_database& db,
                                   const std::vector<acked_behavior>& acked);

// Whether behaviors that failed were committed anyway: a row for the same user,
// item and kind with an id above `id_before` that no acknowledgement names
// (an answer lost after the commit). "" if none failed.
std::string committed_failures(const test_database& db, const load_report& report,
                               std::int64_t id_before);

// Read-your-writes after the dust settled: for every user whose acknowledged buys
// include an item, no answer (use_cache=false) recommends that item again
// (at most `max_users` users; a GoogleTest failure names the offenders).
void expect_bought_items_not_recommended(const std::vector<std::uint16_t>& ports,
                                         const std::vector<acked_behavior>& acked,
                                         std::size_t max_users, int partitions,
                                         const std::string& timeline);

// "t=<seconds> s ..." lines from several sources, in time order, one string.
std::string timeline_text(std::vector<std::string> lines);

} // namespace recd::test
