#include "protocol/type_ids.hpp"

#include "protocol/errors.hpp"

namespace recd {

const char* to_string(recall_route r) {
  switch (r) {
    case recall_route::user_cf: return "user_cf";
    case recall_route::item_cf: return "item_cf";
    case recall_route::vector: return "vector";
    case recall_route::popular: return "popular";
    case recall_route::category: return "category";
  }
  return "unknown";
}

const char* to_string(job_kind k) {
  switch (k) {
    case job_kind::item_similarity: return "item_similarity";
    case job_kind::user_similarity: return "user_similarity";
    case job_kind::embeddings: return "embeddings";
    case job_kind::item_weights: return "item_weights";
    case job_kind::user_neighbours: return "user_neighbours";
  }
  return "unknown";
}

std::optional<job_kind> parse_job_kind(std::string_view name) {
  for (std::uint8_t k = 0; k < job_kind_count; ++k)
    if (name == to_string(static_cast<job_kind>(k)))
      return static_cast<job_kind>(k);
  return std::nullopt;
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::recd>();
  cfg.add_error_category(error_category,
                         [](std::uint8_t code, caf::atom_value, const caf::message& ctx) {
                           std::string text = std::string{"recd::"} + to_string(static_cast<ec>(code));
                           if (ctx.match_elements<std::string>())
                             text += ": " + ctx.get_as<std::string>(0);
                           return text;
                         });
}

} // namespace recd
