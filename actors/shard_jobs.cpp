// Job work on a shard: a published run reloaded into the state, and the
// similarity and embedding tasks the coordinator's job driver hands out.
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

caf::result<std::uint64_t, std::uint64_t>
run_similarity_task(shard_actor_type* self, const bulk_handle& task,
                    const part_progress_sink& progress_to) {
  // A similarity job: the task (graph and options) arrived in chunks.
  auto& st = self->state;
  if (auto err = check_control(self, st.control, "similarity"))
    return caf::result<std::uint64_t, std::uint64_t>{err};
  // Before make_response_promise, which takes the sender out of the request.
  auto bytes = st.inbox.take(task, sender_node(self));
  auto rp = self->make_response_promise<std::uint64_t, std::uint64_t>();
  if (!bytes) {
    rp.deliver(bytes.error());
    return rp;
  }
  auto worker = spawn_similarity_worker(self->system(), st.url, self->address());
  self->request(worker, job_timeout, work_atom_v, std::move(*bytes), st.owned(), st.partition_count,
                progress_to)
      .then(
          [=](std::uint64_t rows, std::uint64_t pairs) mutable {
            rp.deliver(rows, pairs);
            self->send_exit(worker, caf::exit_reason::user_shutdown);
          },
          [=](caf::error& err) mutable {
            rp.deliver(std::move(err));
            self->send_exit(worker, caf::exit_reason::user_shutdown);
          });
  return caf::result<std::uint64_t, std::uint64_t>{rp};
}

caf::result<embedding_worker_actor> start_embedding_task(shard_actor_type* self,
                                                         const bulk_handle& task) {
  // An embedding run: the interactions arrived in chunks; a worker
  // decodes them and solves this shard's rows on request.
  auto& st = self->state;
  if (auto err = check_control(self, st.control, "embedding"))
    return err;
  auto bytes = st.inbox.take(task, sender_node(self));
  if (!bytes)
    return bytes.error();
  return spawn_embedding_worker(self->system(), std::move(*bytes), st.owned(), st.partition_count,
                                st.control);
}

} // namespace recd::shard_detail
