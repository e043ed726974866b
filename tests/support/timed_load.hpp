#pragma once
// A bounded client load (support/load_generator.hpp) on a cluster's API nodes
// around the events a test makes happen, with one timeline: the test's own
// marks and every change of the map (map_watcher), in the load's seconds.
// The scaffolding every "under load" cluster test shares.

#include <string>
#include <vector>

#include "support/cluster_harness.hpp"
#include "support/load_generator.hpp"
#include "support/test_database.hpp"

namespace recd::test {

class timed_load {
public:
  // Starts the load on opt.ports (the cluster's API nodes if empty) and
  // watches the map.
  timed_load(const cluster& c, load_generator::options opt);
  timed_load(const timed_load&) = delete;
  timed_load& operator=(const timed_load&) = delete;

  // Seconds since the load started.
  double elapsed() const { return load_.elapsed(); }
  load_generator& load() { return load_; }
  // "t=<elapsed> s  what" on the timeline.
  void mark(const std::string& what);
  // "t=<at> s  what": an event timed by the test itself.
  void mark_at(double at, const std::string& what);
  // Sleeps until the load has run `t` seconds.
  void sleep_until(double t) const;

  struct result {
    load_report report;
    std::string timeline; // every line in time order
  };
  // Stops the load and the watcher, and reports (info) the load's summary
  // and the timeline, and which failed behaviors were committed anyway (rows
  // of `db` above `id_before`).
  result finish(const test_database& db, std::int64_t id_before);

private:
  load_generator load_;
  map_watcher watcher_;
  std::vector<std::string> marks_;
};

} // namespace recd::test
