// The coordinator's job queue: one `recd compute` (or scheduled) request's
// jobs, in two lanes that run at the same time. The similarity kinds run one
// after another, in the order asked, on the similarity driver; embeddings
// run on a driver of their own. The lanes share nothing but the shards and
// PostgreSQL, and their phases rarely want the same resource at once (one
// lane's PostgreSQL reads and index builds beside the other's kernels), so
// on the 30M-event shop the whole default set takes less wall time than one
// lane after the other (docs/benchmarks.md).
#include <memory>
#include <optional>
#include <utility>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/coordinator_state.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd::coordination {

namespace {

// One request's jobs, by their position in it.
struct job_batch {
  caf::typed_response_promise<std::vector<job_summary>> rp;
  std::vector<std::optional<job_summary>> done;
  std::size_t lanes_left = 0;
  caf::error failure; // the first lane's error ends the batch
};

using lane_queue = std::vector<std::pair<std::size_t, job_kind>>; // back() runs next

// A lane has ended; the last one answers the request.
void lane_done(coordinator_self* self, const std::shared_ptr<job_batch>& batch) {
  if (--batch->lanes_left > 0)
    return;
  job_finished(self);
  if (batch->failure) {
    batch->rp.deliver(batch->failure);
    return;
  }
  if (self->state.opt.serving)
    poll(self);
  std::vector<job_summary> out;
  for (auto& s : batch->done)
    out.push_back(std::move(*s));
  batch->rp.deliver(std::move(out));
}

// Runs the lane's jobs one after another on `driver`. A shard lost mid-run
// leaves the run unpublished; once its partitions have a live owner again
// the run is redone (at most 3 times in a row), so the result is the same as
// without the failure. Any other error ends the lane, and the other lane
// stops after its running job.
void run_lane(coordinator_self* self, job_driver_actor driver, std::shared_ptr<job_batch> batch,
              lane_queue jobs, run_progress_sink listener) {
  auto queue = std::make_shared<lane_queue>(std::move(jobs));
  auto attempts = std::make_shared<int>(0);
  auto next = std::make_shared<std::function<void()>>();
  *next = [=]() mutable {
    if (queue->empty() || batch->failure) {
      lane_done(self, batch);
      *next = nullptr; // break the self-reference
      return;
    }
    // A run starts on a complete map only: a shard lost since the last run
    // (its down may arrive just before the previous run's answer) makes the
    // lane wait for the map to be complete again, not start on what is left.
    if (auto& st = self->state; st.opt.serving && !st.map_complete()) {
      st.ready_waiters.push_back([=] { (*next)(); });
      return;
    }
    auto [position, kind] = queue->back();
    queue->pop_back();
    self->request(driver, job_timeout, run_atom_v, kind, listener, self->state.live_shards(),
                  self->state.live_shard_addresses())
      .then(
        [=](const job_summary& s) mutable {
          batch->done[position] = s;
          *attempts = 0;
          (*next)();
        },
        [=](caf::error& err) mutable {
          if (lost_shard(err) && ++*attempts <= 3 && self->state.opt.serving) {
            spdlog::warn("{} lost a shard ({}): redoing it when the map is ready",
                         to_string(kind), describe(err));
            queue->emplace_back(position, kind);
            auto& st = self->state;
            if (st.map_complete())
              self->delayed_send(self, std::chrono::seconds{1}, redo_atom_v);
            st.ready_waiters.push_back([=] { (*next)(); });
            return;
          }
          if (!batch->failure)
            batch->failure = std::move(err);
          lane_done(self, batch);
          *next = nullptr;
        });
  };
  // Jobs run on a settled map: one that starts during a move waits for it.
  if (self->state.moving)
    self->state.after_move.push_back([=] { (*next)(); });
  else
    (*next)();
}

} // namespace

void start_jobs(coordinator_self* self, const std::vector<job_kind>& kinds,
                const run_progress_sink& listener,
                caf::typed_response_promise<std::vector<job_summary>> rp) {
  auto& st = self->state;
  st.job_running = true;
  auto batch = std::make_shared<job_batch>();
  batch->rp = std::move(rp);
  batch->done.resize(kinds.size());
  lane_queue similarity, embeddings;
  for (std::size_t k = kinds.size(); k-- > 0;)
    (kinds[k] == job_kind::embeddings ? embeddings : similarity).emplace_back(k, kinds[k]);
  batch->lanes_left = 2; // an empty lane ends at once
  run_lane(self, st.driver, batch, std::move(similarity), listener);
  run_lane(self, st.embedding_driver, batch, std::move(embeddings), listener);
}

} // namespace recd::coordination
