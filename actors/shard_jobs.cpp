// Job work on a shard: a published run reloaded into the state, and the
// similarity runs and embedding tasks the coordinator's job driver hands out.
#include "actors/shard_actor_state.hpp"

#include "actors/similarity_worker.hpp"
#include "actors/trust.hpp"
#include "protocol/limits.hpp"

namespace recd::shard_detail {

caf::result<bool> reload_run(shard_actor_type* self, job_kind kind) {
  auto& st = self->state;
  if (auto err = check_control(self, st.control, "reload"))
    return err;
  if (auto err = limits::check_job_kind(kind))
    return refuse(self, "reload", describe(err));
  auto rp = self->make_response_promise<bool>();
  if (!st.ready) {
    rp.deliver(false); // the initial load reads the newest runs anyway
    return rp;
  }
  if (!feeds_recall(self->state.cfg, kind)) {
    rp.deliver(true); // a table recall does not read (recommend.*_neighbours)
    return rp;
  }
  // The loader answers with embeddings for embeddings and neighbours for
  // the similarity kinds (the other pointer is null).
  self->request(st.loader, load_timeout, read_run_atom_v, kind, st.partitions(), st.partition_count)
      .then(
          [=](const neighbour_update_ptr& neighbours,
              const embedding_update_ptr& embeddings) mutable {
            auto& data = self->state.data;
            if (embeddings) {
              data.install(std::move(*embeddings));
              settle_memory(self->state, "embeddings installed");
            } else if (neighbours) {
              data.install(std::move(*neighbours));
              settle_memory(self->state, "neighbours installed");
            }
            rp.deliver(embeddings || neighbours);
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<similarity_worker_actor, std::uint64_t, std::uint64_t>
start_similarity_run(shard_actor_type* self, similarity_plan& plan) {
  // A similarity run: a worker reads this shard's share of the input in the
  // driver's snapshot, then exchanges it with the run's other shards.
  using reply = caf::result<similarity_worker_actor, std::uint64_t, std::uint64_t>;
  auto& st = self->state;
  if (auto err = check_control(self, st.control, "similarity"))
    return reply{err};
  if (auto err = limits::check_similarity_plan(plan))
    return reply{refuse(self, "similarity", describe(err))};
  if (plan.partition_count != st.partition_count)
    return reply{refuse(self, "similarity", "the plan's partition count is not this shard's")};
  if (st.job_worker)
    self->send_exit(st.job_worker, caf::exit_reason::user_shutdown);
  st.job_run = plan.run_id;
  st.job_nodes.clear();
  for (const auto& peer : plan.peers)
    st.job_nodes.insert(peer.node());
  auto worker = spawn_similarity_worker(self->system(), st.url, self->address(), st.control,
                                        self->current_sender(), std::move(plan), st.owned(),
                                        st.partition_count, st.dial);
  st.job_worker = worker;
  auto rp = self->make_response_promise<similarity_worker_actor, std::uint64_t, std::uint64_t>();
  self->request(worker, job_timeout, work_atom_v)
      .then(
          [=](std::uint64_t rows, std::uint64_t pairs) mutable { rp.deliver(worker, rows, pairs); },
          [=](caf::error& err) mutable {
            rp.deliver(std::move(err));
            self->send_exit(worker, caf::exit_reason::user_shutdown);
          });
  return reply{rp};
}

caf::result<bool> pass_pairs(shard_actor_type* self, pair_batch& batch) {
  // A piece of a peer's input for the run in progress: checked here, then
  // its worker takes it (and answers the sender).
  auto& st = self->state;
  const auto& src = self->current_sender();
  if (!st.job_worker || batch.run_id != st.job_run)
    return refuse(self, "pairs", "no exchange of run " + std::to_string(batch.run_id) + " here");
  if (auto err = limits::check_pair_batch(batch))
    return refuse(self, "pairs", describe(err));
  if (!src || st.job_nodes.count(src->node()) == 0)
    return refuse(self, "pairs", "only a shard node of this run may send them");
  return self->delegate(st.job_worker, pairs_atom_v, std::move(batch));
}

caf::result<embedding_worker_actor> start_embedding_task(shard_actor_type* self,
                                                         const bulk_handle& task) {
  // An embedding run: the task arrived in chunks; a worker decodes it, reads
  // this shard's cells and solves this shard's rows each half-step, taking
  // the fixed side from the run's other workers (actors/embedding_worker.hpp).
  auto& st = self->state;
  if (auto err = check_control(self, st.control, "embedding"))
    return err;
  auto bytes = st.inbox.take(task, sender_node(self));
  if (!bytes)
    return bytes.error();
  if (st.embedding_worker)
    self->send_exit(st.embedding_worker, caf::exit_reason::user_shutdown);
  st.embedding_worker =
    spawn_embedding_worker(self->system(), st.url, std::move(*bytes), st.owned(),
                           st.partition_count, st.control, self->current_sender(), st.dial);
  return st.embedding_worker;
}

} // namespace recd::shard_detail
