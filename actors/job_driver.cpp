#include "actors/census.hpp"
#include "actors/job_driver.hpp"

#include <algorithm>

#include <caf/all.hpp>

#include "actors/job_driver_state.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "protocol/type_ids.hpp"

namespace recd {

namespace job_driving {

namespace {

job_driver_actor::behavior_type job_driver(driver_actor* self, std::string url, settings cfg,
                                           std::int64_t term) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (!st.active)
      return;
    auto gone = [&](const auto& a) { return a && a.address() == dm.source; };
    // An ALS worker ends normally once it staged its rows: not a failure (one
    // that ended before answering fails its pending request anyway).
    if (!dm.reason && std::any_of(st.workers.begin(), st.workers.end(), gone))
      return;
    if (std::any_of(st.shards.begin(), st.shards.end(), gone) ||
        std::any_of(st.workers.begin(), st.workers.end(), gone) ||
        std::any_of(st.similarity_workers.begin(), st.similarity_workers.end(), gone))
      st.fail(dm.reason ? dm.reason : caf::error{caf::exit_reason::remote_link_unreachable});
  });
  self->state.url = url;
  self->state.db = store::lazy_connection{std::move(url)};
  self->state.cfg = std::move(cfg);
  self->state.term = term;
  return {
    [=](run_atom, job_kind kind, const run_progress_sink& listener,
        std::vector<shard_actor> shards, std::vector<std::string> addresses) {
      auto& st = self->state;
      st.shards = std::move(shards);
      st.shard_addresses = std::move(addresses);
      st.shard_addresses.resize(st.shards.size());
      st.promise = self->make_response_promise<job_summary>();
      st.kind = kind;
      st.listener = listener;
      st.total = 0;
      if (st.shards.empty()) {
        // Nothing would ever answer: refused before anything is started.
        st.promise.deliver(make_error(ec::not_ready, "no shard to run " +
                                                        std::string{to_string(kind)} + " on"));
        return st.promise;
      }
      if (auto err = st.begin()) {
        st.promise.deliver(err);
        return st.promise;
      }
      st.active = true;
      // A shard (or ALS worker) that dies mid-run fails the run at once; the
      // coordinator redoes it on the shards that are left.
      for (auto& shard : st.shards)
        self->monitor(shard);
      if (kind == job_kind::embeddings)
        run_embeddings(self);
      else
        run_similarity(self);
      return st.promise;
    },
    [=](part_progress_atom, const part_progress& p) {
      auto& st = self->state;
      if (p.run_id != st.run_id || !st.from_a_shard_node(self))
        return;
      st.progress[caf::actor_cast<caf::actor_addr>(self->current_sender())] = p;
      std::uint64_t done = 0, rows = 0;
      for (const auto& [who, q] : st.progress) {
        done += q.done;
        rows += q.pairs;
      }
      st.report(done, rows);
    },
  };
}

} // namespace

} // namespace job_driving

job_driver_actor spawn_job_driver(caf::actor_system& sys, std::string postgres_url, settings cfg,
                                  std::int64_t term) {
  return sys.spawn<caf::detached>(job_driving::job_driver, std::move(postgres_url), std::move(cfg),
                                  term);
}

} // namespace recd
