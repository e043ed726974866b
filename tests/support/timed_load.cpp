#include "support/timed_load.hpp"

#include <chrono>
#include <thread>

#include "support/e2e_text.hpp"

namespace recd::test {

namespace {

load_generator::options with_ports(const cluster& c, load_generator::options opt) {
  if (opt.ports.empty())
    opt.ports = c.api_ports();
  return opt;
}

} // namespace

timed_load::timed_load(const cluster& c, load_generator::options opt)
  : load_{with_ports(c, std::move(opt))}, watcher_{c, [this] { return load_.elapsed(); }} {}

void timed_load::mark(const std::string& what) { mark_at(elapsed(), what); }

void timed_load::mark_at(double at, const std::string& what) {
  marks_.push_back("t=" + fmt(at) + " s  " + what);
}

void timed_load::sleep_until(double t) const {
  while (elapsed() < t)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
}

timed_load::result timed_load::finish(const test_database& db, std::int64_t id_before) {
  result out;
  out.report = load_.finish();
  mark("load stopped");
  watcher_.stop();
  auto lines = marks_;
  for (auto& e : watcher_.events())
    lines.push_back(std::move(e));
  out.timeline = timeline_text(std::move(lines));
  info("load: " + out.report.summary() + "\ntimeline:\n" + out.timeline);
  if (!out.report.failed_behaviors.empty())
    info(committed_failures(db, out.report, id_before));
  return out;
}

} // namespace recd::test
