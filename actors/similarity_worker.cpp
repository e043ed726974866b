#include "actors/similarity_worker.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <unordered_set>

#include <caf/all.hpp>

#include "engine/ease.hpp"
#include "engine/similarity.hpp"
#include "protocol/errors.hpp"
#include "protocol/limits.hpp"
#include "actors/census.hpp"
#include "actors/trust.hpp"
#include "actors/unexpected.hpp"
#include "protocol/type_ids.hpp"
#include "store/database.hpp"
#include "store/job_results.hpp"

namespace recd {

namespace {

using clock = std::chrono::steady_clock;

similarity_worker_actor::behavior_type similarity_worker(similarity_worker_actor::pointer self,
                                                         std::string url, caf::actor_addr parent) {
  enroll(self);
  self->set_default_handler(log_and_drop);
  return {
    [=](work_atom, const std::vector<char>& encoded, const std::vector<std::uint32_t>& partitions,
        std::uint32_t count,
        const part_progress_sink& progress_to) -> caf::result<std::uint64_t, std::uint64_t> {
      if (auto err = check_from(self, parent, "work"))
        return err;
      similarity_task task;
      if (auto err = decode_bulk(encoded, task))
        return err;
      if (auto err = limits::check_similarity_task(task))
        return err;
      if (auto err = limits::check_partitions(partitions, count))
        return err;
      const auto& g = task.graph;
      std::unordered_set<std::uint32_t> owned(partitions.begin(), partitions.end());
      std::vector<std::size_t> rows;
      for (std::size_t r = 0; r < g.rows(); ++r)
        if (owned.count(partition_of(g.row_ids[r], count)) != 0)
          rows.push_back(r);
      // EASE: every shard learns the whole (bounded) weight matrix, then
      // writes the rows it owns, like the set kernels.
      std::unique_ptr<engine::ease_model> ease;
      std::unique_ptr<engine::similarity_kernel> kernel;
      auto gt = engine::transpose(g);
      if (task.measure == ease_measure) {
        if (!(task.regularization > 0))
          return make_error(ec::invalid_argument, "EASE needs a positive regularization");
        ease = std::make_unique<engine::ease_model>(g, task.regularization);
      } else {
        engine::similarity_options opt;
        opt.measure = static_cast<engine::set_measure>(task.measure);
        opt.min_common = task.min_common;
        opt.min_score = task.min_score;
        opt.top_k = task.top_k;
        opt.max_column_rows = task.max_column_rows;
        kernel = std::make_unique<engine::similarity_kernel>(g, gt, opt);
      }
      auto conn = store::connect(url);
      if (!conn)
        return conn.error();
      std::uint64_t pairs = 0, done = 0;
      auto err = store::guard([&] {
        // The run's staging table, named from checked values, never from the message.
        store::staging_rows out{**conn, task.kind, task.run_id};
        std::vector<engine::neighbour> found;
        auto last_report = clock::now();
        for (auto r : rows) {
          if (ease)
            ease->neighbours(r, task.top_k, found);
          else
            kernel->neighbours(r, found);
          for (const auto& n : found)
            out.add(g.row_ids[r], n.id, n.score);
          pairs += found.size();
          ++done;
          if (progress_to && clock::now() - last_report > std::chrono::milliseconds{500}) {
            last_report = clock::now();
            self->send(progress_to, part_progress_atom_v, part_progress{task.run_id, done, pairs});
          }
        }
        out.commit();
      });
      if (err)
        return err;
      if (progress_to)
        self->send(progress_to, part_progress_atom_v, part_progress{task.run_id, done, pairs});
      return {std::uint64_t{rows.size()}, pairs};
    },
  };
}

} // namespace

similarity_worker_actor spawn_similarity_worker(caf::actor_system& sys, std::string postgres_url,
                                   caf::actor_addr parent) {
  return sys.spawn<caf::detached>(similarity_worker, std::move(postgres_url), std::move(parent));
}

} // namespace recd
