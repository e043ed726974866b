// The coordinator's operator commands (the admin port's /admin/check and
// /admin/cache/flush, through gateway_admin.cpp): fan-outs to the shards and
// API actors that answer with JSON. (actors/coordinator.hpp has the protocol.)
#include <memory>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/coordinator_state.hpp"
#include "protocol/errors.hpp"
#include "protocol/type_ids.hpp"

namespace recd::coordination {

// Asks every live shard what it holds and how many users and items; the
// JSON lists them by name (a shard that does not answer gets an "error").
caf::typed_response_promise<std::string> shard_holdings(coordinator_self* self) {
  auto rp = self->make_response_promise<std::string>();
  auto& st = self->state;
  auto out = std::make_shared<nlohmann::json>(nlohmann::json{{"epoch", st.table.epoch()},
                                                             {"moving", st.moving},
                                                             {"partitions", st.opt.partitions},
                                                             {"shards", nlohmann::json::array()}});
  const auto live = st.table.alive();
  auto remaining = std::make_shared<std::size_t>(live.size() * 2);
  if (live.empty()) {
    rp.deliver(out->dump());
    return rp;
  }
  auto& shards = (*out)["shards"];
  for (auto m : live)
    shards.push_back({{"name", st.table.member(m).name}});
  auto done = [=]() mutable {
    if (--*remaining == 0)
      rp.deliver(out->dump());
  };
  for (std::size_t k = 0; k < live.size(); ++k) {
    const auto& shard = st.shard_of(live[k]);
    auto failed = [=](caf::error& err) mutable {
      (*out)["shards"][k]["error"] = describe(err);
      done();
    };
    self->request(shard, std::chrono::seconds{5}, held_atom_v)
      .then(
        [=](const std::vector<std::uint32_t>& held) mutable {
          (*out)["shards"][k]["partitions"] = held;
          done();
        },
        failed);
    self->request(shard, std::chrono::seconds{5}, counts_atom_v)
      .then(
        [=](std::uint64_t users, std::uint64_t items) mutable {
          (*out)["shards"][k]["users"] = users;
          (*out)["shards"][k]["items"] = items;
          done();
        },
        failed);
  }
  return rp;
}

// Tells every subscribed API actor to forget cached answers; the JSON counts
// those that did and the Redis keys deleted.
caf::typed_response_promise<std::string> flush_caches(coordinator_self* self, std::int32_t user) {
  auto rp = self->make_response_promise<std::string>();
  const auto& apis = self->state.subscribers;
  auto out = std::make_shared<nlohmann::json>(
    nlohmann::json{{"api_actors", apis.size()}, {"flushed", 0}, {"deleted", 0}, {"errors", 0}});
  auto remaining = std::make_shared<std::size_t>(apis.size());
  if (apis.empty()) {
    rp.deliver(out->dump());
    return rp;
  }
  for (const auto& api : apis)
    self->request(api, std::chrono::seconds{35}, forget_atom_v, user)
      .then(
        [=](std::uint64_t deleted) mutable {
          (*out)["flushed"] = (*out)["flushed"].get<std::uint64_t>() + 1;
          (*out)["deleted"] = (*out)["deleted"].get<std::uint64_t>() + deleted;
          if (--*remaining == 0)
            rp.deliver(out->dump());
        },
        [=](caf::error& err) mutable {
          spdlog::warn("cache flush: an API actor failed: {}", describe(err));
          (*out)["errors"] = (*out)["errors"].get<std::uint64_t>() + 1;
          if (--*remaining == 0)
            rp.deliver(out->dump());
        });
  return rp;
}

} // namespace recd::coordination
