#include "actors/job_driver_state.hpp"

#include "actors/telemetry.hpp"
#include "protocol/errors.hpp"
#include "store/job_runs.hpp"

namespace recd::job_driving {

void driver_state::report(std::uint64_t done, std::uint64_t rows, bool force) {
  node_telemetry().job.progress(to_string(kind), done, total, rows);
  if (!listener || (!force && clock::now() - last_report < std::chrono::milliseconds{500}))
    return;
  last_report = clock::now();
  caf::anon_send(listener, progress_atom_v, run_progress{kind, done, total, rows});
}

caf::error driver_state::begin() {
  started = clock::now();
  last_report = started - std::chrono::seconds{1};
  progress.clear();
  auto c = db.get();
  if (!c)
    return c.error();
  conn = *c;
  std::optional<std::int64_t> run;
  auto err = store::guard([&] { run = store::start_run(*conn, kind, term); });
  if (err)
    return err;
  if (!run)
    return make_error(ec::job_running, std::string{to_string(kind)} + " is already running");
  run_id = *run;
  node_telemetry().job.begin(to_string(kind), run_id);
  return caf::none;
}

void driver_state::fail(const caf::error& err) {
  if (!active)
    return;
  active = false;
  node_telemetry().job.end(to_string(kind));
  store::guard([&] { store::record_run_failed(*conn, run_id, describe(err), staging); });
  unlock();
  for (auto& w : workers)
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  workers.clear();
  for (auto& w : similarity_workers)
    if (w)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  similarity_workers.clear();
  if (snapshot)
    snapshot->release();
  snapshot.reset();
  if (err.category() == error_category &&
      err.code() == static_cast<std::uint8_t>(ec::database_unavailable))
    db.reset();
  promise.deliver(err);
}

void driver_state::unlock() {
  store::guard([&] { store::release_run_lock(*conn, kind); });
  staging.clear();
}

void driver_state::succeed(std::uint64_t inputs, std::uint64_t rows) {
  active = false;
  // The workers stay until the run ends (each one's exit would fail it).
  for (auto& w : similarity_workers)
    if (w)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  similarity_workers.clear();
  snapshot.reset();
  unlock();
  report(total, rows, true);
  node_telemetry().job.end(to_string(kind));
  job_summary s{kind, run_id, inputs, rows,
                std::chrono::duration<double>(clock::now() - started).count()};
  promise.deliver(s);
}

} // namespace recd::job_driving
